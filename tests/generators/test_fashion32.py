"""The shipped ``zoo:fashion32`` DCGAN weights: shapes, ranges, batch independence, realism."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from latent_geodesics.generators import fashion32

WEIGHTS = Path(fashion32.__file__).resolve().parent / "weights" / "fashion32.pt"


@pytest.fixture(scope="module")
def nets():
    if not WEIGHTS.exists():
        pytest.fail(f"shipped weights missing: {WEIGHTS} (train with scripts/train_fashion32.py)")
    return fashion32.load_fashion32(WEIGHTS)


def _latents(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, fashion32.CONFIG["z_dim"], generator=g)


def test_loaded_in_eval_mode_and_frozen(nets):
    G, D = nets
    for net in (G, D):
        assert not net.training
        assert all(not p.requires_grad for p in net.parameters())
    assert G.z_dim == fashion32.CONFIG["z_dim"]
    assert not any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in D.modules())


def test_generator_shape_and_range(nets):
    G, _ = nets
    with torch.no_grad():
        x = G(_latents(8, 0))
    assert x.shape == (8, 1, 32, 32)
    assert x.dtype == torch.float32
    assert torch.isfinite(x).all()
    assert x.min() >= -1.0 and x.max() <= 1.0


def test_discriminator_shape_and_finite(nets):
    G, D = nets
    with torch.no_grad():
        s = D(G(_latents(8, 1)))
    assert s.shape == (8,)
    assert torch.isfinite(s).all()


def test_discriminator_scores_independent_of_batch(nets):
    G, D = nets
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


def test_real_images_score_higher_than_generated(nets):
    data_dir = Path(fashion32.DEFAULT_DATA_DIR)
    if not (data_dir / "t10k-images-idx3-ubyte.gz").exists():
        pytest.skip(f"Fashion-MNIST not installed at {data_dir} (apt-get install dataset-fashion-mnist)")
    G, D = nets
    real = fashion32.read_fashion_mnist(data_dir, "test", limit=256)
    assert real.shape == (256, 1, 32, 32)
    assert real.min() >= -1.0 and real.max() <= 1.0
    with torch.no_grad():
        s_real = D(real)
        s_fake = D(G(_latents(256, 4)))
    assert s_real.mean() > s_fake.mean()
