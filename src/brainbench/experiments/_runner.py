"""Running experiments by number and preset, and writing their evidence."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

from brainbench.errors import EXIT_UNITS_FAILED, UserError
from brainbench.experiments._common import (
    DEFAULT_SEED,
    PRESET_NAMES,
    ExperimentResult,
    Timer,
    provenance,
    write_result,
    write_summary,
)

#: number -> module (imported on first use: the benchmark experiments need torch and nibabel).
EXPERIMENTS: dict[int, str] = {
    1: "brainbench.experiments.wrong_split",
    2: "brainbench.experiments.late_split",
    3: "brainbench.experiments.site_confound",
    4: "brainbench.experiments.coverage",
    5: "brainbench.experiments.comparison",
    6: "brainbench.experiments.study_design",
}


def _module(number: int) -> ModuleType:
    if number not in EXPERIMENTS:
        raise UserError(
            f"There is no experiment {number}: choose among {', '.join(map(str, EXPERIMENTS))}."
        )
    return importlib.import_module(EXPERIMENTS[number])


def run_experiment(
    number: int,
    preset: str = "quick",
    out_dir: str | Path = "reports/experiments",
    seed: int = DEFAULT_SEED,
) -> ExperimentResult:
    """Run experiment ``number`` with ``preset`` and write its folder under ``out_dir``."""
    if preset not in PRESET_NAMES:
        raise UserError(f"Unknown preset '{preset}': choose one of {', '.join(PRESET_NAMES)}.")
    module = _module(number)
    folder = Path(out_dir) / f"{module.NUMBER:02d}-{module.SLUG}"
    with Timer() as timer:
        result = module.run(dict(module.PRESETS[preset]), folder, seed)
    result.preset = preset
    result.elapsed_s = timer.elapsed
    result.provenance = provenance()
    write_result(result, Path(out_dir))
    return result


def run_experiments(
    numbers: Iterable[int] | None = None,
    preset: str = "quick",
    out_dir: str | Path = "reports/experiments",
    seed: int = DEFAULT_SEED,
    progress: Callable[[str], None] | None = None,
) -> list[ExperimentResult]:
    """Run several experiments (default: all six), then rewrite the summary README."""
    numbers = sorted(numbers or EXPERIMENTS)
    for n in numbers:
        _module(n)  # fail before any work on an unknown number
    results = []
    failed: list[tuple[int, BaseException]] = []
    for n in numbers:
        if progress:
            progress(f"experiment {n} ({preset})...")
        try:
            result = run_experiment(n, preset, out_dir, seed)
        except (UserError, RuntimeError, OSError, ValueError) as exc:
            # One experiment failing (a runner unit, a missing stage) must not lose the others.
            failed.append((n, exc))
            if progress:
                progress(f"experiment {n}: FAILED ({type(exc).__name__}: {exc})")
            continue
        if progress:
            verdict = {True: "as expected", False: "NOT as expected", None: ""}[result.expected]
            progress(f"experiment {n}: {result.elapsed_s:.0f} s, {verdict}")
        results.append(result)
    write_summary(Path(out_dir))
    if failed:
        names = ", ".join(f"{n} ({type(e).__name__}: {e})" for n, e in failed)
        raise ExperimentsFailed(f"Experiment(s) failed: {names}.", results)
    return results


class ExperimentsFailed(UserError):
    """Some experiments failed; ``results`` holds those that completed."""

    def __init__(self, message: str, results: list[ExperimentResult]) -> None:
        super().__init__(message, exit_code=EXIT_UNITS_FAILED)
        self.results = results
