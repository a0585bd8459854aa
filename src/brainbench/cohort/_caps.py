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
image is a finding naming the path looked for. A label TSV with a BIDS root (``format: bids``,
``labels``) reads the raw images the same way (:class:`BidsImages`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from brainbench.cohort._findings import cohort_finding, lines_text
from brainbench.validate.findings import Finding, Severity

if TYPE_CHECKING:
    import pandas as pd

MNI = "space-MNI152NLin2009cSym"
FOLDERS = {"t1-linear": "t1_linear", "pet-linear": "pet_linear"}


@dataclass(frozen=True)
class CapsLayout:
    """Which images of a CAPS folder a cohort reads."""

    MISSING_HINT: ClassVar[str] = (
        "Run the Clinica pipeline for these sessions, remove them from the label TSV, or check "
        "source.preprocessing / crop / tracer / suvr_region."
    )

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

    def find(self, subject: str, session: str) -> list[Path]:
        """The session's images, sorted by name."""
        folder = self.session_dir(subject, session)
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return []
        pattern = self.pattern()
        stem = f"{subject}_{session}"
        return [folder / n for n in names if (m := pattern.match(n)) and m.group("stem") == stem]

    def expected(self, subject: str, session: str) -> Path:
        return self.session_dir(subject, session) / self.expected_name(subject, session)

    def check_root(self, cohort_id: str) -> list[Finding]:
        if (self.root / "subjects").is_dir():
            return []
        return [
            cohort_finding(
                "missing-file",
                f"cohort '{cohort_id}': {self.root} has no subjects/ folder; is it a CAPS "
                "folder (the output directory of `clinica run t1-linear` / `pet-linear`)?",
                file=str(self.root),
                hint="Point source.path at the CAPS root (it holds subjects/sub-*/ses-*/).",
            )
        ]


@dataclass
class BidsImages:
    """The raw images of a BIDS folder, as the image source of a label TSV (``format: bids``
    with ``labels``): the session's images of one suffix, chosen entities only."""

    MISSING_HINT: ClassVar[str] = (
        "Add the images, remove these sessions from the label TSV, or check task.input.modality "
        "and source.space / desc / res."
    )

    root: Path
    suffix: str = "T1w"
    entities: dict[str, str] | None = None
    _index: dict[tuple[str, str], list[Path]] | None = None

    def _images(self) -> dict[tuple[str, str], list[Path]]:
        if self._index is None:
            from brainbench.cohort._bids import read_bids_raw

            raw, _, _ = read_bids_raw(self.root, suffixes=(self.suffix,), entities=self.entities)
            index: dict[tuple[str, str], list[Path]] = {}
            for sub, ses, path in zip(
                raw["participant_id"], raw["session_id"], raw["image_path"], strict=True
            ):
                index.setdefault((str(sub), str(ses)), []).append(Path(path))
            self._index = {k: sorted(v) for k, v in index.items()}
        return self._index

    def find(self, subject: str, session: str) -> list[Path]:
        return self._images().get((subject, session), [])

    def expected(self, subject: str, session: str) -> Path:
        return self.root / subject / session / "anat" / f"{subject}_{session}_{self.suffix}.nii.gz"

    def describe(self) -> str:
        chosen = "".join(f", {k}-{v}" for k, v in (self.entities or {}).items())
        return f"BIDS {self.suffix}{chosen}"

    def check_root(self, cohort_id: str) -> list[Finding]:
        return []


def _prefixed(value: object, prefix: str) -> str:
    text = str(value)
    return text if text.startswith(prefix) else prefix + text


def resolve_images(
    table: pd.DataFrame, images: CapsLayout | BidsImages, *, cohort_id: str
) -> tuple[pd.DataFrame, list[Finding]]:
    """Set ``image``/``image_path`` of each session row from ``images``; drop rows without one.

    A missing image is an error finding (rule D300 in ``validate --data``) that names the
    sessions, the label-TSV lines and the full path looked for; the rows are dropped so that a
    waived finding never turns into a failing unit at run time. A session with several
    matching images keeps the first by name and says so (a warning).
    """
    import pandas as pd

    findings = images.check_root(cohort_id)
    found: list[str | None] = []
    paths: list[str | None] = []
    missing: list[int] = []
    several: list[tuple[str, list[str]]] = []
    for i, (sub, ses) in enumerate(zip(table["subject"], table["session"], strict=True)):
        hits = (
            []
            if pd.isna(sub) or pd.isna(ses)
            else images.find(_prefixed(sub, "sub-"), _prefixed(ses, "ses-"))
        )
        if not hits:
            found.append(None)
            paths.append(None)
            missing.append(i)
            continue
        if len(hits) > 1:
            several.append((f"{sub}/{ses}", [h.name for h in hits]))
        try:
            found.append(hits[0].relative_to(images.root).as_posix())
        except ValueError:
            found.append(hits[0].as_posix())
        paths.append(str(hits[0].resolve()))
    out = table.copy()
    out["image"] = pd.array(found, dtype="string")
    out["image_path"] = pd.array(paths, dtype="string")
    if several:
        where, names = several[0]
        findings.append(
            cohort_finding(
                "several-images",
                f"cohort '{cohort_id}': {len(several)} session(s) hold several "
                f"{images.describe()} images; the first by name is taken (e.g. {where}: took "
                f"{names[0]}, left {', '.join(names[1:])})",
                file=str(images.root),
                severity=Severity.WARNING,
                hint="Remove the extra images or choose one in the source (tracer and SUVR "
                "region for pet-linear; space, desc, res for BIDS).",
            )
        )
    if missing:
        rows = out.iloc[missing]
        first = rows.iloc[0]
        sub = _prefixed(first["subject"], "sub-")
        ses = _prefixed(first["session"], "ses-")
        looked = images.expected(sub, ses)
        lines = [int(x) for x in rows["cohort_row"].dropna()] if "cohort_row" in rows else []
        examples = ", ".join(
            f"{s}/{t}" for s, t in zip(rows["subject"][:3], rows["session"][:3], strict=True)
        )
        file = rows["cohort_file"].iloc[0] if "cohort_file" in rows else None
        findings.append(
            cohort_finding(
                "missing-image",
                f"cohort '{cohort_id}': {len(missing)} session(s) have no {images.describe()} "
                f"image in {images.root} ({examples}{'...' if len(missing) > 3 else ''}"
                f"{'; ' + lines_text(lines) if lines else ''}); they are left out. Looked for "
                f"{looked}",
                file=None if file is None or pd.isna(file) else str(file),
                line=lines[0] if lines else None,
                hint=images.MISSING_HINT,
            )
        )
        out = out.drop(index=out.index[missing]).reset_index(drop=True)
    return out, findings


__all__ = ["BidsImages", "CapsLayout", "resolve_images"]
