"""Scoped waivers: a waiver silences only the findings within its scope (issue 12, item 4)."""

from __future__ import annotations

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.cli import cli
from brainbench.split import write_split_file
from brainbench.validate.engine import validate_path
from brainbench.validate.findings import Severity

from .test_data_rules import cohort_rows, make_ctx


def _leaky_design(tmp_path):
    """dev and ext share the id sub-0001 (different people: a known reuse), and a dev subject's
    later session is moved to train in the pinned split file (a real leak)."""
    dev = cohort_rows(30)
    ext = cohort_rows(6, seed=9, prefix="ext-")
    ext.loc[ext["participant_id"] == "ext-0001", "participant_id"] = "sub-0001"
    ctx = make_ctx(tmp_path, dev, ext)
    s = ctx.splits.astype({"partition": "string"})
    first = s.index[(s["partition"] == "test") & (s["fold"] == 0)][0]
    leaked = str(s.loc[first, "subject"])
    rows = s.index[(s["subject"] == leaked) & (s["fold"] == 0)]
    s.loc[rows[-1], "partition"] = "train"
    write_split_file(s, tmp_path / "s.tsv")
    make_ctx(tmp_path, dev, ext, split_file="s.tsv")  # writes spec.yaml pinning s.tsv
    return tmp_path / "spec.yaml", leaked


def _with_waivers(spec, *waivers: str):
    text = spec.read_text().split("waivers:")[0]
    spec.write_text(text + "waivers:\n" + "".join(f"  - {w}\n" for w in waivers))
    result, _ = validate_path(spec, data=True)
    return result


def _d301(result):
    return [f for f in result.findings if f.rule == "D301" and "do not exist" not in f.message]


def test_waiver_scoped_to_an_id_keeps_a_real_leak(tmp_path):
    spec, leaked = _leaky_design(tmp_path)
    result = _with_waivers(
        spec, "{rule: D301, ids: [sub-0001], reason: ext reuses the id sub-0001 for another person}"
    )
    [waived] = [w.finding for w in result.waived]
    assert waived.ids == ("sub-0001",) and "several cohorts" in waived.message
    [leak] = _d301(result)
    assert leak.severity is Severity.ERROR and leaked in leak.message and leak.ids == (leaked,)
    assert not result.valid

    # An unscoped waiver silences the whole rule (the format-1 behaviour, kept).
    result = _with_waivers(spec, "{rule: D301, reason: every D301 finding is known and accepted}")
    assert not _d301(result) and len(result.waived) >= 2


def test_waiver_scoped_to_a_cohort_or_a_fingerprint(tmp_path):
    spec, leaked = _leaky_design(tmp_path)
    result = _with_waivers(spec, "{rule: D301, reason: placeholder to read the fingerprints}")
    by_ids = {w.finding.ids: w.finding.fingerprint for w in result.waived}
    assert len(set(by_ids.values())) == len(by_ids)  # one fingerprint per finding

    result = _with_waivers(
        spec, f"{{rule: D301, fingerprints: [{by_ids[('sub-0001',)]}], reason: known id reuse}}"
    )
    assert [w.finding.ids for w in result.waived] == [("sub-0001",)]
    assert [f.ids for f in _d301(result)] == [(leaked,)]

    # The leak is inside dev only, the id reuse spans dev and ext: a waiver for ext alone
    # covers neither, and says it is unused.
    result = _with_waivers(spec, "{rule: D301, cohorts: [ext], reason: ext is a known re-release}")
    assert not result.waived and len(_d301(result)) == 2
    [unused] = [f for f in result.findings if f.rule == "E003"]
    assert "no finding of the rule lies within its scope" in unused.message


def test_fingerprint_is_printed_and_stable(tmp_path):
    spec, _ = _leaky_design(tmp_path)
    a, _ = validate_path(spec, data=True)
    b, _ = validate_path(spec, data=True)
    assert [f.fingerprint for f in a.findings] == [f.fingerprint for f in b.findings]
    out = CliRunner().invoke(cli, ["validate", "--data", str(spec)]).output
    for f in _d301(a):
        assert f"fingerprint: {f.fingerprint}" in out
    # A finding already waived shows its fingerprint too, to narrow the waiver down.
    result = _with_waivers(spec, "{rule: D301, reason: every D301 finding is known and accepted}")
    out = CliRunner().invoke(cli, ["validate", "--data", str(spec)]).output
    for w in result.waived:
        assert f"(fingerprint {w.finding.fingerprint}): every D301" in out


def test_data_rule_waiver_is_not_unused_in_a_spec_only_validation(tmp_path):
    spec, _ = _leaky_design(tmp_path)
    text = spec.read_text() + (
        "waivers:\n  - {rule: D301, ids: [sub-0001], reason: ext reuses the id sub-0001}\n"
        "  - {rule: S206, reason: a spec rule waiver that waives nothing}\n"
    )
    spec.write_text(text)
    result, _ = validate_path(spec)
    unused = [f.message for f in result.findings if f.rule == "E003"]
    assert unused == ["waiver for S206 is unused: the rule raised nothing"]
    out = CliRunner().invoke(cli, ["validate", str(spec)]).output
    assert "D301 is unused" not in out


def test_fingerprint_names_what_the_finding_is_about():
    from brainbench.validate.findings import Finding

    def f(message, **kw):
        return Finding(rule="D302", severity=Severity.WARNING, message=message, **kw)

    # By ids when it names some (counts in the message may change), else by the message.
    a = f("2 subjects leak", cohorts=("dev",), ids=("sub-1",))
    assert a.fingerprint == f("3 subjects leak", cohorts=("dev",), ids=("sub-1",)).fingerprint
    assert a.fingerprint != f("2 subjects leak", cohorts=("dev",), ids=("sub-2",)).fingerprint
    site = f("site S1 has no subject of class AD", cohorts=("dev",))
    assert site.fingerprint != f("site S2 has no subject of class AD", cohorts=("dev",)).fingerprint
    # The same finding on another machine: folders of absolute paths do not count.
    assert (
        f("image /home/a/data/x.nii.gz is empty").fingerprint
        == f("image /scratch/b/x.nii.gz is empty").fingerprint
    )
    assert len(a.fingerprint) == 12 and a.to_dict()["fingerprint"] == a.fingerprint


_ID = st.sampled_from(["sub-1", "sub-2", "sub-3", "img-1"])


@settings(max_examples=60, deadline=None)
@given(
    finding_ids=st.lists(_ID, max_size=3, unique=True),
    finding_cohorts=st.lists(st.sampled_from(["dev", "ext"]), max_size=2, unique=True),
    waiver_ids=st.none() | st.lists(_ID, min_size=1, max_size=3, unique=True),
    waiver_cohorts=st.none() | st.lists(st.sampled_from(["dev", "ext"]), min_size=1, unique=True),
)
def test_a_waiver_covers_exactly_the_findings_inside_its_scope(
    finding_ids, finding_cohorts, waiver_ids, waiver_cohorts
):
    from brainbench.spec.models import Waiver
    from brainbench.validate.engine import covers
    from brainbench.validate.findings import Finding

    finding = Finding(
        rule="D301",
        severity=Severity.ERROR,
        message="m",
        cohorts=tuple(finding_cohorts),
        ids=tuple(finding_ids),
    )
    waiver = Waiver(
        rule="D301", reason="a reason long enough", ids=waiver_ids, cohorts=waiver_cohorts
    )
    inside_ids = waiver_ids is None or (finding_ids and set(finding_ids) <= set(waiver_ids))
    inside_cohorts = waiver_cohorts is None or (
        finding_cohorts and set(finding_cohorts) <= set(waiver_cohorts)
    )
    assert covers(waiver, finding) is bool(inside_ids and inside_cohorts)
    assert not covers(waiver.model_copy(update={"rule": "D302"}), finding)
