"""``python -m bench SUITE [--quick] [--device cpu|cuda] [--out DIR] [--md FILE] [--threads N]``

Examples (from the repository root)::

    python -m bench all --quick              # toy sizes, seconds, results in a temporary folder
    python -m bench laine                    # real size: bench/results/laine.json, then BENCHMARKS.md
    python -m bench solvers --device cuda

After the suites run, the Markdown report is rebuilt from every JSON file in the output folder:
``BENCHMARKS.md`` at the repository root for the default folder, ``<out>/BENCHMARKS.md`` otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
import time
from pathlib import Path

import torch

from . import SUITES
from .common import DEFAULT_OUT, REPO_ROOT, THREADS, Context, command_line, log
from .report import write_report


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suite", choices=(*SUITES, "all"), help="which suite to run (all: every suite in order)")
    p.add_argument("--quick", action="store_true", help="toy sizes on a tiny random generator (CI smoke run)")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for <suite>.json (default bench/results; with --quick a temporary folder)")
    p.add_argument("--md", type=Path, default=None, help="Markdown report to rewrite (see above)")
    p.add_argument("--threads", type=int, default=THREADS,
                   help=f"torch CPU threads (default {THREADS}); 1 is faster on a CPU shared with other jobs")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available here; run with --device cpu", file=sys.stderr)
        return 2
    if args.out is None:
        args.out = Path(tempfile.gettempdir()) / "latent-geodesics-bench-quick" if args.quick else DEFAULT_OUT
    out = args.out.resolve()
    md = args.md or (REPO_ROOT / "BENCHMARKS.md" if out == DEFAULT_OUT.resolve() else out / "BENCHMARKS.md")
    suites = SUITES if args.suite == "all" else (args.suite,)
    for suite in suites:
        ctx = Context(device=device, quick=args.quick, out=out, command=command_line(argv))
        t = time.perf_counter()
        log(f"suite {suite} ({'quick' if args.quick else 'real'} size, {device})")
        importlib.import_module(f"bench.{suite}").run(ctx)
        log(f"suite {suite} done in {time.perf_counter() - t:.1f} s -> {out / (suite + '.json')}")
    write_report(out, md)
    log(f"report -> {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
