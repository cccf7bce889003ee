import errno
import json
from html.parser import HTMLParser
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image
from torch import nn

from latent_geodesics.workflows import compare as compare_module
from latent_geodesics._check import MachineError, UserError
from latent_geodesics.workflows.compare import (VIDEO_HOLD, CompareSettings, compare, pair_seeds, parse_methods,
                                      reference_metric, seeded_endpoints)
from latent_geodesics.generators import Generator
from latent_geodesics.solvers import OptimizeConfig, SubdivideConfig

from cli_helpers import assert_user_error, run

FILES = ["grid.png", "paths.npz", "plots.png", "report.html", "report.json", "video.mp4"]


class Contrast(nn.Module):
    """A stub critic: flat images are "realistic", contrasty ones are not."""

    def forward(self, x):
        return -x.flatten(1).std(1)


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.tags = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.links += [v for k, v in attrs if k in ("src", "href")]


def check_html(out, report):
    parser = _Links()
    parser.feed((out / "report.html").read_text())
    tags = dict(parser.tags)
    assert parser.links and all(link in FILES for link in parser.links), parser.links  # relative, beside the page
    assert {"grid.png", "plots.png", "video.mp4"} <= set(parser.links)
    assert all((out / link).is_file() for link in parser.links)
    assert "script" not in tags and "link" not in tags  # nothing to fetch, nothing to run
    assert any(t == "meta" and a.get("name") == "viewport" for t, a in parser.tags)
    assert {"controls", "muted", "loop", "playsinline"} <= set(tags["video"])
    text = (out / "report.html").read_text()
    for name in report["methods"]:
        assert f"<td>{name}</td>" in text


def check_grid(out, report, methods, pairs, frames):
    layout = report["files"]["grid"]
    grid = np.asarray(Image.open(out / "grid.png").convert("RGB"))
    h, w = layout["frame_size"]
    assert (h, w) == (64, 64)  # 8 px frames upscaled 8x
    assert grid.shape[1] == layout["label_width"] + frames * (w + 2) - 2
    rows = layout["rows"]
    assert [(r["pair"], r["method"]) for r in rows] == [(p, m) for p in range(pairs) for m in methods]
    assert rows[-1]["top"] + rows[-1]["height"] == grid.shape[0]
    for r in rows:
        label = grid[r["top"]:r["top"] + r["height"], :layout["label_width"]]
        assert label.min() < 100, r  # dark text on white in every row's label cell
        cells = grid[r["top"]:r["top"] + r["height"], layout["label_width"]:]
        assert cells.std() > 0
    for title in layout["titles"]:
        assert grid[title["top"]:title["top"] + title["height"]].min() < 200  # "pair k: seeds a and b"
    # every method's path starts and ends at the same frames
    first = [grid[r["top"]:r["top"] + h, layout["label_width"]:layout["label_width"] + w] for r in rows
             if r["pair"] == 0]
    assert all(np.array_equal(first[0], f) for f in first[1:])


def test_compare_cli_writes_every_file(model_file, tmp_path):
    out = tmp_path / "cmp"
    methods = ["linear", "slerp", "retime", "pixel", "pixel-eq"]
    result = run("compare", "--model", model_file, "--pairs", 2, "--seed", 10, "--methods", ",".join(methods),
                 "--frames", 5, "--steps", 4, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    assert "report.html" in result.stdout
    # 4 steps is below the convergence window: each geodesic method says so in one line, nothing else is printed
    assert [line.split(":")[:2] for line in result.stderr.splitlines()] == [["warning", " pixel"], ["warning", " pixel-eq"]]
    assert sorted(p.name for p in out.iterdir()) == FILES  # and no staging folder left behind
    report = json.loads((out / "report.json").read_text())

    assert set(report) == {"tool", "command", "version", "model", "settings", "pairs", "reference_metric",
                           "eval_metrics", "calibration", "judge", "data_realism", "linear_length", "projection",
                           "methods", "files", "wall_time_s",
                           "device", "host"}
    assert report["command"] == "compare" and report["calibration"] is None and report["judge"] is None
    assert report["data_realism"] is None  # a model file: no real pictures to compare with
    assert [p["seeds"] for p in report["pairs"]] == [[11, 12], [13, 14]]
    assert report["eval_metrics"] == ["pixel", "pixel-eq"] and report["reference_metric"] == "pixel"
    assert report["settings"]["methods"] == methods and report["settings"]["subdivide"]["level"]["max_steps"] == 4
    assert list(report["methods"]) == methods
    for name, m in report["methods"].items():
        assert set(m) == {"kind", "metric", "realism", "solver", "solve_time_s", "eval_time_s", "wall_time_s",
                          "evaluation", "summary"}
        ev = m["evaluation"]
        assert np.asarray(ev["brightness"]).shape == (2, 5)
        assert np.asarray(ev["metrics"]["pixel-eq"]["step_distances"]).shape == (2, 4)
        assert set(m["summary"]) == {"length", "length_vs_linear", "step_cv", "mid_brightness_change",
                                     "realism_p_min", "realism_p_mean", "judge_confidence_min", "judge_off_class",
                                     "data_realism_min", "data_realism_mean", "frechet", "length_vs_linear_by_metric",
                                     "ppl_energy_mean"}
        assert m["summary"]["ppl_energy_mean"] > 0 and len(ev["ppl_energy"]) == 2  # LPIPS energy on PPL's scale
        assert m["summary"]["judge_confidence_min"] is None and ev["judge"] is None  # this model has no judge
        assert m["summary"]["frechet"] is None and ev["data_realism"] is None  # nor real pictures
        assert (m["solver"] is None) == (name in ("linear", "slerp", "retime"))
    assert report["methods"]["linear"]["summary"]["length_vs_linear"] == pytest.approx(1.0)
    assert report["methods"]["pixel"]["summary"]["length_vs_linear"] <= 1 + 1e-6
    assert report["methods"]["retime"]["summary"]["step_cv"] < report["methods"]["linear"]["summary"]["step_cv"]
    assert report["methods"]["pixel"]["solver"]["metric"] == "pixel"

    check_grid(out, report, methods, pairs=2, frames=5)
    video = report["files"]["video"]
    reader = imageio.get_reader(out / "video.mp4")
    frames = [f for f in reader]  # list(reader) raises MemoryError
    reader.close()
    assert len(frames) == video["frames"] == 2 * (5 + VIDEO_HOLD)
    assert frames[0].shape == (video["height"], video["width"], 3)
    assert video["height"] >= 256 and video["width"] % 2 == 0 and video["height"] % 2 == 0
    plots = Image.open(out / "plots.png")
    assert plots.width >= 600 and plots.height >= 400
    assert len(report["files"]["plots"]["step"]["pixel"]) == 4
    check_html(out, report)


def test_paths_npz_holds_every_method_and_evaluate_reads_it(model_file, tmp_path):
    out = tmp_path / "cmp"
    methods = ["pixel", "retime", "slerp"]
    result = run("compare", "--model", model_file, "--pairs", 2, "--seed", 10, "--methods", ",".join(methods),
                 "--frames", 5, "--steps", 4, "--out", out, "--quiet")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["files"]["paths"] == "paths.npz" and report["model"]["discriminator_spec"] is None
    with np.load(out / "paths.npz") as data:
        assert data["methods"].tolist() == methods and data["metrics"].tolist() == ["pixel", "pixel", ""]
        assert str(data["model"]) == model_file and str(data["metric"]) == "pixel"
        assert data["seeds"].tolist() == [[11, 12], [13, 14]] and "discriminator" not in data.files
        for k in range(3):
            points = data[f"points_{k}"]
            assert points.shape == (2, 5, 6)
            np.testing.assert_array_equal(points[:, 0], data["z0"])
            np.testing.assert_allclose(points[:, -1], data["z1"], atol=1e-6)

    # the file names a TorchScript file, not a zoo model: a data file does not choose code to load
    assert_user_error(run("evaluate", out / "paths.npz"), "which is not in the zoo; pass --model")
    result = run("evaluate", out / "paths.npz", "--model", model_file, "--json", tmp_path / "e.json")
    assert result.exit_code == 0, result.output
    evaluated = json.loads((tmp_path / "e.json").read_text())
    assert list(evaluated["methods"]) == methods + ["linear"]  # the file's slerp is the slerp baseline
    assert evaluated["metrics"] == ["pixel"] and evaluated["frames"] == 5
    for name in methods:  # the same numbers as compare measured
        np.testing.assert_allclose(evaluated["methods"][name]["metrics"]["pixel"]["length"],
                                   report["methods"][name]["evaluation"]["metrics"]["pixel"]["length"], rtol=1e-5)
        np.testing.assert_allclose(evaluated["methods"][name]["metrics"]["pixel"]["length_vs_linear"],
                                   report["methods"][name]["evaluation"]["metrics"]["pixel"]["length_vs_linear"],
                                   rtol=1e-5)
        assert any(line.startswith(name + " ") for line in result.output.splitlines())


def test_realism_method_with_stub_discriminator(tiny_net, tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path / "cache"))
    gen = Generator(tiny_net, latent_shape=(6,), discriminator=Contrast(), name="tiny+critic")
    seeds = pair_seeds(2)
    z0, z1 = seeded_endpoints(gen, seeds)
    level = OptimizeConfig(optimizer="lbfgs", max_steps=4)
    settings = CompareSettings(methods=("linear", "pixel", "pixel+realism"), frames=5, realism=0.5,
                               subdivide=SubdivideConfig(level=level))

    class Bar:  # records what a tqdm bar would be told
        n, descriptions = 0, []

        def update(self, k=1):
            self.n += k

        def set_postfix_str(self, s="", refresh=True):
            pass

        def set_description_str(self, s, refresh=True):
            self.descriptions.append(s)

    bar = Bar()
    report = compare(gen, z0, z1, tmp_path / "out", settings, model_name="tiny+critic", seeds=seeds, progress=bar)
    assert bar.n == settings.progress_total()  # one bar over the whole job, ending full
    assert any(d.startswith("pixel+realism (3/3): solving") for d in bar.descriptions)
    assert report["calibration"] is not None and report["model"]["discriminator"] is True
    weighted = report["methods"]["pixel+realism"]
    assert weighted["realism"] == {"lambda": 0.5, "form": "conformal", "base_metric": "pixel",
                                  "threshold": None}
    assert weighted["solver"]["metric"] == "pixel+realism0.5"
    p = np.asarray(weighted["evaluation"]["realism"]["p"])
    assert p.shape == (2, 5) and ((p >= 0.01) & (p <= 0.99)).all()
    for m in report["methods"].values():
        assert m["summary"]["realism_p_min"] is not None
    assert report["files"]["plots"]["realism"] is not None
    assert "realism p min" in (tmp_path / "out" / "report.html").read_text()
    assert Image.open(tmp_path / "out" / "plots.png").height > 600  # three panels


def test_parse_methods_and_reference_metric():
    methods = parse_methods("linear, retime,vgg-eq+realism")
    assert [(m.kind, m.metric, m.realism) for m in methods] == [("linear", None, False), ("retime", None, False),
                                                              ("geodesic", "vgg-eq", True)]
    assert reference_metric(["pixel", "lpips", "vgg"]) == "lpips" and reference_metric(["pixel-eq"]) == "pixel-eq"
    assert CompareSettings(methods=("slerp", "vgg+realism", "pixel-eq")).evaluation_metrics == \
        ("vgg", "pixel-eq", "pixel")
    for bad, match in [("linear,nope", "unknown method 'nope'"), ("linear+realism", "applies to geodesics only"),
                       ("pixel,pixel", "listed twice"), (" , ", "no methods")]:
        with pytest.raises(UserError, match=match):
            parse_methods(bad)
    with pytest.raises(UserError, match="unknown evaluation metric"):
        CompareSettings(eval_metrics=("nope",))


def test_bad_input_is_one_line_and_writes_nothing(model_file, tiny_net, tmp_path):
    out = tmp_path / "o"
    assert_user_error(run("compare", "--model", model_file, "--methods", "linear,warp", "--out", out),
                      "unknown method 'warp'")
    assert_user_error(run("compare", "--model", model_file, "--methods", "linear,pixel+realism", "--out", out),
                      "needs a model with a discriminator")
    assert_user_error(run("compare", "--model", model_file, "--eval-metrics", "pixel,nope", "--out", out),
                      "unknown evaluation metric 'nope'")
    assert not out.exists() or not any(out.iterdir())
    gen = Generator(tiny_net, latent_shape=(6,))
    z0, z1 = seeded_endpoints(gen, pair_seeds(1))
    with pytest.raises(UserError, match="needs a model with a discriminator"):
        compare(gen, z0, z1, out, CompareSettings(methods=("pixel-eq+realism",)), model_name="tiny")


@pytest.mark.parametrize("writer", ["write_video", "write_npz"])  # paths.npz is written last, in the same stage
def test_failure_leaves_the_folder_as_it_was(tiny_net, tmp_path, monkeypatch, writer):
    out = tmp_path / "o"
    out.mkdir()
    (out / "grid.png").write_bytes(b"old")
    (out / "paths.npz").write_bytes(b"old paths")
    gen = Generator(tiny_net, latent_shape=(6,))
    z0, z1 = seeded_endpoints(gen, pair_seeds(1))

    def broken(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    from latent_geodesics import pathfile

    monkeypatch.setattr(pathfile if writer == "write_npz" else compare_module, writer, broken)
    with pytest.raises(MachineError, match="No space left on device"):
        compare(gen, z0, z1, out, CompareSettings(methods=("linear", "slerp"), frames=3), model_name="tiny")
    assert sorted(p.name for p in out.iterdir()) == ["grid.png", "paths.npz"]
    assert (out / "grid.png").read_bytes() == b"old" and (out / "paths.npz").read_bytes() == b"old paths"


def test_paths_npz_taken_by_a_folder_is_refused_before_any_work(model_file, tmp_path):
    out = tmp_path / "o"
    (out / "paths.npz").mkdir(parents=True)
    assert_user_error(run("compare", "--model", model_file, "--methods", "linear", "--pairs", 1, "--frames", 3,
                          "--out", out, "-q"), "paths.npz is a folder")
    assert [p.name for p in out.iterdir()] == ["paths.npz"] and not any((out / "paths.npz").iterdir())


def test_demo_is_compare_with_small_settings(monkeypatch, tmp_path):
    from latent_geodesics.cli import compare as command

    seen = {}
    monkeypatch.setattr(command, "run_compare", lambda base, settings, **kw: seen.update(base=base, settings=settings,
                                                                                          **kw))
    result = run("demo", "--out", tmp_path / "d", "-q")
    assert result.exit_code == 0, result.output
    settings = seen["settings"]
    assert seen["base"].model.model == "zoo:celeba64" and seen["pairs"] == 2 and Path(seen["out"]) == tmp_path / "d"
    assert settings.methods == ("linear", "slerp", "pixel", "vgg-eq") and settings.solver == "subdivide"
    assert settings.subdivide.level.optimizer == "lbfgs-pair" and settings.metric_options == {"min_size": 64}
    assert settings.subdivide.level.ftol == 0.2 and settings.subdivide.level.max_steps == 500  # no step cap to warn
