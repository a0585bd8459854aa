"""Balance between partitions as standardised mean differences (Austin 2009).

For a continuous covariate, ``d = (m1 - m0) / sqrt((s1^2 + s0^2) / 2)``; for each level of a
categorical covariate, with proportions p1 and p0, ``d = (p1 - p0) / sqrt((p1 (1 - p1) +
p0 (1 - p0)) / 2)``. |d| < 0.1 is the usual mark of negligible imbalance. Unlike a chi-square
test on proportions, the SMD does not depend on the sample size, so a large cohort is not
declared "unbalanced" for a trivial difference, nor a small one "balanced" for lack of power.

Reference: Austin PC (2009). Balance diagnostics for comparing the distribution of baseline
covariates between treatment groups in propensity-score matched samples. Statistics in
Medicine 28(25):3083-3107. doi:10.1002/sim.3697
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

REFERENCE = "Austin PC (2009), Statistics in Medicine 28:3083-3107, doi:10.1002/sim.3697"


def smd_continuous(x1: np.ndarray, x0: np.ndarray) -> float:
    """Standardised mean difference of a continuous variable (NaN when undefined)."""
    x1 = np.asarray(x1, dtype=float)
    x0 = np.asarray(x0, dtype=float)
    x1, x0 = x1[~np.isnan(x1)], x0[~np.isnan(x0)]
    if len(x1) < 2 or len(x0) < 2:
        return float("nan")
    pooled = np.sqrt((x1.var(ddof=1) + x0.var(ddof=1)) / 2)
    diff = x1.mean() - x0.mean()
    if pooled == 0:
        return 0.0 if diff == 0 else float("inf") * np.sign(diff)
    return float(diff / pooled)


def smd_proportion(p1: float, p0: float) -> float:
    """Standardised difference of two proportions (Austin 2009, eq. 2)."""
    denom = np.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2)
    diff = p1 - p0
    if denom == 0:
        return 0.0 if diff == 0 else float("inf") * np.sign(diff)
    return float(diff / denom)


def smd_table(
    table: pd.DataFrame, by: pd.Series, columns: list[str], reference: str
) -> list[dict[str, object]]:
    """SMD of each column (each level, for categories) between each group of ``by`` and
    ``reference``. Rows: {group, column, level, smd, n, n_reference}."""
    out: list[dict[str, object]] = []
    ref_mask = (by == reference).to_numpy()
    for group in sorted(set(by.dropna().astype(str)) - {reference}):
        mask = (by.astype("string") == group).fillna(False).to_numpy()
        for col in columns:
            s = table[col]
            if s.dtype.kind in "ifb" and s.nunique() > 2:
                out.append(
                    {
                        "group": group,
                        "column": col,
                        "level": None,
                        "smd": smd_continuous(s.to_numpy()[mask], s.to_numpy()[ref_mask]),
                        "n": int(mask.sum()),
                        "n_reference": int(ref_mask.sum()),
                    }
                )
                continue
            text = s.astype("string")
            a, b = text[mask].dropna(), text[ref_mask].dropna()
            if len(a) == 0 or len(b) == 0:
                continue
            for level in sorted(set(a) | set(b)):
                out.append(
                    {
                        "group": group,
                        "column": col,
                        "level": level,
                        "smd": smd_proportion(
                            float((a == level).mean()), float((b == level).mean())
                        ),
                        "n": len(a),
                        "n_reference": len(b),
                    }
                )
    return out


def balance_report(
    cohort: pd.DataFrame, splits: pd.DataFrame, columns: list[str] | tuple[str, ...]
) -> pd.DataFrame:
    """SMD of each covariate between each partition and ``train``, per repeat and fold.

    Units are subjects (each subject's first session in the partition). Columns of the result:
    repeat, fold, partition, column, level (category, or missing for a continuous covariate),
    smd, n, n_train.
    """
    import pandas as pd

    cols = [c for c in columns if c in cohort.columns]
    keys = ["cohort", "subject"]
    subj = cohort.sort_values([*keys, "session_index"], kind="stable").drop_duplicates(keys)
    subj = subj[[*keys, *cols]].astype({"cohort": "string", "subject": "string"})
    units = splits[["repeat", "fold", "partition", *keys]].drop_duplicates()
    units = units.astype({"cohort": "string", "subject": "string", "partition": "string"})
    merged = units.merge(subj, on=keys, how="left")
    rows = []
    for (r, f), part in merged.groupby(["repeat", "fold"], sort=True):
        part = part.reset_index(drop=True)
        for row in smd_table(part, part["partition"], cols, "train"):
            rows.append(
                {
                    "repeat": int(r),
                    "fold": int(f),
                    "partition": row["group"],
                    "column": row["column"],
                    "level": row["level"],
                    "smd": row["smd"],
                    "n": row["n"],
                    "n_train": row["n_reference"],
                }
            )
    return pd.DataFrame(
        rows, columns=["repeat", "fold", "partition", "column", "level", "smd", "n", "n_train"]
    )
