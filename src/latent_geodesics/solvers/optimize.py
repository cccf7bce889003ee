"""Full-path optimisation: every interior point at the final resolution, optimised jointly.

The baseline of Petzka et al. and Shao et al.; Adam (default) or L-BFGS. Each pair of a batch stops on
its own when its energy falls by less than ``rtol`` (relative) over ``window`` steps; a stopped pair
is no longer evaluated.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Literal

import torch
from torch import Tensor

from .._check import UserError
from ..paths import PathProblem, PathStats
from .base import NoProgress, Progress, SolveResult, relative_decrease

Optimizer = Literal["adam", "lbfgs"]


@dataclass(frozen=True)
class OptimizeConfig:
    """Settings of :func:`optimize_path` (recorded in reports).

    Attributes:
        optimizer: ``"adam"`` or ``"lbfgs"``.
        lr: step size. Adam: relative to the path's initial spacing (the RMS per-coordinate distance
            between consecutive points), so one setting fits any latent scale and frame count;
            ``None`` takes 0.05. L-BFGS: its usual step scale; ``None`` takes 1.0.
        max_steps: most energy + gradient evaluations per pair.
        rtol: stop a pair when its energy falls by less than this fraction over ``window`` steps.
        window: steps between convergence checks.
    """

    optimizer: Optimizer = "adam"
    lr: float | None = None
    max_steps: int = 500
    rtol: float = 1e-3
    window: int = 10

    def __post_init__(self) -> None:
        if self.optimizer not in ("adam", "lbfgs"):
            raise UserError(f"unknown optimizer {self.optimizer!r}; choose adam or lbfgs")
        if self.max_steps < 0 or self.window < 1 or not self.rtol >= 0:
            raise UserError("max_steps must be >= 0, window >= 1 and rtol >= 0")
        if self.lr is not None and not self.lr > 0:
            raise UserError(f"learning rate must be positive, got {self.lr}")

    @property
    def step_size(self) -> float:
        return self.lr if self.lr is not None else (0.05 if self.optimizer == "adam" else 1.0)

    def to_dict(self) -> dict:
        return {**asdict(self), "lr": self.step_size}


def optimize_path(problem: PathProblem, init: Tensor, config: OptimizeConfig = OptimizeConfig(), *,
                  progress: Progress | None = None) -> SolveResult:
    """Minimise the energy of each path, endpoints fixed.

    Args:
        problem: generator, metric and endpoints.
        init: starting paths ``(B, N+1, *latent_shape)`` (their endpoints are ignored: the problem's are used).
        config: optimiser settings.
        progress: told about every step.

    Returns:
        The optimised paths; for a ``sphere`` prior every point lies on the sphere.
    """
    progress = progress or NoProgress()
    t0 = time.perf_counter()
    evaluated0 = problem.n_points_evaluated
    if config.optimizer == "adam":
        interior, steps, converged, trace = _adam(problem, init, config, progress)
    else:
        interior, steps, converged, trace = _lbfgs(problem, init, config, progress)
    interior = problem.generator.project(interior)
    with torch.no_grad():
        stats = PathStats.of(problem.distances_sq(interior, grad=False))
    return SolveResult(points=problem.points(interior), stats=stats, steps=steps, converged=converged,
                       n_points_evaluated=problem.n_points_evaluated - evaluated0,
                       wall_time=time.perf_counter() - t0, trace=trace)


def _spacing(init: Tensor) -> Tensor:
    """RMS per-coordinate distance between consecutive points of each path: ``(B, N+1, ...) -> (B,)``."""
    steps = (init[:, 1:] - init[:, :-1]).flatten(2)
    return steps.pow(2).mean(dim=(1, 2)).sqrt().clamp_min(1e-8)


def _adam(problem: PathProblem, init: Tensor, config: OptimizeConfig,
          progress: Progress) -> tuple[Tensor, Tensor, Tensor, list[float]]:
    gen = problem.generator
    b = init.shape[0]
    # One parameter per pair: Adam skips a parameter whose grad is None, so a converged pair costs
    # nothing; one parameter group per pair lets each pair's step follow its own spacing.
    params = [torch.nn.Parameter(gen.project(init[i, 1:-1].detach().clone())) for i in range(b)]
    spacing = _spacing(init).tolist()
    opt = torch.optim.Adam([{"params": [p], "lr": config.step_size * h} for p, h in zip(params, spacing)])
    best = [p.detach().clone() for p in params]
    best_energy = torch.full((b,), float("inf"), dtype=init.dtype)
    steps = torch.zeros(b, dtype=torch.long)
    converged = torch.zeros(b, dtype=torch.bool)
    active = list(range(b))
    trace: list[float] = []
    if init.shape[1] <= 2:  # no interior point: nothing to optimise
        return torch.stack(best), steps, torch.ones(b, dtype=torch.bool), trace
    reference = torch.full((b,), float("inf"), dtype=init.dtype)  # best energy at the last check
    for step in range(config.max_steps):
        idx = torch.tensor(active, device=init.device)
        x = torch.stack([params[i] for i in active])
        opt.zero_grad(set_to_none=True)
        energy = problem.energy_backward(gen.project(x), idx)  # (A,), at the current points; grads in params
        e = energy.detach().cpu()
        for k, i in enumerate(active):  # keep the best points seen: Adam's last iterate can be worse
            if e[k] < best_energy[i]:
                best_energy[i] = e[k]
                best[i] = params[i].detach().clone()
        opt.step()
        if gen.constrained:
            with torch.no_grad():
                for i in active:
                    params[i].copy_(gen.project(params[i]))
        steps[active] += 1
        progress.update(1)
        if step == 0:
            reference[active] = e
        elif (step + 1) % config.window == 0:
            trace.append(float(best_energy[active].sum()))
            progress.set_postfix_str(f"energy {trace[-1]:.4g}, {len(active)} active", refresh=False)
            gain = relative_decrease(reference[active], best_energy[active])
            done = (gain < config.rtol).tolist()
            reference[active] = best_energy[active]
            for k, d in enumerate(done):
                converged[active[k]] = d
            active = [i for i, d in zip(active, done) if not d]
            if not active:
                break
    return torch.stack(best), steps, converged, trace


def _lbfgs(problem: PathProblem, init: Tensor, config: OptimizeConfig,
           progress: Progress) -> tuple[Tensor, Tensor, Tensor, list[float]]:
    gen = problem.generator
    b = init.shape[0]
    x = torch.nn.Parameter(gen.project(init[:, 1:-1].detach().clone()))
    steps = torch.zeros(b, dtype=torch.long)
    trace: list[float] = []
    if init.shape[1] <= 2:
        return x.detach(), steps, torch.ones(b, dtype=torch.bool), trace
    # L-BFGS couples the pairs through one line search, so they stop together.
    opt = torch.optim.LBFGS([x], lr=config.step_size, max_iter=config.window, history_size=20,
                            line_search_fn="strong_wolfe", tolerance_grad=0.0, tolerance_change=0.0)
    evals = 0

    def closure() -> Tensor:
        nonlocal evals
        opt.zero_grad(set_to_none=True)
        energy = problem.energy_backward(gen.project(x)).sum()  # detached; the gradient is in x.grad
        evals += 1
        progress.update(1)
        return energy

    previous: float | None = None
    converged = False
    while evals < config.max_steps:
        opt.param_groups[0]["max_iter"] = min(config.window, config.max_steps - evals)
        loss = float(opt.step(closure).detach())
        trace.append(loss)
        progress.set_postfix_str(f"energy {loss:.4g}", refresh=False)
        if previous is not None and (previous - loss) / max(abs(previous), 1e-30) < config.rtol:
            converged = True
            break
        previous = loss
    steps[:] = evals
    return x.detach(), steps, torch.full((b,), converged), trace
