"""Jobs and batches: each JOBS line resolved to its settings and endpoint latents, then grouped.

Every line has a key, a digest of its settings and its endpoint latents: a result with that key is the line's.
Lines whose settings agree (endpoints aside) are solved together as one problem (``batch_size`` lines at a
time, in file order), their legs stacked; the plan is a function of the JOBS file alone, the same for every
executor and every rerun, and a batch of which some lines are finished is solved whole again (its finished
lines are not rewritten). That is what makes a resumed run equal an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from .._check import UserError
from ..generators import Generator
from ..metrics import build_metric
from ..settings import MetricSettings, ModelSettings, Settings
from ..workflows.interpolate import Projector, check_realism, path_endpoints
from .spec import JobSpec

GeneratorOf = Callable[[ModelSettings], Generator]
"""The loaded generator of some model settings (cached: see :class:`~latent_geodesics.batch.worker.Generators`)."""


@dataclass(frozen=True)
class Job:
    """One line ready to solve: its settings, the legs' endpoint latents and its identity.

    Attributes:
        key: digest of the settings and the endpoint latents: a result with this key is this line's.
        name: the result's file name under ``paths/`` (the line's ``id``, else its key).
        line: line number in the JOBS file (0 when the jobs were built in memory).
        settings: the line's whole settings (endpoints as given).
        z0, z1: the legs' endpoints, ``(L, *latent_shape)`` float32 (one leg, or one per waypoint gap).
        join: the legs are written as one path (waypoints).
        source: the endpoints as given (``{"seeds": [...]}``, files, pictures), for the summary.
    """

    key: str
    name: str
    line: int
    settings: Settings
    z0: np.ndarray
    z1: np.ndarray
    join: bool = False
    source: dict = field(default_factory=dict, compare=False)

    @property
    def legs(self) -> int:
        return self.z0.shape[0]


def job_key(settings: Settings, z0: np.ndarray, z1: np.ndarray, join: bool) -> str:
    """Digest (20 hex digits) of everything a result depends on."""
    h = hashlib.sha256()
    solved = settings.without_endpoints().flat()
    h.update(json.dumps({"settings": solved, "join": join, "loop": settings.endpoints.loop}, sort_keys=True,
                        default=str).encode())
    for z in (z0, z1):
        h.update(np.ascontiguousarray(z, dtype=np.float32).tobytes())
    return h.hexdigest()[:20]


def make_job(settings: Settings, z0: np.ndarray, z1: np.ndarray, *, name: str | None = None, line: int = 0,
             legs: bool = False, join: bool = False, source: dict | None = None) -> Job:
    """A job from endpoints ``(*latent_shape)`` (one path), or ``(L, *latent_shape)`` with ``legs`` (``join``:
    written as one path through the waypoints)."""
    z0 = np.ascontiguousarray(z0, dtype=np.float32)
    z1 = np.ascontiguousarray(z1, dtype=np.float32)
    if not legs:
        z0, z1 = z0[None], z1[None]
    key = job_key(settings, z0, z1, join)
    return Job(key=key, name=name or key, line=line, settings=settings, z0=z0, z1=z1, join=join,
               source=dict(source or {}))


def _source(settings: Settings) -> dict:
    e = settings.endpoints
    if e.seeds:
        return {"seeds": list(e.seeds)}
    if e.images:
        return {"images": list(e.images)}
    if e.z_files:
        return {"z": list(e.z_files)}
    return {"z0": e.z0, "z1": e.z1}


def resolve_jobs(specs: Sequence[JobSpec], defaults: Settings, generator_of: GeneratorOf, *,
                 base_dir: str | os.PathLike = ".", what: str = "jobs", projector: Projector | None = None) -> list[Job]:
    """Settings and endpoint latents for every line (seeds drawn from the prior, files read and checked, pictures
    projected), as ``interpolate`` would make them.

    Raises:
        UserError: naming the line: a value its setting refuses, an unreadable or wrongly shaped latent file or
            picture, realism without a discriminator, or two lines that are the same path without distinct ids.
    """
    jobs: list[Job] = []
    seen: dict[str, int] = {}
    metrics: set[MetricSettings] = set()
    for spec in specs:
        try:
            settings = spec.settings(defaults, base_dir=base_dir)
            if settings.metric not in metrics:  # its options, before any work (built once per metric settings)
                build_metric(settings.metric.metric, device="cpu", **settings.metric.build_options())
                metrics.add(settings.metric)
            gen = generator_of(settings.model)
            check_realism(settings.metric, gen)
            ends = path_endpoints(gen, settings, projector=projector)
            if settings.endpoints.z0 is not None and ends.z0.shape[0] != 1:
                raise UserError(f"{settings.endpoints.z0} holds {ends.z0.shape[0]} latents; a jobs line takes one "
                                "latent per file (or write one line per row)")
        except UserError as e:
            raise UserError(f"{what} line {spec.line}: {e}") from e
        job = make_job(settings, ends.z0.cpu().numpy(), ends.z1.cpu().numpy(), name=spec.id, line=spec.line,
                       legs=True, join=ends.join, source=_source(settings))
        if job.name in seen:
            raise UserError(f"{what} line {spec.line}: the same path (endpoints and settings) as line "
                            f"{seen[job.name]}; remove one, or give them different ids")
        seen[job.name] = spec.line
        jobs.append(job)
    return jobs


@dataclass(frozen=True)
class Batch:
    """Lines solved together as one problem: the same settings, endpoints aside; ``index`` is its place in the
    plan."""

    index: int
    settings: Settings
    jobs: tuple[Job, ...]

    def __len__(self) -> int:
        return len(self.jobs)


def plan_batches(jobs: Sequence[Job], batch_size: int) -> list[Batch]:
    """Lines grouped by settings (groups in order of first appearance), each group cut into ``batch_size``.

    A function of the job list alone, so every executor and every rerun solves the same batches.
    """
    groups: dict[Settings, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.settings.without_endpoints(), []).append(job)
    batches = []
    for settings, members in groups.items():
        for i in range(0, len(members), batch_size):
            batches.append(Batch(len(batches), settings, tuple(members[i:i + batch_size])))
    return batches

