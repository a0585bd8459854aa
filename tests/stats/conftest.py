"""Shared fixtures of the statistics tests."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainbench.stats import simulate_predictions

_REPO = Path(__file__).resolve().parents[2]


#: pROC's aSAH data (source and licence: tests/data/README.md).
ASAH = _REPO / "tests" / "data" / "aSAH.tsv"


@pytest.fixture(autouse=True)
def _quiet_brainbench_warnings():
    from brainbench.errors import BrainbenchWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BrainbenchWarning)
        yield


@pytest.fixture(scope="session")
def asah() -> pd.DataFrame:
    if not ASAH.exists():
        pytest.skip(f"{ASAH} not available")
    return pd.read_csv(ASAH, sep="\t")


@pytest.fixture(scope="session")
def asah_predictions(asah) -> pd.DataFrame:
    """The aSAH markers as a predictions table: one model per marker, one row per patient."""
    rows = []
    for marker in ("wfns", "s100b", "ndka"):
        rows.append(
            pd.DataFrame(
                {
                    "model": marker,
                    "subject": [f"p{i:03d}" for i in range(len(asah))],
                    "y_true": asah["outcome"],
                    "score": asah[marker].astype(float),
                }
            )
        )
    return pd.concat(rows, ignore_index=True)


@pytest.fixture(scope="session")
def hier() -> pd.DataFrame:
    """Three models on 10 sites x 12 subjects x 2 sessions x 2 images."""
    return simulate_predictions(
        n_sites=10,
        subjects_per_site=12,
        sessions_per_subject=2,
        images_per_session=2,
        mu={"A": (1.0, 1.0), "B": (1.2, 0.8), "C": (2.0, 2.0)},
        sd_session=0.3,
        model_sd_site=0.3,
        model_sd_subject=0.3,
        seed=7,
    )


def cv_predictions(n=60, k=5, repeats=3, seeds=1, shift=0.0, seed=0) -> pd.DataFrame:
    """Repeated k-fold predictions of two models (B better by ``shift`` in logit)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    rows = []
    for r in range(repeats):
        folds = rng.permutation(np.arange(n) % k)
        for s in range(seeds):
            for model, mu in (("A", 1.0), ("B", 1.0 + shift)):
                margin = mu + rng.logistic(size=n)
                score = 1 / (1 + np.exp(-np.where(y == 1, margin, -margin)))
                rows.append(
                    pd.DataFrame(
                        {
                            "model": model,
                            "repeat": r,
                            "fold": folds,
                            "seed": s,
                            "subject": [f"s{i}" for i in range(n)],
                            "y_true": y,
                            "score": score,
                        }
                    )
                )
    return pd.concat(rows, ignore_index=True)
