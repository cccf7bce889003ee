import sys
import textwrap

import pytest
import torch
from torch import nn

from latent_geodesics._check import UserError
from latent_geodesics.generators import Generator, load_generator


class ScriptableGen(nn.Module):
    latent_shape: tuple[int]

    def __init__(self, out_scale: float = 0.5, channels: int = 3):
        super().__init__()
        self.latent_shape = (6,)
        self.lin = nn.Linear(6, channels * 4 * 4)
        self.out_scale = out_scale
        self.channels = channels

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.out_scale * torch.tanh(self.lin(z))).view(z.shape[0], self.channels, 4, 4)


def test_torchscript_round_trip(tmp_path):
    net = ScriptableGen()
    path = tmp_path / "gen.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    gen = load_generator(str(path))
    assert gen.latent_shape == (6,) and gen.prior == "gaussian"
    z = torch.randn(3, 6)
    torch.testing.assert_close(gen(z), net(z))


def test_torchscript_without_latent_shape_needs_option(tmp_path):
    class Bare(nn.Module):
        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.tanh(z).view(z.shape[0], 1, 2, 2)

    path = tmp_path / "bare.pt"
    torch.jit.save(torch.jit.script(Bare()), str(path))
    with pytest.raises(UserError, match="--latent-shape"):
        load_generator(str(path))
    assert load_generator(str(path), latent_shape=(4,)).probe() == (1, 2, 2)


@pytest.mark.parametrize("net,match", [
    (ScriptableGen(out_scale=3.0), r"pixel values in .*must lie in \[-1, 1\]"),
    (ScriptableGen(channels=2), r"expected images"),
])
def test_generator_with_wrong_range_or_shape_is_refused(tmp_path, net, match):
    path = tmp_path / "bad.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    with pytest.raises(UserError, match=match):
        load_generator(str(path))


def test_generator_returning_nan_or_non_tensor_is_refused():
    with pytest.raises(UserError, match="NaN or inf"):
        load_generator(lambda z: torch.full((z.shape[0], 1, 2, 2), float("nan")), latent_shape=(3,))
    with pytest.raises(UserError, match="not a tensor"):
        load_generator(lambda z: [z], latent_shape=(3,))
    with pytest.raises(UserError, match="failed on latents"):
        load_generator(nn.Linear(5, 5), latent_shape=(3,))


def test_file_that_is_not_torchscript(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"not a model at all")
    with pytest.raises(UserError, match="is not a TorchScript model"):
        load_generator(str(path))
    with pytest.raises(UserError, match="does not exist"):
        load_generator(str(tmp_path / "missing.pt"))


def test_factory_spec(tmp_path, monkeypatch):
    (tmp_path / "my_models.py").write_text(textwrap.dedent("""
        import torch
        from torch import nn

        class G(nn.Module):
            latent_shape = (3,)
            def forward(self, z):
                return torch.tanh(z).repeat(1, 3)[:, :9].view(-1, 1, 3, 3)

        def make():
            return G()
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    gen = load_generator("my_models:make")
    assert gen.latent_shape == (3,) and gen.probe() == (1, 3, 3)
    with pytest.raises(UserError, match="has no 'nope'"):
        load_generator("my_models:nope")
    with pytest.raises(UserError, match="cannot import"):
        load_generator("no_such_module_xyz:make")
    sys.modules.pop("my_models", None)


def test_unknown_names():
    with pytest.raises(UserError, match="unknown zoo model 'nope'.*faces64"):
        load_generator("zoo:nope")
    with pytest.raises(UserError, match="unknown model"):
        load_generator("nothing-like-a-model")


def test_module_is_copied_and_frozen():
    net = ScriptableGen()
    gen = load_generator(net, prior="sphere")
    assert gen.net is not net and all(not p.requires_grad for p in gen.parameters())
    assert all(p.requires_grad for p in net.parameters())  # the caller's module is untouched
    z = gen.sample_latents(4, seed=7)
    assert torch.allclose(z.norm(dim=1), torch.full((4,), 6 ** 0.5))
    assert torch.equal(z, gen.sample_latents(4, seed=7))


def test_generator_stays_in_eval_mode(conv_gen):
    conv_gen.train()
    assert not conv_gen.training and not conv_gen.net.training
    z = torch.randn(4, 8)
    single = torch.cat([conv_gen(z[i:i + 1]) for i in range(4)])
    torch.testing.assert_close(conv_gen(z), single)  # no batch statistics


def test_condition_rides_along():
    class Cond(nn.Module):
        def forward(self, z, c):
            return torch.tanh(z + c).view(-1, 1, 2, 2)

    label = torch.tensor([0.0, 1.0, 0.0, 0.0])
    gen = Generator(Cond(), latent_shape=(4,), condition=label)
    z = torch.zeros(3, 4)
    torch.testing.assert_close(gen(z), torch.tanh(label).view(1, 1, 2, 2).expand(3, -1, -1, -1))


def test_faces64_zoo_model_loads_real_weights():
    gen = load_generator("zoo:faces64")
    x = gen(gen.sample_latents(2, seed=1))
    assert x.shape == (2, 3, 64, 64)
    assert x.min() >= -1 and x.max() <= 1
    assert x.std() > 0.1  # real weights make real images, not a constant
