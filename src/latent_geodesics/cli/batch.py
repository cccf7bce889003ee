"""``latent-geodesics batch`` (one path per JOBS line) and ``distances`` (paths between many points)."""

from __future__ import annotations

from pathlib import Path

import click

from .._check import UserError
from ..jobs import load_latent_file
from ..limits import SHORT_FRAMES
from ..metrics import build_metric
from .app import main, wrote
from .options import (FILE, Finite, metric_options, model_options, out_option, projection_options, quiet_option,
                      realism_options, render_options, settings_from, solver_options)
from .output import progress_bar, projector

BATCH_METRIC = "pixel"
"""``batch``'s and ``distances``' metric unless --metric is given: many paths, so the cheap one."""


def _batch_options(f):
    """Model, metric, solver, executor and output options shared by ``batch`` and ``distances``."""
    for opt in reversed([
        model_options, metric_options(default=BATCH_METRIC), realism_options(),
        render_options(frames=SHORT_FRAMES, frames_help="Frames per path, endpoints included."),
        solver_options(), projection_options,
        click.option("--batch-size", type=click.IntRange(min=1, max=4096), default=8, show_default=True,
                     help="Most lines solved together as one problem (lines whose settings agree, in file order)."),
        click.option("--executor", type=click.Choice(["local", "ray"], case_sensitive=False), default="local", show_default=True,
                     help="local: this process; ray: Ray actors that load the model once (pip install "
                          "'latent-geodesics[ray]')."),
        click.option("--ray-address", default=None, metavar="auto|HOST:PORT",
                     help="Ray cluster to join (auto: the one this machine belongs to) [default: start a local one]."),
        click.option("--ray-timeout", type=Finite(min=1, max=86400), default=None, metavar="SECONDS",
                     help="Give up joining --ray-address after this long, with one error line [default: 30]."),
        click.option("--workers", type=click.IntRange(min=1, max=4096), default=None,
                     help="Ray actors [default: one per GPU, else one per --cpus-per-worker CPUs]."),
        click.option("--cpus-per-worker", type=click.IntRange(min=1, max=1024), default=1, show_default=True,
                     help="CPUs (and torch threads) of each Ray actor without a GPU."),
        out_option("Result folder (created; a rerun resumes, skipping finished paths)."),
        quiet_option(),
    ]):
        f = opt(f)
    return f


EXIT_SOME_FAILED = 3
"""Exit code of ``batch``/``distances`` when some lines failed (the others' results are written)."""


def _batch_setup(opts: dict):
    """The command's settings (every line's defaults) and a loader of generators holding the command's model."""
    from ..batch import Generators
    from ..workflows.interpolate import load_model

    defaults = settings_from(opts)
    build_metric(defaults.metric.metric, device="cpu", **defaults.metric.build_options())  # fail before any work
    gen = load_model(defaults.model, device=opts["device"])
    return defaults, Generators(gen.device, {defaults.model: gen}), gen


def _run_batch(jobs, *, opts: dict, generators, gen, defaults, jobs_file: str | None, extra=None, extra_info=None,
               figure: str | None = None, figure_caption: str = "") -> dict:
    """Solve ``jobs`` with the chosen executor into ``--out``, then write the summary and report."""
    from ..batch import batch_report, run_jobs, write_batch_outputs
    from ..executors import make_executor

    out = opts["out"]
    executor = make_executor(opts["executor"], defaults.model, generator=gen, device=opts["device"],
                             ray_address=opts["ray_address"], workers=opts["workers"],
                             cpus_per_worker=opts["cpus_per_worker"], ray_timeout=opts["ray_timeout"])
    try:
        with progress_bar(len(jobs), f"batch ({opts['executor']})", opts["quiet"], unit="line") as bar:
            run = run_jobs(jobs, out, executor, batch_size=opts["batch_size"], progress=bar)
        described = executor.describe()
    finally:
        executor.close()
    info = extra_info(run) if extra_info is not None else None
    report = batch_report(run.records, run, defaults=defaults, executor=described, jobs_file=jobs_file, extra=info)
    write_batch_outputs(out, generators, run, report, extra=extra, figure=figure, figure_caption=figure_caption)
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
@click.argument("jobs_file", type=FILE)
@_batch_options
def batch_cmd(jobs_file: Path, **opts) -> None:
    """Solve one path per line of JOBS (JSON Lines or CSV) into --out, resumably; summary.csv, report.html.

    \b
    A line is an interpolate run: endpoints "seeds": [a, b, ...] (CSV: seed0, seed1, or seeds "a b c"),
    "z" or "images" (waypoint files and pictures) or "z0"/"z1" latent .npy files (file names relative to
    JOBS), optional "id" (the file name under paths/), and any interpolate option by name (without dashes,
    e.g. "model", "class", "discriminator", "realism", "metric", "frames", "loop", "time_limit")
    overriding the command's. Each finished path is written at once to paths/NAME.npz with a record in
    manifest.jsonl; a rerun skips finished paths and redoes missing or corrupt ones. A failing line is
    recorded and the others go on.

    \b
    Examples:
      latent-geodesics batch jobs.jsonl --metric vgg-eq --frames 17 --out runs/study
      latent-geodesics batch jobs.csv --executor ray --ray-address auto --out runs/study
      {"id": "shoes", "model": "zoo:fashion32", "seeds": [3, 4], "metric": "vgg-eq", "realism": 0.5}
      {"id": "eyes", "model": "zoo:eyes128", "class": ["brown", "hazel"], "seeds": [1, 2]}
      {"id": "tour", "seeds": [1, 2, 3], "loop": true}
    """
    from ..batch import check_batch_dir, parse_jobs, resolve_jobs

    out = check_batch_dir(opts["out"])
    specs = parse_jobs(jobs_file)
    defaults, generators, gen = _batch_setup(opts)
    jobs = resolve_jobs(specs, defaults, generators, base_dir=jobs_file.parent, what=str(jobs_file),
                        projector=projector(opts["quiet"]))
    opts["out"] = out
    _run_batch(jobs, opts=opts, generators=generators, gen=gen, defaults=defaults, jobs_file=str(jobs_file))


@main.command("distances")
@click.argument("points_file", type=FILE)
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
    from ..batch import check_batch_dir, make_job
    from ..distances import (DISTANCE_FILES, check_points, check_sizes, connected, pair_list, same_points,
                            write_distance_files)

    out = check_batch_dir(opts["out"], DISTANCE_FILES)
    defaults, generators, gen = _batch_setup(opts)
    if len(defaults.model.classes) > 1:
        raise UserError(f"give one --class here, got {len(defaults.model.classes)}")
    points = check_points(load_latent_file(points_file, gen).numpy(), str(points_file))
    k = points.shape[0]
    check_sizes(k, points[0].size, knn, what=str(points_file))  # before the pairs are built
    pairs = pair_list(points.reshape(k, -1), knn)
    if mds and not connected(k, pairs):
        raise UserError(f"--mds needs the neighbour graph to connect all {k} points, and --knn {knn} leaves it in "
                        "pieces; raise --knn or drop it")
    same = same_points(points, pairs)  # a repeated point: distance 0, no path to solve
    same_set = set(same)
    jobs = [make_job(defaults, points[i], points[j], name=f"d{i:05d}-{j:05d}", line=n + 1,
                     source={"points": [i, j]}) for n, (i, j) in enumerate(pairs) if (i, j) not in same_set]
    if same:  # shown with -q too: these pairs were not solved
        click.echo(f"note: {len(same)} pair(s) of equal latents (first: points {same[0][0]} and {same[0][1]}) have "
                   "distance 0 and are not solved", err=True)
    opts["out"] = out
    state: dict = {}

    def info(run) -> dict:
        state["records"] = run.records
        return {"distances": {"points_file": str(points_file), "knn": knn, "pairs": len(pairs)}}

    def extra(stage: Path) -> None:
        state["files"] = write_distance_files(stage, k, pairs, state["records"], mds=mds, metric=defaults.metric.metric,
                                              same=same)
        if mds and not str(state["files"]["mds"]).startswith("mds.png"):
            click.echo(f"warning: no mds.png: {state['files']['mds']}", err=True)

    _run_batch(jobs, opts=opts, generators=generators, gen=gen, defaults=defaults, jobs_file=None, extra=extra,
               extra_info=info, figure="mds.png" if mds else None,
               figure_caption="Classical MDS of the geodesic distances (left) and the straight-line ones (right), "
                              "aligned by rotation and scale; numbers are point indices.")
    plotted = str(state.get("files", {}).get("mds") or "")
    wrote(f"wrote {Path(out)}/distances.npz, distances.csv" + (", mds.png" if plotted.startswith("mds.png") else ""),
          err=opts["quiet"])


