"""Distance matrices: pair lists, graph completion, classical MDS, and the ``distances`` command."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cli_helpers import assert_user_error, run
from latent_geodesics.distances import (classical_mds, connected, graph_distances, latent_distances, matrix,
                                        pair_list)
from latent_geodesics.generators import load_generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.paths import linear_path, path_stats

MODEL = "zoo:fashion32"
finite = st.floats(-100, 100, allow_nan=False, width=32)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(3, 12), st.just(2)), elements=finite))
def test_mds_recovers_a_planar_configuration(xy):
    d = latent_distances(xy)
    coords = classical_mds(d)
    np.testing.assert_allclose(latent_distances(coords), d, atol=1e-6 * (1 + d.max()))


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(2, 10), st.integers(1, 4)), elements=finite), st.integers(1, 9))
def test_knn_pairs_hold_each_points_nearest_neighbours(points, k):
    n = points.shape[0]
    pairs = pair_list(points, k)
    assert all(i < j for i, j in pairs) and len(set(pairs)) == len(pairs)
    if k >= n - 1:
        assert len(pairs) == n * (n - 1) // 2
    else:
        for i in range(n):
            assert sum(i in p for p in pairs) >= k  # its k nearest are joined to it


def test_graph_distances_add_up_along_the_graph():
    m = matrix(4, [(0, 1), (1, 2), (2, 3)], [1.0, 2.0, 4.0])
    g = graph_distances(m)
    assert g[0, 3] == 7.0 and g[3, 0] == 7.0 and g[1, 3] == 6.0
    assert connected(4, [(0, 1), (1, 2), (2, 3)]) and not connected(4, [(0, 1), (2, 3)])
    assert np.isinf(graph_distances(matrix(4, [(0, 1), (2, 3)], [1.0, 1.0]))[0, 2])


def test_distances_cli_matrices_and_mds(tmp_path):
    gen = load_generator(MODEL)
    points = gen.sample_latents(4, seed=3).numpy()
    np.save(tmp_path / "p.npy", points)
    out = tmp_path / "out"
    result = run("distances", tmp_path / "p.npy", "--model", MODEL, "--frames", 3, "--steps", 3, "--mds",
                 "--out", out, "-q")
    assert result.exit_code == 0, result.output
    with np.load(out / "distances.npz") as f:
        geo, lin, pairs = f["geodesic"], f["linear"], f["pairs"]
    assert pairs.shape == (6, 2)
    np.testing.assert_array_equal(geo, geo.T)
    assert np.all(np.diag(geo) == 0) and np.isfinite(geo).all()
    # the straight-line lengths are the lines' own lengths under the metric, measured independently here
    z = torch.from_numpy(points)
    line = linear_path(z[[0, 0, 1]], z[[1, 3, 2]], 2)
    expected = path_stats(gen, build_metric("pixel"), line).length.numpy()
    np.testing.assert_allclose([lin[0, 1], lin[0, 3], lin[1, 2]], expected, rtol=1e-5)
    assert (geo[np.triu_indices(4, 1)] <= lin[np.triu_indices(4, 1)] * (1 + 1e-6)).all()
    assert (out / "mds.png").stat().st_size > 0 and 'src="mds.png"' in (out / "report.html").read_text()
    assert len(list((out / "paths").glob("*.npz"))) == 6


def test_distances_cli_refuses_a_disconnected_knn_graph(tmp_path):
    a = np.zeros((2, 64), np.float32)
    a[1, 0] = 0.01
    points = np.concatenate([a, a + 10])
    np.save(tmp_path / "p.npy", points)
    assert_user_error(run("distances", tmp_path / "p.npy", "--model", MODEL, "--knn", 1, "--mds",
                          "--out", tmp_path / "o"), "leaves it in pieces; raise --knn")
    np.save(tmp_path / "one.npy", points[:1])
    assert_user_error(run("distances", tmp_path / "one.npy", "--model", MODEL, "--out", tmp_path / "o"),
                      "need at least two latents")
