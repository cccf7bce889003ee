"""latent-geodesics: perceptually shortest, realistic interpolation paths in generative models' latent spaces.

From Python: ``latent_geodesics.geodesic(model, a, b)`` returns a :class:`~latent_geodesics.api.Path`
(:mod:`latent_geodesics.api`); ``linear``, ``slerp`` and ``compare`` are beside it.
"""

from ._version import __version__

_API = ("Comparison", "Path", "compare", "geodesic", "linear", "slerp")
__all__ = ["__version__", *_API]


def __getattr__(name: str):
    # imported on first use: the command line starts without loading the API's imports
    if name in _API:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'latent_geodesics' has no attribute {name!r}")
