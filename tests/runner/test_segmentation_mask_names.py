"""Predicted-mask file names stay distinct when image file names repeat (a development and an
external-test BIDS dataset both holding ``sub-001_ses-M000_FLAIR``; a manifest naming every
image ``flair.nii.gz``): before, the second mask overwrote the first and the run was void."""

from __future__ import annotations

import pandas as pd

from brainbench.runner._segmentation import mask_names


def test_unique_stems_keep_the_contract_name() -> None:
    cohort = pd.DataFrame(
        {"image_path": ["/d/sub-01_ses-1_FLAIR.nii.gz", "/d/sub-02_ses-1_FLAIR.nii"]}
        | {"cohort": ["dev", "dev"]}
    )
    assert mask_names(cohort) == [
        "sub-01_ses-1_FLAIR_pred.nii.gz",
        "sub-02_ses-1_FLAIR_pred.nii.gz",
    ]


def test_stems_shared_across_and_within_cohorts_get_distinct_names() -> None:
    cohort = pd.DataFrame(
        {
            "image_path": [
                "/dev/sub-001/ses-M000/anat/sub-001_ses-M000_FLAIR.nii.gz",
                "/ext/sub-001/ses-M000/anat/sub-001_ses-M000_FLAIR.nii.gz",
                "/m/a/flair.nii.gz",
                "/m/b/flair.nii.gz",
                "/m/b/other.nii.gz",
            ],
            "cohort": ["dev", "ext", "man", "man", "man"],
        }
    )
    names = mask_names(cohort)
    assert names == [
        "dev/sub-001_ses-M000_FLAIR_pred.nii.gz",
        "ext/sub-001_ses-M000_FLAIR_pred.nii.gz",
        "man/flair-row2_pred.nii.gz",
        "man/flair-row3_pred.nii.gz",
        "other_pred.nii.gz",
    ]
    assert len(set(names)) == len(names)
