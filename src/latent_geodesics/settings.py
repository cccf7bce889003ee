"""One settings model for ``interpolate``, ``compare`` and ``batch``: a tree of frozen dataclasses.

::

    Settings
      model      ModelSettings     which generator, its prior, discriminator and condition (or classes)
      endpoints  EndpointSettings  seeds, latent files, pictures (and how they are projected), loop
      metric     MetricSettings    the metric, its options, the discriminator's realism weighting
      solver     SolverSettings    solver, optimiser, stopping rule, nodes, time limit, re-timing
      render     RenderSettings    frames and frame rate of the outputs

Each leaf field has one *flat name* (:data:`FIELDS`): the ``interpolate`` option without its dashes
(``--time-limit`` -> ``time_limit``, ``--class`` -> ``class``), which is also the key a JOBS line uses to
override it. The command-line options build a :class:`Settings`; ``report.json`` records
:meth:`Settings.to_dict`; a JOBS line is :meth:`Settings.with_fields` of the command's settings. Every check of a
value lives here, in the dataclasses' ``__post_init__``, so a value is accepted or refused the same way
wherever it comes from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace

from ._check import UserError
from .generators import DEFAULT_MODEL
from .jobs import InterpolateSettings
from .limits import (DEFAULT_FPS, DEFAULT_FRAMES, MAX_CHUNK, MAX_FRAMES, MAX_LATENT_VALUES, MAX_PROJECTION_STEPS,
                     MAX_SEED, MAX_STARTS, MAX_STEPS, SPACES)
from .metrics import PRECISIONS, metric_names
from .networks import MAX_SIZE, VGG_MIN_SIZE  # the one default min_size of the VGG metrics
from .paths import DEFAULT_CHUNK, INITS
from .realism import FORMS
from .rendering import MAX_FPS, MIN_FPS
from .solvers import (COARSE_FTOL, DEFAULT_FTOL, DEFAULT_GTOL, DEFAULT_RTOL, OPTIMIZERS, SOLVERS, SubdivideConfig,
                      level_config)

PRIORS = ("gaussian", "sphere")
VARIANTS = ("joint", "local")
PRECONDITIONERS = ("kronecker", "laplacian", "none")


def metric_build_options(metric: str, options: Mapping[str, object]) -> dict:
    """The options ``metric`` is built with: ``options``, for the VGG metrics ``min_size`` :data:`VGG_MIN_SIZE` and for
    every metric ``max_size`` :data:`~latent_geodesics.networks.MAX_SIZE` unless they give them (every command's rule;
    recorded in reports)."""
    sizes = {"min_size": VGG_MIN_SIZE} if metric.startswith("vgg") else {}
    return {**sizes, "max_size": MAX_SIZE, **options}


def _choice(value: object, name: str, choices) -> None:
    if value not in choices:
        raise UserError(f"unknown {name} {value!r}; choose one of: {', '.join(choices)}")


def _number(value: object, name: str, *, lo: float = 0.0, open_lo: bool = False, hi: float = math.inf) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) \
        and (value > lo if open_lo else value >= lo) and value <= hi
    if not ok:
        bound = f"above {lo:g}" if open_lo else f"at least {lo:g}"
        raise UserError(f"{name} must be a finite number {bound}{'' if hi == math.inf else f' and at most {hi:g}'}, "
                        f"got {value!r}")


def _whole(value: object, name: str, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise UserError(f"{name} must be a whole number from {lo} to {hi}, got {value!r}")


@dataclass(frozen=True)
class ModelSettings:
    """Which generator, and what is given to it.

    Attributes:
        model: ``zoo:NAME``, a TorchScript ``.pt`` file, or ``package.module:factory``.
        latent_shape: shape of one latent when the model does not say.
        prior: ``gaussian`` or ``sphere`` (``None``: the model's).
        shell: keep gaussian latents within this many std of the typical-set radius.
        discriminator: a realism critic replacing the model's own (a ``.pt`` file or ``module:factory``).
        condition: a ``.npy`` file given to a conditional model with every latent.
        classes: class names of a conditional zoo model: one for the whole path, or one per waypoint (a
            path that changes class too); for a conditional StyleGAN-class model, class numbers ``0 .. c_dim - 1``.
        space: where paths live on a StyleGAN-class model: ``z``, ``w`` or ``w+`` (``None``: ``w``).
        truncation: ``psi`` of a StyleGAN-class model (``None``: 1, none); ``w_avg + psi (w - w_avg)``.
        truncation_cutoff: truncate only the first this many layers (``None``: all).
    """

    model: str = f"zoo:{DEFAULT_MODEL}"
    latent_shape: tuple[int, ...] | None = None
    prior: str | None = None
    shell: float | None = None
    discriminator: str | None = None
    condition: str | None = None
    classes: tuple[str, ...] = ()
    space: str | None = None
    truncation: float | None = None
    truncation_cutoff: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise UserError("the model name is empty; give zoo:NAME (see latent-geodesics models), a TorchScript "
                            ".pt file or package.module:factory")
        if self.prior is not None:
            _choice(self.prior, "prior", PRIORS)
        if self.shell is not None:
            _number(self.shell, "--shell", open_lo=True)
        if self.latent_shape is not None and (not self.latent_shape or any(
                isinstance(s, bool) or not isinstance(s, int) or s < 1 for s in self.latent_shape)):
            raise UserError(f"--latent-shape must be positive sizes like 128 or 4,8,8, got {self.latent_shape!r}")
        if self.latent_shape is not None and math.prod(self.latent_shape) > MAX_LATENT_VALUES:
            raise UserError(f"--latent-shape {self.latent_shape} makes latents of {math.prod(self.latent_shape)} "
                            f"numbers; at most {MAX_LATENT_VALUES} are accepted")
        if self.classes and self.condition is not None:
            raise UserError("give --class or --condition, not both")
        if self.space is not None:
            _choice(self.space, "--space", SPACES)
        if self.truncation is not None:
            _number(self.truncation, "--truncation", lo=-1, hi=2)
        if self.truncation_cutoff is not None:
            _whole(self.truncation_cutoff, "--truncation-cutoff", 1, 10**4)

    def style_options(self) -> dict:
        """What :func:`~latent_geodesics.generators.load_generator` takes for a StyleGAN-class model (the class
        separately, as it may change along a path)."""
        return {"space": self.space, "truncation": self.truncation, "truncation_cutoff": self.truncation_cutoff}

    def to_dict(self) -> dict:
        return {"model": self.model, "latent_shape": list(self.latent_shape) if self.latent_shape else None,
                "prior": self.prior, "shell": self.shell, "discriminator": self.discriminator,
                "condition": self.condition, "classes": list(self.classes), "space": self.space,
                "truncation": self.truncation, "truncation_cutoff": self.truncation_cutoff}


@dataclass(frozen=True)
class EndpointSettings:
    """Where paths start and end: one of seeds, latent files (a waypoint per row), pictures, or ``z0``/``z1``.

    Two seeds, files or pictures make one path; more make waypoints (legs joined into one path), and
    ``loop`` adds a leg back to the first. ``z0``/``z1`` hold one latent or a batch (one path per row).
    Pictures are projected into the latent space first (``starts`` random starts, ``projection_steps`` Adam steps,
    ``pixel_weight`` of the pixel loss beside LPIPS). File names are as given (relative to the working folder,
    or to the JOBS file for a JOBS line).
    """

    seeds: tuple[int, ...] = ()
    z_files: tuple[str, ...] = ()
    images: tuple[str, ...] = ()
    z0: str | None = None
    z1: str | None = None
    loop: bool = False
    starts: int = 4
    projection_steps: int = 200
    pixel_weight: float = 1.0

    def __post_init__(self) -> None:
        for s in self.seeds:
            _whole(s, "a seed", 0, MAX_SEED)
        _whole(self.starts, "--starts", 1, MAX_STARTS)
        _whole(self.projection_steps, "--projection-steps", 0, MAX_PROJECTION_STEPS)
        _number(self.pixel_weight, "--pixel-weight")

    def given(self) -> bool:
        return bool(self.seeds or self.z_files or self.images or self.z0 is not None or self.z1 is not None)

    def check(self) -> None:
        """Refuse endpoints given in no way, in two ways, or too few (a job needs them; defaults may lack them)."""
        ways = sum(bool(x) for x in (self.seeds, self.z_files, self.images, self.z0 is not None or self.z1 is not None))
        if ways != 1:
            raise UserError("give endpoints one way: --seed (twice or more), --z (two or more rows in all), "
                            "--image (twice or more), or --z0 with --z1")
        if (self.z0 is None) != (self.z1 is None):
            raise UserError("give both --z0 and --z1, or neither")
        for name, values in (("--seed", self.seeds), ("--image", self.images)):
            if values and len(values) < 2:
                raise UserError(f"give at least two {name} values (start and end), got {len(values)}")
        if self.loop and not (self.seeds or self.z_files or self.images):
            raise UserError("--loop needs waypoints given with --seed, --z or --image")

    def projection(self) -> dict:
        """The :class:`~latent_geodesics.project.ProjectConfig` fields these settings choose."""
        return {"starts": self.starts, "steps": self.projection_steps, "pixel_weight": self.pixel_weight}

    def to_dict(self) -> dict:
        return {"seeds": list(self.seeds), "z_files": list(self.z_files), "images": list(self.images),
                "z0": self.z0, "z1": self.z1, "loop": self.loop,
                "projection": self.projection() if self.images else None}


@dataclass(frozen=True)
class MetricSettings:
    """How image distances are measured.

    Attributes:
        metric: a metric name (``latent-geodesics metrics``).
        options: ``build_metric`` options as sorted ``(key, value)`` pairs; VGG metrics get
            ``min_size`` :data:`VGG_MIN_SIZE` unless given (see :meth:`build_options`).
        realism: weight the metric by realism with this strength (``None``: not).
        realism_form: one of :data:`latent_geodesics.realism.FORMS`: ``conformal``, ``published`` and ``hinge``
            use the model's discriminator, ``knn`` real pictures of its domain.
    """

    metric: str = "vgg-eq"
    options: tuple[tuple[str, object], ...] = ()
    realism: float | None = None
    realism_form: str = "conformal"

    def __post_init__(self) -> None:
        _choice(self.metric, "metric", metric_names())
        object.__setattr__(self, "options", tuple(sorted(dict(self.options).items())))
        if self.realism is not None:
            _number(self.realism, "--realism")
        _choice(self.realism_form, "realism form", FORMS)

    def build_options(self) -> dict:
        """The options the metric is built with."""
        return metric_build_options(self.metric, dict(self.options))

    def to_dict(self) -> dict:
        return {"metric": self.metric, "options": self.build_options(), "realism": self.realism,
                "realism_form": self.realism_form}


@dataclass(frozen=True)
class SolverSettings:
    """How a path is found (see ``latent-geodesics interpolate --help`` for each field's meaning).

    ``ftol=None`` stops on the energy rule (``rtol``, ``gtol``); ``coarse_ftol=0`` stops the subdivision levels
    before the last on the energy rule (:class:`~latent_geodesics.solvers.SubdivideConfig`); ``steps=None`` is the
    optimiser's default budget; ``nodes=None`` solves at most :data:`~latent_geodesics.jobs.AUTO_NODES` points per
    path.
    """

    solver: str = "subdivide"
    variant: str = "joint"
    optimizer: str = "lbfgs-pair"
    precondition: str = "kronecker"
    steps: int | None = None
    rtol: float = DEFAULT_RTOL
    gtol: float = DEFAULT_GTOL
    ftol: float | None = DEFAULT_FTOL
    coarse_ftol: float = COARSE_FTOL
    lr: float | None = None
    init: str = "linear"
    nodes: int | None = None
    time_limit: float | None = None
    retime: bool = False
    chunk_size: int | None = DEFAULT_CHUNK
    precision: str = "auto"

    def __post_init__(self) -> None:
        _choice(self.solver, "solver", SOLVERS)
        _choice(self.precision, "precision", PRECISIONS)
        _choice(self.variant, "subdivision variant", VARIANTS)
        _choice(self.optimizer, "optimizer", OPTIMIZERS)
        _choice(self.precondition, "preconditioner", PRECONDITIONERS)
        _choice(self.init, "initial path", INITS)
        if self.steps is not None:
            _whole(self.steps, "--steps", 0, MAX_STEPS)
        for name in ("rtol", "gtol"):
            _number(getattr(self, name), f"--{name}")
        if self.ftol is not None:
            _number(self.ftol, "--ftol", open_lo=True)
        _number(self.coarse_ftol, "--coarse-ftol")
        if self.lr is not None:
            _number(self.lr, "--lr", open_lo=True)
        if self.nodes is not None:
            _whole(self.nodes, "--nodes", 2, MAX_FRAMES)
        if self.time_limit is not None:
            _number(self.time_limit, "--time-limit", open_lo=True)
        if self.chunk_size is not None:
            _whole(self.chunk_size, "--chunk-size", 1, MAX_CHUNK)

    def level(self):
        """The optimiser of ``optimize`` and of each ``subdivide`` level."""
        return level_config(self.optimizer, max_steps=self.steps, lr=self.lr, rtol=self.rtol, gtol=self.gtol,
                            ftol=self.ftol, precondition=self.precondition)

    def subdivide_config(self) -> SubdivideConfig:
        """The ``subdivide`` solver's settings (its levels: :meth:`level`)."""
        return SubdivideConfig(variant=self.variant, level=self.level(), coarse_ftol=self.coarse_ftol or None)

    def interpolate_settings(self, frames: int, fps: float) -> InterpolateSettings:
        return InterpolateSettings(solver=self.solver, frames=frames, nodes=self.nodes, time_limit=self.time_limit,
                                   init=self.init, chunk_size=self.chunk_size, fps=fps, retime=self.retime,
                                   optimize=self.level(), subdivide=self.subdivide_config(), precision=self.precision)


@dataclass(frozen=True)
class RenderSettings:
    """What the outputs look like: ``frames`` per path (per leg with waypoints), endpoints included, and the
    video's frame rate."""

    frames: int = DEFAULT_FRAMES
    fps: float = DEFAULT_FPS

    def __post_init__(self) -> None:
        _whole(self.frames, "--frames", 2, MAX_FRAMES)
        _number(self.fps, "--fps", lo=MIN_FPS, hi=MAX_FPS)

    def to_dict(self) -> dict:
        return {"frames": self.frames, "fps": self.fps}


@dataclass(frozen=True)
class Settings:
    """Everything one ``interpolate`` run (or one JOBS line) does; hashable."""

    model: ModelSettings = field(default_factory=ModelSettings)
    endpoints: EndpointSettings = field(default_factory=EndpointSettings)
    metric: MetricSettings = field(default_factory=MetricSettings)
    solver: SolverSettings = field(default_factory=SolverSettings)
    render: RenderSettings = field(default_factory=RenderSettings)

    def interpolate_settings(self) -> InterpolateSettings:
        """The solver and output settings as :func:`latent_geodesics.jobs.solve` takes them."""
        return self.solver.interpolate_settings(self.render.frames, self.render.fps)

    def with_fields(self, values: Mapping[str, object]) -> "Settings":
        """These settings with some leaf fields replaced, by flat name (:data:`FIELDS`).

        Raises:
            UserError: an unknown name, or a value its dataclass refuses.
        """
        by_section: dict[str, dict] = {}
        for name, value in values.items():
            if name not in FIELDS:
                raise UserError(f"unknown setting {name!r}; use {', '.join(FIELDS)}")
            section, attr = FIELDS[name]
            by_section.setdefault(section, {})[attr] = value
        return replace(self, **{s: replace(getattr(self, s), **v) for s, v in by_section.items()})

    def flat(self) -> dict:
        """Every leaf field by flat name: plain JSON values (what a manifest record keeps)."""
        out = {}
        for name, (section, attr) in FIELDS.items():
            value = getattr(getattr(self, section), attr)
            out[name] = dict(value) if name == "metric_options" else list(value) if isinstance(value, tuple) \
                else value
        return out

    def without_endpoints(self) -> "Settings":
        """The same settings with no endpoints: what lines solved together must share."""
        return replace(self, endpoints=EndpointSettings())

    def to_dict(self) -> dict:
        """The tree as ``report.json`` records it."""
        solver = self.interpolate_settings().to_dict()
        solver.update(variant=self.solver.variant, optimizer=self.solver.optimizer)
        return {"model": self.model.to_dict(), "endpoints": self.endpoints.to_dict(),
                "metric": self.metric.to_dict(), "solver": solver, "render": self.render.to_dict()}


FIELDS: dict[str, tuple[str, str]] = {}
"""Flat name -> (section of :class:`Settings`, field): every leaf setting, named as its ``interpolate`` option
(without dashes) and as a JOBS line key."""
_RENAMED = {("model", "classes"): "class", ("endpoints", "z_files"): "z", ("metric", "options"): "metric_options"}
for _section in fields(Settings):
    for _f in fields(_section.type if isinstance(_section.type, type) else globals()[_section.type]):
        FIELDS[_RENAMED.get((_section.name, _f.name), _f.name)] = (_section.name, _f.name)

