"""The split table: invariants over every protocol, files, hashes, the CLI."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.errors import UserError
from brainbench.split import (
    SPLIT_COLUMNS,
    SplitPlan,
    balance_report,
    read_split_file,
    sha256_file,
    split_table,
    write_split_file,
)

from .conftest import make_table

LEVEL_KEYS = {
    "dataset": ["dataset"],
    "site": ["cohort", "site"],
    "scanner": ["cohort", "site", "scanner"],
    "subject": ["cohort", "subject"],
    "session": ["cohort", "subject", "session"],
    "image": ["cohort", "subject", "session", "image"],
}
FINER = {
    "dataset": ["dataset", "site", "subject", "session", "image"],
    "site": ["site", "subject", "session", "image"],
    "scanner": ["scanner", "subject", "session", "image"],
    "subject": ["subject", "session", "image"],
    "session": ["session", "image"],
    "image": ["image"],
}


@st.composite
def plans(draw):
    test_method = draw(st.sampled_from(["holdout", "kfold", "leave-group-out", "external"]))
    group = draw(st.sampled_from(["subject", "subject", "site", "session"]))
    if test_method == "leave-group-out":
        group = draw(st.sampled_from(["subject", "site"]))
    return SplitPlan(
        group=group,
        stratify=tuple(draw(st.sampled_from([(), ("diagnosis",), ("diagnosis", "sex", "age")]))),
        test_method=test_method,
        test_size=draw(st.sampled_from([0.2, 0.3])),
        test_folds=draw(st.integers(2, 3)),
        test_group="site" if test_method == "leave-group-out" else None,
        sessions=draw(st.sampled_from(["all", "baseline"])),
        validation_method=draw(st.sampled_from(["holdout", "kfold", "none"])),
        validation_size=0.25,
        validation_folds=draw(st.integers(2, 3)),
        repeats=draw(st.integers(1, 2)),
        seed=draw(st.integers(0, 2**31)),
    )


def _with_cohort_meta(splits: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    meta = table[["cohort", "subject", "session", "image", "dataset", "site", "scanner",
                  "session_index", "role"]].astype({"session_index": "int64"})  # fmt: skip
    s = splits.astype({c: "string" for c in ("cohort", "subject", "session", "image")})
    return s.merge(meta, on=["cohort", "subject", "session", "image"], how="left")


@settings(max_examples=40, deadline=None)
@given(
    plan=plans(),
    n_subjects=st.integers(12, 40),
    n_external=st.integers(0, 5),
    seed=st.integers(0, 1000),
)
def test_split_table_invariants(plan, n_subjects, n_external, seed):
    if plan.test_method == "external":
        n_external = max(n_external, 1)
    table = make_table(n_subjects, n_sites=4, n_external=n_external, seed=seed)
    if plan.group == "site" and table[table.role == "development"]["site"].nunique() < 4:
        return  # too few sites for every protocol; other examples cover site grouping
    try:
        splits = split_table(table, plan)
    except UserError:
        return  # e.g. fewer groups than folds: refused with a message, never a wrong split
    assert list(splits.columns) == list(SPLIT_COLUMNS)
    full = _with_cohort_meta(splits, table)
    assert full["role"].notna().all()
    dev = full[full["role"] == "development"]
    ext = full[full["role"] == "external-test"]
    # external cohorts: partition is their id, in every fold
    assert (ext["partition"].astype(str) == ext["cohort"].astype(str)).all()
    for (_r, _f), part in dev.groupby(["repeat", "fold"]):
        # no unit at or below the split group on two sides
        for level in FINER[plan.group]:
            keys = LEVEL_KEYS[level]
            sides = part.groupby(keys, dropna=False)["partition"].nunique()
            assert (sides == 1).all(), (level, sides[sides > 1])
        # each row at most once per (repeat, fold)
        assert not part.duplicated(["cohort", "subject", "session", "image"]).any()
        # coverage: every development row is somewhere, except dropped later test sessions
        present = set(zip(part["subject"], part["session"], part["image"], strict=True))
        dev_rows = table[table["role"] == "development"]
        missing = dev_rows[
            [
                (s, ses, im) not in present
                for s, ses, im in zip(
                    dev_rows["subject"], dev_rows["session"], dev_rows["image"], strict=True
                )
            ]
        ]
        if plan.sessions == "all":
            assert missing.empty
        else:
            assert (missing["session_index"] > 0).all()
            test = part[part["partition"] == "test"]
            assert (test["session_index"] == 0).all()
            # training keeps its later (longitudinal) sessions
            train = part[part["partition"] == "train"]
            if (dev_rows["session_index"] > 0).any() and len(train):
                assert (train["session_index"] > 0).any() or dev_rows.groupby("subject")[
                    "session_index"
                ].max().loc[train["subject"].unique()].eq(0).all()
        if plan.test_method in ("holdout", "kfold", "leave-group-out"):
            assert (part["partition"] == "test").any()
    if plan.sessions == "baseline" and len(ext):
        assert (ext["session_index"] == 0).all()
    if plan.test_method == "kfold":
        # each development group is tested exactly once per repeat
        keys = LEVEL_KEYS[plan.group]
        test = dev[dev["partition"] == "test"].drop_duplicates([*keys, "repeat", "fold"])
        per = test.groupby([*keys, "repeat"]).size()
        assert (per == 1).all()
    # seed determinism
    again = split_table(table, plan)
    pd.testing.assert_frame_equal(splits, again)


def test_row_order_of_the_cohort_does_not_matter():
    table = make_table(30, seed=3)
    plan = SplitPlan(stratify=("diagnosis", "sex"), test_method="kfold", test_folds=3, seed=9)
    a = split_table(table, plan)
    b = split_table(table.sample(frac=1, random_state=1).reset_index(drop=True), plan)
    pd.testing.assert_frame_equal(a, b)


def test_nested_validation_kfold_numbers_folds():
    table = make_table(40, seed=1)
    plan = SplitPlan(validation_method="kfold", validation_folds=4, seed=1)
    s = split_table(table, plan)
    assert sorted(s["fold"].unique()) == [0, 1, 2, 3]
    # the test set is the same in every fold; validation parts are disjoint
    tests = [frozenset(p[p.partition == "test"]["subject"]) for _, p in s.groupby("fold")]
    assert len(set(tests)) == 1
    vals = [set(p[p.partition == "validation"]["subject"]) for _, p in s.groupby("fold")]
    assert sum(len(v) for v in vals) == len(set().union(*vals))


def test_leave_site_out_folds_are_sites():
    table = make_table(40, n_sites=3, seed=2)
    plan = SplitPlan(test_method="leave-group-out", test_group="site", validation_method="none")
    s = _with_cohort_meta(split_table(table, plan), table)
    test_sites = s[s.partition == "test"].groupby("fold")["site"].unique()
    assert [list(v) for v in test_sites] == [["S0"], ["S1"], ["S2"]]


def test_seeds_change_the_split():
    table = make_table(40, seed=1)
    a = split_table(table, SplitPlan(seed=1))
    b = split_table(table, SplitPlan(seed=2))
    assert not a["partition"].equals(b["partition"])


def test_errors_are_user_errors():
    table = make_table(10, seed=1)
    with pytest.raises(UserError, match=r"splits\.stratify names 'dx'"):
        split_table(table, SplitPlan(stratify=("dx",)))
    with pytest.raises(UserError, match="Cannot make 20 folds"):
        split_table(table, SplitPlan(test_method="kfold", test_folds=20))
    with pytest.raises(UserError, match="no site ids"):
        split_table(table.assign(site=pd.NA), SplitPlan(group="site"))
    with pytest.raises(UserError, match="no external-test cohort"):
        split_table(table, SplitPlan(test_method="external"))
    ext = make_table(10, n_external=2, seed=1)
    ext["cohort"] = ext["cohort"].replace({"ext": "test"})
    with pytest.raises(UserError, match="also a partition name"):
        split_table(ext, SplitPlan())


def test_file_round_trip_and_hash(tmp_path):
    table = make_table(25, n_external=3, seed=4)
    s = split_table(table, SplitPlan(stratify=("diagnosis",), repeats=2, seed=3))
    path = tmp_path / "splits" / "s.tsv"
    digest = write_split_file(s, path)
    assert digest == sha256_file(path)
    data = path.read_bytes()
    assert b"\r\n" not in data and data.startswith(b"cohort\tsubject\tsession\timage\trepeat")
    back = read_split_file(path, sha256=digest)
    assert back["repeat"].dtype == "int64"
    assert len(back) == len(s)
    # written twice, same bytes
    assert (
        write_split_file(
            split_table(table, SplitPlan(stratify=("diagnosis",), repeats=2, seed=3)),
            tmp_path / "b.tsv",
        )
        == digest
    )
    path.write_bytes(data.replace(b"\ttrain\n", b"\ttest\n", 1))
    with pytest.raises(UserError, match="changed since it was frozen"):
        read_split_file(path, sha256=digest)


def test_split_bytes_equal_pandas_to_csv():
    import io

    from brainbench.split._files import split_tsv_bytes

    table = make_table(30, n_external=4, seed=8)
    table.loc[2, "session"] = pd.NA
    s = split_table(table, SplitPlan(test_method="kfold", test_folds=3, seed=2))
    buf = io.StringIO()
    s.to_csv(buf, sep="\t", index=False, na_rep="n/a", lineterminator="\n")
    assert split_tsv_bytes(s) == buf.getvalue().encode()
    as_text = s.astype({c: "string" for c in ("cohort", "subject", "session", "image")})
    as_text.loc[0, "image"] = pd.NA
    buf = io.StringIO()
    as_text.to_csv(buf, sep="\t", index=False, na_rep="n/a", lineterminator="\n")
    assert split_tsv_bytes(as_text) == buf.getvalue().encode()
    as_text.loc[1, "subject"] = "a\tb"
    with pytest.raises(ValueError, match="tab or a line break"):
        split_tsv_bytes(as_text)


def test_read_split_file_errors(tmp_path):
    p = tmp_path / "s.tsv"
    p.write_text("cohort\tsubject\n")
    with pytest.raises(UserError, match="missing column"):
        read_split_file(p)
    p.write_text(
        "cohort\tsubject\tsession\timage\trepeat\tfold\tpartition\na\tb\tc\td\tx\t0\ttrain\n"
    )
    with pytest.raises(UserError, match=r"s\.tsv:2: column 'repeat' must hold integers"):
        read_split_file(p)
    with pytest.raises(UserError, match="not found"):
        read_split_file(tmp_path / "nope.tsv")


def test_balance_report_uses_smd():
    table = make_table(60, seed=5)
    s = split_table(table, SplitPlan(stratify=("diagnosis", "sex"), seed=5))
    report = balance_report(table, s, ["diagnosis", "sex", "age"])
    assert set(report["column"]) == {"diagnosis", "sex", "age"}
    assert set(report["partition"]) == {"validation", "test"}
    assert report["level"].isna().sum() == 2  # age is continuous: one row per partition
    # stratified on diagnosis: the test set's diagnosis SMD is small
    d = report[(report.column == "diagnosis") & (report.partition == "test")]["smd"].abs().max()
    assert d < 0.2


def test_smd_formulas():
    from brainbench.split import smd_continuous, smd_proportion

    assert smd_proportion(0.5, 0.5) == 0
    assert smd_proportion(0.6, 0.4) == pytest.approx(0.2 / np.sqrt(0.24))
    x1, x0 = np.array([1.0, 2, 3, 4]), np.array([2.0, 3, 4, 5])
    assert smd_continuous(x1, x0) == pytest.approx(-1 / np.std(x1, ddof=1))
