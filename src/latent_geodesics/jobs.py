"""The jobs the CLI runs, as plain functions: load, solve, evaluate, write files."""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from . import __version__
from ._check import UserError, check_latents, check_output_dir
from .generators import Generator
from .metrics import Metric
from .paths import INITS, DEFAULT_CHUNK, PathProblem, PathStats, check_endpoints, images_of, path_stats
from .rendering import staged_outputs, tile, to_uint8, write_json, write_npz, write_png, write_video
from .solvers import OptimizeConfig, Progress, SolveResult, optimize_path


def load_latent_file(path: str | Path, generator: Generator) -> Tensor:
    """Read latents from ``.npy`` (one code or a batch) or ``.npz`` (its first array): ``(B, *latent_shape)``."""
    path = Path(path)
    try:
        data = np.load(path, allow_pickle=False)
        if isinstance(data, np.lib.npyio.NpzFile):
            with data:
                if not data.files:
                    raise UserError(f"{path} holds no arrays; save a latent with numpy.save")
                data = data[data.files[0]]
    except UserError:
        raise
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read latent file {path}: {e}; save latents with numpy.save") from e
    if not np.issubdtype(data.dtype, np.number) or np.iscomplexobj(data):
        raise UserError(f"{path}: latent has dtype {data.dtype}; save real numbers (float32)")
    return check_latents(torch.from_numpy(np.asarray(data, dtype=np.float32)), generator.latent_shape,
                         what=str(path))


@dataclass
class InterpolateSettings:
    """What ``interpolate`` does (all recorded in ``report.json``)."""

    solver: str = "optimize"
    frames: int = 33
    optimize: OptimizeConfig = field(default_factory=OptimizeConfig)
    init: str = "linear"
    chunk_size: int = DEFAULT_CHUNK
    fps: float = 12.0

    def to_dict(self) -> dict:
        return {"solver": self.solver, "frames": self.frames, "init": self.init, "chunk_size": self.chunk_size,
                "fps": self.fps, "optimize": self.optimize.to_dict() if self.solver == "optimize" else None}


def solve(generator: Generator, metric: Metric, z0: Tensor, z1: Tensor, settings: InterpolateSettings, *,
          progress: Progress | None = None) -> tuple[Tensor, PathStats, SolveResult | None]:
    """Start paths and, for an optimising solver, the solved paths.

    Returns:
        ``(start_points (B, N+1, *S), start_stats, result or None)``.
    """
    n = settings.frames - 1
    if settings.solver in INITS:
        start = INITS[settings.solver](z0, z1, n)
        start = torch.cat([start[:, :1], generator.project(start[:, 1:-1]), start[:, -1:]], 1)
        return start, path_stats(generator, metric, start, chunk_size=settings.chunk_size), None
    if settings.solver != "optimize":
        raise UserError(f"unknown solver {settings.solver!r}; choose one of: linear, slerp, optimize")
    if settings.init not in INITS:
        raise UserError(f"unknown initial path {settings.init!r}; choose linear or slerp")
    start = INITS[settings.init](z0, z1, n)
    start_stats = path_stats(generator, metric, start, chunk_size=settings.chunk_size)
    problem = PathProblem(generator, metric, z0, z1, chunk_size=settings.chunk_size)
    result = optimize_path(problem, start, settings.optimize, progress=progress)
    return start, start_stats, result


def _stats_dict(stats: PathStats) -> dict:
    return {"length": stats.length.tolist(), "energy": stats.energy.tolist(),
            "step_distances": stats.d_sq.clamp_min(0).sqrt().tolist()}


def interpolate(generator: Generator, metric: Metric, z0: Tensor, z1: Tensor, out_dir: str | Path,
                settings: InterpolateSettings, *, model_name: str, progress: Progress | None = None) -> dict:
    """Solve paths between ``z0`` and ``z1`` and write ``strip.png``, ``video.mp4``, ``path.npz``, ``report.json``.

    Args:
        z0, z1: endpoints ``(B, *latent_shape)``; ``B`` paths are solved as one batch.
        out_dir: created if needed; nothing in it changes unless the whole job succeeds.

    Returns:
        The report (also written to ``report.json``).
    """
    out = check_output_dir(out_dir)
    if settings.frames < 2:
        raise UserError(f"--frames must be at least 2, got {settings.frames}")
    z0, z1 = check_endpoints(generator, z0, z1)
    t0 = time.perf_counter()
    start, start_stats, result = solve(generator, metric, z0, z1, settings, progress=progress)
    points = result.points if result is not None else start
    final_stats = result.stats if result is not None else start_stats
    wall = time.perf_counter() - t0
    b, n1 = points.shape[:2]
    images = images_of(generator, points.reshape(b * n1, *points.shape[2:]), chunk_size=settings.chunk_size)
    frames = to_uint8(images)
    frames = frames.reshape(b, n1, *frames.shape[1:])  # (B, N+1, H, W, 3)
    report = {
        "tool": f"latent-geodesics {__version__}",
        "command": "interpolate",
        "model": {"name": model_name, "latent_shape": list(generator.latent_shape), "prior": generator.prior,
                  "image_shape": list(images.shape[1:])},
        "metric": metric.name,
        "settings": settings.to_dict(),
        "pairs": b,
        "start": {"method": settings.init if result is not None else settings.solver, **_stats_dict(start_stats)},
        "result": {"method": settings.solver, **_stats_dict(final_stats),
                   **(result.summary() if result is not None else {})},
        "wall_time_s": round(wall, 4),
        "device": str(generator.device),
        "host": {"python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine()},
    }
    with staged_outputs(out) as stage:
        write_png(stage / "strip.png", tile(frames))
        video = np.concatenate(list(frames), axis=1) if b > 1 else frames[0]  # pairs stacked vertically
        write_video(stage / "video.mp4", video, fps=settings.fps)
        write_npz(stage / "path.npz", points=points.detach().cpu().numpy(), z0=z0.cpu().numpy(),
                  z1=z1.cpu().numpy(), metric=np.array(metric.name), model=np.array(model_name))
        write_json(stage / "report.json", report)
    return json.loads(json.dumps(report))
