"""Small BIDS folders and TSV manifests written on the fly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def write_bids(root: Path, subjects: dict[str, dict], *, sidecars: dict[str, object] | None = None):
    """subjects: {"sub-01": {"sex": "F", "sessions": ["ses-1", "ses-2"]}}; images are empty."""
    root.mkdir(parents=True, exist_ok=True)
    cols = sorted({k for v in subjects.values() for k in v if k != "sessions"})
    lines = ["\t".join(["participant_id", *cols])]
    for sub, info in subjects.items():
        lines.append("\t".join([sub, *(str(info.get(c, "n/a")) for c in cols)]))
        for ses in info.get("sessions", [None]):
            folder = root / sub / ses / "anat" if ses else root / sub / "anat"
            folder.mkdir(parents=True, exist_ok=True)
            stem = f"{sub}_{ses}_T1w" if ses else f"{sub}_T1w"
            (folder / f"{stem}.nii.gz").write_bytes(b"")
    (root / "participants.tsv").write_text("\n".join(lines) + "\n")
    for rel, content in (sidecars or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return root


@pytest.fixture
def bids(tmp_path):
    def make(subjects, sidecars=None, name="ds"):
        return write_bids(tmp_path / name, subjects, sidecars=sidecars)

    return make
