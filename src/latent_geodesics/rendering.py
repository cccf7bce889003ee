"""Pictures and files from finished paths: image strips, videos, ``.npz`` paths and JSON reports.

Everything is written atomically: a file appears complete or not at all, and a job's files all or none
(:func:`staged_outputs`).
"""

from __future__ import annotations

import errno
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

from ._check import MachineError, UserError, atomic_path, os_error
from .limits import DEFAULT_FPS

VIDEO_MIN_SIDE = 256
"""Videos are upscaled (nearest neighbour, integer factor) until the shorter frame side reaches this."""
MIN_FPS, MAX_FPS = 0.01, 1000.0
"""Frame rates the video accepts (ffmpeg refuses rates that round to 0 in its command line)."""
_FFMPEG_FAULTS = (("No space left on device", errno.ENOSPC), ("Disk quota exceeded", errno.EDQUOT),
                  ("Permission denied", errno.EACCES), ("Read-only file system", errno.EROFS),
                  ("Input/output error", errno.EIO))


def ffmpeg_error(e: OSError, path: str | os.PathLike) -> UserError:
    """One line for a failure of ffmpeg (imageio puts the whole command and ffmpeg's output in its message):
    the fault ffmpeg names (disk full, permission ...), else its last line; a fault of the machine, exit 1."""
    text = str(e)
    head, _, err = text.partition("FFMPEG STDERR OUTPUT:")
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    for words, code in _FFMPEG_FAULTS:
        if words in text:
            return MachineError(f"cannot write the video {path}: {os.strerror(code)}; free some space or choose "
                                "another --out" if code in (errno.ENOSPC, errno.EDQUOT) else
                                f"cannot write the video {path}: {os.strerror(code)}; choose another --out")
    if e.errno is not None and e.errno != errno.EPIPE:
        return os_error(e, f"cannot write the video {path}", "choose another --out")
    errors = [ln for ln in lines if "rror" in ln]  # ffmpeg's own reason, not its closing "Conversion failed!"
    lines = errors or lines
    why = lines[-1] if lines else (head.split("FFMPEG COMMAND:")[0].strip().splitlines() or ["no message"])[0]
    return MachineError(f"ffmpeg could not write the video {path}: {why[:300]}")


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


def write_video(path: str | os.PathLike, frames: np.ndarray, *, fps: float = DEFAULT_FPS) -> Path:
    """Write ``(T, H, W, 3)`` uint8 frames as an H.264 MP4 (via imageio-ffmpeg), atomically.

    Frames are upscaled to at least :data:`VIDEO_MIN_SIDE` pixels and padded to even sizes (H.264 needs them).
    """
    import imageio.v2 as imageio  # imported here: loading the ffmpeg plugin costs time at start-up

    frames = upscale(frames, VIDEO_MIN_SIDE)
    ph, pw = frames.shape[1] % 2, frames.shape[2] % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    if not MIN_FPS <= fps <= MAX_FPS:
        raise UserError(f"the video's frame rate must be from {MIN_FPS:g} to {MAX_FPS:g} frames per second, got "
                        f"{fps:g}; choose another --fps")
    with atomic_path(path, suffix=".mp4") as tmp:
        try:
            with imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=8,
                                    macro_block_size=1, pixelformat="yuv420p") as writer:
                for frame in frames:
                    writer.append_data(frame)
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS, errno.EIO):
                raise os_error(e, f"cannot write the video {path}") from e
            raise ffmpeg_error(e, path) from e
    return Path(path)


def write_json(path: str | os.PathLike, data: dict) -> Path:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n")
    return Path(path)


STAGING_PREFIX = ".lg-staging-"
"""Hidden folders in an output folder where a job's files are written before they are committed."""
_MANIFEST = ".lg-manifest.json"  # in a staging folder while its files are being moved in: how to roll back
_OLD = ".lg-old"  # in a staging folder: the files the commit replaced, kept until it is complete


@contextmanager
def staged_outputs(out_dir: str | os.PathLike) -> Iterator[Path]:
    """Write a job's files into a hidden staging folder in ``out_dir``, then commit them all or none.

    ``out_dir`` (and the folders above it) are created here if missing, and removed again if the job fails.
    The commit first records in a manifest which files it replaces, moves each old file aside, then moves
    the new ones in; any failure (or SIGINT/SIGTERM, which the CLI turns into exceptions) rolls every file
    back. A process killed outright leaves the manifest behind: the next job in the same folder rolls that
    commit back and removes the stale staging folder.

    Raises:
        UserError: a file name is taken by a folder in ``out_dir``.
        MachineError: the disk is full, or no permission to write.
    """
    out = Path(out_dir)
    created = _make_dirs(out)
    committed = False
    try:
        clean_stale_staging(out)
        stage = Path(tempfile.mkdtemp(dir=out, prefix=f"{STAGING_PREFIX}{os.getpid()}-"))
    except OSError as e:
        _remove_dirs(created)
        raise os_error(e, f"cannot write to output folder {out}", "choose another --out") from e
    try:
        try:
            yield stage
            _commit(stage, out)
        except OSError as e:
            raise os_error(e, f"cannot write the outputs to {out}") from e
        committed = True
    finally:
        if not (stage / _MANIFEST).exists():  # else a roll back failed: leave it for the next job
            shutil.rmtree(stage, ignore_errors=True)
        if not committed:
            _remove_dirs(created)


def _make_dirs(out: Path) -> list[Path]:
    """Create ``out`` and its missing parents; the ones created, outermost first."""
    missing = []
    p = out
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    created = []
    try:
        for d in reversed(missing):
            d.mkdir()
            created.append(d)
    except OSError as e:
        _remove_dirs(created)
        raise os_error(e, f"cannot create output folder {out}", "choose another --out") from e
    return created


def _remove_dirs(created: list[Path]) -> None:
    for d in reversed(created):
        try:
            d.rmdir()
        except OSError:
            return


def _commit(stage: Path, out: Path) -> None:
    """Move every file of ``stage`` into ``out``, all or none."""
    names = sorted(p.name for p in stage.iterdir() if not p.name.startswith(".lg-"))
    for name in names:
        if (out / name).is_dir():
            raise UserError(f"{out / name} is a folder where the output file {name} goes; move it away "
                            "or choose another --out")
    existed = {name: os.path.lexists(out / name) for name in names}
    (stage / _OLD).mkdir()
    with atomic_path(stage / _MANIFEST) as tmp:
        tmp.write_text(json.dumps(existed))
    try:
        for name in names:
            if existed[name]:
                os.replace(out / name, stage / _OLD / name)
            os.replace(stage / name, out / name)
    except BaseException:
        _roll_back(stage, out)
        raise
    (stage / _MANIFEST).unlink()  # the commit point


def _roll_back(stage: Path, out: Path) -> None:
    """Undo a commit of ``stage`` into ``out`` that did not finish (no-op without a manifest)."""
    try:
        existed = json.loads((stage / _MANIFEST).read_text())
    except (OSError, ValueError):
        return
    for name, was in existed.items():
        if os.path.lexists(stage / _OLD / name):
            os.replace(stage / _OLD / name, out / name)
        elif not was and not os.path.lexists(stage / name) and os.path.lexists(out / name):
            os.unlink(out / name)  # it was moved in
    (stage / _MANIFEST).unlink()


def _owner_alive(stage: Path) -> bool:
    """Whether the process that made a staging folder (its pid is in the name) is still running."""
    pid = stage.name[len(STAGING_PREFIX):].split("-", 1)[0]
    if not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True  # ours (another job of this process may be writing)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def clean_stale_staging(out_dir: str | os.PathLike) -> None:
    """Roll back and remove the staging folders that killed jobs left in ``out_dir``."""
    for stage in Path(out_dir).glob(STAGING_PREFIX + "*"):
        if stage.is_dir() and not _owner_alive(stage):
            try:
                _roll_back(stage, Path(out_dir))
            except OSError:
                continue
            shutil.rmtree(stage, ignore_errors=True)
