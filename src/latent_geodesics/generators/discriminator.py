"""A GAN discriminator seen as a critic: raw scores of images, and the boundary check of a user's critic.

These sit with the generators (a :class:`~latent_geodesics.generators.Generator` probes its discriminator
when it is loaded); :mod:`latent_geodesics.realism` builds realism and the weighted metric on them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from .._check import UserError, first_line


def critic(discriminator: Callable, images: Tensor, *, per_image: bool = False) -> Tensor:
    """Raw critic scores ``(M,)`` of images ``(M, C, H, W)``; higher is more realistic.

    ``per_image`` runs each image alone, for discriminators whose scores depend on the batch
    (minibatch statistics).
    """
    if per_image:
        return torch.cat([critic(discriminator, x.unsqueeze(0)) for x in images])
    scores = discriminator(images)
    if not torch.is_tensor(scores) or scores.numel() != images.shape[0]:
        got = tuple(scores.shape) if torch.is_tensor(scores) else type(scores).__name__
        raise UserError(f"the discriminator returned {got} for {images.shape[0]} images; it must return one "
                        "score per image, shape (B,) or (B, 1)")
    return scores.reshape(-1)


def depends_on_batch(discriminator: Callable, images: Tensor, *, tol: float = 1e-4) -> bool:
    """Whether scores of ``images`` ``(M >= 2, ...)`` change when each is scored alone."""
    together = critic(discriminator, images)
    alone = critic(discriminator, images, per_image=True)
    return not torch.allclose(together, alone, rtol=tol, atol=tol * float(together.abs().max().clamp_min(1)))


@torch.no_grad()
def check_discriminator(discriminator: Callable, images: Tensor, *, what: str = "the discriminator") -> None:
    """Probe a discriminator on generated images ``(M >= 2, C, H, W)``: the boundary check of a user's critic.

    It must return a tensor of shape ``(M,)`` or ``(M, 1)``, finite, and each image's score must not change
    when the image is scored alone (:func:`depends_on_batch`).

    Raises:
        UserError: one line saying which of these failed.
    """
    m = images.shape[0]
    try:
        scores = discriminator(images)
        if not torch.is_tensor(scores):
            raise UserError(f"{what} returned {type(scores).__name__}, not a tensor; it must return one score per "
                            f"image, shape ({m},) or ({m}, 1)")
        if tuple(scores.shape) not in ((m,), (m, 1)):
            raise UserError(f"{what} returned shape {tuple(scores.shape)} for {m} images of shape "
                            f"{tuple(images.shape[1:])}; it must return one score per image, shape ({m},) or ({m}, 1)")
        if not torch.isfinite(scores).all():
            raise UserError(f"{what} returned NaN or inf scores; check its weights")
        batch_dependent = depends_on_batch(discriminator, images)
    except UserError:
        raise
    except Exception as e:  # anything the user's critic raises on a plain image batch
        raise UserError(f"{what} failed on images of shape {tuple(images.shape)}: {first_line(e)}; it must take "
                        "images (B, C, H, W) in [-1, 1]") from e
    if batch_dependent:
        raise UserError(f"{what} gives an image another score when the rest of its batch changes (minibatch "
                        "statistics, or batch norm in training mode); make each image's score its own, e.g. "
                        "zero the minibatch-stddev channel as Petzka et al. do")
