"""The data realism judge: realism scores and Fréchet distances by hand, on real pictures and noise, end to end."""

import json
import math
from types import SimpleNamespace

import pytest
import torch

from latent_geodesics._check import UserError
from latent_geodesics.data_realism import (
    AlexFeatures, DataRealism, RealStats, data_realism_for, frechet_distance, knn_radii, real_stats, realism_scores,
)


def _need_alexnet():
    from latent_geodesics.weights import weight_path

    try:
        weight_path("alexnet")
    except UserError as e:
        pytest.skip(f"AlexNet weights cannot be fetched: {e}")


def _need_fashion():
    from latent_geodesics.generators.fashion32 import DEFAULT_DATA_DIR
    from pathlib import Path

    if not (Path(DEFAULT_DATA_DIR) / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")


# --- pure functions --------------------------------------------------------------------------------------------

def test_knn_radii_and_realism_score_by_hand():
    real = torch.tensor([[0.0], [1.0], [2.0], [10.0]])
    radii = knn_radii(real, k=1)
    torch.testing.assert_close(radii, torch.tensor([1.0, 1.0, 1.0, 8.0]))
    feats = torch.tensor([[0.5], [5.0], [9.0]])
    # kept: radii <= median (1) -> the real points 0, 1, 2; the outlier 10 with its ball of radius 8 is dropped
    got = realism_scores(feats, real, radii)
    torch.testing.assert_close(got, torch.tensor([1 / 0.5, 1 / 3, 1 / 7]))
    with pytest.raises(UserError, match="too few") as info:
        knn_radii(real[:2], k=3)
    assert "\n" not in str(info.value)


def _direct_frechet(x: torch.Tensor, y: torch.Tensor) -> float:
    """FID's formula with the square root of the full ``D x D`` product (both covariances unbiased)."""
    x, y = x.double(), y.double()
    s1, s2 = torch.cov(x.T), torch.cov(y.T)
    w, v = torch.linalg.eigh(s1)
    a = (v * w.clamp_min(0).sqrt()) @ v.T
    cross = torch.linalg.eigvalsh(a @ s2 @ a).clamp_min(0).sqrt().sum()
    return float((x.mean(0) - y.mean(0)).square().sum() + s1.trace() + s2.trace() - 2 * cross)


@pytest.mark.parametrize("m", [2, 3, 40])  # fewer frames than dimensions (rank-deficient) and more
def test_frechet_matches_the_full_matrix_formula(m):
    g = torch.Generator().manual_seed(m)
    real = torch.randn(60, 6, generator=g) @ torch.randn(6, 6, generator=g)
    fake = torch.randn(m, 6, generator=g) * 2 + 1
    stats = real_stats(real, k=3)
    assert frechet_distance(fake, stats) == pytest.approx(_direct_frechet(real, fake), rel=1e-6, abs=1e-8)
    assert frechet_distance(real, stats) == pytest.approx(0.0, abs=1e-6)  # the same set


def test_frechet_of_gaussians_in_closed_form():
    # diagonal covariances commute: FD = |mu_1 - mu_2|^2 + sum (sqrt(a) - sqrt(b))^2
    f64 = torch.float64
    a = torch.tensor([1.0, 4.0, 9.0], dtype=f64)
    mu = torch.tensor([1.0, 0.0, -2.0], dtype=f64)
    real = RealStats(torch.zeros(4, 3), torch.ones(4), torch.zeros(3, dtype=f64), torch.diag(a.sqrt()), float(a.sum()))
    e0, e1 = torch.tensor([1.0, 0, 0], dtype=f64), torch.tensor([0, 1.0, 0], dtype=f64)
    pts = torch.stack([mu + e0 * math.sqrt(2), mu - e0 * math.sqrt(2), mu + e1 / math.sqrt(2), mu - e1 / math.sqrt(2)])
    # mean mu; diagonal covariance (unbiased, / 3): 2 * 2 / 3, 2 * 0.5 / 3, 0
    var = torch.tensor([4 / 3, 1 / 3, 0.0], dtype=f64)
    expected = float(mu.square().sum() + (a.sqrt() - var.sqrt()).square().sum())
    assert frechet_distance(pts, real) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(mu[None], real) == pytest.approx(float(mu.square().sum() + a.sum()))  # one frame


def test_models_without_real_pictures_have_no_judge():
    assert data_realism_for(SimpleNamespace(name="zoo:eyes128")) is None
    assert data_realism_for(SimpleNamespace(name="my_module:factory")) is None


# --- real pictures against noise -------------------------------------------------------------------------------

def _real_vs_noise(judge: DataRealism, held: torch.Tensor) -> dict:
    feats = judge.embed(held)
    noise = judge.embed(torch.rand(held.shape, generator=torch.Generator().manual_seed(0)) * 2 - 1)
    return {"real": judge.scores(feats), "noise": judge.scores(noise), "fd_real": judge.frechet(feats),
            "fd_noise": judge.frechet(noise), "floor": judge.real_floor(len(held))}


def _check_real_vs_noise(r: dict) -> None:
    # held-out real pictures are about as typical as the reference's own: mean score near 1, and about half at
    # least 1 (the radii kept are the smaller half); uniform noise is far from every real picture
    assert 0.8 <= float(r["real"].mean()) <= 1.2, r["real"].mean()
    assert 0.25 <= float((r["real"] >= 1).float().mean()) <= 0.75
    assert float(r["noise"].mean()) < 0.35 and float(r["noise"].max()) < 0.6
    assert r["fd_real"] < 3 * r["floor"]  # real vs real: within a small factor of the same-size sampling floor
    assert r["fd_noise"] > 30 * r["fd_real"]


@pytest.mark.parametrize("model,held", [
    ("zoo:fashion32", "fashion"),  # test images 5000-5399: the reference is 0-1999
    ("zoo:mnist28", "mnist"),      # the MNIST test split: the reference is drawn from the training split
])
def test_held_out_real_pictures_score_near_one_and_noise_far_below(model, held):
    from latent_geodesics.datasets import fashion_mnist_test, mnist_archive, read_mnist
    from latent_geodesics.generators import load_generator

    _need_alexnet()
    if held == "fashion":
        _need_fashion()
        images = fashion_mnist_test(400, start=5000)
    else:
        try:
            mnist_archive()
        except UserError as e:
            pytest.skip(f"MNIST cannot be fetched: {e}")
        images = read_mnist("test", limit=400)[0]
    judge = data_realism_for(load_generator(model))
    assert judge.info()["features"] == "alexnet" and judge.info()["reference_images"] == 2000
    _check_real_vs_noise(_real_vs_noise(judge, images))


def test_celeba_photos_held_out_score_near_one_and_noise_far_below():
    from latent_geodesics.datasets import celeba_archive, celeba_images

    _need_alexnet()
    try:
        celeba_archive()
    except UserError as e:
        pytest.skip(f"CelebA photos cannot be fetched: {e}")
    faces = celeba_images(500)
    assert faces.shape == (500, 3, 64, 64) and -1 <= float(faces.min()) < float(faces.max()) <= 1
    net = AlexFeatures()
    real = torch.cat([net(x) for x in faces[:400].split(100)])
    judge = DataRealism(net, real_stats(real), "CelebA photos 0-399")
    _check_real_vs_noise(_real_vs_noise(judge, faces[400:]))


# --- evaluate --------------------------------------------------------------------------------------------------

def test_evaluate_paths_reports_per_frame_and_per_path():
    from latent_geodesics.evaluation import evaluate_paths, format_table
    from latent_geodesics.generators import load_generator
    from latent_geodesics.metrics import build_metric

    _need_alexnet()
    _need_fashion()
    gen = load_generator("zoo:fashion32")
    judge = data_realism_for(gen)
    z = torch.randn(2, 2, *gen.latent_shape, generator=torch.Generator().manual_seed(0))
    t = torch.linspace(0, 1, 5).view(1, 5, *([1] * len(gen.latent_shape)))
    points = (1 - t) * z[:, :1] + t * z[:, 1:]  # (2, 5, *latent): straight lines
    report = evaluate_paths(gen, {"pixel": build_metric("pixel")}, points, data_realism=judge)
    assert report["data_realism"]["k"] == 3
    for method in ("path", "linear", "slerp"):
        d = report["methods"][method]["data_realism"]
        assert len(d["score"]) == 2 and len(d["score"][0]) == 5
        assert d["interior_frames"] == 6 and d["frechet_real_floor"] > 0
        for i in range(2):  # min and mean of the interior frames 1..3
            inner = d["score"][i][1:-1]
            assert d["min"][i] == pytest.approx(min(inner)) and d["mean"][i] == pytest.approx(sum(inner) / 3)
        assert report["methods"][method]["frechet"] > 0
    torch.testing.assert_close(torch.tensor(report["methods"]["path"]["data_realism"]["score"]),
                               torch.tensor(report["methods"]["linear"]["data_realism"]["score"]))
    assert "real min" in format_table(report)
    ends = evaluate_paths(gen, {"pixel": build_metric("pixel")}, points[:, [0, -1]], data_realism=judge)
    assert ends["methods"]["path"]["data_realism"]["min"] == [None, None]  # no interior frame
    assert ends["methods"]["path"]["frechet"] is None
    assert "real min" not in format_table(evaluate_paths(gen, {"pixel": build_metric("pixel")}, points))


def test_evaluate_json_on_a_fashion32_interpolation(tmp_path):
    from cli_helpers import run

    _need_alexnet()
    _need_fashion()
    out = tmp_path / "o"
    r = run("interpolate", "--model", "zoo:fashion32", "--metric", "pixel", "--seed", 1, "--seed", 2,
            "--frames", 6, "--steps", 3, "--out", out, "-q")
    assert r.exit_code == 0, r.output
    r = run("evaluate", out / "path.npz", "--json", tmp_path / "eval.json")
    assert r.exit_code == 0, r.output
    assert "real min" in r.output and "Frechet" in r.output
    ev = json.loads((tmp_path / "eval.json").read_text())
    info = ev["data_realism"]
    assert info["features"] == "alexnet" and info["k"] == 3 and "Fashion-MNIST" in info["reference"]
    assert info["shares_network_with_metric"] == []
    for method in ("path", "linear", "slerp"):
        d = ev["methods"][method]["data_realism"]
        assert len(d["min"]) == len(d["mean"]) == 1 and 0 < d["min"][0] <= d["mean"][0]
        assert ev["methods"][method]["frechet"] > 0


def test_a_damaged_reference_cache_is_not_used(tmp_path):
    from latent_geodesics.data_realism import _read_cached

    (tmp_path / "bad.pt").write_bytes(b"not a torch file")
    assert _read_cached(tmp_path / "bad.pt", 10) is None
    assert _read_cached(tmp_path / "missing.pt", 10) is None
    feats = torch.randn(10, 4)
    s = real_stats(feats)
    torch.save({"features": feats, "radii": s.radii, "mean": s.mean, "cov_sqrt": s.cov_sqrt,
                "cov_trace": s.cov_trace}, tmp_path / "ok.pt")
    assert _read_cached(tmp_path / "ok.pt", 10) is not None
    assert _read_cached(tmp_path / "ok.pt", 11) is None  # another reference size


def test_compare_reports_data_realism_per_method(tmp_path):
    from cli_helpers import run

    _need_alexnet()
    _need_fashion()
    out = tmp_path / "c"
    r = run("compare", "--model", "zoo:fashion32", "--methods", "linear,slerp", "--pairs", 1, "--frames", 4,
            "--eval-metrics", "pixel", "-q", "--out", out)
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["data_realism"]["features"] == "alexnet"
    for method in ("linear", "slerp"):
        ev, s = report["methods"][method]["evaluation"], report["methods"][method]["summary"]
        assert s["data_realism_min"] == pytest.approx(ev["data_realism"]["min"][0])
        assert s["frechet"] == ev["frechet"] > 0
    assert "Fréchet to real" in (out / "report.html").read_text()
