"""Demsar (2006, JMLR 7:1-30) section 3.2.2: four C4.5 variants on 14 data sets (Table 6)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from brainbench.errors import UserError
from brainbench.stats import rank_models
from brainbench.stats._rank import friedman, nemenyi_cd, rank_matrix

MODELS = ["C4.5", "C4.5+m", "C4.5+cf", "C4.5+m+cf"]
# Table 6: AUC (printed to 3 decimals) ...
AUC = np.array([
    [0.763, 0.768, 0.771, 0.798], [0.599, 0.591, 0.590, 0.569], [0.954, 0.971, 0.968, 0.967],
    [0.628, 0.661, 0.654, 0.657], [0.882, 0.888, 0.886, 0.898], [0.936, 0.931, 0.916, 0.931],
    [0.661, 0.668, 0.609, 0.685], [0.583, 0.583, 0.563, 0.625], [0.775, 0.838, 0.866, 0.875],
    [1.000, 1.000, 1.000, 1.000], [0.940, 0.962, 0.965, 0.962], [0.619, 0.666, 0.614, 0.669],
    [0.972, 0.981, 0.975, 0.975], [0.957, 0.978, 0.946, 0.970],
])  # fmt: skip
# ... and the ranks he printed. Row 13 (voting) prints ranks 2 and 3 for two AUCs both printed
# as 0.975: the unrounded AUCs differed. From the printed AUCs the two tie at 2.5.
PUBLISHED_RANKS = np.array([
    [4, 3, 2, 1], [1, 2, 3, 4], [4, 1, 2, 3], [4, 1, 3, 2], [4, 2, 3, 1], [1, 2.5, 4, 2.5],
    [3, 2, 4, 1], [2.5, 2.5, 4, 1], [4, 3, 2, 1], [2.5, 2.5, 2.5, 2.5], [4, 2.5, 1, 2.5],
    [3, 2, 4, 1], [4, 1, 2, 3], [3, 1, 4, 2],
])  # fmt: skip


@pytest.mark.published
def test_published_ranks_give_published_statistics():
    assert_allclose(PUBLISHED_RANKS.mean(0), [3.143, 2.000, 2.893, 1.964], atol=5e-4)
    fr, ff = friedman(PUBLISHED_RANKS, ties="demsar")  # Demsar's numbers: no tie correction
    assert round(fr.statistic, 2) == 9.28
    assert round(ff.statistic, 2) == 3.69
    assert ff.df == (3.0, 39.0)
    cd, q = nemenyi_cd(4, 14, 0.05)
    assert round(cd, 2) == 1.25
    assert round(q, 3) == 2.569  # Demsar's Table 5(a), k = 4
    assert round(nemenyi_cd(4, 14, 0.10)[1], 3) == 2.291


def test_ranks_recomputed_from_printed_aucs_differ_only_on_voting():
    ranks = rank_matrix(AUC)
    diff = np.flatnonzero(np.any(ranks != PUBLISHED_RANKS, axis=1))
    assert diff.tolist() == [12]  # the voting row
    assert ranks[12].tolist() == [4, 1, 2.5, 2.5]


def test_rank_models_from_printed_aucs_expects_recomputed_ranks():
    long = pd.DataFrame(
        [(f"d{i}", m, AUC[i, j]) for i in range(14) for j, m in enumerate(MODELS)],
        columns=["dataset", "model", "score"],
    )
    res = rank_models(long, stability_resamples=200, friedman_ties="demsar")
    assert_allclose(list(res.mean_ranks.values()), [44 / 14, 28 / 14, 41 / 14, 27 / 14])
    # With the recomputed ranks chi2_F = 9.857 (not 9.28), F_F = 3.987 (not 3.69).
    assert_allclose(res.friedman.statistic, 9.857142857142858, rtol=1e-12)
    assert_allclose(res.iman_davenport.statistic, 3.9866666666666, rtol=1e-9)
    assert round(res.nemenyi["cd"], 2) == 1.25
    assert res.models == MODELS and res.n_tasks == 14
    # Demsar: with CD = 1.25 only C4.5 vs C4.5+m+cf (3.143 - 1.929 = 1.21 < 1.25)... none at 0.05
    sig = {(p["a"], p["b"]) for p in res.pairwise if p["nemenyi_significant"]}
    assert sig == set()
    # Holm against the best (C4.5+m+cf): C4.5 is significantly worse (Demsar's conclusion).
    holm = {r["model"]: r for r in res.holm_vs_best}
    assert holm["C4.5"]["significant"] and not holm["C4.5+m"]["significant"]
    st = res.stability
    assert set(st["rank_distribution"]) == set(MODELS)
    assert -1 <= st["kendall_tau_mean"] <= 1
    d = res.to_dict()
    assert set(d["friedman"]) >= {"statistic", "p_value"} and "cd" in d["nemenyi"]


def test_lower_is_better_reverses_ranks():
    long = pd.DataFrame(
        {"task": ["t1", "t1", "t2", "t2"], "model": ["a", "b"] * 2, "score": [0.1, 0.2, 0.3, 0.5]}
    )
    assert rank_models(long, stability_resamples=0).mean_ranks == {"a": 2.0, "b": 1.0}
    res = rank_models(long, lower_is_better=True, stability_resamples=0)
    assert res.mean_ranks == {"a": 1.0, "b": 2.0}


def test_bad_score_tables():
    with pytest.raises(UserError, match="task"):
        rank_models(pd.DataFrame({"model": ["a"], "score": [1.0]}))
    missing = pd.DataFrame(
        {"task": ["t1", "t1", "t2"], "model": ["a", "b", "a"], "score": [1.0, 2.0, 3.0]}
    )
    with pytest.raises(UserError, match="no score"):
        rank_models(missing)


def test_bootstrap_ranks_on_predictions(hier):
    from brainbench.stats import bootstrap_ranks

    res = bootstrap_ranks(
        hier, "balanced_accuracy", positive="AD", clusters=["site", "subject"], resamples=300
    )
    assert res["full_ranks"]["C"] == 1.0  # C is the best model by construction
    assert res["p_best"]["C"] > 0.9
    for dist in res["rank_distribution"].values():
        assert sum(dist.values()) == pytest.approx(1.0)
    assert 0 < res["kendall_tau_mean"] <= 1
    assert res["p_better"]["C"]["A"] > 0.9
    assert res["p_better"]["A"]["C"] == pytest.approx(1 - res["p_better"]["C"]["A"])


def test_friedman_is_tie_corrected_by_default_as_scipy():
    from scipy.stats import friedmanchisquare

    ranks = rank_matrix(AUC)
    fr, _ = friedman(ranks)
    ref = friedmanchisquare(*AUC.T)
    assert fr.method == "friedman (tie-corrected)"
    assert_allclose(fr.statistic, ref.statistic, rtol=1e-12)
    assert_allclose(fr.p_value, ref.pvalue, rtol=1e-10)
    demsar, _ = friedman(ranks, ties="demsar")
    assert demsar.statistic < fr.statistic  # the uncorrected statistic is conservative
    no_ties = np.array([[1, 2, 3], [3, 1, 2], [1, 3, 2.0]])
    assert_allclose(friedman(no_ties)[0].statistic, friedman(no_ties, "demsar")[0].statistic)
    with pytest.raises(UserError, match="Friedman ties"):
        friedman(ranks, ties="none")
