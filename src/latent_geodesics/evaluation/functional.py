"""Numbers about a path as pure functions of tensors: speed uniformity, brightness, contrast, critic scores.

Nothing here needs gradients or streams frames; :mod:`.evaluate` feeds these the frames of whole path sets.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .._check import UserError
from ..generators import Generator
from ..realism import critic

LUMA = (0.299, 0.587, 0.114)
"""Rec. 601 luminance weights for R, G, B."""


def step_cv(d: Tensor) -> Tensor:
    """Coefficient of variation of the step distances of each path: ``std(d) / mean(d)``, population std.

    0 for a path at constant speed (and for a path whose steps are all zero).

    Shape:
        - d: ``(B, N)`` step distances (not squared)
        - output: ``(B,)``
    """
    mean = d.mean(-1)
    std = d.std(-1, unbiased=False)
    return torch.where(mean > 0, std / mean.clamp_min(torch.finfo(d.dtype).tiny), torch.zeros_like(mean))


def max_over_mean_step(d: Tensor) -> Tensor:
    """Largest step over the mean step of each path (1 at constant speed, 1 for all-zero steps).

    Shape:
        - d: ``(B, N)``
        - output: ``(B,)``
    """
    mean = d.mean(-1)
    return torch.where(mean > 0, d.amax(-1) / mean.clamp_min(torch.finfo(d.dtype).tiny), torch.ones_like(mean))


def luminance(images: Tensor) -> Tensor:
    """Luminance on the ``[0, 1]`` scale: ``Y = 0.299 R + 0.587 G + 0.114 B``, or the channel itself if grey.

    Shape:
        - images: ``(M, C, H, W)`` in ``[-1, 1]``, ``C`` in ``{1, 3}``
        - output: ``(M, H, W)`` in ``[0, 1]``
    """
    x = (images + 1) / 2
    if x.shape[1] == 1:
        return x[:, 0]
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1)


def brightness_contrast(images: Tensor) -> tuple[Tensor, Tensor]:
    """Brightness (mean) and contrast (population std) of each image's luminance, on the ``[0, 1]`` scale.

    Shape:
        - images: ``(M, C, H, W)`` in ``[-1, 1]``, ``C`` in ``{1, 3}``
        - output: ``((M,), (M,))``
    """
    y = luminance(images).flatten(1)  # (M, H*W)
    return y.mean(1), y.std(1, unbiased=False)


def middle_third(n_points: int) -> list[int]:
    """Indices ``i`` of the frames of an ``N + 1``-frame path whose position ``i / N`` lies in ``[1/3, 2/3]``.

    Symmetric about the middle of the path; for ``N = 1`` (no interior frame) both endpoints, so that the
    mid-path change of a two-frame path is 0.
    """
    n = n_points - 1
    idx = [i for i in range(n_points) if n <= 3 * i <= 2 * n]
    return idx or list(range(n_points))


def _mid_and_ends(values: Tensor) -> tuple[Tensor, Tensor]:
    """Mean over the middle third of the frames and mean of the two endpoints: ``(B, N+1) -> ((B,), (B,))``."""
    mid = values[:, middle_third(values.shape[1])].mean(1)
    ends = (values[:, 0] + values[:, -1]) / 2
    return mid, ends


def mid_path_change(values: Tensor) -> Tensor:
    """Mean of a per-frame value over the middle third of each path minus the mean of its two endpoints.

    With brightness as the value, negative means the path gets darker in the middle.

    Shape:
        - values: ``(B, N+1)``
        - output: ``(B,)``
    """
    mid, ends = _mid_and_ends(values)
    return mid - ends


def mid_path_ratio(values: Tensor) -> Tensor:
    """Mean of a per-frame value over the middle third of each path over the mean of its two endpoints.

    With contrast as the value, below 1 means the path gets flatter in the middle. NaN where the endpoints'
    mean is 0 (the ratio is undefined; reports write it as ``null``).

    Shape:
        - values: ``(B, N+1)``
        - output: ``(B,)``
    """
    mid, ends = _mid_and_ends(values)
    return torch.where(ends > 0, mid / ends.clamp_min(torch.finfo(values.dtype).tiny),
                       torch.full_like(mid, math.nan))


def critic_scores(generator: Generator, images: Tensor, *, per_image: bool = False) -> Tensor:
    """Raw critic scores of images from the generator's discriminator (higher = more realistic).

    Call it on at most a chunk of images at a time; it runs the discriminator without gradients.

    Shape:
        - images: ``(M, C, H, W)`` in ``[-1, 1]``
        - output: ``(M,)``, in the discriminator's own units (e.g. a logit)

    Raises:
        UserError: the generator has no discriminator, or it does not return one score per image.
    """
    if generator.discriminator is None:
        raise UserError(f"model {generator.name} has no discriminator, so realism cannot be scored; "
                        "use a model that carries one")
    with torch.no_grad():
        return critic(generator.discriminator, images, per_image=per_image).float()
