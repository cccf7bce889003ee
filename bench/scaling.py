"""Two kinds of scaling.

1. Time per path as the number of endpoint pairs grows: all pairs in one ``PathProblem`` against one at a time.
   Pixel metric, full-path Adam with a fixed number of steps (no early stop), so both ways do the same work
   (the same generator evaluations); only the batching differs.
2. Batch jobs (``latent-geodesics batch``) per executor: lines per hour with the local executor and with Ray at 1
   and 2 workers, Ray's overhead per line, and a paper estimate for N workers (GPUs) from the measured costs.
"""

from __future__ import annotations

import os
import tempfile
import time

import torch

from latent_geodesics.batch import Generators, JobSpec, LocalExecutor, resolve_jobs, run_jobs
from latent_geodesics.settings import ModelSettings, Settings
from latent_geodesics.budget import chunk_for
from latent_geodesics.paths import PathProblem, linear_path
from latent_geodesics.solvers import OptimizeConfig, optimize_path

from .common import REAL_MODEL, Context, load_metric, load_model, log, seeded_pairs, sync, write_result

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
                **cfg.to_dict()}, "chunk_size": chunk_for(gen, metric)}
    notes = ["64 pairs only in a CUDA run", f"chunk size {settings['chunk_size']} (fit to the memory budget): batches "
             "above it are split into "
             "chunks, each with its two neighbours recomputed without gradients", "seconds include building the PathProblem (endpoint features); each figure is the fastest of "
             f"{sz['repeats']} alternating repeats (batched, then one at a time)"]
    executors, ex_settings, ex_notes = executor_section(ctx, gen)
    settings["executors"] = ex_settings
    write_result(ctx, "scaling", settings=settings, results={"rows": rows, "executors": executors},
                 notes=notes + ex_notes, wall_time=time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------------------
# Batch jobs per executor
# ---------------------------------------------------------------------------------------------------------------

GPU_COUNTS = (1, 2, 4, 8, 16, 64)
"""Worker counts of the paper estimate."""


def executor_sizes(ctx: Context) -> dict:
    if ctx.quick:
        return {"lines": 4, "frames": 5, "steps": 2, "batch_size": 1, "repeats": 1}
    return {"lines": 8, "frames": 9, "steps": 10, "batch_size": 1, "repeats": 2}


def _timed_batch(jobs, executor, model_name: str, batch_size: int) -> dict:
    """Seconds of one batch run into a fresh folder, the solve seconds the workers reported, and the load."""
    with tempfile.TemporaryDirectory(prefix="lg-bench-batch-") as out:
        t = time.perf_counter()
        run = run_jobs(jobs, out, executor, batch_size=batch_size)
        wall = time.perf_counter() - t
    assert run.solved == len(jobs), f"{run.failed} lines failed"
    solve = sum(r["wall_time_s"] for r in run.records)
    return {"wall_s": wall, "solve_s": solve, "workers_seen": len({r["worker"] for r in run.records}),
            "load_1min": os.getloadavg()[0]}


def _row(name: str, workers: int, threads: int, lines: int, timing: dict, setup_s: float | None) -> dict:
    wall, solve = timing["wall_s"], timing["solve_s"]
    return {"executor": name, "workers": workers, "threads_per_worker": threads, "lines": lines,
            "setup_s": setup_s, "wall_s": wall, "lines_per_hour": lines / wall * 3600,
            "solve_s_per_line": solve / lines,
            # what a line costs beyond its solve, with the workers running in parallel
            "overhead_s_per_line": wall / lines - solve / (lines * workers),
            "workers_seen": timing["workers_seen"], "load_1min": timing["load_1min"]}


def executor_section(ctx: Context, gen) -> tuple[list[dict], dict, list[str]]:
    """Lines per hour: local (1 torch thread, and ``--threads`` if more) and Ray with 1 and 2 one-CPU workers.

    The same lines each time; the configurations take turns for ``repeats`` rounds and each keeps its fastest
    round (the one least slowed by other jobs on a shared machine).
    """
    sz = executor_sizes(ctx)
    model_name = "tiny-random (quick)" if ctx.quick else REAL_MODEL
    settings = Settings().with_fields({"model": model_name, "metric": "pixel", "frames": sz["frames"],
                                       "steps": sz["steps"], "rtol": 0.0, "gtol": 0.0})
    specs = [JobSpec(line=i + 1, fields=(("seeds", (2 * i + 1, 2 * i + 2)),)) for i in range(sz["lines"])]
    jobs = resolve_jobs(specs, settings, Generators(gen.device, {settings.model: gen}))
    n, bs = len(jobs), sz["batch_size"]
    threads_before = torch.get_num_threads()
    configs = [("local", 1, t, LocalExecutor((settings.model, gen)), None) for t in sorted({1, threads_before})]  # 2 threads only
    notes = [f"batch jobs: {n} lines (seeds 1-2, 3-4, ...), pixel metric, {sz['frames']} frames, subdivide + L-BFGS "
             f"with exactly {sz['steps']} steps per level (rtol = gtol = 0: every line does the same work), "
             f"--batch-size {bs} (one line per task, so that Ray's per-task cost shows); the configurations take "
             f"turns for {sz['repeats']} rounds, each keeps its fastest; load: the machine's 1-minute load average "
             "after that round (2 cores: above 2, other jobs were competing)",
             "lines per hour exclude start-up (start-up s: Ray start and actors loading the model), paid once per run",
             "overhead per line = wall time per line - solve time per line / workers: the driver writing each result "
             "(npz, sha256, manifest fsync) and, for Ray, scheduling and moving the batch and its result"]
    ray = None
    if ctx.quick:
        notes.append("quick: the Ray rows are skipped (tests/test_batch_ray.py runs Ray)")
    else:
        try:
            import ray
        except ImportError:
            notes.append("Ray is not installed (pip install 'latent-geodesics[ray]'): no Ray rows")
    best: dict[int, dict] = {}
    try:
        if ray is not None:
            configs += _ray_configs(ray)
        for k, (name, workers, threads, ex, _) in enumerate(configs):  # warm-up: first calls, every actor
            torch.set_num_threads(threads if name == "local" else threads_before)
            _timed_batch(jobs[:workers], ex, model_name, bs)
        for r in range(sz["repeats"]):
            for k, (name, workers, threads, ex, _) in enumerate(configs):
                log(f"scaling: round {r + 1}, batch of {n} lines, {name}, {workers} worker(s) x {threads} thread(s)")
                torch.set_num_threads(threads if name == "local" else threads_before)
                timing = _timed_batch(jobs, ex, model_name, bs)
                if k not in best or timing["wall_s"] < best[k]["wall_s"]:
                    best[k] = timing
    finally:
        torch.set_num_threads(threads_before)
        for _, _, _, ex, _ in configs:
            ex.close()
        if ray is not None and ray.is_initialized():
            ray.shutdown()
    rows = [_row(name, workers, threads, n, best[k], setup) for k, (name, workers, threads, _, setup)
            in enumerate(configs)]
    estimate = paper_estimate(rows)
    if estimate is not None:
        notes.append("paper estimate: lines/hour on N workers = N * 3600 / (c + o), c the solve time per line of "
                     "one worker, o Ray's overhead per line, at most 3600 / d lines/hour, d the driver's cost per line "
                     "(the local executor's overhead: it writes every result); c is a CPU core's here (no GPU on this "
                     "machine): put a GPU's own c in the same formula")
    return rows, {"lines": n, **sz, "metric": "pixel", "solver": "subdivide", "optimizer": "lbfgs",
                  "estimate": estimate}, notes


def _ray_configs(ray) -> list[tuple]:
    """A local Ray instance with 1- and 2-worker executors (3 logical CPUs, so both sets of actors can stay up
    while one of them works: an idle actor costs no CPU time), with their start-up seconds."""
    from latent_geodesics.ray_executor import RayExecutor

    t = time.perf_counter()
    ray.init(num_cpus=3, include_dashboard=False, log_to_driver=False, configure_logging=False)
    start_s = time.perf_counter() - t
    configs = []
    for workers in (1, 2):
        t = time.perf_counter()
        ex = RayExecutor(ModelSettings(REAL_MODEL), workers=workers)
        ex.worker_pids()  # the actors have loaded the model
        configs.append(("ray", workers, 1, ex, start_s + time.perf_counter() - t))
    return configs


def paper_estimate(rows: list[dict]) -> dict | None:
    """Lines per hour on N workers from the measured per-line costs (see the notes); ``None`` without Ray rows."""
    local = next((r for r in rows if r["executor"] == "local" and r["threads_per_worker"] == 1), None)
    ray1 = next((r for r in rows if r["executor"] == "ray" and r["workers"] == 1), None)
    if local is None or ray1 is None:
        return None
    c = ray1["solve_s_per_line"]
    o = max(ray1["overhead_s_per_line"], 0.0)
    d = max(local["overhead_s_per_line"], 1e-6)
    return {"solve_s_per_line": c, "ray_overhead_s_per_line": o, "driver_s_per_line": d,
            # Ray's own cost per line: its overhead beyond the local executor's (which is the driver's writing)
            "ray_extra_s_per_line": ray1["overhead_s_per_line"] - local["overhead_s_per_line"],
            "ceiling_lines_per_hour": 3600 / d,
            "rows": [{"workers": k, "lines_per_hour": min(k * 3600 / (c + o), 3600 / d)} for k in GPU_COUNTS]}
