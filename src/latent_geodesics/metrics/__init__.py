"""Metrics by name: ``pixel``, ``vgg``, ``lpips`` ... and the equalized variant ``NAME-eq`` of each.

``build_metric("vgg-eq", device="cpu")`` returns a frozen :class:`Metric` on that device.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .._check import UserError
from .base import Features, Metric, cat, mean_sq, select
from .equalize import Equalized, equalize
from .pixel import PixelMetric, pixel_distance_sq

EQ_SUFFIX = "-eq"

_FACTORIES: dict[str, tuple[Callable[..., Metric], str]] = {}


def register_metric(name: str, factory: Callable[..., Metric], help: str) -> None:
    """Register a base metric. ``factory(**options) -> Metric``; ``NAME-eq`` comes for free."""
    if name in _FACTORIES or name.endswith(EQ_SUFFIX):
        raise ValueError(f"bad or duplicate metric name {name!r}")
    _FACTORIES[name] = (factory, help)


def metric_names() -> list[str]:
    """Every accepted name, base and equalized, in registration order."""
    return [n for base in _FACTORIES for n in (base, base + EQ_SUFFIX)]


def metric_help() -> dict[str, str]:
    return {name: help for name, (_, help) in _FACTORIES.items()}


def build_metric(name: str, *, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
                 **options) -> Metric:
    """Build the metric called ``name`` (``NAME-eq`` wraps ``NAME`` in :class:`Equalized`)."""
    base_name = name[: -len(EQ_SUFFIX)] if name.endswith(EQ_SUFFIX) else name
    if base_name not in _FACTORIES:
        raise UserError(f"unknown metric {name!r}; choose one of: {', '.join(metric_names())}")
    try:
        metric = _FACTORIES[base_name][0](**options)
    except TypeError as e:  # an option the metric's constructor does not take
        raise UserError(f"metric {name!r} does not take the option(s) {', '.join(options)}: {e}; "
                        "see `latent-geodesics metrics`") from e
    except (ValueError, OverflowError) as e:  # an option of the wrong kind, e.g. min_size=abc
        raise UserError(f"metric {name!r}: bad option value in {', '.join(f'{k}={v}' for k, v in options.items())}: "
                        f"{e}") from e
    if name.endswith(EQ_SUFFIX):
        metric = Equalized(metric)
    return metric.to(device=device, dtype=dtype).freeze()


register_metric("pixel", PixelMetric, "mean squared pixel difference")

__all__ = [
    "Equalized", "Features", "Metric", "PixelMetric", "build_metric", "cat", "equalize", "mean_sq",
    "metric_help", "metric_names", "pixel_distance_sq", "register_metric", "select",
]
from . import vgg, lpips  # noqa: E402,F401,I001  (registers the "vgg" then the "lpips" metric)
