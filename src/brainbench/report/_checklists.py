"""Reporting checklists filled from the run: CLAIM 2024 and TRIPOD+AI.

Journals ask for a checklist beside an imaging-AI paper; authors fill it by hand, item by item.
The spec, the run and the evidence sheet already hold the answer to many items (data sources,
partitions, the level at which they are disjoint, metrics with intervals, external testing,
site results, software). Each item here is answered from them where it can be, with the
evidence and the sheet section it comes from; every other item is listed for the authors.

Only item ids and short titles are encoded, never the checklists' text; read the published
checklists for what each item asks:

* CLAIM 2024: Tejani AS, Klontzas ME, Gatti AA, et al. Checklist for Artificial Intelligence in
  Medical Imaging (CLAIM): 2024 Update. Radiol Artif Intell 2024;6(4):e240300,
  doi:10.1148/ryai.240300 (44 items).
* TRIPOD+AI: Collins GS, Moons KGM, Dhiman P, et al. TRIPOD+AI statement: updated guidance for
  reporting clinical prediction models that use regression or machine learning methods.
  BMJ 2024;385:e078378, doi:10.1136/bmj-2023-078378 (27 items, 52 with their parts).

Status of an item: ``run`` (answered from the run), ``part`` (the run answers part of it; the
authors complete it) or ``authors`` (nothing in the run answers it). A checklist is an aid to
the authors, not a certificate: an item answered from the run still needs its sentence in the
paper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from brainbench.report._context import interval, num
from brainbench.report._model import Section, Table

RUN, PART, AUTHORS = "run", "part", "authors"
Answer = tuple[str, str, list[str]] | None  # status, evidence, sheet sections


@dataclass
class Facts:
    """What the checklist reads: the spec (or None) and the sheet's sections by id."""

    spec: Any
    sections: dict[str, Section]

    def data(self, sid: str) -> dict[str, Any]:
        sec = self.sections.get(sid)
        return sec.data if sec is not None and sec.status != "unavailable" else {}


def _cohorts(f: Facts) -> Answer:
    if f.spec is None:
        return None
    parts = [f"{c.id} ({c.role}, {c.source.format})" for c in f.spec.cohorts]
    rows = f.data("cohort").get("by_dataset") or {}
    counts = "; ".join(f"{d}: {sum(v.values())} subjects" for d, v in rows.items())
    return RUN, "Cohorts: " + ", ".join(parts) + (f". {counts}." if counts else "."), ["cohort"]


def _eligibility(f: Facts) -> Answer:
    if f.spec is None:
        return None
    rules = [f"{c.id}: {c.include}" for c in f.spec.cohorts if c.include]
    if not rules:
        return None
    return PART, "Inclusion rules of the spec: " + "; ".join(rules) + ".", ["identity"]


def _outcome(f: Facts) -> Answer:
    if f.spec is None:
        return None
    task = f.spec.task
    what = f"the '{task.target}' column" + (
        f", classes {', '.join(task.classes)} (positive last)" if task.classes else ""
    )
    return PART, f"Reference standard: {what}; how it was obtained is for the authors.", []


def _partitions(f: Facts) -> Answer:
    if f.spec is None:
        return None
    s = f.spec.splits
    test = s.test.method + (f" {s.test.size:g}" if s.test.method == "holdout" else "")
    text = (
        f"Test: {test} (sessions: {s.test.sessions}); validation: {s.validation.method}; "
        f"stratified on {', '.join(s.stratify) or 'nothing'}; {s.repeats} repeat(s); "
        f"split seed {s.seed}"
    )
    sha = f.data("identity").get("split_sha256")
    if sha:
        text += f"; frozen split sha256 {sha}"
    sizes = f.data("cohort").get("by_partition") or {}
    if sizes:
        text += ". Subjects: " + ", ".join(f"{p} {sum(v.values())}" for p, v in sizes.items())
    return RUN, text + ".", ["protocol", "cohort"]


def _disjoint(f: Facts) -> Answer:
    if f.spec is None:
        return None
    audit = f.data("audit")
    text = f"Partitions are disjoint at the {f.spec.splits.group} level"
    if audit:
        verdict = "passed" if audit.get("valid", True) else "FAILED"
        counts = audit.get("counts") or {}
        text += (
            f"; leakage audit {verdict} ({counts.get('passed', 0)} rules passed, "
            f"{counts.get('failed', 0)} failed, {counts.get('waived', 0)} waived)"
        )
        return RUN, text + ".", ["audit"]
    return PART, text + " (declared; the leakage audit was not run).", ["protocol"]


def _metrics(f: Facts) -> Answer:
    if f.spec is None:
        return None
    p = f.spec.protocol
    return (
        RUN,
        f"Primary metric {p.primary_metric}; secondary {', '.join(p.metrics) or 'none'}; "
        f"unit of analysis: {p.unit_of_analysis}.",
        ["protocol", "primary"],
    )


def _uncertainty(f: Facts) -> Answer:
    if f.spec is None:
        return None
    c = f.spec.protocol.confidence
    text = (
        f"{c.level:.0%} {c.interval} intervals by {c.method} ({c.resamples} resamples, "
        f"clusters {', '.join(c.clusters) or 'none'})"
    )
    cmp = f.spec.protocol.comparison
    if cmp is not None:
        text += (
            f"; comparisons: {cmp.method}, {cmp.hypothesis}, alpha {cmp.alpha:g}, "
            f"{cmp.correction} correction"
        )
    return RUN, text + ".", ["protocol", "comparisons"]


def _primary(f: Facts) -> Answer:
    p = f.data("primary")
    rows = [
        r
        for r in p.get("results") or []
        if not r.get("group")
        and r.get("metric") == p.get("metric")
        and r.get("partition") == p.get("partition")
    ]
    if not rows:
        return None
    shown = "; ".join(
        f"{r['model']} {num(r.get('estimate'))} {interval(r.get('ci_low'), r.get('ci_high'))} "
        f"(n={r.get('n_units')})"
        for r in rows
    )
    text = f"{p.get('metric')} on {p.get('partition')}, {p.get('unit')} level: {shown}"
    return RUN, text + "; the secondary metrics are in the same section.", ["primary"]


def _external(f: Facts) -> Answer:
    ext = f.data("generalisation").get("external") or {}
    if ext:
        parts = [
            f"{cohort}: " + ", ".join(f"{m} {num(v.get('estimate'))}" for m, v in res.items())
            for cohort, res in ext.items()
        ]
        return RUN, "External-test cohorts: " + "; ".join(parts) + ".", ["generalisation"]
    if f.spec is not None and not any(c.role == "external-test" for c in f.spec.cohorts):
        return RUN, "None: the benchmark declares no external-test cohort.", ["identity"]
    return None


def _clusters(f: Facts) -> Answer:
    levels = f.data("generalisation").get("levels") or {}
    parts = [f"{lvl} ({v['groups']} groups)" for lvl, v in levels.items() if v.get("groups")]
    if not parts:
        return None
    return RUN, "Results per " + ", ".join(parts) + ", with intervals.", ["generalisation"]


def _centres(f: Facts) -> Answer:
    sites = f.data("cohort").get("by_site") or {}
    if not sites:
        return None
    names = ", ".join(list(sites)[:10]) + (" ..." if len(sites) > 10 else "")
    return PART, f"{len(sites)} sites ({names}); the care setting is for the authors.", ["cohort"]


def _robustness(f: Facts) -> Answer:
    sec = f.sections.get("variance")
    if sec is None or sec.status == "unavailable":
        return None
    status = RUN if sec.status == "ok" else PART
    return (
        status,
        "Variance between seeds, training splits and sites."
        + (f" Not measured: {'; '.join(sec.missing)}." if sec.missing else ""),
        ["variance"],
    )


def _characteristics(f: Facts) -> Answer:
    c = f.data("cohort")
    if not c.get("by_partition"):
        return None
    rows = c.get("rows") or {}
    extra = [k for k in ("age_smd", "female_smd") if rows.get(k) is not None]
    return (
        PART,
        (
            "Class counts per partition, data set and site"
            + (f"; standardised differences of {', '.join(extra)}" if extra else "")
            + "; other clinical characteristics are for the authors."
        ),
        ["cohort"],
    )


def _counts(f: Facts) -> Answer:
    rows = f.data("cohort").get("rows") or {}
    if not rows:
        return None
    subjects = rows.get("subjects") or {}
    return (
        PART,
        (
            f"Included: {subjects.get('Total', 'n/a')} subjects, {rows.get('sessions', 'n/a')} "
            "sessions; exclusions before the cohort table are for the authors."
        ),
        ["cohort"],
    )


def _software(f: Facts) -> Answer:
    prov = f.data("provenance").get("provenance") or []
    if not prov:
        return None
    first = prov[0]
    pkgs = first.get("packages") or {}
    shown = ", ".join(f"{k} {v}" for k, v in list(pkgs.items())[:8])
    return RUN, f"brainbench {first.get('brainbench_version')}; {shown}.", ["provenance"]


def _availability(f: Facts) -> Answer:
    prov = f.data("provenance").get("provenance") or []
    models = f.data("identity").get("models") or []
    if not prov and not models:
        return None
    text = "Code: brainbench (open source)"
    if prov and prov[0].get("git_commit"):
        text += f" at commit {prov[0]['git_commit']}"
    if models:
        text += "; models from its registry: " + ", ".join(
            f"{m.get('id')} {m.get('version')}" for m in models if isinstance(m, dict)
        )
    return PART, text + ". Data availability is for the authors.", ["provenance", "identity"]


def _protocol(f: Facts) -> Answer:
    sha = f.data("identity").get("spec_sha256")
    if not sha:
        return None
    return (
        RUN,
        f"The benchmark spec is the protocol, fixed before the run (sha256 {sha}).",
        [
            "identity",
            "protocol",
        ],
    )


def _model_selection(f: Facts) -> Answer:
    if f.spec is None:
        return None
    t = f.spec.training
    return (
        PART,
        (
            f"Model selection on: {t.model_selection}; preprocessing fitted on: "
            f"{t.fit_preprocessing_on}; details of each model are for the authors."
        ),
        ["protocol"],
    )


def _limitations(f: Facts) -> Answer:
    data = f.data("conclusions")
    limits = data.get("limits") or []
    unsupported = [c for c in data.get("claims") or [] if c.get("status") != "supported"]
    if not (limits or unsupported):
        return None
    return (
        PART,
        f"{len(limits)} limit(s) of the evidence and {len(unsupported)} claim(s) not supported "
        "or not estimable.",
        ["conclusions"],
    )


def _subgroups(f: Facts) -> Answer:
    if f.spec is None or not f.spec.reporting.breakdown:
        return None
    levels = f.data("generalisation").get("levels") or {}
    shown = [b for b in f.spec.reporting.breakdown if b in levels] or f.spec.reporting.breakdown
    return (
        PART,
        (
            f"Results broken down by {', '.join(shown)}; other groups where fairness matters are "
            "for the authors."
        ),
        ["generalisation"],
    )


Rule = Callable[[Facts], Answer] | None

#: CLAIM 2024 (Tejani et al. 2024): item number, short title, answer from the run.
CLAIM: tuple[tuple[str, str, Rule], ...] = (
    ("1", "Identification as a study of AI methodology", None),
    ("2", "Structured summary", None),
    ("3", "Background, intended use and role of the AI approach", None),
    ("4", "Study aims, objectives and hypotheses", None),
    ("5", "Prospective or retrospective study", None),
    ("6", "Study goal", None),
    ("7", "Data sources", _cohorts),
    ("8", "Inclusion and exclusion criteria", _eligibility),
    ("9", "Data pre-processing", None),
    ("10", "Selection of data subsets", None),
    ("11", "De-identification methods", None),
    ("12", "How missing data were handled", None),
    ("13", "Image acquisition protocol", None),
    ("14", "Definition of the reference standard", _outcome),
    ("15", "Rationale for choosing the reference standard", None),
    ("16", "Source of reference standard annotations", None),
    ("17", "Annotation of the test set", None),
    ("18", "Inter- and intra-rater variability", None),
    ("19", "How data were assigned to partitions", _partitions),
    ("20", "Level at which partitions are disjoint", _disjoint),
    ("21", "Intended sample size", None),
    ("22", "Detailed description of the model", None),
    ("23", "Software libraries, frameworks and packages", _software),
    ("24", "Initialization of model parameters", None),
    ("25", "Details of the training approach", None),
    ("26", "Method of selecting the final model", _model_selection),
    ("27", "Ensembling techniques", None),
    ("28", "Metrics of model performance", _metrics),
    ("29", "Statistical measures of significance and uncertainty", _uncertainty),
    ("30", "Robustness or sensitivity analysis", _robustness),
    ("31", "Methods for explainability or interpretability", None),
    ("32", "Evaluation on internal data", _primary),
    ("33", "Testing on external data", _external),
    ("34", "Clinical trial registration", None),
    ("35", "Numbers of patients or examinations included and excluded", _counts),
    ("36", "Characteristics of cases in each partition", _characteristics),
    ("37", "Performance metrics and measures of statistical uncertainty", _primary),
    ("38", "Estimates of diagnostic performance and their precision", _primary),
    ("39", "Failure analysis of incorrect results", None),
    ("40", "Study limitations", _limitations),
    ("41", "Implications for practice", None),
    ("42", "Reference to the full study protocol", _protocol),
    ("43", "Availability of software, trained model and data", _availability),
    ("44", "Sources of funding; role of funders", None),
)

#: TRIPOD+AI (Collins et al. 2024): item id, short title, answer from the run.
TRIPOD_AI: tuple[tuple[str, str, Rule], ...] = (
    ("1", "Title", None),
    ("2", "Abstract", None),
    ("3a", "Background: healthcare context and rationale", None),
    ("3b", "Background: target population and intended use", None),
    ("3c", "Background: known health inequalities", None),
    ("4", "Objectives", None),
    ("5a", "Data: sources", _cohorts),
    ("5b", "Data: dates", None),
    ("6a", "Participants: setting and centres", _centres),
    ("6b", "Participants: eligibility criteria", _eligibility),
    ("6c", "Participants: treatments", None),
    ("7", "Data preparation", None),
    ("8a", "Outcome: definition and timing", _outcome),
    ("8b", "Outcome: assessors", None),
    ("8c", "Outcome: blinding", None),
    ("9a", "Predictors: choice", None),
    ("9b", "Predictors: definition and measurement", None),
    ("9c", "Predictors: assessors", None),
    ("10", "Sample size", _counts),
    ("11", "Missing data", None),
    ("12a", "Analysis: how the data were used (development, evaluation)", _partitions),
    ("12b", "Analysis: handling of predictors", None),
    ("12c", "Analysis: model type, building, tuning and internal validation", _model_selection),
    ("12d", "Analysis: heterogeneity across clusters", _clusters),
    ("12e", "Analysis: performance measures and their uncertainty", _uncertainty),
    ("12f", "Analysis: model updating", None),
    ("12g", "Analysis: how predictions were calculated for evaluation", None),
    ("13", "Class imbalance", None),
    ("14", "Fairness", _subgroups),
    ("15", "Model output", None),
    ("16", "Training versus evaluation differences", _disjoint),
    ("17", "Ethical approval", None),
    ("18a", "Open science: funding", None),
    ("18b", "Open science: conflicts of interest", None),
    ("18c", "Open science: protocol", _protocol),
    ("18d", "Open science: registration", None),
    ("18e", "Open science: data sharing", None),
    ("18f", "Open science: code sharing", _availability),
    ("19", "Patient and public involvement", None),
    ("20a", "Participants: flow and outcome", _counts),
    ("20b", "Participants: characteristics overall and per data source", _characteristics),
    ("20c", "Participants: development versus evaluation distributions", _characteristics),
    ("21", "Numbers of participants and outcome events per analysis", _primary),
    ("22", "Full model presentation", None),
    ("23a", "Performance estimates with confidence intervals, incl. key subgroups", _primary),
    ("23b", "Heterogeneity of performance across clusters", _clusters),
    ("24", "Model updating results", None),
    ("25", "Interpretation", None),
    ("26", "Limitations", _limitations),
    ("27a", "Usability: poor quality or unavailable input data", None),
    ("27b", "Usability: user interaction and expertise", None),
    ("27c", "Future research", None),
)

CHECKLISTS: dict[str, tuple[str, str, tuple[tuple[str, str, Rule], ...]]] = {
    "claim": (
        "CLAIM 2024 checklist",
        "Tejani AS, Klontzas ME, Gatti AA, et al. Checklist for Artificial Intelligence in "
        "Medical Imaging (CLAIM): 2024 Update. Radiol Artif Intell 2024;6(4):e240300.",
        CLAIM,
    ),
    "tripod-ai": (
        "TRIPOD+AI checklist",
        "Collins GS, Moons KGM, Dhiman P, et al. TRIPOD+AI statement: updated guidance for "
        "reporting clinical prediction models that use regression or machine learning methods. "
        "BMJ 2024;385:e078378.",
        TRIPOD_AI,
    ),
}


def checklist_items(name: str, facts: Facts) -> list[dict[str, Any]]:
    """Every item of checklist ``name``: id, title, status, evidence and sheet sections."""
    items = []
    for item_id, title, rule in CHECKLISTS[name][2]:
        got = rule(facts) if rule is not None else None
        status, evidence, where = got if got is not None else (AUTHORS, "", [])
        items.append(
            {
                "item": item_id,
                "title": title,
                "status": status,
                "evidence": evidence,
                "sections": [s for s in where if s in facts.sections],
            }
        )
    return items


def checklist_section(name: str, number: int, spec: Any, sections: list[Section]) -> Section:
    """The sheet section of checklist ``name`` (``claim`` or ``tripod-ai``)."""
    title, reference, _ = CHECKLISTS[name]
    facts = Facts(spec, {s.id: s for s in sections})
    items = checklist_items(name, facts)
    by_number = {s.id: s.number for s in sections}
    answered = [i for i in items if i["status"] != AUTHORS]
    left = [i for i in items if i["status"] == AUTHORS]
    sec = Section(id=f"checklist-{name}", number=number, title=title)
    sec.text = [
        f"Of the {len(items)} items, {sum(i['status'] == RUN for i in items)} are answered "
        f"from the spec, the run and this sheet, {sum(i['status'] == PART for i in items)} in "
        f"part, and {len(left)} are left to the authors. Checklist: {reference} Item numbers "
        "and short titles only: read the published checklist for what each item asks. An item "
        "answered here still needs its sentence in the paper."
    ]
    sec.tables = [
        Table(
            f"checklist-{name}-run",
            f"{title}: items answered from the run",
            ["Item", "Title", "Status", "Evidence", "Sheet section"],
            [
                [
                    i["item"],
                    i["title"],
                    "answered" if i["status"] == RUN else "in part",
                    i["evidence"],
                    ", ".join(f"{by_number[s]}. {s}" for s in i["sections"]) or "spec",
                ]
                for i in answered
            ],
        ),
        Table(
            f"checklist-{name}-authors",
            f"{title}: items left to the authors",
            ["Item", "Title"],
            [[i["item"], i["title"]] for i in left],
        ),
    ]
    sec.data = {"checklist": name, "reference": reference, "items": items}
    return sec
