"""Discrete paths between latent codes, and their energy and length under a metric.

A batch of ``B`` paths with ``N`` segments is a tensor ``points: (B, N+1, *latent_shape)`` whose first
and last points are the fixed endpoints. With ``d_i`` the metric distance between frames ``i`` and
``i+1``:

- length ``L = sum_i d_i``
- energy ``E = N * sum_i d_i^2``; ``E >= L^2`` with equality at constant speed, so minimising ``E``
  gives the shortest path *and* constant speed.

The generator and metric run in chunks of at most ``chunk_size`` points. The solvers use
:meth:`PathProblem.energy_backward`, which back-propagates chunk by chunk (each chunk's outside
neighbours recomputed without gradients), so a step holds one chunk's features and graph whatever
``N`` and ``B``, with the same energy and gradient as one unchunked pass. ``distances_sq(grad=True)``
keeps the graph of every point (each chunk checkpointed): fine for small problems and custom losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.autograd.forward_ad as fwad
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from ._check import UserError, check_latents, check_positive_int
from .curves import linear_path, slerp_path
from .generators import Generator
from .metrics import Features, Metric, cat, select

DEFAULT_CHUNK = 64
"""Points per generator + metric call: small enough for 64x64 images and VGG on a laptop."""


INITS = {"linear": linear_path, "slerp": slerp_path}


def baseline_path(generator: Generator, method: str, z0: Tensor, z1: Tensor, n_segments: int) -> Tensor:
    """A ``linear`` or ``slerp`` path between ``z0`` and ``z1`` ``(B, *latent_shape)``, interior on the prior.

    Returns:
        ``(B, N+1, *latent_shape)``, ``N = n_segments``; endpoints exactly ``z0`` and ``z1``.
    """
    if method not in INITS:
        raise UserError(f"unknown baseline {method!r}; choose from: {', '.join(INITS)}")
    p = INITS[method](z0, z1, n_segments)
    return torch.cat([z0.unsqueeze(1), generator.project(p[:, 1:-1]), z1.unsqueeze(1)], 1)


def embed_latents(generator: Generator, metric: Metric, z: Tensor, *, chunk_size: int = DEFAULT_CHUNK,
                  grad: bool = False) -> Features:
    """Generator then metric embedding, in chunks.

    Args:
        z: ``(M, *latent_shape)``.
        grad: keep the graph to ``z`` (each chunk checkpointed when there is more than one).

    Returns:
        Features, each ``(M, ...)``.
    """
    def run(zc: Tensor) -> Features:
        return metric.embed(generator(zc))

    if not grad:
        with torch.no_grad():
            return cat([run(zc) for zc in z.split(chunk_size)])
    if z.shape[0] <= chunk_size:
        return run(z)
    return cat([checkpoint(run, zc, use_reentrant=False) for zc in z.split(chunk_size)])


def images_of(generator: Generator, z: Tensor, *, chunk_size: int = DEFAULT_CHUNK) -> Tensor:
    """Images of latents ``(M, *latent_shape)`` -> ``(M, C, H, W)``, without gradients, in chunks."""
    with torch.no_grad():
        return torch.cat([generator(zc) for zc in z.split(chunk_size)])


def consecutive_distances_sq(metric: Metric, features: Features, n_points: int) -> Tensor:
    """Squared distances between consecutive points of each path.

    Args:
        features: each ``(B * n_points, ...)``, path-major.
        n_points: ``N + 1``.

    Returns:
        ``(B, N)``.
    """
    per_path = tuple(f.reshape(-1, n_points, *f.shape[1:]) for f in features)
    b = per_path[0].shape[0]
    fa = tuple(f[:, :-1].reshape(-1, *f.shape[2:]) for f in per_path)
    fb = tuple(f[:, 1:].reshape(-1, *f.shape[2:]) for f in per_path)
    return metric.compare(fa, fb).view(b, n_points - 1)


def energy_of(d_sq: Tensor) -> Tensor:
    """Discrete energy ``N * sum_i d_i^2`` from squared step distances ``(B, N)`` -> ``(B,)``."""
    return d_sq.shape[-1] * d_sq.sum(-1)


def length_of(d_sq: Tensor) -> Tensor:
    """Length ``sum_i d_i`` from squared step distances ``(B, N)`` -> ``(B,)``."""
    return d_sq.clamp_min(0).sqrt().sum(-1)


class PathProblem:
    """Paths between fixed endpoints under a generator and a metric.

    The endpoints' features are computed once; each evaluation embeds only the interior points.
    For efficiency figures it counts latents sent through generator + metric: ``n_points_evaluated``
    (every forward pass, whatever its mode), ``n_points_backward`` (of those, the ones back-propagated)
    and ``n_points_jvp`` (of those, the ones run with forward-mode tangents).

    Args:
        generator, metric: the model and the metric (both frozen; move them to one device first).
        z0, z1: endpoints ``(B, *latent_shape)``.
        chunk_size: points per generator + metric call.
    """

    def __init__(self, generator: Generator, metric: Metric, z0: Tensor, z1: Tensor, *,
                 chunk_size: int = DEFAULT_CHUNK) -> None:
        self.generator = generator
        self.metric = metric
        self.chunk_size = check_positive_int(chunk_size, "chunk size")
        z0, z1 = check_pair(generator, z0, z1)
        self.z0 = z0.detach()
        self.z1 = z1.detach()
        self.n_points_evaluated = 0
        self.n_points_backward = 0
        self.n_points_jvp = 0
        ends = embed_latents(generator, metric, torch.cat([self.z0, self.z1]), chunk_size=self.chunk_size)
        self.n_points_evaluated += 2 * z0.shape[0]
        b = z0.shape[0]
        self._start = tuple(f[:b] for f in ends)
        self._end = tuple(f[b:] for f in ends)

    @property
    def n_pairs(self) -> int:
        return self.z0.shape[0]

    def distances_sq(self, interior: Tensor, pairs: Tensor | None = None, *, grad: bool = True) -> Tensor:
        """Squared step distances of the paths whose interior points are given.

        Args:
            interior: ``(P, N-1, *latent_shape)``; differentiable if ``grad``.
            pairs: indices ``(P,)`` of the endpoint pairs these paths belong to (default: all ``B``).

        Returns:
            ``(P, N)``.
        """
        p, n_inner = interior.shape[:2]
        start = self._start if pairs is None else tuple(f[pairs] for f in self._start)
        end = self._end if pairs is None else tuple(f[pairs] for f in self._end)
        if n_inner == 0:
            return self.metric.compare(start, end).view(p, 1)
        feats = embed_latents(self.generator, self.metric, interior.reshape(p * n_inner, *interior.shape[2:]),
                              chunk_size=self.chunk_size, grad=grad)
        self.n_points_evaluated += p * n_inner
        per_path = tuple(torch.cat([s.unsqueeze(1), f.reshape(p, n_inner, *f.shape[1:]), e.unsqueeze(1)], 1)
                         for s, f, e in zip(start, feats, end))
        flat = tuple(f.reshape(-1, *f.shape[2:]) for f in per_path)
        return consecutive_distances_sq(self.metric, flat, n_inner + 2)

    def energy_backward(self, x: Tensor, pairs: Tensor | None = None) -> Tensor:
        """Energy of each path, and the gradient of its sum accumulated into the graph of ``x``.

        Same value and gradient as ``energy_of(self.distances_sq(x, pairs)).sum().backward()``, but
        the features and graph of at most ``chunk_size`` points (plus two neighbours, without
        gradient) are held at once, so memory stays bounded for any number of points. Each chunk of
        interior points (a chunk may span paths) is embedded with gradient; its loss is ``N`` times
        the sum of every segment touching one of its points, the features outside the chunk being
        constants; summed over chunks these partial gradients are the exact gradient.

        Args:
            x: interior points ``(P, N-1, *latent_shape)``; gradients reach whatever ``x`` depends on.
            pairs: indices ``(P,)`` of the endpoint pairs these paths belong to (default: all ``B``).

        Returns:
            The energy ``(P,)``, detached.
        """
        p, n_inner = x.shape[:2]
        n = n_inner + 1
        if n_inner == 0:  # nothing to optimise: the energy of the single segment, no gradient
            with torch.no_grad():
                return energy_of(self.distances_sq(x, pairs, grad=False))
        total = p * n_inner
        if total <= self.chunk_size:  # one chunk: the plain pass
            energy = energy_of(self.distances_sq(x, pairs))
            if energy.requires_grad:
                energy.sum().backward()
                self.n_points_backward += total
            return energy.detach()

        pair_ids = torch.arange(p, device=x.device) if pairs is None else pairs.to(x.device)
        xs = x.detach().reshape(total, *x.shape[2:]).requires_grad_(True)
        energy = torch.zeros(p, dtype=x.dtype, device=x.device)

        def run(z: Tensor) -> Features:
            return self.metric.embed(self.generator(z))

        for a in range(0, total, self.chunk_size):
            b = min(a + self.chunk_size, total)
            g = torch.arange(a, b, device=x.device)
            path, pos = g // n_inner, g % n_inner + 1  # full positions 1..N-1 of the chunk's points
            # segments touching a chunk point, as path * N + s (segment s joins positions s and s+1)
            seg = torch.unique(torch.cat([path * n + pos - 1, path * n + pos]))
            seg_path, s = seg // n, seg % n
            touched = torch.unique(path)
            # neighbours in the same path but outside the chunk: recomputed without gradient
            outside = [i for i, ok in ((a - 1, a % n_inner != 0), (b, b % n_inner != 0)) if ok]
            feats = run(xs[a:b])
            parts = [feats]
            if outside:
                with torch.no_grad():
                    parts.append(run(xs.detach()[outside]))
            start = select(self._start, pair_ids[touched])
            end = select(self._end, pair_ids[touched])
            bank = cat(parts + [start, end])
            n_chunk, n_out, n_touched = b - a, len(outside), touched.numel()
            slot = torch.searchsorted(touched, seg_path)  # row of each segment's path in start / end
            # rows in ``bank`` of each segment's left (q = s) and right (q = s + 1) point
            q = torch.stack([s, s + 1])
            flat = seg_path * n_inner + q - 1
            row = torch.where(flat < a, n_chunk, torch.where(flat >= b, n_chunk + n_out - 1, flat - a))
            row = torch.where(q == 0, n_chunk + n_out + slot, row)
            row = torch.where(q == n, n_chunk + n_out + n_touched + slot, row)
            d_sq = self.metric.compare(select(bank, row[0]), select(bank, row[1]))
            self.n_points_evaluated += n_chunk + n_out
            # a segment's value is counted by the chunk holding its left interior end (position 1 for s = 0)
            owner = seg_path * n_inner + s.clamp_min(1) - 1
            mine = (owner >= a) & (owner < b)
            energy.index_add_(0, seg_path[mine], n * d_sq.detach()[mine].to(energy.dtype))
            if d_sq.requires_grad:
                (n * d_sq.sum()).backward()
                self.n_points_backward += n_chunk
        if x.requires_grad and xs.grad is not None:
            x.backward(xs.grad.view_as(x))
        return energy

    def _residuals(self, pair_ids: Tensor, n_inner: int):
        """``features of the interior points -> residuals (p, N, K)`` of the paths ``pair_ids``, endpoints fixed."""
        start, end = select(self._start, pair_ids), select(self._end, pair_ids)
        p = pair_ids.numel()

        def residuals(*inner: Tensor) -> Tensor:  # each (p * n_inner, ...)
            full = tuple(torch.cat([s.unsqueeze(1), f.reshape(p, n_inner, *f.shape[1:]), e.unsqueeze(1)], 1)
                         for s, f, e in zip(start, inner, end))  # (p, N+1, ...)
            fa = tuple(f[:, :-1].reshape(-1, *f.shape[2:]) for f in full)
            fb = tuple(f[:, 1:].reshape(-1, *f.shape[2:]) for f in full)
            r = self.metric.residual(fa, fb)
            return r.view(p, n_inner + 1, -1)
        return residuals

    def _embed_with_tangents(self, z: Tensor, v: Tensor) -> tuple[Features, Features]:
        """Features of ``z`` and their forward-mode derivative along ``v`` (both ``(M, *latent_shape)``).

        The primal features keep whatever graph the caller's grad mode builds; the tangents are detached
        (zeros for a feature that does not depend on ``z``).
        """
        with fwad.dual_level():
            unpacked = [fwad.unpack_dual(f) for f in self.metric.embed(self.generator(fwad.make_dual(z, v)))]
        primal = tuple(u.primal for u in unpacked)
        tangent = tuple(torch.zeros_like(u.primal) if u.tangent is None else u.tangent.detach() for u in unpacked)
        return primal, tangent

    def gauss_newton_product(self, x: Tensor, v: Tensor, pairs: Tensor | None = None) -> Tensor:
        """Products ``H v`` with the Gauss-Newton matrix ``H = 2 N J^T J`` of each path's energy.

        ``J`` is the Jacobian of the residuals (:meth:`Metric.residual` of every segment) in the interior
        points. One pass per chunk: a forward pass with tangents ``v`` (forward-mode AD) gives ``J_e v`` of
        each point's features and keeps the graph; the residual map (cheap, all segments) turns it into
        the cotangent ``J_R^T J_R J_e v``; one backward pass gives ``J_e^T`` of that. Paths are processed
        whole, as many per chunk as fit in ``chunk_size`` points (at least one).

        Shape:
            - x, v: ``(P, N-1, *latent_shape)``
            - output: ``(P, N-1, *latent_shape)``
        """
        p, n_inner = x.shape[:2]
        pair_ids = torch.arange(p, device=x.device) if pairs is None else pairs.to(x.device)
        out = torch.empty_like(x)
        per_chunk = max(1, self.chunk_size // max(n_inner, 1))
        for a in range(0, p, per_chunk):
            b = min(a + per_chunk, p)
            xs = x[a:b].detach().reshape(-1, *x.shape[2:]).requires_grad_(True)
            with torch.enable_grad():
                primal, tangent = self._embed_with_tangents(xs, v[a:b].reshape(xs.shape))
            residuals = self._residuals(pair_ids[a:b], n_inner)
            plain = tuple(f.detach() for f in primal)
            _, jv = torch.func.jvp(residuals, plain, tangent)
            _, pullback = torch.func.vjp(residuals, *plain)
            cot = pullback(jv)
            (grad,) = torch.autograd.grad(primal, xs, cot)
            out[a:b] = 2 * (n_inner + 1) * grad.view(b - a, n_inner, *x.shape[2:])
            m = xs.shape[0]
            self.n_points_evaluated += m
            self.n_points_jvp += m
            self.n_points_backward += m
        return out

    def latent_metric(self, z: Tensor) -> Tensor:
        """The Gauss-Newton latent metric ``G = J^T J`` of one segment's residual at latents ``z``.

        ``J`` is the derivative of the residual between ``f(z)`` and ``f(z + dz)`` in ``dz`` at 0 (for a
        difference metric, its weighted feature Jacobian): one forward pass with tangents per latent
        coordinate (``D`` points per latent, in chunks).

        Shape:
            - z: ``(Q, *latent_shape)``
            - output: ``(Q, D, D)``, ``D = prod(latent_shape)``
        """
        q = z.shape[0]
        dim = z[0].numel()
        eye = torch.eye(dim, dtype=z.dtype, device=z.device)
        out = torch.empty(q, dim, dim, dtype=z.dtype, device=z.device)
        for k in range(q):
            cols = []
            for e in eye.split(self.chunk_size):
                zs = z[k].detach().unsqueeze(0).expand(e.shape[0], *z.shape[1:]).contiguous()
                with torch.no_grad():
                    primal, tangent = self._embed_with_tangents(zs, e.view(zs.shape))
                _, r = torch.func.jvp(lambda *fb: self.metric.residual(primal, fb), primal, tangent)
                cols.append(r)  # (chunk, K): rows are J e_j
                self.n_points_evaluated += zs.shape[0]
                self.n_points_jvp += zs.shape[0]
            jt = torch.cat(cols)  # (D, K) = J^T
            out[k] = jt @ jt.T
        return out

    def points(self, interior: Tensor, pairs: Tensor | None = None) -> Tensor:
        """Full paths ``(P, N+1, *latent_shape)`` from interior points ``(P, N-1, *latent_shape)``."""
        z0 = self.z0 if pairs is None else self.z0[pairs]
        z1 = self.z1 if pairs is None else self.z1[pairs]
        return torch.cat([z0.unsqueeze(1), interior, z1.unsqueeze(1)], 1)


@dataclass
class PathStats:
    """Distances along a batch of paths (no gradients).

    Attributes:
        d_sq: squared step distances ``(B, N)``.
        length: ``(B,)``.
        energy: ``(B,)``.
    """

    d_sq: Tensor
    length: Tensor
    energy: Tensor

    @classmethod
    def of(cls, d_sq: Tensor) -> "PathStats":
        d_sq = d_sq.detach()
        return cls(d_sq=d_sq, length=length_of(d_sq), energy=energy_of(d_sq))


def path_stats(generator: Generator, metric: Metric, points: Tensor, *,
               chunk_size: int = DEFAULT_CHUNK) -> PathStats:
    """Length, energy and step distances of paths ``(B, N+1, *latent_shape)``, without gradients."""
    b, n1 = points.shape[:2]
    feats = embed_latents(generator, metric, points.reshape(b * n1, *points.shape[2:]), chunk_size=chunk_size)
    return PathStats.of(consecutive_distances_sq(metric, feats, n1))


def check_pair(generator: Generator, z0: Tensor, z1: Tensor) -> tuple[Tensor, Tensor]:
    """Validate user endpoints (numpy accepted; shape, batch sizes, dtype, finiteness), on the generator's device.

    Shape:
        - z0, z1: ``(B, *latent_shape)`` or one ``latent_shape`` each
        - output: two ``(B, *latent_shape)`` float tensors
    """
    z0 = check_latents(z0, generator.latent_shape, what="start latent")
    z1 = check_latents(z1, generator.latent_shape, what="end latent")
    if z0.shape[0] != z1.shape[0]:
        raise UserError(f"got {z0.shape[0]} start latents but {z1.shape[0]} end latents; give as many of each")
    dev = generator.device
    return z0.to(dev), z1.to(dev)


def check_endpoints(generator: Generator, z0: Tensor, z1: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`check_pair`, then the endpoints brought onto the generator's prior (a sphere's radius)."""
    z0, z1 = check_pair(generator, z0, z1)
    return generator.endpoint(z0), generator.endpoint(z1)
