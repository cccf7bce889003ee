"""Decoding sound with the shipped ffmpeg, and its envelope per video frame."""

import json

import numpy as np
import pytest

from latent_geodesics._check import UserError
from latent_geodesics.video.audio import SAMPLE_RATE, envelope, read_audio

from sounds import click_track, write_wav


def test_click_track_envelope(tmp_path):
    samples = read_audio(click_track(tmp_path / "c.wav", seconds=2.0, every=0.5))
    assert samples.shape[0] == pytest.approx(2.0 * SAMPLE_RATE, abs=2)
    env = envelope(samples, 10.0, 20)
    assert env.shape == (20,)
    peaks = np.flatnonzero((env[1:-1] > env[:-2]) & (env[1:-1] >= env[2:])) + 1
    assert set(np.flatnonzero(env > 0.5 * env.max())) <= {0, 5, 10, 15}  # a ping every 0.5 s
    assert all(env[k] > 10 * env[k + 4] for k in (0, 5, 10))  # each decays before the next
    onset = envelope(samples, 10.0, 20, kind="onset")
    assert np.argmax(onset) in (0, 5, 10, 15) and len(peaks) >= 3
    past_end = envelope(samples, 10.0, 30)  # frames past the audio are silent
    assert np.all(past_end[21:] == 0)


def test_silent_and_unreadable_audio(tmp_path):
    silent = read_audio(write_wav(tmp_path / "s.wav", np.zeros(SAMPLE_RATE)))
    with pytest.raises(UserError, match="is silent"):
        envelope(silent, 30.0, 30, name="s.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF not really a wave file" * 10)
    with pytest.raises(UserError, match="cannot read the audio file") as e:
        read_audio(tmp_path / "junk.wav")
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="no such file"):
        read_audio(tmp_path / "missing.wav")


def test_audio_longer_than_the_longest_video_is_refused_unless_cut(tmp_path):
    from cli_helpers import assert_user_error, run
    from sounds import long_tone

    from latent_geodesics.video.audio import MAX_AUDIO_S

    long = long_tone(tmp_path / "two_hours.wav", 2 * MAX_AUDIO_S)
    with pytest.raises(UserError, match=r"lasts longer than 3600 s, the longest video; give --duration"):
        read_audio(long)
    args = ("interpolate", "--model", "zoo:mnist28", "--metric", "pixel", "--solver", "linear", "--seed", 1,
            "--seed", 2, "--audio", long, "-q")
    assert_user_error(run(*args, "--out", tmp_path / "o"), "lasts longer than 3600 s")
    assert not (tmp_path / "o").exists()
    # --duration says which part is used: the video is that long
    r = run(*args, "--duration", 1, "--fps", 10, "--format", "gif", "--out", tmp_path / "cut")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "cut" / "report.json").read_text())
    assert report["video"]["frames"] == 10
    assert read_audio(long, seconds=2.5).shape[0] == pytest.approx(2.5 * SAMPLE_RATE, abs=2)
    # a file of an hour or less is used whole
    assert read_audio(long_tone(tmp_path / "short.wav", 3)).shape[0] == pytest.approx(3 * SAMPLE_RATE, abs=2)
