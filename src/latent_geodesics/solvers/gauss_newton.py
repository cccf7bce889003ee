"""Gauss-Newton / Levenberg-Marquardt on the path energy, using its block-tridiagonal structure.

The energy ``E = N * sum_i ||r_i||^2`` is a least-squares problem in the residuals
``r_i = R(f(z_i), f(z_{i+1}))`` (:meth:`Metric.residual` of each segment, ``f`` the metric's features of
the generator's image). Its Jacobian in the interior points is block-bidiagonal, so the Gauss-Newton
matrix ``H = 2 N J^T J`` is block-tridiagonal along the path. Each step solves, for every pair at once,

    (H + mu * c * M) d = -grad E,    M = L (x) G

by preconditioned conjugate gradients, matrix-free: each CG iteration is one forward pass with tangents
and one backward pass (:meth:`PathProblem.gauss_newton_product`). ``L = tridiag(-1, 2, -1)`` is the path
Laplacian and ``G`` the latent metric at the path's middle (``I`` with ``preconditioner="laplacian"``):
the energy's Hessian for a linear generator is ``2 N M`` (:mod:`~latent_geodesics.solvers.structure`), so
``M`` is both the preconditioner and the Levenberg-Marquardt damping (a trust region in the path's own
norm); ``c`` matches its scale to ``H`` once per solve (Rayleigh quotient). ``mu``
follows the gain ratio (Nielsen's rule), per pair. Points are projected onto the prior after each step.

Gauss-Newton drops the term pairing each residual with the curvature of ``f``: the residuals are the
path's steps, which do not vanish at the optimum, so convergence is linear, not quadratic. On faces64 it
was slower per model pass than L-BFGS in the same preconditioned coordinates (BENCHMARKS.md, ``solvers``).

Stopping (per pair): the relative energy decrease of an accepted step falls below ``rtol`` *and* the
scale-free gradient norm (:func:`relative_gradient_norm`) below ``gtol``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch
from torch import Tensor

from .._check import UserError
from ..paths import PathProblem, PathStats
from .base import NoProgress, Progress, SolveResult, relative_decrease
from .structure import dot, kron_apply, laplacian, laplacian_inverse, latent_preconditioner, relative_gradient_norm


PRECONDITIONERS = ("kronecker", "laplacian")
"""``laplacian``: ``L (x) I``; ``kronecker``: ``L (x) G`` with ``G`` the latent metric at the path's middle."""


@dataclass(frozen=True)
class GaussNewtonConfig:
    """Settings of :func:`gauss_newton_path` (recorded in reports).

    Attributes:
        max_steps: most Gauss-Newton steps per pair (accepted or not).
        cg_iters: most conjugate-gradient iterations per step (each: one Gauss-Newton product).
        cg_tol: CG stops when the preconditioned residual norm falls below this fraction of its start.
        damping: starting Levenberg-Marquardt ``mu`` (relative to the Rayleigh scale ``c``).
        rtol: converged when an accepted step lowers the energy by less than this fraction ...
        gtol: ... and the relative gradient norm is below this.
    """

    max_steps: int = 100
    cg_iters: int = 10
    cg_tol: float = 0.1
    damping: float = 0.1
    rtol: float = 1e-4
    gtol: float = 3e-3
    preconditioner: str = "kronecker"

    def __post_init__(self) -> None:
        if self.max_steps < 0 or self.cg_iters < 1 or not (self.cg_tol > 0 and self.damping > 0):
            raise UserError("max_steps must be >= 0, cg_iters >= 1, cg_tol and damping > 0")
        if self.preconditioner not in PRECONDITIONERS:
            raise UserError(f"unknown preconditioner {self.preconditioner!r}; choose one of: {', '.join(PRECONDITIONERS)}")
        if not (self.rtol >= 0 and self.gtol >= 0):
            raise UserError("rtol and gtol must be >= 0")

    optimizer = "gauss-newton"

    def to_dict(self) -> dict:
        return {"optimizer": self.optimizer, **asdict(self)}


def energy_and_gradient(problem: PathProblem, x: Tensor, pairs: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Energy ``(P,)`` and its gradient ``(P, N-1, *latent_shape)`` at interior points ``x``."""
    xg = x.detach().clone().requires_grad_(True)
    energy = problem.energy_backward(xg, pairs)
    grad = xg.grad if xg.grad is not None else torch.zeros_like(xg)
    return energy, grad.detach()


def _pcg(product, b: Tensor, precond, *, iters: int, tol: float) -> tuple[Tensor, Tensor]:
    """Solve ``A d = b`` for every pair (``A`` symmetric positive definite, applied by ``product``).

    Args:
        product: ``(v (Q, m, D), rows (Q,)) -> A v`` for the pairs ``rows``.
        b: ``(P, m, D)``.
        precond: ``(r (Q, m, D), rows (Q,)) -> M^{-1} r`` for the pairs ``rows``.

    Returns:
        ``d`` ``(P, m, D)`` and the iterations each pair ran ``(P,)``.
    """
    p = b.shape[0]
    d = torch.zeros_like(b)
    r = b.clone()
    z = precond(r, torch.arange(p))
    s = z.clone()
    rz = dot(r, z)
    rz0 = rz.clone()
    done = rz0 <= 0
    its = torch.zeros(p, dtype=torch.long)
    for _ in range(iters):
        rows = (~done).nonzero().flatten()
        if rows.numel() == 0:
            break
        ap = product(s[rows], rows)
        curv = dot(s[rows], ap)
        alpha = rz[rows] / curv
        bad = ~(curv > 0) | ~torch.isfinite(alpha)  # no progress possible along s: stop this pair
        alpha = torch.where(bad, torch.zeros_like(alpha), alpha)
        d[rows] += alpha.view(-1, 1, 1) * s[rows]
        r[rows] -= alpha.view(-1, 1, 1) * ap
        z_rows = precond(r[rows], rows)
        rz_new = dot(r[rows], z_rows)
        beta = rz_new / rz[rows].clamp_min(1e-300)
        s[rows] = z_rows + beta.view(-1, 1, 1) * s[rows]
        rz[rows] = rz_new
        its[rows.cpu()] += 1
        finished = bad | (rz_new <= (tol ** 2) * rz0[rows])
        done[rows] = finished
    return d, its


def _rows(t: Tensor | None, rows: Tensor) -> Tensor | None:
    return None if t is None else t[rows]


def gauss_newton_path(problem: PathProblem, init: Tensor, config: GaussNewtonConfig = GaussNewtonConfig(), *,
                      progress: Progress | None = None, latent_metric: Tensor | None = None) -> SolveResult:
    """Minimise the energy of each path by Levenberg-Marquardt steps, endpoints fixed.

    Args:
        problem: generator, metric and endpoints (``B`` pairs, solved as one batch; each pair keeps its
            own damping and stops on its own).
        init: starting paths ``(B, N+1, *latent_shape)`` (their endpoints are ignored: the problem's are used).
        config: solver settings.
        progress: told the work of every step (latent evaluations per path, CG products included).
        latent_metric: ``G`` ``(B, D, D)`` at the paths' middle, if already measured.

    Returns:
        The solved paths; ``steps`` counts Gauss-Newton steps per pair, ``converged`` the stopping rule;
        ``rel_change`` and ``grad_norm`` are the last values of the two stopping quantities.
    """
    progress = progress or NoProgress()
    t0 = time.perf_counter()
    evaluated0 = problem.n_points_evaluated
    gen = problem.generator
    b, n1 = init.shape[:2]
    m = n1 - 2
    shape = init.shape[2:]
    x = gen.project(init[:, 1:-1].detach().clone())
    steps = torch.zeros(b, dtype=torch.long)
    converged = torch.zeros(b, dtype=torch.bool)
    trace: list[float] = []
    rel = torch.full((b,), math.inf, dtype=init.dtype)
    if m <= 0:
        stats = PathStats.of(problem.distances_sq(x, grad=False))
        return SolveResult(points=problem.points(x), stats=stats, steps=steps, converged=torch.ones(b, dtype=torch.bool),
                           n_points_evaluated=problem.n_points_evaluated - evaluated0,
                           wall_time=time.perf_counter() - t0, trace=trace,
                           rel_change=torch.zeros(b, dtype=init.dtype), grad_norm=torch.zeros(b, dtype=init.dtype))

    energy, grad = energy_and_gradient(problem, x)
    gfull, gmat, ginv = latent_preconditioner(problem, x, config.preconditioner, latent_metric)
    gnorm = relative_gradient_norm(grad, energy, gfull).cpu()
    lap = laplacian(m, dtype=x.dtype, device=x.device)
    lap_inv = laplacian_inverse(m, dtype=x.dtype, device=x.device)
    flat = lambda t: t.reshape(t.shape[0], m, -1)  # noqa: E731  (P, m, *shape) -> (P, m, D)

    # Scale of H against M = L (x) G, per pair: Rayleigh quotient along the preconditioned gradient.
    probe = kron_apply(lap_inv, flat(-grad), ginv)
    hp = flat(problem.gauss_newton_product(x, probe.view_as(x)))
    scale = (dot(probe, hp) / dot(probe, kron_apply(lap, probe, gmat)).clamp_min(1e-300)).clamp_min(1e-30)
    mu = torch.full((b,), config.damping, dtype=x.dtype, device=x.device)
    nu = torch.full((b,), 2.0, dtype=x.dtype, device=x.device)
    active = torch.ones(b, dtype=torch.bool)

    for _ in range(config.max_steps):
        rows = active.nonzero().flatten()
        if rows.numel() == 0:
            break
        rd = rows.to(x.device)
        xa = x[rd]
        damp = (mu[rd] * scale[rd]).view(-1, 1, 1)

        def product(v: Tensor, sub: Tensor) -> Tensor:
            sel = rd[sub.to(x.device)]
            hv = flat(problem.gauss_newton_product(x[sel], v.view(-1, m, *shape), sel))
            return hv + damp[sub.to(x.device)] * kron_apply(lap, v, _rows(gmat, sel))

        def precond(r: Tensor, sub: Tensor) -> Tensor:
            return kron_apply(lap_inv, r, _rows(ginv, rd[sub.to(x.device)]))

        g = flat(grad[rd])
        d, its = _pcg(product, -g, precond, iters=config.cg_iters, tol=config.cg_tol)
        # model decrease of the damped step: -(g.d)/2 + mu c d^T M d / 2 (CG keeps d^T A d = -g.d)
        pred = 0.5 * (-dot(g, d) + damp.view(-1) * dot(d, kron_apply(lap, d, _rows(gmat, rd))))
        trial = gen.project(xa + d.view_as(xa))
        e_new, g_new = energy_and_gradient(problem, trial, rd)
        gain = (energy[rd] - e_new) / pred.clamp_min(1e-300)
        ok = torch.isfinite(e_new) & (e_new < energy[rd]) & (pred > 0)
        steps[rows] += 1
        progress.update((1 + int(its.max())) * x.shape[1])  # the step and its CG products, per interior point
        for k, i in enumerate(rows.tolist()):
            if ok[k]:
                rel[i] = float(relative_decrease(energy[i:i + 1], e_new[k:k + 1]))
                x[i], energy[i], grad[i] = trial[k], e_new[k], g_new[k]
                rho = float(gain[k])
                mu[i] *= max(1 / 3, 1 - (2 * rho - 1) ** 3)
                nu[i] = 2.0
            else:
                mu[i] *= nu[i]
                nu[i] *= 2
        gnorm[rows] = relative_gradient_norm(grad[rd], energy[rd], gfull[rd]).cpu()
        done = ok.cpu() & (rel[rows] <= config.rtol) & (gnorm[rows] <= config.gtol)
        stuck = (mu[rd] > 1e12).cpu()  # no step helps any more: at a (numerical) minimum
        converged[rows] = done | (stuck & (gnorm[rows] <= config.gtol))
        active[rows] = ~(done | stuck)
        trace.append(float(energy.sum()))
        progress.set_postfix_str(f"energy {trace[-1]:.4g}, {int(active.sum())} active, cg {int(its.max())}, "
                                 f"mu {float(mu[rd].median()):.2g}, |g| {float(gnorm[rows].max()):.2g}", refresh=False)

    with torch.no_grad():
        stats = PathStats.of(problem.distances_sq(x, grad=False))
    return SolveResult(points=problem.points(x), stats=stats, steps=steps, converged=converged,
                       n_points_evaluated=problem.n_points_evaluated - evaluated0,
                       wall_time=time.perf_counter() - t0, trace=trace, rel_change=rel, grad_norm=gnorm,
                       latent_metric=gfull)
