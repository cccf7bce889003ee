"""Metrics by name: ``pixel``, ``vgg``, ``lpips`` ... and the equalized variant ``NAME-eq`` of each.

``build_metric("vgg-eq", device="cpu")`` returns a frozen :class:`Metric` on that device.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

import torch

from .._check import UserError
from .base import Features, Metric, cat, mean_sq, select
from .equalize import Equalized, equalize
from .lpips import LPIPSMetric
from .pixel import PixelMetric, pixel_distance_sq
from .precision import (PRECISIONS, computing_in, has_networks, native_bfloat16, precision_name, resolve_precision,
                        solving_precision)
from .vgg import VGGMetric

EQ_SUFFIX = "-eq"

METRICS: Mapping[str, tuple[Callable[..., Metric], str]] = MappingProxyType({
    "pixel": (PixelMetric, "mean squared pixel difference; options: max_size"),
    "vgg": (VGGMetric, "VGG-19 features conv1_2..conv5_2 after ReLU, mean squared difference per layer, "
                       "summed (Laine 2018); options: weights=vgg19|vgg19-torchvision|PATH, layers, "
                       "layer_weights, min_size, max_size"),
    "lpips": (LPIPSMetric, "LPIPS v0.1 (Zhang et al. 2018), its value taken as the squared distance; "
                           "options: net=vgg|alex, min_size, max_size"),
})
"""The base metrics, in the order they are listed: ``name -> (factory(**options) -> Metric, help)``.
Each also exists as ``NAME-eq``, wrapped in :class:`Equalized`. A fixed table: adding a metric means adding a row."""


def metric_names() -> list[str]:
    """Every accepted name, base and equalized, in the order of :data:`METRICS`."""
    return [n for base in METRICS for n in (base, base + EQ_SUFFIX)]


def metric_help() -> dict[str, str]:
    return {name: help for name, (_, help) in METRICS.items()}


def build_metric(name: str, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 **options) -> Metric:
    """Build the metric called ``name`` (``NAME-eq`` wraps ``NAME`` in :class:`Equalized`)."""
    base_name = name[: -len(EQ_SUFFIX)] if name.endswith(EQ_SUFFIX) else name
    if base_name not in METRICS:
        raise UserError(f"unknown metric {name!r}; choose one of: {', '.join(metric_names())}")
    try:
        metric = METRICS[base_name][0](**options)
    except TypeError as e:  # an option the metric's constructor does not take
        raise UserError(f"metric {name!r} does not take the option(s) {', '.join(options)}: {e}; "
                        "see `latent-geodesics metrics`") from e
    except (ValueError, OverflowError) as e:  # an option of the wrong kind, e.g. min_size=abc
        raise UserError(f"metric {name!r}: bad option value in {', '.join(f'{k}={v}' for k, v in options.items())}: "
                        f"{e}") from e
    if name.endswith(EQ_SUFFIX):
        metric = Equalized(metric)
    return metric.to(device=device, dtype=dtype).freeze()


__all__ = [
    "METRICS", "PRECISIONS", "Equalized", "Features", "LPIPSMetric", "Metric", "PixelMetric", "VGGMetric",
    "build_metric", "cat", "computing_in", "equalize", "has_networks", "mean_sq", "metric_help", "metric_names",
    "native_bfloat16", "pixel_distance_sq", "precision_name", "resolve_precision", "select", "solving_precision",
]
