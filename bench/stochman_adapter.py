"""Run stochman's geodesic solver (``stochman==0.3.0``) on our generator and metric, when it is importable.

stochman is not a dependency of the project: the benchmark uses it only if the environment it runs
in can import it (e.g. its source on ``PYTHONPATH``). Its ``EmbeddedManifold`` computes the energy of a
curve as ``N * sum_i |e(c_{i+1}) - e(c_i)|^2`` from an embedding ``e``; with ``e`` the metric's features
scaled so that squared Euclidean distance equals the metric's squared distance, that is exactly our
discrete energy. The optimiser loop, the curve (``CubicSpline``, straight line at start) and its
settings (Adam, lr 0.1 fixed by stochman, stop when every gradient entry is below 1e-4) are stochman's.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor

from latent_geodesics.metrics import Equalized, Metric, PixelMetric

from .common import BudgetExhausted


def available() -> tuple[bool, str]:
    """Whether stochman can be imported here, and its version or the reason it cannot."""
    try:
        import stochman
    except ImportError as e:
        return False, f"stochman is not importable ({e}); it is not a project dependency"
    return True, f"{getattr(stochman, '__version__', '?')} from {Path(stochman.__file__).parent}"


def _layer_weights(metric: Metric) -> tuple[float, ...] | None:
    """Per-feature weights if ``metric`` is a weighted mean of squared feature differences, else ``None``."""
    base = metric.base if isinstance(metric, Equalized) else metric
    if isinstance(base, PixelMetric):
        return (1.0,)
    weights = getattr(base, "layer_weights", None)
    return tuple(weights) if weights is not None else None


def run_stochman(problem, n_segments: int, *, num_nodes: int, max_iter: int) -> dict:
    """Solve ``problem``'s pairs with ``stochman.geodesic.geodesic_minimizing_energy``; the trace goes to ``problem``.

    Returns:
        ``{"points": (B, N+1, ...), "iterations": int, "stopped": "converged" | "max_iter" | "budget"}``.

    Raises:
        ValueError: the metric is not a weighted mean of squared feature differences, or the latent
            space is not flat vectors (stochman's curves are ``B x N x d``).
    """
    from stochman.curves import CubicSpline
    from stochman.geodesic import geodesic_minimizing_energy
    from stochman.manifold import EmbeddedManifold

    gen, metric = problem.generator, problem.metric
    weights = _layer_weights(metric)
    if weights is None:
        raise ValueError(f"metric {metric.name} is not a mean of squared feature differences")
    if len(gen.latent_shape) != 1:
        raise ValueError("stochman curves need flat latent vectors")

    class FeatureManifold(EmbeddedManifold):
        """Latent space embedded by generator + scaled metric features."""

        def __init__(self) -> None:
            self.last: Tensor | None = None
            self.iterations = 0

        def embed(self, points: Tensor, jacobian: bool = False) -> Tensor:
            b, n1, d = points.shape
            if problem.budget is not None and problem.n_points_evaluated >= problem.budget:
                raise BudgetExhausted
            feats = metric.embed(gen(gen.project(points.reshape(b * n1, d))))
            problem.n_points_evaluated += b * n1
            problem.n_points_backward += b * n1  # stochman back-propagates through every point
            flat = torch.cat([f.flatten(1) * math.sqrt(w / f[0].numel()) for w, f in zip(weights, feats)], 1)
            self.last = flat.view(b, n1, -1)
            return self.last

        def curve_energy(self, curve, reduction="sum", dt=None):
            energy = super().curve_energy(curve, reduction=reduction, dt=dt)
            emb = self.last.detach()
            d_sq = (emb[:, 1:] - emb[:, :-1]).pow(2).sum(-1)  # (B, N)
            problem.record(d_sq.shape[1] * d_sq.sum(1))
            self.iterations += 1
            return energy

        def metric(self, points):  # the abstract Manifold API; unused by the embedded energy
            raise NotImplementedError

    manifold = FeatureManifold()
    curve = CubicSpline(problem.z0.detach().clone(), problem.z1.detach().clone(), num_nodes=num_nodes).to(
        problem.z0.device)
    stopped = "max_iter"
    try:
        if geodesic_minimizing_energy(curve, manifold, max_iter=max_iter, eval_grid=n_segments + 1):
            stopped = "converged"
    except BudgetExhausted:
        stopped = "budget"
    t = torch.linspace(0, 1, n_segments + 1, dtype=problem.z0.dtype, device=problem.z0.device)
    with torch.no_grad():
        points = curve(t).detach()
    if points.dim() == 2:  # stochman drops the batch dimension of a single curve
        points = points.unsqueeze(0)
    points = torch.cat([problem.z0.unsqueeze(1), gen.project(points[:, 1:-1]), problem.z1.unsqueeze(1)], 1)
    return {"points": points, "iterations": manifold.iterations, "stopped": stopped}


def check_embedding(problem) -> float:
    """Largest relative gap between the scaled-feature distance and the metric's own, on the endpoints."""
    gen, metric = problem.generator, problem.metric
    weights = _layer_weights(metric)
    with torch.no_grad():
        fa, fb = metric.embed(gen(problem.z0)), metric.embed(gen(problem.z1))
        ours = sum(((a - b).flatten(1).pow(2).sum(1)) * (w / a[0].numel()) for w, a, b in zip(weights, fa, fb))
        ref = metric.compare(fa, fb)
    return float(((ours - ref).abs() / ref.abs().clamp_min(1e-30)).max())
