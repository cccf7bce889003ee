"""Time per path as the number of endpoint pairs grows: all pairs in one ``PathProblem`` against one at a time.

Pixel metric, full-path Adam with a fixed number of steps (no early stop), so both ways do the same work
(the same generator evaluations); only the batching differs.
"""

from __future__ import annotations

import time

from latent_geodesics.paths import DEFAULT_CHUNK, PathProblem, linear_path
from latent_geodesics.solvers import OptimizeConfig, optimize_path

from .common import Context, load_metric, load_model, log, seeded_pairs, sync, write_result

METRIC = "pixel"


def sizes(ctx: Context) -> dict:
    if ctx.quick:
        return {"frames": 5, "pairs": [1, 2, 4], "steps": 3, "repeats": 1}
    return {"frames": 17, "pairs": [1, 4, 16] + ([64] if ctx.is_cuda else []), "steps": 5, "repeats": 2}


def solve(gen, metric, z0, z1, frames: int, cfg: OptimizeConfig, device) -> tuple[float, int]:
    """Seconds and generator evaluations of one batched solve of the pairs ``z0, z1``."""
    sync(device)
    t = time.perf_counter()
    problem = PathProblem(gen, metric, z0, z1)
    optimize_path(problem, linear_path(z0, z1, frames - 1), cfg)
    sync(device)
    return time.perf_counter() - t, problem.n_points_evaluated


def run(ctx: Context) -> None:
    t0 = time.perf_counter()
    sz = sizes(ctx)
    gen = load_model(ctx)
    metric = load_metric(METRIC, ctx)
    cfg = OptimizeConfig(optimizer="adam", max_steps=sz["steps"], rtol=0.0)
    z0, z1, _ = seeded_pairs(gen, max(sz["pairs"]))
    solve(gen, metric, z0[:1], z1[:1], sz["frames"], cfg, ctx.device)  # warm-up
    rows = []
    for p in sz["pairs"]:
        log(f"scaling: {p} pair(s)")
        batched, singles = [], []
        for _ in range(sz["repeats"]):  # alternate the two ways so that load changes hit both alike
            batched.append(solve(gen, metric, z0[:p], z1[:p], sz["frames"], cfg, ctx.device))
            single = [solve(gen, metric, z0[i:i + 1], z1[i:i + 1], sz["frames"], cfg, ctx.device) for i in range(p)]
            singles.append((sum(s for s, _ in single), sum(e for _, e in single)))
        batched_s, batched_e = min(batched)
        single_s, single_e = min(singles)
        rows.append({"pairs": p, "points_per_step": p * (sz["frames"] - 2),
                     "batched_seconds": batched_s, "batched_seconds_per_path": batched_s / p,
                     "batched_evaluations": batched_e,
                     "one_at_a_time_seconds": single_s, "one_at_a_time_seconds_per_path": single_s / p,
                     "one_at_a_time_evaluations": single_e, "speedup": single_s / batched_s})
        log(f"  batched {batched_s / p:.2f} s/path, one at a time {single_s / p:.2f} s/path")
    settings = {"metric": METRIC, "frames": sz["frames"], "pairs": sz["pairs"], "repeats": sz["repeats"],
                "solver": {"name": "optimize",
                **cfg.to_dict()}, "chunk_size": DEFAULT_CHUNK}
    notes = ["64 pairs only in a CUDA run", f"chunk size {DEFAULT_CHUNK}: batches above it are split into "
             "chunks, each with its two neighbours recomputed without gradients", "seconds include building the PathProblem (endpoint features); each figure is the fastest of "
             f"{sz['repeats']} alternating repeats (batched, then one at a time)"]
    write_result(ctx, "scaling", settings=settings, results={"rows": rows}, notes=notes,
                 wall_time=time.perf_counter() - t0)
