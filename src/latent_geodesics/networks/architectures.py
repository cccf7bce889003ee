"""The feature networks as modules: VGG-19, VGG-16 and AlexNet convolution stacks (:class:`FeatureNet`).

Each network is an ``nn.Module`` whose ``features`` is an ``nn.Sequential`` in torchvision's
``features.N`` layout (so torchvision state dicts load as they are), cut after the deepest layer the
caller asked for: nothing deeper is built, loaded or run. It returns only the requested layers, by
name, always after their ReLU (``"conv3_2"`` is the output of the ReLU that follows VGG's conv3_2;
AlexNet's are ``"conv1"`` ... ``"conv5"``).

Each network carries its own preprocessing (:class:`Preprocessing`: colour order, pixel scale, mean
and std), so that its input is always our image convention: ``(B, C, H, W)`` in ``[-1, 1]``, RGB,
``C`` in ``{1, 3}`` (grayscale is repeated to 3 channels).

Minimum size. Images whose shorter side is below ``min_size`` are first upsampled (bilinear, aspect
ratio kept) so that the shorter side equals it. The default for VGG is :data:`VGG_MIN_SIZE` = 64, the one
default of every command and of the library: a 64 px model's images as they are. VGG's deepest layer we use,
conv5_2, has a receptive field of 188 px, so ``min_size=128`` (an 8x8 map at conv5_2 with an interior) is
closer to what VGG was trained on at 4x the cost (BENCHMARKS.md, ``first_run``); pass ``min_size=224`` to
match Petzka et al. For AlexNet and the VGG-16 of LPIPS the
default is :data:`LPIPS_MIN_SIZE` = 64, the size of the patches the LPIPS heads were fitted on.
Images at or above the minimum are used at their own size.

Maximum size. Images whose shorter side is above ``max_size`` are first downsampled (bilinear with
antialiasing, aspect ratio kept) so that the shorter side equals it: the cost of a feature network grows
with the area (VGG-19 forward and backward: about 0.02 s per image at 64 px, 1.6 s at 256 px and 13 s at
1024 px on a 2-core CPU) and its activation memory with it, while a path measured at a bounded size
moves little at full size (docs/models.md, "Models of real size"). The default is :data:`MAX_SIZE`; ``None``
measures images at any size as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._check import UserError
from ..weights.netfile import Preprocessing

VGG_MIN_SIZE = 64
"""Default minimum image side for VGG-19, the only one (commands, JOBS lines, ``evaluate`` and the library)."""
LPIPS_MIN_SIZE = 64
"""Default minimum image side for AlexNet and VGG-16 (LPIPS backbones): the LPIPS patch size."""
MAX_SIZE = 128
"""Default maximum image side of every metric (VGG, LPIPS, pixel): larger images are downsampled to it (docs/models.md,
"Models of real size", for the measurements behind it)."""

VGG19_LAYERS = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
"""Chen and Koltun's layer set, used by Laine (2018) and Petzka et al. (2022)."""
LPIPS_VGG16_LAYERS = ("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3")
ALEXNET_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")


_VGG_CONFIGS: dict[str, tuple[int | str, ...]] = {
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    "vgg19": (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
              512, 512, 512, 512, "M", 512, 512, 512, 512, "M"),
}

# A layer spec: ("conv", in, out, kernel, stride, padding) | ("relu",) | ("pool", kernel, stride).
Spec = tuple


def _vgg_specs(arch: str) -> tuple[list[Spec], dict[str, int]]:
    """torchvision's VGG ``features`` as specs, and ``{"convB_I": index of its ReLU}``."""
    specs: list[Spec] = []
    taps: dict[str, int] = {}
    channels, block, conv = 3, 1, 0
    for v in _VGG_CONFIGS[arch]:
        if v == "M":
            specs.append(("pool", 2, 2))
            block, conv = block + 1, 0
        else:
            conv += 1
            specs += [("conv", channels, int(v), 3, 1, 1), ("relu",)]
            taps[f"conv{block}_{conv}"] = len(specs) - 1
            channels = int(v)
    return specs, taps


def _alexnet_specs() -> tuple[list[Spec], dict[str, int]]:
    """torchvision's AlexNet ``features`` as specs, and ``{"convK": index of its ReLU}``."""
    specs: list[Spec] = [
        ("conv", 3, 64, 11, 4, 2), ("relu",), ("pool", 3, 2),
        ("conv", 64, 192, 5, 1, 2), ("relu",), ("pool", 3, 2),
        ("conv", 192, 384, 3, 1, 1), ("relu",),
        ("conv", 384, 256, 3, 1, 1), ("relu",),
        ("conv", 256, 256, 3, 1, 1), ("relu",),
        ("pool", 3, 2),
    ]
    return specs, {"conv1": 1, "conv2": 4, "conv3": 7, "conv4": 9, "conv5": 11}


_ARCHS = {"vgg16": _vgg_specs("vgg16"), "vgg19": _vgg_specs("vgg19"), "alexnet": _alexnet_specs()}


def _module(spec: Spec) -> nn.Module:
    if spec[0] == "conv":
        _, cin, cout, k, stride, pad = spec
        return nn.Conv2d(cin, cout, kernel_size=k, stride=stride, padding=pad)
    if spec[0] == "pool":
        return nn.MaxPool2d(kernel_size=spec[1], stride=spec[2])
    return nn.ReLU()  # not in place: the returned layers must keep their values


def _smallest_input(specs: Sequence[Spec]) -> int:
    """Smallest square input side for which every layer in ``specs`` has a non-empty output."""
    side = 1
    for spec in reversed(specs):  # walk back from a 1x1 output
        if spec[0] == "conv":
            side = (side - 1) * spec[4] + spec[3] - 2 * spec[5]
        elif spec[0] == "pool":
            side = (side - 1) * spec[2] + spec[1]
        side = max(side, 1)
    return side


def layer_names(arch: str) -> tuple[str, ...]:
    """Every layer name a network of ``arch`` can return, shallow to deep."""
    return tuple(_ARCHS[arch][1])


def conv_indices(arch: str) -> tuple[int, ...]:
    """torchvision ``features.N`` indices of the convolutions of ``arch``, in order."""
    return tuple(i for i, spec in enumerate(_ARCHS[arch][0]) if spec[0] == "conv")


class FeatureNet(nn.Module):
    """A feature network cut after its deepest requested layer, with its preprocessing built in.

    Built with random weights; the loaders (:func:`vgg19`, :func:`vgg16`, :func:`alexnet`) fill
    them and freeze the network.

    Args:
        arch: ``"vgg19"``, ``"vgg16"`` or ``"alexnet"``.
        layers: names of the layers to return, in the order wanted (see :func:`layer_names`).
        preprocessing: what the weights expect (:data:`KERAS_CAFFE`, :data:`TORCHVISION`).
        min_size: images whose shorter side is smaller are upsampled (bilinear) to it.

    Shape:
        - images: ``(B, C, H, W)`` in ``[-1, 1]``, RGB or ``C = 1``
        - output: a tuple with one ``(B, C_l, H_l, W_l)`` tensor per requested layer, after ReLU
    """

    def __init__(self, arch: str, layers: Sequence[str], *, preprocessing: Preprocessing,
                 min_size: int) -> None:
        super().__init__()
        if arch not in _ARCHS:
            raise UserError(f"unknown network {arch!r}; choose one of: {', '.join(_ARCHS)}")
        specs, taps = _ARCHS[arch]
        layers = (layers,) if isinstance(layers, str) else tuple(layers)
        bad = [name for name in layers if name not in taps]
        if not layers or bad:
            raise UserError(f"{arch} has no layer {', '.join(map(repr, bad)) or '(none given)'}; "
                            f"choose from: {', '.join(taps)}")
        self.arch = arch
        self.layers = layers
        self.preprocessing = preprocessing
        self._taps = tuple(taps[name] for name in layers)
        deepest = max(self._taps)
        # channels_last: a vgg-eq evaluation of faces64 (generator, VGG-19 at 64 px, backward) takes 5.5% less time
        # on the 2-core CPU, the same numbers to float rounding; a standard layout on CUDA too
        self.features = nn.Sequential(*(_module(spec) for spec in specs[: deepest + 1])).to(
            memory_format=torch.channels_last)
        self.smallest_input = _smallest_input(specs[: deepest + 1])
        if int(min_size) != min_size or min_size < self.smallest_input:
            raise UserError(f"min_size for {arch} up to {layers[self._taps.index(deepest)]} must be an "
                            f"integer >= {self.smallest_input}, got {min_size}")
        self.min_size = int(min_size)
        self.max_size: int | None = None  # set by the metrics (check_max_size): no bound unless asked
        shift, scale = preprocessing.affine()
        self.register_buffer("shift", torch.tensor(shift).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(scale).view(1, 3, 1, 1), persistent=False)
        # None: the weights' dtype; bfloat16: convolutions under autocast (set by metrics.computing_in)
        self.compute_dtype: torch.dtype | None = None

    def prepare(self, images: Tensor) -> Tensor:
        """Our images -> the network's input: ``(B, {1,3}, H, W)`` in [-1, 1] -> ``(B, 3, H', W')``."""
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"{self.arch}: expected images (B, C, H, W) with C = 1 or 3, "
                             f"got shape {tuple(images.shape)}")
        bound = None if self.max_size is None else max(self.max_size, self.min_size)  # min_size wins
        x = resize_to_max(resize_to_min(images, self.min_size), bound)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.preprocessing.order == "BGR":
            x = x.flip(1)
        return ((x - self.shift) / self.scale).contiguous(memory_format=torch.channels_last)

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        if self.compute_dtype is None:
            return self._taps_of(self.prepare(images))
        with torch.autocast(images.device.type, dtype=self.compute_dtype):
            taps = self._taps_of(self.prepare(images))
        return tuple(t.to(images.dtype) for t in taps)  # differences of features are taken at full precision

    def _taps_of(self, x: Tensor) -> tuple[Tensor, ...]:
        taps: dict[int, Tensor] = {}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in self._taps:
                taps[i] = x
        return tuple(taps[i] for i in self._taps)

    def extra_repr(self) -> str:
        p = self.preprocessing
        return (f"arch={self.arch}, layers={self.layers}, min_size={self.min_size}, max_size={self.max_size}, "
                f"input={p.order} 0-{p.white:g} mean={p.mean} std={p.std}")


def resize_to_min(images: Tensor, min_size: int) -> Tensor:
    """Upsample (bilinear) so that the shorter side is at least ``min_size``; aspect ratio kept.

    Shape:
        - images: ``(B, C, H, W)``
        - output: ``(B, C, H', W')`` with ``min(H', W') = max(min(H, W), min_size)``
    """
    h, w = images.shape[-2:]
    short = min(h, w)
    if short >= min_size:
        return images
    size = (min_size, max(min_size, round(w * min_size / h))) if h <= w else \
        (max(min_size, round(h * min_size / w)), min_size)
    return F.interpolate(images, size=size, mode="bilinear", align_corners=False)


def resize_to_max(images: Tensor, max_size: int | None) -> Tensor:
    """Downsample (bilinear with antialiasing) so that the shorter side is at most ``max_size``; aspect ratio kept.

    Shape:
        - images: ``(B, C, H, W)``
        - output: ``(B, C, H', W')`` with ``min(H', W') = min(min(H, W), max_size)``
    """
    h, w = images.shape[-2:]
    if max_size is None or min(h, w) <= max_size:
        return images
    size = (max_size, max(1, round(w * max_size / h))) if h <= w else (max(1, round(h * max_size / w)), max_size)
    dtype = images.dtype
    # the antialiasing kernel has no bfloat16 version: resize in float32
    x = F.interpolate(images.float(), size=size, mode="bilinear", align_corners=False, antialias=True)
    return x.to(dtype)


def check_max_size(max_size: object) -> int | None:
    """A ``max_size`` option as a whole number of pixels (``None``, ``"none"``: no bound). A network's ``min_size``
    wins over it: images are never downsampled below that."""
    if max_size is None or (isinstance(max_size, str) and max_size.strip().lower() in ("none", "")):
        return None
    try:
        value = float(max_size)
    except (TypeError, ValueError):
        value = float("nan")
    if isinstance(max_size, bool) or not value == value or value in (float("inf"), -float("inf")) \
            or value != int(value) or value < 1:
        raise UserError(f"max_size must be a whole number of pixels or 'none', got {max_size!r}")
    return int(value)
