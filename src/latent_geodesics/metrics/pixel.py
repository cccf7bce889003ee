"""Pixel metric: mean squared difference of pixels (the baseline that Laine shows to be a bad judge)."""

from __future__ import annotations

from torch import Tensor

from .base import Features, Metric, mean_sq, weighted_diff


def pixel_distance_sq(x: Tensor, y: Tensor) -> Tensor:
    """Mean squared pixel difference.

    Shape:
        - x, y: ``(B, C, H, W)``
        - output: ``(B,)``; unit: squared pixel value in the ``[-1, 1]`` range
    """
    return mean_sq(x, y)


class PixelMetric(Metric):
    """Module twin of :func:`pixel_distance_sq`."""

    name = "pixel"

    def embed(self, images: Tensor) -> Features:
        return (images,)

    def compare(self, fa: Features, fb: Features) -> Tensor:
        return pixel_distance_sq(fa[0], fb[0])

    def residual(self, fa: Features, fb: Features) -> Tensor:
        return weighted_diff(fa, fb)
