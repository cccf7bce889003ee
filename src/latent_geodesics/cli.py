"""The ``latent-geodesics`` command line."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from ._check import UserError, check_output_dir
from .generators import DEFAULT_MODEL, ZOO, load_generator
from .jobs import InterpolateSettings, interpolate, load_latent_file
from .metrics import build_metric, metric_help, metric_names
from .solvers import SOLVERS, OptimizeConfig


class _Group(click.Group):
    """Turns a :class:`UserError` into one line on stderr and exit code 2, with no traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as e:
            click.echo(f"latent-geodesics: error: {e}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("latent-geodesics: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="latent-geodesics")
def main() -> None:
    """Perceptually shortest, realistic interpolation paths in the latent space of generative models.

    \b
    Examples:
      latent-geodesics demo
      latent-geodesics interpolate --model zoo:faces64 --seed 1 --seed 2 --metric pixel --out out/
      latent-geodesics interpolate --model my_gen.pt --latent-shape 128 --z0 a.npy --z1 b.npy --out out/
      latent-geodesics models
      latent-geodesics weights list
    """


def _parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(s) for s in text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise UserError(f"--latent-shape must be sizes like 128 or 4,8,8, got {text!r}") from None
    if not shape or any(s < 1 for s in shape):
        raise UserError(f"--latent-shape must be positive sizes like 128 or 4,8,8, got {text!r}")
    return shape


def _progress(total: int, desc: str, quiet: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", disable=quiet, file=sys.stderr, leave=False,
                dynamic_ncols=True)


@main.command("interpolate")
@click.option("--model", default=f"zoo:{DEFAULT_MODEL}", show_default=True,
              help="zoo:NAME, a TorchScript .pt file, or package.module:factory.")
@click.option("--seed", "seeds", type=int, multiple=True,
              help="Endpoint latents drawn from the prior with these seeds (give exactly two).")
@click.option("--z0", type=click.Path(dir_okay=False, path_type=Path), help="Start latent(s), .npy (one or a batch).")
@click.option("--z1", type=click.Path(dir_okay=False, path_type=Path), help="End latent(s), .npy, as many as --z0.")
@click.option("--metric", default="pixel", show_default=True, help=f"One of: {', '.join(metric_names())}.")
@click.option("--solver", type=click.Choice(list(SOLVERS)), default="optimize", show_default=True)
@click.option("--optimizer", type=click.Choice(["adam", "lbfgs"]), default="adam", show_default=True)
@click.option("--frames", type=click.IntRange(min=2), default=33, show_default=True,
              help="Frames per path, endpoints included.")
@click.option("--steps", type=click.IntRange(min=0), default=300, show_default=True,
              help="Most optimisation steps per path.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Step size (Adam: relative to the path's point spacing; default 0.05).")
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-3, show_default=True,
              help="Stop a path when its energy falls by less than this fraction over 10 steps.")
@click.option("--init", type=click.Choice(["linear", "slerp"]), default="linear", show_default=True,
              help="Starting path of the optimiser.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Output folder.")
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--latent-shape", help="Latent shape when the model does not say, e.g. 128 or 4,8,8.")
@click.option("--prior", type=click.Choice(["gaussian", "sphere"]), default=None,
              help="Latent prior (default: the model's, else gaussian).")
@click.option("--chunk-size", type=click.IntRange(min=1), default=64, show_default=True,
              help="Points per generator call (bounds memory).")
@click.option("--fps", type=click.FloatRange(min=0, min_open=True), default=12.0, show_default=True)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def interpolate_cmd(model: str, seeds: tuple[int, ...], z0: Path | None, z1: Path | None, metric: str, solver: str,
                    optimizer: str, frames: int, steps: int, lr: float | None, rtol: float, init: str, out: Path,
                    device: str, latent_shape: str | None, prior: str | None, chunk_size: int, fps: float,
                    quiet: bool) -> None:
    """Find the shortest path between two latents and write strip.png, video.mp4, path.npz, report.json.

    \b
    Examples:
      latent-geodesics interpolate --seed 1 --seed 2 --metric pixel --frames 33 --out out/
      latent-geodesics interpolate --model gen.pt --latent-shape 64 --z0 a.npy --z1 b.npy --out out/
    """
    if (z0 is None) != (z1 is None):
        raise UserError("give both --z0 and --z1, or neither")
    if z0 is not None and seeds:
        raise UserError("give endpoints either as --seed twice or as --z0/--z1, not both")
    if z0 is None and len(seeds) != 2:
        raise UserError(f"give exactly two --seed values (start and end), got {len(seeds)}")
    settings = InterpolateSettings(solver=solver, frames=frames, init=init, chunk_size=chunk_size, fps=fps,
                                   optimize=OptimizeConfig(optimizer=optimizer, lr=lr, max_steps=steps, rtol=rtol))
    _run_interpolate(model=model, seeds=seeds, z0_file=z0, z1_file=z1, metric=metric, settings=settings, out=out,
                     device=device, latent_shape=_parse_shape(latent_shape), prior=prior, quiet=quiet)


def _run_interpolate(*, model: str, seeds, z0_file, z1_file, metric: str, settings: InterpolateSettings, out: Path,
                     device: str, latent_shape, prior, quiet: bool) -> dict:
    check_output_dir(out)  # before any work: a bad --out fails at once
    metric_obj = build_metric(metric, device="cpu")  # names checked before any model is loaded
    gen = load_generator(model, device=device, latent_shape=latent_shape, prior=prior)
    metric_obj = metric_obj.to(gen.device)
    if z0_file is not None:
        za, zb = load_latent_file(z0_file, gen), load_latent_file(z1_file, gen)
    else:
        za, zb = gen.sample_latents(1, seed=seeds[0]), gen.sample_latents(1, seed=seeds[1])
    total = settings.optimize.max_steps if settings.solver == "optimize" else 0
    with _progress(total, f"{settings.solver} ({metric})", quiet) as bar:
        report = interpolate(gen, metric_obj, za, zb, out, settings, model_name=model, progress=bar)
    start, res = report["start"], report["result"]
    if not quiet:
        for b in range(report["pairs"]):
            click.echo(f"pair {b}: {metric} length {start['length'][b]:.4g} ({start['method']}) -> "
                       f"{res['length'][b]:.4g} ({res['method']}); energy {start['energy'][b]:.4g} -> "
                       f"{res['energy'][b]:.4g}", err=True)
    click.echo(f"wrote {out}/strip.png, video.mp4, path.npz, report.json")
    return report


@main.command("demo")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-out"), show_default=True)
@click.option("--device", default="cpu", show_default=True, help="cpu, cuda, cuda:N or auto.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def demo_cmd(out: Path, device: str, quiet: bool) -> None:
    """The main job on the built-in default model: a pixel-metric geodesic between two seeded faces."""
    settings = InterpolateSettings(solver="optimize", frames=17,
                                   optimize=OptimizeConfig(optimizer="adam", max_steps=150))
    _run_interpolate(model=f"zoo:{DEFAULT_MODEL}", seeds=(1, 2), z0_file=None, z1_file=None, metric="pixel",
                     settings=settings, out=out, device=device, latent_shape=None, prior=None, quiet=quiet)


@main.command("models")
def models_cmd() -> None:
    """List the built-in models (use them as --model zoo:NAME)."""
    for name, entry in ZOO.items():
        c, h, w = entry.image_shape
        disc = "with discriminator" if entry.has_discriminator else "no discriminator"
        default = " (default)" if name == DEFAULT_MODEL else ""
        click.echo(f"zoo:{name}{default}\t{c}x{h}x{w}, z={'x'.join(map(str, entry.latent_shape))}, {disc}: "
                   f"{entry.summary}")


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
def weights_fetch(names: tuple[str, ...]) -> None:
    """Fetch (and check) the named weight files, or all of them."""
    from . import weights

    for name in names or weights.all_names():
        path = weights.ensure(name)
        click.echo(f"{name}\tok\t{path}")


if __name__ == "__main__":  # pragma: no cover
    main()
