"""The configuration of a synthetic cohort: one frozen dataclass, its presets and its checks."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from brainbench.errors import UserError

#: Bumped whenever the same configuration would produce different bytes.
GENERATOR_VERSION = "1.0.0"

DISEASES: dict[str, tuple[str, ...]] = {
    "ad": ("CN", "AD"),
    "pd": ("CN", "PD"),
    "both": ("CN", "AD", "PD"),
    # Baseline CN, MCI and AD; an MCI participant converts to AD at a known month or not.
    "mci": ("CN", "MCI", "AD"),
}

MAX_SESSIONS = 20
MAX_SUBJECTS = 100_000
#: Most lesions one participant carries (baseline and new ones together): more would not fit
#: apart from each other in the deep white matter of the template.
MAX_LESIONS = 12
#: Coarsest voxels of a segmentation cohort (mm): a lesion is at least 1.25 voxels in radius.
MAX_SEGMENTATION_RESOLUTION = 4.0


@dataclass(frozen=True)
class LesionConfig:
    """The white-matter-hyperintensity lesions of a segmentation cohort (``task="segmentation"``).

    Lesions are ellipsoids in the deep white matter of the template, deformed with each
    participant like the rest of the anatomy; they are bright on FLAIR and darker than white
    matter on T1w (:mod:`brainbench.synth._lesions` gives the model).

    Parameters
    ----------
    lesion_load : float, default=3.0
        Mean number of lesions at baseline of a participant aged 72 (Poisson); the mean grows
        by 5 % per year of baseline age, so older participants carry more lesions. 0 gives
        no lesions at baseline.
    new_lesions_per_year : float, default=0.4
        Rate of new lesions appearing after baseline (a Poisson process over the follow-up).
    lesion_radius_mm : float, default=5.0
        Median radius of a lesion when it appears (log-normal, sd 0.25 on the log scale);
        never under 1.25 voxels (5 mm at 4 mm: half the lesions of the default then start at
        that floor), so that every lesion covers a voxel centre.
    lesion_growth_mm_per_year : float, default=0.8
        Mean growth of a lesion's radius per year (gamma, shape 4); lesions never shrink.
    lesion_contrast : float, default=0.6
        Mean FLAIR contrast of a lesion relative to normal white matter,
        ``(I_lesion - I_wm) / I_wm`` before noise (gamma, shape 10), times the scanner's
        lesion gain. On T1w the lesion is half that contrast darker than white matter (at
        most 0.8 darker).
    """

    lesion_load: float = 3.0
    new_lesions_per_year: float = 0.4
    lesion_radius_mm: float = 5.0
    lesion_growth_mm_per_year: float = 0.8
    lesion_contrast: float = 0.6

    def __post_init__(self) -> None:
        _check_numbers(
            self,
            {
                "lesion_load": (0.0, float(MAX_LESIONS)),
                "new_lesions_per_year": (0.0, 5.0),
                "lesion_radius_mm": (1.0, 8.0),
                "lesion_growth_mm_per_year": (0.0, 3.0),
                "lesion_contrast": (0.05, 3.0),
            },
        )

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SynthConfig:
    """What to generate: the design of the cohort and the strength of every effect.

    Every field has a default; :meth:`preset` starts from a named preset and
    :meth:`replace` changes fields. Invalid values raise :class:`~brainbench.errors.UserError`.

    Parameters
    ----------
    subjects : int, default=80
        Number of participants.
    sites : int, default=4
        Number of acquisition sites; every site gets at least one participant.
    sessions : int, default=3
        Planned sessions per participant (longitudinal visits, ``ses-M000``, ``ses-M012``...).
    seed : int, default=0
        Seed of every random draw: the same configuration gives the same bytes.
    resolution : float, default=4.0
        Isotropic voxel size in millimetres (1 to 8) of the images, on the MNI152 grid.
    disease : {"ad", "pd", "both"}, default="ad"
        Which disorders appear besides the ``CN`` controls: ``AD`` (medial-temporal grey-matter
        loss growing across sessions), ``PD`` (basal ganglia and substantia nigra loss) or both.
    confound : float, default=0.0
        Probability that a participant's diagnosis follows the site (each site prefers one
        class) instead of being drawn independently of it: 0 is no site-label confounding,
        1 makes the site determine the label.
    scanners_per_site : int, default=2
        Largest number of scanners at one site; the first site has that many, the others
        between one and that many. Each scanner belongs to one site.
    scanner_switch : float, default=0.1
        Probability that a follow-up session uses another scanner of the participant's site.
    dropout : float, default=0.0
        Probability, at each follow-up visit, that a participant has left the study.
    session_interval_months : int, default=12
        Nominal months between visits (session labels ``M000``, ``M012``...); actual
        intervals vary by about two weeks.
    age_mean, age_sd, age_min, age_max : float, default=72, 7, 55, 90
        Baseline age distribution (a truncated normal).
    age_gap : float, default=0.0
        Years added to the mean baseline age of patients (AD and PD): a demographic confound.
    male_fraction : float, default=0.5
        Probability that a participant is male.
    class_proportions : tuple of float or None, default=None
        Proportions of the classes (``CN`` first, then ``AD`` and/or ``PD``); None is equal.
    ad_effect : float, default=0.45
        Mean baseline fraction of grey matter lost at the centre of the medial-temporal regions
        (hippocampus, amygdala, entorhinal cortex) in AD participants; weaker in the inferior
        temporal, posterior cingulate and temporoparietal cortex, with some global grey-matter
        loss and ventricle enlargement. At the default, a logistic regression on the 4 mm
        voxels of the demo preset's baseline images reaches a cross-validated AUROC of about
        0.75 (AD vs CN, 80 participants).
    ad_progression : float, default=0.06
        Mean further fraction lost per year in AD participants.
    mci_conversion : float, default=0.5
        ``disease="mci"``: probability that an MCI participant converts to AD; the conversion
        month is uniform over the planned follow-up plus 12 months (so some convert after the
        last visit), and the session diagnosis is AD from that month on.
    pd_effect : float, default=0.45
        Mean baseline fraction of grey matter lost at the centre of the basal ganglia and
        substantia nigra regions in PD participants.
    pd_progression : float, default=0.04
        Mean further fraction lost per year in PD participants.
    age_effect : float, default=1.0
        Multiplier of the ageing effects (global grey-matter loss, ventricle enlargement).
    sex_effect : float, default=1.0
        Multiplier of the head-size difference between men and women.
    anatomy_variation : float, default=1.0
        Multiplier of the between-subject anatomy variation (smooth deformation, grey-matter
        density field).
    site_effect : float, default=1.0
        Multiplier of every scanner difference (intensity scale, bias field, contrast, noise);
        0 makes all scanners alike except for their names.
    noise : float, default=1.0
        Multiplier of the image noise level.
    name : str
        The dataset name written to ``dataset_description.json``.
    segmentation : LesionConfig or None, default=None
        None writes T1w images for classification and regression (diagnosis, age). A
        :class:`LesionConfig` writes a segmentation cohort instead: T1w and FLAIR images with
        white-matter-hyperintensity lesions, cropped to the brain, and reference masks in
        ``derivatives/reference`` (:mod:`brainbench.synth._segmentation`).
    """

    subjects: int = 80
    sites: int = 4
    sessions: int = 3
    seed: int = 0
    resolution: float = 4.0
    disease: str = "ad"
    confound: float = 0.0
    scanners_per_site: int = 2
    scanner_switch: float = 0.1
    dropout: float = 0.0
    session_interval_months: int = 12
    age_mean: float = 72.0
    age_sd: float = 7.0
    age_min: float = 55.0
    age_max: float = 90.0
    age_gap: float = 0.0
    male_fraction: float = 0.5
    class_proportions: tuple[float, ...] | None = None
    ad_effect: float = 0.45
    ad_progression: float = 0.06
    mci_conversion: float = 0.5
    pd_effect: float = 0.45
    pd_progression: float = 0.04
    age_effect: float = 1.0
    sex_effect: float = 1.0
    anatomy_variation: float = 1.0
    site_effect: float = 1.0
    noise: float = 1.0
    name: str = "brainbench synthetic cohort"
    segmentation: LesionConfig | None = None

    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {
        # A handful of subjects for tests: generated in about a second.
        "tiny": {"subjects": 8, "sites": 2, "sessions": 2, "resolution": 4.0},
        # The demo: enough subjects for a linear model or a small CNN to learn AD vs CN.
        "demo": {"subjects": 80, "sites": 4, "sessions": 3, "resolution": 4.0},
        # A larger, finer cohort with both disorders for experiments.
        "full": {
            "subjects": 300,
            "sites": 6,
            "sessions": 3,
            "resolution": 2.0,
            "disease": "both",
            "scanners_per_site": 3,
            "dropout": 0.1,
        },
    }

    def __post_init__(self) -> None:
        _check(self)
        if self.class_proportions is not None:
            total = float(sum(self.class_proportions))
            normalised = tuple(round(float(p) / total, 12) for p in self.class_proportions)
            object.__setattr__(self, "class_proportions", normalised)
        object.__setattr__(self, "resolution", float(self.resolution))

    @classmethod
    def preset(cls, name: str, **overrides: Any) -> SynthConfig:
        """The named preset (``tiny``, ``demo`` or ``full``), with ``overrides`` applied."""
        if name not in cls.PRESETS:
            raise UserError(
                f"Unknown synth preset {name!r}: choose one of {', '.join(cls.PRESETS)}."
            )
        return cls(**{**cls.PRESETS[name], **overrides})

    def replace(self, **changes: Any) -> SynthConfig:
        """A copy with ``changes`` applied (and checked)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise UserError(f"Unknown synth configuration field(s): {', '.join(unknown)}.")
        return dataclasses.replace(self, **changes)

    @property
    def task(self) -> str:
        """``segmentation`` when lesions and reference masks are written, else ``classification``
        (the same cohort serves regression on age)."""
        return "classification" if self.segmentation is None else "segmentation"

    @property
    def classes(self) -> tuple[str, ...]:
        """The diagnosis classes, controls first."""
        return DISEASES[self.disease]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary of every field."""
        out = dataclasses.asdict(self)
        if self.class_proportions is not None:
            out["class_proportions"] = list(self.class_proportions)
        # Absent, not null, for classification: the truth of existing cohorts keeps its bytes.
        del out["segmentation"]
        if self.segmentation is not None:
            out["segmentation"] = self.segmentation.to_dict()
        return out

    def __repr__(self) -> str:
        changed = [
            f"{f.name}={getattr(self, f.name)!r}"
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != f.default
        ]
        return f"SynthConfig({', '.join(changed)})"


def _check_number(owner: object, name: str, low: float, high: float) -> None:
    value = getattr(owner, name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise UserError(f"Synth '{name}' must be a number; got {value!r}.")
    if not math.isfinite(value) or not low <= value <= high:
        raise UserError(f"Synth '{name}' must be between {low:g} and {high:g}; got {value!r}.")


def _check_numbers(owner: object, bounds: dict[str, tuple[float, float]]) -> None:
    for name, (low, high) in bounds.items():
        _check_number(owner, name, low, high)


def _check(cfg: SynthConfig) -> None:
    def integer(name: str, low: int, high: int) -> None:
        value = getattr(cfg, name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"Synth '{name}' must be an integer; got {value!r}.")
        if not low <= value <= high:
            raise UserError(f"Synth '{name}' must be between {low} and {high}; got {value}.")

    def number(name: str, low: float, high: float) -> None:
        _check_number(cfg, name, low, high)

    integer("subjects", 1, MAX_SUBJECTS)
    integer("sites", 1, 1000)
    integer("sessions", 1, MAX_SESSIONS)
    integer("seed", 0, 2**63 - 1)
    integer("scanners_per_site", 1, 20)
    integer("session_interval_months", 1, 120)
    if cfg.sites > cfg.subjects:
        raise UserError(
            f"Synth 'sites' ({cfg.sites}) exceeds 'subjects' ({cfg.subjects}): every site needs "
            "at least one participant. Lower the number of sites or raise the number of subjects."
        )
    number("resolution", 1.0, 8.0)
    if cfg.disease not in DISEASES:
        raise UserError(
            f"Synth 'disease' must be one of {', '.join(DISEASES)}; got {cfg.disease!r}."
        )
    for name in ("confound", "scanner_switch", "dropout", "male_fraction", "mci_conversion"):
        number(name, 0.0, 1.0)
    number("age_sd", 0.0, 50.0)
    number("age_min", 0.0, 120.0)
    number("age_max", 0.0, 120.0)
    if cfg.age_min >= cfg.age_max:
        raise UserError(f"Synth 'age_min' ({cfg.age_min}) must be below 'age_max' ({cfg.age_max}).")
    number("age_mean", cfg.age_min, cfg.age_max)
    number("age_gap", -50.0, 50.0)
    for name in ("ad_effect", "pd_effect"):
        number(name, 0.0, 0.9)
    for name in ("ad_progression", "pd_progression"):
        number(name, 0.0, 0.5)
    for name in ("age_effect", "sex_effect", "anatomy_variation", "site_effect", "noise"):
        number(name, 0.0, 10.0)
    if not isinstance(cfg.name, str) or not cfg.name.strip():
        raise UserError("Synth 'name' must be a non-empty string.")
    if cfg.segmentation is not None:
        if not isinstance(cfg.segmentation, LesionConfig):
            raise UserError(
                "Synth 'segmentation' must be a LesionConfig (or None for a classification "
                f"cohort); got {type(cfg.segmentation).__name__}."
            )
        if cfg.resolution > MAX_SEGMENTATION_RESOLUTION:
            raise UserError(
                f"Synth segmentation needs a 'resolution' of at most "
                f"{MAX_SEGMENTATION_RESOLUTION:g} mm (lesions are a few millimetres wide and "
                f"must fit in the deep white matter); got {cfg.resolution:g}. Pass "
                "--resolution 4 or less."
            )
    props = cfg.class_proportions
    if props is not None:
        classes = DISEASES[cfg.disease]
        if len(props) != len(classes):
            raise UserError(
                f"Synth 'class_proportions' needs {len(classes)} values (for "
                f"{', '.join(classes)}); got {len(props)}."
            )
        if (
            any(
                isinstance(p, bool)
                or not isinstance(p, (int, float))
                or not math.isfinite(p)
                or p < 0
                for p in props
            )
            or sum(props) <= 0
        ):
            raise UserError(
                f"Synth 'class_proportions' must be non-negative numbers with a positive sum; "
                f"got {list(props)!r}."
            )
