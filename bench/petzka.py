"""Petzka et al.'s path parametrisation, written from the description in DESIGN.md section 4.

A polynomial curve of degree 3 in ``s in [1, 2]``: ``c(s) = a0 + a1 s + a2 s^2 + a3 s^3`` with
``c(1) = z0`` and ``c(2) = z1`` exactly, so only ``a2, a3`` are free. Written as the straight line plus
the free part, whose basis functions vanish at both ends::

    c(s) = z0 + (s - 1)(z1 - z0) + a2 (s - 1)(s - 2) + a3 (s - 1)(s - 2)(s + 3)

(``(s-1)(s-2) = s^2 - 3s + 2`` and ``(s-1)(s-2)(s+3) = s^3 - 7s + 6`` are ``s^2`` and ``s^3`` minus their
linear interpolants through ``s = 1, 2``.) Coefficients start at zero (the straight line), Adam with
lr 1e-3 and betas (0.5, 0.999) as in their code; the energy is the library's, evaluated at the
benchmark's frame count (their code uses 10 points).
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from latent_geodesics.paths import PathProblem, PathStats, energy_of


def polynomial_basis(n_segments: int, *, dtype: torch.dtype, device: torch.device) -> Tensor:
    """Values of the two free basis functions at the interior samples ``s = 1 + i / N``: ``(2, N - 1)``."""
    s = 1 + torch.arange(1, n_segments, dtype=dtype, device=device) / n_segments
    return torch.stack([(s - 1) * (s - 2), (s - 1) * (s - 2) * (s + 3)])


def polynomial_points(z0: Tensor, z1: Tensor, coeffs: Tensor, n_segments: int) -> Tensor:
    """Interior points of the curves.

    Shape:
        - z0, z1: ``(B, *latent_shape)``
        - coeffs: ``(B, 2, *latent_shape)``, the free coefficients ``a2, a3``
        - output: ``(B, N - 1, *latent_shape)``
    """
    b = z0.shape[0]
    basis = polynomial_basis(n_segments, dtype=z0.dtype, device=z0.device)  # (2, N-1)
    t = (torch.arange(1, n_segments, dtype=z0.dtype, device=z0.device) / n_segments).view(1, -1, 1)
    flat0, flat1 = z0.reshape(b, 1, -1), z1.reshape(b, 1, -1)
    line = flat0 + t * (flat1 - flat0)  # (B, N-1, D)
    bend = torch.einsum("kn,bkd->bnd", basis, coeffs.reshape(b, 2, -1))
    return (line + bend).reshape(b, n_segments - 1, *z0.shape[1:])


def petzka_path(problem: PathProblem, n_segments: int, *, max_steps: int, lr: float = 1e-3,
                betas: tuple[float, float] = (0.5, 0.999)) -> dict:
    """Minimise the energy over the polynomial's free coefficients with Adam (all pairs as one batch).

    Returns:
        ``{"points": (B, N+1, ...), "stats": PathStats, "steps": int, "n_points_evaluated", "wall_time"}``;
        the points are those of the best energy seen (Adam's last iterate can be worse).
    """
    gen = problem.generator
    t0 = time.perf_counter()
    evaluated0 = problem.n_points_evaluated
    b = problem.n_pairs
    coeffs = torch.zeros(b, 2, *problem.z0.shape[1:], dtype=problem.z0.dtype, device=problem.z0.device,
                         requires_grad=True)
    opt = torch.optim.Adam([coeffs], lr=lr, betas=betas)
    best = coeffs.detach().clone()
    best_energy = torch.full((b,), float("inf"), dtype=torch.float64)
    steps = 0
    for _ in range(max_steps):
        interior = gen.project(polynomial_points(problem.z0, problem.z1, coeffs, n_segments))
        energy = energy_of(problem.distances_sq(interior))  # (B,)
        opt.zero_grad(set_to_none=True)
        energy.sum().backward()
        e = energy.detach().double().cpu()
        better = e < best_energy
        best_energy = torch.where(better, e, best_energy)
        best[better.to(best.device)] = coeffs.detach()[better.to(best.device)]
        opt.step()
        steps += 1
    interior = gen.project(polynomial_points(problem.z0, problem.z1, best, n_segments))
    with torch.no_grad():
        stats = PathStats.of(problem.distances_sq(interior, grad=False))
    return {"points": problem.points(interior), "stats": stats, "steps": steps,
            "n_points_evaluated": problem.n_points_evaluated - evaluated0, "wall_time": time.perf_counter() - t0}
