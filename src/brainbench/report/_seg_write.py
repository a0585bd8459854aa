"""``write_report`` for a segmentation run: case metrics in, segmentation evidence sheet out."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from brainbench.errors import UserError
from brainbench.report._context import ReportContext
from brainbench.report._figures import FigureWriter
from brainbench.report._model import Section, Table
from brainbench.report._run import TableKind, read_runs
from brainbench.report._seg_analysis import SegAnalysis
from brainbench.report._seg_data import CASE_METRICS_FILE, case_metrics_file, read_case_metrics
from brainbench.report._seg_sections import SEG_SECTIONS
from brainbench.report._write import prepare_out, sheet_header, write_outputs

CASE_METRICS = TableKind(
    "case-metrics table",
    (CASE_METRICS_FILE,),
    read_case_metrics,
    "case_metrics_sha256",
    "`brainbench run` writes it for a segmentation spec once its work units have finished.",
)


def build_seg_sections(
    run, out_dir: Path, *, resamples: int | None, seed: int
) -> tuple[list[Section], SegAnalysis]:
    """Build the segmentation sheet's sections in order; the protocol section, which lists
    the deviations found while computing the others, and the conclusions are built last."""
    analysis = SegAnalysis(run, resamples=resamples, seed=seed)
    ctx = ReportContext(run=run, analysis=analysis, figures=FigureWriter(out_dir))  # type: ignore[arg-type]
    late = {"protocol": 1, "conclusions": 2}
    numbered = [(i + 1, sid, title, fn) for i, (sid, title, fn) in enumerate(SEG_SECTIONS)]
    built: dict[str, Section] = {}
    for number, sid, title, fn in sorted(numbered, key=lambda t: (late.get(t[1], 0), t[0])):
        sec = fn(ctx, Section(id=sid, number=number, title=title))
        built[sid] = ctx.sections[sid] = sec
    sections = [built[sid] for _, sid, _, _ in numbered]
    if analysis.engine_warnings:
        built["provenance"].tables.append(
            Table(
                "engine_warnings",
                "Warnings of the statistics",
                ["Warning"],
                [[w] for w in analysis.engine_warnings],
            )
        )
    return sections, analysis


def write_seg_report(
    sources: Sequence[Path],
    out_dir: str | Path,
    spec: str | Path | None = None,
    *,
    resamples: int | None = None,
    seed: int = 0,
    checklists: Sequence[str] = (),
) -> Path:
    """The segmentation evidence sheet of one benchmark's run folder(s): see
    :func:`brainbench.report.write_report` (which dispatches here when a source holds a
    ``case_metrics.parquet`` or a spec with ``task.type: segmentation``)."""
    if checklists:
        raise UserError(
            "The reporting checklists (--checklist) are filled from the classification and "
            "regression sheets only; write the segmentation sheet without --checklist."
        )
    for src in sources:
        if Path(src).is_dir():
            case_metrics_file(Path(src))  # a clear error when a segmentation run lacks it
    run = read_runs(list(sources), spec, table=CASE_METRICS)
    out = prepare_out(out_dir)
    sections, analysis = build_seg_sections(run, out, resamples=resamples, seed=seed)
    header = sheet_header(
        sections,
        run,
        analysis,
        f"Segmentation: {len(analysis.models)} model(s), {len(analysis.labels)} label(s) "
        f"({', '.join(analysis.labels)}); primary metric {analysis.primary} on "
        f"{analysis.primary_label}",
    )
    header.update(
        task="segmentation",
        primary_label=analysis.primary_label,
        labels=list(analysis.labels),
        case_metrics_sha256=run.predictions_sha256,
    )
    return write_outputs(out, sections, header)


__all__ = ["CASE_METRICS", "write_seg_report"]
