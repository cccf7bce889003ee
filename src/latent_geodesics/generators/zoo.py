"""Built-in models by name (``zoo:NAME``): one registry that the CLI, reports and docs list from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .. import weights
from .._check import UserError
from .base import Generator
from .dcgan import DCGANGenerator


@dataclass(frozen=True)
class ZooModel:
    """A built-in model: ``build(device)`` returns a ready :class:`Generator`."""

    name: str
    build: Callable[[torch.device], Generator]
    summary: str
    image_shape: tuple[int, int, int]
    latent_shape: tuple[int, ...]
    has_discriminator: bool = False
    weight_files: tuple[str, ...] = ()


ZOO: dict[str, ZooModel] = {}
DEFAULT_MODEL = "faces64"


def register_zoo(model: ZooModel) -> ZooModel:
    if model.name in ZOO:
        raise ValueError(f"zoo model {model.name!r} registered twice")
    ZOO[model.name] = model
    return model


def load_zoo(name: str, device: torch.device | str = "cpu") -> Generator:
    try:
        entry = ZOO[name]
    except KeyError:
        raise UserError(f"unknown zoo model {name!r}; choose one of: {', '.join(ZOO)} "
                        "(`latent-geodesics models` lists them)") from None
    return entry.build(torch.device(device))


def _load_state(path, key: str | None = None) -> dict:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # any unpickling or zip error means the file is not what we pinned
        raise UserError(f"cannot read weight file {path}: {e}; delete it and fetch it again") from e
    if key is not None:
        if not isinstance(state, dict) or key not in state:
            raise UserError(f"weight file {path} has no {key!r} entry; delete it and fetch it again")
        state = state[key]
    return state


def _build_faces64(device: torch.device) -> Generator:
    path = weights.weight_path("faces64-dcgan")
    net = DCGANGenerator(z_dim=100, width=64, channels=3, upsamplings=4)
    net.load_state_dict(_load_state(path, "netG_state_dict"))
    return Generator(net, latent_shape=(100,), prior="gaussian", name="zoo:faces64").to(device)


register_zoo(ZooModel(
    name="faces64",
    build=_build_faces64,
    summary="64x64 RGB synthetic faces, DCGAN trained on DigiFace-1M (MIT); generator only",
    image_shape=(3, 64, 64),
    latent_shape=(100,),
    weight_files=("faces64-dcgan",),
))


def _shipped_dcgan(path, name: str, device: torch.device) -> Generator:
    """A generator + discriminator pair of :mod:`.fashion32` (either size) from a shipped weights file."""
    from .fashion32 import load_fashion32

    net, disc = load_fashion32(path, device="cpu")
    return Generator(net, latent_shape=(net.z_dim,), prior="gaussian", discriminator=disc,
                     name=f"zoo:{name}").to(device)


def _build_fashion32(device: torch.device) -> Generator:
    from importlib.resources import files

    path = files("latent_geodesics.generators") / "weights" / "fashion32.pt"
    try:
        return _shipped_dcgan(path, "fashion32", device)
    except FileNotFoundError:
        raise UserError(f"the shipped weights {path} are missing; reinstall latent-geodesics or run "
                        "scripts/train_fashion32.py") from None


register_zoo(ZooModel(
    name="fashion32",
    build=_build_fashion32,
    summary="32x32 grayscale Fashion-MNIST clothing, our own DCGAN with its discriminator (shipped, 1.8 MB)",
    image_shape=(1, 32, 32),
    latent_shape=(64,),
    has_discriminator=True,
))


def _build_mnist28(device: torch.device) -> Generator:
    # the same networks as fashion32, built for 28x28 from the file's config; the file is sha256-checked
    return _shipped_dcgan(weights.shipped_path("mnist28", retrain="scripts/train_mnist28.py"), "mnist28", device)


register_zoo(ZooModel(
    name="mnist28",
    build=_build_mnist28,
    summary="28x28 grayscale MNIST digits, our own DCGAN with its discriminator (shipped, sha256-checked)",
    image_shape=(1, 28, 28),
    latent_shape=(64,),
    has_discriminator=True,
))
