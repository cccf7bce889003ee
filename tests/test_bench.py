"""The benchmark suite still runs: ``python -m bench all --quick`` into a temporary folder, well-formed JSON.

Checks structure only (keys present, numbers finite, the report mentions every suite), never timings.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SUITES = ("laine", "solvers", "landscape", "throughput", "scaling", "coarse_rule", "precision")
MACHINE_KEYS = {"platform", "cpu_model", "cpu_cores", "torch", "device"}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bench")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "bench", "all", "--quick", "--out", str(out),
                           "--md", str(out / "BENCHMARKS.md")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out


def numbers(value):
    """Every number in a JSON value (bools excluded)."""
    if isinstance(value, dict):
        for v in value.values():
            yield from numbers(v)
    elif isinstance(value, list):
        for v in value:
            yield from numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value


@pytest.mark.parametrize("suite", SUITES)
def test_quick_json_well_formed(quick_run: Path, suite: str) -> None:
    doc = json.loads((quick_run / f"{suite}.json").read_text())
    assert doc["suite"] == suite and doc["quick"] is True
    assert doc["command"].startswith("python -m bench all --quick")
    assert MACHINE_KEYS <= set(doc["machine"])
    assert doc["date"] and doc["settings"] and doc["results"]
    assert all(math.isfinite(x) for x in numbers(doc))


def test_quick_results_have_the_headline_fields(quick_run: Path) -> None:
    laine = json.loads((quick_run / "laine.json").read_text())["results"]
    assert {"linear", "slerp", "linear-retimed-vgg-eq", "geodesic-pixel", "geodesic-pixel-eq",
            "geodesic-vgg-eq"} <= set(laine["methods"])
    for m in laine["methods"].values():
        assert {"length_vs_linear_median", "length_vs_linear_worst", "step_cv_median"} <= set(m["summary"]["vgg-eq"])
        assert {"mid_change_median", "mid_contrast_ratio_median"} <= set(m["summary"]["brightness"])
    solvers = json.loads((quick_run / "solvers.json").read_text())["results"]
    for r in solvers.values():
        assert all(e > 0 for e in r["reference"]["reference_energy"]) and r["pass_costs"]["backward"] >= 0
        for name in ("previous-default", "default", "gauss-newton", "georce", "full-lbfgs-kronecker", "full-adam",
                     "petzka-poly3"):
            m = r["methods"][name]
            assert "reached_1pct" in m and m["passes"] > 0 and m["counts"]["forward"] > 0
        # the subdivision methods record where their own stopping rule ended them
        assert {"passes", "energy", "converged", "grad_norm", "step_cv"} <= set(r["methods"]["default"]["own_stop"])
    landscape = json.loads((quick_run / "landscape.json").read_text())["results"]
    for r in landscape.values():  # every method ends at or above the lowest energy any of them found
        assert all(v["final_over_best"] >= 1 and v["trace"] for v in r["runs"].values())
        at_best = next(p["energy"] for p in r["ray_through_best"] if p["scale"] == 1.0)
        assert at_best == pytest.approx(r["best_energy"], rel=1e-4)  # the recorded energy is the point's energy
    first = json.loads((quick_run / "first_run.json").read_text())["results"]
    for r in first["runs"].values():  # the command line as typed, in its own process, to its report
        assert r["finished"] and r["seconds"] > 0 and r["command"].startswith("latent-geodesics interpolate")
        assert len(r["converged"]) == len(r["step_cv"]) == 1 and r["step_cv"][0] >= 0
        assert r["evaluations"] > 0 and 1 <= r["length_vs_reference"] < 2  # against the polished reference
    assert first["reference"]["length"][0] >= first["reference"]["shortest_length"]
    throughput = json.loads((quick_run / "throughput.json").read_text())["results"]
    assert all(r["library_points_per_s"] > 0 and r["bare_points_per_s"] > 0 for r in throughput["throughput"])
    assert {r["chunked"] for r in throughput["memory"]} == {True, False}
    realism = json.loads((quick_run / "realism.json").read_text())["results"]
    for r in realism["models"].values():
        assert {"linear", "geodesic", "conformal-0.5", "conformal-1", "published-0.2", "published-1", "hinge-1",
                "knn-1", "prior-shell1"} <= set(r["methods"])
        for m in r["methods"].values():
            assert {"judge_confidence_min_median", "judge_off_class", "p_min_median"} <= set(m["summary"])
            assert 0.1 <= m["summary"]["judge_confidence_min_median"] <= 1  # 10 classes: max softmax >= 1/10
            assert {"step_cv_median", "data_realism_min_median", "data_realism_mean_median", "frechet",
                    "frechet_real_floor"} <= set(m["summary"])
            assert m["summary"]["data_realism_min_median"] >= 0 and m["summary"]["frechet"] >= 0
            assert 0.01 <= m["summary"]["knn_p_min_median"] <= 0.99
        assert all(0 < t <= 1 for t in r["methods"]["hinge-1"]["threshold"])
    text = (quick_run / "BENCHMARKS.md").read_text()
    assert "| DR min |" in text and "**Default.**" in text
    scaling = json.loads((quick_run / "scaling.json").read_text())["results"]
    assert all(r["batched_evaluations"] == r["one_at_a_time_evaluations"] for r in scaling["rows"])
    local = [r for r in scaling["executors"] if r["executor"] == "local"]  # quick runs skip the Ray rows
    assert local and all(r["lines_per_hour"] > 0 and r["workers_seen"] == 1 for r in local)


def test_quick_report_lists_every_suite(quick_run: Path) -> None:
    md = (quick_run / "BENCHMARKS.md").read_text()
    for suite in SUITES:
        assert f"(`{suite}`)" in md
    assert "Quick run" in md and "Where we win and where we lose" in md


def test_quick_coarse_rule_holds_both_settings_against_one_reference(quick_run: Path) -> None:
    doc = json.loads((quick_run / "coarse_rule.json").read_text())
    assert list(doc["settings"]["compared"]) == ["default", "coarse energy rule"]
    assert doc["settings"]["compared"]["coarse energy rule"]["coarse_ftol"] is None
    for model in doc["results"].values():
        for pair in model["pairs"]:
            assert pair["reference_from"] == "polished here"  # no speedup.json of a real run beside a quick one
            for name in ("default", "coarse energy rule"):
                run = pair[name]
                assert run["vs_reference"] == run["energy"][0] / pair["reference_energy"] >= 1


def test_quick_precision_measures_both_in_float32(quick_run: Path) -> None:
    doc = json.loads((quick_run / "precision.json").read_text())
    compared = doc["settings"]["compared"]
    assert list(compared) == ["float32", "bfloat16"] and compared["bfloat16"]["precision"] == "bfloat16"
    for model in doc["results"].values():
        for pair in model["pairs"]:
            for name in compared:
                run = pair[name]
                assert run["vs_reference"] == run["energy"][0] / pair["reference_energy"] >= 1
                assert run["evaluations"] > 0


def test_references_keep_the_lowest_energy_across_runs(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.common import Context
    from bench.references import FILE, References, pair_key

    def ctx(quick: bool = False) -> Context:
        import torch
        return Context(device=torch.device("cpu"), quick=quick, out=tmp_path, command="test")

    pair = pair_key("zoo:faces64", 64, 17, (1, 2))
    assert pair == "zoo:faces64 vgg-eq@64px 17 frames seeds 1-2"
    first = References(ctx())
    assert first.lowest(pair) is None
    assert first.offer(pair, 5.0e6, "speedup default") == 5.0e6
    assert first.offer(pair, 5.5e6, "speedup previous") == 5.0e6  # a higher energy leaves the table as it is
    second = References(ctx())  # a later run reads what the first wrote
    assert second.lowest(pair) == 5.0e6 and second.table[pair]["by"] == "speedup default"
    assert second.offer(pair, 4.9e6, "batch together") == 4.9e6
    doc = json.loads((tmp_path / FILE).read_text())
    assert doc["pairs"][pair]["energy"] == 4.9e6 and doc["pairs"][pair]["by"] == "batch together"
    assert not list(tmp_path.glob("*.tmp"))
    assert References(ctx(quick=True)).lowest(pair) is None  # toy runs never hold real pairs against it
