"""Solving batches of lines: what every executor runs (``local`` in the driver, ``ray`` inside each actor)."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator, Sequence

import numpy as np
import torch

from .._check import first_line
from ..evaluation import step_cv
from ..generators import Generator
from ..jobs import check_finite, join_legs, solve
from ..metrics import Metric
from ..paths import check_endpoints
from ..settings import MetricSettings, ModelSettings
from ..workflows.interpolate import load_model, path_metric, solving_generator
from .plan import Batch, Job


def worker_name(prefix: str = "local") -> str:
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}"


class Generators:
    """Generators by their :class:`~latent_geodesics.settings.ModelSettings`, each loaded once (a JOBS file may
    name several models)."""

    def __init__(self, device: str | torch.device = "cpu", preloaded: dict[ModelSettings, Generator] | None = None):
        self.device = device
        self.loaded: dict[ModelSettings, Generator] = dict(preloaded or {})

    def __call__(self, model: ModelSettings) -> Generator:
        if model not in self.loaded:
            self.loaded[model] = load_model(model, device=self.device)
        return self.loaded[model]


class BatchSolver:
    """Holds the models (loaded once each) and the metrics (built once each) and solves batches of lines.

    Args:
        model: the command's model: its settings (loaded on first use), or a loaded generator with the settings
            it was loaded from (``(settings, generator)``) so that it is not loaded twice.
    """

    def __init__(self, model: ModelSettings | tuple[ModelSettings, Generator] | None = None, *,
                 device: str | torch.device = "cpu", worker: str | None = None) -> None:
        preloaded = dict([model]) if isinstance(model, tuple) else {}
        if isinstance(model, tuple):
            device = model[1].device
        self.generators = Generators(device, preloaded)
        if isinstance(model, ModelSettings):
            self.generators(model)
        self.worker = worker or worker_name()
        self._metrics: dict[tuple[ModelSettings, MetricSettings], Metric] = {}

    @property
    def device(self) -> str:
        loaded = next(iter(self.generators.loaded.values()), None)
        return str(loaded.device) if loaded is not None else str(self.generators.device)

    def metric(self, model: ModelSettings, metric: MetricSettings) -> Metric:
        key = (model, metric)
        if key not in self._metrics:
            self._metrics[key] = path_metric(metric, self.generators(model))
        return self._metrics[key]

    def solve(self, batch: Batch) -> list[dict]:
        """One result per line of ``batch`` (see :meth:`_solve`); a batch that fails is split into its lines, so
        that only the line at fault records the error."""
        try:
            return self._solve(batch)
        except Exception as e:  # noqa: BLE001 - a failure of one line must not stop the others
            if len(batch) == 1:
                return [self._failure(batch.jobs[0], e)]
            return [r for job in batch.jobs for r in self.solve(Batch(batch.index, batch.settings, (job,)))]

    def _failure(self, job: Job, e: BaseException) -> dict:
        error = ("out of memory, even for this line alone; use fewer frames or a smaller --chunk-size"
                 if isinstance(e, MemoryError) else first_line(e))
        return {"key": job.key, "name": job.name, "ok": False, "error": error, "worker": self.worker,
                "device": self.device}

    def _solve(self, batch: Batch) -> list[dict]:
        """Every line's legs stacked into one problem; each line's path back (legs joined where it has
        waypoints), with its statistics summed over its legs."""
        s = batch.settings
        metric = self.metric(s.model, s.metric)
        gen = solving_generator(self.generators(s.model), s.model)
        run = s.interpolate_settings()
        device = gen.device
        z0 = torch.from_numpy(np.concatenate([j.z0 for j in batch.jobs])).reshape(-1, *gen.latent_shape)
        z1 = torch.from_numpy(np.concatenate([j.z1 for j in batch.jobs])).reshape(-1, *gen.latent_shape)
        z0, z1 = check_endpoints(gen, z0.to(device), z1.to(device))
        t0 = time.perf_counter()
        solved = solve(gen, metric, z0, z1, run)
        check_finite(solved, z0, z1)
        wall = time.perf_counter() - t0
        summary = solved.result.summary() if solved.result is not None else {}
        d = solved.stats.d_sq.clamp_min(0).sqrt()
        out, at = [], 0
        for job in batch.jobs:
            legs = slice(at, at + job.legs)
            at += job.legs
            points = solved.points[legs]
            points = join_legs(points) if job.join else points
            per = {k: v[legs] for k, v in summary.items()
                   if k in ("steps", "converged", "rel_change", "grad_norm") and isinstance(v, list)}
            steps = d[legs].reshape(1, -1)
            out.append({
                "key": job.key, "name": job.name, "ok": True, "error": None,
                "points": points.detach().cpu().numpy().astype(np.float32), "style": gen.style_info(),
                "start_length": float(solved.start_stats.length[legs].sum()),
                "start_energy": float(solved.start_stats.energy[legs].sum()),
                "length": float(solved.stats.length[legs].sum()), "energy": float(solved.stats.energy[legs].sum()),
                "step_distances": steps[0].tolist(), "step_cv": float(step_cv(steps)[0]),
                "converged": all(per.get("converged", [True])), "steps": max(per.get("steps", [0])),
                "rel_change": _worst(per.get("rel_change")), "grad_norm": _worst(per.get("grad_norm")),
                "precision": solved.precision, "batch_wall_time_s": round(wall, 4), "batch_lines": len(batch),
                "wall_time_s": round(wall / len(batch), 4),
                "worker": self.worker, "device": str(device),
            })
        return out


def _worst(values: list | None) -> float | None:
    values = [v for v in (values or []) if v is not None]
    return max(values) if values else None


class LocalExecutor:
    """Solves the batches in this process, one after another, on one device (the embedded default)."""

    name = "local"

    def __init__(self, model: ModelSettings | tuple[ModelSettings, Generator] | None = None, *,
                 device: str | torch.device = "cpu") -> None:
        self.solver = BatchSolver(model, device=device)

    def run(self, batches: Sequence[Batch]) -> Iterator[list[dict]]:
        """Yield each batch's line results as it finishes."""
        for batch in batches:
            yield self.solver.solve(batch)

    def close(self) -> None:
        pass

    def describe(self) -> dict:
        return {"executor": "local", "workers": 1, "device": self.solver.device}
