"""``interpolate`` as the CLI, the Python API and a JOBS line all run it: settings in, files and a report out.

:func:`load_model`, :func:`path_endpoints` and :func:`path_metric` turn a :class:`~latent_geodesics.settings.Settings`
into what :func:`latent_geodesics.jobs.solve` takes; :func:`run_interpolate` does all of it and writes the files.
A JOBS line goes through the same three functions, so a line's path equals the ``interpolate`` run with the
same settings.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ContextManager

import torch
from torch import Tensor

from .._check import UserError, check_latents, check_output_dir
from ..budget import footprint
from ..generators import ZOO, Generator, load_generator
from ..generators.base import condition_as_coordinates
from ..generators.stylegan import one_hot
from ..jobs import INTERPOLATE_FILES, interpolate, load_array, load_latent_file, waypoint_legs
from ..metrics import Metric, build_metric
from ..realism import HINGE_FORMS, NO_DISCRIMINATOR_FORMS, realism_metric, realism_problem
from ..settings import EndpointSettings, MetricSettings, ModelSettings, Settings
from ..solvers import Progress

if TYPE_CHECKING:
    from ..project import Projection
    from ..video import Timeline, VideoSettings

Projector = Callable[[Generator, Tensor, dict, list[str]], "Projection"]
"""``(generator, pictures (P, C, H, W), ProjectConfig fields, names) -> Projection``: how pictures are projected
(the CLI's shows a progress bar)."""


def conditions(model: ModelSettings) -> Tensor | None:
    """The model's fixed extra input: ``--condition FILE`` or the one-hot of ``--class`` (``(K,)``), or the
    one-hots of several classes stacked ``(classes, K)`` (one per waypoint); ``None`` for neither."""
    if model.classes and not model.model.startswith("zoo:"):
        return None  # a StyleGAN-class model's class number (see load_model)
    if model.classes:
        entry = ZOO.get(model.model[4:])
        if entry is None:
            raise UserError(f"--class names a class of a conditional zoo model; for {model.model} give the "
                            "model's input with --condition FILE.npy")
        onehots = torch.stack([entry.condition_of(c) for c in model.classes])
        return onehots if len(model.classes) > 1 else onehots[0]
    if model.condition is not None:
        return load_array(model.condition, what="condition")
    return None


def load_model(model: ModelSettings, *, device: str | torch.device = "auto") -> Generator:
    """The generator these settings describe, checked (with several classes: the first one's condition; see
    :func:`solving_generator`). File names are as given (a JOBS line's are made relative to its file when it is
    read: :meth:`~latent_geodesics.batch.JobSpec.settings`)."""
    cond = conditions(model)
    return load_generator(model.model, device=device, latent_shape=model.latent_shape, prior=model.prior,
                          shell=model.shell, condition=cond[0] if cond is not None and cond.dim() == 2 else cond,
                          discriminator=model.discriminator, class_index=(class_numbers(model) or [None])[0],
                          **model.style_options())


def class_numbers(model: ModelSettings) -> list[int]:
    """``--class K`` of a model outside the zoo: the class numbers of a conditional StyleGAN-class model."""
    if model.model.startswith("zoo:"):
        return []
    for text in model.classes:
        if not text.strip().isdigit() or not text.strip().isascii():
            raise UserError(f"--class names a class of a conditional zoo model, or the class number (0, 1, ...) of a "
                            f"StyleGAN-class model; for {model.model} give a number, or the model's input with "
                            "--condition FILE.npy")
    return [int(text) for text in model.classes]


def solving_generator(generator: Generator, model: ModelSettings) -> Generator:
    """The generator paths are solved on: with several classes (a path between classes), the one whose latent
    carries the class too (:func:`~latent_geodesics.generators.base.condition_as_coordinates`)."""
    if len(model.classes) < 2 or getattr(generator, "space", "z") != "z":
        return generator  # in W and W+ the class is in the mapped points (style_waypoints)
    if getattr(generator, "z_shape", None) is not None:
        k = generator.condition.numel()  # a StyleGAN-class model in Z: its mapping takes the class from the latent
        generator = Generator(generator.net, latent_shape=generator.latent_shape, condition=torch.zeros(k),
                              name=generator.name).to(generator.device)
    return condition_as_coordinates(generator)


@dataclass
class Endpoints:
    """The legs to solve, ``z0, z1``: ``(L, *latent_shape)`` each, on ``generator`` (:func:`solving_generator`);
    ``join``: they are legs through waypoints (written as one path); ``projection``: the pictures they were
    projected from, if any."""

    generator: Generator
    z0: Tensor
    z1: Tensor
    join: bool
    loop: bool
    projection: "Projection | None" = None


def project_pictures(generator: Generator, images: tuple[str, ...], config: dict, *, model: str,
                     projector: Projector | None = None) -> "Projection":
    """Load the pictures at the model's size (each checked before any work) and project them."""
    from ..project import ProjectConfig, load_images, project_images

    targets = load_images([Path(p) for p in images], image_shape=generator.probe(what=f"model {model!r}"), model=model)
    names = [str(p) for p in images]
    if projector is not None:
        return projector(generator, targets, config, names)
    return project_images(generator, targets, ProjectConfig(**config), names=names)


def path_endpoints(generator: Generator, settings: Settings, *, projector: Projector | None = None) -> Endpoints:
    """The legs of the path(s) that ``settings.endpoints`` ask for; ``generator`` is from :func:`load_model`.

    Raises:
        UserError: endpoints given in no way or two, too few waypoints, classes that do not match the
            waypoints, unreadable latent files or pictures.
    """
    ends: EndpointSettings = settings.endpoints
    ends.check()
    classes = len(settings.model.classes) if len(settings.model.classes) > 1 else 0
    if classes and (ends.images or ends.z0 is not None or ends.loop or (ends.seeds and len(ends.seeds) != classes)):
        raise UserError(f"{classes} --class values need as many --seed or --z waypoints (no --loop, no --image), "
                        f"one class each; got {len(ends.seeds or ends.z_files or ends.images)}")
    if ends.z0 is not None:
        return Endpoints(generator, load_latent_file(ends.z0, generator), load_latent_file(ends.z1, generator),
                         join=False, loop=False)
    if ends.images:
        projected = project_pictures(generator, ends.images, ends.projection(), model=settings.model.model,
                                     projector=projector)
        z0, z1 = waypoint_legs(projected.latents, loop=ends.loop)
        return Endpoints(generator, z0, z1, join=len(ends.images) > 2 or ends.loop, loop=ends.loop,
                         projection=projected)
    if classes and getattr(generator, "z_shape", None) is not None:
        return style_waypoints(generator, settings)
    waypoints = torch.cat([generator.sample_latents(1, seed=s) for s in ends.seeds]
                          or [load_latent_file(f, generator) for f in ends.z_files])
    if waypoints.shape[0] < 2:
        raise UserError(f"need at least two waypoints (start and end); the --z files hold {waypoints.shape[0]}: "
                        "give another --z file, or one with a row per waypoint")
    if classes:  # the class becomes part of the path's coordinates
        if waypoints.shape[0] != classes:
            raise UserError(f"{classes} --class values need as many waypoints, one class each; the --z files hold "
                            f"{waypoints.shape[0]}")
        onehots = conditions(settings.model)
        waypoints = torch.cat([waypoints.flatten(1), onehots.to(waypoints)], 1)
    z0, z1 = waypoint_legs(waypoints, loop=ends.loop)
    return Endpoints(solving_generator(generator, settings.model), z0, z1, join=waypoints.shape[0] > 2 or ends.loop,
                     loop=ends.loop)


def style_waypoints(generator: Generator, settings: Settings) -> Endpoints:
    """A path between classes of a conditional StyleGAN-class model: each waypoint's Z code mapped with its own
    class (W, W+), or in Z with its class one-hot as coordinates the path moves too."""
    ends, numbers = settings.endpoints, class_numbers(settings.model)
    zs = [generator.z_of_seed(s) for s in ends.seeds] or \
        [check_latents(load_array(f), generator.z_shape, what=str(f)) for f in ends.z_files]
    if len(zs) != len(numbers) or any(z.shape[0] != 1 for z in zs):
        raise UserError(f"{len(numbers)} --class values need as many waypoints, one class each; the --z files hold "
                        f"{sum(z.shape[0] for z in zs)}")
    if generator.space == "z":
        onehots = torch.stack([one_hot(k, generator.condition.numel()) for k in numbers])
        waypoints = torch.cat([torch.cat(zs), onehots], 1).to(generator.device)
    else:
        waypoints = torch.cat([generator.from_z(z, class_index=k) for z, k in zip(zs, numbers)])
    z0, z1 = waypoint_legs(waypoints, loop=False)
    return Endpoints(solving_generator(generator, settings.model), z0, z1, join=waypoints.shape[0] > 2, loop=False)


def timeline_endpoints(generator: Generator, settings: Settings, timeline: "Timeline", *,
                       projector: Projector | None = None) -> Endpoints:
    """The legs through a timeline's waypoints, of any kinds in any order: seeds, latent files (one latent each) and
    pictures (projected in one batch); the projection is kept when every waypoint is a picture."""
    if len(settings.model.classes) > 1:
        raise UserError("a timeline's waypoints take no --class per waypoint; give one --class, or none")
    latents = {}
    for i, w in enumerate(timeline.waypoints):
        if w.kind == "latent":
            z = load_latent_file(w.value, generator)
            if z.shape[0] != 1:
                raise UserError(f"{w.value} holds {z.shape[0]} latents; a timeline waypoint is one (save one row)")
            latents[i] = z
    photos = tuple(w.value for w in timeline.waypoints if w.kind == "image")
    projected = project_pictures(generator, photos, settings.endpoints.projection(), model=settings.model.model,
                                 projector=projector) if photos else None
    rows, p = [], 0
    for i, w in enumerate(timeline.waypoints):
        if w.kind == "seed":
            rows.append(generator.sample_latents(1, seed=w.value))
        elif w.kind == "latent":
            rows.append(latents[i])
        else:
            rows.append(projected.latents[p: p + 1])
            p += 1
    waypoints = torch.cat([r.to(generator.device) for r in rows])
    z0, z1 = waypoint_legs(waypoints, loop=timeline.loop)
    return Endpoints(generator, z0, z1, join=True, loop=timeline.loop,
                     projection=projected if len(photos) == len(timeline.waypoints) else None)


def path_metric(metric: MetricSettings, generator: Generator, *, built: Metric | None = None,
                endpoint_images: Tensor | None = None) -> Metric:
    """The metric, on the generator's device, weighted by realism when asked.

    ``built``: the base metric, already built from these settings (say, on the CPU to check its options before
    the model loads); moved to the generator's device instead of being built again. ``endpoint_images``: images
    ``(M, C, H, W)`` of every path's ends, for the hinge forms' threshold (the lowest of their realism, or a
    typical random sample's if that is lower; without them, the typical sample's).
    """
    check_realism(metric, generator)
    built = built.to(generator.device) if built is not None else \
        build_metric(metric.metric, device=generator.device, **metric.build_options())
    if metric.realism is None:
        return built
    return realism_metric(built, generator, lam=metric.realism, form=metric.realism_form,
                          endpoint_images=endpoint_images)


def threshold_images(metric: MetricSettings, generator: Generator, z0: Tensor, z1: Tensor) -> Tensor | None:
    """The images of every path's ends ``(2B, C, H, W)`` when the realism form sets its threshold from them (the
    hinge forms), else ``None``: what :func:`path_metric` takes as ``endpoint_images``."""
    if metric.realism is None or metric.realism_form not in HINGE_FORMS:
        return None
    with torch.no_grad():
        return generator(torch.cat([z0, z1]))


def check_realism(metric: MetricSettings, generator: Generator) -> None:
    """Refuse realism weighting that the model cannot have, before any work: the discriminator forms on a model
    without a discriminator, the ``knn`` form on a model without real pictures here."""
    why = None if metric.realism is None else realism_problem(metric.realism_form, generator)
    if why is not None:
        asked = f"--realism-form {metric.realism_form}" if metric.realism_form in NO_DISCRIMINATOR_FORMS \
            else "--realism"
        raise UserError(f"{asked} {why}")


def output_files(settings: Settings) -> tuple[str, ...]:
    return INTERPOLATE_FILES + (("projection.png",) if settings.endpoints.images else ())


def run_interpolate(settings: Settings, out: str | Path, *, device: str | torch.device = "auto",
                    progress: Callable[[int], ContextManager[Progress]] | None = None,
                    projector: Projector | None = None, video: "VideoSettings | None" = None,
                    timeline: "Timeline | None" = None, notify: Callable[[str], None] | None = None) -> dict:
    """Solve the path(s) ``settings`` describe and write ``strip.png``, ``video.mp4``, ``path.npz``,
    ``report.json`` (and ``projection.png`` from pictures) into ``out``: all or nothing.

    Args:
        progress: ``total -> a tqdm-like bar`` (a context manager) for the solver, opened once the inputs are
            read and checked.
        projector: how pictures are projected (default: :func:`~latent_geodesics.project.project_images`).
        video: a video in seconds (:class:`~latent_geodesics.video.VideoSettings`): the formats it asks for and
            ``speed.png`` instead of ``video.mp4``.
        timeline: waypoints and loop from a timeline file (:func:`~latent_geodesics.video.read_timeline`), instead of
            ``settings.endpoints``; its video settings are ``video``.
        notify: told one line before the heavy work: what a latent costs, the chunk and the memory budget
            (:meth:`~latent_geodesics.budget.Footprint.describe`). ``settings.solver.time_limit`` counts from the
            call, loading included.

    Returns:
        The report (also written to ``report.json``).
    """
    started = time.perf_counter()
    if timeline is not None:
        if settings.endpoints.given() or settings.endpoints.loop:
            raise UserError("--timeline gives the waypoints and the loop; drop --seed, --z, --image, --z0/--z1 and "
                            "--loop")
        video = video if video is not None else timeline.video
    else:
        settings.endpoints.check()
    if video is None:
        check_output_dir(out, files=output_files(settings))  # before any work
    else:
        from ..video import outputs as video_outputs

        check_output_dir(out, files=video_outputs.video_files(video), longest_name=video_outputs.LONGEST_NAME)
    envelope = None
    if video is not None and video.audio is not None:  # an unreadable or silent sound file: before the model loads
        envelope = video_outputs.prepare(video, 1, loop=False)
    base = build_metric(settings.metric.metric, device="cpu", **settings.metric.build_options())  # before the model
    gen = load_model(settings.model, device=device)
    check_realism(settings.metric, gen)  # before the endpoints (a projection can take minutes)
    if timeline is not None:
        ends = timeline_endpoints(gen, settings, timeline, projector=projector)
    else:
        ends = path_endpoints(gen, settings, projector=projector)
    metric = path_metric(settings.metric, gen, built=base,
                         endpoint_images=threshold_images(settings.metric, ends.generator, ends.z0, ends.z1))
    if video is not None:  # one path, every leg with time to move: before solving
        video_outputs.check_legs(video, ends.z0.shape[0], join=ends.join, loop=ends.loop, envelope=envelope)
    run = settings.interpolate_settings()
    if notify is not None:
        notify(f"cost: {footprint(ends.generator, metric).describe(run.chunk_size)}"
               + (f"; time limit {run.time_limit:g} s" if run.time_limit is not None else
                  "; no time limit (--time-limit caps it)"))
    config = settings.to_dict()
    if timeline is not None:
        config["timeline"] = timeline.to_dict()
    with progress(run.progress_total()) if progress is not None else nullcontext() as bar:
        return interpolate(ends.generator, metric, ends.z0, ends.z1, out, run, model_name=settings.model.model,
                           join=ends.join, loop=ends.loop, progress=bar,
                           discriminator_name=settings.model.discriminator, projection=ends.projection,
                           metric_options=settings.metric.build_options(), config=config, video=video,
                           envelope=envelope, started=started)
