"""What a video of a path looks like, in seconds: :class:`VideoSettings`, and the timeline file that builds one.

All of it is recorded in ``report.json`` (``to_dict``) and can be built again from a mapping (``from_dict``:
a timeline file, a JOBS line), where an unknown key is an error.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

from .._check import DuplicateKey, UserError, as_bool, unique_keys
from ..limits import DEFAULT_FPS, MAX_FRAMES, MAX_SEED
from ..rendering import MAX_FPS, MIN_FPS
from .easing import EASINGS

FORMATS = ("mp4", "gif", "webm", "png")
"""Output formats: H.264 MP4 (yuv420p), GIF, VP9 WebM, and a folder of PNG frames."""
FORMAT_FILES = {"mp4": "video.mp4", "gif": "video.gif", "webm": "video.webm", "png": "frames"}
"""The name each format is written under in the output folder (``frames`` is a folder)."""
SCALE_FILTERS = ("nearest", "lanczos")
JOINS = ("smooth", "sharp", "round")
ENVELOPES = ("loudness", "onset")
DEFAULT_DURATION = 2.0
"""Seconds per leg when neither ``--duration`` nor a timeline gives one."""
MAX_SCALE = 64
MAX_SECONDS = 3600.0
"""Longest video (and leg) accepted: an hour."""


def _number(value: object, name: str, *, integer: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise UserError(f"{name} must be {'a whole number' if integer else 'a number'}, got {_short(value)}")
    return value


@dataclass(frozen=True)
class LegSpec:
    """One leg of a timeline: what it overrides of the defaults (``None``: the default).

    Attributes:
        duration: seconds from leaving the waypoint to reaching the next, its hold included.
        easing: the easing of the move (a name of :data:`~latent_geodesics.video.easing.EASINGS`).
        hold: seconds the video rests on the waypoint the leg leaves.
    """

    duration: float | None = None
    easing: str | None = None
    hold: float | None = None

    def __post_init__(self) -> None:
        _check_timing(self.duration, self.hold, self.easing, OPTIONS)

    def to_dict(self) -> dict:
        return {"duration": self.duration, "easing": self.easing, "hold": self.hold}

    @classmethod
    def from_dict(cls, data: Mapping, *, where: str = "a leg") -> "LegSpec":
        _known_keys(data, ("duration", "easing", "hold"), where)
        duration = _opt_number(data.get("duration"), f"duration of {where}")
        easing = _opt_str(data.get("easing"), f"easing of {where}")
        easing = easing.strip().lower() if easing is not None else None
        hold = _opt_number(data.get("hold"), f"hold of {where}")
        _check_timing(duration, hold, easing, _Names(where))  # named as the file names them
        return cls(duration=duration, easing=easing, hold=hold)


class _Names:
    """How a message names a setting: the option (``--duration``), or the key in a file (``duration of waypoint 2
    of the timeline t.toml``), with an example of a good value written the same way."""

    def __init__(self, where: str | None = None) -> None:
        self.where = where

    def __call__(self, key: str) -> str:
        option = {"formats": "format", "scale_filter": "scale-filter"}.get(key, key)
        return f"--{option}" if self.where is None else f"{key} of {self.where}"

    def eg(self, key: str, value: str) -> str:
        return f"{self(key)} {value}" if self.where is None else f"{key} = {value}"


OPTIONS = _Names()


def _opt_number(value: object, name: str) -> float | None:
    return None if value is None else float(_number(value, name))


def _opt_str(value: object, name: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise UserError(f"{name} must be a name, got {value!r}")
    return value


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _known_keys(data: Mapping, known, where: str) -> None:
    if not isinstance(data, Mapping):
        raise UserError(f"{where} must be a table of settings, got {_short(data)}")
    unknown = [k for k in data if k not in known]
    if unknown:
        raise UserError(f"unknown setting {unknown[0]!r} in {where}; known: {', '.join(known)}")


def _check_timing(duration: float | None, hold: float | None, easing: str | None, name: _Names) -> None:
    if duration is not None and not (math.isfinite(duration) and 0 < duration <= MAX_SECONDS):
        raise UserError(f"{name('duration')} must be a positive number of seconds up to {MAX_SECONDS:g}, got "
                        f"{duration:g}; give e.g. {name.eg('duration', '2')}")
    if hold is not None and not (math.isfinite(hold) and 0 <= hold <= MAX_SECONDS):
        raise UserError(f"{name('hold')} must be zero or a positive number of seconds up to {MAX_SECONDS:g}, got "
                        f"{hold:g}; give e.g. {name.eg('hold', '0.5')}")
    if easing is not None and easing not in EASINGS:
        raise UserError(f"unknown easing {easing!r} in {name('easing')}; choose one of: {', '.join(EASINGS)}")


def check_frame_count(n_frames: float) -> None:
    """Refuse a video of more than :data:`~latent_geodesics.limits.MAX_FRAMES` frames (each is held in memory)."""
    if n_frames > MAX_FRAMES:
        raise UserError(f"the video would have {n_frames:.0f} frames, more than {MAX_FRAMES}; lower --fps or the "
                        "durations")


@dataclass(frozen=True)
class VideoSettings:
    """How the frames of a path are timed and written.

    Attributes:
        fps: frames per second.
        duration: seconds per leg (a path between two waypoints), the hold on the waypoint it leaves included.
            With ``audio``: the whole video's length (``None``: as long as the audio).
            ``None`` without audio: :data:`DEFAULT_DURATION`.
        total: instead of ``duration``: the whole video's seconds, shared among the legs in proportion to their
            perceptual lengths (every leg moves at the same mean speed), holds and an open path's end included.
        hold: seconds the video rests on each waypoint (the speed is zero there).
        easing: how the time of a leg maps to the fraction of its *perceptual* length covered.
        joins: ``smooth``: where an easing would arrive at (or leave) a waypoint at speed, the speed is brought
            to zero over the first and last :data:`~latent_geodesics.video.timing.JOIN_RAMP` of the move, so that
            perceptual velocity is continuous through the waypoint; ``sharp``: the easing as it is; ``round``: one
            smooth curve through the nodes of all legs, whose direction is continuous through each waypoint (the
            corner rounded between the nodes next to it), so the motion need not stop there (with ``total`` and a
            ``linear`` easing its speed is constant too). The jump in velocity is measured and reported always.
        formats: any of :data:`FORMATS`.
        scale: integer upscaling of the frames; ``None``: the smallest that brings the shorter side to 256 px.
        scale_filter: ``nearest`` or ``lanczos``.
        audio: a sound file (wav, mp3, flac ...): the perceptual step of each frame follows its envelope, and
            the MP4 (and WebM) carry it.
        envelope: ``loudness`` (RMS per frame) or ``onset`` (the rises of loudness, decaying).
        legs: per-leg overrides of ``duration``, ``easing`` and ``hold`` (a timeline file), in order.
        timeline: the timeline file these settings were read from (recorded), if any.
    """

    fps: float = DEFAULT_FPS
    duration: float | None = None
    total: float | None = None
    hold: float = 0.0
    easing: str = "linear"
    joins: str = "smooth"
    formats: tuple[str, ...] = ("mp4",)
    scale: int | None = None
    scale_filter: str = "nearest"
    audio: str | None = None
    envelope: str = "loudness"
    legs: tuple[LegSpec, ...] = ()
    timeline: str | None = None

    def __post_init__(self) -> None:
        _check_video(self, OPTIONS)

    def leg(self, i: int) -> tuple[float, str, float]:
        """Duration, easing and hold of leg ``i`` (its overrides, else the defaults)."""
        spec = self.legs[i] if i < len(self.legs) else LegSpec()
        duration = spec.duration if spec.duration is not None else (self.duration or DEFAULT_DURATION)
        return (duration, spec.easing if spec.easing is not None else self.easing,
                spec.hold if spec.hold is not None else self.hold)

    def total_seconds(self, n_legs: int) -> float:
        if self.total is not None:
            return self.total
        return sum(self.leg(i)[0] for i in range(n_legs))

    def files(self) -> tuple[str, ...]:
        """The names the formats are written under (``frames`` is a folder)."""
        return tuple(FORMAT_FILES[f] for f in self.formats)

    def to_dict(self) -> dict:
        return {"fps": self.fps, "duration": self.duration, "total": self.total, "hold": self.hold,
                "easing": self.easing,
                "joins": self.joins, "formats": list(self.formats), "scale": self.scale,
                "scale_filter": self.scale_filter, "audio": self.audio, "envelope": self.envelope,
                "legs": [leg.to_dict() for leg in self.legs], "timeline": self.timeline}

    @classmethod
    def from_dict(cls, data: Mapping, *, where: str = "the video settings") -> "VideoSettings":
        """Build from a mapping (``to_dict``'s output, a timeline, a JOBS line): unknown keys are an error; a bad
        value is named as ``where`` names it (``duration of the timeline t.toml``), not as an option."""
        kw = cls._values(data, where)
        _check_video(_Draft(**{**{f.name: f.default for f in fields(cls)}, **kw}), _Names(where))
        return cls(**kw)

    @classmethod
    def _values(cls, data: Mapping, where: str) -> dict:
        names = [f.name for f in fields(cls)]
        _known_keys(data, names, where)
        kw: dict = {}
        for key in ("fps", "duration", "total", "hold"):
            if data.get(key) is not None:
                kw[key] = float(_number(data[key], f"{key} in {where}"))
        for key in ("easing", "joins", "scale_filter", "audio", "envelope", "timeline"):
            if data.get(key) is not None:
                kw[key] = _opt_str(data[key], f"{key} in {where}")
                if key not in ("audio", "timeline"):
                    kw[key] = kw[key].strip().lower()  # names in any case, as on the command line
        if data.get("scale") is not None:
            kw["scale"] = int(_number(data["scale"], f"scale in {where}", integer=True))
        if "formats" in data:
            kw["formats"] = parse_formats(data["formats"], where=where)
        if data.get("legs") is not None:
            legs = data["legs"]
            if not isinstance(legs, (list, tuple)):
                raise UserError(f"legs in {where} must be a list of tables, got {legs!r}")
            kw["legs"] = tuple(LegSpec.from_dict(leg, where=f"leg {i + 1} of {where}") for i, leg in enumerate(legs))
        return kw


class _Draft:
    """The fields of a :class:`VideoSettings` before it is built (for :func:`_check_video`)."""

    def __init__(self, **kw) -> None:
        self.__dict__.update(kw)

    def total_seconds(self, n_legs: int) -> float:
        return VideoSettings.total_seconds(self, n_legs)  # type: ignore[arg-type]

    def leg(self, i: int):
        return VideoSettings.leg(self, i)  # type: ignore[arg-type]


def _check_video(v: "VideoSettings | _Draft", name: _Names) -> None:
    """Every check of :class:`VideoSettings`, its settings named by ``name`` (options, or a file's keys)."""
    if not (math.isfinite(v.fps) and MIN_FPS <= v.fps <= MAX_FPS):
        raise UserError(f"{name('fps')} must be from {MIN_FPS:g} to {MAX_FPS:g} frames per second, got {v.fps:g}; "
                        f"give e.g. {name.eg('fps', '30')}")
    _check_timing(v.duration, v.hold, v.easing, name)
    if v.total is not None:
        if not (math.isfinite(v.total) and 0 < v.total <= MAX_SECONDS):
            raise UserError(f"{name('total')} must be a positive number of seconds up to {MAX_SECONDS:g}, got "
                            f"{v.total:g}; give e.g. {name.eg('total', '6')}")
        if v.duration is not None or any(leg.duration is not None for leg in v.legs):
            raise UserError(f"give {name('duration')} (seconds per leg) or {name('total')} (the whole video), not "
                            "both")
    if v.joins not in JOINS:
        raise UserError(f"unknown join {v.joins!r} in {name('joins')}; choose one of: {', '.join(JOINS)}")
    if not v.formats:
        raise UserError(f"give at least one {name('formats')}: {', '.join(FORMATS)}")
    for f in v.formats:
        if f not in FORMATS:
            raise UserError(f"unknown video format {f!r} in {name('formats')}; choose from: {', '.join(FORMATS)} "
                            "(several with commas)")
    if len(set(v.formats)) != len(v.formats):
        raise UserError(f"{name('formats')} names a format twice: {','.join(v.formats)}; give each once")
    if v.scale is not None and not (isinstance(v.scale, int) and 1 <= v.scale <= MAX_SCALE):
        raise UserError(f"{name('scale')} must be a whole number from 1 to {MAX_SCALE}, got {v.scale!r}")
    if v.scale_filter not in SCALE_FILTERS:
        raise UserError(f"unknown scale filter {v.scale_filter!r} in {name('scale_filter')}; choose one of: "
                        f"{', '.join(SCALE_FILTERS)}")
    if v.envelope not in ENVELOPES:
        raise UserError(f"unknown audio envelope {v.envelope!r} in {name('envelope')}; choose one of: "
                        f"{', '.join(ENVELOPES)}")
    if v.audio is not None:
        if v.hold or v.easing != "linear" or any(leg != LegSpec() for leg in v.legs):
            raise UserError(f"{name('audio')} sets the speed of every frame: drop {name('easing')}, {name('hold')} and "
                            "per-leg timings")
        if v.total is not None:
            raise UserError(f"with {name('audio')}, duration is the whole video's length; drop {name('total')}")
        if v.duration is not None and v.duration * v.fps < 2:
            raise UserError(f"{name('duration')} {v.duration:g} at fps {v.fps:g} makes fewer than 2 frames; "
                            "give a longer duration")
    check_frame_count(v.total_seconds(max(len(v.legs), 1)) * v.fps)


def parse_formats(value: object, *, where: str = "--format") -> tuple[str, ...]:
    """``"mp4,gif"`` or ``["mp4", "gif"]`` -> ``("mp4", "gif")`` (checked by :class:`VideoSettings`)."""
    if isinstance(value, str):
        items = [v.strip().lower() for v in value.split(",")]
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        items = [v.strip().lower() for v in value]
    else:
        raise UserError(f"formats in {where} must be a list of names, e.g. [\"mp4\", \"gif\"], got {value!r}")
    return tuple(v for v in items if v) or ()


WAYPOINT_KINDS = ("seed", "latent", "image")
"""What a timeline waypoint is: a seed of the model's prior, a latent file (.npy/.npz), or a photo (projected)."""


@dataclass(frozen=True)
class Waypoint:
    """One waypoint of a timeline: ``kind`` in :data:`WAYPOINT_KINDS`; ``value`` a seed or a path."""

    kind: str
    value: int | str

    def to_dict(self) -> dict:
        return {self.kind: self.value}


@dataclass(frozen=True)
class Timeline:
    """A timeline file: waypoints in order, whether the path loops back to the first, and the video settings
    (its ``legs`` hold the per-waypoint overrides: leg ``i`` leaves waypoint ``i``)."""

    waypoints: tuple[Waypoint, ...]
    loop: bool
    video: VideoSettings

    @property
    def n_legs(self) -> int:
        return len(self.waypoints) if self.loop else len(self.waypoints) - 1

    def to_dict(self) -> dict:
        """The timeline as its file holds it (:func:`parse_timeline` reads it back): the per-leg overrides on the
        waypoints they leave."""
        top = {k: v for k, v in self.video.to_dict().items() if k not in ("legs", "timeline") and v is not None}
        points = []
        for i, w in enumerate(self.waypoints):
            leg = self.video.legs[i].to_dict() if i < len(self.video.legs) else {}
            points.append({**w.to_dict(), **{k: v for k, v in leg.items() if v is not None}})
        return {"waypoints": points, "loop": self.loop, **top}


TIMELINE_KEYS = ("waypoints", "loop") + tuple(f.name for f in fields(VideoSettings)
                                              if f.name not in ("legs", "timeline"))
WAYPOINT_KEYS = WAYPOINT_KINDS + ("duration", "easing", "hold")


def read_timeline(path: str | Path, **overrides) -> Timeline:
    """Read a timeline file (``.json``, or ``.toml``), with one-line errors; relative paths in it are taken from
    the file's folder. ``overrides`` (settings given on the command line) replace the file's defaults."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise UserError(f"cannot read the timeline {path}: {getattr(e, 'strerror', None) or e}; give a JSON or "
                        "TOML file") from e
    kind = "TOML" if path.suffix.lower() == ".toml" else "JSON"
    try:
        data = tomllib.loads(text) if kind == "TOML" else json.loads(text, object_pairs_hook=unique_keys)
    except DuplicateKey as e:  # JSON keeps the last silently (TOML refuses it itself)
        raise UserError(f"the timeline {path} gives the key {e.key!r} twice in one table; give each key once") from None
    except RecursionError:
        raise UserError(f"the timeline {path} is nested too deeply to read (tables or lists inside each other); "
                        "a timeline is a table of settings with a list of waypoint tables") from None
    except (ValueError, tomllib.TOMLDecodeError) as e:
        if "int_max_str_digits" in str(e) or "integer string conversion" in str(e):
            raise UserError(f"the timeline {path} holds a number too long to read (more than 4300 digits); seeds are "
                            f"whole numbers from 0 to {MAX_SEED}") from None
        raise UserError(f"the timeline {path} is not valid {kind}: {' '.join(str(e).split())}") from e
    return parse_timeline(data, base=path.parent, where=f"the timeline {path}", timeline=str(path), **overrides)


def parse_timeline(data: object, *, base: Path = Path("."), where: str = "the timeline", **overrides) -> Timeline:
    """A :class:`Timeline` from a mapping: ``waypoints`` (a list of tables, each with exactly one of ``seed``,
    ``latent``, ``image``, and optionally the ``duration``, ``easing`` of the leg leaving it and the ``hold`` on
    it), ``loop``, and the defaults of :class:`VideoSettings` (``fps``, ``duration``, ``hold``, ``easing`` ...).
    Every leg needs a duration, on its waypoint or at the top."""
    _known_keys(data, TIMELINE_KEYS, where)
    if "waypoints" not in data:
        raise UserError(f"{where} has no waypoints; give a list of at least two, e.g. waypoints = [{{seed = 1}}, "
                        "{seed = 2}]")
    raw = data["waypoints"]
    if not isinstance(raw, list) or len(raw) < 2:
        raise UserError(f"waypoints in {where} must be a list of at least two tables, got {_short(raw)}")
    loop = as_bool(data.get("loop", False))  # the same words as a JOBS line
    if loop is None:
        raise UserError(f"loop in {where} must be true or false (or yes/no, 1/0), got {_short(data['loop'])}")
    points, legs = [], []
    for i, item in enumerate(raw):
        at = f"waypoint {i + 1} of {where}"
        _known_keys(item, WAYPOINT_KEYS, at)
        kinds = [k for k in WAYPOINT_KINDS if k in item]
        if len(kinds) != 1:
            raise UserError(f"{at} needs exactly one of seed, latent, image; got "
                            f"{', '.join(kinds) if kinds else 'none'}")
        kind = kinds[0]
        value = item[kind]
        if kind == "seed":
            if not (isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEED):
                raise UserError(f"the seed of {at} must be a whole number from 0 to {MAX_SEED}, got {value!r}")
        else:
            if not isinstance(value, str) or not value:
                raise UserError(f"the {kind} of {at} must be a file name, got {value!r}")
            value = str(base / value)
        points.append(Waypoint(kind, value))
        last_open = i == len(raw) - 1 and not loop
        if last_open and any(k in item for k in ("duration", "easing")):
            raise UserError(f"{at} is the last of an open path: no leg leaves it, so it takes no duration or "
                            "easing (only hold); remove them or set loop = true")
        legs.append(LegSpec.from_dict({k: item[k] for k in ("duration", "easing", "hold") if k in item}, where=at))
    top = {k: v for k, v in data.items() if k not in ("waypoints", "loop")}
    if top.get("audio") is not None and isinstance(top["audio"], str):
        top["audio"] = str(base / top["audio"])
    given = {k: v for k, v in overrides.items() if v is not None}
    if given:  # the command line's own values, named as options
        _check_video(_Draft(**{**{f.name: f.default for f in fields(VideoSettings)}, **given}), OPTIONS)
    top.update(given)
    video = VideoSettings.from_dict({**top, "legs": [leg.to_dict() for leg in legs]}, where=where)
    n_legs = len(points) if loop else len(points) - 1
    if video.audio is None and video.total is None:
        for i in range(n_legs):
            if legs[i].duration is None and video.duration is None:
                raise UserError(f"leg {i + 1} of {where} (leaving waypoint {i + 1}) has no duration; give duration "
                                f"(seconds) on waypoint {i + 1} or at the top, or a total")
    return Timeline(waypoints=tuple(points), loop=loop, video=video)
