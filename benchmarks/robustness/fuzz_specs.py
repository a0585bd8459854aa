"""Fuzz ``brainbench validate --format json`` with generated hostile specs and count failures.

Usage::

    python benchmarks/robustness/fuzz_specs.py [--cases 10000] [--seed 0] [--cli-sample 100]

Each case comes from ``tests/spec/mutations.py`` (``make_case(random.Random(seed, i))``): bytes
and control characters, reserved words as keys, ``extends`` chains (cycles, diamonds, missing,
long names, directories, FIFOs, devices, a 3 GiB sparse file), ``${VAR}`` expansion, include
filters and batches. A worker process runs the cases one by one through the CLI entry point
(``brainbench.cli.main``, in the worker: the same code as the ``brainbench`` command without an
interpreter start per case). A case hangs when it takes more than ``--timeout`` CPU seconds, or
no answer comes in six times that (the driver then kills and restarts the worker: a blocked
read uses no CPU). After each case the worker reads its peak RSS (``VmHWM``) and resets it.
``--cli-sample N`` also runs every (cases/N)-th case through a fresh ``python -m brainbench``
process, to check what a user sees on stderr.

Prints, and writes to ``benchmarks/robustness/results/fuzz-specs.json`` (``--output``): the cases,
tracebacks (a traceback printed, exit 70, or a case ending without JSON), hangs over the
timeout, runs over the RSS limit, other problems (an exit status outside 0/1/2, a batch file
without its result), and the spread of exit statuses, times and peak RSS.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import select
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # tests.spec.mutations: the same generator as the fuzz tests

from tests.spec.mutations import make_case, problems, run_case, write_case  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"


def case_rng(seed: int, index: int) -> random.Random:
    return random.Random(f"{seed}:{index}")


def peak_rss_kb() -> int:
    """Peak resident set size since the last reset (Linux VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak_rss() -> None:
    with contextlib.suppress(OSError):  # 5: reset the peak RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")


def worker(seed: int, address_limit: int) -> None:
    """Read case indices on stdin, write one JSON line per case on stdout."""
    # the worker fails with MemoryError rather than take a shared machine down
    resource.setrlimit(resource.RLIMIT_AS, (address_limit, address_limit))
    out = sys.stdout
    out.write("ready\n")  # imports done: the driver's clock starts with the first case
    out.flush()
    for line in sys.stdin:
        index = int(line)
        case = make_case(case_rng(seed, index), heavy=True)
        reset_peak_rss()
        cpu = time.process_time()
        with tempfile.TemporaryDirectory() as folder:
            outcome = run_case(case, Path(folder))
        report = {
            "index": index,
            "kind": case.kind,
            "status": outcome.status,
            "seconds": outcome.seconds,
            "cpu_seconds": time.process_time() - cpu,
            "rss_kb": peak_rss_kb(),
            "problems": problems(case, outcome),
        }
        out.write(json.dumps(report) + "\n")
        out.flush()


class Driver:
    def __init__(self, seed: int, kill_after: float, address_limit: int) -> None:
        self.seed, self.kill_after, self.address_limit = seed, kill_after, address_limit
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, __file__, "--worker", "--seed", str(self.seed)),
                    *("--address-limit", str(self.address_limit)),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                cwd=ROOT,
            )
            assert self.proc.stdout is not None
            if self.proc.stdout.readline().strip() != "ready":
                raise RuntimeError("the fuzz worker did not start")
        return self.proc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def run(self, index: int) -> dict:
        proc = self.start()
        assert proc.stdin is not None and proc.stdout is not None
        start = time.perf_counter()
        proc.stdin.write(f"{index}\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], self.kill_after)
        if not ready:
            self.stop()
            return {"index": index, "hang": True, "seconds": time.perf_counter() - start}
        line = proc.stdout.readline()
        if not line:  # the worker died (killed, or a crash of the interpreter)
            self.stop()
            return {"index": index, "died": True, "seconds": time.perf_counter() - start}
        return json.loads(line)


def cli_check(seed: int, index: int, timeout: float) -> list[str]:
    """Run one case through a fresh ``python -m brainbench``: a clean stderr and status."""
    case = make_case(case_rng(seed, index), heavy=True)
    with tempfile.TemporaryDirectory() as folder:
        write_case(case, Path(folder))
        env = dict(os.environ)
        for key, value in case.env.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        try:
            done = subprocess.run(
                [sys.executable, "-m", "brainbench", "validate", *case.args],
                cwd=folder,
                env=env,
                capture_output=True,
                text=True,
                timeout=timeout + 10,  # + the interpreter's start
            )
        except subprocess.TimeoutExpired:
            return [f"case {index}: hang"]
    found = []
    if done.returncode not in (0, 1, 2):
        found.append(f"case {index}: exit {done.returncode}: {done.stderr[:200]}")
    if "Traceback" in done.stderr + done.stdout:
        found.append(f"case {index}: traceback")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="index of the first case")
    parser.add_argument("--timeout", type=float, default=10.0, help="a hang, in CPU seconds")
    parser.add_argument("--rss-gib", type=float, default=1.0, help="the RSS limit, in GiB")
    parser.add_argument("--cli-sample", type=int, default=100)
    parser.add_argument("--output", default="fuzz-specs.json", help="file name in results/")
    parser.add_argument(
        "--address-limit", type=int, default=4 << 30, help="the worker's RLIMIT_AS, in bytes"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.seed, args.address_limit)
        return

    # A case hangs when it uses more than --timeout CPU seconds, or blocks (a FIFO...) for six
    # times that in wall time: on a shared machine wall time alone also measures the neighbours.
    driver = Driver(args.seed, kill_after=6 * args.timeout, address_limit=args.address_limit)
    counts: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    examples: list[str] = []
    slowest: list[tuple[float, int, str]] = []
    max_rss_kb = 0
    max_wall = 0.0
    started = time.perf_counter()
    try:
        for index in range(args.start, args.start + args.cases):
            report = driver.run(index)
            if report.get("hang"):
                counts["hangs"] += 1
                examples.append(f"case {index}: no answer in {driver.kill_after:g} s (killed)")
                continue
            if report.get("died"):
                counts["tracebacks"] += 1
                examples.append(f"case {index}: the worker died")
                continue
            kinds[report["kind"]] += 1
            statuses[str(report["status"])] += 1
            max_rss_kb = max(max_rss_kb, report["rss_kb"])
            max_wall = max(max_wall, report["seconds"])
            slowest = sorted([*slowest, (report["cpu_seconds"], index, report["kind"])])[-5:]
            if report["rss_kb"] > args.rss_gib * (1 << 20):
                counts["over_rss"] += 1
                examples.append(f"case {index}: peak RSS {report['rss_kb'] >> 10} MiB")
            if report["cpu_seconds"] > args.timeout:
                counts["hangs"] += 1
                examples.append(f"case {index}: {report['cpu_seconds']:.1f} CPU seconds")
            found = report["problems"]
            if any("traceback" in p or "exit status 70" in p or "no JSON" in p for p in found):
                counts["tracebacks"] += 1
            elif found:
                counts["other_problems"] += 1
            for problem in found[:1]:
                examples.append(f"case {index} ({report['kind']}): {problem}")
                print(examples[-1], file=sys.stderr, flush=True)
            if (index + 1) % 1000 == 0:
                print(f"{index + 1} cases, {dict(counts)}", file=sys.stderr, flush=True)
    finally:
        driver.stop()
    cli_problems: list[str] = []
    step = max(1, args.cases // args.cli_sample) if args.cli_sample else 0
    sample = range(args.start, args.start + args.cases, step) if step else range(0)
    for index in sample:
        cli_problems.extend(cli_check(args.seed, index, args.timeout))
    summary = {
        "cases": args.cases,
        "first_case": args.start,
        "seed": args.seed,
        "tracebacks": counts["tracebacks"],
        f"hangs_over_{args.timeout:g}_cpu_s": counts["hangs"],
        f"runs_over_{args.rss_gib:g}GiB_rss": counts["over_rss"],
        "other_problems": counts["other_problems"],
        "exit_statuses": dict(sorted(statuses.items())),
        "kinds": dict(sorted(kinds.items())),
        "max_peak_rss_mib": max_rss_kb >> 10,
        "max_wall_seconds": round(max_wall, 2),
        "slowest_cases": [
            {"cpu_seconds": round(s, 2), "case": i, "kind": k} for s, i, k in reversed(slowest)
        ],
        "cli_sample": {"cases": len(sample), "problems": cli_problems},
        "examples": examples[:20],
        "wall_seconds": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
