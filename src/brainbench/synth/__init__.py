"""Synthetic brain cohorts with known ground truth, for the demo, tests and calibration studies.

``generate_cohort(out, SynthConfig.preset("tiny"))`` writes a BIDS folder of T1-weighted images
derived from the MNI152 2009 templates shipped with nilearn: per-subject anatomy, ageing and sex
effects, an Alzheimer-like medial-temporal and a Parkinson-like basal-ganglia grey-matter loss
that grow across sessions, and scanner effects that can be confounded with the label on purpose.
The ground truth lies in ``derivatives/brainbench-truth/`` (``truth.json``, ``truth.tsv``); the
same configuration and seed give the same bytes.

``SynthConfig.preset("tiny", segmentation=LesionConfig())`` writes a segmentation cohort instead:
T1w and FLAIR images with white-matter-hyperintensity lesions and reference masks in
``derivatives/reference/`` (:mod:`brainbench.synth._segmentation`).
"""

from brainbench.synth._config import DISEASES, GENERATOR_VERSION, LesionConfig, SynthConfig
from brainbench.synth._generate import TRUTH_DIR, SynthResult, generate_cohort, load_truth
from brainbench.synth._render import AD_REGIONS, PD_REGIONS, Region
from brainbench.synth._segmentation import LABELS, REFERENCE_DIR

__all__ = [
    "AD_REGIONS",
    "DISEASES",
    "GENERATOR_VERSION",
    "LABELS",
    "PD_REGIONS",
    "REFERENCE_DIR",
    "TRUTH_DIR",
    "LesionConfig",
    "Region",
    "SynthConfig",
    "SynthResult",
    "generate_cohort",
    "load_truth",
]
