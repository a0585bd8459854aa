"""``brainbench leaderboard``: evidence sheets of several benchmarks -> index.html / index.md.

Reads every ``evidence.json`` under a folder. Per benchmark: each model's primary metric with
its interval, its bootstrap rank interval within the benchmark (section 8 of the evidence
sheet) and the tier (``reproduced`` by the runner, or ``self-reported`` predictions). Across
benchmarks (two or more sharing models): mean ranks, Friedman / Iman-Davenport and bootstrap
rank intervals over benchmarks, from :func:`brainbench.stats.rank_models`.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pandas as pd

from brainbench import __version__
from brainbench.errors import BrainbenchWarning, UserError
from brainbench.report._context import interval, num, pval
from brainbench.report._model import Table
from brainbench.report._render import _md_cell, md_safe
from brainbench.spec.yaml_loader import check_regular_file


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
    #: What the tier check needs from the sheet (see :func:`brainbench.report._verify.verify`).
    claims: dict[str, Any] = field(default_factory=dict)
    seal: str = "n/a"
    verification: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.benchmark} {self.version}"


#: An evidence sheet is a few MB at most (the demo's is 0.2 MB).
MAX_SHEET_BYTES = 64 * 1024**2


class _Sheet:
    """Typed, defensive access to a parsed evidence.json: a field of the wrong type reads as
    absent, or stops with a message naming the file and the field when it is needed."""

    def __init__(self, path: Path, doc: Any) -> None:
        self.path = path
        if not isinstance(doc, dict):
            raise self.error(f"the top level is a JSON {type(doc).__name__}, not an object")
        self.doc = doc

    def error(self, what: str) -> UserError:
        return UserError(
            f"The evidence sheet {self.path} cannot be used: {what}. Rewrite it with "
            "`brainbench report RUN_DIR -o DIR`, or move it out of the reports folder."
        )

    def section(self, sid: str) -> dict[str, Any]:
        sections = self.doc.get("sections")
        for s in sections if isinstance(sections, list) else []:
            if isinstance(s, dict) and s.get("id") == sid:
                return s
        return {}

    def data(self, sid: str) -> dict[str, Any]:
        return _dict(self.section(sid).get("data"))

    def name(self, value: Any, where: str) -> str:
        """A model name, metric or id: text within the predictions reader's limits."""
        from brainbench.stats import LIMITS

        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{where} is not a name ({_short(value)})")
        if len(value) > LIMITS.max_text or any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise self.error(
                f"{where} is longer than {LIMITS.max_text} characters or holds a control character"
            )
        return value


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _number(value: Any) -> float | None:
    """A finite number, else None (booleans and text are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _load(path: Path) -> Any:
    check_regular_file(path, limit=MAX_SHEET_BYTES, what="evidence sheet")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except RecursionError:
        raise UserError(
            f"Cannot read the evidence sheet {path}: its JSON is nested too deeply to be a sheet."
        ) from None
    except (OSError, ValueError) as exc:
        raise UserError(f"Cannot read the evidence sheet {path}: {exc}") from None


def read_entry(path: Path) -> Entry:
    """One sheet, every field checked for its type; the tier is only the sheet's claim until
    :func:`write_leaderboard` checks it against the run folder."""
    sheet = _Sheet(path, _load(path))
    doc = sheet.doc
    if doc.get("format") != "brainbench-evidence":
        raise UserError(f"{path} is not a brainbench evidence sheet (no 'format' marker).")
    segmentation = doc.get("task") == "segmentation"
    if segmentation:
        primary, ranks = _segmentation_primary(sheet)
    else:
        primary, ranks = sheet.data("primary"), sheet.data("ranking")
    metric = sheet.name(primary.get("metric") or doc.get("primary_metric"), "the primary metric")
    part = sheet.name(primary.get("partition", "test"), "the primary partition")
    from brainbench.report._stats import metric_info

    try:
        hib = metric_info(metric).higher_is_better
    except UserError:
        hib = True
    bench = _dict(doc.get("benchmark"))
    audit_sec = sheet.section("audit")
    if audit_sec.get("status") == "unavailable" or not audit_sec:
        audit = "not run"
    else:
        adata = _dict(audit_sec.get("data"))
        failed = ", ".join(_clip(f) for f in _list(adata.get("failed")) if isinstance(f, str))
        audit = (
            "passed"
            if adata.get("valid", True) is not False
            else (f"FAILED ({failed})" if failed else "FAILED")
        )
        # A waived rule is not a passed rule: a leaderboard reader must see it next to the score.
        waived = [
            _clip(r["rule"])
            for r in _list(adata.get("rules"))
            if isinstance(r, dict)
            and r.get("status") == "waived"
            and isinstance(r.get("rule"), str)
        ]
        if waived:
            audit += f" with {len(waived)} waiver(s) ({', '.join(waived)})"
    identity = sheet.data("identity")
    entry = Entry(
        path=path,
        benchmark=sheet.name(bench.get("id"), "benchmark.id"),
        version=sheet.name(bench.get("version"), "benchmark.version"),
        metric=metric,
        partition=f"{part}, label {primary['label']}" if segmentation else part,
        tier=_clip(doc["tier"]) if isinstance(doc.get("tier"), str) else "self-reported",
        higher_is_better=hib,
        audit=audit,
        deviations=sum(
            isinstance(d, dict) and d.get("severity") != "note"
            for d in _list(sheet.data("protocol").get("deviations"))
        ),
        claims={
            "identity": identity,
            "tier": doc.get("tier"),
            "predictions_sha256": doc.get(
                "case_metrics_sha256" if segmentation else "predictions_sha256"
            ),
            "metric": metric,
            "partition": part,
            "unit": primary.get("unit") if isinstance(primary.get("unit"), str) else "image",
            "segmentation_label": primary.get("label") if segmentation else None,
        },
    )
    model_tiers = _dict(identity.get("model_tiers"))
    full_rank, rank_ci, p_first = (_dict(ranks.get(k)) for k in ("full_rank", "rank_ci", "p_first"))
    seen: set[str] = set()
    for i, r in enumerate(_list(primary.get("results"))):
        if not isinstance(r, dict):
            raise sheet.error(f"primary result {i + 1} is not an object")
        if r.get("metric") != metric or r.get("partition") != part or r.get("group"):
            continue
        m = sheet.name(r.get("model"), f"the model of primary result {i + 1}")
        if m in seen:
            raise sheet.error(f"model {m!r} has two primary results")
        seen.add(m)
        rci = _list(rank_ci.get(m))
        rci_num = [_number(x) for x in rci]
        p1 = _number(p_first.get(m))
        tier = model_tiers.get(m, entry.tier)
        ci_low, ci_high = _estimable_interval(r)
        entry.models.append(
            {
                "model": m,
                "estimate": _number(r.get("estimate")),
                "ci_low": ci_low,
                "ci_high": ci_high,
                "n_units": _number(r.get("n_units")),
                "rank": _number(full_rank.get(m)),
                "rank_ci": rci_num if len(rci_num) == 2 and None not in rci_num else None,
                "p_first": p1 if p1 is not None and 0 <= p1 <= 1 else None,
                "tier": _clip(tier) if isinstance(tier, str) else entry.tier,
            }
        )
    key = (
        (lambda d: -(d["estimate"] if d["estimate"] is not None else float("-inf")))
        if hib
        else (lambda d: d["estimate"] if d["estimate"] is not None else float("inf"))
    )
    entry.models.sort(key=key)
    return entry


def _estimable_interval(r: dict[str, Any]) -> tuple[float | None, float | None]:
    """A primary result's interval, or none where the sheet calls it not estimable (a
    zero-width interval, too few units or clusters: ``_claims.not_estimable``), so the
    leaderboard never shows as a result what the sheet refused to (issue 12)."""
    lo, hi = _number(r.get("ci_low")), _number(r.get("ci_high"))
    if isinstance(r.get("not_estimable"), str) and r["not_estimable"]:
        return None, None  # the segmentation sheet states its verdict
    est, level = _number(r.get("estimate")), _number(r.get("level"))
    if lo is None or hi is None or est is None:
        return None, None
    from brainbench.report._claims import not_estimable

    view = SimpleNamespace(
        estimate=est,
        ci_low=lo,
        ci_high=hi,
        level=level if level is not None and 0 < level < 1 else 0.95,
        n_units=_number(r.get("n_units")) or 0,
        n_clusters=_number(r.get("n_clusters")) or 0,
    )
    return (None, None) if not_estimable(view, "unit") else (lo, hi)


def _segmentation_primary(sheet: _Sheet) -> tuple[dict[str, Any], dict[str, Any]]:
    """A segmentation sheet's primary result (mean of the primary metric on the primary
    label) and its ranking, in the shapes the classification sheet's sections have."""
    doc = sheet.doc
    metric = sheet.name(doc.get("primary_metric"), "the primary metric")
    label = sheet.name(doc.get("primary_label"), "the primary label")
    labels = sheet.data("labels")
    part = labels.get("partition", "test")
    per_model = _dict(_dict(_dict(labels.get("labels")).get(label)).get(metric))
    results = []
    for model, got in per_model.items():
        mean = _dict(_dict(got).get("mean"))
        results.append(
            {
                "model": model,
                "metric": metric,
                "partition": part,
                "estimate": mean.get("estimate"),
                "ci_low": mean.get("ci_low"),
                "ci_high": mean.get("ci_high"),
                "level": mean.get("level"),
                "not_estimable": mean.get("not_estimable"),
                "n_units": mean.get("n_subjects"),
            }
        )
    rank = _dict(_dict(sheet.data("ranking").get("rankings")).get(label))
    quantiles = _dict(rank.get("rank_quantiles"))
    ranks = {
        "full_rank": _dict(rank.get("ranks")),
        "rank_ci": {m: [q[0], q[-1]] for m, q in quantiles.items() if _list(q)},
        "p_first": _dict(rank.get("p_first")),
    }
    primary = {"metric": metric, "partition": part, "label": label, "results": results}
    return primary, ranks


def _clip(text: str, n: int = 80) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 3] + "..."


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


def check_tiers(entries: list[Entry], runs: list[Path]) -> None:
    """Replace each model's claimed tier by the one its run folder supports
    (:func:`brainbench.report._verify.verify`)."""
    from brainbench.report._verify import index_runs, verify

    index = index_runs(runs)
    for e in entries:
        verdict = verify(e.claims, e.models, index)
        for m in e.models:
            m["tier"] = verdict.model_tiers[m["model"]]
        e.tier, e.seal, e.verification = verdict.tier, verdict.seal, verdict.problems


#: The order in which tiers are listed: evidence the leaderboard checked comes first.
TIER_ORDER = ("reproduced", "mixed", "unverified", "self-reported")


def select_tiers(entries: list[Entry], tiers: tuple[str, ...] | list[str]) -> list[Entry]:
    """Keep the models of ``tiers`` (all when empty), after :func:`check_tiers`; sheets left
    without a model are dropped. Sheets are ordered by tier (:data:`TIER_ORDER`), so that
    self-reported results are listed apart from, and after, the reproduced ones."""
    if tiers:
        for e in entries:
            e.models = [m for m in e.models if m.get("tier") in tiers]
        entries = [e for e in entries if e.models]
        if not entries:
            raise UserError(
                f"No model of tier {', '.join(tiers)} in the evidence sheets: leave out --tier "
                "to list every model."
            )
    rank = {t: i for i, t in enumerate(TIER_ORDER)}
    return sorted(entries, key=lambda e: rank.get(e.tier, len(rank)))


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
    if not resamples:
        note += " No bootstrap (--resamples 0): the ranks have no interval."
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
    reports_dir: str | Path,
    out_dir: str | Path,
    *,
    resamples: int = 1000,
    seed: int = 0,
    runs: list[str | Path] | tuple[str | Path, ...] = (),
    tiers: tuple[str, ...] | list[str] = (),
) -> Path:
    """Write ``index.html`` and ``index.md`` ranking the models of every evidence sheet found
    under ``reports_dir``. Returns the path of ``index.html``.

    A model is listed *reproduced* only when its sheet's run folder, found under
    ``reports_dir`` or one of ``runs``, passes :func:`brainbench.report._verify.verify`;
    a sheet's own ``tier`` field can only lower that (to *self-reported*). ``tiers`` keeps
    only the models of those tiers (see :func:`select_tiers`)."""
    reports_dir, out = Path(reports_dir), Path(out_dir)
    entries = collect(reports_dir)
    check_tiers(entries, [reports_dir, *(Path(r) for r in runs)])
    entries = select_tiers(entries, tiers)
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
                    interval(m["ci_low"], m["ci_high"])
                    if m["ci_low"] is not None or m["estimate"] is None
                    else "not estimable",
                    num(m["rank"], 1) if m.get("rank") is not None else "n/a",
                    f"[{rci[0]:g}, {rci[1]:g}]" if rci else "n/a",
                    f"{100 * m['p_first']:.0f}%" if m.get("p_first") is not None else "n/a",
                    m.get("tier") or e.tier,
                    e.seal if m.get("tier") == "reproduced" else "n/a",
                ]
            )
        caption = (
            f"{e.key} ({e.tier}): {e.metric.replace('_', ' ')} on {e.partition} "
            f"({'higher' if e.higher_is_better else 'lower'} is better)"
            + (f"; {e.deviations} deviation(s) from the protocol" if e.deviations else "")
            + f"; audit {e.audit}"
            + (f"; tier not verified: {'; '.join(e.verification)}" if e.verification else "")
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
                        "Seal",
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
                        "seal": e.seal,
                        "verification": e.verification or "passed",
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
        "*reproduced* (the run folder that made the predictions was found and checks out), "
        "*self-reported*, or *unverified* (a sheet claims reproduced but its run folder is "
        "missing or does not match).",
        "",
    ]
    blocks = ([(None, joint, None)] if joint is not None else []) + list(tables)
    if note:
        lines += [md_safe(note), ""]
    for _, t, link in blocks:
        caption = md_safe(t.caption).replace("[", "\\[").replace("]", "\\]")
        lines.append(f"## {caption}" if link is None else f"## [{caption}](<{link}>)")
        lines.append("")
        lines.append("| " + " | ".join(t.columns) + " |")
        lines.append("|" + "|".join(" --- " for _ in t.columns) + "|")
        lines.extend("| " + " | ".join(_md_cell(c) for c in r) + " |" for r in t.rows)
        lines.append("")
    lines.append(f"Generated by brainbench {__version__}.")
    return "\n".join(lines) + "\n"


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>brainbench leaderboard</title><style>{{ css }}</style></head>
<body><header class="top"><h1>brainbench leaderboard</h1>
<p>Ranks with their uncertainty. Tier: reproduced (the run folder was found and checks out),
self-reported, or unverified (claimed reproduced, but the run folder is missing or differs).</p>
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
