#!/usr/bin/env python
"""GPU check of the runner's training path: a 3D ResNet at 1x96x112x96, with and without AMP.

Standalone: needs only torch and monai (no brainbench, no data). For each precision (fp32, then
AMP fp16 autocast + GradScaler, as ``brainbench.registry.torch_training`` trains on CUDA) it times
training steps and inference batches on random volumes and reports volumes per second and the
peak GPU memory. Prints one JSON object on stdout.

    python benchmarks/runner/gpu_check.py                       # defaults, ~1-2 minutes on a GPU
    python benchmarks/runner/gpu_check.py --batch 4 --steps 10  # smaller
    python benchmarks/runner/gpu_check.py --cpu-smoke           # check the script on a CPU
    python benchmarks/runner/gpu_check.py --runner              # also brainbench run on CUDA

``--runner`` (needs brainbench installed) adds an end-to-end check of the runner on the GPU:
a tiny synthetic cohort, ``brainbench run --device cuda`` of cnn3d-small (AMP on), and the
unit's status, epoch times and device as the run's provenance records them.

Exit status 0 on success, 1 when no CUDA device is available (unless --cpu-smoke).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time


def build(depth: int, n_classes: int):
    from monai.networks.nets import resnet10, resnet18, resnet34

    make = {10: resnet10, 18: resnet18, 34: resnet34}[depth]
    return make(spatial_dims=3, n_input_channels=1, num_classes=n_classes)


def bench(args, device, amp: bool) -> dict:
    import torch

    torch.manual_seed(0)
    net = build(args.depth, 2).to(device)
    if args.channels_last:
        net = net.to(memory_format=torch.channels_last_3d)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    shape = (args.batch, 1, *args.shape)
    x = torch.randn(shape, device=device)
    if args.channels_last:
        x = x.contiguous(memory_format=torch.channels_last_3d)
    y = torch.randint(0, 2, (args.batch,), device=device)
    loss_fn = torch.nn.CrossEntropyLoss()
    cuda = device.type == "cuda"

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
            out = net(x)
        loss = loss_fn(out.float(), y)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        return loss

    if cuda:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    net.train()
    for _ in range(args.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step()
    sync()
    train_s = time.perf_counter() - t0
    train_peak = torch.cuda.max_memory_allocated() if cuda else None

    net.eval()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with torch.no_grad():
        for _ in range(args.warmup):
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                net(x)
        sync()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=amp):
                net(x)
        sync()
    infer_s = time.perf_counter() - t0
    infer_peak = torch.cuda.max_memory_allocated() if cuda else None
    gib = 1024**3
    return {
        "amp": amp,
        "train_volumes_per_s": round(args.steps * args.batch / train_s, 2),
        "train_step_ms": round(1000 * train_s / args.steps, 1),
        "train_peak_memory_gib": None if train_peak is None else round(train_peak / gib, 3),
        "inference_volumes_per_s": round(args.steps * args.batch / infer_s, 2),
        "inference_peak_memory_gib": None if infer_peak is None else round(infer_peak / gib, 3),
        "final_loss": round(float(loss.detach()), 4),
        "finite": bool(torch.isfinite(loss).item()),
    }


def runner_check(epochs: int = 3) -> dict:
    """brainbench run of cnn3d-small on CUDA over a tiny synthetic cohort (AMP on)."""
    import os
    import tempfile
    from pathlib import Path

    from brainbench.runner import run_benchmark
    from brainbench.runner._demo import cohort_configs, demo_spec_dir, relabel_subjects
    from brainbench.synth import generate_cohort

    work = Path(tempfile.mkdtemp(prefix="brainbench-gpu-check-"))
    for name, cfg in cohort_configs("demo", 1).items():
        res = generate_cohort(work / "data" / name, cfg.replace(subjects=max(cfg.subjects // 2, 8)))
        if name == "ext":
            relabel_subjects(res.path, "X")
    os.environ["BRAINBENCH_DEMO_DATA"] = str(work / "data")
    t0 = time.perf_counter()
    result = run_benchmark(
        demo_spec_dir() / "ad-vs-cn-synthetic.yaml",
        ["cnn3d-small"],
        out=work / "run",
        seeds=1,
        device="cuda",
        max_epochs=epochs,
    )
    prov = result.provenance
    unit = json.loads((work / "run" / "units" / "cnn3d-small__r0-f0-s0.json").read_text())
    return {
        "ok": result.ok,
        "seconds": round(time.perf_counter() - t0, 1),
        "device": prov["device"],
        "amp": prov["amp"],
        "unit_status": unit["status"],
        "unit_error": unit.get("error"),
        "epoch_times_wall_cpu": unit.get("epoch_times"),
        "run_dir": str(work / "run"),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--shape", type=int, nargs=3, default=(96, 112, 96))
    parser.add_argument("--depth", type=int, choices=(10, 18, 34), default=18)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny run on CPU (no AMP)")
    parser.add_argument("--runner", action="store_true", help="also brainbench run on CUDA")
    args = parser.parse_args(argv)

    import monai
    import torch

    report = {
        "check": "brainbench runner gpu_check",
        "model": f"monai resnet{args.depth} (3D, 1 channel, 2 classes)",
        "input": [args.batch, 1, *args.shape],
        "steps": args.steps,
        "torch": torch.__version__,
        "monai": monai.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "host": platform.node(),
    }
    if args.cpu_smoke:
        args.shape, args.batch, args.steps, args.warmup = (32, 32, 32), 2, 2, 1
        report.update(input=[2, 1, 32, 32, 32], steps=2, device="cpu")
        report["results"] = [bench(args, torch.device("cpu"), amp=False)]
        print(json.dumps(report, indent=2))
        return 0
    if not torch.cuda.is_available():
        report["error"] = "no CUDA device visible to torch"
        print(json.dumps(report, indent=2))
        return 1
    torch.backends.cudnn.benchmark = True
    device = torch.device("cuda")
    props = torch.cuda.get_device_properties(0)
    report.update(
        device=torch.cuda.get_device_name(0),
        gpu_memory_gib=round(props.total_memory / 1024**3, 1),
        capability=f"{props.major}.{props.minor}",
    )
    results = []
    for amp in (False, True):
        try:
            results.append(bench(args, device, amp))
        except torch.cuda.OutOfMemoryError as exc:
            results.append({"amp": amp, "error": f"CUDA out of memory: {str(exc)[:200]}"})
            torch.cuda.empty_cache()
    report["results"] = results
    if args.runner:
        try:
            report["runner"] = runner_check()
        except Exception as exc:  # report, do not hide, a failure of the runner path
            report["runner"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    ok = [r for r in results if "error" not in r]
    if len(ok) == 2:
        report["amp_speedup_train"] = round(
            ok[1]["train_volumes_per_s"] / ok[0]["train_volumes_per_s"], 2
        )
        report["amp_memory_ratio_train"] = round(
            ok[1]["train_peak_memory_gib"] / ok[0]["train_peak_memory_gib"], 2
        )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
