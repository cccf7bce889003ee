"""Laine's claims on the face generator (DESIGN.md section 6), on seeded endpoint pairs.

Methods, all with the same frame count: the straight line, slerp, the straight line re-timed by arc
length under ``vgg-eq``, and the geodesics (progressive subdivision) under ``pixel``, ``pixel-eq`` and
``vgg-eq``. Every path is then measured under all three metrics by :func:`evaluate_paths`.

Expected (Laine 2018): the pixel geodesic cross-fades and gets darker / flatter in the middle; the
``vgg-eq`` geodesic does not, is the shortest under ``vgg-eq``, and moves at near-constant speed.
"""

from __future__ import annotations

import statistics
import time

import torch

from latent_geodesics.evaluation import baseline_path, evaluate_paths
from latent_geodesics.generators import load_generator
from latent_geodesics.paths import PathProblem
from latent_geodesics.solvers import OptimizeConfig, SubdivideConfig, retime_path, subdivide_path

from .common import Context, load_metric, load_model, log, metric_note, seeded_pairs, write_result

EVAL_METRICS = ("pixel", "pixel-eq", "vgg-eq")
GEODESICS = ("pixel", "pixel-eq", "vgg-eq")
SOLVER = SubdivideConfig(variant="joint", level=OptimizeConfig(optimizer="lbfgs", max_steps=15))
"""Geodesic solver: subdivision, every level re-optimised jointly by L-BFGS, at most 15 evaluations per level."""


QUICK_SOLVER = SubdivideConfig(variant="joint", level=OptimizeConfig(optimizer="lbfgs", max_steps=4))


def sizes(ctx: Context) -> dict:
    if ctx.quick:
        return {"pairs": 2, "frames": 5, "solver": QUICK_SOLVER}
    return {"pairs": 8, "frames": 33, "solver": SOLVER}


def _med(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def summarise(per_pair: dict, linear: dict) -> dict:
    """Headline numbers of one method from its per-pair evaluation (``evaluate_paths``'s ``path`` entry)."""
    out = {}
    for name in EVAL_METRICS:
        lengths = per_pair["metrics"][name]["length"]
        ref = linear["metrics"][name]["length"]
        ratio = [a / b if a is not None and b else None for a, b in zip(lengths, ref)]
        vals = [r for r in ratio if r is not None]
        out[name] = {"length_vs_linear": ratio, "length_vs_linear_median": _med(ratio),
                     "length_vs_linear_worst": max(vals) if vals else None,
                     "length_vs_linear_best": min(vals) if vals else None,
                     "step_cv_median": _med(per_pair["metrics"][name]["step_cv"])}
    mid_b, mid_c = per_pair["mid_brightness_change"], per_pair["mid_contrast_ratio"]
    lin_b, lin_c = linear["mid_brightness_change"], linear["mid_contrast_ratio"]
    vs_lin_b = [a - b for a, b in zip(mid_b, lin_b) if a is not None and b is not None]
    vs_lin_c = [a / b for a, b in zip(mid_c, lin_c) if a is not None and b]
    out["brightness"] = {
        "mid_change_median": _med(mid_b), "mid_change_min": min(v for v in mid_b if v is not None),
        "mid_contrast_ratio_median": _med(mid_c),
        "mid_change_minus_linear_median": _med(vs_lin_b),
        "pairs_darker_than_linear": sum(v < 0 for v in vs_lin_b),
        "mid_contrast_vs_linear_median": _med(vs_lin_c),
        "pairs_flatter_than_linear": sum(v < 1 for v in vs_lin_c),
    }
    return out


def run(ctx: Context, *, model: str | None = None, suite: str = "laine", size: dict | None = None) -> None:
    """The suite on ``zoo:faces64`` (or ``model``, with ``size`` replacing the real-run sizes), as ``<suite>.json``."""
    t_suite = time.perf_counter()
    sz = size if size is not None and not ctx.quick else sizes(ctx)
    gen = load_generator(model, device=ctx.device) if model is not None and not ctx.quick else load_model(ctx)
    metrics = {name: load_metric(name, ctx) for name in EVAL_METRICS}
    z0, z1, seeds = seeded_pairs(gen, sz["pairs"])
    n = sz["frames"] - 1
    paths, cost = {}, {}
    paths["linear"] = baseline_path(gen, "linear", z0, z1, n)
    paths["slerp"] = baseline_path(gen, "slerp", z0, z1, n)
    log("laine: re-timing the straight line under vgg-eq")
    t = time.perf_counter()
    paths["linear-retimed-vgg-eq"] = retime_path(gen, metrics["vgg-eq"], paths["linear"], sz["frames"])
    cost["linear-retimed-vgg-eq"] = {"seconds": time.perf_counter() - t, "evaluations": None}
    for name in GEODESICS:
        log(f"laine: {name} geodesic")
        problem = PathProblem(gen, metrics[name], z0, z1)
        res = subdivide_path(problem, n, sz["solver"])
        paths[f"geodesic-{name}"] = res.points
        cost[f"geodesic-{name}"] = {"seconds": res.wall_time, "evaluations": res.n_points_evaluated,
                                    "steps_per_pair": res.steps.tolist(), "converged": res.converged.tolist()}
        log(f"  {res.n_points_evaluated} evaluations, {res.wall_time:.1f} s")
    log("laine: evaluating")
    evaluated = {}
    with torch.no_grad():
        for method, points in paths.items():
            evaluated[method] = evaluate_paths(gen, metrics, points, baselines=())["methods"]["path"]
    methods = {}
    for method, ev in evaluated.items():
        methods[method] = {"summary": summarise(ev, evaluated["linear"]), "cost": cost.get(method),
                           "per_pair": {"lengths": {k: ev["metrics"][k]["length"] for k in EVAL_METRICS},
                                        "step_cv_vgg_eq": ev["metrics"]["vgg-eq"]["step_cv"],
                                        "mid_brightness_change": ev["mid_brightness_change"],
                                        "mid_contrast_ratio": ev["mid_contrast_ratio"],
                                        "brightness": ev["brightness"]}}
    vgg_len = {m: evaluated[m]["metrics"]["vgg-eq"]["length"] for m in evaluated}
    shortest = [min(vgg_len, key=lambda m: vgg_len[m][i]) for i in range(sz["pairs"])]
    claims = {
        "vgg_eq_geodesic_shortest_under_vgg_eq_pairs": sum(s == "geodesic-vgg-eq" for s in shortest),
        "shortest_method_per_pair": shortest,
        "pixel_geodesic_darker_than_linear_pairs":
            methods["geodesic-pixel"]["summary"]["brightness"]["pairs_darker_than_linear"],
        "pixel_geodesic_flatter_than_linear_pairs":
            methods["geodesic-pixel"]["summary"]["brightness"]["pairs_flatter_than_linear"],
        "vgg_eq_geodesic_darker_than_linear_pairs":
            methods["geodesic-vgg-eq"]["summary"]["brightness"]["pairs_darker_than_linear"],
        "pairs": sz["pairs"],
    }
    settings = {"pairs": sz["pairs"], "seeds": seeds, "frames": sz["frames"], "eval_metrics": list(EVAL_METRICS),
                "solver": {"name": "subdivide", **sz["solver"].to_dict()}, "retime": {"metric": "vgg-eq", "density": 8}}
    notes = [metric_note(ctx),
             *([] if ctx.quick else ["geodesics stop at 15 L-BFGS evaluations per subdivision level to fit a CPU "
                                     "budget: they are not converged"]),
             "mid brightness change: mean luminance ([0, 1]) over the middle third of the frames minus the "
             "endpoints' mean (< 0: darker in the middle); contrast ratio: same for the luminance std, as a ratio",
             "length_vs_linear: path length over the straight line's under the same metric, per pair; "
             "worst = largest ratio over the pairs"]
    write_result(ctx, suite, settings=settings, results={"methods": methods, "claims": claims}, notes=notes,
                 wall_time=time.perf_counter() - t_suite, model=None if model is None or ctx.quick else model)
