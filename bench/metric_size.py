"""What bounding the metric's image size (``max_size``) costs in quality and saves in time.

1. Quality, on ``zoo:eyes128`` (a real 128 px model, where a full-size solve is affordable): the default geodesic
   (vgg-eq, 17 frames) solved with the metric at ``max_size`` 64 and at the full 128 px, each measured at full size
   (128 px, float32); their energy ratio says what solving at the bounded size costs in the full-size metric.
2. Cost per latent evaluation (generator + vgg-eq forward and backward, and with tangents) by image size, on the
   real-size stand-ins (:mod:`bench.standins`, random weights), with the metric bounded at 64 and 128 px and
   unbounded where affordable.
"""

from __future__ import annotations

import time

import torch

from latent_geodesics.budget import footprint
from latent_geodesics.generators import Generator, load_generator
from latent_geodesics.jobs import InterpolateSettings, solve
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import PathProblem, path_stats

from .common import Context, load_model, log, write_result
from .standins import ConvGenerator

MODEL = "zoo:eyes128"


def sizes(ctx: Context) -> dict:
    if ctx.quick:  # the tiny random generator, the pixel metric: seconds
        return {"metric": "pixel-eq", "pairs": [[1, 2]], "frames": 5, "bounds": [4, 8], "images": [16],
                "tangents": 4, "latents": [8, 16]}
    return {"metric": "vgg-eq", "pairs": [[1, 2], [3, 4], [5, 6]], "frames": 17, "bounds": [64, 128],
            "images": [64, 128, 256, 512, 1024], "tangents": 16, "latents": [64, 128, 256, 512]}


def quality(ctx: Context, sz: dict) -> list[dict]:
    gen = load_model(ctx) if ctx.quick else load_generator(MODEL, device=ctx.device)
    options = {} if ctx.quick else {"min_size": 64}
    full = build_metric(sz["metric"], device=ctx.device, max_size=None, **options)
    rows = []
    for a, b in sz["pairs"]:
        z0, z1 = gen.sample_latents(1, seed=a), gen.sample_latents(1, seed=b)
        row = {"seeds": [a, b]}
        for bound in sz["bounds"]:
            metric = build_metric(sz["metric"], device=ctx.device, max_size=bound, **options)
            t = time.perf_counter()
            solved = solve(gen, metric, z0, z1, InterpolateSettings(frames=sz["frames"]))
            seconds = time.perf_counter() - t
            at_full = path_stats(gen, full, solved.points)
            row[str(bound)] = {"energy_full": float(at_full.energy[0]), "length_full": float(at_full.length[0]),
                               "seconds": seconds, "evaluations": solved.result.n_points_evaluated,
                               "converged": bool(solved.result.converged.all())}
            log(f"metric_size: {MODEL} seeds {a}-{b} max_size {bound}: E_full {row[str(bound)]['energy_full']:.4g} "
                f"in {seconds:.0f} s")
        line = path_stats(gen, full, solved.start)
        row["linear_energy_full"] = float(line.energy[0])
        lo, hi = str(min(sz["bounds"])), str(max(sz["bounds"]))
        row["energy_ratio"] = row[lo]["energy_full"] / row[hi]["energy_full"]
        rows.append(row)
    return rows


def cost(ctx: Context, sz: dict) -> list[dict]:
    """Seconds per latent by image size (512-d) and by latent size (256 px), metric bounded or not."""
    options = {} if ctx.quick else {"min_size": 64}
    cases = [(size, 512, bound) for size in sz["images"] for bound in sz["bounds"] + ([None] if size <= 256 else [])
             if bound is None or bound <= size]
    mid = sz["images"][min(2, len(sz["images"]) - 1)]
    cases += [(mid, d, sz["bounds"][-1]) for d in sz["latents"] if d != 512]
    rows = []
    for size, latent, bound in cases:
        gen = Generator(ConvGenerator(size, latent=latent), latent_shape=latent).to(ctx.device)
        if True:
            metric = build_metric(sz["metric"], device=ctx.device, max_size=bound, **options)
            fp = footprint(gen, metric)
            z = gen.sample_latents(2, seed=1)
            problem = PathProblem(gen, metric, z[:1], z[1:])
            eye = torch.eye(latent, device=ctx.device)[: sz["tangents"]]
            problem._tangent_rows(z[0], eye[:2], "")  # warm-up
            t = time.perf_counter()
            problem._tangent_rows(z[0], eye, "")
            jvp = (time.perf_counter() - t) / sz["tangents"]
            x = torch.randn(1, 4, latent, device=ctx.device, requires_grad=True)
            problem.energy_backward(x)  # warm-up
            t = time.perf_counter()
            problem.energy_backward(x)
            back = (time.perf_counter() - t) / 4
            rows.append({"image": size, "latent": latent, "max_size": bound, "seconds_backward": back,
                         "seconds_jvp": jvp, "latent_metric_seconds": latent * jvp,
                         "mb_per_latent": fp.bytes_per_latent / 2**20, "chunk": fp.chunk()})
            log(f"metric_size: conv{size} {latent}-d max_size {bound}: {back:.3f} s fwd+bwd, {jvp:.3f} s jvp, "
                f"{fp.bytes_per_latent / 2**20:.0f} MB")
    return rows


def run(ctx: Context) -> None:
    t0 = time.perf_counter()
    sz = sizes(ctx)
    q = quality(ctx, sz)
    c = cost(ctx, sz)
    ratios = [r["energy_ratio"] for r in q]
    notes = [f"quality: {MODEL}, vgg-eq geodesics ({sz['frames']} frames, default solver) solved with the metric at "
             f"max_size {sz['bounds']}, measured at full size (128 px, float32); energy_ratio = bounded / full",
             f"median energy ratio {sorted(ratios)[len(ratios) // 2]:.4f} over {len(ratios)} pairs",
             "cost: conv stand-ins (bench.standins, random weights, 512-d) + vgg-eq; seconds per latent of one "
             "chunk's pass with gradients (4 points) and with tangents (forward-mode, as the latent metric uses); "
             "VGG in the precision --precision auto picks is not used here: float32"]
    write_result(ctx, "metric_size", settings=sz, results={"quality": q, "cost": c}, notes=notes,
                 wall_time=time.perf_counter() - t0, model=MODEL)
