#!/usr/bin/env python
"""Data loading throughput: the runner's pipeline against raw nibabel (volumes per second).

* ``nibabel``: ``np.asarray(nib.load(p).dataobj, dtype=float32)``, one file after another;
* ``runner``: :class:`brainbench.runner.ImageLoader` (MONAI ``LoadImage`` with the nibabel
  reader, channel first, float32, shape and NaN checks), one after another;
* ``runner-threads``: the same through ``load_many`` (what the runner does for the chunk of
  images a model host asks for);
* ``cached``: a second access, served from the model host's cache (each volume is decoded once
  per run).

    python benchmarks/runner/bench_loading.py [--subjects 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cohort, image_paths


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/brainbench-bench-runner"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "loading.json")
    args = ap.parse_args(argv)

    import nibabel as nib

    from brainbench.registry.interface import CachedImages
    from brainbench.runner import ImageLoader

    paths = image_paths(cohort(args.work / f"cohort-{args.subjects}", args.subjects))
    shape = (1, *nib.load(paths[0]).shape)

    def raw():
        for p in paths:
            np.asarray(nib.load(p).dataobj, dtype=np.float32)

    def runner():
        loader = ImageLoader(shape)
        for p in paths:
            loader.load(p)

    def runner_threads():
        ImageLoader(shape, threads=2).load_many(paths)

    loader = ImageLoader(shape)
    cached = CachedImages(lambda i: loader.load(paths[i]), len(paths))
    for i in range(len(paths)):
        cached[i]

    def cached_access():
        for i in range(len(paths)):
            cached[i]

    timings: dict[str, list[float]] = {
        "nibabel": [],
        "runner": [],
        "runner-threads": [],
        "cached": [],
    }
    raw()  # warm the page cache
    for _ in range(args.rounds):
        for name, fn in (
            ("nibabel", raw),
            ("runner", runner),
            ("runner-threads", runner_threads),
            ("cached", cached_access),
        ):
            t0 = time.perf_counter()
            fn()
            timings[name].append(len(paths) / (time.perf_counter() - t0))
    result = {
        "benchmark": "runner data loading",
        "images": len(paths),
        "shape": list(shape),
        "file": "NIfTI-1 .nii.gz (synthetic, 4 mm)",
        "rounds": args.rounds,
        "volumes_per_s": {k: round(statistics.median(v), 1) for k, v in timings.items()},
        "all_rounds": {k: [round(x, 1) for x in v] for k, v in timings.items()},
    }
    vps = result["volumes_per_s"]
    result["runner_vs_nibabel"] = round(vps["runner"] / vps["nibabel"], 2)
    result["runner_threads_vs_nibabel"] = round(vps["runner-threads"] / vps["nibabel"], 2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
