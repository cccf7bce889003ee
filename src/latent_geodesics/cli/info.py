"""``latent-geodesics models``, ``metrics`` and ``weights``: what is built in, and the weight files."""

from __future__ import annotations

import sys

import click

from .._check import UserError
from ..generators import DEFAULT_MODEL, ZOO
from ..metrics import metric_help
from .app import _Group, main
from .options import quiet_option
from .output import progress_bar


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
    from ..weights import all_names, status

    for name in all_names():
        present, path, note = status(name)
        click.echo(f"{name}\t{'cached' if present else 'missing'}\t{path}\t{note}")


@weights_group.command("fetch")
@click.argument("names", nargs=-1)
@quiet_option()
def weights_fetch(names: tuple[str, ...], quiet: bool) -> None:
    """Fetch (and check) the named weight files, or all of them."""
    from ..weights import all_names, ensure

    todo = list(names) or all_names()
    unknown = [n for n in todo if n not in all_names()]
    if unknown:
        raise UserError(f"unknown weight file {unknown[0]!r}; known: {', '.join(all_names())}")
    with progress_bar(len(todo), "weights", quiet) as bar:
        for name in todo:
            bar.set_postfix_str(name)
            path = ensure(name)
            bar.update(1)
            bar.write(f"{name}\tok\t{path}", file=sys.stdout)
