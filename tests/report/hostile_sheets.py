"""Malformed ``evidence.json`` files for fuzzing ``brainbench leaderboard`` (the fuzz tests and
``benchmarks/robustness/fuzz_evidence.py`` share this generator).

``make_sheet(rng)`` starts from a small valid sheet (the fields the leaderboard reads) and applies
one mutation of :data:`KINDS`: a value anywhere replaced by a value of another type, a key
removed, the top level replaced, deep nesting, huge or hostile strings, broken JSON or bytes.
``run_sheets(folder)`` runs ``brainbench leaderboard`` on it in this process.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.stats.hostile_tables import WEIRD_TEXT, run_command

Mutation = Callable[[random.Random, dict[str, Any]], Any]


def base_sheet(rng: random.Random) -> dict[str, Any]:
    models = [f"m{i}" for i in range(rng.randint(1, 4))]
    results = [
        {
            "model": m,
            "metric": "balanced_accuracy",
            "partition": "test",
            "estimate": rng.random(),
            "ci_low": 0.1,
            "ci_high": 0.9,
            "n_units": 40,
            "group": {},
        }
        for m in models
    ]
    return {
        "format": "brainbench-evidence",
        "format_version": 1,
        "benchmark": {"id": f"bench-{rng.randint(0, 3)}", "version": "1.0.0"},
        "tier": rng.choice(["reproduced", "self-reported"]),
        "primary_metric": "balanced_accuracy",
        "predictions_sha256": ["0" * 64],
        "sections": [
            {
                "id": "identity",
                "data": {
                    "model_tiers": {m: "reproduced" for m in models},
                    "run_spec_sha256": "1" * 64,
                },
            },
            {"id": "protocol", "data": {"deviations": [{"severity": "error"}]}},
            {
                "id": "audit",
                "status": "ok",
                "data": {"valid": True, "failed": [], "rules": [{"rule": "D302", "status": "ok"}]},
            },
            {
                "id": "primary",
                "data": {
                    "metric": "balanced_accuracy",
                    "partition": "test",
                    "unit": "subject",
                    "results": results,
                },
            },
            {
                "id": "ranking",
                "data": {
                    "full_rank": {m: i + 1 for i, m in enumerate(models)},
                    "rank_ci": {m: [1, len(models)] for m in models},
                    "p_first": {m: 1 / len(models) for m in models},
                },
            },
        ],
    }


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path to a value inside ``value`` (keys and list indices)."""
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    choice = rng.randrange(10 if depth < 3 else 7)
    if choice == 0:
        return None
    if choice == 1:
        return rng.choice([True, False])
    if choice == 2:
        return rng.choice([0, -1, 2**70, 7])
    if choice == 3:
        return rng.choice([0.5, -1e308, 1e-320, float("nan"), float("inf")])
    if choice in (4, 5, 6):
        return rng.choice(WEIRD_TEXT)
    if choice in (7, 8):
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {str(rng.choice(WEIRD_TEXT))[:20]: _random_value(rng, depth + 1)}


def _replace(rng: random.Random, doc: dict[str, Any]) -> Any:
    for _ in range(rng.randint(1, 4)):
        path = rng.choice(_paths(doc))
        if not path:
            return _random_value(rng)
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        parent[path[-1]] = _random_value(rng)
    return doc


def _delete(rng: random.Random, doc: dict[str, Any]) -> Any:
    path = rng.choice([p for p in _paths(doc) if p])
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return doc


def _duplicate_model(rng: random.Random, doc: dict[str, Any]) -> Any:
    results = doc["sections"][3]["data"]["results"]
    results.append(dict(results[0]))
    return doc


KINDS: dict[str, Mutation] = {
    "valid": lambda rng, doc: doc,
    "replace": _replace,
    "delete": _delete,
    "top-level": lambda rng, doc: rng.choice([[doc], "sheet", 3, None, []]),
    "duplicate-model": _duplicate_model,
}
RAW_KINDS = ("deep", "deep-raw", "not-json", "bytes", "empty", "nan-tokens")


def _nest(rng: random.Random, depth: int) -> str:
    """A JSON value of lists and objects nested ``depth`` deep."""
    opens = [rng.random() < 0.5 for _ in range(depth)]
    head = "".join("[" if is_list else '{"k":' for is_list in opens)
    tail = "".join("]" if is_list else "}" for is_list in reversed(opens))
    return head + "1" + tail


def make_sheet(rng: random.Random, kind: str | None = None) -> tuple[str, bytes]:
    """``(kind, bytes of evidence.json)``."""
    kind = kind or rng.choice([*KINDS, *RAW_KINDS])
    doc = base_sheet(rng)
    if kind in KINDS:
        return kind, json.dumps(KINDS[kind](rng, doc)).encode("utf-8")
    if kind == "deep":  # deep nesting inside a section, deeper than json.dumps can write
        doc["sections"][rng.randrange(len(doc["sections"]))]["data"] = "__DEEP__"
        n = rng.choice([50, 900, 5_000, 100_000])
        return kind, json.dumps(doc).replace('"__DEEP__"', _nest(rng, n)).encode()
    text = json.dumps(doc)
    if kind == "deep-raw":
        n = rng.choice([1_000, 100_000])
        return kind, ("[" * n + "]" * n).encode()
    if kind == "not-json":
        return kind, text[: rng.randrange(len(text))].encode()
    if kind == "bytes":
        return kind, rng.randbytes(rng.randint(0, 2000))
    if kind == "empty":
        return kind, b""
    return kind, text.replace("0.1", "NaN").replace("0.9", "Infinity").encode()


def run_sheets(folder: Path) -> tuple[int, str, float]:
    """``brainbench leaderboard`` on ``folder/reports``: exit status, stderr, seconds."""
    start = time.perf_counter()
    status, _, err = run_command(
        ["leaderboard", str(folder / "reports"), "-o", str(folder / "board"), "--resamples", "10"]
    )
    return status, err, time.perf_counter() - start


def problems(status: int, stderr: str) -> list[str]:
    found = []
    if status not in (0, 2):
        found.append(f"exit {status}: {stderr.strip()[:300]}")
    if "Traceback" in stderr:
        found.append("a traceback was printed")
    if status == 2 and not stderr.startswith("error: "):
        found.append("exit 2 without a message")
    return found
