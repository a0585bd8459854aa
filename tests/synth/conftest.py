from pathlib import Path

import pytest

from brainbench.synth import LesionConfig, SynthConfig, SynthResult, generate_cohort


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """The tiny preset, generated once for the whole test session (do not modify it)."""
    out: Path = tmp_path_factory.mktemp("synth") / "tiny"
    return generate_cohort(out, SynthConfig.preset("tiny"))


@pytest.fixture(scope="session")
def tiny_seg(tmp_path_factory: pytest.TempPathFactory) -> SynthResult:
    """The tiny preset as a segmentation cohort, generated once (do not modify it)."""
    out: Path = tmp_path_factory.mktemp("synth") / "tiny-seg"
    return generate_cohort(out, SynthConfig.preset("tiny", segmentation=LesionConfig()))
