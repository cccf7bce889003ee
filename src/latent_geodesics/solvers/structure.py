"""The structure of the path energy that the solvers exploit, and the scale-free convergence measure.

For a linear generator ``g(z) = A z`` and a squared-difference metric the energy ``E = N sum_i |A dz_i|^2``
is quadratic with Hessian ``2 N (L (x) G)``: ``L = tridiag(-1, 2, -1)`` the path Laplacian over the interior
points and ``G = A^T A`` the latent metric. For a real generator ``G`` varies along the path and the
energy is not quadratic, but ``M = 2 N (L (x) G)``, with ``G`` measured once at the path's middle
(:meth:`PathProblem.latent_metric`), still captures most of the ill-conditioning: the path direction
(condition number of ``L`` ~ ``N^2``) and the latent directions (the generator's own anisotropy). The
solvers precondition with it (L-BFGS in coordinates where ``M`` is the identity; Gauss-Newton's CG
and damping), and the convergence measure uses it:

    grad_norm = g^T M^{-1} g / (2 E)

the relative energy decrease that a Newton step on that quadratic model promises (for a quadratic
problem, exactly the relative gap ``(E - E*) / E``). It is free of the metric's and the latent space's
units, so one threshold fits every model and metric.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from ..paths import PathProblem

RIDGE = 1e-4
"""Floor on the eigenvalues of ``G``, relative to their mean: directions the generator ignores stay finite."""


def laplacian(m: int, *, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """The path Laplacian ``tridiag(-1, 2, -1)`` over ``m`` interior points: ``(m, m)``."""
    lap = 2 * torch.eye(m, dtype=dtype, device=device)
    idx = torch.arange(m - 1, device=device)
    lap[idx, idx + 1] = -1
    lap[idx + 1, idx] = -1
    return lap


def laplacian_inverse(m: int, *, dtype: torch.dtype, device=None) -> Tensor:
    """``L^{-1}`` in closed form: ``min(i, j) (m + 1 - max(i, j)) / (m + 1)`` (1-based), ``(m, m)``."""
    i = torch.arange(1, m + 1, dtype=torch.float64, device=device)
    lo, hi = torch.minimum(i[:, None], i[None, :]), torch.maximum(i[:, None], i[None, :])
    return (lo * (m + 1 - hi) / (m + 1)).to(dtype)


def kron_apply(mat: Tensor, x: Tensor, latent: Tensor | None = None) -> Tensor:
    """``(mat (x) latent) x``: ``mat`` ``(m, m)`` along the path axis of ``x`` ``(P, m, D)``, ``latent``
    ``(P, D, D)`` (symmetric; the identity if ``None``) along its latent axis."""
    y = torch.einsum("ij,pjd->pid", mat, x)
    return y if latent is None else torch.einsum("pid,pde->pie", y, latent)


def dot(a: Tensor, b: Tensor) -> Tensor:
    """Per-pair inner product of ``(P, ...)`` tensors -> ``(P,)``."""
    return (a * b).flatten(1).sum(1)


METRIC_SHARE = 0.25
"""Under a deadline, ``G`` is measured exactly only if its ``D`` tangent passes per path take at most this share of
the time left; otherwise it is taken isotropic (:func:`middle_metric`)."""
TRACE_DIRECTIONS = 8
"""Random tangents per path of the isotropic ``G = trace(G) / D * I`` (Hutchinson's estimate of the trace)."""


def middle_metric(problem: PathProblem, x: Tensor) -> Tensor:
    """``G`` ``(P, D, D)`` at each path's middle interior point of ``x`` ``(P, m, *latent_shape)``, with the
    :data:`RIDGE` floor; ``D`` forward passes with tangents per path.

    Under a deadline (:attr:`PathProblem.deadline`), where those passes would take more than :data:`METRIC_SHARE`
    of the time left (a 512-d latent of a 1024 px model: minutes on a CPU), ``G`` is taken as
    ``trace(G) / D * I`` from :data:`TRACE_DIRECTIONS` random tangents: the Laplacian preconditioner at the right
    scale, and a frame rule that measures moves in the right units on average. ``problem.approximations`` says so.
    """
    m = x.shape[1]
    z = x[:, m // 2]
    dim = z[0].numel()
    cost = problem.seconds_per_point("jvp") * dim * z.shape[0]
    if problem.deadline is not None and dim > TRACE_DIRECTIONS and \
            cost > METRIC_SHARE * (problem.deadline - time.perf_counter()):
        trace = problem.latent_metric_trace(z, TRACE_DIRECTIONS).double()
        eye = torch.eye(dim, dtype=torch.float64, device=z.device)
        problem.approximations.add(f"latent metric isotropic (trace from {TRACE_DIRECTIONS} directions): "
                                   f"{dim} tangent passes would take {cost:.3g} s")
        return (trace.view(-1, 1, 1) / dim * eye).to(x.dtype)
    g = problem.latent_metric(z).double()
    floor = RIDGE * g.diagonal(dim1=1, dim2=2).mean(1).clamp_min(1e-300)
    g = g + floor.view(-1, 1, 1) * torch.eye(g.shape[-1], dtype=g.dtype, device=g.device)
    return g.to(x.dtype)


def latent_preconditioner(problem: PathProblem, x: Tensor, kind: str,
                          given: Tensor | None = None) -> tuple[Tensor, Tensor | None, Tensor | None]:
    """``G`` for the convergence measure, and ``G``, ``G^{-1}`` for the preconditioner (``None`` unless ``kronecker``).

    ``given``: a ``G`` ``(P, D, D)`` measured before (e.g. by a coarser subdivision level at the same middle
    point), used instead of measuring again. A pair whose ``G`` is not finite, or zero (a generator flat at the
    middle: no scale), is preconditioned with the identity (the path Laplacian alone), the others with their own
    ``G``: what each pair gets does not depend on its batch mates.
    """
    g = middle_metric(problem, x) if given is None else given
    if kind != "kronecker":
        return g, None, None
    ok = torch.isfinite(g).flatten(1).all(1) & (g.diagonal(dim1=1, dim2=2).sum(1) > 0)
    if not bool(ok.any()):
        return g, None, None
    eye = torch.eye(g.shape[-1], dtype=g.dtype, device=g.device).expand_as(g)
    pre = torch.where(ok.view(-1, 1, 1), g, eye)
    return g, pre, torch.linalg.inv(pre.double()).to(g.dtype)


def relative_gradient_norm(grad: Tensor, energy: Tensor, latent_metric: Tensor) -> Tensor:
    """``g^T M^{-1} g / (2 E)`` with ``M = 2 N (L (x) G)`` (see the module docstring): free of units.

    Shape:
        - grad: ``(P, N-1, *latent_shape)``; energy: ``(P,)``; latent_metric: ``(P, D, D)``
        - output: ``(P,)``
    """
    p, m = grad.shape[:2]
    if m == 0:
        return torch.zeros(p, dtype=energy.dtype, device=energy.device)
    g = grad.reshape(p, m, -1).double()
    ginv = torch.linalg.pinv(latent_metric.double(), hermitian=True)
    mg = kron_apply(laplacian_inverse(m, dtype=g.dtype, device=g.device), g, ginv) / (2 * (m + 1))
    return (dot(g, mg).clamp_min(0) / (2 * energy.double().abs().clamp_min(1e-300))).to(energy.dtype)
