"""Laine's claims again, on ``zoo:celeba64``: a DCGAN of the same layout as ``zoo:faces64`` but trained on real
celebrity photos (faces64 learned synthetic DigiFace renders), with the same metrics, methods and solver as
:mod:`bench.laine` but half its pairs and frames (4 pairs, seeds (1,2) ... (7,8), 17 frames) to fit a shared
2-core CPU next to the other suites. The question (issue 13): does the pixel geodesic darken or wash out contrast in the
middle on a model of real photos, as Laine reported, where it did not on faces64?
"""

from __future__ import annotations

from . import laine
from .common import Context


def run(ctx: Context) -> None:
    laine.run(ctx, model="zoo:celeba64", suite="laine_celeba64", size={**laine.sizes(ctx), "pairs": 4, "frames": 17})
