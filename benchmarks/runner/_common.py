"""Shared helpers of the runner benchmarks: a synthetic cohort to time against."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "spec" / "demo" / "ad-vs-cn-synthetic.yaml"


def cohort(root: Path, subjects: int, sessions: int = 2) -> Path:
    """The demo's two cohorts (development of ``subjects``, external of a third) under root."""
    from brainbench.runner._demo import relabel_subjects
    from brainbench.synth import SynthConfig, generate_cohort

    root.mkdir(parents=True, exist_ok=True)
    dev = SynthConfig.preset("demo", subjects=subjects, sessions=sessions, seed=0)
    ext = SynthConfig.preset("demo", subjects=max(8, subjects // 3), sites=2, sessions=1, seed=1)
    for name, cfg in (("dev", dev), ("ext", ext)):
        if not (root / name / "participants.tsv").is_file():
            res = generate_cohort(root / name, cfg)
            if name == "ext":
                relabel_subjects(res.path, "X")
    os.environ["BRAINBENCH_DEMO_DATA"] = str(root)
    return root


def image_paths(root: Path) -> list[str]:
    return sorted(str(p) for p in root.glob("*/sub-*/ses-*/anat/*_T1w.nii.gz"))
