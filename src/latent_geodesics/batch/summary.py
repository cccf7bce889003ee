"""What a batch writes at the end: ``summary.csv``, ``report.json``, ``report.html`` and ``grid.png``."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from .._check import UserError, check_output_dir
from ..paths import images_of
from ..rendering import staged_outputs, to_uint8, write_json, write_png
from ..reporting import report_json
from ..settings import Settings
from ..workflows.interpolate import solving_generator
from .driver import BatchRun
from .plan import GeneratorOf
from .spec import MAX_NAME
from .store import MANIFEST, PATHS_DIR, ResultStore, settings_of

BATCH_FILES = ("summary.csv", "report.json", "report.html", "grid.png")
"""What a batch writes at the end, beside ``paths/`` and ``manifest.jsonl``."""
GRID_LINES = 24
"""Most lines drawn in ``grid.png`` (the first finished ones, in JOBS order)."""


SUMMARY_COLUMNS = ("line", "name", "status", "endpoints", "metric", "frames", "solver", "start_length", "length",
                   "length_vs_linear", "energy", "step_cv", "converged", "steps", "wall_time_s", "worker", "file",
                   "error")
"""Columns of ``summary.csv``, one row per line in JOBS order."""


def summary_rows(records: Sequence[Mapping]) -> list[dict]:
    rows = []
    for rec in records:
        stats = rec.get("stats") or {}
        src = rec.get("source") or {}
        endpoints = " ".join(f"{k} {' '.join(map(str, v))}" if isinstance(v, list) else str(v)
                             for k, v in src.items())
        start, length = stats.get("start_length"), stats.get("length")
        rows.append({
            "line": rec.get("line"), "name": rec["name"], "status": rec["status"], "endpoints": endpoints,
            "metric": rec["settings"]["metric"], "frames": rec["settings"]["frames"],
            "solver": rec["settings"]["solver"], "start_length": start, "length": length,
            "length_vs_linear": length / start if start else None, "energy": stats.get("energy"),
            "step_cv": stats.get("step_cv"), "converged": rec.get("converged"), "steps": rec.get("steps"),
            "wall_time_s": rec.get("wall_time_s"), "worker": rec.get("worker"), "file": rec.get("file"),
            "error": rec.get("error"),
        })
    return rows


def summary_csv(records: Sequence[Mapping]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in summary_rows(records):
        writer.writerow({k: "" if v is None else (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def _grid(generator_of: GeneratorOf, store: ResultStore, records: Sequence[Mapping]) -> tuple[np.ndarray, list[str]]:
    """``grid.png``: one row per finished line (the first :data:`GRID_LINES`), shorter paths padded white, frames
    of models with smaller images scaled up (nearest) to the largest."""
    from ..report import labelled_grid

    shown = [r for r in records if r["status"] == "done"][:GRID_LINES]
    rows: dict[str, np.ndarray] = {}
    for rec in shown:
        model = settings_of(rec).model
        generator = solving_generator(generator_of(model), model)
        points = torch.from_numpy(store.load_points(rec["name"]))[0].to(generator.device)
        rows[_label(rec)] = to_uint8(images_of(generator, points))  # (T, H, W, 3)
    side = max(f.shape[1] for f in rows.values())
    rows = {k: _scaled(f, side) for k, f in rows.items()}
    t = max(f.shape[0] for f in rows.values())
    padded = {k: np.concatenate([f, np.full((t - len(f), *f.shape[1:]), 255, np.uint8)])[None]
              for k, f in rows.items()}
    title = f"{len(shown)} of {len(records)} lines" + (f" (the first {GRID_LINES} finished)"
                                                       if len(shown) == GRID_LINES else "")
    picture, _ = labelled_grid(padded, [title])
    return picture, list(rows)


def _scaled(frames: np.ndarray, height: int) -> np.ndarray:
    """Frames ``(T, H, W, 3)`` scaled (nearest) to ``height`` rows, keeping the aspect."""
    if frames.shape[1] == height:
        return frames
    from PIL import Image

    width = round(frames.shape[2] * height / frames.shape[1])
    return np.stack([np.asarray(Image.fromarray(f).resize((width, height), Image.NEAREST)) for f in frames])


def _label(rec: Mapping) -> str:
    name = rec["name"]
    short = name if len(name) <= 16 else name[:14] + ".."
    return f"{rec['line']}: {short}" if rec.get("line") else short


def batch_report(records: Sequence[Mapping], run: BatchRun, *, defaults: Settings,
                 executor: Mapping, jobs_file: str | None, extra: Mapping | None = None) -> dict:
    """``report.json``: settings, executor, counts, and every line's manifest record (without step lists)."""
    lines = [{k: v for k, v in r.items() if k != "stats"} | {"stats": {k: v for k, v in (r.get("stats") or {}).items()
                                                                      if k != "step_distances"}}
             for r in records]
    done = [r for r in records if r["status"] == "done"]
    walls = [r.get("wall_time_s") or 0.0 for r in done]
    return json.loads(json.dumps(report_json("batch", {
        "jobs": jobs_file,
        "model": defaults.model.model,
        "defaults": defaults.without_endpoints().flat(),
        "executor": dict(executor),
        "counts": {"lines": len(records), "done": len(done), "failed": len(records) - len(done),
                   "solved_this_run": run.solved, "skipped_finished": run.skipped,
                   "recomputed_batch_mates": run.recomputed,
                   "converged": sum(bool(r.get("converged")) for r in done)},
        "solve_time_s": round(sum(walls), 4),
        "wall_time_s": run.wall_time_s,
        "lines": lines,
        **(dict(extra) if extra else {}),
    })))


def write_batch_html(path: str | os.PathLike, report: Mapping, *, grid: str | None = "grid.png",
                     figure: str | None = None, figure_caption: str = "") -> Path:
    """A self-contained page for a batch: settings, counts, one table row per line, the grid of frames.

    Same style as the ``compare`` page (:mod:`latent_geodesics.report`); every text is escaped; no scripts.
    """
    from ..report import escape as _e
    from ..report import number as _num
    from ..report import write_page

    c = report["counts"]
    d = report["defaults"]
    ex = report["executor"]
    items = [("model", report["model"]), ("jobs", report.get("jobs") or "built in memory"),
             ("defaults", f"metric {d['metric']}, {d['frames']} frames, {d['solver']} ({d['optimizer']}"
                          f"{'' if d['steps'] is None else ', at most ' + str(d['steps']) + ' steps'}), "
                          f"rtol {d['rtol']:g}, gtol {d['gtol']:g}"),
             ("executor", ", ".join(f"{k} {v}" for k, v in ex.items())),
             ("lines", f"{c['lines']}: {c['done']} done ({c['converged']} converged), {c['failed']} failed; this run "
                       f"solved {c['solved_this_run']}, skipped {c['skipped_finished']} finished"),
             ("time", f"{report['solve_time_s']:.1f} s solving (sum over lines), {report['wall_time_s']:.1f} s this run")]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    head = ["line", "name", "status", "metric", "frames", "length", "vs linear", "step CV", "converged", "time (s)",
            "worker"]
    body = []
    for r in report["lines"]:
        s = r.get("stats") or {}
        ratio = s["length"] / s["start_length"] if s.get("length") is not None and s.get("start_length") else None
        status = r["status"] if r["status"] == "done" else f"failed: {r.get('error')}"
        cells = [r.get("line") or "", r["name"], status, r["settings"]["metric"], r["settings"]["frames"],
                 _num(s.get("length")), _num(ratio, 3), _num(s.get("step_cv"), 3),
                 "" if r["status"] != "done" else ("yes" if r.get("converged") else "no"),
                 _num(r.get("wall_time_s"), 3), r.get("worker") or ""]
        body.append("<tr>" + "".join(f"<td>{_e(x)}</td>" for x in cells) + "</tr>")
    table = ("<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"
             + "".join(body) + "</tbody></table>")
    pictures = ""
    if grid:
        pictures += (f'<h2>Frames</h2><figure><a href="{_e(grid)}"><img src="{_e(grid)}" alt="frames of the paths, '
                     f'one row per line"></a><figcaption class="muted">One row per finished line (label: line '
                     f'number and name), frames from start to end.</figcaption></figure>')
    if figure:
        pictures += (f'<h2>Embedding</h2><figure><a href="{_e(figure)}"><img src="{_e(figure)}" alt="'
                     f'{_e(figure_caption)}"></a><figcaption class="muted">{_e(figure_caption)}</figcaption></figure>')
    body = f"""<p class="muted">{_e(report['tool'])}: {c['lines']} lines, {c['done']} done, {c['failed']} failed.</p>
<h2>Settings</h2>
<dl class="settings">{dl}</dl>
<h2>Lines</h2>
<div class="table-wrap">{table}</div>
<p class="muted">Length under each line's metric; vs linear: over the straight line's length between the same
endpoints (below 1 is shorter). Step CV: spread of the step lengths (0 = constant perceptual speed). Time: the
line's share of its batch's solve time. Every path is in paths/NAME.npz (readable by latent-geodesics evaluate).</p>
{pictures}
"""
    return write_page(path, f"Batch of paths: {report['model']}", body)


def write_batch_outputs(out_dir: str | os.PathLike, generator_of: GeneratorOf, run: BatchRun, report: dict, *,
                        extra: Callable[[Path], None] | None = None, figure: str | None = None,
                        figure_caption: str = "") -> None:
    """``summary.csv``, ``report.json``, ``report.html`` and ``grid.png`` (plus what ``extra`` writes into the
    staging folder), all or nothing."""
    store = ResultStore(out_dir)
    with staged_outputs(out_dir) as stage:
        (stage / "summary.csv").write_text(summary_csv(run.records), encoding="utf-8")
        grid = None
        if any(r["status"] == "done" for r in run.records):
            picture, _ = _grid(generator_of, store, run.records)
            write_png(stage / "grid.png", picture)
            grid = "grid.png"
        if extra is not None:
            extra(stage)
        if figure is not None and not (stage / figure).exists():
            figure = None  # ``extra`` did not draw it (e.g. MDS skipped)
        write_json(stage / "report.json", report)
        write_batch_html(stage / "report.html", report, grid=grid, figure=figure, figure_caption=figure_caption)


def check_batch_dir(out_dir: str | os.PathLike, extra_files: Iterable[str] = ()) -> Path:
    """Before any work: ``out_dir`` can hold the batch's files (``paths/`` must be a folder if it exists)."""
    out = check_output_dir(out_dir, files=(*BATCH_FILES, MANIFEST, *extra_files),
                           longest_name=len(f"{PATHS_DIR}/.npz") + MAX_NAME)
    if (out / PATHS_DIR).exists() and not (out / PATHS_DIR).is_dir():
        raise UserError(f"{out / PATHS_DIR} is a file where the batch keeps its paths; move it away or choose "
                        "another --out")
    return out
