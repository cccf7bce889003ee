"""``latent-geodesics explore``: the local page of :mod:`latent_geodesics.app` (needs the ``[app]`` extra,
imported only when the command runs)."""

from __future__ import annotations

from pathlib import Path

import click

from .._check import UserError
from .app import main
from .options import SEED, Finite, model_options, projection_options, settings_from


@main.command("explore")
@model_options
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; the default answers this machine only (0.0.0.0: every network).")
@click.option("--port", type=click.IntRange(min=0, max=65535), default=8000, show_default=True,
              help="Port to listen on (0: a free one).")
@click.option("--seed", "grid_seeds", type=SEED, multiple=True,
              help="Seeds of the first grid (repeatable; default 0-11).")
@click.option("--folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The app's own folder for samples, solves and checked uploads [default: a new temporary one].")
@click.option("--time-limit", type=Finite(min=0, min_open=True), default=300.0, show_default=True,
              metavar="SECONDS", help="Longest a solve (or the map) runs before it keeps the best path so far.")
@projection_options
def explore_cmd(device: str, host: str, port: int, grid_seeds: tuple[int, ...], folder: Path | None,
                time_limit: float, **opts) -> None:
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
    from ..app import require_extra, serve

    require_extra()
    from ..project import ProjectConfig
    from ..workflows.interpolate import load_model

    settings = settings_from(opts)
    if len(settings.model.classes) > 1:
        raise UserError(f"give one --class here, got {len(settings.model.classes)}")
    serve(lambda: load_model(settings.model, device=device), model_name=settings.model.model, host=host, port=port,
          seeds=grid_seeds, folder=folder, echo=lambda line: click.echo(line, err=True), time_limit=time_limit,
          projection=ProjectConfig(**settings.endpoints.projection()))
