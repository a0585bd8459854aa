"""``validate --data`` says the same after the cohort reader, the splitter and D301 moved to
integer codes and bulk path checks (issue 16): same rules, messages, order and split table.

The expected output, ``golden/bulk-cohort.json``, was written by the code before that change
(commit 49b7ac3) with ``python tests/validate/test_bulk_equivalence.py OUT_JSON``; the cohort
has missing image files and folders, duplicate rows and keys, conflicting per-subject values,
paths with ``//``, ``./``, ``..``, backslashes, spaces and accents, identical image content
under two subjects, a subject id in two cohorts, unknown and missing labels. Regenerated the
same way when D307's message changed (issue 15: with 3 sites the site-level interval is not
estimable): that finding's message and fingerprint are the only difference; and when the JSON
gained ``"data": true`` (the data rules ran, so a clean data rule reads "passed" on the sheet).
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

GOLDEN = Path(__file__).parent / "golden" / "bulk-cohort.json"

SPEC = """\
brainbench: 1
id: bulk
version: 1.0.0
title: bulk path and id checks
task: {type: classification, target: diagnosis, classes: [CN, AD]}
cohorts:
  - {id: dev, role: development, source: {format: tsv, path: dev.tsv}, include: "age >= 50"}
  - {id: ext, role: external-test, source: {format: tsv, path: ext.tsv}}
hierarchy: {site: site, scanner: scanner, subject: participant_id, session: session_id}
splits:
  group: subject
  stratify: [diagnosis, sex, age]
  test: {method: kfold, folds: 5, sessions: baseline}
  validation: {method: holdout, size: 0.2}
  seed: 11
protocol:
  primary_metric: balanced_accuracy
  confidence: {method: hierarchical-bootstrap, clusters: [site, subject]}
  comparison: {method: corrected-t, margin: 0.01}
  seeds: 3
"""


def build(root: Path) -> Path:
    """Write the cohorts, some of their image files and the spec under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(16)
    rows = []
    for s in range(240):
        site = int(rng.integers(0, 8))
        dx = "AD" if rng.random() < 0.2 + 0.08 * site else "CN"
        age = float(rng.normal(70, 8))
        for k in range(int(rng.integers(1, 4))):
            sub, ses = f"sub-{s:04d}", f"ses-M{12 * k:02d}"
            rows.append(
                {
                    "participant_id": sub,
                    "session_id": ses,
                    "diagnosis": dx,
                    "age": round(age + k, 1),
                    "sex": "F" if s % 2 else "M",
                    "site": f"site{site}",
                    "scanner": f"scan{site}{k % 2}",
                    "image": f"bids/{sub}/{ses}/anat/{sub}_{ses}_T1w.nii.gz",
                }
            )
    dev = pd.DataFrame(rows)
    dev.loc[5, "diagnosis"] = "MCI"  # unknown class
    dev.loc[9, "diagnosis"] = None  # missing label
    dev.loc[12, "sex"] = "F" if dev.loc[12, "sex"] == "M" else "M"  # per-subject value changes
    dev.loc[20, "site"] = "site9"  # a subject in two sites
    dev.loc[30, "age"] = 30.0  # dropped by the include filter
    dev.loc[40, "image"] = None  # no image path
    dev.loc[41, "image"] = "./bids//" + str(dev.loc[41, "image"]).removeprefix("bids/")
    dev.loc[42, "image"] = f"../{root.name}/" + str(dev.loc[42, "image"])
    dev.loc[43, "image"] = str(dev.loc[43, "image"]).replace("/", "\\")
    dev.loc[44, "image"] = str(root / str(dev.loc[44, "image"]))  # absolute
    dev.loc[45, "image"] = "bids/with space/café T1w.nii.gz"
    # decreasing age along the sessions of one subject
    multi = dev.groupby("participant_id").filter(lambda g: len(g) > 1).index[:2]
    dev.loc[multi[1], "age"] = float(dev.loc[multi[0], "age"]) - 5
    dev = pd.concat([dev, dev.iloc[[50, 51]]], ignore_index=True)  # exact duplicates
    clash = dev.iloc[[60]].assign(age=99.0)  # same key, other values
    dev = pd.concat([dev, clash], ignore_index=True)
    ext = pd.DataFrame(
        {
            "participant_id": [f"ext-{i:03d}" for i in range(39)] + ["sub-0003"],
            "session_id": "ses-M00",
            "diagnosis": ["AD", "CN"] * 20,
            "age": [70.0 + i % 9 for i in range(40)],
            "sex": ["F", "M"] * 20,
            "site": [f"x{i % 3}" for i in range(40)],
            "scanner": [f"xs{i % 3}" for i in range(40)],
            "image": [f"ext/{i:03d}.nii.gz" for i in range(40)],
        }
    )
    # Image files: every other subject's folder exists, a few files in it; two with identical
    # content under different subjects (dev and ext), several sharing only their size.
    for i, path in enumerate(dev["image"].dropna().astype(str)):
        if "\\" in path or i % 2 or i % 7 == 3:
            continue
        file = root / path
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_bytes(bytes([i % 251]) * (100 + i % 5))
    (root / "ext").mkdir()
    for i in range(0, 40, 3):
        (root / "ext" / f"{i:03d}.nii.gz").write_bytes(bytes([i % 251]) * (100 + i % 5))
    first = root / str(dev.loc[0, "image"])
    (root / "ext" / "005.nii.gz").write_bytes(first.read_bytes())  # same scan, other subject
    dev.to_csv(root / "dev.tsv", sep="\t", index=False)
    ext.to_csv(root / "ext.tsv", sep="\t", index=False)
    spec = root / "spec.yaml"
    spec.write_text(SPEC)
    return spec


def outputs(root: Path) -> dict:
    """``validate --data`` findings (JSON, root path replaced) and the split table's sha256."""
    from brainbench.cohort import load_cohorts
    from brainbench.spec import load_spec
    from brainbench.split import make_splits, write_split_file
    from brainbench.validate.engine import validate_path
    from brainbench.validate.findings import render_json

    spec = build(root)
    result, unreadable = validate_path(spec, data=True)
    text = render_json(result).replace(str(root.resolve()), "<ROOT>").replace(str(root), "<ROOT>")
    loaded = load_spec(spec)
    write_split_file(make_splits(loaded, load_cohorts(loaded)), root / "splits.tsv")
    table = (root / "splits.tsv").read_text().replace(str(root), "<ROOT>")
    digest = hashlib.sha256(table.encode()).hexdigest()
    return {"validate": json.loads(text), "unreadable": unreadable, "splits_sha256": digest}


def test_validate_data_says_what_it_said_before(tmp_path: Path) -> None:
    expected = json.loads(GOLDEN.read_text())
    got = outputs(tmp_path / "cohort")
    assert got["splits_sha256"] == expected["splits_sha256"]
    assert got["validate"] == expected["validate"]
    assert got["unreadable"] == expected["unreadable"]


if __name__ == "__main__":  # write the expected output with the code checked out
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = outputs(Path(tmp) / "cohort")
    Path(sys.argv[1]).write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
