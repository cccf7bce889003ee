"""The DCGAN generator layout (Radford et al. 2016; PyTorch's DCGAN tutorial), written for our zoo.

State-dict keys match the common ``main.N`` layout, so checkpoints trained with that layout load as-is.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


class DCGANGenerator(nn.Module):
    """DCGAN generator: ``z (B, z_dim)`` -> images ``(B, channels, 4 * 2^k, ...)`` in ``[-1, 1]``.

    Args:
        z_dim: latent size.
        width: feature maps of the last hidden layer (``ngf``); the first has ``width * 2^(k-1)``.
        channels: image channels.
        upsamplings: number of stride-2 transposed convolutions after the first 4x4 one
            (4 gives 64x64 images).
    """

    def __init__(self, z_dim: int = 100, width: int = 64, channels: int = 3, upsamplings: int = 4) -> None:
        super().__init__()
        self.z_dim = z_dim
        mult = 2 ** (upsamplings - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, width * mult, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width * mult),
            nn.ReLU(True),
        ]
        for _ in range(upsamplings - 1):
            layers += [
                nn.ConvTranspose2d(width * mult, width * mult // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width * mult // 2),
                nn.ReLU(True),
            ]
            mult //= 2
        layers += [nn.ConvTranspose2d(width, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.main(z.reshape(z.shape[0], self.z_dim, 1, 1))


class ConditionalDCGAN(nn.Module):
    """A DCGAN fed ``cat(z, condition)``: ``(z (B, z_dim), condition (B, K))`` -> images, as ``net(cat)``.

    Args:
        net: a :class:`DCGANGenerator` with ``z_dim + K`` inputs.
        z_dim: size of the latent part.
    """

    def __init__(self, net: DCGANGenerator, *, z_dim: int) -> None:
        super().__init__()
        self.net = net
        self.z_dim = z_dim

    def forward(self, z: Tensor, condition: Tensor) -> Tensor:
        return self.net(torch.cat([z.reshape(z.shape[0], self.z_dim), condition.to(z.dtype)], 1))
