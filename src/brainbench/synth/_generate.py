"""Writing a synthetic cohort: the BIDS folder and its ground truth."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbench.errors import UserError
from brainbench.synth._bids import nifti_bytes, write_gzip, write_json, write_tsv
from brainbench.synth._caps import write_caps
from brainbench.synth._config import GENERATOR_VERSION, SynthConfig
from brainbench.synth._plan import AD_GLOBAL_GM_LOSS, AD_VENTRICLE_EXPANSION, Plan, build_plan
from brainbench.synth._render import (
    AD_REGIONS,
    DEFORMATION_LENGTH_MM,
    DEFORMATION_SD_MM,
    GM_FIELD_LENGTH_MM,
    GM_FIELD_SD,
    MTA_REGIONS,
    MTA_SIZE_SD,
    PD_REGIONS,
    ROI_THRESHOLD,
    VENTRICLES,
    render,
    subject_fields,
)
from brainbench.synth._segmentation import (
    REFERENCE_DIR,
    SEGMENTATION_COLUMNS,
    SegmentationWriter,
    segmentation_grid,
)
from brainbench.synth._templates import TEMPLATE_NAME, prepare_grid

TRUTH_DIR = Path("derivatives") / "brainbench-truth"
BIDS_VERSION = "1.9.0"

TRUTH_COLUMNS = (
    "participant_id",
    "session_id",
    "image",
    "site",
    "scanner_id",
    "field_strength",
    "diagnosis",
    "affected",
    "sex",
    "age",
    "years_since_baseline",
    "ad_atrophy",
    "pd_atrophy",
    "gm_age_factor",
    "gm_disease_factor",
    "ventricle_expansion",
    "head_scale",
    "intensity_scale",
    "noise_sd",
    "label_from_site",
    "tiv_ml",
    "gm_ml",
    "wm_ml",
    "csf_ml",
    "mta_gm_ml",
    "basal_ganglia_gm_ml",
    "sha256",
)


@dataclass(frozen=True)
class SynthResult:
    """What :func:`generate_cohort` wrote.

    Attributes
    ----------
    path : Path
        The BIDS root.
    config : SynthConfig
        The configuration used.
    participants : pandas.DataFrame
        ``participants.tsv`` as written.
    images : pandas.DataFrame
        One row per image: the ground-truth table (``truth.tsv``), with relative image paths
        (T1w; in a segmentation cohort also the FLAIR, the reference mask and the lesions).
    truth : dict
        The content of ``truth.json``.
    seconds : float
        Wall time of the generation.
    """

    path: Path
    config: SynthConfig
    participants: pd.DataFrame = field(repr=False)
    images: pd.DataFrame = field(repr=False)
    truth: dict[str, Any] = field(repr=False)
    seconds: float = field(compare=False)

    @property
    def truth_dir(self) -> Path:
        return self.path / TRUTH_DIR

    @property
    def reference_dir(self) -> Path | None:
        """The reference masks' BIDS derivative (segmentation cohorts), else None."""
        return None if self.config.segmentation is None else self.path / REFERENCE_DIR

    @property
    def n_subjects(self) -> int:
        return len(self.participants)

    @property
    def n_images(self) -> int:
        return len(self.images)


def _prepare_out(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise UserError(f"Cannot write a synthetic cohort to {out}: it exists and is a file.")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise UserError(
                f"The output folder {out} exists and is not empty. Choose another folder, or "
                "pass --overwrite (overwrite=True) to replace a cohort brainbench wrote there."
            )
        if not (out / TRUTH_DIR / "truth.json").is_file():
            raise UserError(
                f"Refusing to overwrite {out}: it is not empty and holds no "
                f"{TRUTH_DIR / 'truth.json'}, so brainbench synth did not write it. "
                "Remove it yourself or choose another folder."
            )


def generate_cohort(
    out: str | os.PathLike[str],
    config: SynthConfig | None = None,
    *,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
    layout: str = "bids",
) -> SynthResult:
    """Write a synthetic BIDS cohort with known ground truth to ``out``.

    Parameters
    ----------
    out : path
        The BIDS root to create. It must not exist or be empty, unless ``overwrite`` is set
        and it holds a cohort written by this function.
    config : SynthConfig, optional
        What to generate; default ``SynthConfig.preset("demo")``.
    overwrite : bool, default=False
        Replace a cohort previously written to ``out``.
    progress : callable, optional
        Called as ``progress(done, total)`` after each image.
    layout : {"bids", "caps"}, default="bids"
        ``caps`` also writes a ClinicaDL-shaped copy: a t1-linear CAPS folder and a get-labels
        TSV in ``out/derivatives/caps`` (:mod:`brainbench.synth._caps`).

    Returns
    -------
    SynthResult
        The paths, tables and ground truth. The folder is written to a temporary sibling and
        moved into place at the end, so an interrupted run leaves no half cohort.
    """
    start = time.perf_counter()
    config = config if config is not None else SynthConfig.preset("demo")
    if not isinstance(config, SynthConfig):
        raise TypeError(f"config must be a SynthConfig, got {type(config).__name__}")
    out = Path(out)
    _prepare_out(out, overwrite)
    plan = build_plan(config)
    columns = TRUTH_COLUMNS if config.segmentation is None else TRUTH_COLUMNS + SEGMENTATION_COLUMNS
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"Cannot create the parent folder of {out}: {exc.strerror}.") from exc
    tmp = out.parent / f".{out.name}.synth-tmp-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        tmp.mkdir()
        rows, seg = _write(tmp, plan, progress)
        if layout == "caps":
            write_caps(tmp, plan, rows)
        elif layout != "bids":
            raise UserError(f"Unknown synth layout {layout!r}: choose bids or caps.")
        truth = _truth(plan, rows)
        truth_dir = tmp / TRUTH_DIR
        if seg is not None:
            truth["segmentation"] = seg.truth()
            seg.write_truth(truth_dir)
        write_json(truth_dir / "truth.json", truth)
        write_tsv(truth_dir / "truth.tsv", columns, ([r[c] for c in columns] for r in rows))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    participants = pd.read_csv(out / "participants.tsv", sep="\t", dtype={"participant_id": str})
    images = pd.DataFrame(rows, columns=list(columns))
    return SynthResult(
        path=out,
        config=config,
        participants=participants,
        images=images,
        truth=truth,
        seconds=time.perf_counter() - start,
    )


def _dataset_files(root: Path, plan: Plan) -> None:
    cfg = plan.config
    generated_by = [
        {
            "Name": "brainbench.synth",
            "Version": GENERATOR_VERSION,
            "Description": "Synthetic T1-weighted brains derived from the MNI152 2009 templates "
            f"(seed {cfg.seed}); ground truth in {TRUTH_DIR.as_posix()}.",
        }
    ]
    write_json(
        root / "dataset_description.json",
        {
            "Name": cfg.name,
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "License": "CC0",
            "Authors": ["brainbench synth"],
            "GeneratedBy": generated_by,
        },
    )
    (root / "README").write_text(
        f"# {cfg.name}\n\n"
        "Synthetic cohort written by `brainbench synth` (generator version "
        f"{GENERATOR_VERSION}, seed {cfg.seed}). Images are skull-stripped T1-weighted volumes on "
        f"the MNI152 grid at {cfg.resolution:g} mm, derived from the MNI152 2009 templates shipped "
        "with nilearn, with per-subject anatomy, ageing, sex, disease and scanner effects.\n"
        "They are not real data. The ground truth (effect sizes, affected participants, "
        "per-session atrophy, scanner parameters) is in "
        f"{TRUTH_DIR.as_posix()}/truth.json and truth.tsv.\n"
        + (
            ""
            if cfg.segmentation is None
            else "\nThis is a segmentation cohort: each session also has a FLAIR image, both "
            "images carry white-matter-hyperintensity lesions (bright on FLAIR, dark on T1w) "
            "and are cropped to the brain, and the reference masks (0 background, 1 csf, "
            "2 gray-matter, 3 white-matter, 4 wmh) are in "
            f"{REFERENCE_DIR.as_posix()}; the lesions' truth is in "
            f"{TRUTH_DIR.as_posix()}/lesions.tsv.\n"
        ),
        encoding="utf-8",
    )
    write_json(
        root / "participants.json",
        {
            "participant_id": {"Description": "Participant identifier."},
            "age": {"Description": "Age at the baseline session.", "Units": "year"},
            "sex": {"Description": "Sex.", "Levels": {"M": "male", "F": "female"}},
            "diagnosis": {
                "Description": "Diagnosis.",
                "Levels": {
                    "CN": "cognitively normal control",
                    "AD": "Alzheimer-like disease (synthetic)",
                    "PD": "Parkinson-like disease (synthetic)",
                },
            },
            "site": {"Description": "Acquisition site (InstitutionName of the sidecars)."},
        },
    )
    truth_dir = root / TRUTH_DIR
    truth_dir.mkdir(parents=True)
    write_json(
        truth_dir / "dataset_description.json",
        {
            "Name": f"{cfg.name}: ground truth",
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "derivative",
            "GeneratedBy": generated_by,
        },
    )
    write_tsv(
        root / "participants.tsv",
        ("participant_id", "age", "sex", "diagnosis", "site"),
        ((s.participant_id, s.baseline_age, s.sex, s.diagnosis, s.site) for s in plan.subjects),
    )


def _write(
    root: Path, plan: Plan, progress: Callable[[int, int], None] | None
) -> tuple[list[dict], SegmentationWriter | None]:
    cfg = plan.config
    _dataset_files(root, plan)
    seg = None if cfg.segmentation is None else SegmentationWriter(root, plan, cfg.segmentation)
    grid = prepare_grid(cfg.resolution) if seg is None else seg.grid
    scanners = {s.scanner_id: s for s in plan.scanners}
    total = sum(len(s.sessions) for s in plan.subjects)
    done = 0
    rows = []
    for subject in plan.subjects:
        sub = subject.participant_id
        (root / sub).mkdir()
        session_columns: tuple[str, ...] = (
            "session_id",
            "acq_order",
            "age",
            "months_since_baseline",
        )
        session_rows = [
            (f"ses-{s.session_id}", s.acq_order, s.age, round(12 * s.years, 2))
            for s in subject.sessions
        ]
        if cfg.disease == "mci":
            # The longitudinal diagnosis (MCI -> AD at the conversion month) lives per session.
            session_columns = (*session_columns, "diagnosis")
            session_rows = [
                (*row, s.diagnosis or subject.diagnosis)
                for row, s in zip(session_rows, subject.sessions, strict=True)
            ]
        write_tsv(root / sub / f"{sub}_sessions.tsv", session_columns, session_rows)
        fields = subject_fields(grid, plan, subject)
        for session in subject.sessions:
            ses = f"ses-{session.session_id}"
            anat = root / sub / ses / "anat"
            anat.mkdir(parents=True)
            scanner = scanners[session.scanner_id]
            if seg is None:
                rendered = render(grid, plan, subject, session, scanner, fields)
                data, measures, extra = rendered.data, rendered.measures, {}
            else:
                data, measures, extra = seg.write(subject, session, scanner, fields)
            stem = f"{sub}_{ses}_T1w"
            payload = nifti_bytes(data, grid.affine, "brainbench synth T1w")
            digest = write_gzip(anat / f"{stem}.nii.gz", payload)
            write_json(anat / f"{stem}.json", scanner.sidecar())
            rows.append(
                {
                    "participant_id": sub,
                    "session_id": ses,
                    "image": f"{sub}/{ses}/anat/{stem}.nii.gz",
                    "site": subject.site,
                    "scanner_id": scanner.scanner_id,
                    "field_strength": scanner.field_strength,
                    "diagnosis": session.diagnosis or subject.diagnosis,
                    "affected": subject.affected,
                    "sex": subject.sex,
                    "age": session.age,
                    "years_since_baseline": session.years,
                    "ad_atrophy": session.ad_atrophy,
                    "pd_atrophy": session.pd_atrophy,
                    "gm_age_factor": session.gm_age_factor,
                    "gm_disease_factor": session.gm_disease_factor,
                    "ventricle_expansion": session.ventricle_expansion,
                    "head_scale": subject.head_scale,
                    "intensity_scale": round(scanner.intensity_scale * session.intensity_jitter, 2),
                    "noise_sd": scanner.noise_sd,
                    "label_from_site": subject.label_from_site,
                    **measures,
                    "sha256": digest,
                    **extra,
                }
            )
            done += 1
            if progress is not None:
                progress(done, total)
    return rows, seg


def _cohens_d(a: np.ndarray, b: np.ndarray) -> float | None:
    """Standardised mean difference (a - b) / pooled sd; None when undefined."""
    if len(a) < 2 or len(b) < 2:
        return None
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    if pooled <= 0:
        return None
    return round(float((a.mean() - b.mean()) / np.sqrt(pooled)), 4)


def _cramers_v(table: pd.DataFrame) -> float | None:
    obs = table.to_numpy(dtype=float)
    n = obs.sum()
    k = min(obs.shape) - 1
    if n == 0 or k == 0:
        return None
    expected = obs.sum(1, keepdims=True) * obs.sum(0, keepdims=True) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        chi2 = np.nansum(np.where(expected > 0, (obs - expected) ** 2 / expected, 0.0))
    return round(float(np.sqrt(chi2 / (n * k))), 4)


def _truth(plan: Plan, rows: list[dict]) -> dict[str, Any]:
    cfg = plan.config
    table = pd.DataFrame(rows)
    base = table[table["years_since_baseline"] == 0.0].drop_duplicates("participant_id")
    subjects = pd.DataFrame(
        [(s.participant_id, s.site, s.diagnosis, s.sex, s.baseline_age) for s in plan.subjects],
        columns=["participant_id", "site", "diagnosis", "sex", "age"],
    )

    def effect(diagnosis: str, measure: str, over_tiv: bool = False) -> float | None:
        rel = base[measure] / base["tiv_ml"] if over_tiv else base[measure]
        return _cohens_d(
            rel[base["diagnosis"] == diagnosis].to_numpy(),
            rel[base["diagnosis"] == "CN"].to_numpy(),
        )

    contingency = pd.crosstab(subjects["site"], subjects["diagnosis"]).reindex(
        index=list(plan.sites), columns=list(cfg.classes), fill_value=0
    )
    # The images' grid: a segmentation cohort's is cropped to the brain.
    grid = (
        prepare_grid(cfg.resolution)
        if cfg.segmentation is None
        else segmentation_grid(cfg.resolution)
    )
    templates = grid.templates
    effects: dict[str, Any] = {}
    if "AD" in cfg.classes:
        effects["ad"] = {
            "description": "Grey-matter loss in the medial temporal lobe, growing across "
            "sessions: fraction lost at a region's centre = amount * weight.",
            "regions": [r.to_dict() for r in AD_REGIONS],
            "severity_mean": cfg.ad_effect,
            "progression_per_year_mean": cfg.ad_progression,
            "global_gm_loss_per_amount": AD_GLOBAL_GM_LOSS,
            "extra_ventricle_expansion_per_amount": AD_VENTRICLE_EXPANSION,
            "mta_regions": [r.name for r in MTA_REGIONS],
            "cohens_d_baseline_mta_gm_ml": effect("AD", "mta_gm_ml"),
            "cohens_d_baseline_mta_gm_over_tiv": effect("AD", "mta_gm_ml", over_tiv=True),
        }
    if "PD" in cfg.classes:
        effects["pd"] = {
            "description": "Grey-matter loss in the basal ganglia and substantia nigra, growing "
            "across sessions: fraction lost at a region's centre = amount * weight.",
            "regions": [r.to_dict() for r in PD_REGIONS],
            "severity_mean": cfg.pd_effect,
            "progression_per_year_mean": cfg.pd_progression,
            "cohens_d_baseline_basal_ganglia_gm_ml": effect("PD", "basal_ganglia_gm_ml"),
            "cohens_d_baseline_basal_ganglia_gm_over_tiv": effect(
                "PD", "basal_ganglia_gm_ml", over_tiv=True
            ),
        }
    effects["age"] = {
        "gm_factor": "1 - 0.02 * age_effect * (age - 50) / 10",
        "ventricle_expansion": "0.05 * age_effect * max(0, age - 50) / 10",
        "ventricles": [r.to_dict() for r in VENTRICLES],
        "age_effect": cfg.age_effect,
    }
    effects["sex"] = {
        "head_scale": "1 + 0.035 * sex_effect * (+1 male, -1 female) + N(0, 0.025)",
        "sex_effect": cfg.sex_effect,
    }
    effects["anatomy"] = {
        "deformation_sd_mm": DEFORMATION_SD_MM * cfg.anatomy_variation,
        "deformation_length_mm": DEFORMATION_LENGTH_MM,
        "gm_log_field_sd": GM_FIELD_SD * cfg.anatomy_variation,
        "gm_field_length_mm": GM_FIELD_LENGTH_MM,
        "session_shift_sd_mm": 0.5,
        "mta_log_size_sd": MTA_SIZE_SD * cfg.anatomy_variation,
    }
    affected = [s.participant_id for s in plan.subjects if s.affected]
    cn_age = subjects.loc[subjects["diagnosis"] == "CN", "age"].to_numpy(dtype=float)
    return {
        "generator": {"name": "brainbench.synth", "version": GENERATOR_VERSION},
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "classes": list(cfg.classes),
        "template": {"name": TEMPLATE_NAME, "sha256": templates.sha256},
        "grid": {
            "resolution_mm": cfg.resolution,
            "shape": list(grid.shape),
            "affine": [[float(v) for v in row] for row in grid.affine],
            "space": "MNI152NLin2009aSym",
            "roi_threshold": ROI_THRESHOLD,
        },
        "counts": {
            "subjects": len(plan.subjects),
            "sessions": len(rows),
            "images": len(rows),
            "sites": len(plan.sites),
            "scanners": len(plan.scanners),
            "per_class": {c: int((subjects["diagnosis"] == c).sum()) for c in cfg.classes},
        },
        "effects": effects,
        "confounding": {
            "confound": cfg.confound,
            "site_preferred_class": plan.site_preferred_class,
            "label_from_site": [s.participant_id for s in plan.subjects if s.label_from_site],
            "site_by_diagnosis": {
                site: {c: int(contingency.loc[site, c]) for c in cfg.classes} for site in plan.sites
            },
            "cramers_v_site_diagnosis": _cramers_v(contingency),
            "age_gap": cfg.age_gap,
            "smd_age_patients_vs_controls": _cohens_d(
                subjects.loc[subjects["diagnosis"] != "CN", "age"].to_numpy(dtype=float), cn_age
            ),
        },
        "sites": [
            {"site": site, "scanners": [s.scanner_id for s in plan.scanners if s.site == site]}
            for site in plan.sites
        ],
        "scanners": [s.to_dict() for s in plan.scanners],
        "affected": affected,
        "subjects": [
            {
                "participant_id": s.participant_id,
                "site": s.site,
                "sex": s.sex,
                "diagnosis": s.diagnosis,
                "baseline_age": s.baseline_age,
                "affected": s.affected,
                "severity": s.severity,
                "progression_per_year": s.progression_per_year,
                "asymmetry": s.asymmetry,
                "head_scale": s.head_scale,
                "label_from_site": s.label_from_site,
                **({"conversion_month": s.conversion_month} if cfg.disease == "mci" else {}),
                "sessions": [
                    {
                        "session_id": f"ses-{x.session_id}",
                        "scanner_id": x.scanner_id,
                        "age": x.age,
                        "years_since_baseline": x.years,
                        "ad_atrophy": x.ad_atrophy,
                        "pd_atrophy": x.pd_atrophy,
                        "gm_age_factor": x.gm_age_factor,
                        "gm_disease_factor": x.gm_disease_factor,
                        "ventricle_expansion": x.ventricle_expansion,
                        "shift_mm": list(x.shift_mm),
                        "intensity_jitter": x.intensity_jitter,
                    }
                    for x in s.sessions
                ],
            }
            for s in plan.subjects
        ],
    }


def load_truth(root: str | os.PathLike[str]) -> tuple[dict[str, Any], pd.DataFrame]:
    """Read the ground truth of a synthetic cohort: ``(truth.json, truth.tsv)``."""
    folder = Path(root) / TRUTH_DIR
    path = folder / "truth.json"
    if not path.is_file():
        raise UserError(
            f"{Path(root)} holds no {TRUTH_DIR / 'truth.json'}: it is not a cohort written by "
            "brainbench synth."
        )
    truth = json.loads(path.read_text(encoding="utf-8"))
    table = pd.read_csv(folder / "truth.tsv", sep="\t", dtype={"participant_id": str})
    return truth, table
