"""``latent-geodesics ppl``: the perceptual path length of a model (:mod:`latent_geodesics.ppl`)."""

from __future__ import annotations

from pathlib import Path

import click

from .._check import UserError, check_output_dir
from ..ppl import SAMPLINGS, perceptual_path_length
from .app import main
from .options import FILE, SAMPLES, SEED, Finite, lower, model_options, quiet_option, settings_from
from .output import progress_bar, write_json_option


@main.command("ppl")
@model_options
@click.option("--sampling", type=click.Choice(SAMPLINGS, case_sensitive=False), default="full", show_default=True,
              callback=lower, help="full: t uniform in [0, 1); end: t = 0 (the path's start).")
@click.option("--epsilon", type=Finite(min=0, min_open=True), default=1e-4, show_default=True,
              help="Step in t; PPL is LPIPS(t, t + epsilon) / epsilon^2.")
@click.option("--samples", type=SAMPLES, default=10_000, show_default=True,
              help="Random (pair, t) samples (NVIDIA reports 50000 for papers).")
@click.option("--crop", is_flag=True, help="Center-crop the images as NVIDIA does for faces before LPIPS.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the pairs and t.")
@click.option("--json", "json_out", type=FILE, default=None, help="Also write the result to this JSON file.")
@quiet_option()
def ppl_cmd(device: str, sampling: str, epsilon: float, samples: int, crop: bool, seed: int, json_out: Path | None,
            quiet: bool, **opts) -> None:
    """Perceptual path length (Karras et al. 2019) of a model in its latent space, with a 95% confidence interval.

    \b
    Slerp in Z, lerp in W and W+ (the model's latent space), LPIPS-VGG on images area-downsampled to 256 px,
    samples below the 1st and above the 99th percentile dropped; unit: LPIPS / epsilon^2. A path's LPIPS
    energy in `compare` and `evaluate` (ppl_energy) is on the same scale.

    \b
    Examples:
      latent-geodesics ppl --model zoo:mnist28 --samples 2000
      latent-geodesics ppl --model zoo:celeba64 --sampling end --crop --samples 10000 --json ppl.json
      latent-geodesics ppl --model ffhq.pkl --space w --crop --samples 50000 --json ppl.json
    """
    from ..workflows.interpolate import load_model

    if json_out is not None:
        check_output_dir(json_out.parent, files=(json_out.name,), option="--json")
    model = settings_from(opts).model
    if len(model.classes) > 1:
        raise UserError(f"give one --class here, got {len(model.classes)}")
    generator = load_model(model, device=device)
    with progress_bar(samples, "ppl", quiet, unit="sample") as bar:
        result = perceptual_path_length(generator, samples=samples, epsilon=epsilon, sampling=sampling, crop=crop,
                                        seed=seed, progress=lambda done: bar.update(done - bar.n))
    report = {**result.to_dict(), "model": model.model}
    click.echo(f"PPL ({report['space'].upper()}, sampling {sampling}{', cropped' if crop else ''}) "
               f"{result.value:.4g}, 95% CI {result.ci95[0]:.4g} to {result.ci95[1]:.4g} "
               f"({result.kept} of {result.samples} samples kept)")
    if json_out is not None:
        write_json_option(json_out, report)
