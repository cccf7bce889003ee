"""Evaluation: closed-form lengths, hand-computed speed and brightness numbers, realism, files and tables."""

import json
import math

import numpy as np
import pytest
import torch
from torch import nn

from latent_geodesics._check import UserError
from latent_geodesics.evaluation import (
    brightness_contrast, critic_scores, evaluate_file, evaluate_paths, format_table, max_over_mean_step,
    mid_path_change, mid_path_ratio, middle_third, step_cv,
)
from latent_geodesics.generators import Generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import linear_path


def _timed_path(z0, z1, times):
    """Points at the given fractions of the straight line: ``(B, len(times), d)``."""
    t = torch.tensor(times, dtype=z0.dtype).view(1, -1, 1)
    return (1 - t) * z0.unsqueeze(1) + t * z1.unsqueeze(1)


# --- pure functions --------------------------------------------------------------------------------------------

def test_step_cv_and_max_over_mean_by_hand():
    d = torch.tensor([[2.0, 2.0, 2.0], [0.25, 0.25, 0.5], [0.0, 0.0, 0.0]])
    # second row: mean 1/3, deviations (-1/12, -1/12, 1/6), population variance 1/72 -> cv = sqrt(2) / 4
    torch.testing.assert_close(step_cv(d), torch.tensor([0.0, math.sqrt(2) / 4, 0.0]))
    torch.testing.assert_close(max_over_mean_step(d), torch.tensor([1.0, 1.5, 1.0]))


def test_brightness_contrast_of_known_images():
    red = torch.full((1, 3, 4, 4), -1.0)
    red[:, 0] = 1.0  # pure red: Y = 0.299, flat
    half = torch.full((1, 1, 4, 4), -1.0)
    half[..., :2] = 1.0  # half white, half black: mean 0.5, population std 0.5
    b, c = brightness_contrast(torch.cat([red, red]))
    torch.testing.assert_close(b, torch.tensor([0.299, 0.299]))
    torch.testing.assert_close(c, torch.zeros(2))
    b, c = brightness_contrast(half)
    torch.testing.assert_close(b, torch.tensor([0.5]))
    torch.testing.assert_close(c, torch.tensor([0.5]))


def test_middle_third_is_symmetric():
    assert middle_third(9) == [3, 4, 5]  # N = 8: i/8 in [1/3, 2/3]
    assert middle_third(10) == [3, 4, 5, 6]  # N = 9: exactly 3/9 and 6/9 included
    assert middle_third(3) == [1]
    assert middle_third(2) == [0, 1]  # no interior frame: the change is 0


def test_mid_path_change_and_ratio_by_hand():
    v = torch.tensor([[1.0, 0.8, 0.5, 0.2, 0.5, 0.8, 1.0],  # N = 6: middle third = frames 2, 3, 4
                      [2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 4.0]])
    torch.testing.assert_close(mid_path_change(v), torch.tensor([0.4 - 1.0, 2.0 - 3.0]))
    torch.testing.assert_close(mid_path_ratio(v), torch.tensor([0.4, 2.0 / 3.0]))
    assert torch.isnan(mid_path_ratio(torch.zeros(1, 5))).all()  # undefined, not inf


def test_critic_scores_with_stub_discriminator(linear_gen):
    images = torch.linspace(-1, 1, 6).view(6, 1, 1, 1).expand(6, 1, 4, 4)
    gen = Generator(linear_gen.net, latent_shape=(4,), discriminator=lambda x: 10 * x.mean((1, 2, 3)))
    torch.testing.assert_close(critic_scores(gen, images), 10 * torch.linspace(-1, 1, 6))
    column = Generator(linear_gen.net, latent_shape=(4,), discriminator=lambda x: x.mean((1, 2, 3)).view(-1, 1))
    assert critic_scores(column, images).shape == (6,)
    two = Generator(linear_gen.net, latent_shape=(4,), discriminator=lambda x: x.flatten(1)[:, :2])
    with pytest.raises(UserError, match="one score per image"):
        critic_scores(two, images)
    with pytest.raises(UserError, match="no discriminator"):
        critic_scores(linear_gen, images)


# --- evaluate_paths --------------------------------------------------------------------------------------------

@pytest.fixture
def ends():
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 4, generator=g), torch.randn(2, 4, generator=g)


def test_straight_path_on_linear_generator_matches_closed_form(linear_gen, ends):
    z0, z1 = ends
    n = 8
    report = evaluate_paths(linear_gen, {"pixel": build_metric("pixel")}, linear_path(z0, z1, n))
    # pixel metric = mean over the 16 pixels of (A dz)^2; on a straight line each step is 1/N of the whole
    expected = ((z1 - z0) @ linear_gen.net.A.T).pow(2).mean(1).sqrt()
    s = report["methods"]["path"]["metrics"]["pixel"]
    np.testing.assert_allclose(s["length"], expected.numpy(), rtol=1e-5)
    np.testing.assert_allclose(s["energy"], (expected ** 2).numpy(), rtol=1e-5)  # constant speed: E = L^2
    np.testing.assert_allclose(s["step_cv"], 0, atol=1e-5)
    np.testing.assert_allclose(s["max_over_mean_step"], 1, atol=1e-5)
    np.testing.assert_allclose(s["length_vs_linear"], 1, atol=1e-6)
    assert np.array(s["step_distances"]).shape == (2, n)
    slerp = report["methods"]["slerp"]["metrics"]["pixel"]
    assert all(ls >= lp - 1e-7 for ls, lp in zip(slerp["length"], s["length"]))  # straight is shortest here
    assert report["pairs"] == 2 and report["frames"] == n + 1 and report["methods"]["path"]["realism"] is None
    json.dumps(report, allow_nan=False)


def test_unevenly_timed_path_has_the_hand_computed_cv(linear_gen, ends):
    z0, z1 = ends
    report = evaluate_paths(linear_gen, {"pixel": build_metric("pixel")}, _timed_path(z0, z1, [0, 0.25, 0.5, 1]),
                            baselines=("linear",))
    s = report["methods"]["path"]["metrics"]["pixel"]
    np.testing.assert_allclose(s["step_cv"], math.sqrt(2) / 4, rtol=1e-5)  # steps 1/4, 1/4, 1/2 of the length
    np.testing.assert_allclose(s["max_over_mean_step"], 1.5, rtol=1e-5)
    np.testing.assert_allclose(s["length_vs_linear"], 1, rtol=1e-5)  # same image curve, only re-timed
    lin = report["methods"]["linear"]["metrics"]["pixel"]
    np.testing.assert_allclose(np.array(s["energy"]) / np.array(lin["energy"]), 3 * (1 / 16 + 1 / 16 + 1 / 4),
                               rtol=1e-5)
    assert set(report["methods"]) == {"path", "linear"}


class DimmerNet(nn.Module):
    """``(c, u) -> c * (1 + tanh(u P)) - 1``: brightness ``c * mean((1 + tanh(u P)) / 2)`` on the [0, 1] scale."""

    def __init__(self):
        super().__init__()
        self.register_buffer("P", torch.linspace(-0.5, 1, 16).view(1, 1, 4, 4))

    def forward(self, z):
        c, u = z[:, 0].view(-1, 1, 1, 1), z[:, 1].view(-1, 1, 1, 1)
        return c * (1 + torch.tanh(u * self.P)) - 1


def test_path_that_goes_dark_in_the_middle():
    gen = Generator(DimmerNet(), latent_shape=(2,), name="dimmer",
                    discriminator=lambda x: x.mean((1, 2, 3)))  # "realism" = mean pixel
    c = 1 - 0.8 * torch.sin(torch.linspace(0, math.pi, 7))  # 1 at the ends, 0.2 in the middle
    points = torch.stack([c, torch.full_like(c, 0.7)], 1).unsqueeze(0)  # (1, 7, 2)
    report = evaluate_paths(gen, {"pixel": build_metric("pixel")}, points)
    m = ((1 + torch.tanh(0.7 * torch.linspace(-0.5, 1, 16))) / 2).mean()
    path = report["methods"]["path"]
    np.testing.assert_allclose(path["brightness"][0], (c * m).numpy(), rtol=1e-5)
    mid = c[2:5].mean()  # N = 6: frames 2, 3, 4
    np.testing.assert_allclose(path["mid_brightness_change"], [float(m * (mid - 1))], rtol=1e-5)
    assert path["mid_brightness_change"][0] < -0.1
    np.testing.assert_allclose(path["mid_contrast_ratio"], [float(mid)], rtol=1e-5)
    np.testing.assert_allclose(report["methods"]["linear"]["mid_brightness_change"], [0], atol=1e-6)
    critic = 2 * c * m - 1  # mean pixel on the [-1, 1] scale
    np.testing.assert_allclose(path["realism"]["critic"][0], critic.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(path["realism"]["min"], [float(critic.min())], rtol=1e-5)
    np.testing.assert_allclose(path["realism"]["mean"], [float(critic.mean())], rtol=1e-5)
    table = format_table(report)
    assert "realism min" in table and "path" in table


def test_generator_runs_once_per_frame_and_chunks_do_not_matter(conv_gen, ends):
    calls = []

    def net(z):
        calls.append(z.shape[0])
        return conv_gen(z)

    gen = Generator(net, latent_shape=(8,))
    g = torch.Generator().manual_seed(1)
    points = linear_path(torch.randn(3, 8, generator=g), torch.randn(3, 8, generator=g), 6)
    points[:, 1:-1] += 0.3 * torch.randn(3, 5, 8, generator=g)
    metrics = {"pixel": build_metric("pixel"), "pixel-eq": build_metric("pixel-eq")}
    small = evaluate_paths(gen, metrics, points, chunk_size=4)  # chunks cut across paths
    assert sum(calls) == 3 * 3 * 7  # path + 2 baselines, 3 pairs x 7 frames, once for both metrics
    assert max(calls) == 4
    whole = evaluate_paths(gen, metrics, points, chunk_size=64)
    for method in whole["methods"]:
        for name in metrics:
            np.testing.assert_allclose(small["methods"][method]["metrics"][name]["step_distances"],
                                       whole["methods"][method]["metrics"][name]["step_distances"], rtol=1e-5)


def test_baselines_are_projected_onto_a_sphere_prior(linear_gen, ends):
    gen = Generator(linear_gen.net, latent_shape=(4,), prior="sphere")
    z0, z1 = (gen.project(z) for z in ends)
    report = evaluate_paths(gen, {"pixel": build_metric("pixel")}, linear_path(z0, z1, 4))
    # the projected linear baseline bends outwards, so the unprojected straight path is shorter
    rel = report["methods"]["path"]["metrics"]["pixel"]["length_vs_linear"]
    assert all(r < 1 for r in rel)


def test_evaluate_paths_rejects_bad_input(linear_gen, ends):
    pixel = {"pixel": build_metric("pixel")}
    with pytest.raises(UserError, match="expected"):
        evaluate_paths(linear_gen, pixel, torch.zeros(1, 5, 3))
    with pytest.raises(UserError, match="unknown baseline"):
        evaluate_paths(linear_gen, pixel, torch.zeros(1, 5, 4), baselines=("cubic",))
    with pytest.raises(UserError, match="no metric"):
        evaluate_paths(linear_gen, {}, torch.zeros(1, 5, 4))


def test_named_path_sets_with_different_frame_counts(linear_gen, ends):
    z0, z1 = ends
    pixel = {"pixel": build_metric("pixel")}
    sets = {"coarse": linear_path(z0, z1, 4), "fine": _timed_path(z0, z1, [0, 0.1, 0.5, 0.6, 0.7, 0.8, 1])}
    report = evaluate_paths(linear_gen, pixel, sets)
    assert list(report["methods"]) == ["coarse", "fine", "linear", "slerp"]
    assert report["frames"] is None and report["frames_by_method"] == {"coarse": 5, "fine": 7, "linear": 5,
                                                                       "slerp": 5}
    for name in ("coarse", "fine"):  # both straight, each against the straight line with its own frame count
        assert report["methods"][name]["metrics"]["pixel"]["length_vs_linear"] == pytest.approx([1.0] * 2)
    assert np.asarray(report["methods"]["fine"]["metrics"]["pixel"]["step_distances"]).shape == (2, 6)
    assert "5/7 frames" in format_table(report)
    with pytest.raises(UserError, match="do not join the same endpoints"):
        evaluate_paths(linear_gen, pixel, {"a": linear_path(z0, z1, 4), "b": linear_path(z1, z0, 4)})


# --- files and tables ------------------------------------------------------------------------------------------

def _write_path(path, model, points=None, drop=()):
    rng = np.random.default_rng(0)
    z0, z1 = rng.standard_normal((2, 6)).astype(np.float32), rng.standard_normal((2, 6)).astype(np.float32)
    if points is None:
        points = linear_path(torch.from_numpy(z0), torch.from_numpy(z1), 5).numpy()
    arrays = {"points": points, "z0": z0, "z1": z1, "metric": np.array("pixel"), "model": np.array(model)}
    np.savez(path, **{k: v for k, v in arrays.items() if k not in drop})
    return path


def test_evaluate_file_round_trip(model_file, tmp_path):
    path = _write_path(tmp_path / "path.npz", model_file)
    report = evaluate_file(path, model=model_file, metrics=["pixel", "pixel-eq"])
    assert report["file"] == str(path) and report["model"] == model_file
    assert report["pairs"] == 2 and report["frames"] == 6 and report["metrics"] == ["pixel", "pixel-eq"]
    assert set(report["methods"]) == {"path", "linear", "slerp"}
    for name in ("pixel", "pixel-eq"):  # the stored path is the linear one
        np.testing.assert_allclose(report["methods"]["path"]["metrics"][name]["length"],
                                   report["methods"]["linear"]["metrics"][name]["length"], rtol=1e-5)
    json.dumps(report, allow_nan=False)
    table = format_table(report)
    lines = table.splitlines()
    rows = [line for line in lines if line.split()[0] in ("path", "linear", "slerp")]
    assert len(rows) == 6 and len({len(line) for line in rows}) == 1  # fixed width
    assert "realism" not in lines[2]  # no discriminator, no realism column
    assert evaluate_file(path, model=model_file, metrics=[])["metrics"] == ["pixel"]  # the file's metric


@pytest.mark.parametrize("case,match", [
    ("missing", "does not exist"),
    ("no_points", "no 'points' array"),
    ("wrong_size", "expects"),
    ("nan", "NaN"),
    ("no_model", "pass --model"),
    ("not_zoo", "not in the zoo; pass --model"),  # a data file never chooses code to run
    ("npy", "not an .npz"),
    ("compare_missing", "has no 'points_1' array"),
])
def test_evaluate_file_errors(model_file, tmp_path, case, match):
    path = tmp_path / "path.npz"
    if case == "no_points":
        _write_path(path, model_file, drop=("points",))
    elif case == "wrong_size":
        _write_path(path, model_file, points=np.zeros((2, 5, 7), np.float32))
    elif case == "nan":
        _write_path(path, model_file, points=np.full((2, 5, 6), np.nan, np.float32))
    elif case == "no_model":
        _write_path(path, model_file, drop=("model",))
    elif case == "compare_missing":
        np.savez(path, methods=np.array(["linear", "pixel"]), points_0=np.zeros((2, 5, 6), np.float32),
                 model=np.array(model_file))
    elif case == "npy":
        path = tmp_path / "points.npy"
        np.save(path, np.zeros((2, 5, 6), np.float32))
    elif case == "not_zoo":
        _write_path(path, "os:abort")
    with pytest.raises(UserError, match=match) as info:
        evaluate_file(path, model=None if case in ("no_model", "not_zoo") else model_file, metrics=["pixel"])
    assert "\n" not in str(info.value)


def _solved(tmp_path, *args):
    from cli_helpers import run

    out = tmp_path / "o"
    r = run("interpolate", "--model", "zoo:mnist28", "--seed", 1, "--seed", 2, "--frames", 5, "--steps", 3,
            *args, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    return out, json.loads((out / "report.json").read_text())


def _evaluated(path, *args):
    from cli_helpers import run

    r = run("evaluate", path, "--json", path.parent / "eval.json", *args)
    assert r.exit_code == 0, r.output
    return json.loads((path.parent / "eval.json").read_text())


def test_evaluate_measures_with_the_options_the_path_was_solved_with(tmp_path):
    from latent_geodesics import networks, settings
    from latent_geodesics.pathfile import PathFile

    assert settings.VGG_MIN_SIZE is networks.VGG_MIN_SIZE  # one default for min_size
    out, report = _solved(tmp_path)  # the default metric, vgg-eq at the default min_size
    assert report["metric"] == "vgg-eq" and PathFile.read(out / "path.npz").metric_options == {
        "vgg-eq": {"min_size": networks.VGG_MIN_SIZE, "max_size": networks.MAX_SIZE}}
    ev = _evaluated(out / "path.npz")
    length = ev["methods"]["path"]["metrics"]["vgg-eq"]["length"][0]
    assert length == pytest.approx(report["result"]["length"][0], rel=5e-3)
    # a file written before the options were recorded is measured at the same default
    arrays = dict(np.load(out / "path.npz"))
    del arrays["metric_options"]
    np.savez(tmp_path / "old.npz", **arrays)
    old = _evaluated(tmp_path / "old.npz")["methods"]["path"]["metrics"]["vgg-eq"]["length"][0]
    assert old == pytest.approx(length, rel=1e-5)
    # --metric-option overrides the file's options
    told = _evaluated(out / "path.npz", "--metric-option", "min_size=128")
    assert told["metric_options"]["vgg-eq"]["min_size"] == 128
    assert abs(told["methods"]["path"]["metrics"]["vgg-eq"]["length"][0] / length - 1) > 0.01


def test_evaluate_follows_options_other_than_the_default(tmp_path):
    from latent_geodesics.networks import MAX_SIZE

    out, report = _solved(tmp_path, "--metric", "vgg", "--metric-option", "min_size=32")
    ev = _evaluated(out / "path.npz")
    assert ev["metric_options"] == {"vgg": {"min_size": 32, "max_size": MAX_SIZE}}
    assert ev["methods"]["path"]["metrics"]["vgg"]["length"][0] == pytest.approx(report["result"]["length"][0],
                                                                                 rel=5e-3)


@pytest.mark.parametrize("value", ['[1, 2]', '{"vgg": 3}', 'not json', '{"vgg": {"min_size": {"a": 1}}}'])
def test_bad_recorded_metric_options_are_one_line(model_file, tmp_path, value):
    path = _write_path(tmp_path / "path.npz", model_file)
    arrays = dict(np.load(path))
    np.savez(path, **arrays, metric_options=np.array(value))
    with pytest.raises(UserError, match="'metric_options' must be a JSON object") as info:
        evaluate_file(path, model=model_file, metrics=["pixel"])
    assert "\n" not in str(info.value)


def test_metric_options_round_trip(tmp_path):
    from latent_geodesics.pathfile import PathFile

    pts = np.zeros((1, 3, 4), np.float32)
    PathFile.single(pts, model="m", metric="vgg-eq+realism0.5", metric_options={"min_size": 32}).write(tmp_path / "a.npz")
    assert PathFile.read(tmp_path / "a.npz").metric_options == {"vgg-eq": {"min_size": 32}}
    PathFile.single(pts, model="m", metric="pixel").write(tmp_path / "b.npz")
    assert PathFile.read(tmp_path / "b.npz").metric_options is None
