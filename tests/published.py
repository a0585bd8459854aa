"""Published-value tests must run in CI: a skip there is a failure (pytest hooks).

A test is a published-value test when it is marked ``published`` or uses the ``asah`` data
(pROC's aSAH example). Locally such a test may be skipped; with ``CI=true`` the skip is turned
into a failure, so that a missing data file cannot silently drop the checks against the
literature.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

PUBLISHED_FIXTURES = {"asah"}


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if PUBLISHED_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.published)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and item.get_closest_marker("published") is not None:
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"published-value test {item.nodeid} was skipped in CI ({reason}); its data must "
            "be in tests/data/ (see tests/data/README.md)."
        )
