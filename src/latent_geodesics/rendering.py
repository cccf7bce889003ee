"""Pictures and files from finished paths: image strips, videos, ``.npz`` paths and JSON reports.

Everything is written atomically: a file appears complete or not at all.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from ._check import UserError, atomic_path

VIDEO_MIN_SIDE = 256
"""Videos are upscaled (nearest neighbour, integer factor) until the shorter frame side reaches this."""


def to_uint8(images: Tensor) -> np.ndarray:
    """Images ``(M, C, H, W)`` in ``[-1, 1]`` -> ``(M, H, W, 3)`` uint8 RGB (grayscale repeated)."""
    x = images.detach().float().cpu().clamp(-1, 1)
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    return ((x + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def tile(frames: np.ndarray, *, gap: int = 2, fill: int = 255) -> np.ndarray:
    """Rows of frames into one picture.

    Args:
        frames: ``(R, T, H, W, 3)`` uint8: ``R`` rows of ``T`` frames.
        gap: pixels between frames and rows.

    Returns:
        ``(R * (H + gap) - gap, T * (W + gap) - gap, 3)`` uint8.
    """
    r, t, h, w, c = frames.shape
    out = np.full((r * (h + gap) - gap, t * (w + gap) - gap, c), fill, dtype=np.uint8)
    for i in range(r):
        for j in range(t):
            out[i * (h + gap): i * (h + gap) + h, j * (w + gap): j * (w + gap) + w] = frames[i, j]
    return out


def upscale(picture: np.ndarray, min_side: int) -> np.ndarray:
    """Nearest-neighbour upscaling by the smallest integer factor that reaches ``min_side``: ``(..., H, W, 3)``."""
    factor = max(1, math.ceil(min_side / min(picture.shape[-3], picture.shape[-2])))
    return picture.repeat(factor, axis=-3).repeat(factor, axis=-2) if factor > 1 else picture


def write_png(path: str | os.PathLike, picture: np.ndarray) -> Path:
    """Write an ``(H, W, 3)`` uint8 picture as PNG, atomically."""
    with atomic_path(path, suffix=".png") as tmp:
        Image.fromarray(picture).save(tmp, format="PNG")
    return Path(path)


def write_video(path: str | os.PathLike, frames: np.ndarray, *, fps: float = 12.0) -> Path:
    """Write ``(T, H, W, 3)`` uint8 frames as an H.264 MP4 (via imageio-ffmpeg), atomically.

    Frames are upscaled to at least :data:`VIDEO_MIN_SIDE` pixels and padded to even sizes (H.264 needs them).
    """
    import imageio.v2 as imageio  # imported here: loading the ffmpeg plugin costs time at start-up

    frames = upscale(frames, VIDEO_MIN_SIDE)
    ph, pw = frames.shape[1] % 2, frames.shape[2] % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    with atomic_path(path, suffix=".mp4") as tmp:
        with imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=8,
                                macro_block_size=1, pixelformat="yuv420p") as writer:
            for frame in frames:
                writer.append_data(frame)
    return Path(path)


def write_json(path: str | os.PathLike, data: dict) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    return Path(path)


def write_npz(path: str | os.PathLike, **arrays: np.ndarray) -> Path:
    """Write arrays to an ``.npz`` file, atomically."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
    return Path(path)


@contextmanager
def staged_outputs(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Write a job's files into a hidden folder inside ``out_dir``; move them into place only on success.

    A job that fails half way leaves ``out_dir`` as it was.
    """
    out = Path(out_dir)
    try:
        stage = Path(tempfile.mkdtemp(dir=out, prefix=".lg-staging-"))
    except OSError as e:
        raise UserError(f"cannot write to output folder {out}: {e.strerror or e}; choose another --out") from e
    try:
        yield stage
        for item in sorted(stage.iterdir()):
            os.replace(item, out / item.name)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
