import math

import pytest
import torch
from torch import nn

from latent_geodesics._check import UserError
from latent_geodesics.generators import Generator, load_generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import PathProblem, linear_path, path_stats
from latent_geodesics.realism import (Calibration, DiscriminatorRealism, RealismWeighted, calibrate, critic,
                                      depends_on_batch, weighted_sq)
from latent_geodesics.solvers import OptimizeConfig, SubdivideConfig, optimize_path, subdivide_path


class Plane(nn.Module):
    """``(x, y) -> a 1x1x2 image (x, y) / 4``: the pixel metric is Euclidean in the latent plane."""

    latent_shape = (2,)

    def forward(self, z):
        return (z / 4).view(-1, 1, 1, 2)


class Bump(nn.Module):
    """A critic that scores images near ``centre`` as unrealistic (a Gaussian dip of raw score)."""

    def __init__(self, centre=(0.0, 0.0), width=0.15):
        super().__init__()
        self.register_buffer("centre", torch.tensor(centre) / 4)
        self.width = width

    def forward(self, x):
        d2 = (x.flatten(1) - self.centre.to(x.dtype)).pow(2).sum(1)
        return -torch.exp(-d2 / (2 * self.width ** 2 / 16))


def ones(images):
    return torch.ones(images.shape[0], dtype=images.dtype, device=images.device)


def test_weighted_metric_equals_base_where_realism_is_one():
    base = build_metric("pixel")
    x, y = torch.rand(5, 3, 4, 4) * 2 - 1, torch.rand(5, 3, 4, 4) * 2 - 1
    for lam in (0.0, 0.2, 3.0):
        torch.testing.assert_close(RealismWeighted(base, ones, lam=lam)(x, y), base(x, y))
    torch.testing.assert_close(RealismWeighted(base, ones, lam=0.0, form="published")(x, y), base(x, y),
                               rtol=1e-5, atol=1e-6)


def test_forms_by_hand():
    d_sq, a = torch.tensor([4.0, 0.25]), torch.tensor([0.5, 0.1])
    torch.testing.assert_close(weighted_sq(d_sq, a, 0.2, "published"), torch.tensor([(0.4 + 2) ** 2, (2 + 0.5) ** 2]))
    torch.testing.assert_close(weighted_sq(d_sq, a, 0.2, "conformal"), torch.tensor([1.2 ** 2 * 4, 2.8 ** 2 * 0.25]))


def test_segment_realism_is_geometric_mean():
    base = build_metric("pixel")
    realism = lambda im: im.flatten(1)[:, 0] * 0 + torch.tensor([0.25, 1.0])[: im.shape[0]]  # noqa: E731
    m = RealismWeighted(base, realism, lam=1.0)
    x, y = torch.zeros(2, 1, 1, 2), torch.ones(2, 1, 1, 2)
    fa, fb = m.embed(x), m.embed(y)
    # both ends of the first pair have p = 0.25, so a = 0.25 and w = 1 + (4 - 1) = 4
    assert m.compare(fa, fb)[0].item() == pytest.approx(16 * base(x, y)[0].item())


def _bend(form: str, lam: float):
    gen = Generator(Plane(), latent_shape=(2,), discriminator=Bump())
    cal = calibrate(gen, samples=500, use_cache=False)
    base = build_metric("pixel")
    metric = RealismWeighted(base, DiscriminatorRealism(gen.discriminator, cal), lam=lam, form=form)
    z0, z1 = torch.tensor([[-1.0, 0.05]]), torch.tensor([[1.0, 0.05]])  # the straight line crosses the dip
    problem = PathProblem(gen, metric, z0, z1)
    res = subdivide_path(problem, 8, SubdivideConfig(level=OptimizeConfig(optimizer="lbfgs", max_steps=60)))
    return res.points[0], gen, cal


@pytest.mark.parametrize("form,lam", [("conformal", 1.0), ("published", 0.02)])
def test_low_realism_pushes_the_path_away(form, lam):
    points, gen, cal = _bend(form, lam)
    closest = points.norm(dim=1).min().item()
    assert closest > 0.2, points  # the straight line passes at 0.05 from the dip's centre
    p = DiscriminatorRealism(gen.discriminator, cal)(gen(points))
    p_line = DiscriminatorRealism(gen.discriminator, cal)(gen(linear_path(points[:1], points[-1:], 8)[0]))
    assert p.min() > p_line.min()


def test_calibration_is_cached_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path))
    calls = []

    class Counting(Bump):
        def forward(self, x):
            calls.append(x.shape[0])
            return super().forward(x)

    gen = Generator(Plane(), latent_shape=(2,), discriminator=Counting(), name="plane")
    first = calibrate(gen, samples=300)
    n = len(calls)
    assert n > 0 and list(tmp_path.glob("calibration/*.json"))
    second = calibrate(gen, samples=300)
    assert second == first and len(calls) == n  # read back, nothing recomputed
    assert calibrate(gen, samples=400) != first  # other settings, another entry
    assert first.low < first.high and 0.01 <= first.p5 <= 0.99


def test_batch_dependent_discriminator_is_scored_per_image():
    class BatchStat(nn.Module):
        def forward(self, x):
            return x.flatten(1).sum(1) - x.flatten(1).sum(1).mean()  # depends on the rest of the batch

    gen = Generator(Plane(), latent_shape=(2,), discriminator=BatchStat())
    images = gen(torch.randn(6, 2))
    assert depends_on_batch(gen.discriminator, images)
    cal = calibrate(gen, samples=50, use_cache=False)
    assert cal.per_image
    realism = DiscriminatorRealism(gen.discriminator, cal)
    alone = torch.cat([realism(images[i:i + 1]) for i in range(6)])
    torch.testing.assert_close(realism(images), alone)


def test_fashion32_scores_do_not_depend_on_the_batch():
    gen = load_generator("zoo:fashion32")
    images = gen(gen.sample_latents(8, seed=0))
    assert not depends_on_batch(gen.discriminator, images)
    mixed = torch.cat([images[:3], gen(gen.sample_latents(5, seed=9))])
    torch.testing.assert_close(critic(gen.discriminator, mixed)[:3], critic(gen.discriminator, images)[:3])


def test_calibration_mapping_and_errors():
    cal = Calibration(low=-1.0, high=1.0, offset=0.2, p5=0.3, samples=10, seed=0)
    p = cal.realism(torch.tensor([-5.0, -1.0, 1.0, 3.0]))
    assert p.tolist() == pytest.approx([0.01, 0.2 / 2.2, 0.99, 0.99])
    with pytest.raises(UserError, match="no discriminator"):
        calibrate(Generator(Plane(), latent_shape=(2,)))
    with pytest.raises(UserError, match="form"):
        RealismWeighted(build_metric("pixel"), ones, form="nope")
    with pytest.raises(UserError, match="one score per image"):
        critic(lambda x: torch.zeros(3), torch.zeros(2, 1, 1, 2))
    assert math.isfinite(weighted_sq(torch.zeros(1), torch.ones(1), 0.2, "published").item())


def test_realism_works_with_full_optimisation_too():
    gen = Generator(Plane(), latent_shape=(2,), discriminator=Bump())
    metric = RealismWeighted(build_metric("pixel"), DiscriminatorRealism(gen.discriminator,
                                                                         calibrate(gen, samples=300, use_cache=False)))
    z0, z1 = torch.tensor([[-1.0, 0.05]]), torch.tensor([[1.0, 0.05]])
    start = linear_path(z0, z1, 8)
    res = optimize_path(PathProblem(gen, metric, z0, z1), start, OptimizeConfig(optimizer="lbfgs", max_steps=40))
    assert res.stats.energy[0] < path_stats(gen, metric, start).energy[0]
