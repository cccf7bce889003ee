"""The shipped DCGANs of ``zoo:fashion32`` and ``zoo:mnist28`` (one architecture, two sizes): shapes, ranges,
batch independence, realism, and the checksum of the shipped file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from latent_geodesics import datasets, weights
from latent_geodesics._check import UserError
from latent_geodesics.generators import fashion32, load_generator

WEIGHTS_DIR = Path(fashion32.__file__).resolve().parent / "weights"


def _real_fashion(n: int) -> torch.Tensor:
    data_dir = Path(fashion32.DEFAULT_DATA_DIR)
    if not (data_dir / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"Fashion-MNIST not installed at {data_dir} (apt-get install dataset-fashion-mnist)")
    return fashion32.read_fashion_mnist(data_dir, "test", limit=n)


def _real_mnist(n: int) -> torch.Tensor:
    return datasets.read_mnist("test", limit=n)[0]


MODELS = {"fashion32": (32, _real_fashion), "mnist28": (28, _real_mnist)}


@pytest.fixture(scope="module", params=list(MODELS))
def model(request):
    name = request.param
    path = WEIGHTS_DIR / f"{name}.pt"
    if not path.exists():
        pytest.fail(f"shipped weights missing: {path} (train with scripts/train_{name}.py)")
    size, real = MODELS[name]
    return name, size, real, fashion32.load_fashion32(path)


def _latents(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, fashion32.CONFIG["z_dim"], generator=g)


def test_loaded_in_eval_mode_and_frozen(model):
    _, size, _, (G, D) = model
    for net in (G, D):
        assert not net.training
        assert all(not p.requires_grad for p in net.parameters())
    assert G.z_dim == fashion32.CONFIG["z_dim"] and G.size == D.size == size
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())


def test_generator_shape_and_range(model):
    _, size, _, (G, _) = model
    with torch.no_grad():
        x = G(_latents(8, 0))
    assert x.shape == (8, 1, size, size)
    assert x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert x.min() >= -1.0 and x.max() <= 1.0


def test_discriminator_shape_and_finite(model):
    _, _, _, (G, D) = model
    with torch.no_grad():
        s = D(G(_latents(8, 1)))
    assert s.shape == (8,)
    assert torch.isfinite(s).all()


def test_discriminator_scores_independent_of_batch(model):
    _, _, _, (G, D) = model
    with torch.no_grad():
        batch = G(_latents(16, 2))
        together = D(batch)
        for k in (0, 5, 15):
            alone = D(batch[k : k + 1])
            assert alone.shape == (1,)
            torch.testing.assert_close(alone[0], together[k], rtol=0, atol=1e-5)
        # the same image among different companions
        other = torch.cat([G(_latents(15, 3)), batch[5:6]])
        torch.testing.assert_close(D(other)[-1], together[5], rtol=0, atol=1e-5)


def test_real_images_score_higher_than_generated(model):
    _, size, real_images, (G, D) = model
    real = real_images(256)
    assert real.shape == (256, 1, size, size)
    assert real.min() >= -1.0 and real.max() <= 1.0
    with torch.no_grad():
        s_real = D(real)
        s_fake = D(G(_latents(256, 4)))
    assert s_real.mean() > s_fake.mean()


def test_zoo_model_carries_its_discriminator():
    gen = load_generator("zoo:mnist28")
    assert gen.latent_shape == (64,) and gen.discriminator is not None
    assert gen(gen.sample_latents(2, seed=0)).shape == (2, 1, 28, 28)


@pytest.mark.parametrize("stem", ["mnist28", "fashion32"])
def test_shipped_file_is_checked_against_its_sha256(tmp_path, stem):
    for suffix in (".pt", ".json"):
        shutil.copy(WEIGHTS_DIR / f"{stem}{suffix}", tmp_path / f"{stem}{suffix}")
    assert weights.shipped_path(stem, retrain="x", folder=tmp_path) == tmp_path / f"{stem}.pt"
    record = json.loads((tmp_path / f"{stem}.json").read_text())
    assert record["weights_sha256"] == weights.sha256_of(WEIGHTS_DIR / f"{stem}.pt")
    blob = bytearray((tmp_path / f"{stem}.pt").read_bytes())
    blob[-100] ^= 0xFF
    (tmp_path / f"{stem}.pt").write_bytes(bytes(blob))
    with pytest.raises(UserError, match=f"damaged .*scripts/train_{stem}.py"):
        weights.shipped_path(stem, retrain=f"scripts/train_{stem}.py", folder=tmp_path)
    (tmp_path / f"{stem}.json").write_text("{}")
    with pytest.raises(UserError, match="no weights_sha256"):
        weights.shipped_path(stem, retrain="x", folder=tmp_path)
