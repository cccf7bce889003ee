import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from PIL import Image

from latent_geodesics._check import UserError, atomic_path
from latent_geodesics.rendering import staged_outputs, tile, to_uint8, upscale, write_png, write_video


def test_to_uint8_maps_range_and_repeats_gray():
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3)
    u = to_uint8(x)
    assert u.shape == (1, 1, 3, 3) and u.dtype == np.uint8
    assert u[0, 0, :, 0].tolist() == [0, 128, 255]


def test_tile_layout():
    frames = np.zeros((2, 3, 4, 5, 3), np.uint8)
    frames[1, 2] = 7
    out = tile(frames, gap=1)
    assert out.shape == (2 * 5 - 1, 3 * 6 - 1, 3)
    assert (out[5:9, 12:17] == 7).all() and out[4, 0, 0] == 255


def test_png_and_video_round_trip(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (5, 30, 20, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", tile(frames[None]))
    assert Image.open(tmp_path / "a.png").size == (5 * 22 - 2, 30)
    write_video(tmp_path / "v.mp4", frames, fps=5)
    reader = imageio.get_reader(tmp_path / "v.mp4")
    got = [f for f in reader]
    assert len(got) == 5
    assert got[0].shape == upscale(frames[0], 256).shape  # 20 px upscaled x13 -> 390 x 260


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_staged_outputs_all_or_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with staged_outputs(tmp_path) as stage:
            (stage / "a.txt").write_text("a")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with staged_outputs(tmp_path) as stage:
        (stage / "a.txt").write_text("a")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_staged_outputs_unwritable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot write to output folder"):
        with staged_outputs(blocker):
            pass
