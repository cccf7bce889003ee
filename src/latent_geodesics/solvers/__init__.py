"""Path solvers by name; each takes a :class:`PathProblem` and starting paths, returns a :class:`SolveResult`."""

from __future__ import annotations

import math

from .base import NoProgress, Progress, SolveResult
from .gauss_newton import GaussNewtonConfig, gauss_newton_path
from .optimize import OptimizeConfig, optimize_path
from .retime import retime_path
from .subdivide import SubdivideConfig, solve_at_resolution, subdivide_path

OPTIMIZERS = {
    "lbfgs": "L-BFGS in coordinates preconditioned by the path Laplacian and the latent metric (default)",
    "gauss-newton": "Levenberg-Marquardt with matrix-free Gauss-Newton products and preconditioned CG",
    "adam": "Adam; each path of a batch stops on its own",
}
DEFAULT_RTOL = 1e-4
"""Converged when the energy falls by less than this fraction over a window of 10 L-BFGS steps ..."""
DEFAULT_GTOL = 3e-3
"""... and the scale-free gradient norm (:mod:`~latent_geodesics.solvers.structure`) is below this."""
DEFAULT_STEPS = {"lbfgs": 500, "gauss-newton": 100, "adam": 1000}
"""Most steps per path (per subdivision level)."""


def level_config(optimizer: str = "lbfgs", *, max_steps: int | None = None, lr: float | None = None,
                 rtol: float = DEFAULT_RTOL, gtol: float | None = DEFAULT_GTOL,
                 precondition: str = "kronecker") -> OptimizeConfig | GaussNewtonConfig:
    """The settings of one optimiser at one resolution, with the library's defaults (what the CLI builds)."""
    steps = DEFAULT_STEPS.get(optimizer, 500) if max_steps is None else max_steps
    if optimizer == "gauss-newton":
        return GaussNewtonConfig(max_steps=steps, rtol=rtol, gtol=math.inf if gtol is None else gtol,
                                 preconditioner="laplacian" if precondition == "none" else precondition)
    return OptimizeConfig(optimizer=optimizer, lr=lr, max_steps=steps, rtol=rtol, gtol=gtol,
                          precondition=precondition if optimizer == "lbfgs" else "none")


SOLVERS = {
    "linear": "the straight line in latent space (no optimisation)",
    "slerp": "spherical interpolation (no optimisation)",
    "optimize": "all interior points at the final resolution optimised jointly (Adam or L-BFGS)",
    "subdivide": "progressive path subdivision (Laine 2018): coarse to fine, midpoints inserted per level",
}

__all__ = ["DEFAULT_GTOL", "DEFAULT_RTOL", "GaussNewtonConfig", "NoProgress", "OPTIMIZERS", "OptimizeConfig",
           "Progress", "SOLVERS", "SolveResult", "SubdivideConfig", "gauss_newton_path", "level_config",
           "optimize_path", "retime_path", "solve_at_resolution", "subdivide_path"]
