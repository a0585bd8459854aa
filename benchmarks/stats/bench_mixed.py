"""Benchmark: the REML fit of ``compare --method mixed`` against statsmodels MixedLM.

Side by side, in one run, on the same simulated paired differences (site and subject random
intercepts, 2 rows per subject): ``brainbench.stats._mixed.fit_mixed`` (O(n) recursion,
exact derivatives, Satterthwaite df included) and statsmodels' ``MixedLM`` with the same
model (groups = site, subject as a variance component; REML; its default optimiser, Wald
test only; up to 3,000 rows: at 10,000 rows it took 250 s). Best of ``--repeats`` wall and
CPU times; the two REML optima are compared (largest relative difference of the variances)
and reported.

Usage::

    python benchmarks/stats/bench_mixed.py > benchmarks/stats/results/bench-mixed.jsonl
    python benchmarks/stats/bench_mixed.py --quick    # a smoke run (seconds)
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings

import numpy as np
import pandas as pd

from brainbench.stats._mixed import fit_mixed

DESIGNS = [(8, 20), (16, 80), (1, 2500), (8, 625)]


def _time(fn, repeats: int) -> tuple[float, float, object]:
    wall, cpu, out = float("inf"), float("inf"), None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall = min(wall, time.perf_counter() - t0)
        cpu = min(cpu, time.process_time() - c0)
    return wall, cpu, out


def _data(sites: int, per_site: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    site = np.repeat(np.arange(sites), per_site * 2)
    subject = np.repeat(np.arange(sites * per_site), 2)
    d = (
        rng.normal(0, 0.3, sites)[site]
        + rng.normal(0, 1.0, sites * per_site)[subject]
        + rng.normal(size=len(site))
    )
    return pd.DataFrame({"d": d, "site": site, "subject": subject})


def _statsmodels(df: pd.DataFrame):
    import statsmodels.formula.api as smf

    model = smf.mixedlm(
        "d ~ 1", df, groups=df["site"], re_formula="1", vc_formula={"subject": "0 + C(subject)"}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(reml=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    designs = DESIGNS[:1] if args.quick else DESIGNS
    rows = []
    for k, (sites, per_site) in enumerate(designs):
        df = _data(sites, per_site, k)
        levels = [df["site"].to_numpy(), df["subject"].to_numpy()]
        ours = _time(
            lambda df=df, lv=levels: fit_mixed(df["d"].to_numpy(), lv, ["site", "subject"]),
            args.repeats,
        )
        row = {"sites": sites, "subjects_per_site": per_site, "rows": len(df)}
        row |= {"brainbench_wall_s": ours[0], "brainbench_cpu_s": ours[1]}
        # statsmodels needs two sites, and takes minutes beyond a few thousand rows
        if sites > 1 and len(df) <= 3000:
            ref = _time(lambda df=df: _statsmodels(df), 1)
            fit, sm = ours[2], ref[2]
            ref_var = [sm.scale, float(sm.cov_re.iloc[0, 0]), float(sm.vcomp[0])]
            got = [fit.variances[n] for n in ("residual", "site", "subject")]
            row |= {
                "statsmodels_wall_s": ref[0],
                "statsmodels_cpu_s": ref[1],
                "speed_ratio_cpu": ref[1] / ours[1],
                "max_rel_diff_variances": float(
                    max(abs(g - r) / max(abs(r), 1e-12) for g, r in zip(got, ref_var, strict=True))
                ),
                "statsmodels_converged": bool(sm.converged),
            }
        rows.append(row)
        print(json.dumps(row))
    print(json.dumps({"python": platform.python_version(), "machine": platform.machine()}))


if __name__ == "__main__":
    main()
