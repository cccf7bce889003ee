"""VGG-19 feature metric (Laine 2018, ``m_VGG``): mean squared difference of VGG features per layer.

``d^2(x, y) = sum_l w_l * mean((phi_l(x) - phi_l(y))^2)`` over the ReLU outputs of conv1_2, conv2_2,
conv3_2, conv4_2 and conv5_2 by default, with equal weights ``w_l = 1``. The unit is that of the
network's features: with the default original VGG-19 (input BGR 0-255 minus the mean) a typical
distance between two unrelated 64 px images is of order 1e5; torchvision's VGG-19 (input divided by
the ImageNet std) gives values about 1e-3 to 1e-4 of that. Petzka et al. multiply each layer by 1e-6.
Images are upsampled to the network's minimum size first (128 px by default, see
:mod:`latent_geodesics.networks`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from torch import Tensor

from ..networks import FeatureNet, MAX_SIZE, VGG19_LAYERS, VGG_MIN_SIZE, check_max_size, vgg19
from .._check import UserError
from .base import Features, Metric, mean_sq, weighted_diff

DEFAULT_LAYERS = VGG19_LAYERS


def feature_distance_sq(fa: Features, fb: Features, layer_weights: Sequence[float]) -> Tensor:
    """Weighted sum over layers of the mean squared feature difference.

    Shape:
        - fa, fb: tuples of ``(B, C_l, H_l, W_l)``, one per layer
        - output: ``(B,)``
    """
    total = None
    for w, a, b in zip(layer_weights, fa, fb, strict=True):
        term = w * mean_sq(a, b)                                   # (B,)
        total = term if total is None else total + term
    assert total is not None
    return total


def vgg_distance_sq(x: Tensor, y: Tensor, network: FeatureNet, *,
                    layer_weights: Sequence[float] | None = None) -> Tensor:
    """Squared VGG feature distance between two batches of images, with an already built network.

    Args:
        x: images, ``(B, C, H, W)`` in ``[-1, 1]``, ``C`` in ``{1, 3}``.
        y: images, the same shape as ``x``.
        network: e.g. ``networks.vgg19()``; its layers are the ones compared.
        layer_weights: one weight per layer of ``network`` (default: all 1).

    Returns:
        ``(B,)`` squared distances.

    Example:
        >>> import torch
        >>> from latent_geodesics import networks
        >>> net = vgg19(("conv1_2",), min_size=16)
        >>> x = torch.zeros(1, 3, 16, 16)
        >>> vgg_distance_sq(x, x, net)
        tensor([0.])
    """
    weights = tuple(layer_weights) if layer_weights is not None else (1.0,) * len(network.layers)
    return feature_distance_sq(network(x), network(y), weights)


class VGGMetric(Metric):
    """Module twin of :func:`vgg_distance_sq`: builds the (frozen) network once.

    Args:
        weights: ``"vgg19"`` (original ImageNet VGG-19, the default), ``"vgg19-torchvision"``, or a
            path to a weight file (see :func:`latent_geodesics.networks.vgg19`).
        layers: VGG-19 layers compared, after ReLU (default conv1_2 ... conv5_2); a sequence or one
            comma-separated string.
        layer_weights: one non-negative weight per layer (default: all 1); a sequence or one
            comma-separated string.
        min_size: images with a shorter side are upsampled to it (default ``networks.VGG_MIN_SIZE``, 64).
        max_size: images with a longer shorter side are downsampled (antialiased) to it (default
            :data:`~latent_geodesics.networks.MAX_SIZE`; ``None`` or ``"none"``: no bound).

    Shape:
        - images: ``(B, C, H, W)`` in ``[-1, 1]``, ``C`` in ``{1, 3}``
        - output: ``(B,)`` squared distance, in squared feature units
    """

    name = "vgg"

    def __init__(self, *, weights: str | Path = "vgg19", layers: Sequence[str] = DEFAULT_LAYERS,
                 layer_weights: Sequence[float] | None = None,
                 min_size: int = VGG_MIN_SIZE, max_size: int | str | None = MAX_SIZE) -> None:
        super().__init__()
        layers = _split(layers)
        if layer_weights is None:
            layer_weights = (1.0,) * len(layers)
        try:
            layer_weights = tuple(float(w) for w in _split(layer_weights))
        except ValueError:
            layer_weights = ()
        if len(layer_weights) != len(layers) or any(not (w >= 0 and w < float("inf")) for w in layer_weights):
            raise UserError(f"layer_weights must be {len(layers)} finite non-negative numbers, one per layer "
                            f"of {layers}")
        self.layer_weights = layer_weights
        max_size = check_max_size(max_size)
        self.network = vgg19(layers, weights=weights, min_size=min_size)
        self.network.max_size = max_size

    @property
    def layers(self) -> tuple[str, ...]:
        return self.network.layers

    def embed(self, images: Tensor) -> Features:
        return self.network(images)

    def compare(self, fa: Features, fb: Features) -> Tensor:
        return feature_distance_sq(fa, fb, self.layer_weights)

    def residual(self, fa: Features, fb: Features) -> Tensor:
        return weighted_diff(fa, fb, self.layer_weights)


def _split(option: str | Sequence) -> tuple:
    """A sequence option, also given as one comma-separated string (as a command line gives it)."""
    if isinstance(option, str):
        return tuple(part.strip() for part in option.split(",") if part.strip())
    return tuple(option)
