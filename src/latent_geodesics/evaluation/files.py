"""Evaluate the paths of a file that ``interpolate`` or ``compare`` wrote: :func:`evaluate_file`.

The file names its model, but only a zoo model is loaded from that name: a data file never chooses code to run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from .._check import UserError, resolve_device
from ..generators import ZOO, load_generator
from ..data_realism import data_realism_for
from ..judges import judge_for
from ..metrics import build_metric
from ..pathfile import PathFile
from ..paths import DEFAULT_CHUNK
from ..realism import calibrate
from ..ppl import ppl_metric
from .evaluate import PATH_METHOD, evaluate_paths

def _is_zoo_name(name: str) -> bool:
    return name.startswith("zoo:") and name[4:] in ZOO


def evaluate_file(path_npz: str | Path, *, model: str | None, metrics: Sequence[str], device: str = "cpu",
                  latent_shape: tuple[int, ...] | None = None, chunk_size: int | None = DEFAULT_CHUNK,
                  discriminator: str | None = None, metric_options: Mapping[str, object] | None = None) -> dict:
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
        metric_options: build options for every metric (``--metric-option``); ``None`` measures each metric with
            the options the file records for it (what the paths were solved and reported with), else the defaults.

    Returns:
        ``{"file", "model", "discriminator", "file_discriminator", "judge", "metric_options", "pairs", "frames",
        "metrics", "methods"}`` (``metric_options``: the options each metric was built with, by name; the rest are defaults) (``discriminator``: the one given, or ``None``; ``file_discriminator``: the file's entry, or
        ``None``; ``judge``: the zoo model's independent judge, :meth:`~latent_geodesics.judges.Judge.info`, or
        ``None``; ``data_realism``: the zoo model's real-picture judge,
        :meth:`~latent_geodesics.data_realism.DataRealism.info` plus ``shares_network_with_metric``, the measured
        metrics that use its AlexNet (``lpips`` with ``net=alex``), absent for a model without real pictures);
        see :func:`evaluate_paths`.

    Raises:
        UserError: unreadable file, no ``points`` (or ``methods`` without their ``points_<i>``), non-finite
            points, no model named (or, without ``model``, a file that names one outside the zoo), points
            whose latent size does not match the model, or path sets between different endpoints.
    """
    path = Path(path_npz)
    file = PathFile.read(path)
    sets = {PATH_METHOD if file.is_single else k: v for k, v in file.leg_sets().items()}
    names = {"model": file.model, "metric": file.metric, "discriminator": file.discriminator}
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
    style = file.style or {}  # a StyleGAN-class model's paths are read back in the space they were solved in
    generator = load_generator(model_name, device=dev, latent_shape=latent_shape, discriminator=discriminator,
                               space=style.get("space"), truncation=style.get("truncation"),
                               truncation_cutoff=style.get("truncation_cutoff"), class_index=style.get("class"))
    shape = generator.latent_shape
    for label, points in sets.items():
        if points.ndim != 2 + len(shape) or tuple(points.shape[2:]) != shape or points.shape[1] < 2:
            what = "'points'" if label == PATH_METHOD else f"the paths of {label!r}"
            raise UserError(f"{path}: {what} has shape {points.shape} but model {model_name} expects "
                            f"(pairs, frames >= 2, {', '.join(map(str, shape))}); "
                            "pass the model the path was made with")
    recorded = file.metric_options or {}
    options = {name: dict(metric_options) if metric_options is not None else dict(recorded.get(name, {}))
               for name in dict.fromkeys(metric_names)}
    built = {name: build_metric(name, device=dev, **opts) for name, opts in options.items()}
    tensors = {label: torch.from_numpy(np.asarray(p, dtype=np.float32)).to(dev) for label, p in sets.items()}
    calibration = calibrate(generator) if generator.discriminator is not None else None
    judge = judge_for(generator)
    real_judge = data_realism_for(generator)
    report = evaluate_paths(generator, built, tensors, chunk_size=chunk_size, calibration=calibration, judge=judge,
                            ppl_metric=ppl_metric(device=generator.device), data_realism=real_judge)
    if real_judge is not None:  # LPIPS with net=alex measures in the judge's own network: say so
        report["data_realism"]["shares_network_with_metric"] = sorted(
            name for name, opts in options.items()
            if name.removesuffix("-eq") == "lpips" and str(opts.get("net", "vgg")) == "alex")
    return {"file": str(path), "model": model_name, "style": file.style, "discriminator": discriminator,
            "file_discriminator": names["discriminator"], "judge": judge.info() if judge is not None else None,
            "metric_options": options,
            **report}
