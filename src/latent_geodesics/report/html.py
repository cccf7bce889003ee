"""The HTML pages of the reports: self-contained (inline CSS, no scripts), relative links to the pictures beside
them, every text escaped."""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping
from pathlib import Path

from .._check import atomic_path

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


def escape(value: object) -> str:
    """``value`` as HTML text (quotes escaped too)."""
    return html.escape(str(value), quote=True)


def number(x: float | None, digits: int = 4) -> str:
    """A table cell: ``digits`` significant digits, a dash for a missing or non-finite value."""
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
    has_data = any(m["summary"].get("data_realism_min") is not None for m in report["methods"].values())
    pairs = report["pairs"]
    n_pairs = len(pairs)

    def row(name: str, m: Mapping) -> str:
        s = m["summary"]
        cells = [f'<td>{escape(name)}</td>', f"<td>{number(s['length'])}</td>", f"<td>{number(s['length_vs_linear'], 3)}</td>",
                 f"<td>{number(s['step_cv'], 3)}</td>", f"<td>{_signed(s['mid_brightness_change'])}</td>"]
        if has_realism:
            cells += [f"<td>{number(s.get('realism_p_min'), 3)}</td>", f"<td>{number(s.get('realism_p_mean'), 3)}</td>"]
        if has_judge:
            cells += [f"<td>{number(s.get('judge_confidence_min'), 3)}</td>",
                      f"<td>{number(s.get('judge_off_class'), 3)}</td>"]
        if has_data:
            cells += [f"<td>{number(s.get(key), 3)}</td>" for key in ("data_realism_min", "data_realism_mean", "frechet")]
        cells.append(f"<td>{number(m['wall_time_s'], 3)}</td>")
        return "<tr>" + "".join(cells) + "</tr>"

    head = ["method", f"length ({escape(ref)})", "vs linear", "step CV", "mid-path brightness"]
    if has_realism:
        head += ["realism p min", "realism p mean"]
    if has_judge:  # the independent classifier (latent_geodesics.judges)
        head += ["judge min confidence", "judge off-class frames"]
    if has_data:  # real pictures in AlexNet features (latent_geodesics.data_realism)
        head += ["real-picture realism min", "real-picture realism mean", "Fréchet to real"]
    head.append("time (s)")
    table = ("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
             + "".join(row(name, m) for name, m in report["methods"].items()) + "</tbody></table>")

    eval_metrics = report["eval_metrics"]
    per_metric = ("<table><thead><tr><th>method</th>" + "".join(f"<th>{escape(n)}</th>" for n in eval_metrics)
                  + "</tr></thead><tbody>"
                  + "".join("<tr><td>" + escape(name) + "</td>" + "".join(
                      f"<td>{number(m['summary']['length_vs_linear_by_metric'].get(n), 3)}</td>" for n in eval_metrics)
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
    dl = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)

    realism_note = (" Realism p is the discriminator's calibrated score (0.01 to 0.99; higher is more "
                    "realistic): the lowest and the mean along the path.") if has_realism else ""
    realism_plot_note = " Realism: the discriminator's calibrated score per frame." if has_realism else ""
    title = f"Interpolation paths compared: {model['name']}"
    body = f"""<p class="muted">{escape(report['tool'])}: {n_pairs} pair{'s' if n_pairs != 1 else ''} of latent codes,
{len(report['methods'])} methods, {settings['frames']} frames per path.</p>

<h2>Settings</h2>
<dl class="settings">{dl}</dl>

<h2>Results</h2>
<div class="table-wrap">{table}</div>
<p class="muted">Medians over the pairs. Length under the reference metric {escape(ref)}; vs linear: length over the
straight line's (below 1 is shorter). Step CV: spread of the step lengths (0 = constant perceptual speed).
Mid-path brightness: the middle third's mean luminance minus the endpoints' (below 0: darker in the
middle).{escape(realism_note)} Time: solving and evaluating, in seconds.</p>
<h3 class="muted">Length vs linear under each evaluation metric</h3>
<div class="table-wrap">{per_metric}</div>

<h2>Frames</h2>
<figure>
<a href="{escape(grid)}"><img src="{escape(grid)}" alt="{escape('grid of frames: one row per method, grouped by pair')}"></a>
<figcaption class="muted">One row per method, grouped by pair; frames from start (left) to end (right).
Open the picture for full size.</figcaption>
</figure>

<h2>Along the path</h2>
<figure>
<a href="{escape(plots)}"><img src="{escape(plots)}" alt="{escape('step length, brightness and realism along the path')}"></a>
<figcaption class="muted">Means over the pairs. Step length: the distance between consecutive frames under
{escape(ref)}; a flat curve is constant perceptual speed. Brightness: the frames' mean luminance; a dip in the
middle is the darkening failure mode.{escape(realism_plot_note)}</figcaption>
</figure>

<h2>Video</h2>
<figure>
<video controls muted loop playsinline preload="metadata" src="{escape(video)}"></video>
<figcaption class="muted">The methods side by side, in sync; the pairs one after another.
<a href="{escape(video)}">Download the video</a>.</figcaption>
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
<title>{escape(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>{escape(title)}</h1>
{body}</main>
</body>
</html>
"""
    with atomic_path(path, suffix=".html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return Path(path)
