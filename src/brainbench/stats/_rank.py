"""Ranking models across tasks or data sets (Demsar 2006) and rank stability.

Demsar 2006, "Statistical comparisons of classifiers over multiple data sets", JMLR 7:1-30
(jmlr.org/papers/v7/demsar06a.html), sections 3.2.2 (Friedman, Iman-Davenport, Nemenyi, Holm
against a control) and 3.1.3 (Wilcoxon for two). Rank stability follows challengeR
(Wiesenfarth et al. 2021, Sci. Rep. 11:2369, doi:10.1038/s41598-021-82017-6).
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
from scipy import stats as sps

from brainbench.errors import FewClustersWarning, SmallSampleWarning, TiesWarning, UserError
from brainbench.stats._compare import adjust_p_values
from brainbench.stats._results import RankResult, TestResult


def rank_matrix(scores: np.ndarray, lower_is_better: bool = False) -> np.ndarray:
    """Ranks within each row (task) of an ``N x k`` score matrix, 1 = best, ties averaged."""
    s = np.asarray(scores, dtype=float)
    return sps.rankdata(s if lower_is_better else -s, axis=1)


#: ``corrected``: Friedman's statistic divided by the tie correction (the default, as
#: scipy.stats.friedmanchisquare); ``demsar``: Demsar's (2006) formula without it.
FRIEDMAN_TIES = ("corrected", "demsar")


def friedman(ranks: np.ndarray, ties: str = "corrected") -> tuple[TestResult, TestResult]:
    """Friedman's test and the Iman-Davenport F statistic from an ``N x k`` rank matrix.

    chi2_F = 12 N / (k (k+1)) [sum_j R_j^2 - k (k+1)^2 / 4] with R_j the mean ranks
    (Friedman 1937, J. Am. Stat. Assoc. 32:675-701, doi:10.1080/01621459.1937.10503522; Demsar
    2006, section 3.2.2), chi2 with k - 1 df. With ``ties="corrected"`` (default) chi2_F is
    divided by C = 1 - sum_i sum_g (t_g^3 - t_g) / (N k (k^2 - 1)), t_g the sizes of the tie
    groups within task i (Hollander, Wolfe & Chicken 2014, *Nonparametric Statistical
    Methods*, 3rd ed., Wiley, section 7.1; as scipy.stats.friedmanchisquare); C = 1 without
    ties. ``ties="demsar"`` keeps Demsar's uncorrected statistic, conservative under ties.
    F_F = (N - 1) chi2_F / (N (k - 1) - chi2_F) with (k - 1, (k - 1)(N - 1)) df (Iman &
    Davenport 1980, Commun. Stat. A 9:571-595, doi:10.1080/03610928008827904).
    """
    if ties not in FRIEDMAN_TIES:
        raise UserError(f"Friedman ties: use one of {', '.join(FRIEDMAN_TIES)}; got '{ties}'.")
    N, k = ranks.shape
    R = ranks.mean(axis=0)
    chi2 = 12 * N / (k * (k + 1)) * (np.sum(R**2) - k * (k + 1) ** 2 / 4)
    method = "friedman (Demsar 2006, no tie correction)"
    if ties == "corrected":
        t = sum(
            float(np.sum(c**3 - c)) for c in (np.unique(r, return_counts=True)[1] for r in ranks)
        )
        c = 1 - t / (N * k * (k * k - 1))
        chi2 = chi2 / c if c > 0 else float("nan")
        method = "friedman (tie-corrected)"
    p_chi = float(sps.chi2.sf(chi2, k - 1))
    den = N * (k - 1) - chi2
    ff = float((N - 1) * chi2 / den) if den > 0 else float("inf")
    d1, d2 = k - 1, (k - 1) * (N - 1)
    p_f = float(sps.f.sf(ff, d1, d2)) if np.isfinite(ff) else 0.0
    return (
        TestResult(float(chi2), p_chi, method, df=float(k - 1)),
        TestResult(ff, p_f, "iman-davenport", df=(float(d1), float(d2))),
    )


def nemenyi_cd(k: int, N: int, alpha: float = 0.05) -> tuple[float, float]:
    """Nemenyi critical difference CD = q_alpha sqrt(k (k+1) / (6 N)) (Nemenyi 1963; Demsar
    2006, section 3.2.2), with q_alpha the studentized range quantile (k groups, infinite df)
    divided by sqrt(2). Returns ``(cd, q_alpha)``."""
    q = float(sps.studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2))
    return q * np.sqrt(k * (k + 1) / (6 * N)), q


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b between two rankings (Kendall 1938, Biometrika 30:81-93,
    doi:10.1093/biomet/30.1-2.81)."""
    return float(sps.kendalltau(a, b).statistic)


def rank_stability(
    scores: np.ndarray,
    models: list[str],
    *,
    lower_is_better: bool = False,
    resamples: int = 1000,
    seed: int = 0,
) -> dict:
    """Bootstrap the tasks: mean-rank ranking in each resample, its distribution per model and
    Kendall's tau to the full-data ranking (Wiesenfarth et al. 2021, challengeR)."""
    N = scores.shape[0]
    rng = np.random.default_rng(seed)
    full = sps.rankdata(rank_matrix(scores, lower_is_better).mean(axis=0))
    ranks = rank_matrix(scores, lower_is_better)
    idx = rng.integers(0, N, (resamples, N))
    mean_b = ranks[idx].mean(axis=1)  # (B, k)
    rank_b = sps.rankdata(mean_b, axis=1)
    taus = np.array([kendall_tau(full, r) for r in rank_b])
    taus = taus[np.isfinite(taus)]
    dist = {
        m: {str(r): float(np.mean(rank_b[:, j] == r)) for r in np.unique(rank_b[:, j])}
        for j, m in enumerate(models)
    }
    return {
        "resamples": resamples,
        "seed": seed,
        "rank_distribution": dist,
        "rank_ci": {
            m: [float(np.quantile(rank_b[:, j], 0.025)), float(np.quantile(rank_b[:, j], 0.975))]
            for j, m in enumerate(models)
        },
        "kendall_tau_mean": float(taus.mean()) if len(taus) else None,
        "kendall_tau_median": float(np.median(taus)) if len(taus) else None,
    }


def rank_models(
    table: pd.DataFrame,
    *,
    lower_is_better: bool = False,
    alpha: float = 0.05,
    stability_resamples: int = 1000,
    seed: int = 0,
    friedman_ties: str = "corrected",
) -> RankResult:
    """Rank models over tasks: Friedman, Iman-Davenport, Nemenyi, Holm against the best,
    pairwise Wilcoxon (Holm-corrected) and bootstrap rank stability.

    Parameters
    ----------
    table
        Long table with columns ``model``, ``task`` (or ``dataset``) and ``score`` (one row per
        model and task), or a wide matrix (tasks as rows, models as columns).
    lower_is_better
        Rank the lowest score first (losses, errors).
    friedman_ties
        ``corrected`` (default, as scipy and autorank) or ``demsar`` (Demsar 2006's formula,
        no tie correction); see :func:`friedman`.
    """
    wide = _wide(table)
    models = [str(c) for c in wide.columns]
    scores = wide.to_numpy(dtype=float)
    N, k = scores.shape
    if k < 2:
        raise UserError(f"Ranking needs at least two models; found {k}.")
    if N < 2:
        raise UserError(f"Ranking needs at least two tasks or data sets; found {N}.")
    notes: list[str] = []
    ranks = rank_matrix(scores, lower_is_better)
    R = ranks.mean(axis=0)
    fr, idav = friedman(ranks, friedman_ties)
    cd, q = nemenyi_cd(k, N, alpha)
    if N < 10 or k < 3:
        msg = (
            f"Friedman's chi-square approximation is rough with N={N} tasks and k={k} models "
            "(Demsar 2006 suggests N > 10, k > 5); Iman-Davenport is less conservative."
        )
        notes.append(msg)
        warnings.warn(msg, SmallSampleWarning, stacklevel=2)
    if any(len(set(row)) < k for row in scores):
        msg = "Ties within tasks: tied models share the average rank."
        notes.append(msg)
        warnings.warn(msg, TiesWarning, stacklevel=2)
    se = np.sqrt(k * (k + 1) / (6 * N))
    pairwise = []
    w_p = []
    for i, j in itertools.combinations(range(k), 2):
        d = scores[:, i] - scores[:, j]
        if np.all(d == 0):
            wp, ws = 1.0, float("nan")
        else:
            res = sps.wilcoxon(d, zero_method="wilcox")
            wp, ws = float(res.pvalue), float(res.statistic)
        w_p.append(wp)
        pairwise.append(
            {
                "a": models[i],
                "b": models[j],
                "rank_difference": float(R[i] - R[j]),
                "nemenyi_significant": bool(abs(R[i] - R[j]) > cd),
                "nemenyi_p": float(
                    min(
                        1.0, sps.studentized_range.sf(abs(R[i] - R[j]) / se * np.sqrt(2), k, np.inf)
                    )
                ),
                "wilcoxon_statistic": ws,
                "wilcoxon_p": wp,
            }
        )
    for row, pa in zip(pairwise, adjust_p_values(w_p, "holm"), strict=True):
        row["wilcoxon_p_holm"] = float(pa)
    best = int(np.argmin(R))
    z = [(R[j] - R[best]) / se for j in range(k) if j != best]
    p = [float(2 * sps.norm.sf(abs(v))) for v in z]
    holm = adjust_p_values(p, "holm")
    others = [j for j in range(k) if j != best]
    holm_rows = [
        {
            "model": models[j],
            "best": models[best],
            "z": float(zz),
            "p": pp,
            "p_holm": float(ph),
            "significant": bool(ph < alpha),
        }
        for j, zz, pp, ph in zip(others, z, p, holm, strict=True)
    ]
    stability = (
        rank_stability(
            scores,
            models,
            lower_is_better=lower_is_better,
            resamples=stability_resamples,
            seed=seed,
        )
        if stability_resamples
        else None
    )
    return RankResult(
        models=models,
        n_tasks=N,
        mean_ranks={m: float(r) for m, r in zip(models, R, strict=True)},
        friedman=fr,
        iman_davenport=idav,
        nemenyi={"cd": float(cd), "alpha": alpha, "q_alpha": q},
        pairwise=pairwise,
        holm_vs_best=holm_rows,
        stability=stability,
        lower_is_better=lower_is_better,
        warnings=notes,
    )


def _wide(table: pd.DataFrame) -> pd.DataFrame:
    cols = set(table.columns)
    if {"model", "score"} <= cols:
        task_col = "task" if "task" in cols else ("dataset" if "dataset" in cols else None)
        if task_col is None:
            raise UserError("The scores table needs a 'task' (or 'dataset') column.")
        scores = pd.to_numeric(table["score"], errors="coerce")
        if scores.isna().any() or not np.isfinite(scores).all():
            raise UserError("The 'score' column must hold finite numbers.")
        dup = table.duplicated([task_col, "model"])
        if dup.any():
            r = table.loc[dup].iloc[0]
            raise UserError(
                f"Model {r['model']!r} has several scores for {task_col} {r[task_col]!r}: give "
                "one score per model and task (average seeds first)."
            )
        wide = table.assign(score=scores).pivot(index=task_col, columns="model", values="score")
        wide = wide[list(pd.unique(table["model"]))]
    else:
        wide = table
    if wide.isna().any().any():
        missing = wide.isna().stack()
        t, mdl = missing[missing].index[0]
        raise UserError(
            f"Model {mdl!r} has no score for task {t!r}: every model needs a score on every task."
        )
    return wide


def bootstrap_ranks(
    df: pd.DataFrame,
    metric: str,
    *,
    task=None,
    positive: str | None = None,
    unit: str = "image",
    clusters: tuple[str, ...] | list[str] = (),
    resamples: int = 1000,
    seed: int = 0,
    partition: str | None = None,
) -> dict:
    """Rank stability of the models of one predictions table under the hierarchical bootstrap.

    Every model is evaluated on the same resamples (shared cluster multiplicities, so models
    must be paired); each resample ranks the models (1 = best, ties averaged). Returns the
    rank distribution per model, the probability of ranking first, 95% rank intervals, the
    probability that each model beats each other one (``p_better``, a significance map's data)
    and Kendall's tau between each resample's ranking and the full-data ranking (challengeR's
    bootstrap rank stability; Wiesenfarth et al. 2021, doi:10.1038/s41598-021-82017-6).
    """
    from brainbench.stats._bootstrap import Statistic
    from brainbench.stats._compare import pair_models
    from brainbench.stats._data import check_metric, iter_groups, model_data
    from brainbench.stats._evaluate import estimable_design, run_blocks
    from brainbench.stats._io import check_predictions, infer_task
    from brainbench.stats._metrics import get_metric

    if resamples < 1:
        # resamples: 0 is a legitimate choice (point estimates only), not a crash.
        raise UserError(
            f"Rank stability needs bootstrap resamples; with {resamples} (no bootstrap) only "
            "the ranks on the full data are given. Ask for resamples (e.g. 1000) to get it."
        )
    df = check_predictions(df)
    m = get_metric(metric)
    task = task or infer_task(df, positive=positive, metrics=[metric])
    parts = list(iter_groups(df, None, [partition] if partition else None))
    _, _, rows = parts[0]
    models = [str(x) for x in pd.unique(rows["model"])]
    if len(models) < 2:
        raise UserError("Rank stability needs at least two models.")
    data = [model_data(rows[rows["model"] == x], x, task, unit) for x in models]
    for d in data:
        check_metric(d, m)
    data = [data[0]] + [pair_models(data[0], d, m).b for d in data[1:]]
    design, _, conditional_on, why = estimable_design(data[0], list(clusters), stratify=True)
    if why:
        warnings.warn(why.replace("interval", "rank interval", 1), FewClustersWarning, stacklevel=2)
    stats = [Statistic(design, run_blocks(d, m, design)) for d in data]
    sign = -1.0 if m.higher_is_better else 1.0
    full = sps.rankdata([sign * s.point() for s in stats])
    rng = np.random.default_rng(seed)
    values = []
    for W in design.iter_weights(resamples, rng):
        values.append(np.column_stack([s.from_weights(W) for s in stats]))
    vals = np.vstack(values)
    ok = np.all(np.isfinite(vals), axis=1)
    if not ok.any():
        raise UserError(
            f"Rank stability is not estimable: '{metric}' is undefined in every resample "
            "(one class only in the test set?)."
        )
    ranks = sps.rankdata(sign * vals[ok], axis=1)
    taus = np.array([kendall_tau(full, r) for r in ranks])
    taus = taus[np.isfinite(taus)]
    return {
        "metric": metric,
        "resamples": resamples,
        "n_degenerate": int((~ok).sum()),
        "seed": seed,
        "clusters": design.n_clusters,
        # Too few outer clusters: the ranks' variation is over units within them.
        "conditional_on": conditional_on,
        "full_ranks": {x: float(r) for x, r in zip(models, full, strict=True)},
        "rank_distribution": {
            x: {str(r): float(np.mean(ranks[:, j] == r)) for r in np.unique(ranks[:, j])}
            for j, x in enumerate(models)
        },
        "p_best": {
            x: float(np.mean(ranks[:, j] == ranks.min(axis=1))) for j, x in enumerate(models)
        },
        "rank_ci": {
            x: [float(np.quantile(ranks[:, j], 0.025)), float(np.quantile(ranks[:, j], 0.975))]
            for j, x in enumerate(models)
        },
        "kendall_tau_mean": float(taus.mean()) if len(taus) else None,
        # P(row model beats column model) over resamples: the data of a significance map.
        "p_better": {
            x: {
                y: float(
                    np.mean(ranks[:, i] < ranks[:, j]) + 0.5 * np.mean(ranks[:, i] == ranks[:, j])
                )
                for j, y in enumerate(models)
                if j != i
            }
            for i, x in enumerate(models)
        },
    }
