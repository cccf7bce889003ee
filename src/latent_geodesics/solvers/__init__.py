"""Path solvers by name; each takes a :class:`PathProblem` and starting paths, returns a :class:`SolveResult`."""

from __future__ import annotations

import math

from .base import NoProgress, Progress, SolveResult
from .gauss_newton import GaussNewtonConfig, gauss_newton_path
from .optimize import LBFGS, OptimizeConfig, optimize_path
from .retime import curve_steps, frames_at_fractions, frames_between_nodes, retime_path
from .subdivide import (COARSE_FTOL, DEFAULT_FTOL, SubdivideConfig, refine_path, refine_work, solve_at_resolution,
                        solve_midpoints, stops_on_frames, subdivide_path)

OPTIMIZERS = {
    "lbfgs-pair": "L-BFGS in coordinates preconditioned by the path Laplacian and the latent metric, with a line "
                  "search and a stop per pair (default)",
    "lbfgs": "the same coordinates, torch's L-BFGS: one line search and one stop for the whole batch",
    "gauss-newton": "Levenberg-Marquardt with matrix-free Gauss-Newton products and preconditioned CG",
    "adam": "Adam; each path of a batch stops on its own",
}
DEFAULT_RTOL = 1e-4
"""Converged when the energy falls by less than this fraction over a window of 10 L-BFGS steps ..."""
DEFAULT_GTOL = 3e-3
"""... and the scale-free gradient norm (:mod:`~latent_geodesics.solvers.structure`) is below this."""
DEFAULT_STEPS = {"lbfgs-pair": 500, "lbfgs": 500, "gauss-newton": 100, "adam": 1000}
"""Most steps per path (per subdivision level)."""


def level_config(optimizer: str = "lbfgs-pair", *, max_steps: int | None = None, lr: float | None = None,
                 rtol: float = DEFAULT_RTOL, gtol: float | None = DEFAULT_GTOL, ftol: float | None = DEFAULT_FTOL,
                 precondition: str = "kronecker") -> OptimizeConfig | GaussNewtonConfig:
    """The settings of one optimiser at one resolution, with the library's defaults (what the CLI builds)."""
    steps = DEFAULT_STEPS.get(optimizer, 500) if max_steps is None else max_steps
    if optimizer == "gauss-newton":
        return GaussNewtonConfig(max_steps=steps, rtol=rtol, gtol=math.inf if gtol is None else gtol,
                                 preconditioner="laplacian" if precondition == "none" else precondition)
    lbfgs = optimizer in LBFGS
    return OptimizeConfig(optimizer=optimizer, lr=lr, max_steps=steps, rtol=rtol, gtol=gtol,
                          ftol=ftol if optimizer == "lbfgs-pair" else None,
                          precondition=precondition if lbfgs else "none")


SOLVERS = {
    "linear": "the straight line in latent space (no optimisation)",
    "slerp": "spherical interpolation (no optimisation)",
    "optimize": "all interior points at the final resolution optimised jointly (Adam or L-BFGS)",
    "subdivide": "progressive path subdivision (Laine 2018): coarse to fine, midpoints inserted per level",
}

__all__ = ["COARSE_FTOL", "DEFAULT_FTOL", "DEFAULT_GTOL", "DEFAULT_RTOL", "GaussNewtonConfig", "NoProgress",
           "OPTIMIZERS", "OptimizeConfig", "Progress", "SOLVERS", "SolveResult", "SubdivideConfig", "curve_steps",
           "frames_at_fractions", "frames_between_nodes",
           "gauss_newton_path", "level_config", "optimize_path", "refine_path", "refine_work", "retime_path",
           "solve_at_resolution", "solve_midpoints", "stops_on_frames", "subdivide_path"]
