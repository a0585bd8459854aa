from __future__ import annotations

from pathlib import Path

import pytest

from tests.report.fixture import make_run_dir

#: Small bootstraps keep the suite fast; the golden files are made with these settings.
RESAMPLES = 200
SEED = 0


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run_dir(tmp_path_factory.mktemp("fixture") / "run")


@pytest.fixture(scope="session")
def report_dir(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fixture's evidence sheet, written once per session."""
    from brainbench.report import write_report

    out = tmp_path_factory.mktemp("report") / "evidence"
    write_report([run_dir], out, resamples=RESAMPLES, seed=SEED)
    return out
