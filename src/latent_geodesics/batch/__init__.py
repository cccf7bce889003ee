"""Batch jobs: many paths from a JOBS file, solved by an executor, kept in a resumable result folder.

Data flow (the driver owns the output folder; executors only compute)::

    JOBS file --parse_jobs (spec)--> JobSpec per line
        --resolve_jobs (plan)--> Job: the line's Settings, its legs' endpoint latents, its key
        --plan_batches (plan)--> Batch: lines whose settings agree (endpoints aside), in file order
        --executor (worker: local in this process; ray_executor: actors)--> one result per line, streamed back
        --ResultStore (store)--> DIR/paths/NAME.npz (atomic) + a line in DIR/manifest.jsonl
        --write_batch_outputs (summary)--> DIR/summary.csv, report.json, report.html, grid.png (all or nothing)

A line is an ``interpolate`` run: any of its settings by flat name (:data:`latent_geodesics.settings.FIELDS`)
overrides the command's, so a line can choose its model, class, discriminator and realism, join pictures
or waypoints, and loop. It is solved by the same functions as ``interpolate``
(:mod:`latent_geodesics.workflows.interpolate`), so its path equals that run's.

Resuming: a line whose manifest record has the same key and whose file still has the recorded sha256 is
finished and skipped; anything else (missing, corrupt, settings changed, failed before, a damaged record) is
solved again. Results come back from the executors with the line's name (its ``id``, else its key) and are
matched to lines by it: two lines with different ids may share a key, and both are answered.
"""

from .driver import LOCK, BatchRun, run_jobs
from .plan import Batch, Job, job_key, make_job, plan_batches, resolve_jobs
from .worker import BatchSolver, Generators, LocalExecutor, worker_name
from .spec import LINE_KEYS, MAX_NAME, JobSpec, jobs_format, parse_jobs, parse_jobs_text
from .store import MANIFEST, PATHS_DIR, ResultStore, record_problem, settings_of
from .summary import (BATCH_FILES, GRID_LINES, SUMMARY_COLUMNS, batch_report, check_batch_dir, summary_csv,
                      summary_rows, write_batch_html, write_batch_outputs)

__all__ = ["BATCH_FILES", "GRID_LINES", "LINE_KEYS", "LOCK", "MANIFEST", "MAX_NAME", "PATHS_DIR", "SUMMARY_COLUMNS",
           "Batch", "BatchRun", "BatchSolver", "Generators", "Job", "JobSpec", "LocalExecutor", "ResultStore",
           "batch_report", "check_batch_dir", "job_key", "jobs_format", "make_job", "parse_jobs", "parse_jobs_text",
           "plan_batches", "record_problem", "resolve_jobs", "run_jobs", "settings_of", "summary_csv", "summary_rows",
           "worker_name", "write_batch_html", "write_batch_outputs"]
