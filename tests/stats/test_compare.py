"""Paired comparisons: formulas by hand, statsmodels agreement, pairing and decisions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats as sps

from brainbench.errors import BrainbenchWarning, UserError
from brainbench.stats import COMPARISONS, adjust_p_values, compare_models, simulate_predictions
from brainbench.stats._compare import kfold_structure, mixed_frame, pair_models
from brainbench.stats._data import model_data
from brainbench.stats._io import Task
from brainbench.stats._metrics import METRICS

from .conftest import cv_predictions

ISSUE_METHODS = {"paired-t", "corrected-t", "corrected-repeated-kfold-t", "delong", "mcnemar",
                 "bootstrap", "mixed", "bayes", "wilcoxon", "probability"}  # fmt: skip


def test_registry_holds_the_spec_methods():
    assert set(COMPARISONS) == ISSUE_METHODS
    from typing import get_args

    from brainbench.spec.models import ComparisonMethod

    assert set(get_args(ComparisonMethod)) == ISSUE_METHODS


def _fold_differences(df, metric="accuracy"):
    m = METRICS.get(metric)
    out = []
    for _, g in df.groupby(["repeat", "fold"]):
        vals = {}
        for model, gm in g.groupby("model"):
            y = gm["y_true"].to_numpy()
            pred = (gm["score"].to_numpy() >= 0.5).astype(int)
            from brainbench.stats._metrics import Columns

            vals[model] = m(Columns(y=y, pred=pred))
        out.append(vals["A"] - vals["B"])
    return np.array(out)


def test_corrected_t_by_hand():
    df = cv_predictions(n=60, k=5, repeats=4, shift=0.3, seed=1)
    d = _fold_differences(df)
    J = len(d)
    assert J == 20
    t = d.mean() / np.sqrt((1 / J + 1 / 4) * d.var(ddof=1))
    (res,) = compare_models(df, "accuracy", "corrected-t", unit="subject")
    assert_allclose(res.estimate, d.mean(), rtol=1e-12)
    assert_allclose(res.statistic, t, rtol=1e-12)
    assert_allclose(res.p_value, 2 * sps.t.sf(abs(t), J - 1), rtol=1e-10)
    assert res.df == J - 1 and res.extra["test_train_ratio"] == pytest.approx(0.25)
    (bf,) = compare_models(df, "accuracy", "corrected-repeated-kfold-t", unit="subject")
    assert_allclose(bf.statistic, t, rtol=1e-12)  # same formula with J = k r
    assert bf.extra["k"] == 5 and bf.extra["repeats"] == 4
    (naive,) = compare_models(df, "accuracy", "paired-t", unit="subject")
    assert_allclose(naive.statistic, sps.ttest_1samp(d, 0).statistic, rtol=1e-12)
    assert abs(naive.statistic) > abs(res.statistic)


def test_seeds_are_averaged_within_a_split():
    df = cv_predictions(n=40, k=4, repeats=2, seeds=3, seed=2)
    (res,) = compare_models(df, "accuracy", "corrected-t", unit="subject")
    assert res.extra["n_splits"] == 8
    (p,) = compare_models(df, "accuracy", "probability", unit="subject")
    assert p.extra["n_runs"] == 24
    assert 0 <= p.extra["p_a_better"] <= 1


def test_bayes_correlated_t_by_hand():
    df = cv_predictions(n=60, k=5, repeats=4, shift=0.2, seed=3)
    d = _fold_differences(df)
    n, rho, rope = len(d), 1 / 5, 0.02
    post = sps.t(n - 1, loc=d.mean(), scale=np.sqrt((1 / n + rho / (1 - rho)) * d.var(ddof=1)))
    (res,) = compare_models(df, "accuracy", "bayes", unit="subject", rope=rope)
    assert_allclose(res.extra["p_left"], post.cdf(-rope), rtol=1e-10)
    assert_allclose(res.extra["p_right"], post.sf(rope), rtol=1e-10)
    assert_allclose(sum(res.extra[k] for k in ("p_left", "p_rope", "p_right")), 1.0)
    assert res.p_value is None and res.p_adjusted is None
    assert res.decision in {"superior", "inferior", "equivalent", "inconclusive"}


def test_corrected_t_needs_kfold_or_ratio():
    df = cv_predictions(n=40, k=4, repeats=2, seed=4)
    df = df[~((df["repeat"] == 0) & (df["subject"] == "s0"))]  # folds no longer partition
    with pytest.raises(UserError, match="test-train-ratio"):
        compare_models(df, "accuracy", "corrected-t", unit="subject")
    (res,) = compare_models(df, "accuracy", "corrected-t", unit="subject", test_train_ratio=0.25)
    assert res.extra["test_train_ratio"] == 0.25


def test_kfold_structure_detection():
    df = cv_predictions(n=30, k=3, repeats=2, seed=5)
    md = model_data(df[df.model == "A"], "A", Task("classification", ("0", "1")), "subject")
    assert kfold_structure(md) == (3, 2)


def test_mcnemar_matches_statsmodels(hier):
    from statsmodels.stats.contingency_tables import mcnemar

    df = hier[hier.model.isin(["A", "B"])]
    (res,) = compare_models(df, "accuracy", "mcnemar", positive="AD")
    a = (df[df.model == "A"]["y_pred"] == df[df.model == "A"]["y_true"]).to_numpy()
    b = (df[df.model == "B"]["y_pred"] == df[df.model == "B"]["y_true"]).to_numpy()
    table = [[np.sum(a & b), np.sum(a & ~b)], [np.sum(~a & b), np.sum(~a & ~b)]]
    ref = mcnemar(table, exact=False, correction=True)
    assert_allclose(res.statistic, ref.statistic, rtol=1e-12)
    assert_allclose(res.p_value, ref.pvalue, rtol=1e-12)
    assert_allclose(res.estimate, a.mean() - b.mean(), rtol=1e-12)


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")
def test_mixed_agrees_with_statsmodels_fitted_directly(hier):
    import statsmodels.formula.api as smf

    df = hier[hier.model.isin(["A", "C"])]
    (res,) = compare_models(df, "accuracy", "mixed", positive="AD", clusters=["site", "subject"])
    a = df[df.model == "A"].reset_index(drop=True)
    c = df[df.model == "C"].reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "d": (a.y_pred == a.y_true).astype(float) - (c.y_pred == c.y_true).astype(float),
            "site": a.site,
            "subject": a.subject,
        }
    )
    model = smf.mixedlm(
        "d ~ 1",
        frame,
        groups=frame["site"],
        re_formula="1",  # the site intercept (without it, vc_formula drops it)
        vc_formula={"subject": "0 + C(subject)"},
    )
    start = model.fit(reml=True, method=["nm"]).params
    fit = model.fit(reml=True, start_params=start, method=["bfgs"], gtol=1e-10)
    assert_allclose(res.estimate, fit.fe_params.iloc[0], rtol=1e-6)
    v = res.extra["variances"]
    assert_allclose(
        [v["residual"], v["site"], v["subject"]],
        [fit.scale, fit.cov_re.iloc[0, 0], fit.vcomp[0]],
        rtol=1e-5,
    )
    # t test with Satterthwaite's df (tests/stats/test_mixed.py checks the df itself)
    se = res.estimate / res.statistic
    assert res.extra["df_method"] == "satterthwaite" and 1 < res.df < res.n_clusters
    assert_allclose(res.p_value, 2 * sps.t.sf(abs(res.statistic), res.df), rtol=1e-12)
    q = sps.t.ppf(0.975, res.df)
    assert_allclose([res.ci_low, res.ci_high], [res.estimate - q * se, res.estimate + q * se])
    assert_allclose(res.estimate, frame["d"].mean(), atol=1e-2)
    assert res.n_clusters == 10


def test_mixed_frame_balanced_accuracy_contributions_average_to_the_metric(hier):
    task = Task("classification", ("CN", "AD"))
    a = model_data(hier[hier.model == "A"], "A", task, "image")
    b = model_data(hier[hier.model == "B"], "B", task, "image")
    pair = pair_models(a, b, METRICS.get("balanced_accuracy"))
    frame = mixed_frame(pair, ["site"])
    m = METRICS.get("balanced_accuracy")
    assert_allclose(frame["d"].mean(), m(a.columns()) - m(b.columns()), rtol=1e-12)


def test_paired_bootstrap_difference(hier):
    df = hier[hier.model.isin(["A", "C"])]
    (res,) = compare_models(
        df,
        "balanced_accuracy",
        "bootstrap",
        positive="AD",
        clusters=["site", "subject"],
        resamples=1000,
    )
    m = METRICS.get("balanced_accuracy")
    task = Task("classification", ("CN", "AD"))
    a = model_data(df[df.model == "A"], "A", task, "image")
    c = model_data(df[df.model == "C"], "C", task, "image")
    assert_allclose(res.estimate, m(a.columns()) - m(c.columns()))
    assert res.ci_low < res.estimate < res.ci_high
    assert res.p_value < 0.05 and res.decision == "inferior"


def test_unpaired_models_are_refused(hier):
    df = hier[hier.model.isin(["A", "B"])]
    df = df[~((df.model == "B") & (df.subject == df.subject.iloc[0]))]
    with pytest.raises(UserError, match="not paired"):
        compare_models(df, "balanced_accuracy", "bootstrap", positive="AD", resamples=10)


def test_metric_not_decomposable_for_mixed(hier):
    with pytest.raises(UserError, match="per-unit"):
        compare_models(hier, "auroc", "mixed", positive="AD", clusters=["site"])


def test_single_test_set_refused_by_fold_tests(hier):
    with pytest.raises(UserError, match="at least 2"):
        compare_models(hier, "accuracy", "corrected-t", positive="AD")


def test_unknown_method_suggests():
    with pytest.raises(UserError, match="Did you mean 'corrected-t'"):
        COMPARISONS.get("corected-t")


def test_holm_and_bh_match_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = np.array([0.01, 0.04, 0.03, 0.005, 0.2, 0.5])
    for ours, theirs in (("holm", "holm"), ("bh", "fdr_bh")):
        assert_allclose(adjust_p_values(p, ours), multipletests(p, method=theirs)[1], rtol=1e-12)
    assert np.isnan(adjust_p_values([0.01, None], "holm")[1])
    assert_allclose(adjust_p_values([0.01, None], "holm")[0], 0.01)


def test_correction_applies_across_pairs(hier):
    res = compare_models(hier, "accuracy", "mcnemar", positive="AD", correction="holm")
    assert len(res) == 3
    raw = [r.p_value for r in res]
    assert_allclose([r.p_adjusted for r in res], adjust_p_values(raw, "holm"))
    ref = compare_models(hier, "accuracy", "mcnemar", positive="AD", reference="A")
    assert [(r.a, r.b) for r in ref] == [("B", "A"), ("C", "A")]


def test_decisions_against_a_margin():
    from brainbench.stats import ComparisonResult, decide

    def res(lo, hi, p=0.001, higher=True):
        return ComparisonResult(
            "a", "b", "m", "bootstrap", (lo + hi) / 2, lo, hi, 0.0, p, higher_is_better=higher
        )

    assert decide(res(0.02, 0.08), alpha=0.05, margin=0.01, hypothesis="superiority") == "superior"
    assert (
        decide(res(0.0, 0.08, p=0.2), alpha=0.05, margin=0.0, hypothesis="superiority")
        == "inconclusive"
    )
    assert (
        decide(res(-0.005, 0.03), alpha=0.05, margin=0.01, hypothesis="non-inferiority")
        == "non-inferior"
    )
    assert (
        decide(res(-0.004, 0.004), alpha=0.05, margin=0.01, hypothesis="equivalence")
        == "equivalent"
    )
    # Lower is better (e.g. brier): a negative difference favours a.
    assert (
        decide(res(-0.08, -0.02, higher=False), alpha=0.05, margin=0.01, hypothesis="superiority")
        == "superior"
    )


def test_groupby_breakdown_per_site(hier):
    res = compare_models(
        hier[hier.model.isin(["A", "B"])],
        "accuracy",
        "bootstrap",
        positive="AD",
        clusters=["site", "subject"],
        groupby=["site"],
        resamples=200,
    )
    assert len(res) == 10 and {r.group["site"] for r in res} == set(hier.site)
    assert all(r.extra["clusters"] == {"subject": 12} for r in res)


def test_corrected_t_refuses_a_fixed_holdout_test_set(hier):
    # Five training folds all predicting the same test subjects.
    df = pd.concat([hier[hier.model.isin(["A", "B"])].assign(fold=f) for f in range(5)])
    with pytest.raises(UserError, match="same units"):
        compare_models(df, "accuracy", "corrected-t", positive="AD", test_train_ratio=0.25)
    (res,) = compare_models(
        df, "accuracy", "bootstrap", positive="AD", resamples=200, clusters=["site", "subject"]
    )
    assert res.n_runs == 5


def test_mixed_notes_an_unidentifiable_level_and_a_boundary_variance(hier):
    df = hier[hier.model.isin(["A", "B"])]
    # One row per subject: the subject variance is the residual's; left out with a note.
    (res,) = compare_models(
        df, "accuracy", "mixed", positive="AD", unit="subject", clusters=["site", "subject"]
    )
    assert any("subject level has one observation per group" in w for w in res.warnings)
    assert res.extra["variances"]["subject"] == 0.0 and res.df > 0
    (res,) = compare_models(df, "accuracy", "mixed", positive="AD", clusters=["site", "subject"])
    assert res.extra["at_boundary"] == ["subject"] and res.extra["variances"]["subject"] == 0
    assert any("The subject variance was estimated 0" in w for w in res.warnings)


def _calibrated_difference(df, **kw):
    """The one balanced-accuracy comparison by the paired bootstrap, calibrated."""
    kw = {"positive": "AD", "clusters": ["site", "subject"], "resamples": 100} | kw
    (r,) = compare_models(df, "balanced_accuracy", "bootstrap", interval="calibrated", **kw)
    return r


def _fake_paired_entry(monkeypatch, sites, subjects, recommended):
    """The paired table's entry for every design, whatever the committed table holds."""
    from brainbench.stats import _interval_defaults as defaults

    entry = {
        "sites": sites,
        "subjects_per_site": subjects,
        "recommended": recommended,
        "meets_goal": True,
        "why": "",
        "source": "fake paired run",
    }
    monkeypatch.setattr(defaults, "paired_choice", lambda *a, **k: entry)


def _same_model_twice(n_sites, subjects_per_site):
    """Two models with the same predictions: their difference has no variance at all."""
    df = simulate_predictions(n_sites=n_sites, subjects_per_site=subjects_per_site, seed=1)
    return pd.concat([df, df.assign(model="B")], ignore_index=True)


def test_an_undefined_studentised_difference_says_why():
    df = _same_model_twice(8, 10)
    kw = dict(positive="AD", clusters=["site", "subject"], resamples=100)
    for interval in ("cr2", "wild-cluster-webb", "cluster-bootstrap-t"):
        with pytest.warns(BrainbenchWarning):
            (r,) = compare_models(df, "balanced_accuracy", "bootstrap", interval=interval, **kw)
        assert np.isnan(r.ci_low) and r.p_value is None and r.decision == "inconclusive"
        assert any(
            w.startswith(f"No {interval} interval of the difference: ")
            and "standard error of the difference in 'balanced_accuracy'" in w
            for w in r.warnings
        ), r.warnings


def test_calibrated_difference_falls_back_where_its_choice_is_undefined(monkeypatch):
    _fake_paired_entry(monkeypatch, ">= 8 sites", "10-39 subjects per site", "cr2")
    with pytest.warns(BrainbenchWarning):
        r = _calibrated_difference(_same_model_twice(8, 10))
    assert r.extra["interval"] == "percentile" and (r.ci_low, r.ci_high) == (0.0, 0.0)
    assert r.extra["chosen_for"] == (
        ">= 8 sites, 10-39 subjects per site (cr2 undefined for these data)"
    )
    assert any("The calibrated choice for" in w and "percentile" in w for w in r.warnings)


def test_calibrated_difference_outside_the_paired_table_says_so(monkeypatch):
    """A regime the paired grid never simulated (here: no entry at all) gets the paired
    bootstrap's percentile interval, and the result says it is not calibrated there."""
    from brainbench.stats import _interval_defaults as defaults

    monkeypatch.setattr(defaults, "paired_choice", lambda *a, **k: None)
    df = simulate_predictions(n_sites=8, subjects_per_site=5, mu={"A": (1, 1), "B": (0.5, 0.5)})
    r = _calibrated_difference(df)
    assert r.extra["interval"] == "percentile" and "chosen_for" not in r.extra
    assert any(
        "no design in >= 8 sites, 1-9 subjects per site" in w and "not calibrated" in w
        for w in r.warnings
    ), r.warnings


def test_paired_bootstrap_names_units_without_a_site_id():
    df = simulate_predictions(n_sites=5, subjects_per_site=10, mu={"A": (1, 1), "B": (0, 0)})
    df.loc[df.subject.isin(["sub00000", "sub00001"]), "site"] = np.nan
    with pytest.warns(BrainbenchWarning):
        (r,) = compare_models(
            df, "accuracy", "bootstrap", positive="AD", clusters=["site", "subject"], resamples=50
        )
    assert r.n_clusters == 7
    assert any("2 images have no site id" in w for w in r.warnings), r.warnings


def test_calibrated_difference_at_another_level_or_alpha_says_so(monkeypatch):
    _fake_paired_entry(monkeypatch, ">= 8 sites", "1-9 subjects per site", "cr2")
    df = simulate_predictions(n_sites=8, subjects_per_site=5, mu={"A": (1, 1), "B": (0.5, 0.5)})
    r = _calibrated_difference(df, resamples=50)
    assert not any("judged 95% intervals" in w for w in r.warnings)
    for extra in ({"level": 0.9}, {"alpha": 0.01}):
        r = _calibrated_difference(df, resamples=50, **extra)
        assert r.extra["interval"] == "cr2"
        assert any("judged 95% intervals and tests at alpha 0.05" in w for w in r.warnings)


def test_mixed_refuses_clusters_in_the_wrong_order(hier):
    with pytest.raises(UserError, match="outer first"):
        compare_models(hier, "accuracy", "mixed", positive="AD", clusters=["subject", "site"])


def test_paired_bootstrap_names_a_class_confined_to_few_sites():
    df = simulate_predictions(n_sites=6, subjects_per_site=10, mu={"A": (1, 1), "B": (0, 0)})
    df["y_true"] = np.where(df.site.isin(["site00", "site01"]), df.y_true, "CN")
    with pytest.warns(BrainbenchWarning):
        r = _calibrated_difference(df, resamples=50)
    assert any("Class AD occurs at only 2 of the 6 sites" in w for w in r.warnings)
