"""Sound that drives motion: a file decoded to mono samples (the ffmpeg binary of imageio-ffmpeg, so wav, mp3,
flac and whatever else it reads), and its envelope per video frame."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from .._check import UserError
from .encode import ffmpeg_exe
from .settings import MAX_SECONDS

SAMPLE_RATE = 22050
"""Samples per second the audio is decoded at (mono) to measure its envelope."""
SILENCE = 1e-4
"""An envelope whose loudest frame has an RMS below this (-80 dBFS) is silence."""
ONSET_DECAY_S = 0.15
"""``onset`` envelope: each rise of loudness decays with this time constant (so motion does not stop dead)."""
MAX_AUDIO_S = MAX_SECONDS
"""Longest audio used whole (the longest video); a longer file needs ``--duration``."""


def read_audio(path: str | Path, *, rate: int = SAMPLE_RATE, seconds: float | None = None) -> np.ndarray:
    """Mono float32 samples ``(S,)`` in ``[-1, 1]`` at ``rate`` of the first audio stream of ``path``: its first
    ``seconds`` when given, else the whole file.

    Raises:
        UserError: the file is missing, not a sound file ffmpeg reads, holds no audio, or (without ``seconds``)
            lasts longer than :data:`MAX_AUDIO_S`.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"cannot read the audio file {path}: {'it is a folder' if path.is_dir() else 'no such file'}; "
                        "give a wav, mp3 or flac file")
    too_long = UserError(f"the audio file {path} lasts longer than {MAX_AUDIO_S:g} s, the longest video; give "
                         f"--duration SECONDS (at most {MAX_AUDIO_S:g}) to use its start, or a shorter file")
    if seconds is None and _decode(path, 1000, start=MAX_AUDIO_S + 0.01, seconds=1.0).size:  # cheap: seeks
        raise too_long
    samples = _decode(path, rate, start=0.0, seconds=MAX_AUDIO_S + 1.0 if seconds is None else seconds)
    if samples.size == 0:
        raise UserError(f"the audio file {path} holds no samples; give a sound file that plays")
    if seconds is None and samples.size > round((MAX_AUDIO_S + 0.01) * rate):
        raise too_long
    return samples.astype(np.float32)


def _decode(path: Path, rate: int, *, start: float, seconds: float) -> np.ndarray:
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", *(["-ss", repr(start)] if start else []), "-i", str(path),
           "-map", "0:a:0", "-t", repr(seconds), "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"]
    proc = subprocess.run(cmd, capture_output=True)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        why = lines[-1] if lines else f"ffmpeg exit {proc.returncode}"
        why = why.replace(str(path), "").strip(": ")
        raise UserError(f"cannot read the audio file {path}: {why[:200]}; give a wav, mp3 or flac file")
    return np.frombuffer(proc.stdout, dtype="<f4")


def audio_seconds(samples: np.ndarray, *, rate: int = SAMPLE_RATE) -> float:
    return samples.shape[0] / rate


def envelope(samples: np.ndarray, fps: float, n_frames: int, *, kind: str = "loudness",
             rate: int = SAMPLE_RATE, name: str = "the audio") -> np.ndarray:
    """The envelope of ``samples`` per video frame ``(n_frames,)``: frame ``k`` covers ``[k / fps, (k+1) / fps)``.

    ``loudness``: the RMS of the samples in the frame; ``onset``: the rises of the RMS from frame to frame, each
    decaying over :data:`ONSET_DECAY_S`. Frames past the end of the audio are silent.

    Raises:
        UserError: the audio is silent over those frames.
    """
    edges = np.round(np.arange(n_frames + 1) * rate / fps).astype(np.int64)
    sq = np.concatenate([[0.0], np.cumsum(samples.astype(np.float64) ** 2)])
    lo, hi = np.minimum(edges[:-1], samples.shape[0]), np.minimum(edges[1:], samples.shape[0])
    count = np.maximum(edges[1:] - edges[:-1], 1)
    rms = np.sqrt(np.maximum(sq[hi] - sq[lo], 0.0) / count)
    if rms.max(initial=0.0) < SILENCE:
        raise UserError(f"{name} is silent (loudest frame {20 * np.log10(max(rms.max(initial=0.0), 1e-12)):.0f} dBFS) "
                        "over the video's length; give a sound file with sound in it")
    if kind == "loudness":
        return rms
    rise = np.maximum(np.diff(np.concatenate([[0.0], rms])), 0.0)
    keep = float(np.exp(-1.0 / (ONSET_DECAY_S * fps)))
    out = np.empty_like(rise)
    acc = 0.0
    for k, r in enumerate(rise):
        acc = acc * keep + r
        out[k] = acc
    return out
