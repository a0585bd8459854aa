"""Reading predictions tables: formats and clear errors for bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainbench.errors import UserError
from brainbench.stats import evaluate_predictions, infer_task, read_predictions


def _table():
    return pd.DataFrame(
        {
            "model": ["m"] * 6,
            "subject": ["s1", "s1", "s2", "s2", "s3", "s3"],
            "y_true": ["CN", "CN", "AD", "AD", "CN", "CN"],
            "score_AD": [0.1, 0.3, 0.8, 0.4, 0.6, 0.2],
        }
    )


@pytest.mark.parametrize("ext", ["tsv", "csv", "parquet"])
def test_formats_round_trip(tmp_path, ext):
    path = tmp_path / f"pred.{ext}"
    df = _table()
    if ext == "parquet":
        df.to_parquet(path)
    else:
        df.to_csv(path, sep="\t" if ext == "tsv" else ",", index=False)
    got = read_predictions(path)
    assert list(got["repeat"].unique()) == [0] and set(got["partition"]) == {"test"}
    assert got["score_AD"].dtype == float


def test_missing_columns(tmp_path):
    path = tmp_path / "p.csv"
    _table().drop(columns="y_true").to_csv(path, index=False)
    with pytest.raises(UserError, match=r"lacks the column.*y_true"):
        read_predictions(path)


def test_nan_and_inf_scores_name_the_row(tmp_path):
    df = _table()
    df.loc[3, "score_AD"] = np.inf
    path = tmp_path / "p.csv"
    df.to_csv(path, index=False)
    with pytest.raises(UserError, match=r"score_AD.*infinite.*data row 4"):
        read_predictions(path)


def test_missing_file_and_unknown_extension(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        read_predictions(tmp_path / "nope.tsv")
    (tmp_path / "p.xlsx").write_text("x")
    with pytest.raises(UserError, match="unknown extension"):
        read_predictions(tmp_path / "p.xlsx")


def test_non_integer_folds():
    df = _table().assign(fold=["a", "b", "a", "b", "a", "b"])
    with pytest.raises(UserError, match=r"fold.*integers"):
        evaluate_predictions(df, ["auroc"], positive="AD")


def test_positive_class_needed_and_checked():
    df = _table()
    with pytest.raises(UserError, match="--positive"):
        infer_task(df.rename(columns={"score_AD": "score"}))
    with pytest.raises(UserError, match="Did you mean 'AD'"):
        infer_task(df, positive="ADD")
    assert infer_task(df, positive="AD").classes == ("CN", "AD")
    assert infer_task(df.assign(y_true=[0, 0, 1, 1, 0, 0])).classes == ("0", "1")


def test_labels_outside_the_spec_classes():
    with pytest.raises(UserError, match="outside the task's classes"):
        infer_task(_table(), task_type="classification", classes=["CN", "MCI"])


def test_subject_level_aggregation_and_mixed_labels():
    res = evaluate_predictions(
        _table(), ["auroc", "accuracy"], positive="AD", unit="subject", resamples=0
    )
    # subject means: s1 0.2 (CN), s2 0.6 (AD), s3 0.4 (CN) -> AUROC 1, all correct at 0.5
    assert res[0].estimate == 1.0 and res[0].n_units == 3
    assert res[1].estimate == 1.0
    bad = _table()
    bad.loc[1, "y_true"] = "AD"
    with pytest.raises(UserError, match="different true labels"):
        evaluate_predictions(bad, ["auroc"], positive="AD", unit="subject")


def test_metric_for_the_wrong_task_and_missing_inputs():
    with pytest.raises(UserError, match="mix classification and regression"):
        evaluate_predictions(_table(), ["auroc", "mae"], positive="AD")
    from brainbench.stats import Task

    with pytest.raises(UserError, match="'mae' is a regression metric"):
        evaluate_predictions(_table(), ["mae"], task=Task("classification", ("CN", "AD")))
    no_scores = _table().drop(columns="score_AD").assign(y_pred="CN")
    with pytest.raises(UserError, match="needs a score"):
        evaluate_predictions(no_scores, ["auroc"], positive="AD")
    outside = _table().assign(score_AD=[2.0, 0.3, 0.8, 0.4, 0.6, 0.2])
    with pytest.raises(UserError, match="outside \\[0, 1\\]"):
        evaluate_predictions(outside, ["brier"], positive="AD")


def test_class_absent_from_the_test_set_is_a_warning_not_a_crash():
    df = _table().assign(y_true="CN")
    df["y_pred"] = "CN"
    from brainbench.stats import Task

    (res,) = evaluate_predictions(
        df, ["sensitivity"], task=Task("classification", ("CN", "AD")), resamples=100
    )
    assert np.isnan(res.estimate) and any("AD absent" in w for w in res.warnings)
    assert res.to_dict()["estimate"] is None


def test_regression_end_to_end():
    rng = np.random.default_rng(0)
    y = rng.normal(70, 8, 80)
    df = pd.DataFrame(
        {
            "model": "age",
            "site": np.repeat(["a", "b", "c", "d"], 20),
            "subject": [f"s{i}" for i in range(80)],
            "y_true": y,
            "y_pred": y + rng.normal(0, 4, 80),
        }
    )
    res = evaluate_predictions(
        df, ["mae", "r2", "pearson_r", "rmse"], clusters=["site", "subject"], resamples=300
    )
    for r in res:
        assert r.ci_low <= r.estimate <= r.ci_high, r.metric
    assert any("clusters" in w for w in res[0].warnings)  # 4 sites only


def test_positive_class_named_by_the_score_columns():
    df = _table()
    assert infer_task(df).classes == ("CN", "AD")  # the only score_<class> column
    both = df.assign(score_CN=1 - df["score_AD"], score=df["score_AD"])
    assert infer_task(both).classes == ("CN", "AD")  # score == score_AD (the runner's table)
    with pytest.raises(UserError, match="--positive"):
        infer_task(both.drop(columns="score"))


def test_multiclass_balanced_accuracy_needs_no_positive_class():
    import pandas as pd

    from brainbench.stats import evaluate_predictions, infer_task

    df = pd.DataFrame(
        {
            "model": "m",
            "subject": [f"s{i}" for i in range(9)],
            "y_true": ["CN", "MCI", "AD"] * 3,
            "y_pred": ["CN", "MCI", "AD", "CN", "AD", "AD", "MCI", "MCI", "AD"],
        }
    )
    task = infer_task(df, metrics=["balanced_accuracy"])
    assert task.classes == ("AD", "CN", "MCI")
    (r,) = evaluate_predictions(df, ["balanced_accuracy"], unit="subject", method="none")
    # recalls: CN 2/3, MCI 2/3, AD 3/3
    assert r.estimate == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    with pytest.raises(UserError, match="--positive"):
        infer_task(df, metrics=["sensitivity"])
