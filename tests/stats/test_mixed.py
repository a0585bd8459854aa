"""The O(n) REML fit of nested random intercepts and its Satterthwaite df (stats/_mixed.py),
checked against statsmodels, the balanced-design closed form and a dense-matrix computation."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from brainbench.stats import compare_models, evaluate_predictions, model_data, simulate_predictions
from brainbench.stats._compare import mixed_frame, pair_models
from brainbench.stats._intervals import mixed_interval
from brainbench.stats._io import infer_task
from brainbench.stats._metrics import METRICS
from brainbench.stats._mixed import fit_mixed


def _unbalanced(seed: int, sites: int = 7, sd_site: float = 0.7, sd_subject: float = 1.0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(sites):
        site_effect = rng.normal(0, sd_site)
        for j in range(int(rng.integers(2, 8))):
            subject_effect = rng.normal(0, sd_subject)
            for _ in range(int(rng.integers(1, 5))):
                rows.append((s, 100 * s + j, 1 + site_effect + subject_effect + rng.normal()))
    return pd.DataFrame(rows, columns=["site", "subject", "d"])


def _fit(df: pd.DataFrame, levels: list[str]):
    return fit_mixed(df["d"].to_numpy(), [df[c].to_numpy() for c in levels], levels)


def _dense(df: pd.DataFrame, levels: list[str], variances: list[float]):
    """V and the V_k = Z_k Z_k' (residual first) as dense matrices."""
    mats = [np.eye(len(df))]
    for c in levels:
        ids = df[c].to_numpy()
        mats.append((ids[:, None] == ids[None, :]).astype(float))
    return sum(v * m for v, m in zip(variances, mats, strict=True)), mats


def _gls_se(df: pd.DataFrame, levels: list[str], variances: list[float]) -> float:
    V, _ = _dense(df, levels, variances)
    one = np.ones(len(df))
    return float(1 / np.sqrt(one @ np.linalg.solve(V, one)))


@pytest.mark.parametrize("levels", [["site", "subject"], ["site"]])
def test_matches_statsmodels_on_unbalanced_data(levels):
    df = _unbalanced(1)
    fit = _fit(df, levels)
    vc = {"subject": "0 + C(subject)"} if "subject" in levels else None
    model = smf.mixedlm("d ~ 1", df, groups=df["site"], vc_formula=vc, re_formula="1")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # statsmodels' default gradient search stops short (or on the boundary) here;
        # Nelder-Mead then BFGS from its optimum converges.
        start = model.fit(reml=True, method=["nm"]).params
        ref = model.fit(reml=True, start_params=start, method=["bfgs"], gtol=1e-10)
    assert ref.converged
    ref_var = [ref.scale, float(ref.cov_re.iloc[0, 0]), *np.atleast_1d(ref.vcomp)]
    got_var = [fit.variances[k] for k in ["residual", *levels]]
    np.testing.assert_allclose(got_var, ref_var, rtol=1e-7)
    assert fit.beta.estimate == pytest.approx(float(ref.fe_params.iloc[0]), abs=1e-7)
    # The SE of beta is sqrt((1'V^-1 1)^-1) at the REML estimates (lme4's vcov); statsmodels'
    # bse_fe inverts the joint information of beta and the variances instead, so the
    # reference is the GLS SE at statsmodels' own estimates.
    assert fit.beta.se == pytest.approx(_gls_se(df, levels, ref_var), rel=1e-5)
    assert fit.converged and not fit.at_boundary and 2 < fit.beta.df < df["site"].nunique()


def test_balanced_design_is_the_t_test_on_site_means():
    rng = np.random.default_rng(3)
    S, J, R = 6, 5, 3  # sites, subjects per site, rows per subject
    site = np.repeat(np.arange(S), J * R)
    subject = np.repeat(np.arange(S * J), R) % J  # ids repeat across sites: nested by site
    y = (
        0.3
        + rng.normal(0, 0.8, S)[site]
        + rng.normal(0, 1.0, S * J)[np.repeat(np.arange(S * J), R)]
        + rng.normal(0, 1.0, S * J * R)
    )
    fit = fit_mixed(y, [site, subject], ["site", "subject"])
    # ANOVA mean squares of the balanced nested design (Searle, Casella & McCulloch 1992,
    # section 4.7) and their expectations sigma^2 + R tau_sub^2 + J R tau_site^2.
    cell = y.reshape(S, J, R)
    ms_e = ((cell - cell.mean(2, keepdims=True)) ** 2).sum() / (S * J * (R - 1))
    subj_means, site_means = cell.mean(2), cell.mean((1, 2))
    ms_sub = R * ((subj_means - site_means[:, None]) ** 2).sum() / (S * (J - 1))
    ms_site = J * R * ((site_means - y.mean()) ** 2).sum() / (S - 1)
    anova = [ms_e, (ms_sub - ms_e) / R, (ms_site - ms_sub) / (J * R)]
    assert min(anova) > 0
    np.testing.assert_allclose(
        [fit.variances[k] for k in ("residual", "subject", "site")], anova, rtol=1e-9
    )
    assert fit.beta.se**2 == pytest.approx(ms_site / len(y), rel=1e-10)
    assert fit.beta.df == pytest.approx(S - 1, abs=1e-8)
    ref = sps.ttest_1samp(site_means, 0.0)
    np.testing.assert_allclose(fit.beta.interval(0.9), ref.confidence_interval(0.9), atol=1e-8)
    assert fit.beta.p_value == pytest.approx(ref.pvalue, abs=1e-8)
    assert fit.beta.estimate == pytest.approx(y.mean(), abs=1e-12)
    # balanced: the plain mean is the GLS estimate, with the same SE and df
    assert (fit.mean.estimate, fit.mean.se, fit.mean.df) == pytest.approx(
        (fit.beta.estimate, fit.beta.se, fit.beta.df), rel=1e-9
    )


def _dense_satterthwaite(df: pd.DataFrame, levels: list[str], variances: list[float]):
    """Gradient of the REML deviance and Satterthwaite df from explicit n x n matrices:
    dD/dphi_k = tr(P V_k) - y'P V_k P y, d2D/dphi_k dphi_l = -tr(P V_k P V_l) +
    2 y'P V_k P V_l P y (Harville 1977, section 4), g_k = 1'V^-1 V_k V^-1 1 / a^2."""
    V, mats = _dense(df, levels, variances)
    y = df["d"].to_numpy()
    one = np.ones(len(y))
    Vi = np.linalg.inv(V)
    a = one @ Vi @ one
    P = Vi - np.outer(Vi @ one, one @ Vi) / a
    Py = P @ y
    grad = np.array([np.trace(P @ M) - Py @ M @ Py for M in mats])
    H = np.array(
        [[-np.trace(P @ Mk @ P @ Ml) + 2 * Py @ Mk @ P @ Ml @ Py for Ml in mats] for Mk in mats]
    )
    g = np.array([(one @ Vi @ M @ Vi @ one) / a**2 for M in mats])
    A = 2 * np.linalg.inv(H)
    # the plain mean: Var = 1'V 1 / n^2, linear in the variances with coefficients s
    s = np.array([one @ M @ one for M in mats]) / len(y) ** 2
    mean = (np.sqrt(one @ V @ one) / len(y), 2 * (s @ variances) ** 2 / (s @ A @ s))
    return grad, 2 * (1 / a) ** 2 / (g @ A @ g), mean


def _dense_deviance(df: pd.DataFrame, levels: list[str], variances: np.ndarray) -> float:
    """-2 REML log-likelihood (without 2 pi) from explicit matrices."""
    V, _ = _dense(df, levels, list(variances))
    y, one = df["d"].to_numpy(), np.ones(len(df))
    a = one @ np.linalg.solve(V, one)
    r = y - (one @ np.linalg.solve(V, y)) / a
    return float(np.linalg.slogdet(V)[1] + np.log(a) + r @ np.linalg.solve(V, r))


def test_df_by_finite_differences_of_a_dense_deviance():
    """Satterthwaite's df with the Hessian of the REML deviance and the gradient of
    Var(beta) by central differences of dense-matrix functions (no formula shared)."""
    df = _unbalanced(8, sites=6)
    levels = ["site", "subject"]
    fit = _fit(df, levels)
    phi = np.array([fit.variances[k] for k in ["residual", *levels]])
    h = 1e-4 * phi
    m = len(phi)
    H = np.empty((m, m))
    for i in range(m):
        for j in range(m):
            ei, ej = np.eye(m)[i] * h[i], np.eye(m)[j] * h[j]
            f = [
                _dense_deviance(df, levels, phi + si * ei + sj * ej)
                for si, sj in ((1, 1), (1, -1), (-1, 1), (-1, -1))
            ]
            H[i, j] = (f[0] - f[1] - f[2] + f[3]) / (4 * h[i] * h[j])

    def var_beta(p):
        return 1 / (
            np.ones(len(df)) @ np.linalg.solve(_dense(df, levels, list(p))[0], np.ones(len(df)))
        )

    g = np.array(
        [(var_beta(phi + e) - var_beta(phi - e)) / (2 * e[i]) for i, e in enumerate(np.diag(h))]
    )
    df_fd = 2 * var_beta(phi) ** 2 / (g @ (2 * np.linalg.inv(H)) @ g)
    assert not fit.at_boundary
    assert fit.beta.df == pytest.approx(df_fd, rel=1e-6)  # differences' error: about 1e-7


@pytest.mark.parametrize("seed", [2, 5])
def test_df_equals_a_dense_matrix_computation(seed):
    df = _unbalanced(seed, sites=6)
    levels = ["site", "subject"]
    fit = _fit(df, levels)
    assert not fit.at_boundary
    variances = [fit.variances[k] for k in ["residual", *levels]]
    grad, df_dense, (se_mean, df_mean) = _dense_satterthwaite(df, levels, variances)
    np.testing.assert_allclose(grad, 0.0, atol=1e-8)  # the REML optimum
    assert fit.beta.df == pytest.approx(df_dense, rel=1e-8)
    assert fit.mean.estimate == pytest.approx(df["d"].mean(), rel=1e-12)
    assert (fit.mean.se, fit.mean.df) == pytest.approx((se_mean, df_mean), rel=1e-8)
    assert fit.mean.se != pytest.approx(fit.beta.se, rel=1e-4)  # unbalanced: not the GLS


def test_a_component_at_zero_is_dropped_and_named():
    rng = np.random.default_rng(0)
    site = np.repeat(np.arange(8), 12)
    subject = np.repeat(np.arange(48), 2)
    # Site means pulled to the grand mean: the REML site variance is 0.
    y = rng.normal(size=96) + rng.normal(0, 0.8, 48)[subject]
    y -= np.bincount(site, y)[site] / 12
    fit = fit_mixed(y, [site, subject], ["site", "subject"])
    assert fit.at_boundary == ("site",) and fit.variances["site"] == 0.0
    df = pd.DataFrame({"d": y, "subject": subject})
    reduced = _fit(df, ["subject"])
    assert (fit.beta.estimate, fit.beta.se, fit.beta.df) == pytest.approx(
        (reduced.beta.estimate, reduced.beta.se, reduced.beta.df)
    )
    _, df_dense, _ = _dense_satterthwaite(
        df, ["subject"], [fit.variances["residual"], fit.variances["subject"]]
    )
    assert fit.beta.df == pytest.approx(df_dense, rel=1e-8)


def test_unidentifiable_levels_are_dropped():
    y = np.random.default_rng(1).normal(size=40)
    site = np.repeat(np.arange(8), 5)
    one_row_each = np.arange(40)
    fit = fit_mixed(y, [site, one_row_each], ["site", "subject"])
    assert fit.not_identifiable == ("subject",)
    alone = fit_mixed(y, [site], ["site"])
    assert (fit.beta.df, fit.beta.se) == pytest.approx((alone.beta.df, alone.beta.se))
    # No random effect left: the one-sample t test with n - 1 df.
    flat = fit_mixed(y, [np.zeros(40)], ["site"])
    assert flat.beta.df == pytest.approx(39, abs=1e-8)
    np.testing.assert_allclose(
        flat.beta.interval(), sps.ttest_1samp(y, 0).confidence_interval(), atol=1e-10
    )
    with pytest.raises(ValueError):
        fit_mixed(np.ones(5), [np.arange(5)], ["site"])


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    sds=st.tuples(st.sampled_from([0.0, 0.01, 1.0, 30.0]), st.sampled_from([0.0, 0.1, 1, 30])),
    shift=st.floats(-50, 50),
    scale=st.floats(0.1, 10),
)
def test_invariant_to_row_order_shift_and_scale(seed, sds, shift, scale):
    df = _unbalanced(seed, 5, *sds)
    levels = ["site", "subject"]
    base = _fit(df, levels)
    assert base.converged and np.isfinite(base.beta.df)
    perm = df.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    perm["d"] = perm["d"] * scale + shift
    moved = _fit(perm, levels)
    assert moved.at_boundary == base.at_boundary
    assert moved.beta.estimate == pytest.approx(
        base.beta.estimate * scale + shift, abs=1e-6 * scale
    )
    assert moved.beta.se == pytest.approx(base.beta.se * scale, rel=1e-6)
    assert moved.beta.df == pytest.approx(base.beta.df, rel=1e-6)
    assert moved.mean.se == pytest.approx(base.mean.se * scale, rel=1e-6)
    assert moved.mean.df == pytest.approx(base.mean.df, rel=1e-6)


def test_mixed_interval_balanced_is_the_t_interval_of_site_means():
    rng = np.random.default_rng(11)
    S, J, R = 5, 4, 3
    site = np.repeat(np.arange(S), J * R)
    subject = np.repeat(np.arange(S * J), R)
    u = np.abs(
        rng.normal(0, 0.5, S)[site]
        + rng.normal(0, 0.7, S * J)[subject]
        + rng.normal(size=S * J * R)
    )
    rows = np.arange(len(u))
    lo, hi, p = mixed_interval(
        [(u, np.ones(len(u)), rows, 1.0)], [site, subject], ["site", "subject"], level=0.9
    )
    assert not fit_mixed(u, [site, subject], ["site", "subject"]).at_boundary
    ref = sps.ttest_1samp(u.reshape(S, -1).mean(1), 0.0)
    np.testing.assert_allclose((lo, hi), ref.confidence_interval(0.9), atol=1e-8)
    assert p == pytest.approx(ref.pvalue, abs=1e-8)


def test_mixed_satterthwaite_in_evaluate_and_compare_is_the_fit_of_the_contributions():
    df = simulate_predictions(
        n_sites=6,
        subjects_per_site=8,
        sessions_per_subject=2,
        mu={"A": (1, 1.2), "B": (0.8, 0.9)},
        seed=4,
    )
    task = infer_task(df, positive="AD")
    clusters = ["site", "subject"]
    (r,) = evaluate_predictions(
        df,
        ["balanced_accuracy"],
        positive="AD",
        models=["A"],
        unit="session",
        clusters=clusters,
        interval="mixed-satterthwaite",
    )
    metric = METRICS.get("balanced_accuracy")
    md = model_data(df[df.model == "A"], "A", task, "session")
    values, mask = metric.per_unit(md.columns())
    f = md.frame[mask]
    fit = fit_mixed(values[mask], [f["site"].to_numpy(), f["subject"].to_numpy()], clusters)
    assert r.estimate == pytest.approx(fit.mean.estimate, abs=1e-12)
    assert (r.ci_low, r.ci_high) == pytest.approx(fit.mean.interval(), abs=1e-10)
    assert r.interval == "mixed-satterthwaite"
    (c,) = compare_models(
        df,
        "balanced_accuracy",
        "bootstrap",
        positive="AD",
        unit="session",
        clusters=clusters,
        interval="mixed-satterthwaite",
    )
    mb = model_data(df[df.model == "B"], "B", task, "session")
    d = mixed_frame(pair_models(md, mb, metric), clusters)
    fit = fit_mixed(d["d"].to_numpy(), [d[k].to_numpy() for k in clusters], clusters)
    assert c.estimate == pytest.approx(d["d"].mean(), abs=1e-12)
    assert (c.ci_low, c.ci_high) == pytest.approx(fit.mean.interval(), abs=1e-10)
    assert c.p_value == pytest.approx(fit.mean.p_value, abs=1e-10)
