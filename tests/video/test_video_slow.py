"""The video timing on a real face model under the perceptual metric (minutes on a CPU: marked slow)."""

import pytest
import torch

from latent_geodesics.generators import load_generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import baseline_path
from latent_geodesics.video import VideoSettings, video_frames

pytestmark = pytest.mark.slow


def test_vgg_eq_speed_follows_the_easing_on_faces():
    """faces64, vgg-eq (64 px), a loop through three faces on slerp legs, 12 fps: measured steps within 10% of the
    ease-in-out target (the chord passes bring it to a few per cent), waypoints exact, holds still."""
    gen = load_generator("zoo:faces64", device="cpu")
    metric = build_metric("vgg-eq", device="cpu", min_size=64)
    way = torch.cat([gen.sample_latents(1, seed=s) for s in (1, 2, 3)])
    ends = torch.cat([way, way[:1]])
    nodes = baseline_path(gen, "slerp", ends[:-1], ends[1:], 4)
    vp = video_frames(gen, metric, nodes, VideoSettings(fps=12, duration=2, hold=0.4, easing="ease-in-out"),
                      loop=True)
    assert vp.schedule.n_frames == 72
    assert vp.speed_error()["max"] < 0.10
    assert 0.8 < vp.chord_ratio <= 1.0
    for i in range(3):
        assert torch.equal(vp.latents[24 * i], nodes[i, 0]) and torch.equal(vp.latents[24 * i + 5], nodes[i, 0])
