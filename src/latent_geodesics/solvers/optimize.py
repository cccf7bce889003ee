"""Full-path optimisation: every interior point at the final resolution, optimised jointly.

The baseline of Petzka et al. and Shao et al.; Adam (default) or L-BFGS. Each pair of a batch stops on
its own when its energy falls by less than ``rtol`` (relative) over ``window`` steps; a stopped pair
is no longer evaluated.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import Tensor

from .._check import UserError
from ..paths import DeadlineReached, PathProblem, PathStats
from .base import NoProgress, Progress, SolveResult, relative_decrease
from .lbfgs import lbfgs_batch
from .structure import kron_apply, laplacian, latent_preconditioner, middle_metric, relative_gradient_norm

Optimizer = Literal["adam", "lbfgs", "lbfgs-pair"]
LBFGS = ("lbfgs", "lbfgs-pair")
"""The L-BFGS optimisers: ``lbfgs`` is torch's (one line search and one stop for the whole batch),
``lbfgs-pair`` is :func:`~latent_geodesics.solvers.lbfgs.lbfgs_batch` (one of each per pair)."""


def lbfgs_overshoot(window: int) -> int:
    """Most energy evaluations past ``max_steps`` of an L-BFGS solve: its last call, left one evaluation, may still
    use torch's default ``max_eval`` (``5/4`` of the window) plus one."""
    return window * 5 // 4


@dataclass(frozen=True)
class OptimizeConfig:
    """Settings of :func:`optimize_path` (recorded in reports).

    Attributes:
        optimizer: ``"adam"``, ``"lbfgs"`` or ``"lbfgs-pair"`` (see :data:`LBFGS`).
        lr: step size. Adam: relative to the path's initial spacing (the RMS per-coordinate distance
            between consecutive points), so one setting fits any latent scale and frame count;
            ``None`` takes 0.05. L-BFGS: its usual step scale; ``None`` takes 1.0.
        max_steps: most energy + gradient evaluations per pair (L-BFGS: at most :func:`lbfgs_overshoot` more).
        rtol: stop a pair when its energy falls by less than this fraction over ``window`` steps.
        window: steps between convergence checks.
        ftol: ``lbfgs-pair`` only: stop a pair when no frame moved by more than this fraction of the path's
            mean step over the last ``window`` evaluations (perceptual motion, measured in the latent metric
            ``G``: ``sqrt(dz^T G dz)``, the first-order image-space distance); replaces ``rtol`` and ``gtol``
            when set. See :func:`frame_motion`.
        gtol: L-BFGS only: also require the scale-free gradient norm
            (:func:`~latent_geodesics.solvers.structure.relative_gradient_norm`) of every pair to be
            below this before stopping (``None``: the energy rule alone).
        precondition: L-BFGS only: optimise in coordinates where the path Laplacian ``L`` (``laplacian``)
            or ``L (x) G`` (``kronecker``, ``G`` the latent metric at the path's middle) is the identity
            (see :mod:`~latent_geodesics.solvers.structure`); ``none`` keeps the latents.
    """

    optimizer: Optimizer = "adam"
    lr: float | None = None
    max_steps: int = 500
    rtol: float = 1e-3
    window: int = 10
    precondition: str = "none"
    gtol: float | None = None
    ftol: float | None = None

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", *LBFGS):
            raise UserError(f"unknown optimizer {self.optimizer!r}; choose adam, lbfgs or lbfgs-pair")
        if self.ftol is not None and not self.ftol > 0:
            raise UserError(f"frame tolerance must be positive, got {self.ftol}")
        if self.max_steps < 0 or self.window < 1 or not self.rtol >= 0:
            raise UserError("max_steps must be >= 0, window >= 1 and rtol >= 0")
        if self.precondition not in ("none", "laplacian", "kronecker"):
            raise UserError(f"unknown preconditioning {self.precondition!r}; choose none, laplacian or kronecker")
        if self.lr is not None and not self.lr > 0:
            raise UserError(f"learning rate must be positive, got {self.lr}")

    @property
    def step_size(self) -> float:
        return self.lr if self.lr is not None else (0.05 if self.optimizer == "adam" else 1.0)

    def to_dict(self) -> dict:
        return {**asdict(self), "lr": self.step_size}


def optimize_path(problem: PathProblem, init: Tensor, config: OptimizeConfig = OptimizeConfig(), *,
                  progress: Progress | None = None, latent_metric: Tensor | None = None,
                  deadline: float | None = None) -> SolveResult:
    """Minimise the energy of each path, endpoints fixed.

    Args:
        problem: generator, metric and endpoints.
        init: starting paths ``(B, N+1, *latent_shape)`` (their endpoints are ignored: the problem's are used).
        config: optimiser settings.
        progress: told the work of every step, in latent evaluations per path.
        latent_metric: ``G`` ``(B, D, D)`` at the paths' middle, if already measured (see
            :mod:`~latent_geodesics.solvers.structure`); measured here otherwise.
        deadline: a ``time.perf_counter()`` value past which the solver returns what it has (not converged).

    Returns:
        The optimised paths; for a ``sphere`` prior every point lies on the sphere.
    """
    progress = progress or NoProgress()
    t0 = time.perf_counter()
    evaluated0 = problem.n_points_evaluated
    adopt_deadline(problem, deadline)
    gmat = latent_metric
    try:
        if config.optimizer == "adam":
            interior, steps, converged, trace, rel = _adam(problem, init, config, progress, deadline)
        elif config.optimizer == "lbfgs-pair":
            interior, steps, converged, trace, rel, gmat = _lbfgs_pair(problem, init, config, progress,
                                                                       latent_metric, deadline)
        else:
            interior, steps, converged, trace, rel, gmat = _lbfgs(problem, init, config, progress, latent_metric,
                                                                  deadline)
    except DeadlineReached:  # not even one evaluation fitted: the start, unsolved
        b = init.shape[0]
        interior, steps, converged, trace = init[:, 1:-1].detach(), torch.zeros(b, dtype=torch.long), \
            torch.zeros(b, dtype=torch.bool), []
        rel = torch.full((b,), float("inf"), dtype=init.dtype)
    interior = problem.generator.project(interior)
    stats, gnorm, gmat = final_stats(problem, interior, gmat)
    return SolveResult(points=problem.points(interior), stats=stats, steps=steps, converged=converged,
                       n_points_evaluated=problem.n_points_evaluated - evaluated0,
                       wall_time=time.perf_counter() - t0, trace=trace, rel_change=rel, grad_norm=gnorm,
                       latent_metric=gmat)


def final_stats(problem: PathProblem, interior: Tensor,
                latent_metric: Tensor | None = None) -> tuple[PathStats, Tensor, Tensor | None]:
    """Step distances of the result, its scale-free gradient norm ``(B,)`` and the latent metric it used.

    Costs one forward pass, one forward and backward pass, and (without ``latent_metric``) the latent
    metric at each path's middle (:func:`~latent_geodesics.solvers.structure.middle_metric`).
    """
    with torch.no_grad():
        stats = PathStats.of(problem.distances_sq(interior, grad=False))
    if interior.shape[1] == 0:
        return stats, torch.zeros_like(stats.energy), latent_metric
    try:  # past the deadline the gradient norm is not measured (NaN: reported as null)
        x = interior.detach().clone().requires_grad_(True)
        energy = problem.energy_backward(x)
        grad = x.grad if x.grad is not None else torch.zeros_like(x)
        gmat = latent_metric if latent_metric is not None else middle_metric(problem, interior)
    except DeadlineReached:
        return stats, torch.full_like(stats.energy, float("nan")).cpu(), latent_metric
    return stats, relative_gradient_norm(grad, energy, gmat).cpu(), gmat


def adopt_deadline(problem: PathProblem, deadline: float | None) -> None:
    """Give ``problem`` the earlier of its own deadline and ``deadline``: its passes then stop before it
    (:class:`~latent_geodesics.paths.DeadlineReached`), not only between steps."""
    if deadline is not None:
        problem.deadline = deadline if problem.deadline is None else min(problem.deadline, deadline)


def _spacing(init: Tensor) -> Tensor:
    """RMS per-coordinate distance between consecutive points of each path: ``(B, N+1, ...) -> (B,)``."""
    steps = (init[:, 1:] - init[:, :-1]).flatten(2)
    return steps.pow(2).mean(dim=(1, 2)).sqrt().clamp_min(1e-8)


def _adam(problem: PathProblem, init: Tensor, config: OptimizeConfig,
          progress: Progress, deadline: float | None = None) -> tuple[Tensor, Tensor, Tensor, list[float]]:
    gen = problem.generator
    b = init.shape[0]
    # One parameter per pair: Adam skips a parameter whose grad is None, so a converged pair costs
    # nothing; one parameter group per pair lets each pair's step follow its own spacing.
    params = [torch.nn.Parameter(gen.project(init[i, 1:-1].detach().clone())) for i in range(b)]
    spacing = _spacing(init).tolist()
    opt = torch.optim.Adam([{"params": [p], "lr": config.step_size * h} for p, h in zip(params, spacing)])
    best = [p.detach().clone() for p in params]
    best_energy = torch.full((b,), float("inf"), dtype=init.dtype)
    steps = torch.zeros(b, dtype=torch.long)
    converged = torch.zeros(b, dtype=torch.bool)
    active = list(range(b))
    trace: list[float] = []
    rel = torch.full((b,), float("inf"), dtype=init.dtype)
    if init.shape[1] <= 2:  # no interior point: nothing to optimise
        return torch.stack(best), steps, torch.ones(b, dtype=torch.bool), trace, rel.zero_()
    reference = torch.full((b,), float("inf"), dtype=init.dtype)  # best energy at the last check
    for step in range(config.max_steps):
        idx = torch.tensor(active, device=init.device)
        x = torch.stack([params[i] for i in active])
        opt.zero_grad(set_to_none=True)
        try:
            energy = problem.energy_backward(gen.project(x), idx)  # (A,), at the current points; grads in params
        except DeadlineReached:
            break
        e = energy.detach().cpu()
        for k, i in enumerate(active):  # keep the best points seen: Adam's last iterate can be worse
            if e[k] < best_energy[i]:
                best_energy[i] = e[k]
                best[i] = params[i].detach().clone()
        opt.step()
        if gen.constrained:
            with torch.no_grad():
                for i in active:
                    params[i].copy_(gen.project(params[i]))
        steps[active] += 1
        progress.update(x.shape[1])  # work of the slowest pair: one latent evaluation per interior point
        if step == 0:
            reference[active] = e
        elif (step + 1) % config.window == 0:
            trace.append(float(best_energy[active].sum()))
            progress.set_postfix_str(f"energy {trace[-1]:.4g}, {len(active)} active", refresh=False)
            gain = relative_decrease(reference[active], best_energy[active])
            rel[active] = gain
            done = (gain < config.rtol).tolist()
            reference[active] = best_energy[active]
            for k, d in enumerate(done):
                converged[active[k]] = d
            active = [i for i, d in zip(active, done) if not d]
            if not active:
                break
        if deadline is not None and time.perf_counter() > deadline:
            break
    return torch.stack(best), steps, converged, trace, rel


def _lbfgs(problem: PathProblem, init: Tensor, config: OptimizeConfig, progress: Progress,
           latent_metric: Tensor | None = None, deadline: float | None = None):
    gen = problem.generator
    b = init.shape[0]
    x0 = gen.project(init[:, 1:-1].detach().clone())
    steps = torch.zeros(b, dtype=torch.long)
    trace: list[float] = []
    rel = torch.full((b,), float("inf"), dtype=init.dtype)
    if init.shape[1] <= 2:
        return x0, steps, torch.ones(b, dtype=torch.bool), trace, rel.zero_(), None
    gfull, gmat = latent_metric, None
    if config.precondition == "kronecker" or config.gtol is not None:
        gfull, gmat, _ = latent_preconditioner(problem, x0, config.precondition, latent_metric)
    coords = _PairCoordinates(x0, config.precondition, gmat if config.precondition == "kronecker" else None)
    every = torch.arange(b, device=x0.device)
    to_x, to_y = (lambda y: coords.to_x(y, every)), coords.to_y
    x = torch.nn.Parameter(to_y(x0).contiguous())
    # L-BFGS couples the pairs through one line search, so they stop together.
    opt = torch.optim.LBFGS([x], lr=config.step_size, max_iter=config.window, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0)
    evals = 0
    last: dict[str, Tensor] = {}

    def closure() -> Tensor:
        nonlocal evals
        opt.zero_grad(set_to_none=True)
        points = gen.project(to_x(x))
        points.retain_grad()
        energy = problem.energy_backward(points)  # (B,), detached; the gradient is in x.grad
        last.update(energy=energy, grad=points.grad.detach() if points.grad is not None else torch.zeros_like(points))
        evals += 1
        progress.update(points.shape[1])  # one latent evaluation per interior point of each path
        return energy.sum()

    previous: Tensor | None = None
    converged = torch.zeros(b, dtype=torch.bool)
    while evals < config.max_steps:
        opt.param_groups[0]["max_iter"] = min(config.window, config.max_steps - evals)
        try:
            loss = float(opt.step(closure).detach())
        except DeadlineReached:
            break
        trace.append(loss)
        progress.set_postfix_str(f"energy {loss:.4g}", refresh=False)
        energy = last["energy"].cpu()
        if previous is not None:  # per pair, over the last window; L-BFGS moves the pairs together
            rel = relative_decrease(previous, energy)
            converged = rel < config.rtol
            if config.gtol is not None:
                gnorm = relative_gradient_norm(last["grad"], last["energy"], gfull).cpu()
                converged &= gnorm < config.gtol
            if converged.all():
                break
        previous = energy
        if deadline is not None and time.perf_counter() > deadline:
            break
    steps[:] = evals
    return to_x(x.detach()), steps, converged, trace, rel, gfull


def _lbfgs_pair(problem: PathProblem, init: Tensor, config: OptimizeConfig, progress: Progress,
                latent_metric: Tensor | None = None, deadline: float | None = None):
    """Each pair with its own L-BFGS, line search and stop (:func:`~latent_geodesics.solvers.lbfgs.lbfgs_batch`)."""
    gen = problem.generator
    b, m = init.shape[0], init.shape[1] - 2
    x0 = gen.project(init[:, 1:-1].detach().clone())
    steps = torch.zeros(b, dtype=torch.long)
    trace: list[float] = []
    rel = torch.full((b,), float("inf"), dtype=init.dtype)
    if m <= 0:
        return x0, steps, torch.ones(b, dtype=torch.bool), trace, rel.zero_(), None
    gfull, gmat = latent_metric, None
    if config.precondition == "kronecker" or config.gtol is not None or config.ftol is not None:
        gfull, gmat, _ = latent_preconditioner(problem, x0, config.precondition, latent_metric)
    coords = _PairCoordinates(x0, config.precondition, gmat if config.precondition == "kronecker" else None)
    shape = x0.shape[1:]
    grad_x = torch.zeros_like(x0)  # the gradient in latent coordinates at each pair's last evaluation
    x_last = x0.clone()

    def fg(y: Tensor, idx: Tensor) -> tuple[Tensor, Tensor]:
        yy = y.detach().clone().requires_grad_(True)
        points = gen.project(coords.to_x(yy, idx))
        points.retain_grad()
        energy = problem.energy_backward(points, idx)
        grad_x[idx] = points.grad.detach() if points.grad is not None else 0
        x_last[idx] = points.detach()
        return energy, yy.grad.detach() if yy.grad is not None else torch.zeros_like(yy)

    mark_f = torch.full((b,), float("inf"), dtype=init.dtype, device=x0.device)  # value at the last check
    mark_e = torch.zeros(b, dtype=torch.long, device=x0.device)  # evaluations at the last check
    mark_x = x0.clone()  # points at the last check
    converged = torch.zeros(b, dtype=torch.bool)

    def check(state, idx: Tensor) -> Tensor:
        due = state.evals[idx] - mark_e[idx] >= config.window
        first = ~torch.isfinite(mark_f[idx])
        stop = torch.zeros_like(due)
        sel = idx[due & ~first]
        if sel.numel():
            f = state.f[sel]
            gain = relative_decrease(mark_f[sel], f)
            rel[sel.cpu()] = gain.cpu().to(rel.dtype)
            if config.ftol is not None:
                ok = frame_motion(x_last[sel], mark_x[sel], f, gfull[sel], m + 1) < config.ftol
            else:
                ok = gain < config.rtol
                if config.gtol is not None:
                    ok &= relative_gradient_norm(grad_x[sel], f, gfull[sel]) < config.gtol
            stop[(due & ~first).nonzero().squeeze(1)] = ok
            converged[sel.cpu()] = ok.cpu()
            trace.append(float(state.f.sum()))
            progress.set_postfix_str(f"energy {trace[-1]:.4g}, {int(state.active.sum())} active", refresh=False)
        renew = idx[due | first]
        mark_f[renew], mark_e[renew], mark_x[renew] = state.f[renew], state.evals[renew], x_last[renew]
        return stop

    told = 0  # evaluations of the slowest pair told to the progress bar so far

    def on_eval(state, idx: Tensor) -> None:
        nonlocal told  # work of the slowest pair: one latent evaluation per interior point
        most = int(state.evals.max())
        if most > told:
            progress.update(m * (most - told))
            told = most

    state = lbfgs_batch(fg, coords.to_y(x0).reshape(b, -1), max_evals=config.max_steps, check=check,
                        first_step=config.step_size, on_eval=on_eval, deadline=deadline,
                        h0=config.step_size / (2 * (m + 1)) if config.precondition == "kronecker" else None)
    steps[:] = state.evals.cpu()
    x = gen.project(coords.to_x(state.y.reshape(b, *shape), torch.arange(b, device=x0.device)))
    return x.detach(), steps, converged, trace, rel, gfull


def frame_motion(x: Tensor, before: Tensor, energy: Tensor, latent_metric: Tensor, n_segments: int) -> Tensor:
    """How far the frames moved, relative to the path's mean step: ``max_i |x_i - before_i|_G / (sqrt(E) / N)``.

    ``|dz|_G = sqrt(dz^T G dz)`` is the image-space distance a small latent move ``dz`` makes to first order
    (``G`` the latent metric at the path's middle); ``sqrt(E) / N`` is the mean step of a path of energy ``E``
    at constant speed (``E = N sum_i d_i^2``).

    Shape:
        - x, before: ``(P, N-1, *latent_shape)``; energy: ``(P,)``; latent_metric: ``(P, D, D)``
        - output: ``(P,)``
    """
    p, m = x.shape[:2]
    dz = (x - before).reshape(p, m, -1).to(latent_metric.dtype)
    moved = torch.einsum("pid,pde,pie->pi", dz, latent_metric, dz).clamp_min(0).sqrt().amax(1)
    step = energy.to(moved.dtype).clamp_min(0).sqrt() / n_segments
    return moved / step.clamp_min(torch.finfo(moved.dtype).tiny)


class _PairCoordinates:
    """Maps ``y -> x`` and ``x -> y`` with ``x = (C^{-T} (x) G_p^{-1/2}) y`` per pair ``p``, ``L = C C^T``, so that
    L-BFGS's identity starting Hessian in ``y`` is ``L (x) G_p`` in ``x`` (``G = I`` for ``laplacian``; ``none``
    keeps the latents). ``to_x`` takes any subset ``idx`` of the pairs."""

    def __init__(self, x0: Tensor, kind: str, gmat: Tensor | None) -> None:
        self.kind, self.shape = kind, x0.shape[1:]
        m = x0.shape[1]
        self.a = self.a_inv = self.b = self.b_inv = None
        if kind == "none":
            return
        chol = torch.linalg.cholesky(laplacian(m, dtype=torch.float64, device=x0.device))
        self.a, self.a_inv = torch.linalg.inv(chol.T).to(x0.dtype), chol.T.to(x0.dtype)
        if gmat is not None:
            evals, vecs = torch.linalg.eigh(gmat.double())
            self.b = ((vecs * evals.rsqrt().unsqueeze(1)) @ vecs.transpose(1, 2)).to(x0.dtype)
            self.b_inv = ((vecs * evals.sqrt().unsqueeze(1)) @ vecs.transpose(1, 2)).to(x0.dtype)

    def to_x(self, y: Tensor, idx: Tensor) -> Tensor:
        if self.kind == "none":
            return y.reshape(-1, *self.shape)
        p, m = y.shape[0], self.shape[0]
        b = None if self.b is None else self.b[idx]
        return kron_apply(self.a, y.reshape(p, m, -1), b).reshape(p, *self.shape)

    def to_y(self, x: Tensor) -> Tensor:
        if self.kind == "none":
            return x.clone()
        p, m = x.shape[:2]
        return kron_apply(self.a_inv, x.reshape(p, m, -1), self.b_inv).reshape(x.shape)
