"""``latent-geodesics compare`` and ``demo`` (compare on the built-in model, with preview settings)."""

from __future__ import annotations

from pathlib import Path

import click

from .._check import UserError, check_output_dir
from ..workflows.compare import (COMPARE_FILES, CompareSettings, check_methods, compare, format_summary, pair_seeds,
                       seeded_endpoints)
from ..generators import DEFAULT_MODEL
from ..limits import SHORT_FRAMES
from ..realism import DEFAULT_LAMBDA
from ..settings import ModelSettings, Settings, SolverSettings
from ..workflows.interpolate import load_model, project_pictures
from .app import main, wrote
from .options import (FRAMES, IMAGE, PAIRS, Finite, device_option, lower, metric_options, model_options,
                      out_option, projection_options, quiet_option, realism_options, render_options, settings_from, solver_options)
from .output import progress_bar, projector, warn_unconverged

@main.command("compare")
@model_options
@click.option("--methods", default="linear,slerp,pixel,vgg-eq", show_default=True, callback=lower,
              help="Comma-separated: linear, slerp, retime (linear re-timed under the reference metric), or a "
                   "metric name for its geodesic, optionally NAME+realism (models with a discriminator).")
@click.option("--pairs", type=PAIRS, default=4, show_default=True, help="Endpoint pairs (of seeds).")
@click.option("--image", "images", type=IMAGE, multiple=True,
              help="Pictures projected into the latent space as endpoints instead of seeds: pair k joins the "
                   "pictures 2k and 2k+1 (give an even number).")
@projection_options
@click.option("--seed", type=click.IntRange(min=0, max=2**62), default=0, show_default=True,
              help="Base seed: pair k (from 0) joins the latents of seeds SEED+2k+1 and SEED+2k+2.")
@render_options(frames=SHORT_FRAMES, frames_help="Frames per path, endpoints included.")
@solver_options(solvers=("subdivide", "optimize"), full=False)
@metric_options(default=None)
@click.option("--eval-metrics", default=None,
              help="Comma-separated metrics every path is measured with [default: the geodesic methods' metrics, "
                   "plus pixel]. The first non-pixel one is the reference metric of the table and plots.")
@realism_options(default=DEFAULT_LAMBDA)
@out_option()
@quiet_option("No progress bar and no table.")
def compare_cmd(device: str, methods: str, pairs: int, images: tuple[Path, ...], seed: int,
                eval_metrics: str | None, out: str, quiet: bool, **opts) -> None:
    """Compare methods on the same pairs: grid.png, video.mp4, plots.png, report.json, report.html, paths.npz.

    \b
    Examples:
      latent-geodesics compare --pairs 4 --methods linear,slerp,pixel,vgg,vgg-eq --metric-option min_size=64 --out cmp/
      latent-geodesics compare --model zoo:fashion32 --methods linear,vgg-eq,vgg-eq+realism --out cmp/
      latent-geodesics compare --model zoo:celeba64 --image a.jpg --image b.jpg --out cmp/
      latent-geodesics evaluate cmp/paths.npz --metric vgg-eq --metric pixel   # every method, by name
    """
    base = settings_from(opts)
    evals = tuple(m.strip() for m in eval_metrics.split(",") if m.strip()) if eval_metrics else ()
    settings = compare_settings(methods, base, eval_metrics=evals)
    if images and len(images) % 2:
        raise UserError(f"--image pictures pair up (pair k joins pictures 2k and 2k+1); give an even number, "
                        f"got {len(images)}")
    given = [f"--{name}" for name in ("pairs", "seed")
             if click.get_current_context().get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    if images and given:
        raise UserError(f"{' and '.join(given)} choose seeded pairs; with --image the pictures are the pairs "
                        "(pair k joins pictures 2k and 2k+1): drop one or the other")
    run_compare(base, settings, pairs=pairs, seed=seed, out=out, device=device, quiet=quiet,
                images=tuple(str(p) for p in images))


def compare_settings(methods: str, base: Settings, *, eval_metrics: tuple[str, ...] = ()) -> CompareSettings:
    """``compare``'s settings from the shared tree: its solver, metric options, realism, frames and fps."""
    return CompareSettings(methods=tuple(methods.split(",")), frames=base.render.frames, solver=base.solver.solver,
                           optimize=base.solver.level(), subdivide=base.solver.subdivide_config(),
                           metric_options=dict(base.metric.options), eval_metrics=eval_metrics,
                           realism=base.metric.realism, realism_form=base.metric.realism_form, fps=base.render.fps,
                           precision=base.solver.precision)


def run_compare(base: Settings, settings: CompareSettings, *, pairs: int, seed: int, out: str | Path, device: str,
                quiet: bool, images: tuple[str, ...] = ()) -> dict:
    out = check_output_dir(out, files=COMPARE_FILES + (("projection.png",) if images else ()))  # before any work
    if len(base.model.classes) > 1:
        raise UserError(f"give one --class here, got {len(base.model.classes)}")
    gen = load_model(base.model, device=device)
    check_methods(gen, settings)
    projected = None
    if images:
        projected = project_pictures(gen, images, base.endpoints.projection(), model=base.model.model,
                                     projector=projector(quiet))
        seeds, z0, z1 = None, projected.latents[0::2], projected.latents[1::2]
    else:
        seeds = pair_seeds(pairs, seed)
        z0, z1 = seeded_endpoints(gen, seeds)
    with progress_bar(settings.progress_total(), "compare", quiet, budget=True) as bar:
        report = compare(gen, z0, z1, out, settings, model_name=base.model.model, seeds=seeds, progress=bar,
                         discriminator_name=base.model.discriminator, projection=projected)
    if not quiet:
        click.echo(format_summary(report), err=True)
    for name, method in report["methods"].items():
        warn_unconverged(method.get("solver"), f"{name}: ")
    wrote(f"wrote {out}/report.html (with grid.png, plots.png, video.mp4, report.json, paths.npz"
          f"{', projection.png' if images else ''}) in {report['wall_time_s']:.0f} s")
    return report


DEMO_METHODS = "linear,slerp,pixel,vgg-eq"
DEMO_FTOL = 0.2
"""A preview: the frame rule at 0.2 of a step (the library default, 0.07, takes about twice as long on a CPU)."""


@main.command("demo")
@out_option(default="demo-out", show_default=True)
@device_option
@click.option("--pairs", type=PAIRS, default=2, show_default=True, help="Endpoint pairs.")
@click.option("--frames", type=FRAMES, default=9, show_default=True)
@click.option("--ftol", type=Finite(min=0, min_open=True), default=DEMO_FTOL, show_default=True,
              help="Converged when no frame moved by more than this fraction of a step over 10 steps.")
@quiet_option("No progress bar and no table.")
def demo_cmd(out: str, device: str, pairs: int, frames: int, ftol: float, quiet: bool) -> None:
    """The main job: `compare` on the built-in face model, with settings that finish in minutes on a CPU.

    \b
    Methods linear, slerp, and the geodesics under pixel and equalized VGG (images at 64 px), solved by
    progressive subdivision with preconditioned L-BFGS to a preview tolerance; the video plays at 6 fps.
    Equivalent to
      latent-geodesics compare --model zoo:celeba64 --pairs 2 --frames 9 --methods linear,slerp,pixel,vgg-eq \\
          --metric-option min_size=64 --ftol 0.2 --fps 6 --out demo-out
    """
    base = Settings(model=ModelSettings(f"zoo:{DEFAULT_MODEL}"), solver=SolverSettings(ftol=ftol)).with_fields(
        {"frames": frames, "fps": 6.0, "metric_options": (("min_size", 64),), "realism": DEFAULT_LAMBDA})
    run_compare(base, compare_settings(DEMO_METHODS, base), pairs=pairs, seed=0, out=out, device=device, quiet=quiet)
