"""Integer codes of ids against per-row text, in one run (issue 16, item 3).

* ``GroupKFold(5)`` on 1,000,000 rows of 333,333 text subject ids: the splitter's ids
  factorised once with only the distinct ids sorted (now), against ``np.unique`` of every
  row's text (before); the folds must be identical.
* the balanced-accuracy interval of 100,000 predictions (10,000 subjects, 20 sites, 10,000
  resamples, site -> subject) including the preparation of the table (``model_data``): ids
  joined by Arrow and labels coded per distinct value (now), against per-row text (before).

Timings are process CPU seconds (the steadier figure on a shared machine) and wall seconds,
best of ``--repeats``; the load average is recorded.

    python benchmarks/cohort_split/bench_codes.py [--rows 1000000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from contextlib import contextmanager

import numpy as np

import brainbench.split._splitters as splitters
import brainbench.stats._data as stats_data
import brainbench.stats._io as stats_io
from brainbench.stats import Task, confidence_interval, model_data, simulate_predictions


def _encode_groups_text(groups, y=None):
    """The previous ``encode_groups``: ``np.unique`` of every sample's text."""
    g = np.asarray(groups)
    if g.dtype.kind not in "iuU":
        g = splitters._as_text(g)
    ids, first, inverse = np.unique(g, return_index=True, return_inverse=True)
    strata = np.zeros(len(ids), dtype=np.int64)
    if y is not None:
        yy = np.asarray(y)
        if yy.dtype.kind not in "iuU":
            yy = splitters._as_text(yy)
        _, strata = np.unique(yy[first], return_inverse=True)
    return inverse.reshape(-1), strata.reshape(-1), ids


def _join_text(frame, cols):
    out = None
    for c in cols:
        part = frame[c].astype(object).where(frame[c].notna(), "").astype(str)
        out = part if out is None else out + "|" + part
    return out


def _label_codes_text(s, code):
    return s.astype(str).map(code)


@contextmanager
def previous():
    saved = (splitters.encode_groups, stats_data._join, stats_io._label_codes)
    splitters.encode_groups = _encode_groups_text
    stats_data._join = _join_text
    stats_io._label_codes = _label_codes_text
    try:
        yield
    finally:
        splitters.encode_groups, stats_data._join, stats_io._label_codes = saved


def best(fn, repeats):
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return wall, cpu, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    subjects = np.array(
        [f"sub-{i:06d}" for i in rng.integers(0, a.rows // 3, a.rows)], dtype=object
    )
    y = rng.choice(np.array(["CN", "AD"], dtype=object), a.rows)

    def kfold():
        return [t for _, t in splitters.GroupKFold(5).split(None, y, subjects)]

    df = simulate_predictions(n_sites=20, subjects_per_site=500, images_per_session=10, seed=0)
    task = Task("classification", ("CN", "AD"))

    def interval():
        md = model_data(df, "A", task, "image")
        ci = confidence_interval(
            md, "balanced_accuracy", clusters=["site", "subject"], resamples=10_000, seed=0
        )
        return ci.ci_low, ci.ci_high

    res = {"cpus": os.cpu_count(), "load_average_before": os.getloadavg()[0]}
    kfold(), interval()  # imports and caches outside the timings
    now = {"kfold": best(kfold, a.repeats), "interval": best(interval, a.repeats)}
    with previous():
        before = {"kfold": best(kfold, a.repeats), "interval": best(interval, a.repeats)}
    same_folds = all(
        np.array_equal(p, q) for p, q in zip(now["kfold"][2], before["kfold"][2], strict=True)
    )
    for name in ("kfold", "interval"):
        res[name] = {
            "now_wall_s": round(now[name][0], 3),
            "now_cpu_s": round(now[name][1], 3),
            "before_wall_s": round(before[name][0], 3),
            "before_cpu_s": round(before[name][1], 3),
            "cpu_ratio": round(before[name][1] / now[name][1], 2),
        }
    res["kfold"]["rows"] = a.rows
    res["kfold"]["identical_folds"] = bool(same_folds)
    res["interval"]["identical_interval"] = bool(now["interval"][2] == before["interval"][2])
    res["load_average_after"] = os.getloadavg()[0]
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
