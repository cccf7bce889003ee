"""Generators: the protocol, loaders and the built-in zoo."""

from .base import PRIORS, Generator, Prior
from .load import load_discriminator, load_generator, load_torchscript
from .zoo import DEFAULT_MODEL, ZOO, ZooModel, load_zoo

__all__ = ["DEFAULT_MODEL", "Generator", "PRIORS", "Prior", "ZOO", "ZooModel", "load_discriminator",
           "load_generator", "load_torchscript", "load_zoo"]
