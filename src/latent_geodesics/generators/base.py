"""The generator protocol: latents in, images in ``[-1, 1]`` out, plus what a solver must know.

A :class:`Generator` wraps any ``nn.Module`` or callable ``f(z) -> images`` with its latent shape,
its prior, and optionally a discriminator (for realism-weighted metrics) and a fixed extra input
(e.g. a class label for a conditional model) that rides along with every point.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import Tensor, nn

from .._check import UserError, check_images, check_shell, first_line
from .discriminator import check_discriminator

Prior = Literal["gaussian", "sphere"]
PRIORS: tuple[str, ...] = ("gaussian", "sphere")
REPEAT_TOLERANCE = 1e-3
"""Largest pixel difference (of [-1, 1]) between two identical calls that still counts as the same images: float32
reductions may run in another order (4e-5 seen on a 256 px StyleGAN2-class network on a CPU); random noise inputs
differ by tenths."""


def check_seed(seed: int) -> int:
    """``seed`` as an int in ``[0, 2**64)``, the seeds every generator draws from."""
    if not 0 <= int(seed) < 2**64:
        raise UserError(f"seed must be an integer in [0, 2**64), got {seed}")
    return int(seed)


def _frozen(module: Callable) -> Callable:
    """A frozen copy of ``module``: eval mode, no parameter gradients, the caller's object untouched."""
    if not isinstance(module, nn.Module):
        return module
    if not isinstance(module, torch.jit.ScriptModule):  # a deep-copied ScriptModule has non-leaf parameters
        module = copy.deepcopy(module)
    module.eval()
    for p in module.parameters():  # ScriptModules refuse module.requires_grad_()
        p.requires_grad_(False)
    return module


def project_to_prior(z: Tensor, latent_shape: tuple[int, ...], prior: Prior, shell: float | None) -> Tensor:
    """Map latents ``(..., *latent_shape)`` onto the support of a prior (see :meth:`Generator.project`).

    ``sphere``: renormalise to radius ``sqrt(dim)``; ``gaussian``: identity, or with ``shell`` (in standard
    deviations of the norm, ``~1/sqrt(2)``) the norm clamped into the typical-set shell around ``sqrt(dim - 1/2)``.
    """
    if prior == "gaussian" and shell is None:
        return z
    dim = math.prod(latent_shape)
    flat = z.flatten(-len(latent_shape))
    norm = flat.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    if prior == "sphere":
        target = torch.full_like(norm, math.sqrt(dim))
    else:
        radius, half_width = math.sqrt(dim - 0.5), shell / math.sqrt(2)
        target = norm.clamp(radius - half_width, radius + half_width)
    return (flat * (target / norm)).reshape(z.shape)


class Generator(nn.Module):
    """A generator with the facts a path solver needs.

    Args:
        net: module or callable mapping latents ``(B, *latent_shape)`` (plus ``condition`` if given)
            to images ``(B, C, H, W)`` in ``[-1, 1]``. A frozen copy is kept.
        latent_shape: shape of one latent code, e.g. ``(100,)``.
        prior: ``"gaussian"`` (standard normal) or ``"sphere"`` (codes live on the sphere of radius
            ``sqrt(dim)``; every point is renormalised, as in ProGAN).
        discriminator: optional module or callable ``images (B, C, H, W) -> scores (B,)``, higher is
            more realistic.
        condition: optional fixed tensor ``(*cond_shape)`` passed as second argument to ``net`` for
            every point (e.g. a one-hot class label).
        name: shown in reports.
        shell: for a ``gaussian`` prior, keep every point's norm within ``shell`` standard deviations
            of the typical-set radius ``sqrt(dim - 1/2)`` (the norm of a standard normal has std
            ``~1/sqrt(2)``); ``None`` (default) leaves points free.

    Shape:
        - input: ``(B, *latent_shape)``
        - output: ``(B, C, H, W)``, ``C`` in ``{1, 3}``, values in ``[-1, 1]``
    """

    def __init__(self, net: Callable, *, latent_shape: tuple[int, ...] | int, prior: Prior = "gaussian",
                 discriminator: Callable | None = None, condition: Tensor | None = None,
                 name: str = "generator", shell: float | None = None) -> None:
        super().__init__()
        if prior not in PRIORS:
            raise UserError(f"unknown latent prior {prior!r}; choose one of: {', '.join(PRIORS)}")
        if isinstance(latent_shape, int):
            latent_shape = (latent_shape,)
        self.latent_shape = tuple(int(s) for s in latent_shape)
        if not self.latent_shape or any(s < 1 for s in self.latent_shape):
            raise UserError(f"latent shape must be positive sizes, got {latent_shape}")
        self.prior: Prior = prior
        self.name = name
        self.shell = check_shell(shell)
        self.net = _frozen(net)
        self.discriminator = _frozen(discriminator) if discriminator is not None else None
        self.register_buffer("condition", condition, persistent=False)

    @property
    def latent_dim(self) -> int:
        return math.prod(self.latent_shape)

    @property
    def device(self) -> torch.device:
        for t in self.parameters():
            return t.device
        for t in self.buffers():
            return t.device
        return torch.device("cpu")

    def forward(self, z: Tensor) -> Tensor:
        if self.condition is None:
            return self.net(z)
        cond = self.condition.expand(z.shape[0], *self.condition.shape)
        return self.net(z, cond)

    def train(self, mode: bool = True) -> "Generator":
        # Always in eval mode: batch norm must use its running statistics, or an image would
        # depend on the other images of its batch.
        return super().train(False)

    def style_info(self) -> dict | None:
        """A StyleGAN-class model's space and truncation (recorded with its paths); ``None`` for other models."""
        return None

    @property
    def constrained(self) -> bool:
        """Whether :meth:`project` changes points (sphere prior, or a gaussian shell)."""
        return self.prior == "sphere" or self.shell is not None

    def endpoint(self, z: Tensor) -> Tensor:
        """Endpoints given by a user: renormalised on a sphere prior, otherwise kept exactly."""
        return self.project(z) if self.prior == "sphere" else z

    def project(self, z: Tensor) -> Tensor:
        """Map latents ``(..., *latent_shape)`` onto the support of the prior.

        ``sphere``: renormalise to radius ``sqrt(dim)``; ``gaussian``: identity, or with ``shell`` the
        norm clamped into the typical-set shell.
        """
        return project_to_prior(z, self.latent_shape, self.prior, self.shell)

    def sample_latents(self, n: int, *, seed: int, device: torch.device | str | None = None) -> Tensor:
        """``n`` latents drawn from the prior with their own RNG seeded by ``seed``: ``(n, *latent_shape)``.

        Drawn on the CPU so that a seed gives the same codes on every device.
        """
        rng = torch.Generator().manual_seed(check_seed(seed))
        z = torch.randn(n, *self.latent_shape, generator=rng)
        return self.endpoint(z).to(device or self.device)

    @torch.no_grad()
    def probe(self, *, what: str | None = None) -> tuple[int, int, int]:
        """Run two latents through the generator and check what comes back; returns ``(C, H, W)``.

        Two identical calls must give the same images (a path's energy is a function of its points). With a
        discriminator, it must score those two images with one finite number each, the same
        whether they are scored together or alone (:func:`.discriminator.check_discriminator`).
        """
        what = what or f"generator {self.name}"
        z = self.sample_latents(2, seed=0)
        try:
            x = self(z)
        except UserError:
            raise
        except Exception as e:  # anything the user's model raises on a plain latent batch
            check = "the --condition (does the model take one, of that shape?)" if self.condition is not None \
                else "--latent-shape"
            raise UserError(f"{what} failed on latents of shape {tuple(z.shape)}: {first_line(e)}; "
                            f"check {check} and the model") from e
        check_images(x, batch=2, what=what)
        again = self(z)
        if not torch.equal(again, x):
            diff = float((again - x).abs().max())
            if diff > REPEAT_TOLERANCE:
                raise UserError(f"{what} gives different images for the same latents (pixels differ by up to "
                                f"{diff:.3g}): a path's length must depend on its points only; make it deterministic "
                                "(e.g. StyleGAN's synthesis with noise_mode='const', dropout off, no sampling inside)")
        if self.discriminator is not None:
            check_discriminator(self.discriminator, x, what=f"the discriminator of {what}")
        return tuple(x.shape[1:])  # type: ignore[return-value]


class _ConditionInLatent(nn.Module):
    """``w (B, D + K) -> net(w[:, :D] as (B, *latent_shape), w[:, D:])``: the condition read from the latent."""

    def __init__(self, net: Callable, latent_shape: tuple[int, ...]) -> None:
        super().__init__()
        self.net = net
        self.latent_shape = latent_shape
        self.dim = math.prod(latent_shape)

    def forward(self, w: Tensor) -> Tensor:
        return self.net(w[:, :self.dim].reshape(w.shape[0], *self.latent_shape), w[:, self.dim:])


def condition_as_coordinates(generator: Generator) -> Generator:
    """A conditional generator whose condition becomes part of the latent, so that a path can change it too.

    The new latent is ``cat(z.flatten(), condition.flatten())``, shape ``(D + K,)``, e.g. a path from a
    brown eye to a hazel one moves the one-hot class along with ``z``. The prior stays gaussian without a
    shell (a shell would pull the condition part too); the frozen network is shared, not copied again.

    Raises:
        UserError: the generator has no condition.
    """
    if generator.condition is None:
        raise UserError(f"{generator.name} takes no condition; a path between classes needs a conditional model")
    k = generator.condition.numel()
    out = Generator(nn.Identity(), latent_shape=(generator.latent_dim + k,), prior="gaussian",
                    name=f"{generator.name}+condition")
    out.net = _ConditionInLatent(generator.net, generator.latent_shape)  # the frozen net itself, no second copy
    return out.to(generator.device)
