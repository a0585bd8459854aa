"""The evidence sheet on the fixed fixture: golden files, structure, self-containment.

Refresh the golden files after an intended change with

    BRAINBENCH_UPDATE_GOLDEN=1 pytest tests/report -k golden

and review the diff of tests/report/golden/ before committing it.
"""

from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from brainbench.report import SECTIONS
from brainbench.report._model import ordered_sections

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("BRAINBENCH_UPDATE_GOLDEN") == "1"
SECTION_IDS = [
    "identity",
    "protocol",
    "cohort",
    "audit",
    "primary",
    "generalisation",
    "comparisons",
    "ranking",
    "variance",
    "calibration",
    "confound",
    "conclusions",
    "provenance",
]


def _golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE or not path.exists():
        path.write_text(text, encoding="utf-8")
        if not UPDATE:
            pytest.fail(f"golden file {path} was missing and has been written; rerun")
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (
        f"{name} differs from {path}; if the change is intended, refresh with "
        "BRAINBENCH_UPDATE_GOLDEN=1 pytest tests/report -k golden"
    )


def test_golden_json(report_dir: Path) -> None:
    _golden("evidence.json", (report_dir / "evidence.json").read_text(encoding="utf-8"))


def test_golden_markdown(report_dir: Path) -> None:
    _golden("evidence.md", (report_dir / "evidence.md").read_text(encoding="utf-8"))


def test_registry_has_the_thirteen_sections_in_order() -> None:
    assert [s.id for s in ordered_sections()] == SECTION_IDS
    assert [s.number for s in ordered_sections()] == list(range(1, 14))
    with pytest.raises(ValueError, match="registered twice"):
        SECTIONS.add("identity", SECTIONS.get("identity"))


def test_every_section_is_complete_on_the_full_fixture(report_dir: Path) -> None:
    doc = json.loads((report_dir / "evidence.json").read_text())
    assert doc["format"] == "brainbench-evidence"
    assert [s["id"] for s in doc["sections"]] == SECTION_IDS
    for s in doc["sections"]:
        assert s["status"] == "ok", (s["id"], s["missing"])


def test_numbers_agree_between_json_and_markdown(report_dir: Path) -> None:
    doc = json.loads((report_dir / "evidence.json").read_text())
    md = (report_dir / "evidence.md").read_text()
    primary = next(s for s in doc["sections"] if s["id"] == "primary")
    for r in primary["data"]["results"]:
        if r["metric"] == "balanced_accuracy" and r["partition"] == "test":
            assert f"{r['estimate']:.3f}" in md
            assert f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]" in md


def test_conclusions_are_plain_words_from_the_numbers(report_dir: Path) -> None:
    doc = json.loads((report_dir / "evidence.json").read_text())
    comp = next(s for s in doc["sections"] if s["id"] == "comparisons")
    concl = next(s for s in doc["sections"] if s["id"] == "conclusions")
    claims = concl["data"]["claims"]
    for r in comp["data"]["results"]:
        ci = f"[{r['ci_low']:.3f}, {r['ci_high']:.3f}]"
        if "demographics-logreg" not in (r["a"], r["b"]):
            assert any(r["a"] in c["evidence"] and ci in c["evidence"] for c in claims), ci
    assert any("95% CI of the difference" in c["evidence"] for c in claims)


def test_claims_have_one_status_and_the_box_cannot_contradict_itself(report_dir: Path) -> None:
    doc = json.loads((report_dir / "evidence.json").read_text())
    concl = next(s for s in doc["sections"] if s["id"] == "conclusions")
    claims = concl["data"]["claims"]
    statements = [c["statement"] for c in claims]
    assert len(statements) == len(set(statements)), "a claim is listed twice"
    assert {c["status"] for c in claims} <= {"supported", "not supported", "not estimable"}
    # The confound-baseline comparison is always in the box, on every test set.
    baseline = [c for c in claims if c["kind"] == "baseline"]
    assert {c["partition"] for c in baseline} == {"test", "extcohort"}
    assert all(c["key"] for c in baseline)
    md = (report_dir / "evidence.md").read_text()
    box = md[md.index("## Key findings") : md.index("## Contents")]
    for c in baseline:
        assert c["sentence"] in box
    # The fixture's test set has 3 sites: the paired comparisons hold them fixed (a site-level
    # comparison is not estimable), so the "best" claim rests on comparisons conditional on
    # these sites, and one of them is not won by the margin: nothing in the box says it holds.
    best = next(c for c in claims if c["kind"] == "best")
    assert best["status"] == "not supported"
    assert "conditional on these 3 sites" in best["evidence"]
    assert "is the best model" not in box.split("**Supported by the evidence**")[-1].split("**")[0]


def test_confound_baseline_section(report_dir: Path) -> None:
    doc = json.loads((report_dir / "evidence.json").read_text())
    sec = next(s for s in doc["sections"] if s["id"] == "confound")
    assert sec["data"]["baseline"] == "demographics-logreg"
    pairs = {(r["a"], r["partition"]) for r in sec["data"]["results"]}
    assert pairs == {(m, p) for m in ("voxel-linear", "cnn3d-small") for p in ("test", "extcohort")}
    for r in sec["data"]["results"]:
        assert r["b"] == "demographics-logreg"
        assert r["ci_low"] <= r["estimate"] <= r["ci_high"]


def test_variance_and_calibration_sections(report_dir: Path) -> None:
    doc = json.loads((report_dir / "evidence.json").read_text())
    var = next(s for s in doc["sections"] if s["id"] == "variance")["data"]["models"]
    for m in ("voxel-linear", "cnn3d-small", "demographics-logreg"):
        assert var[m]["n_seeds"] == 3 and var[m]["n_splits"] == 3
        assert var[m]["sd_seed"] > 0 and var[m]["sd_split"] > 0 and var[m]["sd_site"] > 0
    cal = next(s for s in doc["sections"] if s["id"] == "calibration")["data"]
    metrics = {(r["model"], r["metric"]) for r in cal["results"] if r["partition"] == "test"}
    assert ("cnn3d-small", "ece_debiased") in metrics and ("cnn3d-small", "brier") in metrics
    # The debiased ECE lies inside its (bias-corrected basic) interval.
    for r in cal["results"]:
        if r["metric"] == "ece_debiased":
            assert r["ci_low"] <= r["estimate"] <= r["ci_high"], r
    assert sum(b["n"] for b in cal["bins"]["cnn3d-small"]) > 0


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables = 0
        self.tables_with_th: set[int] = set()
        self.imgs: list[dict[str, str | None]] = []
        self.sections: list[str] = []
        self.links: list[str] = []
        self.scripts = 0
        self._table = -1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.tables += 1
            self._table = self.tables
        elif tag == "th":
            self.tables_with_th.add(self._table)
        elif tag == "img":
            self.imgs.append(a)
        elif tag == "section":
            self.sections.append(a.get("id") or "")
        elif tag in ("a", "link"):
            self.links.append(a.get("href") or "")
        elif tag == "script":
            self.scripts += 1


def test_html_is_self_contained_and_accessible(report_dir: Path) -> None:
    html = (report_dir / "evidence.html").read_text()
    p = _Html()
    p.feed(html)
    assert p.sections == SECTION_IDS
    assert p.tables > 15 and p.tables_with_th == set(range(1, p.tables + 1))
    assert len(p.imgs) >= 9
    for img in p.imgs:
        assert img["alt"] and len(img["alt"]) > 30
        assert img["src"].startswith("data:image/svg+xml;base64,")
    assert all(link.startswith("#") for link in p.links)
    assert p.scripts == 0
    # No resource is fetched from anywhere: no URL outside data: URIs and plain text.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "@import" not in html and "url(" not in html


def test_figures_are_written_as_png_and_svg(report_dir: Path) -> None:
    doc = json.loads((report_dir / "evidence.json").read_text())
    figs = [f for s in doc["sections"] for f in s["figures"]]
    ids = {f["id"] for f in figs}
    assert {
        "forest_primary",
        "significance_map",
        "rank_blobs",
        "reliability",
        "variance_sources",
        "forest_baseline",
        "forest_site",
    } <= ids
    for f in figs:
        png, svg = report_dir / f["png"], report_dir / f["svg"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        text = svg.read_text()
        assert text.lstrip().startswith("<?xml") and "<svg" in text
        assert "<dc:date>" not in text and "Matplotlib v" not in text


def test_figures_are_byte_stable(tmp_path: Path) -> None:
    from brainbench.report import _figures as F

    paths = []
    for name in ("a", "b"):
        w = F.FigureWriter(tmp_path / name)
        fig = F.forest([("m1", 0.7, 0.6, 0.8), ("m2", 0.65, 0.5, 0.75)], xlabel="x")
        f = w.save(fig, "forest", "t", "alt text", "caption")
        paths.append((tmp_path / name / f.png, tmp_path / name / f.svg))
    assert paths[0][0].read_bytes() == paths[1][0].read_bytes()
    assert paths[0][1].read_bytes() == paths[1][1].read_bytes()


def test_regression_predictions_without_spec(tmp_path: Path) -> None:
    """A regression table (brain age) made elsewhere: no spec, lower-is-better MAE."""
    import numpy as np
    import pandas as pd

    from brainbench.report import write_report

    rng = np.random.default_rng(0)
    rows = []
    for model, noise in (("small-error", 2.0), ("large-error", 6.0)):
        for seed in range(2):
            for s in range(40):
                y = 50 + 0.7 * s
                rows.append(
                    {
                        "model": model,
                        "seed": seed,
                        "partition": "test",
                        "site": f"S{s % 4}",
                        "subject": f"sub-{s:02d}",
                        "y_true": y,
                        "y_pred": y + rng.normal(0, noise),
                    }
                )
    preds = tmp_path / "brain_age.csv"
    pd.DataFrame(rows).to_csv(preds, index=False)
    write_report([preds], tmp_path / "out", resamples=50)
    doc = json.loads((tmp_path / "out" / "evidence.json").read_text())
    secs = {s["id"]: s for s in doc["sections"]}
    assert doc["primary_metric"] == "mae"
    assert secs["calibration"]["status"] == "unavailable"
    comp = secs["comparisons"]["data"]["results"][0]
    assert comp["a"] == "small-error" and comp["estimate"] < 0
    text = " ".join(secs["comparisons"]["text"])
    if comp["decision"] == "superior":
        assert "lies below 0" in text
    assert secs["ranking"]["data"]["full_rank"]["small-error"] == 1.0


def test_the_whole_sheet_is_byte_stable(run_dir: Path, report_dir: Path, tmp_path: Path) -> None:
    """Same inputs and seed: every file (HTML, Markdown, JSON, PNG, SVG) is byte-identical."""
    from brainbench.report import write_report

    from .conftest import RESAMPLES, SEED

    again = tmp_path / "again"
    write_report([run_dir], again, resamples=RESAMPLES, seed=SEED)
    first = sorted(
        p.relative_to(report_dir)
        for p in report_dir.rglob("*")
        if p.is_file() and p.name != "screenshot.png"
    )
    second = sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    assert first == second
    for rel in first:
        assert (report_dir / rel).read_bytes() == (again / rel).read_bytes(), rel
