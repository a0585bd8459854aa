"""The segmentation evidence sheet as a reader sees it: rendered by headless Chromium.

Every section, table and figure renders, with no console error (as tests/report/
test_browser.py checks the classification sheet).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.report import browser
from tests.report.test_browser import PROBE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        browser.chromium() is None,
        reason="headless Chromium is not installed (apt-get install -y chromium)",
    ),
]

SEG_SECTION_IDS = (
    "identity",
    "protocol",
    "audit",
    "labels",
    "breakdowns",
    "cases",
    "worst",
    "comparisons",
    "ranking",
    "conclusions",
    "provenance",
)


def rendered(html: Path, tmp_path: Path) -> str:
    """The DOM Chromium built from ``html``, checked: no console message, every section,
    every figure decoded. Returns the DOM."""
    probe = tmp_path / "probe.html"
    probe.write_text(html.read_text().replace("</body>", PROBE, 1))
    page = browser.load(probe)
    assert page.dom, page.stderr[-2000:]
    assert page.console == [], page.console
    for sid in SEG_SECTION_IDS:
        assert f'id="{sid}"' in page.dom, sid
    m = re.search(r'data-images="(\d+)/(\d+)"', page.dom)
    assert m, "the load probe did not run"
    ok, total = int(m.group(1)), int(m.group(2))
    assert total >= 2 and ok == total, f"{ok} of {total} figures rendered"
    return page.dom


def test_segmentation_sheet_renders_in_chromium(seg_report_dir: Path, tmp_path: Path) -> None:
    dom = rendered(seg_report_dir / "evidence.html", tmp_path)
    assert dom.count("<th") > 60
    assert "Key findings" in dom and "Worst cases and empty cases" in dom
    assert "sub-s3n2_ses-2" in dom  # the planted worst case, by its id
    shot = browser.screenshot(seg_report_dir / "evidence.html", tmp_path / "seg.png")
    assert shot.stat().st_size > 50_000
    print(f"screenshot: {shot}")
