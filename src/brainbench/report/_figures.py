"""The report's figures: matplotlib (Agg), written as PNG and SVG, byte-stable.

Byte stability: the SVG hash salt is fixed, text is drawn as paths (no font lookup at view
time), and the date / software metadata that matplotlib would embed are removed. Every figure
carries alt text that says what it shows in words.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from brainbench.report._model import Figure

RC = {
    "svg.hashsalt": "brainbench-report",
    "svg.fonttype": "path",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "figure.dpi": 100,
    "savefig.dpi": 110,
    "path.simplify": False,
}
COLORS = ["#1f5f8b", "#d1495b", "#edae49", "#00798c", "#66a182", "#8d6a9f", "#2e4057", "#a3a3a3"]


class FigureWriter:
    """Writes figures under ``out_dir/figures`` and returns :class:`Figure` records."""

    def __init__(self, out_dir: Path) -> None:
        self.out_dir = Path(out_dir)
        self.folder = self.out_dir / "figures"
        self.folder.mkdir(parents=True, exist_ok=True)

    def save(self, fig: plt.Figure, id: str, title: str, alt: str, caption: str) -> Figure:
        png = self.folder / f"{id}.png"
        svg = self.folder / f"{id}.svg"
        with matplotlib.rc_context(RC):
            fig.savefig(png, format="png", metadata={"Software": None}, bbox_inches="tight")
            buf = io.StringIO()
            fig.savefig(
                buf, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight"
            )
        plt.close(fig)
        text = buf.getvalue()
        svg.write_text(text)
        return Figure(
            id=id,
            title=title,
            alt=alt,
            caption=caption,
            png=f"figures/{id}.png",
            svg=f"figures/{id}.svg",
            svg_text=text,
        )


def _new(width: float, height: float) -> tuple[plt.Figure, plt.Axes]:
    with matplotlib.rc_context(RC):
        fig, ax = plt.subplots(figsize=(width, height))
    return fig, ax


def forest(
    rows: Sequence[tuple[str, float, float, float]],
    *,
    xlabel: str,
    reference: float | None = None,
    reference_label: str | None = None,
    groups: Sequence[str] | None = None,
) -> plt.Figure:
    """A forest plot: one row per (label, estimate, low, high); NaN intervals drawn as points.

    ``groups`` (same length as rows) colours rows by group (e.g. the model).
    """
    with matplotlib.rc_context(RC):
        n = len(rows)
        fig, ax = _new(6.4, max(1.4, 0.32 * n + 0.8))
        keys = list(dict.fromkeys(groups)) if groups else []
        for i, (_, est, lo, hi) in enumerate(rows):
            y = n - 1 - i
            color = COLORS[keys.index(groups[i]) % len(COLORS)] if groups else COLORS[0]
            if np.isfinite(lo) and np.isfinite(hi):
                ax.hlines(y, lo, hi, color=color, linewidth=2)
            if np.isfinite(est):
                ax.plot([est], [y], "o", color=color, markersize=5)
            else:
                ax.text(
                    0.5,
                    y,
                    "undefined",
                    transform=ax.get_yaxis_transform(),
                    va="center",
                    ha="center",
                    color="#888888",
                    fontsize=8,
                )
        if reference is not None:
            ax.axvline(
                reference, color="#555555", linestyle="--", linewidth=1, label=reference_label
            )
            if reference_label:
                ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False, fontsize=8)
        ax.set_yticks(range(n))
        ax.set_yticklabels([r[0] for r in rows][::-1])
        ax.set_ylim(-0.7, n - 0.3)
        ax.set_xlabel(xlabel)
        ax.grid(axis="x", color="#e5e5e5", linewidth=0.6)
        fig.tight_layout()
    return fig


def significance_map(
    models: Sequence[str], cells: dict[tuple[str, str], tuple[float | None, bool]]
) -> plt.Figure:
    """Pairwise map: row model vs column model, dark where the row model is shown better.

    ``cells[(a, b)] = (p_adjusted, a_shown_better)``; the cell prints the adjusted p-value.
    """
    with matplotlib.rc_context(RC):
        k = len(models)
        fig, ax = _new(1.2 + 0.75 * k, 0.9 + 0.55 * k)
        grid = np.full((k, k), np.nan)
        for i, a in enumerate(models):
            for j, b in enumerate(models):
                if (a, b) in cells:
                    _, better = cells[(a, b)]
                    grid[i, j] = 1.0 if better else 0.0
        from matplotlib.colors import ListedColormap

        ax.imshow(
            np.nan_to_num(grid, nan=-1),
            cmap=ListedColormap(["#ffffff", "#e8eef3", "#1f5f8b"]),
            vmin=-1,
            vmax=1,
        )
        for i, a in enumerate(models):
            for j, b in enumerate(models):
                if i == j:
                    ax.text(j, i, "—", ha="center", va="center", color="#999999")
                    continue
                if (a, b) in cells:
                    p, _ = cells[(a, b)]
                    label = "n/a" if p is None else (f"{p:.3f}" if p >= 0.001 else "<0.001")
                    color = "white" if grid[i, j] == 1 else "#333333"
                    ax.text(j, i, label, ha="center", va="center", color=color, fontsize=8)
        ax.set_xticks(range(k))
        ax.set_yticks(range(k))
        ax.set_xticklabels(models, rotation=30, ha="right")
        ax.set_yticklabels(models)
        ax.set_xlabel("compared with")
        ax.set_ylabel("model")
        for s in ax.spines.values():
            s.set_visible(False)
        fig.tight_layout()
    return fig


def blob_plot(models: Sequence[str], dist: dict[str, dict[str, float]]) -> plt.Figure:
    """Rank distribution per model: circle area proportional to P(rank = r) (``dist[model]``
    maps a rank, possibly a tied half rank such as ``"1.5"``, to its probability)."""
    with matplotlib.rc_context(RC):
        k = len(models)
        fig, ax = _new(1.6 + 0.9 * k, 2.6)
        for i, m in enumerate(models):
            items = sorted((float(r), float(p)) for r, p in dist.get(m, {}).items())
            for r, p in items:
                if p > 0:
                    ax.scatter(
                        [i],
                        [r],
                        s=600 * p,
                        color=COLORS[i % len(COLORS)],
                        alpha=0.8,
                        edgecolors="none",
                    )
            if items:
                cum = np.cumsum([p for _, p in items])
                median = items[min(int(np.searchsorted(cum, 0.5)), len(items) - 1)][0]
                ax.plot([i - 0.25, i + 0.25], [median, median], color="#222222", linewidth=1)
        ax.set_xticks(range(k))
        ax.set_xticklabels(models, rotation=20, ha="right")
        ax.set_yticks(range(1, k + 1))
        ax.set_ylim(k + 0.6, 0.4)
        ax.set_ylabel("rank (1 = best)")
        ax.grid(axis="y", color="#eeeeee", linewidth=0.6)
        fig.tight_layout()
    return fig


def reliability(curves: dict[str, list[dict]]) -> plt.Figure:
    """Reliability diagram: observed frequency against mean predicted probability per bin."""
    with matplotlib.rc_context(RC):
        fig, ax = _new(4.6, 4.0)
        ax.plot(
            [0, 1],
            [0, 1],
            linestyle="--",
            color="#777777",
            linewidth=1,
            label="perfect calibration",
        )
        for i, (model, bins) in enumerate(curves.items()):
            xs = [b["mean_predicted"] for b in bins if b["n"] > 0]
            ys = [b["observed"] for b in bins if b["n"] > 0]
            ax.plot(
                xs,
                ys,
                "o-",
                color=COLORS[i % len(COLORS)],
                markersize=3.5,
                linewidth=1.2,
                label=model,
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("mean predicted probability")
        ax.set_ylabel("observed frequency of the positive class")
        ax.legend(loc="upper left", frameon=False, fontsize=7.5)
        fig.tight_layout()
    return fig


def variance_bars(models: Sequence[str], sources: dict[str, Sequence[float]]) -> plt.Figure:
    """Grouped horizontal bars: standard deviation of the metric by source, per model."""
    with matplotlib.rc_context(RC):
        k = len(models)
        names = list(sources)
        fig, ax = _new(6.0, 0.9 + 0.45 * k * max(1, len(names)) / 2)
        height = 0.8 / max(1, len(names))
        for j, name in enumerate(names):
            vals = np.asarray(sources[name], dtype=float)
            ys = np.arange(k) + j * height
            ax.barh(
                ys, np.nan_to_num(vals), height=height, color=COLORS[j % len(COLORS)], label=name
            )
        ax.set_yticks(np.arange(k) + 0.4 - height / 2)
        ax.set_yticklabels(models)
        ax.invert_yaxis()
        ax.set_xlabel("standard deviation of the metric")
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.18),
            ncol=len(names),
            frameon=False,
            fontsize=7.5,
        )
        fig.tight_layout()
    return fig
