"""The jobs the CLI runs, as plain functions: load, solve, evaluate, write files."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from ._check import UserError, check_latents, check_output_dir, read_arrays
from .budget import chunk_for, footprint, peak_memory
from .generators import Generator
from .limits import DEFAULT_FPS, DEFAULT_FRAMES
from .metrics import PRECISIONS, Metric, cat, computing_in, precision_name, solving_precision
from .paths import (DEFAULT_CHUNK, INITS, PathProblem, PathStats, baseline_path, check_endpoints,
                    consecutive_distances_sq, images_of, path_stats)
from .realism import RealismWeighted
from .pathfile import PathFile
from .rendering import staged_outputs, tile, to_uint8, write_json, write_png, write_video
from .reporting import model_block, report_json
from .solvers import (SOLVERS, Progress, SolveResult, SubdivideConfig, frames_between_nodes, level_config,
                      refine_path, refine_work, retime_path, solve_at_resolution, stops_on_frames, subdivide_path)
from .solvers.subdivide import LevelConfig, most_steps, step_work

if TYPE_CHECKING:
    from .project import Projection
    from .video import VideoSettings


AUTO_NODES = 17
"""Most solver nodes per path when ``nodes`` is not given; more frames are placed between them. On celeba64
(vgg-eq, BENCHMARKS.md ``first_run``) 33 frames from 17 nodes are 1.0% longer than a long 33-point geodesic and
take 107 s end to end on a 2-core CPU; from 9 nodes, 3.9% and 79 s."""
REFINED_POINTS = 33
"""Most points a path solved at fewer nodes than frames is refined to by midpoints solved between its nodes
(:func:`~latent_geodesics.solvers.refine_path`); any further frames are placed on the smooth curve through them.
On faces64 (vgg-eq, 17 nodes) 33 frames placed on the curve through the nodes were 6.9% longer than a 33-point
geodesic, the 33 refined points 1.5-1.7%, for about 430 latent evaluations (the nodes: 3,500-3,800). A round
costs in proportion to its points, so longer videos stop refining at 33 and use the curve."""
INTERPOLATE_FILES = ("strip.png", "video.mp4", "path.npz", "report.json")
"""The files ``interpolate`` writes into its output folder (plus ``projection.png`` from pictures)."""
PHOTO_HOLD = 6
"""Frames the video shows a projected photo for before the path starts and after it ends."""
SOLVING = ("optimize", "subdivide")
"""The solvers that optimise (the others draw a line or an arc)."""
FINISH_PASSES = 5
"""Forward passes per frame after the solver's deadline (:func:`finishing_seconds`): the measurements of the last
level and of the refined path, the float32 measurement, the frames' placement and their images."""
WRITE_SECONDS_PER_MEGAPIXEL = 0.05
"""Seconds to encode and write one frame of a megapixel (PNG strip and MP4 on a 2-core CPU: about 0.02-0.04)."""
FINISH_MARGIN = 1.0
"""Seconds added to :func:`finishing_seconds` for reading back and renaming the files."""


def load_array(path: str | Path, *, what: str = "latent") -> Tensor:
    """Read a float array from ``.npy`` or ``.npz`` (its first array), with one-line errors."""
    path = Path(path)
    arrays = read_arrays(path, what=what)
    if not arrays:
        raise UserError(f"{path} holds no arrays; save a {what} with numpy.save")
    data = next(iter(arrays.values()))
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise UserError(f"{path}: {what} has dtype {data.dtype}; save real numbers (float32)")
    if not np.isfinite(data).all():
        raise UserError(f"{path}: {what} contains NaN or inf values; give finite numbers")
    with np.errstate(over="ignore"):
        data = data.astype(np.float32)
    if not np.isfinite(data).all():
        raise UserError(f"{path}: {what} holds values too large for float32; give numbers below 3.4e38")
    return torch.from_numpy(data)


def load_latent_file(path: str | Path, generator: Generator) -> Tensor:
    """Read latents from ``.npy`` (one code or a batch) or ``.npz`` (its first array): ``(B, *latent_shape)``.

    On a StyleGAN-class model they are Z codes ``(z_dim,)``, mapped into the path's space, as seeds are; in W+ a
    file of W+ points ``(num_ws, w_dim)`` is taken as it is (no Z code has that shape)."""
    array = load_array(path)
    z_shape = getattr(generator, "z_shape", None)
    if z_shape is not None and (generator.space != "w+" or tuple(array.shape[-2:]) != generator.latent_shape):
        return generator.from_z(check_latents(array, z_shape, what=str(path)))
    return check_latents(array, generator.latent_shape, what=str(path))


@dataclass
class InterpolateSettings:
    """What ``interpolate`` does (all recorded in ``report.json``).

    Attributes:
        solver: ``linear``, ``slerp``, ``optimize`` or ``subdivide``.
        frames: frames per path (per leg with waypoints), endpoints included.
        optimize: settings of the ``optimize`` solver (and of each ``subdivide`` level).
        subdivide: settings of the ``subdivide`` solver.
        init: starting path of ``optimize``.
        retime: resample the result by arc length (constant perceptual speed) under the metric.
        chunk_size: points per generator + metric call (``None``: as many as fit the memory budget).
        fps: video frame rate.
        nodes: points (endpoints included) the optimising solvers solve for jointly. With fewer nodes than
            ``frames``, midpoints are solved between them (each between its two neighbours) while the path has at
            most ``min(frames, REFINED_POINTS)`` points (:func:`~latent_geodesics.solvers.refine_path`); if that
            is still fewer than ``frames``, the frames are placed on the smooth curve through the points at
            constant perceptual speed (:func:`~latent_geodesics.solvers.frames_between_nodes`). ``None``:
            ``min(frames, AUTO_NODES)``. With as many nodes as frames the solver's points are the frames.
        time_limit: seconds the solver may take; past it, it returns the best path found so far (not converged,
            with its measured gradient norm). ``None``: no limit.
        precision: the arithmetic of the metric's feature networks during the solve (:data:`PRECISIONS`;
            :func:`~latent_geodesics.metrics.resolve_precision`); the reported path is measured in float32.
    """

    solver: str = "subdivide"
    frames: int = DEFAULT_FRAMES
    optimize: LevelConfig = field(default_factory=level_config)
    subdivide: SubdivideConfig = field(default_factory=SubdivideConfig)
    init: str = "linear"
    retime: bool = False
    chunk_size: int | None = DEFAULT_CHUNK
    fps: float = DEFAULT_FPS
    nodes: int | None = None
    time_limit: float | None = None
    precision: str = "auto"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise UserError(f"unknown precision {self.precision!r}; choose one of: {', '.join(PRECISIONS)}")
        if self.nodes is not None and self.nodes < 2:
            raise UserError(f"--nodes must be at least 2, got {self.nodes}")
        if self.time_limit is not None and not self.time_limit > 0:
            raise UserError(f"--time-limit must be a positive number of seconds, got {self.time_limit}")
        if self.solver not in SOLVERS:
            raise UserError(f"unknown solver {self.solver!r}; choose one of: {', '.join(SOLVERS)}")
        if self.init not in INITS:
            raise UserError(f"unknown initial path {self.init!r}; choose one of: {', '.join(INITS)}")
        if self.frames < 2:
            raise UserError(f"--frames must be at least 2, got {self.frames}")

    def to_dict(self) -> dict:
        return {"solver": self.solver, "frames": self.frames, "nodes": self.node_count(), "init": self.init,
                "retime": self.retime, "time_limit_s": self.time_limit, "precision": self.precision,
                "chunk_size": self.chunk_size, "fps": self.fps,
                "optimize": self.optimize.to_dict() if self.solver == "optimize" else None,
                "subdivide": self.subdivide.to_dict() if self.solver == "subdivide" else None}

    def node_count(self) -> int:
        """Points the solver optimises (endpoints included): ``frames`` for ``linear`` and ``slerp``."""
        if self.solver not in SOLVING:
            return self.frames
        return min(self.frames, AUTO_NODES if self.nodes is None else self.nodes)

    def progress_total(self) -> int:
        """Most solver work per path, in latent evaluations (what solvers tell a progress bar): an upper bound,
        since solvers stop when they converge."""
        nodes = self.node_count()
        refine = place_frames_work(nodes, self.frames, self.refine_config())
        if self.solver == "optimize":
            return most_steps(self.optimize) * step_work(self.optimize) * max(nodes - 2, 0) + refine
        if self.solver == "subdivide":
            return self.subdivide.max_work(nodes - 1) + refine
        return 0

    def start_method(self) -> str:
        """The path the solver starts from (:data:`~latent_geodesics.paths.INITS`): ``linear`` and ``slerp`` are their
        own start, the optimising solvers start from ``init``."""
        return self.solver if self.solver in INITS else self.init

    def level(self) -> LevelConfig:
        """The optimiser of the solver (of each level for ``subdivide``)."""
        return self.subdivide.level if self.solver == "subdivide" else self.optimize

    def refine_config(self) -> SubdivideConfig:
        """The settings of the midpoint solves between the nodes: the solver's own levels."""
        return self.subdivide if self.solver == "subdivide" else replace(self.subdivide, level=self.optimize)


@dataclass
class Solved:
    """Start path, final path and, for optimising solvers, the solver's result."""

    start: Tensor
    start_stats: PathStats
    points: Tensor
    stats: PathStats
    result: SolveResult | None
    precision: str = "float32"
    """What the feature networks computed in during the solve (``stats`` are float32 whatever it was)."""
    notes: list[str] = field(default_factory=list)
    """What the solver approximated or cut short to meet the time limit."""
    start_images: Tensor | None = None
    """The start path's images ``(B * (N+1), C, H, W)`` on the CPU, kept under a time limit: when the start path is
    what is returned, its frames are not made again."""


def stats_and_images(generator: Generator, metric: Metric, points: Tensor, *,
                     chunk_size: int | None = None) -> tuple[PathStats, Tensor]:
    """:func:`~latent_geodesics.paths.path_stats` of ``points`` ``(B, N+1, ...)``, and their images
    ``(B * (N+1), C, H, W)`` on the CPU, from one pass."""
    b, n1 = points.shape[:2]
    z = points.reshape(b * n1, *points.shape[2:])
    feats, images = [], []
    with torch.no_grad():
        for zc in z.split(chunk_for(generator, metric, chunk_size)):
            x = generator(zc)
            images.append(x.cpu())
            feats.append(metric.embed(x))
    return PathStats.of(consecutive_distances_sq(metric, cat(feats), n1)), torch.cat(images)


def finishing_seconds(generator: Generator, metric: Metric, n_paths: int, frames: int) -> float:
    """An estimate of the seconds a run needs after its solver: measuring the result again in float32, placing
    the frames, their images and writing the files (:data:`FINISH_PASSES` forward passes per frame, plus
    :data:`WRITE_SECONDS_PER_MEGAPIXEL` per frame's megapixel and :data:`FINISH_MARGIN`)."""
    fp = footprint(generator, metric)
    megapixels = fp.image_shape[-1] * fp.image_shape[-2] / 1e6
    return n_paths * frames * (FINISH_PASSES * fp.seconds_forward + WRITE_SECONDS_PER_MEGAPIXEL * megapixels) \
        + FINISH_MARGIN


def solve(generator: Generator, metric: Metric, z0: Tensor, z1: Tensor, settings: InterpolateSettings, *,
          progress: Progress | None = None, deadline: float | None = None) -> Solved:
    """Solve ``B`` paths between ``z0`` and ``z1`` (``(B, *latent_shape)`` each) as one batch.

    ``deadline``: a ``time.perf_counter()`` value by which the whole run, writing included, should end (default:
    ``settings.time_limit`` from now). The solver stops early enough to leave :func:`finishing_seconds` for what
    follows it; its passes stop before the deadline, not only its steps (:class:`~latent_geodesics.paths.PathProblem`).
    """
    n = settings.frames - 1
    nodes = settings.node_count()
    init = settings.start_method()
    if deadline is None and settings.time_limit is not None:
        deadline = time.perf_counter() + settings.time_limit
    start = baseline_path(generator, init, z0, z1, n)
    start_images = None
    if deadline is None:
        start_stats = path_stats(generator, metric, start, chunk_size=settings.chunk_size)
    else:  # a model slow for its limit may end with the start path: its frames are made once
        start_stats, start_images = stats_and_images(generator, metric, start, chunk_size=settings.chunk_size)
    result = None
    points = start
    dtype = torch.float32
    if settings.solver in SOLVING and deadline is not None:
        deadline -= finishing_seconds(generator, metric, z0.shape[0], settings.frames)  # the solver's own deadline
        if time.perf_counter() + footprint(generator, metric).seconds_backward * z0.shape[0] * max(nodes - 2, 1) \
                > deadline:  # not even one evaluation of the nodes fits before what must follow it: say so
            return Solved(start, start_stats, start, start_stats, None,
                          notes=["time limit reached: no time was left to solve; the start path is returned"],
                          start_images=start_images)
    if settings.solver in SOLVING:
        dtype = solving_precision(metric, settings.precision, z0.device, frame_rule=stops_on_frames(settings.level()),
                                  image_size=min(footprint(generator, metric).image_shape[-2:]))
        problem = PathProblem(generator, metric, z0, z1, chunk_size=settings.chunk_size)
        problem.deadline = deadline
        if progress is not None:
            problem.on_chunk = lambda text: progress.set_postfix_str(text, refresh=True)
        with computing_in(metric, dtype):
            if settings.solver == "optimize":
                first = start if nodes == settings.frames else baseline_path(generator, init, z0, z1, nodes - 1)
                result = solve_at_resolution(problem, first, settings.optimize, progress=progress, deadline=deadline)
            else:
                result = subdivide_path(problem, nodes - 1, settings.subdivide, progress=progress, deadline=deadline)
            result, points = place_frames(problem, result, settings.frames, settings.refine_config(),
                                          progress=progress, deadline=deadline)
        if dtype != torch.float32:  # the solver measured its path in low precision: measure it again
            result = replace(result, stats=path_stats(generator, metric, result.points, chunk_size=settings.chunk_size))
    if settings.retime and nodes == settings.frames:
        points = retime_path(generator, metric, points, settings.frames, chunk_size=settings.chunk_size)
    if points is start:
        return Solved(start, start_stats, start, start_stats, None, start_images=start_images)
    stats = result.stats if result is not None and points is result.points else \
        path_stats(generator, metric, points, chunk_size=settings.chunk_size)
    cut = result is not None and problem.out_of_time()
    notes = sorted(problem.approximations) + (["time limit reached"] if cut else []) if result is not None else []
    if cut:  # the nodes may have met their rule, but the time ran out before the path was finished
        result = replace(result, converged=torch.zeros_like(result.converged))
    worse = stats.energy > start_stats.energy
    if result is not None and bool(worse.any()):
        # a path cut short (a coarse level's points with unsolved midpoints), or one stuck in a poor local minimum,
        # can be longer than the start: keep the better of the two per path (same frames, measured in float32)
        points = start if bool(worse.all()) else torch.where(worse.view(-1, *[1] * (points.dim() - 1)), start, points)
        stats = PathStats.of(torch.where(worse.view(-1, 1), start_stats.d_sq, stats.d_sq))
        why = "cut short by the time limit, had not yet found" if cut else "ended in a local minimum, did not find"
        notes.append(f"the start path was kept for {int(worse.sum())} of {worse.numel()} path(s): the solver, {why} "
                     "a shorter one")
    return Solved(start, start_stats, points, stats, result, precision_name(dtype), notes, start_images)


def place_frames(problem: PathProblem, result: SolveResult, frames: int, config: SubdivideConfig = SubdivideConfig(),
                 *, progress: Progress | None = None, deadline: float | None = None) -> tuple[SolveResult, Tensor]:
    """The ``frames`` of a path solved at fewer nodes: midpoints solved between the nodes up to
    ``min(frames, REFINED_POINTS)`` points (:func:`~latent_geodesics.solvers.refine_path`), then, if still fewer,
    frames on the smooth curve through them at constant perceptual speed
    (:func:`~latent_geodesics.solvers.frames_between_nodes`).

    Returns:
        The refined result (``result`` itself with as many nodes as frames) and the frames
        ``(B, frames, *latent_shape)``.
    """
    result = refine_path(problem, result, min(frames, REFINED_POINTS), config, progress=progress, deadline=deadline)
    points = result.points
    if points.shape[1] < frames:
        points = frames_between_nodes(problem.generator, problem.metric, points, frames, chunk_size=problem.chunk_size)
    return result, points


def place_frames_work(nodes: int, frames: int, config: SubdivideConfig = SubdivideConfig()) -> int:
    """An upper bound on the work of :func:`place_frames` per path of ``nodes`` points, in latent evaluations."""
    return refine_work(nodes, min(frames, REFINED_POINTS), config)


def check_finite(solved: Solved, z0: Tensor, z1: Tensor) -> None:
    """Refuse a solved path whose points or distances are NaN or inf, with one line (not a broken report).

    It happens with a model that gives NaN for latents the probe did not try (or at other batch sizes),
    and with huge latents.
    """
    if all(bool(torch.isfinite(t).all()) for t in (solved.points, solved.start_stats.d_sq, solved.stats.d_sq)):
        return
    raise _nonfinite_error(z0, z1)


def _nonfinite_error(z0: Tensor, z1: Tensor) -> UserError:
    big = float(torch.cat([z0.flatten(1), z1.flatten(1)], 1).abs().max())
    return UserError(f"the path's images or distances are NaN or inf: the model gave NaN/inf images for some "
                     f"latents or batch sizes, or the latents (largest |z| of the endpoints: {big:.3g}) or "
                     "--realism are too large; check the model and the inputs")


def waypoint_legs(waypoints: Tensor, *, loop: bool = False) -> tuple[Tensor, Tensor]:
    """Legs between consecutive waypoints ``(K, *latent_shape)``: ``z0, z1`` of shape ``(L, *latent_shape)``.

    ``L = K - 1``, or ``K`` with ``loop`` (a last leg back to the first waypoint).
    """
    if waypoints.shape[0] < 2:
        raise UserError(f"need at least two waypoints, got {waypoints.shape[0]}")
    ends = torch.cat([waypoints, waypoints[:1]]) if loop else waypoints
    return ends[:-1], ends[1:]


def join_legs(points: Tensor) -> Tensor:
    """Concatenate legs ``(L, N+1, ...)`` into one path ``(1, L*N+1, ...)`` (shared waypoints once)."""
    return torch.cat([points[:1, :1].squeeze(0)] + [leg[1:] for leg in points]).unsqueeze(0)


def _realism_dict(metric: Metric) -> dict | None:
    if not isinstance(metric, RealismWeighted):
        return None
    cal = getattr(metric.realism, "calibration", None)
    info = getattr(metric.realism, "info", None)
    return {"lambda": metric.lam, "form": metric.form, "base_metric": metric.base.name,
            "threshold": metric.threshold, "critic": info() if callable(info) else "discriminator",
            "calibration": cal.to_dict() if cal is not None else None}


def _stats_dict(stats: PathStats) -> dict:
    return {"length": stats.length.tolist(), "energy": stats.energy.tolist(),
            "step_distances": stats.d_sq.clamp_min(0).sqrt().tolist()}


def interpolate(generator: Generator, metric: Metric, z0: Tensor, z1: Tensor, out_dir: str | Path,
                settings: InterpolateSettings, *, model_name: str, join: bool = False, loop: bool = False,
                progress: Progress | None = None, discriminator_name: str | None = None,
                projection: "Projection | None" = None, metric_options: dict | None = None,
                config: dict | None = None, video: "VideoSettings | None" = None,
                envelope: np.ndarray | None = None, started: float | None = None) -> dict:
    """Solve paths between ``z0`` and ``z1`` and write ``strip.png``, ``video.mp4``, ``path.npz``, ``report.json``.

    Args:
        z0, z1: endpoints ``(B, *latent_shape)``; ``B`` paths are solved as one batch.
        out_dir: created if needed; nothing in it changes unless the whole job succeeds.
        join: the ``B`` paths are legs through waypoints: write them as one path.
        loop: with ``join``, the last leg returns to the start: the video drops its last frame so
            that it repeats seamlessly.
        metric_options: the options ``metric`` was built with (recorded in the report).
        discriminator_name: where the discriminator came from (``--discriminator``), recorded in the report
            and in ``path.npz``.
        projection: the endpoints (waypoints) were projected from these pictures
            (:func:`latent_geodesics.project.project_images`, one per waypoint, in order): ``projection.png``
            shows each beside its reconstruction, the report gets its errors, and the video opens on the
            first picture and closes on the last (held :data:`PHOTO_HOLD` frames each).
        config: the whole settings tree the run was built from
            (:meth:`latent_geodesics.settings.Settings.to_dict`), recorded in the report.
        video: time the frames in seconds (:mod:`latent_geodesics.video`): the legs are solved at
            ``settings.nodes`` points, with one round of midpoints solved between them (at most
            :data:`REFINED_POINTS` points), the frames placed along them by perceptual arc length (easing, holds,
            audio), written in ``video.formats`` with ``speed.png``; the report gets a ``video`` block. Without
            it, the ``settings.frames`` frames of each path go into ``video.mp4`` as before.
        envelope: with ``video.audio``, its envelope per frame as :func:`latent_geodesics.video.prepare` read it
            (so that the caller's early check does not decode the file twice); read here when not given.
        started: the ``time.perf_counter()`` value the run's time limit counts from (default: now), so that
            loading the model counts too.

    Returns:
        The report (also written to ``report.json``).
    """
    if video is not None:
        from .video import check_legs, output_info, outputs, strip_frames, video_files, video_frames, write_files

        files = video_files(video) + (("projection.png",) if projection is not None else ())
        out = check_output_dir(out_dir, files=files, longest_name=outputs.LONGEST_NAME)
        envelope = check_legs(video, z0.shape[0], join=join, loop=loop, envelope=envelope)
        # solve the nodes and one round of midpoints between them (at most REFINED_POINTS): the video places its
        # frames on the curve through those
        n = settings.node_count()
        settings = replace(settings, nodes=n, frames=max(n, min(2 * n - 1, REFINED_POINTS)))
    else:
        out = check_output_dir(out_dir,
                               files=INTERPOLATE_FILES + (("projection.png",) if projection is not None else ()))
    z0, z1 = check_endpoints(generator, z0, z1)
    t0 = time.perf_counter()
    deadline = None if settings.time_limit is None else (t0 if started is None else started) + settings.time_limit
    solved = solve(generator, metric, z0, z1, settings, progress=progress, deadline=deadline)
    check_finite(solved, z0, z1)
    start_stats, final_stats, result = solved.start_stats, solved.stats, solved.result
    points = join_legs(solved.points) if join else solved.points
    wall = time.perf_counter() - t0
    vp = None
    if video is not None:
        vp = video_frames(generator, metric, solved.points, video, loop=loop, envelope=envelope,
                              chunk_size=settings.chunk_size)
        points = vp.latents.unsqueeze(0)  # the video's frames, as one path
    b, n1 = points.shape[:2]
    unsolved = {"steps": [0] * int(z0.shape[0]), "converged": [False] * int(z0.shape[0])}  # no time to solve
    if vp is not None:
        images = vp.images
    elif solved.points is solved.start and solved.start_images is not None and not join:
        images = solved.start_images  # made when the start path was measured
    else:
        images = images_of(generator, points.reshape(b * n1, *points.shape[2:]), chunk_size=settings.chunk_size)
    if not torch.isfinite(images).all():
        raise _nonfinite_error(z0, z1)
    frames = to_uint8(images)
    frames = frames.reshape(b, n1, *frames.shape[1:])  # (B, N+1, H, W, 3)
    report = report_json("interpolate", {
        "model": model_block(model_name, generator, images.shape[1:], discriminator_spec=discriminator_name,
                             condition=None if generator.condition is None else generator.condition.flatten().tolist()),
        "metric": metric.name,
        "metric_options": dict(metric_options or {}),
        "realism": _realism_dict(metric),
        "settings": settings.to_dict(),
        "config": config,
        "pairs": int(z0.shape[0]),
        "waypoints": {"legs": int(z0.shape[0]), "loop": loop} if join else None,
        "start": {"method": settings.start_method(),
                  **_stats_dict(start_stats)},
        "result": {"method": settings.solver + ("+retime" if settings.retime else ""), **_stats_dict(final_stats),
                   "precision": solved.precision, "notes": solved.notes,
                   **(result.summary() if result is not None else unsolved if settings.solver in SOLVING else {})},
        "projection": projection.to_dict() if projection is not None else None,
        **({"video": {"settings": video.to_dict(), **vp.to_dict(), "outputs": output_info(vp, video)}}
           if vp is not None else {}),
        "wall_time_s": round(wall, 4),
        "device": str(generator.device),
        "cost": footprint(generator, metric).to_dict(settings.chunk_size),
        "time_limit": None if deadline is None else {"limit_s": settings.time_limit, "notes": solved.notes},
        "peak_memory_mb": round(peak_memory(generator.device) / 2**20),
    })
    with staged_outputs(out) as stage:
        if vp is not None:
            write_files(stage, vp, video, metric_name=metric.name)
            write_png(stage / "strip.png", tile(strip_frames(frames[0])))
            if projection is not None:
                from .project import write_projection_files

                write_projection_files(stage, projection)
        else:
            _write_plain_video(stage, frames, b, loop, projection, settings.fps)
        nodes = solved.points.detach().cpu().numpy() if vp is not None else None
        PathFile.single(points.detach().cpu().numpy(), model=model_name, metric=metric.name,
                        legs=int(z0.shape[0]) if join and vp is None else 1, discriminator=discriminator_name,
                        nodes=nodes, metric_options=metric_options,
                        style=generator.style_info()).write(stage / "path.npz")
        write_json(stage / "report.json", report)
    return json.loads(json.dumps(report))


def _write_plain_video(stage: Path, frames: np.ndarray, b: int, loop: bool, projection: "Projection | None",
                       fps: float) -> None:
    """``strip.png`` and ``video.mp4`` of ``frames`` ``(B, N+1, H, W, 3)`` without video settings (frame counts)."""
    write_png(stage / "strip.png", tile(frames))
    video = np.concatenate(list(frames), axis=1) if b > 1 else frames[0]  # pairs stacked vertically
    video = video[:-1] if loop else video
    if projection is not None:
        from .project import write_projection_files

        write_projection_files(stage, projection)
        if b == 1:  # one path through the pictures: open on the first photo, close on the last
            photos = to_uint8(projection.targets)
            last = photos[0] if loop else photos[-1]
            video = np.concatenate([np.repeat(photos[:1], PHOTO_HOLD, 0), video,
                                    np.repeat(last[None], PHOTO_HOLD, 0)])
    write_video(stage / "video.mp4", video, fps=fps)
