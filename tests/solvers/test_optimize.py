import pytest
import torch

from latent_geodesics.generators import Generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import PathProblem, linear_path, path_stats
from latent_geodesics.solvers import OptimizeConfig, optimize_path

from geodesic_cases import WARPED_Z0, WARPED_Z1, bent_line, warped_truth


@pytest.mark.parametrize("optimizer,steps", [("lbfgs", 200), ("adam", 1500)])
def test_converges_to_closed_form_geodesic(warped_gen, optimizer, steps):
    metric = build_metric("pixel")
    z0, z1 = WARPED_Z0, WARPED_Z1
    n = 8
    problem = PathProblem(warped_gen, metric, z0, z1)
    cfg = OptimizeConfig(optimizer=optimizer, max_steps=steps, rtol=1e-7, lr=0.1 if optimizer == "adam" else None)
    res = optimize_path(problem, linear_path(z0, z1, n), cfg)
    truth = warped_truth(z0, z1, n)
    best = path_stats(warped_gen, metric, truth)
    assert torch.equal(res.points[:, 0], z0) and torch.equal(res.points[:, -1], z1)  # endpoints exactly fixed
    assert (res.stats.energy <= best.energy * 1.005).all()
    assert torch.allclose(res.points, truth, atol=0.02)


def test_linear_generator_geodesic_is_the_straight_line(linear_gen):
    metric = build_metric("pixel")
    z0, z1, bent = bent_line()
    problem = PathProblem(linear_gen, metric, z0, z1)
    res = optimize_path(problem, bent, OptimizeConfig(optimizer="lbfgs", max_steps=100, rtol=1e-9))
    straight = linear_path(z0, z1, 6)
    # the linear map has full column rank, so the pixel geodesic is the latent straight line
    assert torch.allclose(res.points, straight, atol=1e-3)
    torch.testing.assert_close(res.stats.energy, path_stats(linear_gen, metric, straight).energy, rtol=1e-4, atol=0)


def test_energy_decreases_and_pairs_stop_on_their_own(conv_gen):
    metric = build_metric("pixel")
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g)
    z1[0] = z0[0]  # a pair that is already optimal (zero energy): it must stop at the first check
    problem = PathProblem(conv_gen, metric, z0, z1)
    start = linear_path(z0, z1, 8)
    res = optimize_path(problem, start, OptimizeConfig(max_steps=60, rtol=1e-6))
    before = path_stats(conv_gen, metric, start).energy
    assert (res.stats.energy <= before + 1e-12).all()
    assert (res.stats.energy[1:] < before[1:]).all()
    assert res.converged[0] and res.steps[0] == 10 and (res.steps[1:] == 60).all()
    # evaluations counted: every step sends the active pairs' interior points through the generator
    # plus the final statistics: one forward pass, one forward and backward pass for the gradient, and
    # the latent metric at each path's middle (one pass per latent coordinate) for its scale-free norm
    assert res.n_points_evaluated == int(res.steps.sum()) * 7 + 2 * 3 * 7 + 3 * 8


def test_sphere_prior_points_stay_on_sphere(conv_gen):
    gen = Generator(conv_gen.net, latent_shape=(8,), prior="sphere")
    metric = build_metric("pixel")
    z0, z1 = gen.sample_latents(2, seed=1), gen.sample_latents(2, seed=2)
    for optimizer in ("adam", "lbfgs"):
        res = optimize_path(PathProblem(gen, metric, z0, z1), linear_path(z0, z1, 6),
                            OptimizeConfig(optimizer=optimizer, max_steps=20))
        norms = res.points.norm(dim=-1)
        assert torch.allclose(norms, torch.full_like(norms, 8 ** 0.5), atol=1e-4)


def test_no_interior_point_is_a_no_op(conv_gen):
    metric = build_metric("pixel")
    z0, z1 = torch.randn(1, 8), torch.randn(1, 8)
    res = optimize_path(PathProblem(conv_gen, metric, z0, z1), linear_path(z0, z1, 1), OptimizeConfig())
    assert res.points.shape == (1, 2, 8) and bool(res.converged.all())
