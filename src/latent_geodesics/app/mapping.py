"""The explore page's map: every pair of samples solved as one batch, then classical MDS of the geodesic
lengths beside classical MDS of the straight-line lengths (the machinery of :mod:`latent_geodesics.distances`)."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import Tensor

from .._check import UserError
from ..distances import align, classical_mds, matrix, pair_list, same_points
from ..generators import Generator
from ..metrics import Metric, computing_in, solving_precision
from ..paths import DEFAULT_CHUNK, PathProblem, baseline_path, path_stats
from ..solvers import Progress, SubdivideConfig, stops_on_frames, subdivide_path


def map_latents(generator: Generator, metric: Metric, z: Tensor, *, nodes: int = 5,
                subdivide: SubdivideConfig = SubdivideConfig(), chunk_size: int | None = DEFAULT_CHUNK,
                time_limit: float | None = None, progress: Progress | None = None, stage=None,
                precision: str = "auto") -> dict:
    """Geodesic and straight-line lengths between all pairs of ``z`` ``(K, *latent_shape)`` and 2-D maps of both.

    Each pair's path has ``nodes`` points (endpoints included); equal latents are 0 apart and not solved. The
    straight-line map is rotated and scaled onto the geodesic one (:func:`~latent_geodesics.distances.align`).
    ``stage(text, total)``, where given, is told what runs next (the explore worker's progress line).
    ``precision``: the metric's networks while solving (``--precision``); the lengths are measured in float32.

    Returns:
        ``geodesic``, ``linear``: ``(K, 2)`` coordinates as lists; ``geodesic_lengths``, ``linear_lengths``:
        ``(K, K)`` lists; ``pairs``; ``median_ratio`` (geodesic over straight-line length, or ``None``).
    """
    k = z.shape[0]
    flat = z.detach().cpu().reshape(k, -1).numpy()
    pairs = pair_list(flat)
    same = set(same_points(flat, pairs))
    todo = [p for p in pairs if p not in same]
    geo = {p: 0.0 for p in same}
    lin = dict(geo)
    if todo:
        za = z[[i for i, _ in todo]].to(generator.device)  # (P, *latent_shape)
        zb = z[[j for _, j in todo]].to(generator.device)
        n = nodes - 1
        if stage is not None:
            stage(f"map: straight lines of {len(todo)} pairs", 0)
        with torch.no_grad():
            straight = path_stats(generator, metric, baseline_path(generator, "linear", za, zb, n),
                                  chunk_size=chunk_size)
        if stage is not None:
            stage(f"map: geodesics of {len(todo)} pairs", subdivide.max_work(n))
        deadline = None if time_limit is None else time.perf_counter() + time_limit
        dtype = solving_precision(metric, precision, za.device, frame_rule=stops_on_frames(subdivide.level))
        with computing_in(metric, dtype):
            result = subdivide_path(PathProblem(generator, metric, za, zb, chunk_size=chunk_size), n, subdivide,
                                    progress=progress, deadline=deadline)
        lengths = result.stats.length if dtype == torch.float32 else \
            path_stats(generator, metric, result.points, chunk_size=chunk_size).length
        geo.update({p: float(v) for p, v in zip(todo, lengths)})
        lin.update({p: float(v) for p, v in zip(todo, straight.length)})
    if not all(np.isfinite(v) for v in (*geo.values(), *lin.values())):
        raise UserError("the map's lengths are NaN or inf: the model or the metric gave NaN for some samples; try "
                        "another metric or other samples")
    g = matrix(k, pairs, [geo[p] for p in pairs])
    d = matrix(k, pairs, [lin[p] for p in pairs])
    g_xy = classical_mds(g)
    d_xy = align(classical_mds(d), g_xy)
    ratios = [geo[p] / lin[p] for p in todo if lin[p] > 0]
    return {"geodesic": g_xy.round(6).tolist(), "linear": d_xy.round(6).tolist(),
            "geodesic_lengths": np.round(g, 6).tolist(), "linear_lengths": np.round(d, 6).tolist(),
            "pairs": len(pairs), "median_ratio": float(np.median(ratios)) if ratios else None}
