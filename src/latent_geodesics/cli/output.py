"""What the commands print: progress bars on stderr, one-line warnings, and the projection of pictures with its
bar and its errors."""

from __future__ import annotations

import sys

import click

from .._check import os_error

def progress_bar(total: int, desc: str, quiet: bool, *, budget: bool = False, unit: str = "step"):
    """A progress bar on stderr. ``budget``: the total is an upper bound (solvers stop when they converge), so the
    bar says how much of the budget is spent and at most how long the rest would take."""
    from tqdm.auto import tqdm

    fmt = "{desc}: {percentage:3.0f}% of the step budget |{bar}| {elapsed} elapsed, at most {remaining} left{postfix}" \
        if budget else None
    return tqdm(total=total, desc=desc, unit=unit, disable=quiet, file=sys.stderr, leave=False,
                dynamic_ncols=True, bar_format=fmt)


def warn_unconverged(result: dict | None, label: str) -> None:
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


def projector(quiet: bool):
    """How the CLI projects pictures: with a progress bar, then each picture's reconstruction error."""
    from ..project import ProjectConfig, project_images

    def run(gen, targets, config: dict, names: list[str]):
        cfg = ProjectConfig(**config)
        with progress_bar(cfg.steps, f"projecting {len(names)} picture(s)", quiet) as bar:
            result = project_images(gen, targets, cfg, progress=bar, names=names)
        echo_projection(result.to_dict()["images"], quiet)
        return result
    return run


def echo_projection(items: list[dict], quiet: bool) -> None:
    if not quiet:
        for item in items:
            click.echo(f"{item['name']}: reconstruction LPIPS {item['lpips']:.3f}, PSNR {item['psnr_db']:.1f} dB",
                       err=True)


def write_json_option(path, report: dict) -> None:
    """``--json FILE``: its folder made, the report written atomically, then the ``wrote`` line."""
    from ..rendering import write_json
    from .app import wrote

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise os_error(e, f"cannot create the folder of {path}") from e
    write_json(path, report)
    wrote(f"wrote {path}")
