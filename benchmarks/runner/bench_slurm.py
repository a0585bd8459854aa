"""Overhead of the SLURM path per unit against the local executor, on the same units.

Runs ``--seeds N`` units of one fast model twice, alternating over rounds: with the local
executor (``workers`` model hosts) and as one SLURM job array on the single-node cluster of
``scripts/slurm-up.sh`` (``array_parallelism`` = ``workers``, one core per task). The overhead
per unit is (SLURM wall - local wall) / units: submission, the array task's Python start-up,
reading the run folder, polling and collection. Needs root (it starts the cluster).

    python benchmarks/runner/bench_slurm.py --seeds 6 --workers 2 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import REPO, cohort

SPEC = REPO / "spec" / "demo" / "smoke-tiny.yaml"
MODEL = "demographics-logreg"


def _cluster(state: Path) -> str:
    env = {**os.environ, "BRAINBENCH_SLURM_DIR": str(state)}
    up = subprocess.run(
        ["bash", str(REPO / "scripts" / "slurm-up.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return up.stdout.strip().splitlines()[-1]


def _run(out: Path, executor: str, profile: Path, seeds: int, workers: int) -> float:
    shutil.rmtree(out, ignore_errors=True)
    args = [
        *(sys.executable, "-m", "brainbench", "run", str(SPEC), "--model", MODEL),
        *("--seeds", str(seeds), "--device", "cpu", "--max-epochs", "1", "--quiet"),
        *("--executor", executor, "--profile", str(profile), "--out", str(out)),
    ]
    if executor == "local":
        args += ["--workers", str(workers)]
    t0 = time.perf_counter()
    subprocess.run(args, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--work", type=Path, default=Path("/tmp/brainbench-bench-slurm"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    cohort(args.work / "data", subjects=16)
    os.environ["SLURM_CONF"] = _cluster(args.work / "cluster")
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    profile = args.work / "cluster.yaml"
    profile.write_text(
        "name: bench\nexecutor: slurm\nslurm:\n  partition: debug\n  time_min: 10\n"
        f"  cpus_per_task: 1\n  array_parallelism: {args.workers}\n  python: {sys.executable}\n"
    )
    local, slurm = [], []
    try:
        for _ in range(args.rounds):
            local.append(_run(args.work / "local", "local", profile, args.seeds, args.workers))
            slurm.append(_run(args.work / "slurm", "slurm", profile, args.seeds, args.workers))
    finally:
        subprocess.run(
            ["bash", str(REPO / "scripts" / "slurm-down.sh")],
            env={**os.environ, "BRAINBENCH_SLURM_DIR": str(args.work / "cluster")},
            check=False,
        )
    result = {
        "units": args.seeds,
        "workers": args.workers,
        "rounds": args.rounds,
        "load_average": os.getloadavg(),
        "local_wall_s": local,
        "slurm_wall_s": slurm,
        "median_local_s": statistics.median(local),
        "median_slurm_s": statistics.median(slurm),
        "ratio_slurm_to_local": statistics.median(slurm) / statistics.median(local),
        "overhead_per_unit_s": (statistics.median(slurm) - statistics.median(local)) / args.seeds,
    }
    print(json.dumps(result, indent=2))
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "slurm.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
