"""Data rules D300-D307: each fires on its example and not on the fixed data."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats.contingency import association

from brainbench.cli import cli
from brainbench.spec import load_spec
from brainbench.split import make_splits, write_split_file
from brainbench.validate.data_rules import (
    cramers_v_corrected,
    design_effect,
    load_data_context,
    metric_standard_error,
)
from brainbench.validate.findings import Severity
from brainbench.validate.rule import get_rule

SPEC = """\
brainbench: 1
id: t
version: 1.0.0
title: t
task: {{type: {type}, target: {target}{classes}}}
cohorts:
{cohorts}
hierarchy: {{site: site, subject: participant_id, session: session_id}}
splits:
  group: {group}
  stratify: {stratify}
  test: {test}
  validation: {{method: {validation}}}
  seed: 3
{file}protocol:
  primary_metric: {metric}
  unit_of_analysis: subject
  confidence: {{method: hierarchical-bootstrap, level: 0.95, clusters: {clusters}}}
{extra}"""


def cohort_rows(
    n: int = 200,
    *,
    sites: int = 6,
    p_ad: float | list[float] = 0.5,
    age_gap: float = 0.0,
    sessions: int = 2,
    seed: int = 0,
    prefix: str = "sub-",
):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n):
        site = s % sites
        p = p_ad[site] if isinstance(p_ad, list) else p_ad
        dx = "AD" if rng.random() < p else "CN"
        age = rng.normal(72 + (age_gap if dx == "AD" else 0), 6)
        sex = ["F", "M"][s % 2]
        for k in range(sessions):
            rows.append(
                {
                    "participant_id": f"{prefix}{s:04d}",
                    "session_id": f"ses-M{12 * k:02d}",
                    "diagnosis": dx,
                    "age": round(age + k, 1),
                    "sex": sex,
                    "site": f"S{site}",
                    "image": f"img/{prefix}{s:04d}_{k}.nii.gz",
                }
            )
    return pd.DataFrame(rows)


def make_ctx(
    tmp_path,
    dev: pd.DataFrame,
    ext: pd.DataFrame | None = None,
    *,
    type="classification",
    target="diagnosis",
    group="subject",
    stratify="[diagnosis]",
    test="{method: kfold, folds: 5}",
    validation="none",
    metric="balanced_accuracy",
    clusters="[subject]",
    extra="",
    split_file=None,
):
    dev.to_csv(tmp_path / "dev.tsv", sep="\t", index=False)
    cohorts = "  - {id: dev, role: development, source: {format: tsv, path: dev.tsv}}"
    if ext is not None:
        ext.to_csv(tmp_path / "ext.tsv", sep="\t", index=False)
        cohorts += "\n  - {id: ext, role: external-test, source: {format: tsv, path: ext.tsv}}"
    classes = ", classes: [CN, AD]" if type == "classification" else ""
    file = f"  file: {{path: {split_file}}}\n" if split_file else ""
    text = SPEC.format(
        type=type,
        target=target,
        classes=classes,
        cohorts=cohorts,
        group=group,
        stratify=stratify,
        test=test,
        validation=validation,
        file=file,
        metric=metric,
        clusters=clusters,
        extra=textwrap.indent(textwrap.dedent(extra), "  "),
    )
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return load_data_context(load_spec(path))


def fired(rule_id, ctx):
    found = list(get_rule(rule_id).check(ctx))
    # The cohorts of these tests list image paths that do not exist: D301 says so once.
    return [f for f in found if "do not exist" not in f.message]


# --------------------------------------------------------------------------- context


def test_load_data_context_generates_splits_and_applies_include(tmp_path):
    dev = cohort_rows(40)
    dev.loc[0, "diagnosis"] = "MCI"
    ctx = make_ctx(tmp_path, dev)
    assert ctx.splits_generated and ctx.split_file is None
    assert set(ctx.splits.columns) >= {"cohort", "subject", "partition", "fold"}
    assert len(ctx.cohort) == 80


def test_load_data_context_reads_the_pinned_split_file(tmp_path):
    dev = cohort_rows(40)
    ctx = make_ctx(tmp_path, dev)
    write_split_file(ctx.splits, tmp_path / "s.tsv")
    ctx2 = make_ctx(tmp_path, dev, split_file="s.tsv")
    assert not ctx2.splits_generated and ctx2.split_file == tmp_path / "s.tsv"
    assert len(ctx2.splits) == len(ctx.splits)


def test_a_split_that_cannot_be_made_is_a_finding(tmp_path):
    ctx = make_ctx(tmp_path, cohort_rows(3), test="{method: kfold, folds: 5}")
    assert ctx.splits is None
    (f,) = [f for f in fired("D300", ctx) if "cannot-split" in f.message]
    assert "Cannot make 5 folds" in f.message and f.line is not None


# --------------------------------------------------------------------------- D300


def test_d300_reports_reading_findings_with_rows(tmp_path):
    dev = cohort_rows(20)
    dev.loc[1, "sex"] = "M" if dev.loc[0, "sex"] == "F" else "F"
    ctx = make_ctx(tmp_path, dev)
    (f,) = fired("D300", ctx)
    assert f.rule == "D300" and f.severity is Severity.ERROR
    assert "cohort/subject-value-changes" in f.message
    assert f.file == str(tmp_path / "dev.tsv") and f.line == 2 and f.column == 1


# --------------------------------------------------------------------------- D301


def test_d301_subject_on_both_sides_names_the_split_file_row(tmp_path):
    dev = cohort_rows(30)
    ctx = make_ctx(tmp_path, dev)
    assert fired("D301", ctx) == []
    splits = ctx.splits.copy()
    s = splits.astype({"partition": "string"})
    first_test = s.index[(s["partition"] == "test") & (s["fold"] == 0)][0]
    subject = s.loc[first_test, "subject"]
    # move the subject's later session to train: the classic wrong split
    rows = s.index[(s["subject"] == subject) & (s["fold"] == 0)]
    s.loc[rows[-1], "partition"] = "train"
    write_split_file(s, tmp_path / "s.tsv")
    ctx = make_ctx(tmp_path, dev, split_file="s.tsv")
    (f,) = fired("D301", ctx)
    assert f.severity is Severity.ERROR and subject in f.message
    assert f.file == str(tmp_path / "s.tsv") and f.line is not None
    assert "in test, train" in f.message


def test_d301_same_ids_across_cohorts(tmp_path):
    dev, ext = cohort_rows(30), cohort_rows(10, seed=5)
    ctx = make_ctx(tmp_path, dev, ext)
    (f,) = fired("D301", ctx)
    assert f.severity is Severity.WARNING and "dev, ext" in f.message
    ctx = make_ctx(tmp_path, dev, cohort_rows(10, seed=5, prefix="ext-"))
    assert fired("D301", ctx) == []


def test_d301_same_image_content_under_different_ids(tmp_path):
    dev, ext = cohort_rows(20, sessions=1), cohort_rows(5, sessions=1, prefix="ext-")
    (tmp_path / "img").mkdir()
    for p in [*dev["image"], *ext["image"]]:
        (tmp_path / p).write_bytes(b"")  # empty files never match
    ctx = make_ctx(tmp_path, dev, ext)
    assert fired("D301", ctx) == []
    for i, p in enumerate([*dev["image"], *ext["image"]]):
        (tmp_path / p).write_bytes(f"scan {i}".encode())
    assert fired("D301", make_ctx(tmp_path, dev, ext)) == []
    (tmp_path / ext["image"].iloc[0]).write_bytes(b"scan 3")  # a dev scan, renamed
    (f,) = fired("D301", make_ctx(tmp_path, dev, ext))
    assert f.severity is Severity.ERROR and "identical content" in f.message
    assert "ext/ext-0000" in f.message and "dev/sub-0003" in f.message


def test_d301_reports_missing_image_files(tmp_path):
    ctx = make_ctx(tmp_path, cohort_rows(10, sessions=1))
    (f,) = list(get_rule("D301").check(ctx))
    assert "10 image file(s) of the cohort table do not exist" in f.message
    assert f.severity is Severity.WARNING and f.line == 2


def test_d301_site_split_across_partitions(tmp_path):
    dev = cohort_rows(60)
    ctx = make_ctx(tmp_path, dev, group="site", test="{method: kfold, folds: 3}")
    assert fired("D301", ctx) == []
    s = ctx.splits.astype({"partition": "string"})
    i = s.index[(s["partition"] == "test") & (s["fold"] == 0)][0]
    # one subject of a test site moved to train: the site is cut (the subject stays whole)
    subj = s.loc[i, "subject"]
    s.loc[(s["subject"] == subj) & (s["fold"] == 0), "partition"] = "train"
    write_split_file(s, tmp_path / "s.tsv")
    ctx = make_ctx(
        tmp_path, dev, group="site", test="{method: kfold, folds: 3}", split_file="s.tsv"
    )
    (f,) = fired("D301", ctx)
    assert "site unit(s) are split" in f.message


# --------------------------------------------------------------------------- D302


def test_cramers_v_corrected_properties():
    assert cramers_v_corrected(np.array([[50, 50], [50, 50]])) == 0.0
    table = np.array([[30, 10, 5], [10, 30, 20]])
    v = cramers_v_corrected(table)
    plain = association(table, method="cramer", correction=False)
    assert 0 < v < plain
    # Bergsma's formula, written out
    n = table.sum()
    chi2 = (
        (table - np.outer(table.sum(1), table.sum(0)) / n) ** 2
        / (np.outer(table.sum(1), table.sum(0)) / n)
    ).sum()
    r, k = table.shape
    phi2c = max(0, chi2 / n - (k - 1) * (r - 1) / (n - 1))
    rc, kc = r - (r - 1) ** 2 / (n - 1), k - (k - 1) ** 2 / (n - 1)
    assert v == pytest.approx(math.sqrt(phi2c / min(rc - 1, kc - 1)))
    assert cramers_v_corrected(np.array([[1000, 0], [0, 1000]])) == pytest.approx(1, abs=1e-3)
    assert math.isnan(cramers_v_corrected(np.array([[5, 5]])))


def test_d302_confounded_site(tmp_path):
    dev = cohort_rows(300, sites=3, p_ad=[0.9, 0.5, 0.1])
    (f,) = fired("D302", make_ctx(tmp_path, dev))
    assert "Cramér's V" in f.message and f.severity is Severity.ERROR
    assert f.file == str(tmp_path / "dev.tsv")
    assert fired("D302", make_ctx(tmp_path, cohort_rows(300, sites=3))) == []
    small = [f for f in fired("D302", make_ctx(tmp_path, dev.head(40))) if "V =" in f.message]
    assert small and small[0].severity is Severity.WARNING  # 20 subjects: too few to block


def test_d302_class_absent_from_a_held_out_site(tmp_path):
    dev = cohort_rows(120, sites=4, p_ad=[0.5, 0.5, 0.5, 0.0])
    ctx = make_ctx(tmp_path, dev, test="{method: leave-group-out, group: site}")
    absent = [f for f in fired("D302", ctx) if "no subject of class AD" in f.message]
    assert absent and absent[0].severity is Severity.ERROR and "S3" in absent[0].message


# --------------------------------------------------------------------------- D303


def test_d303_age_differs_between_classes(tmp_path):
    (f,) = fired("D303", make_ctx(tmp_path, cohort_rows(200, age_gap=6)))
    assert "'age'" in f.message and f.severity is Severity.WARNING
    assert fired("D303", make_ctx(tmp_path, cohort_rows(200, age_gap=0))) == []


# --------------------------------------------------------------------------- D304


def test_d304_unknown_and_missing_labels(tmp_path):
    dev = cohort_rows(30)
    dev.loc[4, "diagnosis"] = "MCI"
    dev.loc[7, "diagnosis"] = None
    found = fired("D304", make_ctx(tmp_path, dev))
    messages = " ".join(f.message for f in found)
    assert "MCI (line 6)" in messages and "no 'diagnosis' (line 9)" in messages
    assert {f.line for f in found} == {6, 9}
    assert fired("D304", make_ctx(tmp_path, cohort_rows(30))) == []


def test_d304_regression_target_must_be_numeric(tmp_path):
    dev = cohort_rows(30).astype({"age": object})
    dev.loc[2, "age"] = "old"
    ctx = make_ctx(tmp_path, dev, type="regression", target="age", stratify="[]", metric="mae")
    (f,) = fired("D304", ctx)
    assert "non-numeric" in f.message and f.line == 4


# --------------------------------------------------------------------------- D305


def test_d305_strata_too_small(tmp_path):
    dev = cohort_rows(60)
    (f,) = fired("D305", make_ctx(tmp_path, dev, stratify="[diagnosis, sex, age, site]"))
    assert "strata" in f.message and f.path == "splits.stratify" and f.line is not None
    assert fired("D305", make_ctx(tmp_path, dev, stratify="[diagnosis]")) == []


# --------------------------------------------------------------------------- D306


def test_metric_standard_errors():
    se, _ = metric_standard_error("balanced_accuracy", [50, 50], 100, 0.8)
    assert se == pytest.approx(math.sqrt((0.16 / 50 + 0.16 / 50) / 4))
    se, formula = metric_standard_error("auroc", [40, 60], 100, 0.8)
    a, q1, q2 = 0.8, 0.8 / 1.2, 2 * 0.64 / 1.8
    expected = (a * (1 - a) + 59 * (q1 - a * a) + 39 * (q2 - a * a)) / (60 * 40)
    assert se == pytest.approx(math.sqrt(expected)) and "Hanley" in formula
    assert metric_standard_error("accuracy", [], 100, 0.5)[0] == pytest.approx(0.05)
    assert design_effect([10] * 5, 0.05) == pytest.approx(1.45)
    assert design_effect([1] * 100, 0.5) == 1.0
    # unequal clusters weigh by size: sum(m^2)/sum(m)
    assert design_effect([2, 8], 0.1) == pytest.approx(1 + (68 / 10 - 1) * 0.1)


def test_planned_standard_errors_match_simulation():
    rng = np.random.default_rng(0)
    n_neg, n_pos, v = 60, 40, 0.8
    sens = rng.binomial(n_pos, v, 20000) / n_pos
    spec = rng.binomial(n_neg, v, 20000) / n_neg
    se, _ = metric_standard_error("balanced_accuracy", [n_neg, n_pos], 100, v)
    assert se == pytest.approx(np.std((sens + spec) / 2), rel=0.03)
    # Hanley & McNeil on a binormal model with AUROC 0.8 (their approximation: within 10 %)
    from scipy.stats import norm

    shift = math.sqrt(2) * norm.ppf(0.8)
    aucs = []
    for _ in range(2000):
        neg, pos = rng.normal(0, 1, n_neg), rng.normal(shift, 1, n_pos)
        aucs.append((pos[:, None] > neg[None, :]).mean())
    se, _ = metric_standard_error("auroc", [n_neg, n_pos], 100, 0.8)
    assert se == pytest.approx(np.std(aucs), rel=0.1)


def test_d306_small_test_set(tmp_path):
    small = make_ctx(tmp_path, cohort_rows(60), test="{method: holdout, size: 0.2}")
    (f,) = fired("D306", small)
    assert f.severity is Severity.WARNING and "half-width" in f.message
    large = make_ctx(tmp_path, cohort_rows(1000, sessions=1), test="{method: kfold, folds: 5}")
    assert fired("D306", large) == []


def test_d306_declared_precision_and_margin(tmp_path):
    extra = """\
      ci_half_width: 0.02
      comparison: {method: corrected-t, margin: 0.01}
      seeds: 5
    """
    found = fired("D306", make_ctx(tmp_path, cohort_rows(300, sessions=1), extra=extra))
    paths = {f.path for f in found}
    assert paths == {"protocol.ci_half_width", "protocol.comparison.margin"}
    assert all(f.severity is Severity.ERROR for f in found)
    assert any("cannot be detected" in f.message for f in found)


def test_d306_design_effect_for_image_level_units(tmp_path):
    ctx = make_ctx(tmp_path, cohort_rows(400, sessions=3), clusters="[site, subject]")
    assert fired("D306", ctx) == []
    (f,) = fired(
        "D306", make_ctx(tmp_path, cohort_rows(100, sessions=3), clusters="[site, subject]")
    )
    assert "design effect" in f.message and "site: 6 clusters" in f.message


# --------------------------------------------------------------------------- D307


def test_d307_too_few_sites_for_the_cluster_bootstrap(tmp_path):
    (f,) = fired("D307", make_ctx(tmp_path, cohort_rows(200, sites=3), clusters="[site, subject]"))
    assert "3 site group(s)" in f.message and f.severity is Severity.WARNING
    ctx = make_ctx(tmp_path, cohort_rows(200, sites=8), clusters="[site, subject]")
    assert fired("D307", ctx) == []


# --------------------------------------------------------------------------- end to end


def test_validate_data_cli(tmp_path):
    dev = cohort_rows(40)
    dev.loc[4, "diagnosis"] = "MCI"
    make_ctx(tmp_path, dev)
    result = CliRunner().invoke(
        cli, ["validate", str(tmp_path / "spec.yaml"), "--data", "--format", "json"]
    )
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    d304 = [f for f in data["findings"] if f["rule"] == "D304"]
    assert d304 and d304[0]["file"].endswith("dev.tsv") and d304[0]["line"] == 6


def test_split_cli_prints_sha256_and_pins(tmp_path):
    make_ctx(tmp_path, cohort_rows(40))
    out = tmp_path / "splits" / "s.tsv"
    result = CliRunner().invoke(cli, ["split", str(tmp_path / "spec.yaml"), "-o", str(out)])
    assert result.exit_code == 0, result.output
    digest = result.stdout.split()[0]
    import hashlib

    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    assert "SMD" in result.stderr
    # the same spec splits the same way
    loaded = load_spec(tmp_path / "spec.yaml")
    again = make_splits(loaded, load_data_context(loaded).cohort)
    assert write_split_file(again, tmp_path / "again.tsv") == digest


def test_data_rules_module_does_not_import_pandas():
    code = "import sys, brainbench.validate.data_rules; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_declared_class_without_subjects_is_one_error(tmp_path):
    """Issue 12: a 3-class spec whose middle class has no subject gave a D302 warning per site;
    now it is one D304 error on task.classes and D302 is silent."""
    ctx = make_ctx(tmp_path, cohort_rows(120))
    path = tmp_path / "spec.yaml"
    path.write_text(path.read_text().replace("classes: [CN, AD]", "classes: [CN, MCI, AD]"))
    ctx = load_data_context(load_spec(path))
    assert fired("D302", ctx) == []
    (f,) = fired("D304", ctx)
    assert f.severity is Severity.ERROR and f.path == "task.classes" and f.line is not None
    assert "declares MCI, but no development subject has that 'diagnosis'" in f.message
    assert "MCI 0" in f.message


def test_d306_margin_zero_is_not_weaker_than_a_small_margin(tmp_path):
    """Issue 12: a superiority claim passed at margin 0 (MDD check skipped) but failed at 0.001."""
    rows = cohort_rows(300, sessions=1)

    def margin_findings(comparison):
        extra = f"comparison: {comparison}\nseeds: 5\n"
        found = fired("D306", make_ctx(tmp_path, rows, extra=extra))
        return [f for f in found if f.path and f.path.startswith("protocol.comparison")]

    (small,) = margin_findings("{method: bootstrap, margin: 0.001}")
    (zero,) = margin_findings("{method: bootstrap, margin: 0}")
    assert small.severity is zero.severity is Severity.ERROR
    assert "margin = 0 declares that any difference matters" in zero.message
    (unset,) = margin_findings("{method: bootstrap}")
    assert (
        unset.severity is Severity.WARNING and "no comparison.margin is declared" in unset.message
    )
    (noninf,) = margin_findings("{method: bootstrap, hypothesis: non-inferiority}")
    assert noninf.severity is Severity.ERROR and "non-inferiority" in noninf.message
    assert margin_findings("{method: bootstrap, margin: 0.2}") == []


def test_d306_regression_limits_are_in_the_target_units(tmp_path):
    """Issue 12: MAE in years was checked on an accuracy scale ('75 per class', 'assumed value
    0.8', ci_half_width < 1)."""
    rows = cohort_rows(300, sessions=1)
    ctx = make_ctx(
        tmp_path,
        rows,
        type="regression",
        target="age",
        metric="mae",
        test="{method: holdout, size: 0.25}",
        extra="ci_half_width: 0.5\n",
    )
    (f,) = fired("D306", ctx)
    assert f.path == "protocol.ci_half_width" and f.severity is Severity.ERROR
    assert "per class" not in f.message and "assumed value" not in f.message
    assert "in the units of 'age'" in f.message
    sd = rows.drop_duplicates("participant_id")["age"].std(ddof=1)
    n = int(f.message.split(": ")[1].split(" ")[0])
    half = 1.959964 * sd * math.sqrt((1 - 2 / math.pi) / n)
    assert f"= {half:.3g} (" in f.message and f"error SD {sd:.3g}" in f.message
    # A half-width of 3 years is a valid limit (it was refused as >= 1), and met here.
    loose = make_ctx(
        tmp_path,
        rows,
        type="regression",
        target="age",
        metric="mae",
        test="{method: holdout, size: 0.25}",
        extra="ci_half_width: 3\n",
    )
    assert fired("D306", loose) == []


def test_ci_half_width_on_a_bounded_metric_is_below_half_its_range(tmp_path):
    from brainbench.spec import SpecError

    with pytest.raises(SpecError, match="not below half the range of balanced_accuracy"):
        make_ctx(tmp_path, cohort_rows(20), extra="ci_half_width: 0.6\n")


def test_planned_regression_standard_errors_match_simulation():
    """SE(MAE) = sigma sqrt((1 - 2/pi)/n), SE(RMSE) = sigma/sqrt(2n) for normal errors."""
    rng = np.random.default_rng(1)
    sigma, n = 7.0, 120
    errors = rng.normal(0, sigma, (20000, n))
    mae = np.abs(errors).mean(axis=1)
    rmse = np.sqrt((errors**2).mean(axis=1))
    se_mae, _ = metric_standard_error("mae", [], n, error_sd=sigma)
    se_rmse, _ = metric_standard_error("rmse", [], n, error_sd=sigma)
    assert se_mae == pytest.approx(np.std(mae), rel=0.03)
    assert se_rmse == pytest.approx(np.std(rmse), rel=0.03)


def test_d307_follows_the_calibrated_interval(tmp_path):
    """4-7 sites: D307 compares the chosen interval with the calibration table's choice."""
    from brainbench.stats._evaluate import MIN_ESTIMABLE_CLUSTERS
    from brainbench.validate import data_rules

    assert data_rules.MIN_ESTIMABLE_CLUSTERS == MIN_ESTIMABLE_CLUSTERS
    five = cohort_rows(100, sites=5)  # 20 subjects per site in the test set
    (f,) = fired("D307", make_ctx(tmp_path, five, clusters="[site, subject]"))
    assert "5 sites: the percentile interval covered" in f.message
    assert "`interval: calibrated` uses cluster-bootstrap-t" in f.message
    assert "interval: calibrated" in f.hint
    calibrated = "[site, subject], interval: calibrated"
    assert fired("D307", make_ctx(tmp_path, five, clusters=calibrated)) == []
    # Sensitivity at 4-7 sites with fewer than 10 subjects each: no method met the goal there.
    few = make_ctx(tmp_path, cohort_rows(30, sites=5), clusters=calibrated, metric="sensitivity")
    (g,) = fired("D307", few)
    assert "no interval method covered 94%-96%" in g.message and "approximate" in g.message


def test_d307_flags_a_calibrated_regime_below_the_goal_from_8_sites_on(tmp_path, monkeypatch):
    """From 8 sites on D307 no longer compares intervals, but a spec with `interval:
    calibrated` in a regime the table flags (here made flagged) is still told so."""
    from brainbench.stats import _interval_defaults as defaults

    table = json.loads(json.dumps(defaults.load_table()))
    for e in table["choices"]:
        if (e["metric"], e["sites"]) == ("balanced_accuracy", ">= 8 sites"):
            e["consistent_with_goal"], e["why"] = False, "the chosen method covered 91.0%"
    monkeypatch.setattr(defaults, "load_table", lambda path=None: table)
    calibrated = "[site, subject], interval: calibrated"
    eight = make_ctx(tmp_path, cohort_rows(200, sites=8), clusters=calibrated)
    (f,) = fired("D307", eight)
    assert "8 sites" in f.message and "the chosen method covered 91.0%" in f.message
    assert "approximate" in f.message and "interval: calibrated" not in f.hint
    plain = make_ctx(tmp_path, cohort_rows(200, sites=8), clusters="[site, subject]")
    assert fired("D307", plain) == []
