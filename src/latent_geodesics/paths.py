"""Discrete paths between latent codes, and their energy and length under a metric.

A batch of ``B`` paths with ``N`` segments is a tensor ``points: (B, N+1, *latent_shape)`` whose first
and last points are the fixed endpoints. With ``d_i`` the metric distance between frames ``i`` and
``i+1``:

- length ``L = sum_i d_i``
- energy ``E = N * sum_i d_i^2``; ``E >= L^2`` with equality at constant speed, so minimising ``E``
  gives the shortest path *and* constant speed.

The generator and metric run in chunks of at most ``chunk_size`` points (``None``: as many as fit the memory
budget, measured once per model and metric: :mod:`latent_geodesics.budget`). The solvers use
:meth:`PathProblem.energy_backward`, which back-propagates chunk by chunk (each chunk's outside
neighbours recomputed without gradients), so a step holds one chunk's features and graph whatever
``N`` and ``B``, with the same energy and gradient as one unchunked pass. ``distances_sq(grad=True)``
keeps the graph of every point (each chunk checkpointed): fine for small problems and custom losses.
"""

from __future__ import annotations

from dataclasses import dataclass

import time

import torch
import torch.autograd.forward_ad as fwad
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from ._check import UserError, check_latents, check_positive_int
from .budget import chunk_for, footprint, memory_budget
from .curves import linear_path, slerp_path
from .generators import Generator
from .metrics import Features, Metric, cat, select

DEFAULT_CHUNK: int | None = None
"""Points per generator + metric call: ``None`` sizes chunks to the memory budget (:func:`~latent_geodesics.budget.chunk_for`)."""


JACOBIAN_SHARE = 0.25
"""Share of the memory budget that the Jacobian held to form the latent metric may take (:meth:`PathProblem.latent_metric`)."""
SKETCH_MIN = 4096
"""Fewest buckets of the CountSketch of that Jacobian's rows."""


class DeadlineReached(Exception):
    """A solver's next chunk of work would end past its problem's deadline (:attr:`PathProblem.deadline`)."""


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


def embed_latents(generator: Generator, metric: Metric, z: Tensor, *, chunk_size: int | None = DEFAULT_CHUNK,
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

    chunk_size = chunk_for(generator, metric, chunk_size)
    if not grad:
        with torch.no_grad():
            return cat([run(zc) for zc in z.split(chunk_size)])
    if z.shape[0] <= chunk_size:
        return run(z)
    return cat([checkpoint(run, zc, use_reentrant=False) for zc in z.split(chunk_size)])


def images_of(generator: Generator, z: Tensor, *, chunk_size: int | None = DEFAULT_CHUNK) -> Tensor:
    """Images of latents ``(M, *latent_shape)`` -> ``(M, C, H, W)``, without gradients, in chunks."""
    chunk_size = chunk_for(generator, None, chunk_size)
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
        generator: the model (frozen; move it and the metric to one device first).
        metric: the metric (frozen).
        z0: the first endpoints ``(B, *latent_shape)``.
        z1: the last endpoints ``(B, *latent_shape)``.
        chunk_size: points per generator + metric call (``None``: as many as fit the memory budget).

    Attributes:
        deadline: a ``time.perf_counter()`` value (or ``None``): a pass with gradients or tangents whose chunk
            would end past it, going by the seconds per point measured so far, raises :class:`DeadlineReached`
            instead of starting (forward passes without gradients, which measure results, always run).
    """

    def __init__(self, generator: Generator, metric: Metric, z0: Tensor, z1: Tensor, *,
                 chunk_size: int | None = DEFAULT_CHUNK) -> None:
        self.generator = generator
        self.metric = metric
        z0, z1 = check_pair(generator, z0, z1)
        given = chunk_size
        self.chunk_size = check_positive_int(chunk_for(generator, metric, chunk_size), "chunk size")
        self.deadline: float | None = None
        fp = footprint(generator, metric) if given is None else None
        # seconds per point of a pass with gradients ("backward") or with tangents ("jvp"); refined as chunks run
        self._seconds = {"backward": fp.seconds_backward if fp else 0.0,
                         "jvp": 1.5 * fp.seconds_forward if fp else 0.0}
        self.approximations: set[str] = set()  # what was approximated to meet the deadline (report notes)
        self.on_chunk = None  # called with a short text as chunks of a long pass finish (a progress bar's postfix)
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

    def sibling(self, z0: Tensor, z1: Tensor) -> "PathProblem":
        """Another problem on the same generator, metric and chunks, between ``z0`` and ``z1``: it shares this one's
        deadline, its measured seconds per point and its list of approximations."""
        other = PathProblem(self.generator, self.metric, z0, z1, chunk_size=self.chunk_size)
        other.deadline, other._seconds, other.approximations = self.deadline, self._seconds, self.approximations
        other.on_chunk = self.on_chunk
        return other

    def out_of_time(self) -> bool:
        """Whether the deadline has passed."""
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def seconds_per_point(self, kind: str = "backward") -> float:
        """Seconds per point of a pass with gradients (``backward``) or tangents (``jvp``), as measured so far."""
        return self._seconds[kind]

    def _start_chunk(self, kind: str, n: int) -> float:
        """Refuse a chunk of ``n`` points that would end past the deadline; the chunk's start time otherwise."""
        now = time.perf_counter()
        if self.deadline is not None and now + self._seconds[kind] * n > self.deadline:
            raise DeadlineReached(f"{n} points of {kind} would end past the deadline")
        return now

    def _end_chunk(self, kind: str, n: int, started: float) -> None:
        sec = (time.perf_counter() - started) / max(n, 1)
        old = self._seconds[kind]
        self._seconds[kind] = sec if old == 0 else 0.5 * (old + sec)

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
            started = self._start_chunk("backward", total)
            energy = energy_of(self.distances_sq(x, pairs))
            if energy.requires_grad:
                energy.sum().backward()
                self.n_points_backward += total
            self._end_chunk("backward", total, started)
            return energy.detach()

        pair_ids = torch.arange(p, device=x.device) if pairs is None else pairs.to(x.device)
        xs = x.detach().reshape(total, *x.shape[2:]).requires_grad_(True)
        energy = torch.zeros(p, dtype=x.dtype, device=x.device)

        def run(z: Tensor) -> Features:
            return self.metric.embed(self.generator(z))

        for a in range(0, total, self.chunk_size):
            b = min(a + self.chunk_size, total)
            started = self._start_chunk("backward", b - a)
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
                with torch.no_grad():  # one at a time where a chunk is one point: no call exceeds the chunk
                    step = 1 if self.chunk_size == 1 else 2
                    parts += [run(xs.detach()[outside[i:i + step]]) for i in range(0, len(outside), step)]
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
            self._end_chunk("backward", n_chunk, started)
            if self.on_chunk is not None:
                self.on_chunk(f"{b} of {total} points")
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
            started = self._start_chunk("backward", 2 * (b - a) * n_inner)  # tangents and backward
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
            self._end_chunk("backward", 2 * m, started)
        return out

    def latent_metric(self, z: Tensor) -> Tensor:
        """The Gauss-Newton latent metric ``G = J^T J`` of one segment's residual at latents ``z``.

        ``J`` is the derivative of the residual between ``f(z)`` and ``f(z + dz)`` in ``dz`` at 0 (for a
        difference metric, its weighted feature Jacobian): one forward pass with tangents per latent
        coordinate (``D`` points per latent, in chunks).

        ``J^T`` (``D`` rows of ``K`` residual values) is held whole to form ``G``; where it would take more than
        :data:`JACOBIAN_SHARE` of the memory budget (a 512-d latent and VGG at 128 px: ``K`` about 2 million, 4 GB),
        its rows are first compressed to fit by a CountSketch (each residual value added, with a random sign, to
        one of fewer buckets): inner products, hence ``G``, are kept in expectation, to about ``1/sqrt(buckets)``
        of their scale (0.1% at a million buckets).

        Shape:
            - z: ``(Q, *latent_shape)``
            - output: ``(Q, D, D)``, ``D = prod(latent_shape)``
        """
        q = z.shape[0]
        dim = z[0].numel()
        eye = torch.eye(dim, dtype=z.dtype, device=z.device)
        out = torch.empty(q, dim, dim, dtype=z.dtype, device=z.device)
        room = int(JACOBIAN_SHARE * memory_budget(z.device))
        for k in range(q):
            jt = self._tangent_rows(z[k], eye, f"latent metric {k + 1}/{q}: ", max_bytes=room)  # (D, K') ~ J^T
            out[k] = jt @ jt.T
        return out

    def latent_metric_trace(self, z: Tensor, directions: int, *, seed: int = 0) -> Tensor:
        """An estimate of ``trace(G)`` at latents ``z`` ``(Q, *latent_shape)`` -> ``(Q,)`` from ``directions`` random
        tangents (Hutchinson: ``E |J w|^2 = trace(J^T J)`` for ``w ~ N(0, I)``); ``directions`` passes per latent."""
        dim = z[0].numel()
        gen = torch.Generator(device="cpu").manual_seed(seed)
        w = torch.randn(directions, dim, generator=gen, dtype=torch.float64).to(dtype=z.dtype, device=z.device)
        return torch.stack([self._tangent_rows(z[k], w, "latent metric trace: ").square().sum(1).mean()
                            for k in range(z.shape[0])])

    def _tangent_rows(self, z: Tensor, directions: Tensor, label: str, *, max_bytes: int | None = None) -> Tensor:
        """``J w`` of one latent ``z`` for each row ``w`` of ``directions`` ``(k, D)`` -> ``(k, K)``, in chunks; with
        ``max_bytes``, rows CountSketched to ``(k, K')`` where ``(k, K)`` would not fit in it (see :meth:`latent_metric`)."""
        out, done, bucket, sign = None, 0, None, None
        for e in directions.split(self.chunk_size):
            started = self._start_chunk("jvp", e.shape[0])
            zs = z.detach().unsqueeze(0).expand(e.shape[0], *z.shape).contiguous()
            with torch.no_grad():
                primal, tangent = self._embed_with_tangents(zs, e.view(zs.shape))
            _, r = torch.func.jvp(lambda *fb: self.metric.residual(primal, fb), primal, tangent)
            if out is None:  # the rows' width is known now: all of it, or a sketch that fits
                width = r.shape[1]
                if max_bytes is not None and directions.shape[0] * width * r.element_size() > max_bytes:
                    width = max(SKETCH_MIN, max_bytes // (directions.shape[0] * r.element_size()))
                    gen = torch.Generator(device="cpu").manual_seed(0)
                    bucket = torch.randint(width, (r.shape[1],), generator=gen).to(r.device)
                    sign = (torch.randint(2, (r.shape[1],), generator=gen) * 2 - 1).to(r.device, r.dtype)
                    self.approximations.add(f"latent metric from a CountSketch of its Jacobian ({width} of "
                                            f"{r.shape[1]} residual values per direction, to fit the memory budget)")
                out = torch.empty(directions.shape[0], width, dtype=r.dtype, device=r.device)
            if bucket is not None:
                r = torch.zeros(r.shape[0], out.shape[1], dtype=r.dtype, device=r.device).index_add_(1, bucket, r * sign)
            out[done:done + r.shape[0]] = r
            self.n_points_evaluated += zs.shape[0]
            self.n_points_jvp += zs.shape[0]
            self._end_chunk("jvp", e.shape[0], started)
            done += e.shape[0]
            if self.on_chunk is not None:
                self.on_chunk(f"{label}{done} of {directions.shape[0]} directions")
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
               chunk_size: int | None = DEFAULT_CHUNK) -> PathStats:
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
