"""The package version (one place; ``latent_geodesics.__version__`` re-exports it)."""

__version__ = "0.1.0"
