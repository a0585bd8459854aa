#!/usr/bin/env python
"""Data loading throughput: the runner's loader against raw nibabel and MONAI (volumes/s).

Per image set (the demo's 4 mm volumes and ``--large`` float32 volumes of 121x145x121, the
1.5 mm MNI grid), in interleaved rounds of one process:

* ``nibabel``: ``np.asarray(nib.load(p).dataobj, dtype=float32)``, one file after another;
* ``monai``: ``monai.transforms.LoadImage`` (nibabel reader, channel first, float32): the
  runner's loader before this version;
* ``runner``: :class:`brainbench.runner.ImageLoader` without cache (header checked before
  decoding, one-shot decompression, channel first, float32, NaN check);
* ``runner+write``: the same with the disk cache on, into an empty cache (a first decode:
  what a run pays once per image);
* ``disk-cached``: a fresh loader on the filled disk cache (another process, a resumed run);
* ``memory``: a second access in the model host (its in-memory cache).

Ratios are to ``nibabel`` in the same round; the page cache is warm. The load average is
recorded next to the figures.

    python benchmarks/runner/bench_loading.py [--subjects 40] [--large 12] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cohort, image_paths


def large_images(root: Path, n: int) -> list[str]:
    """``n`` smooth float32 volumes of 121x145x121 (gzip ratio of a real skull-stripped T1)."""
    import nibabel as nib
    from scipy.ndimage import gaussian_filter

    root.mkdir(parents=True, exist_ok=True)
    paths = [root / f"vol-{i:03d}.nii.gz" for i in range(n)]
    rng = np.random.default_rng(0)
    for p in paths:
        if not p.is_file():
            vol = gaussian_filter(rng.normal(size=(121, 145, 121)), 2).astype(np.float32)
            vol[vol < 0] = 0  # a background of zeros, as around a brain
            nib.save(nib.Nifti1Image(vol, np.diag([1.5, 1.5, 1.5, 1.0])), str(p))
    return [str(p) for p in paths]


def bench(paths: list[str], rounds: int, work: Path) -> dict:
    import nibabel as nib
    from monai.transforms import LoadImage

    from brainbench.registry.interface import CachedImages
    from brainbench.runner import ImageLoader

    shape = (1, *nib.load(paths[0]).shape)
    monai = LoadImage(reader="NibabelReader", image_only=True, ensure_channel_first=True,
                      dtype=np.float32, simple_keys=True)  # fmt: skip
    disk = work / "disk-cache"

    def raw():
        for p in paths:
            np.asarray(nib.load(p).dataobj, dtype=np.float32)

    def monai_load():
        for p in paths:
            monai(p)

    def runner():
        loader = ImageLoader(shape)
        for p in paths:
            loader.load(p)

    def runner_write():
        shutil.rmtree(disk, ignore_errors=True)
        loader = ImageLoader(shape, disk_cache=disk)
        for p in paths:
            loader.load(p)
        assert loader.decoded == len(paths)

    def disk_cached():
        loader = ImageLoader(shape, disk_cache=disk)
        for p in paths:
            loader.load(p)
        assert loader.decoded == 0

    loader = ImageLoader(shape)
    cached = CachedImages(lambda i: loader.load(paths[i]), len(paths))
    for i in range(len(paths)):
        cached[i]

    def memory():
        for i in range(len(paths)):
            cached[i]

    cases = {
        "nibabel": raw,
        "monai": monai_load,
        "runner": runner,
        "runner+write": runner_write,
        "disk-cached": disk_cached,
        "memory": memory,
    }
    raw()  # warm the page cache
    wall: dict[str, list[float]] = {k: [] for k in cases}
    cpu: dict[str, list[float]] = {k: [] for k in cases}
    ratio: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(rounds):
        for name, fn in cases.items():
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            wall[name].append(len(paths) / (time.perf_counter() - t0))
            cpu[name].append(len(paths) / max(time.process_time() - c0, 1e-9))
        for name in cases:
            ratio[name].append(wall[name][-1] / wall["nibabel"][-1])
    med = {k: statistics.median(v) for k, v in wall.items()}
    return {
        "images": len(paths),
        "shape": list(shape),
        "volumes_per_s": {k: round(v, 1) for k, v in med.items()},
        "volumes_per_cpu_s": {k: round(statistics.median(v), 1) for k, v in cpu.items()},
        "median_ratio_to_nibabel": {k: round(statistics.median(v), 2) for k, v in ratio.items()},
        "disk_cached_vs_runner": round(med["disk-cached"] / med["runner"], 1),
        "all_rounds": {k: [round(x, 1) for x in v] for k, v in wall.items()},
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--large", type=int, default=12, help="volumes of 121x145x121 (0: none)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--work", type=Path, default=Path("/tmp/brainbench-bench-runner"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "loading.json")
    args = ap.parse_args(argv)

    sets = {"demo 4 mm": image_paths(cohort(args.work / f"cohort-{args.subjects}", args.subjects))}
    if args.large:
        sets["MNI 1.5 mm float32"] = large_images(args.work / "large", args.large)
    load_before = os.getloadavg()[0]
    result = {
        "benchmark": "runner data loading",
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "load_average_before": load_before,
        "sets": {name: bench(paths, args.rounds, args.work) for name, paths in sets.items()},
        "load_average_after": os.getloadavg()[0],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
