"""Path solvers by name; each takes a :class:`PathProblem` and starting paths, returns a :class:`SolveResult`."""

from __future__ import annotations

from .base import NoProgress, Progress, SolveResult
from .gauss_newton import GaussNewtonConfig, gauss_newton_path
from .optimize import OptimizeConfig, optimize_path
from .retime import retime_path
from .subdivide import SubdivideConfig, solve_at_resolution, subdivide_path

SOLVERS = {
    "linear": "the straight line in latent space (no optimisation)",
    "slerp": "spherical interpolation (no optimisation)",
    "optimize": "all interior points at the final resolution optimised jointly (Adam or L-BFGS)",
    "subdivide": "progressive path subdivision (Laine 2018): coarse to fine, midpoints inserted per level",
}

__all__ = ["GaussNewtonConfig", "NoProgress", "OptimizeConfig", "Progress", "SOLVERS", "SolveResult",
           "SubdivideConfig", "gauss_newton_path", "optimize_path", "retime_path", "solve_at_resolution",
           "subdivide_path"]
