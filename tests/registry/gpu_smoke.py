"""GPU check of the torch reference entries (not collected by pytest: run it on a GPU machine).

    PYTHONPATH=src python tests/registry/gpu_smoke.py [OUT.json]

For cnn3d-small (45x54x45, 4 mm) and resnet3d (ResNet-10 and -18 at 96x112x96, 2 mm): fits
on random volumes on CUDA with and without AMP, checks the outputs against the model contract,
and reports seconds per epoch, volumes per second and peak GPU memory; then checks that
deterministic mode gives identical predictions for the same seed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from brainbench.registry import (
    FitContext,
    LabelledImageSet,
    TaskInfo,
    UnlabelledImageSet,
    check_predictions,
    load_model,
)

ROOT = Path(__file__).resolve().parents[2] / "registry"


def data(task: TaskInfo, n_train: int, n_val: int, n_test: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    labels = (
        np.arange(n) % task.n_classes if task.type == "classification" else rng.normal(70, 8, n)
    )
    images = rng.normal(size=(n, *task.image_shape)).astype(np.float32)
    a, b = n_train, n_train + n_val
    return (
        LabelledImageSet(images[:a], None, labels[:a]),
        LabelledImageSet(images[a:b], None, labels[a:b]),
        UnlabelledImageSet(images[b:], None),
    )


def run(entry: str, task: TaskInfo, hp: dict, amp: bool, epochs: int, sizes=(64, 16, 16)):
    train, val, test = data(task, *sizes)
    torch.cuda.reset_peak_memory_stats()
    times: list[float] = []
    last = [time.perf_counter()]

    def on_epoch(epoch, train_loss, val_loss):
        torch.cuda.synchronize()
        now = time.perf_counter()
        times.append(now - last[0])
        last[0] = now

    model = load_model(entry, task, hp, root=ROOT)
    start = time.perf_counter()
    model.fit(
        train, val, FitContext(device="cuda", seed=0, amp=amp, max_epochs=epochs, on_epoch=on_epoch)
    )
    fit_s = time.perf_counter() - start
    t0 = time.perf_counter()
    scores = model.predict(test)
    predict_s = time.perf_counter() - t0
    problem = check_predictions(scores, task, len(test))
    steady = times[1:] or times
    per_epoch = float(np.median(steady))
    return {
        "entry": entry,
        "task": task.type,
        "shape": list(task.spatial_shape),
        "hp": hp,
        "amp": amp,
        "epochs": len(times),
        "fit_s": round(fit_s, 2),
        "first_epoch_s": round(times[0], 3),
        "epoch_s": round(per_epoch, 3),
        "train_volumes_per_s": round((len(train) + len(val)) / per_epoch, 1),
        "predict_s": round(predict_s, 3),
        "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "contract": problem or "ok",
    }


def main() -> int:
    out_file = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    assert torch.cuda.is_available(), "no CUDA device"
    report = {
        "torch": torch.__version__,
        "gpu": torch.cuda.get_device_name(0),
        "cuda": torch.version.cuda,
        "runs": [],
    }
    cls = ("CN", "AD")
    small = TaskInfo("classification", cls, spatial_shape=(45, 54, 45))
    big = TaskInfo("classification", cls, spatial_shape=(96, 112, 96), voxel_spacing=(2, 2, 2))
    reg = TaskInfo("regression", spatial_shape=(96, 112, 96), voxel_spacing=(2, 2, 2))
    plan = [
        ("cnn3d-small", small, {"batch_size": 8}, False),
        ("cnn3d-small", small, {"batch_size": 8}, True),
        ("resnet3d", big, {"batch_size": 8}, False),
        ("resnet3d", big, {"batch_size": 8}, True),
        ("resnet3d", big, {"batch_size": 8, "depth": 18}, True),
        ("resnet3d", reg, {"batch_size": 8}, True),
    ]
    for entry, task, hp, amp in plan:
        row = run(entry, task, hp, amp, epochs=3)
        report["runs"].append(row)
        print(json.dumps(row), flush=True)

    # determinism: same seed, deterministic algorithms -> same predictions
    preds = []
    for _ in range(2):
        train, val, test = data(small, 32, 8, 8)
        model = load_model("cnn3d-small", small, {"batch_size": 8}, root=ROOT)
        model.fit(train, val, FitContext(device="cuda", seed=3, deterministic=True, max_epochs=2))
        preds.append(model.predict(test))
    report["deterministic_max_abs_diff"] = float(np.max(np.abs(preds[0] - preds[1])))
    print("deterministic max abs diff", report["deterministic_max_abs_diff"], flush=True)
    if out_file is not None:
        out_file.write_text(json.dumps(report, indent=2))
    bad = [r for r in report["runs"] if r["contract"] != "ok"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
