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
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
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


def ffmpeg_exe() -> str:
    """The ffmpeg binary that imageio-ffmpeg ships."""
    import imageio_ffmpeg  # imported here: it looks for the binary

    return imageio_ffmpeg.get_ffmpeg_exe()


def shown_path(path: str | os.PathLike) -> str:
    """``path`` as a message names it: a file in a hidden staging folder by its place in the output folder."""
    path = Path(path)
    if path.parent.name.startswith(STAGING_PREFIX):
        return f"{path.name} in {path.parent.parent}"
    return str(path)


def pipe_to_ffmpeg(cmd: list[str], frames: Iterable[np.ndarray], path: str | os.PathLike) -> None:
    """Run ffmpeg's ``cmd`` (raw frames on its stdin, writing ``path``) with its log captured, never shown.

    Raises:
        MachineError: ffmpeg failed: one line naming the fault (the disk is full, no permission ...) and the file
            where the user will look for it, else ffmpeg's own reason.
    """
    where = shown_path(path)
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except OSError as e:
        raise MachineError(f"cannot run ffmpeg to write the video {where}: {e.strerror or e}") from e
    try:
        try:
            for frame in frames:
                proc.stdin.write(np.ascontiguousarray(frame).tobytes())
        except BrokenPipeError:
            pass  # ffmpeg stopped early: its log says why
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        err = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if code != 0:
        raise ffmpeg_failure(err, code, where)


def ffmpeg_failure(log: str, code: int, where: str) -> MachineError:
    """One line for ffmpeg's exit ``code`` and ``log``: the fault it names, else its own reason."""
    for words, num in _FFMPEG_FAULTS:
        if words in log:
            what = "the disk is full" if num in (errno.ENOSPC, errno.EDQUOT) else os.strerror(num).lower()
            fix = "free some space or choose another --out" if num in (errno.ENOSPC, errno.EDQUOT) else \
                "choose another --out"
            return MachineError(f"cannot write the video {where}: {what} ({words}); {fix}")
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "rror" in ln]  # ffmpeg's own reason, not its closing "Conversion failed!"
    why = (errors or lines or [f"exit {code}"])[-1].split("] ", 1)[-1]  # without ffmpeg's "[mp4 @ 0x55...] "
    return MachineError(f"ffmpeg could not write the video {where}: {why[:300]}")


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
    frames = upscale(frames, VIDEO_MIN_SIDE)
    ph, pw = frames.shape[1] % 2, frames.shape[2] % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    if not MIN_FPS <= fps <= MAX_FPS:
        raise UserError(f"the video's frame rate must be from {MIN_FPS:g} to {MAX_FPS:g} frames per second, got "
                        f"{fps:g}; choose another --fps")
    _, h, w, _ = frames.shape
    with atomic_path(path, suffix=".mp4") as tmp:
        pipe_to_ffmpeg([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s",
                        f"{w}x{h}", "-framerate", repr(float(fps)), "-i", "-", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                        "-crf", "18", "-movflags", "+faststart", "-f", "mp4", str(tmp)], frames, path)
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
    """Move every file (and folder, such as a video's PNG frames) of ``stage`` into ``out``, all or none; a folder
    replaces the folder of the same name as a whole."""
    names = sorted(p.name for p in stage.iterdir() if not p.name.startswith(".lg-"))
    for name in names:
        if (out / name).is_dir() and not (stage / name).is_dir():
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
        moved_in = not os.path.lexists(stage / name) and os.path.lexists(out / name)
        if moved_in and (out / name).is_dir() and not (out / name).is_symlink():
            os.replace(out / name, stage / name)  # a folder of ours: back into the staging folder, removed with it
            moved_in = False
        if os.path.lexists(stage / _OLD / name):
            os.replace(stage / _OLD / name, out / name)
        elif not was and moved_in:
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
