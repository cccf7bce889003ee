"""A newcomer's first run: ``latent-geodesics interpolate --seed 1 --seed 2`` as typed, timed end to end.

Each setting runs the installed command line in a fresh process (model loading, solve, video and report
included) with a wall-clock limit, and reads its ``report.json``: seconds, whether the path met its stopping
rule, its last relative energy change and scale-free gradient norm, and its step CV (a converged discrete
geodesic moves at nearly constant speed). This is the figure issue 12 asks for: which metric, frame count and
VGG resolution give a converged perceptual geodesic in about a minute on the benchmark machine.

Every vgg-eq run on the default model (issue 19: the default, 33 frames from 17 nodes refined to 33 points; the
same with looser frame rules; 9 nodes) is measured against one long reference: the frames of the shortest of them
polished as a 33-point path by ``lbfgs-pair`` far past any normal budget. Its vgg-eq length against the reference's says
what solving fewer nodes, or stopping sooner, costs.
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

from latent_geodesics.generators import DEFAULT_MODEL

from .common import Context, log, write_result

CLI = [sys.executable, "-m", "latent_geodesics.cli"]


def settings_for(ctx: Context) -> dict:
    if ctx.quick:
        return {"limit_s": 120, "reference_budget": 20, "measured": ["pixel, 3 frames, 2 steps"],
                "runs": {"pixel, 3 frames, 2 steps": ["--metric", "pixel", "--frames", "3", "--steps", "2"]}}
    return {"limit_s": 600, "reference_budget": 400, "measured": [
        "default: vgg-eq 64 px, 33 frames from 17 nodes", "VGG in float32", "frame rule 0.2", "9 nodes"], "runs": {
        "default: vgg-eq 64 px, 33 frames from 17 nodes": [],
        "VGG in float32": ["--precision", "float32"],
        "frame rule 0.2": ["--ftol", "0.2"],
        "9 nodes": ["--nodes", "9"],
        "the same default on zoo:faces64 (the previous default model)": ["--model", "zoo:faces64"],
        "previous default: pixel, 33 frames, energy rule": ["--metric", "pixel", "--nodes", "33", "--optimizer",
                                                           "lbfgs", "--rtol", "1e-4", "--gtol", "3e-3"],
    }}


def _cv(step_distances: list[float]) -> float:
    return statistics.pstdev(step_distances) / max(statistics.fmean(step_distances), 1e-300)


def run_one(extra: list[str], limit: float, device: str, keep: Path | None = None) -> dict:
    """One command in a fresh process; ``keep``: where to copy its ``path.npz`` (for the reference)."""
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
    if keep is not None:
        shutil.copy(out / "path.npz", keep)
    shutil.rmtree(out.parent, ignore_errors=True)
    res = report["result"]
    return {"command": "latent-geodesics " + " ".join(a for a in args[:-3] if a != "-q") + " --out o",
            "finished": True, "seconds": round(seconds, 1), "solver_seconds": res["wall_time_s"],
            "evaluations": res["points_evaluated"], "model": report["model"]["name"], "metric": report["metric"],
            "metric_options": report.get("metric_options") or {},
            "converged": res["converged"], "precision": res.get("precision"), "rel_change": res["rel_change"],
            "grad_norm": res["grad_norm"],
            "steps": res["steps"], "energy": res["energy"], "step_cv": [_cv(d) for d in res["step_distances"]],
            "length": res["length"], "nodes": report["settings"]["nodes"], "frames": report["settings"]["frames"],
            "warnings": [line for line in proc.stderr.splitlines() if line.startswith(("warning", "note"))]}


def _reference(path: Path, run: dict, budget: int, device: str) -> dict:
    """``path``'s frames polished as a path of as many points by lbfgs-pair, ``budget`` evaluations at most."""
    import numpy as np
    import torch

    from latent_geodesics.generators import load_generator
    from latent_geodesics.metrics import build_metric
    from latent_geodesics.paths import PathProblem
    from latent_geodesics.solvers import OptimizeConfig, optimize_path

    gen = load_generator(run["model"], device=device)
    metric = build_metric(run["metric"], device=device, **run["metric_options"])
    with np.load(path) as data:
        points = torch.from_numpy(data["points"]).to(gen.device)
    problem = PathProblem(gen, metric, points[:, 0], points[:, -1])
    t0 = time.perf_counter()
    res = optimize_path(problem, points, OptimizeConfig(optimizer="lbfgs-pair", max_steps=budget, rtol=1e-6,
                                                        precondition="kronecker"))
    return {"length": res.stats.length.tolist(), "energy": res.stats.energy.tolist(),
            "evaluations": problem.n_points_evaluated, "seconds": round(time.perf_counter() - t0, 1),
            "met_rule": res.converged.tolist()}


def run(ctx: Context) -> None:
    t0 = time.perf_counter()
    s = settings_for(ctx)
    results = {}
    paths = Path(tempfile.mkdtemp(prefix="lg-first-run-paths-"))
    for k, (name, extra) in enumerate(s["runs"].items()):
        log(f"first_run: {name}")
        keep = paths / f"{k}.npz" if name in s["measured"] else None
        results[name] = run_one(extra, s.get("limits_s", {}).get(name, s["limit_s"]), str(ctx.device), keep)
        log(f"  {results[name]['seconds']} s, converged {results[name].get('converged')}")
    done = [(name, k) for k, name in enumerate(s["runs"]) if name in s["measured"] and results[name]["finished"]]
    reference = None
    if done:
        name, k = min(done, key=lambda nk: results[nk[0]]["length"][0])
        log(f"first_run: reference from {name}")
        reference = {"from": name, **_reference(paths / f"{k}.npz", results[name], s["reference_budget"],
                                                str(ctx.device))}
        shortest = min([reference["length"][0]] + [results[n]["length"][0] for n, _ in done])
        reference["shortest_length"] = shortest
        for n, _ in done:
            results[n]["length_vs_reference"] = results[n]["length"][0] / shortest
    shutil.rmtree(paths, ignore_errors=True)
    limits = ", ".join(f"{k}: {v} s" for k, v in s.get("limits_s", {}).items())
    notes = [f"each run in a fresh process, killed after {s['limit_s']} s ({limits or 'no exceptions'}); seconds "
             "include start-up, model loading, the video and the report; evaluations: latents through the "
             "generator and the metric, the frames' midpoint solves included",
             "step CV: standard deviation over mean of the metric's step distances of the final path",
             f"reference (the vgg-eq runs on the default model): the frames of the shortest of them polished as a path "
             f"of as many points by lbfgs-pair, at most {s['reference_budget']} evaluations (relative energy change "
             "1e-6 over 10 steps); length vs reference: over the shortest length any of these runs or the reference "
             "reached"]
    write_result(ctx, "first_run", settings=s, results={"runs": results, "reference": reference}, notes=notes,
                 wall_time=time.perf_counter() - t0, model=f"zoo:{DEFAULT_MODEL} (the default model)")
