"""``brainbench synth``: write a synthetic BIDS cohort with known ground truth."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from brainbench.errors import UserError
from brainbench.synth._config import DISEASES, LesionConfig, SynthConfig

# CLI option -> SynthConfig field, for options that override the preset.
_OVERRIDES = {
    "subjects": "subjects",
    "sites": "sites",
    "sessions": "sessions",
    "seed": "seed",
    "resolution": "resolution",
    "disease": "disease",
    "confound": "confound",
    "scanners_per_site": "scanners_per_site",
    "dropout": "dropout",
    "age_gap": "age_gap",
    "ad_effect": "ad_effect",
    "pd_effect": "pd_effect",
    "site_effect": "site_effect",
    "noise": "noise",
    "mci_conversion": "mci_conversion",
}
# CLI option -> LesionConfig field (--task segmentation only).
_LESION_OVERRIDES = {
    "lesion_load": "lesion_load",
    "new_lesions_per_year": "new_lesions_per_year",
    "lesion_radius": "lesion_radius_mm",
    "lesion_growth": "lesion_growth_mm_per_year",
    "lesion_contrast": "lesion_contrast",
}


@click.command(name="synth")
@click.argument("out", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--preset",
    type=click.Choice(sorted(SynthConfig.PRESETS)),
    default="demo",
    show_default=True,
    help="Starting configuration; the options below override it. "
    "tiny: 8 subjects, 2 sites, 2 sessions (tests); demo: 80 subjects, 4 sites, 3 sessions; "
    "full: 300 subjects, 6 sites, 3 sessions at 2 mm with AD and PD.",
)
@click.option("--subjects", type=int, help="Number of participants.")
@click.option("--sites", type=int, help="Number of acquisition sites.")
@click.option("--sessions", type=int, help="Planned sessions (visits) per participant.")
@click.option("--seed", type=int, help="Random seed: the same options give the same bytes.")
@click.option("--resolution", type=float, help="Voxel size in mm, 1 to 8 (preset: 4 or 2).")
@click.option("--disease", type=click.Choice(list(DISEASES)), help="Disorders besides CN controls.")
@click.option(
    "--confound",
    type=float,
    help="Probability (0-1) that a participant's diagnosis follows the site.",
)
@click.option("--scanners-per-site", type=int, help="Largest number of scanners at one site.")
@click.option("--dropout", type=float, help="Probability of leaving at each follow-up visit.")
@click.option("--age-gap", type=float, help="Years added to the patients' mean age.")
@click.option("--ad-effect", type=float, help="Mean medial-temporal GM fraction lost in AD.")
@click.option("--pd-effect", type=float, help="Mean basal-ganglia GM fraction lost in PD.")
@click.option("--site-effect", type=float, help="Multiplier of scanner differences (0: none).")
@click.option("--noise", type=float, help="Multiplier of the image noise.")
@click.option(
    "--overwrite", is_flag=True, help="Replace a cohort that brainbench synth wrote to OUT."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Summary format on stdout.",
)
@click.option(
    "--layout",
    type=click.Choice(["bids", "caps"]),
    default="bids",
    show_default=True,
    help="caps: also write a ClinicaDL-shaped copy (t1-linear CAPS and a get-labels TSV) to "
    "OUT/derivatives/caps.",
)
@click.option("--mci-conversion", type=float, help="--disease mci: share of MCI who convert.")
@click.option(
    "--task",
    type=click.Choice(["classification", "regression", "segmentation"]),
    default="classification",
    show_default=True,
    help="classification and regression write the same T1w cohort (diagnosis, age); "
    "segmentation adds FLAIR images, white-matter-hyperintensity lesions and reference masks "
    "in OUT/derivatives/reference (images cropped to the brain; resolution 4 mm or finer).",
)
@click.option("--lesion-load", type=float, help="segmentation: mean lesions at baseline (age 72).")
@click.option("--new-lesions-per-year", type=float, help="segmentation: rate of new lesions.")
@click.option("--lesion-radius", type=float, help="segmentation: median radius at onset, mm.")
@click.option("--lesion-growth", type=float, help="segmentation: mean radius growth, mm/year.")
@click.option(
    "--lesion-contrast", type=float, help="segmentation: mean FLAIR lesion contrast vs WM."
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar.")
def synth(
    out: Path,
    preset: str,
    overwrite: bool,
    fmt: str,
    quiet: bool,
    layout: str,
    task: str,
    **options: Any,
) -> None:
    """Write a synthetic BIDS cohort to OUT, with its ground truth.

    T1-weighted images derive from the MNI152 2009 templates: per-subject anatomy, ageing and
    sex effects, Alzheimer-like medial-temporal and Parkinson-like basal-ganglia grey-matter
    loss growing across sessions, and scanner effects that --confound ties to the label. The
    truth (effect sizes, affected participants, per-session atrophy, scanner parameters) is in
    OUT/derivatives/brainbench-truth/. Same options and seed, same bytes.

    --task segmentation also writes a FLAIR image per session, white-matter-hyperintensity
    lesions growing across sessions (bright on FLAIR, dark on T1w, contrast varying by
    scanner) and reference masks (0 background, 1 csf, 2 gray-matter, 3 white-matter, 4 wmh)
    in OUT/derivatives/reference; the lesions' truth is in the truth folder (lesions.tsv).
    """
    from brainbench.synth._generate import generate_cohort

    lesion_options = {
        _LESION_OVERRIDES[k]: options.pop(k)
        for k in list(options)
        if k in _LESION_OVERRIDES and options[k] is not None
    }
    for k in _LESION_OVERRIDES:
        options.pop(k, None)
    if lesion_options and task != "segmentation":
        given = ", ".join(
            f"--{k.replace('_', '-')}" for k, f in _LESION_OVERRIDES.items() if f in lesion_options
        )
        raise UserError(
            f"{given}: lesion options apply to --task segmentation only (the task is {task}). Add "
            "--task segmentation, or leave the lesion options out."
        )
    overrides = {_OVERRIDES[k]: v for k, v in options.items() if v is not None}
    if task == "segmentation":
        overrides["segmentation"] = LesionConfig(**lesion_options)
    config = SynthConfig.preset(preset, **overrides)
    total_images = config.subjects * config.sessions
    if quiet or fmt == "json":
        result = generate_cohort(out, config, overwrite=overwrite, layout=layout)
    else:
        with click.progressbar(length=total_images, label="Writing images", file=sys.stderr) as bar:
            state = {"done": 0}

            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - state["done"])
                state["done"] = done

            result = generate_cohort(
                out, config, overwrite=overwrite, progress=progress, layout=layout
            )
    counts = result.truth["counts"]
    summary = {
        "path": str(result.path),
        "subjects": counts["subjects"],
        "sessions": counts["sessions"],
        "images": counts["images"],
        "sites": counts["sites"],
        "scanners": counts["scanners"],
        "per_class": counts["per_class"],
        "resolution_mm": config.resolution,
        "seed": config.seed,
        "truth": str(result.truth_dir / "truth.json"),
        "seconds": round(result.seconds, 2),
        "task": config.task,
    }
    if result.reference_dir is not None:
        summary["reference"] = str(result.reference_dir)
        summary["lesions"] = int(result.images["lesion_count"].sum())
    if fmt == "json":
        click.echo(json.dumps(summary, indent=2))
        return
    classes = ", ".join(f"{n} {c}" for c, n in counts["per_class"].items())
    what = "images" if result.reference_dir is None else "sessions (T1w and FLAIR each)"
    click.echo(
        f"Wrote {counts['images']} {what} of {counts['subjects']} participants ({classes}) "
        f"from {counts['sites']} sites and {counts['scanners']} scanners to {result.path} "
        f"in {result.seconds:.1f} s.\nGround truth: {summary['truth']}"
    )
    if result.reference_dir is not None:
        click.echo(
            f"Reference masks (0 background, 1 csf, 2 gray-matter, 3 white-matter, 4 wmh): "
            f"{result.reference_dir}; FLAIR images beside the T1w; "
            f"{summary['lesions']} lesions over {counts['images']} sessions."
        )


__all__ = ["synth"]
