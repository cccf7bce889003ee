"""A batch of pairs against the same pairs solved one at a time (issue 19: at most 1.2x the evaluations, every
pair as close to its reference, each pair with its own steps).

The default solver (``lbfgs-pair``: a line search and a stop per pair) on 8 pairs (seeds 1-16) of
``zoo:mnist28`` with vgg-eq at 32 px (the size of issue 19's MNIST case; ``zoo:faces64`` at 64 px on a GPU),
17 frames, VGG-19 in the precision ``--precision auto`` picks: each pair alone, then all 8 as one batch. A pair's
reference is the lowest energy any benchmark run has reached for it (:mod:`bench.references`, this run included).
Evaluations are latents through generator + VGG-19 (the latent metric's tangent passes included): noise-free, valid
on a busy machine; seconds are not.
"""

from __future__ import annotations

import time

import torch

from latent_geodesics.generators import load_generator
from latent_geodesics.metrics import build_metric, precision_name, solving_precision
from latent_geodesics.solvers import SubdivideConfig, stops_on_frames

from .common import Context, Generator, TinyNet, load_metric, log, write_result
from .references import References, pair_key
from .speedup import _solve

TOLERANCE = 0.01


def sizes(ctx: Context) -> dict:
    if ctx.quick:
        return {"model": "tiny-random", "pairs": 3, "frames": 5}
    return {"model": "zoo:faces64" if ctx.is_cuda else "zoo:mnist28", "pairs": 8, "frames": 17,
            "min_size": 64 if ctx.is_cuda else 32}


def run(ctx: Context) -> None:
    t0 = time.perf_counter()
    s = sizes(ctx)
    if ctx.quick:
        gen, metric = Generator(TinyNet(), latent_shape=(8,), name="tiny-random").to(ctx.device), load_metric("vgg-eq", ctx)
    else:
        gen = load_generator(s["model"], device=ctx.device)
        metric = build_metric("vgg-eq", device=ctx.device, min_size=s["min_size"])
    n = s["frames"] - 1
    seeds = [(2 * k + 1, 2 * k + 2) for k in range(s["pairs"])]
    z0 = torch.cat([gen.sample_latents(1, seed=a) for a, _ in seeds])
    z1 = torch.cat([gen.sample_latents(1, seed=b) for _, b in seeds])
    refs = References(ctx)
    dtype = solving_precision(metric, "auto", ctx.device, frame_rule=stops_on_frames(SubdivideConfig().level))
    singles = []
    for k, pair in enumerate(seeds):
        r = _solve(gen, metric, z0[k:k + 1], z1[k:k + 1], n, SubdivideConfig(), ctx.device, dtype)
        r.pop("points")
        log(f"batch: pair {pair} alone: energy {r['energy'][0]:.5g}, {r['evaluations']} evals, {r['seconds']} s")
        singles.append(r)
    batch = _solve(gen, metric, z0, z1, n, SubdivideConfig(), ctx.device, dtype)
    batch.pop("points")
    log(f"batch: all {len(seeds)} together: {batch['evaluations']} evals, {batch['seconds']} s")
    pairs = []
    for k, pair in enumerate(seeds):
        name = pair_key(s["model"], s.get("min_size"), s["frames"], pair)
        refs.offer(name, singles[k]["energy"][0], "batch alone")
        ref = refs.offer(name, batch["energy"][k], "batch together")
        pairs.append({"seeds": list(pair), "reference_energy": ref,
                      "single": {"energy": singles[k]["energy"][0], "vs_reference": singles[k]["energy"][0] / ref,
                                 "evaluations": singles[k]["evaluations"], "steps": singles[k]["steps"][0],
                                 "converged": singles[k]["converged"][0], "seconds": singles[k]["seconds"]},
                      "batch": {"energy": batch["energy"][k], "vs_reference": batch["energy"][k] / ref,
                                "steps": batch["steps"][k], "converged": batch["converged"][k]}})
    single_evals = sum(p["single"]["evaluations"] for p in pairs)
    summary = {"evaluations_single": single_evals, "evaluations_batch": batch["evaluations"],
               "evaluations_vs_single": batch["evaluations"] / single_evals,
               "seconds_single": sum(p["single"]["seconds"] for p in pairs), "seconds_batch": batch["seconds"],
               "batch_worst_vs_reference": max(p["batch"]["vs_reference"] for p in pairs),
               "single_worst_vs_reference": max(p["single"]["vs_reference"] for p in pairs),
               "batch_all_within_1pct": all(p["batch"]["vs_reference"] <= 1 + TOLERANCE for p in pairs)}
    notes = [f"{s['pairs']} pairs (seeds 1-{2 * s['pairs']}) of {s['model']}, vgg-eq, {s['frames']} frames, the "
             "default solver: each pair alone, then all together as one batch",
             "reference: the lowest energy any benchmark run has reached for the pair (references.json, this run "
             "included); steps: the most steps any level took, per pair",
             f"VGG-19 in {precision_name(dtype)} (what `--precision auto` picks here); energies measured in float32",
             "evaluations: latents through generator + VGG-19 (tangent passes of the latent metric included)"]
    write_result(ctx, "batch", settings={**s, "precision": precision_name(dtype)},
                 results={"pairs": pairs, "summary": summary}, notes=notes,
                 wall_time=time.perf_counter() - t0, model=s["model"])
