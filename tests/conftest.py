"""Shared fixtures: tiny generators whose geodesics are known, and a device list that skips missing CUDA."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from latent_geodesics.generators import Generator

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request) -> torch.device:
    return torch.device(request.param)


class LinearNet(nn.Module):
    """``z (B, d) -> (B, 1, h, w)``: a fixed linear map, scaled to stay well inside [-1, 1]."""

    def __init__(self, d: int = 4, h: int = 4, w: int = 4, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.latent_shape = (d,)
        self.register_buffer("A", torch.randn(h * w, d, generator=g) * (0.05 / math.sqrt(d)))
        self.h, self.w = h, w

    def forward(self, z):
        return (z @ self.A.T).view(z.shape[0], 1, self.h, self.w)


class WarpedNet(nn.Module):
    """``(u, v) -> Q [u, exp(v)] / 4``: pixel geodesics are straight in ``(u, exp(v))``.

    ``Q`` has orthonormal columns, so the pixel metric is ``|d(u, e^v)|^2 / (16 * P)`` exactly and the
    geodesic from ``(u0, v0)`` to ``(u1, v1)`` at constant speed is
    ``u(t) = u0 + t (u1 - u0)``, ``v(t) = log((1 - t) e^v0 + t e^v1)``.
    """

    def __init__(self, pixels: int = 16, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(pixels, 2, generator=g, dtype=torch.float64))
        self.register_buffer("Q", q.float())
        self.latent_shape = (2,)
        self.side = int(math.isqrt(pixels))

    def forward(self, z):
        feats = torch.stack([z[:, 0], torch.exp(z[:, 1])], 1) / 4
        return (feats @ self.Q.T.to(z.dtype)).view(z.shape[0], 1, self.side, self.side)


class TinyConvNet(nn.Module):
    """A small random conv generator ``(B, 8) -> (B, 3, 8, 8)`` with batch norm (eval) and tanh."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.latent_shape = (8,)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(8, 16, 4, 1, 0), nn.BatchNorm2d(16), nn.ReLU(),
            nn.ConvTranspose2d(16, 3, 4, 2, 1), nn.Tanh(),
        )
        with torch.no_grad():
            self.net[1].running_mean.uniform_(-0.1, 0.1)
            self.net[1].running_var.uniform_(0.5, 1.5)

    def forward(self, z):
        return self.net(z.view(z.shape[0], 8, 1, 1))


@pytest.fixture
def linear_gen() -> Generator:
    return Generator(LinearNet(), latent_shape=(4,), name="linear")


@pytest.fixture
def warped_gen() -> Generator:
    return Generator(WarpedNet(), latent_shape=(2,), name="warped")


@pytest.fixture
def conv_gen() -> Generator:
    return Generator(TinyConvNet(), latent_shape=(8,), name="tinyconv")


class TinyGen(nn.Module):
    """A scriptable ``(B, 6) -> (B, 3, 8, 8)`` generator with its latent shape as an attribute."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.latent_shape = (6,)
        self.lin = nn.Linear(6, 3 * 8 * 8)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.lin(z)).view(z.shape[0], 3, 8, 8)


@pytest.fixture
def tiny_net() -> TinyGen:
    return TinyGen()


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> str:
    """:class:`TinyGen` saved as TorchScript: what a user passes as ``--model gen.pt``."""
    path = tmp_path_factory.mktemp("model") / "tiny.pt"
    torch.jit.save(torch.jit.script(TinyGen()), str(path))
    return str(path)


@pytest.fixture
def read_only_path() -> Path:
    """A path that cannot be created: below /sys, mounted read-only in containers; skips where it is writable."""
    path = Path("/sys/latent-geodesics-test")
    try:
        path.mkdir()
    except OSError:
        return path
    path.rmdir()
    pytest.skip("/sys is writable here")
