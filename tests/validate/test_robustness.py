"""Mutated specs never escape as an uncaught exception (property test), and light commands
start without torch."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brainbench.validate.engine import validate_path

ROOT = Path(__file__).resolve().parents[2]
BASE = yaml.safe_load((ROOT / "spec/examples/sound-base.yaml").read_text())

_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=12),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


PATHS = [p for p in _paths(BASE) if p]


def _mutate(doc, path, action, value):
    import copy

    doc = copy.deepcopy(doc)
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    if action == "delete":
        del parent[key]
    elif action == "replace":
        parent[key] = value
    elif action == "rename" and isinstance(parent, dict):
        parent[f"{key}x"] = parent.pop(key)
    return doc


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.sampled_from(PATHS),
    st.sampled_from(["delete", "replace", "rename"]),
    _leaves,
)
def test_mutated_specs_give_findings_not_tracebacks(tmp_path, path, action, value):
    doc = _mutate(BASE, path, action, value)
    target = tmp_path / "mutant.yaml"
    target.write_text(yaml.safe_dump(doc, allow_unicode=True))
    result, _ = validate_path(target)
    for finding in result.findings:
        assert finding.message and finding.rule


def test_validate_does_not_import_heavy_packages():
    code = (
        "import sys; from brainbench.cli import main\n"
        "try:\n    main(['validate', 'spec/benchmarks/brain-age.yaml'])\n"
        "except SystemExit:\n    pass\n"
        "mods = ('torch', 'monai', 'statsmodels', 'pandas', 'sklearn')\n"
        "heavy = [m for m in mods if m in sys.modules]\n"
        "print('HEAVY', heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY []" in out
