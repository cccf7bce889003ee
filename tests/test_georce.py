"""The GEORCE peer of the solvers suite (bench/georce.py): its closed-form update, its metric derivative, and
convergence to a known geodesic."""

import torch

from bench.georce import georce_path, georce_update, metric_derivative, riemannian_energy
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import PathProblem, linear_path, path_stats

from geodesic_cases import WARPED_Z0, WARPED_Z1, warped_truth


def test_update_without_metric_change_is_the_constrained_minimum():
    # g = 0: minimise sum_t u_t^T G_t u_t subject to sum_t u_t = diff, whose solution is
    # u_t = G_t^{-1} (sum_s G_s^{-1})^{-1} diff (Lagrange); equal G gives equal steps (the straight line)
    g = torch.Generator().manual_seed(0)
    b, t, d = 2, 5, 3
    a = torch.randn(b, t, d, d, generator=g, dtype=torch.float64)
    gmat = a @ a.transpose(-1, -2) + 0.5 * torch.eye(d, dtype=torch.float64)
    diff = torch.randn(b, d, generator=g, dtype=torch.float64)
    u = georce_update(gmat, torch.zeros(b, t - 1, d, dtype=torch.float64), diff)
    ginv = torch.linalg.inv(gmat)
    lam = torch.linalg.solve(ginv.sum(1), diff)
    assert torch.allclose(u, torch.einsum("btij,bj->bti", ginv, lam), atol=1e-10)
    assert torch.allclose(u.sum(1), diff, atol=1e-10)
    same = georce_update(gmat[:, :1].expand(b, t, d, d), torch.zeros(b, t - 1, d, dtype=torch.float64), diff)
    assert torch.allclose(same, (diff / t).unsqueeze(1).expand(b, t, d), atol=1e-10)


def test_update_keeps_the_endpoint_constraint_with_metric_change():
    g = torch.Generator().manual_seed(1)
    b, t, d = 1, 4, 2
    a = torch.randn(b, t, d, d, generator=g, dtype=torch.float64)
    gmat = a @ a.transpose(-1, -2) + torch.eye(d, dtype=torch.float64)
    diff = torch.randn(b, d, generator=g, dtype=torch.float64)
    u = georce_update(gmat, torch.randn(b, t - 1, d, generator=g, dtype=torch.float64), diff)
    assert torch.allclose(u.sum(1), diff, atol=1e-10)


def test_metric_derivative_matches_finite_differences(warped_gen):
    problem = PathProblem(warped_gen, build_metric("pixel"), WARPED_Z0, WARPED_Z1)
    z = torch.tensor([[0.3, -0.4], [-0.2, 0.7]])
    u = torch.tensor([[0.5, 0.2], [-0.1, 0.4]])

    def quad(zz):  # u^T G(z) u, G from the library's latent metric
        return torch.einsum("bi,bij,bj->b", u, problem.latent_metric(zz), u)

    grad = metric_derivative(problem, z, u)
    eps = 1e-3
    for k in range(2):
        e = torch.zeros_like(z)
        e[:, k] = eps
        fd = (quad(z + e) - quad(z - e)) / (2 * eps)
        assert torch.allclose(grad[:, k], fd, rtol=1e-2, atol=1e-7)


def test_minimises_its_own_energy_below_the_true_geodesic(warped_gen):
    # GEORCE minimises the left-point energy sum_t u_t^T G(z_t) u_t. Its discrete minimiser is not the
    # continuous geodesic: under WarpedNet's metric (growing like e^{2v}) it takes the climb in v in one long
    # first step, priced at the start's small G. So the test is that it beats the true geodesic on its own
    # energy, while the chord energy (what the library minimises) sees through the cheap step.
    metric = build_metric("pixel")
    n = 16
    problem = PathProblem(warped_gen, metric, WARPED_Z0, WARPED_Z1)
    out = georce_path(problem, n, max_iter=60)
    truth = warped_truth(WARPED_Z0, WARPED_Z1, n)
    line = riemannian_energy(problem, linear_path(WARPED_Z0, WARPED_Z1, n))
    assert torch.equal(out["points"][:, 0], WARPED_Z0) and torch.equal(out["points"][:, -1], WARPED_Z1)
    assert (out["riemannian_energy"] < line).all()
    assert (out["riemannian_energy"] <= riemannian_energy(problem, truth) * 1.001).all()
    chord = path_stats(warped_gen, metric, out["points"]).energy
    assert (chord > path_stats(warped_gen, metric, truth).energy).all()


def test_straight_line_of_a_linear_generator_is_left_alone(linear_gen):
    z0, z1 = torch.zeros(1, 4), torch.ones(1, 4)
    problem = PathProblem(linear_gen, build_metric("pixel"), z0, z1)
    out = georce_path(problem, 6, max_iter=5)
    assert torch.allclose(out["points"], linear_path(z0, z1, 6), atol=1e-5)
