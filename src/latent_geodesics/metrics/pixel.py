"""Pixel metric: mean squared difference of pixels (the baseline that Laine shows to be a bad judge)."""

from __future__ import annotations

from torch import Tensor

from ..networks import MAX_SIZE, check_max_size, resize_to_max
from .base import Features, Metric, mean_sq, weighted_diff


def pixel_distance_sq(x: Tensor, y: Tensor) -> Tensor:
    """Mean squared pixel difference.

    Shape:
        - x, y: ``(B, C, H, W)``
        - output: ``(B,)``; unit: squared pixel value in the ``[-1, 1]`` range
    """
    return mean_sq(x, y)


class PixelMetric(Metric):
    """Module twin of :func:`pixel_distance_sq`, on images downsampled (antialiased) to a shorter side of at most
    ``max_size`` (default :data:`~latent_geodesics.networks.MAX_SIZE`; ``None`` or ``"none"``: full size)."""

    name = "pixel"

    def __init__(self, *, max_size: int | str | None = MAX_SIZE) -> None:
        super().__init__()
        self.max_size = check_max_size(max_size)

    def embed(self, images: Tensor) -> Features:
        return (resize_to_max(images, self.max_size),)

    def compare(self, fa: Features, fb: Features) -> Tensor:
        return pixel_distance_sq(fa[0], fb[0])

    def residual(self, fa: Features, fb: Features) -> Tensor:
        return weighted_diff(fa, fb)
