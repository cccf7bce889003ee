"""Petzka et al.'s claims (DESIGN.md section 6), judged by someone else: on ``zoo:fashion32`` and
``zoo:mnist28``, does the discriminator-weighted geodesic keep the path realistic, and at what cost in length?

The weighting optimises the model's own discriminator, so its realism ``p`` is not an independent
verdict. Each model also has an *independent judge* (:mod:`latent_geodesics.judges`): a classifier trained
on the real training images only. Per path it gives the lowest confidence (max softmax) along the path
and the fraction of interior frames whose class is neither endpoint's (off-class frames). And a *data realism
judge* (:mod:`latent_geodesics.data_realism`): each frame's k-NN realism score in AlexNet features against real
pictures, per path its lowest and mean score over the interior frames, and per method the Fréchet distance of its
interior frames (pairs pooled) to the real pictures.

Methods, same seeded pairs and frame count per model: the straight line, the plain geodesic, the conformal
form at several strengths and the published form at several strengths. The published form's ``lambda`` is
in the base metric's distance units, so it is given as a multiple of the median straight-line step
(Petzka et al. use 0.2 in their units).
"""

from __future__ import annotations

import statistics
import time

import torch
from torch import nn

from latent_geodesics.data_realism import DataRealism, data_realism_for, real_stats
from latent_geodesics.evaluation import baseline_path, evaluate_paths
from latent_geodesics.generators import Generator, load_generator
from latent_geodesics.judges import JudgeNet, judge_for
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import PathProblem, path_stats
from latent_geodesics.realism import calibrate, realism_metric
from latent_geodesics.solvers import OptimizeConfig, SubdivideConfig, subdivide_path

from .common import Context, TinyNet, load_metric, log, seeded_pairs, write_result

MODELS = ("zoo:mnist28", "zoo:fashion32")
BASE_METRIC = "vgg-eq"
VGG_MIN_SIZE = 32
"""vgg-eq at 32 px (the images' own size for fashion32, a small upsampling for mnist28): fits the CPU budget."""
PAIRS, FRAMES = 8, 9
CONFORMAL = (0.5, 1.0, 2.0)
"""Strengths of the conformal form (unitless)."""
PUBLISHED = (0.2, 1.0)
"""Strengths of the published form, as multiples of the median straight-line step."""
SOLVER = SubdivideConfig(variant="joint", level=OptimizeConfig(optimizer="lbfgs", max_steps=15))
QUICK_SOLVER = SubdivideConfig(variant="joint", level=OptimizeConfig(optimizer="lbfgs", max_steps=4))


class _Brightness(nn.Module):
    """Quick-mode stub critic: darker images score as more realistic."""

    def forward(self, x):
        return -x.flatten(1).mean(1)


class _QuickJudge(nn.Module):
    """Quick-mode stand-in judge: a random :class:`JudgeNet` on the grey mean of the tiny RGB images."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = JudgeNet(classes=10, width=4).eval().requires_grad_(False)

    def forward(self, images):
        return self.net(images.mean(1, keepdim=True)).softmax(-1)

    def info(self) -> dict:
        return {"name": "random (quick)", "test_accuracy": None}


class _QuickFeatures(nn.Module):
    """Quick-mode stand-in for AlexNet's features: a fixed random convolution, spatially averaged."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 16, 3).requires_grad_(False)

    def forward(self, images):
        x = images if images.shape[1] == 3 else images.expand(-1, 3, -1, -1)
        return self.conv(x).relu().mean((2, 3))


class _QuickDataRealism(DataRealism):
    def info(self) -> dict:
        return {**super().info(), "features": "random conv (quick)", "layers": [], "input_size": None}


def _quick_data_realism(gen: Generator) -> DataRealism:
    """Quick-mode stand-in data realism judge: random features, 64 seeded samples of the model as "real" pictures."""
    feats = _QuickFeatures().to(gen.device)
    with torch.no_grad():
        real = feats(gen(gen.sample_latents(64, seed=0, device=gen.device)))
    return _QuickDataRealism(feats, real_stats(real.cpu()), "64 samples of the tiny random model (quick)")


def _med(values) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def _setup(ctx: Context, model: str):
    if ctx.quick:
        gen = Generator(TinyNet(), latent_shape=(8,), discriminator=_Brightness(), name="tiny-random").to(ctx.device)
        return gen, load_metric(BASE_METRIC, ctx), \
            {"pairs": 2, "frames": 5, "solver": QUICK_SOLVER, "calibration_samples": 64}
    gen = load_generator(model, device=ctx.device)
    return gen, build_metric(BASE_METRIC, device=ctx.device, min_size=VGG_MIN_SIZE), \
        {"pairs": PAIRS, "frames": FRAMES, "solver": SOLVER, "calibration_samples": 2000}


def run_model(ctx: Context, model: str) -> dict:
    """Every method on one model: per-pair numbers, medians, costs and settings."""
    gen, base, sz = _setup(ctx, model)
    cal = calibrate(gen, samples=sz["calibration_samples"], use_cache=not ctx.quick)
    z0, z1, seeds = seeded_pairs(gen, sz["pairs"])
    n = sz["frames"] - 1
    linear = baseline_path(gen, "linear", z0, z1, n)
    step = float(path_stats(gen, base, linear).d_sq.sqrt().median())
    lambdas = {**{f"conformal-{lam:g}": lam for lam in CONFORMAL},
               **{f"published-{c:g}": c * step for c in PUBLISHED}}
    metrics = {"geodesic": base,
               **{f"conformal-{lam:g}": realism_metric(base, gen, lam=lam, calibration=cal) for lam in CONFORMAL},
               **{f"published-{c:g}": realism_metric(base, gen, lam=c * step, form="published", calibration=cal)
                  for c in PUBLISHED}}
    paths, cost = {"linear": linear}, {"linear": None}
    for name, metric in metrics.items():
        log(f"realism {model}: {name}")
        res = subdivide_path(PathProblem(gen, metric, z0, z1), n, sz["solver"])
        paths[name] = res.points
        cost[name] = {"seconds": res.wall_time, "evaluations": res.n_points_evaluated,
                      "converged": [bool(c) for c in res.converged]}
        log(f"  {res.n_points_evaluated} evaluations, {res.wall_time:.1f} s")
    judge = _QuickJudge().to(ctx.device) if ctx.quick else judge_for(gen)  # the solvers never see it
    data = _quick_data_realism(gen) if ctx.quick else data_realism_for(gen)  # nor this one
    methods = {}
    with torch.no_grad():
        for name, points in paths.items():
            ev = evaluate_paths(gen, {BASE_METRIC: base}, points, baselines=(), calibration=cal,
                                judge=judge, data_realism=data)["methods"]["path"]
            methods[name] = {"length": ev["metrics"][BASE_METRIC]["length"],
                             "step_cv": ev["metrics"][BASE_METRIC]["step_cv"], "realism": ev["realism"],
                             "judge": ev["judge"], "data_realism": ev["data_realism"], "frechet": ev["frechet"],
                             "cost": cost[name]}
    lin = methods["linear"]["length"]
    for name, m in methods.items():
        r, j, dr = m["realism"], m["judge"], m["data_realism"]
        m["form"] = name.split("-")[0] if name.startswith(("published", "conformal")) else None
        m["lambda"] = lambdas.get(name)
        m["summary"] = {
            "length_vs_linear_median": _med([a / b for a, b in zip(m["length"], lin)]),
            "p_min_median": _med(r["p_min"]), "p_mean_median": _med(r["p_mean"]),
            "frac_below_random_p5": statistics.mean(r["frac_below_random_p5"]),
            "judge_confidence_min_median": _med(j["confidence_min"]),
            "judge_confidence_mean_median": _med(j["confidence_mean"]),
            "judge_off_class": statistics.mean(j["off_class"]),
            "step_cv_median": _med(m["step_cv"]),
            "data_realism_min_median": _med(dr["min"]), "data_realism_mean_median": _med(dr["mean"]),
            "frechet": m["frechet"], "frechet_real_floor": dr["frechet_real_floor"],
        }
    settings = {"pairs": sz["pairs"], "seeds": seeds, "frames": sz["frames"],
                "base_metric": f"{BASE_METRIC} (min_size={VGG_MIN_SIZE})" if not ctx.quick
                else f"{BASE_METRIC} (random, quick)",
                "solver": {"name": "subdivide", **sz["solver"].to_dict()}, "calibration": cal.to_dict(),
                "lambda": lambdas, "median_linear_step": step, "judge": judge.info(),
                "data_realism": data.info()}
    return {"settings": settings, "methods": methods}


def run(ctx: Context) -> None:
    t_suite = time.perf_counter()
    models = ("tiny-random",) if ctx.quick else MODELS
    results = {model: run_model(ctx, model) for model in models}
    settings = {"models": list(models), "conformal_lambdas": list(CONFORMAL),
                "published_lambdas_times_median_step": list(PUBLISHED),
                "per_model": {m: r.pop("settings") for m, r in results.items()}}
    notes = ["realism p = clip((c - o) / (max - o), 0.01, 0.99), o = min - 0.1 (max - min), min/max over "
             "generated samples; p5 = 5th percentile of their p",
             "frac_below_random_p5: fraction of all frames (pairs pooled) less realistic than 95% of random samples",
             "judge: a small CNN classifier trained on the model's real training images only "
             "(scripts/train_judges.py); judge min = lowest max-softmax along a path (median over pairs); "
             "off-class = fraction of interior frames whose class is neither endpoint's (pairs pooled)",
             "data realism (latent_geodesics.data_realism): Kynkaanniemi et al.'s k-NN realism score of each frame "
             "in AlexNet features against real pictures of the model's domain; min/mean over a path's interior "
             "frames (medians over pairs); frechet: Frechet distance of a method's interior frames, pairs pooled, "
             "to the real pictures, frechet_real_floor: that of as many real pictures",
             "published-c: the published form with lambda = c x the median straight-line step of that model"]
    write_result(ctx, "realism", settings=settings, results={"models": results}, notes=notes,
                 wall_time=time.perf_counter() - t_suite,
                 model="tiny-random (quick)" if ctx.quick else ", ".join(MODELS))
