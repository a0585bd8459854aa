"""The cost of the model-process sandbox: unit start-up and epoch time, sealed vs unsealed.

    python benchmarks/runner/bench_seal.py --subjects 24 --epochs 5 --rounds 3

Two measurements, each interleaved (sealed, unsealed, sealed, ...) so that load on the
machine affects both sides alike:

* **start-up**: from starting a unit's model process to its ``hello`` (the sandbox complete:
  namespaces, Landlock; Python and brainbench imported), ``--startups`` times per side;
* **units**: ``brainbench run`` of the demo spec with ``voxel-linear`` and ``cnn3d-small``
  (one seed, ``--epochs`` epochs) sealed and with ``seal=False``; per unit its wall seconds
  and its epochs' wall and CPU seconds (epoch 1, which includes fetching the images,
  excluded). CPU seconds (of the model process) are the robust figure on a busy machine.

Prints JSON and writes ``results/seal.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

from _common import REPO, SPEC, cohort


def startup(seal: bool) -> float:
    from brainbench.runner._execute import ModelHost

    host = ModelHost(1, seal=seal)
    t0 = time.perf_counter()
    host.start(REPO / "registry" / "models" / "voxel-linear")
    took = time.perf_counter() - t0
    host.close()
    return took


def units(seal: bool, epochs: int, out: Path) -> dict[str, dict]:
    from brainbench.runner import run_benchmark

    result = run_benchmark(
        SPEC,
        ["voxel-linear", "cnn3d-small"],
        out=out,
        seeds=1,
        device="cpu",
        max_epochs=epochs,
        seal=seal,
    )
    assert result.ok, result.failed
    found = {}
    for u in result.units:
        rec = json.loads((out / "units" / f"{u['id']}.json").read_text())
        times = (rec.get("epoch_times") or [])[1:]
        found[u["model"]] = {
            "unit_s": rec["seconds"],
            "epoch_s": [w for w, _ in times],
            "epoch_cpu_s": [c for _, c in times],
            "seal": rec["seal"],
        }
    return found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subjects", type=int, default=24)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--startups", type=int, default=10)
    ap.add_argument("--work", type=Path, default=Path("/tmp/brainbench-bench-runner"))
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "seal.json")
    args = ap.parse_args(argv)
    cohort(args.work / f"cohort-{args.subjects}", args.subjects)

    starts: dict[str, list[float]] = {"sealed": [], "unsealed": []}
    for _ in range(args.startups):
        for side in starts:
            starts[side].append(startup(side == "sealed"))

    runs: dict[str, list[dict]] = {"sealed": [], "unsealed": []}
    with tempfile.TemporaryDirectory(prefix="brainbench-bench-seal-") as tmp:
        for r in range(args.rounds):
            for side in runs:
                out = Path(tmp) / f"{side}-{r}"
                runs[side].append(units(side == "sealed", args.epochs, out))

    def med(xs: list[float]) -> float:
        return round(statistics.median(xs), 4)

    summary: dict[str, dict] = {"startup_s": {}, "unit_s": {}, "epoch_s": {}, "epoch_cpu_s": {}}
    for side in ("sealed", "unsealed"):
        summary["startup_s"][side] = {"median": med(starts[side]), "min": min(starts[side])}
        for model in ("voxel-linear", "cnn3d-small"):
            unit_s = [run[model]["unit_s"] for run in runs[side]]
            summary["unit_s"].setdefault(model, {})[side] = med(unit_s)
            for key in ("epoch_s", "epoch_cpu_s"):
                epochs = [e for run in runs[side] for e in run[model][key]]
                if epochs:
                    summary[key].setdefault(model, {})[side] = med(epochs)
    for key in ("unit_s", "epoch_s", "epoch_cpu_s"):
        for sides in summary[key].values():
            if sides.get("unsealed"):
                sides["ratio"] = round(sides["sealed"] / sides["unsealed"], 3)
    st = summary["startup_s"]
    st["ratio"] = round(st["sealed"]["median"] / st["unsealed"]["median"], 3)
    result = {
        "machine": {
            "platform": platform.platform(),
            "cpu_count": os.cpu_count(),
            "load_average": os.getloadavg(),
        },
        "settings": vars(args) | {"work": str(args.work), "out": str(args.out)},
        "seal": runs["sealed"][0]["voxel-linear"]["seal"],
        "summary": summary,
        "raw": {"startup_s": starts, "units": runs},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(json.dumps(result["summary"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
