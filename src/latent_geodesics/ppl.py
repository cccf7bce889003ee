"""Perceptual path length (Karras et al. 2019, "A Style-Based Generator Architecture for GANs", section 3).

PPL is the mean over random latent pairs ``(a, b)`` and ``t`` of

    LPIPS(G(I(a, b, t)), G(I(a, b, t + eps))) / eps^2

with ``I`` the slerp in Z and the lerp in W (and W+), ``t`` uniform in ``[0, 1)`` (``sampling="full"``) or
``0`` (``"end"``), LPIPS-VGG as the similarity, and the samples below the 1st and above the 99th percentile
dropped before the mean. As in NVIDIA's implementation (stylegan2-ada-pytorch ``metrics/perceptual_path_length.py``),
images are optionally center-cropped for faces (rows ``3c..7c``, columns ``2c..6c`` with ``c = H // 8``) and
then area-downsampled by the whole factor ``H // 256`` of the generator's resolution when it is above 256 px.

LPIPS of a small step is already a squared distance (see :mod:`latent_geodesics.metrics.lpips`), so PPL is an
energy density: a path's LPIPS energy ``N * sum_i LPIPS(x_i, x_{i+1})`` over ``t`` in ``[0, 1]`` is on PPL's
scale, and for the interpolation paths themselves its mean over pairs is the full-sampling PPL of those pairs
(:func:`ppl_metric` is the metric to measure it with).

Differences from NVIDIA's code: their noise buffers are redrawn per batch, here the generator's own (constant)
noise is used; images smaller than the LPIPS calibration size (64 px) are upsampled, as everywhere in the
project. A plain generator (no ``space`` attribute) counts as a Z-space one; slerp there is on the unit sphere
like theirs, then scaled to radius ``sqrt(dim)`` (the prior's typical radius), because a plain generator is
not scale-invariant in ``z`` as StyleGAN's mapping network is.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ._check import UserError
from .budget import chunk_for
from .generators import Generator
from .limits import SPACES
from .metrics import Features, Metric, build_metric

SAMPLINGS = ("full", "end")
PPL_SIZE = 256
"""Images above this resolution are area-downsampled by the whole factor ``resolution // PPL_SIZE`` (NVIDIA's)."""
DISCARD_PERCENTILES = (1.0, 99.0)
"""Samples below the first and above the second percentile are dropped (NVIDIA: ``lower`` / ``higher`` rank)."""
Z95 = 1.959963984540054
"""Two-sided 95% quantile of the standard normal."""
BLOCK = 1024
"""Pairs drawn per seed: block ``k`` uses its own seed, so the pairs do not depend on the chunk size."""


def latent_space(generator: Generator) -> str:
    """The generator's latent space: its ``space`` attribute (``z``, ``w``, ``w+``), ``z`` when it has none."""
    space = str(getattr(generator, "space", "z") or "z").lower()
    if space not in SPACES:
        raise UserError(f"unknown latent space {space!r} of {generator.name}; expected one of: {', '.join(SPACES)}")
    return space


def slerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """Spherical interpolation of the directions of ``a`` and ``b``, at radius ``sqrt(dim)``.

    Shape:
        - a, b: ``(B, *latent_shape)``
        - t: ``(B,)``, fractions (values outside ``[0, 1]`` extrapolate along the great circle)
        - output: ``(B, *latent_shape)``, each of norm ``sqrt(prod(latent_shape))``
    """
    fa, fb = a.flatten(1), b.flatten(1)                                  # (B, D)
    ua = fa / fa.norm(dim=1, keepdim=True)
    ub = fb / fb.norm(dim=1, keepdim=True)
    cos = (ua * ub).sum(1, keepdim=True).clamp(-1.0, 1.0)              # (B, 1)
    ortho = ub - cos * ua                                                # the direction from a towards b
    ortho = ortho / ortho.norm(dim=1, keepdim=True).clamp_min(1e-30)
    angle = t.view(-1, 1) * torch.acos(cos)                             # (B, 1)
    out = ua * torch.cos(angle) + ortho * torch.sin(angle)
    out = out / out.norm(dim=1, keepdim=True)
    return (out * math.sqrt(fa.shape[1])).view(a.shape)


def lerp(a: Tensor, b: Tensor, t: Tensor) -> Tensor:
    """``a + t (b - a)``; shapes as :func:`slerp`."""
    return a + t.view(-1, *([1] * (a.dim() - 1))) * (b - a)


def interpolate(a: Tensor, b: Tensor, t: Tensor, space: str) -> Tensor:
    """PPL's interpolation: :func:`slerp` in Z, :func:`lerp` in W and W+ (computed in float64, returned in ``a``'s
    dtype, so the ``eps = 1e-4`` step is not rounded away)."""
    a64, b64, t64 = a.double(), b.double(), t.to(a.device, torch.float64)
    out = slerp(a64, b64, t64) if space == "z" else lerp(a64, b64, t64)
    return out.to(a.dtype)


def prepare_images(images: Tensor, *, crop: bool, size: int = PPL_SIZE) -> Tensor:
    """NVIDIA's PPL preprocessing: optional face crop, then area downsampling by ``H // size`` if above ``size``.

    Shape:
        - images: ``(B, C, H, W)`` in ``[-1, 1]``
        - output: ``(B, C, H', W')``; with ``crop`` ``H' = W' = 4 (H // 8) / max(1, H // size)``
    """
    factor = images.shape[2] // size  # of the full image, as theirs: a 1024 px face crop is measured at 128 px
    if crop:
        c = images.shape[2] // 8
        images = images[:, :, c * 3: c * 7, c * 2: c * 6]
    if factor > 1:
        images = F.avg_pool2d(images, factor)
    return images


class PPLImages(Metric):
    """A metric measured on PPL's images: :func:`prepare_images` (crop, area downsampling) before ``base``.

    Shape:
        - images: ``(B, C, H, W)`` in ``[-1, 1]``; ``crop`` needs ``H == W``
        - output of ``forward``: ``(B,)``, ``base``'s squared distance (LPIPS for :func:`ppl_metric`)
    """

    name = "ppl-lpips"

    def __init__(self, base: Metric, *, crop: bool = False, size: int = PPL_SIZE) -> None:
        super().__init__()
        self.base, self.crop, self.size = base, bool(crop), int(size)

    def embed(self, images: Tensor) -> Features:
        if self.crop and images.shape[2] != images.shape[3]:
            raise UserError(f"the face crop of PPL needs square images, got {images.shape[2]}x{images.shape[3]}")
        return self.base.embed(prepare_images(images, crop=self.crop, size=self.size))

    def compare(self, fa: Features, fb: Features) -> Tensor:
        return self.base.compare(fa, fb)

    def residual(self, fa: Features, fb: Features) -> Tensor:
        return self.base.residual(fa, fb)

    def settings(self) -> dict:
        """What the JSON records about the similarity."""
        inner = getattr(self.base, "network", None)
        return {"metric": "lpips", "net": getattr(self.base, "net", None), "crop": self.crop,
                "resize": f"area, by the whole factor resolution // {self.size} when above {self.size} px",
                "min_size": getattr(inner, "min_size", None), "max_size": getattr(inner, "max_size", None)}


def ppl_metric(*, crop: bool = False, device: str | torch.device = "cpu") -> PPLImages:
    """LPIPS-VGG (v0.1) on PPL's images, no further downsampling: the similarity of :func:`perceptual_path_length`
    and the metric of a path's PPL-scale energy."""
    return PPLImages(build_metric("lpips", net="vgg", max_size="none", device=device), crop=crop).to(device).freeze()


@dataclass(frozen=True)
class PPLResult:
    """What :func:`perceptual_path_length` measured.

    Attributes:
        value: the PPL, mean of the kept samples (unit: LPIPS / eps^2, i.e. LPIPS energy per unit ``t``^2).
        ci95: ``(low, high)``, the normal-approximation 95% confidence interval of that mean
            (``value -+ 1.96 std / sqrt(kept)``, ``std`` of the kept samples with ``ddof=1``).
        samples: samples drawn; ``kept``: those within the percentiles.
        values: every sample, ``(samples,)`` float64, in drawing order, before dropping.
        settings: epsilon, sampling, space, crop, seed, the percentiles and the similarity's settings.
    """

    value: float
    ci95: tuple[float, float]
    samples: int
    kept: int
    std: float
    values: np.ndarray = field(repr=False)
    settings: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready: ``{"ppl": value, "ci95": [low, high], "samples", "kept", "std", **settings}``."""
        return {"ppl": self.value, "ci95": list(self.ci95), "samples": self.samples, "kept": self.kept,
                "std": self.std, **self.settings}


def summarise(values: np.ndarray, discard: tuple[float, float] = DISCARD_PERCENTILES) -> tuple[float, tuple, int, float]:
    """Drop the samples outside the percentiles (lower / higher rank, as NVIDIA), then mean, 95% CI, kept, std.

    Shape:
        - values: ``(S,)``, ``S >= 2``, finite
    """
    lo = np.percentile(values, discard[0], method="lower")
    hi = np.percentile(values, discard[1], method="higher")
    kept = values[(values >= lo) & (values <= hi)]
    mean = float(kept.mean())
    std = float(kept.std(ddof=1)) if kept.size > 1 else 0.0
    half = Z95 * std / math.sqrt(kept.size)
    return mean, (mean - half, mean + half), int(kept.size), std


def _block_seed(seed: int, block: int) -> int:
    return int(np.random.SeedSequence([int(seed), block]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def _check(samples: int, epsilon: float, sampling: str) -> None:
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or samples < 2:
        raise UserError(f"PPL needs at least 2 samples, got {samples!r}")
    if not isinstance(epsilon, (int, float)) or isinstance(epsilon, bool) or not math.isfinite(epsilon) \
            or epsilon <= 0:
        raise UserError(f"epsilon must be a finite number > 0, got {epsilon!r}")
    if sampling not in SAMPLINGS:
        raise UserError(f"unknown sampling {sampling!r}; choose one of: {', '.join(SAMPLINGS)}")


@torch.no_grad()
def perceptual_path_length(generator: Generator, *, samples: int | None = None, epsilon: float = 1e-4,
                           sampling: str = "full", crop: bool = False, seed: int = 0,
                           metric: Metric | None = None, pairs: tuple[Tensor, Tensor] | None = None,
                           chunk_size: int | None = None,
                           progress: Callable[[int], None] | None = None) -> PPLResult:
    """Perceptual path length of ``generator`` in its own latent space (see the module docstring).

    Args:
        generator: the model, on the device to compute on; its ``space`` attribute (``z``, ``w``, ``w+``; none:
            ``z``) picks slerp or lerp, and ``sample_latents`` draws the pairs (in that space).
        samples: number of ``(pair, t)`` samples, at least 2 (default: the number of ``pairs``).
        epsilon: the step in ``t``, > 0 (NVIDIA: 1e-4).
        sampling: ``"full"`` (``t`` uniform in ``[0, 1)``) or ``"end"`` (``t = 0``).
        crop: NVIDIA's center crop for faces.
        seed: pairs ``k * 1024 ... (k+1) * 1024 - 1`` come from ``sample_latents(2 m, seed=s_k)`` (first half
            ``a``, second half ``b``) with ``s_k`` derived from ``(seed, k)``, and their ``t`` from a CPU RNG
            seeded with ``s_k``: the same on every device and for every chunk size.
        metric: the similarity (default :func:`ppl_metric` with ``crop``), squared distance ``(B,)``.
        pairs: ``(a, b)``, each ``(P, *latent_shape)``: measure these pairs instead of drawn ones (sample ``i``
            uses pair ``i % P``; ``t`` still drawn from ``seed``).
        chunk_size: pairs per generator call (default: what fits the memory budget, two images per pair).
        progress: called with the number of samples done after each chunk.

    Returns:
        :class:`PPLResult`; ``value`` in LPIPS / eps^2.
    """
    if samples is None:
        samples = int(pairs[0].shape[0]) if pairs is not None else 0
    _check(samples, epsilon, sampling)
    space = latent_space(generator)
    device = generator.device
    metric = ppl_metric(crop=crop, device=device) if metric is None else metric
    chunk = chunk_size if chunk_size is not None else max(1, chunk_for(generator, metric) // 2)
    if pairs is not None:
        a_all, b_all = (p.to(device) for p in pairs)
        if a_all.shape != b_all.shape or tuple(a_all.shape[1:]) != tuple(generator.latent_shape) \
                or a_all.shape[0] == 0:
            raise UserError(f"PPL pairs must be two (P, {', '.join(map(str, generator.latent_shape))}) tensors, got "
                            f"{tuple(a_all.shape)} and {tuple(b_all.shape)}")
    values: list[Tensor] = []
    done = 0
    for k, start in enumerate(range(0, samples, BLOCK)):
        m = min(BLOCK, samples - start)
        s_k = _block_seed(seed, k)
        if pairs is None:
            z = generator.sample_latents(2 * m, seed=s_k, device=device)
            a, b = z[:m], z[m:]
        else:
            idx = torch.arange(start, start + m, device=device) % a_all.shape[0]
            a, b = a_all[idx], b_all[idx]
        t = torch.rand(m, generator=torch.Generator().manual_seed(s_k), dtype=torch.float64)
        if sampling == "end":
            t = torch.zeros_like(t)
        for lo in range(0, m, chunk):
            sl = slice(lo, min(m, lo + chunk))
            za, zb, tc = a[sl], b[sl], t[sl]
            z0 = interpolate(za, zb, tc, space)
            z1 = interpolate(za, zb, tc + epsilon, space)
            images = generator(torch.cat([z0, z1]))                         # (2 B, C, H, W)
            feats = metric.embed(images)
            n = z0.shape[0]
            d = metric.compare(tuple(f[:n] for f in feats), tuple(f[n:] for f in feats))  # (B,)
            values.append(d.double().cpu() / epsilon ** 2)
            done += n
            if progress is not None:
                progress(done)
    v = torch.cat(values).numpy()
    bad = int((~np.isfinite(v)).sum())
    if bad:
        raise UserError(f"{bad} of {v.size} PPL samples are not finite: the model made non-finite images")
    value, ci, kept, std = summarise(v)
    settings = {"epsilon": float(epsilon), "sampling": sampling, "space": space, "crop": bool(crop), "seed": seed,
                "discard_percentiles": list(DISCARD_PERCENTILES), "ci": "normal approximation of the mean of the kept",
                "similarity": metric.settings() if isinstance(metric, PPLImages) else {"metric": metric.name}}
    return PPLResult(value=value, ci95=ci, samples=int(v.size), kept=kept, std=std, values=v, settings=settings)


__all__ = ["PPLImages", "PPLResult", "SAMPLINGS", "SPACES", "interpolate", "latent_space", "lerp",
           "perceptual_path_length", "ppl_metric", "prepare_images", "slerp", "summarise"]
