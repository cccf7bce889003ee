"""Schedules: where each frame goes, in (leg, fraction of the leg's perceptual length)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latent_geodesics._check import UserError
from latent_geodesics.video import LegSpec, VideoSettings, audio_schedule, ease, easing_names, easing_schedule


def test_the_issue_loop():
    """3 legs of 2 s, 0.5 s holds, 30 fps, loop: 180 frames; each leg rests 15 steps then eases; no repeat."""
    v = VideoSettings(fps=30, duration=2, hold=0.5, easing="ease-in-out")
    s = easing_schedule(v, 3, loop=True)
    assert s.n_frames == 180 and s.seconds == 6.0
    assert [leg.start for leg in s.legs] == [0, 60, 120]
    for i, leg in enumerate(s.legs):
        fr = s.fraction[s.leg == i]
        assert np.all(fr[:16] == 0) and fr[16] > 0  # frames 0..15 on the waypoint: 15 steps of rest
        np.testing.assert_allclose(fr[15:], ease("ease-in-out", np.arange(45) / 45), atol=1e-6)
        assert not leg.ramp_in and not leg.ramp_out  # the easing already rests at the waypoints
    steps = s.target_steps(np.array([1.0, 2.0, 3.0]))
    assert steps.shape == (180,) and steps.sum() == pytest.approx(6.0)  # the last step closes the loop
    assert steps[-1] > 0  # ... and moves: the last frame is not the first again


def test_open_path_ends_on_its_last_waypoint_with_its_hold():
    v = VideoSettings(fps=10, duration=1, hold=0.3, easing="linear", joins="sharp")
    s = easing_schedule(v, 2, loop=False)
    assert s.n_frames == 10 + 10 + 1 + 3
    assert np.all(s.fraction[-4:] == 1) and np.all(s.leg[-4:] == 1)
    steps = s.target_steps(np.array([1.0, 1.0]))
    assert steps.shape == (s.n_frames - 1,) and steps.sum() == pytest.approx(2.0)


def test_smooth_joins_ramp_only_where_the_easing_arrives_at_speed():
    lin = easing_schedule(VideoSettings(fps=30, duration=2, easing="linear"), 3, loop=False)
    assert [(leg.ramp_in, leg.ramp_out) for leg in lin.legs] == [(False, True), (True, True), (True, False)]
    loop = easing_schedule(VideoSettings(fps=30, duration=2, easing="ease-in"), 2, loop=True)
    assert [(leg.ramp_in, leg.ramp_out) for leg in loop.legs] == [(False, True), (False, True)]
    sharp = easing_schedule(VideoSettings(fps=30, duration=2, easing="linear", joins="sharp"), 3, loop=True)
    assert not any(leg.ramp_in or leg.ramp_out for leg in sharp.legs)
    steps = lin.target_steps(np.ones(3))
    k = lin.legs[1].start
    assert steps[k - 1] < 0.05 * steps.max() and steps[k] < 0.05 * steps.max()  # slow through the waypoint


def test_per_leg_durations():
    v = VideoSettings(fps=20, duration=1, legs=(LegSpec(duration=0.5), LegSpec(duration=2, easing="ease-out")))
    s = easing_schedule(v, 3, loop=True)
    assert [leg.frames for leg in s.legs] == [10, 40, 20]
    assert s.n_frames == 70


def test_a_hold_that_leaves_no_time_to_move():
    with pytest.raises(UserError, match="no frame is left to move in"):
        easing_schedule(VideoSettings(fps=10, duration=1, hold=1), 2, loop=False)


@settings(max_examples=60, deadline=None)
@given(fps=st.floats(5, 60), durations=st.lists(st.floats(0.3, 3), min_size=1, max_size=4),
       easing=st.sampled_from(easing_names()), hold=st.floats(0, 0.2), loop=st.booleans(),
       joins=st.sampled_from(["smooth", "sharp"]))
def test_schedules_move_forward(fps, durations, easing, hold, loop, joins):
    """Within each leg the fractions never go back; the frame count is the durations' (plus an open path's end)."""
    v = VideoSettings(fps=fps, easing=easing, hold=hold, joins=joins, legs=tuple(LegSpec(duration=d) for d in durations))
    s = easing_schedule(v, len(durations), loop=loop)
    moves = [int(round(d * fps + 1e-9)) for d in durations]
    assert s.n_frames == sum(moves) + (0 if loop else 1 + int(round(hold * fps + 1e-9)))
    pos = s.positions(np.arange(1.0, len(durations) + 1))
    assert np.all(np.diff(pos) >= -1e-9)
    assert s.fraction[0] == 0 and s.leg[0] == 0


@settings(max_examples=40, deadline=None)
@given(env=st.lists(st.floats(0, 10), min_size=3, max_size=50).filter(lambda e: sum(e) > 1e-3),
       lengths=st.lists(st.floats(0.1, 5), min_size=1, max_size=4), loop=st.booleans())
def test_audio_steps_follow_the_envelope(env, lengths, loop):
    env, lengths = np.array(env), np.array(lengths)
    s = audio_schedule(env, lengths, 30.0, loop=loop)
    assert s.n_frames == (len(env) if loop else len(env) + 1)
    np.testing.assert_allclose(s.target_steps(lengths), env / env.sum() * lengths.sum(), atol=1e-9)


def test_a_total_is_shared_by_perceptual_length():
    """--total: every leg moves at the same mean speed; the video lasts the total exactly (holds, end included)."""
    v = VideoSettings(fps=10, total=6.0)
    s = easing_schedule(v, 3, loop=True, lengths=np.array([1.0, 2.0, 3.0]))
    assert [leg.frames for leg in s.legs] == [10, 20, 30] and s.n_frames == 60
    assert [leg.duration for leg in s.legs] == [1.0, 2.0, 3.0]
    held = easing_schedule(VideoSettings(fps=10, total=7.0, hold=0.2), 3, loop=False,
                           lengths=np.array([1.0, 1.0, 2.0]))
    assert held.n_frames == 70 and [leg.hold_frames for leg in held.legs] == [2, 2, 2]
    moves = [leg.frames - leg.hold_frames for leg in held.legs]
    assert sum(moves) == 70 - 6 - 3 and moves[2] == pytest.approx(2 * moves[0], abs=1)
    with pytest.raises(UserError, match="leaves 1 frame.s. to move in for 2 leg"):
        easing_schedule(VideoSettings(fps=10, total=0.5, hold=0.2), 2, loop=True)
    with pytest.raises(UserError, match="--duration .* or --total .*not both"):
        VideoSettings(total=3.0, duration=1.0)


def test_waypoint_frames_of_both_kinds():
    s = easing_schedule(VideoSettings(fps=10, duration=1), 3, loop=True)
    assert s.waypoint_frames() == [0, 10, 20]
    a = audio_schedule(np.ones(30), np.array([1.0, 2.0, 3.0]), 10.0, loop=True)
    assert a.waypoint_frames() == [0, 5, 15]


@settings(max_examples=50, deadline=None)
@given(data=st.data(), loop=st.booleans(), easing=st.sampled_from(easing_names()), hold=st.sampled_from([0.0, 0.2]))
def test_chord_passes_keep_waypoints_holds_and_order(data, loop, easing, hold):
    """Moving frames for their chords never moves a waypoint or a hold, never reorders frames, and keeps every
    stretch between waypoints at its arc length."""
    from latent_geodesics.video.frames import _chord_corrected

    s = easing_schedule(VideoSettings(fps=10, duration=1, hold=hold, easing=easing), 3, loop=loop)
    lengths = np.array([1.0, 2.0, 0.5])
    targets = s.target_steps(lengths)
    eff = np.array(data.draw(st.lists(st.floats(0.5, 1.0), min_size=len(targets), max_size=len(targets))))
    moved = _chord_corrected(s, s, lengths, targets, targets * eff)
    fixed = (s.fraction == 0) | (s.fraction == 1)
    assert np.array_equal(moved.fraction[fixed], s.fraction[fixed]) and np.array_equal(moved.leg, s.leg)
    pos = moved.positions(lengths)
    assert np.all(np.diff(pos) >= -1e-9)
