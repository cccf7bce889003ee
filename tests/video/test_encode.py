"""Writers of the shared formats: sizes, frame counts and timing as decoded."""

import imageio.v2 as imageio
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageSequence

from latent_geodesics.video.encode import (Upscaled, gif_delays, probe, scale_factor, upscale_frames, write_ffmpeg,
                                           write_gif, write_png_frames)


def _frames(t=6, h=7, w=5, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def test_upscaling():
    f = _frames()
    near = upscale_frames(f, 3, "nearest")
    assert near.shape == (6, 21, 15, 3) and (near[:, ::3, ::3] == f).all()
    lanczos = upscale_frames(f, 3, "lanczos")
    assert lanczos.shape == (6, 21, 15, 3) and not (lanczos == near).all()
    assert len(Upscaled(f, 2)) == 6 and Upscaled(f, 2).size == (14, 10)
    assert scale_factor(28, 28, None) == 10 and scale_factor(64, 64, None) == 4 and scale_factor(28, 28, 2) == 2


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_odd_sizes_are_padded_and_every_frame_is_kept(tmp_path, fmt):
    path = write_ffmpeg(tmp_path / f"v.{fmt}", _frames(), 7.5, fmt)
    reader = imageio.get_reader(path, format="FFMPEG")
    frames = [f for f in reader]
    assert reader.get_meta_data()["fps"] == 7.5
    reader.close()
    assert len(frames) == 6 and frames[0].shape == (8, 6, 3)
    assert probe(path)["duration_s"] == pytest.approx(6 / 7.5, abs=0.02)


def test_gif_and_png_frames(tmp_path):
    f = _frames()
    f[3] = f[2]  # a hold: merged into one GIF frame shown twice as long
    write_gif(tmp_path / "v.gif", Upscaled(f, 2), 30)
    with Image.open(tmp_path / "v.gif") as gif:
        shown = [(fr.size, fr.info["duration"]) for fr in ImageSequence.Iterator(gif)]
    assert len(shown) == 5 and shown[0][0] == (10, 14) and sum(d for _, d in shown) == 200
    write_png_frames(tmp_path / "frames", Upscaled(f, 1))
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == [f"frame_{k:05d}.png" for k in range(6)]
    assert (np.asarray(Image.open(tmp_path / "frames" / names[4])) == f[4]).all()


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 400), fps=st.floats(0.5, 60))
def test_gif_delays_keep_time(n, fps):
    delays = np.array(gif_delays(n, fps))
    assert (delays % 10 == 0).all() and (delays >= 10).all()
    running = np.cumsum(delays)
    k = np.arange(1, n + 1)
    assert np.all(np.abs(running - 1000 * k / fps) <= 5 + 1e-6) or fps > 50
