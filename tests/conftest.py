from __future__ import annotations

from pathlib import Path

import pytest

import tests.fuzzing  # noqa: F401  (registers the hypothesis profile 'long')
from tests.published import pytest_collection_modifyitems, pytest_runtest_makereport

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["pytest_collection_modifyitems", "pytest_runtest_makereport"]


@pytest.fixture
def root() -> Path:
    return ROOT
