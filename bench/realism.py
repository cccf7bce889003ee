"""Petzka et al.'s claims on ``zoo:fashion32`` (DESIGN.md section 6): the discriminator-weighted geodesic
keeps realism along the path up (its minimum and low percentiles) at a small cost in length.

Methods, same seeded pairs and frame count: the straight line, the plain ``vgg-eq`` geodesic, the
conformal form at two strengths and the published form. The published form's ``lambda`` is in the base
metric's distance units; it is set to 0.2 times the median straight-line step (0.2 is the paper's
value in their units). Realism is the calibrated ``p`` of :mod:`latent_geodesics.realism`.
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from latent_geodesics.evaluation import baseline_path, evaluate_paths
from latent_geodesics.generators import Generator, load_generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import PathProblem, path_stats
from latent_geodesics.realism import calibrate, realism_metric
from latent_geodesics.solvers import OptimizeConfig, SubdivideConfig, subdivide_path

from .common import Context, TinyNet, load_metric, log, seeded_pairs, write_result

MODEL = "zoo:fashion32"
VGG_MIN_SIZE = 32
"""vgg-eq at the images' own 32 px (no upsampling): 16 pairs of VGG geodesics fit the CPU budget."""
SOLVER = SubdivideConfig(variant="joint", level=OptimizeConfig(optimizer="lbfgs", max_steps=15))
QUICK_SOLVER = SubdivideConfig(variant="joint", level=OptimizeConfig(optimizer="lbfgs", max_steps=4))


class _Brightness(nn.Module):
    """Quick-mode stub critic: darker images score as more realistic."""

    def forward(self, x):
        return -x.flatten(1).mean(1)


def _setup(ctx: Context) -> tuple[Generator, dict]:
    if ctx.quick:
        gen = Generator(TinyNet(), latent_shape=(8,), discriminator=_Brightness(), name="tiny-random").to(ctx.device)
        return gen, {"pairs": 2, "frames": 5, "solver": QUICK_SOLVER, "calibration_samples": 64}
    return load_generator(MODEL, device=ctx.device), {"pairs": 16, "frames": 9, "solver": SOLVER,
                                                       "calibration_samples": 2000}


def _med(values) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def run(ctx: Context) -> None:
    t_suite = time.perf_counter()
    gen, sz = _setup(ctx)
    base = load_metric("vgg-eq", ctx) if ctx.quick else build_metric("vgg-eq", device=ctx.device,
                                                                        min_size=VGG_MIN_SIZE)
    cal = calibrate(gen, samples=sz["calibration_samples"], use_cache=not ctx.quick)
    z0, z1, seeds = seeded_pairs(gen, sz["pairs"])
    n = sz["frames"] - 1
    linear = baseline_path(gen, "linear", z0, z1, n)
    step = float(path_stats(gen, base, linear).d_sq.sqrt().median())
    lam_published = 0.2 * step
    metrics = {"geodesic-vgg-eq": base,
               "conformal-0.5": realism_metric(base, gen, lam=0.5, calibration=cal),
               "conformal-2": realism_metric(base, gen, lam=2.0, calibration=cal),
               "published": realism_metric(base, gen, lam=lam_published, form="published", calibration=cal)}
    paths, cost = {"linear": linear}, {"linear": None}
    for name, metric in metrics.items():
        log(f"realism: {name}")
        res = subdivide_path(PathProblem(gen, metric, z0, z1), n, sz["solver"])
        paths[name] = res.points
        cost[name] = {"seconds": res.wall_time, "evaluations": res.n_points_evaluated}
        log(f"  {res.n_points_evaluated} evaluations, {res.wall_time:.1f} s")
    methods = {}
    with torch.no_grad():
        for name, points in paths.items():
            ev = evaluate_paths(gen, {"vgg-eq": base}, points, baselines=(), calibration=cal)["methods"]["path"]
            methods[name] = {"length": ev["metrics"]["vgg-eq"]["length"], "realism": ev["realism"],
                             "cost": cost[name]}
    lin = methods["linear"]["length"]
    for m in methods.values():
        r = m["realism"]
        m["summary"] = {
            "length_vs_linear_median": _med([a / b for a, b in zip(m["length"], lin)]),
            "p_min_median": _med(r["p_min"]), "p_p5_median": _med(r["p_p5"]), "p_mean_median": _med(r["p_mean"]),
            "frac_below_random_p5": statistics.mean(r["frac_below_random_p5"]),
        }
    settings = {"pairs": sz["pairs"], "seeds": seeds, "frames": sz["frames"],
                "base_metric": f"vgg-eq (min_size={VGG_MIN_SIZE})" if not ctx.quick else "vgg-eq (random, quick)",
                "solver": {"name": "subdivide", **sz["solver"].to_dict()}, "calibration": cal.to_dict(),
                "lambda": {"conformal-0.5": 0.5, "conformal-2": 2.0, "published": lam_published},
                "median_linear_step": step}
    notes = ["realism p = clip((c - o) / (max - o), 0.01, 0.99), o = min - 0.1 (max - min), min/max over "
             f"{sz['calibration_samples']} generated samples; p5 = 5th percentile of their p",
             "frac_below_random_p5: fraction of all frames (pairs pooled) less realistic than 95% of random samples",
             f"published form: lambda = 0.2 x the median straight-line vgg-eq step ({step:.4g})"]
    write_result(ctx, "realism", settings=settings, results={"methods": methods}, notes=notes,
                 wall_time=time.perf_counter() - t_suite, model="tiny-random (quick)" if ctx.quick else MODEL)
