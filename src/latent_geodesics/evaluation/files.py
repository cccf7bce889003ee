"""Evaluate the paths of a file that ``interpolate`` or ``compare`` wrote: :func:`evaluate_file`.

The file names its model, but only a zoo model is loaded from that name: a data file never chooses code to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .._check import UserError, read_arrays, resolve_device
from ..generators import ZOO, load_generator
from ..judges import judge_for
from ..metrics import build_metric
from ..paths import DEFAULT_CHUNK
from ..realism import calibrate
from .evaluate import PATH_METHOD, evaluate_paths

WRITTEN_BY = "give the path.npz that `latent-geodesics interpolate` wrote or the paths.npz of `compare`"


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


def _load_path_file(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str | None]]:
    """Path sets by name, and the ``model``, ``metric`` and ``discriminator`` names (or ``None``) of a path file.

    An ``interpolate`` file (``points``) gives one set, ``"path"``; a path through waypoints (the file has
    ``legs``) is split back into its legs, one per row, so that each leg is compared with the straight line
    between its own waypoints. A ``compare`` file gives one set per name in ``methods`` (``points_<i>``).
    """
    if not path.is_file() and not path.is_dir():
        raise UserError(f"path file {path} does not exist; {WRITTEN_BY}")
    arrays = read_arrays(path, what="path", hint=WRITTEN_BY)
    if "" in arrays:
        raise UserError(f"{path} is a single array, not an .npz archive; {WRITTEN_BY}")
    names = {key: str(arrays[key].item()) if key in arrays and arrays[key].ndim == 0 else None
             for key in ("model", "metric", "discriminator")}
    if "methods" in arrays:
        methods = [str(m) for m in arrays["methods"].reshape(-1)]
        missing = [f"points_{i}" for i in range(len(methods)) if f"points_{i}" not in arrays]
        if not methods or missing:
            raise UserError(f"{path} lists methods {methods} but has no {missing[0] if missing else 'paths'!r}"
                            f" array; {WRITTEN_BY}")
        if len(set(methods)) != len(methods):
            raise UserError(f"{path} lists a method twice ({methods}); {WRITTEN_BY}")
        return {m: _checked_points(arrays[f"points_{i}"], path, f"points_{i}") for i, m in enumerate(methods)}, names
    if "points" not in arrays:
        raise UserError(f"{path} has no 'points' array (it has: {', '.join(arrays) or 'none'}); {WRITTEN_BY}")
    points = _checked_points(arrays["points"], path, "points")
    legs = arrays.get("legs", np.array(1))
    if legs.ndim != 0 or not np.issubdtype(legs.dtype, np.integer) or int(legs) < 1:
        raise UserError(f"{path}: 'legs' must be a whole number >= 1, got {legs!r}; solve the path again")
    legs = int(legs)
    if legs > 1:
        if points.shape[0] != 1 or (points.shape[1] - 1) % legs:
            raise UserError(f"{path}: {legs} legs do not fit 'points' of shape {points.shape}; solve the path again")
        n = (points.shape[1] - 1) // legs
        points = np.stack([points[0, i * n: (i + 1) * n + 1] for i in range(legs)])
    return {PATH_METHOD: points}, names


def _is_zoo_name(name: str) -> bool:
    return name.startswith("zoo:") and name[4:] in ZOO


def evaluate_file(path_npz: str | Path, *, model: str | None, metrics: Sequence[str], device: str = "cpu",
                  latent_shape: tuple[int, ...] | None = None, chunk_size: int = DEFAULT_CHUNK,
                  discriminator: str | None = None) -> dict:
    """Evaluate the paths of a ``path.npz`` (``interpolate``) or ``paths.npz`` (``compare``) against linear and slerp.

    Args:
        path_npz: the file: an ``interpolate`` file's ``points`` ``(B, N+1, *latent_shape)`` are reported as
            ``"path"``; a ``compare`` file's methods by their names (``methods``, ``points_<i>``), next to
            the baselines it does not hold.
        model: what :func:`~latent_geodesics.generators.load_generator` accepts; ``None`` uses the file's
            ``model`` entry, but only when it names a zoo model (e.g. ``zoo:faces64``): a data file never
            chooses a file or module to load.
        metrics: metric names (:func:`~latent_geodesics.metrics.build_metric`); empty uses the metric the
            path was solved with (the file's ``metric`` entry; its base metric if realism-weighted).
        device: where the model and metrics run.
        latent_shape: for models that do not say their latent shape.
        chunk_size: frames per generator + metric call.
        discriminator: scores realism instead of the model's own (what
            :func:`~latent_geodesics.generators.load_discriminator` accepts). The file's ``discriminator``
            entry is never loaded by itself: a data file does not choose code to run.

    Returns:
        ``{"file", "model", "discriminator", "file_discriminator", "judge", "pairs", "frames", "metrics",
        "methods"}`` (``discriminator``: the one given, or ``None``; ``file_discriminator``: the file's entry, or
        ``None``; ``judge``: the zoo model's independent judge, :meth:`~latent_geodesics.judges.Judge.info`, or
        ``None``); see :func:`evaluate_paths`.

    Raises:
        UserError: unreadable file, no ``points`` (or ``methods`` without their ``points_<i>``), non-finite
            points, no model named (or, without ``model``, a file that names one outside the zoo), points
            whose latent size does not match the model, or path sets between different endpoints.
    """
    path = Path(path_npz)
    sets, names = _load_path_file(path)
    model_name = model if model is not None else names["model"]
    if model_name is None:
        raise UserError(f"{path} does not say which model made it; pass --model")
    if model is None and not _is_zoo_name(model_name):  # a data file never chooses code to run
        raise UserError(f"{path} was made with model {model_name!r}, which is not in the zoo; pass --model "
                        "to load it (only a model given on the command line is loaded from a file or module)")
    file_metric = names["metric"]
    if file_metric:  # a realism-weighted path ("vgg-eq+realism0.5") is measured with its base metric
        file_metric = file_metric.split("+realism")[0]
    metric_names = list(metrics) if metrics else ([file_metric] if file_metric else [])
    if not metric_names:
        raise UserError(f"{path} does not say which metric made it; pass --metric")
    dev = resolve_device(device)
    generator = load_generator(model_name, device=dev, latent_shape=latent_shape, discriminator=discriminator)
    shape = generator.latent_shape
    for label, points in sets.items():
        if points.ndim != 2 + len(shape) or tuple(points.shape[2:]) != shape or points.shape[1] < 2:
            what = "'points'" if label == PATH_METHOD else f"the paths of {label!r}"
            raise UserError(f"{path}: {what} has shape {points.shape} but model {model_name} expects "
                            f"(pairs, frames >= 2, {', '.join(map(str, shape))}); "
                            "pass the model the path was made with")
    built = {name: build_metric(name, device=dev) for name in dict.fromkeys(metric_names)}
    tensors = {label: torch.from_numpy(np.asarray(p, dtype=np.float32)).to(dev) for label, p in sets.items()}
    calibration = calibrate(generator) if generator.discriminator is not None else None
    judge = judge_for(generator)
    report = evaluate_paths(generator, built, tensors, chunk_size=chunk_size, calibration=calibration, judge=judge)
    return {"file": str(path), "model": model_name, "discriminator": discriminator,
            "file_discriminator": names["discriminator"], "judge": judge.info() if judge is not None else None,
            **report}
