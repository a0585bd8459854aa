"""``write_report``: run directories in, evidence sheet out."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from brainbench import __version__
from brainbench.report._analysis import Analysis
from brainbench.report._checklists import checklist_section
from brainbench.report._context import ReportContext
from brainbench.report._figures import FigureWriter
from brainbench.report._model import (
    UNAVAILABLE,
    Section,
    Table,
    json_ready,
    ordered_sections,
)
from brainbench.report._render import render_html, render_json, render_markdown
from brainbench.report._run import RunData, read_runs
from brainbench.report._seg_data import is_segmentation_run


def build_sections(
    run: RunData, out_dir: Path, *, resamples: int | None, seed: int
) -> tuple[list[Section], Analysis]:
    """Build every registered section in order (each sees the ones before it)."""
    analysis = Analysis(run, resamples=resamples, seed=seed)
    ctx = ReportContext(run=run, analysis=analysis, figures=FigureWriter(out_dir))
    # Sections whose numbers the conclusions read are built first; order of output is kept.
    specs = ordered_sections()
    built: dict[str, Section] = {}
    # The protocol section lists deviations found while computing the others: built last but one.
    late = {"protocol": 1, "conclusions": 2}
    for spec in sorted(specs, key=lambda s: (late.get(s.id, 0), s.number)):
        sec = spec.build(ctx)
        built[spec.id] = sec
        ctx.sections[spec.id] = sec
    sections = [built[s.id] for s in specs]
    prov = built.get("provenance")
    if analysis.engine_warnings and prov is not None:
        rows = [w.split(": ", 1) if ": " in w else ["", w] for w in analysis.engine_warnings]
        prov.tables.append(
            Table(
                "engine_warnings",
                "Warnings of the statistics engine (also in each table's notes)",
                ["Where", "Warning"],
                rows,
            )
        )
        prov.data["engine_warnings"] = list(analysis.engine_warnings)
    return sections, analysis


def write_report(
    run_dirs: Sequence[str | Path] | str | Path,
    out_dir: str | Path,
    spec: str | Path | None = None,
    *,
    resamples: int | None = None,
    seed: int = 0,
    checklists: Sequence[str] = (),
) -> Path:
    """Write the evidence sheet of one benchmark's run(s).

    Parameters
    ----------
    run_dirs
        One or more run directories written by ``brainbench run`` (or predictions files made
        by another tool, e.g. converted with ``brainbench convert clinicadl``). Predictions of
        several directories are pooled (each model in one directory only).
    out_dir
        Folder to write: ``evidence.html`` (self-contained), ``evidence.md``,
        ``evidence.json`` and ``figures/*.png|svg``. Created if needed; old figures removed.
    spec
        The benchmark spec; default: the spec stored in the run directory.
    resamples
        Bootstrap resamples of every interval; default: the spec's.
    seed
        Seed of every bootstrap (same inputs and seed: byte-identical outputs).
    checklists
        Reporting checklists to fill from the run, as sections at the end of the sheet:
        ``claim`` (CLAIM 2024) and/or ``tripod-ai`` (TRIPOD+AI); see
        :mod:`brainbench.report._checklists`.

    Returns
    -------
    Path
        The path of ``evidence.html``.

    Raises
    ------
    UserError
        When nothing sensible can be written (no predictions, unreadable spec...).
    """
    if isinstance(run_dirs, (str, Path)):
        run_dirs = [run_dirs]
    sources = [Path(p) for p in run_dirs]
    if any(is_segmentation_run(p) for p in sources):
        from brainbench.report._seg_write import write_seg_report

        return write_seg_report(
            sources, out_dir, spec, resamples=resamples, seed=seed, checklists=checklists
        )
    run = read_runs(sources, spec)
    out = prepare_out(out_dir)
    sections, analysis = build_sections(run, out, resamples=resamples, seed=seed)
    for name in dict.fromkeys(checklists):
        sections.append(checklist_section(name, len(sections) + 1, run.spec, sections))
    header = sheet_header(
        sections,
        run,
        analysis,
        f"{len(analysis.models)} model(s); primary metric {analysis.primary} at the "
        f"{analysis.unit} level",
    )
    header["predictions_sha256"] = run.predictions_sha256
    return write_outputs(out, sections, header)


def sheet_header(sections: list[Section], run: RunData, analysis: Any, what: str) -> dict:
    """The header every sheet shares (title, subtitle, settings...); ``what`` opens the
    subtitle (the models and the primary metric)."""
    ident = sections[0].data
    title = f"{ident.get('benchmark')} {ident.get('version')}"
    if ident.get("title"):
        title += f" — {ident['title']}"
    n_unavailable = sum(s.status == UNAVAILABLE for s in sections)
    subtitle = (
        f"{what}; tier: {run.tier}; "
        f"{sum(d.severity != 'note' for d in analysis.deviations)} deviation(s) from "
        f"the protocol; {n_unavailable} section(s) unavailable."
    )
    return {
        "title": title,
        "subtitle": subtitle,
        "brainbench_version": __version__,
        "benchmark": {"id": ident.get("benchmark"), "version": ident.get("version")},
        "tier": run.tier,
        "primary_metric": analysis.primary,
        "unit_of_analysis": analysis.unit,
        "settings": json_ready(
            {"resamples": analysis.resamples, "seed": analysis.seed, "level": analysis.level}
        ),
        "sources": [p.name for p in run.sources],
    }


def prepare_out(out_dir: str | Path) -> Path:
    """The report folder, created; figures of an earlier report removed."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "figures").is_dir():
        shutil.rmtree(out / "figures")
    return out


def write_outputs(out: Path, sections: list[Section], header: dict) -> Path:
    """``evidence.json``, ``.md`` and ``.html`` of built sections; the path of the HTML."""
    (out / "evidence.json").write_text(render_json(sections, header), encoding="utf-8")
    (out / "evidence.md").write_text(render_markdown(sections, header), encoding="utf-8")
    html = out / "evidence.html"
    html.write_text(render_html(sections, header), encoding="utf-8")
    return html
