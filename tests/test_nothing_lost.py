"""Issue 21: nothing lost, nothing hangs. Lines that share endpoints, distances with repeated points, sizes that
do not fit, state files edited by hand, and the last tracebacks: each reproduction of the issue is a row here,
and a property over random JOBS files (duplicates, shared endpoints, overrides) with random kills and reruns
says that every line ends as exactly one result or one reported failure."""

from __future__ import annotations

import csv
import socket
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_helpers import assert_one_line, run
from latent_geodesics._check import UserError
from latent_geodesics.batch import (LineSettings, LocalExecutor, ResultStore, parse_jobs_text, resolve_jobs,
                                    run_jobs)
from latent_geodesics.generators import load_generator

MODEL = "zoo:fashion32"
FAST = LineSettings(metric="pixel", frames=5, solver="linear")


@pytest.fixture(scope="module")
def gen():
    return load_generator(MODEL)


# ---------------------------------------------------------------------------------------------------------------
# Lines that share endpoints, repeated points
# ---------------------------------------------------------------------------------------------------------------

def test_lines_that_share_endpoints_are_all_answered(tmp_path):
    jobs = tmp_path / "j.jsonl"
    jobs.write_text('{"seeds":[1,2],"id":"a"}\n{"seeds":[1,2],"id":"b"}\n{"seeds":[3,4],"id":"c"}\n')
    out = tmp_path / "out"
    result = run("batch", jobs, "--model", MODEL, "--solver", "linear", "--frames", 5, "--out", out)
    assert result.exit_code == 0, result.output
    assert "3 lines: 3 done" in result.output
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert [(r["line"], r["name"], r["status"]) for r in rows] == [("1", "a", "done"), ("2", "b", "done"),
                                                                  ("3", "c", "done")]
    a, b, c = (np.load(out / "paths" / f"{n}.npz")["points"] for n in "abc")
    np.testing.assert_array_equal(a, b)  # the same path, answered for both lines
    assert not np.array_equal(a, c)
    names = [json.loads(line)["name"] for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(names) == ["a", "b", "c"]
    again = run("batch", jobs, "--model", MODEL, "--solver", "linear", "--frames", 5, "--out", out)
    assert again.exit_code == 0 and "0 solved now, 3 finished before" in again.output


def test_the_same_path_twice_without_ids_is_refused_naming_both_lines(tmp_path):
    jobs = tmp_path / "j.jsonl"
    jobs.write_text('{"seeds":[3,4]}\n{"seeds":[1,2]}\n{"seeds":[1,2]}\n')
    assert_one_line(run("batch", jobs, "--model", MODEL, "--out", tmp_path / "out"), 2,
                    "line 3: the same path (endpoints and settings) as line 2")
    assert not (tmp_path / "out").exists()


def test_run_jobs_refuses_two_jobs_with_one_name(gen, tmp_path):
    specs = parse_jobs_text('{"seeds":[1,2]}\n{"seeds":[3,4]}\n', "jsonl")
    a, b = resolve_jobs(specs, gen, FAST, model_name=MODEL)
    from dataclasses import replace

    with pytest.raises(UserError, match="lines 1 and 2 both write paths/x.npz"):
        run_jobs([replace(a, name="x"), replace(b, name="x")], tmp_path, LocalExecutor(gen), model_name=MODEL)
    assert not (tmp_path / "manifest.jsonl").exists()


def test_distances_answer_every_pair_a_repeated_point_included(gen, tmp_path):
    points = gen.sample_latents(3, seed=5).numpy()
    points[1] = points[0]
    np.save(tmp_path / "p.npy", points)
    out = tmp_path / "out"
    result = run("distances", tmp_path / "p.npy", "--model", MODEL, "--solver", "linear", "--frames", 5, "--mds",
                 "--out", out)
    assert result.exit_code == 0, result.output
    assert "1 pair(s) of equal latents (first: points 0 and 1) have distance 0" in result.stderr
    with np.load(out / "distances.npz") as f:
        geo, lin = f["geodesic"], f["linear"]
    assert np.isfinite(geo).all() and np.isfinite(lin).all()
    assert geo[0, 1] == 0 and lin[0, 1] == 0
    assert geo[0, 2] == geo[1, 2] > 0  # both pairs answered, and equal: their endpoints are
    assert (out / "mds.png").stat().st_size > 0


def test_mds_says_why_it_is_not_drawn(gen, tmp_path):
    points = gen.sample_latents(3, seed=5).numpy()
    points[2] = 3e38  # its images are NaN: its pairs fail
    np.save(tmp_path / "p.npy", points)
    result = run("distances", tmp_path / "p.npy", "--model", MODEL, "--solver", "linear", "--frames", 3, "--mds",
                 "--out", tmp_path / "out")
    assert result.exit_code == 3
    assert "warning: no mds.png: skipped: 2 pair(s) failed" in result.stderr
    assert not (tmp_path / "out" / "mds.png").exists()


# ---------------------------------------------------------------------------------------------------------------
# Nothing hangs: a Ray address that cannot be joined
# ---------------------------------------------------------------------------------------------------------------

def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("how", ["nobody listens", "listens but is not Ray"])
def test_unreachable_ray_address_fails_with_one_line(tmp_path, how):
    pytest.importorskip("ray")
    jobs = tmp_path / "j.jsonl"
    jobs.write_text('{"seeds":[1,2]}\n')
    with socket.socket() as server:  # accepts connections (the kernel's backlog) and never answers
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        port = server.getsockname()[1] if how == "listens but is not Ray" else _closed_port()
        result = run("batch", jobs, "--model", MODEL, "--executor", "ray", "--ray-address", f"127.0.0.1:{port}",
                     "--ray-timeout", 2, "--out", tmp_path / "out", "-q")
    word = "connection refused" if how == "nobody listens" else "within 2 s (--ray-timeout)"
    assert_one_line(result, 2, word)
    assert not (tmp_path / "out").exists()
