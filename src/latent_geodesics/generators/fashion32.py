"""A small DCGAN (generator + discriminator) for Fashion-MNIST at 32x32, and for MNIST at 28x28.

This is the architecture behind the zoo models ``zoo:fashion32`` and ``zoo:mnist28`` (``size=28``: one
stride-2 layer fewer, see the classes). Its
discriminator (a critic that returns a raw logit per image) is what the
discriminator-weighted geodesic metric of Petzka et al. uses as a per-image
"realism" score, so it is built to score every image *independently of the
rest of the batch*: it has no BatchNorm and no other batch statistics, only
spectral-normalised convolutions and LeakyReLU(0.2).

Images are single-channel, 32x32, in ``[-1, 1]`` (the 28x28 Fashion-MNIST
digits padded by 2 pixels of background on every side, background = -1).

For ``zoo:mnist28`` images are 28x28, unpadded. The weights are trained by
``scripts/train_fashion32.py`` (and ``scripts/train_mnist28.py``); the weights file
holds ``{"generator": state_dict, "discriminator": state_dict, "config":
CONFIG}`` and is read back with :func:`load_fashion32`.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

__all__ = [
    "CONFIG",
    "SIZES",
    "Fashion32Generator",
    "Fashion32Discriminator",
    "load_fashion32",
    "read_fashion_mnist",
    "DEFAULT_DATA_DIR",
]

#: The hyper-parameters the shipped weights were trained with.
CONFIG = {"z_dim": 64, "width": 32}

#: Image sizes the networks can be built for: 32 (``zoo:fashion32``) and 28 (``zoo:mnist28``, the same
#: design with one stride-2 layer fewer and a 7x7 first/last layer).
SIZES = (32, 28)

#: Where the Debian package ``dataset-fashion-mnist`` puts the idx files.
DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"


class Fashion32Generator(nn.Module):
    """DCGAN generator: latent ``z`` -> 32x32 grey-scale image.

    Layers (``w = width``), shapes for a batch of ``B``::

        z            (B, z_dim)        viewed as (B, z_dim, 1, 1)
        ConvT 4x4/1  (B, 4w, 4, 4)     BatchNorm + ReLU
        ConvT 4x4/2  (B, 2w, 8, 8)     BatchNorm + ReLU
        ConvT 4x4/2  (B, w, 16, 16)    BatchNorm + ReLU
        ConvT 4x4/2  (B, 1, 32, 32)    tanh

    With ``size=28`` the first two layers are one ``ConvT 7x7/1 -> (B, 2w, 7, 7)``, then 14 and 28.

    BatchNorm couples the images of a batch in training mode only; the library
    always runs the generator in eval mode, where each image depends only on
    its own latent.

    Args:
        z_dim: latent dimension.
        width: channel width ``w`` of the last hidden layer.
        size: image side, one of :data:`SIZES`.
    """

    def __init__(self, z_dim: int = 64, width: int = 64, size: int = 32) -> None:
        super().__init__()
        if size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {size}")
        self.z_dim = int(z_dim)
        self.width = int(width)
        self.size = int(size)
        w = self.width
        if self.size == 32:
            first = [nn.ConvTranspose2d(self.z_dim, 4 * w, 4, 1, 0, bias=False),  # 1 -> 4
                     nn.BatchNorm2d(4 * w),
                     nn.ReLU(inplace=True),
                     nn.ConvTranspose2d(4 * w, 2 * w, 4, 2, 1, bias=False)]  # 4 -> 8
        else:  # 28 = 7 * 2 * 2 (zoo:mnist28): one 7x7 transposed convolution instead of two layers
            first = [nn.ConvTranspose2d(self.z_dim, 2 * w, 7, 1, 0, bias=False)]  # 1 -> 7
        self.net = nn.Sequential(
            *first,
            nn.BatchNorm2d(2 * w),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False),  # 8 -> 16 (7 -> 14)
            nn.BatchNorm2d(w),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(w, 1, 4, 2, 1),  # 16 -> 32 (14 -> 28)
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Map latents ``z`` of shape ``(B, z_dim)`` to images ``(B, 1, size, size)`` in ``[-1, 1]``."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"expected z of shape (B, {self.z_dim}), got {tuple(z.shape)}")
        return self.net(z[:, :, None, None])


class Fashion32Discriminator(nn.Module):
    """DCGAN-style critic: 32x32 grey-scale image -> one raw logit per image.

    Every convolution is spectral-normalised; there is no BatchNorm or any
    other batch statistic, so the score of an image does not depend on the
    other images in the batch. Higher scores mean "more real"; ``score > 0``
    is the discriminator's "real" decision (the logit of a sigmoid, not
    applied here).

    Layers (``w = width``), shapes for a batch of ``B``::

        x            (B, 1, 32, 32)
        SN-Conv 4x4/2  (B, w, 16, 16)   LeakyReLU(0.2)
        SN-Conv 4x4/2  (B, 2w, 8, 8)    LeakyReLU(0.2)
        SN-Conv 4x4/2  (B, 4w, 4, 4)    LeakyReLU(0.2)
        SN-Conv 4x4/1  (B, 1, 1, 1)     -> flattened to (B,)

    Args:
        width: channel width ``w`` of the first layer.
        size: image side, one of :data:`SIZES` (28: the last two layers are one ``SN-Conv 7x7/1`` from
            ``(B, 2w, 7, 7)``).
    """

    def __init__(self, width: int = 64, size: int = 32) -> None:
        super().__init__()
        if size not in SIZES:
            raise ValueError(f"size must be one of {SIZES}, got {size}")
        self.width = int(width)
        self.size = int(size)
        w = self.width
        if self.size == 32:
            last = [spectral_norm(nn.Conv2d(2 * w, 4 * w, 4, 2, 1)),  # 8 -> 4
                    nn.LeakyReLU(0.2, inplace=True),
                    spectral_norm(nn.Conv2d(4 * w, 1, 4, 1, 0))]  # 4 -> 1
        else:  # 28 (zoo:mnist28): one 7x7 convolution from 7 x 7 to 1
            last = [spectral_norm(nn.Conv2d(2 * w, 1, 7, 1, 0))]  # 7 -> 1
        self.net = nn.Sequential(
            spectral_norm(nn.Conv2d(1, w, 4, 2, 1)),  # 32 -> 16 (28 -> 14)
            nn.LeakyReLU(0.2, inplace=True),
            spectral_norm(nn.Conv2d(w, 2 * w, 4, 2, 1)),  # 16 -> 8 (14 -> 7)
            nn.LeakyReLU(0.2, inplace=True),
            *last,
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Score images ``x`` of shape ``(B, 1, size, size)``; returns raw logits ``(B,)``."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, self.size, self.size):
            raise ValueError(f"expected x of shape (B, 1, {self.size}, {self.size}), got {tuple(x.shape)}")
        return self.net(x).flatten()


def load_fashion32(
    path: str | os.PathLike, device: str | torch.device = "cpu"
) -> tuple[Fashion32Generator, Fashion32Discriminator]:
    """Load a trained generator and discriminator from a weights file.

    The file holds ``{"generator": state_dict, "discriminator": state_dict,
    "config": {"z_dim": ..., "width": ...[, "size": 28]}}`` (also ``zoo:mnist28``'s); both networks are built from
    the file's ``config`` (falling back to :data:`CONFIG`), loaded (float16
    tensors are cast back to float32), moved to ``device``, put in eval mode
    and frozen (``requires_grad_(False)``).

    Returns:
        ``(generator, discriminator)``.
    """
    blob = torch.load(path, map_location=device, weights_only=True)
    config = {**CONFIG, **dict(blob.get("config") or {})}
    size = int(config.get("size", 32))
    generator = Fashion32Generator(z_dim=int(config["z_dim"]), width=int(config["width"]), size=size)
    discriminator = Fashion32Discriminator(width=int(config["width"]), size=size)
    for net, key in ((generator, "generator"), (discriminator, "discriminator")):
        state = {k: (v.float() if torch.is_floating_point(v) else v) for k, v in blob[key].items()}
        net.load_state_dict(state)
        net.to(device).eval().requires_grad_(False)
    return generator, discriminator


def _read_idx_images(path: Path) -> np.ndarray:
    """Read a gzipped idx3 image file into a ``(N, 28, 28)`` uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, n, rows, cols = np.frombuffer(data[:16], dtype=">u4")
    if magic != 0x0803:
        raise ValueError(f"{path}: not an idx3 uint8 image file (magic {magic:#x})")
    images = np.frombuffer(data, dtype=np.uint8, offset=16)
    return images.reshape(int(n), int(rows), int(cols))


def read_fashion_mnist(
    data_dir: str | os.PathLike = DEFAULT_DATA_DIR,
    split: str = "test",
    limit: int | None = None,
    as_uint8: bool = False,
) -> torch.Tensor:
    """Read Fashion-MNIST images, padded to 32x32.

    Args:
        data_dir: folder with ``{train,t10k}-images-idx3-ubyte.gz``.
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        limit: keep only the first ``limit`` images.
        as_uint8: return the raw padded uint8 pixels instead of floats.

    Returns:
        ``(N, 1, 32, 32)``: float32 in ``[-1, 1]`` (background -1), or uint8
        in ``[0, 255]`` (background 0) with ``as_uint8``.
    """
    prefix = {"train": "train", "test": "t10k"}[split]
    images = _read_idx_images(Path(data_dir) / f"{prefix}-images-idx3-ubyte.gz")
    if limit is not None:
        images = images[:limit]
    # Fashion-MNIST's background is 0: pad 2 pixels of it on every side.
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2)), constant_values=0)
    out = torch.from_numpy(np.ascontiguousarray(padded))[:, None]
    if as_uint8:
        return out
    return out.float().div_(127.5).sub_(1.0)
