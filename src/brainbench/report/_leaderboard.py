"""``brainbench leaderboard``: evidence sheets of several benchmarks -> index.html / index.md.

Reads every ``evidence.json`` under a folder. Per benchmark: each model's primary metric with
its interval, its bootstrap rank interval within the benchmark (section 8 of the evidence
sheet) and the tier (``reproduced`` by the runner, or ``self-reported`` predictions). Across
benchmarks (two or more sharing models): mean ranks, Friedman / Iman-Davenport and bootstrap
rank intervals over benchmarks, from :func:`brainbench.stats.rank_models`.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from brainbench import __version__
from brainbench.errors import BrainbenchWarning, UserError
from brainbench.report._context import interval, num, pval
from brainbench.report._model import Table


@dataclass
class Entry:
    """One benchmark's evidence sheet, as the leaderboard reads it."""

    path: Path
    benchmark: str
    version: str
    metric: str
    partition: str
    tier: str
    higher_is_better: bool
    models: list[dict[str, Any]] = field(default_factory=list)
    deviations: int = 0
    audit: str = "not run"  # passed | FAILED | not run

    @property
    def key(self) -> str:
        return f"{self.benchmark} {self.version}"


def _section(doc: dict[str, Any], sid: str) -> dict[str, Any]:
    return next((s for s in doc.get("sections", []) if s.get("id") == sid), {})


def read_entry(path: Path) -> Entry:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"Cannot read the evidence sheet {path}: {exc}") from None
    if doc.get("format") != "brainbench-evidence":
        raise UserError(f"{path} is not a brainbench evidence sheet (no 'format' marker).")
    primary = _section(doc, "primary").get("data", {})
    metric = primary.get("metric") or doc.get("primary_metric")
    part = primary.get("partition", "test")
    ranks = _section(doc, "ranking").get("data", {}) or {}
    from brainbench.report._stats import get_metric

    try:
        hib = get_metric(metric).higher_is_better
    except UserError:
        hib = True
    bench = doc.get("benchmark", {})
    audit_sec = _section(doc, "audit")
    if audit_sec.get("status") == "unavailable" or not audit_sec:
        audit = "not run"
    else:
        adata = audit_sec.get("data", {})
        failed = ", ".join(adata.get("failed") or [])
        audit = (
            "passed" if adata.get("valid", True) else (f"FAILED ({failed})" if failed else "FAILED")
        )
        # A waived rule is not a passed rule: a leaderboard reader must see it next to the score.
        waived = [r["rule"] for r in adata.get("rules", []) if r.get("status") == "waived"]
        if waived:
            audit += f" with {len(waived)} waiver(s) ({', '.join(waived)})"
    entry = Entry(
        path=path,
        benchmark=str(bench.get("id")),
        version=str(bench.get("version")),
        metric=metric,
        partition=part,
        tier=doc.get("tier", "self-reported"),
        higher_is_better=hib,
        audit=audit,
        deviations=sum(
            d.get("severity") != "note"
            for d in _section(doc, "protocol").get("data", {}).get("deviations", [])
        ),
    )
    model_tiers = _section(doc, "identity").get("data", {}).get("model_tiers") or {}
    for r in primary.get("results", []):
        if r.get("metric") != metric or r.get("partition") != part or r.get("group"):
            continue
        m = r["model"]
        entry.models.append(
            {
                "model": m,
                "estimate": r.get("estimate"),
                "ci_low": r.get("ci_low"),
                "ci_high": r.get("ci_high"),
                "n_units": r.get("n_units"),
                "rank": (ranks.get("full_rank") or {}).get(m),
                "rank_ci": (ranks.get("rank_ci") or {}).get(m),
                "p_first": (ranks.get("p_first") or {}).get(m),
                "tier": model_tiers.get(m, entry.tier),
            }
        )
    key = (
        (lambda d: -(d["estimate"] or float("-inf")))
        if hib
        else (lambda d: d["estimate"] if d["estimate"] is not None else float("inf"))
    )
    entry.models.sort(key=key)
    return entry


def collect(reports_dir: Path) -> list[Entry]:
    if not reports_dir.is_dir():
        raise UserError(f"The reports folder {reports_dir} does not exist.")
    paths = sorted(reports_dir.rglob("evidence.json"))
    if not paths:
        raise UserError(
            f"No evidence.json under {reports_dir}: write evidence sheets with `brainbench "
            "report RUN_DIR -o DIR` first."
        )
    return [read_entry(p) for p in paths]


def across(entries: list[Entry], resamples: int, seed: int) -> tuple[dict | None, str]:
    """Ranks over benchmarks (each benchmark one task) with the engine's rank_models."""
    from brainbench.stats import rank_models

    rows = []
    for e in entries:
        for m in e.models:
            if m["estimate"] is None:
                continue
            score = m["estimate"] if e.higher_is_better else -m["estimate"]
            rows.append({"model": m["model"], "task": e.key, "score": score})
    # Several sheets of one benchmark (e.g. a self-reported model added later): first wins.
    table = pd.DataFrame(rows, columns=["model", "task", "score"]).drop_duplicates(
        ["model", "task"]
    )
    tasks = table["task"].nunique()
    if tasks < 2:
        return None, (
            "Ranks across benchmarks need at least two benchmarks; found "
            f"{tasks}. Each benchmark's own rank intervals are shown instead."
        )
    wide = table.pivot(index="task", columns="model", values="score")
    common = complete_block(wide)
    if common is None:
        return None, (
            "No two models were evaluated on the same two benchmarks: no joint "
            "ranking. Each benchmark's own rank intervals are shown instead."
        )
    dropped = sorted(set(wide.columns) - set(common.columns))
    left_tasks = sorted(set(wide.index) - set(common.index))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", BrainbenchWarning)
        try:
            res = rank_models(common, stability_resamples=resamples, seed=seed)
        except UserError as exc:
            return None, exc.message
    note = " ".join(str(w.message) for w in caught)
    if dropped:
        note += (
            f" Models left out of the joint ranking (not on those benchmarks): "
            f"{', '.join(dropped)}."
        )
    if left_tasks:
        note += f" Benchmarks left out of it (lacking one of its models): {', '.join(left_tasks)}."
    return res.to_dict(), note.strip()


def complete_block(wide: pd.DataFrame) -> pd.DataFrame | None:
    """The largest complete (benchmarks x models) block, chosen greedily.

    Models are taken in decreasing number of benchmarks; a model joins while the benchmarks
    holding every chosen model stay two or more and the block (benchmarks x models) does not
    shrink. None when no block of at least 2 x 2 exists.
    """
    have = wide.notna()
    order = sorted(wide.columns, key=lambda m: (-int(have[m].sum()), str(m)))
    chosen: list[str] = []
    tasks = list(wide.index)
    for m in order:
        rows = [t for t in tasks if have.loc[t, m]]
        if len(rows) < 2:
            continue
        if len(chosen) >= 2 and len(rows) * (len(chosen) + 1) < len(tasks) * len(chosen):
            continue
        chosen.append(m)
        tasks = rows
    if len(chosen) < 2 or len(tasks) < 2:
        return None
    return wide.loc[tasks, chosen]


def write_leaderboard(
    reports_dir: str | Path, out_dir: str | Path, *, resamples: int = 1000, seed: int = 0
) -> Path:
    """Write ``index.html`` and ``index.md`` ranking the models of every evidence sheet found
    under ``reports_dir``. Returns the path of ``index.html``."""
    reports_dir, out = Path(reports_dir), Path(out_dir)
    entries = collect(reports_dir)
    out.mkdir(parents=True, exist_ok=True)
    joint, note = across(entries, resamples, seed)
    tables: list[tuple[str, Table, str | None]] = []
    for e in entries:
        link = os.path.relpath(e.path.with_name("evidence.html"), out)
        rows = []
        for m in e.models:
            rci = m.get("rank_ci")
            rows.append(
                [
                    m["model"],
                    num(m["estimate"]),
                    interval(m["ci_low"], m["ci_high"]),
                    num(m["rank"], 1) if m.get("rank") is not None else "n/a",
                    f"[{rci[0]:g}, {rci[1]:g}]" if rci else "n/a",
                    f"{100 * m['p_first']:.0f}%" if m.get("p_first") is not None else "n/a",
                    m.get("tier") or e.tier,
                ]
            )
        caption = (
            f"{e.key}: {e.metric.replace('_', ' ')} on {e.partition} "
            f"({'higher' if e.higher_is_better else 'lower'} is better)"
            + (f"; {e.deviations} deviation(s) from the protocol" if e.deviations else "")
            + f"; audit {e.audit}"
        )
        tables.append(
            (
                e.key,
                Table(
                    f"bench-{e.benchmark}",
                    caption,
                    [
                        "Model",
                        "Estimate",
                        "95% CI",
                        "Rank",
                        "Rank interval (bootstrap)",
                        "P(best)",
                        "Tier",
                    ],
                    rows,
                ),
                link,
            )
        )
    joint_table = None
    if joint is not None:
        st = joint.get("stability") or {}
        rows = []
        for m, r in sorted(joint["mean_ranks"].items(), key=lambda kv: kv[1]):
            rci = (st.get("rank_ci") or {}).get(m)
            rows.append([m, num(r, 2), f"[{rci[0]:g}, {rci[1]:g}]" if rci else "n/a"])
        joint_table = Table(
            "across",
            f"Mean rank over {joint['n_tasks']} benchmarks (Friedman p "
            f"{_p(joint['friedman']['p_value'])}, Iman-Davenport p "
            f"{_p(joint['iman_davenport']['p_value'])}, Nemenyi CD = "
            f"{num(joint['nemenyi']['cd'], 2)})",
            ["Model", "Mean rank", "Rank interval (bootstrap over benchmarks)"],
            rows,
        )
    (out / "index.md").write_text(_markdown(tables, joint_table, note), encoding="utf-8")
    (out / "leaderboard.json").write_text(
        json.dumps(
            {
                "format": "brainbench-leaderboard",
                "format_version": 1,
                "benchmarks": [
                    {
                        "benchmark": e.benchmark,
                        "version": e.version,
                        "metric": e.metric,
                        "partition": e.partition,
                        "tier": e.tier,
                        "audit": e.audit,
                        "deviations": e.deviations,
                        "models": e.models,
                        "evidence": os.path.relpath(e.path, out),
                    }
                    for e in entries
                ],
                "across": joint,
                "note": note,
            },
            indent=2,
            default=str,
        )
        + "\n",
        encoding="utf-8",
    )
    html = out / "index.html"
    html.write_text(_html(tables, joint_table, note), encoding="utf-8")
    return html


def _p(p: float | None) -> str:
    text = pval(p)
    return text.replace("<", "< ") if text.startswith("<") else f"= {text}"


def _markdown(tables, joint: Table | None, note: str) -> str:
    lines = [
        "# brainbench leaderboard",
        "",
        "Ranks come with their uncertainty: a rank interval, not a single place. Tier: "
        "*reproduced* (the brainbench runner made the predictions) or *self-reported*.",
        "",
    ]
    blocks = ([(None, joint, None)] if joint is not None else []) + list(tables)
    if note:
        lines += [note, ""]
    for _, t, link in blocks:
        lines.append(f"## {t.caption}" if link is None else f"## [{t.caption}]({link})")
        lines.append("")
        lines.append("| " + " | ".join(t.columns) + " |")
        lines.append("|" + "|".join(" --- " for _ in t.columns) + "|")
        lines.extend("| " + " | ".join(r) + " |" for r in t.rows)
        lines.append("")
    lines.append(f"Generated by brainbench {__version__}.")
    return "\n".join(lines) + "\n"


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>brainbench leaderboard</title><style>{{ css }}</style></head>
<body><header class="top"><h1>brainbench leaderboard</h1>
<p>Ranks with their uncertainty. Tier: reproduced by the runner, or self-reported predictions.</p>
</header><main>
{% if note %}<p>{{ note }}</p>{% endif %}
{% for title, t, link in blocks %}
<section class="sec" id="{{ t.id }}">
<h2>{% if link %}<a href="{{ link }}">{{ t.caption }}</a>{% else %}{{ t.caption }}{% endif %}</h2>
<table><caption>{{ t.caption }}</caption>
<thead><tr>{% for c in t.columns %}<th scope="col">{{ c }}</th>{% endfor %}</tr></thead>
<tbody>{% for r in t.rows %}<tr>{% for c in r %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}
</tbody></table></section>
{% endfor %}
</main><footer>Generated by brainbench {{ version }}.</footer></body></html>
"""


def _html(tables, joint: Table | None, note: str) -> str:
    import jinja2

    css = (resources.files("brainbench.report") / "templates" / "style.css").read_text("utf-8")
    blocks = ([(None, joint, None)] if joint is not None else []) + list(tables)
    env = jinja2.Environment(autoescape=True)
    return env.from_string(_HTML).render(css=css, blocks=blocks, note=note, version=__version__)
