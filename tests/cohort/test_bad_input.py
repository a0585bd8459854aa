"""Bad input: a finding or a UserError naming the file and row, never a traceback."""

from __future__ import annotations

import pytest

from brainbench.cli import main
from brainbench.cohort import read_cohort
from brainbench.errors import UserError


def _by_rule(findings, rule):
    return [f for f in findings if f.rule == rule]


def test_missing_subject_column(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("patient\tdiagnosis\n1\tCN\n")
    with pytest.raises(UserError, match=r"m\.tsv.*no subject column") as exc:
        read_cohort(path)
    assert "patient" in exc.value.message


def test_missing_image_column(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("participant_id\timage_pth\nsub-1\ta.nii\n")
    with pytest.raises(UserError, match="Did you mean 'image_pth'"):
        read_cohort(path, image_column="image_path")


def test_duplicate_rows(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text(
        "participant_id\tsession_id\tdx\n"
        "sub-1\tses-1\tCN\n"
        "sub-1\tses-1\tCN\n"  # exact repeat: dropped with a warning
        "sub-2\tses-1\tAD\n"
        "sub-2\tses-1\tCN\n"  # same session, conflicting content: an error
    )
    ct = read_cohort(path)
    exact = [f for f in _by_rule(ct.findings, "cohort/duplicate-row") if "exactly" in f.message]
    assert exact and exact[0].line == 3 and exact[0].file == str(path)
    keyed = [
        f for f in _by_rule(ct.findings, "cohort/duplicate-row") if f.severity.value == "error"
    ]
    assert keyed and keyed[0].line == 4 and "lines 4, 5" in keyed[0].message
    assert len(ct.table) == 3


def test_conflicting_per_subject_values(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text(
        "participant_id\tsession_id\tsex\nsub-1\tses-1\tF\nsub-1\tses-2\tM\nsub-2\tses-1\tM\n"
    )
    (f,) = _by_rule(read_cohort(path).findings, "cohort/subject-value-changes")
    assert f.severity.value == "error"
    assert f.file == str(path) and f.line == 2
    assert "F (line 2)" in f.message and "M (line 3)" in f.message


def test_subject_in_two_sites(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("participant_id\tsession_id\tsite\nsub-1\tses-1\tA\nsub-1\tses-2\tB\n")
    (f,) = _by_rule(read_cohort(path).findings, "cohort/subject-in-several-sites")
    assert "sub-1" in f.message and f.line == 2


def test_empty_cohort_after_filter(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("participant_id\tdiagnosis\nsub-1\tCN\n")
    ct = read_cohort(path, include="diagnosis == 'AD'")
    (f,) = _by_rule(ct.findings, "cohort/empty-cohort")
    assert f.severity.value == "error" and "diagnosis == 'AD'" in f.message


def test_filter_on_unknown_column(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("participant_id\tdiagnosis\nsub-1\tCN\n")
    with pytest.raises(UserError, match=r"diagnosys.*Did you mean 'diagnosis'"):
        read_cohort(path, include="diagnosys == 'AD'")


def test_non_utf8_tsv(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_bytes("participant_id\tsite\nsub-1\tA\nsub-2\tMünchen\n".encode("latin-1"))
    with pytest.raises(UserError, match=r"m\.tsv:3: not valid UTF-8"):
        read_cohort(path)


def test_ragged_tsv(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("participant_id\tsite\nsub-1\tA\textra\tmore\n")
    with pytest.raises(UserError, match=r"m\.tsv: cannot be parsed"):
        read_cohort(path)


def test_sidecar_not_json(bids):
    root = bids(
        {"sub-01": {"sessions": ["ses-1"]}}, sidecars={"T1w.json": '{\n "Manufacturer": \n}'}
    )
    ct = read_cohort(root)
    (f,) = _by_rule(ct.findings, "cohort/sidecar-not-json")
    assert f.file.endswith("T1w.json") and f.line == 3
    assert len(ct.table) == 1


def test_cli_bad_input_is_one_paragraph_exit_2(tmp_path, capsys):
    path = tmp_path / "m.tsv"
    path.write_bytes(b"participant_id\n\xff\xfe\n")
    with pytest.raises(SystemExit) as exc:
        main(["cohort", str(path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
