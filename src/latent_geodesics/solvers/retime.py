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
from ..paths import DEFAULT_CHUNK, interpolate_points, path_stats, resample_uniform

DEFAULT_DENSITY = 8
"""Sub-steps per segment used to measure speed along the path."""


def retime_path(generator: Generator, metric: Metric, points: Tensor, n_frames: int, *,
                density: int = DEFAULT_DENSITY, chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """Resample paths by arc length under ``metric``.

    The path is taken as piecewise linear between its points, densified ``density`` times, measured,
    and sampled at equal arc-length steps.

    Args:
        points: ``(B, N+1, *latent_shape)``.
        n_frames: frames of the result, endpoints included.

    Returns:
        ``(B, n_frames, *latent_shape)`` with the same endpoints (exactly).
    """
    b, n1 = points.shape[:2]
    fine = torch.linspace(0, n1 - 1, (n1 - 1) * density + 1, dtype=points.dtype, device=points.device)
    dense = generator.project(interpolate_points(points, fine.expand(b, -1)))
    dense[:, 0], dense[:, -1] = points[:, 0], points[:, -1]
    d_sq = path_stats(generator, metric, dense, chunk_size=chunk_size).d_sq
    out = generator.project(interpolate_points(dense, resample_uniform(d_sq, n_frames)))
    out[:, 0], out[:, -1] = points[:, 0], points[:, -1]
    return out
