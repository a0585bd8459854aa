"""Merging ``extends`` and parsing include filters: linear now, quadratic before (issue 13).

Usage::

    python benchmarks/robustness/bench_linear.py [--quick]

Times, in the same run, brainbench's ``_merge`` against the merge it replaced (kept below as the
baseline: it rescanned every position for each overridden key), and ``parse_filter`` against
the tokenizer it replaced (it copied the rest of the text for each token), on texts up to the
size of the issue's 1.2 MB filter (which ``parse_filter`` now refuses above 200,000
characters). Writes ``benchmarks/robustness/results/bench-linear.json``.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from brainbench.spec import filter as filter_module
from brainbench.spec.loading import _merge
from brainbench.spec.yaml_loader import load_yaml_document

RESULTS = Path(__file__).resolve().parent / "results"


def quadratic_merge(base: dict, base_pos: dict, child: dict, child_pos: dict, prefix=()) -> dict:
    """The merge of brainbench before issue 13 (the baseline)."""
    out = dict(base)
    for key, value in child.items():
        here = (*prefix, key)
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = quadratic_merge(out[key], base_pos, value, child_pos, here)
            base_pos[here] = child_pos[here]
            continue
        out[key] = value
        for k in [k for k in base_pos if k[: len(here)] == here]:
            del base_pos[k]
        for k, pos in child_pos.items():
            if k[: len(here)] == here:
                base_pos[k] = pos
    return out


def quadratic_tokenize(text: str) -> int:
    """The tokenizer loop of brainbench before issue 13 (the baseline); returns the tokens."""
    pattern: re.Pattern[str] = filter_module._TOKEN
    count, pos = 0, 0
    while pos < len(text):
        if text[pos:].strip() == "":  # a copy of the rest of the text per token
            break
        m = pattern.match(text, pos)
        if not m or m.end() == pos:
            raise ValueError(pos)
        count += 1
        pos = m.end()
    return count


def spec_text(n: int, value: str) -> str:
    return "".join(f"k{i}:\n  a: {value}\n  b: [1, 2]\n  c: {{d: x}}\n" for i in range(n))


def clock(fn: Any, *args: Any) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def bench_merge(sizes: list[int], baseline_max: int) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for n in sizes:
            base_file, leaf_file = Path(folder, "base.yaml"), Path(folder, "leaf.yaml")
            base_file.write_text(spec_text(n, "1"))
            leaf_file.write_text(spec_text(n, "2"))
            start = time.perf_counter()
            base, leaf = load_yaml_document(base_file), load_yaml_document(leaf_file)
            parse = time.perf_counter() - start
            row = {"keys": n, "kb_per_file": base_file.stat().st_size // 1000, "parse_s": parse}
            row["merge_s"] = clock(_merge, base.data, base.positions, leaf.data, leaf.positions, {})
            if n <= baseline_max:
                positions = dict(base.positions)
                row["baseline_merge_s"] = clock(
                    quadratic_merge, base.data, positions, leaf.data, leaf.positions
                )
                row["ratio"] = row["baseline_merge_s"] / row["merge_s"]
            rows.append(row)
            print(row, file=sys.stderr, flush=True)
    return rows


def bench_filter(sizes: list[int]) -> list[dict]:
    rows = []
    for n in sizes:
        text = " or ".join(f"age == {i}" for i in range(n))
        row = {"terms": n, "chars": len(text)}
        row["tokenize_s"] = clock(filter_module._tokenize, text)
        row["baseline_tokenize_s"] = clock(quadratic_tokenize, text)
        row["ratio"] = row["baseline_tokenize_s"] / row["tokenize_s"]
        if len(text) <= filter_module.MAX_FILTER_CHARS:
            row["parse_s"] = clock(filter_module.parse_filter, text)
        rows.append(row)
        print(row, file=sys.stderr, flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        merge_sizes, baseline_max, filter_sizes = [500, 1000], 1000, [2000, 8000]
    else:  # 5,000 keys make two files of 189 kB, 75,000 terms a 1.2 MB filter, as in the issue
        merge_sizes, baseline_max = [500, 1000, 2000, 5000], 2000
        filter_sizes = [4000, 16000, 75000]
    summary = {
        "merge": bench_merge(merge_sizes, baseline_max),
        "filter": bench_filter(filter_sizes),
    }
    RESULTS.mkdir(exist_ok=True)
    name = "bench-linear-quick.json" if args.quick else "bench-linear.json"
    (RESULTS / name).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
