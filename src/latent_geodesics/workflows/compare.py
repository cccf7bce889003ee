"""Compare interpolation methods on the same endpoint pairs: one report with a grid, plots, a video and a page.

A *method* is ``linear``, ``slerp``, ``retime`` (the straight line re-timed to constant speed under the
reference metric) or a metric name (``pixel``, ``vgg-eq``, ...) meaning the geodesic under that metric,
optionally ``NAME+realism`` (the metric weighted by the discriminator's realism; models with one). All
pairs of a method are solved as one batch; every path is then measured with the same evaluation metrics
(:func:`latent_geodesics.evaluation.evaluate_paths`). Methods and settings are parsed in
:mod:`latent_geodesics.compare_settings` (re-exported here); this module runs them and writes the files.

The *reference metric* is the first evaluation metric that is not a pixel metric (else the first one): the
table's length column, the plots' step lengths and ``retime`` use it. Evaluation metrics default to the
geodesic methods' metrics plus ``pixel``.

Files written by :func:`compare` into the output folder (all or nothing):

- ``grid.png``: one row per method per pair, method names on the left, rows grouped by pair;
- ``video.mp4``: the methods side by side, in sync, the pairs one after another (H.264);
- ``plots.png``: step length, brightness and (with a discriminator) realism along the path, per method;
- ``report.json``: every number behind them (schema below);
- ``report.html``: one self-contained page with the settings, a table, the grid, the plots and the video;
- ``paths.npz``: every method's paths, for ``latent-geodesics evaluate`` or any later use (:class:`~latent_geodesics.pathfile.PathFile`).

``report.json`` schema (lists "per pair" have one entry per pair, in pair order)::

    tool, command ("compare"), version (schema version, 1)
    model: {name, latent_shape, prior, image_shape [C, H, W], discriminator (bool),
            discriminator_spec (what --discriminator gave, or null)}
    settings: CompareSettings.to_dict(): methods, frames, solver, optimize, subdivide, metric_options,
              eval_metrics, realism, realism_form, chunk_size, fps
    pairs: [{index, seeds [a, b] or [null, null]}]
    reference_metric, eval_metrics: [names]
    calibration: the discriminator's Calibration as a dict, or null
    judge: the independent judge (latent_geodesics.judges.Judge.info: name, model, dataset, classes,
           test_accuracy), or null for a model without one
    data_realism: the real-picture judge (latent_geodesics.data_realism.DataRealism.info: features, layers,
                  input_size, dims, reference, reference_images, k), or null for a model without real pictures
    projection: null, or (endpoints projected from pictures) Projection.to_dict(): settings, images
                [{name, lpips, psnr_db, loss, start_losses}], median_lpips, median_psnr_db, wall_time_s
    linear_length: {metric: per pair}          (the straight line's lengths, the "vs linear" reference)
    methods: {method: {
        kind ("linear" | "slerp" | "retime" | "geodesic"), metric (solved under, or null),
        realism: {lambda, form, base_metric} or null,
        solver: {metric, energy per pair, length per pair, steps, converged, points_evaluated, wall_time_s}
                or null (no optimisation),
        solve_time_s, eval_time_s, wall_time_s,
        evaluation: evaluate_paths(...)["methods"]["path"] plus, per metric, length_vs_linear:
            {metrics: {name: {length, energy, step_cv, max_over_mean_step, step_distances (B, N),
                              length_vs_linear}},
             brightness (B, N+1), contrast (B, N+1), mid_brightness_change, mid_contrast_ratio,
             realism: null or {critic (B, N+1), min, mean[, p (B, N+1), p_min, p_p5, p_mean,
                               frac_below_random_p5, random_p5]},
             judge: null or {confidence (B, N+1), classes (B, N+1), confidence_min, confidence_mean,
                             off_class},
             data_realism: null or {score (B, N+1), min, mean (interior frames), interior_frames,
                                    frechet_real_floor}, frechet: null or the interior frames' Frechet distance},
        summary: medians over pairs: {length, length_vs_linear (reference metric), step_cv,
                 mid_brightness_change, realism_p_min, realism_p_mean (null without calibration),
                 judge_confidence_min, judge_off_class (null without a judge),
                 data_realism_min, data_realism_mean, frechet (null without real pictures),
                 length_vs_linear_by_metric {metric: median}}}}
    files: {grid: layout (label_width, frame_size, columns, font_px, rows [{pair, method, top, height}],
            titles), video: {frames, height, width, tile, hold, methods, fps}, plots: the plotted series,
            html: "report.html", paths: "paths.npz"}
    wall_time_s, device, host: {python, torch, machine}
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from .._check import check_output_dir
from ..compare_settings import (BASELINES, PIXEL_METRICS, REALISM_SUFFIX, CompareSettings, Kind, Method, build_metrics,
                               check_methods, default_eval_metrics, metrics_options, pair_seeds, parse_methods,
                               reference_metric, seeded_endpoints)
from ..evaluation import evaluate_paths
from ..ppl import ppl_metric
from ..generators import Generator
from ..data_realism import DataRealism, data_realism_for
from ..judges import Judge, judge_for
from ..jobs import check_finite, solve
from ..metrics import Metric
from ..paths import baseline_path, check_endpoints, images_of
from ..realism import Calibration, calibrate, realism_metric
from ..pathfile import PathFile
from ..rendering import staged_outputs, to_uint8, write_json, write_png, write_video
from ..reporting import format_summary, median_or_none, model_block, report_json
from ..solvers import Progress

if TYPE_CHECKING:
    from ..project import Projection

__all__ = ["BASELINES", "COMPARE_FILES", "PIXEL_METRICS", "REALISM_SUFFIX", "SCHEMA_VERSION", "VIDEO_HOLD",
           "CompareSettings", "Kind", "Method", "build_metrics", "check_methods", "compare", "default_eval_metrics",
           "format_summary", "pair_seeds", "parse_methods", "reference_metric", "seeded_endpoints"]

VIDEO_HOLD = 6
"""Frames the video holds the end of each pair before the next starts (half a second at 12 fps)."""

SCHEMA_VERSION = 1
COMPARE_FILES = ("grid.png", "video.mp4", "plots.png", "report.html", "report.json", "paths.npz")
"""The files ``compare`` writes into its output folder."""


class _Stages:
    """Moves one progress bar through the job: a description per stage, and whole units per finished stage."""

    def __init__(self, progress: Progress | None) -> None:
        self.bar = progress
        self.done = 0

    def start(self, text: str) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str("", refresh=False)  # the last solver's energy does not belong to this stage
        describe = getattr(self.bar, "set_description_str", None)
        if describe is not None:
            describe(text, refresh=True)

    def finish(self, units: int) -> None:
        """The stage is over: the bar stands at the end of its ``units`` whatever the solver used of them."""
        self.done += units
        if self.bar is not None:
            n = getattr(self.bar, "n", None)
            self.bar.update(max(0, self.done - n) if n is not None else units)


def _ratios(lengths: Sequence[float | None], reference: Sequence[float | None]) -> list[float | None]:
    return [a / r if a is not None and r is not None and r > 0 else None for a, r in zip(lengths, reference)]


@dataclass
class _Job:
    """What the steps of one :func:`compare` call share."""

    generator: Generator
    settings: CompareSettings
    metrics: dict[str, Metric]  # every metric of the job by name: the evaluation metrics and the solving ones
    eval_metrics: dict[str, Metric]
    ref: str  # the reference metric
    calibration: Calibration | None
    judge: Judge | None  # the zoo model's independent classifier, if it has one
    data_realism: DataRealism | None  # the zoo model's real-picture judge, if it has real pictures
    stages: _Stages
    progress: Progress | None
    ppl: Metric | None = None  # PPL's similarity: each path's LPIPS energy on PPL's scale


@dataclass
class _Solved:
    """One method's paths: its report entry (without ``summary``), its points and its frames."""

    entry: dict
    points: np.ndarray  # (B, N+1, *latent_shape)
    frames: np.ndarray  # (B, N+1, H, W, 3) uint8
    image_shape: list[int]  # [C, H, W]


def _start(generator: Generator, settings: CompareSettings, calibration: Calibration | None,
           progress: Progress | None) -> _Job:
    """Build every metric the job needs, find the judge, and calibrate the discriminator unless given."""
    methods = settings.parsed_methods
    eval_names = settings.evaluation_metrics
    ref = reference_metric(eval_names)
    solve_names = [m.metric for m in methods if m.metric is not None] + ([ref] if any(
        m.kind == "retime" for m in methods) else [])
    metrics = build_metrics(list(eval_names) + solve_names, settings.metric_options, generator.device)
    eval_metrics = {name: metrics[name] for name in eval_names}
    stages = _Stages(progress)
    judge = judge_for(generator)
    real_judge = data_realism_for(generator)
    if generator.discriminator is not None and calibration is None:
        stages.start("calibrating the discriminator")
        calibration = calibrate(generator)
    return _Job(generator, settings, metrics, eval_metrics, ref, calibration, judge, real_judge, stages, progress,
                ppl_metric(device=generator.device))


def _solve_method(job: _Job, method: Method, label: str, z0: Tensor, z1: Tensor) -> _Solved:
    """Solve one method's ``B`` paths as one batch, measure them, and render their frames."""
    generator, settings = job.generator, job.settings
    b, n1 = z0.shape[0], settings.frames
    run = settings.method_settings(method)
    units = settings.method_units(method)
    metric = job.metrics[method.metric] if method.metric is not None else job.metrics[job.ref]
    if method.realism:
        # the hinge forms' threshold: the lowest realism of these endpoints (or a typical sample's)
        metric = realism_metric(metric, generator, lam=settings.realism, form=settings.realism_form,
                                calibration=job.calibration, endpoints=torch.cat([z0, z1]))
    job.stages.start(f"{label}: solving" if method.kind == "geodesic" else f"{label}: building the path")
    t0 = time.perf_counter()
    solved = solve(generator, metric, z0, z1, run, progress=job.progress if method.kind == "geodesic" else None)
    solve_time = time.perf_counter() - t0
    check_finite(solved, z0, z1)
    job.stages.start(f"{label}: evaluating")
    t1 = time.perf_counter()
    points = solved.points.detach()
    evaluation = evaluate_paths(generator, job.eval_metrics, points, chunk_size=settings.chunk_size, baselines=(),
                                calibration=job.calibration, judge=job.judge, ppl_metric=job.ppl,
                                data_realism=job.data_realism)["methods"]["path"]
    images = images_of(generator, points.reshape(b * n1, *points.shape[2:]), chunk_size=settings.chunk_size)
    eval_time = time.perf_counter() - t1
    frames = to_uint8(images).reshape(b, n1, *images.shape[2:], 3)  # (B, N+1, H, W, 3)
    solver_info = None
    if solved.result is not None:
        solver_info = {"metric": metric.name, "energy": solved.stats.energy.tolist(),
                       "length": solved.stats.length.tolist(), **solved.result.summary()}
    entry = {
        "kind": method.kind,
        "metric": method.metric if method.kind == "geodesic" else job.ref if method.kind == "retime" else None,
        "realism": {"lambda": settings.realism, "form": settings.realism_form, "base_metric": method.metric,
                    "threshold": getattr(metric, "threshold", None)}
        if method.realism else None,
        "solver": solver_info,
        "solve_time_s": round(solve_time, 4),
        "eval_time_s": round(eval_time, 4),
        "wall_time_s": round(solve_time + eval_time, 4),
        "evaluation": evaluation,
    }
    job.stages.finish(units)
    image_shape = [int(images.shape[1]), int(images.shape[2]), int(images.shape[3])]
    return _Solved(entry, points.cpu().numpy(), frames, image_shape)


def _linear_lengths(job: _Job, results: Mapping[str, dict], z0: Tensor, z1: Tensor) -> dict[str, list]:
    """The straight line's lengths per evaluation metric, per pair: the reference of every "vs linear" number.

    Taken from the ``linear`` method where there is one, else measured here.
    """
    if "linear" in results:
        linear_eval = results["linear"]["evaluation"]
    else:
        job.stages.start("measuring the straight line")
        linear_points = baseline_path(job.generator, "linear", z0, z1, job.settings.frames - 1)
        linear_eval = evaluate_paths(job.generator, job.eval_metrics, linear_points,
                                     chunk_size=job.settings.chunk_size, baselines=())["methods"]["path"]
    return {name: linear_eval["metrics"][name]["length"] for name in job.eval_metrics}


def _summary(evaluation: dict, linear_length: Mapping[str, list], ref: str) -> dict:
    """Add ``length_vs_linear`` to each metric of a method's evaluation; return its medians over the pairs."""
    for name, lengths in linear_length.items():
        evaluation["metrics"][name]["length_vs_linear"] = _ratios(evaluation["metrics"][name]["length"], lengths)
    realism = evaluation.get("realism") or {}
    judged = evaluation.get("judge") or {}
    return {
        "length": median_or_none(evaluation["metrics"][ref]["length"]),
        "length_vs_linear": median_or_none(evaluation["metrics"][ref]["length_vs_linear"]),
        "step_cv": median_or_none(evaluation["metrics"][ref]["step_cv"]),
        "mid_brightness_change": median_or_none(evaluation["mid_brightness_change"]),
        "realism_p_min": median_or_none(realism.get("p_min")),
        "realism_p_mean": median_or_none(realism.get("p_mean")),
        "judge_confidence_min": median_or_none(judged.get("confidence_min")),
        "judge_off_class": median_or_none(judged.get("off_class")),
        "ppl_energy_mean": evaluation.get("ppl_energy_mean"),
        "data_realism_min": median_or_none((evaluation.get("data_realism") or {}).get("min")),
        "data_realism_mean": median_or_none((evaluation.get("data_realism") or {}).get("mean")),
        "frechet": evaluation.get("frechet"),
        "length_vs_linear_by_metric": {name: median_or_none(evaluation["metrics"][name]["length_vs_linear"])
                                       for name in linear_length},
    }


def _pair_titles(seeds_list: Sequence[tuple[int | None, int | None]]) -> list[str]:
    return [f"pair {i + 1}" + (f": seeds {a} and {c}" if a is not None else "") for i, (a, c) in
            enumerate(seeds_list)]


def _write_files(out: Path, report: dict, *, grid: np.ndarray, video: np.ndarray, fps: float,
                 paths_npz: PathFile, projection: "Projection | None", t_job: float) -> None:
    """Write every file into ``out``, all or nothing; ``report["wall_time_s"]`` is set just before the report."""
    from ..report import write_html, write_plots

    with staged_outputs(out) as stage:
        write_png(stage / "grid.png", grid)
        if projection is not None:
            from ..project import write_projection_files

            write_projection_files(stage, projection)
        write_video(stage / "video.mp4", video, fps=fps)
        write_plots(stage / "plots.png", report)
        report["wall_time_s"] = round(time.perf_counter() - t_job, 4)
        write_html(stage / "report.html", report)
        write_json(stage / "report.json", report)
        paths_npz.write(stage / "paths.npz")


def compare(generator: Generator, z0: Tensor, z1: Tensor, out_dir: str | Path, settings: CompareSettings, *,
            model_name: str, seeds: Sequence[tuple[int, int]] | None = None, progress: Progress | None = None,
            calibration: Calibration | None = None, discriminator_name: str | None = None,
            projection: "Projection | None" = None) -> dict:
    """Solve every method on the same pairs, measure them, and write the report files into ``out_dir``.

    Args:
        generator: the model (its discriminator, if any, is used by ``+realism`` methods and scores realism).
        z0, z1: endpoints ``(B, *latent_shape)``; each method solves its ``B`` paths as one batch.
        out_dir: created if needed; nothing in it changes unless the whole job succeeds.
        settings: methods, frames, solver, metrics.
        model_name: shown in the report.
        seeds: the seeds the pairs were drawn with, recorded in the report.
        discriminator_name: where the discriminator came from (``--discriminator``), recorded in the report
            and in ``paths.npz`` (``evaluate`` names it but loads only what ``--discriminator`` gives).
        progress: a ``tqdm``-like bar with ``total = settings.progress_total()``; its description names
            the stage.
        calibration: the discriminator's calibration (default: :func:`latent_geodesics.realism.calibrate`).
        projection: the endpoints were projected from these pictures (pair ``k`` joins pictures ``2k`` and
            ``2k + 1``): ``projection.png`` shows each beside its reconstruction, the report gets its errors.

    Returns:
        The report (also written to ``report.json``; schema in the module docstring).

    Raises:
        UserError: a ``+realism`` method on a model without a discriminator, an unknown metric or metric
            option, bad endpoints, or an unwritable ``out_dir``.
    """
    from ..report import labelled_grid, plot_series, side_by_side_frames

    t_job = time.perf_counter()
    out = check_output_dir(out_dir, files=COMPARE_FILES + (("projection.png",) if projection is not None else ()))
    check_methods(generator, settings)
    z0, z1 = check_endpoints(generator, z0, z1)
    if seeds is not None and len(seeds) != z0.shape[0]:
        raise ValueError(f"{len(seeds)} seed pairs given for {z0.shape[0]} pairs of endpoints")
    job = _start(generator, settings, calibration, progress)
    methods = settings.parsed_methods
    solved = {m.name: _solve_method(job, m, f"{m.name} ({k + 1}/{len(methods)})", z0, z1)
              for k, m in enumerate(methods)}
    results = {name: s.entry for name, s in solved.items()}
    linear_length = _linear_lengths(job, results, z0, z1)
    for r in results.values():
        r["summary"] = _summary(r["evaluation"], linear_length, job.ref)

    job.stages.start("writing files")
    seeds_list = list(seeds) if seeds is not None else [(None, None)] * z0.shape[0]
    frames = {name: s.frames for name, s in solved.items()}
    grid, grid_layout = labelled_grid(frames, _pair_titles(seeds_list))
    video, video_info = side_by_side_frames(frames, hold=VIDEO_HOLD)
    report = report_json("compare", {
        "model": model_block(model_name, generator, solved[methods[-1].name].image_shape,
                             discriminator=generator.discriminator is not None, discriminator_spec=discriminator_name),
        "settings": settings.to_dict(),
        "pairs": [{"index": i, "seeds": list(s)} for i, s in enumerate(seeds_list)],
        "reference_metric": job.ref,
        "eval_metrics": list(job.eval_metrics),
        "calibration": job.calibration.to_dict() if job.calibration is not None else None,
        "judge": job.judge.info() if job.judge is not None else None,
        "data_realism": job.data_realism.info() if job.data_realism is not None else None,
        "linear_length": linear_length,
        "projection": projection.to_dict() if projection is not None else None,
        "methods": results,
        "files": {"grid": grid_layout, "video": {**video_info, "fps": settings.fps}, "plots": None,
                  "html": "report.html", "paths": "paths.npz"},
        "wall_time_s": None,
        "device": str(generator.device),
    }, schema=SCHEMA_VERSION)
    report["files"]["plots"] = plot_series(report)
    report = json.loads(json.dumps(report))  # plain JSON types only (tuples -> lists), as it will be read back
    solved_under = {name: (r["solver"] or r)["metric"] for name, r in results.items()}
    paths_npz = PathFile.methods({name: s.points for name, s in solved.items()}, solved_under, reference=job.ref,
                                 model=model_name, seeds=seeds, discriminator=discriminator_name,
                                 metric_options=metrics_options(job.metrics, settings.metric_options),
                                 style=generator.style_info())
    _write_files(out, report, grid=grid, video=video, fps=settings.fps, paths_npz=paths_npz, projection=projection,
                 t_job=t_job)
    job.stages.finish(1)
    return report
