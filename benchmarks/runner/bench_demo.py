#!/usr/bin/env python
"""``brainbench demo`` end to end, on the machine as it is and under a controlled load.

Runs the demo twice in fresh processes: first "quiet" (the machine as it is), then while
``--busy`` busy-loop processes that this script starts (and stops, whatever happens) compete
for the cores. Per run: wall time, CPU time of the demo and its children (``RUSAGE_CHILDREN``
difference), and per epoch of ``cnn3d-small`` the wall and CPU seconds its model process
recorded (``epoch_times`` of the unit records), with the 1-minute load average before each.
Reported: the medians and the ratios loaded / quiet (issue 16: CPU per epoch within 1.3x,
wall within 2.5x).

    python benchmarks/runner/bench_demo.py [--seeds 3] [--max-epochs 8] [--busy 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def run_demo(out: Path, seeds: int, max_epochs: int | None) -> dict:
    cmd = [sys.executable, "-m", "brainbench", "demo", "--out", str(out), "-q"]
    cmd += ["--seeds", str(seeds)]
    if max_epochs is not None:
        cmd += ["--max-epochs", str(max_epochs)]
    load = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        sys.exit(f"demo failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    epochs = []
    for rec in sorted(out.rglob("units/*.json")):
        data = json.loads(rec.read_text())
        if data.get("model") == "cnn3d-small" and data.get("epoch_times"):
            epochs += [tuple(x) for x in data["epoch_times"][1:]]  # epoch 1 decodes images
    return {
        "wall_s": wall,
        "cpu_s": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "load_1min_before": load,
        "load_1min_after": os.getloadavg()[0],
        "cnn_epochs": len(epochs),
        "cnn_epoch_wall_s": statistics.median(w for w, _ in epochs) if epochs else None,
        "cnn_epoch_cpu_s": statistics.median(c for _, c in epochs) if epochs else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--max-epochs", type=int, default=None)
    ap.add_argument("--busy", type=int, default=2)
    ap.add_argument("--out", type=Path, default=RESULTS / "demo.json")
    args = ap.parse_args()
    res: dict = {"cpus": os.cpu_count(), "seeds": args.seeds, "max_epochs": args.max_epochs}
    with tempfile.TemporaryDirectory() as tmp:
        res["quiet"] = run_demo(Path(tmp) / "quiet", args.seeds, args.max_epochs)
        print("quiet ", res["quiet"], flush=True)
        busy = [
            subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(args.busy)
        ]
        try:
            time.sleep(2)
            res["loaded"] = run_demo(Path(tmp) / "loaded", args.seeds, args.max_epochs)
        finally:
            for p in busy:
                p.kill()
                p.wait()
        print("loaded", res["loaded"], flush=True)
    q, lo = res["quiet"], res["loaded"]
    res["busy_loops"] = args.busy
    res["loaded_over_quiet"] = {
        "demo_wall": lo["wall_s"] / q["wall_s"],
        "demo_cpu": lo["cpu_s"] / q["cpu_s"],
        "cnn_epoch_wall": (lo["cnn_epoch_wall_s"] or 0) / (q["cnn_epoch_wall_s"] or 1),
        "cnn_epoch_cpu": (lo["cnn_epoch_cpu_s"] or 0) / (q["cnn_epoch_cpu_s"] or 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    print(json.dumps(res["loaded_over_quiet"], indent=2))


if __name__ == "__main__":
    main()
