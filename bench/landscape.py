"""Why geodesics converge slowly: the one-midpoint problem, solved by each optimiser from two starts.

The coarsest subdivision level (3 frames: one free point between the endpoints) is where a path moves the
most, and it is cheap enough to run far. For each metric, each method gets the same budget of model passes
(counted as in ``solvers``) and records its lowest energy after every evaluation. Reported:

- passes until the energy is within 10%, 1% and 0.1% of the lowest that *any* method found;
- where each method ended: energy, and the norm of its midpoint (a standard normal latent of size 100 has
  norm 10 +- 0.7; the straight line's midpoint between two of them has norm ~7);
- how far apart the methods' midpoints are (several local minima show up as distinct end points);
- the energy along the ray through the best midpoint, ``E(s m*)``: a minimum at ``s = 1`` means the point is a
  genuine stationary point in the radial direction, not a drift to infinity.
"""

from __future__ import annotations

import time

import torch

from latent_geodesics.paths import PathProblem, energy_of, linear_path, slerp_path
from latent_geodesics.solvers import GaussNewtonConfig, OptimizeConfig, gauss_newton_path, optimize_path

from .common import BudgetExhausted, Context, load_metric, load_model, log, metric_note, seeded_pairs, write_result
from .solvers import CountedProblem, pass_costs

LEVELS = (0.1, 0.01, 0.001)
SCALES = (0.7, 0.85, 1.0, 1.15, 1.3, 1.6, 2.0)
METHODS = {
    "lbfgs-kronecker": ("linear", OptimizeConfig(optimizer="lbfgs", max_steps=10**6, rtol=0.0,
                                                 precondition="kronecker")),
    "lbfgs-laplacian": ("linear", OptimizeConfig(optimizer="lbfgs", max_steps=10**6, rtol=0.0,
                                                 precondition="laplacian")),
    "lbfgs-kronecker-slerp-start": ("slerp", OptimizeConfig(optimizer="lbfgs", max_steps=10**6, rtol=0.0,
                                                            precondition="kronecker")),
    "gauss-newton": ("linear", GaussNewtonConfig(max_steps=10**6, cg_iters=20, rtol=0.0, gtol=0.0)),
}


def sizes(ctx: Context) -> dict:
    if ctx.quick:
        return {"metrics": {"pixel-eq": 400}, "methods": ["lbfgs-kronecker", "gauss-newton"]}
    return {"metrics": {"pixel-eq": 1500, "vgg-eq": 1500}, "methods": list(METHODS)}


def _solve(problem: CountedProblem, name: str) -> None:
    start_kind, cfg = METHODS[name]
    start = (slerp_path if start_kind == "slerp" else linear_path)(problem.z0, problem.z1, 2)
    try:
        if isinstance(cfg, GaussNewtonConfig):
            gauss_newton_path(problem, start, cfg)
        else:
            optimize_path(problem, start, cfg)
    except BudgetExhausted:
        pass


def run_metric(metric_name: str, budget: int, names: list[str], ctx: Context) -> dict:
    gen = load_model(ctx)
    metric = load_metric(metric_name, ctx)
    z0, z1, seeds = seeded_pairs(gen, 1)
    costs = pass_costs(gen, metric, ctx)
    runs = {}
    for name in names:
        log(f"landscape/{metric_name}: {name}")
        p = CountedProblem(gen, metric, z0, z1, final_segments=2, costs=costs, budget=budget)
        p.t0 = time.perf_counter()
        _solve(p, name)
        mid = p.best_points[0, 0]
        runs[name] = {"trace": [(round(a), e[0]) for a, _, e in p.trace if e is not None], "energy": float(p.best[0]),
                      "midpoint_norm": float(mid.norm()), "midpoint": mid.flatten().cpu(),
                      "seconds": round(time.perf_counter() - p.t0, 1)}
    best = min(r["energy"] for r in runs.values())
    for r in runs.values():
        r["passes_to"] = {str(lv): next((a for a, e in r["trace"] if e <= best * (1 + lv)), None) for lv in LEVELS}
        r["final_over_best"] = r["energy"] / best
    names_ = list(runs)
    gaps = {f"{a} / {b}": float((runs[a]["midpoint"] - runs[b]["midpoint"]).norm())
            for i, a in enumerate(names_) for b in names_[i + 1:]}
    winner = min(runs, key=lambda k: runs[k]["energy"])
    m = runs[winner]["midpoint"].to(ctx.device).view(1, 1, *gen.latent_shape)
    plain = PathProblem(gen, metric, z0, z1)
    with torch.no_grad():
        ray = [{"scale": s, "norm": float(m.norm() * s),
                "energy": float(energy_of(plain.distances_sq(m * s, grad=False)).sum())} for s in SCALES]
    for r in runs.values():
        r.pop("midpoint")
        r["trace"] = r["trace"][:: max(1, len(r["trace"]) // 60)]  # enough to plot, small JSON
    return {"metric": metric_name, "seeds": seeds, "budget_passes": budget, "pass_costs": costs,
            "straight_midpoint_norm": float(((z0 + z1) / 2).norm()), "best_energy": best, "best_method": winner,
            "runs": runs, "midpoint_distances": gaps, "ray_through_best": ray}


def run(ctx: Context) -> None:
    t0 = time.perf_counter()
    sz = sizes(ctx)
    results = {m: run_metric(m, budget, sz["methods"], ctx) for m, budget in sz["metrics"].items()}
    write_result(ctx, "landscape", settings=sz, results=results, notes=[metric_note(ctx)],
                 wall_time=time.perf_counter() - t0)
