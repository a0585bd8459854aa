#!/usr/bin/env python
"""CPU and wall time per epoch, quiet and under a controlled load, with the thread settings the
runner used before (threads = ``os.cpu_count()``, OpenMP's default spinning) and now
(:mod:`brainbench.runner._threads`: the cores this process may use, passive waiting).

Each configuration trains ``cnn3d-small`` (the registry entry's network) for ``--epochs`` on
random volumes of the demo's shape in a fresh process whose environment carries the settings,
first on the machine as it is ("quiet"), then while ``--busy`` busy-loop processes that this
script starts (and stops) compete for the cores ("loaded"). Epoch 1 is dropped (warm-up).
The load average is recorded before each phase: on a shared machine "quiet" only means
"without the extra busy loops".

    python benchmarks/runner/bench_threads.py [--epochs 5] [--rounds 2] [--busy 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def child(epochs: int, images: int) -> list[tuple[float, float]]:
    """Train the network; per epoch (wall s, process CPU s)."""
    import importlib.util

    import numpy as np
    import torch

    from brainbench.registry.interface import TaskInfo

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count() or 1)))
    spec = importlib.util.spec_from_file_location(
        "cnn", REPO / "registry" / "models" / "cnn3d-small" / "model.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    task = TaskInfo(type="classification", classes=("CN", "AD"), spatial_shape=(50, 59, 48))
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.normal(size=(images, 1, 50, 59, 48)).astype(np.float32))
    y = torch.from_numpy(rng.integers(0, 2, images))
    torch.manual_seed(0)
    net = mod.network(task)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    times = []
    for _ in range(epochs):
        t0, c0 = time.perf_counter(), time.process_time()
        net.train()
        for i in range(0, images, 8):
            opt.zero_grad(set_to_none=True)
            loss_fn(net(x[i : i + 8]), y[i : i + 8]).backward()
            opt.step()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
    return times[1:]


def settings() -> dict[str, dict[str, str]]:
    from brainbench.runner._threads import thread_budget, thread_environment

    n = str(os.cpu_count() or 1)
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "KMP_BLOCKTIME")}
    before = {**base, "OMP_NUM_THREADS": n, "MKL_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n}
    now = {**base, **thread_environment(thread_budget(1), environ=base)}
    one = {**base, **thread_environment(1, environ=base)}
    return {
        "before (cpu_count threads, spinning)": before,
        "now (budget, passive)": now,
        "1 thread, passive": one,
    }


def run_child(env: dict[str, str], epochs: int, images: int) -> list[tuple[float, float]]:
    cmd = [sys.executable, __file__, "--child", "--epochs", str(epochs), "--images", str(images)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    return [tuple(t) for t in json.loads(out.strip().splitlines()[-1])]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--images", type=int, default=24)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--busy", type=int, default=2, help="busy-loop processes of the load phase")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "threads.json")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.epochs, args.images)))
        return 0
    configs = settings()
    times: dict[str, dict[str, list[tuple[float, float]]]] = {
        name: {"quiet": [], "loaded": []} for name in configs
    }
    load = {"quiet": [], "loaded": []}
    for _ in range(args.rounds):
        for phase in ("quiet", "loaded"):
            busy = []
            if phase == "loaded":
                busy = [
                    subprocess.Popen([sys.executable, "-c", "while True: pass"])
                    for _ in range(args.busy)
                ]
                time.sleep(2)
            try:
                load[phase].append(os.getloadavg()[0])
                for name, env in configs.items():  # interleaved: load drifts alike
                    times[name][phase] += run_child(env, args.epochs, args.images)
            finally:
                for p in busy:
                    p.kill()
                    p.wait()
    result: dict = {
        "benchmark": "cnn3d-small epochs, quiet vs under busy loops, before/now thread settings",
        "cpus": os.cpu_count(),
        "busy_loops": args.busy,
        "images": args.images,
        "epochs_timed_per_round": args.epochs - 1,
        "rounds": args.rounds,
        "load_average_at_start_of_phase": load,
        "configs": {},
    }
    for name, phases in times.items():
        med = {
            ph: (statistics.median(w for w, _ in t), statistics.median(c for _, c in t))
            for ph, t in phases.items()
        }
        result["configs"][name] = {
            "threads": configs[name]["OMP_NUM_THREADS"],
            "wait_policy": configs[name].get("OMP_WAIT_POLICY", "default (spin)"),
            "quiet_wall_s": round(med["quiet"][0], 3),
            "quiet_cpu_s": round(med["quiet"][1], 3),
            "loaded_wall_s": round(med["loaded"][0], 3),
            "loaded_cpu_s": round(med["loaded"][1], 3),
            "wall_loaded_over_quiet": round(med["loaded"][0] / med["quiet"][0], 2),
            "cpu_loaded_over_quiet": round(med["loaded"][1] / med["quiet"][1], 2),
            "all_wall_cpu": {
                ph: [[round(w, 3), round(c, 3)] for w, c in t] for ph, t in phases.items()
            },
        }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
