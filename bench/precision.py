"""The default solver with VGG-19 in float32 against bfloat16 (``--precision``), per ``speedup`` pair.

``--precision auto`` (the default) runs the feature network in bfloat16 where the hardware has it (AVX512-BF16 on
the benchmark CPU). Each evaluation is cheaper; the solver sees an energy rounded to 8 bits of mantissa. Here each
``speedup`` pair is solved alone by the same default solver in both precisions, one after the other in one run,
both energies measured in float32 and held against the pair's reference energy from ``speedup.json``.
"""

from __future__ import annotations

import torch

from latent_geodesics.solvers import SubdivideConfig

from .coarse_rule import run_compared
from .common import Context

SETTINGS = {"float32": (SubdivideConfig(), torch.float32), "bfloat16": (SubdivideConfig(), torch.bfloat16)}


def run(ctx: Context) -> None:
    run_compared(ctx, "precision", SETTINGS)
