"""Petzka et al.'s claims (DESIGN.md section 6), judged by someone else: on ``zoo:fashion32`` and
``zoo:mnist28``, does the discriminator-weighted geodesic keep the path realistic, and at what cost in length?

The weighting optimises the model's own discriminator, so its realism ``p`` is not an independent
verdict. Each model also has an *independent judge* (:mod:`latent_geodesics.judges`): a classifier trained
on the real training images only. Per path it gives the lowest confidence (max softmax) along the path
and the fraction of interior frames whose class is neither endpoint's (off-class frames). And a *data realism
judge* (:mod:`latent_geodesics.data_realism`): each frame's k-NN realism score in AlexNet features against real
pictures, per path its lowest and mean score over the interior frames, and per method the Fréchet distance of its
interior frames (pairs pooled) to the real pictures.

Models: ``zoo:mnist28`` and ``zoo:fashion32`` with their own discriminators, and ``zoo:celeba64`` with the
discriminator we trained for it (``scripts/train_celeba64_d.py``; it has no classifier judge, only the data realism
judge).

Methods, same seeded pairs and frame count per model: the straight line, the plain geodesic, the conformal
form, the published form, the hinge form (discriminator realism, weighted only below the endpoints' or a typical
sample's realism), the knn form (no discriminator: k-NN realism in pixel features against real pictures) at
several strengths, and the latent prior (the plain geodesic with every point's norm kept within 1 std of the
typical-set shell). The published form's ``lambda`` is in the base metric's distance units, so it is given as a
multiple of the median straight-line step (Petzka et al. use 0.2 in their units). Every path is solved alone (one
pair per problem), because the hinge forms' threshold is per path.

``BENCH_REALISM_MODELS=zoo:celeba64`` (comma-separated) runs only those models; each model's results are also kept
in ``<out>/realism-parts/<model>.json`` and reused by later runs (delete them to measure again), so models can run
in separate processes and be merged by a last ``python -m bench realism``.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import torch
from torch import nn

from latent_geodesics.data_realism import DataRealism, data_realism_for, real_stats
from latent_geodesics.evaluation import baseline_path, evaluate_paths
from latent_geodesics.generators import Generator, load_generator
from latent_geodesics.generators.zoo import CELEBA64_DISCRIMINATOR
from latent_geodesics.judges import JudgeNet, judge_for
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import PathProblem, images_of, path_stats
from latent_geodesics.realism import KnnRealism, calibrate, calibration_of, knn_realism_for, realism_metric
from latent_geodesics.solvers import OptimizeConfig, SubdivideConfig, subdivide_path

from .common import Context, TinyNet, load_metric, log, seeded_pairs, write_result

MODELS = ("zoo:mnist28", "zoo:fashion32", "zoo:celeba64")
DISCRIMINATORS = {"zoo:celeba64": CELEBA64_DISCRIMINATOR}
"""Discriminators given to zoo models that ship without one."""
BASE_METRIC = "vgg-eq"
VGG_MIN_SIZE = 32
"""vgg-eq at 32 px (the images' own size for fashion32, a small upsampling for mnist28): fits the CPU budget."""
PAIRS, FRAMES = 8, 9
CONFORMAL = (0.5, 1.0)
"""Strengths of the conformal form (unitless)."""
PUBLISHED = (0.2, 1.0)
"""Strengths of the published form, as multiples of the median straight-line step."""
HINGE = (1.0, 2.0, 8.0)
"""Strengths of the hinge and knn forms (unitless)."""
SHELL = 1.0
"""The prior method's shell half-width, in standard deviations of the latent norm."""
FEWER = {"zoo:celeba64": ("geodesic", "conformal-0.5", "conformal-1", "published-1", "hinge-1", "hinge-2", "knn-1",
                          "knn-2", "prior-shell1")}
"""Models on which only these methods run: what fitted the time on the shared 2-core CPU (celeba64's 64 px VGG
costs 3-14 min per method for 8 pairs there, by the load). ``BENCH_REALISM_METHODS`` (comma-separated) overrides
it."""
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
        shell = Generator(gen.net, latent_shape=(8,), discriminator=gen.discriminator, name="tiny-random",
                          shell=SHELL).to(ctx.device)
        return gen, shell, load_metric(BASE_METRIC, ctx), \
            {"pairs": 2, "frames": 5, "solver": QUICK_SOLVER, "calibration_samples": 64}
    gen = load_generator(model, device=ctx.device, discriminator=DISCRIMINATORS.get(model))
    shell = load_generator(model, device=ctx.device, discriminator=DISCRIMINATORS.get(model), shell=SHELL)
    return gen, shell, build_metric(BASE_METRIC, device=ctx.device, min_size=VGG_MIN_SIZE), \
        {"pairs": PAIRS, "frames": FRAMES, "solver": SOLVER, "calibration_samples": 2000}


def _quick_knn(gen: Generator) -> KnnRealism:
    """Quick-mode k-NN critic: 32 seeded samples of the tiny model as "real" pictures."""
    with torch.no_grad():
        critic = KnnRealism(gen(gen.sample_latents(32, seed=1, device=gen.device)), reference="quick").to(gen.device)
        scores = critic.score(gen(gen.sample_latents(64, seed=0, device=gen.device)))
    critic.calibration = calibration_of(scores, samples=64, seed=0)
    return critic


def _solve_each(gen: Generator, z0, z1, n: int, solver, metric_of) -> tuple:
    """Solve every pair alone (``metric_of(i)`` gives pair ``i``'s metric); points ``(B, n+1, ...)`` and costs."""
    points, seconds, evals, conv = [], 0.0, 0, []
    for i in range(z0.shape[0]):
        res = subdivide_path(PathProblem(gen, metric_of(i), z0[i:i + 1], z1[i:i + 1]), n, solver)
        points.append(res.points)
        seconds += res.wall_time
        evals += res.n_points_evaluated
        conv += [bool(c) for c in res.converged]
    return torch.cat(points), {"seconds": seconds, "evaluations": evals, "converged": conv}


def run_model(ctx: Context, model: str) -> dict:
    """Every method on one model: per-pair numbers, medians, costs and settings."""
    gen, shell_gen, base, sz = _setup(ctx, model)
    cal = calibrate(gen, samples=sz["calibration_samples"], use_cache=not ctx.quick)
    knn = _quick_knn(gen) if ctx.quick else knn_realism_for(gen)
    z0, z1, seeds = seeded_pairs(gen, sz["pairs"])
    n = sz["frames"] - 1
    linear = baseline_path(gen, "linear", z0, z1, n)
    step = float(path_stats(gen, base, linear).d_sq.sqrt().median())

    def ends(i: int):
        return torch.cat([z0[i:i + 1], z1[i:i + 1]])

    methods_of = {"geodesic": (None, lambda i: base)}
    for lam in CONFORMAL:
        methods_of[f"conformal-{lam:g}"] = (lam, lambda i, lam=lam: realism_metric(base, gen, lam=lam, calibration=cal))
    for c in PUBLISHED:
        methods_of[f"published-{c:g}"] = (c * step, lambda i, c=c: realism_metric(
            base, gen, lam=c * step, form="published", calibration=cal))
    for lam in HINGE:
        methods_of[f"hinge-{lam:g}"] = (lam, lambda i, lam=lam: realism_metric(
            base, gen, lam=lam, form="hinge", calibration=cal, endpoints=ends(i)))
    for lam in HINGE:
        methods_of[f"knn-{lam:g}"] = (lam, lambda i, lam=lam: realism_metric(
            base, gen, lam=lam, form="knn", realism=knn, endpoints=ends(i)))
    methods_of[f"prior-shell{SHELL:g}"] = (None, lambda i: base)
    only = [m for m in os.environ.get("BENCH_REALISM_METHODS", "").split(",") if m]
    keep = (only or FEWER.get(model)) if not ctx.quick else None
    if keep is not None:
        methods_of = {k: v for k, v in methods_of.items() if k in keep}
    lambdas = {k: v[0] for k, v in methods_of.items() if v[0] is not None}
    paths, cost, thresholds = {"linear": linear}, {"linear": None}, {}
    for name, (_, metric_of) in methods_of.items():
        log(f"realism {model}: {name}")
        solve_gen = shell_gen if name.startswith("prior") else gen
        if name.startswith(("hinge", "knn")):
            thresholds[name] = [metric_of(i).threshold for i in range(z0.shape[0])]
        saved = _part_path(ctx, model).with_suffix("") / f"{name}.pt"
        if not ctx.quick and saved.is_file():  # solved by an earlier, interrupted run with the same code
            blob = torch.load(saved, weights_only=True)
            paths[name], cost[name] = blob["points"].to(ctx.device), blob["cost"]
            log(f"  reusing {saved}")
            continue
        paths[name], cost[name] = _solve_each(solve_gen, z0, z1, n, sz["solver"], metric_of)
        if not ctx.quick:
            saved.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"points": paths[name].cpu(), "cost": cost[name]}, saved)
        log(f"  {cost[name]['evaluations']} evaluations, {cost[name]['seconds']:.1f} s")
    judge = _QuickJudge().to(ctx.device) if ctx.quick else judge_for(gen)  # the solvers never see it
    data = _quick_data_realism(gen) if ctx.quick else data_realism_for(gen)  # nor this one
    methods = {}
    with torch.no_grad():
        for name, points in paths.items():
            ev = evaluate_paths(gen, {BASE_METRIC: base}, points, baselines=(), calibration=cal,
                                judge=judge, data_realism=data)["methods"]["path"]
            knn_p = knn(images_of(gen, points.flatten(0, 1))).view(points.shape[0], -1)  # (B, N+1)
            methods[name] = {"length": ev["metrics"][BASE_METRIC]["length"],
                             "step_cv": ev["metrics"][BASE_METRIC]["step_cv"], "realism": ev["realism"],
                             "judge": ev["judge"], "data_realism": ev["data_realism"], "frechet": ev["frechet"],
                             "knn_p_min": [float(v) for v in knn_p.amin(1)], "cost": cost[name],
                             "threshold": thresholds.get(name)}
    lin = methods["linear"]["length"]
    for name, m in methods.items():
        r, j, dr = m["realism"], m["judge"], m["data_realism"]
        m["form"] = name.split("-")[0] if name.startswith(("published", "conformal", "hinge", "knn", "prior")) \
            else None
        m["lambda"] = lambdas.get(name)
        m["summary"] = {
            "length_vs_linear_median": _med([a / b for a, b in zip(m["length"], lin)]),
            "p_min_median": _med(r["p_min"]), "p_mean_median": _med(r["p_mean"]),
            "frac_below_random_p5": statistics.mean(r["frac_below_random_p5"]),
            "judge_confidence_min_median": None if j is None else _med(j["confidence_min"]),
            "judge_confidence_mean_median": None if j is None else _med(j["confidence_mean"]),
            "judge_off_class": None if j is None else statistics.mean(j["off_class"]),
            "step_cv_median": _med(m["step_cv"]),
            "knn_p_min_median": _med(m["knn_p_min"]),
            "data_realism_min_median": _med(dr["min"]), "data_realism_mean_median": _med(dr["mean"]),
            "frechet": m["frechet"], "frechet_real_floor": dr["frechet_real_floor"],
        }
    settings = {"pairs": sz["pairs"], "seeds": seeds, "frames": sz["frames"],
                "base_metric": f"{BASE_METRIC} (min_size={VGG_MIN_SIZE})" if not ctx.quick
                else f"{BASE_METRIC} (random, quick)",
                "discriminator": DISCRIMINATORS.get(model, "the model's own"),
                "solver": {"name": "subdivide", "pairs_per_problem": 1, **sz["solver"].to_dict()},
                "calibration": cal.to_dict(), "knn": {**knn.info(), "calibration": knn.calibration.to_dict()},
                "lambda": lambdas, "median_linear_step": step, "methods": list(paths),
                "judge": None if judge is None else judge.info(), "data_realism": data.info()}
    return {"settings": settings, "methods": methods}


def _part_path(ctx: Context, model: str):
    return ctx.out / "realism-parts" / f"{model.replace(':', '-')}.json"


def _model_results(ctx: Context, model: str) -> dict:
    """One model's results: from its part file if an earlier run left one (real size only), else measured."""
    part = _part_path(ctx, model)
    if not ctx.quick and part.is_file():
        log(f"realism {model}: reusing {part}")
        return json.loads(part.read_text())
    res = run_model(ctx, model)
    if not ctx.quick:
        part.parent.mkdir(parents=True, exist_ok=True)
        tmp = part.with_suffix(".tmp")
        tmp.write_text(json.dumps(res))
        tmp.replace(part)
    return res


def run(ctx: Context) -> None:
    t_suite = time.perf_counter()
    only = [m for m in os.environ.get("BENCH_REALISM_MODELS", "").split(",") if m]
    models = ("tiny-random",) if ctx.quick else tuple(only or MODELS)
    results = {model: _model_results(ctx, model) for model in models}
    settings = {"models": list(models), "conformal_lambdas": list(CONFORMAL),
                "published_lambdas_times_median_step": list(PUBLISHED), "hinge_lambdas": list(HINGE),
                "prior_shell": SHELL,
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
             "published-c: the published form with lambda = c x the median straight-line step of that model",
             "hinge-l: discriminator realism, factor 1 + l h(1/a - 1/tau), h a smooth hinge, tau = the lower of the "
             "path's endpoints' p and the random samples' median p (per path); knn-l: the same with a k-NN realism "
             "critic in 16x16 pixel features against real pictures (no discriminator); prior-shell1: the plain "
             "geodesic with every latent's norm kept within 1 std of the typical-set shell",
             "knn p min: the knn critic's lowest p along a path (median over pairs); it is optimised by knn-l",
             "every path is solved alone (one pair per problem); models may run in separate processes "
             "(BENCH_REALISM_MODELS), so the suite wall time is that of the last merge"]
    write_result(ctx, "realism", settings=settings, results={"models": results}, notes=notes,
                 wall_time=time.perf_counter() - t_suite,
                 model="tiny-random (quick)" if ctx.quick else ", ".join(models))
