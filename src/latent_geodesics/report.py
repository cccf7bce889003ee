"""The pictures and the page of a comparison report: labelled grid, side-by-side video frames, plots, HTML.

Everything here draws from numbers and frames it is given (a ``compare`` report dict and uint8 frames);
nothing is recomputed. Text is drawn with Pillow's default font (no font files, no network); the HTML
page is self-contained: inline CSS, no scripts, and relative links to the pictures beside it.
"""

from __future__ import annotations

import html
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ._check import atomic_path
from .rendering import upscale

GRID_MIN_SIDE = 64
"""Frames in the grid are upscaled (nearest neighbour, integer factor) until their shorter side reaches this."""

VIDEO_TILE_SIDE = 192
"""Each method's tile in the video is upscaled until its shorter side reaches this."""

VIDEO_BAND = 32
"""Height of the text bands of the video (one above all tiles, one above each tile): two bands plus a
tile are at least 256 px, so :func:`latent_geodesics.rendering.write_video` does not upscale again."""

INK = (30, 30, 30)
MUTED = (95, 95, 95)
PAPER = (255, 255, 255)


# ---------------------------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------------------------

def label_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` pixels (the fixed small bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or built without FreeType
        return ImageFont.load_default()


def _text_size(font, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom - top


def _vertical_offset(font, cy: float) -> float:
    """The ``y`` to draw at so that text of ``font`` is centred on ``cy`` (same for every label: one baseline)."""
    _, top, _, bottom = font.getbbox("Ag")
    return cy - (top + bottom) / 2


def _draw_centred_left(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str, font,
                       fill=INK, pad: int = 8) -> None:
    """Text left-aligned (after ``pad``) and vertically centred in ``box = (x0, y0, x1, y1)``."""
    x0, y0, x1, y1 = box
    left = font.getbbox(text)[0]
    draw.text((x0 + pad - left, _vertical_offset(font, (y0 + y1) / 2)), text, font=font, fill=fill)


def _draw_centred(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str, font, fill=INK) -> None:
    """Text centred in ``box = (x0, y0, x1, y1)``."""
    x0, y0, x1, y1 = box
    left, _, right, _ = font.getbbox(text)
    draw.text(((x0 + x1) / 2 - (left + right) / 2, _vertical_offset(font, (y0 + y1) / 2)), text, font=font,
              fill=fill)


# ---------------------------------------------------------------------------------------------------------------
# Grid
# ---------------------------------------------------------------------------------------------------------------

def labelled_grid(frames: Mapping[str, np.ndarray], pair_titles: Sequence[str], *, gap: int = 2,
                  pad: int = 8) -> tuple[np.ndarray, dict]:
    """One row per method per pair, method names on the left, rows grouped by pair under a title band.

    Args:
        frames: per method (in row order) ``(B, T, H, W, 3)`` uint8, the same shape for every method.
        pair_titles: ``B`` titles, one above each group of rows.
        gap: pixels between frames and between rows.
        pad: pixels around the text.

    Returns:
        The picture ``(height, width, 3)`` uint8, and its layout (JSON-ready): ``label_width``, ``frame_size``
        ``[h, w]`` as drawn, ``columns``, ``font_px`` and ``rows``: one ``{"pair", "method", "top", "height"}``
        per row, top to bottom (pixel rows of the picture), and ``titles``: ``{"pair", "top", "height"}``.
    """
    names = list(frames)
    if not names:
        raise ValueError("no methods to draw")
    b, t = frames[names[0]].shape[:2]
    scaled = {m: upscale(f, GRID_MIN_SIDE) for m, f in frames.items()}  # (B, T, h, w, 3)
    h, w = scaled[names[0]].shape[2:4]
    font_px = int(max(12, min(24, round(h * 0.3))))
    font = label_font(font_px)
    title_font = label_font(font_px + 2)
    label_width = max(_text_size(font, m)[0] for m in names) + 2 * pad
    title_height = _text_size(title_font, "Pg")[1] + 2 * pad
    group_gap = 3 * gap * 2
    width = label_width + t * (w + gap) - gap
    height = b * (title_height + len(names) * (h + gap) - gap) + (b - 1) * group_gap
    canvas = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(canvas)
    rows, titles = [], []
    y = 0
    for pair in range(b):
        _draw_centred_left(draw, (0, y, width, y + title_height), pair_titles[pair], title_font, fill=MUTED,
                           pad=pad)
        titles.append({"pair": pair, "top": y, "height": title_height})
        y += title_height
        for m in names:
            _draw_centred_left(draw, (0, y, label_width, y + h), m, font, pad=pad)
            for j in range(t):
                canvas.paste(Image.fromarray(scaled[m][pair, j]), (label_width + j * (w + gap), y))
            rows.append({"pair": pair, "method": m, "top": y, "height": h})
            y += h + gap
        y += group_gap - gap
    layout = {"label_width": label_width, "frame_size": [h, w], "columns": t, "font_px": font_px, "rows": rows,
              "titles": titles}
    return np.asarray(canvas), layout


# ---------------------------------------------------------------------------------------------------------------
# Video
# ---------------------------------------------------------------------------------------------------------------

def side_by_side_frames(frames: Mapping[str, np.ndarray], *, hold: int = 0, gap: int = 4) -> tuple[np.ndarray, dict]:
    """Video frames: one labelled tile per method, all in sync; the pairs one after another.

    Each pair plays its ``T`` frames, then holds its last frame ``hold`` more times. A band on top says which
    pair and frame is shown. Width and height are even (H.264) and the height is at least 256 px.

    Args:
        frames: per method ``(B, T, H, W, 3)`` uint8.

    Returns:
        ``(B * (T + hold), height, width, 3)`` uint8, and ``{"frames", "height", "width", "tile", "hold",
        "methods"}``.
    """
    names = list(frames)
    b, t = frames[names[0]].shape[:2]
    tiles = {m: upscale(f, VIDEO_TILE_SIDE) for m, f in frames.items()}  # (B, T, th, tw, 3)
    th, tw = tiles[names[0]].shape[2:4]
    width = len(names) * (tw + gap) - gap
    height = 2 * VIDEO_BAND + th
    width += width % 2
    height += height % 2
    font = label_font(18)
    base = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(base)
    for k, m in enumerate(names):
        x0 = k * (tw + gap)
        _draw_centred(draw, (x0, VIDEO_BAND, x0 + tw, 2 * VIDEO_BAND), m, font)
    out = np.empty((b * (t + hold), height, width, 3), dtype=np.uint8)
    i = 0
    for pair in range(b):
        for j in list(range(t)) + [t - 1] * hold:
            canvas = base.copy()
            d = ImageDraw.Draw(canvas)
            _draw_centred(d, (0, 0, width, VIDEO_BAND), f"pair {pair + 1} of {b}   frame {j + 1} of {t}", font,
                          fill=MUTED)
            picture = np.asarray(canvas).copy()
            for k, m in enumerate(names):
                x0 = k * (tw + gap)
                picture[2 * VIDEO_BAND:2 * VIDEO_BAND + th, x0:x0 + tw] = tiles[m][pair, j]
            out[i] = picture
            i += 1
    info = {"frames": int(out.shape[0]), "height": height, "width": width, "tile": [th, tw], "hold": hold,
            "methods": names}
    return out, info


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


# ---------------------------------------------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------------------------------------------

_CSS = """
:root { color-scheme: light; --ink: #1e1e1e; --muted: #5f5f5f; --line: #d8d8d8; --head: #f3f3f3; }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
       background: #fff; line-height: 1.45; font-size: 16px; }
main { max-width: 1180px; margin: 0 auto; padding: 16px; }
h1 { font-size: 1.4rem; margin: 0.2em 0 0.4em; overflow-wrap: anywhere; }
h2 { font-size: 1.15rem; margin: 1.6em 0 0.5em; border-bottom: 1px solid var(--line); padding-bottom: 0.2em; }
h3 { font-size: 1rem; margin: 1.2em 0 0.4em; }
p, li, dd, dt { overflow-wrap: anywhere; }
.muted { color: var(--muted); font-size: 0.9rem; }
dl.settings { display: grid; grid-template-columns: max-content 1fr; gap: 0.15em 1em; margin: 0; }
dl.settings dt { font-weight: 600; }
dl.settings dd { margin: 0; font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 0.9rem; }
.table-wrap { display: inline-block; max-width: 100%; overflow-x: auto; -webkit-overflow-scrolling: touch;
              border: 1px solid var(--line); vertical-align: top; }
table { border-collapse: collapse; font-size: 0.92rem; }
th, td { padding: 0.4em 0.7em; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th { background: var(--head); font-weight: 600; }
th:first-child, td:first-child { text-align: left; position: sticky; left: 0; background: #fff; }
th:first-child { background: var(--head); }
figure { margin: 0; }
figure img, figure video { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { margin-top: 0.4em; }
@media (max-width: 600px) {
  main { padding: 10px; }
  body { font-size: 15px; }
  dl.settings { grid-template-columns: 1fr; }
  dl.settings dd { margin-bottom: 0.4em; }
}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(x: float | None, digits: int = 4) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{digits}g}"


def _signed(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:+.{digits}f}"


def write_html(path: str | os.PathLike, report: Mapping, *, grid: str = "grid.png", plots: str = "plots.png",
               video: str = "video.mp4") -> Path:
    """A self-contained page: settings, a table of medians over pairs per method, the grid, plots and video.

    The pictures are linked by the relative names given (files beside the page). Every piece of text from
    the report is escaped; the page has no scripts and loads nothing from the network.
    """
    ref = report["reference_metric"]
    settings = report["settings"]
    model = report["model"]
    has_realism = any(m["summary"].get("realism_p_min") is not None for m in report["methods"].values())
    has_judge = any(m["summary"].get("judge_confidence_min") is not None for m in report["methods"].values())
    pairs = report["pairs"]
    n_pairs = len(pairs)

    def row(name: str, m: Mapping) -> str:
        s = m["summary"]
        cells = [f'<td>{_e(name)}</td>', f"<td>{_num(s['length'])}</td>", f"<td>{_num(s['length_vs_linear'], 3)}</td>",
                 f"<td>{_num(s['step_cv'], 3)}</td>", f"<td>{_signed(s['mid_brightness_change'])}</td>"]
        if has_realism:
            cells += [f"<td>{_num(s.get('realism_p_min'), 3)}</td>", f"<td>{_num(s.get('realism_p_mean'), 3)}</td>"]
        if has_judge:
            cells += [f"<td>{_num(s.get('judge_confidence_min'), 3)}</td>",
                      f"<td>{_num(s.get('judge_off_class'), 3)}</td>"]
        cells.append(f"<td>{_num(m['wall_time_s'], 3)}</td>")
        return "<tr>" + "".join(cells) + "</tr>"

    head = ["method", f"length ({_e(ref)})", "vs linear", "step CV", "mid-path brightness"]
    if has_realism:
        head += ["realism p min", "realism p mean"]
    if has_judge:  # the independent classifier (latent_geodesics.judges)
        head += ["judge min confidence", "judge off-class frames"]
    head.append("time (s)")
    table = ("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
             + "".join(row(name, m) for name, m in report["methods"].items()) + "</tbody></table>")

    eval_metrics = report["eval_metrics"]
    per_metric = ("<table><thead><tr><th>method</th>" + "".join(f"<th>{_e(n)}</th>" for n in eval_metrics)
                  + "</tr></thead><tbody>"
                  + "".join("<tr><td>" + _e(name) + "</td>" + "".join(
                      f"<td>{_num(m['summary']['length_vs_linear_by_metric'].get(n), 3)}</td>" for n in eval_metrics)
                      + "</tr>" for name, m in report["methods"].items())
                  + "</tbody></table>")

    seeds = ", ".join(f"({a}, {b})" for a, b in (p["seeds"] for p in pairs) if a is not None) or "given latents"
    solver = settings["solver"]
    level = settings["subdivide"]["level"] if solver == "subdivide" else settings["optimize"]
    items = [
        ("model", f"{model['name']} ({'x'.join(map(str, model['image_shape']))}, latent "
                  f"{'x'.join(map(str, model['latent_shape']))}, {model['prior']} prior)"),
        ("methods", ", ".join(report["methods"])),
        ("pairs", f"{n_pairs}; seeds {seeds}"),
        ("frames", settings["frames"]),
        ("solver", f"{solver}, {level['optimizer']}, at most {level['max_steps']} steps"
                   + (" per level" if solver == "subdivide" else "") + f", rtol {level['rtol']:g}"),
        ("reference metric", f"{ref} (table, plots, retime)"),
        ("evaluation metrics", ", ".join(eval_metrics)),
        ("metric options", ", ".join(f"{k}={v}" for k, v in settings["metric_options"].items()) or "none"),
    ]
    if report.get("calibration") is not None or any(m["realism"] for m in report["methods"].values()):
        items.append(("realism", f"lambda {settings['realism']:g}, {settings['realism_form']} form"))
    items += [("device", report["device"]), ("wall time", f"{report['wall_time_s']:.1f} s")]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)

    realism_note = (" Realism p is the discriminator's calibrated score (0.01 to 0.99; higher is more "
                    "realistic): the lowest and the mean along the path.") if has_realism else ""
    realism_plot_note = " Realism: the discriminator's calibrated score per frame." if has_realism else ""
    title = f"Interpolation paths compared: {model['name']}"
    body = f"""<p class="muted">{_e(report['tool'])}: {n_pairs} pair{'s' if n_pairs != 1 else ''} of latent codes,
{len(report['methods'])} methods, {settings['frames']} frames per path.</p>

<h2>Settings</h2>
<dl class="settings">{dl}</dl>

<h2>Results</h2>
<div class="table-wrap">{table}</div>
<p class="muted">Medians over the pairs. Length under the reference metric {_e(ref)}; vs linear: length over the
straight line's (below 1 is shorter). Step CV: spread of the step lengths (0 = constant perceptual speed).
Mid-path brightness: the middle third's mean luminance minus the endpoints' (below 0: darker in the
middle).{_e(realism_note)} Time: solving and evaluating, in seconds.</p>
<h3 class="muted">Length vs linear under each evaluation metric</h3>
<div class="table-wrap">{per_metric}</div>

<h2>Frames</h2>
<figure>
<a href="{_e(grid)}"><img src="{_e(grid)}" alt="{_e('grid of frames: one row per method, grouped by pair')}"></a>
<figcaption class="muted">One row per method, grouped by pair; frames from start (left) to end (right).
Open the picture for full size.</figcaption>
</figure>

<h2>Along the path</h2>
<figure>
<a href="{_e(plots)}"><img src="{_e(plots)}" alt="{_e('step length, brightness and realism along the path')}"></a>
<figcaption class="muted">Means over the pairs. Step length: the distance between consecutive frames under
{_e(ref)}; a flat curve is constant perceptual speed. Brightness: the frames' mean luminance; a dip in the
middle is the darkening failure mode.{_e(realism_plot_note)}</figcaption>
</figure>

<h2>Video</h2>
<figure>
<video controls muted loop playsinline preload="metadata" src="{_e(video)}"></video>
<figcaption class="muted">The methods side by side, in sync; the pairs one after another.
<a href="{_e(video)}">Download the video</a>.</figcaption>
</figure>
"""
    return write_page(path, title, body)


def write_page(path: str | os.PathLike, title: str, body: str) -> Path:
    """Write a self-contained HTML page, atomically: ``title`` (escaped here) over ``body`` (HTML, its text
    escaped by the caller), in the style of every report; no scripts, nothing loaded from the network."""
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>{_e(title)}</h1>
{body}</main>
</body>
</html>
"""
    with atomic_path(path, suffix=".html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)
