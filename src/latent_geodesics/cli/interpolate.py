"""``latent-geodesics interpolate``."""

from __future__ import annotations

from pathlib import Path

import click

from .._check import seconds_text
from ..settings import Settings
from ..workflows.interpolate import run_interpolate
from .app import main, wrote
from .options import (endpoint_options, metric_options, model_options, out_option, quiet_option, realism_options,
                      render_options, settings_from, solver_options, video_from, video_options)
from .output import progress_bar, projector, warn_unconverged


@main.command("interpolate")
@model_options
@endpoint_options
@metric_options()
@realism_options()
@solver_options()
@render_options()
@video_options
@out_option()
@quiet_option()
def interpolate_cmd(device: str, out: str, quiet: bool, **opts) -> None:
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

    \b
    Videos in seconds (any of --duration, --total, --hold, --easing, --timeline, --audio, --format, --scale): the
    solver solves --nodes points per leg, the frames are placed by perceptual arc length; writes the formats asked
    for (video.mp4, video.gif, video.webm, frames/) and speed.png (measured perceptual speed against the target):
      latent-geodesics interpolate --seed 1 --seed 2 --seed 3 --loop --duration 2 --hold 0.5 --easing ease-in-out \\
          --fps 30 --format mp4,gif --out loop/
      latent-geodesics interpolate --timeline t.toml --out out/
      latent-geodesics interpolate --seed 1 --seed 2 --seed 3 --loop --audio song.wav --fps 30 --out beat/
    """
    video, timeline = video_from(opts)
    settings = settings_from(opts)
    run_and_echo(settings, out=out, device=device, quiet=quiet, video=video, timeline=timeline)


def run_and_echo(settings: Settings, *, out: str, device: str, quiet: bool, video=None, timeline=None) -> dict:
    """Run ``interpolate`` with a progress bar, then print each path's length before and after."""
    run = settings.interpolate_settings()
    metric = settings.metric.metric
    bar = lambda total: progress_bar(total, f"{run.solver} ({metric})", quiet,  # noqa: E731
                                     budget=run.solver in ("optimize", "subdivide"))
    report = run_interpolate(settings, out, device=device, progress=bar, projector=projector(quiet), video=video,
                             timeline=timeline, notify=None if quiet else lambda line: click.echo(line, err=True))
    start, res = report["start"], report["result"]
    join = report["waypoints"] is not None
    if not quiet:
        for b in range(report["pairs"]):
            click.echo(f"{'leg' if join else 'pair'} {b}: {metric} length {start['length'][b]:.4g} "
                       f"({start['method']}) -> {res['length'][b]:.4g} ({res['method']}); energy "
                       f"{start['energy'][b]:.4g} -> {res['energy'][b]:.4g}", err=True)
    warn_unconverged(res, "")
    for note in res.get("notes", []):  # what was approximated, cut short, or kept instead of the solver's path
        click.echo(f"note: {note}", err=True)
    images = settings.endpoints.images
    if video is not None:
        v = report["video"]
        wrote(f"wrote {Path(out)}/strip.png, {', '.join(v['outputs']['files'])}, path.npz, report.json"
              f"{', projection.png' if report['projection'] else ''} ({v['frames']} frames at {v['fps']:g} fps, "
              f"{seconds_text(v['seconds'])})")
        return report
    wrote(f"wrote {Path(out)}/strip.png, video.mp4, path.npz, report.json{', projection.png' if images else ''}")
    return report
