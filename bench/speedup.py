"""Today's default solver against the previous one, pair by pair, against a long reference (issue 19).

For each model and each endpoint pair, solved one pair at a time, in one run:

1. ``previous``: the default before issue 19, ``--solver subdivide --variant joint --optimizer lbfgs
   --precondition kronecker --rtol 1e-4 --gtol 3e-3`` (torch's L-BFGS, chord midpoints, energy rule);
2. ``default``: :class:`SubdivideConfig` as it is now, VGG-19 in the precision ``--precision auto`` picks on the
   device (bfloat16 on a CPU with AVX512-BF16; ``precision`` compares it with float32);
3. ``reference``: the lower of the two, polished by ``lbfgs-pair`` far past any normal budget (energy rule
   ``REFERENCE_RTOL`` over 10 steps, or ``reference_budget`` evaluations). The reference of a pair is the
   lowest energy any benchmark run has reached for it (:mod:`bench.references`, this run included): the
   one-midpoint problem has several local minima within a few per cent of each other, so "within 1%" needs a
   reference per pair, not one true optimum.

Then the same pairs solved by the default as one batch: its evaluations against the sum of the single runs
(``lbfgs-pair`` gives each pair its own line search and stop, so a batch should cost what its pairs cost alone).

Evaluations are latents sent through generator + metric (forward passes; the latent metric's tangent passes
included), noise-free; seconds are wall time, meaningful only on a quiet machine.
"""

from __future__ import annotations

import time
import torch

from latent_geodesics.generators import load_generator
from latent_geodesics.metrics import build_metric, computing_in, precision_name, resolve_precision
from latent_geodesics.paths import PathProblem, PathStats
from latent_geodesics.solvers import OptimizeConfig, SubdivideConfig, optimize_path, stops_on_frames, subdivide_path

from .common import Context, Generator, TinyNet, load_metric, log, write_result
from .references import FILE, References, pair_key

PREVIOUS = SubdivideConfig(variant="joint", level=OptimizeConfig(
    optimizer="lbfgs", max_steps=500, rtol=1e-4, gtol=3e-3, precondition="kronecker"), coarse_rtol=1e-3)
"""The default before issue 19 (what ``--variant joint --optimizer lbfgs --rtol 1e-4 --gtol 3e-3`` builds)."""
REFERENCE_RTOL = 1e-6
TOLERANCE = 0.01


def sizes(ctx: Context) -> dict:
    """Toy (``--quick``) or issue 19's size: 4 pairs on faces64, 2 on celeba64 and mnist28 (about 1.5 hours on the
    2-core CPU); a GPU polishes each reference longer."""
    if ctx.quick:
        return {"models": {"tiny-random": {"pairs": 2, "frames": 5, "min_size": None, "reference_budget": 200}}}
    budget = 1000 if ctx.is_cuda else 300
    return {"models": {
        "zoo:faces64": {"pairs": 4, "frames": 17, "min_size": 64, "reference_budget": budget},
        "zoo:celeba64": {"pairs": 2, "frames": 17, "min_size": 64, "reference_budget": budget},
        "zoo:mnist28": {"pairs": 2, "frames": 17, "min_size": 64, "reference_budget": budget},
    }}


def _model(name: str, ctx: Context):
    if ctx.quick:
        return Generator(TinyNet(), latent_shape=(8,), name="tiny-random").to(ctx.device), load_metric("vgg-eq", ctx)
    return load_generator(name, device=ctx.device), build_metric("vgg-eq", device=ctx.device, min_size=64)


def _solve(gen, metric, z0, z1, n: int, config: SubdivideConfig, device, precision=torch.float32) -> dict:
    """One subdivide solve with the metric's networks in ``precision``; its energy measured in float32."""
    problem = PathProblem(gen, metric, z0, z1)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t = time.perf_counter()
    with computing_in(metric, precision):
        res = subdivide_path(problem, n, config)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    if precision != torch.float32:
        with torch.no_grad():
            res.stats = PathStats.of(problem.distances_sq(res.points[:, 1:-1], grad=False))
    return {"energy": res.stats.energy.tolist(), "evaluations": problem.n_points_evaluated,
            "seconds": round(time.perf_counter() - t, 2), "steps": res.steps.tolist(),
            "converged": res.converged.tolist(), "points": res.points}


def _reference(gen, metric, z0, z1, start, budget: int) -> dict:
    problem = PathProblem(gen, metric, z0, z1)
    cfg = OptimizeConfig(optimizer="lbfgs-pair", max_steps=budget, rtol=REFERENCE_RTOL, precondition="kronecker")
    res = optimize_path(problem, start, cfg)
    return {"energy": res.stats.energy.tolist(), "evaluations": problem.n_points_evaluated,
            "met_rule": res.converged.tolist()}


def run(ctx: Context) -> None:
    t0 = time.perf_counter()
    s = sizes(ctx)
    refs = References(ctx)
    dtype = resolve_precision("auto", ctx.device, frame_rule=stops_on_frames(SubdivideConfig().level))
    results = {}
    for name, size in s["models"].items():
        gen, metric = _model(name, ctx)
        n = size["frames"] - 1
        pairs = []
        z0s, z1s, keys = [], [], []
        for k in range(size["pairs"]):
            seeds = (2 * k + 1, 2 * k + 2)
            pair = pair_key(name, size["min_size"], size["frames"], seeds)
            keys.append(pair)
            z0, z1 = gen.sample_latents(1, seed=seeds[0]), gen.sample_latents(1, seed=seeds[1])
            z0s.append(z0)
            z1s.append(z1)
            log(f"speedup: {name} pair {seeds}")
            prev = _solve(gen, metric, z0, z1, n, PREVIOUS, ctx.device)
            new = _solve(gen, metric, z0, z1, n, SubdivideConfig(), ctx.device, dtype)
            best = prev if prev["energy"][0] <= new["energy"][0] else new
            ref = _reference(gen, metric, z0, z1, best["points"], size["reference_budget"])
            for by, r in (("previous", prev), ("default", new), ("reference polish", ref)):
                refs.offer(pair, r["energy"][0], f"speedup {by}")
            row = {"seeds": list(seeds), "this_run_lowest": min(prev["energy"][0], new["energy"][0],
                                                                 ref["energy"][0]), "reference": ref}
            for label, r in (("previous", prev), ("default", new)):
                row[label] = {k: v for k, v in r.items() if k != "points"}
            row["evaluation_ratio"] = new["evaluations"] / prev["evaluations"]
            row["time_ratio"] = new["seconds"] / max(prev["seconds"], 1e-9)
            log(f"  previous {prev['energy'][0]:.5g} ({prev['evaluations']} evals, {prev['seconds']} s); "
                f"default {new['energy'][0]:.5g} ({new['evaluations']} evals, {new['seconds']} s); "
                f"reference {refs.lowest(pair):.5g}")
            pairs.append(row)
        batch = _solve(gen, metric, torch.cat(z0s), torch.cat(z1s), n, SubdivideConfig(), ctx.device, dtype)
        batch.pop("points")
        for pair, e in zip(keys, batch["energy"]):
            refs.offer(pair, e, "speedup batch")
        # Against the table as it stands after the whole model, so that no ratio is taken against a stale reference.
        for pair, row in zip(keys, pairs):
            row["reference_energy"] = refs.lowest(pair)
            row["reference_by"] = refs.table[pair]["by"]
            for label in ("previous", "default"):
                r = row[label]
                r["vs_reference"] = r["energy"][0] / row["reference_energy"]
                r["within_1pct"] = r["vs_reference"] <= 1 + TOLERANCE
        single = sum(p["default"]["evaluations"] for p in pairs)
        batch["vs_reference"] = [e / p["reference_energy"] for e, p in zip(batch["energy"], pairs)]
        batch["evaluations_vs_single"] = batch["evaluations"] / single
        results[name] = {"frames": size["frames"], "pairs": pairs, "batch": batch,
                         "summary": _summary(pairs)}
    notes = ["each pair solved alone (previous, default), then the default on all pairs as one batch",
             f"reference: the lowest energy any benchmark run has reached for the pair ({FILE}, kept across runs); "
             f"this run adds the lower result polished by lbfgs-pair to a relative energy change of {REFERENCE_RTOL} "
             "over 10 steps (or its budget), and every energy of the run",
             "evaluations: latents through generator + VGG-19 (forward; tangent passes of the latent metric "
             "included); seconds: wall time",
             f"VGG-19: float32 for the previous default and the reference; {precision_name(dtype)} for the default "
             "(what `--precision auto` picks here; `precision` holds the default in float32 against it); every "
             "energy measured in float32"]
    write_result(ctx, "speedup", settings={**s, "default_precision": precision_name(dtype)}, results=results,
                 notes=notes,
                 wall_time=time.perf_counter() - t0, model=", ".join(s["models"]))


def _summary(pairs: list[dict]) -> dict:
    worst = max(p["default"]["vs_reference"] for p in pairs)
    return {"default_worst_vs_reference": worst,
            "previous_worst_vs_reference": max(p["previous"]["vs_reference"] for p in pairs),
            "default_all_within_1pct": all(p["default"]["within_1pct"] for p in pairs),
            "evaluation_ratio_worst": max(p["evaluation_ratio"] for p in pairs),
            "time_ratio_worst": max(p["time_ratio"] for p in pairs),
            "previous_seconds_total": sum(p["previous"]["seconds"] for p in pairs),
            "default_seconds_total": sum(p["default"]["seconds"] for p in pairs)}

