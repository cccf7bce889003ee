"""Geodesic and straight-line distance matrices between latents, on the batch machinery.

Each pair ``(i, j)`` with ``i < j`` (all of them, or those joining a point to one of its ``k`` nearest
neighbours in latent space) is one batch job; the geodesic length is the solved path's length and the
straight-line length is the length of its starting path (the line in latent space) under the same metric.
Classical multidimensional scaling (MDS, Torgerson) of both matrices gives a 2-D picture of how the
geodesic distances rearrange the points (Yang et al. 2018 cluster with such distances).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ._check import UserError, atomic_path, byte_size

DISTANCE_FILES = ("distances.npz", "distances.csv", "mds.png")
"""What ``distances`` writes beside the batch files."""
MAX_POINTS = 10_000
"""Most latents ``distances`` takes: it holds two ``(K, K)`` float64 matrices (1.6 GB at 10,000)."""
MAX_PAIRS = 1_000_000
"""Most pairs (paths to solve) ``distances`` takes; beyond, ``--knn`` keeps each point's nearest ones."""
_KNN_ROWS = 1024
"""Rows of the latent distance matrix held at once when finding nearest neighbours."""


def pair_count(k: int, knn: int | None = None) -> int:
    """How many pairs :func:`pair_list` gives at most: all ``K (K - 1) / 2``, or ``K * knn`` with ``--knn``."""
    full = k * (k - 1) // 2
    return full if knn is None else min(full, k * knn)


def check_sizes(k: int, latent_numel: int, knn: int | None, *, what: str,
                memory_bytes: int | None = None) -> None:
    """Before any work: the pairs and matrices of ``k`` latents must fit the limits and this machine's memory.

    Raises:
        UserError: more than :data:`MAX_POINTS` latents, more than :data:`MAX_PAIRS` pairs, or an estimated
            footprint (the two matrices, the pair jobs and their endpoints) over half the physical memory.
    """
    pairs = pair_count(k, knn)
    matrices = 3 * k * k * 8  # geodesic, linear, and one working copy (MDS, graph completion)
    jobs = pairs * (2 * 4 * latent_numel + 2048)  # two float32 endpoints and the job's bookkeeping per pair
    need = matrices + jobs
    hint = "use --knn K to solve only each point's K nearest neighbours" if knn is None else "lower --knn"
    if k > MAX_POINTS:
        raise UserError(f"{what}: {k} latents make two {k} x {k} distance matrices ({byte_size(2 * k * k * 8)}); at "
                        f"most {MAX_POINTS} latents are accepted; split the file")
    if pairs > MAX_PAIRS:
        raise UserError(f"{what}: {k} latents make {pairs} pairs to solve; at most {MAX_PAIRS} are accepted; {hint}")
    if memory_bytes is None:
        memory_bytes = physical_memory()
    if memory_bytes and need > memory_bytes // 2:
        raise UserError(f"{what}: {k} latents and {pairs} pairs need about {byte_size(need)} of memory, more than half "
                        f"of this machine's {byte_size(memory_bytes)}; {hint}, or split the file")


def physical_memory() -> int:
    """Bytes of physical memory (0 where the system does not say)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def pair_list(points: np.ndarray, knn: int | None = None) -> list[tuple[int, int]]:
    """Pairs ``(i, j)``, ``i < j``: all of them, or those where ``j`` is among ``i``'s ``knn`` nearest
    neighbours in latent space (Euclidean) or ``i`` among ``j``'s.

    Args:
        points: ``(K, D)`` latents (flattened).
    """
    k = points.shape[0]
    if knn is None or knn >= k - 1:
        return [(i, j) for i in range(k) for j in range(i + 1, k)]
    x = points.reshape(k, -1).astype(np.float64)
    sq = (x * x).sum(1)
    found: set[tuple[int, int]] = set()
    for a in range(0, k, _KNN_ROWS):  # a block of rows at a time: memory (rows x K), never (K x K)
        d = np.sqrt(np.maximum(sq[a:a + _KNN_ROWS, None] + sq[None, :] - 2 * x[a:a + _KNN_ROWS] @ x.T, 0.0))
        d[np.arange(d.shape[0]), np.arange(a, a + d.shape[0])] = np.inf
        near = np.argsort(d, axis=1, kind="stable")[:, :knn]
        found.update((min(a + r, int(j)), max(a + r, int(j))) for r in range(d.shape[0]) for j in near[r])
    return sorted(found)


def latent_distances(points: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(K, K)`` between latents ``(K, D)``, in float64."""
    x = points.reshape(points.shape[0], -1).astype(np.float64)
    sq = (x * x).sum(1)
    return np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * x @ x.T, 0.0))


def connected(k: int, pairs: Sequence[tuple[int, int]]) -> bool:
    """Whether the graph on ``k`` points with edges ``pairs`` is connected."""
    parent = list(range(k))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    return len({root(i) for i in range(k)}) == 1


def matrix(k: int, pairs: Sequence[tuple[int, int]], values: Sequence[float | None]) -> np.ndarray:
    """Symmetric ``(K, K)`` matrix with ``values`` at ``pairs``, 0 on the diagonal, NaN where unknown."""
    m = np.full((k, k), np.nan)
    np.fill_diagonal(m, 0.0)
    for (i, j), v in zip(pairs, values):
        m[i, j] = m[j, i] = np.nan if v is None else v
    return m


def graph_distances(m: np.ndarray) -> np.ndarray:
    """Shortest-path distances through the known entries of ``m`` (NaN = no edge): Floyd-Warshall, ``O(K^3)``.

    Completes a k-nearest-neighbour matrix for MDS (as Isomap does); infinite where points are not connected.
    """
    d = np.where(np.isnan(m), np.inf, m)
    for k in range(d.shape[0]):
        d = np.minimum(d, d[:, k:k + 1] + d[k:k + 1, :])
    return d


def classical_mds(d: np.ndarray, dims: int = 2) -> np.ndarray:
    """Classical (Torgerson) MDS: coordinates ``(K, dims)`` whose Euclidean distances best match ``d (K, K)``.

    Double-centres ``-d^2 / 2`` and keeps the top eigenvectors scaled by the square roots of their
    (non-negative) eigenvalues.
    """
    k = d.shape[0]
    j = np.eye(k) - 1.0 / k
    b = -0.5 * j @ (d ** 2) @ j
    vals, vecs = np.linalg.eigh((b + b.T) / 2)
    order = np.argsort(vals)[::-1][:dims]
    coords = vecs[:, order] * np.sqrt(np.maximum(vals[order], 0.0))
    if coords.shape[1] < dims:
        coords = np.pad(coords, ((0, 0), (0, dims - coords.shape[1])))
    return coords


def align(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``x (K, 2)`` rotated/reflected and scaled onto ``reference`` (orthogonal Procrustes), for side-by-side plots."""
    xc, rc = x - x.mean(0), reference - reference.mean(0)
    u, s, vt = np.linalg.svd(xc.T @ rc)
    r = u @ vt
    scale = s.sum() / max((xc ** 2).sum(), 1e-300)
    return xc @ r * scale + reference.mean(0)


def write_mds_plot(path: str | os.PathLike, embeddings: Mapping[str, np.ndarray], *, title: str,
                   labels: Sequence[str] | None = None) -> Path:
    """One panel per embedding ``(K, 2)``, points numbered when there are at most 60; written atomically."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.2 * len(embeddings), 4.4), dpi=110, layout="constrained")
    axes = fig.subplots(1, len(embeddings), squeeze=False)[0]
    for ax, (name, xy) in zip(axes, embeddings.items()):
        ax.scatter(xy[:, 0], xy[:, 1], s=18, color="C0")
        if labels is not None and len(labels) <= 60:
            for (x, y), text in zip(xy, labels):
                ax.annotate(text, (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
        ax.set_title(name, fontsize=11)
        ax.set_aspect("equal", adjustable="datalim")
        ax.grid(True, alpha=0.3)
    fig.suptitle(title, fontsize=11)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)


def same_points(points: np.ndarray, pairs: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The pairs whose two latents are equal (a repeated point): their distance is 0, nothing to solve."""
    return [(i, j) for i, j in pairs if np.array_equal(points[i], points[j])]


def write_distance_files(stage: Path, k: int, pairs: Sequence[tuple[int, int]], records: Sequence[Mapping], *,
                         mds: bool, metric: str, same: Sequence[tuple[int, int]] = ()) -> dict:
    """``distances.npz`` (``geodesic``, ``linear`` ``(K, K)``, NaN where not solved; ``pairs (P, 2)``),
    ``distances.csv`` and, with ``mds``, ``mds.png``; returns what the report records about them.

    ``records`` are the solved pairs' manifest records, one per pair of ``pairs`` that is not in ``same``
    (pairs of equal latents, distance 0 without a path), in order.
    """
    from .pathfile import write_npz

    same_set = set(same)
    solved = iter(records)
    geo: list[float | None] = []
    lin: list[float | None] = []
    for pair in pairs:
        if pair in same_set:
            geo.append(0.0)
            lin.append(0.0)
            continue
        r = next(solved)
        ok = r["status"] == "done"
        geo.append((r.get("stats") or {}).get("length") if ok else None)
        lin.append((r.get("stats") or {}).get("start_length") if ok else None)
    g, s = matrix(k, pairs, geo), matrix(k, pairs, lin)
    write_npz(stage / "distances.npz", geodesic=g, linear=s, pairs=np.array(pairs, dtype=np.int64).reshape(-1, 2),
              metric=np.array(metric))
    rows = ["i,j,geodesic,linear,ratio"]
    for (i, j), a, b in zip(pairs, geo, lin):
        ratio = a / b if a is not None and b else None
        rows.append(",".join([str(i), str(j)] + ["" if v is None else f"{v:.6g}" for v in (a, b, ratio)]))
    (stage / "distances.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    info: dict = {"points": k, "pairs": len(pairs), "solved": sum(v is not None for v in geo) - len(same_set),
                  "same_points": [list(p) for p in same], "mds": None}
    if mds:
        full = len(pairs) == k * (k - 1) // 2
        gd, sd = (g, s) if full else (graph_distances(g), graph_distances(s))
        if not (np.isfinite(gd).all() and np.isfinite(sd).all()):
            failed = sum(v is None for v in geo)
            info["mds"] = (f"skipped: {failed} pair(s) failed (see summary.csv; a rerun tries them again)" if failed
                           else "skipped: the neighbour graph is not connected; raise --knn")
            return info
        geo_xy = classical_mds(gd)
        lin_xy = align(classical_mds(sd), geo_xy)
        how = "" if full else " (k-nearest-neighbour graph distances)"
        write_mds_plot(stage / "mds.png", {f"geodesic ({metric}){how}": geo_xy, f"straight line ({metric}){how}": lin_xy},
                       title=f"Classical MDS of {k} latents", labels=[str(i) for i in range(k)])
        info["mds"] = "mds.png" + how
    return info


def check_points(points: np.ndarray, what: str) -> np.ndarray:
    """At least two latents ``(K, *latent_shape)``."""
    if points.ndim < 2 or points.shape[0] < 2:
        raise UserError(f"{what}: need at least two latents (an array (K, *latent_shape), K >= 2), got shape "
                        f"{tuple(points.shape)}")
    return points
