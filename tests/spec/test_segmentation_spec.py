"""The segmentation spec language: labels, reference masks, metrics with parameters."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainbench.spec import SpecError, load_spec

ROOT = Path(__file__).resolve().parents[2]
WMH = ROOT / "spec" / "benchmarks" / "wmh-segmentation.yaml"

# sha256 of shipped classification/regression specs before segmentation existed: the added
# fields (task.labels, task.reference, protocol.primary_label) must not change them.
EARLIER = {
    "spec/benchmarks/ad-vs-cn-t1w.yaml": (
        "3985a8c604532b6aa3eefa2109873ad94701068335d840fe1f49398e57f5c187"
    ),
    "spec/benchmarks/brain-age.yaml": (
        "9de7cde7d1efd348532ea0ab70647784c7f00297249d1b20f72c7e82bf41d509"
    ),
    "spec/demo/ad-vs-cn-synthetic.yaml": (
        "8f686e33f8db7538746f4b27a65e88ccebf4b57e3a6fc110ebd507ef9a97072e"
    ),
}


@pytest.mark.parametrize("rel", sorted(EARLIER))
def test_classification_and_regression_hashes_unchanged(rel):
    loaded = load_spec(ROOT / rel)
    assert loaded.sha256 == EARLIER[rel]
    dumped = loaded.spec.model_dump(mode="json")
    assert "labels" not in dumped["task"] and "reference" not in dumped["task"]
    assert "primary_label" not in dumped["protocol"]


def _spec(tmp_path: Path, task: str, metrics: str = "[hd95, lesion-f1]") -> Path:
    text = WMH.read_text()
    head, rest = text.split("task:\n", 1)
    rest = rest[rest.index("cohorts:") :]
    rest = rest.replace(
        "metrics: [hd95, {name: nsd, tolerance_mm: 1.0}, abs-volume-error, lesion-f1]",
        f"metrics: {metrics}",
    ).replace("  primary_label: wmh\n", "")
    path = tmp_path / "s.yaml"
    path.write_text(head + "task:\n" + task + rest)
    return path


REF = "  reference: {source: bids-derivative, path: derivatives/reference}\n"


def test_shipped_wmh_spec():
    spec = load_spec(WMH).spec
    labels = {x.value: (x.name, x.kind) for x in spec.task.labels}
    assert labels == {
        1: ("csf", "structure"),
        2: ("gray-matter", "structure"),
        3: ("white-matter", "structure"),
        4: ("wmh", "lesion"),
    }
    metrics = spec.segmentation_metrics()
    assert [m.name for m in metrics] == ["dice", "hd95", "nsd", "abs-volume-error", "lesion-f1"]
    assert metrics[2].tolerance_mm == 1.0
    assert spec.primary_label() == "wmh"
    dumped = spec.model_dump(mode="json")
    assert dumped["protocol"]["metrics"][1] == {"name": "nsd", "tolerance_mm": 1.0}
    assert dumped["protocol"]["metrics"][0] == "hd95"


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ("[csf, wmh]", [(1, "csf"), (2, "wmh")]),
        ("{2: gm, 7: wm}", [(2, "gm"), (7, "wm")]),
        ("[{value: 3, name: lesion, kind: lesion}]", [(3, "lesion")]),
    ],
)
def test_label_forms(tmp_path, labels, expected):
    task = f"  type: segmentation\n  labels: {labels}\n{REF}"
    spec = load_spec(_spec(tmp_path, task)).spec
    assert [(x.value, x.name) for x in spec.task.labels] == expected
    assert spec.primary_label() == expected[0][1] or spec.task.labels[0].kind == "lesion"


@pytest.mark.parametrize(
    ("task", "metrics", "needle"),
    [
        (f"  type: segmentation\n  labels: {{1: a, 2: a}}\n{REF}", None, "name a listed twice"),
        (f"  type: segmentation\n  labels: {{0: bg}}\n{REF}", None, "greater than or equal"),
        ("  type: segmentation\n  labels: {1: a}\n", None, "needs 'labels' and 'reference'"),
        (
            f"  type: segmentation\n  target: diagnosis\n  labels: {{1: a}}\n{REF}",
            None,
            "takes no 'target'",
        ),
        (
            "  type: classification\n  target: dx\n  classes: [a, b]\n  labels: {1: a}\n",
            None,
            "are for a segmentation task",
        ),
        (
            "  type: segmentation\n  labels: {1: a}\n  reference: {source: column}\n",
            None,
            "needs 'column'",
        ),
        (
            f"  type: segmentation\n  labels: {{1: a}}\n{REF}",
            "[{name: hd95, tolerance_mm: 1}]",
            "tolerance_mm is a parameter of nsd",
        ),
        (f"  type: segmentation\n  labels: {{1: a}}\n{REF}", "[auroc]", "does not apply"),
        (
            f"  type: segmentation\n  labels: {{1: a}}\n{REF}",
            "[{name: nsd, tolerance_mm: -1}]",
            "greater than 0",
        ),
    ],
)
def test_bad_segmentation_specs_name_the_problem(tmp_path, task, metrics, needle):
    path = _spec(tmp_path, task, metrics or "[hd95, lesion-f1]")
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert needle in str(err.value)


def test_primary_label_must_be_a_label(tmp_path):
    path = _spec(tmp_path, f"  type: segmentation\n  labels: {{1: a}}\n{REF}")
    path.write_text(
        path.read_text().replace("primary_metric: dice", "primary_metric: dice\n  primary_label: b")
    )
    with pytest.raises(SpecError, match="primary_label 'b' is not a label"):
        load_spec(path)


@settings(max_examples=25, deadline=None)
@given(
    st.dictionaries(
        st.integers(1, 255),
        st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,8}", fullmatch=True),
        min_size=1,
        max_size=6,
    ).filter(lambda d: len(set(d.values())) == len(d)),
    st.data(),
)
def test_label_forms_agree(mapping, data):
    """The mapping form, the list of objects and (for values 1..n) the list of names give the
    same labels; a lesion marked in the mapping stays a lesion."""
    from brainbench.spec.models import Task

    lesion = data.draw(st.sampled_from(sorted(mapping)))
    ref = {"source": "column", "column": "mask"}
    as_map = {k: ({"name": v, "kind": "lesion"} if k == lesion else v) for k, v in mapping.items()}
    objects = [
        {"value": k, "name": v, **({"kind": "lesion"} if k == lesion else {})}
        for k, v in mapping.items()
    ]
    a = Task(type="segmentation", labels=as_map, reference=ref).labels
    b = Task(type="segmentation", labels=objects, reference=ref).labels
    assert a == b
    assert [x.kind == "lesion" for x in a] == [k == lesion for k in mapping]
    names = list(mapping.values())
    listed = Task(type="segmentation", labels=names, reference=ref).labels
    assert [(x.value, x.name) for x in listed] == list(enumerate(names, start=1))
