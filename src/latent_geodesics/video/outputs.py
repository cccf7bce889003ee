"""A video job's own steps: everything checked before the solve (the timing, the audio), and the files written
into the job's staging folder after it (the formats asked for, the speed plot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._check import UserError
from ..rendering import to_uint8
from .audio import audio_seconds, envelope, read_audio
from .encode import Upscaled, gif_delays, scale_factor, write_ffmpeg, write_gif, write_png_frames
from .frames import VideoPath, write_speed_plot
from .settings import FORMAT_FILES, VideoSettings, check_frame_count
from .timing import easing_schedule

SPEED_PLOT = "speed.png"
STRIP_FRAMES = 17
"""Frames, evenly spaced in time, that ``strip.png`` shows of a video."""
LONGEST_NAME = len("frames/frame_000000.png")


def video_files(video: VideoSettings) -> tuple[str, ...]:
    """The plain files a video job writes: ``strip.png``, ``path.npz``, ``report.json``, the formats asked for (the
    ``png`` format's ``frames`` folder is not among them) and the speed plot."""
    return ("strip.png", "path.npz", "report.json") + tuple(FORMAT_FILES[f] for f in video.formats if f != "png") \
        + (SPEED_PLOT,)


def check_legs(video: VideoSettings, n_legs: int, *, join: bool, loop: bool,
               envelope: np.ndarray | None = None) -> np.ndarray | None:
    """Before solving: the legs make one path (a batch of separate pairs has no single video) and each has time to
    move (:func:`prepare`).

    Returns:
        The audio envelope: ``envelope`` when the audio was read before (it is not read again), else
        :func:`prepare`'s.
    """
    if n_legs > 1 and not join:
        raise UserError(f"a video follows one path; got {n_legs} pairs: give waypoints instead of a batch")
    if envelope is not None and video.audio is not None:
        return envelope
    return prepare(video, n_legs, loop=loop)


def prepare(video: VideoSettings, n_legs: int, *, loop: bool) -> np.ndarray | None:
    """Check a video's timing against its legs and read its audio, before any solving.

    Returns:
        The audio envelope per frame ``(T,)`` (the video's length: ``--duration``, else the audio's), or ``None``
        without audio.

    Raises:
        UserError: a leg with no time to move, an unreadable or silent audio file.
    """
    if video.audio is None:
        easing_schedule(video, n_legs, loop=loop)
        return None
    samples = read_audio(video.audio, seconds=video.duration)  # without --duration: the whole file, or refused
    seconds = video.duration if video.duration is not None else audio_seconds(samples)
    n_frames = max(int(round(seconds * video.fps)), 2)
    check_frame_count(n_frames)
    return envelope(samples, video.fps, n_frames, kind=video.envelope, name=f"the audio file {video.audio}")


def strip_frames(frames: np.ndarray, count: int = STRIP_FRAMES) -> np.ndarray:
    """At most ``count`` of ``(T, H, W, 3)`` frames, evenly spaced in time: ``(1, count, H, W, 3)`` for a strip."""
    idx = np.unique(np.round(np.linspace(0, len(frames) - 1, min(count, len(frames)))).astype(int))
    return frames[idx][None]


def output_info(vp: VideoPath, video: VideoSettings) -> dict:
    """What the files will be (for the report, before they are written)."""
    _, _, h, w = vp.images.shape
    factor = scale_factor(h, w, video.scale)
    info = {"scale": factor, "scale_filter": video.scale_filter, "size": [h * factor, w * factor],
            "files": [FORMAT_FILES[f] for f in video.formats] + [SPEED_PLOT],
            "audio_muxed": video.audio is not None and any(f in ("mp4", "webm") for f in video.formats)}
    if "gif" in video.formats:
        delays = gif_delays(vp.schedule.n_frames, video.fps)
        info["gif_delays_ms"] = sorted(set(delays))
    return info


def upscaled_frames(vp: VideoPath, video: VideoSettings) -> tuple[np.ndarray, Upscaled]:
    """The frames ``(T, H, W, 3)`` uint8 at the model's size, and as ``video.scale`` upscales them for writing."""
    frames = to_uint8(vp.images)
    return frames, Upscaled(frames, scale_factor(frames.shape[1], frames.shape[2], video.scale), video.scale_filter)


def write_format(path: Path, frames: Upscaled, fmt: str, video: VideoSettings) -> Path:
    """Write ``frames`` as one of :data:`~latent_geodesics.video.FORMATS` at ``path`` (a folder for ``png``)."""
    if fmt in ("mp4", "webm"):
        return write_ffmpeg(path, frames, video.fps, fmt, audio=video.audio)
    if fmt == "gif":
        return write_gif(path, frames, video.fps, loop=True)
    return write_png_frames(path, frames)


def write_files(stage: Path, vp: VideoPath, video: VideoSettings, *, metric_name: str) -> np.ndarray:
    """Write the formats of ``video`` and the speed plot into ``stage``; returns the frames ``(T, H, W, 3)`` uint8
    at the model's size (for the strip)."""
    frames, big = upscaled_frames(vp, video)
    for fmt in video.formats:
        write_format(stage / FORMAT_FILES[fmt], big, fmt, video)
    write_speed_plot(stage / SPEED_PLOT, vp, metric_name=metric_name)
    return frames
