"""A JOBS line can do everything ``interpolate`` does, and its path equals the ``interpolate`` run with the same
settings: realism on zoo:fashion32, a discriminator file, classes on zoo:eyes128, photos, waypoints with a loop.

Equal bit for bit when each line is solved alone (``--batch-size 1``): lines solved together share batched model
passes, whose rounding on a multi-threaded CPU depends on the batch, and the optimiser can amplify that."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cli_helpers import assert_user_error, run
from latent_geodesics.generators import load_generator
from latent_geodesics.rendering import to_uint8

FAST = ["--metric", "pixel", "--frames", "3", "--steps", "3"]
"""The command's settings, shared by every line and every ``interpolate`` run (the machinery is under test)."""


class Critic(nn.Module):
    """``(B, 3, H, W) -> (B, 1)``: a small scriptable critic for a discriminator file."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(3)
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean((2, 3)))


LINES = {
    "shoes": ({"model": "zoo:fashion32", "seeds": [1, 2], "realism": 0.5},
              ["--model", "zoo:fashion32", "--seed", 1, "--seed", 2, "--realism", 0.5]),
    "critic": ({"seeds": [3, 4], "discriminator": "disc.pt", "realism": 0.5},
               ["--seed", 3, "--seed", 4, "--discriminator", "{dir}/disc.pt", "--realism", 0.5]),
    "eyes": ({"model": "zoo:eyes128", "seeds": [1, 2], "class": ["brown", "hazel"], "frames": 3,
              "precondition": "laplacian"},  # 128 px: no latent metric to measure, to keep the test short
             ["--model", "zoo:eyes128", "--seed", 1, "--class", "brown", "--seed", 2, "--class", "hazel", "--frames", 3,
              "--precondition", "laplacian"]),
    "photos": ({"images": ["a.png", "b.png"], "starts": 2, "projection_steps": 5},
               ["--image", "{dir}/a.png", "--image", "{dir}/b.png", "--starts", 2, "--projection-steps", 5]),
    "tour": ({"seeds": [5, 6, 7], "loop": True}, ["--seed", 5, "--seed", 6, "--seed", 7, "--loop"]),
}


@pytest.mark.slow
def test_every_line_equals_its_interpolate_run(tmp_path):
    torch.jit.save(torch.jit.script(Critic()), str(tmp_path / "disc.pt"))
    faces = load_generator("zoo:faces64")
    for name, seed in (("a.png", 11), ("b.png", 12)):
        Image.fromarray(to_uint8(faces(faces.sample_latents(1, seed=seed)))[0]).save(tmp_path / name)
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text("".join(json.dumps({"id": name, **line}) + "\n" for name, (line, _) in LINES.items()))
    result = run("batch", jobs, "--model", "zoo:faces64", *FAST, "--batch-size", 1, "--out", tmp_path / "batch", "-q")
    assert result.exit_code == 0, result.output
    assert "5 lines: 5 done" in result.stderr
    records = {r["name"]: r for r in map(json.loads, (tmp_path / "batch" / "manifest.jsonl").read_text().splitlines())}
    assert records["eyes"]["settings"]["class"] == ["brown", "hazel"] and records["shoes"]["model"] == "zoo:fashion32"
    for name, (_, args) in LINES.items():
        out = tmp_path / name
        args = [str(a).format(dir=tmp_path) for a in args]
        given = set(args) & {"--model", *FAST[::2]}
        defaults = [x for k, v in zip(["--model", *FAST[::2]], ["zoo:faces64", *FAST[1::2]]) if k not in given
                    for x in (k, v)]
        solo = run("interpolate", *defaults, *args, "--out", out, "-q")  # the line's own values, the command's others
        assert solo.exit_code == 0, (name, solo.output)
        with np.load(out / "path.npz") as mine, np.load(tmp_path / "batch" / "paths" / f"{name}.npz") as line:
            assert line["points"].shape == mine["points"].shape, name
            np.testing.assert_allclose(line["points"], mine["points"], rtol=0, atol=1e-5, err_msg=name)
            assert str(line["model"]) == str(mine["model"]) and str(line["metric"]) == "pixel"
            assert ("legs" in line) == ("legs" in mine)
    tour = np.load(tmp_path / "batch" / "paths" / "tour.npz")["points"]
    assert tour.shape[1] == 3 * 2 + 1 and np.allclose(tour[0, 0], tour[0, -1])  # a loop through 3 waypoints
    page = (tmp_path / "batch" / "report.html").read_text()
    assert "eyes" in page and (tmp_path / "batch" / "grid.png").exists()  # models of 3 sizes in one grid


@pytest.mark.parametrize("line, words", [
    ({"seeds": [1, 2], "realism": 0.5, "model": "zoo:faces64"}, "line 1: --realism needs a model with a discriminator"),
    ({"seeds": [1, 2], "class": ["hazel"]}, "line 1: zoo:mnist28 takes no class"),
    ({"seeds": [1, 2], "model": "zoo:eyes128", "class": ["violet"]}, "line 1: zoo:eyes128 has no class 'violet'"),
    ({"seeds": [1, 2, 3], "model": "zoo:eyes128", "class": ["brown", "hazel"]}, "line 1: 2 --class values need"),
    ({"images": ["nope.png", "nope2.png"]}, "line 1: "),
    ({"seeds": [1, 2], "discriminator": "nope.pt", "realism": 1}, "line 1: "),
    ({"seeds": [1], "loop": True}, "line 1: give at least two --seed values"),
    ({"seeds": [1, 2], "nodes": 1}, "line 1: --nodes must be a whole number from 2"),
    ({"seeds": [1, 2], "metric_options": {"min_size": "big"}, "metric": "vgg"}, "line 1: "),
])
def test_an_impossible_line_is_one_error_naming_it(tmp_path, line, words):
    jobs = tmp_path / "j.jsonl"
    jobs.write_text(json.dumps(line) + "\n")
    assert_user_error(run("batch", jobs, "--model", "zoo:mnist28", *FAST, "--out", tmp_path / "o"), words)
    assert not (tmp_path / "o" / "paths").exists()


def test_csv_lines_take_lists_and_options(tmp_path):
    jobs = tmp_path / "j.csv"
    jobs.write_text("id,seeds,loop,frames,metric_options\nw,1 2 3,true,3,\n")
    out = tmp_path / "o"
    result = run("batch", jobs, "--model", "zoo:mnist28", "--metric", "pixel", "--steps", 2, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    with np.load(out / "paths" / "w.npz") as data:
        assert data["points"].shape == (1, 3 * 2 + 1, 64) and int(data["legs"]) == 3
