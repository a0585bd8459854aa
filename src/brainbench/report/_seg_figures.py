"""Figures of the segmentation sheet (matplotlib, the styles of :mod:`._figures`)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

from brainbench.report._figures import COLORS, RC, _new


def case_dots(
    panels: Sequence[tuple[str, str, dict[str, np.ndarray]]],
    models: Sequence[str],
    *,
    seed: int = 0,
) -> plt.Figure:
    """One panel per (title, axis label, model -> per-case values): a box (quartiles, whiskers
    at 1.5 IQR) per model with every case drawn on it as a dot (jittered sideways with a
    fixed seed, so the figure is byte-stable)."""
    rng = np.random.default_rng(seed)
    with matplotlib.rc_context(RC):
        n = max(1, len(panels))
        fig, axes = _new(0.6 + 2.4 * n, 2.9)
        fig.clf()
        axes = fig.subplots(1, n, squeeze=False)[0]
        for ax, (title, ylabel, values) in zip(axes, panels, strict=False):
            data = [np.asarray(values.get(m, []), dtype=float) for m in models]
            data = [d[np.isfinite(d)] for d in data]
            shown = [i for i, d in enumerate(data) if len(d)]
            if shown:
                ax.boxplot(
                    [data[i] for i in shown],
                    positions=shown,
                    widths=0.5,
                    showfliers=False,
                    medianprops={"color": "#222222"},
                    boxprops={"color": "#777777"},
                    whiskerprops={"color": "#777777"},
                    capprops={"color": "#777777"},
                )
            for i, d in enumerate(data):
                x = i + rng.uniform(-0.15, 0.15, len(d))
                ax.scatter(x, d, s=10, color=COLORS[i % len(COLORS)], alpha=0.75, zorder=3)
            ax.set_xticks(range(len(models)))
            ax.set_xticklabels(models, rotation=20, ha="right")
            ax.set_xlim(-0.6, len(models) - 0.4)
            ax.set_title(title, fontsize=9)
            ax.set_ylabel(ylabel)
            ax.spines["top"].set_visible(False)
            ax.spines["right"].set_visible(False)
        fig.tight_layout()
    return fig


__all__ = ["case_dots"]
