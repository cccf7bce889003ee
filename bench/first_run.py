"""A newcomer's first run: ``latent-geodesics interpolate --seed 1 --seed 2`` as typed, timed end to end.

Each setting runs the installed command line in a fresh process (model loading, solve, video and report
included) with a wall-clock limit, and reads its ``report.json``: seconds, whether the path met its stopping
rule, its last relative energy change and scale-free gradient norm, and its step CV (a converged discrete
geodesic moves at nearly constant speed). This is the figure issue 12 asks for: which metric, frame count and
VGG resolution give a converged perceptual geodesic in about a minute on the benchmark machine.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import Context, log, write_result

CLI = [sys.executable, "-m", "latent_geodesics.cli"]


def settings_for(ctx: Context) -> dict:
    if ctx.quick:
        return {"limit_s": 120, "runs": {"pixel, 3 frames, 2 steps": ["--frames", "3", "--steps", "2"]}}
    return {"limit_s": 600, "runs": {
        "pixel (default), 33 frames": [],
        "vgg-eq 64 px, 5 frames": ["--metric", "vgg-eq", "--metric-option", "min_size=64", "--frames", "5"],
        "vgg-eq 64 px, 9 frames": ["--metric", "vgg-eq", "--metric-option", "min_size=64", "--frames", "9"],
        "vgg-eq (default 128 px), 33 frames": ["--metric", "vgg-eq"],
    }, "limits_s": {"vgg-eq (default 128 px), 33 frames": 300}}


def _cv(step_distances: list[float]) -> float:
    return statistics.pstdev(step_distances) / max(statistics.fmean(step_distances), 1e-300)


def run_one(extra: list[str], limit: float, device: str) -> dict:
    out = Path(tempfile.mkdtemp(prefix="lg-first-run-")) / "o"
    args = ["interpolate", "--seed", "1", "--seed", "2", *extra, *(["--device", device] if device != "cpu" else []),
            "--out", str(out), "-q"]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        shutil.rmtree(out.parent, ignore_errors=True)
        return {"command": "latent-geodesics " + " ".join(args[:-3] + ["--out", "o"]), "finished": False,
                "seconds": round(time.perf_counter() - t0, 1)}
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"interpolate failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    report = json.loads((out / "report.json").read_text())
    shutil.rmtree(out.parent, ignore_errors=True)
    res = report["result"]
    return {"command": "latent-geodesics " + " ".join(a for a in args[:-3] if a != "-q") + " --out o",
            "finished": True, "seconds": round(seconds, 1), "solver_seconds": res["wall_time_s"],
            "converged": res["converged"], "rel_change": res["rel_change"], "grad_norm": res["grad_norm"],
            "steps": res["steps"], "energy": res["energy"], "step_cv": [_cv(d) for d in res["step_distances"]],
            "warnings": [line for line in proc.stderr.splitlines() if line.startswith(("warning", "note"))]}


def run(ctx: Context) -> None:
    t0 = time.perf_counter()
    s = settings_for(ctx)
    results = {}
    for name, extra in s["runs"].items():
        log(f"first_run: {name}")
        results[name] = run_one(extra, s.get("limits_s", {}).get(name, s["limit_s"]), str(ctx.device))
        log(f"  {results[name]['seconds']} s, converged {results[name].get('converged')}")
    limits = ", ".join(f"{k}: {v} s" for k, v in s.get("limits_s", {}).items())
    notes = [f"each run in a fresh process, killed after {s['limit_s']} s ({limits or 'no exceptions'}); seconds "
             "include start-up, model loading, the video and the report",
             "step CV: standard deviation over mean of the metric's step distances of the final path"]
    write_result(ctx, "first_run", settings=s, results=results, notes=notes, wall_time=time.perf_counter() - t0,
                 model="zoo:faces64 (the default model)")
