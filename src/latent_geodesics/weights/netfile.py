"""Our feature-network file: a ``torch.save``'d dict ``{"format", "arch", "preprocessing", "state_dict", "note"}``.

This module owns that layout: the format tag, the input convention a file records (:class:`Preprocessing`),
writing a file (:func:`save_network`) and the digest its pin is checked by (:func:`network_sha256`).
:mod:`latent_geodesics.networks` reads such files into networks.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

FORMAT = "latent-geodesics.feature-net.v1"
"""Tag of our saved network files: ``{"format", "arch", "preprocessing", "state_dict", "note"}``."""


@dataclass(frozen=True)
class Preprocessing:
    """What a network expects of its input: ``y = (x01 * white - mean) / std`` in channel ``order``.

    ``x01`` is the image in ``[0, 1]``; ``mean`` and ``std`` are per channel, in the network's channel
    order and pixel units.

    Attributes:
        order: ``"RGB"`` or ``"BGR"``.
        white: value of a white pixel, ``1.0`` or ``255.0``.
        mean: per-channel mean subtracted, in ``order``.
        std: per-channel divisor, in ``order``.
    """

    order: str
    white: float
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def __post_init__(self) -> None:
        if self.order not in ("RGB", "BGR"):
            raise ValueError(f"colour order must be RGB or BGR, got {self.order!r}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0 or self.white <= 0:
            raise ValueError(f"bad preprocessing {self}")

    def affine(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(shift, scale)`` such that ``y = (x - shift) / scale`` for ``x`` in ``[-1, 1]``."""
        shift = tuple(2.0 * m / self.white - 1.0 for m in self.mean)
        scale = tuple(2.0 * s / self.white for s in self.std)
        return shift, scale

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        return cls(order=str(d["order"]), white=float(d["white"]), mean=tuple(map(float, d["mean"])),
                   std=tuple(map(float, d["std"])))


KERAS_CAFFE = Preprocessing("BGR", 255.0, (103.939, 116.779, 123.68), (1.0, 1.0, 1.0))
"""The original (Oxford/Caffe, and Keras) VGG convention: BGR, 0-255, mean subtracted."""
TORCHVISION = Preprocessing("RGB", 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
"""torchvision's convention: RGB, [0, 1], ImageNet mean and std (also LPIPS's ``ScalingLayer``)."""


def save_network(out: Path, *, arch: str, preprocessing: Preprocessing, state_dict: dict[str, Tensor],
                 note: str) -> None:
    """Write a network file in our format to ``out``."""
    with open(out, "wb") as f:  # a file object: torch would name the archive's records after a path
        torch.save({
            "format": FORMAT,
            "arch": arch,
            "preprocessing": preprocessing.to_dict(),
            "state_dict": state_dict,
            "note": note,
        }, f)


def network_sha256(path: Path) -> str:
    """sha256 of what a network file in our format holds, however torch serialised it.

    Covers the format, architecture and preprocessing and, in key order, each tensor's name, dtype,
    shape and bytes; a damaged file fails to load or changes the digest.
    """
    blob = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    h = hashlib.sha256(json.dumps({k: blob[k] for k in ("format", "arch", "preprocessing")},
                                  sort_keys=True).encode())
    for key in sorted(blob["state_dict"]):
        t = blob["state_dict"][key].detach().contiguous()
        h.update(f"{key} {t.dtype} {tuple(t.shape)}\n".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()
