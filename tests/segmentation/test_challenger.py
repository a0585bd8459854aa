"""Rank stability against challengeR (Wiesenfarth et al. 2021, Sci. Rep. 11:2369,
doi:10.1038/s41598-021-82017-6) on its example data.

R is not available to the test suite, and challengeR publishes no numeric bootstrap output
for its example (its README and vignettes show code and figures only). What can be checked:

1. The example data. challengeR's README generates them with R's ``set.seed(4)``/``runif``
   (task ``c_ideal``) and ``set.seed(1)``/``rnorm``/``plogis`` (task ``c_random``) and
   publishes the result as ``inst/extdata/data_matrix.csv``. :mod:`r_rng` replays R's
   generator; the values below are copied from that published file (15 significant
   digits), and the replay must match them to 1e-12.
2. The point ranking: ``aggregateThenRank(FUN = mean, ties.method = "min")``, larger is
   better; ``c_ideal`` is built so that A1 > A2 > ... > A5.
3. The bootstrap: the README's ``set.seed(1); bootstrap(ranking, nboot = 1000)`` on task
   ``c_random`` draws, for each of the 1000 samples, ``sample(cases, 50, replace = TRUE)``
   and re-ranks (challengeR's ``R/Bootstrap.R``). We replay those exact draws with R's
   generator and rank each sample with brainbench's ranking (``_rank``): the result must be
   identical to challengeR's procedure written out directly (means of the drawn cases, R's
   ``rank(-mean, ties.method = "min")``, Kendall's tau-b to the full ranking). Then
   :func:`rank_stability` with its own numpy draws must give the same rank distribution
   within Monte Carlo error: with 1000 resamples each a frequency has a standard error of at
   most 0.016, a difference of two independent estimates at most 0.022; the tolerance is
   0.07 (about 3 standard errors), and 0.05 for the mean Kendall's tau.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats as sps

from brainbench.segmentation import rank_stability
from brainbench.segmentation.statistics import _aggregate, _rank
from brainbench.stats import metric_info
from tests.segmentation.r_rng import RRandom

N = 50
ALGOS = ["A1", "A2", "A3", "A4", "A5"]
# (task, algorithm, case) -> value, from challengeR's inst/extdata/data_matrix.csv.
PUBLISHED = {
    ("c_ideal", "A1", 1): 0.938860999816097,
    ("c_ideal", "A1", 2): 0.97459288504906,
    ("c_ideal", "A1", 50): 0.970128914294764,
    ("c_ideal", "A2", 1): 0.822808462230023,
    ("c_ideal", "A3", 1): 0.732027621136513,
    ("c_ideal", "A4", 50): 0.624326279510278,
    ("c_ideal", "A5", 50): 0.51589159184834,
    ("c_random", "A1", 1): 0.705483050079144,
    ("c_random", "A1", 14): 0.328561169875717,
    ("c_random", "A2", 1): 0.86967699844823,
    ("c_random", "A2", 50): 0.736256080574072,
    ("c_random", "A3", 1): 0.706746230801863,
}


def example_tasks() -> dict[str, np.ndarray]:
    """The README's c_ideal and c_random tasks as (cases x algorithms) matrices."""
    r = RRandom(4)
    r.runif(N, 0.9, 1)  # strip: drawn by the README, unused
    bounds = [(0.9, 1), (0.8, 0.89), (0.7, 0.79), (0.6, 0.69), (0.5, 0.59)]
    ideal = np.column_stack([r.runif(N, a, b) for a, b in bounds])
    r = RRandom(1)
    # value=plogis(rnorm(5*n, 1.5, 1)) with alg_name = rep(A1..A5, each = n).
    rand = (1 / (1 + np.exp(-r.rnorm(5 * N, 1.5, 1)))).reshape(5, N).T
    return {"c_ideal": ideal, "c_random": rand}


def as_table(values: np.ndarray) -> pd.DataFrame:
    rows = []
    for i in range(values.shape[0]):
        for j, algo in enumerate(ALGOS):
            rows.append(
                dict(
                    model=algo,
                    site="challenge",
                    subject=f"case{i + 1}",
                    image=f"case{i + 1}",
                    label="task",
                    metric="dice",  # larger is better, in [0, 1], as the example values
                    value=values[i, j],
                    status="ok",
                )
            )
    return pd.DataFrame(rows)


def test_r_generator_replays_the_published_example_data():
    tasks = example_tasks()
    for (task, algo, case), value in PUBLISHED.items():
        got = tasks[task][case - 1, ALGOS.index(algo)]
        assert got == pytest.approx(value, rel=1e-12, abs=0), (task, algo, case)


def test_point_ranking_of_the_example():
    tasks = example_tasks()
    info = metric_info("dice")
    assert _rank(tasks["c_ideal"].mean(axis=0), info).tolist() == [1, 2, 3, 4, 5]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for task, values in tasks.items():
            res = rank_stability(as_table(values), metric="dice", label="task", n_resamples=0)
            means = values.mean(axis=0)
            expected = sps.rankdata(-means, method="min")
            assert [res.ranks[a] for a in ALGOS] == expected.tolist(), task
            assert [res.estimates[a] for a in ALGOS] == pytest.approx(means.tolist())


def challenger_bootstrap(values: np.ndarray, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """challengeR's procedure written out: per sample, each algorithm's mean over the drawn
    cases (merge() keeps duplicates), R's rank(-mean, ties.method = "min"), Kendall's tau."""
    full = sps.rankdata(-values.mean(axis=0), method="min")
    ranks = np.array([sps.rankdata(-values[d].mean(axis=0), method="min") for d in draws])
    taus = np.array([sps.kendalltau(full, r).statistic for r in ranks])
    return ranks, taus


def test_bootstrap_ranking_replays_challenger_and_matches_rank_stability():
    values = example_tasks()["c_random"]
    r = RRandom(1)  # set.seed(1) before bootstrap(nboot = 1000)
    draws = np.array([r.sample_index(N, N) for _ in range(1000)])
    ranks, taus = challenger_bootstrap(values, draws)
    # brainbench's ranking on the same draws (multiplicities of the cases) is identical.
    W = np.zeros((1000, N))
    np.add.at(W, (np.repeat(np.arange(1000), N), draws.ravel()), 1.0)
    ours = _rank(_aggregate(values, W, "mean"), metric_info("dice"))
    assert np.array_equal(ours, ranks)
    # rank_stability with its own draws: the same distribution within Monte Carlo error.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = rank_stability(
            as_table(values), metric="dice", label="task", levels=(), n_resamples=1000, seed=7
        )
    for j, algo in enumerate(ALGOS):
        expected = [np.mean(ranks[:, j] == k) for k in range(1, 6)]
        assert res.rank_frequencies[algo] == pytest.approx(expected, abs=0.07), algo
    assert res.kendall_tau["mean"] == pytest.approx(np.nanmean(taus), abs=0.05)
