"""Progressive path subdivision (Laine 2018): coarse to fine.

Start with one interior point (two segments), minimise the energy, insert the midpoint of every
segment (renormalised for a sphere prior), minimise again, and so on until the requested number of
segments. A frame count that is not a power of two plus one is reached by re-timing the finest path
by arc length and polishing it at the final resolution.

Two variants:

- ``joint``: each level re-optimises all interior points together.
- ``local``: each level first solves every new midpoint on its own, its two neighbours fixed (all
  midpoints of all pairs as one batch of two-segment problems), then runs a few joint sweeps.

Each level stops on relative energy change (the rule of :class:`OptimizeConfig`), not a fixed count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import torch
from torch import Tensor

from .._check import UserError
from ..curves import interpolate_points, resample_uniform, spline_points
from ..paths import PathProblem, PathStats
from .base import NoProgress, Progress, SolveResult
from .gauss_newton import GaussNewtonConfig, gauss_newton_path
from .optimize import OptimizeConfig, adopt_deadline, lbfgs_overshoot, optimize_path

LevelConfig = OptimizeConfig | GaussNewtonConfig
DEFAULT_FTOL = 0.07
"""The default frame rule of ``lbfgs-pair``: converged when no frame moved by more than 7% of the mean step over
the last 10 steps. On faces64 (vgg-eq, 17 frames) the last level's frames move 0.07 of a step per 10 steps
when its energy is about 1% above where that level ends (docs/benchmarks.md, "Solver directions measured
for issue 19")."""
COARSE_FTOL = 0.2
"""The frame rule of levels before the last. Cheap, but where a coarse level stops decides which local minimum
the last level ends in: with it the default ends 3.5-5% above the reference energy on faces64 (BENCHMARKS.md,
``speedup``), at less than half the evaluations of the energy rule. ``coarse_ftol=None`` stops those levels on
the energy rule at ``coarse_rtol`` instead (BENCHMARKS.md, ``coarse_rule``: 1.4-2.2% above the reference on
faces64 and mnist28 against 2.4-4.5%, for 0.7-1.4x the evaluations; on celeba64 0.7% against 0.9%, for 1.3x)."""
MIDPOINT_FTOL = 0.2
"""The frame rule of the midpoint solves between a solved path's nodes (:func:`refine_path`)."""


def solve_at_resolution(problem: PathProblem, start: Tensor, config: LevelConfig, *,
                        progress: Progress | None = None, latent_metric: Tensor | None = None,
                        deadline: float | None = None) -> SolveResult:
    """Optimise all interior points of ``start`` ``(B, N+1, ...)`` with the solver ``config`` names.

    ``deadline``: a ``time.perf_counter()`` value past which the solver returns what it has (Gauss-Newton
    finishes its step budget)."""
    if isinstance(config, GaussNewtonConfig):
        return gauss_newton_path(problem, start, config, progress=progress, latent_metric=latent_metric)
    return optimize_path(problem, start, config, progress=progress, latent_metric=latent_metric, deadline=deadline)

Variant = Literal["joint", "local"]


@dataclass(frozen=True)
class SubdivideConfig:
    """Settings of :func:`subdivide_path` (recorded in reports).

    Attributes:
        variant: ``"joint"`` or ``"local"`` (see the module docstring). ``joint`` is the default: in
            BENCHMARKS.md (``solvers``) joint subdivision with L-BFGS was the only solver to come within
            1% of the best energy at an equal budget, ahead of the local variant (1.02x) and of full-path
            Adam (1.25x) and L-BFGS (1.18x).
        level: optimiser settings for each level (``max_steps`` is per level); L-BFGS by default.
        local_steps: most steps of the local midpoint solves (``local`` variant).
        sweeps: most joint steps after the local solves (``local`` variant).
        coarse_ftol: levels before the last only start the next one: with the frame rule (``level.ftol``) they
            stop on this frame tolerance (at least ``level.ftol``) ...
        coarse_rtol: ... and with the energy rule, or with ``coarse_ftol=None``, on this relative energy change
            alone (``None``: the same rule as the last level).
        insert: where new midpoints go: ``chord`` (the latent midpoint) or ``cubic`` (on the cubic through the
            coarser level, :func:`midpoints`). Measured on faces64 (vgg-eq, 17 frames, one 9-point start):
            the cubic starts the last level 4% lower but needs as many steps to come within 1% of its end
            (198 against 165), so the default stays ``chord``.
    """

    variant: Variant = "joint"
    level: LevelConfig = field(default_factory=lambda: OptimizeConfig(
        optimizer="lbfgs-pair", max_steps=500, rtol=1e-4, gtol=3e-3, ftol=DEFAULT_FTOL, precondition="kronecker"))
    local_steps: int = 50
    sweeps: int = 30
    coarse_rtol: float | None = 1e-3
    coarse_ftol: float | None = COARSE_FTOL
    insert: str = "chord"

    def __post_init__(self) -> None:
        if self.variant not in ("joint", "local"):
            raise UserError(f"unknown subdivision variant {self.variant!r}; choose joint or local")
        if self.insert not in ("chord", "cubic"):
            raise UserError(f"unknown midpoint insertion {self.insert!r}; choose chord or cubic")

    def to_dict(self) -> dict:
        return {**asdict(self), "level": self.level.to_dict()}

    def max_work(self, n_segments: int) -> int:
        """An upper bound on the work of one path, in latent evaluations (the unit solvers report progress in):
        every level's most steps times its interior points (times 1 + CG iterations for Gauss-Newton)."""
        schedule = levels(n_segments)
        work = 0
        for k, segments in enumerate(schedule):
            if self.variant == "local" and 0 < k and segments == 2 * schedule[k - 1]:
                work += (most_steps(self.level, self.local_steps) * (segments // 2)
                         + most_steps(self.level, self.sweeps) * (segments - 1))
            else:
                work += most_steps(self.level) * (segments - 1)
        return work * step_work(self.level)


def levels(n_segments: int) -> list[int]:
    """Segments of each level of :func:`subdivide_path`: 2, 4, ... up to ``n_segments`` or the first power of two
    above it, then ``n_segments`` again if that overshot (re-timed and polished)."""
    if n_segments <= 1:
        return []
    out = [2]
    while out[-1] < n_segments:
        out.append(2 * out[-1])
    return out + ([n_segments] if out[-1] != n_segments else [])


def step_work(config: LevelConfig) -> int:
    """Latent evaluations per interior point of one step of ``config``'s optimiser (CG products count)."""
    return 1 + config.cg_iters if isinstance(config, GaussNewtonConfig) else 1


def most_steps(config: LevelConfig, steps: int | None = None) -> int:
    """Most energy evaluations of a solve with ``steps`` (default ``config.max_steps``) allowed: L-BFGS may take
    :func:`~latent_geodesics.solvers.optimize.lbfgs_overshoot` more to finish its line search."""
    steps = config.max_steps if steps is None else steps
    lbfgs = isinstance(config, OptimizeConfig) and config.optimizer == "lbfgs"
    return steps + (lbfgs_overshoot(config.window) if lbfgs and steps > 0 else 0)


class _Scaled:
    """A progress bar told ``k`` times what it is told: the local midpoint solves count per original path."""

    def __init__(self, progress: Progress, k: int) -> None:
        self.progress, self.k = progress, k

    def update(self, n: int = 1) -> object:
        return self.progress.update(n * self.k)

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> object:
        return self.progress.set_postfix_str(s, refresh=refresh)


def midpoints(points: Tensor, project, kind: str = "chord") -> Tensor:
    """Insert a midpoint in every segment: ``(B, N+1, ...) -> (B, 2N+1, ...)``.

    ``chord``: the latent midpoint of the segment. ``cubic``: the cubic through the segment's two points and
    their outer neighbours, at the middle (``(-p0 + 9 p1 + 9 p2 - p3) / 16``; the quadratic through three
    points at a path's ends), which follows the bend of a path that moves at near-constant speed, as a
    solved coarser level does.
    """
    b, n1 = points.shape[:2]
    if kind == "cubic":
        half = torch.arange(n1 - 1, dtype=points.dtype, device=points.device) + 0.5
        mids = project(spline_points(points, half.expand(b, -1)))
    else:
        mids = project((points[:, :-1] + points[:, 1:]) / 2)
    out = torch.empty(b, 2 * n1 - 1, *points.shape[2:], dtype=points.dtype, device=points.device)
    out[:, 0::2] = points
    out[:, 1::2] = mids
    return out


def subdivide_path(problem: PathProblem, n_segments: int, config: SubdivideConfig = SubdivideConfig(), *,
                   init: Tensor | None = None, progress: Progress | None = None,
                   deadline: float | None = None, on_level: Callable[[Tensor], None] | None = None) -> SolveResult:
    """Minimal paths with ``n_segments`` segments by progressive subdivision.

    Args:
        problem: generator, metric and endpoints (``B`` pairs, solved as one batch).
        n_segments: segments of the result (frames - 1), at least 1.
        config: variant and per-level settings.
        init: optional starting path ``(B, 3, *latent_shape)`` (default: the latent midpoint).
        progress: told the work of every step, in latent evaluations per path (:meth:`SubdivideConfig.max_work`).
        deadline: a ``time.perf_counter()`` value: past it each remaining L-BFGS or Adam level takes one step
            at most (Gauss-Newton levels run their budget), so the result still has ``n_segments`` segments
            (and is not converged).
        on_level: called with each finished level's points ``(B, M + 1, *latent_shape)``, ``M`` that level's
            segments (:func:`levels`; a detached copy, coarse to fine, the last call with the result's points),
            e.g. to show a coarse path while finer levels run. It changes nothing in the solve.

    Returns:
        ``points (B, n_segments + 1, *latent_shape)``; ``steps`` and ``n_points_evaluated`` add up all levels.
    """
    if n_segments < 1:
        raise UserError(f"need at least 1 segment, got {n_segments}")
    progress = progress or NoProgress()
    gen = problem.generator
    t0 = time.perf_counter()
    evaluated0 = problem.n_points_evaluated
    b = problem.n_pairs
    steps = torch.zeros(b, dtype=torch.long)
    trace: list[float] = []
    converged = torch.ones(b, dtype=torch.bool)
    if init is None:
        ends = torch.stack([problem.z0, problem.z1], 1)
        points = midpoints(ends, gen.project)
    else:
        points = init
    segments = points.shape[1] - 1

    last: list[SolveResult] = []

    adopt_deadline(problem, deadline)

    def run(start: Tensor, cfg: LevelConfig) -> SolveResult:
        # The middle interior point is the path's t = 1/2 at every level: its latent metric, measured
        # once at the first level, serves the finer ones (the point moves little once it is placed).
        reuse = last[0].latent_metric if last else None
        res = solve_at_resolution(problem, start, cfg, progress=progress, latent_metric=reuse, deadline=deadline)
        trace.extend(res.trace)
        last[:] = [res]
        if on_level is not None:
            on_level(res.points.detach().clone())
        return res

    if n_segments == 1:
        points = torch.stack([problem.z0, problem.z1], 1)
    else:
        res = run(points, config.level if segments == n_segments else _coarse(config))
        points, steps, converged = res.points, steps + res.steps, res.converged
        while segments < n_segments:
            segments *= 2
            if problem.out_of_time():  # past the deadline: the finer levels' midpoints, unsolved
                points = midpoints(points, gen.project, config.insert)
                converged = torch.zeros_like(converged)
                continue
            if config.variant == "local":
                points, local = solve_midpoints(problem, points, _with_steps(config.level, config.local_steps),
                                                latent_metric=last[0].latent_metric, insert=config.insert,
                                                progress=progress, deadline=deadline)
                steps += local.steps
                trace.extend(local.trace)
                res = run(points, _with_steps(config.level, config.sweeps))
            else:
                points = midpoints(points, gen.project, config.insert)
                res = run(points, config.level if segments == n_segments else _coarse(config))
            points, steps, converged = res.points, steps + res.steps, res.converged
        if segments != n_segments:  # overshot a frame count that is not 2^k + 1: re-time, then polish
            with torch.no_grad():
                d_sq = problem.distances_sq(points[:, 1:-1], grad=False)
            points = gen.project(interpolate_points(points, resample_uniform(d_sq, n_segments + 1)))
            points[:, 0], points[:, -1] = problem.z0, problem.z1
            if not problem.out_of_time():
                res = run(points, config.level)
                points, steps, converged = res.points, steps + res.steps, res.converged
    with torch.no_grad():
        stats = PathStats.of(problem.distances_sq(points[:, 1:-1], grad=False))
    final = last[0] if last else None
    return SolveResult(points=points, stats=stats, steps=steps, converged=converged,
                       n_points_evaluated=problem.n_points_evaluated - evaluated0,
                       wall_time=time.perf_counter() - t0, trace=trace,
                       rel_change=final.rel_change if final is not None else None,
                       grad_norm=final.grad_norm if final is not None else None,
                       latent_metric=final.latent_metric if final is not None else None)


def _with_steps(cfg: LevelConfig, max_steps: int) -> LevelConfig:
    return replace(cfg, max_steps=max_steps)


def stops_on_frames(level: LevelConfig) -> bool:
    """Whether a level stops on the frame rule (``ftol``, ``lbfgs-pair``) rather than on the energy rule."""
    return isinstance(level, OptimizeConfig) and level.ftol is not None


def _coarse(config: SubdivideConfig) -> LevelConfig:
    """A level before the last: the frame rule at ``coarse_ftol`` (when the level uses the frame rule and
    ``coarse_ftol`` is set), else the energy rule alone, at ``coarse_rtol``."""
    level = config.level
    if stops_on_frames(level) and config.coarse_ftol is not None:
        return replace(level, ftol=max(level.ftol, config.coarse_ftol))
    if config.coarse_rtol is None:
        return level
    if isinstance(level, GaussNewtonConfig):
        return replace(level, rtol=max(level.rtol, config.coarse_rtol), gtol=math.inf)
    return replace(level, rtol=max(level.rtol, config.coarse_rtol), gtol=None, ftol=None)


def _midpoint_level(config: SubdivideConfig) -> LevelConfig:
    """The midpoint solves of :func:`refine_path`: the frame rule at :data:`MIDPOINT_FTOL` (when the level uses
    the frame rule), else the coarse levels' rule; at most ``local_steps`` steps."""
    level = config.level
    if stops_on_frames(level):
        return replace(level, ftol=max(level.ftol, MIDPOINT_FTOL), max_steps=config.local_steps)
    return _with_steps(_coarse(config), config.local_steps)


def solve_midpoints(problem: PathProblem, coarse: Tensor, level: LevelConfig, *, latent_metric: Tensor | None = None,
                    insert: str = "chord", progress: Progress | None = None,
                    deadline: float | None = None) -> tuple[Tensor, SolveResult]:
    """Insert a midpoint in every segment of ``coarse`` ``(B, N+1, ...)`` and solve each between its two points,
    which stay fixed: all ``B N`` midpoints as one batch of one-point paths, each stopping on its own.

    ``latent_metric``: ``G`` ``(B, D, D)`` of each path (e.g. a solve's :attr:`SolveResult.latent_metric`), shared by
    its midpoints; measured per midpoint otherwise (``D`` tangent passes each). ``progress`` is told the work per
    path of ``problem``. ``problem.n_points_evaluated`` counts the passes.

    Returns:
        The finer path ``(B, 2N+1, ...)`` (``coarse``'s points at the even places) and the local solve's result
        with ``steps`` per path of ``problem`` (its slowest midpoint's: they run side by side).
    """
    b, n1 = coarse.shape[:2]
    shape = coarse.shape[2:]
    fine = midpoints(coarse, problem.generator.project, insert)
    a = coarse[:, :-1].reshape(-1, *shape)  # (B*N, ...) left neighbours
    c = coarse[:, 1:].reshape(-1, *shape)  # right neighbours
    m = fine[:, 1::2].reshape(-1, *shape)  # current midpoints
    local = problem.sibling(a, c)
    reuse = None if latent_metric is None else latent_metric.repeat_interleave(n1 - 1, 0)
    told = None if progress is None else _Scaled(progress, n1 - 1)  # each path's midpoints: n1 - 1 local paths
    res = solve_at_resolution(local, torch.stack([a, m, c], 1), level, progress=told, latent_metric=reuse,
                              deadline=deadline)
    problem.n_points_evaluated += local.n_points_evaluated
    out = fine.clone()
    out[:, 1::2] = res.points[:, 1].reshape(b, n1 - 1, *shape)
    return out, replace(res, steps=res.steps.view(b, n1 - 1).max(1).values)


def refine_path(problem: PathProblem, result: SolveResult, points: int, config: SubdivideConfig = SubdivideConfig(),
                *, progress: Progress | None = None, deadline: float | None = None) -> SolveResult:
    """Halve the segments of a solved path by :func:`solve_midpoints` while it has at most ``points`` points.

    Frames between solved nodes: on faces64 (vgg-eq, 17 nodes, seeds 1 and 2) 33 frames placed on the smooth
    curve through the nodes are 6.9% longer than a long 33-point geodesic; the 17 nodes with 16 midpoints solved
    between them, 1.7%, for 431 latent evaluations (the 17 nodes: 3,479). Each midpoint solve stops on the
    frame rule at :data:`MIDPOINT_FTOL` (without the frame rule: the coarse levels' rule), after at most
    ``config.local_steps`` steps (:func:`refine_work`).

    Returns:
        ``result`` with the finer points and their statistics, ``steps``, ``n_points_evaluated`` and ``wall_time``
        including the rounds (``converged`` and ``grad_norm`` still say how the nodes' solve ended); ``result``
        itself if one round would overshoot ``points``.
    """
    t0, pts, steps, evaluated0 = time.perf_counter(), result.points, result.steps.clone(), problem.n_points_evaluated
    level = _midpoint_level(config)
    adopt_deadline(problem, deadline)
    while 2 * pts.shape[1] - 1 <= points:
        if problem.out_of_time():  # past the deadline: midpoints on the chords, unsolved
            pts = midpoints(pts, problem.generator.project, config.insert)
            result = replace(result, converged=torch.zeros_like(result.converged))
            continue
        pts, local = solve_midpoints(problem, pts, level, latent_metric=result.latent_metric, insert=config.insert,
                                     progress=progress, deadline=deadline)
        steps += local.steps.to(steps.device)
    if pts is result.points:
        return result
    with torch.no_grad():
        stats = PathStats.of(problem.distances_sq(pts[:, 1:-1], grad=False))
    return replace(result, points=pts, stats=stats, steps=steps, wall_time=result.wall_time + time.perf_counter() - t0,
                   n_points_evaluated=result.n_points_evaluated + problem.n_points_evaluated - evaluated0)


def refine_work(nodes: int, points: int, config: SubdivideConfig = SubdivideConfig()) -> int:
    """An upper bound on the work of :func:`refine_path` per path, in latent evaluations."""
    work, n1 = 0, nodes
    while 2 * n1 - 1 <= points:
        work += most_steps(config.level, config.local_steps) * (n1 - 1) * step_work(config.level)
        n1 = 2 * n1 - 1
    return work
