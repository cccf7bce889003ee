"""Issue 21: nothing lost, nothing hangs. Lines that share endpoints, distances with repeated points, sizes that
do not fit, state files edited by hand, and the last tracebacks: each reproduction of the issue is a row here,
and a property over random JOBS files (duplicates, shared endpoints, overrides) with random kills and reruns
says that every line ends as exactly one result or one reported failure."""

from __future__ import annotations

import csv
import io
import socket
import json
import os
import signal
import time
import shlex
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from cli_helpers import assert_one_line, run
from latent_geodesics._check import UserError
from latent_geodesics.settings import Settings  # noqa: E402
from latent_geodesics.batch import (Generators, LocalExecutor, ResultStore, parse_jobs_text, resolve_jobs,
                                    run_jobs)
from latent_geodesics.generators import load_generator

MODEL = "zoo:fashion32"
FAST = Settings().with_fields({"model": MODEL, "metric": "pixel", "frames": 5, "solver": "linear"})


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
    a, b = resolve_jobs(specs, FAST, Generators(gen.device, {FAST.model: gen}))
    from dataclasses import replace

    with pytest.raises(UserError, match="lines 1 and 2 both write paths/x.npz"):
        run_jobs([replace(a, name="x"), replace(b, name="x")], tmp_path, LocalExecutor((FAST.model, gen)))
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


# ---------------------------------------------------------------------------------------------------------------
# The reproductions that must give one line and the promised exit code, before any work
# ---------------------------------------------------------------------------------------------------------------

EXIT_MODULE = """
import torch

class Exits(torch.nn.Module):
    def forward(self, images):
        raise SystemExit(0)

def exits():
    return Exits()
"""


def _setup(d: Path) -> None:
    """The inputs of the rows below, in ``d``."""
    (d / "deep.jsonl").write_text('{"seeds": [1, 2], "frames": ' + "[" * 100_000 + "]" * 100_000 + "}\n")
    (d / "long_seed.jsonl").write_text('{"seeds": [' + "9" * 5000 + ", 1]}\n")
    (d / "quote.csv").write_text('seed0,seed1,id\n1,2,"unclosed\n')
    (d / "j.jsonl").write_text('{"seeds": [1, 2], "id": "a"}\n')
    (d / "a_file").write_text("x")
    (d / "dangling").symlink_to(d / "nowhere" / "x")
    np.save(d / "p20000.npy", np.zeros((20_000, 64), np.float32))
    np.save(d / "p30000.npy", np.zeros((30_000, 64), np.float32))
    np.save(d / "p1500.npy", np.random.default_rng(0).standard_normal((1500, 64)).astype(np.float32))
    (d / "paths_dir" / "paths" / "a.npz").mkdir(parents=True)
    (d / "lg21_exit.py").write_text(EXIT_MODULE)
    np.savez(d / "path.npz", points=np.zeros((1, 3, 64), np.float32), model=np.array(MODEL),
             metric=np.array("pixel"))


B = "batch {d}/j.jsonl --model zoo:fashion32 --solver linear --frames 3 -q"
I = "interpolate --model zoo:fashion32 --metric pixel --solver linear --frames 3 -q --seed 1 --seed 2"
ROWS = {  # name: (arguments, exit code, a word of the one line)
    "a job line nested 100,000 brackets deep": ("batch {d}/deep.jsonl --out {out}", 2, "nested too deeply"),
    "a 5,000-digit seed": ("batch {d}/long_seed.jsonl --out {out}", 2, "more than 4300 digits"),
    "a CSV row with an unclosed quote": ("batch {d}/quote.csv --out {out}", 2, "close every quote"),
    "--model ''": (I.replace("zoo:fashion32", "''") + " --out {out}", 2, "the name is empty"),
    "evaluate --json under a file": ("evaluate {d}/path.npz --json {d}/a_file/e.json", 2, "choose another --json"),
    "--fps 1e-9": (I + " --fps 1e-9 --out {out}", 2, "--fps"),
    "--out with a 300-character name": (I + " --out {d}/" + "x" * 300, 2, "allows 255 per name"),
    "--out with a 5,000-character path": (I + " --out {d}/" + "/".join(["y" * 200] * 25), 2,
                                          "choose a shorter --out"),
    "a dangling-symlink --out": (I + " --out {d}/dangling", 2, "which does not exist"),
    "batch: a dangling-symlink --out": (B + " --out {d}/dangling", 2, "which does not exist"),
    "batch: paths/NAME.npz is a folder": (B + " --out {d}/paths_dir", 2, "is a folder, where line 1's path goes"),
    "distances on 20,000 points": ("distances {d}/p20000.npy --model zoo:fashion32 --out {out}", 2,
                                   "at most 10000 latents"),
    "distances --knn 3 on 30,000 points": ("distances {d}/p30000.npy --model zoo:fashion32 --knn 3 --out {out}", 2,
                                           "at most 10000 latents"),
    "distances: too many pairs": ("distances {d}/p1500.npy --model zoo:fashion32 --out {out}", 2,
                                  "1124250 pairs to solve; at most 1000000 are accepted; use --knn"),
    "a discriminator raising SystemExit(0)": (I + " --discriminator lg21_exit:exits --realism 0.5 --out {out}", 2,
                                              "sys.exit(0)"),
    "--ray-timeout without ray": (B + " --ray-timeout 5 --out {out}", 2, "--ray-timeout belong to --executor ray"),
}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("issue21")
    _setup(d)
    return d


@pytest.mark.parametrize("name", list(ROWS))
def test_reproduction_gives_one_line_and_its_exit_code(name, inputs, tmp_path, monkeypatch):
    args, code, word = ROWS[name]
    monkeypatch.syspath_prepend(str(inputs))
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    before = sorted(p.name for p in inputs.rglob("*"))
    result = run(*shlex.split(args.format(d=inputs, out=out)))
    assert_one_line(result, code, word)
    assert not out.exists()  # nothing written, nothing created
    assert sorted(p.name for p in inputs.rglob("*")) == before
    assert not list(tmp_path.iterdir())


def test_size_limit_from_this_machines_memory():
    from latent_geodesics.distances import check_sizes

    check_sizes(1000, 64, None, what="p.npy", memory_bytes=64 * 2**30)  # 499,500 pairs: about 1.3 GB, fits
    with pytest.raises(UserError, match=r"p.npy: 1000 latents and 499500 pairs need about 1.2 GiB of memory, more "
                                        r"than half of this machine's 1.0 GiB; use --knn K"):
        check_sizes(1000, 64, None, what="p.npy", memory_bytes=2**30)
    check_sizes(1000, 64, 5, what="p.npy", memory_bytes=2**30)  # 5,000 pairs fit


def test_knn_in_row_blocks_equals_the_full_matrix(monkeypatch):
    from latent_geodesics import distances

    points = np.random.default_rng(1).standard_normal((50, 8)).astype(np.float32)
    whole = distances.pair_list(points, 3)
    monkeypatch.setattr(distances, "_KNN_ROWS", 7)  # blocks that do not divide 50
    assert distances.pair_list(points, 3) == whole
    d = distances.latent_distances(points)
    np.fill_diagonal(d, np.inf)
    near = np.argsort(d, axis=1, kind="stable")[:, :3]
    assert whole == sorted({(min(i, int(j)), max(i, int(j))) for i in range(50) for j in near[i]})


# ---------------------------------------------------------------------------------------------------------------
# Faults in the middle of a run: one line, the promised exit code
# ---------------------------------------------------------------------------------------------------------------

FFMPEG_DISK_FULL = """\
[vost#0:0/libx264 @ 0x55bf5c797000] Error submitting a packet to the muxer: No space left on device
[out#0/mp4 @ 0x55bf5c7964c0] Error muxing a packet
[out#0/mp4 @ 0x55bf5c7964c0] Task finished with error code: -28 (No space left on device)
[out#0/mp4 @ 0x55bf5c7964c0] Terminating thread with return code -28 (No space left on device)
[out#0/mp4 @ 0x55bf5c7964c0] Error writing trailer: No space left on device
[out#0/mp4 @ 0x55bf5c7964c0] Error closing file: No space left on device
"""
"""What ffmpeg 7 printed when the disk filled up in the middle of an MP4 (a 300 kB tmpfs)."""


def _fake_ffmpeg(folder: Path, log: str) -> str:
    """An ffmpeg that reads a little of its input, prints ``log`` and fails, as the real one on a full disk."""
    script = folder / "ffmpeg"
    (folder / "log.txt").write_text(log)
    script.write_text(f"#!/bin/sh\nhead -c 1000 >/dev/null\ncat '{folder / 'log.txt'}' >&2\nexit 228\n")
    script.chmod(0o755)
    return str(script)


def _sigterm_inside_an_import(*args, **kwargs):
    """What a SIGTERM during a lazy import of torch looked like: the import, cut short, fails with its own error."""
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # the CLI's handler raises here
        time.sleep(5)
    except BaseException:
        raise ImportError("cannot import name 'x' from partially initialized module 'torch._dynamo'") from None


@pytest.mark.parametrize("fault, code, word", [
    ("ffmpeg: disk full", 1, "cannot write the video"),
    ("ffmpeg: another failure", 1, "ffmpeg could not write the video"),
    ("MemoryError", 1, "out of memory"),
    ("SIGTERM inside an import", 143, "terminated"),
    ("SIGTERM inside a model module's import", 143, "terminated"),
])
def test_fault_mid_run_gives_one_line(fault, code, word, tmp_path, monkeypatch):
    from latent_geodesics import jobs, rendering
    from latent_geodesics.workflows import interpolate as workflow

    if fault.startswith("ffmpeg"):
        log = FFMPEG_DISK_FULL if fault == "ffmpeg: disk full" else \
            FFMPEG_DISK_FULL.replace("No space left on device", "Invalid data found")
        (tmp_path / "bin").mkdir()
        exe = _fake_ffmpeg(tmp_path / "bin", log)
        monkeypatch.setattr(rendering, "ffmpeg_exe", lambda: exe)
    elif fault == "MemoryError":
        def no_memory(*args, **kwargs):
            raise MemoryError()
        monkeypatch.setattr(jobs, "write_png", no_memory)
    elif fault == "SIGTERM inside an import":
        monkeypatch.setattr(workflow, "load_generator", _sigterm_inside_an_import)
    else:  # the loader turns the failed import into its own one-line error: the signal still wins
        def load(*args, **kwargs):
            try:
                _sigterm_inside_an_import()
            except ImportError as e:
                raise UserError(f"cannot import the model module: {e}") from e
        monkeypatch.setattr(workflow, "load_generator", load)
    out = tmp_path / "out"
    result = run(*shlex.split(I), "--out", out)
    assert_one_line(result, code, word)
    assert "FFMPEG COMMAND" not in result.output and "0x55bf" not in result.output  # none of ffmpeg's own log
    if fault == "ffmpeg: disk full":  # the fault, and the file where the user looks for it, not a staging path
        assert f"cannot write the video video.mp4 in {out}: the disk is full (No space left on device)" in result.stderr
        assert "Broken pipe" not in result.stderr and ".lg-staging" not in result.stderr
    assert not out.exists()  # rolled back


def test_decompressed_sizes_are_capped(tmp_path, monkeypatch):
    from latent_geodesics import _check
    from latent_geodesics.jobs import load_array

    np.savez_compressed(tmp_path / "bomb.npz", z=np.zeros((1, 2_000_000), np.float32))  # 8 MB unpacked, a few kB
    np.save(tmp_path / "big.npy", np.zeros((1, 2_000_000), np.float32))
    assert (tmp_path / "bomb.npz").stat().st_size < 100_000
    monkeypatch.setattr(_check, "MAX_ARRAY_BYTES", 4_000_000)
    for name in ("bomb.npz", "big.npy"):
        with pytest.raises(UserError, match=r"its arrays take 7.6 MiB unpacked, and at most 3.8 MiB are read"):
            load_array(tmp_path / name, what="latent")
    monkeypatch.setattr(_check, "MAX_ARRAY_BYTES", 8_001_000)  # the arrays and their headers
    assert load_array(tmp_path / "bomb.npz", what="latent").shape == (1, 2_000_000)


# ---------------------------------------------------------------------------------------------------------------
# State files checked like inputs
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("damage, why", [
    (lambda r: r.pop("settings"), "settings missing or incomplete"),
    (lambda r: r.__setitem__("stats", "fast"), "stats is str, not an object"),
    (lambda r: r["stats"].__setitem__("length", float("nan")), "stats.length nan is not a finite number"),
    (lambda r: r.__setitem__("converged", "yes"), "converged 'yes' is not true or false"),
    (lambda r: r.__setitem__("status", "finished"), "status 'finished' is not done or failed"),
])
def test_a_hand_edited_manifest_record_is_redone_with_a_warning(damage, why, tmp_path):
    jobs = tmp_path / "j.jsonl"
    jobs.write_text('{"seeds":[1,2],"id":"a"}\n{"seeds":[3,4],"id":"c"}\n')
    out = tmp_path / "out"
    args = ["batch", jobs, "--model", MODEL, "--solver", "linear", "--frames", 5, "--out", out, "-q"]
    assert run(*args).exit_code == 0
    summary = (out / "summary.csv").read_text()
    manifest = out / "manifest.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    damage(records[0])
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert f"warning: {manifest} line 1: the record of a is damaged ({why}); that line is solved again" \
        in result.stderr
    assert "Traceback" not in result.output and "1 solved now, 1 finished before" in result.stderr
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert [(r["line"], r["name"], r["status"]) for r in rows] == [("1", "a", "done"), ("2", "c", "done")]
    assert (out / "summary.csv").read_text().splitlines()[1].split(",")[:12] == \
        summary.splitlines()[1].split(",")[:12]  # the same path again (linear): the same numbers
    again = run(*args)  # the redone record stands: no more warnings
    assert again.exit_code == 0 and "warning" not in again.stderr and "0 solved now" in again.stderr


@pytest.mark.parametrize("content", ['{"low": "a", "high": "b"}', "folder", '[1, 2]', '{"low": 0.1',
                                     "wrong numbers"])
def test_a_damaged_calibration_cache_is_recomputed_with_a_warning(content, tmp_path, monkeypatch):
    from dataclasses import asdict

    from latent_geodesics import realism

    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path / "cache"))
    gen = load_generator(MODEL)
    good = realism.calibrate(gen, samples=50, use_cache=False)
    path = Path(realism.calibration_path(gen, samples=50, seed=0, offset_fraction=0.1))
    path.parent.mkdir(parents=True)
    if content == "folder":
        path.mkdir()
    elif content == "wrong numbers":
        path.write_text(json.dumps({**asdict(good), "low": good.high + 1}))
    else:
        path.write_text(content)
    with pytest.warns(realism.StateWarning) as caught:
        cal = realism.calibrate(gen, samples=50)
    assert cal == good  # computed again, the same
    messages = [str(w.message) for w in caught]
    assert any("calibration cache" in m and "damaged" in m for m in messages), messages
    if content == "folder":
        assert any("cannot save the calibration cache" in m for m in messages), messages
        assert path.is_dir()
    else:
        assert realism.calibrate(gen, samples=50) == good  # the cache was rewritten and is read back
        assert json.loads(path.read_text()) == asdict(good)


def test_a_damaged_calibration_cache_is_one_warning_line_in_the_cli(tmp_path, monkeypatch):
    from latent_geodesics import realism

    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path / "cache"))
    gen = load_generator(MODEL)
    path = Path(realism.calibration_path(gen, samples=2000, seed=0, offset_fraction=0.1))
    path.mkdir(parents=True)
    result = run(*shlex.split(I), "--realism", "0.5", "--out", tmp_path / "out")
    assert result.exit_code == 0, result.output
    lines = [ln for ln in result.stderr.splitlines() if "calibration cache" in ln]
    assert len(lines) == 2 and all(ln.startswith("warning: ") for ln in lines), result.stderr
    assert (tmp_path / "out" / "path.npz").exists()


# ---------------------------------------------------------------------------------------------------------------
# Property: for any JOBS file, kills at random points and reruns leave one result or one failure per line
# ---------------------------------------------------------------------------------------------------------------

class _Killed(BaseException):
    """A kill (SIGKILL, a lost node) at some point of the run: nothing after it happens."""


class _KillAfter:
    """A progress bar that kills the run after ``n`` lines were recorded."""

    def __init__(self, n: int | None) -> None:
        self.n = n

    def reset(self, total=None) -> None:
        pass

    def update(self, k: int = 1) -> None:
        if self.n is not None:
            self.n -= k
            if self.n <= 0:
                raise _Killed()


job_line = st.fixed_dictionaries(
    {"ends": st.one_of(st.tuples(st.integers(0, 4), st.integers(0, 4)),  # endpoints often shared
                       st.tuples(st.just("huge"), st.integers(0, 2)))},
    optional={"id": st.from_regex(r"[ab][ab.-]{0,3}", fullmatch=True),
              "frames": st.sampled_from([3, 4]),
              "solver": st.sampled_from(["linear", "slerp"])})


def _jobs_text(lines: list[dict]) -> str:
    out = []
    for line in lines:
        obj = ({"z0": "huge.npy", "z1": f"ok{line['ends'][1]}.npy"} if line["ends"][0] == "huge"
               else {"seeds": list(line["ends"])})
        obj.update({k: v for k, v in line.items() if k != "ends"})
        out.append(json.dumps(obj))
    return "\n".join(out) + "\n"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(st.lists(job_line, min_size=1, max_size=8), st.lists(st.integers(1, 8), max_size=3), st.booleans(),
       st.integers(1, 3))
def test_every_line_ends_as_one_result_or_one_failure(gen, lines, kills, tear, batch_size):
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        np.save(d / "huge.npy", np.full(64, 3e38, np.float32))  # its images are NaN: the line fails
        for k in range(3):
            np.save(d / f"ok{k}.npy", gen.sample_latents(1, seed=9 + k).numpy())
        (d / "jobs.jsonl").write_text(_jobs_text(lines))
        out = d / "out"
        try:
            specs = parse_jobs_text((d / "jobs.jsonl").read_text(), "jsonl", name="jobs.jsonl")
            jobs = resolve_jobs(specs, FAST, Generators(gen.device, {FAST.model: gen}), base_dir=d)
        except UserError as e:  # refused before any work, with one line naming the lines
            message = str(e)
            assert "\n" not in message
            ids = [line.get("id") for line in lines]
            dup_id = len({i for i in ids if i}) < len([i for i in ids if i])
            same = [(line["ends"], line.get("frames", FAST.render.frames), line.get("solver", FAST.solver.solver))
                    for line in lines if "id" not in line]
            assert ("is already used on line" in message and dup_id) or \
                   ("the same path (endpoints and settings) as line" in message and len(set(same)) < len(same))
            assert not out.exists()
            event("refused before any work")
            return
        event(f"{len(lines)} lines, {sum(line['ends'][0] == 'huge' for line in lines)} failing, {len(kills)} kills")
        assert len(jobs) == len(lines)
        for n in [*kills, None]:  # killed after n recorded lines, then the rerun that finishes
            try:
                run_jobs(jobs, out, LocalExecutor((FAST.model, gen)), batch_size=batch_size,
                         progress=_KillAfter(n))
            except _Killed:
                if tear:  # killed while appending a record
                    with open(out / "manifest.jsonl", "ab") as f:
                        f.write(b'{"name": "a", "status": "do')
        final = run_jobs(jobs, out, LocalExecutor((FAST.model, gen)), batch_size=batch_size)
        assert final.solved == 0 and final.skipped == sum(line["ends"][0] != "huge" for line in lines)
        records = final.records
        assert [r["name"] for r in records] == [j.name for j in jobs]  # exactly one per line, in JOBS order
        assert [r["line"] for r in records] == list(range(1, len(lines) + 1))
        store = ResultStore(out)
        for line, job, rec in zip(lines, jobs, records):
            if line["ends"][0] == "huge":
                assert rec["status"] == "failed" and "NaN or inf" in rec["error"]
                continue
            assert rec["status"] == "done" and store.finished(job)
            points = store.load_points(job.name)
            assert points.shape == (1, job.settings.render.frames, 64)
            np.testing.assert_array_equal(points[0, 0], job.z0[0])
            np.testing.assert_array_equal(points[0, -1], job.z1[0])
            if job.settings.solver == "linear":
                np.testing.assert_allclose(points[0, 1] - points[0, 0], (job.z1[0] - job.z0[0]) / (job.settings.render.frames - 1),
                                           atol=1e-5)
        from latent_geodesics.batch import summary_csv

        rows = list(csv.DictReader(io.StringIO(summary_csv(records))))
        assert [r["name"] for r in rows] == [j.name for j in jobs]


def test_a_line_out_of_memory_is_a_reported_failure_and_the_others_go_on(gen, tmp_path, monkeypatch):
    from latent_geodesics.batch import worker as batch

    real = batch.solve

    def solve(generator, metric, z0, z1, run):  # only the batch holding the latent of seed 5 runs out of memory
        seed5 = generator.sample_latents(1, seed=5)[0].to(z0)
        if any(torch.equal(z, seed5) for z in z0):
            raise MemoryError()
        return real(generator, metric, z0, z1, run)

    monkeypatch.setattr(batch, "solve", solve)
    specs = parse_jobs_text('{"seeds":[1,2]}\n{"seeds":[5,6]}\n{"seeds":[3,4]}\n', "jsonl")
    jobs = resolve_jobs(specs, FAST, Generators(gen.device, {FAST.model: gen}))
    result = run_jobs(jobs, tmp_path, LocalExecutor((FAST.model, gen)), batch_size=3)
    assert [r["status"] for r in result.records] == ["done", "failed", "done"]
    assert result.records[1]["error"].startswith("out of memory, even for this line alone")
