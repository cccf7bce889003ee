"""What every solver returns, and the small progress protocol solvers report through."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import torch
from torch import Tensor

from ..paths import PathStats


class Progress(Protocol):
    """What a solver needs of a progress bar (``tqdm`` fits)."""

    def update(self, n: int = 1) -> object: ...

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> object: ...


class NoProgress:
    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass


@dataclass
class SolveResult:
    """A solved batch of paths.

    Attributes:
        points: ``(B, N+1, *latent_shape)``, endpoints exactly as given.
        stats: step distances, length and energy of the result under the solver's metric.
        steps: ``(B,)`` optimisation steps (energy + gradient evaluations) spent on each pair.
        converged: ``(B,)`` whether each pair met the stopping rule before the step limit.
        n_points_evaluated: latents sent through the generator, all pairs together.
        wall_time: seconds.
        trace: total energy of the active pairs after each check (a few numbers, not a history of points).
        rel_change: ``(B,)`` relative energy decrease of each pair's last step or check (when the solver
            measures it).
        latent_metric: ``(B, D, D)`` the latent metric ``G`` the solver used (preconditioner, gradient norm),
            so that a finer subdivision level can reuse it.
        grad_norm: ``(B,)`` scale-free gradient norm at the result
            (:func:`~latent_geodesics.solvers.structure.relative_gradient_norm`), when measured.
    """

    points: Tensor
    stats: PathStats
    steps: Tensor
    converged: Tensor
    n_points_evaluated: int
    wall_time: float
    trace: list[float] = field(default_factory=list)
    rel_change: Tensor | None = None
    grad_norm: Tensor | None = None
    latent_metric: Tensor | None = None

    def summary(self) -> dict:
        return {
            "steps": self.steps.tolist(),
            "converged": self.converged.tolist(),
            "rel_change": _finite_list(self.rel_change),
            "grad_norm": _finite_list(self.grad_norm),
            "points_evaluated": self.n_points_evaluated,
            "wall_time_s": round(self.wall_time, 4),
        }


def _finite_list(t: Tensor | None) -> list | None:
    """A tensor as a JSON-safe list: not-measured (inf, NaN) values become ``None``."""
    if t is None:
        return None
    return [v if math.isfinite(v) else None for v in t.tolist()]


def relative_decrease(before: Tensor, after: Tensor) -> Tensor:
    """``(before - after) / before`` per pair, safe at zero energy."""
    return (before - after) / before.abs().clamp_min(torch.finfo(before.dtype).tiny)
