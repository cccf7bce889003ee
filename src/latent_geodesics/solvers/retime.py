"""Arc-length re-timing: resample a path's frames so that perceptual speed is constant.

Cheap (no optimisation: one pass of the generator and metric over a densified path) and useful on
its own: a re-timed straight line keeps its route but stops rushing through some parts and
crawling through others. It is also the baseline a geodesic has to beat on length.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..generators import Generator
from ..metrics import Metric
from ..curves import interpolate_points, resample_at, resample_uniform, spline_points
from ..paths import DEFAULT_CHUNK, path_stats

DEFAULT_DENSITY = 8
"""Sub-steps per segment used to measure speed along the path."""


def retime_path(generator: Generator, metric: Metric, points: Tensor, n_frames: int, *,
                density: int = DEFAULT_DENSITY, chunk_size: int | None = DEFAULT_CHUNK) -> Tensor:
    """Resample paths by arc length under ``metric``.

    The path is taken as piecewise linear between its points, densified ``density`` times, measured,
    and sampled at equal arc-length steps.

    Args:
        points: ``(B, N+1, *latent_shape)``.
        n_frames: frames of the result, endpoints included.

    Returns:
        ``(B, n_frames, *latent_shape)`` with the same endpoints (exactly).
    """
    n1 = points.shape[1]
    dense, at = _measured(generator, metric, points, interpolate_points, (n1 - 1) * density + 1, n_frames, chunk_size)
    return _pinned(generator.project(interpolate_points(dense, at)), points)


def frames_between_nodes(generator: Generator, metric: Metric, nodes: Tensor, n_frames: int, *,
                         density: int = 2, chunk_size: int | None = DEFAULT_CHUNK) -> Tensor:
    """Frames of a video along a path solved at fewer nodes, at constant perceptual speed.

    The frames lie on the smooth curve through the nodes (:func:`~latent_geodesics.curves.spline_points`),
    placed at equal arc length under ``metric``, measured on ``density * (n_frames - 1) + 1`` points of the
    curve (one forward pass each, no gradient). So the cost of a long video does not grow the solve.

    Args:
        nodes: ``(B, K, *latent_shape)``, a solved path.
        n_frames: frames of the result, endpoints included.

    Returns:
        ``(B, n_frames, *latent_shape)`` with the nodes' endpoints exactly.
    """
    d_sq = curve_steps(generator, metric, nodes, density * (n_frames - 1) + 1, chunk_size=chunk_size)
    fractions = torch.linspace(0, 1, n_frames, dtype=d_sq.dtype, device=d_sq.device).expand(nodes.shape[0], -1)
    return frames_at_fractions(generator, nodes, d_sq, fractions)


def curve_steps(generator: Generator, metric: Metric, nodes: Tensor, m: int, *,
                chunk_size: int | None = DEFAULT_CHUNK) -> Tensor:
    """Measure the smooth curve through ``nodes`` (:func:`~latent_geodesics.curves.spline_points`) under ``metric``.

    Args:
        nodes: ``(B, K, *latent_shape)``, a solved path.
        m: points of the curve measured (one forward pass each, no gradient), equally spaced in its parameter.

    Returns:
        Squared distances ``(B, m-1)`` between consecutive measured points: the table that
        :func:`frames_at_fractions` places frames by.
    """
    k = nodes.shape[1]
    where = torch.linspace(0, k - 1, m, dtype=nodes.dtype, device=nodes.device).expand(nodes.shape[0], -1)
    dense = _pinned(generator.project(spline_points(nodes, where)), nodes)
    return path_stats(generator, metric, dense, chunk_size=chunk_size).d_sq


def frames_at_fractions(generator: Generator, nodes: Tensor, d_sq: Tensor, fractions: Tensor) -> Tensor:
    """Points of the smooth curve through ``nodes`` at given fractions of its perceptual length.

    Args:
        nodes: ``(B, K, *latent_shape)``.
        d_sq: ``(B, m-1)``, the curve measured by :func:`curve_steps`.
        fractions: ``(B, M)`` in ``[0, 1]`` (an easing curve, an audio envelope's running sum ...).

    Returns:
        ``(B, M, *latent_shape)``; a fraction of exactly 0 (1) gives the first (last) node exactly.
    """
    k, m = nodes.shape[1], d_sq.shape[1] + 1
    at = resample_at(d_sq, fractions.to(d_sq))
    out = generator.project(spline_points(nodes, (at * (k - 1) / (m - 1)).to(nodes.dtype)))
    shape = (*fractions.shape, *([1] * (nodes.dim() - 2)))
    out = torch.where((fractions == 0).view(shape), nodes[:, :1], out)
    return torch.where((fractions == 1).view(shape), nodes[:, -1:], out)


def _measured(generator: Generator, metric: Metric, points: Tensor, lookup, m: int, n_frames: int,
              chunk_size: int) -> tuple[Tensor, Tensor]:
    """``m`` points along ``lookup``'s curve through ``points`` ``(B, N+1, ...)``, measured under ``metric``, and the
    fractional indices ``(B, n_frames)`` into them that are equally far apart."""
    b, n1 = points.shape[:2]
    where = torch.linspace(0, n1 - 1, m, dtype=points.dtype, device=points.device).expand(b, -1)
    dense = _pinned(generator.project(lookup(points, where)), points)
    d_sq = path_stats(generator, metric, dense, chunk_size=chunk_size).d_sq
    return dense, resample_uniform(d_sq, n_frames)


def _pinned(out: Tensor, points: Tensor) -> Tensor:
    """``out`` with the endpoints of ``points``, exactly."""
    out[:, 0], out[:, -1] = points[:, 0], points[:, -1]
    return out
