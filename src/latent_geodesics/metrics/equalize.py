"""Brightness and contrast equalization (Laine 2018): stops the shortest path from cheating by going dark.

Each image is standardised (mean 0, std 1 over all its pixels and channels, or per channel), then
mapped to a fixed reference mean and std so that a feature network sees natural image statistics.
The equalized metric is then invariant to ``x -> a * x + b`` (``a > 0``) applied to either image.
"""

from __future__ import annotations

from torch import Tensor

from .base import Features, Metric

REFERENCE_MEAN = 0.0
"""Mean of an equalized image, in the ``[-1, 1]`` pixel range."""
REFERENCE_STD = 0.5
"""Std of an equalized image: about that of natural photographs in the ``[-1, 1]`` range."""
EPS = 1e-4
"""Added to the variance (squared, in pixel units) so a flat image does not divide by zero."""


def equalize(images: Tensor, *, per_channel: bool = False, mean: float = REFERENCE_MEAN,
             std: float = REFERENCE_STD, eps: float = EPS) -> Tensor:
    """Equalize brightness and contrast of each image.

    Args:
        images: ``(B, C, H, W)``.
        per_channel: standardise each channel on its own (also equalizes colour balance) instead of
            all pixels of the image together (keeps colour balance; the default).
        mean: the reference mean the result is mapped to.
        std: the reference standard deviation the result is mapped to.
        eps: variance floor, in squared pixel units.

    Returns:
        ``(B, C, H, W)`` with the given mean and (up to ``eps``) std per image or per channel.
    """
    dims = (2, 3) if per_channel else (1, 2, 3)
    mu = images.mean(dim=dims, keepdim=True)
    var = images.var(dim=dims, keepdim=True, unbiased=False)
    return (images - mu) * (std / (var + eps * eps).sqrt()) + mean


class Equalized(Metric):
    """Wrap a metric so that each image is equalized before it is embedded: ``name-eq``."""

    def __init__(self, base: Metric, *, per_channel: bool = False) -> None:
        super().__init__()
        self.base = base
        self.per_channel = per_channel
        self.name = f"{base.name}-eq"

    def embed(self, images: Tensor) -> Features:
        return self.base.embed(equalize(images, per_channel=self.per_channel))

    def compare(self, fa: Features, fb: Features) -> Tensor:
        return self.base.compare(fa, fb)

    def residual(self, fa: Features, fb: Features) -> Tensor:
        return self.base.residual(fa, fb)
