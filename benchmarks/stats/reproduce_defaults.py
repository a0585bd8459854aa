"""Reproduce the calibrated-interval defaults table (issue 15) by one command, with its seeds.

Usage::

    python benchmarks/stats/reproduce_defaults.py --dry-run      # stages, commands, time
    python benchmarks/stats/reproduce_defaults.py --jobs 2       # into benchmarks/stats/replay/TIME
    python benchmarks/stats/reproduce_defaults.py --quick --out DIR   # the whole pipeline, seconds
    python benchmarks/stats/reproduce_defaults.py --from-results benchmarks/stats/results --out DIR
    python benchmarks/stats/reproduce_defaults.py --in-place --jobs 2 # over the committed results

Why stages: ``src/brainbench/stats/interval-defaults.json`` is written by ``brainbench calibrate
--from-json ... --write-defaults`` from the committed runs (its ``generated_by``), but a
confirmation run (``--grid confirm``, ``confirm-fresh``) evaluates the method that the table *on
disk when it runs* chooses, so the runs have an order. The choices depend only on the
selection runs (a confirmation judges a choice, never makes one; runs with >= 2,000 data sets
per design supersede the coarse ones in the regimes they cover), so the history replays as:

1. the selection runs (seed 2024) and the first paired run, which table 1 was written from;
2. ``--grid confirm --seed 2025``, one run per metric, confirming table 1's choices;
3. ``--grid reselect --seed 2026`` (the regimes that confirmation flagged, 2,000 data sets per
   design) and the paired runs with 2,000 data sets per design (seed 2026): table 2;
4. ``--grid confirm-fresh --seed 2027``, confirming table 2's choices;
5. ``--paired-grid edge --seed 2026`` (made after the fresh confirmation); then the final
   table and its Markdown (``interval-defaults.json``, ``interval-defaults.md``).

The paired runs do not change an interval choice; the first ones are in stage 3 because the
committed fresh confirmation ran after them (its ``confirms`` lists them), the edge run in
stage 5 because it ran after (the fresh confirmation's ``confirms`` does not list it). A
confirmation stage is pointed at its table by ``$BRAINBENCH_CONFIRM_TABLE`` (the committed
table is never touched unless ``--in-place``). Each run writes its JSON and the Markdown
table committed beside it (``render_grid_markdown`` / ``render_paired_markdown``, as
``interval_grid.py`` and ``paired_grid.py`` do), under the committed file names.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from brainbench.stats._calibrate_grid import (
    CONFIRM_TABLE_ENV,
    render_grid_markdown,
    run_interval_grid,
)
from brainbench.stats._calibrate_paired import render_paired_markdown, run_paired_grid
from brainbench.stats._interval_defaults import (
    TABLE,
    calibrated_choice,
    choose_defaults,
    render_defaults_markdown,
)

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "benchmarks" / "stats" / "results"
#: ``--quick``: data sets per design and bootstrap resamples per interval (every design runs).
QUICK = {"replicates": 2, "resamples": 19}
CLASSIFICATION = ("auroc", "balanced_accuracy", "sensitivity", "specificity")
METRICS = ("auroc", "balanced_accuracy", "mae", "sensitivity", "specificity")


@dataclass(frozen=True)
class Run:
    """One ``brainbench calibrate`` run; ``name`` is its committed file stem."""

    name: str
    preset: str
    seed: int
    metrics: tuple[str, ...] = ()
    paired: bool = False
    #: The committed command's ``--replicates`` (None: the preset's own).
    replicates: int | None = None

    def command(self, replicates: int | None = None, resamples: int | None = None) -> str:
        """The command as the run records it (``command`` of its JSON); ``replicates`` and
        ``resamples`` shrink it (``--quick``; the paired grid keeps its resamples)."""
        reps = replicates or self.replicates
        if self.paired:
            cmd = f"brainbench calibrate --paired-grid {self.preset} --seed {self.seed}"
            return cmd + (f" --replicates {reps}" if reps else "")
        cmd = f"brainbench calibrate --grid {self.preset} --seed {self.seed}"
        cmd += f" --replicates {reps}" if reps else ""
        cmd += f" --resamples {resamples}" if resamples else ""
        return cmd + "".join(f" --metric {m}" for m in self.metrics)


@dataclass(frozen=True)
class Stage:
    title: str
    runs: tuple[Run, ...]
    #: The table whose choices this stage's runs evaluate (confirmation runs).
    confirms: str | None = None
    #: The table written once this stage's runs are done.
    writes: str | None = None


SELECTION = (
    Run("interval-grid-partial", "partial", 2024),
    Run("interval-grid-extended", "extended", 2024),
    Run("interval-grid-extended-specificity", "extended", 2024, ("specificity",)),
    Run("interval-grid-large-sites", "large-sites", 2024),
)
#: The paired run table 1 had (200 data sets per design; superseded by the seed-2026 runs).
FIRST_PAIRED = Run("paired-grid-partial", "partial", 2024, paired=True)
CONFIRM = tuple(Run(f"interval-confirm-{m}", "confirm", 2025, (m,)) for m in METRICS)
RESELECT = (
    Run("interval-reselect-classification", "reselect", 2026, CLASSIFICATION),
    Run("interval-reselect-mae", "reselect", 2026, ("mae",)),
)
PAIRED = tuple(
    Run(f"paired-grid-{p}-seed2026", p, 2026, paired=True, replicates=2000)
    for p in ("partial", "unbalanced", "unbalanced-small")
)
FRESH = (
    Run("interval-confirm-fresh-classification", "confirm-fresh", 2027, CLASSIFICATION),
    Run("interval-confirm-fresh-mae", "confirm-fresh", 2027, ("mae",)),
)
#: The paired run at the top of the 1-9 subjects regime, made after the fresh confirmation.
EDGE = Run("paired-grid-edge-seed2026", "edge", 2026, paired=True)
STAGES = (
    Stage("1. selection runs (seed 2024); table 1", (*SELECTION, FIRST_PAIRED), writes="table-1"),
    Stage("2. confirmation of table 1's choices (seed 2025)", CONFIRM, confirms="table-1"),
    Stage(
        "3. re-selection of the flagged regimes, paired comparisons (seed 2026); table 2",
        (*RESELECT, *PAIRED),
        writes="table-2",
    ),
    Stage("4. fresh confirmation of table 2's choices (seed 2027)", FRESH, confirms="table-2"),
    Stage(
        "5. paired comparisons at 9 subjects per site (seed 2026); the final table",
        (EDGE,),
        writes="final",
    ),
)
#: The runs each table is written from, in the order `--from-json` gives them.
TABLE_INPUTS: dict[str, tuple[Run, ...]] = {
    "table-1": (*SELECTION, FIRST_PAIRED),
    "table-2": (*SELECTION, *RESELECT, *PAIRED, *CONFIRM),
    "final": (*SELECTION, *RESELECT, *PAIRED, EDGE, *CONFIRM, *FRESH),
}


@dataclass(frozen=True)
class Layout:
    """Where a replay writes: runs in ``out``, tables 1 and 2 in ``scratch``, the final table
    at ``table`` (its Markdown at ``table_md``)."""

    out: Path
    scratch: Path
    table: Path
    table_md: Path

    def table_path(self, name: str) -> Path:
        return self.table if name == "final" else self.scratch / f"{name}.json"

    def markdown_path(self, name: str) -> Path:
        return self.table_md if name == "final" else self.scratch / f"{name}.md"


def committed_seconds(run: Run, results: Path = RESULTS) -> float | None:
    """The wall time of the committed run (its JSON's ``seconds``), None if not committed."""
    path = results / f"{run.name}.json"
    return json.loads(path.read_text())["seconds"] if path.is_file() else None


@contextmanager
def _confirm_table(path: Path | None) -> Iterator[None]:
    before = os.environ.get(CONFIRM_TABLE_ENV)
    if path is None:
        os.environ.pop(CONFIRM_TABLE_ENV, None)
    else:
        os.environ[CONFIRM_TABLE_ENV] = str(path)
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(CONFIRM_TABLE_ENV, None)
        else:
            os.environ[CONFIRM_TABLE_ENV] = before


def execute(
    run: Run, out: Path, replicates: int | None, resamples: int | None, table: Path | None
) -> dict[str, Any]:
    """Run one calibration (with ``table`` as the confirmed table) and write its JSON and
    Markdown table to ``out``; returns the run's JSON."""
    with _confirm_table(table):
        if run.paired:
            res = run_paired_grid(
                run.preset, replicates=replicates or run.replicates, seed=run.seed
            )
            markdown = render_paired_markdown(res)
        else:
            res = run_interval_grid(
                run.preset,
                replicates=replicates,
                resamples=resamples,
                seed=run.seed,
                metrics=list(run.metrics) or None,
            )
            markdown = render_grid_markdown(res)
    if res["command"] != run.command(replicates, resamples):
        raise RuntimeError(
            f"{run.name}: ran `{res['command']}`, expected `{run.command(replicates, resamples)}`"
        )
    (out / f"{run.name}.json").write_text(json.dumps(res, indent=2) + "\n")
    (out / f"{run.name}.md").write_text(markdown + "\n")
    return res


def confirmation_problems(res: dict[str, Any], table: dict[str, Any]) -> list[str]:
    """How a confirmation run departs from ``table``: it confirms another table, or evaluated
    a method other than the one ``table`` chooses for a design's metric and regime."""
    problems = []
    if res.get("confirms") != table["generated_by"]:
        problems.append(f"`{res['command']}` confirms a table generated by {res.get('confirms')}")
    for r in res["coverage"]:
        if not r.get("chosen"):
            continue
        want = calibrated_choice(r["metric"], r["sites"], r["subjects_per_site"], "site", table)
        if r["method"] != want.method:
            problems.append(
                f"`{res['command']}`, {r['metric']} at {r['sites']} sites x "
                f"{r['subjects_per_site']} subjects: evaluated {r['method']}, the table chooses "
                f"{want.method}"
            )
    return problems


def write_table(runs: list[dict[str, Any]], path: Path, markdown: Path) -> dict[str, Any]:
    """``brainbench calibrate --from-json RUN ... --write-defaults PATH -o MARKDOWN``."""
    table = choose_defaults(runs)
    path.write_text(json.dumps(table, indent=2) + "\n")
    markdown.write_text(render_defaults_markdown(table) + "\n")
    return table


def _makespan(seconds: list[float], jobs: int) -> float:
    """Longest-processing-time-first schedule of ``seconds`` on ``jobs`` workers."""
    load = [0.0] * max(1, jobs)
    for s in sorted(seconds, reverse=True):
        load[load.index(min(load))] += s
    return max(load)


def plan(
    layout: Layout, replicates: int | None, resamples: int | None, jobs: int, results: Path
) -> str:
    """``--dry-run``: every stage's commands with the committed runs' wall times."""
    lines = []
    total = 0.0
    span = 0.0
    for stage in STAGES:
        lines.append(f"# {stage.title}")
        env = ""
        if stage.confirms:
            env = f"{CONFIRM_TABLE_ENV}={layout.table_path(stage.confirms)} "
        seconds = []
        for run in stage.runs:
            s = committed_seconds(run, results)
            seconds.append(s or 0.0)
            when = f"{s:6.0f} s" if s is not None else "     ? s"
            lines.append(
                f"[{when}] {env}{run.command(replicates, resamples)} --format json "
                f"-o {layout.out / run.name}.json"
            )
        if stage.writes:
            inputs = " ".join(
                f"--from-json {layout.out / r.name}.json" for r in TABLE_INPUTS[stage.writes]
            )
            lines.append(
                f"[     0 s] brainbench calibrate {inputs} --write-defaults "
                f"{layout.table_path(stage.writes)} -o {layout.markdown_path(stage.writes)}"
            )
        total += sum(seconds)
        span += _makespan(seconds, jobs)
        lines.append(
            f"  stage: {sum(seconds):.0f} s one after another, "
            f"~{_makespan(seconds, jobs):.0f} s with --jobs {jobs}"
        )
        lines.append("")
    lines.append(
        f"total: {total:.0f} s ({total / 3600:.1f} h) as the committed runs took (wall time, "
        f"on 2 shared cores); ~{span:.0f} s with --jobs {jobs}. Each run also writes "
        f"NAME.md (its Markdown table) beside NAME.json."
    )
    return "\n".join(lines)


def replay(
    layout: Layout,
    *,
    replicates: int | None = None,
    resamples: int | None = None,
    jobs: int = 1,
    from_results: Path | None = None,
    log=print,
) -> dict[str, Any]:
    """Run (or, with ``from_results``, read) every stage's runs and write the tables; returns
    the final table. A confirmation run that evaluated other choices than its table's
    raises (when replayed) or is reported (when read from ``from_results``)."""
    layout.out.mkdir(parents=True, exist_ok=True)
    layout.scratch.mkdir(parents=True, exist_ok=True)
    done: dict[str, dict[str, Any]] = {}
    tables: dict[str, dict[str, Any]] = {}
    for stage in STAGES:
        log(f"# {stage.title}")
        confirmed = layout.table_path(stage.confirms) if stage.confirms else None
        tic = time.perf_counter()
        if from_results is not None:
            got = {
                r.name: json.loads((from_results / f"{r.name}.json").read_text())
                for r in stage.runs
            }
        elif jobs > 1:
            with ProcessPoolExecutor(max_workers=min(jobs, len(stage.runs))) as pool:
                futures = {
                    r.name: pool.submit(execute, r, layout.out, replicates, resamples, confirmed)
                    for r in stage.runs
                }
                got = {name: f.result() for name, f in futures.items()}
        else:
            got = {
                r.name: execute(r, layout.out, replicates, resamples, confirmed) for r in stage.runs
            }
        done |= got
        for run in stage.runs:
            log(f"  {run.name}: {got[run.name]['seconds']:.0f} s  `{got[run.name]['command']}`")
        if stage.confirms:
            problems = [
                p
                for r in stage.runs
                for p in confirmation_problems(got[r.name], tables[stage.confirms])
            ]
            if problems and from_results is None:
                raise RuntimeError("; ".join(problems))
            for p in problems:
                log(f"  not a confirmation of {stage.confirms}: {p}")
        if stage.writes:
            runs = [done[r.name] for r in TABLE_INPUTS[stage.writes]]
            tables[stage.writes] = write_table(
                runs, layout.table_path(stage.writes), layout.markdown_path(stage.writes)
            )
            log(f"  wrote {layout.table_path(stage.writes)}")
        log(f"  stage: {time.perf_counter() - tic:.0f} s")
    return tables["final"]


def _layout(args: argparse.Namespace) -> tuple[Layout, tempfile.TemporaryDirectory | None]:
    if args.in_place:
        if args.out is not None:
            raise SystemExit("--in-place writes to benchmarks/stats/results: drop --out.")
        tmp = tempfile.TemporaryDirectory(prefix="brainbench-tables-")
        return Layout(RESULTS, Path(tmp.name), TABLE, RESULTS / "interval-defaults.md"), tmp
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = (args.out or ROOT / "benchmarks" / "stats" / "replay" / stamp).resolve()
    if out == RESULTS.resolve():
        raise SystemExit(
            f"{out} holds the committed results: pass --in-place to overwrite them, or another "
            "--out."
        )
    if not args.dry_run and out.exists() and any(out.iterdir()):
        raise SystemExit(
            f"{out} is not empty: give a new folder (--out) so nothing is overwritten."
        )
    scratch = out / "intermediate"
    return Layout(out, scratch, out / "interval-defaults.json", out / "interval-defaults.md"), None


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="New folder for the runs and tables.")
    ap.add_argument(
        "--in-place",
        action="store_true",
        help="Overwrite benchmarks/stats/results and src/brainbench/stats/interval-defaults.json.",
    )
    ap.add_argument("--dry-run", action="store_true", help="Print the stages' commands and times.")
    ap.add_argument("--jobs", type=int, default=1, help="Runs of a stage in parallel processes.")
    ap.add_argument("--replicates", type=int, help="Data sets per design in every run.")
    ap.add_argument("--resamples", type=int, help="Resamples per interval (interval grids).")
    ap.add_argument(
        "--quick",
        action="store_true",
        help=f"Every run shrunk to {QUICK['replicates']} data sets per design and "
        f"{QUICK['resamples']} resamples: the pipeline in seconds, not the table's figures.",
    )
    ap.add_argument(
        "--from-results",
        type=Path,
        help="Do not run: read the runs' JSON from this folder and write the tables only.",
    )
    args = ap.parse_args(argv)
    replicates, resamples = args.replicates, args.resamples
    if args.quick:
        replicates = replicates or QUICK["replicates"]
        resamples = resamples or QUICK["resamples"]
    layout, tmp = _layout(args)
    if args.dry_run:
        print(plan(layout, replicates, resamples, args.jobs, RESULTS))
        return
    try:
        replay(
            layout,
            replicates=replicates,
            resamples=resamples,
            jobs=args.jobs,
            from_results=args.from_results,
        )
    finally:
        if tmp is not None:
            tmp.cleanup()
    print(f"final table: {layout.table} ({layout.table_md})", file=sys.stderr)


if __name__ == "__main__":
    main()
