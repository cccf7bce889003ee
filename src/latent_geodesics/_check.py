"""Validation at the boundary: where user data enters, check it once, with a clear message.

Inner code trusts its inputs and never syncs the GPU to check them.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch


class UserError(Exception):
    """A problem with what the user gave us: the CLI prints it as one line and exits 2."""


def check_latents(z: torch.Tensor, latent_shape: Sequence[int], *, what: str = "latent") -> torch.Tensor:
    """Check a batch of latents against a generator's latent shape.

    Args:
        z: ``(B, *latent_shape)`` or a single ``latent_shape`` tensor.
        latent_shape: the shape of one latent code.
        what: how to name the input in the message (e.g. a file name).

    Returns:
        ``(B, *latent_shape)`` float tensor.
    """
    latent_shape = tuple(latent_shape)
    if not torch.is_tensor(z):
        raise UserError(f"{what}: expected a tensor or array, got {type(z).__name__}")
    if not (z.is_floating_point() or z.dtype in (torch.int32, torch.int64)):
        raise UserError(f"{what}: expected real numbers, got dtype {z.dtype}")
    if tuple(z.shape) == latent_shape:
        z = z.unsqueeze(0)
    if tuple(z.shape[1:]) != latent_shape:
        n_expected = 1
        for s in latent_shape:
            n_expected *= s
        if z.numel() == n_expected:
            z = z.reshape(1, *latent_shape)
        else:
            raise UserError(
                f"{what}: latent has shape {tuple(z.shape)} ({z.numel()} values) but the model expects "
                f"{latent_shape} ({n_expected} values); save a latent of that size"
            )
    if not torch.isfinite(z).all():
        raise UserError(f"{what}: latent contains NaN or inf values; give finite numbers")
    return z.float() if not z.is_floating_point() else z


def check_images(x: torch.Tensor, *, batch: int, what: str, tol: float = 1e-3) -> None:
    """Check a generator's output: ``(batch, C, H, W)``, C in {1, 3}, finite, within ``[-1, 1]``."""
    if not torch.is_tensor(x):
        raise UserError(f"{what} returned {type(x).__name__}, not a tensor; it must return images (B, C, H, W)")
    if x.dim() != 4 or x.shape[0] != batch or x.shape[1] not in (1, 3):
        raise UserError(
            f"{what} returned shape {tuple(x.shape)} for {batch} latents; expected images ({batch}, C, H, W) "
            "with C = 1 or 3"
        )
    if not torch.isfinite(x).all():
        raise UserError(f"{what} returned NaN or inf pixels; check the model and its weights")
    lo, hi = float(x.min()), float(x.max())
    if lo < -1 - tol or hi > 1 + tol:
        raise UserError(
            f"{what} returned pixel values in [{lo:.3g}, {hi:.3g}]; images must lie in [-1, 1] "
            "(end the generator with tanh, or rescale its output)"
        )


def check_positive_int(value: int, name: str, *, minimum: int = 1) -> int:
    if int(value) != value or value < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"`` picks CUDA when available; an unavailable CUDA is a user error."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise UserError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for but CUDA is not available here; use --device cpu")
    return dev


def check_output_dir(path: str | os.PathLike) -> Path:
    """Create ``path`` if needed and make sure we can write there, before any work starts."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".lg-write-test-"):
            pass
    except OSError as e:
        raise UserError(f"cannot write to output folder {out}: {e.strerror or e}; choose another --out") from e
    return out


@contextmanager
def atomic_path(dest: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success it replaces ``dest`` in one rename.

    On any error the temporary file is removed, so no half-written output is ever left behind.
    """
    dest = Path(dest)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=suffix or dest.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; outputs should look like any other file
    try:
        yield tmp_path
        os.replace(tmp_path, dest)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()

