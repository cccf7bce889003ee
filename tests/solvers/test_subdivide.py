import time

import pytest
import torch

from latent_geodesics.generators import Generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.curves import interpolate_points, spline_points
from latent_geodesics.paths import DeadlineReached, PathProblem, linear_path, path_stats
from latent_geodesics.jobs import place_frames
from latent_geodesics.solvers import (OptimizeConfig, SolveResult, SubdivideConfig, frames_between_nodes, optimize_path,
                                      refine_path, refine_work, retime_path, subdivide_path)
from latent_geodesics.solvers.structure import middle_metric
from latent_geodesics.solvers.subdivide import levels, midpoints

from geodesic_cases import WARPED_Z0, WARPED_Z1, bent_line, warped_truth

LBFGS = OptimizeConfig(optimizer="lbfgs", max_steps=60, rtol=1e-7)


def test_midpoints_interleave():
    p = torch.tensor([[[0.0], [2.0], [4.0]]])
    assert midpoints(p, lambda z: z).flatten().tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("variant", ["joint", "local"])
@pytest.mark.parametrize("n", [8, 6])  # 6 is not a power of two: re-timed from 8, then polished
def test_subdivision_converges_to_closed_form(warped_gen, variant, n):
    metric = build_metric("pixel")
    z0, z1 = WARPED_Z0, WARPED_Z1
    problem = PathProblem(warped_gen, metric, z0, z1)
    res = subdivide_path(problem, n, SubdivideConfig(variant=variant, level=LBFGS, local_steps=40, sweeps=40))
    truth = warped_truth(z0, z1, n)
    assert res.points.shape == (2, n + 1, 2)
    assert torch.equal(res.points[:, 0], z0) and torch.equal(res.points[:, -1], z1)
    assert torch.allclose(res.points, truth, atol=0.02)
    assert (res.stats.energy <= path_stats(warped_gen, metric, truth).energy * 1.005).all()


def test_subdivision_and_full_optimisation_agree_on_a_random_network(conv_gen):
    metric = build_metric("pixel-eq")
    g = torch.Generator().manual_seed(5)
    z0, z1 = torch.randn(2, 8, generator=g), torch.randn(2, 8, generator=g)
    problem = PathProblem(conv_gen, metric, z0, z1)
    cfg = OptimizeConfig(optimizer="lbfgs", max_steps=150, rtol=1e-8)
    full = optimize_path(problem, linear_path(z0, z1, 8), cfg)
    sub = subdivide_path(problem, 8, SubdivideConfig(level=cfg))
    start = path_stats(conv_gen, metric, linear_path(z0, z1, 8)).energy
    assert (full.stats.energy < start).all()
    torch.testing.assert_close(sub.stats.energy, full.stats.energy, rtol=0.01, atol=0)


def test_batched_pairs_equal_one_at_a_time(conv_gen):
    metric = build_metric("pixel")
    g = torch.Generator().manual_seed(2)
    z0, z1 = torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g)
    cfg = SubdivideConfig(level=OptimizeConfig(max_steps=15))
    batched = subdivide_path(PathProblem(conv_gen, metric, z0, z1), 4, cfg)
    for i in (0, 2):
        single = subdivide_path(PathProblem(conv_gen, metric, z0[i:i + 1], z1[i:i + 1]), 4, cfg)
        torch.testing.assert_close(batched.points[i:i + 1], single.points, rtol=1e-4, atol=1e-5)
        assert batched.steps[i] == single.steps[0]


def test_converged_pair_stops_being_evaluated(conv_gen):
    metric = build_metric("pixel")
    z0 = torch.randn(2, 8)
    z1 = z0.clone()
    z1[1] += torch.randn(8)  # pair 0 has zero length: optimal from the start
    res = subdivide_path(PathProblem(conv_gen, metric, z0, z1), 4, SubdivideConfig(level=OptimizeConfig(max_steps=40)))
    assert res.steps[0] < res.steps[1]


def test_sphere_prior_on_every_level(conv_gen):
    gen = Generator(conv_gen.net, latent_shape=(8,), prior="sphere")
    metric = build_metric("pixel")
    z0, z1 = gen.sample_latents(2, seed=3), gen.sample_latents(2, seed=4)
    for variant in ("joint", "local"):
        res = subdivide_path(PathProblem(gen, metric, z0, z1), 5,
                             SubdivideConfig(variant=variant, level=OptimizeConfig(max_steps=4), local_steps=4, sweeps=4))
        norms = res.points.norm(dim=-1)
        assert torch.allclose(norms, torch.full_like(norms, 8 ** 0.5), atol=1e-4)


def test_gaussian_shell_keeps_points_near_typical_radius(conv_gen):
    gen = Generator(conv_gen.net, latent_shape=(8,), shell=1.0)
    metric = build_metric("pixel")
    z0, z1 = gen.sample_latents(1, seed=3), -gen.sample_latents(1, seed=3) + 0.1  # the line passes near 0
    res = optimize_path(PathProblem(gen, metric, z0, z1), linear_path(z0, z1, 4), OptimizeConfig(max_steps=5))
    norms = res.points[0, 1:-1].norm(dim=-1)
    radius = (8 - 0.5) ** 0.5
    assert ((norms - radius).abs() <= 2 ** -0.5 + 1e-5).all()
    assert torch.equal(res.points[:, 0], z0)  # endpoints are the user's, untouched


def test_retimed_path_has_constant_speed(warped_gen):
    metric = build_metric("pixel")
    z0, z1 = torch.tensor([[-1.0, -1.5]]), torch.tensor([[1.0, 1.5]])
    line = linear_path(z0, z1, 16)
    before = path_stats(warped_gen, metric, line).d_sq.sqrt()
    assert (before.std() / before.mean()) > 0.3  # exp(v) makes the straight line very uneven
    retimed = retime_path(warped_gen, metric, line, 17)
    d = path_stats(warped_gen, metric, retimed).d_sq.sqrt()
    assert (d.std(unbiased=False) / d.mean()) < 0.05
    assert torch.equal(retimed[:, 0], z0) and torch.equal(retimed[:, -1], z1)


class _Count:
    """Adds up what a solver tells its progress bar."""

    def __init__(self) -> None:
        self.n = 0

    def update(self, n: int = 1) -> None:
        self.n += n

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass


@pytest.mark.parametrize("variant", ["joint", "local"])
@pytest.mark.parametrize("n", [8, 5])  # 5: levels of 2, 4 and 8 segments, then 5 again (re-timed and polished)
def test_progress_counts_latent_evaluations_up_to_the_stated_bound(warped_gen, variant, n):
    # Adam with rtol 0 never stops early, so every level uses its whole budget and the bar ends exactly at the bound
    level = OptimizeConfig(optimizer="adam", max_steps=7, rtol=0.0)
    config = SubdivideConfig(variant=variant, level=level, local_steps=3, sweeps=2)
    bar = _Count()
    subdivide_path(PathProblem(warped_gen, build_metric("pixel"), WARPED_Z0, WARPED_Z1), n, config, progress=bar)
    by_hand = {("joint", 8): 7 * (1 + 3 + 7), ("local", 8): 7 * 1 + (3 * 2 + 2 * 3) + (3 * 4 + 2 * 7),
               ("joint", 5): 7 * (1 + 3 + 7 + 4), ("local", 5): 7 * 1 + (3 * 2 + 2 * 3) + (3 * 4 + 2 * 7) + 7 * 4}
    assert bar.n == config.max_work(n) == by_hand[variant, n]


def test_progress_bound_holds_for_lbfgs(warped_gen):
    level = OptimizeConfig(optimizer="lbfgs", max_steps=12, rtol=0.0)
    bar = _Count()
    subdivide_path(PathProblem(warped_gen, build_metric("pixel"), WARPED_Z0, WARPED_Z1), 8,
                   SubdivideConfig(level=level), progress=bar)
    assert 0 < bar.n <= SubdivideConfig(level=level).max_work(8)


def test_interpolate_progress_total_is_the_optimize_solvers_work(warped_gen):
    from latent_geodesics.jobs import InterpolateSettings

    level = OptimizeConfig(optimizer="adam", max_steps=9, rtol=0.0)
    bar = _Count()
    optimize_path(PathProblem(warped_gen, build_metric("pixel"), WARPED_Z0, WARPED_Z1),
                  linear_path(WARPED_Z0, WARPED_Z1, 6), level, progress=bar)
    assert bar.n == InterpolateSettings(solver="optimize", frames=7, optimize=level).progress_total() == 9 * 5


def test_cubic_midpoints_follow_a_cubic_and_keep_the_old_points():
    t = torch.linspace(0, 1, 5)
    p = torch.stack([t, t**3 - t**2], 1)[None]  # (1, 5, 2)
    fine = midpoints(p, lambda z: z, "cubic")
    tt = torch.linspace(0, 1, 9)
    truth = torch.stack([tt, tt**3 - tt**2], 1)
    assert torch.equal(fine[0, 0::2], p[0])
    torch.testing.assert_close(fine[0, 3:6:2], truth[3:6:2])  # interior segments: exact for a cubic
    # end segments use the quadratic through the last three points: exact for a quadratic
    q = torch.stack([t, t**2], 1)[None]
    torch.testing.assert_close(midpoints(q, lambda z: z, "cubic")[0], torch.stack([tt, tt**2], 1))


def test_spline_points_pass_through_the_nodes_and_are_linear_for_two():
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(2, 6, 3, generator=g)
    at = torch.arange(6, dtype=torch.float32).expand(2, -1)
    torch.testing.assert_close(spline_points(pts, at), pts)
    two = pts[:, :2]
    where = torch.tensor([[0.25, 0.5]]).expand(2, -1)
    torch.testing.assert_close(spline_points(two, where), interpolate_points(two, where))


def test_frames_between_nodes_are_evenly_spaced_on_a_straight_path(linear_gen):
    # nodes on a straight line at uneven spacing: the frames must come out at equal steps, same endpoints
    z0, z1 = torch.zeros(1, 4), torch.ones(1, 4)
    s = torch.tensor([0.0, 0.1, 0.2, 0.7, 1.0])
    nodes = z0[:, None] + s[None, :, None] * (z1 - z0)[:, None]
    metric = build_metric("pixel")
    frames = frames_between_nodes(linear_gen, metric, nodes, 11, density=8)
    assert frames.shape == (1, 11, 4) and torch.equal(frames[:, 0], z0) and torch.equal(frames[:, -1], z1)
    d = path_stats(linear_gen, metric, frames).d_sq.sqrt()
    assert float(d.std() / d.mean()) < 0.05


def test_a_deadline_returns_a_path_of_the_asked_size_that_is_not_converged(conv_gen):
    metric = build_metric("pixel")
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(2, 8, generator=g), torch.randn(2, 8, generator=g)
    res = subdivide_path(PathProblem(conv_gen, metric, z0, z1), 8, SubdivideConfig(), deadline=time.perf_counter())
    assert res.points.shape == (2, 9, 8) and not res.converged.any()
    # no pass with gradients fits before a deadline that has passed: no step, no gradient norm (reported as null)
    assert (res.steps == 0).all() and torch.isnan(res.grad_norm).all()
    torch.testing.assert_close(res.stats.energy, path_stats(conv_gen, metric, res.points).energy)


def test_a_deadline_stops_a_pass_before_its_chunk_would_end_past_it(conv_gen):
    # chunks of 2 points; the problem believes each point takes 10 s: nothing may start within 15 s of the deadline
    metric = build_metric("pixel")
    z0, z1 = torch.randn(1, 8), torch.randn(1, 8)
    problem = PathProblem(conv_gen, metric, z0, z1, chunk_size=2)
    problem._seconds["backward"] = 10.0
    problem.deadline = time.perf_counter() + 15.0
    x = linear_path(z0, z1, 8)[:, 1:-1].clone().requires_grad_(True)
    with pytest.raises(DeadlineReached):
        problem.energy_backward(x)
    assert problem.n_points_backward == 0
    problem.deadline = time.perf_counter() + 25.0  # the first chunk fits; it measures itself: the rest fit too
    problem.energy_backward(x)
    assert problem.n_points_backward == 7 and problem.seconds_per_point("backward") < 10.0


def test_a_solver_stopped_by_the_deadline_mid_level_keeps_its_best_path(conv_gen):
    metric = build_metric("pixel")
    g = torch.Generator().manual_seed(3)
    z0, z1 = torch.randn(1, 8, generator=g), torch.randn(1, 8, generator=g)
    free = subdivide_path(PathProblem(conv_gen, metric, z0, z1), 8, SubdivideConfig())
    problem = PathProblem(conv_gen, metric, z0, z1)
    calls = {"n": 0}
    real = problem.energy_backward

    def counting(*args, **kw):  # the 12th evaluation finds the deadline passed
        calls["n"] += 1
        if calls["n"] == 12:
            problem.deadline = time.perf_counter() - 1.0
        return real(*args, **kw)

    problem.energy_backward = counting
    res = subdivide_path(problem, 8, SubdivideConfig())
    assert res.points.shape == (1, 9, 8) and not res.converged.any() and int(res.steps) < int(free.steps)
    line = path_stats(conv_gen, metric, linear_path(z0, z1, 8)).energy
    assert float(res.stats.energy) < float(line)  # what was solved before the deadline is kept


@pytest.mark.parametrize("variant", ["joint", "local"])
@pytest.mark.parametrize("n", [8, 6])
def test_on_level_sees_every_level_and_changes_nothing(conv_gen, variant, n):
    metric = build_metric("pixel")
    g = torch.Generator().manual_seed(3)
    z0, z1 = torch.randn(2, 8, generator=g), torch.randn(2, 8, generator=g)
    cfg = SubdivideConfig(variant=variant, level=OptimizeConfig(max_steps=10), local_steps=5, sweeps=5)
    plain = subdivide_path(PathProblem(conv_gen, metric, z0, z1), n, cfg)
    seen = []
    hooked = subdivide_path(PathProblem(conv_gen, metric, z0, z1), n, cfg, on_level=seen.append)
    assert torch.equal(plain.points, hooked.points)
    assert [p.shape[1] - 1 for p in seen] == levels(n)
    assert torch.equal(seen[-1], hooked.points)
    for p in seen:
        assert torch.equal(p[:, 0], z0) and torch.equal(p[:, -1], z1)
        assert not p.requires_grad


def _solved(problem: PathProblem, nodes: torch.Tensor) -> SolveResult:
    """``nodes`` as a solver's result, with the latent metric a solve would hand on."""
    stats = path_stats(problem.generator, problem.metric, nodes)
    return SolveResult(points=nodes, stats=stats, steps=torch.full((nodes.shape[0],), 7), converged=torch.ones(
        nodes.shape[0], dtype=torch.bool), n_points_evaluated=0, wall_time=1.0,
        latent_metric=middle_metric(problem, nodes[:, 1:-1]))


EXACT = SubdivideConfig(level=OptimizeConfig(optimizer="lbfgs-pair", max_steps=100, rtol=1e-10,
                                             precondition="kronecker"), coarse_rtol=None)


def test_refine_solves_each_midpoint_between_its_fixed_neighbours(linear_gen):
    # a linear generator under the pixel metric: the best point between a and c is (a + c) / 2
    z0, z1, nodes = bent_line(pairs=2, dim=4, n=4)
    problem = PathProblem(linear_gen, build_metric("pixel"), z0, z1)
    given = _solved(problem, nodes)
    before = problem.n_points_evaluated
    res = refine_path(problem, given, 9, EXACT)
    assert res.points.shape == (2, 9, 4)
    assert torch.equal(res.points[:, 0::2], nodes)  # the nodes stay where the solve left them
    torch.testing.assert_close(res.points[:, 1::2], (nodes[:, :-1] + nodes[:, 1:]) / 2, atol=1e-4, rtol=0)
    torch.testing.assert_close(res.stats.energy, path_stats(linear_gen, problem.metric, res.points).energy)
    assert (res.steps > 7).all() and res.n_points_evaluated == problem.n_points_evaluated - before > 0
    assert res.wall_time > 1.0 and res.converged.all()
    # the work per path stays within the bound a progress bar is given
    assert res.n_points_evaluated / 2 <= refine_work(5, 9, EXACT)


def test_refine_halves_segments_while_it_fits(linear_gen):
    z0, z1, nodes = bent_line(pairs=1, dim=4, n=4)
    problem = PathProblem(linear_gen, build_metric("pixel"), z0, z1)
    given = _solved(problem, nodes)
    assert refine_path(problem, given, 8, EXACT) is given and refine_work(5, 8) == 0
    assert refine_path(problem, given, 20, EXACT).points.shape[1] == 17  # two rounds; a third would make 33
    assert refine_work(5, 17, EXACT) == 50 * (4 + 8)  # local_steps per midpoint


def test_place_frames_refines_then_places_the_rest_on_the_curve(linear_gen):
    z0, z1, nodes = bent_line(pairs=1, dim=4, n=4)
    problem = PathProblem(linear_gen, build_metric("pixel"), z0, z1)
    given = _solved(problem, nodes)
    res, frames = place_frames(problem, given, 9, EXACT)
    assert frames is res.points and frames.shape == (1, 9, 4)
    res, frames = place_frames(problem, given, 12, EXACT)
    assert res.points.shape[1] == 9 and frames.shape == (1, 12, 4)  # 17 would overshoot: 12 frames on the curve
    assert torch.equal(frames[:, 0], z0) and torch.equal(frames[:, -1], z1)
    assert place_frames(problem, given, 5, EXACT) == (given, given.points)


@pytest.mark.parametrize("coarse_ftol", [0.2, None])
def test_coarse_levels_and_midpoints_stop_on_their_own_rules(conv_gen, monkeypatch, coarse_ftol):
    # the frame rule at coarse_ftol before the last level, or (None) the energy rule at coarse_rtol alone;
    # the last level on its own rule; the midpoints between solved nodes at MIDPOINT_FTOL either way
    import latent_geodesics.solvers.subdivide as sd

    seen, solve = [], sd.solve_at_resolution

    def recorded(problem, start, cfg, **kw):
        seen.append((start.shape[1] - 1, cfg))
        return solve(problem, start, cfg, **kw)

    monkeypatch.setattr(sd, "solve_at_resolution", recorded)
    g = torch.Generator().manual_seed(5)
    z0, z1 = torch.randn(1, 8, generator=g), torch.randn(1, 8, generator=g)
    level = OptimizeConfig(optimizer="lbfgs-pair", max_steps=20, ftol=0.07, precondition="kronecker")
    cfg = SubdivideConfig(level=level, coarse_ftol=coarse_ftol)
    problem = PathProblem(conv_gen, build_metric("pixel"), z0, z1)
    res = subdivide_path(problem, 8, cfg)
    assert [n for n, _ in seen] == [2, 4, 8] and seen[-1][1] == level
    for _, coarse in seen[:-1]:
        rule = (0.2, level.rtol, level.gtol) if coarse_ftol else (None, cfg.coarse_rtol, None)
        assert (coarse.ftol, coarse.rtol, coarse.gtol, coarse.max_steps) == (*rule, level.max_steps)
    seen.clear()
    refine_path(problem, res, 17, cfg)
    assert [(n, c.ftol, c.max_steps) for n, c in seen] == [(2, sd.MIDPOINT_FTOL, cfg.local_steps)]
