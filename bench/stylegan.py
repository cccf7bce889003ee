"""StyleGAN-class models: Z against W against W+ on a 256 px, 512-d stand-in with NVIDIA's interface.

The stand-in (:func:`bench.stylenet.style256`, random weights) is pickled as NVIDIA's training loop pickles it,
and ``latent-geodesics interpolate --model net.pkl --space S --seed A --seed B --time-limit L`` runs in a fresh
process per space and pair, as a user types it. Each path and its straight line are then measured by
``evaluate --metric lpips --metric-option max_size=256`` (LPIPS-VGG at 256 px, as PPL measures): a path's LPIPS
energy ``N * sum_i LPIPS(x_i, x_{i+1})`` is its figure on PPL's scale (for linear paths the mean over random pairs
is the model's full-sampling PPL). ``w_excursion``: the farthest interior point of a W/W+ path from ``w_avg``,
in units of the 99th percentile of mapped samples' distances from it (above 1: the path left the region the
mapping fills).

Random weights: cost, memory and the relative figures are real; what the paths look like means nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from .common import REPO_ROOT, Context, log, write_result

CLI = [sys.executable, "-m", "latent_geodesics.cli"]
SPACES = ("z", "w", "w+")


def _spec(ctx: Context) -> dict:
    if ctx.quick:
        return {"net": {"z_dim": 16, "w_dim": 16, "img_resolution": 16, "channels": 8}, "pairs": [(1, 2)],
                "limit": 30, "frames": 5, "spaces": ["w+"]}
    return {"net": {"z_dim": 512, "w_dim": 512, "img_resolution": 256, "channels": 128}, "pairs": [(1, 2), (3, 4)],
            "limit": 240, "frames": 17, "spaces": list(SPACES)}


def _cli(args: list[str]) -> tuple[subprocess.CompletedProcess, float]:
    t = time.perf_counter()
    proc = subprocess.run(CLI + args, cwd=REPO_ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    return proc, time.perf_counter() - t


def w_excursion(pkl: Path, points: np.ndarray, space: str, samples: int = 4000) -> float | None:
    """Farthest interior point from ``w_avg`` over the 99th percentile of mapped samples' distance from it."""
    if space == "z":
        return None
    from latent_geodesics.generators.stylegan import load_pickle

    net = load_pickle(pkl)
    with torch.no_grad():
        w = net.mapping(torch.randn(samples, net.z_dim, generator=torch.Generator().manual_seed(0)), None)[:, 0]
    avg = net.mapping.w_avg
    p99 = float(torch.quantile((w - avg).norm(dim=1), 0.99))
    inner = torch.from_numpy(points[:, 1:-1]).reshape(-1, net.w_dim)  # W+ rows: one w per layer
    return float((inner - avg).norm(dim=1).max()) / p99


def clamp_effect(pkl: Path, pairs: int, frames: int, device: str) -> dict:
    """Whether the metric should see clamped or raw images: linear W paths between seeded pairs, their vgg-eq step
    distances on raw synthesis output against the same images clamped to [-1, 1] (what is written and watched)."""
    from latent_geodesics.generators import load_generator
    from latent_geodesics.metrics import build_metric
    from latent_geodesics.settings import metric_build_options

    gen = load_generator(str(pkl), space="w", device=device)
    metric = build_metric("vgg-eq", device=device, **metric_build_options("vgg-eq", {}))
    t = torch.linspace(0, 1, frames, device=gen.device)[:, None]
    rel, outside = [], []
    with torch.no_grad():
        for i in range(pairs):
            a, b = gen.sample_latents(1, seed=2 * i + 1), gen.sample_latents(1, seed=2 * i + 2)
            w = a + t * (b - a)
            raw = gen.style.synthesis(w.unsqueeze(1).expand(-1, gen.style.num_ws, -1), noise_mode="const")
            clamped = raw.clamp(-1, 1)
            outside.append(float((raw.abs() > 1).float().mean()))
            d_raw, d_clamped = (metric(x[:-1], x[1:]).sqrt().sum() for x in (raw, clamped))
            rel.append(float(d_raw / d_clamped - 1))
    return {"pairs": pairs, "frames": frames, "pixels_outside": float(np.mean(outside)),
            "raw_over_clamped_length_minus_1": {"median": float(np.median(rel)), "max_abs": float(np.max(np.abs(rel)))}}


def one(ctx: Context, pkl: Path, space: str, pair: tuple[int, int], spec: dict, tmp: Path) -> dict:
    out = tmp / f"{space}-{pair[0]}-{pair[1]}"
    args = ["interpolate", "--model", str(pkl), "--space", space, "--seed", str(pair[0]), "--seed", str(pair[1]),
            "--frames", str(spec["frames"]), "--time-limit", str(spec["limit"]), "--out", str(out), "-q"]
    if ctx.is_cuda:
        args += ["--device", "cuda"]
    proc, wall = _cli(args)
    row = {"space": space, "pair": list(pair), "wall_s": wall, "exit": proc.returncode, "time_limit_s": spec["limit"],
           "command": "latent-geodesics " + " ".join(args).replace(str(out), "OUT").replace(str(pkl), "net.pkl")}
    if proc.returncode != 0:
        row["error"] = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return row
    report = json.loads((out / "report.json").read_text())
    res, start = report["result"], report["start"]
    row.update(peak_memory_mb=report["peak_memory_mb"], converged=all(res.get("converged", [])),
               length_vs_linear=res["length"][0] / start["length"][0], notes=res.get("notes", []),
               length=res["length"][0], linear_length=start["length"][0],
               evaluations=res.get("points_evaluated"), latent_shape=report["model"]["latent_shape"])
    ev = tmp / f"{space}-{pair[0]}-{pair[1]}.json"
    proc, _ = _cli(["evaluate", str(out / "path.npz"), "--model", str(pkl), "--metric", "lpips",
                    "--metric-option", "max_size=256", "--json", str(ev)])
    if proc.returncode == 0:
        methods = json.loads(ev.read_text())["methods"]
        row["ppl_energy"] = {m: methods[m]["metrics"]["lpips"]["energy"][0] for m in ("path", "linear", "slerp")}
    else:
        row["evaluate_error"] = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
    from latent_geodesics.pathfile import PathFile

    row["w_excursion"] = w_excursion(pkl, PathFile.read(out / "path.npz").points, space)
    return row


def run(ctx: Context) -> None:
    from bench.stylenet import make_pickle

    t0 = time.perf_counter()
    spec = _spec(ctx)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pkl = make_pickle(Path(tmp) / "net.pkl", **spec["net"])
        clamp = clamp_effect(pkl, 2 if ctx.quick else 8, spec["frames"], "cuda" if ctx.is_cuda else "cpu")
        log(f"stylegan: clamped vs raw: {clamp}")
        for pair in spec["pairs"]:
            for space in spec["spaces"]:
                row = one(ctx, pkl, space, pair, spec, Path(tmp))
                rows.append(row)
                log(f"stylegan: {space} pair {pair}: {row['wall_s']:.1f} s, exit {row['exit']}, "
                    f"x linear {row.get('length_vs_linear')}, ppl energy {row.get('ppl_energy')}")
    notes = ["stand-in: bench.stylenet.StyleNet(z_dim=512, w_dim=512, img_resolution=256, channels=128), random "
             "weights, pickled as {'G', 'G_ema', 'D'}; output overshoots [-1, 1] by up to 12%",
             "each run: `latent-geodesics interpolate --model net.pkl --space S --seed A --seed B --frames 17 "
             "--time-limit 240 -q` in a fresh process (vgg-eq at max_size 128, the defaults otherwise); wall_s "
             "measured outside the process",
             "ppl_energy: `evaluate --metric lpips --metric-option max_size=256`'s energy N * sum LPIPS of the path, "
             "its straight line and slerp between the same points (PPL's scale: LPIPS / eps^2 integrated over t)",
             "w_excursion: the farthest interior point from w_avg / the 99th percentile of 4000 mapped samples' "
             "distances (W and W+)"]
    notes.append("clamp: linear W paths between seeded pairs (vgg-eq, max_size 128): the length on raw synthesis "
                 "output over the length on the same images clamped to [-1, 1], and the share of pixels outside")
    write_result(ctx, "stylegan", settings=spec, results={"rows": rows, "clamp": clamp}, notes=notes,
                 model="bench.stylenet StyleNet 256 px (net.pkl)",
                 wall_time=time.perf_counter() - t0)
