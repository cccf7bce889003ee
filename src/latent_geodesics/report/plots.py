"""The plots of a ``compare`` report: step length, brightness and realism along the paths (matplotlib, Agg)."""

from __future__ import annotations

import math
import os
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

from .._check import atomic_path

# ---------------------------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------------------------

def _mean_over_pairs(rows: Sequence[Sequence[float | None]]) -> list[float | None]:
    """Column means of a ``(B, K)`` nested list, ignoring ``None``; ``None`` where a column has no value."""
    return [statistics.fmean(v) if (v := [x for x in col if x is not None]) else None for col in zip(*rows)]


def plot_series(report: Mapping) -> dict:
    """The curves :func:`write_plots` draws, from a ``compare`` report: means over pairs, per method.

    Returns:
        ``{"t_steps": [...], "t_frames": [...], "step": {method: [...]}, "brightness": {...}, "realism": {...}
        or None}``: step lengths under the reference metric at segment midpoints ``t = (i + 1/2) / N``,
        brightness and realism ``p`` at frames ``t = i / N``.
    """
    ref = report["reference_metric"]
    n = report["settings"]["frames"] - 1
    step, bright, real = {}, {}, {}
    for name, m in report["methods"].items():
        ev = m["evaluation"]
        step[name] = _mean_over_pairs(ev["metrics"][ref]["step_distances"])
        bright[name] = _mean_over_pairs(ev["brightness"])
        p = (ev.get("realism") or {}).get("p")
        if p is not None:
            real[name] = _mean_over_pairs(p)
    return {"t_steps": [(i + 0.5) / n for i in range(n)], "t_frames": [i / n for i in range(n + 1)],
            "step": step, "brightness": bright, "realism": real or None}


def write_plots(path: str | os.PathLike, report: Mapping) -> Path:
    """Per-step distance, brightness and (with a discriminator) realism along the path, one line per method.

    A PNG with one panel per quantity, stacked (readable on a phone), one shared legend on top; written
    atomically.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)  # no display needed; a no-op when a backend is already in use
    from matplotlib.figure import Figure  # a Figure without pyplot: no global state, nothing left open

    series = plot_series(report)
    panels = [("step", series["t_steps"], f"step length ({report['reference_metric']})"),
              ("brightness", series["t_frames"], "brightness (0-1)")]
    if series["realism"]:
        panels.append(("realism", series["t_frames"], "realism p"))
    pairs = len(report["pairs"])
    # Sized for a phone as well as a laptop: 700 px wide, so that the page shrinking it to a phone's width
    # keeps the text legible (and a tap on it opens it at full size).
    fig = Figure(figsize=(6.4, 1.1 + 2.4 * len(panels)), dpi=110, layout="constrained")
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    styles = {"linear": (0, (4, 2)), "slerp": (0, (1, 1.5)), "retime": (0, (6, 2, 1, 2))}
    lines = []
    for ax, (key, t, ylabel) in zip(axes, panels):
        for k, (name, values) in enumerate(series[key].items()):
            y = [math.nan if v is None else v for v in values]
            (line,) = ax.plot(t, y, color=f"C{k % 10}", linestyle=styles.get(name, "-"), linewidth=2.0,
                              marker="o" if len(t) <= 20 else None, markersize=3.5, label=name)
            if ax is axes[0]:
                lines.append(line)
        ax.set_ylabel(ylabel, fontsize=10.5)
        ax.grid(True, alpha=0.3)
        ax.tick_params(labelsize=10)
    axes[-1].set_xlabel("position along the path t (0 = start, 1 = end)", fontsize=10.5)
    axes[-1].set_xlim(0, 1)
    axes[0].set_title(f"{report['model']['name']}: mean over {pairs} pair{'s' if pairs != 1 else ''}",
                      fontsize=11)
    ncol = len(lines) if len(lines) <= 4 else math.ceil(len(lines) / 2)
    fig.legend(handles=lines, loc="outside upper center", ncol=ncol, fontsize=10.5, frameon=False,
               handlelength=2.6, columnspacing=1.2)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
