"""The loop shared by ``fuzz_predictions.py`` and ``fuzz_evidence.py``.

A worker process runs the cases one by one (in process: the same code as the ``brainbench``
command without an interpreter start per case) and answers one JSON line per case; the driver
kills and restarts it when a case runs over ``--timeout`` seconds (a hang). The worker resets
and reads its peak RSS (Linux ``VmHWM``) around every case and runs under a 4 GiB address-space
limit, so a blow-up is a MemoryError, not a machine down. ``--cli-sample N`` also runs every
N-th case through a fresh ``python -m brainbench`` process and checks its stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import select
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
ADDRESS_LIMIT = 4 << 30

#: (seed, index, folder) -> (kind, problems, cli argv or None) for one case written in folder.
RunCase = Callable[[int, int, Path], tuple[str, list[str], list[str] | None]]


def peak_rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak_rss() -> None:
    with contextlib.suppress(OSError):  # 5: reset the peak RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")


def _worker(run_case: RunCase, seed: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_LIMIT, ADDRESS_LIMIT))
    # A warm-up case outside the counted range loads every lazy import: a case's time is its own.
    with tempfile.TemporaryDirectory() as folder, contextlib.suppress(BaseException):
        run_case(seed, -1, Path(folder))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        index = int(line)
        reset_peak_rss()
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            try:
                kind, found, _ = run_case(seed, index, Path(folder))
            except BaseException as exc:
                kind, found = "?", [f"traceback: {type(exc).__name__}: {exc}"[:300]]
        out = {
            "index": index,
            "kind": kind,
            "problems": found,
            "seconds": time.perf_counter() - start,
            "rss_kb": peak_rss_kb(),
        }
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


class _Driver:
    def __init__(self, script: str, seed: int, timeout: float) -> None:
        self.script, self.seed, self.timeout = script, seed, timeout
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [sys.executable, self.script, "--worker", "--seed", str(self.seed)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                cwd=ROOT,
            )
            assert self.proc.stdout is not None
            self.proc.stdout.readline()  # "ready": start-up is not a case's time
        return self.proc

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def run(self, index: int) -> dict:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        start = time.perf_counter()
        proc.stdin.write(f"{index}\n")
        proc.stdin.flush()
        ready, _, _ = select.select([proc.stdout], [], [], self.timeout)
        if not ready:
            self.stop()
            return {"index": index, "hang": True, "seconds": time.perf_counter() - start}
        line = proc.stdout.readline()
        if not line:
            self.stop()
            return {"index": index, "died": True, "seconds": time.perf_counter() - start}
        return json.loads(line)


def _cli_check(run_case: RunCase, seed: int, index: int, timeout: float) -> list[str]:
    with tempfile.TemporaryDirectory() as folder:
        _, _, argv = run_case(seed, index, Path(folder))  # writes the case (and runs it here)
        if argv is None:
            return []
        try:
            done = subprocess.run(
                [sys.executable, "-m", "brainbench", *argv],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=timeout + 20,  # + the interpreter's start
            )
        except subprocess.TimeoutExpired:
            return [f"case {index}: hang in a fresh process"]
    found = []
    if done.returncode not in (0, 2):
        found.append(f"case {index}: exit {done.returncode}: {done.stderr[:200]}")
    if "Traceback" in done.stderr + done.stdout:
        found.append(f"case {index}: traceback in a fresh process")
    return found


def main(name: str, run_case: RunCase, doc: str) -> None:
    """Parse the command line, run the cases, print and save the counts."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0, help="a hang, in seconds")
    parser.add_argument("--rss-gib", type=float, default=1.0, help="the RSS limit, in GiB")
    parser.add_argument("--cli-sample", type=int, default=50, help="every N-th case via CLI")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(run_case, args.seed)
        return
    driver = _Driver(sys.argv[0], args.seed, args.timeout)
    counts: Counter[str] = Counter({"tracebacks": 0, "hangs": 0, "over_rss": 0, "other": 0})
    kinds: Counter[str] = Counter()
    examples: list[str] = []
    max_rss_kb, slowest = 0, 0.0
    started = time.perf_counter()
    try:
        for index in range(args.cases):
            rep = driver.run(index)
            if rep.get("hang") or rep.get("died"):
                counts["hangs" if rep.get("hang") else "tracebacks"] += 1
                examples.append(f"case {index}: {'hang' if rep.get('hang') else 'worker died'}")
                continue
            kinds[rep["kind"]] += 1
            max_rss_kb, slowest = max(max_rss_kb, rep["rss_kb"]), max(slowest, rep["seconds"])
            if rep["rss_kb"] > args.rss_gib * (1 << 20):
                counts["over_rss"] += 1
                examples.append(f"case {index}: peak RSS {rep['rss_kb'] >> 10} MiB")
            if rep["seconds"] > args.timeout:
                counts["hangs"] += 1
                examples.append(f"case {index}: {rep['seconds']:.1f} s")
            found = rep["problems"]
            if any("traceback" in p or "exit 70" in p for p in found):
                counts["tracebacks"] += 1
            elif found:
                counts["other"] += 1
            examples += [f"case {index} ({rep['kind']}): {p}" for p in found]
    finally:
        driver.stop()
    cli_problems: list[str] = []
    if args.cli_sample:
        for index in range(0, args.cases, args.cli_sample):
            cli_problems += _cli_check(run_case, args.seed, index, args.timeout)
    result = {
        "cases": args.cases,
        "seed": args.seed,
        **counts,
        "cli_sampled": len(range(0, args.cases, args.cli_sample)) if args.cli_sample else 0,
        "cli_problems": cli_problems,
        "max_rss_mib": max_rss_kb >> 10,
        "slowest_s": round(slowest, 2),
        "total_s": round(time.perf_counter() - started, 1),
        "kinds": dict(sorted(kinds.items())),
        "examples": examples[:50],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.cases} cases: {counts['tracebacks']} tracebacks, {counts['hangs']} hangs over "
        f"{args.timeout:g} s, {counts['over_rss']} runs over {args.rss_gib:g} GiB RSS, "
        f"{counts['other']} other problems; {len(cli_problems)} problems in "
        f"{result['cli_sampled']} fresh CLI runs. Peak RSS {result['max_rss_mib']} MiB, "
        f"slowest case {result['slowest_s']} s, {result['total_s']} s in all."
    )
    for line in examples[:20] + cli_problems[:10]:
        print("  " + line)
