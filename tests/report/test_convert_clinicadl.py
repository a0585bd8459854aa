"""`brainbench convert clinicadl` on prediction TSVs written with ClinicaDL's own writer logic,
for subjects of real ClinicaDL split TSVs (tests/data/clinicadl, MIT, see its README)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from brainbench.cli import main
from brainbench.errors import UserError
from brainbench.report import convert_clinicadl

DATA = Path(__file__).resolve().parents[1] / "data" / "clinicadl" / "validation_splits-5"
LEGACY_CODE = {"CN": 0, "AD": 1, "sMCI": 0, "pMCI": 1, "MCI": 1}


def _split(*names: str) -> pd.DataFrame:
    return pd.concat([pd.read_csv(DATA / n, sep="\t", dtype=str) for n in names], ignore_index=True)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def write_maps(
    df: pd.DataFrame, path: Path, *, mode: str = "image", per_image: int = 1, labels: bool = True
) -> Path:
    """A ClinicaDL 1.x prediction TSV: label code sorted(set(diagnosis))
    (ClassificationManager.generate_label_code), rows as generate_test_row (argmax, softmax of
    the outputs), columns as ClassificationManager.columns; `--no_labels` gives label -1."""
    code = {c: i for i, c in enumerate(sorted(set(df["diagnosis"])))}
    rng = np.random.default_rng(len(df))
    rows = []
    for _, r in df.iterrows():
        for k in range(per_image):
            z = rng.normal(size=len(code))
            z[code[r["diagnosis"]]] += 1.5  # a decent model
            p = _softmax(z[None])[0]
            label = code[r["diagnosis"]] if labels else -1
            rows.append(
                [r["participant_id"], r["session_id"], k, label, int(np.argmax(p)), *p.tolist()]
            )
    cols = ["participant_id", "session_id", f"{mode}_id", "true_label", "predicted_label"]
    out = pd.DataFrame(rows, columns=cols + [f"proba{i}" for i in range(len(code))])
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, sep="\t", index=False)
    return path


def test_maps_label_code_and_positive(tmp_path):
    split = _split("split-0/AD_baseline.tsv", "split-2/MCI_baseline.tsv")
    tsv = write_maps(
        split,
        tmp_path / "maps" / "split-0" / "best-loss" / "test" / "test_image_level_prediction.tsv",
    )
    # the class order given does not matter: ClinicaDL 1.x codes AD=0, MCI=1 (sorted)
    for classes in (["MCI", "AD"], ["AD", "MCI"]):
        out, n, unlabelled = convert_clinicadl(
            tsv, tmp_path / "p.parquet", classes=classes, positive="AD"
        )
        df = pd.read_parquet(out)
        assert (n, unlabelled) == (len(split), 0)
        assert (df["y_true"].to_numpy() == split["diagnosis"].to_numpy()).all()
        raw = pd.read_csv(tsv, sep="\t")
        np.testing.assert_allclose(df["score"], raw["proba0"])  # P(AD) is proba0
        np.testing.assert_allclose(df["score_MCI"], raw["proba1"])
        assert set(df["model"]) == {"maps"} and set(df["fold"]) == {0}
        assert set(df["partition"]) == {"test"}
        assert (df["image"] == split["participant_id"] + "_" + split["session_id"]).all()
    # without --positive: per-class scores only (the report takes the spec's positive class)
    df = pd.read_parquet(convert_clinicadl(tsv, tmp_path / "q.parquet", classes=["AD", "MCI"])[0])
    assert "score" not in df.columns and {"score_AD", "score_MCI"} <= set(df.columns)
    # without --classes: the indices, index 1 positive (ClinicaDL's own metrics)
    df = pd.read_parquet(convert_clinicadl(tsv, tmp_path / "r.parquet")[0])
    assert set(df["y_true"]) == {"0", "1"} and np.allclose(df["score"], df["score_1"])
    with pytest.raises(UserError, match="--positive 'CN' is not one of the classes"):
        convert_clinicadl(tsv, tmp_path / "s.parquet", classes=["AD", "MCI"], positive="CN")
    with pytest.raises(UserError, match="names 3 class"):
        convert_clinicadl(tsv, tmp_path / "s.parquet", classes=["AD", "MCI", "CN"])


def test_documented_cn_ad_no_longer_swaps(tmp_path):
    """AD vs CN under 1.x: AD=0, CN=1. `--classes CN,AD` used to name index 0 CN: every label
    swapped, sensitivity and specificity exchanged."""
    split = _split("split-4/AD_baseline.tsv")
    cn = split.assign(
        participant_id=split["participant_id"].str.replace("ADNI", "CN"), diagnosis="CN"
    )
    both = pd.concat([split, cn], ignore_index=True)
    tsv = write_maps(
        both, tmp_path / "m" / "split-4" / "best-BA" / "test" / "test_image_level_prediction.tsv"
    )
    df = pd.read_parquet(
        convert_clinicadl(tsv, tmp_path / "p.parquet", classes=["CN", "AD"], positive="AD")[0]
    )
    assert (df["y_true"].to_numpy() == both["diagnosis"].to_numpy()).all()
    assert set(df["fold"]) == {4}
    ad = df["y_true"] == "AD"
    assert df.loc[ad, "score"].mean() > df.loc[~ad, "score"].mean()  # P(AD) is high for AD


def test_slice_level_and_ensemble_image_level(tmp_path):
    split = pd.concat(
        [_split("split-0/AD_baseline.tsv").head(10), _split("split-2/MCI_baseline.tsv").head(10)],
        ignore_index=True,
    )
    folder = tmp_path / "maps" / "split-1" / "best-loss" / "validation"
    sl = write_maps(
        split, folder / "validation_slice_level_prediction.tsv", mode="slice", per_image=3
    )
    # ClinicaDL's ensemble writes the image level with the mode's columns (slice_id 0)
    im = write_maps(split, folder / "validation_image_level_prediction.tsv", mode="slice")
    df = pd.read_parquet(convert_clinicadl(sl, tmp_path / "s.parquet", classes=["AD", "MCI"])[0])
    assert len(df) == 60 and df["image"].str.endswith(("_slice-0", "_slice-1", "_slice-2")).all()
    assert set(df["partition"]) == {"validation"} and set(df["fold"]) == {1}
    df = pd.read_parquet(convert_clinicadl(im, tmp_path / "i.parquet", classes=["AD", "MCI"])[0])
    assert len(df) == 20 and not df["image"].str.contains("slice").any()


def test_legacy_layout(tmp_path):
    """ClinicaDL 0.x: fold-N/cnn_classification/best_<metric>/, fixed code CN=0 AD=1, and
    image-level files without probabilities (cnn_utils.test)."""
    split = _split("split-4/AD_baseline.tsv")
    cn = split.assign(
        participant_id=split["participant_id"].str.replace("ADNI", "CN"), diagnosis="CN"
    )
    both = pd.concat([split, cn], ignore_index=True)
    code = both["diagnosis"].map(LEGACY_CODE)
    raw = pd.DataFrame(
        {
            "participant_id": both["participant_id"],
            "session_id": both["session_id"],
            "true_label": code,
            "predicted_label": code,
        }
    )
    folder = tmp_path / "resnet_out" / "fold-3" / "cnn_classification" / "best_balanced_accuracy"
    folder.mkdir(parents=True)
    tsv = folder / "test-ADNI_image_level_prediction.tsv"
    raw.to_csv(tsv, sep="\t", index=False)
    df = pd.read_parquet(convert_clinicadl(tsv, tmp_path / "p.parquet", classes=["AD", "CN"])[0])
    assert (df["y_true"].to_numpy() == both["diagnosis"].to_numpy()).all()
    assert (df["y_pred"] == df["y_true"]).all()
    assert set(df["model"]) == {"resnet_out"} and set(df["fold"]) == {3}
    assert set(df["partition"]) == {"test-ADNI"}
    assert not any(c.startswith("score") for c in df.columns)
    # AD vs MCI has no distinct codes in 0.x (AD=1, MCI=1)
    with pytest.raises(UserError, match="do not map to distinct codes"):
        convert_clinicadl(tsv, tmp_path / "p.parquet", classes=["AD", "MCI"])


def test_no_labels_then_labels_from_split_tsv(tmp_path, capsys):
    split = _split("split-0/AD_baseline.tsv", "split-2/MCI_baseline.tsv")
    tsv = write_maps(
        split,
        tmp_path
        / "maps"
        / "split-0"
        / "best-loss"
        / "adni-ext"
        / "adni-ext_image_level_prediction.tsv",
        labels=False,
    )
    out, n, unlabelled = convert_clinicadl(tsv, tmp_path / "p.tsv", classes=["AD", "MCI"])
    assert unlabelled == n == len(split)
    df = pd.read_csv(out, sep="\t")
    assert df["y_true"].isna().all() and set(df["partition"]) == {"adni-ext"}
    labels = tmp_path / "labels.tsv"
    split.to_csv(labels, sep="\t", index=False)
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "convert", "clinicadl", str(tsv), "-o", str(tmp_path / "f.parquet"),
                "--classes", "AD,MCI", "--positive", "AD", "--labels-from", str(labels),
            ]
        )  # fmt: skip
    assert exc.value.code == 0
    assert "no true label" not in capsys.readouterr().out
    df = pd.read_parquet(tmp_path / "f.parquet")
    assert (df["y_true"].to_numpy() == split["diagnosis"].to_numpy()).all()
    with pytest.raises(UserError, match="gives diagnosis AD, MCI, not among the classes"):
        convert_clinicadl(tsv, tmp_path / "h.parquet", labels_from=labels)
    with pytest.raises(SystemExit) as exc:
        main(["convert", "clinicadl", str(tsv), "-o", str(tmp_path / "g.parquet")])
    assert exc.value.code == 0
    assert f"{len(split)} prediction(s) have no true label" in capsys.readouterr().out


def test_duplicates_refused(tmp_path):
    split = _split("split-4/AD_baseline.tsv").head(5)
    a = write_maps(
        split, tmp_path / "m" / "split-0" / "best-loss" / "test" / "test_image_level_prediction.tsv"
    )
    b = write_maps(
        split, tmp_path / "m" / "split-0" / "best-BA" / "test" / "test_image_level_prediction.tsv"
    )
    with pytest.raises(UserError, match=r"Duplicate prediction: image sub-ADNI002S5018_ses-M00"):
        convert_clinicadl([a, b], tmp_path / "p.parquet")
    with pytest.raises(UserError, match="data row 1"):
        convert_clinicadl([a, a], tmp_path / "p.parquet")


def test_site_ids_stay_text_and_missing_site_named(tmp_path):
    split = _split("split-4/AD_baseline.tsv").head(4)
    tsv = write_maps(
        split, tmp_path / "m" / "split-0" / "best-loss" / "test" / "test_image_level_prediction.tsv"
    )
    hier = tmp_path / "participants.tsv"
    sites = ["002", "003", "006", "007"]
    pd.DataFrame({"participant_id": split["participant_id"], "site": sites}).to_csv(
        hier, sep="\t", index=False
    )
    df = pd.read_parquet(convert_clinicadl(tsv, tmp_path / "p.parquet", hierarchy=hier)[0])
    assert df["site"].tolist() == sites
    hier.write_text(
        "participant_id\tsite\n"
        + "".join(
            f"{p}\t{s}\n"
            for p, s in zip(split["participant_id"], ["002", "", "006", "007"], strict=True)
        )
    )
    with pytest.raises(
        UserError, match=r"data row 2 \(participant sub-ADNI003S4136\): the 'site' cell is empty"
    ):
        convert_clinicadl(tsv, tmp_path / "p.parquet", hierarchy=hier)
    hier.write_text(
        f"participant_id\tsite\n{split['participant_id'][0]}\t002\n{split['participant_id'][0]}\t2\n"
    )
    with pytest.raises(UserError, match="two different values of site"):
        convert_clinicadl(tsv, tmp_path / "p.parquet", hierarchy=hier)


def test_regression_no_labels_filled_from_a_labels_tsv(tmp_path):
    """ClinicaDL regression TSVs (no proba columns): --no_labels gives -1 on every row."""
    split = _split("split-4/AD_baseline.tsv").head(6)
    ages = [71.5, 80.0, 66.25, 74.0, 69.0, 77.5]
    raw = pd.DataFrame(
        {
            "participant_id": split["participant_id"],
            "session_id": split["session_id"],
            "image_id": 0,
            "true_label": -1.0,
            "predicted_label": [a + 1 for a in ages],
        }
    )
    tsv = tmp_path / "m" / "split-0" / "best-loss" / "test" / "test_image_level_prediction.tsv"
    tsv.parent.mkdir(parents=True)
    raw.to_csv(tsv, sep="\t", index=False)
    labels = tmp_path / "ages.tsv"
    split.assign(age=ages).to_csv(labels, sep="\t", index=False)
    out, n, unlabelled = convert_clinicadl(tsv, tmp_path / "p.parquet")
    assert unlabelled == n == 6
    out, _, unlabelled = convert_clinicadl(
        tsv, tmp_path / "q.parquet", labels_from=labels, label_column="age"
    )
    df = pd.read_parquet(out)
    assert unlabelled == 0 and np.allclose(df["y_true"], ages)
    assert np.allclose(df["y_pred"] - df["y_true"], 1.0)
