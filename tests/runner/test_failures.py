"""Failing units: broken images and faulty models fail their unit, with a log; others go on."""

from __future__ import annotations

import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from brainbench.runner import ImageError, ImageLoader, run_benchmark
from brainbench.runner._execute import run_units
from brainbench.runner._finalize import finalize_run
from brainbench.runner._prepare import RunOptions, prepare_run

from .conftest import TINY_SPEC
from .registry.faulty import HANG_SECONDS


def _images(root: Path) -> list[Path]:
    return sorted(root.glob("dev/sub-*/ses-*/anat/*_T1w.nii.gz"))


def _break(path: Path, how: str) -> None:
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "not-gzip":
        path.write_bytes(b"this is not a NIfTI file")
    elif how in ("nan", "shape"):
        img = nib.load(str(path))
        arr = np.asarray(img.dataobj, dtype=np.float32)
        if how == "nan":
            arr[2, 3, 4] = np.nan
        else:
            arr = arr[:-2]
        nib.save(nib.Nifti1Image(arr, img.affine), str(path))
    elif how == "missing":
        path.unlink()


@pytest.fixture
def broken_cohorts(cohorts, tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cohorts"
    shutil.copytree(cohorts, root)
    monkeypatch.setenv("BRAINBENCH_DEMO_DATA", str(root))
    return root


@pytest.mark.parametrize(
    ("how", "problem"),
    [
        ("truncated", "cannot be decoded"),
        ("not-gzip", "is named .gz but is not gzip-compressed"),
        ("nan", "NaN or infinite"),
        ("shape", "has shape (1, 48, 59, 48)"),
        ("missing", "file not found"),
    ],
)
def test_loader_names_the_file_and_the_problem(cohorts, tmp_path, how, problem):
    src = _images(cohorts)[0]
    path = tmp_path / src.name
    shutil.copy(src, path)
    shape = (1, *nib.load(str(src)).shape)
    assert ImageLoader(shape).load(path).shape == shape
    _break(path, how)
    with pytest.raises(ImageError) as info:
        ImageLoader(shape).load(path)
    assert str(path) in str(info.value)
    assert problem in str(info.value)


def test_broken_images_fail_their_units_only(broken_cohorts, registry, tmp_path):
    images = _images(broken_cohorts)
    out, _, _ = prepare_run(
        TINY_SPEC,
        tmp_path / "run",
        RunOptions(
            models=["faulty-images", "demographics-logreg"],
            seeds=1,
            device="cpu",
            registry_root=str(registry),
        ),
    )
    broken = {"truncated": images[0], "nan": images[3], "shape": images[5], "missing": images[7]}
    for how, path in broken.items():
        _break(path, how)
    records = {r["id"]: r for r in run_units(out)}
    prov = finalize_run(out)
    status = {u["model"]: u["status"] for u in prov["units"]}
    assert status == {"faulty-images": "failed", "demographics-logreg": "ok"}
    failed = records["faulty-images__r0-f0-s0"]
    assert failed["error_kind"] == "image"
    assert any(str(p) in failed["error"] for p in broken.values()), failed["error"]
    log = (out / failed["log"]).read_text()
    named = [how for how, p in broken.items() if str(p) in log]
    assert len(named) >= 2, log  # every broken image the model asked for is named
    df = pd.read_parquet(out / "predictions.parquet")
    assert set(df["model"]) == {"demographics-logreg"}


def test_faulty_models_fail_with_logs_and_the_run_goes_on(cohorts, registry, tmp_path):
    models = [
        "faulty-fit-error",
        "faulty-crash",
        "faulty-oom",
        "faulty-bad-output",
        "demographics-logreg",
    ]
    result = run_benchmark(
        TINY_SPEC, models, out=tmp_path / "run", seeds=1, device="cpu", registry_root=registry
    )
    assert not result.ok
    units = {u["model"]: u for u in result.units}
    assert units["demographics-logreg"]["status"] == "ok"  # after a crash, a fresh host
    expected = {
        "faulty-fit-error": ("model", "failed on purpose"),
        "faulty-crash": ("crash", "died (signal 9)"),
        "faulty-oom": ("cuda-oom", "out of memory"),
        "faulty-bad-output": ("bad-output", "do not sum to 1"),
    }
    for model, (kind, text) in expected.items():
        u = units[model]
        assert u["status"] == "failed"
        assert u["error_kind"] == kind, u
        assert text in u["error"], u["error"]
        log = (result.run_dir / u["log"]).read_text()
        assert "status: failed" in log
        assert "fit faulty" in log  # the model's own output, kept even when its process died
    fit_log = (result.run_dir / units["faulty-fit-error"]["log"]).read_text()
    assert "Traceback" in fit_log and "faulty" in fit_log
    assert "failed" in result.summary()


def test_cli_exit_status_when_a_unit_fails(cohorts, registry, tmp_path, capsys):
    from brainbench.cli import main

    argv = [
        "run",
        str(TINY_SPEC),
        "-m",
        "faulty-fit-error",
        "-m",
        "demographics-logreg",
        "--seeds",
        "1",
        "--out",
        str(tmp_path / "run"),
        "--registry",
        str(registry),
        "-q",
    ]
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 3
    err = capsys.readouterr().err
    assert "1/2 unit(s) ok" in err and "failed faulty-fit-error__r0-f0-s0" in err


def _then_quick(faulty: str, registry: Path, out: Path, **options) -> dict[str, dict]:
    """Run ``faulty`` then faulty-quick (a unit of milliseconds: no machine load makes it
    overrun a limit) on the tiny spec; their unit records by model."""
    result = run_benchmark(
        TINY_SPEC,
        [faulty, "faulty-quick"],
        out=out,
        seeds=1,
        device="cpu",
        registry_root=registry,
        **options,
    )
    units = {u["model"]: u for u in result.units}
    assert units["faulty-quick"]["status"] == "ok"
    return units


def test_a_hanging_unit_is_stopped_by_the_timeout(cohorts, registry, tmp_path):
    """The hanging unit is stopped by the timeout (its error says so, and it ended before the
    entry's own sleep would have), and the next unit runs. That unit is faulty-quick:
    demographics-logreg, importing scikit-learn under a load of 13, once overran the same 6 s
    itself."""
    timeout_min = 0.1
    units = _then_quick("faulty-hang", registry, tmp_path / "run", unit_timeout_min=timeout_min)
    hang = units["faulty-hang"]
    assert (hang["status"], hang["error_kind"]) == ("failed", "timeout")
    assert 60 * timeout_min <= hang["seconds"] < HANG_SECONDS


def test_a_memory_hog_fails_its_unit_at_the_memory_limit(cohorts, registry, tmp_path):
    """`--model-memory-gb 0.5`: the entry that allocates 1 GiB fails (error kind memory) and
    the sandbox says it held the limit; the next unit runs."""
    units = _then_quick("faulty-memory", registry, tmp_path / "run", model_memory_gb=0.5)
    hog = units["faulty-memory"]
    assert (hog["status"], hog["error_kind"]) == ("failed", "memory")
    assert "MemoryError" in hog["error"] and "memory-limit" in hog["seal_layers"]


def test_the_default_memory_limit_is_for_cpu_runs_only() -> None:
    """CPU runs get three quarters of the memory shared by the workers; CUDA runs get no default
    limit until one is checked on a GPU; an explicit limit holds on both, 0 turns it off."""
    from brainbench import sandbox
    from brainbench.runner._execute import model_memory_limit

    assert model_memory_limit(None, "cpu", 2) == sandbox.default_memory_limit(2) > 0
    assert model_memory_limit(None, "cuda", 2) is None
    assert (
        model_memory_limit(1 << 30, "cuda", 2) == model_memory_limit(1 << 30, "cpu", 1) == 1 << 30
    )
    assert model_memory_limit(0, "cpu", 2) is None
