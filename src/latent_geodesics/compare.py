"""Compare interpolation methods on the same endpoint pairs: one report with a grid, plots, a video and a page.

A *method* is ``linear``, ``slerp``, ``retime`` (the straight line re-timed to constant speed under the
reference metric) or a metric name (``pixel``, ``vgg-eq``, ...) meaning the geodesic under that metric,
optionally ``NAME+realism`` (the metric weighted by the discriminator's realism; models with one). All
pairs of a method are solved as one batch; every path is then measured with the same evaluation metrics
(:func:`latent_geodesics.evaluation.evaluate_paths`).

The *reference metric* is the first evaluation metric that is not a pixel metric (else the first one): the
table's length column, the plots' step lengths and ``retime`` use it. Evaluation metrics default to the
geodesic methods' metrics plus ``pixel``.

Files written by :func:`compare` into the output folder (all or nothing):

- ``grid.png``: one row per method per pair, method names on the left, rows grouped by pair;
- ``video.mp4``: the methods side by side, in sync, the pairs one after another (H.264);
- ``plots.png``: step length, brightness and (with a discriminator) realism along the path, per method;
- ``report.json``: every number behind them (schema below);
- ``report.html``: one self-contained page with the settings, a table, the grid, the plots and the video;
- ``paths.npz``: every method's paths, for ``latent-geodesics evaluate`` or any later use (:func:`paths_arrays`).

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
                             off_class}},
        summary: medians over pairs: {length, length_vs_linear (reference metric), step_cv,
                 mid_brightness_change, realism_p_min, realism_p_mean (null without calibration),
                 judge_confidence_min, judge_off_class (null without a judge),
                 length_vs_linear_by_metric {metric: median}}}}
    files: {grid: layout (label_width, frame_size, columns, font_px, rows [{pair, method, top, height}],
            titles), video: {frames, height, width, tile, hold, methods, fps}, plots: the plotted series,
            html: "report.html", paths: "paths.npz"}
    wall_time_s, device, host: {python, torch, machine}
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import Tensor

from ._check import UserError, check_output_dir
from .evaluation import evaluate_paths
from .generators import Generator
from .judges import judge_for
from .jobs import InterpolateSettings, check_finite, solve
from .metrics import EQ_SUFFIX, Metric, build_metric, metric_names
from .paths import DEFAULT_CHUNK, baseline_path, check_endpoints, images_of
from .realism import DEFAULT_LAMBDA, FORMS, Calibration, calibrate, realism_metric
from .rendering import staged_outputs, to_uint8, write_json, write_npz, write_png, write_video
from .reporting import format_summary, median_or_none, model_block, report_json
from .solvers import Progress, SubdivideConfig, level_config
from .solvers.subdivide import LevelConfig

if TYPE_CHECKING:
    from .project import Projection

REALISM_SUFFIX = "+realism"
BASELINES = ("linear", "slerp", "retime")
PIXEL_METRICS = ("pixel", "pixel" + EQ_SUFFIX)
VIDEO_HOLD = 6
"""Frames the video holds the end of each pair before the next starts (half a second at 12 fps)."""

SCHEMA_VERSION = 1
COMPARE_FILES = ("grid.png", "video.mp4", "plots.png", "report.html", "report.json", "paths.npz")
"""The files ``compare`` writes into its output folder."""

Kind = Literal["linear", "slerp", "retime", "geodesic"]


@dataclass(frozen=True)
class Method:
    """One parsed method name.

    Attributes:
        name: as given, e.g. ``"vgg-eq+realism"``.
        kind: ``linear``, ``slerp``, ``retime`` or ``geodesic``.
        metric: the geodesic's metric (``None`` for the baselines).
        realism: the metric is weighted by the discriminator's realism.
    """

    name: str
    kind: Kind
    metric: str | None = None
    realism: bool = False


def parse_methods(names: str | Sequence[str]) -> tuple[Method, ...]:
    """Parse ``"linear,slerp,vgg-eq+realism"`` (or a sequence of names) into :class:`Method` s.

    Raises:
        UserError: an empty list, an unknown name, ``+realism`` on a baseline, or a name given twice.
    """
    if isinstance(names, str):
        names = names.split(",")
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise UserError("no methods to compare; give e.g. --methods linear,slerp,pixel,vgg-eq")
    choices = (f"linear, slerp, retime, or a metric name ({', '.join(metric_names())}) for its geodesic, "
               f"optionally with {REALISM_SUFFIX}")
    methods, seen = [], set()
    for name in names:
        if name in seen:
            raise UserError(f"method {name!r} is listed twice")
        seen.add(name)
        realism = name.endswith(REALISM_SUFFIX)
        base = name[: -len(REALISM_SUFFIX)] if realism else name
        if base in BASELINES:
            if realism:
                raise UserError(f"method {name!r}: {REALISM_SUFFIX} applies to geodesics only "
                                f"(a metric name such as vgg-eq{REALISM_SUFFIX})")
            methods.append(Method(name, base))  # type: ignore[arg-type]
        elif base in metric_names():
            methods.append(Method(name, "geodesic", base, realism))
        else:
            raise UserError(f"unknown method {name!r}; choose from: {choices}")
    return tuple(methods)


def default_eval_metrics(methods: Sequence[Method]) -> tuple[str, ...]:
    """The geodesic methods' metrics, in order, plus ``pixel``."""
    return tuple(dict.fromkeys([m.metric for m in methods if m.metric is not None] + ["pixel"]))


def reference_metric(eval_metrics: Sequence[str]) -> str:
    """The first evaluation metric that is not a pixel metric, else the first one."""
    return next((m for m in eval_metrics if m not in PIXEL_METRICS), eval_metrics[0])


def pair_seeds(pairs: int, base: int = 0) -> list[tuple[int, int]]:
    """Seeds of the endpoint pairs: pair ``k`` (from 0) uses ``(base + 2k + 1, base + 2k + 2)``."""
    return [(base + 2 * k + 1, base + 2 * k + 2) for k in range(pairs)]


def seeded_endpoints(generator: Generator, seeds: Sequence[tuple[int, int]]) -> tuple[Tensor, Tensor]:
    """``z0, z1``: ``(B, *latent_shape)`` each, one latent per seed drawn from the generator's prior."""
    z0 = torch.cat([generator.sample_latents(1, seed=a) for a, _ in seeds])
    z1 = torch.cat([generator.sample_latents(1, seed=b) for _, b in seeds])
    return z0, z1


@dataclass(frozen=True)
class CompareSettings:
    """What :func:`compare` does (all recorded in ``report.json``).

    Attributes:
        methods: method names (see :func:`parse_methods`).
        frames: frames per path, endpoints included.
        solver: ``subdivide`` or ``optimize``, for every geodesic method.
        optimize: settings of ``optimize``.
        subdivide: settings of ``subdivide`` (its ``level`` is the optimiser of each level).
        metric_options: ``build_metric`` options for every metric that is not a pixel metric,
            e.g. ``{"min_size": 64}``.
        eval_metrics: metrics every path is measured with (empty: :func:`default_eval_metrics`).
        realism: ``lambda`` of the ``+realism`` methods.
        realism_form: ``conformal`` or ``published`` (see :mod:`latent_geodesics.realism`).
        chunk_size: points per generator + metric call.
        fps: video frame rate.
    """

    methods: tuple[str, ...] = ("linear", "slerp", "pixel", "vgg-eq")
    frames: int = 17
    solver: str = "subdivide"
    optimize: LevelConfig = field(default_factory=level_config)
    subdivide: SubdivideConfig = field(default_factory=SubdivideConfig)
    metric_options: Mapping[str, object] = field(default_factory=dict)
    eval_metrics: tuple[str, ...] = ()
    realism: float = DEFAULT_LAMBDA
    realism_form: str = "conformal"
    chunk_size: int = DEFAULT_CHUNK
    fps: float = 12.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", tuple(m.name for m in parse_methods(self.methods)))
        if self.solver not in ("subdivide", "optimize"):
            raise UserError(f"unknown solver {self.solver!r} for compare; choose subdivide or optimize "
                            "(linear and slerp are methods)")
        if self.frames < 2:
            raise UserError(f"--frames must be at least 2, got {self.frames}")
        unknown = [m for m in self.eval_metrics if m not in metric_names()]
        if unknown:
            raise UserError(f"unknown evaluation metric {unknown[0]!r}; choose from: {', '.join(metric_names())}")
        if not (self.realism >= 0 and math.isfinite(self.realism)):
            raise UserError(f"--realism must be a finite number >= 0, got {self.realism}")
        if self.realism_form not in FORMS:
            raise UserError(f"unknown realism form {self.realism_form!r}; choose one of: {', '.join(FORMS)}")

    @property
    def parsed_methods(self) -> tuple[Method, ...]:
        return parse_methods(self.methods)

    @property
    def evaluation_metrics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.eval_metrics)) or default_eval_metrics(self.parsed_methods)

    def method_settings(self, method: Method) -> InterpolateSettings:
        """The :class:`InterpolateSettings` that solve one method."""
        solver = self.solver if method.kind == "geodesic" else "linear" if method.kind == "retime" else method.kind
        return InterpolateSettings(solver=solver, frames=self.frames, optimize=self.optimize,
                                   subdivide=self.subdivide, retime=method.kind == "retime",
                                   chunk_size=self.chunk_size, fps=self.fps)

    def method_units(self, method: Method) -> int:
        """Progress units of one method: its solver's most steps (1 for a retime), plus 1 for its evaluation."""
        solving = self.method_settings(method).progress_total() if method.kind == "geodesic" else \
            1 if method.kind == "retime" else 0
        return solving + 1

    def progress_total(self) -> int:
        """Units of a progress bar over the whole job: every method's, plus 1 for writing the files."""
        return sum(self.method_units(m) for m in self.parsed_methods) + 1

    def to_dict(self) -> dict:
        return {"methods": list(self.methods), "frames": self.frames, "solver": self.solver,
                "optimize": self.optimize.to_dict() if self.solver == "optimize" else None,
                "subdivide": self.subdivide.to_dict() if self.solver == "subdivide" else None,
                "metric_options": dict(self.metric_options), "eval_metrics": list(self.evaluation_metrics),
                "realism": self.realism, "realism_form": self.realism_form, "chunk_size": self.chunk_size,
                "fps": self.fps}


def build_metrics(names: Sequence[str], options: Mapping[str, object], device: torch.device) -> dict[str, Metric]:
    """Metrics by name; ``options`` go to every metric that is not a pixel metric.

    Raises:
        UserError: an unknown name, or an option a metric does not take.
    """
    built = {}
    for name in dict.fromkeys(names):
        opts = {} if name in PIXEL_METRICS else dict(options)
        built[name] = build_metric(name, device=device, **opts)
    return built


def check_methods(generator: Generator, settings: CompareSettings) -> None:
    """Refuse what the model cannot do before any work: ``+realism`` without a discriminator."""
    wanting = [m.name for m in settings.parsed_methods if m.realism]
    if wanting and generator.discriminator is None:
        raise UserError(f"method {wanting[0]!r} needs a model with a discriminator, and {generator.name} has none; "
                        "drop +realism or use a model with one (e.g. zoo:fashion32)")


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


def paths_arrays(paths: Mapping[str, np.ndarray], solved_under: Mapping[str, str | None], *, reference: str,
                 model_name: str, seeds: Sequence[tuple[int, int]] | None = None,
                 discriminator: str | None = None) -> dict[str, np.ndarray]:
    """The arrays of ``paths.npz``: several methods' paths in one file, each with its own frame count.

    Args:
        paths: points ``(B, N_k+1, *latent_shape)`` by method name, in order, all between the same endpoints.
        solved_under: the metric each method was solved (or re-timed) under, ``None`` for linear and slerp.
        reference: the reference metric (what ``evaluate`` measures with by default).
        model_name, seeds, discriminator: as given to ``compare``, recorded so the paths can be reused.

    Returns:
        ``methods`` ``(M,)`` str; ``points_<k>`` ``(B, N_k+1, *latent_shape)`` for method ``k``; ``metrics``
        ``(M,)`` str (``""`` for none); ``z0``, ``z1`` ``(B, *latent_shape)``; ``metric`` and ``model`` (0-d
        str); ``seeds`` ``(B, 2)`` int when the pairs were seeded; ``discriminator`` (0-d str) when one was given.
    """
    names = list(paths)
    first = paths[names[0]]
    arrays = {"methods": np.array(names), **{f"points_{k}": paths[m] for k, m in enumerate(names)},
              "metrics": np.array([solved_under[m] or "" for m in names]), "z0": first[:, 0], "z1": first[:, -1],
              "metric": np.array(reference), "model": np.array(model_name)}
    if seeds is not None and all(a is not None for pair in seeds for a in pair):
        arrays["seeds"] = np.array(seeds, dtype=np.int64).reshape(-1, 2)
    if discriminator is not None:
        arrays["discriminator"] = np.array(str(discriminator))
    return arrays


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
    from .report import labelled_grid, plot_series, side_by_side_frames, write_html, write_plots

    t_job = time.perf_counter()
    out = check_output_dir(out_dir, files=COMPARE_FILES + (("projection.png",) if projection is not None else ()))
    check_methods(generator, settings)
    z0, z1 = check_endpoints(generator, z0, z1)
    if seeds is not None and len(seeds) != z0.shape[0]:
        raise ValueError(f"{len(seeds)} seed pairs given for {z0.shape[0]} pairs of endpoints")
    methods = settings.parsed_methods
    eval_names = settings.evaluation_metrics
    ref = reference_metric(eval_names)
    device = generator.device
    solve_names = [m.metric for m in methods if m.metric is not None] + ([ref] if any(
        m.kind == "retime" for m in methods) else [])
    metrics = build_metrics(list(eval_names) + solve_names, settings.metric_options, device)
    eval_metrics = {name: metrics[name] for name in eval_names}
    stages = _Stages(progress)
    judge = judge_for(generator)  # the zoo model's independent classifier, if it has one
    if generator.discriminator is not None and calibration is None:
        stages.start("calibrating the discriminator")
        calibration = calibrate(generator)

    b, n1 = z0.shape[0], settings.frames
    results: dict[str, dict] = {}
    frames: dict[str, np.ndarray] = {}
    paths: dict[str, np.ndarray] = {}
    for k, method in enumerate(methods):
        label = f"{method.name} ({k + 1}/{len(methods)})"
        run = settings.method_settings(method)
        units = settings.method_units(method)
        metric = metrics[method.metric] if method.metric is not None else metrics[ref]
        if method.realism:
            metric = realism_metric(metric, generator, lam=settings.realism, form=settings.realism_form,
                                    calibration=calibration)
        stages.start(f"{label}: solving" if method.kind == "geodesic" else f"{label}: building the path")
        t0 = time.perf_counter()
        solved = solve(generator, metric, z0, z1, run, progress=progress if method.kind == "geodesic" else None)
        solve_time = time.perf_counter() - t0
        check_finite(solved, z0, z1)
        stages.start(f"{label}: evaluating")
        t1 = time.perf_counter()
        points = solved.points.detach()
        paths[method.name] = points.cpu().numpy()
        evaluation = evaluate_paths(generator, eval_metrics, points, chunk_size=settings.chunk_size, baselines=(),
                                    calibration=calibration, judge=judge)["methods"]["path"]
        images = images_of(generator, points.reshape(b * n1, *points.shape[2:]), chunk_size=settings.chunk_size)
        eval_time = time.perf_counter() - t1
        frames[method.name] = to_uint8(images).reshape(b, n1, *images.shape[2:], 3)  # (B, N+1, H, W, 3)
        solver_info = None
        if solved.result is not None:
            solver_info = {"metric": metric.name, "energy": solved.stats.energy.tolist(),
                           "length": solved.stats.length.tolist(), **solved.result.summary()}
        results[method.name] = {
            "kind": method.kind,
            "metric": method.metric if method.kind == "geodesic" else ref if method.kind == "retime" else None,
            "realism": {"lambda": settings.realism, "form": settings.realism_form, "base_metric": method.metric}
            if method.realism else None,
            "solver": solver_info,
            "solve_time_s": round(solve_time, 4),
            "eval_time_s": round(eval_time, 4),
            "wall_time_s": round(solve_time + eval_time, 4),
            "evaluation": evaluation,
        }
        stages.finish(units)

    if "linear" in results:
        linear_eval = results["linear"]["evaluation"]
    else:  # the straight line is the reference of every "vs linear" number: measure it too
        stages.start("measuring the straight line")
        linear_points = baseline_path(generator, "linear", z0, z1, n1 - 1)
        linear_eval = evaluate_paths(generator, eval_metrics, linear_points, chunk_size=settings.chunk_size,
                                     baselines=())["methods"]["path"]
    linear_length = {name: linear_eval["metrics"][name]["length"] for name in eval_names}
    for r in results.values():
        ev = r["evaluation"]
        for name in eval_names:
            ev["metrics"][name]["length_vs_linear"] = _ratios(ev["metrics"][name]["length"], linear_length[name])
        realism = ev.get("realism") or {}
        judged = ev.get("judge") or {}
        r["summary"] = {
            "length": median_or_none(ev["metrics"][ref]["length"]),
            "length_vs_linear": median_or_none(ev["metrics"][ref]["length_vs_linear"]),
            "step_cv": median_or_none(ev["metrics"][ref]["step_cv"]),
            "mid_brightness_change": median_or_none(ev["mid_brightness_change"]),
            "realism_p_min": median_or_none(realism.get("p_min")),
            "realism_p_mean": median_or_none(realism.get("p_mean")),
            "judge_confidence_min": median_or_none(judged.get("confidence_min")),
            "judge_off_class": median_or_none(judged.get("off_class")),
            "length_vs_linear_by_metric": {name: median_or_none(ev["metrics"][name]["length_vs_linear"])
                                           for name in eval_names},
        }

    stages.start("writing files")
    seeds_list = list(seeds) if seeds is not None else [(None, None)] * b
    titles = [f"pair {i + 1}" + (f": seeds {a} and {c}" if a is not None else "") for i, (a, c) in
              enumerate(seeds_list)]
    grid, grid_layout = labelled_grid(frames, titles)
    video, video_info = side_by_side_frames(frames, hold=VIDEO_HOLD)
    image_shape = [int(images.shape[1]), int(images.shape[2]), int(images.shape[3])]
    report = report_json("compare", {
        "model": model_block(model_name, generator, image_shape, discriminator=generator.discriminator is not None,
                             discriminator_spec=discriminator_name),
        "settings": settings.to_dict(),
        "pairs": [{"index": i, "seeds": list(s)} for i, s in enumerate(seeds_list)],
        "reference_metric": ref,
        "eval_metrics": list(eval_names),
        "calibration": calibration.to_dict() if calibration is not None else None,
        "judge": judge.info() if judge is not None else None,
        "linear_length": linear_length,
        "projection": projection.to_dict() if projection is not None else None,
        "methods": results,
        "files": {"grid": grid_layout, "video": {**video_info, "fps": settings.fps}, "plots": None,
                  "html": "report.html", "paths": "paths.npz"},
        "wall_time_s": None,
        "device": str(device),
    }, schema=SCHEMA_VERSION)
    report["files"]["plots"] = plot_series(report)
    report = json.loads(json.dumps(report))  # plain JSON types only (tuples -> lists), as it will be read back
    with staged_outputs(out) as stage:
        write_png(stage / "grid.png", grid)
        if projection is not None:
            from .project import write_projection_files

            write_projection_files(stage, projection)
        write_video(stage / "video.mp4", video, fps=settings.fps)
        write_plots(stage / "plots.png", report)
        report["wall_time_s"] = round(time.perf_counter() - t_job, 4)
        write_html(stage / "report.html", report)
        write_json(stage / "report.json", report)
        solved_under = {name: (r["solver"] or r)["metric"] for name, r in results.items()}
        write_npz(stage / "paths.npz", **paths_arrays(paths, solved_under, reference=ref, model_name=model_name,
                                                       seeds=seeds, discriminator=discriminator_name))
    stages.finish(1)
    return report

