"""Sound files for the video tests, written with the standard library's ``wave``."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def write_wav(path: Path, samples: np.ndarray, rate: int = 22050) -> Path:
    """Mono 16-bit PCM."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def click_track(path: Path, *, seconds: float = 3.0, every: float = 0.5, decay: float = 0.08,
                rate: int = 22050) -> Path:
    """A 440 Hz ping every ``every`` seconds, decaying exponentially: an envelope with sharp rises."""
    t = np.arange(int(seconds * rate)) / rate
    x = np.zeros_like(t)
    for start in np.arange(0, seconds, every):
        m = t >= start
        x[m] += np.exp(-(t[m] - start) / decay) * np.sin(2 * np.pi * 440 * (t[m] - start))
    return write_wav(path, 0.5 * x / np.abs(x).max(), rate)


def long_tone(path: Path, seconds: float, *, rate: int = 1000) -> Path:
    """A 100 Hz tone of ``seconds`` as 8-bit PCM at ``rate`` Hz, made by the shipped ffmpeg (2 hours: 7 MB, ~0.2 s)."""
    import subprocess

    from latent_geodesics.video.encode import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-f", "lavfi", "-i",
                    f"sine=frequency=100:sample_rate={rate}:duration={seconds}", "-c:a", "pcm_u8", "-y", str(path)],
                   check=True)
    return path
