"""The evidence sheet names the interval method chosen and the design regime it was chosen for
(`protocol.confidence.interval: calibrated`, issue 15)."""

from __future__ import annotations

import warnings
from pathlib import Path

from brainbench.report import write_report
from brainbench.stats import simulate_predictions
from brainbench.stats._interval_defaults import calibrated_choice

ROOT = Path(__file__).resolve().parents[2]


def test_sheet_names_the_calibrated_method_and_regime(tmp_path):
    df = simulate_predictions(
        n_sites=5, subjects_per_site=15, mu={"A": (1.0, 1.2), "B": (0.8, 0.9)}, seed=3
    )
    df.to_csv(tmp_path / "pred.csv", index=False)
    base = (ROOT / "spec/examples/sound-base.yaml").read_text()
    old = "clusters: [site, subject]}"
    assert old in base
    spec = tmp_path / "spec.yaml"
    spec.write_text(base.replace(old, "clusters: [site, subject], interval: calibrated}"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_report([tmp_path / "pred.csv"], tmp_path / "out", spec=spec, resamples=200)
    md = (tmp_path / "out" / "evidence.md").read_text()
    c = calibrated_choice("balanced_accuracy", 5, 15.0, "site")
    # The regime was confirmed: the sheet gives the confirmation run's coverage.
    conf = c.entry["confirmation"]
    assert (
        f"Interval method (calibrated): {c.method}, chosen for 4-7 sites, 10-39 subjects per "
        f"site (it covered {conf['coverage']['min']:.1%}-{conf['coverage']['max']:.1%} of "
        f"nominal 95% intervals in a confirmation run's {conf['cells']} simulated designs of "
        f"that regime ({conf['n_per_cell'][0]} data sets each), `{conf['source']}`"
    ) in md


def test_sheet_names_each_secondary_metrics_calibrated_method(tmp_path):
    """`calibrated` chooses per metric: the secondary metrics' intervals (here AUROC, 5 sites
    x 5 subjects: a regime flagged below the goal) are named with their method and regime
    beside their table, flag included."""
    df = simulate_predictions(
        n_sites=5, subjects_per_site=5, mu={"A": (1.0, 1.2), "B": (0.8, 0.9)}, seed=3
    )
    df.to_csv(tmp_path / "pred.csv", index=False)
    base = (ROOT / "spec/examples/sound-base.yaml").read_text()
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        base.replace(
            "clusters: [site, subject]}", "clusters: [site, subject], interval: calibrated}"
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_report([tmp_path / "pred.csv"], tmp_path / "out", spec=spec, resamples=100)
    md = (tmp_path / "out" / "evidence.md").read_text()
    c = calibrated_choice("auroc", 5, 5.0, "site")
    assert not c.entry["consistent_with_goal"]
    line = next(
        x for x in md.splitlines() if "Secondary metrics, interval method (calibrated)" in x
    )
    assert f"auroc: {c.method}, chosen for 4-7 sites, 1-9 subjects per site" in line
    assert "below the 94-96% goal: approximate" in line
