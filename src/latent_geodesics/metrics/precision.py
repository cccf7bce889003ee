"""The arithmetic of a metric's feature networks while a path is solved: float32, or bfloat16 where it is native.

A vgg-eq evaluation is ~90% VGG-19. Under bfloat16 autocast its convolutions run on the CPU's AVX512-BF16 (or
a GPU's bfloat16) units: on the 2-core benchmark CPU a faces64 evaluation takes 23 ms instead of 39 ms. The
features keep 8 bits of mantissa, so the solver sees a slightly noisy energy; lengths and energies in reports
are measured again in float32 after the solve (BENCHMARKS.md, ``precision``, says what the noise costs).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from .._check import UserError
from ..networks import FeatureNet
from .base import Metric

PRECISIONS = ("auto", "float32", "bfloat16")
"""``--precision`` choices. ``auto``: bfloat16 where :func:`native_bfloat16` holds, the solver stops on the
frame rule (which measures how far frames move, robust to the noise) and the network's ``min_size`` is at least
:data:`BFLOAT16_MIN_SIZE`; float32 otherwise."""

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
BFLOAT16_MIN_SIZE = 64
"""``auto`` keeps float32 for a feature network whose ``min_size`` is below this (px). At 32 px bfloat16 step
distances are 2-5x further off float32's than at 64 px, and 8 mnist28 pairs at 32 px ended 5-18% above the
lowest energies known for them, where float32 ended 7 of them within 1.4% (docs/choices.md, "Precision")."""


def native_bfloat16(device: torch.device | str) -> bool:
    """Whether ``device`` computes bfloat16 convolutions in hardware (a CUDA GPU of compute capability 8.0 or
    later; a CPU with AVX512-BF16 or AMX, as torch's CPU checks report). Elsewhere bfloat16 is emulated: no
    faster than float32, and noisier."""
    device = torch.device(device)
    if device.type == "cuda":  # compute capability 8.0 on; older GPUs emulate it
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported(including_emulation=False)
    if device.type == "cpu":  # oneDNN's own check also says yes on plain AVX512, where it converts to float32
        try:
            return torch.backends.mkldnn.is_available() and bool(
                torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
        except (AttributeError, RuntimeError):  # a torch without these checks
            return False
    return False


def resolve_precision(name: str, device: torch.device | str, *, frame_rule: bool) -> torch.dtype:
    """The dtype ``--precision name`` means on ``device`` for a solver that stops on the frame rule or not.

    Raises:
        UserError: an unknown name.
    """
    if name not in PRECISIONS:
        raise UserError(f"unknown precision {name!r}; choose one of: {', '.join(PRECISIONS)}")
    if name == "auto":
        return torch.bfloat16 if frame_rule and native_bfloat16(device) else torch.float32
    return _DTYPES[name]


def solving_precision(metric: Metric, name: str, device: torch.device | str, *, frame_rule: bool,
                      image_size: int | None = None) -> torch.dtype:
    """What a solve runs ``metric``'s networks in under ``--precision name``: :func:`resolve_precision`, and
    float32 for a metric without a feature network, or for ``auto`` where a network's ``min_size`` is below
    :data:`BFLOAT16_MIN_SIZE`, or where the images (shorter side ``image_size``, when given) are downsampled for a
    network (its ``max_size``): on the 256-1024 px stand-ins every bfloat16 solve ended longer than the straight
    line in float32, while the same 256 px solve in float32 reached 0.807x of it (BENCHMARKS.md, ``real_size``).
    ``frame_rule``: the solver's levels stop on the frame rule (:func:`~latent_geodesics.solvers.stops_on_frames`)."""
    nets = _feature_nets(metric)
    if not nets or (name == "auto" and min(net.min_size for net in nets) < BFLOAT16_MIN_SIZE):
        return torch.float32
    if name == "auto" and image_size is not None and any(
            net.max_size is not None and image_size > max(net.max_size, net.min_size) for net in nets):
        return torch.float32
    return resolve_precision(name, device, frame_rule=frame_rule)


def precision_name(dtype: torch.dtype) -> str:
    return {v: k for k, v in _DTYPES.items()}[dtype]


def has_networks(metric: Metric) -> bool:
    """Whether ``--precision`` changes anything for ``metric`` (it has a feature network)."""
    return bool(_feature_nets(metric))


def _feature_nets(metric: Metric) -> list[FeatureNet]:
    return [m for m in metric.modules() if isinstance(m, FeatureNet)]


@contextmanager
def computing_in(metric: Metric, dtype: torch.dtype) -> Iterator[Metric]:
    """Run the feature networks of ``metric`` in ``dtype`` (float32: unchanged) inside the block.

    Features leave the networks in the metric's own dtype, so distances are differences at full precision of
    features rounded to ``dtype``. Pixel metrics and other layers (equalization, a discriminator) are unaffected.
    """
    nets = _feature_nets(metric)
    before = [net.compute_dtype for net in nets]
    low = None if dtype == torch.float32 else dtype
    for net in nets:
        net.compute_dtype = low
    try:
        yield metric
    finally:
        for net, old in zip(nets, before, strict=True):
            net.compute_dtype = old
