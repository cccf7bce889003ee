"""Stand-in generators of real size (256-1024 px, 512-d latents) with random weights, for cost and memory.

Random weights exercise what a model of that size costs (time per latent, activation memory), not image
quality: their images are structured noise, and the paths found on them say nothing about perception.

Two families, each usable as a ``package.module:factory`` spec from the repository root:

- ``bench.standins:conv256`` (``conv512``, ``conv1024``): a DCGAN-style generator, ``512 -> 4x4`` then one
  transposed convolution per doubling (channels halving from 512 to at least 16), batch norm, ReLU, tanh;
  what a user who wraps their own convolutional generator brings (issue 31's ``mygen:g256``).
- ``bench.standins:style256`` (``style512``, ``style1024``): a StyleGAN2-class generator: an 8-layer mapping
  network ``z (512) -> w (512)``, a learned 4x4 constant, per resolution a bilinear upsampling and two 3x3
  convolutions modulated by ``w`` with weight demodulation, and a to-RGB skip summed across resolutions;
  channels as StyleGAN2's config-f (512 up to 64 px, then halving to 32 at 1024 px). No per-layer noise (a
  path energy needs a deterministic generator). The output goes through ``tanh`` so that it lies in [-1, 1].
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LATENT = 512


def _channels(res: int, top: int = 512, base: int = 16384) -> int:
    """StyleGAN2's channel schedule: ``min(top, base / res)`` (512 up to 32 px, 32 at 512 px, 16 at 1024 px)."""
    return max(16, min(top, base // res))


class ConvGenerator(nn.Module):
    """DCGAN-style ``(B, 512) -> (B, 3, size, size)`` in [-1, 1], random weights (seeded)."""

    def __init__(self, size: int = 256, latent: int = LATENT, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        steps = int(math.log2(size)) - 2
        if size < 8 or 4 * 2 ** steps != size:
            raise ValueError(f"size must be a power of two >= 8, got {size}")
        self.fc = nn.Linear(latent, 512 * 16)
        layers: list[nn.Module] = [nn.BatchNorm2d(512), nn.ReLU()]
        ch = 512
        for i in range(steps):
            last = i == steps - 1
            out = 3 if last else max(16, ch // 2)
            layers.append(nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=last))
            layers += [nn.Tanh()] if last else [nn.BatchNorm2d(out), nn.ReLU()]
            ch = out
        self.net = nn.Sequential(*layers)
        self.eval()

    def forward(self, z: Tensor) -> Tensor:
        return self.net(self.fc(z).view(-1, 512, 4, 4))


class ModulatedConv(nn.Module):
    """3x3 convolution whose input channels are scaled per sample by a style, with weight demodulation."""

    def __init__(self, cin: int, cout: int, w_dim: int, *, demodulate: bool = True, kernel: int = 3) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, kernel, kernel) / math.sqrt(cin * kernel * kernel))
        self.affine = nn.Linear(w_dim, cin)
        nn.init.ones_(self.affine.bias)
        self.bias = nn.Parameter(torch.zeros(cout))
        self.demodulate = demodulate

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        b, cin, h, wd = x.shape
        style = self.affine(w)  # (B, cin)
        weight = self.weight.unsqueeze(0) * style.view(b, 1, cin, 1, 1)  # (B, cout, cin, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.pow(2).sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
        k = weight.shape[-1]
        out = F.conv2d(x.reshape(1, b * cin, h, wd), weight.reshape(-1, cin, k, k), padding=k // 2, groups=b)
        return out.view(b, -1, h, wd) + self.bias.view(1, -1, 1, 1)


class StyleGenerator(nn.Module):
    """StyleGAN2-class ``(B, 512) -> (B, 3, size, size)`` in [-1, 1], random weights (seeded)."""

    def __init__(self, size: int = 256, latent: int = LATENT, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        if size < 8 or 2 ** int(math.log2(size)) != size:
            raise ValueError(f"size must be a power of two >= 8, got {size}")
        mapping: list[nn.Module] = []
        for _ in range(8):
            mapping += [nn.Linear(latent, latent), nn.LeakyReLU(0.2)]
        self.mapping = nn.Sequential(*mapping)
        self.const = nn.Parameter(torch.randn(1, _channels(4), 4, 4))
        self.convs = nn.ModuleList()
        self.to_rgb = nn.ModuleList()
        res, ch = 4, _channels(4)
        self.convs.append(nn.ModuleList([ModulatedConv(ch, ch, latent)]))
        self.to_rgb.append(ModulatedConv(ch, 3, latent, demodulate=False, kernel=1))
        while res < size:
            res *= 2
            out = _channels(res)
            self.convs.append(nn.ModuleList([ModulatedConv(ch, out, latent), ModulatedConv(out, out, latent)]))
            self.to_rgb.append(ModulatedConv(out, 3, latent, demodulate=False, kernel=1))
            ch = out
        self.eval()

    def forward(self, z: Tensor) -> Tensor:
        z = z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)  # StyleGAN's pixel norm of z
        w = self.mapping(z)
        x = self.const.expand(z.shape[0], -1, -1, -1)
        rgb = None
        for i, (convs, to_rgb) in enumerate(zip(self.convs, self.to_rgb)):
            if i:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            for conv in convs:
                x = F.leaky_relu(conv(x, w), 0.2)
            y = to_rgb(x, w)
            rgb = y if rgb is None else F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + y
        return torch.tanh(rgb)


# ``package.module:factory`` specs: each name builds its stand-in with no arguments
conv64, conv128, conv256, conv512, conv1024 = (partial(ConvGenerator, size) for size in (64, 128, 256, 512, 1024))
style256, style512, style1024 = (partial(StyleGenerator, size) for size in (256, 512, 1024))
