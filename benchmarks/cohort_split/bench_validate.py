"""``brainbench validate SPEC --data`` at scale: this checkout against an earlier commit.

Usage::

    python benchmarks/cohort_split/bench_validate.py --sessions 1000000 --rounds 3 \\
        --baseline 49b7ac3 --baseline 26d5ffa --out benchmarks/cohort_split/results-validate.json

Writes the cohort of ``run.py`` (N sessions, about 3 per subject, 40 sites; no image file
exists) and its spec, exports ``src/`` of each baseline commit with ``git archive``, then runs
the command-line ``validate --data --format json`` of each baseline and of this checkout,
alternating (baselines, current) ``--rounds`` times, each in a fresh process. Per run: wall
time, CPU time (user + system of the process and its threads), peak resident memory
(``ru_maxrss`` of the child), and the 1-minute load average before it. Reported: medians per
side, the ratios baseline / current of the same round (then their median), and, per
baseline, whether it printed the same findings and every difference of its JSON output
(finding by finding: rule, field, before and now; other keys of a file's result).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

from run import SPEC, write_cohort  # noqa: E402


def export_src(rev: str, into: Path) -> Path:
    """``src/`` of commit ``rev`` under ``into`` (no checkout of the working tree)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = into / "src.tar"
    with archive.open("wb") as fh:
        subprocess.run(["git", "-C", str(REPO), "archive", rev, "src"], stdout=fh, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def run_validate(src: Path, spec: Path) -> dict:
    """One ``validate --data`` in a fresh process importing brainbench from ``src``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = (
        "import sys; from brainbench.cli import cli; "
        "sys.argv = ['brainbench', 'validate', sys.argv[1], '--data', '--format', 'json']; cli()"
    )
    load = os.getloadavg()[0]
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-c", code, str(spec)],
            env=env,
            cwd=spec.parent,
            stdout=out,
            stderr=err,
        )
        _, status, usage = os.wait4(proc.pid, 0)  # the child's own rusage (CPU, peak memory)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text, errors = out.read(), err.read()
    if not text.strip().startswith("{"):
        sys.exit(f"validate failed ({src}):\n{errors[-2000:]}")
    findings = json.loads(text)["results"]
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,
        "load_1min": load,
        "findings": findings,
    }


def differences(before: list[dict], now: list[dict]) -> list[str]:
    """What differs between two ``validate --format json`` results lists, one line each:
    ``D307 #1 message: '...' -> '...'``, ``D301: 1 finding(s) before, 2 now``, or a key of a
    file's result added, removed or changed (``spec.yaml: key 'data' added: true``)."""
    out: list[str] = []
    if len(before) != len(now):
        out.append(f"{len(before)} file result(s) before, {len(now)} now")
    for b, c in zip(before, now, strict=False):
        name = c.get("file", "?")
        for key in sorted(set(b) | set(c)):
            if key == "findings" or b.get(key) == c.get(key):
                continue
            if key not in b:
                out.append(f"{name}: key {key!r} added: {json.dumps(c[key])}")
            elif key not in c:
                out.append(f"{name}: key {key!r} removed (was {json.dumps(b[key])})")
            else:
                out.append(f"{name}: {key}: {json.dumps(b[key])} -> {json.dumps(c[key])}")
        rules = dict.fromkeys(f["rule"] for f in [*b.get("findings", []), *c.get("findings", [])])
        for rule in rules:
            old = [f for f in b.get("findings", []) if f["rule"] == rule]
            new = [f for f in c.get("findings", []) if f["rule"] == rule]
            if len(old) != len(new):
                out.append(f"{rule}: {len(old)} finding(s) before, {len(new)} now")
            for i, (x, y) in enumerate(zip(old, new, strict=False), 1):
                for field in sorted(set(x) | set(y)):
                    if x.get(field) != y.get(field):
                        out.append(
                            f"{rule} #{i} {field}: {json.dumps(x.get(field))} -> "
                            f"{json.dumps(y.get(field))}"
                        )
        order_b = [(f["rule"], f["message"]) for f in b.get("findings", [])]
        order_c = [(f["rule"], f["message"]) for f in c.get("findings", [])]
        if sorted(order_b) == sorted(order_c) and order_b != order_c:
            out.append(f"{name}: same findings in another order")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--baseline",
        action="append",
        help="commit to compare with (repeat for several; default 49b7ac3)",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    baselines: list[str] = args.baseline or ["49b7ac3"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sources = {rev: export_src(rev, tmp / f"baseline-{rev}") for rev in baselines}
        sources["current"] = REPO / "src"
        data = tmp / "data"
        data.mkdir()
        write_cohort(data / "cohort.tsv", args.sessions)
        (data / "spec.yaml").write_text(SPEC.format(tsv="cohort.tsv"))
        runs: dict[str, list[dict]] = {side: [] for side in sources}
        for r in range(args.rounds):
            for side, src in sources.items():
                res = run_validate(src, data / "spec.yaml")
                runs[side].append(res)
                print(
                    f"round {r + 1} {side:8s}: wall {res['wall_s']:6.2f} s  cpu "
                    f"{res['cpu_s']:6.2f} s  peak {res['peak_mib']:6.0f} MiB  "
                    f"load {res['load_1min']:.1f}",
                    flush=True,
                )

    def med(side: str, key: str) -> float:
        return statistics.median(x[key] for x in runs[side])

    def ratio(side: str, key: str) -> float:
        pairs = zip(runs[side], runs["current"], strict=True)
        return statistics.median(b[key] / c[key] for b, c in pairs)

    def compared(side: str) -> dict:
        # every round of a side prints the same output; the last rounds are compared
        before, now = runs[side][-1]["findings"], runs["current"][-1]["findings"]
        return {
            "same_findings": [f.get("findings") for f in before]
            == [f.get("findings") for f in now],
            "differences": differences(before, now),
        }

    keys = ("wall_s", "cpu_s", "peak_mib")
    summary = {
        "sessions": args.sessions,
        "baselines": baselines,
        "cpus": os.cpu_count(),
        "output": {side: compared(side) for side in baselines},
        "median": {side: {k: med(side, k) for k in (*keys, "load_1min")} for side in runs},
        "baseline_over_current": {side: {k: ratio(side, k) for k in keys} for side in baselines},
        "runs": {
            side: [{k: v for k, v in x.items() if k != "findings"} for x in runs[side]]
            for side in runs
        },
    }
    print(json.dumps({k: summary[k] for k in summary if k != "runs"}, indent=2))
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
