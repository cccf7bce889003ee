"""The limits on what a user may ask for, and the defaults several commands share (the command line, JOBS
files and the Python API).

One place for each number, so that a JOBS line accepts exactly what the matching command-line option does.
"""

from __future__ import annotations

MAX_FRAMES = 10_000
"""Most frames per path (every frame is an image held in memory for the video)."""

MAX_SEED = 2**63 - 1
"""Largest seed of an endpoint (the largest signed 64-bit integer)."""

MAX_STEPS = 10**9
"""Largest step budget a solver may be given."""

MAX_STARTS = 1024
"""Most random starts per picture of a projection (all run as one batch)."""

MAX_PROJECTION_STEPS = 10**6
"""Most Adam steps of a projection."""

MAX_CHUNK = 1 << 20
"""Largest ``chunk_size`` (points per generator + metric call)."""

MAX_LATENT_VALUES = 1 << 24
"""Most numbers in one latent that --latent-shape accepts (StyleGAN's W+ is 18 x 512)."""

DEFAULT_FRAMES = 33
"""Frames per path of ``interpolate`` (per leg with waypoints), endpoints included."""

SHORT_FRAMES = 17
"""Frames per path of the commands that solve many paths (``compare``, ``batch``, ``distances``)."""

DEFAULT_FPS = 12.0
"""Frame rate of the videos unless asked otherwise."""

SPACES: tuple[str, ...] = ("z", "w", "w+")
"""Where a path on a StyleGAN-class model lives (:mod:`latent_geodesics.generators.stylegan`)."""
