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


#: Enough resamples for Holm over the 8 rows of the segmentation sheet's comparisons to reach
#: alpha 0.05 (the smallest bootstrap p-value is 2 / (B + 1)).
SEG_RESAMPLES = 400


@pytest.fixture(scope="session")
def seg_report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The segmentation sheet of tests/report/seg_fixture.py, written once per session
    through the CLI (`brainbench report RUN -o OUT`)."""
    from brainbench.cli import main
    from tests.report.seg_fixture import make_seg_run_dir

    base = tmp_path_factory.mktemp("seg")
    run = make_seg_run_dir(base / "run")
    out = base / "evidence"
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run), "-o", str(out), "--resamples", str(SEG_RESAMPLES)])
    assert exc.value.code == 0
    return out
