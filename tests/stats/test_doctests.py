"""The examples in the docstrings run."""

from __future__ import annotations

import doctest

import pytest

import brainbench.stats
import brainbench.stats._power


@pytest.mark.parametrize("module", [brainbench.stats, brainbench.stats._power])
def test_docstring_examples(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
