"""How every ``report.json`` begins and ends: the tool and command, the model block, the host.

``interpolate``, ``compare``, ``project`` and ``batch`` all write their reports through :func:`report_json`,
so the header block is written in one place.
"""

from __future__ import annotations

import platform
from collections.abc import Mapping, Sequence
from typing import Protocol

import torch

from .._version import __version__


class _Model(Protocol):
    """What the model block reads from a :class:`~latent_geodesics.generators.Generator`."""

    latent_shape: tuple[int, ...]
    prior: str


def tool() -> str:
    """The ``tool`` entry: ``"latent-geodesics <version>"``."""
    return f"latent-geodesics {__version__}"


def host() -> dict[str, str]:
    """The ``host`` entry: the Python and torch versions and the machine's architecture."""
    return {"python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine()}


def model_block(name: str, generator: _Model, image_shape: Sequence[int], **more: object) -> dict:
    """The ``model`` entry: ``{name, latent_shape, prior, image_shape [C, H, W], **more}``, and for a StyleGAN-class
    model its ``space``, ``truncation``, ``truncation_cutoff`` and ``class``."""
    style = generator.style_info() if hasattr(generator, "style_info") else None
    return {"name": name, "latent_shape": list(generator.latent_shape), "prior": generator.prior,
            "image_shape": [int(s) for s in image_shape], **(style or {}), **more}


def report_json(command: str, body: Mapping[str, object], *, schema: int | None = None,
                with_host: bool = True) -> dict:
    """A report: ``tool``, ``command``, ``version`` (with ``schema``), then ``body`` in its order, then ``host``.

    Args:
        command: the command that wrote the report (``"interpolate"``, ``"compare"``, ...).
        body: the command's own entries (a ``model`` entry among them: :func:`model_block`, or a name).
        schema: the report's schema version, where the command has one.
        with_host: end with the ``host`` entry (the ``project`` report has none).
    """
    return {"tool": tool(), "command": command, **({} if schema is None else {"version": schema}), **body,
            **({"host": host()} if with_host else {})}
