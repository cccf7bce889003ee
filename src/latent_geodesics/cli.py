"""The ``latent-geodesics`` command line."""

from __future__ import annotations

import math
import signal
import sys
import threading
import warnings
from pathlib import Path

import click
import torch

from . import __version__
from ._check import MachineError, StateWarning, UserError, check_output_dir, first_line, os_error
from .compare import (COMPARE_FILES, CompareSettings, check_methods, compare, format_summary, pair_seeds,
                      seeded_endpoints)
from .generators import DEFAULT_MODEL, ZOO, load_generator
from .generators.base import condition_as_coordinates
from .jobs import (AUTO_NODES, INTERPOLATE_FILES, InterpolateSettings, interpolate, load_array, load_latent_file,
                   waypoint_legs)
from .limits import MAX_FRAMES, MAX_SEED, MAX_STEPS
from .metrics import build_metric, metric_help, metric_names
from .realism import DEFAULT_LAMBDA, realism_metric
from .rendering import MAX_FPS, MIN_FPS
from .solvers import DEFAULT_FTOL, DEFAULT_GTOL, DEFAULT_RTOL, OPTIMIZERS, SOLVERS, SubdivideConfig, level_config


class _Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that every ``finally`` (staging, rollback) runs."""


_SIGNALLED: list[int] = []
"""Signals received during this command (a SIGTERM that lands inside an import may surface as another error)."""


def _raise_terminated(signum, frame) -> None:
    _SIGNALLED.append(signum)
    raise _Terminated()


def _interrupted_by(e: BaseException) -> int | None:
    """130 or 143 when ``e`` is, or was caused by, Ctrl-C or SIGTERM (say, an import that SIGTERM cut short and
    that then failed with an ImportError), else ``None``."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, _Terminated):
            return 143
        if isinstance(e, KeyboardInterrupt):
            return 130
        e = e.__cause__ or e.__context__
    return 143 if signal.SIGTERM in _SIGNALLED else None


def _machine_fault(e: BaseException) -> MachineError | None:
    """Out of memory or a full disk where no code caught it: a fault of the machine, one line."""
    if isinstance(e, MemoryError):
        return MachineError(f"out of memory{f' ({first_line(e)})' if str(e) else ''}; use fewer frames, pairs or "
                            "points, or a smaller --chunk-size")
    if isinstance(e, OSError):
        err = os_error(e, f"cannot read or write {e.filename}" if e.filename else "cannot read or write a file")
        return err if isinstance(err, MachineError) else None
    if isinstance(e, RuntimeError) and ("can't allocate memory" in str(e) or "out of memory" in str(e)):
        return MachineError(f"out of memory ({first_line(e)}); use fewer frames or pairs, or a smaller chunk size")
    return None


class _Group(click.Group):
    """One line on stderr and no traceback: exit 2 for a :class:`UserError` or a bad option, exit 1 for a
    fault of the machine (:class:`MachineError`: disk full, permissions, out of memory), 130 on SIGINT and
    143 on SIGTERM (both roll back partly written outputs)."""

    def invoke(self, ctx: click.Context):
        in_main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main else None
        _SIGNALLED.clear()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", StateWarning)
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except UserError as e:
            code = _interrupted_by(e)  # e.g. a model module whose import SIGTERM cut short
            if code is not None:
                _fail(ctx, "interrupted" if code == 130 else "terminated", code)
            _fail(ctx, str(e), e.exit_code)
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else "latent-geodesics"
            _fail(ctx, f"{e.format_message()} (see {where} --help)", 2)
        except KeyboardInterrupt:
            _fail(ctx, "interrupted", 130)
        except _Terminated:
            _fail(ctx, "terminated", 143)
        except SystemExit as e:  # click exits with its own Exit; this came from the model's or discriminator's code
            code = _interrupted_by(e)
            if code is not None:
                _fail(ctx, "interrupted" if code == 130 else "terminated", code)
            _fail(ctx, f"the model's or discriminator's code called sys.exit({e.code!r}) while running; a model "
                       "must return images (and a discriminator scores) and never exit", 2)
        except Exception as e:  # noqa: BLE001 - last resort: a signal or a machine fault, else a real bug
            code = _interrupted_by(e)
            if code is not None:
                _fail(ctx, "interrupted" if code == 130 else "terminated", code)
            fault = _machine_fault(e)
            if fault is None:
                raise
            _fail(ctx, str(fault), fault.exit_code)
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)


_showwarning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our own warnings (a damaged state file being redone) as one ``warning:`` line; others as Python shows them."""
    if issubclass(category, StateWarning):
        click.echo(f"warning: {' '.join(str(message).split())}", err=True)
    else:
        _showwarning(message, category, filename, lineno, file, line)


def _fail(ctx: click.Context, message: str, code: int) -> None:
    click.echo(f"latent-geodesics: error: {' '.join(message.split())}", err=True)
    ctx.exit(code)


class _Finite(click.FloatRange):
    """A float option that must be finite (``nan`` and ``inf`` pass click's own range checks)."""

    name = "finite float"

    def convert(self, value, param, ctx):
        rv = click.FLOAT.convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return super().convert(rv, param, ctx)


FRAMES = click.IntRange(min=2, max=MAX_FRAMES)


class _Nodes(click.ParamType):
    """``auto`` (``None``) or a node count in ``[2, MAX_FRAMES]``."""

    name = "auto|N"

    def convert(self, value, param, ctx):
        if value is None or (isinstance(value, str) and value.strip().lower() == "auto"):
            return None
        return FRAMES.convert(value, param, ctx)


NODES = _Nodes()
PAIRS = click.IntRange(min=1, max=10_000)
STEPS = click.IntRange(min=0, max=MAX_STEPS)
MAX_LATENT_VALUES = 1 << 24
"""Most numbers in one latent that --latent-shape accepts (StyleGAN's W+ is 18 x 512)."""
SEED = click.IntRange(min=0, max=MAX_SEED)
FPS = _Finite(min=MIN_FPS, max=MAX_FPS)  # what ffmpeg accepts, refused at parse time rather than after the solve
OUT = click.Path(file_okay=False)  # a str: an empty --out is refused, not taken as the current folder


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="latent-geodesics")
def main() -> None:
    """Perceptually shortest, realistic interpolation paths in the latent space of generative models.

    \b
    Examples:
      latent-geodesics demo
      latent-geodesics compare --pairs 4 --methods linear,slerp,pixel,vgg-eq --frames 17 --out cmp/
      latent-geodesics interpolate --model zoo:faces64 --seed 1 --seed 2 --metric pixel --out out/
      latent-geodesics interpolate --model my_gen.pt --latent-shape 128 --z0 a.npy --z1 b.npy --out out/
      latent-geodesics interpolate --model zoo:celeba64 --image a.jpg --image b.jpg --out out/
      latent-geodesics project a.jpg b.jpg --model zoo:celeba64 --out proj/
      latent-geodesics evaluate out/path.npz --metric vgg-eq --metric pixel
      latent-geodesics models
      latent-geodesics weights list
    """


def _model_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--model``: an empty name is refused here (it would be taken for the current folder)."""
    if value is not None and not value.strip():
        raise click.BadParameter("the name is empty; give zoo:NAME (see latent-geodesics models), a TorchScript "
                                 ".pt file or package.module:factory")
    return value


def _parse_shape(text: str | None) -> tuple[int, ...] | None:
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


def _progress(total: int, desc: str, quiet: bool, *, budget: bool = False, unit: str = "step"):
    """A progress bar on stderr. ``budget``: the total is an upper bound (solvers stop when they converge), so the
    bar says how much of the budget is spent and at most how long the rest would take."""
    from tqdm.auto import tqdm

    fmt = "{desc}: {percentage:3.0f}% of the step budget |{bar}| {elapsed} elapsed, at most {remaining} left{postfix}" \
        if budget else None
    return tqdm(total=total, desc=desc, unit=unit, disable=quiet, file=sys.stderr, leave=False,
                dynamic_ncols=True, bar_format=fmt)


def _parse_options(items: tuple[str, ...]) -> dict:
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


DISCRIMINATOR_HELP = ("Discriminator for realism, replacing the model's own: a TorchScript .pt file or "
                      "package.module:factory; images (B, C, H, W) in [-1, 1] in, one score per image out.")


def _solver_options(f):
    """Optimiser, preconditioning and stopping rule, shared by ``interpolate`` and ``compare``."""
    for opt in reversed([
        click.option("--optimizer", type=click.Choice(list(OPTIMIZERS)), default="lbfgs-pair", show_default=True,
                     help="lbfgs-pair: L-BFGS with a line search and a stop per path (a batch costs what its paths "
                          "cost alone); lbfgs: torch's, one line search for the batch; gauss-newton: "
                          "Levenberg-Marquardt; adam: each path stops on its own."),
        click.option("--precondition", type=click.Choice(["kronecker", "laplacian", "none"]), default="kronecker",
                     show_default=True, help="Coordinates the optimiser works in: path Laplacian times the "
                                             "generator's latent metric, the Laplacian alone, or raw latents."),
        click.option("--steps", type=STEPS, default=None,
                     help="Most steps per path (per level for subdivide) [default: 500 lbfgs, 100 gauss-newton, "
                          "1000 adam]."),
        click.option("--rtol", type=_Finite(min=0), default=DEFAULT_RTOL, show_default=True,
                     help="Converged when the energy falls by less than this fraction over 10 steps (one "
                          "gauss-newton step) ..."),
        click.option("--gtol", type=_Finite(min=0), default=DEFAULT_GTOL, show_default=True,
                     help="... and the scale-free gradient norm (the relative energy a Newton step would still "
                          "gain) is below this."),
        click.option("--ftol", type=_Finite(min=0), default=DEFAULT_FTOL, show_default=True,
                     help="lbfgs-pair: converged when no frame moved by more than this fraction of the mean step "
                          "over the last 10 steps (the frames stopped changing); replaces --rtol and --gtol, "
                          "which apply when it is 0 or when they are given and it is not."),
    ]):
        f = opt(f)
    return f


INTERPOLATE_VGG_MIN_SIZE = 64
"""``min_size`` of ``interpolate``'s VGG metrics unless ``--metric-option min_size=...`` is given: a 64 px model's
images as they are (the library's 128 costs 4x the passes; BENCHMARKS.md, ``first_run``)."""


def _vgg_size(metric: str, options: dict) -> dict:
    return {"min_size": INTERPOLATE_VGG_MIN_SIZE, **options} if metric.startswith("vgg") else options


def _ftol(ftol: float) -> float | None:
    """The frame rule, unless it is 0, or the energy rule was asked for (--rtol or --gtol given, --ftol not)."""
    ctx = click.get_current_context()
    given = lambda name: ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT  # noqa: E731
    if ftol == 0 or (not given("ftol") and (given("rtol") or given("gtol"))):
        return None
    return ftol


def _model_options(f):
    f = click.option("--discriminator", default=None, metavar="FILE|MODULE:FACTORY", help=DISCRIMINATOR_HELP)(f)
    f = click.option("--class", "class_name", multiple=True, metavar="NAME", expose_value=False,
                     callback=lambda ctx, param, value: ctx.meta.__setitem__("lg_class", value),
                     help="Conditional zoo models: the class by name, e.g. --class hazel for zoo:eyes128 "
                          "(`latent-geodesics models` lists them); instead of --condition. interpolate: one per "
                          "--seed/--z waypoint for a path that changes class too.")(f)
    f = click.option("--condition", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Conditional models: a .npy (e.g. a one-hot label) given to the model with every latent.")(f)
    f = click.option("--shell", type=_Finite(min=0, min_open=True), default=None,
                     help="Keep gaussian latents within this many std of the typical-set radius.")(f)
    f = click.option("--prior", type=click.Choice(["gaussian", "sphere"]), default=None,
                     help="Latent prior (default: the model's, else gaussian).")(f)
    f = click.option("--latent-shape", help="Latent shape when the model does not say, e.g. 128 or 4,8,8.")(f)
    f = click.option("--device", default="auto", show_default=True,
                     help="auto (CUDA when available), cpu, cuda or cuda:N.")(f)
    f = click.option("--model", default=f"zoo:{DEFAULT_MODEL}", show_default=True, callback=_model_name,
                     help="zoo:NAME, a TorchScript .pt file, or package.module:factory.")(f)
    return f


def _condition(model: str, condition: Path | None, *, several: bool = False):
    """The model's fixed extra input: from --condition FILE, or the one-hot of --class NAME (zoo models).

    With ``several``, more than one --class gives their one-hots stacked, ``(classes, K)``.
    """
    classes = click.get_current_context().meta.get("lg_class") or ()
    if classes and condition is not None:
        raise UserError("give --class or --condition, not both")
    if len(classes) > 1 and not several:
        raise UserError(f"give one --class here, got {len(classes)}")
    if classes:
        entry = ZOO.get(model[4:]) if model.startswith("zoo:") else None
        if entry is None:
            raise UserError(f"--class names a class of a conditional zoo model; for {model} give the model's "
                            "input with --condition FILE.npy")
        onehots = torch.stack([entry.condition_of(c) for c in classes])
        return onehots if len(classes) > 1 else onehots[0]
    return load_array(condition, what="condition") if condition is not None else None


def _projection_options(f):
    """How pictures given with --image (or to ``project``) are projected into the latent space."""
    for opt in reversed([
        click.option("--starts", type=click.IntRange(min=1, max=1024), default=4, show_default=True,
                     help="Random starts per picture (all run as one batch; the best is kept)."),
        click.option("--projection-steps", type=click.IntRange(min=0, max=10**6), default=200, show_default=True,
                     help="Adam steps of the projection."),
        click.option("--pixel-weight", type=_Finite(min=0), default=1.0, show_default=True,
                     help="Weight of the pixel loss added to the perceptual (LPIPS) loss of the projection."),
    ]):
        f = opt(f)
    return f


def _pictures(gen, images: tuple[Path, ...], model: str):
    """The pictures at the model's size, ``(P, C, H, W)``: every one checked before any work."""
    from .project import load_images

    return load_images(images, image_shape=gen.probe(what=f"model {model!r}"), model=model)


def _echo_projection(items: list[dict], quiet: bool) -> None:
    if not quiet:
        for item in items:
            click.echo(f"{item['name']}: reconstruction LPIPS {item['lpips']:.3f}, PSNR {item['psnr_db']:.1f} dB",
                       err=True)


def _project(gen, images: tuple[Path, ...], *, model: str, starts: int, steps: int, pixel_weight: float,
             quiet: bool):
    """Load the pictures and project them, with a progress bar: a :class:`~latent_geodesics.project.Projection`."""
    from .project import ProjectConfig, project_images

    config = ProjectConfig(starts=starts, steps=steps, pixel_weight=pixel_weight)
    targets = _pictures(gen, images, model)
    with _progress(config.steps, f"projecting {len(images)} picture(s)", quiet) as bar:
        result = project_images(gen, targets, config, progress=bar, names=[str(p) for p in images])
    _echo_projection(result.to_dict()["images"], quiet)
    return result


IMAGE = click.Path(path_type=Path)


@main.command("interpolate")
@_model_options
@click.option("--seed", "seeds", type=SEED, multiple=True,
              help="Endpoint latents drawn from the prior with these seeds (0 to 2**63-1): two, or more for waypoints.")
@click.option("--z", "z_files", type=click.Path(dir_okay=False, path_type=Path), multiple=True,
              help="Waypoint latent files (.npy/.npz), in order; every row of a file is a waypoint (two or more "
                   "in all).")
@click.option("--image", "images", type=IMAGE, multiple=True,
              help="Waypoint pictures (PNG, JPEG ...), projected into the latent space first: two or more.")
@_projection_options
@click.option("--z0", type=click.Path(dir_okay=False, path_type=Path), help="Start latent(s), .npy (one or a batch).")
@click.option("--z1", type=click.Path(dir_okay=False, path_type=Path), help="End latent(s), .npy, as many as --z0.")
@click.option("--loop", is_flag=True, help="Close the path through the waypoints back to the first (seamless video).")
@click.option("--metric", default="vgg-eq", show_default=True, help=f"One of: {', '.join(metric_names())}.")
@click.option("--metric-option", "metric_options", multiple=True, metavar="KEY=VALUE",
              help=f"Metric setting, e.g. min_size=128 or layers=conv1_2,conv2_2 (repeatable; VGG metrics take "
                   f"min_size={INTERPOLATE_VGG_MIN_SIZE} unless given).")
@click.option("--realism", type=_Finite(min=0), default=None, metavar="LAMBDA",
              help="Weight the metric by the discriminator's realism with this strength (models with one; 0.5 is a good start).")
@click.option("--realism-form", type=click.Choice(["conformal", "published"]), default="conformal",
              show_default=True, help="Conformal length factor, or Petzka et al.'s (lambda/a + d)^2.")
@click.option("--solver", type=click.Choice(list(SOLVERS)), default="subdivide", show_default=True)
@click.option("--variant", type=click.Choice(["joint", "local"]), default="joint", show_default=True,
              help="Subdivision variant: re-optimise all points per level, or solve new midpoints locally first.")
@_solver_options
@click.option("--frames", type=FRAMES, default=33, show_default=True,
              help="Frames per path (per leg with waypoints), endpoints included.")
@click.option("--nodes", type=NODES, default="auto", show_default=True,
              help=f"Points the solver optimises per path, endpoints included (auto: at most {AUTO_NODES}); the "
                   "frames between them are placed at constant perceptual speed on a smooth curve through them.")
@click.option("--time-limit", type=_Finite(min=0, min_open=True), default=None, metavar="SECONDS",
              help="Stop the solver after this long and keep the best path so far (reported as not converged).")
@click.option("--lr", type=_Finite(min=0, min_open=True), default=None,
              help="Step size (Adam: relative to the path's point spacing; default 0.05).")
@click.option("--init", type=click.Choice(["linear", "slerp"]), default="linear", show_default=True,
              help="Starting path of the optimize solver.")
@click.option("--retime", is_flag=True, help="Resample the result so that perceptual speed is constant.")
@click.option("--out", type=OUT, required=True, help="Output folder.")
@click.option("--chunk-size", type=click.IntRange(min=1, max=1 << 20), default=64, show_default=True,
              help="Points per generator call (bounds memory).")
@click.option("--fps", type=FPS, default=12.0, show_default=True, help="Frame rate of video.mp4 (0.01 to 1000).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def interpolate_cmd(model: str, device: str, latent_shape: str | None, prior: str | None, shell: float | None,
                    condition: Path | None, discriminator: str | None,
                    seeds: tuple[int, ...], z_files: tuple[Path, ...], images: tuple[Path, ...], starts: int,
                    projection_steps: int, pixel_weight: float, z0: Path | None, z1: Path | None, loop: bool,
                    metric: str, metric_options: tuple[str, ...], realism: float | None, realism_form: str,
                    solver: str, variant: str, optimizer: str, precondition: str, gtol: float,
                    frames: int, nodes: int | None, time_limit: float | None, steps: int | None, lr: float | None,
                    rtol: float, ftol: float, init: str, retime: bool, out: str,
                    chunk_size: int, fps: float, quiet: bool) -> None:
    """Find shortest paths between latents and write strip.png, video.mp4, path.npz, report.json.

    \b
    Endpoints: --seed A --seed B (more seeds: waypoints), --z a.npy --z b.npy ... (waypoints, a row each),
    --image a.jpg --image b.jpg ... (pictures projected into the latent space, then waypoints; also writes
    projection.png, and the video opens and closes on the pictures), or --z0 a.npy --z1 b.npy (each one
    latent or a batch: one path per row, solved as one batch).

    \b
    Examples:
      latent-geodesics interpolate --seed 1 --seed 2 --metric vgg-eq --frames 17 --out out/
      latent-geodesics interpolate --model zoo:celeba64 --image a.jpg --image b.jpg --metric vgg-eq --out out/
      latent-geodesics interpolate --model zoo:eyes128 --seed 1 --class brown --seed 2 --class hazel --out out/
      latent-geodesics interpolate --seed 1 --seed 2 --seed 3 --loop --solver linear --retime --out loop/
      latent-geodesics interpolate --model gen.pt --latent-shape 64 --z0 a.npy --z1 b.npy --out out/
      latent-geodesics interpolate --model gen.pt --discriminator disc.pt --realism 0.5 --seed 1 --seed 2 --out out/
    """
    given = sum(bool(x) for x in (seeds, z_files, images, z0 is not None or z1 is not None))
    if given != 1:
        raise UserError("give endpoints one way: --seed (twice or more), --z (two or more rows in all), "
                        "--image (twice or more), or --z0 with --z1")
    if (z0 is None) != (z1 is None):
        raise UserError("give both --z0 and --z1, or neither")
    for name, given_ in (("--seed", seeds), ("--image", images)):
        if given_ and len(given_) < 2:
            raise UserError(f"give at least two {name} values (start and end), got {len(given_)}")
    if loop and not (seeds or z_files or images):
        raise UserError("--loop needs waypoints given with --seed, --z or --image")
    opt = level_config(optimizer, max_steps=steps, lr=lr, rtol=rtol, gtol=gtol, ftol=_ftol(ftol),
                       precondition=precondition)
    settings = InterpolateSettings(solver=solver, frames=frames, nodes=nodes, time_limit=time_limit, init=init,
                                   chunk_size=chunk_size, fps=fps, retime=retime, optimize=opt,
                                   subdivide=SubdivideConfig(variant=variant, level=opt))
    projection = {"starts": starts, "steps": projection_steps, "pixel_weight": pixel_weight}
    _run_interpolate(model=model, seeds=seeds, z_files=z_files, images=images, projection=projection,
                     z0_file=z0, z1_file=z1, loop=loop, metric=metric,
                     metric_options=_vgg_size(metric, _parse_options(metric_options)), realism=realism,
                     realism_form=realism_form,
                     settings=settings, out=out, device=device, latent_shape=_parse_shape(latent_shape), prior=prior,
                     shell=shell, condition=condition, discriminator=discriminator, quiet=quiet)


def _run_interpolate(*, model: str, seeds=(), z_files=(), images=(), projection: dict | None = None,
                     z0_file=None, z1_file=None, loop: bool = False,
                     metric: str, metric_options: dict | None = None, realism: float | None = None,
                     realism_form: str = "conformal", settings: InterpolateSettings, out: str | Path,
                     device: str, latent_shape=None, prior=None, shell=None, condition: Path | None = None,
                     discriminator: str | None = None, quiet: bool) -> dict:
    out = check_output_dir(out, files=INTERPOLATE_FILES + (("projection.png",) if images else ()))  # before any work
    metric_obj = build_metric(metric, device="cpu", **(metric_options or {}))  # checked before the model loads
    cond = _condition(model, condition, several=True)
    classes = cond if cond is not None and cond.dim() == 2 else None  # one per waypoint: a path between classes
    if classes is not None and ((seeds and len(seeds) != len(classes)) or not (seeds or z_files) or loop):
        raise UserError(f"{len(classes)} --class values need as many --seed or --z waypoints (no --loop, no --image), "
                        f"one class each; got {len(seeds or z_files)}")
    gen = load_generator(model, device=device, latent_shape=latent_shape, prior=prior, shell=shell,
                         condition=classes[0] if classes is not None else cond, discriminator=discriminator)
    metric_obj = metric_obj.to(gen.device)
    if realism is not None:
        metric_obj = realism_metric(metric_obj, gen, lam=realism, form=realism_form)
    join, projected = False, None
    if z0_file is not None:
        za, zb = load_latent_file(z0_file, gen), load_latent_file(z1_file, gen)
    elif images:
        projected = _project(gen, images, model=model, quiet=quiet, **(projection or {}))
        join = len(images) > 2 or loop  # waypoints: legs written as one path
        za, zb = waypoint_legs(projected.latents, loop=loop)
    else:
        waypoints = torch.cat([gen.sample_latents(1, seed=s) for s in seeds]
                              or [load_latent_file(f, gen) for f in z_files])
        if waypoints.shape[0] < 2:
            raise UserError(f"need at least two waypoints (start and end); the --z files hold {waypoints.shape[0]}: "
                            "give another --z file, or one with a row per waypoint")
        join = waypoints.shape[0] > 2 or loop  # waypoints: legs written as one path
        if classes is not None:  # the class becomes part of the path's coordinates
            if waypoints.shape[0] != len(classes):
                raise UserError(f"{len(classes)} --class values need as many waypoints, one class each; the --z "
                                f"files hold {waypoints.shape[0]}")
            waypoints = torch.cat([waypoints.flatten(1), classes.to(waypoints)], 1)
            gen = condition_as_coordinates(gen)
        za, zb = waypoint_legs(waypoints, loop=loop)
    with _progress(settings.progress_total(), f"{settings.solver} ({metric})", quiet,
                   budget=settings.solver in ("optimize", "subdivide")) as bar:
        report = interpolate(gen, metric_obj, za, zb, out, settings, model_name=model, join=join, loop=loop,
                             progress=bar, discriminator_name=discriminator, projection=projected,
                             metric_options=metric_options)
    start, res = report["start"], report["result"]
    if not quiet:
        for b in range(report["pairs"]):
            click.echo(f"{'leg' if join else 'pair'} {b}: {metric} length {start['length'][b]:.4g} "
                       f"({start['method']}) -> {res['length'][b]:.4g} ({res['method']}); energy "
                       f"{start['energy'][b]:.4g} -> {res['energy'][b]:.4g}", err=True)
    _warn_unconverged(res, "")
    click.echo(f"wrote {out}/strip.png, video.mp4, path.npz, report.json{', projection.png' if images else ''}")
    return report


def _warn_unconverged(result: dict | None, label: str) -> None:
    """One warning line when a solver stopped on its step budget instead of its convergence rule."""
    flags = (result or {}).get("converged")
    if not flags or all(flags):
        return
    missed = [i for i, ok in enumerate(flags) if not ok]
    grad = (result.get("grad_norm") or [None] * len(flags))
    worst = max((grad[i] for i in missed if grad[i] is not None), default=None)
    click.echo(f"warning: {label}{len(missed)} of {len(flags)} path(s) did not converge within the step budget "
               f"(converged: false in report.json{'' if worst is None else f'; gradient norm {worst:.2g}'}); "
               "raise --steps or --time-limit, or loosen --ftol (--rtol/--gtol)", err=True)


@main.command("evaluate")
@click.argument("path_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--metric", "metrics", multiple=True,
              help="Metric to measure with (repeatable; default: the one the path was solved with).")
@click.option("--model", default=None, callback=_model_name,
              help="Model that made the path (default: the zoo model recorded in the file; any other must be given).")
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda or cuda:N.")
@click.option("--latent-shape", help="Latent shape when the model does not say.")
@click.option("--discriminator", default=None, metavar="FILE|MODULE:FACTORY", help=DISCRIMINATOR_HELP)
@click.option("--json", "json_out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write every number to this JSON file.")
def evaluate_cmd(path_file: Path, metrics: tuple[str, ...], model: str | None, device: str,
                 latent_shape: str | None, discriminator: str | None, json_out: Path | None) -> None:
    """Measure a path.npz (interpolate) or paths.npz (compare: every method, by name) against linear and slerp.

    \b
    Per metric: length, energy, step-length CV (speed uniformity), max/mean step; per frame: mean
    brightness and contrast (mid-path change against the endpoints shows Laine's darkening failure),
    the critic's score where the model has a discriminator, and for zoo:fashion32 and zoo:mnist28
    the independent judge's lowest confidence and off-class frames (latent_geodesics.judges).

    \b
    Examples:
      latent-geodesics evaluate out/path.npz --metric vgg-eq --metric pixel --json out/eval.json
      latent-geodesics evaluate cmp/paths.npz --metric lpips
    """
    from .evaluation import evaluate_file, format_table
    from .rendering import write_json

    if json_out is not None:
        check_output_dir(json_out.parent, files=(json_out.name,), option="--json")
    report = evaluate_file(path_file, model=model, metrics=list(metrics), device=device,
                           latent_shape=_parse_shape(latent_shape), discriminator=discriminator)
    if report["file_discriminator"] is not None and discriminator is None:
        click.echo(f"note: the paths were solved with discriminator {report['file_discriminator']}; pass "
                   "--discriminator to score realism with it", err=True)
    click.echo(format_table(report))
    if json_out is not None:
        try:
            json_out.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise os_error(e, f"cannot create the folder of {json_out}") from e
        write_json(json_out, report)
        click.echo(f"wrote {json_out}")


@main.command("compare")
@_model_options
@click.option("--methods", default="linear,slerp,pixel,vgg-eq", show_default=True,
              help="Comma-separated: linear, slerp, retime (linear re-timed under the reference metric), or a "
                   "metric name for its geodesic, optionally NAME+realism (models with a discriminator).")
@click.option("--pairs", type=PAIRS, default=4, show_default=True, help="Endpoint pairs (of seeds).")
@click.option("--image", "images", type=IMAGE, multiple=True,
              help="Pictures projected into the latent space as endpoints instead of seeds: pair k joins the "
                   "pictures 2k and 2k+1 (give an even number).")
@_projection_options
@click.option("--seed", type=click.IntRange(min=0, max=2**62), default=0, show_default=True,
              help="Base seed: pair k (from 0) joins the latents of seeds SEED+2k+1 and SEED+2k+2.")
@click.option("--frames", type=FRAMES, default=17, show_default=True,
              help="Frames per path, endpoints included.")
@click.option("--solver", type=click.Choice(["subdivide", "optimize"]), default="subdivide", show_default=True,
              help="Solver of every geodesic method.")
@_solver_options
@click.option("--metric-option", "metric_options", multiple=True, metavar="KEY=VALUE",
              help="Setting of every metric except pixel ones, e.g. min_size=64 (repeatable).")
@click.option("--eval-metrics", default=None,
              help="Comma-separated metrics every path is measured with [default: the geodesic methods' metrics, "
                   "plus pixel]. The first non-pixel one is the reference metric of the table and plots.")
@click.option("--realism", type=_Finite(min=0), default=DEFAULT_LAMBDA, show_default=True, metavar="LAMBDA",
              help="Strength of the +realism methods.")
@click.option("--realism-form", type=click.Choice(["conformal", "published"]), default="conformal",
              show_default=True, help="Conformal length factor, or Petzka et al.'s (lambda/a + d)^2.")
@click.option("--out", type=OUT, required=True, help="Output folder.")
@click.option("--fps", type=FPS, default=12.0, show_default=True, help="Frame rate of video.mp4 (0.01 to 1000).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no table.")
def compare_cmd(model: str, device: str, latent_shape: str | None, prior: str | None, shell: float | None,
                condition: Path | None, discriminator: str | None, methods: str, pairs: int,
                images: tuple[Path, ...], starts: int, projection_steps: int, pixel_weight: float, seed: int,
                frames: int,
                solver: str, optimizer: str, precondition: str, steps: int | None, rtol: float, gtol: float,
                ftol: float, metric_options: tuple[str, ...],
                eval_metrics: str | None, realism: float, realism_form: str, out: str, fps: float, quiet: bool) -> None:
    """Compare methods on the same pairs: grid.png, video.mp4, plots.png, report.json, report.html, paths.npz.

    \b
    Examples:
      latent-geodesics compare --pairs 4 --methods linear,slerp,pixel,vgg,vgg-eq --metric-option min_size=64 --out cmp/
      latent-geodesics compare --model zoo:fashion32 --methods linear,vgg-eq,vgg-eq+realism --out cmp/
      latent-geodesics compare --model zoo:celeba64 --image a.jpg --image b.jpg --out cmp/
      latent-geodesics evaluate cmp/paths.npz --metric vgg-eq --metric pixel   # every method, by name
    """
    opt = level_config(optimizer, max_steps=steps, rtol=rtol, gtol=gtol, ftol=_ftol(ftol), precondition=precondition)
    evals = tuple(m.strip() for m in eval_metrics.split(",") if m.strip()) if eval_metrics else ()
    settings = CompareSettings(methods=tuple(methods.split(",")), frames=frames, solver=solver, optimize=opt,
                               subdivide=SubdivideConfig(level=opt), metric_options=_parse_options(metric_options),
                               eval_metrics=evals, realism=realism, realism_form=realism_form, fps=fps)
    if images and len(images) % 2:
        raise UserError(f"--image pictures pair up (pair k joins pictures 2k and 2k+1); give an even number, "
                        f"got {len(images)}")
    given = [f"--{name}" for name in ("pairs", "seed")
             if click.get_current_context().get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    if images and given:
        raise UserError(f"{' and '.join(given)} choose seeded pairs; with --image the pictures are the pairs "
                        "(pair k joins pictures 2k and 2k+1): drop one or the other")
    _run_compare(model=model, settings=settings, pairs=pairs, seed=seed, out=out, device=device,
                 latent_shape=_parse_shape(latent_shape), prior=prior, shell=shell, condition=condition,
                 discriminator=discriminator, quiet=quiet, images=images,
                 projection={"starts": starts, "steps": projection_steps, "pixel_weight": pixel_weight})


def _run_compare(*, model: str, settings: CompareSettings, pairs: int, seed: int, out: str | Path, device: str,
                 latent_shape=None, prior=None, shell=None, condition: Path | None = None,
                 discriminator: str | None = None, quiet: bool, images=(), projection: dict | None = None) -> dict:
    out = check_output_dir(out, files=COMPARE_FILES + (("projection.png",) if images else ()))  # before any work
    cond = _condition(model, condition)
    gen = load_generator(model, device=device, latent_shape=latent_shape, prior=prior, shell=shell, condition=cond,
                         discriminator=discriminator)
    check_methods(gen, settings)
    projected = None
    if images:
        projected = _project(gen, images, model=model, quiet=quiet, **(projection or {}))
        seeds, z0, z1 = None, projected.latents[0::2], projected.latents[1::2]
    else:
        seeds = pair_seeds(pairs, seed)
        z0, z1 = seeded_endpoints(gen, seeds)
    with _progress(settings.progress_total(), "compare", quiet, budget=True) as bar:
        report = compare(gen, z0, z1, out, settings, model_name=model, seeds=seeds, progress=bar,
                         discriminator_name=discriminator, projection=projected)
    if not quiet:
        click.echo(format_summary(report), err=True)
    for name, method in report["methods"].items():
        _warn_unconverged(method.get("solver"), f"{name}: ")
    click.echo(f"wrote {out}/report.html (with grid.png, plots.png, video.mp4, report.json, paths.npz"
               f"{', projection.png' if images else ''}) "
               f"in {report['wall_time_s']:.0f} s")
    return report


@main.command("project")
@click.argument("images", nargs=-1, required=True, type=IMAGE)
@_model_options
@_projection_options
@click.option("--out", type=OUT, required=True, help="Output folder.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def project_cmd(images: tuple[Path, ...], model: str, device: str, latent_shape: str | None, prior: str | None,
                shell: float | None, condition: Path | None, discriminator: str | None, starts: int,
                projection_steps: int, pixel_weight: float, out: str, quiet: bool) -> None:
    """Find latents whose images match pictures: projection.png, latents.npy, report.json.

    \b
    Each picture is resized and centre-cropped to the model's size, then matched by Adam on LPIPS plus
    pixel loss from --starts random starts (all pictures and starts in one batch), the latents kept on
    the prior's support; the best start is kept. report.json has each picture's LPIPS and PSNR;
    latents.npy holds the latents (P, *latent_shape), one row per picture, in order.

    \b
    Examples:
      latent-geodesics project a.jpg b.jpg --model zoo:celeba64 --out proj/
      latent-geodesics interpolate --model zoo:celeba64 --image a.jpg --image b.jpg --out out/   # project + path
    """
    from .project import PROJECT_FILES, ProjectConfig, project_job

    out_dir = check_output_dir(out, files=PROJECT_FILES)  # before any work: a bad --out fails at once
    config = ProjectConfig(starts=starts, steps=projection_steps, pixel_weight=pixel_weight)
    cond = _condition(model, condition)
    gen = load_generator(model, device=device, latent_shape=_parse_shape(latent_shape), prior=prior, shell=shell,
                         condition=cond, discriminator=discriminator)
    targets = _pictures(gen, images, model)
    with _progress(config.steps, f"projecting {len(images)} picture(s)", quiet) as bar:
        report = project_job(gen, targets, out_dir, config, model_name=model, names=[str(p) for p in images],
                             progress=bar)
    _echo_projection(report["projection"]["images"], quiet)
    click.echo(f"wrote {out_dir}/projection.png, latents.npy, report.json")


DEMO_METHODS = "linear,slerp,pixel,vgg-eq"
DEMO_FTOL = 0.2
"""A preview: the frame rule at 0.2 of a step (the library default, 0.07, takes about twice as long on a CPU)."""


@main.command("demo")
@click.option("--out", type=OUT, default="demo-out", show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto (CUDA when available), cpu, cuda or cuda:N.")
@click.option("--pairs", type=PAIRS, default=2, show_default=True, help="Endpoint pairs.")
@click.option("--frames", type=FRAMES, default=9, show_default=True)
@click.option("--ftol", type=_Finite(min=0, min_open=True), default=DEMO_FTOL, show_default=True,
              help="Converged when no frame moved by more than this fraction of a step over 10 steps.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no table.")
def demo_cmd(out: str, device: str, pairs: int, frames: int, ftol: float, quiet: bool) -> None:
    """The main job: `compare` on the built-in face model, with settings that finish in minutes on a CPU.

    \b
    Methods linear, slerp, and the geodesics under pixel and equalized VGG (images at 64 px), solved by
    progressive subdivision with preconditioned L-BFGS to a preview tolerance; the video plays at 6 fps.
    Equivalent to
      latent-geodesics compare --model zoo:faces64 --pairs 2 --frames 9 --methods linear,slerp,pixel,vgg-eq \\
          --metric-option min_size=64 --ftol 0.2 --fps 6 --out demo-out
    """
    opt = level_config(ftol=ftol)
    settings = CompareSettings(methods=tuple(DEMO_METHODS.split(",")), frames=frames, solver="subdivide",
                               optimize=opt, subdivide=SubdivideConfig(level=opt), metric_options={"min_size": 64},
                               fps=6.0)
    _run_compare(model=f"zoo:{DEFAULT_MODEL}", settings=settings, pairs=pairs, seed=0, out=out, device=device,
                 quiet=quiet)


def _batch_options(f):
    """Model, metric, solver, executor and output options shared by ``batch`` and ``distances``."""
    # click lists options in the order their decorators are written, i.e. the reverse of how they are applied
    for opt in reversed([
        click.option("--retime", is_flag=True, help="Resample each result so that perceptual speed is constant."),
        click.option("--chunk-size", type=click.IntRange(min=1, max=1 << 20), default=64, show_default=True,
                     help="Points per generator call (bounds memory)."),
        click.option("--batch-size", type=click.IntRange(min=1, max=4096), default=8, show_default=True,
                     help="Most lines solved together as one problem (lines whose settings agree, in file order)."),
        click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
                     help="local: this process; ray: Ray actors that load the model once (pip install "
                          "'latent-geodesics[ray]')."),
        click.option("--ray-address", default=None, metavar="auto|HOST:PORT",
                     help="Ray cluster to join (auto: the one this machine belongs to) [default: start a local one]."),
        click.option("--ray-timeout", type=_Finite(min=1, max=86400), default=None, metavar="SECONDS",
                     help="Give up joining --ray-address after this long, with one error line [default: 30]."),
        click.option("--workers", type=click.IntRange(min=1, max=4096), default=None,
                     help="Ray actors [default: one per GPU, else one per --cpus-per-worker CPUs]."),
        click.option("--cpus-per-worker", type=click.IntRange(min=1, max=1024), default=1, show_default=True,
                     help="CPUs (and torch threads) of each Ray actor without a GPU."),
        click.option("--out", type=OUT, required=True,
                     help="Result folder (created; a rerun resumes, skipping finished paths)."),
        click.option("--quiet", "-q", is_flag=True, help="No progress bar."),
    ]):
        f = opt(f)
    f = _solver_options(f)
    for opt in reversed([
        click.option("--model", default=f"zoo:{DEFAULT_MODEL}", show_default=True, callback=_model_name,
                     help="zoo:NAME, a TorchScript .pt file, or package.module:factory (every worker loads it)."),
        click.option("--device", default="auto", show_default=True,
                     help="auto (CUDA when available), cpu, cuda or cuda:N: device of the local executor and of the pictures (Ray workers use a GPU when they have one)."),
        click.option("--latent-shape", help="Latent shape when the model does not say, e.g. 128 or 4,8,8."),
        click.option("--prior", type=click.Choice(["gaussian", "sphere"]), default=None,
                     help="Latent prior (default: the model's, else gaussian)."),
        click.option("--shell", type=_Finite(min=0, min_open=True), default=None,
                     help="Keep gaussian latents within this many std of the typical-set radius."),
        click.option("--metric", default="pixel", show_default=True, help=f"One of: {', '.join(metric_names())}."),
        click.option("--metric-option", "metric_options", multiple=True, metavar="KEY=VALUE",
                     help="Metric setting, e.g. min_size=64 (repeatable)."),
        click.option("--frames", type=FRAMES, default=17, show_default=True, help="Frames per path, endpoints included."),
        click.option("--solver", type=click.Choice(list(SOLVERS)), default="subdivide", show_default=True),
        click.option("--variant", type=click.Choice(["joint", "local"]), default="joint", show_default=True,
                     help="Subdivision variant."),
    ]):
        f = opt(f)
    return f


EXIT_SOME_FAILED = 3
"""Exit code of ``batch``/``distances`` when some lines failed (the others' results are written)."""


def _batch_setup(opts: dict):
    """Defaults, model spec and the driver's generator from the shared batch options."""
    from .batch import LineSettings, ModelSpec

    metric_options = _parse_options(opts["metric_options"])
    build_metric(opts["metric"], device="cpu", **metric_options)  # fail before any work
    defaults = LineSettings(metric=opts["metric"], frames=opts["frames"], solver=opts["solver"],
                            optimizer=opts["optimizer"], steps=opts["steps"], rtol=opts["rtol"], gtol=opts["gtol"],
                            ftol=_ftol(opts["ftol"]), retime=opts["retime"], variant=opts["variant"], precondition=opts["precondition"],
                            metric_options=tuple(sorted(metric_options.items())),
                            chunk_size=opts["chunk_size"])
    spec = ModelSpec(model=opts["model"], latent_shape=_parse_shape(opts["latent_shape"]), prior=opts["prior"],
                     shell=opts["shell"])
    gen = load_generator(spec.model, device=opts["device"], latent_shape=spec.latent_shape, prior=spec.prior,
                         shell=spec.shell)
    return defaults, spec, gen


def _run_batch(jobs, *, opts: dict, spec, gen, defaults, jobs_file: str | None, extra=None, extra_info=None,
               figure: str | None = None, figure_caption: str = "") -> dict:
    """Solve ``jobs`` with the chosen executor into ``--out``, then write the summary and report."""
    from .batch import batch_report, run_jobs, write_batch_outputs
    from .executors import make_executor

    out = opts["out"]
    executor = make_executor(opts["executor"], spec, generator=gen, device=opts["device"],
                             ray_address=opts["ray_address"], workers=opts["workers"],
                             cpus_per_worker=opts["cpus_per_worker"], ray_timeout=opts["ray_timeout"])
    try:
        with _progress(len(jobs), f"batch ({opts['executor']})", opts["quiet"], unit="line") as bar:
            run = run_jobs(jobs, out, executor, model_name=spec.model, batch_size=opts["batch_size"], progress=bar)
        described = executor.describe()
    finally:
        executor.close()
    info = extra_info(run) if extra_info is not None else None
    report = batch_report(run.records, run, model_name=spec.model, defaults=defaults, executor=described,
                          jobs_file=jobs_file, extra=info)
    write_batch_outputs(out, gen, run, report, extra=extra, figure=figure, figure_caption=figure_caption)
    c = report["counts"]
    click.echo(f"{c['lines']} lines: {c['done']} done ({run.solved} solved now, {run.skipped} finished before), "
               f"{c['failed']} failed; wrote {out}/summary.csv, report.html, paths/", err=opts["quiet"])
    for rec in run.records:
        if rec["status"] == "failed":
            click.echo(f"warning: line {rec.get('line') or rec['name']} failed: {rec['error']}", err=True)
    not_converged = sum(1 for r in run.records if r["status"] == "done" and not r.get("converged"))
    if not_converged:
        click.echo(f"warning: {not_converged} of {c['done']} path(s) did not converge within the step budget "
                   "(converged in summary.csv); raise --steps or loosen --ftol (--rtol/--gtol)", err=True)
    if c["failed"]:  # everything else is written; a script must still see that lines are missing
        raise click.exceptions.Exit(EXIT_SOME_FAILED)
    return report


@main.command("batch")
@click.argument("jobs_file", type=click.Path(dir_okay=False, path_type=Path))
@_batch_options
def batch_cmd(jobs_file: Path, **opts) -> None:
    """Solve one path per line of JOBS (JSON Lines or CSV) into --out, resumably; summary.csv, report.html.

    \b
    A line: endpoints "seeds": [a, b] (CSV: seed0, seed1) or "z0"/"z1" latent .npy files (relative to
    JOBS); optional "id" (the file name under paths/) and overrides of metric, frames, solver, optimizer,
    steps, rtol, gtol, retime. Each finished path is written at once to paths/NAME.npz with a record in
    manifest.jsonl; a rerun skips finished paths and redoes missing or corrupt ones. A failing line is
    recorded and the others go on.

    \b
    Examples:
      latent-geodesics batch jobs.jsonl --metric vgg-eq --frames 17 --out runs/study
      latent-geodesics batch jobs.csv --executor ray --ray-address auto --out runs/study
    """
    from .batch import check_batch_dir, parse_jobs, resolve_jobs

    out = check_batch_dir(opts["out"])
    specs = parse_jobs(jobs_file)
    defaults, spec, gen = _batch_setup(opts)
    jobs = resolve_jobs(specs, gen, defaults, model_name=spec.model, base_dir=jobs_file.parent, what=str(jobs_file))
    opts["out"] = out
    _run_batch(jobs, opts=opts, spec=spec, gen=gen, defaults=defaults, jobs_file=str(jobs_file))


@main.command("distances")
@click.argument("points_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--knn", type=click.IntRange(min=1), default=None,
              help="Only pairs joining each point to its K nearest neighbours in latent space [default: all pairs].")
@click.option("--mds", is_flag=True, help="Also plot a classical MDS embedding of both matrices (mds.png).")
@_batch_options
def distances_cmd(points_file: Path, knn: int | None, mds: bool, **opts) -> None:
    """Geodesic and straight-line lengths between latents: distances.npz/.csv, the paths, mds.png.

    \b
    POINTS: a .npy (K, *latent_shape). Every pair (or each point's --knn nearest neighbours) is a job of
    the batch machinery (resumable, any executor); geodesic[i, j] is the solved path's length under
    --metric, linear[i, j] the straight line's; NaN where a pair was not solved.

    \b
    Examples:
      latent-geodesics distances latents.npy --metric vgg-eq --frames 9 --mds --out dist/
      latent-geodesics distances latents.npy --knn 5 --executor ray --out dist/
    """
    from .batch import check_batch_dir, make_job
    from .distances import (DISTANCE_FILES, check_points, check_sizes, connected, pair_list, same_points,
                            write_distance_files)

    out = check_batch_dir(opts["out"], DISTANCE_FILES)
    defaults, spec, gen = _batch_setup(opts)
    points = check_points(load_latent_file(points_file, gen).numpy(), str(points_file))
    k = points.shape[0]
    check_sizes(k, points[0].size, knn, what=str(points_file))  # before the pairs are built
    pairs = pair_list(points.reshape(k, -1), knn)
    if mds and not connected(k, pairs):
        raise UserError(f"--mds needs the neighbour graph to connect all {k} points, and --knn {knn} leaves it in "
                        "pieces; raise --knn or drop it")
    same = same_points(points, pairs)  # a repeated point: distance 0, no path to solve
    same_set = set(same)
    jobs = [make_job(spec.model, defaults, points[i], points[j], name=f"d{i:05d}-{j:05d}", line=n + 1,
                     source={"points": [i, j]}) for n, (i, j) in enumerate(pairs) if (i, j) not in same_set]
    if same and not opts["quiet"]:
        click.echo(f"note: {len(same)} pair(s) of equal latents (first: points {same[0][0]} and {same[0][1]}) have "
                   "distance 0 and are not solved", err=True)
    opts["out"] = out
    state: dict = {}

    def info(run) -> dict:
        state["records"] = run.records
        return {"distances": {"points_file": str(points_file), "knn": knn, "pairs": len(pairs)}}

    def extra(stage: Path) -> None:
        state["files"] = write_distance_files(stage, k, pairs, state["records"], mds=mds, metric=defaults.metric,
                                              same=same)
        if mds and not str(state["files"]["mds"]).startswith("mds.png"):
            click.echo(f"warning: no mds.png: {state['files']['mds']}", err=True)

    _run_batch(jobs, opts=opts, spec=spec, gen=gen, defaults=defaults, jobs_file=None, extra=extra,
               extra_info=info, figure="mds.png" if mds else None,
               figure_caption="Classical MDS of the geodesic distances (left) and the straight-line ones (right), "
                              "aligned by rotation and scale; numbers are point indices.")
    plotted = str(state.get("files", {}).get("mds") or "")
    click.echo(f"wrote {out}/distances.npz, distances.csv" + (", mds.png" if plotted.startswith("mds.png") else ""),
               err=opts["quiet"])


@main.command("models")
def models_cmd() -> None:
    """List the built-in models (use them as --model zoo:NAME)."""
    for name, entry in ZOO.items():
        c, h, w = entry.image_shape
        disc = "with discriminator" if entry.has_discriminator else "no discriminator"
        default = " (default)" if name == DEFAULT_MODEL else ""
        classes = f", classes {'|'.join(entry.classes)}" if entry.classes else ""
        click.echo(f"zoo:{name}{default}\t{c}x{h}x{w}, z={'x'.join(map(str, entry.latent_shape))}, {disc}{classes}, "
                   f"weights {entry.size}, licence {entry.licence}: {entry.summary}")


@main.command("metrics")
def metrics_cmd() -> None:
    """List the metrics (each NAME also comes as NAME-eq, brightness and contrast equalized)."""
    for name, text in metric_help().items():
        click.echo(f"{name}, {name}-eq\t{text}")


@main.group("weights", cls=_Group)
def weights_group() -> None:
    """Weight files: what is cached, what is missing, and fetching them."""


@weights_group.command("list")
def weights_list() -> None:
    """Show every weight file, whether it is cached, and where."""
    from . import weights

    for name in weights.all_names():
        present, path, note = weights.status(name)
        click.echo(f"{name}\t{'cached' if present else 'missing'}\t{path}\t{note}")


@weights_group.command("fetch")
@click.argument("names", nargs=-1)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def weights_fetch(names: tuple[str, ...], quiet: bool) -> None:
    """Fetch (and check) the named weight files, or all of them."""
    from . import weights

    todo = list(names) or weights.all_names()
    unknown = [n for n in todo if n not in weights.all_names()]
    if unknown:
        raise UserError(f"unknown weight file {unknown[0]!r}; known: {', '.join(weights.all_names())}")
    with _progress(len(todo), "weights", quiet) as bar:
        for name in todo:
            bar.set_postfix_str(name)
            path = weights.ensure(name)
            bar.update(1)
            bar.write(f"{name}\tok\t{path}", file=sys.stdout)


@main.command("explore")
@_model_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default answers this machine only (0.0.0.0: every network).")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True,
              help="Port to listen on (0: a free one).")
@click.option("--seed", "seeds", type=SEED, multiple=True, help="Seeds of the first grid (repeatable; default 0-11).")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The app's own folder for samples, solves and checked uploads [default: a new temporary one].")
@click.option("--time-limit", type=_Finite(min=0, min_open=True), default=300.0, show_default=True,
              metavar="SECONDS", help="Longest a solve (or the map) runs before it keeps the best path so far.")
@click.option("--projection-steps", type=click.IntRange(min=0, max=10**6), default=200, show_default=True,
              help="Adam steps of the projection of a dropped photo.")
def explore_cmd(model: str, device: str, latent_shape: str | None, prior: str | None, shell: float | None,
                condition: Path | None, discriminator: str | None, host: str, port: int, seeds: tuple[int, ...],
                folder: Path | None, time_limit: float, projection_steps: int) -> None:
    """Explore the latent space in the browser (needs the [app] extra).

    \b
    A local page: a grid of samples (reseed, or give seeds) and dropped photos (projected); click two or
    more to solve the path through them, and watch each subdivision level's frames arrive; linear, slerp
    and geodesic side by side with one scrubber and the perceptual speed plot; downloads of the video,
    path.npz and report.json; a map of the samples by classical MDS of their geodesic distances.

    \b
    Examples:
      latent-geodesics explore
      latent-geodesics explore --model zoo:mnist28 --port 8080 --seed 1 --seed 2 --seed 3
      latent-geodesics explore --model gen.pt --latent-shape 128 --discriminator disc.pt
    """
    from .app import require_extra, serve

    require_extra()
    from .project import ProjectConfig

    loading = {"latent_shape": _parse_shape(latent_shape), "prior": prior, "shell": shell,
               "condition": _condition(model, condition), "discriminator": discriminator}
    serve(model=model, device=device, host=host, port=port, seeds=seeds, folder=folder, model_options=loading,
          echo=lambda line: click.echo(line, err=True), time_limit=time_limit,
          projection=ProjectConfig(steps=projection_steps))

if __name__ == "__main__":  # pragma: no cover
    main()
