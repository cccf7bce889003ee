"""Projection of pictures into the latent space: the search (batched starts, best kept, prior kept), the
picture reader (resize, centre crop, modes), and the command line (``project``, ``--image``)."""

from __future__ import annotations

import json
import math

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from PIL import Image

from cli_helpers import run
from latent_geodesics.generators import Generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.project import ProjectConfig, load_image, load_images, project_images, psnr

PIXEL = dict(perceptual="pixel", perceptual_options={}, pixel_weight=0.0)  # fast: no feature network


def targets_of(gen: Generator, seed: int, n: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    z = gen.sample_latents(n, seed=seed)
    with torch.no_grad():
        return z, gen(z)


def test_generated_images_are_recovered(conv_gen):
    _, targets = targets_of(conv_gen, seed=11)
    result = project_images(conv_gen, targets, ProjectConfig(starts=4, steps=300, lr=0.1, **PIXEL))
    assert result.latents.shape == (2, 8) and result.reconstructions.shape == targets.shape
    assert (result.psnr > 35).all(), result.psnr  # an image the model can make is matched closely
    torch.testing.assert_close(result.psnr, psnr(conv_gen(result.latents), targets))
    lpips = build_metric("lpips")
    torch.testing.assert_close(result.lpips, lpips(result.reconstructions, targets))


def test_best_start_is_kept_and_starts_are_independent_rows(conv_gen):
    _, targets = targets_of(conv_gen, seed=5, n=3)
    config = ProjectConfig(starts=3, steps=40, **PIXEL)
    both = project_images(conv_gen, targets, config)
    torch.testing.assert_close(both.loss, both.start_losses.min(1).values)
    assert both.start_losses.shape == (3, 3) and float(both.start_losses.std()) > 0  # the starts differ
    # One batch of all pictures and starts is exactly separate runs: the first picture alone ends the same.
    alone = project_images(conv_gen, targets[:1], config)
    torch.testing.assert_close(alone.start_losses[0], both.start_losses[0], atol=1e-5, rtol=1e-4)
    # More starts cannot end worse: the first start of 3 is the run with 1 start.
    one = project_images(conv_gen, targets, ProjectConfig(starts=1, steps=40, **PIXEL))
    torch.testing.assert_close(one.start_losses[:, 0], both.start_losses[:, 0], atol=1e-5, rtol=1e-4)
    assert (both.loss <= one.loss + 1e-6).all()


def test_prior_is_respected(conv_gen):
    far = conv_gen.sample_latents(2, seed=3) * 4  # images of latents far outside the typical set
    with torch.no_grad():
        targets = conv_gen(far)
    radius, half = math.sqrt(8 - 0.5), 3.0 / math.sqrt(2)
    shelled = project_images(conv_gen, targets, ProjectConfig(starts=2, steps=60, lr=0.2, **PIXEL))
    norms = shelled.latents.norm(dim=1)
    assert (norms <= radius + half + 1e-4).all() and (norms >= radius - half - 1e-4).all()
    free = project_images(conv_gen, targets, ProjectConfig(starts=2, steps=60, lr=0.2, shell=None, **PIXEL))
    assert free.latents.norm(dim=1).max() > radius + half  # without the shell the fit leaves it
    sphere = Generator(conv_gen.net, latent_shape=(8,), prior="sphere")
    on_sphere = project_images(sphere, targets, ProjectConfig(starts=2, steps=30, lr=0.2, **PIXEL))
    torch.testing.assert_close(on_sphere.latents.norm(dim=1), torch.full((2,), math.sqrt(8)))


def test_psnr_in_decibels():
    x = torch.zeros(2, 3, 4, 4)
    torch.testing.assert_close(psnr(x, x + 0.02), torch.full((2,), 40.0))  # 10 log10(2^2 / 0.02^2)


def test_report_dict_has_every_picture(conv_gen):
    _, targets = targets_of(conv_gen, seed=2)
    result = project_images(conv_gen, targets, ProjectConfig(starts=2, steps=5, **PIXEL), names=["a.png", "b.png"])
    d = json.loads(json.dumps(result.to_dict()))
    assert [i["name"] for i in d["images"]] == ["a.png", "b.png"] and len(d["images"][0]["start_losses"]) == 2
    assert d["median_lpips"] == pytest.approx(float(result.lpips.median()))
    assert d["settings"]["starts"] == 2 and d["wall_time_s"] > 0


# --- the picture reader -------------------------------------------------------------------------------------------

def save(tmp_path, name: str, array: np.ndarray, mode: str | None = None) -> str:
    path = tmp_path / name
    Image.fromarray(array, mode=mode).save(path)
    return str(path)


def test_exact_size_round_trips(tmp_path):
    arr = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    x = load_image(save(tmp_path, "a.png", arr), image_shape=(3, 8, 8))
    assert x.shape == (3, 8, 8)
    np.testing.assert_allclose(x.permute(1, 2, 0).numpy(), arr / 127.5 - 1, atol=1e-6)


def test_resized_and_centre_cropped(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)   # 40 wide, 20 high: blue sides, a red middle 20 px wide
    arr[:, :, 2] = 255
    arr[:, 10:30] = (255, 0, 0)
    x = load_image(save(tmp_path, "wide.png", arr), image_shape=(3, 8, 8))
    assert x.shape == (3, 8, 8)
    # the centre square is the red middle (Lanczos rings a little at its edges); the blue sides are cut off
    np.testing.assert_allclose(x[0, :, 1:-1].numpy(), 1.0, atol=0.02)
    assert float(x[0].min()) > 0.8 and float(x[2].max()) < -0.8


def test_colour_for_a_grey_model_becomes_luminance_and_opaque_alpha_is_dropped(tmp_path):
    arr = np.random.default_rng(1).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    grey = load_image(save(tmp_path, "c.png", arr), image_shape=(1, 8, 8))
    expected = np.asarray(Image.fromarray(arr).convert("L"), np.float32) / 127.5 - 1
    np.testing.assert_allclose(grey[0].numpy(), expected, atol=1e-6)
    rgba = np.concatenate([arr, np.full((8, 8, 1), 255, np.uint8)], 2)
    torch.testing.assert_close(load_image(save(tmp_path, "o.png", rgba, "RGBA"), image_shape=(3, 8, 8)),
                               load_image(save(tmp_path, "c2.png", arr), image_shape=(3, 8, 8)))


def test_load_images_stacks(tmp_path):
    arr = np.full((10, 10, 3), 128, np.uint8)
    paths = [save(tmp_path, f"{i}.png", arr) for i in range(3)]
    assert load_images(paths, image_shape=(3, 8, 8)).shape == (3, 3, 8, 8)


# --- the command line ---------------------------------------------------------------------------------------------

@pytest.fixture
def pictures(tmp_path):
    """Two 12x12 colour pictures (the tiny TorchScript model makes 8x8 RGB images)."""
    rng = np.random.default_rng(7)
    return [save(tmp_path, f"p{i}.png", rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)) for i in range(2)]


def test_project_command(model_file, pictures, tmp_path):
    out = tmp_path / "proj"
    result = run("project", *pictures, "--model", model_file, "--starts", 2, "--projection-steps", 5, "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["latents.npy", "projection.png", "report.json"]
    report = json.loads((out / "report.json").read_text())
    items = report["projection"]["images"]
    assert [i["name"] for i in items] == pictures and all(i["psnr_db"] > 0 and i["lpips"] > 0 for i in items)
    assert np.load(out / "latents.npy").shape == (2, 6)
    assert np.asarray(Image.open(out / "projection.png")).shape == (8 * 2 + 2, 8 * 2 + 2, 3)  # photo | reconstruction
    assert "reconstruction LPIPS" in result.stderr


def test_interpolate_between_pictures(model_file, pictures, tmp_path):
    out = tmp_path / "interp"
    result = run("interpolate", "--metric", "pixel", "--model", model_file, *sum((["--image", p] for p in pictures), []),
                 "--starts", 2, "--projection-steps", 5, "--frames", 5, "--steps", 5, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    assert (out / "projection.png").is_file()
    report = json.loads((out / "report.json").read_text())
    assert report["pairs"] == 1 and len(report["projection"]["images"]) == 2
    with np.load(out / "path.npz") as data:
        assert data["points"].shape == (1, 5, 6)
    frames = [f for f in imageio.get_reader(out / "video.mp4")]  # list() would ask the reader for its length (inf)
    assert len(frames) == 5 + 2 * 6  # the path, with each photo held 6 frames before and after
    first = np.asarray(Image.open(pictures[0]).convert("RGB").resize((8, 8), Image.Resampling.LANCZOS), np.float32)
    shown = np.asarray(Image.fromarray(frames[0]).resize((8, 8), Image.Resampling.BOX), np.float32)
    assert np.abs(shown - first).mean() < 12  # the video opens on the photo itself (H.264 is lossy)


def test_compare_between_pictures(model_file, pictures, tmp_path):
    out = tmp_path / "cmp"
    result = run("compare", "--model", model_file, *sum((["--image", p] for p in pictures), []), "--starts", 1,
                 "--projection-steps", 3, "--frames", 3, "--steps", 3, "--methods", "linear,pixel", "--out", out,
                 "-q")
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["pairs"] == [{"index": 0, "seeds": [None, None]}] and (out / "projection.png").is_file()
    assert len(report["projection"]["images"]) == 2


def test_odd_picture_count_for_compare(model_file, pictures, tmp_path):
    result = run("compare", "--model", model_file, "--image", pictures[0], "--out", tmp_path / "o")
    assert result.exit_code == 2 and "even number" in result.stderr and not (tmp_path / "o").exists()


def test_compare_pictures_with_seeded_pair_options_is_refused(model_file, pictures, tmp_path):
    images = sum((["--image", p] for p in pictures), [])
    for extra in (["--pairs", 3], ["--seed", 5], ["--pairs", 2, "--seed", 1]):
        result = run("compare", "--model", model_file, *images, *extra, "--out", tmp_path / "o")
        assert result.exit_code == 2 and "with --image the pictures are the pairs" in result.stderr, result.output
        assert not (tmp_path / "o").exists()
