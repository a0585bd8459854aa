"""Fixtures of the runner's tests: tiny synthetic cohorts, a test registry, one baseline run."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
TINY_SPEC = HERE / "data" / "tiny.yaml"
FAST_MODELS = ["demographics-logreg", "voxel-linear"]
FAULTY_MODES = ("fit-error", "oom", "crash", "bad-output", "images", "hang", "quick", "memory")


def run_cli(
    out: Path, registry: Path, *extra: str, models: tuple[str, ...] | list[str] = FAST_MODELS
) -> list[str]:
    """``brainbench run`` on the tiny spec as a subprocess command: ``models`` x 2 seeds, 1 epoch,
    on CPU, into ``out``; ``extra`` options appended."""
    import sys

    chosen = [arg for m in models for arg in ("--model", m)]
    return [
        *(sys.executable, "-m", "brainbench", "run", str(TINY_SPEC), *chosen),
        *("--seeds", "2", "--max-epochs", "1", "--device", "cpu"),
        *("--out", str(out), "--registry", str(registry), *extra),
    ]


def make_cohorts(root: Path) -> Path:
    """The demo's two cohorts at the tiny size (about 10 s)."""
    from brainbench.runner._demo import cohort_configs, relabel_subjects
    from brainbench.synth import generate_cohort

    for name, cfg in cohort_configs("tiny", 1).items():
        res = generate_cohort(root / name, cfg)
        if name == "ext":
            relabel_subjects(res.path, "X")
    return root


@pytest.fixture(scope="session")
def cohorts(tmp_path_factory) -> Path:
    """Folder holding ``dev/`` and ``ext/``; BRAINBENCH_DEMO_DATA points to it."""
    root = make_cohorts(tmp_path_factory.mktemp("cohorts"))
    old = os.environ.get("BRAINBENCH_DEMO_DATA")
    os.environ["BRAINBENCH_DEMO_DATA"] = str(root)
    yield root
    if old is None:
        os.environ.pop("BRAINBENCH_DEMO_DATA", None)
    else:
        os.environ["BRAINBENCH_DEMO_DATA"] = old


@pytest.fixture(scope="session")
def registry(tmp_path_factory) -> Path:
    """A registry with the real entries and the test entries (sneaky, faulty-<mode>)."""
    root = tmp_path_factory.mktemp("registry")
    models = root / "models"
    models.mkdir()
    for entry in (REPO / "registry" / "models").iterdir():
        if (entry / "model.yaml").is_file():
            (models / entry.name).symlink_to(entry)
    template = (HERE / "registry" / "entry.yaml.in").read_text()
    entries = {"sneaky": ("sneaky.py", "A malicious entry that looks for the test labels.")}
    for mode in FAULTY_MODES:
        entries[f"faulty-{mode}"] = ("faulty.py", f"An entry that fails on purpose ({mode}).")
    for entry_id, (code, description) in entries.items():
        folder = models / entry_id
        folder.mkdir()
        (folder / "model.yaml").write_text(
            template.replace("{id}", entry_id).replace("{description}", description)
        )
        shutil.copy(HERE / "registry" / code, folder / "model.py")
    return root


@pytest.fixture(scope="session")
def baseline_run(cohorts, registry, tmp_path_factory):
    """One uninterrupted run of the fast models with 2 seeds (shared by several tests)."""
    from brainbench.runner import run_benchmark

    out = tmp_path_factory.mktemp("baseline") / "run"
    result = run_benchmark(
        TINY_SPEC,
        FAST_MODELS,
        out=out,
        seeds=2,
        device="cpu",
        max_epochs=1,
        registry_root=registry,
    )
    assert result.ok, result.failed
    return result


@pytest.fixture(scope="session")
def unit_registry(tmp_path_factory) -> Path:
    """A registry with voxel-linear (whole images) and two scikit-learn test entries
    (registry/unit_logreg.py): unit-logreg for slices (one channel), unit-logreg-roi for
    regions."""
    root = tmp_path_factory.mktemp("unit-registry")
    models = root / "models"
    models.mkdir()
    voxel = REPO / "registry" / "models" / "voxel-linear"
    (models / "voxel-linear").symlink_to(voxel)
    template = (HERE / "registry" / "entry.yaml.in").read_text()
    for entry_id, unit in (("unit-logreg", "slice"), ("unit-logreg-roi", "roi")):
        folder = models / entry_id
        folder.mkdir()
        text = template.replace("{id}", entry_id).replace("unit: image", f"unit: {unit}")
        text = text.replace("{description}", f"Logistic regression on {unit} features.")
        (folder / "model.yaml").write_text(text)
        shutil.copy(HERE / "registry" / "unit_logreg.py", folder / "model.py")
    return root
