"""Throughput and memory of a solver step.

1. Path points per second through generator + metric, forward and backward, inside a solver step
   (``PathProblem.energy_backward``: the energy and its gradient, chunk by chunk), against a bare loop of the same generator and
   feature network on the same batch of latents (``metric.embed(generator(z))``, a scalar of the
   features, backward). Their ratio is the library's overhead (chunking, neighbour recomputation, comparisons).
2. Peak memory of one step against the frame count, with a fixed chunk size and without chunking, each
   measured in a fresh process (:mod:`bench.memprobe`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import torch

from latent_geodesics.paths import PathProblem, linear_path

from .common import (REPO_ROOT, Context, load_metric, load_model, log, median, metric_note, seeded_pairs, timed,
                     write_result)

NO_CHUNK = 10**6
"""A chunk size larger than any batch: one generator + metric call for the whole batch."""


def sizes(ctx: Context) -> dict:
    if ctx.quick:
        return {"frames": 5, "pairs": {"pixel-eq": [1, 2], "vgg-eq": [1]}, "metrics": {"pixel-eq": 1, "vgg-eq": 1},
                "memory": {"metric": "pixel-eq", "frames": [5], "chunk": 2}}
    return {"frames": 17, "pairs": {"pixel-eq": [1, 4, 8], "vgg-eq": [1, 4]}, "metrics": {"pixel-eq": 5, "vgg-eq": 2},
            "memory": {"metric": "vgg-eq", "frames": [17, 33, 65], "chunk": 16}}


def throughput(metric_name: str, pairs: int, frames: int, repeats: int, ctx: Context) -> dict:
    gen = load_model(ctx)
    metric = load_metric(metric_name, ctx)
    z0, z1, _ = seeded_pairs(gen, pairs)
    problem = PathProblem(gen, metric, z0, z1)
    interior = linear_path(z0, z1, frames - 1)[:, 1:-1].contiguous()  # (P, N-1, D)
    points = interior.shape[0] * interior.shape[1]

    def library_step() -> None:
        x = interior.clone().requires_grad_(True)
        problem.energy_backward(x)

    flat = interior.reshape(points, *interior.shape[2:])

    def bare_step() -> None:
        z = flat.clone().requires_grad_(True)
        feats = metric.embed(gen(z))
        sum(f.pow(2).mean() for f in feats).backward()

    lib = timed(library_step, ctx.device, repeats=repeats)
    bare = timed(bare_step, ctx.device, repeats=repeats)
    lib_rate, bare_rate = points / median(lib), points / median(bare)
    return {"metric": metric_name, "pairs": pairs, "points_per_step": points, "chunk_size": problem.chunk_size,
            "checkpointed": points > problem.chunk_size, "repeats": repeats,
            "library_seconds": lib, "bare_seconds": bare,
            "library_points_per_s": lib_rate, "bare_points_per_s": bare_rate,
            "library_over_bare": lib_rate / bare_rate}


def memory(metric_name: str, frames: int, chunk: int, ctx: Context) -> dict:
    cmd = [sys.executable, "-m", "bench.memprobe", "--metric", metric_name, "--frames", str(frames),
           "--chunk", str(chunk), "--device", str(ctx.device), "--threads", str(torch.get_num_threads())]
    cmd += ["--quick"] if ctx.quick else []
    out = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(ctx: Context) -> None:
    t0 = time.perf_counter()
    sz = sizes(ctx)
    rates = []
    for metric_name, repeats in sz["metrics"].items():
        for pairs in sz["pairs"][metric_name]:
            log(f"throughput: {metric_name}, {pairs} pair(s)")
            r = throughput(metric_name, pairs, sz["frames"], repeats, ctx)
            log(f"  library {r['library_points_per_s']:.1f} points/s, bare {r['bare_points_per_s']:.1f}")
            rates.append(r)
    mem = sz["memory"]
    rows = []
    for frames in mem["frames"]:
        for chunk in (mem["chunk"], NO_CHUNK):
            log(f"memory: {mem['metric']}, {frames} frames, chunk {chunk}")
            r = memory(mem["metric"], frames, chunk, ctx)
            r["chunked"] = chunk != NO_CHUNK
            rows.append(r)
            log(f"  step {r['step_mb']:.0f} MB")
    settings = {"frames": sz["frames"], "pairs": sz["pairs"], "repeats": sz["metrics"], "memory": mem,
                "library_chunk_size": rates[0]["chunk_size"] if rates else None}
    notes = [metric_note(ctx),
             "points = interior latents per step (endpoints' features are cached by PathProblem); times are "
             "medians of the repeats after one warm-up call",
             "bare = metric.embed(generator(z)) on the same batch in one call, scalar of the features, backward; "
             "library = PathProblem.energy_backward (chunks of 64; above that, chunk by chunk with detached neighbours)",
             "memory: growth of the peak RSS of a fresh process over one step (CPU) / peak CUDA allocation "
             "above the pre-step allocation; one path, chunked (fixed chunk) and unchunked"]
    write_result(ctx, "throughput", settings=settings, results={"throughput": rates, "memory": rows}, notes=notes,
                 wall_time=time.perf_counter() - t0)
