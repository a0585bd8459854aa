"""`brainbench plan` and protocol.planning: hand computations, a simulation, D306 reading it."""

from __future__ import annotations

import json
import math
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.stats import norm

from brainbench.cli import cli, main
from brainbench.spec import SpecError, load_spec
from brainbench.validate.data_rules import plan_from_spec

from .test_data_rules import cohort_rows, fired, make_ctx

SPEC = """\
brainbench: 1
id: t
version: 1.0.0
title: t
task: {{type: {type}, target: {target}{classes}}}
cohorts:
  - {{id: dev, role: development, source: {{format: tsv, path: dev.tsv}}}}
hierarchy: {{site: site, subject: participant_id, session: session_id}}
splits: {{group: subject, test: {{method: holdout, size: 0.2}}, seed: 3}}
protocol:
  primary_metric: {metric}
  unit_of_analysis: {unit}
  confidence: {{clusters: [site, subject]}}
  comparison: {{method: bootstrap, alpha: 0.05}}
{planning}"""


def write_spec(
    tmp_path,
    planning: str = "",
    *,
    metric: str = "balanced_accuracy",
    unit: str = "subject",
    regression: bool = False,
):
    kind = "regression" if regression else "classification"
    target = "age" if regression else "diagnosis"
    classes = "" if regression else ", classes: [CN, AD]"
    text = SPEC.format(
        type=kind,
        target=target,
        classes=classes,
        metric=metric,
        unit=unit,
        planning=textwrap.indent(planning, "  "),
    )
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    cohort_rows(60).to_csv(tmp_path / "dev.tsv", sep="\t", index=False)
    return path


def test_planning_left_out_keeps_the_spec_hash(tmp_path):
    plain = load_spec(write_spec(tmp_path))
    assert "planning" not in plain.spec.model_dump()["protocol"]
    default = load_spec(write_spec(tmp_path, "planning: {site_icc: 0.05}\n"))
    assert default.sha256 == plain.sha256  # a field at its default changes nothing
    other = load_spec(write_spec(tmp_path, "planning: {site_icc: 0.1}\n"))
    assert other.sha256 != plain.sha256
    assert other.spec.model_dump()["protocol"]["planning"]["site_icc"] == 0.1


def test_plan_from_the_spec_matches_a_hand_computation(tmp_path):
    path = write_spec(tmp_path, "planning: {test_subjects: 200, test_sites: 4}\n")
    p = plan_from_spec(load_spec(path))
    se = math.sqrt((0.8 * 0.2 / 100 + 0.8 * 0.2 / 100) / 4)  # Brodersen 2010, 100 per class
    deff = 1 + (50 - 1) * 0.05  # Kish: 4 sites of 50, ICC 0.05
    assert p.se == pytest.approx(se) and p.deff == pytest.approx(deff)
    assert p.half_width == pytest.approx(norm.ppf(0.975) * se * math.sqrt(deff))
    z = norm.ppf(0.975) + norm.ppf(0.8)
    assert p.mdd == pytest.approx(z * se * math.sqrt(deff) * math.sqrt(2 * (1 - 0.5)))
    result = CliRunner().invoke(cli, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    assert f"{p.half_width:.4g}" in result.output and "Kish 1965" in result.output
    # The interval `calibrated` would use for 4 sites of 50 subjects (the table's choice).
    from brainbench.stats._interval_defaults import calibrated_choice

    c = calibrated_choice("balanced_accuracy", 4, 50.0, "site")
    assert (
        f"Interval method: `interval: calibrated` uses {c.method} for balanced_accuracy, "
        "chosen for 4-7 sites, >= 40 subjects per site" in result.output
    )


def test_plan_assumptions_come_from_the_spec(tmp_path):
    planning = (
        "planning: {value: 0.7, test_subjects: 90, sessions_per_subject: 3, subject_icc: 0.3,"
        " model_correlation: 0.8, power: 0.9, prevalence: 0.3}\n"
    )
    p = plan_from_spec(load_spec(write_spec(tmp_path, planning, metric="accuracy", unit="session")))
    n = 270
    assert p.size.startswith("270 sessions (189/81 per class)")
    se = math.sqrt(0.7 * 0.3 / n)
    deff = 1 + (3 - 1) * 0.3
    assert p.deff == pytest.approx(deff)
    z = norm.ppf(0.975) + norm.ppf(0.9)
    assert p.mdd == pytest.approx(z * se * math.sqrt(deff) * math.sqrt(2 * 0.2))


def test_planned_half_width_matches_a_clustered_simulation(tmp_path):
    """Accuracy over 4 sites x 50 subjects whose site-level accuracy is Beta(a, b) with mean
    0.8 and ICC 1 / (a + b + 1) = 0.05 (beta-binomial): the SD of the observed accuracy is
    the planned SE * sqrt(deff)."""
    icc, v, sites, m = 0.05, 0.8, 4, 50
    path = write_spec(tmp_path, f"planning: {{test_subjects: {sites * m}, test_sites: {sites}}}\n")
    p = plan_from_spec(load_spec(path.parent / path.name))
    total = (1 - icc) / icc  # a + b
    rng = np.random.default_rng(1)
    site_p = rng.beta(v * total, (1 - v) * total, size=(20_000, sites))
    acc = rng.binomial(m, site_p).sum(axis=1) / (sites * m)
    path.write_text(path.read_text().replace("balanced_accuracy", "accuracy"))
    p = plan_from_spec(load_spec(path))
    assert p.half_width / norm.ppf(0.975) == pytest.approx(acc.std(), rel=0.03)


def test_d306_and_plan_data_read_protocol_planning(tmp_path):
    rows = cohort_rows(300, sessions=1)
    extra = "comparison: {method: bootstrap, margin: 0.01}\nplanning: {site_icc: 0.2}\n"
    ctx = make_ctx(tmp_path, rows, clusters="[site, subject]", extra=extra)
    found = {f.path: f for f in fired("D306", ctx)}
    assert "site: 6 clusters, ICC 0.2" in found["protocol.primary_metric"].message
    result = CliRunner().invoke(
        cli, ["plan", str(tmp_path / "spec.yaml"), "--data", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    (test_set,) = json.loads(result.output)["test_sets"]
    assert "ICC 0.2" in test_set["deff_text"] and test_set["deff"] > 1
    assert f"{test_set['mdd']:.3g}" in found["protocol.comparison.margin"].message


def test_plan_errors_say_what_to_do(tmp_path, capsys):
    def run(path):
        with pytest.raises(SystemExit) as info:
            main(["plan", str(path)])
        return info.value.code, capsys.readouterr().err

    status, err = run(write_spec(tmp_path))
    assert status == 2 and "protocol.planning.test_subjects is not set" in err and "--data" in err
    path = write_spec(tmp_path, "planning: {test_subjects: 50}\n", metric="mae", regression=True)
    status, err = run(path)
    assert status == 2 and "give protocol.planning.error_sd" in err
    with pytest.raises(SpecError, match=r"planning\.value 1\.2"):
        load_spec(write_spec(tmp_path, "planning: {value: 1.2}\n"))
    with pytest.raises(SpecError, match=r"give planning\.error_sd"):
        load_spec(write_spec(tmp_path, "planning: {value: 3}\n", metric="mae", regression=True))


def test_impossible_planned_designs_are_refused(tmp_path, capsys):
    """More sites than subjects (a design effect below 1), or a prevalence that leaves a class
    without a unit (the metric undefined), is a planning mistake, not a design to plan."""
    with pytest.raises(SpecError, match=r"test_sites 10 exceeds test_subjects 5"):
        load_spec(write_spec(tmp_path, "planning: {test_subjects: 5, test_sites: 10}\n"))
    path = write_spec(tmp_path, "planning: {test_subjects: 4, test_sites: 2, prevalence: 0.1}\n")
    with pytest.raises(SystemExit) as info:
        main(["plan", str(path)])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert "0 subjects of class AD" in err and "prevalence 0.1" in err


def test_planned_interval_follows_the_outer_cluster_level(tmp_path):
    """The interval line says what `evaluate` would do with the spec's clusters: with the
    subject as the outer level it is the percentile interval, not the site-level choice for
    protocol.planning.test_sites."""
    path = write_spec(tmp_path, "planning: {test_subjects: 100, test_sites: 5}\n")
    path.write_text(path.read_text().replace("clusters: [site, subject]", "clusters: [subject]"))
    result = CliRunner().invoke(cli, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    assert "Interval method: `interval: calibrated` uses percentile (outer level subject" in (
        result.output
    )
    path.write_text(path.read_text().replace("clusters: [subject]", "clusters: [scanner, subject]"))
    result = CliRunner().invoke(cli, ["plan", str(path)])
    assert result.exit_code == 0, result.output
    assert "depends on the number of scanners" in result.output


def test_a_minimal_detectable_difference_beyond_the_range_is_called_so(tmp_path):
    """8 sites of 10 subjects at site ICC 0.99, power 0.99, models correlated -0.9: no
    difference of balanced accuracies (at most 1 apart) is detectable, and the plan says so
    instead of printing 1.18 alone."""
    planning = (
        "planning: {test_subjects: 79, test_sites: 8, site_icc: 0.99, power: 0.99,"
        " model_correlation: -0.9}\n"
    )
    result = CliRunner().invoke(cli, ["plan", str(write_spec(tmp_path, planning))])
    assert result.exit_code == 0, result.output
    assert "exceeds the range of balanced_accuracy (1): no difference is detectable" in (
        result.output
    )
