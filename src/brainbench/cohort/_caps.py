"""ClinicaDL/Clinica CAPS folders: sessions from a label TSV (or BIDS), images from the CAPS.

A CAPS ("ClinicA Processed Structure") holds each session's preprocessed images under
``subjects/sub-<label>/ses-<label>/<pipeline folder>/``. The file names are those Clinica writes
and ClinicaDL reads (``clinicadl/utils/clinica_utils.py``: ``linear_nii``, ``pet_linear_nii``)::

    t1_linear/sub-X_ses-Y_T1w_space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_T1w.nii.gz
    t1_linear/sub-X_ses-Y_space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_T1w.nii.gz  (Clinica >= 0.8)
    pet_linear/sub-X_ses-Y_trc-18FFDG_pet_space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_suvr-cerebellumPons2_pet.nii.gz
    pet_linear/sub-X_ses-Y_trc-18FFDG_space-MNI152NLin2009cSym_desc-Crop_res-1x1x1_suvr-cerebellumPons2_pet.nii.gz

(``desc-Crop`` is absent from uncropped images; older CAPS write ``acq-`` for the tracer.) As in
ClinicaDL, the sessions come from a label TSV (``participant_id``, ``session_id``,
``diagnosis``...) or from the companion BIDS folder; images are looked up only for the rows that
remain after the labels are derived and the include filter applied, and a session without its
image is a finding naming the path looked for.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from brainbench.cohort._findings import cohort_finding, lines_text
from brainbench.validate.findings import Finding, Severity

if TYPE_CHECKING:
    import pandas as pd

MNI = "space-MNI152NLin2009cSym"
FOLDERS = {"t1-linear": "t1_linear", "pet-linear": "pet_linear"}


@dataclass(frozen=True)
class CapsLayout:
    """Which images of a CAPS folder a cohort reads."""

    root: Path
    preprocessing: str = "t1-linear"
    crop: bool = True
    tracer: str | None = None
    suvr_region: str | None = None

    @property
    def folder(self) -> str:
        return FOLDERS[self.preprocessing]

    def pattern(self) -> re.Pattern[str]:
        """The file name of one session's image (both Clinica naming generations)."""
        crop = "_desc-Crop" if self.crop else ""
        if self.preprocessing == "t1-linear":
            tail = rf"(?:_T1w)?_{MNI}{crop}_res-1x1x1_T1w\.nii\.gz"
        else:
            tracer = re.escape(str(self.tracer))
            region = re.escape(str(self.suvr_region))
            tail = (
                rf"_(?:trc|acq)-{tracer}(?:_pet)?_{MNI}{crop}_res-1x1x1_suvr-{region}_pet\.nii\.gz"
            )
        return re.compile(r"^(?P<stem>sub-[^_]+_ses-[^_]+)" + tail + "$")

    def expected_name(self, subject: str, session: str) -> str:
        """The name Clinica >= 0.8 writes, shown when the image is missing."""
        crop = "_desc-Crop" if self.crop else ""
        if self.preprocessing == "t1-linear":
            return f"{subject}_{session}_{MNI}{crop}_res-1x1x1_T1w.nii.gz"
        return (
            f"{subject}_{session}_trc-{self.tracer}_{MNI}{crop}_res-1x1x1_"
            f"suvr-{self.suvr_region}_pet.nii.gz"
        )

    def session_dir(self, subject: str, session: str) -> Path:
        return self.root / "subjects" / subject / session / self.folder

    def describe(self) -> str:
        extra = f" (tracer {self.tracer}, SUVR {self.suvr_region})" if self.tracer else ""
        return f"{self.preprocessing}{extra}, {'cropped' if self.crop else 'uncropped'}"


def _prefixed(value: object, prefix: str) -> str:
    text = str(value)
    return text if text.startswith(prefix) else prefix + text


def resolve_caps_images(
    table: pd.DataFrame, layout: CapsLayout, *, cohort_id: str
) -> tuple[pd.DataFrame, list[Finding]]:
    """Set ``image``/``image_path`` of each session row from the CAPS; drop rows without one.

    A missing image is an error finding (rule D300 in ``validate --data``) that names the
    sessions, the label-TSV lines and the full path looked for; the rows are dropped so that a
    waived finding never turns into a failing unit at run time. A session folder with several
    matching images keeps the first by name and says so (a warning).
    """
    import pandas as pd

    findings: list[Finding] = []
    if not (layout.root / "subjects").is_dir():
        findings.append(
            cohort_finding(
                "missing-file",
                f"cohort '{cohort_id}': {layout.root} has no subjects/ folder; is it a CAPS "
                "folder (the output directory of `clinica run t1-linear` / `pet-linear`)?",
                file=str(layout.root),
                hint="Point source.path at the CAPS root (it holds subjects/sub-*/ses-*/).",
            )
        )
    pattern = layout.pattern()
    images: list[str | None] = []
    paths: list[str | None] = []
    missing: list[int] = []
    several: list[tuple[str, list[str]]] = []
    listing: dict[Path, list[str]] = {}
    for i, (sub, ses) in enumerate(zip(table["subject"], table["session"], strict=True)):
        if pd.isna(sub) or pd.isna(ses):
            images.append(None)
            paths.append(None)
            missing.append(i)
            continue
        subject, session = _prefixed(sub, "sub-"), _prefixed(ses, "ses-")
        folder = layout.session_dir(subject, session)
        if folder not in listing:
            try:
                listing[folder] = sorted(os.listdir(folder))
            except OSError:
                listing[folder] = []
        hits = [n for n in listing[folder] if (m := pattern.match(n)) and
                m.group("stem") == f"{subject}_{session}"]  # fmt: skip
        if not hits:
            images.append(None)
            paths.append(None)
            missing.append(i)
            continue
        if len(hits) > 1:
            several.append((f"{subject}/{session}", hits))
        path = folder / hits[0]
        images.append(path.relative_to(layout.root).as_posix())
        paths.append(str(path.resolve()))
    out = table.copy()
    out["image"] = pd.array(images, dtype="string")
    out["image_path"] = pd.array(paths, dtype="string")
    if several:
        where, names = several[0]
        findings.append(
            cohort_finding(
                "several-images",
                f"cohort '{cohort_id}': {len(several)} session folder(s) hold several "
                f"{layout.describe()} images; the first by name is taken (e.g. {where}: took "
                f"{names[0]}, left {', '.join(names[1:])})",
                file=str(layout.root),
                severity=Severity.WARNING,
                hint="Remove the extra images or name the tracer / SUVR region in the source.",
            )
        )
    if missing:
        rows = out.iloc[missing]
        first = rows.iloc[0]
        sub = _prefixed(first["subject"], "sub-")
        ses = _prefixed(first["session"], "ses-")
        looked = layout.session_dir(sub, ses) / layout.expected_name(sub, ses)
        lines = [int(x) for x in rows["cohort_row"].dropna()] if "cohort_row" in rows else []
        examples = ", ".join(
            f"{s}/{t}" for s, t in zip(rows["subject"][:3], rows["session"][:3], strict=True)
        )
        file = rows["cohort_file"].iloc[0] if "cohort_file" in rows else None
        findings.append(
            cohort_finding(
                "missing-image",
                f"cohort '{cohort_id}': {len(missing)} session(s) have no {layout.describe()} "
                f"image in the CAPS ({examples}{'...' if len(missing) > 3 else ''}"
                f"{'; ' + lines_text(lines) if lines else ''}); they are left out. Looked for "
                f"{looked}",
                file=None if file is None or pd.isna(file) else str(file),
                line=lines[0] if lines else None,
                hint="Run the Clinica pipeline for these sessions, remove them from the label "
                "TSV, or check source.preprocessing / crop / tracer / suvr_region.",
            )
        )
        out = out.drop(index=out.index[missing]).reset_index(drop=True)
    return out, findings


__all__ = ["CapsLayout", "resolve_caps_images"]
