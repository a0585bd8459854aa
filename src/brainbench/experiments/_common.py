"""What every experiment shares: presets, the result object, and writing the evidence.

Each experiment module exposes ``NUMBER``, ``SLUG``, ``TITLE``, ``QUESTION``, ``PRESETS`` (a dict of
preset name -> parameters) and ``run(params, out_dir, seed) -> ExperimentResult``. The numbers of a
result come from the run; its conclusion is text generated from those numbers, never written by
hand, so that re-running an experiment with other seeds or presets rewrites its claims.
"""

from __future__ import annotations

import json
import math
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Seed of every experiment unless ``--seed`` says otherwise.
DEFAULT_SEED = 20240
PRESET_NAMES = ("quick", "full")


@dataclass(frozen=True)
class Finding:
    """One headline number of an experiment.

    Attributes
    ----------
    label
        What the number is ("coverage of the naive image-level bootstrap").
    value
        The number.
    text
        The number as shown in tables ("71.0%").
    """

    label: str
    value: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "value": _clean(self.value), "text": self.text}


@dataclass
class ExperimentResult:
    """The outcome of one experiment: its numbers, their reading, and the files written.

    Attributes
    ----------
    number, slug, title, question
        Which experiment.
    preset, seed, params
        How it was run.
    table
        The full table of results (one row per condition and method).
    findings
        Headline numbers, in the order the summary table shows them.
    expected
        Whether the numbers point the way the literature says (the direction checked by tests);
        ``None`` when the experiment makes no directional claim.
    conclusion
        A short paragraph generated from the numbers.
    figures
        File names of the plots, relative to the experiment's folder.
    sections
        Extra Markdown sections (title -> body) for the experiment's report.
    elapsed_s
        Wall-clock seconds of the run.
    """

    number: int
    slug: str
    title: str
    question: str
    preset: str
    seed: int
    params: dict[str, Any]
    table: pd.DataFrame
    findings: list[Finding]
    expected: bool | None
    conclusion: str
    figures: list[str] = field(default_factory=list)
    sections: dict[str, str] = field(default_factory=dict)
    elapsed_s: float = 0.0
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def folder(self) -> str:
        return f"{self.number:02d}-{self.slug}"

    def to_dict(self) -> dict[str, Any]:
        return _clean(
            {
                "number": self.number,
                "slug": self.slug,
                "title": self.title,
                "question": self.question,
                "preset": self.preset,
                "seed": self.seed,
                "params": self.params,
                "findings": [f.to_dict() for f in self.findings],
                "expected": self.expected,
                "conclusion": self.conclusion,
                "figures": self.figures,
                "elapsed_s": round(self.elapsed_s, 2),
                "provenance": self.provenance,
                "table": self.table.to_dict(orient="records"),
            }
        )


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def pct(x: float, digits: int = 1) -> str:
    """``0.0512 -> '5.1%'`` (``'n/a'`` for NaN)."""
    return "n/a" if x is None or not np.isfinite(x) else f"{100 * x:.{digits}f}%"


def num(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def binomial_se(p: float, n: int) -> float:
    """Monte Carlo standard error of a simulated proportion."""
    return math.sqrt(max(p * (1 - p), 0.0) / n) if n else float("nan")


def provenance() -> dict[str, Any]:
    """Versions and the commit the numbers came from."""
    import brainbench

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "brainbench": brainbench.__version__,
        "commit": commit or None,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
    }


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------
def markdown_table(df: pd.DataFrame, floatfmt: str = "{:.3f}") -> str:
    """A GitHub Markdown table of ``df`` (floats formatted with ``floatfmt``)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(str(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, (float, np.floating)):
                cells.append("" if not np.isfinite(v) else floatfmt.format(v))
            else:
                cells.append(str(v))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def command_for(result: ExperimentResult) -> str:
    return (
        f"python -m brainbench.experiments --preset {result.preset} --only {result.number} "
        f"--seed {result.seed} -o reports/experiments"
    )


def write_result(result: ExperimentResult, out_dir: Path) -> Path:
    """Write ``results.json``, ``table.tsv`` and ``README.md`` of one experiment."""
    folder = Path(out_dir) / result.folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    result.table.to_csv(folder / "table.tsv", sep="\t", index=False, float_format="%.6g")
    lines = [
        f"# Experiment {result.number}: {result.title}",
        "",
        f"**Question.** {result.question}",
        "",
        f"Preset `{result.preset}`, seed {result.seed}, {result.elapsed_s:.0f} s. Reproduce with:",
        "",
        "```",
        command_for(result),
        "```",
        "",
        "## Conclusion (generated from the numbers)",
        "",
        result.conclusion,
        "",
        "## Headline numbers",
        "",
        "| | |",
        "|---|---|",
        *[f"| {f.label} | {f.text} |" for f in result.findings],
        "",
    ]
    for fig in result.figures:
        lines += [f"![{fig}]({fig})", ""]
    for title, body in result.sections.items():
        lines += [f"## {title}", "", body.rstrip(), ""]
    lines += [
        "## Full table",
        "",
        markdown_table(result.table),
        "",
        "## Parameters",
        "",
        "```json",
        json.dumps(_clean(result.params), indent=2),
        "```",
        "",
        "## Provenance",
        "",
        "```json",
        json.dumps(_clean(result.provenance), indent=2),
        "```",
        "",
    ]
    (folder / "README.md").write_text("\n".join(lines))
    return folder


def write_summary(out_dir: Path) -> Path:
    """Rewrite ``README.md`` of ``out_dir`` from every experiment's ``results.json`` there."""
    out_dir = Path(out_dir)
    results = []
    for path in sorted(out_dir.glob("[0-9][0-9]-*/results.json")):
        results.append(json.loads(path.read_text()))
    rows = []
    for r in results:
        findings = "; ".join(f"{f['label']}: **{f['text']}**" for f in r["findings"])
        verdict = {True: "yes", False: "**no**", None: "-"}[r["expected"]]
        folder = f"{r['number']:02d}-{r['slug']}"
        rows.append(
            f"| [{r['number']}]({folder}/README.md) | {r['title']} | {findings} | {verdict} | "
            f"`{r['preset']}` | {r['elapsed_s']:.0f} s |"
        )
    presets = sorted({r["preset"] for r in results})
    label = ", ".join(f"`{p}`" for p in presets) or "none"
    lines = [
        "# What ignoring brain-imaging specificities costs",
        "",
        "Reproducible experiments of brainbench (issue 8). Experiments 1-3 are ordinary "
        "brainbench benchmarks (specs in `spec/experiments/`) on synthetic cohorts whose truth is "
        "known; experiments 4-6 are simulation studies of the statistics engine. Every number "
        "and every conclusion below is generated by the run; nothing is written by hand.",
        "",
        f"Preset(s) of these results: {label}. Reproduce all of them with:",
        "",
        "```",
        f"python -m brainbench.experiments --preset {presets[0] if presets else 'full'} "
        "-o reports/experiments",
        "```",
        "",
        "| # | experiment | findings | as the literature expects | preset | time |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "## Conclusions",
        "",
    ]
    for r in results:
        lines += [
            f"**{r['number']}. {r['title']}.** *{r['question']}* {r['conclusion']}",
            "",
        ]
    lines += [
        "## How the experiments are built",
        "",
        "- **1-3, benchmarks.** Each arm is a spec of `spec/experiments/` run by the runner "
        "(`brainbench.runner.run_benchmark`) on synthetic cohorts from `brainbench.synth`, "
        "evaluated with the spec's own protocol (`brainbench.stats.evaluate_predictions`, "
        "hierarchical bootstrap over sites and subjects) and written up by the report generator "
        "(`evidence/<spec>/`). Each arm's predictions, provenance, leakage audit and split table "
        "are kept in `runs/<spec>/`. The leaky arms validate only through their waivers (L101, "
        "L102), whose reason every report shows.",
        "- **4-6, simulation studies.** Test sets simulated by `brainbench.stats."
        "simulate_predictions` (site, subject and session random effects, known truth) or "
        "cross-validated learners on simulated features (5); every interval and test is the "
        "statistics engine's (`confidence_interval`, the registered comparison methods).",
        "- Fixed seeds: `--seed` (default "
        f"{DEFAULT_SEED}) seeds everything; the same command gives the same numbers.",
        "- `--preset quick` is CI-sized (a few minutes on 2 cores; `tests/experiments` runs the "
        "simulations); `--preset full` gives the published figures (under an hour on 2 cores).",
        "",
    ]
    if any(r["preset"] != "full" for r in results):
        lines += [
            "> **Note.** Results of the `quick` preset are CI-sized (few replications): their "
            "Monte Carlo error is large. The published figures come from `--preset full`.",
            "",
        ]
    path = out_dir / "README.md"
    path.write_text("\n".join(lines))
    return path
