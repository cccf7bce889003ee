"""The Python API for notebooks and scripts: one call per path, and results that show themselves.

>>> import latent_geodesics as lg
>>> p = lg.geodesic("zoo:mnist28", 1, 2, metric="pixel", frames=5)
>>> p.length, p.converged  # doctest: +SKIP

:func:`geodesic`, :func:`linear` and :func:`slerp` take a model as it is in memory (an ``nn.Module`` or callable with
a latent shape, a :class:`~latent_geodesics.generators.Generator`) or any ``--model`` string, and endpoints as
tensors, arrays, seeds, ``.npy`` latent files or pictures (projected first). Their settings are the ``interpolate``
command's, by the same names (:data:`~latent_geodesics.settings.FIELDS`) and with the same defaults: the path is
the one ``latent-geodesics interpolate`` finds with those settings. Nothing is written unless asked
(:meth:`Path.save`, :meth:`Path.video`), and what is written is written whole or not at all.
"""

from __future__ import annotations

import html
import os
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path as _FsPath

import numpy as np
import torch
from torch import Tensor

from ._check import UserError, atomic_path, check_latents, check_output_dir
from .generators import Generator, load_generator
from .jobs import check_finite, load_latent_file, solve
from .metrics import Metric, build_metric
from .pathfile import PathFile
from .realism import RealismWeighted
from .paths import PathStats, baseline_path, check_endpoints, images_of, path_stats
from .rendering import to_uint8
from .report.notebook import img_tag, png_bytes, speed_svg, strip_picture
from .settings import FIELDS, ModelSettings, Settings
from .workflows.interpolate import check_realism, load_model, path_metric, project_pictures, threshold_images

__all__ = ["Comparison", "Path", "compare", "geodesic", "linear", "slerp"]

PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
"""File endings taken as pictures (projected into the latent space); other files are latent files (``.npy``)."""
LATENT_SUFFIXES = (".npy",)
VIDEO_OPTIONS = ("fps", "duration", "total", "easing", "hold", "scale", "scale_filter", "audio", "envelope")
"""The :class:`~latent_geodesics.video.VideoSettings` fields :meth:`Path.video` takes."""
SHOWN_FRAMES = 11
"""At most this many frames (evenly spaced, ends included) in a path's picture in a notebook."""
SHOWN_HEIGHT = 96
"""Pixels of height of each frame in that picture."""
_GIVEN_POSITIONALLY = {"model": "the first argument", "seeds": "a and b", "z": "a and b", "images": "a and b",
                       "z0": "a and b", "z1": "a and b", "loop": "the CLI's --loop"}

Endpoint = "Tensor | np.ndarray | int | str | os.PathLike"


def _settings(model: object, given: Mapping[str, object]) -> Settings:
    """The ``interpolate`` settings tree with the fields the caller named (flat names, :data:`FIELDS`) replaced."""
    values = {}
    for name, value in given.items():
        if name in _GIVEN_POSITIONALLY:
            raise UserError(f"{name}= is not a setting of this call: give it as {_GIVEN_POSITIONALLY[name]}")
        if name not in FIELDS:
            known = ", ".join(k for k in FIELDS if k not in _GIVEN_POSITIONALLY)
            raise UserError(f"unknown setting {name!r}; the settings are interpolate's: {known}")
        if name == "metric_options" and isinstance(value, Mapping):
            value = tuple(value.items())
        elif name in ("class", "latent_shape") and isinstance(value, (int, str)):
            value = (value,)
        values[name] = tuple(value) if isinstance(value, list) else value
    if isinstance(model, str):
        values["model"] = model
    return Settings().with_fields(values)


def _load(model: object, settings: ModelSettings, device: str | torch.device) -> Generator:
    """A ``--model`` string through the CLI's loader; an object in memory as :func:`load_generator` takes it."""
    if isinstance(model, str):
        return load_model(settings, device=device)
    if settings.classes or settings.condition is not None:
        raise UserError("class= and condition= name a zoo model's class or a condition file; for a model in memory, "
                        "give it its condition yourself (a Generator with condition=...)")
    return load_generator(model, device=device, latent_shape=settings.latent_shape, prior=settings.prior,
                          shell=settings.shell, discriminator=settings.discriminator, **settings.style_options())


def _model_name(model: object, generator: Generator) -> str:
    return model if isinstance(model, str) else generator.name


def _is_file(x: object) -> bool:
    return isinstance(x, (str, os.PathLike))


def _endpoints(generator: Generator, a: object, b: object, settings: Settings, name: str) -> tuple[Tensor, Tensor]:
    """``z0, z1`` ``(1, *latent_shape)`` from seeds, tensors, arrays, latent files or pictures (projected together)."""
    pictures = [x for x in (a, b) if _is_file(x) and str(x).lower().endswith(PICTURE_SUFFIXES)]
    projected = iter(project_pictures(generator, tuple(str(p) for p in pictures), settings.endpoints.projection(),
                                      model=name).latents) if pictures else iter(())
    out = []
    for which, x in (("start", a), ("end", b)):
        if isinstance(x, bool):
            raise UserError(f"the {which} point is {x!r}; give a seed (a whole number), a latent or a file")
        if isinstance(x, (int, np.integer)):
            z = generator.sample_latents(1, seed=int(x))
        elif _is_file(x) and str(x).lower().endswith(PICTURE_SUFFIXES):
            z = next(projected)[None]
        elif _is_file(x):
            if not str(x).lower().endswith(LATENT_SUFFIXES):
                raise UserError(f"the {which} point {str(x)!r} is neither a latent file (.npy) nor a picture "
                                f"({', '.join(PICTURE_SUFFIXES)}); give one of those, a seed or a tensor")
            z = load_latent_file(x, generator)
        elif isinstance(x, (Tensor, np.ndarray)):
            z = check_latents(x, generator.latent_shape, what=f"{which} latent")
        else:
            raise UserError(f"the {which} point is a {type(x).__name__}; give a seed (int), a tensor or array of "
                            f"shape {generator.latent_shape}, a .npy latent file or a picture")
        if z.shape[0] != 1:
            raise UserError(f"the {which} point holds {z.shape[0]} latents; give one (for many paths at once use "
                            "`latent-geodesics batch`, or call this once per pair)")
        out.append(z.to(generator.device))
    return out[0], out[1]


@contextmanager
def _python_names() -> Iterator[None]:
    """Errors name settings as this API takes them (``frames=``), not as the command line does (``--frames``)."""
    try:
        yield
    except UserError as e:
        def named(m: re.Match) -> str:
            name = m.group(1).replace("-", "_")
            return f"{name}=" if name in FIELDS or name == "latent_shape" else m.group(0)

        text = re.sub(r"--([a-z][a-z0-9-]*)(?: (?=\d))?", named, str(e))
        if text == str(e):
            raise
        raise UserError(text) from e


def _progress(enabled: bool, total: int, desc: str):
    if not enabled or total <= 0:
        return nullcontext()
    from .cli.output import progress_bar  # tqdm.auto: a widget in Jupyter where ipywidgets is installed

    return progress_bar(total, desc, quiet=False, budget=True)


def geodesic(model: object, a: object, b: object, *, metric: str | None = None, frames: int | None = None,
             realism: float | None = None, device: str | torch.device = "auto", progress: bool = True,
             **settings: object) -> "Path":
    """The perceptually shortest path from ``a`` to ``b``: what ``latent-geodesics interpolate`` finds with the same
    settings.

    Args:
        model: ``"zoo:NAME"``, a TorchScript ``.pt`` file, ``"package.module:factory"``, a StyleGAN ``.pkl``, or in
            memory an ``nn.Module``/callable ``(B, *latent_shape) -> (B, C, H, W)`` in ``[-1, 1]`` that has a
            ``latent_shape`` (or give ``latent_shape=``), or a :class:`~latent_geodesics.generators.Generator`.
        a: the start, a seed (``int``), a latent (tensor or array of the model's latent shape, or with a leading
            1), a ``.npy`` latent file, or a picture file (projected into the latent space first).
        b: the end, as ``a``.
        metric: the image metric (``latent-geodesics metrics``; default ``vgg-eq``).
        frames: frames of the path, endpoints included (default 33).
        realism: weight the metric by the model's discriminator with this strength (``realism_form=`` too).
        device: where the model and metric run (``"auto"``: CUDA when available).
        progress: show a progress bar (in Jupyter, tqdm's notebook bar where ipywidgets is installed).
        **settings: any other ``interpolate`` setting by its flat name: ``solver``, ``steps``, ``time_limit``,
            ``nodes``, ``precision``, ``metric_options`` (a dict), ``discriminator``, ``latent_shape``, ``prior``,
            ``space``, ``truncation``, ... (:data:`latent_geodesics.settings.FIELDS`).

    Returns:
        A :class:`Path`; it shows itself in a notebook.

    Raises:
        UserError: an unknown setting or a bad value, endpoints of the wrong shape or non-finite, a model that does
            not give images in ``[-1, 1]``; each with one line saying what to change. ``KeyboardInterrupt`` (a
            notebook's stop button) stops the solve and closes its bar; nothing has been written.
    """
    started = time.perf_counter()
    given = {k: v for k, v in (("metric", metric), ("frames", frames), ("realism", realism)) if v is not None}
    with _python_names():
        tree = _settings(model, {**given, **settings})
        generator = _load(model, tree.model, device)
        return _solve(generator, _model_name(model, generator), tree, a, b, progress=progress, started=started)


def linear(model: object, a: object, b: object, **settings: object) -> "Path":
    """The straight line from ``a`` to ``b`` in latent space, measured under ``metric`` (same arguments as
    :func:`geodesic`)."""
    return geodesic(model, a, b, solver="linear", **settings)


def slerp(model: object, a: object, b: object, **settings: object) -> "Path":
    """Spherical interpolation from ``a`` to ``b`` (same arguments as :func:`geodesic`)."""
    return geodesic(model, a, b, solver="slerp", **settings)


def _metric(tree: Settings, generator: Generator, z0: Tensor, z1: Tensor) -> Metric:
    """The path's metric as ``interpolate`` builds it (the hinge forms' threshold from these endpoints)."""
    return path_metric(tree.metric, generator, endpoint_images=threshold_images(tree.metric, generator, z0, z1))


def _solve(generator: Generator, name: str, tree: Settings, a: object, b: object, *, progress: bool,
           started: float, metric: Metric | None = None, ends: tuple[Tensor, Tensor] | None = None) -> "Path":
    if ends is None:
        check_realism(tree.metric, generator)  # before the endpoints: a projection can take minutes
        ends = _endpoints(generator, a, b, tree, name)
    z0, z1 = check_endpoints(generator, *ends)
    metric = metric if metric is not None else _metric(tree, generator, z0, z1)
    run = tree.interpolate_settings()
    deadline = None if run.time_limit is None else started + run.time_limit
    with _progress(progress, run.progress_total(), f"{run.solver} {name}") as bar:
        solved = solve(generator, metric, z0, z1, run, progress=bar, deadline=deadline)
    check_finite(solved, z0, z1)
    result = solved.result
    return Path(latents=solved.points[0].detach().cpu(), generator=generator, metric=metric, settings=tree,
                model_name=name, stats=_one(solved.stats), start_stats=_one(solved.start_stats),
                converged=None if result is None else bool(result.converged[0]),
                steps=None if result is None else int(result.steps[0]),
                notes=list(solved.notes), precision=solved.precision)


def _one(stats: PathStats) -> PathStats:
    return PathStats.of(stats.d_sq[:1].cpu())


@dataclass(frozen=True)
class Measure:
    """A path measured under one metric: ``length`` and ``energy`` (``N * sum d_i^2``) in the metric's units, and
    ``step_distances`` ``(N,)`` between consecutive frames."""

    metric: str
    length: float
    energy: float
    step_distances: np.ndarray

    @classmethod
    def of(cls, metric: str, stats: PathStats) -> "Measure":
        return cls(metric, float(stats.length[0]), float(stats.energy[0]), stats.d_sq[0].clamp_min(0).sqrt().numpy())


@dataclass(eq=False)
class Path:
    """One path in a model's latent space, with what it was solved under; made by :func:`geodesic`, :func:`linear`,
    :func:`slerp` or :func:`compare`.

    Attributes:
        latents: ``(N+1, *latent_shape)`` float32 on the CPU, endpoints included.
        generator: the model the path lives in (on its device).
        metric: the metric it was solved and is measured under.
        settings: the ``interpolate`` settings tree it was solved with.
        model_name: the model as given (a ``--model`` string, or the in-memory model's class name).
        stats: its squared step distances, length and energy under ``metric`` (a batch of one).
        start_stats: the same of the solver's start path (the straight line by default).
        converged: whether the solver met its convergence rule (``None``: ``linear``/``slerp``, nothing to solve).
        steps: the solver's optimiser steps (``None`` where nothing was solved).
        notes: what the solver approximated or cut short (e.g. the time limit).
    """

    latents: Tensor
    generator: Generator
    metric: Metric
    settings: Settings
    model_name: str
    stats: PathStats
    start_stats: PathStats
    converged: bool | None = None
    steps: int | None = None
    notes: list[str] = field(default_factory=list)
    precision: str = "float32"

    @property
    def method(self) -> str:
        """``geodesic`` (an optimising solver), ``linear`` or ``slerp``."""
        return self.settings.solver.solver if self.settings.solver.solver in ("linear", "slerp") else "geodesic"

    @property
    def length(self) -> float:
        """Length under :attr:`metric` (the sum of the step distances)."""
        return float(self.stats.length[0])

    @property
    def energy(self) -> float:
        """Energy under :attr:`metric`: ``N * sum_i d_i^2`` (equals ``length**2`` at constant speed)."""
        return float(self.stats.energy[0])

    @property
    def step_distances(self) -> np.ndarray:
        """``(N,)`` distances between consecutive frames under :attr:`metric`."""
        return self.stats.d_sq[0].clamp_min(0).sqrt().numpy()

    @cached_property
    def straight(self) -> Measure:
        """The straight line between the same endpoints with as many frames, under :attr:`metric`."""
        if self.settings.interpolate_settings().start_method() == "linear":  # the solver's start path
            return Measure.of(self.metric.name, self.start_stats)
        line = baseline_path(self.generator, "linear", *self._ends(), len(self) - 1)
        return Measure.of(self.metric.name, _one(path_stats(self.generator, self.metric, line,
                                                            chunk_size=self.settings.solver.chunk_size)))

    @property
    def length_vs_straight(self) -> float:
        """:attr:`length` over the straight line's (below 1: shorter)."""
        return self.length / self.straight.length if self.straight.length > 0 else float("nan")

    def __len__(self) -> int:
        return int(self.latents.shape[0])

    def _ends(self) -> tuple[Tensor, Tensor]:
        z = self.latents.to(self.generator.device)
        return z[:1], z[-1:]

    def images(self) -> Tensor:
        """The frames ``(N+1, C, H, W)`` in ``[-1, 1]`` on the CPU (made again on every call: they can be large)."""
        return images_of(self.generator, self.latents.to(self.generator.device),
                         chunk_size=self.settings.solver.chunk_size).cpu()

    @cached_property
    def pictures(self) -> np.ndarray:
        """The frames as ``(N+1, H, W, 3)`` uint8 RGB (kept once made)."""
        return to_uint8(self.images())

    def measure(self, metric: str | Metric | None = None, **options: object) -> Measure:
        """Length, energy and step distances under ``metric`` (a name from ``latent-geodesics metrics`` with its
        build ``options``, or a built :class:`~latent_geodesics.metrics.Metric`); ``None``: the path's own."""
        if metric is None:
            return Measure.of(self.metric.name, self.stats)
        built = metric if isinstance(metric, Metric) else build_metric(metric, device=self.generator.device,
                                                                        **options)
        stats = path_stats(self.generator, built, self.latents[None].to(self.generator.device),
                           chunk_size=self.settings.solver.chunk_size)
        return Measure.of(built.name, _one(stats))

    def path_file(self) -> PathFile:
        """The path as :class:`~latent_geodesics.pathfile.PathFile` holds it (what ``interpolate`` writes)."""
        return PathFile.single(self.latents[None].numpy(), model=self.model_name, metric=self.metric.name,
                               discriminator=self.settings.model.discriminator,
                               metric_options=self.settings.metric.build_options(),
                               style=self.generator.style_info())

    def save(self, file: str | os.PathLike) -> _FsPath:
        """Write the path as ``interpolate``'s ``path.npz`` (``latent-geodesics evaluate`` reads it), atomically."""
        dest = _writable_file(file, ".npz")
        return self.path_file().write(dest)

    def video(self, file: str | os.PathLike, **options: object) -> _FsPath:
        """Write the path as a video at constant perceptual speed (or eased), atomically.

        Args:
            file: ``.mp4``, ``.webm`` or ``.gif``; the format follows the ending.
            **options: :class:`~latent_geodesics.video.VideoSettings` fields: ``fps``, ``duration`` (seconds),
                ``easing``, ``hold``, ``scale``, ``scale_filter``, ``audio``, ``envelope``.
        """
        from .video import VideoSettings, prepare, video_frames
        from .video.outputs import upscaled_frames, write_format

        fmt = _FsPath(file).suffix.lower().lstrip(".")
        if fmt not in ("mp4", "webm", "gif"):
            raise UserError(f"cannot tell the video format of {str(file)!r}; end the name in .mp4, .webm or .gif")
        unknown = sorted(set(options) - set(VIDEO_OPTIONS))
        if unknown:
            raise UserError(f"unknown video option {unknown[0]!r}; give {', '.join(VIDEO_OPTIONS)}")
        settings = VideoSettings(formats=(fmt,), **options)
        dest = _writable_file(file, f".{fmt}")
        envelope = prepare(settings, 1, loop=False)  # the timing checked and the audio read before any work
        vp = video_frames(self.generator, self.metric, self.latents[None].to(self.generator.device), settings,
                          loop=False, envelope=envelope, chunk_size=self.settings.solver.chunk_size)
        with atomic_path(dest) as tmp:
            write_format(tmp, upscaled_frames(vp, settings)[1], fmt, settings)
        return dest

    def evaluate(self, metrics: Sequence[str] = (), *, baselines: Sequence[str] = ("linear", "slerp"),
                 **kwargs: object) -> dict:
        """:func:`~latent_geodesics.evaluation.evaluate_paths` of this path (as ``"path"``) beside the baselines
        between the same endpoints, under ``metrics`` (names; default: the metric it was solved under, without
        realism weighting); ``kwargs`` go to ``evaluate_paths`` (``calibration``, ``judge``, ``data_realism``...)."""
        from .evaluation import evaluate_paths

        base = self.metric.base if isinstance(self.metric, RealismWeighted) else self.metric
        names = list(metrics) or [base.name]
        built = {n: base if n == base.name else build_metric(n, device=self.generator.device) for n in names}
        return evaluate_paths(self.generator, built, self.latents[None].to(self.generator.device),
                              baselines=baselines, chunk_size=self.settings.solver.chunk_size, **kwargs)

    def strip(self, count: int = SHOWN_FRAMES, height: int = SHOWN_HEIGHT) -> np.ndarray:
        """At most ``count`` evenly spaced frames side by side, each ``height`` px tall: ``(h, w, 3)`` uint8."""
        return strip_picture(self.pictures, count, height)

    def summary(self) -> dict:
        """The figures a notebook shows: method, frames, metric, length, straight line's length and their ratio,
        converged, steps, notes."""
        return {"method": self.method, "model": self.model_name, "frames": len(self), "metric": self.metric.name,
                "length": self.length, "straight_length": self.straight.length,
                "length_vs_straight": self.length_vs_straight, "converged": self.converged, "steps": self.steps,
                "notes": self.notes}

    def __repr__(self) -> str:
        state = "" if self.converged is None else f", converged={self.converged}"
        return (f"Path({self.method} on {self.model_name}, {len(self)} frames, {self.metric.name} length "
                f"{self.length:.4g} = {self.length_vs_straight:.3f} x straight line{state})")

    def _repr_png_(self) -> bytes:
        return png_bytes(self.strip())

    def _repr_html_(self) -> str:
        s = self.summary()
        rows = [("method", s["method"]), ("model", s["model"]), ("frames", s["frames"]), ("metric", s["metric"]),
                ("length", f"{s['length']:.4g}"),
                ("straight line", f"{s['straight_length']:.4g} ({s['length_vs_straight']:.3f} x)"),
                ("converged", "-" if s["converged"] is None else f"{s['converged']} ({s['steps']} steps)")]
        rows += [("note", n) for n in s["notes"]]
        table = "".join(f"<tr><th style='text-align:left'>{html.escape(str(k))}</th>"
                        f"<td style='text-align:left'>{html.escape(str(v))}</td></tr>" for k, v in rows)
        return (f"<div class='lg-path'>{img_tag(self.strip(), html.escape(repr(self)))}"
                f"<div style='display:flex;gap:1em;align-items:flex-start'><table>{table}</table>"
                f"{speed_svg({self.method: self.step_distances, 'straight line': self.straight.step_distances}, s['metric'])}"
                "</div></div>")


@dataclass(eq=False)
class Comparison(Mapping):
    """Paths between the same endpoints by method name (``linear``, ``slerp``, ``geodesic``...), all measured under
    the same metric; a mapping that shows itself in a notebook."""

    paths: dict[str, Path]

    def __getitem__(self, name: str) -> Path:
        return self.paths[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def summary(self) -> dict[str, dict]:
        """:meth:`Path.summary` per method."""
        return {name: p.summary() for name, p in self.paths.items()}

    def __repr__(self) -> str:
        return "Comparison(" + ", ".join(f"{k}: {p.length:.4g}" for k, p in self.paths.items()) + ")"

    def _repr_png_(self) -> bytes:
        strips = [p.strip() for p in self.paths.values()]
        width = max(s.shape[1] for s in strips)
        padded = [np.pad(s, ((0, 4), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips]
        return png_bytes(np.concatenate(padded))

    def _repr_html_(self) -> str:
        rows = []
        for name, p in self.paths.items():
            s = p.summary()
            conv = "-" if s["converged"] is None else str(s["converged"])
            rows.append(f"<tr><th style='text-align:left'>{html.escape(name)}</th><td>{s['length']:.4g}</td>"
                        f"<td>{s['length_vs_straight']:.3f}</td><td>{conv}</td><td>{img_tag(p.strip(), name)}</td></tr>")
        metric = next(iter(self.paths.values())).metric.name if self.paths else ""
        head = (f"<tr><th>method</th><th>{html.escape(metric)} length</th><th>vs straight line</th><th>converged</th>"
                "<th>frames</th></tr>")
        speeds = speed_svg({k: p.step_distances for k, p in self.paths.items()}, metric)
        return f"<div class='lg-comparison'><table>{head}{''.join(rows)}</table>{speeds}</div>"


def compare(model: object, a: object, b: object, *, methods: Sequence[str] = ("linear", "slerp", "geodesic"),
            metric: str | None = None, frames: int | None = None, realism: float | None = None,
            device: str | torch.device = "auto", progress: bool = True, **settings: object) -> Comparison:
    """Several methods between the same endpoints, on one loaded model and one metric: ``linear``, ``slerp`` and
    ``geodesic`` (the optimising solver of ``settings``; same arguments as :func:`geodesic`).

    Returns:
        A :class:`Comparison` (a mapping of method name to :class:`Path`).
    """
    started = time.perf_counter()
    unknown = [m for m in methods if m not in ("linear", "slerp", "geodesic")]
    if unknown or not methods:
        raise UserError(f"unknown method {unknown[0] if unknown else '(none)'!r}; choose from linear, slerp, geodesic")
    with _python_names():
        given = {k: v for k, v in (("metric", metric), ("frames", frames), ("realism", realism)) if v is not None}
        tree = _settings(model, {**given, **settings})
        generator = _load(model, tree.model, device)
        name = _model_name(model, generator)
        check_realism(tree.metric, generator)
        ends = check_endpoints(generator, *_endpoints(generator, a, b, tree, name))
        built = _metric(tree, generator, *ends)
        paths = {}
        for method in methods:
            solver = tree.solver.solver if method == "geodesic" else method
            if method == "geodesic" and solver in ("linear", "slerp"):
                solver = "subdivide"
            each = tree.with_fields({"solver": solver})
            paths[method] = _solve(generator, name, each, a, b, progress=progress, started=started, metric=built,
                                   ends=ends)
    return Comparison(paths)


def _writable_file(file: str | os.PathLike, suffix: str) -> _FsPath:
    dest = _FsPath(file)
    if dest.suffix.lower() != suffix:
        raise UserError(f"{str(file)!r} should end in {suffix}; name the file so")
    check_output_dir(dest.parent if str(dest.parent) else ".", files=(dest.name,), option="the file's folder")
    dest.parent.mkdir(parents=True, exist_ok=True)
    return dest
