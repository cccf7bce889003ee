"""The driver: solve every unfinished line with an executor, record each result as it arrives, one driver per
result folder."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .._check import UserError, os_error
from .plan import Job, plan_batches
from .store import PATHS_DIR, ResultStore

LOCK = ".lg-batch.lock"
"""Held (``flock``) by the driver that is writing a result folder."""


@dataclass
class BatchRun:
    """What one run did: ``records`` (the manifest record of every job, in JOBS order), lines ``solved``
    (results written by this run), ``skipped`` (finished before), ``failed`` (failed in this run),
    ``recomputed`` (finished lines solved again as batch mates of unfinished ones, not rewritten)."""

    records: list[dict]
    solved: int
    skipped: int
    failed: int
    recomputed: int
    wall_time_s: float


def run_jobs(jobs: Sequence[Job], out_dir: str | os.PathLike, executor, *, batch_size: int = 8,
             progress=None) -> BatchRun:
    """Solve every unfinished job with ``executor`` and record each result in ``out_dir`` as it arrives.

    Args:
        jobs: the lines, in JOBS order (see :func:`resolve_jobs`, :func:`make_job`).
        executor: :class:`LocalExecutor` or :class:`~latent_geodesics.ray_executor.RayExecutor`: ``run(batches)``
            yields each batch's line results (dicts from :meth:`BatchSolver.solve`) in any order.
        batch_size: most lines per solved batch (lines whose settings agree).
        progress: a ``tqdm``-like bar (``total`` is set here to the lines to solve; ``update`` per line).
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    _check_names(jobs, out / PATHS_DIR)
    try:
        (out / PATHS_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise os_error(e, f"cannot create {out / PATHS_DIR}", "choose another --out") from e
    with _locked(out):
        return _run_jobs(jobs, ResultStore(out), executor, batch_size=batch_size,
                         progress=progress, t0=t0)


def _check_names(jobs: Sequence[Job], paths: Path) -> None:
    """Before any work: every job has its own result file name, and nothing but a file is in its way."""
    names: dict[str, Job] = {}
    for job in jobs:
        if job.name in names:
            raise UserError(f"lines {names[job.name].line} and {job.line} both write {PATHS_DIR}/{job.name}.npz; "
                            "give each line its own id (name)")
        names[job.name] = job
        path = paths / f"{job.name}.npz"
        if os.path.lexists(path) and not path.is_file():
            what = "a folder" if path.is_dir() else "a link to nothing" if path.is_symlink() else "not a file"
            raise UserError(f"{path} is {what}, where line {job.line}'s path goes; move it away or choose another "
                            "--out")


@contextmanager
def _locked(out: Path) -> Iterator[None]:
    """One driver per result folder: a second one gets a one-line error instead of interleaving records."""
    import fcntl

    try:
        f = open(out / LOCK, "a+")
    except OSError as e:
        raise os_error(e, f"cannot write to {out}", "choose another --out") from e
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"another batch is writing to {out} now; wait for it to finish or choose another "
                            "--out") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _run_jobs(jobs: Sequence[Job], store: ResultStore, executor, *, batch_size: int, progress,
              t0: float) -> BatchRun:
    done = {job.name for job in jobs if store.finished(job)}
    batches = [b for b in plan_batches(jobs, batch_size) if any(j.name not in done for j in b.jobs)]
    todo = sum(1 for b in batches for j in b.jobs if j.name not in done)
    if progress is not None:
        progress.reset(total=todo)
    # Results are matched to lines by name (unique in a run: the line's id, else its key; resolve_jobs refuses two
    # lines without ids that ask for the same path), never by key alone: lines with different ids may share a key.
    by_name = {job.name: job for job in jobs}
    solved = failed = recomputed = 0
    for results in executor.run(batches):
        for result in results:
            job = by_name[result["name"]]
            if job.name in done:
                recomputed += 1
                continue
            rec = store.write(job, result)
            if rec["status"] == "done":
                done.add(job.name)
                solved += 1
            else:
                failed += 1
            if progress is not None:
                progress.update(1)
    records = [store.records.get(job.name) for job in jobs]
    return BatchRun(records=[r for r in records if r is not None], solved=solved,
                    skipped=len(jobs) - todo, failed=failed, recomputed=recomputed,
                    wall_time_s=round(time.perf_counter() - t0, 4))
