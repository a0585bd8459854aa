"""Cohort tables made in memory for the split tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def make_table(
    n_subjects: int = 40,
    n_sites: int = 3,
    max_sessions: int = 3,
    images_per_session: int = 1,
    n_external: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """A development cohort (and optionally an external one) with sites, scanners, sessions."""
    rng = np.random.default_rng(seed)
    rows = []
    for cohort, n, role in (
        ("dev", n_subjects, "development"),
        ("ext", n_external, "external-test"),
    ):
        for s in range(n):
            site = f"S{rng.integers(n_sites)}" if cohort == "dev" else "E0"
            dx = ["CN", "AD"][int(rng.random() < 0.4)]
            sex = ["F", "M"][int(rng.integers(2))]
            age = float(np.round(rng.normal(72, 7), 1))
            for k in range(int(rng.integers(1, max_sessions + 1))):
                for i in range(images_per_session):
                    rows.append(
                        {
                            "dataset": cohort,
                            "site": site,
                            "scanner": f"{site}-{i % 2}",
                            "subject": f"sub-{s:04d}",
                            "session": f"ses-M{6 * k:02d}",
                            "image": f"sub-{s:04d}/ses-M{6 * k:02d}/anat/run-{i}_T1w.nii.gz",
                            "cohort": cohort,
                            "role": role,
                            "session_index": k,
                            "diagnosis": dx,
                            "sex": sex,
                            "age": age + 0.5 * k,
                        }
                    )
    t = pd.DataFrame(rows)
    for c in ("dataset", "site", "scanner", "subject", "session", "image", "cohort", "role"):
        t[c] = t[c].astype("string")
    return t
