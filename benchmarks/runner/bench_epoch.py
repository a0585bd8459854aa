#!/usr/bin/env python
"""Time per epoch: the runner against a plain hand-written PyTorch loop (same model, same data).

Both train ``cnn3d-small`` (the registry entry's network) with AdamW, class-weighted
cross-entropy, batch size 8, then compute the validation loss, on the same training and
validation images of the demo spec's split, with the same number of torch threads:

* ``runner``: ``brainbench`` runs one unit (model host process, images fetched once from the
  runner and cached, ``TorchImageModel``'s loop with per-batch intensity normalisation);
  epoch times are measured in the model host (wall and process CPU time, ``epoch_times`` in
  the unit's record);
* ``plain``: a loop over a pre-normalised float32 tensor already in memory (the cached data),
  no data handling at all, in a fresh process with the same thread settings as the model host.

Epoch 1 is excluded from both (the runner decodes the images then; the plain loop warms up).
The rounds alternate plain and runner so that machine load affects both alike; on a shared,
loaded machine wall times are noisy and the CPU-time ratio is the steadier figure.
``--busy N`` runs the rounds under a controlled load: N busy-loop processes that the script
starts before the first round and stops after the last.

    python benchmarks/runner/bench_epoch.py [--subjects 40] [--epochs 4] [--rounds 2] [--busy 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import REPO, SPEC, cohort


def runner_epochs(run_dir: Path, epochs: int) -> list[float]:
    from brainbench.runner._execute import run_units
    from brainbench.runner._prepare import RunOptions, prepare_run

    out, _, _ = prepare_run(
        SPEC,
        run_dir,
        RunOptions(
            models=["cnn3d-small"],
            seeds=1,
            device="cpu",
            max_epochs=epochs,
            hyperparameters={"cnn3d-small": {"patience": None}},
        ),
    )
    recs = run_units(out, workers=1)  # one model host: thread_budget(1) torch threads
    assert recs and recs[0]["status"] == "ok", recs
    return [tuple(t) for t in recs[0]["epoch_times"][1:]]  # drop epoch 1 (decoding, build)


def plain_epochs(run_dir: Path, epochs: int, threads: int) -> list[float]:
    """The hand-written loop on the split the runner used (read back from its run folder)."""
    import importlib.util

    import nibabel as nib
    import pandas as pd
    import torch

    from brainbench.registry.interface import TaskInfo
    from brainbench.runner._execute import RunState
    from brainbench.runner._units import Unit

    torch.set_num_threads(threads)
    state = RunState.load(run_dir)
    parts = state.partitions(Unit("cnn3d-small", 0, 0, 0))
    spec = importlib.util.spec_from_file_location(
        "cnn", REPO / "registry" / "models" / "cnn3d-small" / "model.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    task = TaskInfo(
        type="classification", classes=("CN", "AD"), spatial_shape=state.task.spatial_shape
    )

    def tensors(rows):
        arrs = []
        for p in state.cohort["image_path"].iloc[rows]:
            a = np.asarray(nib.load(p).dataobj, dtype=np.float32)
            arrs.append(((a - a.mean()) / (a.std() + 1e-6))[None])
        y, _ = state.labels(rows)
        return torch.from_numpy(np.stack(arrs)), torch.as_tensor(y)

    xt, yt = tensors(parts["train"])
    xv, yv = tensors(parts["validation"])
    torch.manual_seed(0)
    net = mod.network(task)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    counts = torch.bincount(yt, minlength=2).double()
    weight = (len(yt) / (2 * counts)).float()
    loss_fn = torch.nn.CrossEntropyLoss(weight=weight)
    times = []
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        net.train()
        order = torch.randperm(len(yt), generator=gen)
        for i in range(0, len(order), 8):
            idx = order[i : i + 8]
            if len(idx) < 2:
                continue
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            for i in range(0, len(yv), 8):
                loss_fn(net(xv[i : i + 8]), yv[i : i + 8])
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    del pd
    return times[1:]


def plain_subprocess(run_dir: Path, epochs: int, threads: int) -> list[float]:
    from brainbench.runner._threads import thread_environment

    # The model host's thread settings (counts and passive OpenMP waiting), so that both sides
    # wait alike.
    env = {**os.environ, **thread_environment(threads)}
    cmd = [sys.executable, __file__, "--plain-only", str(run_dir), "--epochs", str(epochs)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def rounds(args: argparse.Namespace, threads: int, runner: list, plain: list) -> list[int]:
    """Interleaved rounds (one runner unit, then the plain loop on the same split); returns
    the numbers of training and validation images."""
    sizes: list[int] = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(dir=args.work) as tmp:
            run_dir = Path(tmp) / "run"
            runner += runner_epochs(run_dir, args.epochs)
            plain += plain_subprocess(run_dir, args.epochs, threads)
            if not sizes:
                from brainbench.runner._execute import RunState
                from brainbench.runner._units import Unit

                parts = RunState.load(run_dir).partitions(Unit("cnn3d-small", 0, 0, 0))
                sizes = [len(parts["train"]), len(parts["validation"])]
        print(f"round {r + 1}: runner {runner[-1]} s, plain {plain[-1]} s", flush=True)
    return sizes


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--work", type=Path, default=Path("/tmp/brainbench-bench-runner"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "epoch.json")
    ap.add_argument(
        "--busy", type=int, default=0, help="busy-loop processes run during the rounds (load)"
    )
    ap.add_argument("--plain-only", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.plain_only is not None:
        threads = int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1))
        print(json.dumps(plain_epochs(args.plain_only, args.epochs, threads)))
        return 0
    cohort(args.work / f"cohort-{args.subjects}", args.subjects)
    from brainbench.runner._threads import thread_budget

    threads = thread_budget(1)  # what run_units gives one model host
    runner, plain = [], []
    # the controlled load: busy loops this script starts, and stops whatever happens
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)]
    try:
        n_train, n_val = rounds(args, threads, runner, plain)
    finally:
        for p in busy:
            p.kill()
            p.wait()

    med_r = statistics.median(w for w, _ in runner)
    med_p = statistics.median(w for w, _ in plain)
    cpu_r = statistics.median(c for _, c in runner)
    cpu_p = statistics.median(c for _, c in plain)
    result = {
        "benchmark": "runner time per epoch vs a plain PyTorch loop (cnn3d-small, CPU)",
        "train_images": n_train,
        "validation_images": n_val,
        "epochs_timed_per_round": args.epochs - 1,
        "rounds": args.rounds,
        "busy_loops": args.busy,
        "torch_threads": threads,
        "runner_s_per_epoch": round(med_r, 3),
        "plain_s_per_epoch": round(med_p, 3),
        "ratio": round(med_r / med_p, 3),
        "runner_cpu_s_per_epoch": round(cpu_r, 3),
        "plain_cpu_s_per_epoch": round(cpu_p, 3),
        "cpu_ratio": round(cpu_r / cpu_p, 3),
        # the fastest epoch of each side: the least disturbed by other processes (as timeit)
        "runner_best_s_per_epoch": round(min(w for w, _ in runner), 3),
        "plain_best_s_per_epoch": round(min(w for w, _ in plain), 3),
        "ratio_best": round(min(w for w, _ in runner) / min(w for w, _ in plain), 3),
        "runner_all_wall_cpu": [[round(w, 3), round(c, 3)] for w, c in runner],
        "plain_all_wall_cpu": [[round(w, 3), round(c, 3)] for w, c in plain],
        "load_average": os.getloadavg(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
