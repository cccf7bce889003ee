"""Batch jobs: many paths from a JOBS file, solved by an executor, kept in a resumable result folder.

Data flow (the driver owns the output folder; executors only compute)::

    JOBS file --parse_jobs--> JobSpec per line --resolve_jobs--> Job (endpoint latents, settings, key)
        --plan_batches--> Batch (lines whose settings agree, in file order)
        --executor (local: this process; ray: actors)--> one LineResult per line, streamed back
        --ResultStore--> DIR/paths/NAME.npz (atomic) + a line in DIR/manifest.jsonl
        --write_batch_outputs--> DIR/summary.csv, report.json, report.html, grid.png (all or nothing)

A JOBS file is JSON Lines (one object per line) or CSV (a header row naming the columns). Each line is one
path between two endpoints: ``seeds`` (``[a, b]``, or ``seed0``/``seed1``) or latent files ``z0``/``z1``
(``.npy``, one latent each; relative to the JOBS file), optionally an ``id`` (its file name under
``paths/``) and per-line overrides of the command's settings: ``metric``, ``frames``, ``solver``,
``optimizer``, ``steps``, ``rtol``, ``gtol``, ``ftol`` (0: the energy rule), ``retime``. Blank lines and lines starting with ``#`` are
skipped.

Resuming: every line has a key, a digest of the model, its settings and its endpoint latents. A line
whose manifest record has the same key and whose file still has the recorded sha256 is finished and
skipped; anything else (missing, corrupt, settings changed, failed before, a record that fails
:func:`record_problem`) is solved again. Results come back from the executors with the line's name (its ``id``,
else its key) and are matched to lines by it: two lines with different ids may share a key (the same path asked
twice), and both are answered.

Batching: lines whose settings agree are solved together as one :class:`~latent_geodesics.paths.PathProblem`
(``batch_size`` lines at a time, in file order). L-BFGS couples the paths of a batch through one line
search, so a path depends on its batch mates; the plan is therefore a function of the JOBS file alone, the
same for every executor and every rerun, and a batch of which some lines are finished is solved whole
again (its finished lines are not rewritten). That is what makes a resumed run equal an uninterrupted one.
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import io
import json
import math
import os
import socket
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from ._check import StateWarning, UserError, check_output_dir, first_line, os_error
from .evaluation import step_cv
from .generators import Generator, load_generator
from .jobs import InterpolateSettings, check_finite, load_latent_file, solve
from .limits import MAX_FRAMES, MAX_SEED, MAX_STEPS
from .metrics import Metric, build_metric, metric_names
from .paths import DEFAULT_CHUNK, check_endpoints, images_of
from .rendering import staged_outputs, to_uint8, write_json, write_npz, write_png
from .reporting import report_json
from .solvers import DEFAULT_FTOL, DEFAULT_GTOL, DEFAULT_RTOL, OPTIMIZERS, SOLVERS, SubdivideConfig, level_config
from .weights import sha256_of

LINE_KEYS = ("id", "seeds", "seed0", "seed1", "z0", "z1", "metric", "frames", "solver", "optimizer", "steps",
             "rtol", "gtol", "ftol", "retime")
"""The keys (JSON Lines) or columns (CSV) a JOBS line may have."""
OVERRIDES = ("metric", "frames", "solver", "optimizer", "steps", "rtol", "gtol", "ftol", "retime")
"""Per-line settings that override the command's options."""
BATCH_FILES = ("summary.csv", "report.json", "report.html", "grid.png")
"""What a batch writes at the end, beside ``paths/`` and ``manifest.jsonl``."""
MANIFEST = "manifest.jsonl"
LOCK = ".lg-batch.lock"
"""Held (``flock``) by the driver that is writing a result folder."""
PATHS_DIR = "paths"
GRID_LINES = 24
"""Most lines drawn in ``grid.png`` (the first finished ones, in JOBS order)."""
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_NAME = 100
"""Longest line ``id`` (and so file name under ``paths/``, less ``.npz``)."""


# ---------------------------------------------------------------------------------------------------------------
# Settings of one line
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LineSettings:
    """How one path is solved; hashable, so that lines whose settings agree are batched together.

    ``steps=None`` means the optimiser's default budget; ``metric_options`` is a sorted tuple of
    ``(key, value)`` pairs for :func:`~latent_geodesics.metrics.build_metric`.
    """

    metric: str = "pixel"
    frames: int = 33
    solver: str = "subdivide"
    optimizer: str = "lbfgs-pair"
    steps: int | None = None
    rtol: float = DEFAULT_RTOL
    gtol: float = DEFAULT_GTOL
    ftol: float | None = DEFAULT_FTOL
    retime: bool = False
    variant: str = "joint"
    precondition: str = "kronecker"
    metric_options: tuple = ()
    chunk_size: int = DEFAULT_CHUNK

    def to_dict(self) -> dict:
        d = asdict(self)
        d["metric_options"] = dict(self.metric_options)
        return d

    def interpolate_settings(self) -> InterpolateSettings:
        """The :class:`~latent_geodesics.jobs.InterpolateSettings` that ``interpolate`` would build."""
        opt = level_config(self.optimizer, max_steps=self.steps, rtol=self.rtol, gtol=self.gtol, ftol=self.ftol,
                           precondition=self.precondition)
        return InterpolateSettings(solver=self.solver, frames=self.frames, chunk_size=self.chunk_size,
                                   retime=self.retime, optimize=opt,
                                   subdivide=SubdivideConfig(variant=self.variant, level=opt))

    def with_overrides(self, overrides: Mapping[str, object]) -> "LineSettings":
        return replace(self, **overrides) if overrides else self


@dataclass(frozen=True)
class JobSpec:
    """One parsed JOBS line: where it is, its endpoints (``seeds`` or latent files) and its overrides."""

    line: int
    id: str | None = None
    seeds: tuple[int, int] | None = None
    z0: str | None = None
    z1: str | None = None
    overrides: tuple = ()  # sorted (key, value) pairs

    def settings(self, defaults: LineSettings) -> LineSettings:
        return defaults.with_overrides(dict(self.overrides))


# ---------------------------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------------------------

class _BadLine(Exception):
    """What is wrong with one line (the parser adds the file name and line number)."""


def _int(value: object, key: str, lo: int, hi: int) -> int:
    if isinstance(value, bool):
        raise _BadLine(f"{key} must be a whole number from {lo} to {hi}, got {value!r}")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise _BadLine(f"{key} must be a whole number from {lo} to {hi}, got {value!r}") from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not lo <= value <= hi:
        raise _BadLine(f"{key} must be a whole number from {lo} to {hi}, got {value!r}")
    return value


def _float(value: object, key: str) -> float:
    if isinstance(value, bool):
        raise _BadLine(f"{key} must be a finite number >= 0, got {value!r}")
    try:
        x = float(value.strip() if isinstance(value, str) else value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _BadLine(f"{key} must be a finite number >= 0, got {value!r}") from None
    if not math.isfinite(x) or x < 0:
        raise _BadLine(f"{key} must be a finite number >= 0, got {value!r}")
    return x


def _bool(value: object, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
        return value.strip().lower() in ("true", "1", "yes")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise _BadLine(f"{key} must be true or false, got {value!r}")


def _choice(value: object, key: str, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value.strip() not in choices:
        raise _BadLine(f"unknown {key} {value!r}; choose one of: {', '.join(choices)}")
    return value.strip()


def _text(value: object, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _BadLine(f"{key} must be a file name (a non-empty string), got {value!r}")
    return value.strip()


def _spec_from_fields(fields: Mapping[str, object], line: int) -> JobSpec:
    """Check one line's fields (a JSON object, or a CSV row without its empty cells)."""
    unknown = [k for k in fields if k not in LINE_KEYS]
    if unknown:
        raise _BadLine(f"unknown key {unknown[0]!r}; use {', '.join(LINE_KEYS)}")
    ident = None
    if "id" in fields:
        ident = fields["id"] if isinstance(fields["id"], str) else None
        if ident is None or not 1 <= len(ident) <= MAX_NAME or not set(ident) <= _ID_CHARS or ident.startswith("."):
            raise _BadLine(f"id must be 1 to 100 letters, digits, '.', '_' or '-' (not starting with '.'), "
                           f"got {fields['id']!r}")
    seeds = None
    if "seeds" in fields:
        if "seed0" in fields or "seed1" in fields:
            raise _BadLine("give seeds as [a, b] or as seed0 and seed1, not both")
        s = fields["seeds"]
        if not isinstance(s, list) or len(s) != 2:
            raise _BadLine(f"seeds must be a list of two seeds like [1, 2], got {s!r}")
        seeds = (_int(s[0], "seeds", 0, MAX_SEED), _int(s[1], "seeds", 0, MAX_SEED))
    elif "seed0" in fields or "seed1" in fields:
        if not ("seed0" in fields and "seed1" in fields):
            raise _BadLine("give both seed0 and seed1")
        seeds = (_int(fields["seed0"], "seed0", 0, MAX_SEED), _int(fields["seed1"], "seed1", 0, MAX_SEED))
    z0 = _text(fields["z0"], "z0") if "z0" in fields else None
    z1 = _text(fields["z1"], "z1") if "z1" in fields else None
    if (z0 is None) != (z1 is None):
        raise _BadLine("give both z0 and z1 (latent .npy files), or neither")
    if (seeds is None) == (z0 is None):
        raise _BadLine("give the endpoints one way: seeds [a, b] (or seed0 and seed1), or z0 and z1 files")
    overrides: dict[str, object] = {}
    for key in OVERRIDES:
        if key not in fields:
            continue
        v = fields[key]
        if key == "metric":
            overrides[key] = _choice(v, key, metric_names())
        elif key == "frames":
            overrides[key] = _int(v, key, 2, MAX_FRAMES)
        elif key == "solver":
            overrides[key] = _choice(v, key, list(SOLVERS))
        elif key == "optimizer":
            overrides[key] = _choice(v, key, list(OPTIMIZERS))
        elif key == "steps":
            overrides[key] = _int(v, key, 0, MAX_STEPS)
        elif key in ("rtol", "gtol"):
            overrides[key] = _float(v, key)
        elif key == "ftol":
            overrides[key] = _float(v, key) or None  # 0: the energy rule
        else:
            overrides[key] = _bool(v, key)
    return JobSpec(line=line, id=ident, seeds=seeds, z0=z0, z1=z1, overrides=tuple(sorted(overrides.items())))


def _is_skipped(text: str) -> bool:
    s = text.strip()
    return not s or s.startswith("#")


def _jsonl_lines(text: str) -> Iterator[tuple[int, Callable[[], Mapping]]]:
    for number, raw in enumerate(text.splitlines(), 1):
        if _is_skipped(raw):
            continue

        def fields(raw=raw) -> Mapping:
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as e:
                raise _BadLine(f"not valid JSON ({e.msg} at column {e.colno}); write one object per line like "
                               '{"seeds": [1, 2]}') from None
            except RecursionError:
                raise _BadLine("nested too deeply to read (brackets inside brackets); write one flat object per "
                               'line like {"seeds": [1, 2]}') from None
            except ValueError as e:  # a number of more than 4300 digits
                digits = "more than 4300 digits" if "digits" in str(e) else first_line(e)[:80]
                raise _BadLine(f"holds a number too long to read ({digits}); seeds are whole numbers from 0 to "
                               f"{MAX_SEED}") from None
            if not isinstance(obj, dict):
                raise _BadLine(f"expected a JSON object like {{\"seeds\": [1, 2]}}, got {type(obj).__name__}")
            return obj
        yield number, fields


def _csv_lines(text: str) -> Iterator[tuple[int, Callable[[], Mapping]]]:
    lines = text.splitlines()
    header_at = next((i for i, raw in enumerate(lines) if not _is_skipped(raw)), None)
    if header_at is None:
        return
    header = [h.strip() for h in next(csv.reader([lines[header_at]]))]
    bad = [h for h in header if h not in LINE_KEYS or h == "seeds"]
    if bad or len(set(header)) != len(header):
        what = f"unknown column {bad[0]!r}" if bad else "a column appears twice"

        def broken() -> Mapping:
            raise _BadLine(f"header: {what}; name the columns from: "
                           f"{', '.join(k for k in LINE_KEYS if k != 'seeds')}")
        yield header_at + 1, broken
        return
    for i in range(header_at + 1, len(lines)):
        raw = lines[i]
        if _is_skipped(raw):
            continue

        def fields(raw=raw) -> Mapping:
            try:
                cells = next(csv.reader([raw], strict=True))
            except csv.Error as e:
                raise _BadLine(f"not valid CSV ({e}); close every quote you open, and quote cells that hold "
                               "commas") from None
            if len(cells) != len(header):
                raise _BadLine(f"has {len(cells)} cells but the header names {len(header)} columns; give one cell "
                               "per column (leave unused ones empty)")
            return {h: c.strip() for h, c in zip(header, cells) if c.strip()}
        yield i + 1, fields


def jobs_format(path: str | os.PathLike) -> str:
    """``"jsonl"`` or ``"csv"``, from the file name (``.jsonl``/``.json``/``.ndjson`` or ``.csv``)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise UserError(f"cannot tell the format of jobs file {path}: name it .jsonl (JSON Lines) or .csv")


def parse_jobs_text(text: str, fmt: str, *, name: str = "jobs") -> list[JobSpec]:
    """Parse a JOBS file's text (``fmt``: ``"jsonl"`` or ``"csv"``) into one :class:`JobSpec` per line.

    Raises:
        UserError: one line naming the first bad line (file and line number), what is wrong and the fix,
            and the numbers of any other bad lines; or a file without any job.
    """
    reader = _jsonl_lines if fmt == "jsonl" else _csv_lines
    specs: list[JobSpec] = []
    errors: list[tuple[int, str]] = []
    for number, fields in reader(text):
        try:
            specs.append(_spec_from_fields(fields(), number))
        except _BadLine as e:
            errors.append((number, str(e)))
    if not errors:
        seen: dict[str, int] = {}
        for spec in specs:
            if spec.id is not None and spec.id in seen:
                errors.append((spec.line, f"id {spec.id!r} is already used on line {seen[spec.id]}; give each "
                                          "line its own id"))
            elif spec.id is not None:
                seen[spec.id] = spec.line
    if errors:
        number, message = errors[0]
        more = f" (also bad: line{'s' if len(errors) > 2 else ''} {', '.join(str(n) for n, _ in errors[1:6])}" \
               f"{', ...' if len(errors) > 6 else ''})" if len(errors) > 1 else ""
        raise UserError(f"{name} line {number}: {message}{more}")
    if not specs:
        raise UserError(f"{name} holds no jobs; write one path per line, e.g. "
                        + ('{"seeds": [1, 2]}' if fmt == "jsonl" else "a header seed0,seed1 and rows like 1,2"))
    return specs


def parse_jobs(path: str | os.PathLike) -> list[JobSpec]:
    """Read and parse a JOBS file (JSON Lines or CSV, from its suffix); see :func:`parse_jobs_text`."""
    path = Path(path)
    fmt = jobs_format(path)
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark (Excel CSV) is not part of line 1
    except UnicodeDecodeError:
        raise UserError(f"cannot read jobs file {path}: it is not UTF-8 text; save it as UTF-8") from None
    except IsADirectoryError:
        raise UserError(f"cannot read jobs file {path}: it is a folder; give a .jsonl or .csv file") from None
    except OSError as e:
        raise os_error(e, f"cannot read jobs file {path}", "check the path") from e
    return parse_jobs_text(text, fmt, name=str(path))


# ---------------------------------------------------------------------------------------------------------------
# Jobs and batches
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelSpec:
    """How a worker loads the model: what ``load_generator`` is given (plain values, cheap to send)."""

    model: str
    latent_shape: tuple[int, ...] | None = None
    prior: str | None = None
    shell: float | None = None

    def load(self, device: str | torch.device = "cpu") -> Generator:
        return load_generator(self.model, device=device, latent_shape=self.latent_shape, prior=self.prior,
                              shell=self.shell)


@dataclass(frozen=True)
class Job:
    """One line ready to solve: endpoint latents ``(*latent_shape,)`` float32, its settings and its identity.

    Attributes:
        key: digest of the model, the settings and the endpoint latents: a result with this key is this line's.
        name: the result's file name under ``paths/`` (the line's ``id``, else its key).
        line: line number in the JOBS file (0 when the jobs were built in memory).
        source: the endpoints as given (``{"seeds": [a, b]}`` or ``{"z0": file, "z1": file}``), for the summary.
    """

    key: str
    name: str
    line: int
    settings: LineSettings
    z0: np.ndarray
    z1: np.ndarray
    source: dict = field(default_factory=dict, compare=False)


def job_key(model: str, settings: LineSettings, z0: np.ndarray, z1: np.ndarray) -> str:
    """Digest (20 hex digits) of everything a result depends on."""
    h = hashlib.sha256()
    h.update(json.dumps({"model": model, "settings": settings.to_dict()}, sort_keys=True).encode())
    for z in (z0, z1):
        h.update(np.ascontiguousarray(z, dtype=np.float32).tobytes())
    return h.hexdigest()[:20]


def make_job(model: str, settings: LineSettings, z0: np.ndarray, z1: np.ndarray, *, name: str | None = None,
             line: int = 0, source: Mapping | None = None) -> Job:
    z0 = np.ascontiguousarray(z0, dtype=np.float32)
    z1 = np.ascontiguousarray(z1, dtype=np.float32)
    key = job_key(model, settings, z0, z1)
    return Job(key=key, name=name or key, line=line, settings=settings, z0=z0, z1=z1, source=dict(source or {}))


def resolve_jobs(specs: Sequence[JobSpec], generator: Generator, defaults: LineSettings, *, model_name: str,
                 base_dir: str | os.PathLike = ".", what: str = "jobs") -> list[Job]:
    """Endpoint latents for every line (seeds drawn from the prior, files read and checked).

    Raises:
        UserError: naming the line: an unreadable or wrongly shaped latent file, or two lines that are the
            same path (same endpoints and settings) without distinct ids.
    """
    jobs: list[Job] = []
    seen: dict[str, int] = {}
    for spec in specs:
        try:
            if spec.seeds is not None:
                z0 = generator.sample_latents(1, seed=spec.seeds[0])
                z1 = generator.sample_latents(1, seed=spec.seeds[1])
                source = {"seeds": list(spec.seeds)}
            else:
                z0, z1 = (_one_latent(Path(base_dir) / f, generator) for f in (spec.z0, spec.z1))
                source = {"z0": spec.z0, "z1": spec.z1}
        except UserError as e:
            raise UserError(f"{what} line {spec.line}: {e}") from e
        job = make_job(model_name, spec.settings(defaults), z0[0].numpy(), z1[0].numpy(), name=spec.id,
                       line=spec.line, source=source)
        if job.name in seen:
            raise UserError(f"{what} line {spec.line}: the same path (endpoints and settings) as line "
                            f"{seen[job.name]}; remove one, or give them different ids")
        seen[job.name] = spec.line
        jobs.append(job)
    return jobs


def _one_latent(path: Path, generator: Generator) -> torch.Tensor:
    z = load_latent_file(path, generator)
    if z.shape[0] != 1:
        raise UserError(f"{path} holds {z.shape[0]} latents; a jobs line takes one latent per file (or write one "
                        "line per row)")
    return z


@dataclass(frozen=True)
class Batch:
    """Lines solved together as one problem: the same settings; ``index`` is its place in the plan."""

    index: int
    settings: LineSettings
    jobs: tuple[Job, ...]

    def __len__(self) -> int:
        return len(self.jobs)


def plan_batches(jobs: Sequence[Job], batch_size: int) -> list[Batch]:
    """Lines grouped by settings (groups in order of first appearance), each group cut into ``batch_size``.

    A function of the job list alone, so every executor and every rerun solves the same batches.
    """
    groups: dict[LineSettings, list[Job]] = {}
    for job in jobs:
        groups.setdefault(job.settings, []).append(job)
    batches = []
    for settings, members in groups.items():
        for i in range(0, len(members), batch_size):
            batches.append(Batch(len(batches), settings, tuple(members[i:i + batch_size])))
    return batches


# ---------------------------------------------------------------------------------------------------------------
# Solving (what every executor runs)
# ---------------------------------------------------------------------------------------------------------------

def worker_name(prefix: str = "local") -> str:
    return f"{prefix}:{socket.gethostname()}:{os.getpid()}"


class BatchSolver:
    """Holds the model (loaded once) and the metrics (built once each) and solves batches of lines.

    Both executors use it: ``local`` in the driver, ``ray`` inside each actor.
    """

    def __init__(self, model: ModelSpec | Generator, *, device: str | torch.device = "cpu",
                 worker: str | None = None) -> None:
        self.generator = model.load(device) if isinstance(model, ModelSpec) else model
        self.worker = worker or worker_name()
        self._metrics: dict[tuple, Metric] = {}

    def metric(self, settings: LineSettings) -> Metric:
        key = (settings.metric, settings.metric_options)
        if key not in self._metrics:
            self._metrics[key] = build_metric(settings.metric, device=self.generator.device,
                                              **dict(settings.metric_options))
        return self._metrics[key]

    def solve(self, batch: Batch) -> list[dict]:
        """One result per line of ``batch`` (see :func:`line_result`); a batch that fails is split into its
        lines, so that only the line at fault records the error."""
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
                "device": str(self.generator.device)}

    def _solve(self, batch: Batch) -> list[dict]:
        gen = self.generator
        metric = self.metric(batch.settings)
        run = batch.settings.interpolate_settings()
        device = gen.device
        z0 = torch.from_numpy(np.stack([j.z0 for j in batch.jobs])).reshape(len(batch), *gen.latent_shape)
        z1 = torch.from_numpy(np.stack([j.z1 for j in batch.jobs])).reshape(len(batch), *gen.latent_shape)
        z0, z1 = check_endpoints(gen, z0.to(device), z1.to(device))
        t0 = time.perf_counter()
        solved = solve(gen, metric, z0, z1, run)
        check_finite(solved, z0, z1)
        wall = time.perf_counter() - t0
        summary = solved.result.summary() if solved.result is not None else {}
        d = solved.stats.d_sq.clamp_min(0).sqrt()
        cv = step_cv(d).tolist()
        points = solved.points.detach().cpu().numpy().astype(np.float32)
        out = []
        for i, job in enumerate(batch.jobs):
            per = {k: (v[i] if isinstance(v, list) else None) for k, v in summary.items()
                   if k in ("steps", "converged", "rel_change", "grad_norm")}
            out.append({
                "key": job.key, "name": job.name, "ok": True, "error": None,
                "points": points[i:i + 1],
                "start_length": float(solved.start_stats.length[i]), "start_energy": float(solved.start_stats.energy[i]),
                "length": float(solved.stats.length[i]), "energy": float(solved.stats.energy[i]),
                "step_distances": d[i].tolist(), "step_cv": cv[i],
                "converged": per.get("converged", True), "steps": per.get("steps", 0),
                "rel_change": per.get("rel_change"), "grad_norm": per.get("grad_norm"),
                "batch_wall_time_s": round(wall, 4), "batch_lines": len(batch),
                "wall_time_s": round(wall / len(batch), 4),
                "worker": self.worker, "device": str(device),
            })
        return out


class LocalExecutor:
    """Solves the batches in this process, one after another, on one device (the embedded default)."""

    name = "local"

    def __init__(self, model: ModelSpec | Generator, *, device: str | torch.device = "cpu") -> None:
        self.solver = BatchSolver(model, device=device)

    def run(self, batches: Sequence[Batch]) -> Iterator[list[dict]]:
        """Yield each batch's line results as it finishes."""
        for batch in batches:
            yield self.solver.solve(batch)

    def close(self) -> None:
        pass

    def describe(self) -> dict:
        return {"executor": "local", "workers": 1, "device": str(self.solver.generator.device)}


# ---------------------------------------------------------------------------------------------------------------
# The result folder
# ---------------------------------------------------------------------------------------------------------------

def _finite(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def record_problem(rec: Mapping) -> str | None:
    """What is wrong with a manifest record (as written by :meth:`ResultStore.write`), or ``None``: every field
    that a rerun, the summary and the report read, with its type (a record edited by hand is checked like input)."""
    if rec.get("status") not in ("done", "failed"):
        return f"status {rec.get('status')!r} is not done or failed"
    if not isinstance(rec.get("key"), str):
        return "no key"
    line = rec.get("line")
    if line is not None and (isinstance(line, bool) or not isinstance(line, int)):
        return f"line {line!r} is not a number"
    s = rec.get("settings")
    if not isinstance(s, dict) or not isinstance(s.get("metric"), str) or not isinstance(s.get("solver"), str) \
            or isinstance(s.get("frames"), bool) or not isinstance(s.get("frames"), int):
        return "settings missing or incomplete"
    if not isinstance(rec.get("source", {}), dict):
        return "source is not an object"
    for k in ("wall_time_s", "batch_wall_time_s"):
        if rec.get(k) is not None and not _finite(rec[k]):
            return f"{k} {rec[k]!r} is not a finite number"
    if rec["status"] == "failed":
        return None if isinstance(rec.get("error"), str) else "a failed record without its error"
    if not isinstance(rec.get("file"), str) or not isinstance(rec.get("sha256"), str):
        return "file or sha256 missing"
    stats = rec.get("stats")
    if not isinstance(stats, dict):
        return f"stats is {type(stats).__name__}, not an object"
    for k in ("start_length", "start_energy", "length", "energy", "step_cv"):
        if not _finite(stats.get(k)):
            return f"stats.{k} {stats.get(k)!r} is not a finite number"
    steps = stats.get("step_distances")
    if not isinstance(steps, list) or not all(_finite(d) for d in steps):
        return "stats.step_distances is not a list of finite numbers"
    if not isinstance(rec.get("converged"), bool):
        return f"converged {rec.get('converged')!r} is not true or false"
    if rec.get("steps") is not None and (isinstance(rec["steps"], bool) or not isinstance(rec["steps"], int)):
        return f"steps {rec['steps']!r} is not a whole number"
    return None


class ResultStore:
    """``DIR/paths/NAME.npz`` per finished line (written atomically) and ``DIR/manifest.jsonl``, one record
    per finished or failed line, appended (and synced) after the file it names is complete.

    The manifest is append-only; the last record of a line wins. A record cut short by a crash is ignored.
    """

    def __init__(self, out_dir: str | os.PathLike) -> None:
        self.out = Path(out_dir)
        self.paths = self.out / PATHS_DIR
        self.manifest = self.out / MANIFEST
        self.records: dict[str, dict] = {}  # by name: the last record
        if self.manifest.exists():
            try:
                text = self.manifest.read_text(encoding="utf-8", errors="replace")
            except OSError as e:
                raise os_error(e, f"cannot read {self.manifest}") from e
            bad: dict[str, tuple[int, str]] = {}  # by name: a damaged last record (its line is solved again)
            for number, raw in enumerate(text.splitlines(), 1):
                try:
                    rec = json.loads(raw)
                except (ValueError, RecursionError):
                    continue  # a line cut short by a crash
                if not isinstance(rec, dict) or not isinstance(rec.get("name"), str):
                    continue
                why = record_problem(rec)
                if why is None:
                    self.records[rec["name"]] = rec
                    bad.pop(rec["name"], None)
                else:
                    self.records.pop(rec["name"], None)
                    bad[rec["name"]] = (number, why)
            for name, (number, why) in bad.items():
                warnings.warn(f"{self.manifest} line {number}: the record of {name} is damaged ({why}); that line "
                              "is solved again", StateWarning, stacklevel=2)

    def file_of(self, name: str) -> Path:
        return self.paths / f"{name}.npz"

    def finished(self, job: Job) -> bool:
        """Whether ``job`` has a valid result: a ``done`` record with its key and a file with that sha256."""
        rec = self.records.get(job.name)
        if rec is None or rec.get("status") != "done" or rec.get("key") != job.key:
            return False
        path = self.file_of(job.name)
        try:
            return sha256_of(path) == rec.get("sha256")
        except OSError:
            return False

    def write(self, job: Job, result: Mapping, *, model_name: str) -> dict:
        """Write one line's result file (if it succeeded) and append its manifest record; returns the record."""
        rec: dict = {"name": job.name, "key": job.key, "line": job.line, "source": job.source,
                     "settings": job.settings.to_dict(), "model": model_name}
        if result["ok"]:
            points = result["points"]
            path = self.file_of(job.name)
            write_npz(path, points=points, z0=points[:, 0], z1=points[:, -1], metric=np.array(job.settings.metric),
                      model=np.array(model_name))
            rec.update(status="done", file=f"{PATHS_DIR}/{path.name}", sha256=sha256_of(path),
                       stats={k: result[k] for k in ("start_length", "start_energy", "length", "energy", "step_cv",
                                                     "step_distances")},
                       converged=result["converged"], steps=result["steps"], rel_change=result["rel_change"],
                       grad_norm=result["grad_norm"])
        else:
            rec.update(status="failed", error=result["error"])
        rec.update({k: result.get(k) for k in ("wall_time_s", "batch_wall_time_s", "batch_lines")},
                   worker=result["worker"], device=result["device"],
                   finished=_dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
        self._append(rec)
        self.records[job.name] = rec
        return rec

    def _append(self, rec: dict) -> None:
        line = json.dumps(rec, allow_nan=False) + "\n"
        try:
            with open(self.manifest, "a+b") as f:
                if f.tell() > 0:  # a record cut short by a crash: start on a fresh line
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        line = "\n" + line
                f.write(line.encode())
                f.flush()
                os.fsync(f.fileno())
        except OSError as e:
            raise os_error(e, f"cannot append to {self.manifest}") from e

    def load_points(self, name: str) -> np.ndarray:
        with np.load(self.file_of(name), allow_pickle=False) as data:
            return data["points"]


# ---------------------------------------------------------------------------------------------------------------
# The driver
# ---------------------------------------------------------------------------------------------------------------

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


def run_jobs(jobs: Sequence[Job], out_dir: str | os.PathLike, executor, *, model_name: str, batch_size: int = 8,
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
        return _run_jobs(jobs, ResultStore(out), executor, model_name=model_name, batch_size=batch_size,
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


def _run_jobs(jobs: Sequence[Job], store: ResultStore, executor, *, model_name: str, batch_size: int, progress,
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
            rec = store.write(job, result, model_name=model_name)
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


SUMMARY_COLUMNS = ("line", "name", "status", "endpoints", "metric", "frames", "solver", "start_length", "length",
                   "length_vs_linear", "energy", "step_cv", "converged", "steps", "wall_time_s", "worker", "file",
                   "error")
"""Columns of ``summary.csv``, one row per line in JOBS order."""


def summary_rows(records: Sequence[Mapping]) -> list[dict]:
    rows = []
    for rec in records:
        stats = rec.get("stats") or {}
        src = rec.get("source") or {}
        endpoints = (f"seeds {src['seeds'][0]} {src['seeds'][1]}" if "seeds" in src
                     else f"{src['z0']} {src['z1']}" if "z0" in src
                     else f"points {src['points'][0]} {src['points'][1]}" if "points" in src else "")
        start, length = stats.get("start_length"), stats.get("length")
        rows.append({
            "line": rec.get("line"), "name": rec["name"], "status": rec["status"], "endpoints": endpoints,
            "metric": rec["settings"]["metric"], "frames": rec["settings"]["frames"],
            "solver": rec["settings"]["solver"], "start_length": start, "length": length,
            "length_vs_linear": length / start if start else None, "energy": stats.get("energy"),
            "step_cv": stats.get("step_cv"), "converged": rec.get("converged"), "steps": rec.get("steps"),
            "wall_time_s": rec.get("wall_time_s"), "worker": rec.get("worker"), "file": rec.get("file"),
            "error": rec.get("error"),
        })
    return rows


def summary_csv(records: Sequence[Mapping]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in summary_rows(records):
        writer.writerow({k: "" if v is None else (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    return buf.getvalue()


def _grid(generator: Generator, store: ResultStore, records: Sequence[Mapping]) -> tuple[np.ndarray, list[str]]:
    """``grid.png``: one row per finished line (the first :data:`GRID_LINES`), shorter paths padded white."""
    from .report import labelled_grid

    shown = [r for r in records if r["status"] == "done"][:GRID_LINES]
    rows: dict[str, np.ndarray] = {}
    for rec in shown:
        points = torch.from_numpy(store.load_points(rec["name"]))[0].to(generator.device)
        rows[_label(rec)] = to_uint8(images_of(generator, points))  # (T, H, W, 3)
    t = max(f.shape[0] for f in rows.values())
    padded = {k: np.concatenate([f, np.full((t - len(f), *f.shape[1:]), 255, np.uint8)])[None]
              for k, f in rows.items()}
    title = f"{len(shown)} of {len(records)} lines" + (f" (the first {GRID_LINES} finished)"
                                                       if len(shown) == GRID_LINES else "")
    picture, _ = labelled_grid(padded, [title])
    return picture, list(rows)


def _label(rec: Mapping) -> str:
    name = rec["name"]
    short = name if len(name) <= 16 else name[:14] + ".."
    return f"{rec['line']}: {short}" if rec.get("line") else short


def batch_report(records: Sequence[Mapping], run: BatchRun, *, model_name: str, defaults: LineSettings,
                 executor: Mapping, jobs_file: str | None, extra: Mapping | None = None) -> dict:
    """``report.json``: settings, executor, counts, and every line's manifest record (without step lists)."""
    lines = [{k: v for k, v in r.items() if k != "stats"} | {"stats": {k: v for k, v in (r.get("stats") or {}).items()
                                                                      if k != "step_distances"}}
             for r in records]
    done = [r for r in records if r["status"] == "done"]
    walls = [r.get("wall_time_s") or 0.0 for r in done]
    return json.loads(json.dumps(report_json("batch", {
        "jobs": jobs_file,
        "model": model_name,
        "defaults": defaults.to_dict(),
        "executor": dict(executor),
        "counts": {"lines": len(records), "done": len(done), "failed": len(records) - len(done),
                   "solved_this_run": run.solved, "skipped_finished": run.skipped,
                   "recomputed_batch_mates": run.recomputed,
                   "converged": sum(bool(r.get("converged")) for r in done)},
        "solve_time_s": round(sum(walls), 4),
        "wall_time_s": run.wall_time_s,
        "lines": lines,
        **(dict(extra) if extra else {}),
    })))


def write_batch_html(path: str | os.PathLike, report: Mapping, *, grid: str | None = "grid.png",
                     figure: str | None = None, figure_caption: str = "") -> Path:
    """A self-contained page for a batch: settings, counts, one table row per line, the grid of frames.

    Same style as the ``compare`` page (:mod:`latent_geodesics.report`); every text is escaped; no scripts.
    """
    from .report import _e, _num, write_page

    c = report["counts"]
    d = report["defaults"]
    ex = report["executor"]
    items = [("model", report["model"]), ("jobs", report.get("jobs") or "built in memory"),
             ("defaults", f"metric {d['metric']}, {d['frames']} frames, {d['solver']} ({d['optimizer']}"
                          f"{'' if d['steps'] is None else ', at most ' + str(d['steps']) + ' steps'}), "
                          f"rtol {d['rtol']:g}, gtol {d['gtol']:g}"),
             ("executor", ", ".join(f"{k} {v}" for k, v in ex.items())),
             ("lines", f"{c['lines']}: {c['done']} done ({c['converged']} converged), {c['failed']} failed; this run "
                       f"solved {c['solved_this_run']}, skipped {c['skipped_finished']} finished"),
             ("time", f"{report['solve_time_s']:.1f} s solving (sum over lines), {report['wall_time_s']:.1f} s this run")]
    dl = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items)
    head = ["line", "name", "status", "metric", "frames", "length", "vs linear", "step CV", "converged", "time (s)",
            "worker"]
    body = []
    for r in report["lines"]:
        s = r.get("stats") or {}
        ratio = s["length"] / s["start_length"] if s.get("length") is not None and s.get("start_length") else None
        status = r["status"] if r["status"] == "done" else f"failed: {r.get('error')}"
        cells = [r.get("line") or "", r["name"], status, r["settings"]["metric"], r["settings"]["frames"],
                 _num(s.get("length")), _num(ratio, 3), _num(s.get("step_cv"), 3),
                 "" if r["status"] != "done" else ("yes" if r.get("converged") else "no"),
                 _num(r.get("wall_time_s"), 3), r.get("worker") or ""]
        body.append("<tr>" + "".join(f"<td>{_e(x)}</td>" for x in cells) + "</tr>")
    table = ("<table><thead><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr></thead><tbody>"
             + "".join(body) + "</tbody></table>")
    pictures = ""
    if grid:
        pictures += (f'<h2>Frames</h2><figure><a href="{_e(grid)}"><img src="{_e(grid)}" alt="frames of the paths, '
                     f'one row per line"></a><figcaption class="muted">One row per finished line (label: line '
                     f'number and name), frames from start to end.</figcaption></figure>')
    if figure:
        pictures += (f'<h2>Embedding</h2><figure><a href="{_e(figure)}"><img src="{_e(figure)}" alt="'
                     f'{_e(figure_caption)}"></a><figcaption class="muted">{_e(figure_caption)}</figcaption></figure>')
    body = f"""<p class="muted">{_e(report['tool'])}: {c['lines']} lines, {c['done']} done, {c['failed']} failed.</p>
<h2>Settings</h2>
<dl class="settings">{dl}</dl>
<h2>Lines</h2>
<div class="table-wrap">{table}</div>
<p class="muted">Length under each line's metric; vs linear: over the straight line's length between the same
endpoints (below 1 is shorter). Step CV: spread of the step lengths (0 = constant perceptual speed). Time: the
line's share of its batch's solve time. Every path is in paths/NAME.npz (readable by latent-geodesics evaluate).</p>
{pictures}
"""
    return write_page(path, f"Batch of paths: {report['model']}", body)


def write_batch_outputs(out_dir: str | os.PathLike, generator: Generator, run: BatchRun, report: dict, *,
                        extra: Callable[[Path], None] | None = None, figure: str | None = None,
                        figure_caption: str = "") -> None:
    """``summary.csv``, ``report.json``, ``report.html`` and ``grid.png`` (plus what ``extra`` writes into the
    staging folder), all or nothing."""
    store = ResultStore(out_dir)
    with staged_outputs(out_dir) as stage:
        (stage / "summary.csv").write_text(summary_csv(run.records), encoding="utf-8")
        grid = None
        if any(r["status"] == "done" for r in run.records):
            picture, _ = _grid(generator, store, run.records)
            write_png(stage / "grid.png", picture)
            grid = "grid.png"
        if extra is not None:
            extra(stage)
        if figure is not None and not (stage / figure).exists():
            figure = None  # ``extra`` did not draw it (e.g. MDS skipped)
        write_json(stage / "report.json", report)
        write_batch_html(stage / "report.html", report, grid=grid, figure=figure, figure_caption=figure_caption)


def check_batch_dir(out_dir: str | os.PathLike, extra_files: Iterable[str] = ()) -> Path:
    """Before any work: ``out_dir`` can hold the batch's files (``paths/`` must be a folder if it exists)."""
    out = check_output_dir(out_dir, files=(*BATCH_FILES, MANIFEST, *extra_files),
                           longest_name=len(f"{PATHS_DIR}/.npz") + MAX_NAME)
    if (out / PATHS_DIR).exists() and not (out / PATHS_DIR).is_dir():
        raise UserError(f"{out / PATHS_DIR} is a file where the batch keeps its paths; move it away or choose "
                        "another --out")
    return out
