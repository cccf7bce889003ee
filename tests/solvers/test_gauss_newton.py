"""Gauss-Newton structure: products and steps against dense closed forms, residuals against the metrics."""

import pytest
import torch
from torch import nn

from latent_geodesics.generators import Generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import PathProblem, energy_of, linear_path, path_stats
from latent_geodesics.realism import RealismWeighted
from latent_geodesics.solvers import OptimizeConfig, optimize_path
from latent_geodesics.solvers.gauss_newton import GaussNewtonConfig, _pcg, energy_and_gradient, gauss_newton_path
from latent_geodesics.solvers.structure import laplacian, laplacian_inverse, middle_metric, relative_gradient_norm

from geodesic_cases import WARPED_Z0, WARPED_Z1, bent_line, warped_truth

D = 4


def _tiny_gen() -> Generator:
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(D, 3 * 6 * 6), nn.Tanh(), nn.Unflatten(1, (3, 6, 6))).double()
    return Generator(net, latent_shape=D, name="tiny")


def _brightness_realism(images):  # a smooth stand-in for a calibrated discriminator, in (0, 1)
    return torch.sigmoid(images.mean(dim=(1, 2, 3)) * 3)


def _metrics():
    return {
        "pixel": build_metric("pixel", dtype=torch.float64),
        "pixel-eq": build_metric("pixel-eq", dtype=torch.float64),
        "conformal": RealismWeighted(build_metric("pixel-eq", dtype=torch.float64), _brightness_realism, lam=0.7),
        "published": RealismWeighted(build_metric("pixel", dtype=torch.float64), _brightness_realism, lam=0.05,
                                     form="published"),
    }


def _dense_jacobian(problem: PathProblem, x: torch.Tensor) -> torch.Tensor:
    """Jacobian of every residual of every path in the interior points: ``(P*N*K, P*M*D)``."""
    p, m = x.shape[:2]
    gen, metric = problem.generator, problem.metric

    def residuals(flat):
        full = problem.points(flat.view_as(x))
        feats = metric.embed(gen(full.reshape(-1, D)))
        per = [f.view(p, m + 2, *f.shape[1:]) for f in feats]
        fa = tuple(f[:, :-1].reshape(-1, *f.shape[2:]) for f in per)
        fb = tuple(f[:, 1:].reshape(-1, *f.shape[2:]) for f in per)
        return metric.residual(fa, fb).reshape(-1)

    return torch.autograd.functional.jacobian(residuals, x.reshape(-1))


def _problem(metric, pairs=2, seed=1):
    gen = _tiny_gen()
    g = torch.Generator().manual_seed(seed)
    z0 = torch.randn(pairs, D, generator=g, dtype=torch.float64)
    z1 = torch.randn(pairs, D, generator=g, dtype=torch.float64)
    return PathProblem(gen, metric, z0, z1), g


@pytest.mark.parametrize("name", ["pixel", "pixel-eq", "conformal", "published"])
def test_residuals_square_to_the_metric(name):
    metric = _metrics()[name]
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(5, 3, 6, 6, generator=g, dtype=torch.float64), torch.rand(5, 3, 6, 6, generator=g, dtype=torch.float64)
    fa, fb = metric.embed(x * 2 - 1), metric.embed(y * 2 - 1)
    torch.testing.assert_close(metric.residual(fa, fb).pow(2).sum(1), metric.compare(fa, fb), rtol=1e-10, atol=1e-14)


def test_residuals_of_the_real_feature_metrics():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 16, 16, generator=g) * 2 - 1, torch.rand(2, 3, 16, 16, generator=g) * 2 - 1
    for name, opts in (("vgg-eq", {"min_size": 32}), ("lpips", {"min_size": 32})):
        metric = build_metric(name, **opts)
        fa, fb = metric.embed(x), metric.embed(y)
        torch.testing.assert_close(metric.residual(fa, fb).pow(2).sum(1), metric.compare(fa, fb), rtol=1e-4, atol=0)


@pytest.mark.parametrize("name", ["pixel", "pixel-eq", "conformal", "published"])
def test_gauss_newton_product_equals_dense(name):
    problem, g = _problem(_metrics()[name])
    x = linear_path(problem.z0, problem.z1, 4)[:, 1:-1] + 0.2 * torch.randn(2, 3, D, generator=g, dtype=torch.float64)
    jac = _dense_jacobian(problem, x)
    n = 4
    hess = 2 * n * jac.T @ jac
    v = torch.randn(x.shape, generator=g, dtype=torch.float64)
    problem.chunk_size = 4  # one path per chunk: the products are assembled across chunks
    torch.testing.assert_close(problem.gauss_newton_product(x, v).reshape(-1), hess @ v.reshape(-1), rtol=1e-9, atol=1e-12)


def test_pcg_solves_a_dense_system():
    g = torch.Generator().manual_seed(0)
    p, m, d = 2, 5, 3
    a = torch.randn(p, m * d, m * d, generator=g, dtype=torch.float64)
    spd = a @ a.transpose(1, 2) + 0.5 * torch.eye(m * d, dtype=torch.float64)
    b = torch.randn(p, m, d, generator=g, dtype=torch.float64)

    def product(v, rows):
        return (spd[rows] @ v.reshape(len(rows), -1, 1)).view_as(v)

    lap_inv = laplacian_inverse(m, dtype=torch.float64)
    sol, its = _pcg(product, b, lambda r, rows: torch.einsum("ij,pjd->pid", lap_inv, r), iters=200, tol=1e-12)
    exact = torch.linalg.solve(spd, b.reshape(p, -1, 1)).view_as(b)
    torch.testing.assert_close(sol, exact, rtol=1e-7, atol=1e-9)
    assert (its <= 2 * m * d).all()  # n in exact arithmetic; a few more in floating point


def test_laplacian_inverse_is_the_inverse():
    for m in (1, 2, 7):
        torch.testing.assert_close(laplacian_inverse(m, dtype=torch.float64) @ laplacian(m), torch.eye(m, dtype=torch.float64))


@pytest.mark.parametrize("preconditioner", ["laplacian", "kronecker"])
def test_one_step_is_the_dense_gauss_newton_step(preconditioner):
    problem, g = _problem(_metrics()["pixel-eq"])
    start = linear_path(problem.z0, problem.z1, 4)
    start[:, 1:-1] += 0.2 * torch.randn(2, 3, D, generator=g, dtype=torch.float64)
    x = start[:, 1:-1]
    jac = _dense_jacobian(problem, x)
    _, grad = energy_and_gradient(problem, x)
    hess = 2 * 4 * jac.T @ jac
    cfg = GaussNewtonConfig(max_steps=1, cg_iters=100, cg_tol=1e-13, damping=1e-12,
                            preconditioner=preconditioner)
    res = gauss_newton_path(problem, start, cfg)
    for i in range(2):  # the pairs are independent: one block of the dense matrix each
        block = slice(i * 3 * D, (i + 1) * 3 * D)
        step = -torch.linalg.solve(hess[block, block], grad[i].reshape(-1))
        torch.testing.assert_close(res.points[i, 1:-1].reshape(-1), x[i].reshape(-1) + step, rtol=1e-6, atol=1e-8)


def test_a_quadratic_problem_converges_in_one_step(linear_gen):
    metric = build_metric("pixel")
    z0, z1, bent = bent_line()
    problem = PathProblem(linear_gen, metric, z0, z1)
    cfg = GaussNewtonConfig(max_steps=1, cg_iters=40, cg_tol=1e-10, damping=1e-10)
    res = gauss_newton_path(problem, bent, cfg)
    straight = linear_path(z0, z1, 6)
    torch.testing.assert_close(res.points, straight, atol=1e-4, rtol=0)
    assert (res.grad_norm < 1e-8).all()


def test_batched_pairs_equal_one_at_a_time(conv_gen):
    metric = build_metric("pixel-eq")
    g = torch.Generator().manual_seed(2)
    z0, z1 = torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g)
    cfg = GaussNewtonConfig(max_steps=4)
    batched = gauss_newton_path(PathProblem(conv_gen, metric, z0, z1), linear_path(z0, z1, 6), cfg)
    for i in (0, 2):
        one = gauss_newton_path(PathProblem(conv_gen, metric, z0[i:i + 1], z1[i:i + 1]),
                                linear_path(z0[i:i + 1], z1[i:i + 1], 6), cfg)
        torch.testing.assert_close(batched.points[i], one.points[0], rtol=1e-4, atol=1e-5)
        assert batched.steps[i] == one.steps[0]


def test_converges_to_the_closed_form_and_stops_by_its_rule(warped_gen):
    metric = build_metric("pixel")
    z0, z1 = WARPED_Z0, WARPED_Z1
    problem = PathProblem(warped_gen, metric, z0, z1)
    res = gauss_newton_path(problem, linear_path(z0, z1, 8), GaussNewtonConfig(max_steps=60, rtol=1e-6, gtol=1e-6))
    truth = warped_truth(z0, z1, 8)
    assert res.converged.all() and (res.steps < 60).all()
    assert (res.grad_norm <= 1e-6).all() and (res.rel_change <= 1e-6).all()
    assert torch.allclose(res.points, truth, atol=0.01)
    assert (res.stats.energy <= path_stats(warped_gen, metric, truth).energy * 1.001).all()


def test_relative_gradient_norm_is_scale_free(linear_gen):
    metric = build_metric("pixel")
    z0, z1, bent = bent_line(seed=4, pairs=1, n=8, bend=0.05)
    problem = PathProblem(linear_gen, metric, z0, z1)
    energy, grad = energy_and_gradient(problem, bent[:, 1:-1])
    gmat = middle_metric(problem, bent[:, 1:-1])
    base = relative_gradient_norm(grad, energy, gmat)
    # metric units x 7: energy, gradient and G x 7; latent units x 3 (a generator reading z / 3: G / 9)
    torch.testing.assert_close(relative_gradient_norm(7 * grad, 7 * energy, 7 * gmat), base)
    torch.testing.assert_close(relative_gradient_norm(grad / 3, energy, gmat / 9), base)
    # the problem is quadratic: the measure is the relative gap to the optimum (the straight line),
    # up to the ridge that keeps G invertible
    straight = linear_path(z0, z1, 8)
    optimum = path_stats(linear_gen, metric, straight).energy
    torch.testing.assert_close(base, (energy - optimum) / energy, rtol=1e-3, atol=0)
    e0, g0 = energy_and_gradient(problem, straight[:, 1:-1])
    assert relative_gradient_norm(g0, e0, gmat) < 1e-10


@pytest.mark.parametrize("precondition", ["laplacian", "kronecker"])
def test_preconditioned_lbfgs_reaches_the_closed_form(warped_gen, precondition):
    metric = build_metric("pixel")
    z0, z1 = WARPED_Z0, WARPED_Z1
    problem = PathProblem(warped_gen, metric, z0, z1)
    cfg = OptimizeConfig(optimizer="lbfgs", max_steps=200, rtol=1e-7, precondition=precondition)
    res = optimize_path(problem, linear_path(z0, z1, 8), cfg)
    truth = warped_truth(z0, z1, 8)
    assert torch.allclose(res.points, truth, atol=0.02)
    assert (res.stats.energy <= path_stats(warped_gen, metric, truth).energy * 1.005).all()
    assert energy_of(problem.distances_sq(res.points[:, 1:-1], grad=False)).shape == (2,)


def test_inside_subdivision_it_matches_preconditioned_lbfgs(conv_gen):
    from latent_geodesics.solvers import SubdivideConfig, subdivide_path

    metric = build_metric("pixel-eq")
    g = torch.Generator().manual_seed(5)
    z0, z1 = torch.randn(2, 8, generator=g), torch.randn(2, 8, generator=g)
    gn = subdivide_path(PathProblem(conv_gen, metric, z0, z1), 8,
                        SubdivideConfig(level=GaussNewtonConfig(rtol=1e-6, gtol=1e-6)))
    lbfgs = subdivide_path(PathProblem(conv_gen, metric, z0, z1), 8,
                           SubdivideConfig(level=OptimizeConfig(optimizer="lbfgs", max_steps=400, rtol=1e-7,
                                                                gtol=1e-6, precondition="kronecker")))
    assert gn.converged.all() and lbfgs.converged.all()
    torch.testing.assert_close(gn.stats.energy, lbfgs.stats.energy, rtol=0.005, atol=0)


def test_realism_weighted_paths_are_solved(conv_gen):
    for form in ("conformal", "published"):
        metric = RealismWeighted(build_metric("pixel"), _brightness_realism, lam=0.5 if form == "conformal" else 0.02,
                                 form=form)
        g = torch.Generator().manual_seed(6)
        z0, z1 = torch.randn(1, 8, generator=g), torch.randn(1, 8, generator=g)
        problem = PathProblem(conv_gen, metric, z0, z1)
        start = linear_path(z0, z1, 6)
        res = gauss_newton_path(problem, start, GaussNewtonConfig(max_steps=30))
        assert (res.stats.energy < path_stats(conv_gen, metric, start).energy).all()


def test_without_gtol_it_stops_on_the_energy_rule_alone(warped_gen):
    from latent_geodesics.solvers import level_config

    cfg = level_config("gauss-newton", max_steps=60, rtol=1e-3, gtol=None)
    assert cfg.gtol == float("inf")  # "no gradient rule", not "a gradient that must reach 0"
    problem = PathProblem(warped_gen, build_metric("pixel"), WARPED_Z0, WARPED_Z1)
    res = gauss_newton_path(problem, linear_path(WARPED_Z0, WARPED_Z1, 8), cfg)
    assert res.converged.all() and (res.steps < 60).all() and (res.rel_change <= 1e-3).all()
