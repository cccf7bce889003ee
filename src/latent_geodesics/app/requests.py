"""What a request to the explore page may ask for, checked before any work: the server's limits
(:class:`ExploreSettings`), a solve (:class:`SolveRequest`), the map's metric, and the names of files."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field

from .._check import UserError
from ..limits import DEFAULT_FPS
from ..metrics import metric_names
from ..paths import DEFAULT_CHUNK
from ..project import ProjectConfig
from ..settings import MetricSettings
from ..solvers import SubdivideConfig
from ..video.easing import easing_names

METHODS = ("linear", "slerp", "geodesic")
DEFAULT_METRIC = MetricSettings().metric
"""The metric of a solve or map that names none, and the page's first choice: the other commands' default."""
RUN_FILES = ("video.mp4", "path.npz", "report.json")
"""A finished solve's downloads."""
FRAME_FILE = re.compile(r"^(linear|slerp|geodesic(-[0-9]{1,2})?)\.png$")
"""The frame pictures of a run that a request may name (besides :data:`RUN_FILES`)."""
SAMPLE_ID = re.compile(r"^[sp][0-9]{1,20}$")
"""A sample's id: ``s<seed>`` or ``p<n>`` (a projected photo)."""
JOB_ID = re.compile(r"^(solve|project|map)-[0-9]{1,9}$")
SUFFIX = re.compile(r"^\.[a-z0-9]{1,8}$")
"""An uploaded file's suffix kept on its temporary copy (anything else is dropped)."""
_PLAIN_NAME = re.compile(r"^[^/\\\x00-\x1f]{1,120}$")
NONFINITE = ("the model or the metric gave NaN or inf for these samples; try another metric, less realism, "
             "or other samples")


def check_file_name(name: str) -> str:
    """An uploaded file's name is only a label: a plain name, no folder part, no ``..``, no control characters."""
    if not _PLAIN_NAME.match(name or "") or ".." in name:
        raise UserError("the file name must be a plain name (no folders, no '..', no control characters), "
                        "1 to 120 characters")
    return name


@dataclass(frozen=True)
class ExploreSettings:
    """What the server allows and how hard it works (none of it comes from a request).

    Attributes:
        grid: samples shown at start (seeds ``0 .. grid-1`` unless ``seeds`` are given).
        max_samples: most samples held (seeded and projected together).
        max_frames: most frames of a path a request may ask for.
        max_nodes: most solver nodes per leg (frames beyond are placed between them, as ``interpolate`` does).
        max_waypoints: most samples one path may pass through.
        map_samples: most samples the map solves all pairs of.
        map_nodes: nodes of each map path.
        time_limit: seconds a solve (or the map) may take before it keeps the best path so far.
        upload_bytes: largest photo accepted.
        metric_options: options of every metric built (VGG metrics get ``min_size`` 64 unless given, as in every
            command: :func:`~latent_geodesics.settings.metric_build_options`).
        projection: how dropped photos are projected.
        subdivide: the solver's settings.
        precision: the feature networks' arithmetic while solving (``--precision``; lengths shown are float32).
        chunk_size: points per generator call.
        fps: frame rate of the video.
    """

    grid: int = 12
    seeds: tuple[int, ...] = ()
    max_samples: int = 48
    max_frames: int = 65
    max_nodes: int = 9
    max_waypoints: int = 6
    map_samples: int = 16
    map_nodes: int = 5
    time_limit: float = 300.0
    upload_bytes: int = 8 << 20
    metric_options: tuple[tuple[str, object], ...] = ()
    projection: ProjectConfig = field(default_factory=ProjectConfig)
    subdivide: SubdivideConfig = field(default_factory=SubdivideConfig)
    precision: str = "auto"
    chunk_size: int | None = DEFAULT_CHUNK
    fps: float = DEFAULT_FPS


@dataclass(frozen=True)
class SolveRequest:
    """A path asked for by the page, checked (:meth:`Explorer.solve_request`)."""

    waypoints: tuple[str, ...]
    metric: str
    realism: float | None
    frames: int
    easing: str


def solve_request(body: object, settings: ExploreSettings, known: Collection[str], *, model_name: str,
                  has_discriminator: bool) -> SolveRequest:
    """Check what the page sent: ``{waypoints: [ids], metric, realism: null|lambda, frames, easing}``."""
    if not isinstance(body, dict):
        raise UserError("send a JSON object")
    s = settings
    ids = body.get("waypoints")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise UserError("waypoints must be a list of sample ids")
    if not 2 <= len(ids) <= s.max_waypoints:
        raise UserError(f"pick from 2 to {s.max_waypoints} samples (start, waypoints, end); got {len(ids)}")
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise UserError(f"unknown sample {unknown[0][:40]!r}; reload the page")
    if any(a == b for a, b in zip(ids, ids[1:])):
        raise UserError("two consecutive waypoints are the same sample; pick another")
    metric = body.get("metric", DEFAULT_METRIC)
    if not isinstance(metric, str) or metric not in metric_names():
        raise UserError(f"unknown metric; choose one of: {', '.join(metric_names())}")
    realism = body.get("realism")
    if realism is not None:
        if not has_discriminator:
            raise UserError(f"{model_name} has no discriminator: realism weighting is not available")
        if isinstance(realism, bool) or not isinstance(realism, (int, float)) or not 0 <= realism <= 10:
            raise UserError("realism must be a number from 0 to 10, or null for none")
        realism = float(realism)
    frames = body.get("frames", 17)
    if isinstance(frames, bool) or not isinstance(frames, int) or not 3 <= frames <= s.max_frames:
        raise UserError(f"frames must be a whole number from 3 to {s.max_frames}")
    easing = body.get("easing", "linear")
    if not isinstance(easing, str) or easing not in easing_names():
        raise UserError(f"easing must be one of: {', '.join(easing_names())}")
    return SolveRequest(tuple(ids), metric, realism, frames, easing)


def map_metric(body: object, samples: int) -> str:
    """The metric the page asks the map to be solved under (it needs at least three samples)."""
    if not isinstance(body, dict):
        raise UserError("send a JSON object")
    metric = body.get("metric", DEFAULT_METRIC)
    if not isinstance(metric, str) or metric not in metric_names():
        raise UserError(f"unknown metric; choose one of: {', '.join(metric_names())}")
    if samples < 3:
        raise UserError("the map needs at least three samples")
    return metric
