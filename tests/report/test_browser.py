"""evidence.html as a reader sees it: rendered by headless Chromium (Debian's chromium).

The page must render every section, table and figure, with no console error. The screenshot
is kept as an artefact in the test's temporary folder (its path is printed).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.report import browser
from tests.report.test_report import SECTION_IDS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        browser.chromium() is None,
        reason="headless Chromium is not installed (apt-get install -y chromium)",
    ),
]

PROBE = """<script>
window.addEventListener('load', () => {
  const imgs = Array.from(document.images);
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.setAttribute('data-images', ok + '/' + imgs.length);
});
</script></body>"""


def test_console_parser_sees_errors(tmp_path: Path) -> None:
    """Negative control: a page that logs an error and throws is caught by the parser."""
    page = tmp_path / "bad.html"
    page.write_text(
        "<!DOCTYPE html><html><body><p>x</p><script>console.error('boom');"
        "undefinedFunction();</script></body></html>"
    )
    got = browser.load(page)
    messages = " ".join(m for _, m, _ in got.console)
    assert "boom" in messages and "undefinedFunction" in messages


def test_evidence_sheet_renders_in_chromium(report_dir: Path, tmp_path: Path) -> None:
    html = report_dir / "evidence.html"
    # A copy with a probe script that counts the images that decoded; the sheet has no script.
    probe = tmp_path / "probe.html"
    probe.write_text(html.read_text().replace("</body>", PROBE, 1))
    page = browser.load(probe)
    assert page.dom, page.stderr[-2000:]
    assert page.console == [], page.console
    for sid in SECTION_IDS:
        assert f'id="{sid}"' in page.dom
    m = re.search(r'data-images="(\d+)/(\d+)"', page.dom)
    assert m, "the load probe did not run"
    ok, total = int(m.group(1)), int(m.group(2))
    assert total >= 9 and ok == total, f"{ok} of {total} figures rendered"
    assert page.dom.count("<th") > 50
    assert "What can and cannot be concluded" in page.dom and "Table 1" in page.dom
    shot = browser.screenshot(html, tmp_path / "evidence.png")
    assert shot.stat().st_size > 50_000
    keep = report_dir / "screenshot.png"
    shutil.copyfile(shot, keep)
    print(f"screenshot: {shot}")


def test_leaderboard_renders_in_chromium(report_dir: Path, tmp_path: Path) -> None:
    from brainbench.report import write_leaderboard

    reports = tmp_path / "reports" / "fixture"
    reports.mkdir(parents=True)
    shutil.copyfile(report_dir / "evidence.json", reports / "evidence.json")
    html = write_leaderboard(tmp_path / "reports", tmp_path / "board", resamples=50)
    page = browser.load(html)
    assert page.console == [], page.console
    assert "brainbench leaderboard" in page.dom and page.dom.count("<th") >= 7
    assert "cnn3d-small" in page.dom and "reproduced" in page.dom
