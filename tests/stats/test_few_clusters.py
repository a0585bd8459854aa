"""With 2-3 sites the site-level interval is not estimable: the engine says so and reports the
subject-level interval conditional on those sites (issue 15)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from brainbench.cli import cli
from brainbench.stats import evaluate_predictions, model_data, simulate_predictions
from brainbench.stats._data import design_for
from brainbench.stats._io import infer_task


def _three_sites(hier: pd.DataFrame, k: int) -> pd.DataFrame:
    return hier[hier.site.isin([f"site{i:02d}" for i in range(k)])]


def test_three_sites_give_the_conditional_subject_interval(hier):
    (few,) = evaluate_predictions(
        _three_sites(hier, 3),
        ["accuracy"],
        positive="AD",
        models=["A"],
        clusters=["site", "subject"],
        resamples=200,
    )
    assert few.conditional_on == {"site": 3}
    assert few.clusters == {"subject": 36} and few.n_clusters == 36
    (note,) = [w for w in few.warnings if "not estimable" in w]
    assert "site-level interval is not estimable from 3 site(s)" in note
    assert "conditional on these 3 site(s)" in note
    assert few.ci_low < few.estimate < few.ci_high
    (four,) = evaluate_predictions(
        _three_sites(hier, 4),
        ["accuracy"],
        positive="AD",
        models=["A"],
        clusters=["site", "subject"],
        resamples=50,
    )
    assert four.conditional_on == {} and four.clusters["site"] == 4
    assert any("Only 4 site clusters" in w for w in four.warnings)


def test_subjects_are_resampled_within_their_site():
    df = simulate_predictions(n_sites=3, subjects_per_site=[10, 20, 30], seed=1)
    task = infer_task(df, positive="AD")
    md = model_data(df, "A", task, "subject")
    design, names = design_for(md, [], stratify=False, fixed=["site"])
    assert names == ["subject"]
    w = design.weights(500, np.random.default_rng(0))
    site_of_atom = np.empty(design.n_atoms, dtype=object)
    site_of_atom[design.row_atom] = md.frame["site"].to_numpy()
    for s, n in zip(["site00", "site01", "site02"], [10, 20, 30], strict=True):
        assert (w[:, site_of_atom == s].sum(axis=1) == n).all()


def test_conditional_interval_matches_the_stratified_variance():
    """Accuracy over 3 sites with sites fixed: Var = sum_s (n_s / N)^2 p_s (1 - p_s) / n_s
    (stratified sampling, Cochran 1977, eq. 5.3); the bootstrap SD matches it."""
    rng = np.random.default_rng(3)
    sizes, p = [40, 60, 100], [0.6, 0.75, 0.9]
    rows = []
    for s, (n, ps) in enumerate(zip(sizes, p, strict=True)):
        y = rng.integers(0, 2, n)
        correct = rng.random(n) < ps
        rows.append(
            pd.DataFrame(
                {
                    "model": "A",
                    "site": f"S{s}",
                    "subject": [f"S{s}-{i}" for i in range(n)],
                    "y_true": np.where(y == 1, "AD", "CN"),
                    "y_pred": np.where(correct == (y == 1), "AD", "CN"),
                }
            )
        )
    df = pd.concat(rows, ignore_index=True)
    (r,) = evaluate_predictions(
        df,
        ["accuracy"],
        positive="AD",
        unit="subject",
        clusters=["site"],
        resamples=4000,
        stratify=False,
    )
    assert r.conditional_on == {"site": 3}
    acc = (df["y_true"] == df["y_pred"]).groupby(df["site"]).mean().to_numpy()
    n_all = sum(sizes)
    var = sum((n / n_all) ** 2 * a * (1 - a) / n for n, a in zip(sizes, acc, strict=True))
    half = 1.959964 * np.sqrt(var)
    assert abs((r.ci_high - r.ci_low) / 2 / half - 1) < 0.1


def test_evaluate_cli_says_so(tmp_path, hier):
    path = tmp_path / "pred.tsv"
    _three_sites(hier, 2).to_csv(path, sep="\t", index=False)
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            str(path),
            "--positive",
            "AD",
            "--clusters",
            "site,subject",
            "--resamples",
            "100",
            "--metric",
            "accuracy",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "conditional on 2 sites" in result.output
    assert "site-level interval is not estimable from 2 site(s)" in result.output


def test_compare_and_ranks_do_not_resample_three_sites(hier):
    """`compare` (paired bootstrap) and the bootstrap ranks hold 2-3 sites fixed too."""
    import warnings

    from brainbench.errors import FewClustersWarning
    from brainbench.stats import bootstrap_ranks, compare_models

    few = _three_sites(hier, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (c,) = compare_models(
            few[few.model.isin(["A", "B"])],
            "accuracy",
            "bootstrap",
            positive="AD",
            clusters=["site", "subject"],
            resamples=200,
        )
    assert c.extra["conditional_on"] == {"site": 3}
    assert c.extra["clusters"] == {"subject": 36}
    assert any("site-level comparison is not estimable from 3 site(s)" in w for w in c.warnings)
    with pytest.warns(FewClustersWarning, match="site-level rank interval is not estimable"):
        ranks = bootstrap_ranks(
            few, "accuracy", positive="AD", clusters=["site", "subject"], resamples=100
        )
    assert ranks["conditional_on"] == {"site": 3}


def test_clusters_in_the_wrong_order_are_refused(hier):
    """Clusters are outer first: [subject, site] would nest sites in subjects and resample
    subjects as the outer level, a different (and wrong) interval; it is refused with the
    order to give."""
    from brainbench.errors import UserError

    for clusters in (["subject", "site"], ["site", "session", "subject"]):
        with pytest.raises(UserError, match="outer first"):
            evaluate_predictions(hier, ["accuracy"], positive="AD", clusters=clusters, resamples=20)
    # Site and scanner (or dataset) may nest either way round.
    evaluate_predictions(hier, ["accuracy"], positive="AD", clusters=["site"], resamples=20)
