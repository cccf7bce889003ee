"""What ``compare`` does: its methods, its settings, and the endpoint pairs it joins.

A *method* is ``linear``, ``slerp``, ``retime`` (the straight line re-timed to constant speed under the
reference metric) or a metric name (``pixel``, ``vgg-eq``, ...) meaning the geodesic under that metric,
optionally ``NAME+realism`` (the metric weighted by the discriminator's realism; models with one).
:class:`CompareSettings` holds them with the frames, solver and metrics, and is recorded in ``report.json``;
:func:`latent_geodesics.compare.compare` runs it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from ._check import UserError
from .generators import Generator
from .jobs import InterpolateSettings
from .limits import DEFAULT_FPS, SHORT_FRAMES
from .metrics import EQ_SUFFIX, Metric, build_metric, metric_names
from .paths import DEFAULT_CHUNK
from .realism import DEFAULT_LAMBDA, FORMS, NO_DISCRIMINATOR_FORMS, realism_problem
from .settings import metric_build_options
from .solvers import SubdivideConfig, level_config
from .solvers.subdivide import LevelConfig

REALISM_SUFFIX = "+realism"
BASELINES = ("linear", "slerp", "retime")
PIXEL_METRICS = ("pixel", "pixel" + EQ_SUFFIX)

Kind = Literal["linear", "slerp", "retime", "geodesic"]


@dataclass(frozen=True)
class Method:
    """One parsed method name.

    Attributes:
        name: as given, e.g. ``"vgg-eq+realism"``.
        kind: ``linear``, ``slerp``, ``retime`` or ``geodesic``.
        metric: the geodesic's metric (``None`` for the baselines).
        realism: the metric is weighted by the discriminator's realism.
    """

    name: str
    kind: Kind
    metric: str | None = None
    realism: bool = False


def parse_methods(names: str | Sequence[str]) -> tuple[Method, ...]:
    """Parse ``"linear,slerp,vgg-eq+realism"`` (or a sequence of names) into :class:`Method` s.

    Raises:
        UserError: an empty list, an unknown name, ``+realism`` on a baseline, or a name given twice.
    """
    if isinstance(names, str):
        names = names.split(",")
    names = [n.strip() for n in names if n.strip()]
    if not names:
        raise UserError("no methods to compare; give e.g. --methods linear,slerp,pixel,vgg-eq")
    choices = (f"linear, slerp, retime, or a metric name ({', '.join(metric_names())}) for its geodesic, "
               f"optionally with {REALISM_SUFFIX}")
    methods, seen = [], set()
    for name in names:
        if name in seen:
            raise UserError(f"method {name!r} is listed twice")
        seen.add(name)
        realism = name.endswith(REALISM_SUFFIX)
        base = name[: -len(REALISM_SUFFIX)] if realism else name
        if base in BASELINES:
            if realism:
                raise UserError(f"method {name!r}: {REALISM_SUFFIX} applies to geodesics only "
                                f"(a metric name such as vgg-eq{REALISM_SUFFIX})")
            methods.append(Method(name, base))  # type: ignore[arg-type]
        elif base in metric_names():
            methods.append(Method(name, "geodesic", base, realism))
        else:
            raise UserError(f"unknown method {name!r}; choose from: {choices}")
    return tuple(methods)


def default_eval_metrics(methods: Sequence[Method]) -> tuple[str, ...]:
    """The geodesic methods' metrics, in order, plus ``pixel``."""
    return tuple(dict.fromkeys([m.metric for m in methods if m.metric is not None] + ["pixel"]))


def reference_metric(eval_metrics: Sequence[str]) -> str:
    """The first evaluation metric that is not a pixel metric, else the first one."""
    return next((m for m in eval_metrics if m not in PIXEL_METRICS), eval_metrics[0])


def pair_seeds(pairs: int, base: int = 0) -> list[tuple[int, int]]:
    """Seeds of the endpoint pairs: pair ``k`` (from 0) uses ``(base + 2k + 1, base + 2k + 2)``."""
    return [(base + 2 * k + 1, base + 2 * k + 2) for k in range(pairs)]


def seeded_endpoints(generator: Generator, seeds: Sequence[tuple[int, int]]) -> tuple[Tensor, Tensor]:
    """``z0, z1``: ``(B, *latent_shape)`` each, one latent per seed drawn from the generator's prior."""
    z0 = torch.cat([generator.sample_latents(1, seed=a) for a, _ in seeds])
    z1 = torch.cat([generator.sample_latents(1, seed=b) for _, b in seeds])
    return z0, z1


@dataclass(frozen=True)
class CompareSettings:
    """What :func:`compare` does (all recorded in ``report.json``).

    Attributes:
        methods: method names (see :func:`parse_methods`).
        frames: frames per path, endpoints included.
        solver: ``subdivide`` or ``optimize``, for every geodesic method.
        optimize: settings of ``optimize``.
        subdivide: settings of ``subdivide`` (its ``level`` is the optimiser of each level).
        metric_options: ``build_metric`` options for every metric that is not a pixel metric,
            e.g. ``{"min_size": 64}``.
        eval_metrics: metrics every path is measured with (empty: :func:`default_eval_metrics`).
        realism: ``lambda`` of the ``+realism`` methods.
        realism_form: one of :data:`latent_geodesics.realism.FORMS` (see :mod:`latent_geodesics.realism`).
        chunk_size: points per generator + metric call.
        fps: video frame rate.
        precision: the feature networks' arithmetic while solving (:attr:`InterpolateSettings.precision`).
    """

    methods: tuple[str, ...] = ("linear", "slerp", "pixel", "vgg-eq")
    frames: int = SHORT_FRAMES
    solver: str = "subdivide"
    optimize: LevelConfig = field(default_factory=level_config)
    subdivide: SubdivideConfig = field(default_factory=SubdivideConfig)
    metric_options: Mapping[str, object] = field(default_factory=dict)
    eval_metrics: tuple[str, ...] = ()
    realism: float = DEFAULT_LAMBDA
    realism_form: str = "conformal"
    chunk_size: int | None = DEFAULT_CHUNK
    fps: float = DEFAULT_FPS
    precision: str = "auto"

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", tuple(m.name for m in parse_methods(self.methods)))
        if self.solver not in ("subdivide", "optimize"):
            raise UserError(f"unknown solver {self.solver!r} for compare; choose subdivide or optimize "
                            "(linear and slerp are methods)")
        if self.frames < 2:
            raise UserError(f"--frames must be at least 2, got {self.frames}")
        unknown = [m for m in self.eval_metrics if m not in metric_names()]
        if unknown:
            raise UserError(f"unknown evaluation metric {unknown[0]!r}; choose from: {', '.join(metric_names())}")
        if not (self.realism >= 0 and math.isfinite(self.realism)):
            raise UserError(f"--realism must be a finite number >= 0, got {self.realism}")
        if self.realism_form not in FORMS:
            raise UserError(f"unknown realism form {self.realism_form!r}; choose one of: {', '.join(FORMS)}")

    @property
    def parsed_methods(self) -> tuple[Method, ...]:
        return parse_methods(self.methods)

    @property
    def evaluation_metrics(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.eval_metrics)) or default_eval_metrics(self.parsed_methods)

    def method_settings(self, method: Method) -> InterpolateSettings:
        """The :class:`InterpolateSettings` that solve one method."""
        solver = self.solver if method.kind == "geodesic" else "linear" if method.kind == "retime" else method.kind
        return InterpolateSettings(solver=solver, frames=self.frames, optimize=self.optimize,
                                   subdivide=self.subdivide, retime=method.kind == "retime",
                                   chunk_size=self.chunk_size, fps=self.fps, precision=self.precision)

    def method_units(self, method: Method) -> int:
        """Progress units of one method: its solver's most steps (1 for a retime), plus 1 for its evaluation."""
        solving = self.method_settings(method).progress_total() if method.kind == "geodesic" else \
            1 if method.kind == "retime" else 0
        return solving + 1

    def progress_total(self) -> int:
        """Units of a progress bar over the whole job: every method's, plus 1 for writing the files."""
        return sum(self.method_units(m) for m in self.parsed_methods) + 1

    def to_dict(self) -> dict:
        return {"methods": list(self.methods), "frames": self.frames, "solver": self.solver,
                "optimize": self.optimize.to_dict() if self.solver == "optimize" else None,
                "subdivide": self.subdivide.to_dict() if self.solver == "subdivide" else None,
                "metric_options": dict(self.metric_options), "eval_metrics": list(self.evaluation_metrics),
                "realism": self.realism, "realism_form": self.realism_form, "chunk_size": self.chunk_size,
                "fps": self.fps, "precision": self.precision}


def build_metrics(names: Sequence[str], options: Mapping[str, object], device: torch.device) -> dict[str, Metric]:
    """Metrics by name; ``options`` go to every metric that is not a pixel metric (VGG metrics at
    :data:`~latent_geodesics.settings.VGG_MIN_SIZE` px unless they give ``min_size``).

    Raises:
        UserError: an unknown name, or an option a metric does not take.
    """
    return {name: build_metric(name, device=device, **opts) for name, opts in metrics_options(names, options).items()}


def metrics_options(names: Sequence[str], options: Mapping[str, object]) -> dict[str, dict]:
    """The build options of each metric :func:`build_metrics` builds, by name (recorded in ``paths.npz``)."""
    return {name: {} if name in PIXEL_METRICS else metric_build_options(name, options) for name in dict.fromkeys(names)}


def check_methods(generator: Generator, settings: CompareSettings) -> None:
    """Refuse what the model cannot do before any work: ``+realism`` without a discriminator (or, with
    ``realism_form`` ``knn``, without real pictures)."""
    wanting = [m.name for m in settings.parsed_methods if m.realism]
    why = realism_problem(settings.realism_form, generator) if wanting else None
    if why is not None:
        form = f" with --realism-form {settings.realism_form}" if settings.realism_form in NO_DISCRIMINATOR_FORMS \
            else ""
        raise UserError(f"method {wanting[0]!r}{form} {why}")
