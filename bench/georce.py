"""GEORCE (Rygaard and Hauberg 2025, arXiv 2505.05961) as a peer of the library's solvers.

GEORCE treats the discrete Riemannian energy ``sum_t u_t^T G(z_t) u_t`` (``u_t = z_{t+1} - z_t``, the metric
at each segment's left end) as a control problem. Each iteration freezes ``G`` at the current points,
linearises how ``G`` changes with the points (``g_t = d/dz_t u_t^T G(z_t) u_t`` with ``u`` held fixed),
and solves the resulting problem in closed form under the constraint ``sum_t u_t = z_T - z_0``::

    mu_T = -(sum_t G_t^{-1})^{-1} (sum_{t<T-1} G_t^{-1} sum_{s>t} g_s + 2 (z_T - z_0))
    mu_t = mu_T + sum_{s>t} g_s,        u_hat_t = -G_t^{-1} mu_t / 2

then blends ``u <- tau u_hat + (1 - tau) u`` with a backtracking line search on ``tau``.

Adapted to this library:

- ``G(z) = J^T J``, the Gauss-Newton metric of the path energy's residual
  (:meth:`PathProblem.latent_metric`): ``u^T G u`` is the second-order model of the chord energy
  ``d^2(z, z + u)`` that every solver here minimises. It costs ``D`` forward passes with tangents per point
  per iteration (``D`` = latent size), which is GEORCE's price on a pullback metric.
- ``g_t`` is computed exactly: a forward pass with tangent ``u_t`` and a backward pass through it.
- The line search accepts the first ``tau`` in ``1, 1/2, 1/4, ...`` that lowers the chord energy (one forward
  pass per point per trial), instead of GEORCE's own energy, which would need ``G`` at every trial point.
- ``G`` gets the solvers' ridge (:data:`latent_geodesics.solvers.structure.RIDGE`) so that directions the
  generator ignores stay invertible.

What it finds: GEORCE's energy prices each step at its left end only, and its discrete minimiser exploits
that with few points: a long step out of a region where ``G`` is small costs little. On a toy with a known
geodesic (``tests/test_georce.py``) and on ``zoo:faces64`` it lowers its own energy below the true
geodesic's while the chord energy rises (BENCHMARKS.md, ``solvers``).
"""

from __future__ import annotations

import torch
import torch.autograd.forward_ad as fwad
from torch import Tensor

from latent_geodesics.paths import PathProblem, energy_of, linear_path
from latent_geodesics.solvers.structure import RIDGE

LINE_SEARCH_TRIALS = 10


def metric_derivative(problem: PathProblem, z: Tensor, u: Tensor) -> Tensor:
    """``g = d/dz u^T G(z) u`` with ``u`` held fixed, for points ``z`` and directions ``u`` ``(M, D)``."""
    x = z.detach().clone().requires_grad_(True)
    with torch.enable_grad(), fwad.dual_level():
        feats = problem.metric.embed(problem.generator(fwad.make_dual(x, u.detach())))
        unpacked = [fwad.unpack_dual(f) for f in feats]
        primal = tuple(p.primal.detach() for p in unpacked)
        tangent = tuple(torch.zeros_like(p.primal) if p.tangent is None else p.tangent for p in unpacked)
    # the residual is linear in its second argument's change: J u is the residual's JVP along the tangents
    _, ju = torch.func.jvp(lambda *fb: problem.metric.residual(primal, fb), primal, tangent)
    (grad,) = torch.autograd.grad(ju.pow(2).sum(), x)
    problem.n_points_evaluated += z.shape[0]
    problem.n_points_jvp += z.shape[0]
    problem.n_points_backward += z.shape[0]
    return grad


def _with_ridge(g: Tensor) -> Tensor:
    floor = RIDGE * g.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-300)
    return g + floor[..., None, None] * torch.eye(g.shape[-1], dtype=g.dtype, device=g.device)


def georce_update(gmat: Tensor, gvec: Tensor, diff: Tensor) -> Tensor:
    """GEORCE's closed-form controls ``u_hat`` ``(B, T, D)``.

    Args:
        gmat: ``G`` at the left end of each segment, ``(B, T, D, D)`` (positive definite).
        gvec: ``g`` of the interior points ``z_1 .. z_{T-1}``, ``(B, T-1, D)``.
        diff: ``z_T - z_0``, ``(B, D)``.
    """
    ginv = torch.linalg.inv(gmat.double())
    g = gvec.double()
    tail = g.flip(1).cumsum(1).flip(1)  # tail[k] = sum_{s >= k} g[s]: the g of points after segment k
    rhs = torch.einsum("btij,btj->bi", ginv[:, :-1], tail) + 2 * diff.double()
    mu_t = -torch.linalg.solve(ginv.sum(1), rhs)
    mu = torch.cat([mu_t.unsqueeze(1) + tail, mu_t.unsqueeze(1)], 1)
    return (-0.5 * torch.einsum("btij,btj->bti", ginv, mu)).to(gvec.dtype)


def riemannian_energy(problem: PathProblem, points: Tensor) -> Tensor:
    """GEORCE's energy ``sum_t u_t^T G(z_t) u_t`` of paths ``(B, T+1, D)``: ``(B,)``; one pass with tangents per point
    (``u^T G u = |J u|^2``)."""
    b, t1 = points.shape[:2]
    shape = problem.z0.shape[1:]
    left = points[:, :-1].reshape(-1, *shape)
    u = (points[:, 1:] - points[:, :-1]).reshape(left.shape)
    with torch.no_grad():
        primal, tangent = problem._embed_with_tangents(left, u)
        _, ju = torch.func.jvp(lambda *fb: problem.metric.residual(primal, fb), primal, tangent)
    problem.n_points_evaluated += left.shape[0]
    problem.n_points_jvp += left.shape[0]
    return ju.pow(2).flatten(1).sum(1).view(b, t1 - 1).sum(1)


def georce_path(problem: PathProblem, n_segments: int, *, max_iter: int) -> dict:
    """GEORCE from the straight line, all pairs as one batch (each pair has its own line search, on GEORCE's
    own energy); after each iteration the chord energy of the paths is evaluated (what the suite measures).

    Returns:
        ``{"points": (B, N+1, ...), "riemannian_energy": (B,), "iterations": int}``.
    """
    gen = problem.generator
    b = problem.n_pairs
    shape = problem.z0.shape[1:]
    points = linear_path(problem.z0, problem.z1, n_segments).reshape(b, n_segments + 1, -1)
    diff = points[:, -1] - points[:, 0]
    energy = riemannian_energy(problem, points).cpu()
    it = 0

    def full(u: Tensor) -> Tensor:
        inner = gen.project((points[:, :1] + u.cumsum(1))[:, :-1].reshape(b, -1, *shape))
        return torch.cat([points[:, :1], inner.reshape(b, n_segments - 1, -1), points[:, -1:]], 1)

    for it in range(1, max_iter + 1):
        u = points[:, 1:] - points[:, :-1]
        left = points[:, :-1].reshape(-1, *shape)  # (B*T, ...)
        gmat = _with_ridge(problem.latent_metric(left).double()).view(b, n_segments, u.shape[-1], -1)
        gvec = metric_derivative(problem, points[:, 1:-1].reshape(-1, *shape),
                                 u[:, 1:].reshape(-1, *shape)).reshape(b, n_segments - 1, -1)
        u_hat = georce_update(gmat, gvec, diff)
        tau = torch.ones(b, 1, 1, dtype=u.dtype, device=u.device)
        accepted = torch.zeros(b, dtype=torch.bool)
        best = points
        for _ in range(LINE_SEARCH_TRIALS):
            trial = full(tau * u_hat + (1 - tau) * u)
            e = riemannian_energy(problem, trial).cpu()
            newly = (e < energy) & ~accepted
            energy = torch.where(newly, e, energy)
            best = torch.where(newly.view(b, 1, 1).to(u.device), trial, best)
            accepted |= newly
            if bool(accepted.all()):
                break
            tau = tau / 2
        points = best
        with torch.no_grad():  # the suite's measure (recorded by a counting problem)
            problem.distances_sq(points[:, 1:-1].reshape(b, -1, *shape), grad=False)
        if not bool(accepted.any()):  # no pair improved at any step length: GEORCE has stalled
            break
    return {"points": points.reshape(b, n_segments + 1, *shape), "riemannian_energy": energy, "iterations": it}
