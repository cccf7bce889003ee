"""Frames placed on solved legs by perceptual arc length, and what they measure."""

import numpy as np
import pytest
import torch

from latent_geodesics.metrics import build_metric
from latent_geodesics.curves import spline_points
from latent_geodesics.paths import baseline_path
from latent_geodesics.solvers import curve_steps, frames_at_fractions, frames_between_nodes
from latent_geodesics.video import VideoSettings, video_frames, write_speed_plot


def _legs(gen, n=3, *, loop=True, nodes=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    way = 0.5 * torch.randn(n, *gen.latent_shape, generator=g).to(gen.device)  # gentle turns: chords ~ arcs
    ends = torch.cat([way, way[:1]]) if loop else way
    return way, baseline_path(gen, "slerp", ends[:-1], ends[1:], nodes - 1)


def test_fractions_reproduce_the_uniform_placement(warped_gen, device):
    gen = warped_gen.to(device)
    metric = build_metric("pixel", device=device)
    _, nodes = _legs(gen, 2, loop=False)
    d_sq = curve_steps(gen, metric, nodes, 2 * 12 + 1)
    fr = torch.linspace(0, 1, 13, device=device).expand(nodes.shape[0], -1)
    torch.testing.assert_close(frames_at_fractions(gen, nodes, d_sq, fr), frames_between_nodes(gen, metric, nodes, 13))


def test_fractions_land_on_the_arc_length_asked_for(warped_gen, device):
    """On a curve measured densely, the frame at fraction f has covered f of the length (both ends exact)."""
    gen = warped_gen.to(device)
    metric = build_metric("pixel", device=device)
    _, nodes = _legs(gen, 2, loop=False, nodes=5)
    d_sq = curve_steps(gen, metric, nodes, 801)
    fr = torch.tensor([[0.0, 0.1, 0.35, 0.5, 0.9, 1.0]], device=device)
    pts = frames_at_fractions(gen, nodes, d_sq, fr)
    assert torch.equal(pts[:, 0], nodes[:, 0]) and torch.equal(pts[:, -1], nodes[:, -1])
    cum = torch.cat([torch.zeros(1, device=device), d_sq[0].sqrt().cumsum(0)])
    where = torch.linspace(0, nodes.shape[1] - 1, 801, device=device)
    dense = spline_points(nodes, where[None])[0]
    for f, p in zip(fr[0], pts[0]):
        k = int(torch.argmin((dense - p).norm(dim=-1)))
        assert float(cum[k] / cum[-1]) == pytest.approx(float(f), abs=3e-3)


def test_easing_is_followed_and_the_loop_does_not_repeat(warped_gen, device):
    gen = warped_gen.to(device)
    metric = build_metric("pixel", device=device)
    way, nodes = _legs(gen, 3)
    v = VideoSettings(fps=30, duration=2, hold=0.5, easing="ease-in-out")
    vp = video_frames(gen, metric, nodes, v, loop=True)
    assert vp.latents.shape == (180, 2) and vp.images.shape[0] == 180
    for i, k in enumerate((0, 60, 120)):
        assert torch.equal(vp.latents[k], nodes[i, 0])
        assert torch.equal(vp.latents[k + 15], nodes[i, 0])  # the hold
    assert not torch.equal(vp.latents[-1], vp.latents[0])
    assert vp.steps.shape == (180,) and vp.steps[-1] > 0  # the loop's closing step moves
    err = vp.speed_error()
    assert err["max"] < 0.05, err
    assert len(vp.joins) == 3 and all(j["relative_jump"] < 0.15 for j in vp.joins)
    report = vp.to_dict()
    assert report["frames"] == 180 and report["seconds"] == 6.0 and len(report["legs"]) == 3


def test_smooth_joins_remove_the_velocity_jump(warped_gen):
    metric = build_metric("pixel")
    _, nodes = _legs(warped_gen, 3)
    jumps = {}
    for joins in ("smooth", "sharp"):
        vp = video_frames(warped_gen, metric, nodes, VideoSettings(fps=30, duration=1.5, joins=joins), loop=True)
        jumps[joins] = max(j["relative_jump"] for j in vp.joins)
        assert vp.speed_error()["max"] < 0.05
    assert jumps["smooth"] < 0.1 < 0.5 < jumps["sharp"], jumps


def test_audio_envelope_sets_the_steps(warped_gen, tmp_path):
    metric = build_metric("pixel")
    _, nodes = _legs(warped_gen, 3)
    t = np.arange(90)
    env = np.exp(-(t % 15) / 4.0) + 0.05  # a beat every half second at 30 fps
    for loop in (True, False):
        vp = video_frames(warped_gen, metric, nodes if loop else nodes[:2], VideoSettings(fps=30), loop=loop,
                          envelope=env)
        assert vp.schedule.n_frames == 90
        assert vp.audio_correlation() > 0.98
    path = write_speed_plot(tmp_path / "speed.png", vp, metric_name="pixel")
    assert path.stat().st_size > 1000


def test_frames_are_moved_until_their_chords_follow_the_easing(warped_gen, monkeypatch):
    """Across a tight bend a step's chord is shorter than its arc (9% on this path): the chord passes move the
    frames so that the measured steps follow the easing (and report the chord-to-arc ratio)."""
    import latent_geodesics.video.frames as frames_mod

    metric = build_metric("pixel")
    g = torch.Generator().manual_seed(0)
    way = torch.randn(3, 2, generator=g)
    ends = torch.cat([way, way[:1]])
    nodes = baseline_path(warped_gen, "slerp", ends[:-1], ends[1:], 5)
    v = VideoSettings(fps=30, duration=2, hold=0.5, easing="ease-in-out")
    monkeypatch.setattr(frames_mod, "CHORD_PASSES", 0)
    raw = video_frames(warped_gen, metric, nodes, v, loop=True)
    monkeypatch.undo()
    fixed = video_frames(warped_gen, metric, nodes, v, loop=True)
    assert raw.speed_error()["max"] > 0.05 and fixed.speed_error()["max"] < 0.01
    assert 0.95 < fixed.chord_ratio < 1.0
    torch.testing.assert_close(fixed.latents[[0, 15, 60, 75, 120, 135]], nodes[[0, 0, 1, 1, 2, 2], 0])


@pytest.mark.parametrize("loop", [True, False])
def test_round_joins_turn_without_stopping(warped_gen, loop):
    """joins="round": one curve through all legs, its direction continuous through the waypoints: with --total and
    linear easing the speed stays constant, the velocity jumps at the waypoints shrink (measured), the waypoints
    are still shown exactly."""
    metric = build_metric("pixel")
    way = torch.tensor([[0.0, 0.0], [1.5, 0.3], [0.2, 1.0]])  # turns of 110-150 degrees
    ends = torch.cat([way, way[:1]]) if loop else way
    nodes = baseline_path(warped_gen, "linear", ends[:-1], ends[1:], 8)
    jumps = {}
    for joins in ("sharp", "round"):
        vp = video_frames(warped_gen, metric, nodes, VideoSettings(fps=30, total=6, joins=joins), loop=loop)
        assert vp.speed_error()["max"] < 0.02
        jumps[joins] = np.array([j["relative_jump"] for j in vp.joins])
        starts = [leg.start for leg in vp.schedule.legs]
        torch.testing.assert_close(vp.latents[starts], nodes[:, 0])
    assert np.all(jumps["sharp"] > 1.0) and np.all(jumps["round"] < 0.3 * jumps["sharp"]), jumps
    moving = vp.steps[vp.steps > 0]
    assert moving.min() > 0.8 * moving.max()  # no stop at the waypoints
