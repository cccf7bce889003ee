"""Validation at the boundary: where user data enters, check it once, with a clear message.

Inner code trusts its inputs and never syncs the GPU to check them.
"""

from __future__ import annotations

import errno
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch


class UserError(Exception):
    """A problem with what the user gave us: the CLI prints it as one line and exits 2."""

    exit_code = 2


class MachineError(UserError):
    """A fault of the machine, not of the input (disk full, no permission, read-only): one line, exit 1.

    A :class:`UserError` too, so that code catching every one-line error catches it.
    """

    exit_code = 1


class StateWarning(UserWarning):
    """A state file of ours (a batch manifest record, a calibration cache) was damaged and its contents are being
    computed again: the CLI prints it as one ``warning:`` line."""


MACHINE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS, errno.EIO,
                            errno.EMFILE, errno.ENFILE, errno.ENOMEM})
"""``OSError`` numbers that are faults of the machine rather than of what the user asked for."""


def os_error(e: OSError, doing: str, hint: str = "") -> UserError:
    """One line for an ``OSError``: a :class:`MachineError` (disk full, permissions), else a :class:`UserError`."""
    cls = MachineError if e.errno in MACHINE_ERRNOS else UserError
    return cls(f"{doing}: {e.strerror or e}" + (f"; {hint}" if hint else ""))


def seconds_text(seconds: float) -> str:
    """A duration for people: ``0.583 s``, ``42.5 s``, ``2 min 05 s``, ``1 h 00 min 00 s`` (never ``3.6e+03 s``)."""
    if seconds < 59.5:
        return f"{seconds:.3g} s"
    minutes, s = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {s:02d} s" if hours else f"{minutes} min {s:02d} s"


BOOLEAN_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
"""What a file may write for true or false (a CSV cell has no other way; JSON and TOML lines take the same)."""


def as_bool(value: object) -> bool | None:
    """``value`` as true or false (a boolean, 0 or 1, or a word of :data:`BOOLEAN_WORDS` in any case); ``None``
    when it is none of them."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        return BOOLEAN_WORDS.get(value.strip().lower())
    return None


class DuplicateKey(ValueError):
    """A JSON object gives a key twice (:func:`unique_keys`)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"key {key!r} is given twice")
        self.key = key


def unique_keys(pairs: list[tuple[str, object]]) -> dict:
    """``json.loads(..., object_pairs_hook=unique_keys)``: an object, refusing a repeated key (JSON keeps the last
    silently)."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise DuplicateKey(key)
        out[key] = value
    return out


def first_line(e: BaseException) -> str:
    """The line of an exception's message that says what went wrong (TorchScript puts it last)."""
    lines = [line.strip() for line in str(e).strip().splitlines() if line.strip()]
    if not lines:
        return type(e).__name__
    if "TorchScript interpreter" in lines[0] and len(lines) > 1:
        return lines[-1]
    return lines[0]


def check_latents(z: torch.Tensor, latent_shape: Sequence[int], *, what: str = "latent") -> torch.Tensor:
    """Check a batch of latents against a generator's latent shape.

    Args:
        z: ``(B, *latent_shape)`` or a single ``latent_shape`` tensor (or numpy array).
        latent_shape: the shape of one latent code.
        what: how to name the input in the message (e.g. a file name).

    Returns:
        ``(B, *latent_shape)`` float tensor.
    """
    latent_shape = tuple(latent_shape)
    z = as_tensor(z, what=what)
    if z.dtype == torch.bool or z.is_complex():
        raise UserError(f"{what}: expected real numbers, got dtype {z.dtype}")
    n_expected = math.prod(latent_shape)
    if tuple(z.shape) == latent_shape:
        z = z.unsqueeze(0)
    elif z.dim() == 1 and z.numel() == n_expected:  # one latent saved flat
        z = z.reshape(1, *latent_shape)
    if z.dim() == 0 or tuple(z.shape[1:]) != latent_shape:
        raise UserError(
            f"{what}: latent has shape {tuple(z.shape)} ({z.numel()} values) but the model expects "
            f"{latent_shape} or a batch (B, {', '.join(map(str, latent_shape))}); save latents of that size"
        )
    if z.shape[0] == 0:
        raise UserError(f"{what}: holds no latents (shape {tuple(z.shape)}); give at least one")
    if not torch.isfinite(z).all():
        raise UserError(f"{what}: latent contains NaN or inf values; give finite numbers")
    return z.float() if not z.is_floating_point() else z


def as_tensor(x: object, *, what: str) -> torch.Tensor:
    """A tensor, or a numpy array (or nested list of numbers) turned into one; anything else is refused."""
    if torch.is_tensor(x):
        return x
    if isinstance(x, (np.ndarray, np.generic, list, tuple)):
        try:
            arr = np.asarray(x)
        except (TypeError, ValueError) as e:  # e.g. a ragged list
            raise UserError(f"{what}: cannot use it as numbers ({first_line(e)}); give a float tensor or array") from e
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise UserError(f"{what}: expected real numbers, got dtype {arr.dtype}")
        return torch.as_tensor(arr.astype(arr.dtype.newbyteorder("="), copy=False))
    raise UserError(f"{what}: expected a tensor or array, got {type(x).__name__}")


OVERSHOOT = 0.5
"""How far past ``[-1, 1]`` a generator's pixels may reach: StyleGAN-class models are not clamped (their tools
clamp when saving, as :func:`latent_geodesics.rendering.to_uint8` does); ``[0, 255]`` and the like are refused."""


def check_images(x: torch.Tensor, *, batch: int, what: str, tol: float = OVERSHOOT) -> None:
    """Check a generator's output: ``(batch, C, H, W)``, C in {1, 3}, finite, within ``[-1, 1]`` up to ``tol``."""
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
            f"{what} returned pixel values in [{lo:.3g}, {hi:.3g}]; images must lie in [-1, 1] (up to "
            f"{tol:.0%} past it is accepted and clamped when written): end the generator with tanh, or rescale its output"
        )


def check_positive_int(value: int, name: str, *, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer)) or not math.isfinite(value) \
            or int(value) != value or value < minimum:
        raise UserError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


MAX_SHELL = 1e6
"""Widest typical-set shell, in standard deviations (wider is no constraint at all, and overflows float32)."""


def check_shell(shell: float | None) -> float | None:
    """``None``, or a shell width in ``(0, MAX_SHELL]``."""
    if shell is not None and not (isinstance(shell, (int, float)) and 0 < shell <= MAX_SHELL):
        raise UserError(f"shell width must be a number in (0, {MAX_SHELL:g}] (standard deviations), got {shell}")
    return shell


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None`` or ``"auto"`` picks CUDA when available; an unavailable CUDA is a user error."""
    if isinstance(device, str):
        device = device.strip().lower()
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise UserError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from e
    if dev.type not in ("cpu", "cuda"):
        raise UserError(f"device {device!r} is not supported; use auto, cpu, cuda or cuda:N")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device!r} asked for but CUDA is not available here; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise UserError(f"device {device!r} asked for but there are {torch.cuda.device_count()} CUDA "
                        "device(s) here; use cuda:0")
    return dev


TEMP_NAME_EXTRA = 40
"""Characters a temporary or staging name adds to an output's name (``.NAME.<8 random characters>.suffix``,
``.lg-staging-...``)."""


def _short(path: Path) -> str:
    text = str(path)
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]} ({len(text)} characters)"


def check_output_dir(path: str | os.PathLike, *, files: Sequence[str] = (), option: str = "--out",
                     longest_name: int = 0) -> Path:
    """Make sure the outputs can be written to ``path``, before any work starts; nothing is created.

    Args:
        path: the output folder; it need not exist (it is created when the outputs are written).
        files: the names the job will write there; none may be taken by a folder.
        option: the option that named ``path``, for the messages.
        longest_name: the longest relative name (beside ``files``) the job writes inside ``path``.

    Raises:
        UserError: an empty name, a name or path too long for the file system, a link to nothing, a file in the
            way, or a name taken by a folder.
        MachineError: no permission to write there, or a read-only file system.
    """
    if os.fspath(path) == "":
        raise UserError(f"the output folder is an empty name; give a folder, e.g. {option} out/")
    out = Path(path)
    try:  # before any lookup: a name too long for the file system makes every lookup fail
        name_max = os.pathconf(".", "PC_NAME_MAX")
        path_max = os.pathconf(".", "PC_PATH_MAX")
    except (OSError, ValueError):
        name_max, path_max = 255, 4096
    for part in out.parts:
        if len(os.fsencode(part)) > name_max:
            raise UserError(f"cannot write to output folder {_short(out)}: the name {part[:40]}... has "
                            f"{len(os.fsencode(part))} bytes, and this file system allows {name_max} per name; "
                            f"choose a shorter {option}")
    longest = max([len(os.fsencode(f)) for f in files] + [longest_name, 0]) + TEMP_NAME_EXTRA
    full = len(os.fsencode(os.path.abspath(out))) + 1 + longest
    if full >= path_max:
        raise UserError(f"cannot write to output folder {_short(out)}: its files' paths would have {full} bytes, "
                        f"and this file system allows {path_max - 1}; choose a shorter {option}")
    where = out
    while not where.exists() and where != where.parent:  # the folder, or the nearest one above it that exists
        if where.is_symlink():
            raise UserError(f"cannot write to output folder {_short(out)}: {_short(where)} is a link to "
                            f"{os.readlink(where)}, which does not exist; create it, remove the link or choose "
                            f"another {option}")
        where = where.parent
    if not where.is_dir():
        raise UserError(f"cannot write to output folder {_short(out)}: {_short(where)} is a file; choose another "
                        f"{option}")
    if where == out:
        taken = [name for name in files if (out / name).is_dir()]
        if taken:
            raise UserError(f"{_short(out / taken[0])} is a folder where the output file {taken[0]} goes; move it "
                            f"away or choose another {option}")
    try:
        os.rmdir(tempfile.mkdtemp(dir=where, prefix=".lg-write-test-"))
    except OSError as e:
        raise os_error(e, f"cannot write to output folder {_short(out)}", f"choose another {option}") from e
    return out


MAX_ARRAY_BYTES = 1 << 30
"""Most bytes of arrays (unpacked) that :func:`read_arrays` reads from one file: a small ``.npz`` may unpack to
gigabytes (a zip bomb), and a path or a batch of latents is far smaller."""


def byte_size(n: int) -> str:
    """``n`` bytes for a message: ``1.2 GiB`` or ``3.8 MiB``."""
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _unpacked_size(path: Path, magic: bytes) -> int:
    """Bytes the arrays of a file take once read: the zip directory's sizes (``.npz``), the header's shape times
    the item size (``.npy``); 0 when it cannot tell (the reader then says what is wrong)."""
    import zipfile

    try:
        if magic.startswith(b"PK"):
            with zipfile.ZipFile(path) as z:
                return sum(info.file_size for info in z.infolist())
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            shape, _, dtype = (np.lib.format.read_array_header_1_0(f) if version == (1, 0)
                               else np.lib.format.read_array_header_2_0(f))
        return math.prod(shape) * dtype.itemsize
    except Exception:  # noqa: BLE001 - damaged: np.load below gives the one-line reason
        return 0


def read_arrays(path: str | os.PathLike, *, what: str, hint: str | None = None) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` file (by name), or the one array of an ``.npy`` file (under ``""``).

    Read in full here, so that a truncated or corrupt file fails here with one line, never later.

    Raises:
        UserError: a missing, empty, truncated or corrupt file, or one that is neither ``.npy`` nor ``.npz``.
        MachineError: no permission to read it.
    """
    path = Path(path)
    hint = hint or f"save the {what} with numpy.save or numpy.savez"
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except IsADirectoryError:
        raise UserError(f"cannot read {what} file {path}: it is a folder, not a .npy or .npz file") from None
    except OSError as e:
        raise os_error(e, f"cannot read {what} file {path}", hint) from e
    if not magic:
        raise UserError(f"cannot read {what} file {path}: it is empty (0 bytes); {hint}")
    if not magic.startswith((b"\x93NUMPY", b"PK")):
        raise UserError(f"cannot read {what} file {path}: it is not a .npy or .npz file (it starts with "
                        f"{magic!r}); {hint}")
    unpacked = _unpacked_size(path, magic)
    if unpacked > MAX_ARRAY_BYTES:
        raise UserError(f"cannot read {what} file {path}: its arrays take {byte_size(unpacked)} unpacked, and at "
                        f"most {byte_size(MAX_ARRAY_BYTES)} are read; {hint}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            return {"": data}
        with data:
            return {name: data[name] for name in data.files}
    except OSError as e:
        if e.errno in MACHINE_ERRNOS:
            raise os_error(e, f"cannot read {what} file {path}") from e
        raise UserError(f"cannot read {what} file {path}: {first_line(e)}; {hint}") from e
    except Exception as e:  # noqa: BLE001 - numpy and zipfile raise many kinds on a damaged file
        raise UserError(f"cannot read {what} file {path} (truncated or corrupt?): {first_line(e)}; {hint}") from e


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

