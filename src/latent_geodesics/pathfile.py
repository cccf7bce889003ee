"""The path file: one type that writes and reads the ``.npz`` of ``interpolate`` (``path.npz``), of a JOBS line
(``paths/NAME.npz``, the same layout) and of ``compare`` (``paths.npz``, several methods).

Arrays of a single-path file: ``points`` ``(B, N+1, *latent_shape)``; ``z0``, ``z1`` ``(B, *latent_shape)``;
``metric``, ``model`` (0-d str); ``legs`` (0-d int, a path through waypoints: its ``N`` steps are ``legs``
legs of equal length); ``discriminator`` (0-d str, when one was given); ``nodes`` ``(L, K, *latent_shape)`` (a video
in seconds: ``points`` are its frames, ``nodes`` each leg as the solver left it). A ``compare`` file has ``methods``
``(M,)`` str and ``points_<k>`` per method instead of ``points``, ``metrics`` ``(M,)`` (what each method was
solved under, ``""`` for none) and ``seeds`` ``(B, 2)`` when the pairs were seeded. ``metric_options`` (0-d str, JSON
``{metric: {option: value}}``) holds the options each metric was built with, so ``evaluate`` measures as the solver
did (files written before it was recorded: the defaults).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._check import UserError, atomic_path, read_arrays
from .limits import SPACES

WRITTEN_BY = "give the path.npz that `latent-geodesics interpolate` wrote or the paths.npz of `compare`"
SINGLE = "path"
"""The name of the one path set of a single-path file."""


@dataclass
class PathFile:
    """Path sets by name (``(B, N+1, *latent_shape)`` float32 each, between the same endpoints) and what made them.

    Attributes:
        sets: ``{"path": points}`` for a single-path file, else one entry per ``compare`` method, in order.
        model, metric: the model and the metric the paths were solved (or are measured) under.
        legs: a single path through waypoints has ``legs`` legs (1: a plain path).
        discriminator: the discriminator given with ``--discriminator``, if any.
        solved_under: per ``compare`` method, the metric it was solved under (``None``: linear, slerp).
        seeds: ``(B, 2)`` seeds of the endpoint pairs, when they were seeded.
        nodes: a video in seconds (:mod:`latent_geodesics.video`): each leg's solved points ``(L, K, *latent_shape)``,
            its nodes and the midpoints solved between them (its frames are the points, placed along them).
        metric_options: ``{metric name: build options}`` of the metrics the paths were solved and measured with
            (``None``: not recorded).
        style: a StyleGAN-class model's ``{"space", "truncation", "truncation_cutoff", "class"}`` (the points are in
            that space), written as the 0-d arrays ``space``, ``truncation`` and, when set, ``truncation_cutoff`` and
            ``class``; ``None`` for other models.
    """

    sets: dict[str, np.ndarray]
    model: str | None = None
    metric: str | None = None
    legs: int = 1
    discriminator: str | None = None
    solved_under: dict[str, str | None] = field(default_factory=dict)
    seeds: np.ndarray | None = None
    nodes: np.ndarray | None = None
    metric_options: dict[str, dict] | None = None
    style: dict | None = None

    @property
    def is_single(self) -> bool:
        return list(self.sets) == [SINGLE]

    @property
    def points(self) -> np.ndarray:
        """The points of a single-path file."""
        return self.sets[SINGLE]

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays written to the ``.npz``."""
        first = next(iter(self.sets.values()))
        if self.is_single:
            out = {"points": first}
        else:
            names = list(self.sets)
            out = {"methods": np.array(names), **{f"points_{k}": self.sets[m] for k, m in enumerate(names)},
                   "metrics": np.array([self.solved_under.get(m) or "" for m in names])}
        out.update(z0=first[:, 0], z1=first[:, -1], metric=np.array(self.metric or ""),
                   model=np.array(self.model or ""))
        if self.legs > 1:
            out["legs"] = np.array(self.legs)
        if self.discriminator is not None:
            out["discriminator"] = np.array(str(self.discriminator))
        if self.seeds is not None:
            out["seeds"] = np.asarray(self.seeds, dtype=np.int64).reshape(-1, 2)
        if self.nodes is not None:
            out["nodes"] = self.nodes
        if self.metric_options is not None:
            out["metric_options"] = np.array(json.dumps(self.metric_options, sort_keys=True))
        if self.style is not None:
            out["space"] = np.array(self.style["space"])
            out["truncation"] = np.array(float(self.style["truncation"]))
            for key in ("truncation_cutoff", "class"):
                if self.style.get(key) is not None:
                    out[key] = np.array(int(self.style[key]))
        return out

    def write(self, path: str | os.PathLike) -> Path:
        """Write the file, atomically."""
        return write_npz(path, **self.arrays())

    def leg_sets(self) -> dict[str, np.ndarray]:
        """The path sets with a path through waypoints split back into its legs, one per row (so that each leg
        can be compared with the straight line between its own waypoints)."""
        if self.legs == 1:
            return dict(self.sets)
        points, n = self.points, (self.points.shape[1] - 1) // self.legs
        return {SINGLE: np.stack([points[0, i * n: (i + 1) * n + 1] for i in range(self.legs)])}

    @classmethod
    def single(cls, points: np.ndarray, *, model: str, metric: str, legs: int = 1,
               discriminator: str | None = None, nodes: np.ndarray | None = None,
               metric_options: Mapping[str, object] | None = None, style: dict | None = None) -> "PathFile":
        """The file of ``interpolate`` or a JOBS line: ``points`` ``(B, N+1, *latent_shape)``; ``metric_options``:
        the options ``metric`` (its base metric, if realism-weighted) was built with; ``style``: see the class."""
        options = None if metric_options is None else {metric.split("+realism")[0]: dict(metric_options)}
        return cls({SINGLE: points}, model=model, metric=metric, legs=legs, discriminator=discriminator, nodes=nodes,
                   metric_options=options, style=style)

    @classmethod
    def methods(cls, paths: Mapping[str, np.ndarray], solved_under: Mapping[str, str | None], *, reference: str,
                model: str, seeds: Sequence[tuple[int, int]] | None = None,
                discriminator: str | None = None, metric_options: Mapping[str, Mapping] | None = None,
                style: dict | None = None) -> "PathFile":
        """The file of ``compare``: every method's paths (each with its own frame count), measured by default
        under the ``reference`` metric; ``metric_options``: each metric's build options, by name."""
        seeded = seeds is not None and all(a is not None for pair in seeds for a in pair)
        options = None if metric_options is None else {k: dict(v) for k, v in metric_options.items()}
        return cls(dict(paths), model=model, metric=reference, discriminator=discriminator,
                   solved_under=dict(solved_under), seeds=np.array(seeds, dtype=np.int64) if seeded else None,
                   metric_options=options, style=style)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "PathFile":
        """Read and check a path file.

        Raises:
            UserError: a missing or unreadable file, a single array, missing or malformed points, legs that do not
                fit, a method listed twice.
        """
        path = Path(path)
        if not path.is_file() and not path.is_dir():
            raise UserError(f"path file {path} does not exist; {WRITTEN_BY}")
        arrays = read_arrays(path, what="path", hint=WRITTEN_BY)
        if "" in arrays:
            raise UserError(f"{path} is a single array, not an .npz archive; {WRITTEN_BY}")
        names = {key: str(arrays[key].item()) or None if key in arrays and arrays[key].ndim == 0 else None
                 for key in ("model", "metric", "discriminator")}
        names["metric_options"] = _metric_options(arrays.get("metric_options"), path)
        names["style"] = _style(arrays, path)
        if "methods" in arrays:
            methods = [str(m) for m in arrays["methods"].reshape(-1)]
            missing = [f"points_{i}" for i in range(len(methods)) if f"points_{i}" not in arrays]
            if not methods or missing:
                raise UserError(f"{path} lists methods {methods} but has no {missing[0] if missing else 'paths'!r}"
                                f" array; {WRITTEN_BY}")
            if len(set(methods)) != len(methods):
                raise UserError(f"{path} lists a method twice ({methods}); {WRITTEN_BY}")
            under = [str(m) or None for m in arrays["metrics"].reshape(-1)] if "metrics" in arrays else []
            return cls({m: _checked_points(arrays[f"points_{i}"], path, f"points_{i}") for i, m in enumerate(methods)},
                       solved_under=dict(zip(methods, under)), seeds=arrays.get("seeds"), **names)
        if "points" not in arrays:
            raise UserError(f"{path} has no 'points' array (it has: {', '.join(arrays) or 'none'}); {WRITTEN_BY}")
        points = _checked_points(arrays["points"], path, "points")
        legs = arrays.get("legs", np.array(1))
        if legs.ndim != 0 or not np.issubdtype(legs.dtype, np.integer) or int(legs) < 1:
            raise UserError(f"{path}: 'legs' must be a whole number >= 1, got {legs!r}; solve the path again")
        legs = int(legs)
        if legs > 1 and (points.shape[0] != 1 or (points.shape[1] - 1) % legs):
            raise UserError(f"{path}: {legs} legs do not fit 'points' of shape {points.shape}; solve the path again")
        nodes = arrays.get("nodes")
        if nodes is not None:
            nodes = _checked_points(nodes, path, "nodes")
        return cls({SINGLE: points}, legs=legs, nodes=nodes, **names)


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write arrays to an ``.npz`` file, atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return Path(path)


def _style(arrays: Mapping[str, np.ndarray], path: Path) -> dict | None:
    """A path file's StyleGAN space (``space``, ``truncation``, ``truncation_cutoff``, ``class``), checked."""
    if "space" not in arrays:
        return None
    def scalar(key: str, kind: type) -> object:
        value = arrays.get(key)
        if value is None:
            return None
        ok = value.ndim == 0 and (np.issubdtype(value.dtype, np.number) and np.isfinite(value)
                                  if kind is not str else value.dtype.kind == "U")
        if not ok or (kind is int and not float(value).is_integer()):
            raise UserError(f"{path}: {key!r} must be a single {kind.__name__}, got {value!r}; solve the path again")
        return kind(value.item())

    style = {"space": scalar("space", str), "truncation": scalar("truncation", float),
             "truncation_cutoff": scalar("truncation_cutoff", int), "class": scalar("class", int)}
    if style["space"] not in SPACES:
        raise UserError(f"{path}: 'space' must be one of {', '.join(SPACES)}, got {style['space']!r}; solve the path "
                        "again")
    if style["truncation"] is None:
        style["truncation"] = 1.0
    return style


def _metric_options(value: np.ndarray | None, path: Path) -> dict[str, dict] | None:
    """A path file's ``metric_options``: JSON ``{metric: {option: value}}`` (``None``: not recorded)."""
    if value is None:
        return None
    bad = UserError(f"{path}: 'metric_options' must be a JSON object {{metric: {{option: value}}}}; solve the path "
                    "again, or give --metric-option to evaluate")
    if value.ndim != 0 or value.dtype.kind != "U":
        raise bad
    try:
        options = json.loads(str(value.item()))
    except (ValueError, RecursionError):
        raise bad from None
    scalar = (str, int, float, bool)
    if not isinstance(options, dict) or not all(
            isinstance(v, dict) and all(isinstance(x, scalar) or (isinstance(x, list) and all(
                isinstance(y, scalar) for y in x)) for x in v.values()) for v in options.values()):
        raise bad
    return options


def _checked_points(points: np.ndarray, path: Path, key: str) -> np.ndarray:
    """A path file's array of points: real, finite, ``(pairs >= 1, frames >= 2, *latent_shape)``."""
    if not (np.issubdtype(points.dtype, np.integer) or np.issubdtype(points.dtype, np.floating)):
        raise UserError(f"{path}: {key!r} has dtype {points.dtype}; it must hold real numbers")
    if not np.isfinite(points).all():
        raise UserError(f"{path}: {key!r} contains NaN or inf values; solve the path again")
    if points.ndim < 3 or points.shape[0] == 0 or points.shape[1] < 2:
        raise UserError(f"{path}: {key!r} has shape {points.shape}; expected (pairs >= 1, frames >= 2, "
                        f"*latent_shape); {WRITTEN_BY}")
    return points
