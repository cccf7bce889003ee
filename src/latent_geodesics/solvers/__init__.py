"""Path solvers by name; each takes a :class:`PathProblem` and starting paths, returns a :class:`SolveResult`."""

from __future__ import annotations

from .base import NoProgress, Progress, SolveResult
from .optimize import OptimizeConfig, optimize_path

SOLVERS = {
    "linear": "the straight line in latent space (no optimisation)",
    "slerp": "spherical interpolation (no optimisation)",
    "optimize": "all interior points optimised jointly (Adam or L-BFGS)",
}

__all__ = ["NoProgress", "OptimizeConfig", "Progress", "SOLVERS", "SolveResult", "optimize_path"]
