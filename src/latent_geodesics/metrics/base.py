"""The metric interface: squared perceptual distance between two batches of images.

Every metric is ``d^2(x, y) = compare(embed(x), embed(y))``. Splitting it this way lets a path embed
each frame once and compare consecutive frames, instead of embedding interior frames twice.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

import torch
from torch import Tensor, nn

Features = tuple[Tensor, ...]
"""What ``Metric.embed`` returns: a tuple of tensors, each ``(B, ...)`` with the batch first."""


class Metric(nn.Module, ABC):
    """Base class: a differentiable, batched squared distance between images.

    Subclasses implement :meth:`embed` and :meth:`compare`. Feature networks inside a metric are
    frozen (``requires_grad_(False)``, eval mode): gradients reach the images, never the weights.

    Shape:
        - images: ``(B, C, H, W)`` in ``[-1, 1]``, ``C`` in ``{1, 3}``
        - output of ``forward``: ``(B,)``, squared distance (unit: the metric's own)
    """

    name: str = "metric"

    @abstractmethod
    def embed(self, images: Tensor) -> Features:
        """Images ``(B, C, H, W)`` in ``[-1, 1]`` -> features, each ``(B, ...)``."""

    @abstractmethod
    def compare(self, fa: Features, fb: Features) -> Tensor:
        """Two feature tuples of the same batch size ``B`` -> squared distances ``(B,)``."""

    def residual(self, fa: Features, fb: Features) -> Tensor:
        """A vector per pair whose squared norm is :meth:`compare`: ``(B, K)``.

        Gauss-Newton solvers linearise this. The default, ``sqrt(compare)`` as one number, is exact
        but carries little curvature; metrics that are sums of squares override it with the full
        weighted difference.
        """
        return self.compare(fa, fb).clamp_min(0).add(1e-30).sqrt().unsqueeze(1)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self.compare(self.embed(x), self.embed(y))

    def freeze(self) -> "Metric":
        """Put every parameter out of autograd and into eval mode; returns ``self``."""
        self.eval()
        self.requires_grad_(False)
        return self

    def train(self, mode: bool = True) -> "Metric":
        # Feature networks stay in eval mode (no dropout, frozen batch statistics) whatever the caller does.
        return super().train(False)


def mean_sq(a: Tensor, b: Tensor) -> Tensor:
    """Mean over all non-batch dimensions of ``(a - b)^2``: ``(B, ...) x (B, ...) -> (B,)``."""
    return (a - b).pow(2).flatten(1).mean(1)


def weighted_diff(fa: Features, fb: Features, weights: "tuple[float, ...] | None" = None) -> Tensor:
    """``(B, K)`` whose squared norm is ``sum_l w_l * mean((fa_l - fb_l)^2)``: the residual of :func:`mean_sq` sums."""
    weights = weights if weights is not None else (1.0,) * len(fa)
    return torch.cat([((a - b) * (w / a[0].numel()) ** 0.5).flatten(1)
                      for w, a, b in zip(weights, fa, fb, strict=True)], 1)


def select(features: Features, index: Tensor | slice) -> Features:
    """Index every tensor of a feature tuple along the batch dimension."""
    return tuple(f[index] for f in features)


def cat(parts: list[Features]) -> Features:
    """Concatenate feature tuples along the batch dimension."""
    return tuple(torch.cat(fs, 0) for fs in zip(*parts))


MetricFactory = Callable[..., Metric]
