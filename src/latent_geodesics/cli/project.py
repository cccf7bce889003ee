"""``latent-geodesics project`` (pictures to latents) and ``evaluate`` (numbers about a finished path)."""

from __future__ import annotations

from pathlib import Path

import click

from .._check import UserError, check_output_dir
from ..workflows.interpolate import load_model
from .app import main, wrote
from .options import (FILE, IMAGE, device_option, discriminator_option, latent_shape_option, model_option,
                      lower, model_options, out_option, parse_options, parse_shape, projection_options, quiet_option,
                      settings_from)
from .output import echo_projection, progress_bar, write_json_option


@main.command("project")
@click.argument("images", nargs=-1, required=True, type=IMAGE)
@model_options
@projection_options
@out_option()
@quiet_option()
def project_cmd(images: tuple[Path, ...], device: str, out: str, quiet: bool, **opts) -> None:
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
    from ..project import PROJECT_FILES, ProjectConfig, load_images, project_job

    out_dir = check_output_dir(out, files=PROJECT_FILES)  # before any work: a bad --out fails at once
    settings = settings_from(opts)
    if len(settings.model.classes) > 1:
        raise UserError(f"give one --class here, got {len(settings.model.classes)}")
    config = ProjectConfig(**settings.endpoints.projection())
    gen = load_model(settings.model, device=device)
    model = settings.model.model
    targets = load_images(images, image_shape=gen.probe(what=f"model {model!r}"), model=model)
    with progress_bar(config.steps, f"projecting {len(images)} picture(s)", quiet) as bar:
        report = project_job(gen, targets, out_dir, config, model_name=model, names=[str(p) for p in images],
                             progress=bar)
    echo_projection(report["projection"]["images"], quiet)
    wrote(f"wrote {out_dir}/projection.png, latents.npy, report.json")


@main.command("evaluate")
@click.argument("path_file", type=FILE)
@click.option("--metric", "metrics", multiple=True, callback=lower,
              help="Metric to measure with (repeatable; default: the one the path was solved with).")
@click.option("--metric-option", "metric_options", multiple=True, metavar="KEY=VALUE",
              help="Option for every --metric, e.g. min_size=128 (repeatable; default: the options the file records "
                   "for its metric, which the path was solved and reported with, else each metric's defaults).")
@model_option(default=None, help="Model that made the path (default: the zoo model recorded in the file; any other "
                                 "must be given).")
@device_option
@latent_shape_option
@discriminator_option
@click.option("--json", "json_out", type=FILE, default=None, help="Also write every number to this JSON file.")
def evaluate_cmd(path_file: Path, metrics: tuple[str, ...], metric_options: tuple[str, ...], model: str | None,
                 device: str, latent_shape: str | None, discriminator: str | None, json_out: Path | None) -> None:
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
      latent-geodesics evaluate out/path.npz --metric vgg-eq --metric-option min_size=128
    """
    from ..evaluation import evaluate_file, format_table

    if json_out is not None:
        check_output_dir(json_out.parent, files=(json_out.name,), option="--json")
    report = evaluate_file(path_file, model=model, metrics=list(metrics), device=device,
                           latent_shape=parse_shape(latent_shape), discriminator=discriminator,
                           metric_options=parse_options(metric_options) if metric_options else None)
    if report["file_discriminator"] is not None and discriminator is None:
        click.echo(f"note: the paths were solved with discriminator {report['file_discriminator']}; pass "
                   "--discriminator to score realism with it", err=True)
    click.echo(format_table(report))
    if json_out is not None:
        write_json_option(json_out, report)
