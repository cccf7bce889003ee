"""Where the levels before the last stop: the default (frame rule 0.2) against the energy rule (``--coarse-ftol 0``).

The ``speedup`` suite showed the default ending 3.5-5% above the reference energy on faces64 and mnist28, and
"Solver directions" in docs/benchmarks.md says why: a coarse level stopped early sends the last level into a higher
local minimum.
Here each ``speedup`` pair is solved alone by the default and by the default with its coarse levels on the energy
rule (relative change 1e-3 over 10 steps), one after the other in one run; both are held against the pair's
reference energy: the lowest any benchmark run has reached (:mod:`bench.references`, this run included; for a pair
new to the table, or ``--quick``, the lower of the two polished first).
"""

from __future__ import annotations

import time

import torch

from latent_geodesics.metrics import precision_name
from latent_geodesics.solvers import SubdivideConfig

from .common import Context, log, write_result
from .references import References, pair_key
from .speedup import _model, _reference, _solve, sizes

SETTINGS = {"default": (SubdivideConfig(), torch.float32),
            "coarse energy rule": (SubdivideConfig(coarse_ftol=None), torch.float32)}
"""Name -> (subdivide settings, feature-network precision), the first the baseline of the verdict."""


def run(ctx: Context) -> None:
    run_compared(ctx, "coarse_rule", SETTINGS)


def run_compared(ctx: Context, suite: str, compared: dict[str, tuple[SubdivideConfig, torch.dtype]]) -> None:
    """Each ``speedup`` pair solved alone by each of ``compared``, held against the pair's reference energy."""
    t0 = time.perf_counter()
    s = sizes(ctx)
    refs = References(ctx)
    results = {}
    for name, size in s["models"].items():
        gen, metric = _model(name, ctx)
        pairs = []
        for k in range(size["pairs"]):
            seeds = (2 * k + 1, 2 * k + 2)
            z0, z1 = gen.sample_latents(1, seed=seeds[0]), gen.sample_latents(1, seed=seeds[1])
            log(f"{suite}: {name} pair {seeds}")
            runs = {key: _solve(gen, metric, z0, z1, size["frames"] - 1, cfg, ctx.device, dtype)
                    for key, (cfg, dtype) in compared.items()}
            pair = pair_key(name, size["min_size"], size["frames"], seeds)
            source = "references.json"
            if refs.lowest(pair) is None:
                best = min(runs.values(), key=lambda r: r["energy"][0])
                polished = _reference(gen, metric, z0, z1, best["points"], size["reference_budget"])
                refs.offer(pair, polished["energy"][0], f"{suite} reference polish")
                source = "polished here"
            for label, r in runs.items():
                refs.offer(pair, r["energy"][0], f"{suite} {label}")
            ref = refs.lowest(pair)
            row = {"seeds": list(seeds), "reference_energy": ref, "reference_from": source}
            for key, r in runs.items():
                row[key] = {**{k: v for k, v in r.items() if k != "points"}, "vs_reference": r["energy"][0] / ref}
            log("  " + "; ".join(f"{key} {row[key]['vs_reference']:.4f}x ({row[key]['evaluations']} evals, "
                                 f"{row[key]['seconds']} s)" for key in compared))
            pairs.append(row)
        results[name] = {"frames": size["frames"], "pairs": pairs}
    notes = ["each pair solved alone by each setting, one after the other",
             "reference: the lowest energy any benchmark run has reached for the pair (references.json, this run "
             "included; a pair new to it: the lower result polished)",
             "evaluations: latents through generator + VGG-19 (tangent passes included); seconds: wall time; energies "
             "measured in float32 whatever the solve computed in"]
    settings = {**s, "compared": {k: {**cfg.to_dict(), "precision": precision_name(dtype)}
                                  for k, (cfg, dtype) in compared.items()}}
    write_result(ctx, suite, settings=settings, results=results, notes=notes,
                 wall_time=time.perf_counter() - t0, model=", ".join(s["models"]))
