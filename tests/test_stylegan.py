"""StyleGAN-class models as their users hold them: NVIDIA-format pickles of the project's own stand-in
(bench/stylenet.py, NVIDIA's calling interface, never their code), Z/W/W+, truncation, their D, determinism."""

from __future__ import annotations

import json
import pickle
import sys
import textwrap

import numpy as np
import pytest
import torch
from cli_helpers import assert_user_error, run

from bench.stylenet import StyleNet, make_pickle
from latent_geodesics._check import UserError
from latent_geodesics.generators import load_generator
from latent_geodesics.pathfile import PathFile


@pytest.fixture(scope="module")
def net_pkl(tmp_path_factory):
    return make_pickle(tmp_path_factory.mktemp("stylegan") / "net.pkl", z_dim=32, w_dim=32, img_resolution=16,
                       channels=16)


def _nets(path):
    with open(path, "rb") as f:
        return pickle.load(f)


def _z(seed: int, dim: int = 32) -> torch.Tensor:
    return torch.from_numpy(np.random.RandomState(seed).randn(1, dim)).float()


def test_pickle_gives_g_ema_with_constant_noise_in_every_space(net_pkl):
    nets = _nets(net_pkl)
    want = nets["G_ema"](_z(1), None, noise_mode="const").clamp(-1, 1)
    other = nets["G"](_z(1), None, noise_mode="const").clamp(-1, 1)
    assert (want - other).abs().max() > 0.05  # G and G_ema differ, so the test can tell which was taken
    for space, shape in (("z", (32,)), ("w", (32,)), ("w+", (nets["G_ema"].num_ws, 32))):
        gen = load_generator(str(net_pkl), space=space)
        point = gen.sample_latents(1, seed=1)
        assert gen.latent_shape == shape and tuple(point.shape[1:]) == shape
        torch.testing.assert_close(gen(point), want, atol=1e-5, rtol=0)  # the same image from the same seed


def test_truncation_is_exact_and_the_cutoff_needs_w_plus(net_pkl):
    g = _nets(net_pkl)["G_ema"]
    w = g.mapping(_z(3), None)[:, 0]
    avg = g.mapping.w_avg
    gen = load_generator(str(net_pkl), space="w", truncation=0.5)
    torch.testing.assert_close(gen.sample_latents(1, seed=3), avg + 0.5 * (w - avg), atol=1e-6, rtol=0)
    plus = load_generator(str(net_pkl), space="w+", truncation=0.5, truncation_cutoff=2).sample_latents(1, seed=3)
    torch.testing.assert_close(plus[0, :2], (avg + 0.5 * (w - avg)).expand(2, -1), atol=1e-6, rtol=0)
    torch.testing.assert_close(plus[0, 2:], w.expand(plus.shape[1] - 2, -1), atol=1e-6, rtol=0)
    with pytest.raises(UserError, match="--space w\\+"):
        load_generator(str(net_pkl), space="w", truncation_cutoff=2)


def test_overshoot_is_accepted_and_gross_ranges_refused(tmp_path):
    net = StyleNet(z_dim=16, w_dim=16, img_resolution=8, channels=8, overshoot=1.15)
    raw = net(torch.randn(64, 16), None, noise_mode="const")
    assert raw.abs().max() > 1.0  # the stand-in does overshoot
    gen = load_generator(net, space="z")
    assert gen(gen.sample_latents(4, seed=0)).abs().max() <= 1.0  # clamped as their tools clamp
    wide = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.Unflatten(1, (1, 4, 4)))
    wide.latent_shape = (4,)
    for p in wide.parameters():
        torch.nn.init.constant_(p, 60.0)  # pixels in the hundreds, as a [0, 255] model gives
    with pytest.raises(UserError, match=r"images must lie in \[-1, 1\]"):
        load_generator(wide)


def test_a_generator_that_differs_between_identical_calls_is_refused():
    class Noisy(torch.nn.Module):
        latent_shape = (4,)

        def forward(self, z):
            return torch.tanh(z[:, :1, None, None].expand(-1, 1, 4, 4) + 0.1 * torch.randn(z.shape[0], 1, 4, 4))

    with pytest.raises(UserError, match="different images for the same latents.*noise_mode='const'"):
        load_generator(Noisy())
    random_noise = StyleNet(z_dim=16, w_dim=16, img_resolution=8, channels=8)
    with pytest.raises(UserError, match="different images"):  # NVIDIA's interface called with its default noise
        load_generator(lambda z: random_noise(z, None).clamp(-1, 1), latent_shape=(16,))


def test_pickle_errors_are_one_line(tmp_path, monkeypatch):
    module = tmp_path / "lostcode_mod.py"
    module.write_text(textwrap.dedent("""
        import torch
        class Net(torch.nn.Module):
            pass
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    import lostcode_mod

    path = tmp_path / "lost.pkl"
    path.write_bytes(pickle.dumps({"G_ema": lostcode_mod.Net()}))
    monkeypatch.delitem(sys.modules, "lostcode_mod")
    module.unlink()
    with pytest.raises(UserError, match="needs module 'lostcode_mod'.*PYTHONPATH"):
        load_generator(str(path))
    cut = tmp_path / "cut.pkl"
    cut.write_bytes(pickle.dumps({"G_ema": StyleNet(z_dim=8, w_dim=8, img_resolution=8, channels=4)})[:500])
    with pytest.raises(UserError, match="not a readable pickle"):
        load_generator(str(cut))
    empty = tmp_path / "nets.pkl"
    empty.write_bytes(pickle.dumps({"augment_pipe": None}))
    with pytest.raises(UserError, match="holds no 'G_ema' or 'G'"):
        load_generator(str(empty))
    with pytest.raises(UserError, match="holds no 'D'"):
        load_generator("zoo:mnist28", discriminator=str(empty))
    with pytest.raises(UserError, match="does not exist"):
        load_generator(str(tmp_path / "missing.pkl"))


def test_style_options_are_refused_for_other_models_and_classes_checked(tmp_path):
    with pytest.raises(UserError, match="--space applies to StyleGAN-class models"):
        load_generator("zoo:mnist28", space="w")
    cond = make_pickle(tmp_path / "cond.pkl", z_dim=16, w_dim=16, c_dim=3, img_resolution=8, channels=8)
    with pytest.raises(UserError, match="conditional on 3 classes; give --class K"):
        load_generator(str(cond))
    with pytest.raises(UserError, match="out of range"):
        load_generator(str(cond), class_index=3)
    a = load_generator(str(cond), class_index=0, discriminator=str(cond))
    b = load_generator(str(cond), class_index=2, discriminator=str(cond))
    assert not torch.equal(a.sample_latents(1, seed=5), b.sample_latents(1, seed=5))  # the class enters the mapping
    x = a(a.sample_latents(2, seed=5))
    assert not torch.equal(a.discriminator(x), b.discriminator(x))  # and D(img, c) is given it


@pytest.mark.slow
def test_interpolate_in_w_then_evaluate_agrees_and_realism_runs(net_pkl, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "w"
    r = run("interpolate", "--model", net_pkl, "--space", "w", "--truncation", "0.7", "--seed", 1, "--seed", 2,
            "--frames", 5, "--metric", "pixel", "--out", out, "-q")
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["model"]["space"] == "w" and report["model"]["truncation"] == 0.7
    file = PathFile.read(out / "path.npz")
    assert file.style == {"space": "w", "truncation": 0.7, "truncation_cutoff": None, "class": None}
    g = _nets(net_pkl)["G_ema"]
    avg, w = g.mapping.w_avg, g.mapping(_z(1), None)[:, 0]
    np.testing.assert_allclose(file.points[0, 0], (avg + 0.7 * (w - avg))[0].detach().numpy(), atol=1e-6)
    r = run("evaluate", out / "path.npz", "--model", net_pkl, "--json", tmp_path / "ev.json")
    assert r.exit_code == 0, r.output
    evaluated = json.loads((tmp_path / "ev.json").read_text())
    assert evaluated["style"]["space"] == "w"
    assert evaluated["methods"]["path"]["metrics"]["pixel"]["length"][0] == pytest.approx(
        report["result"]["length"][0], rel=1e-4)
    z = tmp_path / "z"
    r = run("interpolate", "--model", net_pkl, "--space", "z", "--seed", 1, "--seed", 2, "--frames", 5,
            "--metric", "pixel", "--realism", "0.5", "--discriminator", net_pkl, "--out", z, "-q")
    assert r.exit_code == 0, r.output
    zfile = PathFile.read(z / "path.npz")
    assert zfile.style["space"] == "z" and json.loads((z / "report.json").read_text())["realism"] is not None
    gen_z, gen_w = load_generator(str(net_pkl), space="z"), load_generator(str(net_pkl), space="w")
    w_ends = torch.cat([gen_w.sample_latents(1, seed=s) for s in (1, 2)])
    torch.testing.assert_close(gen_z(torch.from_numpy(zfile.points[0, [0, -1]])), gen_w(w_ends), atol=1e-5, rtol=0)


def test_jobs_lines_never_name_a_pickle(tmp_path, net_pkl):
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"seeds": [1, 2], "model": str(net_pkl)}) + "\n")
    assert_user_error(run("batch", jobs, "--out", tmp_path / "b"), "a JOBS line never names one")


def test_z_files_are_mapped_into_the_space(net_pkl, tmp_path):
    from latent_geodesics.jobs import load_latent_file

    np.save(tmp_path / "z.npy", _z(4).numpy())
    gen = load_generator(str(net_pkl), space="w")
    torch.testing.assert_close(load_latent_file(tmp_path / "z.npy", gen), gen.sample_latents(1, seed=4))
    plus = load_generator(str(net_pkl), space="w+")
    np.save(tmp_path / "wplus.npy", plus.sample_latents(1, seed=4).numpy())
    torch.testing.assert_close(load_latent_file(tmp_path / "wplus.npy", plus), plus.sample_latents(1, seed=4))


@pytest.mark.parametrize("space", ["w", "z"])
def test_a_path_between_classes_starts_and_ends_at_each_class_image(tmp_path, space):
    cond = make_pickle(tmp_path / "cond.pkl", z_dim=16, w_dim=16, c_dim=3, img_resolution=8, channels=8)
    out = tmp_path / "o"
    r = run("interpolate", "--model", cond, "--space", space, "--class", 0, "--class", 2, "--seed", 1, "--seed", 2,
            "--frames", 5, "--metric", "pixel", "--out", out, "-q")
    assert r.exit_code == 0, r.output
    g = _nets(cond)["G_ema"]
    want = torch.cat([g(_z(s, 16), torch.eye(3)[[k]], noise_mode="const") for s, k in ((1, 0), (2, 2))]).clamp(-1, 1)
    points = torch.from_numpy(PathFile.read(out / "path.npz").points[0, [0, -1]])
    if space == "z":  # the class one-hot rides along as coordinates
        torch.testing.assert_close(points[:, 16:], torch.eye(3)[[0, 2]])
        got = torch.cat([g(points[i:i + 1, :16], points[i:i + 1, 16:], noise_mode="const") for i in (0, 1)])
    else:
        got = g.synthesis(points[:, None].expand(-1, g.num_ws, -1), noise_mode="const")
    torch.testing.assert_close(got.clamp(-1, 1), want, atol=1e-5, rtol=0)


def test_ppl_of_a_pickle_in_w_lerps_mapped_points(net_pkl, tmp_path):
    from latent_geodesics.ppl import perceptual_path_length

    out = tmp_path / "ppl.json"
    r = run("ppl", "--model", net_pkl, "--space", "w", "--samples", 8, "--json", out, "-q")
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["space"] == "w" and doc["ppl"] > 0 and doc["ci95"][0] <= doc["ppl"] <= doc["ci95"][1]
    gen = load_generator(str(net_pkl), space="w")
    assert perceptual_path_length(gen, samples=8).value == pytest.approx(doc["ppl"], rel=1e-5)
    assert gen.sample_latents(1, seed=2**40).shape == (1, 32)  # 64-bit seeds draw too (PPL derives its own)


def test_compare_and_batch_take_a_pickle_typed_on_the_command_line(net_pkl, tmp_path):
    r = run("compare", "--model", net_pkl, "--space", "w+", "--pairs", 1, "--methods", "linear,pixel", "--frames", 3,
            "--eval-metrics", "pixel", "--out", tmp_path / "c", "-q")
    assert r.exit_code == 0, r.output
    file = PathFile.read(tmp_path / "c" / "paths.npz")
    assert file.style["space"] == "w+" and file.sets["linear"].shape[2:] == (_nets(net_pkl)["G_ema"].num_ws, 32)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(json.dumps({"seeds": [1, 2]}) + "\n")
    r = run("batch", jobs, "--model", net_pkl, "--space", "w", "--metric", "pixel", "--frames", 3,
            "--out", tmp_path / "b", "-q")
    assert r.exit_code == 0, r.output
    (path,) = (tmp_path / "b" / "paths").glob("*.npz")
    line = PathFile.read(path)
    assert line.style["space"] == "w"
    gen = load_generator(str(net_pkl), space="w")
    torch.testing.assert_close(torch.from_numpy(line.points[0, 0]), gen.sample_latents(1, seed=1)[0])


def test_truncation_without_a_tracked_w_avg_uses_the_mean_of_mapped_samples():
    net = StyleNet(z_dim=16, w_dim=16, img_resolution=8, channels=8, w_avg_samples=20000)
    tracked = net.mapping.w_avg.clone()
    with torch.no_grad():
        spread = float((net.mapping(torch.randn(2000, 16), None)[:, 0] - tracked).norm(dim=1).mean())
    with_avg = load_generator(net, space="w", truncation=0.5).sample_latents(1, seed=3)
    del net.mapping.w_avg  # a network with the interface but no tracked mean
    without = load_generator(net, space="w", truncation=0.5).sample_latents(1, seed=3)
    # both are w_avg + 0.5 (w - w_avg): they differ by half the difference of the two means, a sampling error
    assert float((without - with_avg).norm()) < 0.05 * spread
    assert not torch.equal(without, load_generator(net, space="w").sample_latents(1, seed=3))  # truncated at all
