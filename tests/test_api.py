"""The notebook API (latent_geodesics.geodesic, Path, compare): the same paths as ``interpolate``, results that show
themselves, endpoints of every kind, one-line errors, and files written whole or not at all."""

from __future__ import annotations

import io
import pickle
import re

import numpy as np
import pytest
import torch
from conftest import TinyGen
from PIL import Image

import latent_geodesics as lg
from bench.stylenet import make_pickle
from latent_geodesics import api
from latent_geodesics._check import UserError
from latent_geodesics.pathfile import PathFile
from latent_geodesics.settings import EndpointSettings, MetricSettings, ModelSettings, RenderSettings, Settings
from latent_geodesics.workflows.interpolate import run_interpolate

FAST = {"metric": "pixel", "frames": 5, "progress": False}


def test_the_issue_one_liner_on_a_zoo_model():
    p = lg.geodesic("zoo:mnist28", 1, 2, metric="pixel", frames=5)
    assert isinstance(p, lg.Path) and len(p) == 5 and p.latents.shape == (5, 64)
    assert p.converged is True and p.steps > 0
    assert 0 < p.length < p.straight.length  # shorter than the straight line under its own metric
    assert p.length == pytest.approx(float(p.step_distances.sum()), rel=1e-5)
    assert p.energy == pytest.approx(4 * float((p.step_distances ** 2).sum()), rel=1e-5)
    h = p._repr_html_()
    assert "<img" in h and "<svg" in h and "converged" in h and f"{p.length:.4g}" in h
    png = Image.open(io.BytesIO(p._repr_png_()))
    assert png.size[1] == api.SHOWN_HEIGHT and png.size[0] > 5 * api.SHOWN_HEIGHT  # five frames side by side
    assert re.fullmatch(r"Path\(geodesic on zoo:mnist28, 5 frames, pixel length [\d.]+ = 0\.\d+ x straight line, "
                        r"converged=True\)", repr(p))


def test_an_in_memory_module_gives_the_path_interpolate_writes(tmp_path, model_file):
    """The same settings, the model once as an nn.Module in memory and once as its TorchScript file on the CLI's route:
    the same latents, and ``save`` writes interpolate's path.npz layout."""
    z0, z1 = torch.randn(6, generator=torch.Generator().manual_seed(1)), torch.randn(6, generator=torch.Generator()
                                                                                     .manual_seed(2))
    np.save(tmp_path / "z0.npy", z0[None].numpy())
    np.save(tmp_path / "z1.npy", z1[None].numpy())
    settings = Settings(model=ModelSettings(model=model_file),
                        endpoints=EndpointSettings(z0=str(tmp_path / "z0.npy"), z1=str(tmp_path / "z1.npy")),
                        metric=MetricSettings(metric="pixel"), render=RenderSettings(frames=5))
    report = run_interpolate(settings, tmp_path / "cli", device="cpu")
    written = PathFile.read(tmp_path / "cli" / "path.npz")

    p = lg.geodesic(TinyGen(), z0, z1, device="cpu", **FAST)
    np.testing.assert_allclose(p.latents.numpy(), written.points[0], atol=1e-6, rtol=0)
    assert p.length == pytest.approx(report["result"]["length"][0], rel=1e-6)
    assert p.converged == report["result"]["converged"][0]
    saved = PathFile.read(p.save(tmp_path / "api" / "path.npz"))  # a folder that did not exist is made
    np.testing.assert_array_equal(saved.points, p.latents[None].numpy())
    assert (saved.metric, saved.model, saved.legs) == ("pixel", "TinyGen", 1)


def test_linear_slerp_and_compare_share_endpoints_and_metric():
    line = lg.linear("zoo:mnist28", 3, 4, **FAST)
    z0, z1 = line.latents[0], line.latents[-1]
    torch.testing.assert_close(line.latents[2], (z0 + z1) / 2, atol=1e-6, rtol=0)
    assert line.converged is None and line.method == "linear" and line.length_vs_straight == pytest.approx(1)
    arc = lg.slerp("zoo:mnist28", 3, 4, **FAST)
    assert arc.method == "slerp" and not torch.allclose(arc.latents[2], line.latents[2])
    assert arc.straight.length == pytest.approx(line.length, rel=1e-6)  # against the straight line, not itself
    assert arc.length_vs_straight != pytest.approx(1, abs=1e-4)
    c = lg.compare("zoo:mnist28", 3, 4, **FAST)
    assert list(c) == ["linear", "slerp", "geodesic"]
    assert c["linear"].length == pytest.approx(line.length, rel=1e-6)
    assert c["geodesic"].length < c["linear"].length
    for p in c.values():
        torch.testing.assert_close(p.latents[[0, -1]], line.latents[[0, -1]])
    h = c._repr_html_()
    assert h.count("<img") == 3 and "geodesic" in h and "<svg" in h
    assert Image.open(io.BytesIO(c._repr_png_())).size[1] > 3 * api.SHOWN_HEIGHT


def test_endpoints_of_every_kind_give_the_same_path(tmp_path):
    seeded = lg.linear("zoo:mnist28", 5, 6, **FAST)
    z0, z1 = seeded.latents[0], seeded.latents[-1]
    np.save(tmp_path / "a.npy", z0.numpy())
    for a, b in ((z0, z1), (z0.numpy(), z1[None].numpy()), (str(tmp_path / "a.npy"), z1)):
        torch.testing.assert_close(lg.linear("zoo:mnist28", a, b, **FAST).latents, seeded.latents)


def test_pictures_are_projected_first(tmp_path):
    p = lg.linear("zoo:mnist28", 7, 8, **FAST)
    for i, k in ((0, "a"), (-1, "b")):
        Image.fromarray(p.pictures[i]).save(tmp_path / f"{k}.png")
    q = lg.geodesic("zoo:mnist28", str(tmp_path / "a.png"), tmp_path / "b.png", projection_steps=20, starts=1,
                    **FAST)
    ends = torch.from_numpy(q.pictures[[0, -1]].astype(np.float32))
    want = torch.from_numpy(p.pictures[[0, -1]].astype(np.float32))
    assert (ends - want).abs().mean() < (want - want.flip(0)).abs().mean()  # each end looks like its picture


@pytest.mark.parametrize("a, match", [
    (torch.zeros(7), r"start latent.*\(64,\)"),
    (torch.full((64,), float("nan")), "NaN"),
    (True, "seed"),
    (torch.zeros(2, 64), "holds 2 latents"),
    (object(), "object.*seed"),
    ("notes.txt", "neither a latent file"),
])
def test_bad_endpoints_are_one_line(a, match):
    with pytest.raises(UserError, match=match) as e:
        lg.linear("zoo:mnist28", a, 2, **FAST)
    assert "\n" not in str(e.value)


def test_bad_settings_are_one_line():
    with pytest.raises(UserError, match="unknown setting 'stpes'.*steps"):
        lg.geodesic("zoo:mnist28", 1, 2, stpes=3, **FAST)
    with pytest.raises(UserError, match="seeds= is not a setting.*a and b"):
        lg.geodesic("zoo:mnist28", 1, 2, seeds=(1, 2), **FAST)
    with pytest.raises(UserError, match="^frames= must be"):
        lg.geodesic("zoo:mnist28", 1, 2, metric="pixel", frames=1, progress=False)
    with pytest.raises(UserError, match="latent_shape=128"):
        lg.geodesic(torch.nn.Sequential(torch.nn.Linear(4, 48), torch.nn.Tanh(), torch.nn.Unflatten(1, (3, 4, 4))),
                    1, 2, **FAST)
    with pytest.raises(UserError, match="unknown method 'line'"):
        lg.compare("zoo:mnist28", 1, 2, methods=("line",), **FAST)


def test_a_plain_module_takes_latent_shape_and_other_metrics():
    net = torch.nn.Sequential(torch.nn.Linear(4, 48), torch.nn.Tanh(), torch.nn.Unflatten(1, (3, 4, 4)))
    p = lg.geodesic(net, 1, 2, latent_shape=4, device="cpu", **FAST)
    assert p.latents.shape == (5, 4) and p.model_name == "Sequential"
    assert p.measure().length == pytest.approx(p.length)
    eq = p.measure("pixel-eq", max_size=2)  # another metric, built with an option
    assert eq.metric == "pixel-eq" and eq.step_distances.shape == (4,) and eq.length != pytest.approx(p.length)
    ev = p.evaluate()
    assert set(ev["methods"]) == {"path", "linear", "slerp"}
    assert ev["methods"]["path"]["metrics"]["pixel"]["length"][0] == pytest.approx(p.length, rel=1e-5)


def test_video_is_written_whole_or_not_at_all(tmp_path, monkeypatch, read_only_path):
    p = lg.geodesic("zoo:mnist28", 1, 2, **FAST)
    gif = p.video(tmp_path / "v.gif", fps=10, duration=1)
    frames = Image.open(gif)
    assert frames.n_frames >= 5 and frames.size[1] >= 256  # upscaled to a visible size
    assert p.video(tmp_path / "v.mp4", fps=10, duration=1).stat().st_size > 1000
    with pytest.raises(UserError, match=r"\.mp4, \.webm or \.gif"):
        p.video(tmp_path / "v.avi")
    with pytest.raises(UserError, match="unknown video option 'speed'"):
        p.video(tmp_path / "w.gif", speed=2)
    with pytest.raises(UserError):
        p.video(read_only_path / "v.gif")

    def interrupted(*args, **kwargs):  # a notebook's stop button in the middle of writing
        raise KeyboardInterrupt

    monkeypatch.setattr("latent_geodesics.video.outputs.write_gif", interrupted)
    with pytest.raises(KeyboardInterrupt):
        p.video(tmp_path / "x.gif", fps=10, duration=1)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["v.gif", "v.mp4"]  # no x.gif, no temporary file


def test_an_interrupted_solve_returns_control_and_writes_nothing(tmp_path, monkeypatch):
    calls = []

    def stop(*args, **kwargs):
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "solve", stop)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(KeyboardInterrupt):
        lg.geodesic("zoo:mnist28", 1, 2, metric="pixel", frames=5)  # with its progress bar
    assert calls and list(tmp_path.iterdir()) == []


def test_a_stylegan_pickle_in_w(tmp_path):
    path = make_pickle(tmp_path / "net.pkl", z_dim=16, w_dim=16, img_resolution=8, channels=8)
    with open(path, "rb") as f:
        net = pickle.load(f)["G_ema"]
    from_file = lg.linear(str(path), 1, 2, **FAST)
    in_memory = lg.linear(net, 1, 2, **FAST)
    assert from_file.generator.space == "w" and from_file.latents.shape == (5, 16)
    torch.testing.assert_close(from_file.latents, in_memory.latents)
    assert PathFile.read(from_file.save(tmp_path / "p.npz")).style["space"] == "w"


def test_evaluate_measures_under_the_solved_metric_without_its_weighting():
    p = lg.geodesic("zoo:mnist28", 1, 2, metric="pixel-eq", frames=3, realism=0.5, steps=2, progress=False)
    assert p.metric.name == "pixel-eq+realism0.5"
    ev = p.evaluate()
    assert ev["metrics"] == ["pixel-eq"]
    assert ev["methods"]["path"]["metrics"]["pixel-eq"]["length"][0] == pytest.approx(p.measure("pixel-eq").length,
                                                                                    rel=1e-5)


def test_the_hinge_threshold_comes_from_the_endpoints_as_in_interpolate(tmp_path):
    """The hinge form's threshold is the lower of the endpoints' realism and a typical sample's, in both routes."""
    settings = Settings(model=ModelSettings(model="zoo:fashion32"), endpoints=EndpointSettings(seeds=(3, 4)),
                        metric=MetricSettings(metric="pixel", realism=1.0, realism_form="hinge"),
                        render=RenderSettings(frames=3))
    report = run_interpolate(settings, tmp_path / "cli", device="cpu")
    p = lg.geodesic("zoo:fashion32", 3, 4, metric="pixel", frames=3, realism=1.0, realism_form="hinge",
                    device="cpu", progress=False)
    assert p.metric.threshold == pytest.approx(report["realism"]["threshold"], rel=1e-6)
    np.testing.assert_allclose(p.latents.numpy(), PathFile.read(tmp_path / "cli" / "path.npz").points[0], atol=1e-6)
