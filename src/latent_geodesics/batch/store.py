"""The result folder: ``DIR/paths/NAME.npz`` per finished line and ``DIR/manifest.jsonl``, one record per
finished or failed line (what a rerun reads to skip finished lines)."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .._check import StateWarning, os_error
from ..pathfile import PathFile
from ..settings import FIELDS, Settings
from ..weights import sha256_of
from .plan import Job

MANIFEST = "manifest.jsonl"
PATHS_DIR = "paths"


def settings_of(rec: Mapping) -> Settings:
    """The settings a manifest record was solved with (its flat ``settings``)."""
    values = {k: tuple(map(tuple, v.items())) if k == "metric_options" else tuple(v) if isinstance(v, list) else v
              for k, v in rec["settings"].items() if k in FIELDS}
    return Settings().with_fields(values)


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

    def write(self, job: Job, result: Mapping) -> dict:
        """Write one line's result file (if it succeeded) and append its manifest record; returns the record."""
        model = job.settings.model
        rec: dict = {"name": job.name, "key": job.key, "line": job.line, "source": job.source,
                     "settings": job.settings.flat(), "model": model.model}
        if result["ok"]:
            points = result["points"]
            path = self.file_of(job.name)
            PathFile.single(points, model=model.model, metric=job.settings.metric.metric,
                            legs=job.legs if job.join else 1, discriminator=model.discriminator,
                            metric_options=job.settings.metric.build_options(),
                            style=result.get("style")).write(path)
            rec.update(status="done", file=f"{PATHS_DIR}/{path.name}", sha256=sha256_of(path),
                       stats={k: result[k] for k in ("start_length", "start_energy", "length", "energy", "step_cv",
                                                     "step_distances")},
                       converged=result["converged"], steps=result["steps"], rel_change=result["rel_change"],
                       grad_norm=result["grad_norm"], precision=result.get("precision"))
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
        return PathFile.read(self.file_of(name)).points
