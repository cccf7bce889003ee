"""A user's own discriminator: ``--discriminator FILE|package.module:factory``, its probe, its calibration cache."""

import json
import sys
import textwrap

import numpy as np
import pytest
import torch
from torch import nn

from latent_geodesics._check import UserError
from latent_geodesics.generators import load_discriminator, load_generator
from latent_geodesics.realism import calibrate, calibration_path

from cli_helpers import assert_user_error, run

MODULE = "lg_test_discriminators"
FACTORIES = textwrap.dedent('''
    import functools

    import torch
    from torch import nn

    class Gen(nn.Module):
        """(B, 6) -> (B, 3, 8, 8) in [-1, 1]: the latent tiled."""
        latent_shape = (6,)

        def forward(self, z):
            return torch.tanh(z.repeat(1, 32)).view(z.shape[0], 3, 8, 8)

    class Scores(nn.Module):
        """Good (a score per image, shape (B,)) or one of the ways a critic goes wrong."""

        def __init__(self, kind):
            super().__init__()
            self.kind = kind

        def forward(self, x):
            s = x.flatten(1).std(1)
            if self.kind == "shape":
                return x.flatten(1)[:, :2]
            if self.kind == "nan":
                return s * float("nan")
            if self.kind == "batch":
                return s - s.mean()
            if self.kind == "list":
                return s.tolist()
            if self.kind == "raises":
                raise RuntimeError("expected 1 channel\\nsecond line")
            return -s

    gen = Gen
    good, wrong_shape, nan, batch, list_out, raises = (functools.partial(Scores, kind) for kind in (
        "good", "shape", "nan", "batch", "list", "raises"))

    def number():
        return 3

    def needs_argument(width):
        return Scores("good")
''')


class Critic(nn.Module):
    """``(B, 3, 8, 8) -> (B, 1)``: a small scriptable conv critic."""

    def __init__(self, seed: int = 1) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.conv(x)).mean((2, 3)))


@pytest.fixture
def factories(tmp_path, monkeypatch):
    """The module ``lg_test_discriminators`` on the import path, with the factories above."""
    (tmp_path / f"{MODULE}.py").write_text(FACTORIES)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield MODULE
    sys.modules.pop(MODULE, None)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def disc_file(tmp_path, seed: int = 1) -> str:
    path = tmp_path / f"disc{seed}.pt"
    torch.jit.save(torch.jit.script(Critic(seed)), str(path))
    return str(path)


def test_interpolate_with_torchscript_discriminator(model_file, tmp_path, cache):
    disc = disc_file(tmp_path)
    for out in ("a", "b"):  # the second run reads the first run's calibration back
        result = run("interpolate", "--metric", "pixel", "--model", model_file, "--discriminator", disc, "--realism", 0.5, "--seed", 1,
                     "--seed", 2, "--frames", 3, "--steps", 3, "--out", tmp_path / out, "-q")
        assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    assert report["metric"] == "pixel+realism0.5" and report["realism"]["calibration"]["samples"] == 2000
    assert len(list(cache.glob("calibration/*.json"))) == 1  # a stable digest of the reloaded file
    assert report["model"]["discriminator_spec"] == disc
    # the file names the model and the discriminator, but a data file does not choose code to load
    assert_user_error(run("evaluate", tmp_path / "a" / "path.npz"), "not in the zoo; pass --model")
    result = run("evaluate", tmp_path / "a" / "path.npz", "--model", model_file)
    assert result.exit_code == 0, result.output
    assert f"solved with discriminator {disc}; pass --discriminator" in result.stderr
    assert "p min" not in result.stdout
    result = run("evaluate", tmp_path / "a" / "path.npz", "--model", model_file, "--discriminator", disc)
    assert result.exit_code == 0, result.output
    assert "p min" in result.stdout and result.stderr == ""  # calibrated from the cache
    assert len(list(cache.glob("calibration/*.json"))) == 1
    result = run("interpolate", "--metric", "pixel", "--model", model_file, "--discriminator", disc_file(tmp_path, seed=2), "--realism",
                 0.5, "--seed", 1, "--seed", 2, "--solver", "linear", "--frames", 3, "--out", tmp_path / "c", "-q")
    assert result.exit_code == 0, result.output
    assert len(list(cache.glob("calibration/*.json"))) == 2  # other weights, another calibration


def test_factory_specs_for_model_and_discriminator(factories, tmp_path, cache):
    result = run("interpolate", "--metric", "pixel", "--model", f"{MODULE}:gen", "--discriminator", f"{MODULE}:good", "--realism", 1,
                 "--realism-form", "published", "--seed", 1, "--seed", 2, "--frames", 3, "--steps", 3,
                 "--out", tmp_path / "o", "-q")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["realism"]["form"] == "published" and report["realism"]["calibration"]["per_image"] is False
    result = run("compare", "--model", f"{MODULE}:gen", "--discriminator", f"{MODULE}:good", "--methods",
                 "linear,pixel+realism", "--pairs", 1, "--frames", 3, "--steps", 2, "--out", tmp_path / "c", "-q")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "c" / "report.json").read_text())
    assert report["model"]["discriminator"] is True and report["calibration"] is not None
    assert report["methods"]["pixel+realism"]["evaluation"]["realism"]["p_min"][0] is not None
    assert report["model"]["discriminator_spec"] == f"{MODULE}:good"
    with np.load(tmp_path / "c" / "paths.npz") as data:
        assert str(data["discriminator"]) == f"{MODULE}:good"
        assert data["metrics"].tolist() == ["", "pixel+realism0.5"]
    assert_user_error(run("evaluate", tmp_path / "c" / "paths.npz", "--model", f"{MODULE}:gen", "--discriminator",
                          f"{MODULE}:batch"), "another score when the rest of its batch changes")  # probed too


@pytest.mark.parametrize("factory,match", [
    ("wrong_shape", "returned shape (2, 2) for 2 images"),
    ("nan", "returned NaN or inf scores"),
    ("batch", "another score when the rest of its batch changes"),
    ("list_out", "returned list, not a tensor"),
    ("raises", "failed on images of shape (2, 3, 8, 8): expected 1 channel;"),
    ("number", "returned a int, not a module or callable"),
    ("nope", "has no 'nope'"),
    ("needs_argument", "failed when called with no arguments: needs_argument()"),
])
def test_bad_discriminator_is_one_line_and_exit_2(factories, model_file, tmp_path, factory, match):
    out = tmp_path / "o"
    for command in (["interpolate", "--metric", "pixel", "--seed", 1, "--seed", 2, "--realism", 0.5],
                    ["compare", "--methods", "linear,pixel+realism"]):
        assert_user_error(run(*command, "--model", model_file, "--discriminator", f"{MODULE}:{factory}", "--out", out),
                          match)
    assert not out.exists()  # nothing created: --out is checked, not made, before any work


def test_bad_discriminator_files(model_file, tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"\x00" * 10)
    for spec, match in [(junk, "is not a TorchScript discriminator"), (tmp_path / "missing.pt", "does not exist"),
                        ("nothing-here", "unknown discriminator 'nothing-here'")]:
        assert_user_error(run("interpolate", "--metric", "pixel", "--model", model_file, "--discriminator", spec, "--seed", 1, "--seed", 2,
                              "--out", tmp_path / "o"), match)


def test_realism_without_any_discriminator_says_so(model_file, tmp_path):
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", model_file, "--realism", 0.5, "--seed", 1, "--seed", 2,
                          "--out", tmp_path / "o"), "--discriminator")


def test_python_loaders(model_file, tmp_path):
    path = disc_file(tmp_path)
    disc = load_discriminator(path)
    assert isinstance(disc, torch.jit.ScriptModule)
    gen = load_generator(model_file, discriminator=path)
    assert isinstance(gen.discriminator, torch.jit.ScriptModule)
    assert gen.discriminator(gen(gen.sample_latents(3, seed=0))).shape == (3, 1)
    # a reloaded file keys the same calibration; other weights another one
    again = load_generator(model_file, discriminator=path)
    other = load_generator(model_file, discriminator=disc_file(tmp_path, seed=2))
    key = dict(samples=50, seed=0, offset_fraction=0.1)
    assert calibration_path(gen, **key) == calibration_path(again, **key) != calibration_path(other, **key)
    assert calibrate(gen, samples=50, use_cache=False).low < calibrate(gen, samples=50, use_cache=False).high
    with pytest.raises(UserError, match="cannot use a float as a discriminator"):
        load_discriminator(1.5)


def test_discriminator_replaces_a_zoo_models_own():
    own = load_generator("zoo:fashion32", check=False)
    assert own.discriminator is not None

    def brightness(x):
        return x.mean((1, 2, 3))

    gen = load_generator("zoo:fashion32", discriminator=brightness)
    assert gen.discriminator is brightness
    key = dict(samples=50, seed=0, offset_fraction=0.1)
    assert calibration_path(gen, **key) != calibration_path(own, **key)
