"""The per-pair L-BFGS (``lbfgs-pair``): known minima, batches that equal single runs, own stops, deadlines."""

import time

import pytest
import torch

from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import PathProblem, linear_path, path_stats
from latent_geodesics.solvers import OptimizeConfig, SubdivideConfig, optimize_path, subdivide_path
from latent_geodesics.solvers.lbfgs import lbfgs_batch, two_loop
from latent_geodesics.solvers.optimize import frame_motion
from latent_geodesics.solvers.structure import latent_preconditioner

from geodesic_cases import WARPED_Z0, WARPED_Z1, bent_line, warped_truth


def rosenbrock_fg(scale: torch.Tensor):
    """Scaled Rosenbrock functions, pair ``i`` multiplied by ``scale[i]``: minimum 0 at all ones."""
    def fg(y, idx):
        y = y.detach().clone().requires_grad_(True)
        f = (100 * (y[:, 1:] - y[:, :-1] ** 2) ** 2 + (1 - y[:, :-1]) ** 2).sum(1) * scale[idx]
        f.sum().backward()
        return f.detach(), y.grad
    return fg


def gradient_below(tol):
    return lambda state, idx: state.g[idx].norm(dim=1) < tol


def test_two_loop_meets_the_secant_condition_and_skips_empty_slots():
    # the L-BFGS model maps the newest gradient change to the newest step (H y = s); empty slots change nothing
    g = torch.Generator().manual_seed(0)
    a = torch.randn(5, 5, generator=g, dtype=torch.float64)
    hess = a @ a.T + 5 * torch.eye(5, dtype=torch.float64)
    s = torch.randn(1, 3, 5, generator=g, dtype=torch.float64)
    y = s @ hess
    rho = 1 / (s * y).sum(-1)
    one = torch.ones(1, dtype=torch.float64)
    torch.testing.assert_close(two_loop(y[:, -1], s, y, rho, one), s[:, -1])
    padded = [torch.cat([torch.zeros_like(t[:, :2]), t], 1) for t in (s, y, rho)]
    v = torch.randn(1, 5, generator=g, dtype=torch.float64)
    torch.testing.assert_close(two_loop(v, *padded, one), two_loop(v, s, y, rho, one))
    # without history: gamma0 times the vector
    empty = [torch.zeros_like(t) for t in (s, y, rho)]
    torch.testing.assert_close(two_loop(v, *empty, 3 * one), 3 * v)


def test_finds_the_rosenbrock_minimum_of_every_pair():
    y0 = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    state = lbfgs_batch(rosenbrock_fg(torch.tensor([1.0, 2, 3, 4], dtype=torch.float64)), y0, max_evals=1000,
                        check=gradient_below(1e-8))
    torch.testing.assert_close(state.y, torch.ones_like(y0), atol=1e-5, rtol=0)
    assert not state.active.any()


def test_a_batch_equals_its_pairs_run_one_at_a_time():
    y0 = torch.randn(4, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    scale = torch.tensor([1.0, 10, 0.1, 3], dtype=torch.float64)
    batch = lbfgs_batch(rosenbrock_fg(scale), y0, max_evals=400, check=gradient_below(1e-7))
    for i in range(4):
        one = lbfgs_batch(rosenbrock_fg(scale[i:i + 1]), y0[i:i + 1], max_evals=400, check=gradient_below(1e-7))
        assert int(one.evals) == int(batch.evals[i])  # each pair spends its own evaluations, not the slowest's
        torch.testing.assert_close(one.y[0], batch.y[i], atol=1e-12, rtol=0)
    assert len(set(batch.evals.tolist())) > 1


def test_stops_at_the_evaluation_budget_and_the_deadline():
    y0 = torch.full((2, 6), -1.5, dtype=torch.float64)
    state = lbfgs_batch(rosenbrock_fg(torch.ones(2, dtype=torch.float64)), y0, max_evals=7,
                        check=lambda s, idx: torch.zeros(idx.numel(), dtype=torch.bool))
    assert state.evals.tolist() == [7, 7]
    state = lbfgs_batch(rosenbrock_fg(torch.ones(2, dtype=torch.float64)), y0, max_evals=10**6,
                        check=lambda s, idx: torch.zeros(idx.numel(), dtype=torch.bool), deadline=time.perf_counter())
    assert state.evals.tolist() == [2, 2]  # the start and one trial, then the deadline


def test_nonfinite_trial_values_are_backtracked():
    def fg(y, idx):  # a barrier: NaN beyond |y| = 2, minimum at 1.5
        y = y.detach().clone().requires_grad_(True)
        f = ((y - 1.5) ** 2).sum(1) + torch.where(y.abs().amax(1) > 2, torch.nan, 0.0)
        f.sum().backward()
        return f.detach(), torch.nan_to_num(y.grad)
    state = lbfgs_batch(fg, torch.zeros(1, 3, dtype=torch.float64), max_evals=100, check=gradient_below(1e-9),
                        first_step=100.0)
    torch.testing.assert_close(state.y, torch.full((1, 3), 1.5, dtype=torch.float64))


@pytest.mark.parametrize("precondition", ["kronecker", "laplacian", "none"])
def test_lbfgs_pair_reaches_the_closed_form_geodesic(warped_gen, precondition):
    metric = build_metric("pixel")
    problem = PathProblem(warped_gen, metric, WARPED_Z0, WARPED_Z1)
    cfg = OptimizeConfig(optimizer="lbfgs-pair", max_steps=300, rtol=1e-9, precondition=precondition)
    res = optimize_path(problem, linear_path(WARPED_Z0, WARPED_Z1, 8), cfg)
    truth = warped_truth(WARPED_Z0, WARPED_Z1, 8)
    assert torch.allclose(res.points, truth, atol=0.02)
    assert (res.stats.energy <= path_stats(warped_gen, metric, truth).energy * 1.002).all()


def test_lbfgs_pair_batches_are_independent_in_a_subdivision(conv_gen):
    # float64, so that summation order (batch or single) stays far below the stopping rule's resolution
    conv_gen = conv_gen.double()
    metric = build_metric("pixel-eq")
    g = torch.Generator().manual_seed(4)
    z0, z1 = torch.randn(3, 8, generator=g, dtype=torch.float64), torch.randn(3, 8, generator=g, dtype=torch.float64)
    level = OptimizeConfig(optimizer="lbfgs-pair", max_steps=80, rtol=1e-6, precondition="kronecker")
    cfg = SubdivideConfig(level=level, insert="cubic")
    batch = subdivide_path(PathProblem(conv_gen, metric, z0, z1), 8, cfg)
    singles = []
    for i in range(3):
        one = subdivide_path(PathProblem(conv_gen, metric, z0[i:i + 1], z1[i:i + 1]), 8, cfg)
        singles.append(int(one.steps))
        # batch and single runs differ by rounding (batch sizes change the summation order); each pair still
        # ends where it ends alone
        torch.testing.assert_close(one.points[0], batch.points[i], atol=1e-6, rtol=0)
    assert len(set(singles)) > 1  # the pairs stop on their own ...
    # ... so a batch costs about what its pairs cost alone. Not exactly: near a stop, rounding can move a pair's
    # stop by windows (on the 2-core Xeon one pair took 136 steps batched, 78 alone, ending at the same points to
    # 1e-13), while a batch whose pairs waited for the slowest would cost 3 x 80 x levels
    assert int(batch.steps.sum()) <= 1.3 * sum(singles)


def test_a_flat_pair_does_not_change_its_batch_mates_preconditioner():
    a = torch.tensor([[2.0, 0.5], [0.5, 1.0]])
    given = torch.stack([a, torch.zeros(2, 2), torch.full((2, 2), float("nan"))])
    full, pre, inv = latent_preconditioner(None, torch.zeros(3, 1, 2), "kronecker", given)
    alone = latent_preconditioner(None, torch.zeros(1, 1, 2), "kronecker", a[None])
    assert full is given  # the convergence measure keeps what was measured
    torch.testing.assert_close(pre[0], alone[1][0])
    torch.testing.assert_close(inv[0], alone[2][0])
    torch.testing.assert_close(pre[1:], torch.eye(2).expand(2, 2, 2))  # flat or not finite: the Laplacian alone
    torch.testing.assert_close(inv[1:], torch.eye(2).expand(2, 2, 2))
    assert latent_preconditioner(None, torch.zeros(2, 1, 2), "kronecker", given[1:])[1:] == (None, None)
    assert latent_preconditioner(None, torch.zeros(1, 1, 2), "laplacian", a[None])[1:] == (None, None)


def test_frame_motion_is_the_largest_move_in_mean_steps():
    # G = I, energy 16 over N = 4 segments: the mean step is sqrt(16) / 4 = 1
    x = torch.zeros(1, 3, 2)
    before = x.clone()
    before[0, 1] = torch.tensor([0.3, 0.4])  # moved 0.5
    got = frame_motion(x, before, torch.tensor([16.0]), torch.eye(2)[None], 4)
    torch.testing.assert_close(got, torch.tensor([0.5]))


def test_frame_rule_stops_a_linear_problem_near_its_optimum(linear_gen):
    z0, z1, bent = bent_line(pairs=2, dim=4, n=6)
    metric = build_metric("pixel")
    problem = PathProblem(linear_gen, metric, z0, z1)
    cfg = OptimizeConfig(optimizer="lbfgs-pair", max_steps=500, ftol=1e-3, precondition="laplacian")
    res = optimize_path(problem, bent, cfg)
    best = path_stats(linear_gen, metric, linear_path(z0, z1, 6)).energy
    assert res.converged.all()
    assert ((res.stats.energy - best) / best < 1e-4).all()
