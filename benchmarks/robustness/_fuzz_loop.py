"""The fuzz driver of ``fuzz_specs.py``, ``fuzz_predictions.py`` and ``fuzz_evidence.py``.

A worker process runs the cases one by one (in process: the same code as the ``brainbench``
command without an interpreter start per case, after one warm-up case that loads the lazy
imports) and answers one JSON line per case. It runs under an address-space limit
(``--address-limit``, 4 GiB), so that a blow-up is a MemoryError, not a machine down, and it
resets and reads its peak RSS (Linux ``VmHWM``) around every case.

A case hangs when it uses more than ``--timeout`` CPU seconds, or gives no answer in six times
that (the driver then kills and restarts the worker: a blocked read uses no CPU). CPU time, not
wall time, is the measure because on a shared machine wall time also measures the neighbours.

``--cli-sample N`` also runs every N-th case through a fresh ``python -m brainbench`` process,
in the folder the worker ran it in and with the case's environment, and checks its exit status
and stderr: what a user sees.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = Path(__file__).resolve().parent / "results"
#: A problem that names one of these is a traceback (the others: an unclean status, a batch
#: file without its result, readers that disagree...).
TRACEBACK_MARKS = ("traceback", "exit 70", "exit status 70", "no JSON")


@dataclass
class Case:
    """What a case was and what went wrong with it, in the worker."""

    kind: str
    problems: list[str]
    #: The exit status of the run in the worker (None: several commands, or none to count).
    status: int | None = None
    #: The ``brainbench`` arguments of the fresh-process check (None: no such check).
    argv: list[str] | None = None
    #: Environment variables of the fresh-process check (None: unset).
    env: dict[str, str | None] = field(default_factory=dict)


#: (seed, index, folder) -> the Case written into folder and run there.
RunCase = Callable[[int, int, Path], Case]


def peak_rss_kb() -> int:
    """Peak resident set size since the last reset (Linux VmHWM), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def reset_peak_rss() -> None:
    with contextlib.suppress(OSError):  # 5: reset the peak RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")


@contextlib.contextmanager
def _case_folder(given: str) -> Iterator[Path]:
    """The folder the driver chose (kept for its fresh-process check), else a temporary one."""
    if given:
        yield Path(given)
        return
    with tempfile.TemporaryDirectory() as folder:
        yield Path(folder)


def _worker(run_case: RunCase, seed: int, address_limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (address_limit, address_limit))
    with tempfile.TemporaryDirectory() as folder, contextlib.suppress(BaseException):
        run_case(seed, -1, Path(folder))  # the warm-up: a case's time is its own
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    for line in sys.stdin:
        index_text, _, given = line.rstrip("\n").partition("\t")
        index = int(index_text)
        reset_peak_rss()
        wall, cpu = time.perf_counter(), time.process_time()
        with _case_folder(given) as folder:
            try:
                case = run_case(seed, index, folder)
            except BaseException as exc:
                case = Case("?", [f"traceback: {type(exc).__name__}: {exc}"[:300]])
        out = {
            "index": index,
            **asdict(case),
            "seconds": time.perf_counter() - wall,
            "cpu_seconds": time.process_time() - cpu,
            "rss_kb": peak_rss_kb(),
        }
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


class _Driver:
    def __init__(self, script: str, seed: int, kill_after: float, address_limit: int) -> None:
        self.script, self.seed = script, seed
        self.kill_after, self.address_limit = kill_after, address_limit
        self.proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        if self.proc is None or self.proc.poll() is not None:
            self.proc = subprocess.Popen(
                [
                    *(sys.executable, self.script, "--worker", "--seed", str(self.seed)),
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

    def run(self, index: int, folder: Path | None) -> dict:
        proc = self._start()
        assert proc.stdin is not None and proc.stdout is not None
        start = time.perf_counter()
        proc.stdin.write(f"{index}\t{folder or ''}\n")
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


def _cli_check(report: dict, folder: Path, statuses: tuple[int, ...], timeout: float) -> list[str]:
    """Run a case again through a fresh ``python -m brainbench``: a clean stderr and status."""
    index = report["index"]
    env = dict(os.environ)
    for key, value in report["env"].items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    try:
        done = subprocess.run(
            [sys.executable, "-m", "brainbench", *report["argv"]],
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=6 * timeout + 20,  # + the interpreter's start
        )
    except subprocess.TimeoutExpired:
        return [f"case {index}: hang in a fresh process"]
    found = []
    if done.returncode not in statuses:
        found.append(f"case {index}: exit {done.returncode}: {done.stderr[:200]}")
    if "Traceback" in done.stderr + done.stdout:
        found.append(f"case {index}: traceback in a fresh process")
    return found


def main(
    name: str,
    run_case: RunCase,
    doc: str,
    *,
    cases: int = 1_000,
    cli_sample: int = 50,
    statuses: tuple[int, ...] = (0, 2),
) -> None:
    """Parse the command line, run the cases, print and save the counts.

    ``statuses`` are the exit statuses a fresh ``brainbench`` process may end with.
    """
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("--cases", type=int, default=cases)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--start", type=int, default=0, help="index of the first case")
    parser.add_argument("--timeout", type=float, default=10.0, help="a hang, in CPU seconds")
    parser.add_argument("--rss-gib", type=float, default=1.0, help="the RSS limit, in GiB")
    parser.add_argument(
        "--cli-sample", type=int, default=cli_sample, help="every N-th case via CLI (0: none)"
    )
    parser.add_argument("--output", default=f"{name}.json", help="file name in results/")
    parser.add_argument(
        "--address-limit", type=int, default=4 << 30, help="the worker's RLIMIT_AS, in bytes"
    )
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(run_case, args.seed, args.address_limit)
        return

    driver = _Driver(sys.argv[0], args.seed, 6 * args.timeout, args.address_limit)
    counts: Counter[str] = Counter({"tracebacks": 0, "hangs": 0, "over_rss": 0, "other": 0})
    statuses_seen: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    examples: list[str] = []
    cli_problems: list[str] = []
    slowest: list[tuple[float, int, str]] = []
    max_rss_kb, max_wall, sampled = 0, 0.0, 0
    started = time.perf_counter()
    try:
        for index in range(args.start, args.start + args.cases):
            check = bool(args.cli_sample) and index % args.cli_sample == 0
            folder = Path(tempfile.mkdtemp(prefix="fuzz-")) if check else None
            try:
                rep = driver.run(index, folder)
                if rep.get("hang") or rep.get("died"):
                    counts["hangs" if rep.get("hang") else "tracebacks"] += 1
                    what = f"no answer in {driver.kill_after:g} s (killed)"
                    examples.append(f"case {index}: {what if rep.get('hang') else 'worker died'}")
                    continue
                if folder is not None and rep["argv"] is not None:
                    sampled += 1
                    cli_problems += _cli_check(rep, folder, statuses, args.timeout)
            finally:
                if folder is not None:
                    shutil.rmtree(folder, ignore_errors=True)
            kinds[rep["kind"]] += 1
            if rep["status"] is not None:
                statuses_seen[str(rep["status"])] += 1
            max_rss_kb, max_wall = max(max_rss_kb, rep["rss_kb"]), max(max_wall, rep["seconds"])
            slowest = sorted([*slowest, (rep["cpu_seconds"], index, rep["kind"])])[-5:]
            if rep["rss_kb"] > args.rss_gib * (1 << 20):
                counts["over_rss"] += 1
                examples.append(f"case {index}: peak RSS {rep['rss_kb'] >> 10} MiB")
            if rep["cpu_seconds"] > args.timeout:
                counts["hangs"] += 1
                examples.append(f"case {index}: {rep['cpu_seconds']:.1f} CPU seconds")
            found = rep["problems"]
            if any(mark in p for p in found for mark in TRACEBACK_MARKS):
                counts["tracebacks"] += 1
            elif found:
                counts["other"] += 1
            for problem in found[:1]:
                examples.append(f"case {index} ({rep['kind']}): {problem}")
                print(examples[-1], file=sys.stderr, flush=True)
            if (index + 1) % 1000 == 0:
                print(f"{index + 1} cases, {dict(counts)}", file=sys.stderr, flush=True)
    finally:
        driver.stop()
    result = {
        "cases": args.cases,
        "first_case": args.start,
        "seed": args.seed,
        **counts,
        "hang_limit_cpu_s": args.timeout,
        "rss_limit_gib": args.rss_gib,
        "exit_statuses": dict(sorted(statuses_seen.items())),
        "kinds": dict(sorted(kinds.items())),
        "max_rss_mib": max_rss_kb >> 10,
        "max_wall_s": round(max_wall, 2),
        "slowest_cases": [
            {"cpu_s": round(s, 2), "case": i, "kind": k} for s, i, k in reversed(slowest)
        ],
        "cli_sampled": sampled,
        "cli_problems": cli_problems,
        "examples": examples[:50],
        "total_s": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"{args.cases} cases: {counts['tracebacks']} tracebacks, {counts['hangs']} hangs over "
        f"{args.timeout:g} CPU s, {counts['over_rss']} runs over {args.rss_gib:g} GiB RSS, "
        f"{counts['other']} other problems; {len(cli_problems)} problems in {sampled} fresh "
        f"CLI runs. Peak RSS {result['max_rss_mib']} MiB, slowest case "
        f"{slowest[-1][0] if slowest else 0:.2f} CPU s, {result['total_s']} s in all."
    )
    for line in examples[:20] + cli_problems[:10]:
        print("  " + line)
