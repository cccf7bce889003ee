"""The ``latent-geodesics`` command line: the group (:mod:`.app`), every option once (:mod:`.options`), and one
module per command, each a thin layer over :mod:`latent_geodesics.workflows` and the library."""

from . import batch, compare, explore, info, interpolate, ppl, project  # noqa: F401 - each registers its commands on ``main``
from .app import main

__all__ = ["main"]

