import math

import pytest
import torch

from latent_geodesics._check import UserError
from latent_geodesics.metrics import build_metric
from latent_geodesics.curves import interpolate_points, resample_uniform
from latent_geodesics.paths import (PathProblem, check_endpoints, embed_latents, energy_of, length_of, linear_path,
                                    path_stats, slerp_path)


def test_linear_path_endpoints_and_spacing():
    z0, z1 = torch.randn(3, 5), torch.randn(3, 5)
    p = linear_path(z0, z1, 4)
    assert p.shape == (3, 5, 5)
    assert torch.equal(p[:, 0], z0) and torch.allclose(p[:, -1], z1)
    steps = (p[:, 1:] - p[:, :-1]).norm(dim=-1)
    assert torch.allclose(steps, steps[:, :1].expand_as(steps), atol=1e-6)


def test_slerp_keeps_angle_steps_equal_and_norm_linear():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(2, 16, generator=g), torch.randn(2, 16, generator=g)
    p = slerp_path(z0, z1, 8)
    assert torch.allclose(p[:, 0], z0, atol=1e-5) and torch.allclose(p[:, -1], z1, atol=1e-5)
    u = p / p.norm(dim=-1, keepdim=True)
    angles = torch.acos((u[:, 1:] * u[:, :-1]).sum(-1).clamp(-1, 1))
    assert torch.allclose(angles, angles.mean(1, keepdim=True), atol=1e-4)
    norms = p.norm(dim=-1)
    assert torch.allclose(norms, torch.linspace(0, 1, 9) * (norms[:, -1:] - norms[:, :1]) + norms[:, :1], atol=1e-4)


def test_slerp_of_parallel_endpoints_is_linear():
    z0 = torch.ones(1, 4)
    p = slerp_path(z0, 2 * z0, 4)
    assert torch.allclose(p, linear_path(z0, 2 * z0, 4), atol=1e-6)


def test_energy_length_consistency_on_linear_generator(linear_gen):
    """Linear generator + pixel metric: straight line at constant speed has E = L^2 and L = |A dz| / sqrt(P)."""
    metric = build_metric("pixel")
    z0, z1 = torch.randn(2, 4), torch.randn(2, 4)
    stats = path_stats(linear_gen, metric, linear_path(z0, z1, 8))
    expected = (linear_gen(z1) - linear_gen(z0)).flatten(1).norm(dim=1) / math.sqrt(16)
    assert torch.allclose(stats.length, expected, rtol=1e-5)
    assert torch.allclose(stats.energy, stats.length ** 2, rtol=1e-5)  # constant speed: E = L^2
    # any other parametrisation of the same line has the same length and more energy
    t = torch.tensor([0, 0.05, 0.1, 0.2, 0.5, 0.6, 0.7, 0.9, 1.0]).view(1, 9, 1)
    uneven = (1 - t) * z0.unsqueeze(1) + t * z1.unsqueeze(1)
    s2 = path_stats(linear_gen, metric, uneven)
    assert torch.allclose(s2.length, stats.length, rtol=1e-5)
    assert (s2.energy > stats.energy * 1.1).all()


def test_energy_and_length_formulas():
    d_sq = torch.tensor([[1.0, 4.0, 9.0]])
    assert energy_of(d_sq).item() == pytest.approx(3 * 14)
    assert length_of(d_sq).item() == pytest.approx(6)


def test_chunked_equals_unchunked_values_and_gradients(conv_gen):
    metric = build_metric("pixel-eq")
    g = torch.Generator().manual_seed(1)
    z0, z1 = torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g)
    interior = linear_path(z0, z1, 10)[:, 1:-1] + 0.1 * torch.randn(3, 9, 8, generator=g)
    results = []
    for chunk in (1000, 7, 1):
        x = interior.clone().requires_grad_(True)
        d = PathProblem(conv_gen, metric, z0, z1, chunk_size=chunk).distances_sq(x)
        energy_of(d).sum().backward()
        results.append((d.detach(), x.grad))
    for d, grad in results[1:]:
        torch.testing.assert_close(d, results[0][0], rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(grad, results[0][1], rtol=1e-5, atol=1e-7)


def test_problem_matches_path_stats_and_subset_of_pairs(conv_gen):
    metric = build_metric("pixel")
    z0, z1 = torch.randn(4, 8), torch.randn(4, 8)
    path = linear_path(z0, z1, 6)
    problem = PathProblem(conv_gen, metric, z0, z1)
    full = problem.distances_sq(path[:, 1:-1], grad=False)
    torch.testing.assert_close(full, path_stats(conv_gen, metric, path).d_sq)
    pairs = torch.tensor([3, 1])
    torch.testing.assert_close(problem.distances_sq(path[pairs, 1:-1], pairs, grad=False), full[pairs])


def test_embed_without_grad_has_no_graph(conv_gen):
    metric = build_metric("pixel")
    z = torch.randn(5, 8, requires_grad=True)
    (f,) = embed_latents(conv_gen, metric, z, chunk_size=2)
    assert not f.requires_grad


def test_resample_uniform_equalises_steps():
    # a straight path in 1-D with very uneven steps
    pts = torch.tensor([[0.0, 0.1, 0.15, 0.9, 1.0]]).unsqueeze(-1)
    d_sq = (pts[:, 1:] - pts[:, :-1]).squeeze(-1) ** 2
    pos = resample_uniform(d_sq, 6)
    new = interpolate_points(pts, pos)
    steps = (new[:, 1:] - new[:, :-1]).squeeze(-1)
    assert torch.allclose(steps, torch.full_like(steps, 0.2), atol=1e-6)
    assert torch.equal(new[:, 0], pts[:, 0]) and torch.allclose(new[:, -1], pts[:, -1])


def test_check_endpoints_rejects_bad_latents(linear_gen):
    with pytest.raises(UserError, match="latent has shape"):
        check_endpoints(linear_gen, torch.zeros(1, 5), torch.zeros(1, 4))
    with pytest.raises(UserError, match="NaN or inf"):
        check_endpoints(linear_gen, torch.tensor([[0.0, float("nan"), 0, 0]]), torch.zeros(1, 4))
    with pytest.raises(UserError, match="as many of each"):
        check_endpoints(linear_gen, torch.zeros(2, 4), torch.zeros(3, 4))
    z0, z1 = check_endpoints(linear_gen, torch.zeros(4), torch.ones(4))
    assert z0.shape == (1, 4) and z1.shape == (1, 4)


def _energy_case(conv_gen, metric, n_segments=7, b=3, seed=2):
    g = torch.Generator().manual_seed(seed)
    z0, z1 = torch.randn(b, 8, generator=g), torch.randn(b, 8, generator=g)
    interior = linear_path(z0, z1, n_segments)[:, 1:-1] + 0.1 * torch.randn(b, n_segments - 1, 8, generator=g)
    return z0, z1, interior


@pytest.mark.parametrize("metric_name", ["pixel-eq", "vgg-eq"])
def test_energy_backward_equals_unchunked_energy_and_gradient(conv_gen, metric_name):
    options = {"layers": "conv1_2,conv2_2", "min_size": 8} if metric_name == "vgg-eq" else {}
    # float64: chunking changes only the summation order, so the results agree to rounding
    metric = build_metric(metric_name, dtype=torch.float64, **options)
    conv_gen = conv_gen.double()
    z0, z1, interior = (t.double() for t in _energy_case(conv_gen, metric, n_segments=4))  # 9 points
    for pairs in (None, torch.tensor([2, 0])):
        x_ref = (interior if pairs is None else interior[pairs]).clone().requires_grad_(True)
        reference = PathProblem(conv_gen, metric, z0, z1, chunk_size=1000)
        e_ref = energy_of(reference.distances_sq(x_ref, pairs))
        e_ref.sum().backward()
        for chunk in (1, 3, 7, 1000):  # 7: a chunk spans two paths
            leaf = (interior if pairs is None else interior[pairs]).clone().requires_grad_(True)
            x = 2 * leaf  # a non-leaf input: the gradient must flow through it to the leaf
            problem = PathProblem(conv_gen, metric, z0, z1, chunk_size=chunk)
            problem.n_points_evaluated = 0
            energy = problem.energy_backward(x / 2, pairs)
            assert not energy.requires_grad and energy.shape == (x.shape[0],)
            torch.testing.assert_close(energy, e_ref.detach(), rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(leaf.grad, x_ref.grad, rtol=1e-10, atol=1e-12)
            n_points = x.shape[0] * x.shape[1]
            assert n_points <= problem.n_points_evaluated <= n_points + 2 * math.ceil(n_points / chunk)


def test_energy_backward_without_interior_points(conv_gen):
    metric = build_metric("pixel-eq")
    z0, z1 = torch.randn(2, 8), torch.randn(2, 8)
    problem = PathProblem(conv_gen, metric, z0, z1, chunk_size=1)
    x = torch.zeros(2, 0, 8, requires_grad=True)
    energy = problem.energy_backward(x)
    torch.testing.assert_close(energy, problem.metric.compare(problem._start, problem._end))


def test_energy_backward_holds_one_chunk_with_grad(conv_gen):
    """Only ``chunk_size`` points go through the generator with gradient at once; neighbours go without."""
    metric = build_metric("pixel-eq")
    batches = {True: [], False: []}

    class Recording:
        def __getattr__(self, name):
            return getattr(conv_gen, name)

        def __call__(self, z):
            batches[torch.is_grad_enabled()].append(z.shape[0])
            return conv_gen(z)

    z0, z1, interior = _energy_case(conv_gen, metric, n_segments=40, b=2)
    problem = PathProblem(Recording(), metric, z0, z1, chunk_size=4)
    batches[True].clear(), batches[False].clear()  # the endpoints, embedded once
    x = interior.clone().requires_grad_(True)
    energy = problem.energy_backward(x)
    assert max(batches[True]) == 4 and sum(batches[True]) == 2 * 39
    assert max(batches[False]) <= 2
    x_ref = interior.clone().requires_grad_(True)
    e_ref = energy_of(PathProblem(conv_gen, metric, z0, z1).distances_sq(x_ref))
    e_ref.sum().backward()
    torch.testing.assert_close(energy, e_ref.detach(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(x.grad, x_ref.grad, rtol=1e-4, atol=1e-7)
