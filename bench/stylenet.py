"""A StyleGAN2-class network with NVIDIA's calling interface, random weights: the project's own stand-in.

It has what ``stylegan2-ada-pytorch`` and ``stylegan3`` networks expose, so the loading, W/W+ spaces,
truncation, the discriminator and PPL can be tested and benchmarked without NVIDIA's code (its licence):

- ``G.mapping(z, c, truncation_psi=1, truncation_cutoff=None) -> ws (B, num_ws, w_dim)``, a ``w_avg`` buffer;
- ``G.synthesis(ws, noise_mode='random'|'const'|'none') -> images (B, C, H, W)``: per-layer noise is random
  unless ``noise_mode='const'`` (a fixed buffer per layer), as in StyleGAN2;
- ``G(z, c, truncation_psi, truncation_cutoff, noise_mode)``; attributes ``z_dim``, ``c_dim``, ``w_dim``,
  ``num_ws``, ``img_resolution``, ``img_channels``;
- ``D(img, c) -> logits (B, 1)``;
- output that overshoots ``[-1, 1]`` a little (``overshoot``, default 12%), as real StyleGAN output does.

:func:`make_pickle` writes ``{'G', 'G_ema', 'D', ...}`` with :mod:`pickle` as NVIDIA's training loop does; the
classes are found by their module path (``bench.stylenet``), so the repository root must be importable.
"""

from __future__ import annotations

import math
import pickle
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from bench.standins import ModulatedConv


def _normalize_2nd_moment(x: Tensor, eps: float = 1e-8) -> Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


class MappingNetwork(nn.Module):
    """``z (B, z_dim), c (B, c_dim) -> ws (B, num_ws, w_dim)``, with truncation towards ``w_avg``."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, layers: int = 8) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.embed = nn.Linear(c_dim, w_dim) if c_dim else None
        dims = [z_dim + (w_dim if c_dim else 0)] + [w_dim] * layers
        self.fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: Tensor, c: Tensor | None, truncation_psi: float = 1, truncation_cutoff: int | None = None,
                update_emas: bool = False) -> Tensor:
        x = _normalize_2nd_moment(z.to(torch.float32))
        if self.c_dim:
            x = torch.cat([x, _normalize_2nd_moment(self.embed(c.to(torch.float32)))], dim=1)
        for fc in self.fcs:
            x = F.leaky_relu(fc(x), 0.2) * math.sqrt(2)
        ws = x.unsqueeze(1).repeat(1, self.num_ws, 1)
        if truncation_psi != 1:
            cutoff = self.num_ws if truncation_cutoff is None else truncation_cutoff
            ws[:, :cutoff] = self.w_avg.lerp(ws[:, :cutoff], truncation_psi)
        return ws


class SynthesisNetwork(nn.Module):
    """``ws (B, num_ws, w_dim) -> images (B, C, R, R)``: a learned 4x4 constant, per resolution an upsampling
    and two modulated 3x3 convolutions with noise inputs, a to-RGB skip; ``overshoot * tanh`` at the end."""

    def __init__(self, w_dim: int, img_resolution: int, img_channels: int = 3, channels: int = 64,
                 overshoot: float = 1.12) -> None:
        super().__init__()
        if img_resolution < 8 or 2 ** int(math.log2(img_resolution)) != img_resolution:
            raise ValueError(f"img_resolution must be a power of two >= 8, got {img_resolution}")
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.overshoot = overshoot
        self.const = nn.Parameter(torch.randn(1, channels, 4, 4))
        self.convs, self.to_rgb = nn.ModuleList(), nn.ModuleList()
        self.noise_strength = nn.ParameterList()
        res, layers = 4, 0
        while res <= img_resolution:
            convs = [ModulatedConv(channels, channels, w_dim) for _ in range(1 if res == 4 else 2)]
            self.convs.append(nn.ModuleList(convs))
            self.to_rgb.append(ModulatedConv(channels, img_channels, w_dim, demodulate=False, kernel=1))
            for _ in convs:
                self.register_buffer(f"noise_const{layers}", torch.randn(1, 1, res, res))
                self.noise_strength.append(nn.Parameter(torch.full((), 0.3)))
                layers += 1
            res *= 2
        self.num_ws = 2 * int(math.log2(img_resolution)) - 2

    def forward(self, ws: Tensor, noise_mode: str = "random", **_: object) -> Tensor:
        if noise_mode not in ("random", "const", "none"):
            raise ValueError(f"unknown noise_mode {noise_mode!r}")
        b = ws.shape[0]
        x = self.const.expand(b, -1, -1, -1)
        rgb, w_idx, layer = None, 0, 0
        for i, (convs, to_rgb) in enumerate(zip(self.convs, self.to_rgb)):
            if i:
                x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            for conv in convs:
                x = conv(x, ws[:, w_idx])
                if noise_mode == "random":
                    noise = torch.randn(b, 1, x.shape[2], x.shape[3], device=x.device)
                elif noise_mode == "const":
                    noise = getattr(self, f"noise_const{layer}")
                else:
                    noise = None
                if noise is not None:
                    x = x + noise * self.noise_strength[layer]
                x = F.leaky_relu(x, 0.2)
                w_idx, layer = w_idx + 1, layer + 1
            y = to_rgb(x, ws[:, w_idx])
            rgb = y if rgb is None else F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False) + y
        return self.overshoot * torch.tanh(rgb)


class StyleNet(nn.Module):
    """NVIDIA's generator interface: ``G(z, c, truncation_psi=1, truncation_cutoff=None, noise_mode='random')``."""

    def __init__(self, z_dim: int = 64, c_dim: int = 0, w_dim: int = 64, img_resolution: int = 32,
                 img_channels: int = 3, channels: int = 64, overshoot: float = 1.12, seed: int = 0,
                 w_avg_samples: int = 2000) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.img_resolution, self.img_channels = img_resolution, img_channels
        self.synthesis = SynthesisNetwork(w_dim, img_resolution, img_channels, channels, overshoot)
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(z_dim, c_dim, w_dim, self.num_ws)
        with torch.no_grad():  # a trained network's w_avg is the running mean of mapped samples
            z = torch.randn(w_avg_samples, z_dim)
            c = F.one_hot(torch.randint(c_dim, (w_avg_samples,)), c_dim).float() if c_dim else None
            self.mapping.w_avg.copy_(self.mapping(z, c)[:, 0].mean(0))
        self.eval()

    def forward(self, z: Tensor, c: Tensor | None, truncation_psi: float = 1, truncation_cutoff: int | None = None,
                noise_mode: str = "random", **kwargs: object) -> Tensor:
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, **kwargs)


class StyleDiscriminator(nn.Module):
    """NVIDIA's discriminator interface: ``D(img (B, C, R, R), c (B, c_dim)) -> logits (B, 1)`` (projection
    conditioning when ``c_dim > 0``)."""

    def __init__(self, c_dim: int = 0, img_resolution: int = 32, img_channels: int = 3, channels: int = 32,
                 seed: int = 1) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        layers: list[nn.Module] = [nn.Conv2d(img_channels, channels, 3, padding=1), nn.LeakyReLU(0.2)]
        res = img_resolution
        while res > 4:
            layers += [nn.Conv2d(channels, channels, 3, stride=2, padding=1), nn.LeakyReLU(0.2)]
            res //= 2
        self.body = nn.Sequential(*layers, nn.Flatten())
        self.out = nn.Linear(channels * 16, channels)
        self.cmap = nn.Linear(c_dim, channels) if c_dim else None
        self.eval()

    def forward(self, img: Tensor, c: Tensor | None, **_: object) -> Tensor:
        x = self.out(self.body(img))
        if self.cmap is not None:
            return (x * self.cmap(c)).sum(dim=1, keepdim=True) / math.sqrt(x.shape[1])
        return x.mean(dim=1, keepdim=True)


def make_pickle(path: str | Path, **kwargs: object) -> Path:
    """Write ``{'G', 'G_ema', 'D', 'augment_pipe', 'training_set_kwargs'}`` as NVIDIA's training loop pickles it.

    ``kwargs`` go to :class:`StyleNet` (``c_dim``, ``img_resolution`` and ``img_channels`` to the discriminator
    too). ``G`` differs from ``G_ema`` (another seed), so a loader that takes the wrong one is caught.
    """
    g_ema = StyleNet(**kwargs)
    g = StyleNet(**{**kwargs, "seed": int(kwargs.get("seed", 0)) + 100})
    d = StyleDiscriminator(c_dim=g_ema.c_dim, img_resolution=g_ema.img_resolution, img_channels=g_ema.img_channels)
    path = Path(path)
    with open(path, "wb") as f:
        pickle.dump({"G": g, "D": d, "G_ema": g_ema, "augment_pipe": None,
                     "training_set_kwargs": {"resolution": g_ema.img_resolution}}, f)
    return path


def style256() -> StyleNet:
    """The 256 px, 512-d bench stand-in with NVIDIA's interface (128 channels per layer)."""
    return StyleNet(z_dim=512, w_dim=512, img_resolution=256, channels=128)
