"""Writing frames in the formats people share: MP4 (H.264, yuv420p), WebM (VP9), GIF and PNG frames.

MP4 and WebM go through the ffmpeg binary that imageio-ffmpeg ships (frames piped as raw RGB), with the audio
muxed in when there is one; GIF through Pillow; upscaling by an integer factor, nearest or Lanczos (Pillow).
Every file is written into the job's staging folder (:func:`~latent_geodesics.rendering.staged_outputs`).
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from ..rendering import VIDEO_MIN_SIDE, ffmpeg_exe, pipe_to_ffmpeg  # noqa: F401 - ffmpeg_exe: for audio, probe


def scale_factor(height: int, width: int, scale: int | None) -> int:
    """``scale``, or (``None``) the smallest integer factor that brings the shorter side to
    :data:`~latent_geodesics.rendering.VIDEO_MIN_SIDE` pixels."""
    if scale is not None:
        return scale
    return max(1, math.ceil(VIDEO_MIN_SIDE / min(height, width)))


class Upscaled:
    """Frames ``(T, H, W, 3)`` uint8, upscaled by an integer ``factor`` (nearest neighbour or Lanczos) one at a time as
    they are iterated: a long video is never held in memory at its upscaled size."""

    def __init__(self, frames: np.ndarray, factor: int = 1, method: str = "nearest") -> None:
        self.frames, self.factor, self.method = frames, factor, method

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def size(self) -> tuple[int, int]:
        """``(H * factor, W * factor)``."""
        return self.frames.shape[1] * self.factor, self.frames.shape[2] * self.factor

    def __iter__(self) -> Iterator[np.ndarray]:
        for frame in self.frames:
            yield self.one(frame)

    def one(self, frame: np.ndarray) -> np.ndarray:
        if self.factor == 1:
            return frame
        if self.method == "nearest":
            return frame.repeat(self.factor, axis=0).repeat(self.factor, axis=1)
        h, w = self.size
        return np.asarray(Image.fromarray(frame).resize((w, h), Image.Resampling.LANCZOS))


def upscale_frames(frames: np.ndarray, factor: int, method: str = "nearest") -> np.ndarray:
    """``(T, H, W, 3)`` uint8 -> ``(T, H * factor, W * factor, 3)``, nearest neighbour or Lanczos (all at once)."""
    return np.stack(list(Upscaled(frames, factor, method))) if factor > 1 else frames


def _frames(frames: "Upscaled | np.ndarray") -> Upscaled:
    return frames if isinstance(frames, Upscaled) else Upscaled(np.asarray(frames))


_CODECS = {
    "mp4": (["-c:v", "libx264", "-pix_fmt", "yuv420p", "-crf", "18", "-preset", "medium", "-movflags", "+faststart"],
            ["-c:a", "aac", "-b:a", "160k"]),
    "webm": (["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-b:v", "0", "-crf", "32", "-deadline", "good",
              "-cpu-used", "4", "-row-mt", "1"], ["-c:a", "libopus", "-b:a", "128k"]),
}


def write_ffmpeg(path: Path, frames: "Upscaled | np.ndarray", fps: float, fmt: str, *,
                 audio: str | None = None) -> Path:
    """Encode ``(T, H, W, 3)`` uint8 frames as ``fmt`` (``mp4`` or ``webm``) at ``fps``, padded to even sizes (yuv420p
    needs them); with ``audio`` (a sound file) its first audio stream is muxed in, cut (or padded with silence) to the
    video's length ``T / fps``."""
    frames = _frames(frames)
    t, (fh, fw) = len(frames), frames.size
    h, w = fh + fh % 2, fw + fw % 2
    video_args, audio_args = _CODECS[fmt]
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
           "-framerate", repr(float(fps)), "-i", "-"]
    if audio is not None:
        cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", *audio_args, "-af", "apad",
                "-t", repr(t / fps)]
    cmd += [*video_args, "-f", fmt, str(path)]

    def padded() -> Iterator[np.ndarray]:
        for frame in frames:
            yield frame if (h, w) == (fh, fw) else np.pad(frame, ((0, h - fh), (0, w - fw), (0, 0)), mode="edge")

    pipe_to_ffmpeg(cmd, padded(), path)
    return path


def gif_delays(n_frames: int, fps: float) -> list[int]:
    """Per-frame delays in milliseconds, multiples of 10 (GIF counts hundredths of a second), that keep the
    running time of frame ``k`` within 5 ms of ``k / fps`` (a 30 fps GIF alternates 30 and 40 ms)."""
    ends = np.round(np.arange(1, n_frames + 1) * 100.0 / fps)
    cs = np.diff(np.concatenate([[0.0], ends]))
    return [int(max(c, 1) * 10) for c in cs]


def write_gif(path: Path, frames: "Upscaled | np.ndarray", fps: float, *, loop: bool = True) -> Path:
    """``(T, H, W, 3)`` uint8 as an animated GIF (one palette per frame). Identical consecutive frames (holds)
    become one frame shown for their summed time, as Pillow writes them."""
    frames = _frames(frames)
    delays = gif_delays(len(frames), fps)
    images = (Image.fromarray(f) for f in frames)
    first = next(images)
    extra = {"loop": 0} if loop else {}
    first.save(path, format="GIF", save_all=True, append_images=images, duration=delays, optimize=False, **extra)
    return path


def write_png_frames(folder: Path, frames: "Upscaled | np.ndarray") -> Path:
    """``(T, H, W, 3)`` uint8 as ``folder/frame_00000.png`` ... (the folder is created)."""
    frames = _frames(frames)
    folder.mkdir()
    digits = max(5, len(str(len(frames) - 1)))
    for k, frame in enumerate(frames):
        Image.fromarray(frame).save(folder / f"frame_{k:0{digits}d}.png", format="PNG")
    return folder


def probe(path: str | Path) -> dict:
    """What ffmpeg says of a media file: ``duration_s`` and its streams (``video`` / ``audio`` lines), read from
    ``ffmpeg -i``'s header (imageio-ffmpeg ships no ffprobe)."""
    proc = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)], capture_output=True,
                          text=True)
    info: dict = {"duration_s": None, "video": [], "audio": []}
    for line in proc.stderr.splitlines():
        line = line.strip()
        if line.startswith("Duration:"):
            stamp = line.split(",")[0].split()[1]
            if stamp != "N/A":
                h, m, s = stamp.split(":")
                info["duration_s"] = int(h) * 3600 + int(m) * 60 + float(s)
        elif line.startswith("Stream #") and ": Video:" in line:
            info["video"].append(line)
        elif line.startswith("Stream #") and ": Audio:" in line:
            info["audio"].append(line)
    return info

