"""LPIPS v0.1 (Zhang et al. 2018), with VGG-16 or AlexNet, as a squared distance.

LPIPS unit-normalises each layer's features over channels, takes their squared difference, weights
the channels with a learned non-negative 1x1 linear head, averages over space and sums over layers:

    LPIPS(x, y) = sum_l mean_hw sum_c w_lc * (f_lchw(x) / |f_lhw(x)| - f_lchw(y) / |f_lhw(y)|)^2

It is a weighted sum of squares (all ``w_lc >= 0``), i.e. the *square* of a Euclidean distance
between the normalised, weighted feature maps. So :class:`LPIPSMetric` returns the LPIPS value itself
as our squared distance ``d^2`` (what ``Metric.forward`` always returns, like the pixel and VGG
metrics: means of squared differences); the matching distance is ``d = sqrt(LPIPS)``. Note that the
reference ``lpips`` package reports the LPIPS value itself as "the distance": a path length computed
here sums ``sqrt(LPIPS)`` of each segment, not LPIPS.

Numbers agree with the reference package ``lpips==0.1.4`` (``net='vgg'`` / ``'alex'``, version 0.1,
default arguments) for images of at least 64 px (smaller ones are upsampled here first, which the
reference does not do); see ``tests/metrics/test_lpips.py`` for the tolerances. One deliberate
difference: the channel norm is ``sqrt(max(sum f^2, tiny))`` (``tiny`` the dtype's smallest normal
number) instead of ``sqrt(sum f^2)``, which moves no normalised feature by more than 1e-9 but keeps
the gradient finite where every channel of a position is zero after ReLU (there the reference's
gradient is NaN; rare with the real networks, but one such position would poison a whole path
optimisation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ..networks import FeatureNet, LPIPS_MIN_SIZE, MAX_SIZE, check_max_size, lpips_backbone
from .._check import UserError
from .base import Features, Metric

EPS = 1e-10
"""Added to the channel norm before dividing, as in the reference."""

NETS = {"vgg": "VGG-16", "alex": "AlexNet"}


def normalize_channels(features: Tensor, eps: float = EPS) -> Tensor:
    """Divide each position's feature vector by its Euclidean norm (plus ``eps``).

    Shape:
        - features: ``(B, C, H, W)``
        - output: ``(B, C, H, W)``
    """
    sq = features.pow(2).sum(dim=1, keepdim=True)                  # (B, 1, H, W)
    norm = sq.clamp_min(torch.finfo(sq.dtype).tiny).sqrt()
    return features / (norm + eps)


def lpips_from_features(fa: Features, fb: Features, heads: Sequence[Tensor]) -> Tensor:
    """LPIPS from channel-normalised features (:func:`normalize_channels`) and the linear heads.

    Shape:
        - fa, fb: tuples of ``(B, C_l, H_l, W_l)``, one per layer
        - heads: tuple of ``(C_l,)`` non-negative weights
        - output: ``(B,)``
    """
    total = None
    for a, b, w in zip(fa, fb, heads, strict=True):
        per_position = ((a - b).pow(2) * w.view(1, -1, 1, 1)).sum(dim=1)   # (B, H_l, W_l)
        term = per_position.mean(dim=(1, 2))                                 # (B,)
        total = term if total is None else total + term
    assert total is not None
    return total


def lpips_distance_sq(x: Tensor, y: Tensor, network: FeatureNet, heads: Sequence[Tensor]) -> Tensor:
    """LPIPS between two batches of images, with an already built backbone and heads.

    Args:
        x: images ``(B, C, H, W)`` in ``[-1, 1]``, ``C`` in ``{1, 3}``.
        y: images, the same shape as ``x``.
        network: the backbone, from :func:`latent_geodesics.networks.lpips_backbone`.
        heads: the linear heads, from the same call.

    Returns:
        ``(B,)``: the LPIPS value, which is a squared distance (see the module docstring).
    """
    fa = tuple(normalize_channels(f) for f in network(x))
    fb = tuple(normalize_channels(f) for f in network(y))
    return lpips_from_features(fa, fb, heads)


class LPIPSMetric(Metric):
    """Module twin of :func:`lpips_distance_sq`: LPIPS v0.1, returned as ``d^2``.

    ``forward(x, y)`` equals the reference ``lpips.LPIPS(net=net)(x, y)`` (the LPIPS value), which is
    a sum of weighted squared differences; the distance whose square it is, ``sqrt(LPIPS)``, is what
    path lengths add up.

    Args:
        net: ``"vgg"`` (VGG-16, the default) or ``"alex"`` (AlexNet).
        min_size: images with a shorter side are upsampled (bilinear) to it; default 64, the size of
            the patches LPIPS was calibrated on.
        max_size: images with a longer shorter side are downsampled (antialiased) to it (default
            :data:`~latent_geodesics.networks.MAX_SIZE`; ``None`` or ``"none"``: no bound).

    Shape:
        - images: ``(B, C, H, W)`` in ``[-1, 1]``, ``C`` in ``{1, 3}``
        - output: ``(B,)``
    """

    name = "lpips"

    def __init__(self, *, net: str = "vgg", min_size: int = LPIPS_MIN_SIZE,
                 max_size: int | str | None = MAX_SIZE) -> None:
        super().__init__()
        if net not in NETS:
            raise UserError(f"unknown LPIPS network {net!r}; choose one of: {', '.join(NETS)}")
        self.net = net
        max_size = check_max_size(max_size)
        self.network, heads = lpips_backbone(net, min_size=min_size)
        self.network.max_size = max_size
        self.heads = nn.ParameterList(nn.Parameter(h, requires_grad=False) for h in heads)

    def embed(self, images: Tensor) -> Features:
        return tuple(normalize_channels(f) for f in self.network(images))

    def compare(self, fa: Features, fb: Features) -> Tensor:
        return lpips_from_features(fa, fb, tuple(self.heads))

    def residual(self, fa: Features, fb: Features) -> Tensor:
        # sum_c w_c (a - b)^2 averaged over positions: scale each channel by sqrt(w_c / (H W))
        return torch.cat([((a - b) * (w.clamp_min(0).view(1, -1, 1, 1) / a[0, 0].numel()).sqrt()).flatten(1)
                          for a, b, w in zip(fa, fb, self.heads, strict=True)], 1)
