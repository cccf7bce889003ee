"""Problems with known geodesics, shared by the solver tests (the generators are fixtures in conftest)."""

from __future__ import annotations

import torch

from latent_geodesics.paths import linear_path

WARPED_Z0 = torch.tensor([[-1.0, -1.5], [0.5, 1.0]])
WARPED_Z1 = torch.tensor([[1.0, 1.5], [-0.5, -1.0]])
"""Two endpoint pairs for ``WarpedNet`` (conftest), whose pixel geodesic is :func:`warped_truth`."""


def warped_truth(z0: torch.Tensor, z1: torch.Tensor, n: int) -> torch.Tensor:
    """The constant-speed pixel geodesic of ``WarpedNet``, straight in ``(u, exp(v))``: ``(B, n+1, 2)``."""
    t = torch.linspace(0, 1, n + 1).view(1, -1)
    u = z0[:, :1] + t * (z1[:, :1] - z0[:, :1])
    w = (1 - t) * torch.exp(z0[:, 1:]) + t * torch.exp(z1[:, 1:])
    return torch.stack([u, torch.log(w)], -1)


def bent_line(*, seed: int = 3, pairs: int = 2, dim: int = 4, n: int = 6, bend: float = 0.3):
    """Seeded endpoints ``(pairs, dim)`` and a straight line between them with its interior pushed off it.

    For a linear generator under the pixel metric the geodesic is the straight line ``linear_path(z0, z1, n)``.
    """
    g = torch.Generator().manual_seed(seed)
    z0, z1 = torch.randn(pairs, dim, generator=g), torch.randn(pairs, dim, generator=g)
    bent = linear_path(z0, z1, n)
    bent[:, 1:-1] += bend * torch.randn(pairs, n - 1, dim, generator=g)
    return z0, z1, bent
