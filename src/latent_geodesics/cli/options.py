"""Every command-line option, defined once, in bundles; :func:`settings_from` turns them into a
:class:`~latent_geodesics.settings.Settings`.

An option's parameter name is its setting's flat name (:data:`latent_geodesics.settings.FIELDS`), and its
default is the dataclass field's, so the command line, the Python API and JOBS lines share names, defaults and
checks. A command that needs another default (``compare``'s 17 frames) passes it to the bundle.
"""

from __future__ import annotations

import math
from pathlib import Path

import click

from .._check import UserError
from ..budget import set_memory_budget
from ..limits import (MAX_CHUNK, MAX_FRAMES, MAX_LATENT_VALUES, MAX_PROJECTION_STEPS, MAX_SEED, MAX_STARTS,
                      MAX_STEPS, SPACES)
from ..metrics import PRECISIONS, metric_names
from ..realism import FORMS
from ..rendering import MAX_FPS, MIN_FPS
from ..settings import (FIELDS, PRECONDITIONERS, PRIORS, VARIANTS, VGG_MIN_SIZE, EndpointSettings, MetricSettings,
                        ModelSettings, RenderSettings, Settings, SolverSettings)
from ..solvers import OPTIMIZERS, SOLVERS


class Finite(click.FloatRange):
    """A float option that must be finite (``nan`` and ``inf`` pass click's own range checks)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        rv = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(rv, param, ctx)


class _Whole(click.IntRange):
    """A whole number in a range; one too long to be in it is refused as that (``int()`` would refuse more than 4300
    digits with advice about ``sys.set_int_max_str_digits``), not echoed."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and len(value.strip().lstrip("+-")) > 40:
            digits = value.strip().lstrip("+-")
            shown = f"a number of {len(digits)} digits" if digits.isdigit() else repr(value.strip()[:37] + "...")
            self.fail(f"{shown} is too large; give a whole number from {self.min} to {self.max}", param, ctx)
        return super().convert(value, param, ctx)


FRAMES = _Whole(min=2, max=MAX_FRAMES)


class _Nodes(click.ParamType):
    """``auto`` (``None``) or a node count in ``[2, MAX_FRAMES]``."""

    name = "auto|N"

    def convert(self, value, param, ctx):
        if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
            return None
        return FRAMES.convert(value, param, ctx)


NODES = _Nodes()
PAIRS = _Whole(min=1, max=10_000)
STEPS = _Whole(min=0, max=MAX_STEPS)
SEED = _Whole(min=0, max=MAX_SEED)
SAMPLES = _Whole(min=2, max=10_000_000)
"""``ppl --samples``: at least two, for a mean and its confidence interval."""
FPS = Finite(min=MIN_FPS, max=MAX_FPS)  # what ffmpeg accepts, refused at parse time rather than after the solve
OUT = click.Path(file_okay=False)  # a str: an empty --out is refused, not taken as the current folder
IMAGE = click.Path(path_type=Path)
FILE = click.Path(dir_okay=False, path_type=Path)
DEVICE_HELP = "auto (CUDA when available), cpu, cuda or cuda:N."
DISCRIMINATOR_HELP = ("Discriminator for realism, replacing the model's own: a TorchScript .pt file, "
                      "package.module:factory (images (B, C, H, W) in [-1, 1] in, one score per image out), or a "
                      "StyleGAN .pkl (its D).")


def _apply(f, options):
    # click lists options in the order their decorators are written, i.e. the reverse of how they are applied
    for opt in reversed(options):
        f = opt(f)
    return f


def _model_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--model``: an empty name is refused here (it would be taken for the current folder)."""
    if value is not None and not value.strip():
        raise click.BadParameter("the name is empty; give zoo:NAME (see latent-geodesics models), a TorchScript "
                                 ".pt file or package.module:factory")
    return value


def model_option(*, default: str | None = ModelSettings.model, help: str = "zoo:NAME, a TorchScript .pt file, "
                 "package.module:factory, or a StyleGAN .pkl (NVIDIA's pickle: its code on PYTHONPATH; loading a "
                 "pickle runs its code)."):
    return click.option("--model", default=default, show_default=default is not None, callback=_model_name, help=help)


def lower(ctx: click.Context, param: click.Parameter, value):
    """A name the user may type in any case (``--device AUTO``, ``--easing EASE-IN-OUT``), as the choices are."""
    if isinstance(value, tuple):
        return tuple(v.strip().lower() for v in value)
    return value.strip().lower() if isinstance(value, str) else value


def _memory_budget(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--memory-budget``: set for every chunk of this command (before any model loads)."""
    try:
        set_memory_budget(value)
    except UserError as e:
        raise click.BadParameter(str(e)) from None
    return value


def device_option(f):
    """``--device`` and ``--memory-budget``: where the work runs and how much of its memory the chunks may use."""
    f = click.option("--memory-budget", default=None, metavar="SIZE", expose_value=False, callback=_memory_budget,
                     help="Memory the chunks of latents sent through model and metric together may use, e.g. 6G "
                          "or 512M (default: a quarter of the available memory on a CPU, 60% of the free memory "
                          "on CUDA; also LG_MEMORY_BUDGET). Chunks are sized from one measured pass.")(f)
    return click.option("--device", default="auto", show_default=True, callback=lower, help=DEVICE_HELP)(f)


def quiet_option(help: str = "No progress bar."):
    return click.option("--quiet", "-q", is_flag=True, help=help)


def out_option(help: str = "Output folder.", **kw):
    return click.option("--out", type=OUT, required="default" not in kw, help=help, **kw)


def latent_shape_option(f):
    return click.option("--latent-shape", help="Latent shape when the model does not say, e.g. 128 or 4,8,8.")(f)


def discriminator_option(f):
    return click.option("--discriminator", default=None, metavar="FILE|MODULE:FACTORY", help=DISCRIMINATOR_HELP)(f)


def model_options(f):
    """The model and what it is given: ``--model --device --latent-shape --prior --shell --condition --class
    --discriminator``."""
    return _apply(f, [
        model_option(), device_option, latent_shape_option,
        click.option("--prior", type=click.Choice(PRIORS, case_sensitive=False), default=None,
                     help="Latent prior (default: the model's, else gaussian)."),
        click.option("--shell", type=Finite(min=0, min_open=True), default=None,
                     help="Keep gaussian latents within this many std of the typical-set radius."),
        click.option("--condition", type=FILE, default=None,
                     help="Conditional models: a .npy (e.g. a one-hot label) given to the model with every latent."),
        click.option("--class", "classes", multiple=True, metavar="NAME",
                     help="Conditional zoo models: the class by name, e.g. --class hazel for zoo:eyes128 "
                          "(`latent-geodesics models` lists them); instead of --condition. interpolate: one per "
                          "--seed/--z waypoint for a path that changes class too. Conditional StyleGAN-class "
                          "models: the class number."),
        discriminator_option,
        style_options,
    ])


def style_options(f):
    """``--space --truncation --truncation-cutoff``: StyleGAN-class models (a mapping network)."""
    return _apply(f, [
        click.option("--space", type=click.Choice(SPACES, case_sensitive=False), default=None, callback=lower,
                     help="StyleGAN-class models: where the path lives: z, w (one w for all layers) or w+ (a w per "
                          "layer) [default: w]. Seeds and --z/--z0/--z1 latents go through the mapping."),
        click.option("--truncation", type=Finite(min=-1, max=2), default=None, metavar="PSI",
                     help="StyleGAN-class models: w_avg + PSI (w - w_avg) [default: 1, none]."),
        click.option("--truncation-cutoff", type=click.IntRange(min=1), default=None, metavar="LAYERS",
                     help="StyleGAN-class models: truncate only the first LAYERS layers (--space z or w+)."),
    ])


def projection_options(f):
    """How pictures given with --image (or to ``project``) are projected into the latent space."""
    return _apply(f, [
        click.option("--starts", type=click.IntRange(min=1, max=MAX_STARTS), default=EndpointSettings.starts,
                     show_default=True, help="Random starts per picture (all run as one batch; the best is kept)."),
        click.option("--projection-steps", type=click.IntRange(min=0, max=MAX_PROJECTION_STEPS),
                     default=EndpointSettings.projection_steps, show_default=True, help="Adam steps of the projection."),
        click.option("--pixel-weight", type=Finite(min=0), default=EndpointSettings.pixel_weight, show_default=True,
                     help="Weight of the pixel loss added to the perceptual (LPIPS) loss of the projection."),
    ])


def endpoint_options(f):
    """Where ``interpolate``'s paths start and end."""
    return _apply(f, [
        click.option("--seed", "seeds", type=SEED, multiple=True,
                     help="Endpoint latents drawn from the prior with these seeds (0 to 2**63-1): two, or more for "
                          "waypoints."),
        click.option("--z", "z", type=FILE, multiple=True,
                     help="Waypoint latent files (.npy/.npz), in order; every row of a file is a waypoint (two or "
                          "more in all)."),
        click.option("--image", "images", type=IMAGE, multiple=True,
                     help="Waypoint pictures (PNG, JPEG ...), projected into the latent space first: two or more."),
        projection_options,
        click.option("--z0", type=FILE, help="Start latent(s), .npy (one or a batch)."),
        click.option("--z1", type=FILE, help="End latent(s), .npy, as many as --z0."),
        click.option("--loop", is_flag=True,
                     help="Close the path through the waypoints back to the first (seamless video)."),
    ])


def metric_options(*, default: str | None = MetricSettings.metric):
    """``--metric`` (unless ``default`` is None: the command has none) and ``--metric-option``."""
    opts = [] if default is None else [click.option("--metric", default=default, show_default=True, callback=lower,
                                                    help=f"One of: {', '.join(metric_names())}.")]
    opts.append(click.option("--metric-option", "metric_options", multiple=True, metavar="KEY=VALUE",
                             help=f"Metric setting, e.g. min_size=128 or layers=conv1_2,conv2_2 (repeatable; VGG "
                                  f"metrics take min_size={VGG_MIN_SIZE} unless given)."))
    return lambda f: _apply(f, opts)


def realism_options(*, default: float | None = MetricSettings.realism):
    return lambda f: _apply(f, [
        click.option("--realism", type=Finite(min=0), default=default, show_default=default is not None,
                     metavar="LAMBDA", help="Weight the metric by realism with this strength (0.5 is a good start; "
                                            "the discriminator's, or real pictures' with --realism-form knn)."),
        click.option("--realism-form", type=click.Choice(FORMS, case_sensitive=False), default=MetricSettings.realism_form,
                     show_default=True, help="conformal: length factor 1 + lambda (1/p - 1); published: Petzka et "
                                             "al.'s (lambda/p + d)^2; hinge: the factor only where p falls below the "
                                             "endpoints' (or a typical sample's) realism; knn: hinge with a k-NN "
                                             "critic against real pictures (zoo models with real pictures; no "
                                             "discriminator needed)."),
    ])


def solver_options(*, solvers=SOLVERS, full: bool = True):
    """Solver, optimiser, preconditioning and stopping rule; with ``full``, also nodes, time limit, step size,
    initial path, re-timing and chunk size (``interpolate`` and ``batch``)."""
    opts = [
        click.option("--solver", type=click.Choice(list(solvers), case_sensitive=False), default=SolverSettings.solver, show_default=True,
                     help="How paths are found (linear and slerp: the straight baselines)."),
        click.option("--variant", type=click.Choice(VARIANTS, case_sensitive=False), default=SolverSettings.variant, show_default=True,
                     help="Subdivision variant: re-optimise all points per level, or solve new midpoints locally "
                          "first."),
        click.option("--optimizer", type=click.Choice(list(OPTIMIZERS), case_sensitive=False), default=SolverSettings.optimizer,
                     show_default=True,
                     help="lbfgs-pair: L-BFGS with a line search and a stop per path (a batch costs what its paths "
                          "cost alone); lbfgs: torch's, one line search for the batch; gauss-newton: "
                          "Levenberg-Marquardt; adam: each path stops on its own."),
        click.option("--precondition", type=click.Choice(PRECONDITIONERS, case_sensitive=False), default=SolverSettings.precondition,
                     show_default=True, help="Coordinates the optimiser works in: path Laplacian times the "
                                             "generator's latent metric, the Laplacian alone, or raw latents."),
        click.option("--steps", type=STEPS, default=None,
                     help="Most steps per path (per level for subdivide) [default: 500 lbfgs, 100 gauss-newton, "
                          "1000 adam]."),
        click.option("--rtol", type=Finite(min=0), default=SolverSettings.rtol, show_default=True,
                     help="Converged when the energy falls by less than this fraction over 10 steps (one "
                          "gauss-newton step) ..."),
        click.option("--gtol", type=Finite(min=0), default=SolverSettings.gtol, show_default=True,
                     help="... and the scale-free gradient norm (the relative energy a Newton step would still "
                          "gain) is below this."),
        click.option("--ftol", type=Finite(min=0), default=SolverSettings.ftol, show_default=True,
                     help="lbfgs-pair: converged when no frame moved by more than this fraction of the mean step "
                          "over the last 10 steps (the frames stopped changing); replaces --rtol and --gtol, "
                          "which apply when it is 0 or when they are given and it is not."),
        click.option("--coarse-ftol", type=Finite(min=0), default=SolverSettings.coarse_ftol, show_default=True,
                     help="subdivide: the frame rule of the levels before the last (at least --ftol); 0: they stop "
                          "on the energy rule at 1e-3 instead, deeper: on faces64 and mnist28 1.4-2.2% above a "
                          "long reference's energy instead of 2.4-4.5%, for 0.7-1.4x the evaluations."),
        click.option("--precision", type=click.Choice(PRECISIONS, case_sensitive=False), default=SolverSettings.precision,
                     show_default=True,
                     help="Arithmetic of the metric's feature network (VGG, LPIPS) while solving; lengths are "
                          "reported in float32. auto: bfloat16 where the CPU (AVX512-BF16, AMX) or GPU has it"
                          ", the frame rule stops the solver and the network works at min_size 64 px or more; "
                          "float32 otherwise."),
    ]
    if full:
        from ..jobs import AUTO_NODES, REFINED_POINTS

        opts += [
            click.option("--nodes", type=NODES, default="auto", show_default=True,
                         help=f"Points the solver optimises jointly per path, endpoints included (auto: at most "
                              f"{AUTO_NODES}); midpoints are then solved between them up to {REFINED_POINTS} points, "
                              "and further frames placed at constant perceptual speed on a smooth curve through "
                              "them."),
            click.option("--time-limit", type=Finite(min=0, min_open=True), default=None, metavar="SECONDS",
                         help="Stop the solver after this long and keep the best path so far (reported as not "
                              "converged)."),
            click.option("--lr", type=Finite(min=0, min_open=True), default=None,
                         help="Step size (Adam: relative to the path's point spacing; default 0.05)."),
            click.option("--init", type=click.Choice(["linear", "slerp"], case_sensitive=False), default=SolverSettings.init,
                         show_default=True, help="Starting path of the optimize solver."),
            click.option("--retime", is_flag=True, help="Resample the result so that perceptual speed is constant."),
            click.option("--chunk-size", type=click.IntRange(min=1, max=MAX_CHUNK), default=SolverSettings.chunk_size,
                         help="Points per generator + metric call (default: as many as fit --memory-budget, "
                              "from one measured pass)."),
        ]
    return lambda f: _apply(f, opts)


def render_options(*, frames: int = RenderSettings.frames, frames_help: str = "Frames per path (per leg with "
                   "waypoints), endpoints included.", fps: float = RenderSettings.fps):
    return lambda f: _apply(f, [
        click.option("--frames", type=FRAMES, default=frames, show_default=True, help=frames_help),
        click.option("--fps", type=FPS, default=fps, show_default=True,
                     help=f"Frame rate of video.mp4 ({MIN_FPS:g} to {MAX_FPS:g})."),
    ])


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """``--latent-shape``: ``"128"`` or ``"4,8,8"`` (or ``4x8x8``)."""
    if text is None:
        return None
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise UserError(f"--latent-shape must be sizes like 128 or 4,8,8, got {text!r}") from None
    if not shape or any(s < 1 for s in shape):
        raise UserError(f"--latent-shape must be positive sizes like 128 or 4,8,8, got {text!r}")
    if math.prod(shape) > MAX_LATENT_VALUES:
        raise UserError(f"--latent-shape {text} makes latents of {math.prod(shape)} numbers; at most "
                        f"{MAX_LATENT_VALUES} are accepted")
    return shape


def parse_options(items: tuple[str, ...]) -> dict:
    """``KEY=VALUE`` pairs for a metric: ints and floats are converted, the rest stay strings."""
    options: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"--metric-option must look like KEY=VALUE (e.g. min_size=64), got {item!r}")
        for cast in (int, float):
            try:
                options[key.strip()] = cast(value)
                break
            except ValueError:
                continue
        else:
            options[key.strip()] = value
    return options


def frame_rule(ftol: float | None) -> float | None:
    """The frame rule, unless it is 0, or the energy rule was asked for (--rtol or --gtol given, --ftol not)."""
    ctx = click.get_current_context()
    given = lambda name: ctx.get_parameter_source(name) not in (None, click.core.ParameterSource.DEFAULT)  # noqa: E731
    if not ftol or (not given("ftol") and (given("rtol") or given("gtol"))):
        return None
    return ftol


def settings_from(opts: dict, base: Settings = Settings()) -> Settings:
    """The settings the command's options ask for (options it does not have keep ``base``'s values).

    Paths stay as given (strings); ``--latent-shape`` and ``--metric-option`` are parsed; ``--ftol`` follows
    :func:`frame_rule`.
    """
    values = {}
    for name, value in opts.items():
        key = "class" if name == "classes" else name
        if key not in FIELDS:
            continue
        if key == "latent_shape":
            value = parse_shape(value)
        elif key == "metric_options":
            value = tuple(parse_options(value).items())
        elif key == "ftol":
            value = frame_rule(value)
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple) and key in ("z", "images", "class"):
            value = tuple(str(v) for v in value)
        values[key] = value
    return base.with_fields(values)


class _Seconds(click.ParamType):
    """A finite number of seconds; its range is checked by :class:`~latent_geodesics.video.VideoSettings`, so that a
    negative value gets the same one line from an option as from a timeline file."""

    name = "seconds"

    def convert(self, value, param, ctx):
        rv = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return rv


SECONDS = _Seconds()


def video_options(f):
    """``interpolate``'s video in seconds: ``--duration --total --hold --easing --joins --timeline --audio --envelope
    --format --scale --scale-filter`` (any of them given: a video job; see :func:`video_from`)."""
    from ..video import easing_names
    from ..video.settings import ENVELOPES, FORMATS, JOINS, MAX_SCALE, SCALE_FILTERS

    return _apply(f, [
        click.option("--duration", type=SECONDS, default=None, metavar="SECONDS",
                     help="Seconds per leg (between two waypoints), its hold included [default: 2]; with --audio, "
                          "the whole video [default: the audio's length]."),
        click.option("--total", type=SECONDS, default=None, metavar="SECONDS",
                     help="Instead of --duration: the whole video's length, shared among the legs in proportion "
                          "to their perceptual lengths (the same mean speed on each)."),
        click.option("--hold", type=SECONDS, default=None, metavar="SECONDS",
                     help="Seconds the video rests on each waypoint [default: 0]."),
        click.option("--easing", default=None, metavar="NAME", callback=lower,
                     help=f"How each leg's time maps to the fraction of its perceptual length covered: "
                          f"{', '.join(easing_names())} [default: linear]."),
        click.option("--joins", type=click.Choice(list(JOINS), case_sensitive=False), default=None,
                     help="smooth: bring the speed to zero through each waypoint where the easing would not, so "
                          "that perceptual velocity is continuous; sharp: the easing as it is; round: one smooth "
                          "curve through all legs, its direction continuous through the waypoints (no stop) "
                          "[default: smooth]."),
        click.option("--timeline", type=FILE, default=None,
                     help="A JSON or TOML file: waypoints (seed, latent or image), each leg's duration, easing and "
                          "hold, loop, and any of these video settings (options given here override it)."),
        click.option("--audio", type=click.Path(path_type=Path), default=None, metavar="FILE",
                     help="A sound file (wav, mp3, flac ...): each frame's perceptual step follows its envelope, and "
                          "the MP4/WebM carry it."),
        click.option("--envelope", type=click.Choice(list(ENVELOPES), case_sensitive=False), default=None,
                     help="What of the audio drives the motion: loudness (RMS) or onset (rises of loudness) "
                          "[default: loudness]."),
        click.option("--format", "formats", multiple=True, metavar="LIST",
                     help=f"Video formats, comma-separated or repeated: {', '.join(FORMATS)} (png: a folder of "
                          "frames) [default: mp4]."),
        click.option("--scale", type=click.IntRange(min=1, max=MAX_SCALE), default=None,
                     help="Upscale frames by this integer factor [default: the smallest to 256 px]."),
        click.option("--scale-filter", type=click.Choice(list(SCALE_FILTERS), case_sensitive=False), default=None,
                     help="Upscaling filter [default: nearest]."),
    ])


VIDEO_OPTIONS = ("duration", "total", "hold", "easing", "joins", "timeline", "audio", "envelope", "formats", "scale",
                 "scale_filter")
"""The parameter names of :func:`video_options`."""


def video_from(opts: dict):
    """The video settings and timeline that :func:`video_options` ask for: ``(VideoSettings, Timeline | None)``, or
    ``(None, None)`` when none of them is given (a plain video of ``--frames`` per path).

    ``--fps`` joins them when given (a timeline's own ``fps`` otherwise); ``--frames`` is refused beside them.
    """
    from ..video import VideoSettings, parse_formats, read_timeline

    given = {k: opts[k] for k in VIDEO_OPTIONS if opts.get(k) not in (None, ())}
    if not given:
        return None, None
    ctx = click.get_current_context()
    source = lambda name: ctx.get_parameter_source(name)  # noqa: E731
    if source("frames") not in (None, click.core.ParameterSource.DEFAULT):
        raise UserError("--frames counts the frames of a plain video; a video in seconds takes its frames from "
                        "--duration and --fps: drop --frames")
    if "formats" in given:
        given["formats"] = parse_formats(",".join(given["formats"]))  # --format gif --format webm: both
    if "audio" in given:
        given["audio"] = str(given["audio"])
    fps_given = source("fps") not in (None, click.core.ParameterSource.DEFAULT)
    timeline_file = given.pop("timeline", None)
    if timeline_file is not None:
        timeline = read_timeline(timeline_file, **given, **({"fps": opts["fps"]} if fps_given else {}))
        return timeline.video, timeline
    return VideoSettings(fps=opts.get("fps", VideoSettings.fps), **given), None
