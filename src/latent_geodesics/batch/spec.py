"""Reading a JOBS file: one :class:`JobSpec` per line, every value checked, one error line naming the line.

A JOBS file is JSON Lines (one object per line) or CSV (a header row naming the columns). A line's keys are an
optional ``id`` (its file name under ``paths/``) and any setting of ``interpolate`` by its flat name
(:data:`latent_geodesics.settings.FIELDS`: ``seeds``, ``z``, ``images``, ``z0``/``z1``, ``loop``, ``model``,
``class``, ``discriminator``, ``metric``, ``realism``, ``frames``, ``ftol`` ...), overriding the command's
options; ``seed0``/``seed1`` are two seeds as CSV columns. Lists (``seeds``, ``z``, ``images``, ``class``) are
JSON lists, or in CSV cells separated by spaces; ``metric_options`` is an object (CSV: ``key=value`` separated
by spaces). ``ftol`` 0 is the energy rule (``coarse_ftol`` 0: for the levels before the last); ``nodes``
``auto`` is the default. Blank lines and lines starting with ``#`` are skipped.
"""

from __future__ import annotations

import csv
import json
import math
import os
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .._check import DuplicateKey, UserError, as_bool, first_line, os_error, unique_keys
from ..limits import MAX_SEED
from ..settings import FIELDS, Settings

LINE_KEYS = ("id", "seed0", "seed1", *FIELDS)
"""The keys (JSON Lines) or columns (CSV) a JOBS line may have."""
_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
MAX_NAME = 100
"""Longest line ``id`` (and so file name under ``paths/``, less ``.npz``)."""
FILE_FIELDS = ("z", "images", "z0", "z1", "condition", "discriminator", "model")
"""Settings that name files: a line's are relative to the JOBS file."""


@dataclass(frozen=True)
class JobSpec:
    """One parsed JOBS line: where it is, its ``id`` and its settings (sorted ``(flat name, value)`` pairs)."""

    line: int
    id: str | None = None
    fields: tuple = ()

    def settings(self, defaults: Settings, *, base_dir: str | os.PathLike = ".") -> Settings:
        """The line's settings: ``defaults`` with its fields, its file names taken relative to ``base_dir``.

        Raises:
            UserError: a value its setting refuses (the caller adds the line number).
        """
        values = {k: _relative(k, v, Path(base_dir)) for k, v in self.fields}
        return defaults.with_fields(values)


def _relative(name: str, value, base: Path):
    if name not in FILE_FIELDS:
        return value
    if name == "model" and (value.startswith("zoo:") or not value.endswith(".pt")):
        return value
    if name == "discriminator" and not value.endswith(".pt"):
        return value
    return tuple(str(base / v) for v in value) if isinstance(value, tuple) else str(base / value)


class _BadLine(Exception):
    """What is wrong with one line (the parser adds the file name and line number)."""


def _int(value: object, key: str, lo: int, hi: int) -> int:
    bad = _BadLine(f"{key} must be a whole number from {lo} to {hi}, got {_shown(value)}")
    if isinstance(value, bool):
        raise bad
    if isinstance(value, str):
        if len(value.strip()) > 40:  # int() refuses more than 4300 digits with advice about sys
            raise bad
        try:
            value = int(value.strip())
        except ValueError:
            raise bad from None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or not lo <= value <= hi:
        raise bad
    return value


def _shown(value: object) -> str:
    """``value`` for a message: a long number as its count of digits, other long values cut."""
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and len(text) > 40:
        digits = text.lstrip("+-")
        return f"a number of {len(digits)} digits" if digits.isdigit() else repr(text[:37] + "...")
    return repr(value)


def _whole(value: object) -> object:
    """A whole number where ``value`` is one (a JSON number, a CSV cell); anything else as it is, for the setting's
    own check to refuse with its real range (:mod:`latent_geodesics.settings`)."""
    if isinstance(value, str) and len(value.strip()) > 40:
        return _shown(value)  # too long for any setting: refused by its check, shown short
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _real(value: object) -> object:
    """A number where ``value`` is one; anything else as it is (see :func:`_whole`)."""
    if isinstance(value, str) and len(value.strip()) > 40:
        return _shown(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return value
    return value


def _frame_rule(value: object) -> object:
    """``ftol``: 0 is the energy rule (``None``), like ``--ftol 0``."""
    x = _real(value)
    if isinstance(x, bool) or not isinstance(x, (int, float)) or not math.isfinite(x) or x < 0:
        raise _BadLine(f"ftol must be 0 (the energy rule) or a finite number above 0, got {value!r}")
    return x or None


def _bool(value: object, key: str) -> bool:
    flag = as_bool(value)
    if flag is None:
        raise _BadLine(f"{key} must be true or false (or yes/no, 1/0), got {_shown(value)}")
    return flag


def _text(value: object, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _BadLine(f"{key} must be a non-empty text (a name or a file name), got {value!r}")
    return value.strip()


def _list(value: object, key: str, item: Callable) -> tuple:
    if isinstance(value, str):
        value = value.split()
    if not isinstance(value, list) or not value:
        raise _BadLine(f"{key} must be a list like [1, 2] (CSV: values separated by spaces), got {value!r}")
    return tuple(item(v) for v in value)


def _options(value: object, key: str) -> tuple:
    if isinstance(value, str):
        pairs = [p.partition("=") for p in value.split()]
        if any(not sep or not k for k, sep, _ in pairs):
            raise _BadLine(f"{key} must be key=value pairs separated by spaces (JSON: an object), got {value!r}")
        value = {k: _number_or_text(v) for k, _, v in pairs}
    if not isinstance(value, dict):
        raise _BadLine(f"{key} must be an object like {{\"min_size\": 64}}, got {value!r}")
    return tuple(sorted(value.items()))


def _number_or_text(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            continue
    return text


def _parser(name: str) -> Callable[[object], object]:
    """How a line's value of setting ``name`` is read, from the type of its dataclass field."""
    section, attr = FIELDS[name]
    cls = typing.get_type_hints(Settings)[section]
    hint = str(typing.get_type_hints(cls)[attr])
    # numbers are only converted here: each setting's own check refuses a bad one, with its real range
    if name == "ftol":
        return _frame_rule
    if name == "nodes":
        return lambda v: None if isinstance(v, str) and v.strip().lower() == "auto" else _whole(v)
    if name == "metric_options":
        return lambda v: _options(v, name)
    if "tuple[int" in hint and name == "latent_shape":
        return lambda v: _list(v, name, _whole)
    if "tuple[int" in hint:
        return lambda v: _list(v, name, lambda x: _int(x, name, 0, MAX_SEED))
    if "tuple[str" in hint:
        return lambda v: _list(v, name, lambda x: _text(x, name))
    if "bool" in hint:
        return lambda v: _bool(v, name)
    if "int" in hint:
        return _whole
    if "float" in hint:
        return _real
    if name in _NAMED:
        return lambda v: _text(v, name).lower()
    return lambda v: _text(v, name)


VIDEO_KEYS = ("duration", "total", "hold", "easing", "joins", "timeline", "audio", "envelope", "formats", "format",
              "scale", "scale_filter")
"""``interpolate``'s video settings, which a JOBS line does not take."""
_NAMED = {"metric", "solver", "variant", "optimizer", "precondition", "init", "precision", "prior", "realism_form",
          "space"}
"""Settings that are names from a list: any case, as on the command line."""


PARSERS = {name: _parser(name) for name in FIELDS}


def _spec_from_fields(raw: Mapping[str, object], line: int) -> JobSpec:
    """Check one line's fields (a JSON object, or a CSV row without its empty cells)."""
    unknown = [k for k in raw if k not in LINE_KEYS]
    video = [k for k in unknown if k in VIDEO_KEYS]
    if video:
        raise _BadLine(f"{video[0]!r} is a video setting; a JOBS line solves a path (paths/NAME.npz) and writes no "
                       "video, so it takes no duration, total, hold, easing, joins, timeline, audio, envelope, "
                       "formats, scale or scale_filter: make videos with `latent-geodesics interpolate`")
    if unknown:
        raise _BadLine(f"unknown key {unknown[0]!r}; use {', '.join(LINE_KEYS)}")
    ident = None
    if "id" in raw:
        ident = raw["id"] if isinstance(raw["id"], str) else None
        if ident is None or not 1 <= len(ident) <= MAX_NAME or not set(ident) <= _ID_CHARS or ident.startswith("."):
            raise _BadLine(f"id must be 1 to 100 letters, digits, '.', '_' or '-' (not starting with '.'), "
                           f"got {raw['id']!r}")
    values = {k: PARSERS[k](v) for k, v in raw.items() if k in FIELDS}
    for key in ("model", "discriminator"):
        if isinstance(values.get(key), str) and values[key].lower().endswith((".pkl", ".pickle")):
            raise _BadLine(f"{key} {values[key]!r} is a pickle, and loading one runs its code: a JOBS line never "
                           f"names one; give it to the command instead (latent-geodesics batch --{key} FILE.pkl)")
    if "seed0" in raw or "seed1" in raw:
        if "seeds" in raw:
            raise _BadLine("give seeds as [a, b] or as seed0 and seed1, not both")
        if not ("seed0" in raw and "seed1" in raw):
            raise _BadLine("give both seed0 and seed1")
        values["seeds"] = (_int(raw["seed0"], "seed0", 0, MAX_SEED), _int(raw["seed1"], "seed1", 0, MAX_SEED))
    ends = [k for k in ("seeds", "z", "images", "z0") if k in values]
    if (("z0" in values) != ("z1" in values)):
        raise _BadLine("give both z0 and z1 (latent .npy files), or neither")
    if len(ends) != 1:
        raise _BadLine("give the endpoints one way: seeds [a, b, ...] (or seed0 and seed1), z files, images, or "
                       "z0 and z1 files")
    try:
        Settings().with_fields(values).endpoints.check()  # each value as its setting checks it
    except UserError as e:
        raise _BadLine(str(e)) from None
    return JobSpec(line=line, id=ident, fields=tuple(sorted(values.items())))


def _is_skipped(text: str) -> bool:
    s = text.strip()
    return not s or s.startswith("#")


def _jsonl_lines(text: str) -> Iterator[tuple[int, Callable[[], Mapping]]]:
    for number, raw in enumerate(text.splitlines(), 1):
        if _is_skipped(raw):
            continue

        def fields(raw=raw) -> Mapping:
            try:
                obj = json.loads(raw, object_pairs_hook=unique_keys)
            except DuplicateKey as e:
                raise _BadLine(f"gives the key {e.key!r} twice; give each key once") from None
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
    bad = [h for h in header if h not in LINE_KEYS]
    if bad or len(set(header)) != len(header):
        what = f"unknown column {bad[0]!r}" if bad else "a column appears twice"

        def broken() -> Mapping:
            raise _BadLine(f"header: {what}; name the columns from: "
                           f"{', '.join(LINE_KEYS)}")
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
