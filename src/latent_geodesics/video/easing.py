"""Easing curves: time fraction ``u`` in ``[0, 1]`` -> fraction of *perceptual* arc length covered.

Each curve is given by its speed profile (the derivative, ``>= 0``); the arc fraction is its integral,
normalised to reach 1 at ``u = 1``. The video timing (:mod:`.timing`) multiplies profiles (an easing times the
ramps that bring speed to zero at a waypoint) and integrates them numerically, so a new curve needs only its
speed here.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

Profile = Callable[[np.ndarray], np.ndarray]

_PI = math.pi

EASINGS: dict[str, tuple[Profile, str]] = {
    "linear": (lambda u: np.ones_like(u), "constant perceptual speed"),
    "ease-in": (lambda u: 2 * u, "starts at rest, speeds up (quadratic)"),
    "ease-out": (lambda u: 2 * (1 - u), "slows down to rest (quadratic)"),
    "ease-in-out": (lambda u: 6 * u * (1 - u), "rest, faster, rest (smoothstep: 3u^2 - 2u^3)"),
    "sine-in-out": (lambda u: _PI / 2 * np.sin(_PI * u), "rest, faster, rest (half a cosine)"),
    "cubic-in": (lambda u: 3 * u ** 2, "starts at rest, speeds up (cubic)"),
    "cubic-out": (lambda u: 3 * (1 - u) ** 2, "slows down to rest (cubic)"),
    "cubic-in-out": (lambda u: np.where(u < 0.5, 12 * u ** 2, 12 * (1 - u) ** 2), "rest, fast, rest (cubic halves)"),
}
"""Easing name -> (speed profile over ``u`` in ``[0, 1]``, integrating to 1; one line for the help)."""


def easing_names() -> list[str]:
    return list(EASINGS)


def easing_help() -> str:
    return "; ".join(f"{name}: {text}" for name, (_, text) in EASINGS.items())


def speed_profile(name: str, u: np.ndarray) -> np.ndarray:
    """The speed (d arc fraction / d time fraction) of easing ``name`` at ``u`` ``(M,)`` in ``[0, 1]``."""
    return np.asarray(EASINGS[name][0](np.asarray(u, dtype=np.float64)), dtype=np.float64)


def ease(name: str, u: np.ndarray, *, grid: int = 4097) -> np.ndarray:
    """The arc fraction covered at time fractions ``u`` ``(M,)``: monotone, 0 at 0 and 1 at 1."""
    g = np.linspace(0.0, 1.0, grid)
    return cumulative(g, speed_profile(name, g), np.asarray(u, dtype=np.float64))


def cumulative(g: np.ndarray, speed: np.ndarray, u: np.ndarray) -> np.ndarray:
    """The normalised integral of ``speed`` sampled on the grid ``g`` (trapezoids), looked up at ``u``."""
    area = np.concatenate([[0.0], np.cumsum((speed[1:] + speed[:-1]) * np.diff(g) / 2)])
    if area[-1] <= 0:
        return np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
    return np.interp(u, g, area / area[-1])
