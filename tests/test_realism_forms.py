"""The hinge and knn realism forms, the discriminator of zoo:celeba64, and the checks that choose between them."""

import json
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from latent_geodesics._check import UserError
from latent_geodesics.data_realism import knn_radii, realism_scores
from latent_geodesics.generators import Generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import PathProblem
from latent_geodesics.realism import (FORMS, HINGE_DELTA, Calibration, DiscriminatorRealism, KnnRealism,
                                      RealismWeighted, _read_calibration, calibrate, calibration_of, hinge_threshold,
                                      realism_metric, smooth_hinge, soft_log_realism, weighted_sq)
from latent_geodesics.settings import MetricSettings
from latent_geodesics.solvers import OptimizeConfig, SubdivideConfig, subdivide_path
from latent_geodesics.workflows.interpolate import check_realism


class Plane(nn.Module):
    """``(x, y) -> a 1x1x2 image (x, y) / 4``: the pixel metric is Euclidean in the latent plane."""

    def forward(self, z):
        return (z / 4).view(-1, 1, 1, 2)


class Bump(nn.Module):
    """A critic that scores images near the origin as unrealistic (a Gaussian dip of raw score)."""

    def forward(self, x):
        return -torch.exp(-x.flatten(1).pow(2).sum(1) / (2 * 0.15 ** 2 / 16))


def test_smooth_hinge_known_values_and_continuous_slope():
    x = torch.tensor([-1.0, 0.0, 0.25, HINGE_DELTA, 1.0, 3.0], dtype=torch.float64, requires_grad=True)
    h = smooth_hinge(x)
    assert h.tolist() == pytest.approx([0.0, 0.0, 0.0625, 0.25, 0.75, 2.75])
    (g,) = torch.autograd.grad(h.sum(), x)
    assert g.tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.0, 1.0])  # slope x/delta meets 1 at delta
    assert torch.autograd.gradcheck(smooth_hinge, (torch.tensor([-0.3, 0.1, 0.4, 0.7, 2.0], dtype=torch.float64,
                                                                requires_grad=True),))


def test_hinge_costs_nothing_extra_above_the_threshold_and_a_known_value_below():
    d_sq = torch.tensor([4.0, 4.0, 0.25])
    a = torch.tensor([0.9, 0.5, 0.2])
    out = weighted_sq(d_sq, a, 1.0, "hinge", threshold=0.5)
    # a = 0.9 and 0.5: at or above tau = 0.5, the base cost exactly; a = 0.2: x = 5 - 2 = 3, h = 2.75, w = 3.75
    assert out.tolist() == pytest.approx([4.0, 4.0, 3.75 ** 2 * 0.25])


def test_hinge_gradients_are_finite_float64():
    def f(d_sq, a):
        return weighted_sq(d_sq, a, 0.7, "hinge", threshold=0.4)

    d_sq = torch.tensor([0.3, 1.2, 2.0], dtype=torch.float64, requires_grad=True)
    a = torch.tensor([0.1, 0.35, 0.8], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(f, (d_sq, a))


def test_hinge_forms_need_a_threshold_and_say_how():
    base = build_metric("pixel")
    with pytest.raises(UserError, match="needs a threshold in \\(0, 1\\].*realism_metric"):
        RealismWeighted(base, lambda im: torch.ones(im.shape[0]), form="hinge")
    with pytest.raises(UserError, match="choose one of: conformal, published, hinge, knn"):
        RealismWeighted(base, lambda im: torch.ones(im.shape[0]), form="nope")
    assert set(FORMS) == {"conformal", "published", "hinge", "knn"}
    assert MetricSettings(realism=0.5, realism_form="knn").to_dict()["realism_form"] == "knn"
    with pytest.raises(UserError, match="realism form"):
        MetricSettings(realism=0.5, realism_form="prior")


def test_threshold_is_the_lower_of_endpoints_and_typical_sample():
    cal = Calibration(low=0.0, high=1.0, offset=0.0, p5=0.1, samples=10, seed=0, p50=0.6)
    realism = lambda im: im.flatten(1)[:, 0]  # noqa: E731 - p is the first pixel
    assert hinge_threshold(realism, cal) == 0.6
    assert hinge_threshold(realism, cal, torch.tensor([0.9, 0.3]).view(2, 1, 1, 1)) == pytest.approx(0.3)
    assert hinge_threshold(realism, cal, torch.tensor([0.9, 0.8]).view(2, 1, 1, 1)) == pytest.approx(0.6)


def _plane_problem(form_lam, z0, z1):
    gen = Generator(Plane(), latent_shape=(2,), discriminator=Bump())
    cal = calibrate(gen, samples=500, use_cache=False)
    metric = realism_metric(build_metric("pixel"), gen, **form_lam, calibration=cal, endpoints=torch.cat([z0, z1]))
    res = subdivide_path(PathProblem(gen, metric, z0, z1), 8,
                         SubdivideConfig(level=OptimizeConfig(optimizer="lbfgs", max_steps=60)))
    return res.points[0], gen, cal, metric


def test_hinge_bends_around_the_dip_and_leaves_realistic_paths_alone():
    z0, z1 = torch.tensor([[-1.0, 0.05]]), torch.tensor([[1.0, 0.05]])  # the straight line crosses the dip
    points, gen, cal, metric = _plane_problem({"lam": 1.0, "form": "hinge"}, z0, z1)
    assert 0 < metric.threshold <= cal.p50
    assert points.norm(dim=1).min().item() > 0.2, points
    # far from the dip, every frame is above the threshold: the plain geodesic (the straight line) is untouched
    far0, far1 = torch.tensor([[-1.0, 1.5]]), torch.tensor([[1.0, 1.5]])
    points, gen, cal, metric = _plane_problem({"lam": 1.0, "form": "hinge"}, far0, far1)
    p = DiscriminatorRealism(gen.discriminator, cal)(gen(points))
    assert p.min() >= metric.threshold
    torch.testing.assert_close(points[:, 1], torch.full((9,), 1.5), atol=1e-4, rtol=0)


def test_soft_log_realism_approaches_the_paper_score():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(200, 5, generator=g)
    feats = torch.randn(7, 5, generator=g) * 1.5
    radii = knn_radii(real, 3)
    exact = realism_scores(feats, real, radii).log()
    soft = soft_log_realism(feats, real, radii, temperature=1e-3)
    torch.testing.assert_close(soft, exact, atol=1e-3, rtol=0)
    # the soft maximum is never below the hard one
    assert (soft_log_realism(feats, real, radii, temperature=0.1) >= exact - 1e-6).all()


def test_knn_critic_prefers_real_pictures_and_has_finite_gradients_forward_and_backward():
    g = torch.Generator().manual_seed(1)
    real = (torch.rand(300, 1, 8, 8, generator=g) * 0.2 + torch.linspace(-0.8, 0.8, 8)).clamp(-1, 1)
    critic = KnnRealism(real[:200], reference="test")
    held, noise = real[200:], torch.rand(100, 1, 8, 8, generator=g) * 2 - 1
    assert critic.score(held).mean() > critic.score(noise).mean() + 1
    with pytest.raises(UserError, match="not calibrated"):
        critic(held)
    critic.calibration = calibration_of(critic.score(noise), samples=100, seed=0)
    x = held[:4].clone().requires_grad_(True)
    p = critic(x)
    assert ((p >= 0.01) & (p <= 0.99)).all()
    (grad,) = torch.autograd.grad(critic.score(x).sum(), x)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    exact = critic.score(real[:1].clone().requires_grad_(True))  # a picture equal to a real one: still finite
    assert torch.isfinite(exact).all()
    _, tangent = torch.func.jvp(critic.score, (held[:3],), (torch.ones_like(held[:3]),))  # the solver's tangents
    assert torch.isfinite(tangent).all()


def test_calibration_of_known_scores():
    cal = calibration_of(torch.arange(101.0), samples=101, seed=0, offset_fraction=0.1)
    assert (cal.low, cal.high, cal.offset) == (0.0, 100.0, 10.0)
    assert cal.p50 == pytest.approx(60 / 110) and cal.p5 <= cal.p50


def test_calibration_cache_without_p50_is_recomputed_silently(tmp_path, recwarn):
    path = tmp_path / "old.json"
    path.write_text('{"low": 0, "high": 1, "offset": 0.1, "p5": 0.2, "samples": 10, "seed": 0, "per_image": false}')
    assert _read_calibration(str(path), samples=10, seed=0) is None
    assert not recwarn.list


def test_check_realism_lets_knn_run_without_a_discriminator():
    faces = SimpleNamespace(name="zoo:celeba64", discriminator=None)
    check_realism(MetricSettings(realism=0.5, realism_form="knn"), faces)
    with pytest.raises(UserError, match="has none; give --discriminator FILE or --realism-form knn"):
        check_realism(MetricSettings(realism=0.5, realism_form="hinge"), faces)
    other = SimpleNamespace(name="my.module:gen", discriminator=None)
    with pytest.raises(UserError, match="needs real pictures of the model's domain, and my.module:gen has none"):
        check_realism(MetricSettings(realism=0.5, realism_form="knn"), other)
    with pytest.raises(UserError, match="has none; give --discriminator FILE, or use a model with one"):
        check_realism(MetricSettings(realism=0.5), other)
    check_realism(MetricSettings(), other)  # no realism asked: nothing to check


def test_celeba64_discriminator_is_shipped_checked_and_small():
    from latent_geodesics.generators.zoo import celeba64_discriminator

    d = celeba64_discriminator()
    scores = d(torch.zeros(2, 3, 64, 64))
    assert scores.shape == (2,) and torch.isfinite(scores).all()
    from latent_geodesics.weights import shipped_path

    path = shipped_path("celeba64-d", retrain="scripts/train_celeba64_d.py")
    assert path.stat().st_size <= 2 * 1024 * 1024


@pytest.mark.slow
def test_interpolate_with_the_knn_and_hinge_forms_records_them(tmp_path):
    from cli_helpers import run

    for form in ("knn", "hinge"):
        out = tmp_path / form
        result = run("interpolate", "--model", "zoo:fashion32", "--metric", "pixel", "--realism", 1, "--realism-form",
                     form, "--seed", 1, "--seed", 2, "--frames", 3, "--steps", 2, "--out", out, "-q")
        assert result.exit_code == 0, result.output
        realism = json.loads((out / "report.json").read_text())["realism"]
        assert realism["form"] == form and 0 < realism["threshold"] <= realism["calibration"]["p50"]
        critic = realism["critic"]
        assert critic == "discriminator" if form == "hinge" else critic["critic"] == "knn"
