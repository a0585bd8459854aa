"""Sections about the run rather than the results: identity, protocol, cohort, audit, provenance."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from brainbench.report._context import ReportContext, metric_label, num
from brainbench.report._descriptive import smd_binary, smd_continuous
from brainbench.report._model import PARTIAL, UNAVAILABLE, Section, Table, section


def _tier_text(run: Any) -> str:
    if run.tier == "reproduced":
        return "reproduced by the brainbench runner"
    if run.tier == "self-reported":
        return "self-reported predictions (not reproduced by the runner)"
    mine = [m for m, t in run.model_tiers.items() if t == "reproduced"]
    theirs = [m for m, t in run.model_tiers.items() if t != "reproduced"]
    return (
        f"mixed: {', '.join(mine)} reproduced by the brainbench runner; "
        f"{', '.join(theirs)} self-reported"
    )


def _integrity_text(prov: dict[str, Any]) -> str:
    integrity = prov.get("integrity")
    if not integrity:
        return "not recorded"
    if integrity.get("ok"):
        return "every unit output is what the runner wrote (journal checked)"
    problems = integrity.get("problems") or []
    return f"VOID: {len(problems)} unit output(s) changed after the runner wrote them"


def _metric_text(m: Any) -> str:
    """A declared metric: its name, or a segmentation metric with its parameters
    (``nsd (tolerance_mm 1.0)``)."""
    if isinstance(m, str):
        return m
    params = m.model_dump(mode="json")
    name = params.pop("name")
    return name + "".join(f" ({k} {v})" for k, v in params.items())


def _short(h: str | None) -> str:
    return h or "n/a"


# ---------------------------------------------------------------------------------------------
@section("identity", 1, "Identity")
def identity(ctx: ReportContext, sec: Section) -> Section:
    run, an = ctx.run, ctx.analysis
    spec = run.spec
    prov = run.provenance[0] if run.provenance else {}
    pspec = prov.get("spec") or {}
    device = prov.get("device") or {}
    bench_id = spec.id if spec is not None else pspec.get("id") or "(no spec)"
    version = spec.version if spec is not None else pspec.get("version") or "n/a"
    # Every run folder's models (pooled folders each list their own), then any model with
    # predictions that no provenance names.
    models: list[dict[str, Any]] = []
    for p in run.provenance:
        for m in p.get("models") or []:
            if m.get("id") not in {x.get("id") for x in models}:
                models.append(m)
    named = {m.get("id") for m in models}
    models += [{"id": m, "version": None} for m in an.models if m not in named]
    model_text = ", ".join(
        f"{m.get('id')} {m.get('version')}" if m.get("version") else str(m.get("id"))
        for m in models
    )
    dev = device.get("name") or device.get("type") or "n/a"
    if device.get("type") and device.get("name"):
        dev = f"{device['type']}: {device['name']}"
    if device.get("cuda"):
        dev += f" (CUDA {device['cuda']})"
    info = {
        "benchmark": bench_id,
        "title": spec.title if spec is not None else None,
        "version": version,
        "spec_sha256": run.spec_sha256 or pspec.get("sha256"),
        "run_spec_sha256": run.run_spec_sha256,
        "spec_source": Path(run.spec_file).name if run.spec_file else None,
        "split_sha256": prov.get("split_sha256"),
        "cohort_sha256": prov.get("cohort_sha256"),
        "brainbench_version": prov.get("brainbench_version"),
        "git_commit": prov.get("git_commit"),
        "started": prov.get("started"),
        "finished": prov.get("finished"),
        "host": prov.get("host"),
        "device": dev if prov else None,
        "tier": run.tier,
        "seal": (prov.get("seal") or {}).get("summary") if prov else None,
        "model_tiers": run.model_tiers,
        "models": models,
        "sources": [s.name for s in run.sources],
    }
    rows = [
        ["Benchmark", f"{bench_id} {version}"],
        ["Title", info["title"] or "n/a"],
        ["Spec sha256", _short(info["spec_sha256"])],
        ["Spec used by the run (sha256)", _short(info["run_spec_sha256"])],
        ["Split file sha256", _short(info["split_sha256"])],
        ["Cohort table sha256", _short(info["cohort_sha256"])],
        [
            "brainbench",
            f"{info['brainbench_version'] or 'n/a'} (commit {info['git_commit'] or 'n/a'})",
        ],
        ["Run", f"{info['started'] or 'n/a'} to {info['finished'] or 'n/a'}"],
        ["Host and hardware", f"{info['host'] or 'n/a'}; {info['device'] or 'n/a'}"],
        ["Models", model_text or "n/a"],
        ["Tier", _tier_text(run)],
        ["Model sandbox", info["seal"] or "not recorded (no provenance, or an older runner)"],
        ["Run integrity", _integrity_text(prov)],
    ]
    sec.tables.append(Table("identity", "What was run, by whom, on what", ["Field", "Value"], rows))
    sec.text.append(
        f"Evidence sheet of benchmark {bench_id} version {version}: "
        f"{len(an.models)} model(s), {an.task.type}"
        + (
            f" ({' vs '.join(an.task.classes)}; positive class {an.task.positive})"
            if an.is_classification
            else ""
        )
        + f", unit of analysis: {an.unit}."
    )
    if not run.provenance:
        sec.status = PARTIAL
        sec.missing.append("provenance.json: hashes, versions, dates and hardware are unknown")
    if spec is None:
        sec.status = PARTIAL
        sec.missing.append(f"spec: {run.missing.get('spec', 'not given')}")
    sec.data = info
    return sec


# ---------------------------------------------------------------------------------------------
@section("protocol", 2, "Pre-registered protocol and deviations")
def protocol(ctx: ReportContext, sec: Section) -> Section:
    run, an = ctx.run, ctx.analysis
    spec = run.spec
    declared: dict[str, Any] = {}
    comp = an.comparison
    if spec is not None:
        p = spec.protocol
        declared = {
            "primary_metric": p.primary_metric,
            "metrics": [_metric_text(m) for m in p.metrics],
            "unit_of_analysis": p.unit_of_analysis,
            "confidence": p.confidence.model_dump(mode="json"),
            "comparison": comp.model_dump(mode="json") if comp is not None else None,
            "seeds": p.seeds,
            "models": list(p.models),
            "breakdown": list(spec.reporting.breakdown),
            "primary_result": (
                p.primary_result.model_dump(mode="json", exclude_none=True)
                if p.primary_result is not None
                else None
            ),
        }
    used = {
        "primary_result": an.endpoint_text,
        "primary_metric": an.primary,
        "metrics": list(an.secondary),
        "unit_of_analysis": an.unit,
        "confidence": {
            "method": an.ci_method,
            "interval": an.interval,
            "level": an.level,
            "resamples": an.resamples,
            "clusters": list(an.clusters),
            "seed": an.seed,
        },
        "comparison": an.comparison_kwargs if len(an.models) > 1 else None,
        "models": list(an.models),
    }

    def show(v: Any) -> str:
        if v is None:
            return "none"
        if isinstance(v, list):
            return ", ".join(map(str, v)) or "none"
        if isinstance(v, dict):
            return "; ".join(f"{k} {show(x)}" for k, x in v.items() if x is not None)
        return str(v)

    rows = []
    for key, label in (
        ("primary_metric", "Primary metric"),
        ("primary_result", "Primary result on"),
        ("metrics", "Secondary metrics"),
        ("unit_of_analysis", "Unit of analysis"),
        ("confidence", "Confidence intervals"),
        ("comparison", "Model comparison"),
        ("seeds", "Seeds per model and split"),
        ("models", "Models"),
        ("breakdown", "Breakdowns"),
    ):
        rows.append(
            [
                label,
                show(declared.get(key)) if spec is not None else "(no spec)",
                show(used.get(key)) if key in used else "as declared",
            ]
        )
    sec.tables.append(
        Table(
            "protocol",
            "The protocol as declared and as applied",
            ["Item", "Declared in the spec", "Applied in this report"],
            rows,
        )
    )
    inp = spec.task.input if spec is not None else None
    if inp is not None and inp.unit != "image":
        rule = (
            "the mean of their outputs (soft vote: mean class probabilities; mean value for "
            "regression)"
            if inp.aggregation == "mean"
            else "ClinicaDL's weighted soft vote (each unit position weighted by its accuracy "
            "on the validation partition)"
        )
        who = "the runner" if run.tier == "reproduced" else "the runner (for the models it ran)"
        sec.text.append(
            f"The spec declares {inp.unit} input: {who} cuts each image into {inp.unit}s as "
            f"ClinicaDL's prepare-data does and predicts each image by {rule}; images are then "
            f"combined at the unit of analysis ({an.unit}). Predictions made elsewhere follow "
            "their own tool's rule."
        )
    devs = an.deviations
    real = [d for d in devs if d.severity != "note"]
    if real:
        n_err = sum(d.severity == "error" for d in devs)
        sec.text.append(
            f"{len(real)} deviation(s) from the protocol"
            + (f", {n_err} of which undermine the pre-registered analysis" if n_err else "")
            + ". Results below must be read with them in mind."
        )
    elif devs:
        sec.text.append(
            "No deviation from the pre-registered protocol was found; the report "
            "adds the descriptive analyses noted below."
        )
    if devs:
        sec.tables.append(
            Table(
                "deviations",
                "Deviations from the protocol",
                ["Kind", "Severity", "Deviation"],
                [[d.kind, d.severity, d.message] for d in devs],
            )
        )
    else:
        sec.text.append("No deviation from the pre-registered protocol was found.")
    if spec is None:
        sec.status = PARTIAL
        sec.missing.append(f"spec: {run.missing.get('spec', 'not given')}")
    sec.data = {"declared": declared, "applied": used, "deviations": [d.to_dict() for d in devs]}
    return sec


# ---------------------------------------------------------------------------------------------
def _label_column(ctx: ReportContext, cohort: pd.DataFrame) -> str | None:
    spec = ctx.run.spec
    candidates = []
    if spec is not None:
        candidates.append(spec.task.target)
    candidates += ["diagnosis", "label", "y_true", "group", "target"]
    return next((c for c in candidates if c in cohort.columns), None)


def _cohort_frame(ctx: ReportContext) -> tuple[pd.DataFrame, str | None, bool]:
    """One row per image with ids, the label, covariates and the partition; from the cohort
    table when present (second value: the label column), else from the predictions."""
    run, an = ctx.run, ctx.analysis
    if run.cohort is not None:
        df = run.cohort.copy()
        label = _label_column(ctx, df)
        return df, label, True
    cols = [
        c
        for c in (
            "dataset",
            "site",
            "scanner",
            "subject",
            "session",
            "image",
            "partition",
            "y_true",
        )
        if c in an.frame.columns
    ]
    df = an.frame[cols].drop_duplicates().copy()
    keep = [c for c in ("subject", "session", "image") if c in df.columns] or cols
    df = df.drop_duplicates(keep)
    return df, "y_true", False


def _fmt_count(n: int, total: int) -> str:
    return f"{n} ({100 * n / total:.0f}%)" if total else str(n)


@section("cohort", 3, "The cohort")
def cohort(ctx: ReportContext, sec: Section) -> Section:
    run, an = ctx.run, ctx.analysis
    df, label, full = _cohort_frame(ctx)
    if not full:
        sec.status = PARTIAL
        sec.missing.append(
            "cohort.parquet: age, sex and the non-evaluated subjects are unknown; "
            "counts come from the predictions (evaluated partitions only)"
        )
    if "subject" not in df.columns:
        df = df.assign(subject=df["image"] if "image" in df.columns else np.arange(len(df)))
    df["subject"] = df["subject"].astype(str)
    if label is None:
        sec.status = PARTIAL
        sec.missing.append("the target column is not in the cohort table")
        df = df.assign(_label="all")
        label = "_label"
    df[label] = df[label].astype(str)
    if an.is_classification:
        classes = [c for c in an.task.classes if c in set(df[label])]
        classes += sorted(set(df[label]) - set(classes))
    else:
        classes = []
    # Subject-level table: first session per subject.
    sort_cols = [c for c in ("subject", "session") if c in df.columns]
    subj = df.sort_values(sort_cols).drop_duplicates("subject")
    groups = [(c, subj[subj[label] == c], df[df[label] == c]) for c in classes]
    groups.append(("Total", subj, df))
    header = ["Characteristic"] + [g[0] for g in groups]
    binary = an.is_classification and len(classes) == 2
    if binary:
        header.append(f"SMD ({classes[1]} vs {classes[0]})")
    rows: list[list[str]] = []
    data: dict[str, Any] = {"classes": classes, "rows": {}}

    def add(name: str, cells: list[str], smd: float | None = None) -> None:
        row = [name, *cells]
        if binary:
            row.append(num(smd, 2) if smd is not None else "")
        rows.append(row)

    n_total = len(subj)
    add("Subjects, n", [str(len(g[1])) for g in groups])
    data["rows"]["subjects"] = {g[0]: len(g[1]) for g in groups}
    if "session" in df.columns:
        per = df.drop_duplicates(["subject", "session"]).groupby("subject").size()
        cells = []
        for _, s, _ in groups:
            x = per.reindex(s["subject"]).dropna()
            cells.append(f"{x.mean():.2f} ({int(x.min())}-{int(x.max())})" if len(x) else "n/a")
        add("Sessions per subject, mean (range)", cells)
        data["rows"]["sessions"] = int(df.drop_duplicates(["subject", "session"]).shape[0])
    if "image" in df.columns:
        add("Images, n", [str(int(g[2]["image"].nunique())) for g in groups])
    age_col = next((c for c in ("age", "Age", "AGE") if c in subj.columns), None)
    if age_col is not None:
        age = pd.to_numeric(subj[age_col], errors="coerce")
        cells = []
        for _, s, _ in groups:
            a = age.loc[s.index].dropna()
            cells.append(f"{a.mean():.1f} ({a.std(ddof=1):.1f})" if len(a) > 1 else "n/a")
        smd = None
        if binary:
            smd = smd_continuous(age.loc[groups[0][1].index], age.loc[groups[1][1].index])
        add("Age at first session, mean (SD)", cells, smd)
        data["rows"]["age_smd"] = smd
    sex_col = next((c for c in ("sex", "Sex", "gender", "SEX") if c in subj.columns), None)
    if sex_col is not None:
        sex = subj[sex_col].astype(str).str.upper().str[0]
        cells, props = [], []
        for _, s, _ in groups:
            f = int((sex.loc[s.index] == "F").sum())
            cells.append(_fmt_count(f, len(s)))
            props.append(f / len(s) if len(s) else float("nan"))
        smd = smd_binary(props[0], props[1]) if binary else None
        add("Female, n (%)", cells, smd)
        data["rows"]["female_smd"] = smd
    if age_col is None or sex_col is None:
        sec.missing.append("age and/or sex columns are absent: Table 1 lacks them")
        sec.status = PARTIAL
    sec.tables.append(
        Table(
            "table1",
            "Table 1: subjects by class (first session for age)",
            header,
            rows,
            notes=[
                "SMD: standardised mean difference (Austin 2009); |SMD| > 0.1 is a notable "
                "imbalance."
            ]
            if binary
            else [],
        )
    )
    # Counts by level x class.
    for level in ("dataset", "site", "scanner"):
        if level not in subj.columns or subj[level].isna().all():
            continue
        lv = subj[level].astype(str)
        counts = pd.crosstab(lv, subj[label]).reindex(columns=classes or None, fill_value=0)
        trows = [
            [str(i), *[str(int(v)) for v in r], str(int(r.sum()))] for i, r in counts.iterrows()
        ]
        sec.tables.append(
            Table(
                f"counts_{level}",
                f"Subjects by {level} and class",
                [level.capitalize(), *[str(c) for c in counts.columns], "Total"],
                trows,
            )
        )
        data[f"by_{level}"] = {
            str(i): {str(k): int(v) for k, v in r.items()} for i, r in counts.iterrows()
        }
        absent = [
            f"{i} has no {c}"
            for i, r in counts.iterrows()
            for c, v in r.items()
            if v == 0 and len(counts.columns) > 1
        ]
        if absent:
            sec.text.append(
                f"By {level}: " + "; ".join(absent) + " (a class absent from a "
                f"{level} makes the {level} a confounder and its per-{level} "
                "metrics undefined)."
            )
    # Partitions.
    part = None
    if run.splits is not None and {"partition", "subject"} <= set(run.splits.columns):
        first = run.splits
        for col in ("repeat", "fold"):
            if col in first.columns:
                first = first[first[col] == first[col].min()]
        part = first.drop_duplicates("subject")[["subject", "partition"]].astype(str)
    elif "partition" in df.columns:
        part = df[["subject", "partition"]].astype(str).drop_duplicates("subject")
    if part is not None:
        merged = subj.drop(columns=["partition"], errors="ignore").merge(
            part, on="subject", how="left"
        )
        merged["partition"] = merged["partition"].fillna("not in splits")
        counts = pd.crosstab(merged["partition"], merged[label]).reindex(
            columns=classes or None, fill_value=0
        )
        trows = [
            [str(i), *[str(int(v)) for v in r], str(int(r.sum()))] for i, r in counts.iterrows()
        ]
        sec.tables.append(
            Table(
                "counts_partition",
                "Subjects by partition (first split) and class",
                ["Partition", *[str(c) for c in counts.columns], "Total"],
                trows,
            )
        )
        data["by_partition"] = {
            str(i): {str(k): int(v) for k, v in r.items()} for i, r in counts.iterrows()
        }
    sec.text.insert(
        0,
        f"{n_total} subjects"
        + (" in " + ", ".join(f"{len(g[1])} {g[0]}" for g in groups[:-1]) if classes else "")
        + ".",
    )
    sec.data = data
    return sec


# ---------------------------------------------------------------------------------------------
@section("audit", 4, "Leakage audit")
def audit(ctx: ReportContext, sec: Section) -> Section:
    from brainbench.validate.rule import iter_rules

    v = ctx.run.validation
    rules = list(iter_rules())
    fresh = _recheck_spec_rules(ctx)
    if v is None and fresh is None:
        sec.status = UNAVAILABLE
        sec.missing.append(
            "validation.json: the spec was not audited for this run; run "
            "`brainbench validate SPEC --data`"
        )
        sec.tables.append(
            Table(
                "rules",
                "Rules of the catalogue (not run for this report)",
                ["Rule", "Name", "Kind", "Status", "Detail"],
                [[r.id, r.name, r.kind, "not run", r.summary] for r in rules],
            )
        )
        sec.data = {"valid": None, "rules": [{"rule": r.id, "status": "not run"} for r in rules]}
        return sec
    if v is None:
        sec.status = PARTIAL
        sec.missing.append(
            "validation.json: the data rules were not run for this run (`brainbench validate "
            "SPEC --data`); the spec rules were re-checked by this report"
        )
    v = v or {"valid": True, "findings": [], "waived": []}
    findings = v.get("findings", []) or []
    waived = v.get("waived", []) or []
    declared_run = v.get("rules")
    data_ran = bool(v.get("data")) or any(
        str(f.get("rule", "")).startswith("D") for f in [*findings, *waived]
    )
    rows, data, newly = [], [], []
    for r in rules:
        mine = [f for f in findings if f.get("rule") == r.id]
        mine_w = [w for w in waived if w.get("rule") == r.id]
        ran = (r.id in declared_run) if declared_run is not None else (r.kind == "spec" or data_ran)
        rechecked = fresh is not None and r.kind == "spec"
        if rechecked:
            now, now_w = fresh["findings"].get(r.id, []), fresh["waived"].get(r.id, [])
            if any(f["severity"] == "error" for f in now) and not any(
                f.get("severity") == "error" for f in mine
            ):
                newly.append(r.id)
            mine, mine_w, ran = now, now_w, True
        if mine:
            worst = "error" if any(f.get("severity") == "error" for f in mine) else "warning"
            status = "failed" if worst == "error" else "warning"
            detail = "; ".join(_where(f) for f in mine)
        elif mine_w:
            status = "waived"
            detail = "; ".join(
                f"{w.get('message')} — waived: {w.get('waiver_reason')}" for w in mine_w
            )
        elif ran:
            status, detail = "passed", r.summary
        else:
            status, detail = "not run", f"{r.summary} (data rules need `validate --data`)"
        rows.append([r.id, r.name, r.kind, status, detail])
        data.append(
            {
                "rule": r.id,
                "name": r.name,
                "status": status,
                "findings": mine,
                "waived": mine_w,
                "rechecked": rechecked,
            }
        )
    known = {r.id for r in rules}
    for f in findings:
        if f.get("rule") not in known:
            rows.append([str(f.get("rule")), "", "", str(f.get("severity")), _where(f)])
            data.append({"rule": f.get("rule"), "status": f.get("severity"), "findings": [f]})
    sec.tables.append(
        Table(
            "rules",
            "Every rule of the catalogue and its outcome",
            ["Rule", "Name", "Kind", "Status", "Detail"],
            rows,
            notes=[
                "Spec rules are re-checked by this report against the current catalogue; "
                "data rules come from the run's validation.json."
            ]
            if fresh
            else [],
        )
    )
    counts = {
        s: sum(1 for d in data if d["status"] == s)
        for s in ("passed", "failed", "warning", "waived", "not run")
    }
    valid = bool(v.get("valid", True)) and not newly
    verdict = "passed" if valid else "FAILED"
    sec.text.append(
        f"The design {verdict} the audit: {counts['passed']} rule(s) passed, "
        f"{counts['failed']} failed, {counts['warning']} warned, {counts['waived']} waived, "
        f"{counts['not run']} not run."
    )
    if newly:
        sec.text.append(
            f"Rule(s) {', '.join(newly)} fail on the current rule catalogue but are not reported "
            "as errors in the run's validation.json (the rules were added or changed since the "
            "run, or its audit was incomplete)."
        )
    for w in waived:
        sec.text.append(f"Waiver of {w.get('rule')}: {w.get('waiver_reason')}")
    failed = [d["rule"] for d in data if d["status"] == "failed"]
    sec.data = {
        "valid": valid,
        "counts": counts,
        "failed": failed,
        "newly_failing": newly,
        "rules": data,
    }
    return sec


def _recheck_spec_rules(ctx: ReportContext) -> dict[str, dict[str, list]] | None:
    """The spec rules of the current catalogue on the report's spec, waivers applied."""
    loaded = ctx.run.loaded_spec
    if loaded is None:
        return None
    from brainbench.validate.engine import apply_waivers, run_spec_rules

    result = apply_waivers(loaded, run_spec_rules(loaded), data_checked=False)
    out: dict[str, dict[str, list]] = {"findings": {}, "waived": {}}
    for f in result.findings:
        out["findings"].setdefault(f.rule, []).append(f.to_dict())
    for w in result.waived:
        out["waived"].setdefault(w.finding.rule, []).append(w.to_dict())
    return out


def _seeds_text(seeds: Any) -> str:
    if isinstance(seeds, dict):
        return "; ".join(f"{k}: {v}" for k, v in seeds.items() if not isinstance(v, (dict, list)))
    if isinstance(seeds, (list, tuple)):
        return ", ".join(map(str, seeds)) or "n/a"
    return "n/a" if seeds is None else str(seeds)


def _where(f: dict[str, Any]) -> str:
    loc = Path(f["file"]).name if f.get("file") else ""  # portable: no machine paths
    if f.get("line"):
        loc += f":{f['line']}"
    msg = f"{f.get('message')}"
    if loc:
        msg += f" ({loc})"
    if f.get("hint"):
        msg += f". Hint: {f['hint']}"
    return msg


# ---------------------------------------------------------------------------------------------
@section("provenance", 13, "Provenance")
def provenance(ctx: ReportContext, sec: Section) -> Section:
    run = ctx.run
    if not run.provenance:
        sec.status = UNAVAILABLE
        sec.missing.append(
            "provenance.json: these predictions were not made by the brainbench "
            "runner (self-reported); versions, seeds and hardware are unknown"
        )
        sec.data = {"tier": run.tier}
        return sec
    prov = run.provenance[0]
    pk = {}
    for p in run.provenance:
        pk.update(p.get("packages") or {})
    sec.tables.append(
        Table(
            "packages",
            "Package versions",
            ["Package", "Version"],
            [[k, str(v)] for k, v in sorted(pk.items())],
        )
    )
    rows = [
        ["Seeds", _seeds_text(prov.get("seeds"))],
        ["Deterministic algorithms", str(prov.get("deterministic", "n/a"))],
        ["Host", str(prov.get("host", "n/a"))],
        [
            "Device",
            ", ".join(f"{k}: {v}" for k, v in (prov.get("device") or {}).items() if v is not None),
        ],
        ["Run directories", ", ".join(s.name for s in run.sources)],
    ]
    sec.tables.append(Table("environment", "Environment", ["Field", "Value"], rows))
    units = run.units
    if units:
        urows = [
            [
                str(u.get("model")),
                str(u.get("repeat", 0)),
                str(u.get("fold")),
                str(u.get("seed")),
                str(u.get("status")),
                num(u.get("seconds"), 1),
                str(u.get("log") or ""),
            ]
            for u in units
        ]
        sec.tables.append(
            Table(
                "units",
                "Work units (model x repeat x fold x seed)",
                ["Model", "Repeat", "Fold", "Seed", "Status", "Seconds", "Log"],
                urows,
            )
        )
        slurm_rows = _slurm_rows(units)
        if slurm_rows:
            sec.tables.append(
                Table(
                    "slurm",
                    "SLURM array tasks",
                    ["Unit", "Job", "Node", "Requeues", "Queue (s)", "Wall (s)", "Final state"],
                    slurm_rows,
                )
            )
        failed = [
            u
            for u in units
            if str(u.get("status")).lower() not in ("ok", "done", "success", "completed")
        ]
        total = sum(float(u.get("seconds") or 0) for u in units)
        sec.text.append(
            f"{len(units)} work unit(s), {len(failed)} failed, {total:.0f} s of compute in total."
        )
    if len(run.provenance) > 1:
        sec.text.append(f"Merged from {len(run.provenance)} run directories.")
    sec.data = {"provenance": run.provenance}
    for note in run.notes:
        sec.text.append(note)
    return sec


def _slurm_rows(units: list[dict]) -> list[list[str]]:
    """One row per unit that ran as a SLURM array task (empty for local runs)."""
    rows = []
    for u in units:
        s = u.get("slurm")
        if not isinstance(s, dict):
            continue
        rows.append(
            [
                str(u.get("id") or u.get("model")),
                str(s.get("job_id") or ""),
                str(s.get("node") or ""),
                str(s.get("requeues") if s.get("requeues") is not None else ""),
                num(s.get("queue_s"), 1),
                num(u.get("seconds"), 1),
                str(s.get("final_state") or u.get("status") or ""),
            ]
        )
    return rows


__all__ = ["audit", "cohort", "identity", "metric_label", "protocol", "provenance"]
