"""What the explore page works on, without HTTP: the model, its samples (seeded or projected photos), and
the jobs (solve a path through picked samples, project a photo, map the samples by their geodesic distances).

Every file it writes lies in its own folder (``folder``): ``samples/`` (one PNG per sample), ``runs/<job>/``
(a solve's frames, video, path and report), and ``uploads/`` (a photo while it is being checked; removed
after). Files are named by the explorer, never by a request. The jobs run on the :class:`~.worker.Worker`
thread, one at a time; the solve publishes each subdivision level's frames as soon as the level is done.
"""

from __future__ import annotations

import secrets
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .._check import UserError
from ..generators import Generator
from ..jobs import join_legs, place_frames, place_frames_work, waypoint_legs
from ..limits import MAX_SEED
from ..metrics import Metric, build_metric, computing_in, metric_names, precision_name, solving_precision
from ..pathfile import PathFile
from ..curves import interpolate_points
from ..paths import PathProblem, baseline_path, images_of, path_stats
from ..project import load_image, project_images
from ..realism import DEFAULT_LAMBDA, realism_metric
from ..report import side_by_side_frames
from ..rendering import to_uint8, write_json, write_png, write_video
from ..reporting import model_block, report_json
from ..settings import metric_build_options
from ..solvers import stops_on_frames, subdivide_path
from ..video.easing import ease, easing_names
from .mapping import map_latents
from .requests import (DEFAULT_METRIC, FRAME_FILE, JOB_ID, SAMPLE_ID, SUFFIX, METHODS, NONFINITE, RUN_FILES,
                       ExploreSettings, SolveRequest, check_file_name, map_metric, solve_request)
from .worker import Busy, Events, Job, JobContext, Worker

MAX_RUNS = 20
"""Solves kept (their folders and frames); older ones are removed when a new one starts."""
EASING_SAMPLES = 101
"""Points of each easing curve sent to the page (its playback reads position against time from them)."""
@dataclass
class Sample:
    """One latent on the page: seeded (``s<seed>``) or a projected photo (``p<n>``)."""

    id: str
    label: str
    latent: Tensor  # (1, *latent_shape), on the CPU
    seed: int | None = None
    photo: bool = False
    lpips: float | None = None

    def info(self) -> dict:
        return {"id": self.id, "label": self.label, "seed": self.seed, "photo": self.photo, "lpips": self.lpips,
                "image": f"/api/samples/{self.id}.png",
                "target": f"/api/samples/{self.id}-photo.png" if self.photo else None}


class Explorer:
    """The model, the samples and the jobs of one explore session.

    Args:
        generator: the model (its discriminator rides along where it has one).
        model_name: how reports name it.
        folder: the app's own folder; created if needed; everything is written below it.
        settings: limits and solver settings.
    """

    def __init__(self, generator: Generator, *, model_name: str, folder: str | Path,
                 settings: ExploreSettings = ExploreSettings()) -> None:
        self.generator = generator.eval()
        self.model_name = model_name
        self.settings = settings
        self.folder = Path(folder).resolve()
        for sub in ("samples", "runs", "uploads"):
            (self.folder / sub).mkdir(parents=True, exist_ok=True)
        self.image_shape = tuple(generator.probe(what=f"model {model_name!r}"))
        self.events = Events()
        self.worker = Worker(self.events)
        self._lock = threading.Lock()
        self.samples: dict[str, Sample] = {}
        self._photos = 0
        self._metrics: dict[str, Metric] = {}
        self.runs: dict[str, dict] = {}
        self.map: dict | None = None
        self.set_seeds(list(settings.seeds) or list(range(settings.grid)))

    # ---------------------------------------------------------------------------------------------------------
    # what the page reads
    # ---------------------------------------------------------------------------------------------------------

    def info(self) -> dict:
        s = self.settings
        return {"model": self.model_name, "image_shape": list(self.image_shape),
                "latent_shape": list(self.generator.latent_shape), "device": str(self.generator.device),
                "metrics": metric_names(), "default_metric": DEFAULT_METRIC, "easings": easing_names(),
                "easing_curves": {n: np.round(ease(n, np.linspace(0, 1, EASING_SAMPLES)), 6).tolist()
                                  for n in easing_names()},
                "realism": self.generator.discriminator is not None, "default_realism": DEFAULT_LAMBDA,
                "limits": {"frames": s.max_frames, "nodes": s.max_nodes, "waypoints": s.max_waypoints,
                           "samples": s.max_samples, "map_samples": s.map_samples, "upload_bytes": s.upload_bytes},
                "samples": self.sample_list(), "job": self.job_info(), "map": self.map,
                "events": self.events.last}

    def sample_list(self) -> list[dict]:
        with self._lock:
            return [s.info() for s in self.samples.values()]

    def job_info(self) -> dict | None:
        job = self.worker.current
        if job is None:
            return None
        with self._lock:
            run = self.runs.get(job.id)
            run = None if run is None else {k: v for k, v in run.items() if k != "dir"}
        return {**job.info(), "run": run}

    def sample_file(self, name: str) -> Path:
        """The PNG of ``<id>.png`` or ``<id>-photo.png``. Raises ``KeyError`` for anything else."""
        stem, photo = (name[:-10], True) if name.endswith("-photo.png") else (name[:-4], False)
        if not name.endswith(".png") or not SAMPLE_ID.match(stem):
            raise KeyError(name)
        with self._lock:
            sample = self.samples.get(stem)
        if sample is None or (photo and not sample.photo):
            raise KeyError(name)
        return self._inside(self.folder / "samples" / (f"{stem}-photo.png" if photo else f"{stem}.png"))

    def run_file(self, job_id: str, name: str) -> Path:
        """A file of a solve: a frame sheet or one of :data:`RUN_FILES`. Raises ``KeyError`` for anything else."""
        if not JOB_ID.match(job_id) or not (name in RUN_FILES or FRAME_FILE.match(name)):
            raise KeyError(name)
        path = self._inside(self.folder / "runs" / job_id / name)
        if not path.is_file():
            raise KeyError(name)
        return path

    def _inside(self, path: Path) -> Path:
        resolved = path.resolve()
        if not resolved.is_relative_to(self.folder):
            raise KeyError(str(path))
        return resolved

    # ---------------------------------------------------------------------------------------------------------
    # samples
    # ---------------------------------------------------------------------------------------------------------

    def set_seeds(self, seeds: Sequence[int]) -> list[dict]:
        """Replace the seeded samples by these seeds (projected photos stay)."""
        seeds = list(dict.fromkeys(int(s) for s in seeds))
        if not seeds:
            raise UserError("give at least one seed")
        if any(not 0 <= s <= MAX_SEED for s in seeds):
            raise UserError(f"seeds must be whole numbers from 0 to {MAX_SEED}")
        with self._lock:
            photos = sum(s.photo for s in self.samples.values())
        if len(seeds) + photos > self.settings.max_samples:
            raise UserError(f"at most {self.settings.max_samples} samples (photos included); asked for "
                            f"{len(seeds)} seeds beside {photos} photo(s)")
        gen = self.generator
        z = torch.cat([gen.sample_latents(1, seed=s, device="cpu") for s in seeds])
        frames = self._frames(z)
        new = {}
        for seed, latent, frame in zip(seeds, z, frames):
            sid = f"s{seed}"
            write_png(self.folder / "samples" / f"{sid}.png", frame)
            new[sid] = Sample(sid, f"seed {seed}", latent[None].clone(), seed=seed)
        with self._lock:
            self.samples = {**new, **{k: v for k, v in self.samples.items() if v.photo}}
        return self.sample_list()

    def reseed(self, count: int | None = None) -> list[dict]:
        """A fresh grid of ``count`` random seeds (default: as many as the grid holds now)."""
        with self._lock:
            shown = sum(not s.photo for s in self.samples.values())
        count = count or shown or self.settings.grid
        return self.set_seeds([secrets.randbelow(1 << 31) for _ in range(int(count))])

    def check_upload(self, data: bytes, name: str) -> Tensor:
        """A dropped photo, through the same checks as ``--image``: ``(C, H, W)`` in ``[-1, 1]``.

        The bytes are written under ``uploads/`` with a name of the explorer's own, read, and removed.
        """
        check_file_name(name)
        if len(data) > self.settings.upload_bytes:
            raise UserError(f"the photo is larger than {self.settings.upload_bytes >> 20} MB")
        if not data:
            raise UserError("the upload is empty; drop an image file")
        suffix = Path(name).suffix.lower()  # kept only as a hint for the decoder; the name is the explorer's own
        tmp = self.folder / "uploads" / f"{secrets.token_hex(8)}{suffix if SUFFIX.match(suffix) else ''}"
        tmp.write_bytes(data)
        try:
            return load_image(tmp, image_shape=self.image_shape, model=self.model_name)
        except UserError as e:  # name the photo by its own name, not by the explorer's temporary file
            raise UserError(str(e).replace(str(tmp), repr(name))) from None
        finally:
            tmp.unlink(missing_ok=True)

    def add_photo(self, data: bytes, name: str) -> Job:
        """Check a dropped photo now, then project it on the worker; it becomes sample ``p<n>`` when done."""
        if self.worker.busy():
            raise Busy("a job is running; wait for it or cancel it before dropping a photo")
        with self._lock:
            if len(self.samples) >= self.settings.max_samples:
                raise UserError(f"at most {self.settings.max_samples} samples; reseed with fewer first")
        target = self.check_upload(data, name)
        return self.worker.submit("project", lambda ctx: self._project_job(ctx, target, name))

    def _project_job(self, ctx: JobContext, target: Tensor, name: str) -> dict:
        config = self.settings.projection
        ctx.set_stage(f"projecting {name}", config.steps)
        result = project_images(self.generator, target[None], config, progress=ctx, names=[name])
        with self._lock:
            self._photos += 1
            sid = f"p{self._photos}"
        write_png(self.folder / "samples" / f"{sid}.png", to_uint8(result.reconstructions)[0])
        write_png(self.folder / "samples" / f"{sid}-photo.png", to_uint8(result.targets)[0])
        sample = Sample(sid, name, result.latents.detach().cpu()[:1].clone(), photo=True,
                        lpips=round(float(result.lpips[0]), 4))
        with self._lock:
            self.samples[sid] = sample
        ctx.publish("samples", samples=self.sample_list(), added=sid)
        return sample.info()

    def _frames(self, z: Tensor) -> np.ndarray:
        """Images of latents ``(M, *latent_shape)``: ``(M, H, W, 3)`` uint8."""
        with torch.no_grad():
            images = images_of(self.generator, z.to(self.generator.device), chunk_size=self.settings.chunk_size)
        return to_uint8(images)

    # ---------------------------------------------------------------------------------------------------------
    # solving a path
    # ---------------------------------------------------------------------------------------------------------

    def solve_request(self, body: object) -> SolveRequest:
        """Check what the page sent (:func:`~.requests.solve_request`) against this session's samples."""
        with self._lock:
            known = set(self.samples)
        return solve_request(body, self.settings, known, model_name=self.model_name,
                             has_discriminator=self.generator.discriminator is not None)

    def solve(self, request: SolveRequest) -> Job:
        """Start solving on the worker (:class:`Busy` while another job runs)."""
        z, info = self._latents(request.waypoints)  # as they are now: a reseed meanwhile changes nothing
        return self.worker.submit("solve", lambda ctx: self._solve_job(ctx, request, z, info))

    def _latents(self, ids: Sequence[str]) -> tuple[Tensor, list[dict]]:
        """The samples' latents ``(K, *latent_shape)`` on the CPU and their descriptions."""
        with self._lock:
            missing = [i for i in ids if i not in self.samples]
            if missing:
                raise UserError(f"unknown sample {missing[0][:40]!r}; reload the page")
            return torch.cat([self.samples[i].latent for i in ids]), [self.samples[i].info() for i in ids]

    def _metric(self, name: str, realism: float | None) -> Metric:
        if name not in self._metrics:
            self._metrics[name] = build_metric(name, device=self.generator.device,
                                               **metric_build_options(name, dict(self.settings.metric_options)))
        metric = self._metrics[name]
        return metric if realism is None else realism_metric(metric, self.generator, lam=realism)

    def _show(self, ctx: JobContext, run: dict, name: str, points: Tensor, metric: Metric, **more: object) -> dict:
        """Write one path's frame sheet (frames side by side), measure its steps, and publish both."""
        joined = join_legs(points.detach())  # (1, M, *latent_shape)
        frames = self._frames(joined[0])  # (M, H, W, 3)
        write_png(Path(run["dir"]) / f"{name}.png", np.concatenate(list(frames), axis=1))
        with torch.no_grad():
            stats = path_stats(self.generator, metric, joined, chunk_size=self.settings.chunk_size)
        if not bool(torch.isfinite(stats.d_sq).all()):
            raise UserError(NONFINITE)
        steps = stats.d_sq[0].clamp_min(0).sqrt()
        req = run["request"]  # the metric names the speed plot's unit
        measure = req["metric"] if req["realism"] is None else f"{req['metric']} + realism {req['realism']:g}"
        entry = {"name": name, "method": name.split("-")[0], "url": f"/api/runs/{run['id']}/{name}.png",
                 "metric": measure, "frames": int(frames.shape[0]), "width": int(frames.shape[2]),
                 "height": int(frames.shape[1]), "steps": [float(v) for v in steps], "length": float(stats.length[0]),
                 "energy": float(stats.energy[0]), **more}
        with self._lock:  # the page may read the run while this adds to it
            run["paths"] = {**run["paths"], entry["method"]: entry}
            run["shown"] = [*run["shown"], name]
        ctx.publish("path", run=run["id"], path=entry)
        return entry

    def _solve_job(self, ctx: JobContext, req: SolveRequest, z: Tensor, waypoints: list[dict]) -> dict:
        gen, s = self.generator, self.settings
        t0 = time.perf_counter()
        run = {"id": ctx.job.id, "dir": str(self.folder / "runs" / ctx.job.id), "request": req.__dict__,
               "paths": {}, "shown": [], "files": None, "summary": None}
        Path(run["dir"]).mkdir(parents=True, exist_ok=True)
        with self._lock:
            self._forget_old_runs()
            self.runs[ctx.job.id] = run
        z = z.to(gen.device)  # (K, *latent_shape)
        z0, z1 = waypoint_legs(z)  # legs (L, *latent_shape) each
        nodes = min(req.frames, s.max_nodes)
        ctx.set_stage("metric" if req.realism is None else "metric and realism calibration")
        metric = self._metric(req.metric, req.realism)
        ctx.set_stage("straight lines")
        paths = {}
        for name in ("linear", "slerp"):
            paths[name] = baseline_path(gen, name, z0, z1, req.frames - 1)
            self._show(ctx, run, name, paths[name], metric, final=True)
        ctx.check()
        ctx.set_stage("geodesic", s.subdivide.max_work(nodes - 1))
        problem = PathProblem(gen, metric, z0, z1, chunk_size=s.chunk_size)
        levels = [0]

        def on_level(points: Tensor) -> None:
            levels[0] += 1
            self._show(ctx, run, f"geodesic-{levels[0]}", points, metric, level=levels[0],
                       nodes=int(points.shape[1]), final=False)
            ctx.stage = f"geodesic, after level {levels[0]}"  # the bar counts on: its total is the whole solve's
            ctx.tell(force=True)

        deadline = time.perf_counter() + s.time_limit
        dtype = solving_precision(metric, s.precision, gen.device, frame_rule=stops_on_frames(s.subdivide.level))
        with computing_in(metric, dtype):  # the levels shown on the way are measured in it, the final path is not
            result = subdivide_path(problem, nodes - 1, s.subdivide, progress=ctx, deadline=deadline,
                                    on_level=on_level)
            ctx.check()
            points = result.points
            if nodes < req.frames:
                ctx.set_stage("placing frames", place_frames_work(nodes, req.frames, s.subdivide))
                result, points = place_frames(problem, result, req.frames, s.subdivide, progress=ctx,
                                              deadline=deadline)
        run["precision"] = precision_name(dtype)
        paths["geodesic"] = points
        self._show(ctx, run, "geodesic", points, metric, final=True, nodes=nodes)
        ctx.set_stage("final path shown; writing the video, path.npz and report.json")
        run["files"] = self._write_run(Path(run["dir"]), run, req, paths, result, waypoints,
                                       time.perf_counter() - t0)
        run["summary"] = {m: {"length": run["paths"][m]["length"]} for m in METHODS}
        ctx.publish("done", run=run["id"], files=run["files"], summary=run["summary"])
        return {"files": run["files"], "summary": run["summary"]}

    def _forget_old_runs(self) -> None:
        """Keep the newest :data:`MAX_RUNS` - 1 solves (the new one makes :data:`MAX_RUNS`)."""
        while len(self.runs) >= MAX_RUNS:
            old = self.runs.pop(next(iter(self.runs)))
            shutil.rmtree(self._inside(Path(old["dir"])), ignore_errors=True)

    def _write_run(self, out: Path, run: dict, req: SolveRequest, paths: dict[str, Tensor], result,
                   waypoints: list[dict], wall: float) -> dict:
        """``video.mp4`` (the three methods side by side, labelled, timed by the easing), ``path.npz``,
        ``report.json``."""
        gen = self.generator
        columns = {}
        for name in METHODS:
            joined = join_legs(paths[name].detach())  # (1, M, ...)
            m = joined.shape[1]
            t = np.linspace(0, 1, m)
            where = torch.as_tensor(ease(req.easing, t) * (m - 1), dtype=joined.dtype, device=joined.device)
            columns[name] = self._frames(interpolate_points(joined, where[None])[0])[None]  # (1, M, H, W, 3)
        video, video_info = side_by_side_frames(columns)
        write_video(out / "video.mp4", video, fps=self.settings.fps)
        PathFile.single(join_legs(paths["geodesic"].detach()).cpu().numpy(), model=self.model_name, metric=req.metric,
                        legs=int(paths["geodesic"].shape[0]), style=gen.style_info()).write(out / "path.npz")
        report = report_json("explore", {
            "model": model_block(self.model_name, gen, self.image_shape),
            "metric": req.metric,
            "realism": None if req.realism is None else {"lambda": req.realism, "form": "conformal"},
            "settings": {"frames": req.frames, "nodes": min(req.frames, self.settings.max_nodes),
                         "easing": req.easing, "fps": self.settings.fps, "time_limit_s": self.settings.time_limit,
                         "subdivide": self.settings.subdivide.to_dict(), "precision": run["precision"]},
            "waypoints": [{k: w[k] for k in ("id", "label", "seed", "photo", "lpips")} for w in waypoints],
            "methods": {m: {k: run["paths"][m][k] for k in ("length", "energy", "steps")} for m in METHODS},
            "levels": [p for p in run["shown"] if p.startswith("geodesic-")],
            "solver": result.summary(),
            "files": {"video": {**video_info, "easing": req.easing, "fps": self.settings.fps}},
            "wall_time_s": round(wall, 4),
            "device": str(gen.device),
        })
        write_json(out / "report.json", report)
        return {name: f"/api/runs/{run['id']}/{name}" for name in RUN_FILES}

    # ---------------------------------------------------------------------------------------------------------
    # the map
    # ---------------------------------------------------------------------------------------------------------

    def map_request(self, body: object) -> tuple[list[str], str]:
        """The samples the map solves (the first :attr:`~.requests.ExploreSettings.map_samples`) and its metric."""
        with self._lock:
            ids = list(self.samples)[: self.settings.map_samples]
        return ids, map_metric(body, len(ids))

    def start_map(self, ids: list[str], metric: str) -> Job:
        z, _ = self._latents(ids)
        return self.worker.submit("map", lambda ctx: self._map_job(ctx, ids, z, metric))

    def _map_job(self, ctx: JobContext, ids: list[str], z: Tensor, metric_name: str) -> dict:
        s = self.settings
        ctx.set_stage("map: metric")
        found = map_latents(self.generator, self._metric(metric_name, None), z, nodes=s.map_nodes,
                            subdivide=s.subdivide, chunk_size=s.chunk_size, time_limit=s.time_limit, progress=ctx,
                            stage=ctx.set_stage, precision=s.precision)
        self.map = {"ids": ids, "metric": metric_name, **found}
        ctx.publish("map", map=self.map)
        return self.map

    def close(self, timeout: float = 30.0) -> None:
        """Cancel the running job and wait up to ``timeout`` seconds for the worker to stop."""
        self.worker.close(timeout)


__all__ = ["EASING_SAMPLES", "Explorer", "Sample"]
