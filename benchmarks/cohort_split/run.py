"""Cohort reading, split generation and data rules from 10k to 1M sessions.

Usage::

    python benchmarks/cohort_split/run.py --sizes 10000 100000 1000000 --out results.json

Each size runs in a fresh subprocess (so the peak resident memory is that size's own): it
writes a TSV cohort of N sessions (about 3 per subject, 40 sites), a spec, then times

- ``read``: ``load_cohorts`` (TSV parsing, hierarchy mapping, include filter, hierarchy checks);
- ``split``: ``make_splits`` (5 stratified folds by subject, a validation holdout in each);
- ``write``: ``write_split_file`` (the frozen TSV and its sha256);
- ``rules``: every data rule D300-D307 on the cohort and split tables;
- ``sklearn``: scikit-learn's ``StratifiedGroupKFold(5, shuffle=True)`` over the same rows
  (y = diagnosis, groups = subject), all folds materialised, against brainbench's
  ``GroupKFold(5)`` on the same arrays (``ours``); the ratio is sklearn / ours.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEC = """\
brainbench: 1
id: bench
version: 1.0.0
title: cohort and split benchmark
task: {{type: classification, target: diagnosis, classes: [CN, AD]}}
cohorts:
  - {{id: big, role: development, source: {{format: tsv, path: {tsv}}}, include: "age >= 40"}}
hierarchy: {{site: site, scanner: scanner, subject: participant_id, session: session_id}}
splits:
  group: subject
  stratify: [diagnosis, sex, age]
  test: {{method: kfold, folds: 5, sessions: baseline}}
  validation: {{method: holdout, size: 0.2}}
  seed: 2024
protocol:
  primary_metric: balanced_accuracy
  confidence: {{method: hierarchical-bootstrap, clusters: [site, subject]}}
  comparison: {{method: corrected-t, margin: 0.01}}
  seeds: 5
"""


def write_cohort(path: Path, n_sessions: int, seed: int = 0) -> int:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    n_subjects = n_sessions // 3
    sessions = rng.integers(1, 6, n_subjects)
    sessions = np.maximum(1, np.round(sessions * n_sessions / sessions.sum())).astype(int)
    diff = n_sessions - sessions.sum()
    sessions[: abs(diff)] += np.sign(diff)
    subj = np.repeat(np.arange(n_subjects), sessions)
    k = np.arange(len(subj)) - np.repeat(np.cumsum(sessions) - sessions, sessions)
    site = rng.integers(0, 40, n_subjects)
    dx = np.where(rng.random(n_subjects) < 0.35 + 0.01 * (site % 10), "AD", "CN")
    age = rng.normal(72, 7, n_subjects).round(1)
    sex = np.where(rng.random(n_subjects) < 0.5, "F", "M")
    ids = pd.Series(subj).map("sub-{:07d}".format)
    ses = pd.Series(k * 12).map("ses-M{:03d}".format)
    df = pd.DataFrame(
        {
            "participant_id": ids,
            "session_id": ses,
            "diagnosis": dx[subj],
            "age": age[subj] + k,
            "sex": sex[subj],
            "site": pd.Series(site[subj]).map("site{:02d}".format),
            "scanner": pd.Series(site[subj] * 2 + (k % 2)).map("scan{:03d}".format),
            "image": ids + "/" + ses + "/anat/" + ids + "_" + ses + "_T1w.nii.gz",
        }
    )
    df.to_csv(path, sep="\t", index=False)
    return len(df)


def run_one(n: int, sklearn_limit: int) -> dict:
    import numpy as np
    import scipy.stats  # noqa: F401  (imported by D306: time the rules, not the import)

    from brainbench.cohort import load_cohorts
    from brainbench.spec import load_spec
    from brainbench.split import GroupKFold, make_splits, write_split_file
    from brainbench.validate.data_rules import CohortDataContext
    from brainbench.validate.rule import iter_rules

    out: dict = {"sessions": n, "load_average_1min": os.getloadavg()[0], "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        write_cohort(tmp / "cohort.tsv", n)
        (tmp / "spec.yaml").write_text(SPEC.format(tsv="cohort.tsv"))
        loaded = load_spec(tmp / "spec.yaml")

        t = time.perf_counter()
        cohort = load_cohorts(loaded)
        out["read_s"] = time.perf_counter() - t
        out["rows"] = len(cohort.table)
        out["subjects"] = int(cohort.table["subject"].nunique())

        t = time.perf_counter()
        splits = make_splits(loaded, cohort)
        out["split_s"] = time.perf_counter() - t
        out["split_rows"] = len(splits)

        t = time.perf_counter()
        write_split_file(splits, tmp / "splits.tsv")
        out["write_s"] = time.perf_counter() - t

        ctx = CohortDataContext(
            loaded=loaded, cohort=cohort.table, splits=splits, findings=cohort.findings
        )
        out["rules"] = {}
        t = time.perf_counter()
        for rule in iter_rules("data"):
            r0 = time.perf_counter()
            found = list(rule.check(ctx))
            out["rules"][rule.id] = {"s": time.perf_counter() - r0, "findings": len(found)}
        out["rules_s"] = time.perf_counter() - t

        # Splitter against scikit-learn on the same arrays (all rows, not only baselines).
        y = cohort.table["diagnosis"].astype(str).to_numpy()
        groups = cohort.table["subject"].astype(str).to_numpy()
        X = np.zeros((len(y), 1))
        t = time.perf_counter()
        ours = [test for _, test in GroupKFold(5, random_state=0).split(X, y, groups)]
        out["ours_kfold_s"] = time.perf_counter() - t
        if n <= sklearn_limit:
            from sklearn.model_selection import StratifiedGroupKFold

            t = time.perf_counter()
            theirs = [
                test
                for _, test in StratifiedGroupKFold(5, shuffle=True, random_state=0).split(
                    X, y, groups
                )
            ]
            out["sklearn_kfold_s"] = time.perf_counter() - t
            out["sklearn_over_ours"] = out["sklearn_kfold_s"] / out["ours_kfold_s"]
            out["fold_balance"] = {
                "ours_max_minus_min_AD_share": _spread(ours, y),
                "sklearn_max_minus_min_AD_share": _spread(theirs, y),
            }
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _spread(tests, y) -> float:
    shares = [float((y[t] == "AD").mean()) for t in tests]
    return max(shares) - min(shares)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--sklearn-limit", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run_one(args.one, args.sklearn_limit)))
        return
    results = []
    for n in args.sizes:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--sklearn-limit", str(args.sklearn_limit)],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"size {n} failed:\n{proc.stderr}")
        res = json.loads(proc.stdout.strip().splitlines()[-1])
        results.append(res)
        ratio = res.get("sklearn_over_ours")
        print(
            f"{n:>9} sessions: read {res['read_s']:.2f}s  split {res['split_s']:.2f}s "
            f"({res['split_rows']} rows)  write {res['write_s']:.2f}s  rules {res['rules_s']:.2f}s"
            f"  peak {res['peak_rss_mib']:.0f} MiB  kfold ours {res['ours_kfold_s']:.2f}s"
            + (f"  sklearn {res['sklearn_kfold_s']:.2f}s (x{ratio:.1f})" if ratio else ""),
            flush=True,
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
