"""The limits on what a user may ask for, shared by the command line and JOBS files.

One place for each number, so that a JOBS line accepts exactly what the matching command-line option does.
"""

from __future__ import annotations

MAX_FRAMES = 10_000
"""Most frames per path (every frame is an image held in memory for the video)."""

MAX_SEED = 2**63 - 1
"""Largest seed of an endpoint (the largest signed 64-bit integer)."""

MAX_STEPS = 10**9
"""Largest step budget a solver may be given."""
