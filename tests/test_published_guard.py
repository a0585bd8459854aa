"""The guard of tests/published.py: a published-value test skipped in CI fails the suite."""

from __future__ import annotations

from pathlib import Path

ASAH = Path(__file__).resolve().parent / "data" / "aSAH.tsv"  # what tests/stats reads

pytest_plugins = ["pytester"]

GUARDED = """
import pytest

@pytest.fixture
def asah():
    pytest.skip("aSAH.tsv not available")

def test_uses_asah(asah):
    pass

@pytest.mark.published
def test_marked():
    pytest.skip("no data")

def test_other():
    pytest.skip("not a published-value test")
"""


def test_skipped_published_tests_fail_in_ci(pytester, monkeypatch):
    monkeypatch.setenv("CI", "true")
    pytester.makeconftest(
        "from tests.published import pytest_collection_modifyitems, pytest_runtest_makereport\n"
    )
    pytester.makeini("[pytest]\nmarkers =\n    published: published values\n")
    pytester.makepyfile(GUARDED)
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    outcomes = result.parseoutcomes()
    # the two published-value tests fail; the other test may still skip
    assert outcomes.get("failed", 0) + outcomes.get("errors", 0) == 2
    assert outcomes.get("skipped", 0) == 1
    result.stdout.fnmatch_lines(["*published-value test*was skipped in CI*tests/data/*"])


def test_published_data_is_in_the_repository():
    assert ASAH.is_file() and ASAH.read_text().startswith("gos6\toutcome")
