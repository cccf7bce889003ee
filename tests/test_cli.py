import json

import numpy as np
import pytest
import torch
from torch import nn

from cli_helpers import assert_user_error, run


def test_interpolate_writes_all_files(model_file, tmp_path):
    out = tmp_path / "out"
    result = run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--seed", 2, "--frames", 9, "--steps", 30,
                 "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["path.npz", "report.json", "strip.png", "video.mp4"]
    report = json.loads((out / "report.json").read_text())
    assert report["metric"] == "pixel" and report["device"] == "cpu" and report["pairs"] == 1
    assert report["settings"]["frames"] == 9 and report["settings"]["subdivide"]["variant"] == "joint"
    assert len(report["result"]["step_distances"][0]) == 8
    assert report["result"]["energy"][0] <= report["start"]["energy"][0]
    assert report["start"]["method"] == "linear" and report["wall_time_s"] > 0
    with np.load(out / "path.npz") as data:
        assert data["points"].shape == (1, 9, 6)
        np.testing.assert_array_equal(data["points"][:, 0], data["z0"])


def test_seeds_are_reproducible(model_file, tmp_path):
    for name in ("a", "b"):
        assert run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 3, "--seed", 4, "--frames", 5, "--steps", 5,
                   "--out", tmp_path / name, "-q").exit_code == 0
    with np.load(tmp_path / "a" / "path.npz") as a, np.load(tmp_path / "b" / "path.npz") as b:
        np.testing.assert_array_equal(a["points"], b["points"])


def test_latent_files_and_batches(model_file, tmp_path):
    np.save(tmp_path / "a.npy", np.random.default_rng(0).standard_normal((2, 6)).astype(np.float32))
    np.save(tmp_path / "b.npy", np.random.default_rng(1).standard_normal((2, 6)).astype(np.float32))
    result = run("interpolate", "--metric", "pixel", "--model", model_file, "--z0", tmp_path / "a.npy", "--z1", tmp_path / "b.npy",
                 "--solver", "slerp", "--frames", 4, "--out", tmp_path / "o", "-q")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["pairs"] == 2 and report["result"]["method"] == "slerp"


@pytest.mark.parametrize("content,match", [
    (np.zeros(5, np.float32), "latent has shape (5,)"),
    (np.array([0, 0, np.nan, 0, 0, 0], np.float32), "NaN or inf"),
    (np.array(["a"] * 6), "dtype"),
])
def test_bad_latent_files(model_file, tmp_path, content, match):
    np.save(tmp_path / "bad.npy", content)
    np.save(tmp_path / "good.npy", np.zeros(6, np.float32))
    out = tmp_path / "out"
    result = run("interpolate", "--metric", "pixel", "--model", model_file, "--z0", tmp_path / "bad.npy", "--z1", tmp_path / "good.npy",
                 "--out", out)
    assert_user_error(result, match)
    assert not out.exists() or not any(out.iterdir())  # no partial output


def test_unreadable_latent_file(model_file, tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"garbage")
    np.save(tmp_path / "good.npy", np.zeros(6, np.float32))
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", model_file, "--z0", tmp_path / "bad.npy", "--z1",
                          tmp_path / "good.npy", "--out", tmp_path / "o"), "cannot read latent file")


def test_bad_names_and_models(model_file, tmp_path):
    out = tmp_path / "o"
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", "zoo:nope", "--seed", 1, "--seed", 2, "--out", out),
                      "unknown zoo model 'nope'")
    assert_user_error(run("interpolate", "--model", model_file, "--metric", "nope", "--seed", 1, "--seed", 2,
                          "--out", out), "unknown metric 'nope'")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 10)
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", junk, "--seed", 1, "--seed", 2, "--out", out),
                      "is not a TorchScript model")
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--out", out), "at least two --seed")
    assert not out.exists() or not any(out.iterdir())


def test_non_generator_torchscript(tmp_path):
    class Classifier(nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return z.sum(1)

    path = tmp_path / "clf.pt"
    torch.jit.save(torch.jit.script(Classifier()), str(path))
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", path, "--latent-shape", 4, "--seed", 1, "--seed", 2,
                          "--out", tmp_path / "o"), "expected images")


def test_unwritable_output_folder(model_file, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--seed", 2, "--out",
                          blocker / "sub"), "cannot write to output folder")


def test_corrupt_weight_file(tmp_path, monkeypatch):
    import subprocess

    from latent_geodesics import weights

    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path))
    (tmp_path / "celeba64-dcgan.pt").write_bytes(b"bad")  # the default model's weights
    monkeypatch.setattr(weights.subprocess, "run",  # offline: the corrupt file cannot be fetched again
                        lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "ERROR: network unreachable"))
    result = run("interpolate", "--metric", "pixel", "--seed", 1, "--seed", 2, "--out", tmp_path / "o")
    assert result.exit_code == 2 and "Traceback" not in result.output
    last = result.stderr.splitlines()[-1]  # after the "fetching ..." note
    assert "is corrupt" in last and "weights fetch celeba64-dcgan" in last


def test_cuda_unavailable_is_a_user_error(model_file, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--seed", 2, "--device", "cuda",
                          "--out", tmp_path / "o"), "CUDA is not available")


def test_models_and_metrics_lists():
    result = run("models")
    assert result.exit_code == 0 and "zoo:faces64" in result.output
    result = run("metrics")
    assert result.exit_code == 0 and "pixel, pixel-eq" in result.output


def test_waypoints_loop_and_retime(model_file, tmp_path):
    out = tmp_path / "loop"
    result = run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--seed", 2, "--seed", 3, "--loop",
                 "--solver", "linear", "--retime", "--frames", 5, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["waypoints"] == {"legs": 3, "loop": True} and report["result"]["method"] == "linear+retime"
    with np.load(out / "path.npz") as data:
        pts = data["points"]
    assert pts.shape == (1, 3 * 4 + 1, 6)
    np.testing.assert_array_equal(pts[0, 0], pts[0, -1])  # closed loop
    import imageio.v2 as imageio

    assert len([f for f in imageio.get_reader(out / "video.mp4")]) == 12  # the repeated first frame is dropped
    # re-timing evens out each leg's speed
    d = np.asarray(report["result"]["step_distances"])
    assert (d.std(1) / d.mean(1)).max() < 0.1


def test_subdivide_and_optimize_solvers(model_file, tmp_path):
    for solver, extra in (("subdivide", ["--variant", "local"]), ("optimize", ["--optimizer", "lbfgs"])):
        out = tmp_path / solver
        result = run("interpolate", "--model", model_file, "--seed", 1, "--seed", 2, "--solver", solver, *extra,
                     "--frames", 6, "--steps", 10, "--metric", "pixel-eq", "--out", out, "-q")
        assert result.exit_code == 0, result.output
        report = json.loads((out / "report.json").read_text())
        assert report["result"]["energy"][0] <= report["start"]["energy"][0]
        assert len(report["result"]["step_distances"][0]) == 5


def test_endpoint_option_conflicts(model_file, tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(6, np.float32))
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--seed", 2, "--z0", tmp_path / "a.npy",
                          "--z1", tmp_path / "a.npy", "--out", tmp_path / "o"), "give endpoints one way")
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", model_file, "--z0", tmp_path / "a.npy", "--z1",
                          tmp_path / "a.npy", "--loop", "--out", tmp_path / "o"), "--loop needs waypoints")
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--seed", 2, "--metric-option", "oops",
                          "--out", tmp_path / "o"), "KEY=VALUE")


def test_evaluate_command(model_file, tmp_path):
    out = tmp_path / "o"
    assert run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--seed", 2, "--seed", 5, "--solver", "optimize",
               "--steps", 20, "--frames", 5, "--out", out, "-q").exit_code == 0
    result = run("evaluate", out / "path.npz", "--model", model_file, "--metric", "pixel", "--json", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    assert "linear" in result.output and "slerp" in result.output
    report = json.loads((tmp_path / "e.json").read_text())
    assert report["pairs"] == 2 and report["frames"] == 5  # the waypoint path is split back into its legs
    path_len = report["methods"]["path"]["metrics"]["pixel"]["length"]
    assert all(p <= l + 1e-6 for p, l in zip(path_len, report["methods"]["linear"]["metrics"]["pixel"]["length"]))
    assert_user_error(run("evaluate", tmp_path / "missing.npz"), "does not exist")


def test_conditional_model_gets_its_label(tmp_path):
    class Cond(nn.Module):
        latent_shape: tuple[int]

        def __init__(self):
            super().__init__()
            self.latent_shape = (4,)

        def forward(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return torch.tanh(z[:, :2] + c).view(z.shape[0], 1, 1, 2)

    path = tmp_path / "cond.pt"
    torch.jit.save(torch.jit.script(Cond()), str(path))
    np.save(tmp_path / "label.npy", np.array([0.0, 5.0], np.float32))
    out = tmp_path / "o"
    result = run("interpolate", "--metric", "pixel", "--model", path, "--condition", tmp_path / "label.npy", "--seed", 1, "--seed", 2,
                 "--solver", "linear", "--frames", 3, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "report.json").read_text())["model"]["condition"] == [0.0, 5.0]  # what made the frames
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", path, "--seed", 1, "--seed", 2, "--out", out),
                      "failed on latents")  # the model needs its condition


def test_metric_option_the_metric_does_not_take(model_file, tmp_path):
    assert_user_error(run("interpolate", "--model", model_file, "--seed", 1, "--seed", 2, "--metric", "pixel",
                          "--metric-option", "min_size=64", "--out", tmp_path / "o"), "does not take the option")


@pytest.mark.parametrize("optimizer", ["lbfgs", "gauss-newton"])
def test_converged_paths_report_their_stopping_rule(model_file, tmp_path, optimizer):
    out = tmp_path / optimizer
    result = run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--seed", 2, "--frames", 5, "--optimizer",
                 optimizer, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    res = json.loads((out / "report.json").read_text())["result"]
    assert res["converged"] == [True]
    assert res["grad_norm"][0] <= 3e-3 and res["rel_change"][0] <= 1e-4
    settings = json.loads((out / "report.json").read_text())["settings"]["subdivide"]["level"]
    assert settings["optimizer"] == optimizer and settings["gtol"] == 3e-3


def test_a_path_stopped_by_its_budget_says_so(model_file, tmp_path):
    result = run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--seed", 2, "--frames", 9, "--steps", 3,
                 "--out", tmp_path / "o", "-q")
    assert result.exit_code == 0, result.output
    warning = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(warning) == 1 and warning[0].startswith("warning: 1 of 1 path(s) did not converge"), result.stderr
    assert json.loads((tmp_path / "o" / "report.json").read_text())["result"]["converged"] == [False]


def test_every_row_of_a_waypoint_file_is_a_waypoint(model_file, tmp_path):
    rows = np.random.default_rng(0).standard_normal((3, 6)).astype(np.float32)
    np.save(tmp_path / "keys.npy", rows)
    np.save(tmp_path / "last.npy", rows[0])
    out = tmp_path / "o"
    result = run("interpolate", "--metric", "pixel", "--model", model_file, "--z", tmp_path / "keys.npy", "--z", tmp_path / "last.npy",
                 "--solver", "linear", "--frames", 3, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    assert json.loads((out / "report.json").read_text())["waypoints"]["legs"] == 3
    with np.load(out / "path.npz") as data:
        pts = data["points"]
    np.testing.assert_array_equal(pts[0, ::2], np.concatenate([rows, rows[:1]]))  # rows, then the second file
    single = tmp_path / "single"
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", model_file, "--z", tmp_path / "last.npy", "--out", single),
                      "at least two waypoints")
    assert not single.exists()


def test_interpolate_defaults_are_the_perceptual_geodesic(monkeypatch, tmp_path):
    # as a newcomer types it: vgg-eq at 64 px, lbfgs-pair with the frame rule, 33 frames from at most 17 nodes, auto device
    from latent_geodesics.cli import interpolate as command
    from latent_geodesics.jobs import AUTO_NODES
    from latent_geodesics.networks import MAX_SIZE
    from latent_geodesics.settings import VGG_MIN_SIZE
    from latent_geodesics.solvers import COARSE_FTOL, DEFAULT_FTOL, stops_on_frames

    seen = {}
    monkeypatch.setattr(command, "run_interpolate", lambda settings, out, **kw: seen.update(settings=settings, **kw)
                        or {"start": {}, "result": {}, "waypoints": None, "pairs": 0})
    assert run("interpolate", "--seed", 1, "--seed", 2, "--out", tmp_path / "o").exit_code == 0
    tree = seen["settings"]
    settings = tree.interpolate_settings()
    assert tree.metric.metric == "vgg-eq" and tree.metric.build_options() == {
        "min_size": VGG_MIN_SIZE, "max_size": MAX_SIZE}
    assert seen["device"] == "auto" and tree.model.model == "zoo:celeba64"
    assert settings.frames == 33 and settings.node_count() == AUTO_NODES < 33
    level = settings.subdivide.level
    assert level.optimizer == "lbfgs-pair" and level.ftol == DEFAULT_FTOL and settings.time_limit is None
    assert settings.subdivide.coarse_ftol == COARSE_FTOL
    # the energy rule when it is asked for, and the previous default exactly as issue 19 spells it
    run("interpolate", "--seed", 1, "--seed", 2, "--rtol", "1e-4", "--out", tmp_path / "o")
    assert seen["settings"].interpolate_settings().subdivide.level.ftol is None
    run("interpolate", "--seed", 1, "--seed", 2, "--coarse-ftol", "0", "--out", tmp_path / "o")
    subdivide = seen["settings"].interpolate_settings().subdivide  # coarse levels on the energy rule, the last not
    assert subdivide.coarse_ftol is None and subdivide.level.ftol == DEFAULT_FTOL
    assert settings.precision == "auto" and stops_on_frames(settings.level())  # bfloat16 where the hardware has it
    run("interpolate", "--seed", 1, "--seed", 2, "--precision", "float32", "--out", tmp_path / "o")
    assert seen["settings"].interpolate_settings().precision == "float32"
    run("interpolate", "--seed", 1, "--seed", 2, "--solver", "subdivide", "--variant", "joint", "--optimizer", "lbfgs",
        "--precondition", "kronecker", "--rtol", "1e-4", "--gtol", "3e-3", "--metric-option", "min_size=128",
        "--nodes", 33, "--out", tmp_path / "o")
    settings = seen["settings"].interpolate_settings()
    level = settings.subdivide.level
    assert (level.optimizer, level.ftol, level.rtol, level.gtol) == ("lbfgs", None, 1e-4, 3e-3)
    assert not stops_on_frames(settings.level())  # so auto is float32: the energy rule is not robust to its noise
    assert seen["settings"].metric.build_options() == {"min_size": 128, "max_size": 128} and settings.node_count() == 33


def test_frames_between_fewer_nodes(model_file, tmp_path):
    out = tmp_path / "o"
    result = run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--seed", 2, "--frames", 13,
                 "--nodes", 5, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["settings"]["frames"] == 13 and report["settings"]["nodes"] == 5
    assert len(report["result"]["step_distances"][0]) == 12  # the report measures the frames written
    steps = np.array(report["result"]["step_distances"][0])
    assert steps.std() / steps.mean() < 0.1  # placed at equal perceptual steps between the nodes
    with np.load(out / "path.npz") as data:
        assert data["points"].shape == (1, 13, 6)
        np.testing.assert_array_equal(data["points"][0, 0], data["z0"][0])


def test_time_limit_returns_the_best_path_so_far(model_file, tmp_path):
    out = tmp_path / "o"
    result = run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--seed", 2, "--frames", 9,
                 "--time-limit", "1e-6", "--out", out)
    assert result.exit_code == 0, result.output
    assert "did not converge" in result.stderr and "--time-limit" in result.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["result"]["converged"] == [False] and report["settings"]["time_limit_s"] == 1e-6
    # no time was left to solve: the start path, not converged, and why in the notes
    assert report["result"]["steps"] == [0] and report["time_limit"]["notes"][0].startswith("time limit reached")


@pytest.mark.parametrize("args,match", [
    (("--nodes", "1"), "--nodes"),
    (("--nodes", "many"), "--nodes"),
    (("--time-limit", "0"), "--time-limit"),
    (("--time-limit", "nan"), "--time-limit"),
])
def test_bad_nodes_and_time_limits(model_file, tmp_path, args, match):
    out = tmp_path / "o"
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", model_file, "--seed", 1, "--seed", 2, *args, "--out", out), match)
    assert not out.exists()
