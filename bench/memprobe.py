"""Peak memory of one solver step, measured in a fresh process: ``python -m bench.memprobe --frames N ...``.

Loads the model and metric, runs two tiny steps (one of them chunked) to warm up allocators and lazily
loaded code, then one step
(``PathProblem.energy_backward``) on one path of ``N`` frames with ``chunk`` points per call, and
prints a JSON line: the growth of the process's peak resident set over the step on CPU (the peak is reset
through ``/proc/self/clear_refs`` before the step, because loading the weights peaks far higher; where that
is not possible, ``ru_maxrss``, which may hide the step),
or ``torch.cuda.max_memory_allocated`` above what was allocated before the step on CUDA.
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sys
from pathlib import Path

import torch

from latent_geodesics.paths import PathProblem, linear_path

from .common import THREADS, Context, load_metric, load_model, seeded_pairs


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def _status_mb(field: str) -> float | None:
    """``VmRSS`` / ``VmHWM`` of this process from ``/proc/self/status`` (Linux), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the peak RSS (``VmHWM``) to the current RSS (Linux >= 4.0); whether it worked."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def step(problem: PathProblem, frames: int) -> None:
    init = linear_path(problem.z0, problem.z1, frames - 1)
    x = init[:, 1:-1].clone().requires_grad_(True)
    problem.energy_backward(x)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.memprobe")
    p.add_argument("--metric", default="vgg-eq")
    p.add_argument("--frames", type=int, required=True)
    p.add_argument("--chunk", type=int, required=True)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--threads", type=int, default=THREADS)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    ctx = Context(device=device, quick=args.quick, out=None, command="")  # type: ignore[arg-type]
    gen = load_model(ctx)
    metric = load_metric(args.metric, ctx)
    z0, z1, _ = seeded_pairs(gen, 1)
    problem = PathProblem(gen, metric, z0, z1, chunk_size=args.chunk)
    # warm-up, also of the chunked path (its first use loads code): two interior points in chunks of one
    step(PathProblem(gen, metric, z0, z1, chunk_size=1), 4)
    step(problem, 3)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step(problem, args.frames)
        torch.cuda.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device)
        out = {"kind": "cuda max_memory_allocated", "before_mb": before / 2**20, "peak_mb": peak / 2**20,
               "step_mb": (peak - before) / 2**20}
    else:
        gc.collect()
        if _reset_peak() and _status_mb("VmHWM") is not None:
            # loading the weights left a peak far above what a step needs: reset it, then read the new peak
            before = _status_mb("VmRSS")
            step(problem, args.frames)
            after = _status_mb("VmHWM")
            kind = "VmHWM after reset (/proc/self/clear_refs)"
        else:
            before = _maxrss_mb()
            step(problem, args.frames)
            after = _maxrss_mb()
            kind = "ru_maxrss (lower bound: the loading peak may hide the step's)"
        out = {"kind": kind, "before_mb": before, "peak_mb": after, "step_mb": after - before}
    out.update({"frames": args.frames, "chunk": args.chunk, "metric": args.metric,
                "points_evaluated": problem.n_points_evaluated})
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
