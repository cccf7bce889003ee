"""``--precision``: feature networks in bfloat16 during a solve, float32 everywhere else.

Uses the original VGG-19 cut after conv2_2 at 32 px, to keep the file fast on a CPU.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from latent_geodesics import jobs
from latent_geodesics._check import UserError
from latent_geodesics.metrics import (build_metric, computing_in, has_networks, native_bfloat16, precision_name,
                                      resolve_precision, solving_precision)
from latent_geodesics.metrics.precision import BFLOAT16_MIN_SIZE
from latent_geodesics.paths import path_stats
from latent_geodesics.solvers import level_config, stops_on_frames

OPTIONS = {"layers": "conv1_2,conv2_2", "min_size": 32}


def _images(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return 0.7 * F.interpolate(torch.rand(n, 3, 8, 8, generator=g) * 2 - 1, size=(32, 32), mode="bilinear")


@pytest.fixture(scope="module")
def vgg_eq():
    return build_metric("vgg-eq", **OPTIONS)


def test_auto_is_bfloat16_only_where_native_and_on_the_frame_rule():
    assert resolve_precision("float32", "cpu", frame_rule=True) == torch.float32
    assert resolve_precision("bfloat16", "cpu", frame_rule=False) == torch.bfloat16
    assert resolve_precision("auto", "cpu", frame_rule=False) == torch.float32  # the energy rule: float32
    native = native_bfloat16("cpu")
    assert resolve_precision("auto", "cpu", frame_rule=True) == (torch.bfloat16 if native else torch.float32)
    assert precision_name(torch.bfloat16) == "bfloat16" and precision_name(torch.float32) == "float32"
    assert not native_bfloat16("meta")
    with pytest.raises(UserError, match="unknown precision 'half'; choose one of: auto, float32, bfloat16"):
        resolve_precision("half", "cpu", frame_rule=True)


def test_auto_keeps_float32_below_64_px(vgg_eq):
    native = torch.bfloat16 if native_bfloat16("cpu") else torch.float32
    assert vgg_eq.base.network.min_size == 32 < BFLOAT16_MIN_SIZE == 64
    assert solving_precision(vgg_eq, "auto", "cpu", frame_rule=True) == torch.float32
    assert solving_precision(vgg_eq, "bfloat16", "cpu", frame_rule=True) == torch.bfloat16  # asked for: given
    at_64 = build_metric("vgg-eq", layers="conv1_2", min_size=64)
    assert solving_precision(at_64, "auto", "cpu", frame_rule=True) == native
    assert solving_precision(at_64, "auto", "cpu", frame_rule=False) == torch.float32
    assert solving_precision(build_metric("pixel"), "bfloat16", "cpu", frame_rule=True) == torch.float32


def test_native_bfloat16_is_what_the_cpu_flags_say():
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo here")
    flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
    assert native_bfloat16("cpu") == bool(flags & {"avx512_bf16", "amx_tile"})


def test_bfloat16_features_are_close_and_the_block_leaves_nothing_behind(vgg_eq):
    x, y = _images(4, 0), _images(4, 1)
    exact = vgg_eq(x, y)
    with computing_in(vgg_eq, torch.bfloat16):
        xg = x.clone().requires_grad_(True)
        low = vgg_eq(xg, y)
        low.sum().backward()
        assert all(f.dtype == torch.float32 for f in vgg_eq.embed(x))  # features leave in the metric's dtype
    xe = x.clone().requires_grad_(True)
    again = vgg_eq(xe, y)
    again.sum().backward()
    torch.testing.assert_close(again, exact, rtol=0, atol=0)  # float32 again, bit for bit
    # 8 bits of mantissa: distances within a few percent, gradients pointing the same way
    assert ((low - exact).abs() / exact).max() < 0.05
    assert F.cosine_similarity(xg.grad.flatten(), xe.grad.flatten(), dim=0) > 0.98
    with pytest.raises(RuntimeError), computing_in(vgg_eq, torch.bfloat16):
        raise RuntimeError("a solver failed")
    assert all(getattr(m, "compute_dtype", None) is None for m in vgg_eq.modules())


def test_pixel_metrics_have_no_network_to_change():
    pixel = build_metric("pixel-eq")
    assert not has_networks(pixel) and has_networks(build_metric("vgg", **OPTIONS))
    x, y = _images(2, 2), _images(2, 3)
    with computing_in(pixel, torch.bfloat16):
        torch.testing.assert_close(pixel(x, y), build_metric("pixel-eq")(x, y), rtol=0, atol=0)


def test_a_bfloat16_solve_is_reported_in_float32(conv_gen, vgg_eq):
    z0, z1 = conv_gen.sample_latents(1, seed=1), conv_gen.sample_latents(1, seed=2)
    base = jobs.InterpolateSettings(solver="subdivide", frames=5, precision="bfloat16")
    solved = jobs.solve(conv_gen, vgg_eq, z0, z1, base)
    assert solved.precision == "bfloat16" and solved.result.n_points_evaluated > 0
    exact = path_stats(conv_gen, vgg_eq, solved.points)  # outside the block: float32
    torch.testing.assert_close(solved.stats.energy, exact.energy, rtol=0, atol=0)
    torch.testing.assert_close(solved.result.stats.length, exact.length, rtol=0, atol=0)
    assert all(getattr(m, "compute_dtype", None) is None for m in vgg_eq.modules())
    # the geodesic beats the straight line under float32 too
    assert float(solved.stats.energy) < float(solved.start_stats.energy)
    exact32 = jobs.solve(conv_gen, vgg_eq, z0, z1, replace(base, precision="float32"))
    assert exact32.precision == "float32"
    assert float(solved.stats.energy) == pytest.approx(float(exact32.stats.energy), rel=0.05)
    # nothing to change for a pixel metric, and the energy rule keeps auto at float32
    assert jobs.solve(conv_gen, build_metric("pixel"), z0, z1, base).precision == "float32"
    energy_level = level_config("lbfgs-pair", ftol=None)
    energy_rule = replace(base, precision="auto", subdivide=replace(base.subdivide, level=energy_level))
    assert not stops_on_frames(energy_rule.level())
    assert jobs.solve(conv_gen, vgg_eq, z0, z1, energy_rule).precision == "float32"


def test_the_explorer_map_solves_in_bfloat16_and_measures_in_float32(conv_gen, vgg_eq):
    from latent_geodesics.app.mapping import map_latents

    z = conv_gen.sample_latents(3, seed=4)
    low = map_latents(conv_gen, vgg_eq, z, nodes=3, precision="bfloat16")
    exact = map_latents(conv_gen, vgg_eq, z, nodes=3, precision="float32")
    assert low["linear_lengths"] == exact["linear_lengths"]  # straight lines: float32 in both
    g, s = np.array(low["geodesic_lengths"]), np.array(low["linear_lengths"])
    assert (g <= s * 1.001).all() and (g[np.triu_indices(3, 1)] > 0).all()
    np.testing.assert_allclose(g, np.array(exact["geodesic_lengths"]), rtol=0.05)


def test_auto_keeps_float32_where_the_images_are_downsampled_for_the_network():
    from latent_geodesics.metrics import solving_precision
    from latent_geodesics.metrics.precision import native_bfloat16
    from latent_geodesics.networks import FeatureNet, TORCHVISION

    metric = build_metric("pixel")
    metric.network = FeatureNet("vgg19", ("conv1_2",), preprocessing=TORCHVISION, min_size=64)
    metric.network.max_size = 128
    if not native_bfloat16("cpu"):
        pytest.skip("auto is float32 on a CPU without native bfloat16 anyway")
    assert solving_precision(metric, "auto", "cpu", frame_rule=True, image_size=128) == torch.bfloat16
    assert solving_precision(metric, "auto", "cpu", frame_rule=True, image_size=256) == torch.float32
    assert solving_precision(metric, "bfloat16", "cpu", frame_rule=True, image_size=256) == torch.bfloat16
