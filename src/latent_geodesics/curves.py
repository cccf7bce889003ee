"""Points along discrete paths, as pure tensor functions (no model): the straight baselines (linear, slerp),
where a path has covered given fractions of its length, and points between its nodes (piecewise linear, or on a
smooth Catmull-Rom curve): what the baselines, re-timing, subdivision and video timing are made of."""

from __future__ import annotations

import torch
from torch import Tensor

from ._check import UserError, as_tensor, check_positive_int


def _pair(z0: Tensor, z1: Tensor) -> tuple[Tensor, Tensor]:
    """Endpoints as float tensors (numpy arrays accepted) of one shape ``(B, *latent_shape)``."""
    z0, z1 = as_tensor(z0, what="start latents"), as_tensor(z1, what="end latents")
    if z0.shape != z1.shape or z0.dim() < 2:
        raise UserError(f"start latents have shape {tuple(z0.shape)} and end latents {tuple(z1.shape)}; give two "
                        "batches (B, *latent_shape) of the same shape")
    return (z0, z1) if z0.is_floating_point() else (z0.float(), z1.float())


def linear_path(z0: Tensor, z1: Tensor, n_segments: int) -> Tensor:
    """Straight line from ``z0`` to ``z1``.

    Shape:
        - z0, z1: ``(B, *latent_shape)``
        - output: ``(B, N+1, *latent_shape)``, ``N = n_segments``
    """
    n = check_positive_int(n_segments, "number of segments")
    z0, z1 = _pair(z0, z1)
    t = torch.linspace(0, 1, n + 1, dtype=z0.dtype, device=z0.device).view(1, n + 1, *([1] * (z0.dim() - 1)))
    return (1 - t) * z0.unsqueeze(1) + t * z1.unsqueeze(1)


def slerp_path(z0: Tensor, z1: Tensor, n_segments: int) -> Tensor:
    """Spherical interpolation: the angle changes linearly and the norm linearly between the endpoints'.

    Falls back to the straight line where the endpoints are (anti)parallel within float precision.

    Shape:
        - z0, z1: ``(B, *latent_shape)``
        - output: ``(B, N+1, *latent_shape)``
    """
    n = check_positive_int(n_segments, "number of segments")
    z0, z1 = _pair(z0, z1)
    b = z0.shape[0]
    a, c = z0.reshape(b, -1), z1.reshape(b, -1)
    na, nc = a.norm(dim=1, keepdim=True), c.norm(dim=1, keepdim=True)
    ua, uc = a / na.clamp_min(1e-12), c / nc.clamp_min(1e-12)
    cos = (ua * uc).sum(1, keepdim=True).clamp(-1, 1)
    omega = torch.acos(cos)  # (B, 1)
    t = torch.linspace(0, 1, n + 1, dtype=z0.dtype, device=z0.device).view(1, n + 1, 1)
    so = torch.sin(omega).unsqueeze(1)  # (B, 1, 1)
    wa = torch.sin((1 - t) * omega.unsqueeze(1)) / so.clamp_min(1e-12)
    wc = torch.sin(t * omega.unsqueeze(1)) / so.clamp_min(1e-12)
    direction = wa * ua.unsqueeze(1) + wc * uc.unsqueeze(1)  # (B, N+1, D), unit norm
    radius = (1 - t) * na.unsqueeze(1) + t * nc.unsqueeze(1)
    out = direction * radius
    lin = linear_path(a, c, n)
    degenerate = (so.squeeze(-1).squeeze(-1) < 1e-6).view(b, 1, 1)
    out = torch.where(degenerate, lin, out)
    return out.reshape(b, n + 1, *z0.shape[1:])


def resample_uniform(d_sq: Tensor, n_frames: int) -> Tensor:
    """Arc-length positions for re-timing: where to sample each path so that steps are equal.

    Args:
        d_sq: squared step distances ``(B, N)``.
        n_frames: frames wanted (``>= 2``).

    Returns:
        Fractional indices ``(B, n_frames)`` into the ``N+1`` points of each path.
    """
    fractions = torch.linspace(0, 1, n_frames, dtype=d_sq.dtype, device=d_sq.device).expand(d_sq.shape[0], -1)
    return resample_at(d_sq, fractions)


def resample_at(d_sq: Tensor, fractions: Tensor) -> Tensor:
    """Where each path has covered the given fractions of its length (for easing and audio-driven timing).

    Args:
        d_sq: squared step distances ``(B, N)``.
        fractions: ``(B, M)`` in ``[0, 1]``, fractions of each path's length (any order).

    Returns:
        Fractional indices ``(B, M)`` into the ``N+1`` points of each path.
    """
    d = d_sq.clamp_min(0).sqrt()
    cum = torch.cat([torch.zeros_like(d[:, :1]), d.cumsum(1)], 1)  # (B, N+1)
    total = cum[:, -1:].clamp_min(1e-30)
    target = fractions.to(d.dtype).clamp(0, 1) * total
    idx = torch.searchsorted(cum.contiguous(), target.contiguous(), right=True).clamp(1, d.shape[1])
    lo, hi = cum.gather(1, idx - 1), cum.gather(1, idx)
    frac = ((target - lo) / (hi - lo).clamp_min(1e-30)).clamp(0, 1)
    return (idx - 1).to(d.dtype) + frac


def interpolate_points(points: Tensor, positions: Tensor) -> Tensor:
    """Piecewise-linear lookup of fractional positions along paths.

    Shape:
        - points: ``(B, N+1, *latent_shape)``
        - positions: ``(B, M)`` in ``[0, N]``
        - output: ``(B, M, *latent_shape)``
    """
    b, n1 = points.shape[:2]
    flat = points.reshape(b, n1, -1)
    lo = positions.floor().long().clamp(0, n1 - 2)
    frac = (positions - lo.to(positions.dtype)).unsqueeze(-1)
    take = lambda i: flat.gather(1, i.unsqueeze(-1).expand(-1, -1, flat.shape[-1]))  # noqa: E731
    out = (1 - frac) * take(lo) + frac * take(lo + 1)
    return out.reshape(b, positions.shape[1], *points.shape[2:])



def spline_points(points: Tensor, positions: Tensor) -> Tensor:
    """Cubic (Catmull-Rom) lookup of fractional positions along paths: a smooth curve through every point.

    Between points ``i`` and ``i+1`` the curve is the Catmull-Rom cubic of points ``i-1 .. i+2``; beyond the
    ends a ghost point continues the quadratic through the last three points. At half-integer positions it
    gives ``(-p[i-1] + 9 p[i] + 9 p[i+1] - p[i+2]) / 16``. A path of two points is a straight line.

    Shape:
        - points: ``(B, N+1, *latent_shape)``
        - positions: ``(B, M)`` in ``[0, N]``
        - output: ``(B, M, *latent_shape)``
    """
    b, n1 = points.shape[:2]
    if n1 < 3:
        return interpolate_points(points, positions)
    flat = points.reshape(b, n1, -1)
    first = 3 * flat[:, :1] - 3 * flat[:, 1:2] + flat[:, 2:3]
    last = 3 * flat[:, -1:] - 3 * flat[:, -2:-1] + flat[:, -3:-2]
    padded = torch.cat([first, flat, last], 1)  # (B, N+3, D): index i + 1 holds point i
    lo = positions.floor().long().clamp(0, n1 - 2)
    t = (positions - lo.to(positions.dtype)).unsqueeze(-1)
    take = lambda i: padded.gather(1, i.unsqueeze(-1).expand(-1, -1, flat.shape[-1]))  # noqa: E731
    p0, p1, p2, p3 = take(lo), take(lo + 1), take(lo + 2), take(lo + 3)
    t2, t3 = t * t, t * t * t
    out = 0.5 * ((2 * p1) + (-p0 + p2) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t2 + (-p0 + 3 * p1 - 3 * p2 + p3) * t3)
    return out.reshape(b, positions.shape[1], *points.shape[2:])
