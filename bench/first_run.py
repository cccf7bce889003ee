"""A newcomer's first run: ``latent-geodesics interpolate --seed 1 --seed 2`` as typed, timed end to end.

Each setting runs the installed command line in a fresh process (model loading, solve, video and report
included) with a wall-clock limit, and reads its ``report.json``: seconds, whether the path met its stopping
rule, its last relative energy change and scale-free gradient norm, and its step CV (a converged discrete
geodesic moves at nearly constant speed). This is the figure issue 12 asks for: which metric, frame count and
VGG resolution give a converged perceptual geodesic in about a minute on the benchmark machine.

For the default run (issue 19: vgg-eq, 33 frames placed between 17 solved nodes) and the 9-node one the 33 frames it wrote are then
polished as a 33-point path by ``lbfgs-pair`` far past any normal budget (the reference): the first run's
vgg-eq length against the reference's says what solving 9 nodes instead of 33 costs.
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
        return {"limit_s": 120, "reference_budget": 20,
                "runs": {"pixel, 3 frames, 2 steps": ["--metric", "pixel", "--frames", "3", "--steps", "2"]}}
    return {"limit_s": 600, "reference_budget": 150, "runs": {
        "default: vgg-eq 64 px, 33 frames from 17 nodes": [],
        "vgg-eq 64 px, 33 frames from 9 nodes": ["--nodes", "9"],
        "the same default on zoo:celeba64": ["--model", "zoo:celeba64"],
        "previous default: pixel, 33 frames, energy rule": ["--metric", "pixel", "--nodes", "33", "--optimizer",
                                                           "lbfgs", "--rtol", "1e-4", "--gtol", "3e-3"],
    }}


def _cv(step_distances: list[float]) -> float:
    return statistics.pstdev(step_distances) / max(statistics.fmean(step_distances), 1e-300)


def run_one(extra: list[str], limit: float, device: str, reference_budget: int | None = None) -> dict:
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
    reference = _reference(out, report, reference_budget, device) if reference_budget else None
    shutil.rmtree(out.parent, ignore_errors=True)
    res = report["result"]
    return {"command": "latent-geodesics " + " ".join(a for a in args[:-3] if a != "-q") + " --out o",
            "finished": True, "seconds": round(seconds, 1), "solver_seconds": res["wall_time_s"],
            "converged": res["converged"], "rel_change": res["rel_change"], "grad_norm": res["grad_norm"],
            "steps": res["steps"], "energy": res["energy"], "step_cv": [_cv(d) for d in res["step_distances"]],
            "length": res["length"], "nodes": report["settings"]["nodes"], "frames": report["settings"]["frames"],
            "reference": reference,
            "warnings": [line for line in proc.stderr.splitlines() if line.startswith(("warning", "note"))]}


def _reference(out: Path, report: dict, budget: int, device: str) -> dict:
    """The run's frames polished as a path of as many points by lbfgs-pair, ``budget`` evaluations at most."""
    import numpy as np
    import torch

    from latent_geodesics.generators import load_generator
    from latent_geodesics.metrics import build_metric
    from latent_geodesics.paths import PathProblem
    from latent_geodesics.solvers import OptimizeConfig, optimize_path

    gen = load_generator(report["model"]["name"], device=device)
    options = report.get("metric_options") or {}
    metric = build_metric(report["metric"], device=device, **options)
    with np.load(out / "path.npz") as data:
        points = torch.from_numpy(data["points"]).to(gen.device)
    problem = PathProblem(gen, metric, points[:, 0], points[:, -1])
    res = optimize_path(problem, points, OptimizeConfig(optimizer="lbfgs-pair", max_steps=budget, rtol=1e-6,
                                                        precondition="kronecker"))
    length = res.stats.length.tolist()
    return {"length": length, "energy": res.stats.energy.tolist(), "evaluations": problem.n_points_evaluated,
            "run_length_vs_reference": [a / b for a, b in zip(report["result"]["length"], length)]}


def run(ctx: Context) -> None:
    t0 = time.perf_counter()
    s = settings_for(ctx)
    results = {}
    for k, (name, extra) in enumerate(s["runs"].items()):
        log(f"first_run: {name}")
        results[name] = run_one(extra, s.get("limits_s", {}).get(name, s["limit_s"]), str(ctx.device),
                                s["reference_budget"] if k < 2 else None)
        log(f"  {results[name]['seconds']} s, converged {results[name].get('converged')}")
    limits = ", ".join(f"{k}: {v} s" for k, v in s.get("limits_s", {}).items())
    notes = [f"each run in a fresh process, killed after {s['limit_s']} s ({limits or 'no exceptions'}); seconds "
             "include start-up, model loading, the video and the report",
             "step CV: standard deviation over mean of the metric's step distances of the final path",
             f"reference (first two runs): their frames polished as a path of as many points by lbfgs-pair, at most "
             f"{s['reference_budget']} evaluations (relative energy change 1e-6 over 10 steps)"]
    write_result(ctx, "first_run", settings=s, results=results, notes=notes, wall_time=time.perf_counter() - t0,
                 model="zoo:faces64 (the default model)")
