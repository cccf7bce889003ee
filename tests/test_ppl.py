"""Perceptual path length: against torchmetrics' PerceptualPathLength (same pairs, our LPIPS as its similarity),
against a sample-by-sample implementation written from the paper, and how it scales with a path's speed."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from cli_helpers import assert_one_line, run

from bench.stylenet import MappingNetwork, StyleNet
from latent_geodesics._check import UserError
from latent_geodesics.generators import Generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.ppl import perceptual_path_length, ppl_metric, prepare_images

DIM = 32


@pytest.fixture(scope="module")
def stylenet() -> StyleNet:
    net = StyleNet(z_dim=DIM, w_dim=DIM, img_resolution=32, channels=16)
    # the stand-in's 8 random mapping layers collapse w (images barely differ): 2 layers keep z's variety
    torch.manual_seed(1)
    net.mapping = MappingNetwork(DIM, 0, DIM, net.num_ws, layers=2)
    return net.eval().requires_grad_(False)


class WGenerator(Generator):
    """A W-space generator: latents are w, drawn by mapping random z (as the StyleGAN adapter does)."""

    space = "w"

    def __init__(self, net: StyleNet) -> None:
        super().__init__(lambda w: net.synthesis(w.unsqueeze(1).repeat(1, net.num_ws, 1), noise_mode="const"),
                         latent_shape=(net.w_dim,), name="stylenet-w")
        self.mapping = net.mapping

    def sample_latents(self, n, *, seed, device=None):
        return self.mapping(super().sample_latents(n, seed=seed, device=device), None)[:, 0]


@pytest.fixture(scope="module")
def gen_z(stylenet) -> Generator:
    return Generator(lambda z: stylenet(z, None, noise_mode="const"), latent_shape=(DIM,), name="stylenet-z")


@pytest.fixture(scope="module")
def gen_w(stylenet) -> Generator:
    return WGenerator(stylenet)


@pytest.fixture(scope="module")
def lpips():
    return build_metric("lpips", net="vgg", max_size="none")


def test_matches_torchmetrics_on_the_same_pairs(gen_w, lpips, monkeypatch):
    """torchmetrics' PPL (sampling at the ends, lerp) with our LPIPS-VGG as its net, on the very same pairs: the
    numbers it keeps are ours, up to float32 rounding of its eps step."""
    tm = pytest.importorskip("torchmetrics.functional.image.perceptual_path_length")
    # torchvision is needed only for torchmetrics' own LPIPS networks, which our sim_net replaces: nothing downloads
    monkeypatch.setattr(tm, "_TORCHVISION_AVAILABLE", True, raising=False)
    n = 150
    z = gen_w.sample_latents(2 * n, seed=7)
    a, b = z[:n], z[n:]

    class ForTorchmetrics(nn.Module):
        def __init__(self):
            super().__init__()
            self.draws = [a, b]

        def sample(self, num_samples):
            return self.draws.pop(0)[:num_samples]

        def forward(self, w):
            return (gen_w(w) + 1) * 127.5  # torchmetrics wants [0, 255]

    their_mean, _, their_kept = tm.perceptual_path_length(
        ForTorchmetrics(), num_samples=n, batch_size=64, interpolation_method="lerp", epsilon=1e-4, resize=None,
        sim_net=lpips, device="cpu")
    ours = perceptual_path_length(gen_w, pairs=(a, b), sampling="end", epsilon=1e-4)
    assert ours.samples == n and ours.settings["space"] == "w"
    assert ours.value > 0.01  # a model whose images move: not a check that passes on a constant generator
    # both drop below the 1st percentile's lower rank; they drop above the 99th percentile's lower rank, NVIDIA and
    # we above its higher rank (one sample more kept here): compare on their range
    k, low = their_kept.numel(), int(np.floor(0.01 * (n - 1)))
    assert ours.kept == k + 1
    np.testing.assert_allclose(np.sort(ours.values)[low: low + k], np.sort(their_kept.double().numpy()), rtol=2e-2)
    assert ours.value == pytest.approx(their_mean.item(), rel=0.03)
    assert ours.ci95[0] < ours.value < ours.ci95[1]


def _paper_slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Shoemake's slerp of the unit directions, sin-weighted, at radius sqrt(D)."""
    ua, ub = a / a.norm(), b / b.norm()
    omega = torch.acos(torch.dot(ua, ub).clamp(-1, 1))
    u = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / torch.sin(omega)
    return u / u.norm() * math.sqrt(a.numel())


def _paper_ppl(generator, lpips, n: int, seed: int, eps: float = 1e-4) -> float:
    """Karras et al.'s definition with independent draws (numpy's RNG), latents built one by one."""
    rng = np.random.default_rng(seed)
    z0, z1 = [], []
    for _ in range(n):
        a = torch.from_numpy(rng.standard_normal(DIM)).double()
        b = torch.from_numpy(rng.standard_normal(DIM)).double()
        t = float(rng.uniform())
        z0.append(_paper_slerp(a, b, t).float())
        z1.append(_paper_slerp(a, b, t + eps).float())
    with torch.no_grad():
        values = torch.cat([lpips(generator(p), generator(q)) for p, q in
                            zip(torch.stack(z0).split(50), torch.stack(z1).split(50))]).double().numpy() / eps ** 2
    v = np.sort(values)
    lo, hi = v[int(np.floor(0.01 * (n - 1)))], v[int(np.ceil(0.99 * (n - 1)))]
    return float(v[(v >= lo) & (v <= hi)].mean())


def test_full_sampling_in_z_agrees_with_the_paper_within_sampling_error(gen_z, lpips):
    ours = perceptual_path_length(gen_z, samples=250, sampling="full", seed=3)
    theirs = _paper_ppl(gen_z, lpips, 250, seed=11)
    assert ours.value > 0.01 and ours.kept >= 0.97 * ours.samples
    half = (ours.ci95[1] - ours.ci95[0]) / 2
    # two independent estimates of one mean: their difference has about sqrt(2) times one's standard error
    print(f"PPL in Z: ours {ours.value:.4g} (95% CI {ours.ci95[0]:.4g}-{ours.ci95[1]:.4g}), paper's {theirs:.4g}")
    assert abs(ours.value - theirs) < 1.5 * half * math.sqrt(2), (ours.value, ours.ci95, theirs)


def test_a_path_twice_as_fast_has_four_times_the_ppl(gen_w):
    """In W the path from a to a + 2 (b - a) runs through the same images at twice the speed: PPL is an energy."""
    z = gen_w.sample_latents(64, seed=5)
    a, b = z[:32], z[32:]
    slow = perceptual_path_length(gen_w, pairs=(a, b), sampling="end")
    fast = perceptual_path_length(gen_w, pairs=(a, a + 2 * (b - a)), sampling="end")
    assert fast.value / slow.value == pytest.approx(4.0, rel=0.02)


def test_chunks_and_seeds(gen_z):
    one = perceptual_path_length(gen_z, samples=8, seed=4, chunk_size=1)
    many = perceptual_path_length(gen_z, samples=8, seed=4, chunk_size=5)
    np.testing.assert_allclose(one.values, many.values, rtol=1e-4)
    other = perceptual_path_length(gen_z, samples=8, seed=5, chunk_size=5)
    assert not np.allclose(one.values, other.values)
    end = perceptual_path_length(gen_z, samples=8, seed=4, sampling="end")
    assert end.settings["sampling"] == "end" and not np.allclose(one.values, end.values)
    d = one.to_dict()
    assert d["ppl"] == one.value and d["samples"] == 8 and d["space"] == "z" and len(d["ci95"]) == 2
    assert d["similarity"]["net"] == "vgg"


def test_crop_and_downsampling_as_nvidia():
    x = torch.arange(2 * 3 * 1024 * 1024, dtype=torch.float32).view(2, 3, 1024, 1024)
    y = prepare_images(x, crop=True)
    c = 1024 // 8
    assert y.shape == (2, 3, 128, 128)  # a 1024 px face: crop to 512, then the factor 1024 // 256 = 4
    assert torch.allclose(y[:, :, 0, 0], x[:, :, 3 * c: 3 * c + 4, 2 * c: 2 * c + 4].mean((2, 3)))
    assert prepare_images(x[:, :, :512, :512], crop=False).shape == (2, 3, 256, 256)
    assert prepare_images(x[:, :, :64, :64], crop=False).shape == (2, 3, 64, 64)
    with pytest.raises(UserError, match="square"):
        ppl_metric(crop=True).embed(torch.zeros(1, 3, 64, 32))


@pytest.mark.parametrize("kwargs, message", [
    ({"samples": 1}, "at least 2 samples"),
    ({"samples": 10, "epsilon": 0.0}, "epsilon"),
    ({"samples": 10, "epsilon": float("nan")}, "epsilon"),
    ({"samples": 10, "sampling": "middle"}, "unknown sampling"),
])
def test_bad_input_is_one_line(gen_z, kwargs, message):
    with pytest.raises(UserError, match=message):
        perceptual_path_length(gen_z, **kwargs)


def test_cli_writes_the_json(tmp_path):
    out = tmp_path / "sub" / "ppl.json"
    result = run("ppl", "--model", "zoo:mnist28", "--samples", "40", "--seed", "2", "--json", str(out), "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["ppl"] > 0 and report["ci95"][0] < report["ppl"] < report["ci95"][1]
    assert {k: report[k] for k in ("samples", "epsilon", "sampling", "space", "crop", "model")} == {
        "samples": 40, "epsilon": 1e-4, "sampling": "full", "space": "z", "crop": False, "model": "zoo:mnist28"}
    assert report["similarity"]["net"] == "vgg" and "256" in report["similarity"]["resize"]
    assert "PPL (Z, sampling full)" in result.output


@pytest.mark.parametrize("args, word", [
    (("--samples", "1"), "--samples"),
    (("--epsilon", "0"), "--epsilon"),
    (("--epsilon", "nan"), "--epsilon"),
    (("--sampling", "middle"), "--sampling"),
])
def test_cli_bad_input_is_one_line(args, word):
    assert_one_line(run("ppl", "--model", "zoo:mnist28", *args), 2, word)


def test_ppl_energy_of_the_interpolation_paths_is_their_full_sampling_ppl(gen_w):
    """evaluate's ppl_energy of the lerp paths in W (64 steps) between pairs = the mean of PPL's samples over
    those pairs and t (all samples: PPL's percentile cut is a statement about a population, not a pair)."""
    from latent_geodesics.evaluation import evaluate_paths

    z = gen_w.sample_latents(12, seed=9)
    a, b = z[:6], z[6:]
    t = torch.linspace(0, 1, 65)
    points = a[:, None] + t[None, :, None] * (b - a)[:, None]             # (6, 65, DIM)
    metric = ppl_metric()
    report = evaluate_paths(gen_w, {"pixel": build_metric("pixel")}, points, baselines=(), ppl_metric=metric)
    energy = report["methods"]["path"]["ppl_energy_mean"]
    assert "\0ppl" not in report["methods"]["path"]["metrics"]
    reps = 40
    sampled = perceptual_path_length(gen_w, pairs=(a.repeat(reps, 1), b.repeat(reps, 1)), metric=metric, seed=1)
    v = sampled.values
    se = v.std(ddof=1) / math.sqrt(v.size)
    print(f"ppl_energy of lerp paths {energy:.4g}, full-sampling PPL of the pairs {v.mean():.4g} +- {1.96 * se:.3g}")
    assert energy > 0.01
    assert abs(energy - v.mean()) < 3 * se + 0.02 * energy
