"""Models of real size: chunks fit a memory budget, the metric's size bound, and the time limit end to end."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import realsize_models
from cli_helpers import assert_user_error, run
from latent_geodesics import budget
from latent_geodesics._check import UserError
from latent_geodesics.budget import SAFETY, footprint, parse_bytes, set_memory_budget
from latent_geodesics.evaluation import evaluate_paths
from latent_geodesics.generators import Generator, load_generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.networks import check_max_size, resize_to_max
from latent_geodesics.paths import PathProblem, linear_path, path_stats
from latent_geodesics.settings import Settings
from latent_geodesics.workflows.interpolate import run_interpolate


@pytest.fixture
def small_budget():
    yield
    set_memory_budget(None)


def test_footprint_grows_with_the_image_area():
    small = Generator(realsize_models.Big(128), latent_shape=8)
    large = Generator(realsize_models.Big(512), latent_shape=8)
    metric = build_metric("pixel", max_size=None)
    ratio = footprint(large, metric).bytes_per_latent / footprint(small, metric).bytes_per_latent
    assert 12 < ratio < 20  # 16x the pixels; the 16x16 map before upsampling is the same


def test_chunks_of_a_1024px_model_keep_to_a_small_budget(small_budget):
    gen = load_generator("realsize_models:big1024", latent_shape=(8,))
    metric = build_metric("pixel-eq")  # downsampled to 128 px
    fp = footprint(gen, metric)
    set_memory_budget(8 * SAFETY * fp.bytes_per_latent)  # room for exactly 8 latents' graphs
    assert fp.chunk() == 8
    z0, z1 = gen.sample_latents(1, seed=1), gen.sample_latents(1, seed=2)
    problem = PathProblem(gen, metric, z0, z1)
    assert problem.chunk_size == 8
    realsize_models.BATCHES.clear()
    x = linear_path(z0, z1, 32)[:, 1:-1].clone().requires_grad_(True)
    problem.energy_backward(x)
    path_stats(gen, metric, linear_path(z0, z1, 32))
    evaluate_paths(gen, {"pixel-eq": metric}, linear_path(z0, z1, 32), baselines=())
    # every call of the model, with gradients or without: at most one chunk (plus a chunk's two outside neighbours)
    assert realsize_models.BATCHES and max(realsize_models.BATCHES) <= 8
    assert max(realsize_models.BATCHES) * SAFETY * fp.bytes_per_latent <= budget.memory_budget("cpu")


def test_interpolate_on_a_1024px_model_records_cost_and_peak_memory(tmp_path, small_budget):
    set_memory_budget("64M")
    realsize_models.BATCHES.clear()
    settings = Settings().with_fields({"model": "realsize_models:big1024", "latent_shape": (8,), "seeds": (1, 2),
                                       "metric": "pixel-eq", "frames": 9, "steps": 20})
    lines = []
    report = run_interpolate(settings, tmp_path / "o", device="cpu", notify=lines.append)
    cost = report["cost"]
    assert cost["chunk_sized"] == "by memory budget" and cost["memory_budget_mb"] == 64
    assert cost["chunk_size"] * SAFETY * cost["mb_per_latent"] <= 64
    # the load check runs two latents without gradients, twice (the same images both times, or the model is refused);
    # every call after it is at most one chunk: of the model and metric, or of the model alone (its images, a smaller
    # graph) where no metric follows
    seen = list(realsize_models.BATCHES)
    images_chunk = footprint(load_generator("realsize_models:big1024", latent_shape=(8,))).chunk()
    assert seen[:2] == [2, 2] and max(seen[2:]) <= max(cost["chunk_size"], images_chunk)
    assert images_chunk <= 4 and cost["chunk_size"] <= 2
    assert report["peak_memory_mb"] > 0 and report["model"]["image_shape"] == [3, 1024, 1024]
    assert len(lines) == 1 and "per latent" in lines[0] and "64 MB" not in lines[0] and "chunks of" in lines[0]
    assert report["metric_options"]["max_size"] == 128  # the default bound, recorded


def test_a_slow_model_under_a_time_limit_ends_with_a_path_marked_not_converged(tmp_path):
    settings = Settings().with_fields({"model": "realsize_models:slow", "latent_shape": (8,), "seeds": (1, 2),
                                       "metric": "pixel-eq", "frames": 17, "time_limit": 4.0,
                                       "ftol": 1e-9})  # a stopping rule it cannot meet in seconds
    report = run_interpolate(settings, tmp_path / "o", device="cpu")
    assert report["time_limit"]["notes"] == ["time limit reached"]  # it solved, and was cut short
    assert report["result"]["converged"] == [False] and report["result"]["steps"][0] > 0
    with np.load(tmp_path / "o" / "path.npz") as path:
        assert any(path[k].shape[-2:] == (17, 8) for k in path.files)
    # the kept path is never longer than the straight line it started from
    assert report["result"]["energy"][0] <= report["start"]["energy"][0] * (1 + 1e-6)


def test_the_cli_prints_the_cost_line_first_and_takes_a_memory_budget(tmp_path):
    r = run("interpolate", "--model", "realsize_models:slow", "--latent-shape", "8", "--seed", "1", "--seed", "2",
            "--metric", "pixel", "--frames", "5", "--steps", "3", "--memory-budget", "256M", "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    first = r.stderr.splitlines()[0]
    assert first.startswith("cost: ") and "memory budget of 0.2 GB" in first
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["cost"]["memory_budget_mb"] == 256
    set_memory_budget(None)


@pytest.mark.parametrize("bad", ["lots", "-1G", "0", "12Q", "nan"])
def test_a_bad_memory_budget_is_refused_with_one_line(tmp_path, bad):
    r = run("interpolate", "--seed", "1", "--seed", "2", "--memory-budget", bad, "--out", tmp_path / "o")
    assert r.exit_code == 2 and "memory budget" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "o").exists()
    set_memory_budget(None)


@given(st.integers(min_value=1, max_value=1 << 40), st.sampled_from(["", "K", "M", "G", "KiB", "MB", "g"]))
def test_parse_bytes_reads_sizes_with_units(n, unit):
    scale = 1024 ** " kmgt".index(unit[:1].lower() or " ")
    if n * scale < 1 << 20:
        with pytest.raises(UserError):
            parse_bytes(f"{n}{unit}")
    else:
        assert parse_bytes(f"{n}{unit}") == n * scale


def test_resize_to_max_bounds_the_shorter_side_and_keeps_the_aspect():
    x = torch.rand(2, 3, 256, 512)
    assert resize_to_max(x, 64).shape == (2, 3, 64, 128)
    assert resize_to_max(x, 300) is x and resize_to_max(x, None) is x
    # antialiased: a 2x2 checkerboard averages out instead of aliasing into stripes
    board = (torch.arange(256)[:, None] + torch.arange(256)[None, :]).remainder(2).float().expand(1, 1, 256, 256)
    small = resize_to_max(board, 64)
    assert float(small.std()) < 0.01 and abs(float(small.mean()) - 0.5) < 0.01


def test_a_bounded_metric_measures_the_downsampled_images():
    x, y = torch.rand(2, 3, 256, 256) * 2 - 1, torch.rand(2, 3, 256, 256) * 2 - 1
    metric = build_metric("pixel", max_size=64)
    small = (resize_to_max(x, 64), resize_to_max(y, 64))
    torch.testing.assert_close(metric(x, y), F.mse_loss(*small, reduction="none").flatten(1).mean(1))
    torch.testing.assert_close(build_metric("pixel", max_size="none")(x, y),
                               F.mse_loss(x, y, reduction="none").flatten(1).mean(1))
    eq = build_metric("pixel-eq", max_size=64)  # still invariant to brightness and contrast
    torch.testing.assert_close(eq(x, y), eq(0.5 * x + 0.2, y), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("bad", [0, -3, 1.5, "big", True, float("inf")])
def test_a_bad_max_size_is_refused(bad):
    with pytest.raises(UserError, match="max_size"):
        check_max_size(bad)
    with pytest.raises(UserError, match="max_size"):
        build_metric("pixel", max_size=bad)


def test_the_latent_metric_is_sketched_to_fit_a_small_budget_and_stays_close(small_budget):
    gen = Generator(realsize_models.Big(128), latent_shape=8)  # 49,152 pixel values per direction
    metric = build_metric("pixel", max_size=None)
    z = torch.randn(1, 8, generator=torch.Generator().manual_seed(5))
    exact = PathProblem(gen, metric, z, z).latent_metric(z)
    assert not PathProblem(gen, metric, z, z).approximations
    set_memory_budget("1M")  # a quarter MiB for the Jacobian: 8 rows of 49,152 values (1.5 MB) do not fit
    problem = PathProblem(gen, metric, z, z, chunk_size=4)
    sketched = problem.latent_metric(z)
    assert any("CountSketch" in a and "8192 of 49152" in a for a in problem.approximations)
    scale = float(exact.diagonal(dim1=1, dim2=2).mean())
    err = float((sketched - exact).abs().max()) / scale
    assert 0 < err < 0.05  # about 1/sqrt(8192) of the scale
