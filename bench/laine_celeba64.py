"""Laine's claims again, on ``zoo:celeba64``: a DCGAN of the same layout as ``zoo:faces64`` but trained on real
celebrity photos (faces64 learned synthetic DigiFace renders), with the same pairs, frames, metrics and solver
as :mod:`bench.laine`. The question (issue 13): does the pixel geodesic darken or wash out contrast in the
middle on a model of real photos, as Laine reported, where it did not on faces64?
"""

from __future__ import annotations

from . import laine
from .common import Context


def run(ctx: Context) -> None:
    laine.run(ctx, model="zoo:celeba64", suite="laine_celeba64")
