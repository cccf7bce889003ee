"""Batch jobs with the local executor: the JOBS parser, the result folder, resuming, failures, the CLI."""

from __future__ import annotations

import csv
import io
import json
import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli_helpers import assert_user_error, run
from latent_geodesics._check import UserError
from latent_geodesics.batch import (LINE_KEYS, Generators, JobSpec, LocalExecutor, ResultStore, make_job,
                                    parse_jobs, parse_jobs_text, plan_batches, resolve_jobs, run_jobs)
from latent_geodesics.generators import load_generator
from latent_geodesics.metrics import metric_names
from latent_geodesics.settings import Settings
from latent_geodesics.solvers import OPTIMIZERS, SOLVERS
from latent_geodesics.weights import sha256_of

MODEL = "zoo:fashion32"
FAST = Settings().with_fields({"model": MODEL, "metric": "pixel", "frames": 5, "steps": 3})
"""Few frames and steps: these tests check the machinery, not the geodesics."""


# ---------------------------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------------------------

seeds = st.integers(0, 2**63 - 1)
ids = st.text(alphabet="abcXYZ019._-", min_size=1, max_size=12).filter(lambda s: not s.startswith("."))
overrides = st.fixed_dictionaries({}, optional={
    "metric": st.sampled_from(metric_names()), "frames": st.integers(2, 10_000),
    "solver": st.sampled_from(list(SOLVERS)), "optimizer": st.sampled_from(list(OPTIMIZERS)),
    "steps": st.integers(0, 10**9), "rtol": st.floats(0, 1e3, allow_nan=False),
    "gtol": st.floats(0, 1e3, allow_nan=False), "ftol": st.floats(1e-6, 1e3, allow_nan=False),
    "coarse_ftol": st.floats(0, 1e3, allow_nan=False), "retime": st.booleans(),
    "precision": st.sampled_from(["auto", "float32", "bfloat16"])})
endpoints = st.one_of(st.fixed_dictionaries({"seeds": st.tuples(seeds, seeds)}),
                      st.fixed_dictionaries({"z0": st.from_regex(r"[a-z]{1,8}\.npy", fullmatch=True),
                                             "z1": st.from_regex(r"[a-z]{1,8}\.npy", fullmatch=True)}))
lines = st.lists(st.tuples(endpoints, overrides, st.one_of(st.none(), ids)), min_size=1, max_size=8,
                 unique_by=lambda t: t[2] or object())


def _expected(line_no: int, ends: dict, over: dict, ident: str | None) -> JobSpec:
    fields = {**({"seeds": tuple(ends["seeds"])} if "seeds" in ends else ends), **over}
    return JobSpec(line=line_no, id=ident, fields=tuple(sorted(fields.items())))


@settings(max_examples=60, deadline=None)
@given(lines, st.booleans())
def test_jsonl_round_trip(items, comments):
    text, expected, n = [], [], 0
    for ends, over, ident in items:
        if comments:
            text.append("# a comment")
            text.append("")
            n += 2
        obj = {**({"seeds": list(ends["seeds"])} if "seeds" in ends else ends), **over}
        if ident is not None:
            obj["id"] = ident
        text.append(json.dumps(obj))
        n += 1
        expected.append(_expected(n, ends, over, ident))
    assert parse_jobs_text("\n".join(text), "jsonl") == expected


@settings(max_examples=60, deadline=None)
@given(lines)
def test_csv_round_trip(items):
    columns = [k for k in LINE_KEYS if k != "seeds"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    expected = []
    for n, (ends, over, ident) in enumerate(items, 2):
        row = {**({"seed0": ends["seeds"][0], "seed1": ends["seeds"][1]} if "seeds" in ends else ends)}
        row.update({k: (repr(v) if isinstance(v, float) else v) for k, v in over.items()})
        if ident is not None:
            row["id"] = ident
        writer.writerow(row)
        expected.append(_expected(n, ends, over, ident))
    assert parse_jobs_text(buf.getvalue(), "csv") == expected


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), st.sampled_from(["jsonl", "csv"]))
def test_any_text_parses_or_fails_with_one_line(text, fmt):
    try:
        specs = parse_jobs_text(text, fmt, name="jobs.x")
    except UserError as e:
        message = str(e)
        assert "\n" not in message and message.startswith("jobs.x")
        assert " line " in message or "holds no jobs" in message
    else:
        assert specs and all(isinstance(s, JobSpec) for s in specs)


bad_values = st.sampled_from([
    ({"seeds": [1]}, "give at least two --seed values"), ({"seeds": [1, -2]}, "seeds must be a whole number"),
    ({"seeds": [1, 2], "frames": 1}, "frames must be a whole number from 2"),
    ({"seeds": [1, 2], "frames": "many"}, "frames must be"), ({"seeds": [1, 2], "metric": "l2"}, "unknown metric"),
    ({"seeds": [1, 2], "rtol": -1}, "rtol must be a finite number"), ({"seeds": [1, 2], "retime": "maybe"}, "true or false"),
    ({"seed": [1, 2]}, "unknown key 'seed'"), ({"z0": "a.npy"}, "give both z0 and z1"),
    ({"seeds": [1, 2], "z0": "a.npy", "z1": "b.npy"}, "one way"), ({"seeds": [1, 2], "id": "../x"}, "id must be"),
    ({"seeds": [1, 2], "solver": "magic"}, "unknown solver"), ({"seeds": [1, 2], "steps": 1.5}, "steps must be"),
])


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 5), bad_values)
def test_a_bad_line_is_named_with_its_number_and_fix(good_before, bad):
    obj, words = bad
    text = "\n".join([json.dumps({"seeds": [i, i + 1]}) for i in range(good_before)] + [json.dumps(obj)])
    with pytest.raises(UserError) as e:
        parse_jobs_text(text, "jsonl", name="jobs.jsonl")
    assert str(e.value).startswith(f"jobs.jsonl line {good_before + 1}: ") and words in str(e.value)


def test_every_bad_line_is_listed_and_ids_are_unique():
    text = '{"seeds": [1, 2]}\nnot json\n{"seeds": [1, 2], "id": "a"}\n{"seeds": [3]}\n{"seeds": [3, 4], "id": "a"}\n'
    with pytest.raises(UserError, match=r"^j line 2: not valid JSON .* \(also bad: line 4\)$"):
        parse_jobs_text(text, "jsonl", name="j")
    with pytest.raises(UserError, match="j line 4: id 'a' is already used on line 2; give each line its own id"):
        parse_jobs_text(text.replace("not json\n", "").replace('[3]}', '[3, 5]}'), "jsonl", name="j")
    with pytest.raises(UserError, match="j line 1: header: unknown column 'seedz'"):
        parse_jobs_text("seedz,seed1\n1,2\n", "csv", name="j")
    with pytest.raises(UserError, match="j line 2: has 3 cells but the header names 2 columns"):
        parse_jobs_text("seed0,seed1\n1,2,3\n", "csv", name="j")


def test_jobs_file_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "jobs.csv"
    path.write_bytes("seed0,seed1\n1,2\n".encode("utf-8-sig"))  # as spreadsheets save CSV
    assert parse_jobs(path) == [JobSpec(line=2, fields=(("seeds", (1, 2)),))]


# ---------------------------------------------------------------------------------------------------------------
# Jobs, store, resume, failures (real model, real files)
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gen():
    return load_generator(MODEL)


def seeded_jobs(gen, pairs, settings=FAST) -> list:
    specs = [JobSpec(line=i + 1, fields=(("seeds", p),)) for i, p in enumerate(pairs)]
    return resolve_jobs(specs, settings, Generators(gen.device, {settings.model: gen}))


def test_ftol_lines_choose_the_stopping_rule():
    (frame, energy) = parse_jobs_text('{"seeds": [1, 2], "ftol": 0.3}\n{"seeds": [3, 4], "ftol": 0}\n', "jsonl")
    assert dict(frame.fields)["ftol"] == 0.3 and dict(energy.fields)["ftol"] is None
    level = energy.settings(Settings()).interpolate_settings().subdivide.level
    assert level.optimizer == "lbfgs-pair" and level.ftol is None  # 0: the energy rule (rtol, gtol)
    level = frame.settings(Settings()).interpolate_settings().subdivide.level
    assert level.ftol == 0.3
    (deep,) = parse_jobs_text('{"seeds": [1, 2], "coarse_ftol": 0}\n', "jsonl")
    subdivide = deep.settings(Settings()).interpolate_settings().subdivide
    assert subdivide.coarse_ftol is None and subdivide.level.ftol == Settings().solver.ftol  # 0: coarse energy rule
    (exact,) = parse_jobs_text('{"seeds": [1, 2], "precision": "float32"}\n', "jsonl")
    assert exact.settings(Settings()).interpolate_settings().precision == "float32"
    with pytest.raises(UserError, match="precision"):
        parse_jobs_text('{"seeds": [1, 2], "precision": "half"}\n', "jsonl")


def test_plan_groups_equal_settings_in_file_order(gen):
    other = FAST.with_fields({"frames": 3})
    jobs = seeded_jobs(gen, [(1, 2), (3, 4)]) + seeded_jobs(gen, [(5, 6)], other) + seeded_jobs(gen, [(7, 8), (9, 10)])
    plan = plan_batches(jobs, 2)
    assert [[j.source["seeds"][0] for j in b.jobs] for b in plan] == [[1, 3], [7, 9], [5]]
    assert [b.settings.render.frames for b in plan] == [5, 5, 3]


def test_store_resume_corrupt_and_failed_lines(gen, tmp_path):
    jobs = seeded_jobs(gen, [(1, 2), (3, 4), (5, 6)])
    bad = make_job(FAST, np.full(64, 3e38, np.float32), jobs[0].z1[0], name="huge", line=4)
    jobs.append(bad)  # its images are NaN: a failure of this line only
    ex = LocalExecutor((FAST.model, gen))
    first = run_jobs(jobs, tmp_path, ex, batch_size=4)
    assert (first.solved, first.failed, first.skipped) == (3, 1, 0)
    status = {r["name"]: r["status"] for r in first.records}
    assert status["huge"] == "failed" and "NaN or inf" in first.records[3]["error"]
    for job in jobs[:3]:
        with np.load(tmp_path / "paths" / f"{job.name}.npz") as f:
            pts = f["points"]
            assert pts.shape == (1, 5, 64) and np.isfinite(pts).all()
            np.testing.assert_array_equal(pts[0, 0], job.z0[0])
            np.testing.assert_array_equal(pts[0, -1], job.z1[0])
        rec = ResultStore(tmp_path).records[job.name]
        assert rec["sha256"] == sha256_of(tmp_path / rec["file"])
        assert rec["stats"]["length"] < rec["stats"]["start_length"]  # the solver shortened it
        assert rec["worker"].startswith("local:") and rec["wall_time_s"] > 0
        assert rec["precision"] == "float32"  # what solved: a pixel metric has no network to run in bfloat16

    # a rerun skips the finished lines, retries the failed one
    mtimes = {j.name: os.stat(tmp_path / "paths" / f"{j.name}.npz").st_mtime_ns for j in jobs[:3]}
    again = run_jobs(jobs, tmp_path, ex, batch_size=4)
    assert (again.solved, again.failed, again.skipped) == (0, 1, 3)
    assert mtimes == {j.name: os.stat(tmp_path / "paths" / f"{j.name}.npz").st_mtime_ns for j in jobs[:3]}

    # a corrupt file and a missing one are redone, and give the same path as before (the same plan: the batch
    # with the failing line is split into single lines again)
    before = np.load(tmp_path / "paths" / f"{jobs[1].name}.npz")["points"]
    (tmp_path / "paths" / f"{jobs[1].name}.npz").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / "paths" / f"{jobs[2].name}.npz").unlink()
    third = run_jobs(jobs, tmp_path, ex, batch_size=4)
    assert (third.solved, third.skipped, third.recomputed, third.failed) == (2, 1, 1, 1)
    np.testing.assert_array_equal(np.load(tmp_path / "paths" / f"{jobs[1].name}.npz")["points"], before)

    # a record cut short by a crash is ignored, and the next record starts on its own line
    with open(tmp_path / "manifest.jsonl", "ab") as f:
        f.write(b'{"name": "cut sho')
    store = ResultStore(tmp_path)
    assert all(store.finished(j) for j in jobs[:3])
    run_jobs(jobs, tmp_path, ex, batch_size=4)
    lines = (tmp_path / "manifest.jsonl").read_text().splitlines()
    assert lines[-2] == '{"name": "cut sho' and json.loads(lines[-1])["name"] == "huge"


def test_changed_settings_are_solved_again(gen, tmp_path):
    jobs = seeded_jobs(gen, [(1, 2)])
    named = [make_job(FAST, jobs[0].z0[0], jobs[0].z1[0], name="p", line=1)]
    run_jobs(named, tmp_path, LocalExecutor((FAST.model, gen)))
    longer = [make_job(FAST.with_fields({"frames": 3}), jobs[0].z0[0], jobs[0].z1[0], name="p", line=1)]
    rerun = run_jobs(longer, tmp_path, LocalExecutor((FAST.model, gen)))
    assert rerun.solved == 1
    assert np.load(tmp_path / "paths" / "p.npz")["points"].shape == (1, 3, 64)


def test_one_driver_per_result_folder(gen, tmp_path):
    import fcntl

    (tmp_path / "paths").mkdir()
    with open(tmp_path / ".lg-batch.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another driver is writing
        with pytest.raises(UserError, match="another batch is writing to .* now; wait for it"):
            run_jobs(seeded_jobs(gen, [(1, 2)]), tmp_path, LocalExecutor((FAST.model, gen)))
    assert not (tmp_path / "manifest.jsonl").exists()
    assert run_jobs(seeded_jobs(gen, [(1, 2)]), tmp_path, LocalExecutor((FAST.model, gen))).solved == 1


# ---------------------------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------------------------

def test_batch_cli_writes_summary_report_and_resumes(tmp_path):
    np.save(tmp_path / "a.npy", load_generator(MODEL).sample_latents(1, seed=7).numpy())
    np.save(tmp_path / "b.npy", load_generator(MODEL).sample_latents(1, seed=8).numpy()[0])
    jobs = tmp_path / "jobs.csv"
    np.save(tmp_path / "huge.npy", np.full(64, 3e38, np.float32))  # its images are NaN: that line fails alone
    jobs.write_text("id,seed0,seed1,z0,z1,frames\none,1,2,,,\ntwo,,,a.npy,b.npy,3\nbad,,,huge.npy,b.npy,\n")
    out = tmp_path / "out"
    args = ["batch", jobs, "--model", MODEL, "--frames", 5, "--steps", 3, "--out", out, "-q"]
    result = run(*args)
    assert result.exit_code == 3, result.output  # written, but a line is missing: scripts must see it
    rows = list(csv.DictReader(open(out / "summary.csv")))
    assert [(r["line"], r["name"], r["status"], r["frames"]) for r in rows] == [
        ("2", "one", "done", "5"), ("3", "two", "done", "3"), ("4", "bad", "failed", "5")]
    assert "NaN or inf" in rows[2]["error"] and "warning: line 4 failed: the path's images" in result.stderr
    assert float(rows[0]["length"]) < float(rows[0]["start_length"])
    page = (out / "report.html").read_text()
    assert "grid.png" in page and "one" in page and (out / "grid.png").stat().st_size > 0
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["done"] == 2 and report["executor"]["executor"] == "local"
    again = run(*args)  # the failed line is tried again, the finished ones are not
    assert again.exit_code == 3 and "0 solved now, 2 finished before), 1 failed" in again.stderr


@pytest.mark.parametrize("content, name, words", [
    ('{"seeds": [1, 2]}\n{"seeds": [1, 2]}\n', "j.jsonl", "j.jsonl line 2: the same path"),
    ('{"z0": "nope.npy", "z1": "nope.npy"}\n', "j.jsonl", "j.jsonl line 1: cannot read latent file"),
    ("", "j.jsonl", "holds no jobs"),
    ('{"seeds": [1, 2]}\n', "j.txt", "name it .jsonl (JSON Lines) or .csv"),
])
def test_batch_cli_bad_jobs_one_line(tmp_path, content, name, words):
    jobs = tmp_path / name
    jobs.write_text(content)
    assert_user_error(run("batch", jobs, "--model", MODEL, "--out", tmp_path / "out"), words)
    assert not (tmp_path / "out").exists()


def test_batch_cli_bad_options_one_line(tmp_path):
    jobs = tmp_path / "j.jsonl"
    jobs.write_text('{"seeds": [1, 2]}\n')
    assert_user_error(run("batch", jobs, "--workers", 2, "--out", tmp_path / "o"), "belong to --executor ray")
    assert_user_error(run("batch", jobs, "--ray-timeout", 5, "--out", tmp_path / "o"), "--ray-timeout belong to")
    (tmp_path / "o2").mkdir()
    (tmp_path / "o2" / "paths").write_text("x")
    assert_user_error(run("batch", jobs, "--out", tmp_path / "o2"), "paths is a file")


@pytest.mark.parametrize("text, fmt, words", [
    ('{"seeds": [1, 2], "nodes": "abc"}', "jsonl", "--nodes must be a whole number from 2 to 10000, got 'abc'"),
    ('{"seeds": [1, 2], "nodes": 99999999999999999999}', "jsonl", "--nodes must be a whole number from 2 to 10000"),
    ('{"seeds": [1, 2], "time_limit": 0}', "jsonl", "--time-limit must be a finite number above 0, got 0"),
    ('{"seeds": [1, 2], "time_limit": "soon"}', "jsonl", "--time-limit must be a finite number above 0"),
    ('{"seeds": [1, 2], "ftol": -1}', "jsonl", "ftol must be 0 (the energy rule) or a finite number above 0"),
    ('{"seeds": [1, 2], "chunk_size": 0}', "jsonl", "--chunk-size must be a whole number from 1 to 1048576"),
    ('{"seeds": [1, 2], "latent_shape": [100000, 100000]}', "jsonl", "at most 16777216 are accepted"),
    ('{"seeds": [1, 2], "seeds": [3, 4]}', "jsonl", "gives the key 'seeds' twice; give each key once"),
    ("seeds\n1 " + "9" * 5000 + "\n", "csv", "seeds must be a whole number from 0 to 9223372036854775807, got a "
                                           "number of 5000 digits"),
    ("seeds,steps\n1 2," + "9" * 5000 + "\n", "csv", "--steps must be a whole number from 0 to 1000000000"),
])
def test_jobs_messages_state_the_real_ranges(text, fmt, words):
    with pytest.raises(UserError) as e:
        parse_jobs_text(text, fmt, name="jobs.x")
    assert words in str(e.value) and "\n" not in str(e.value) and len(str(e.value)) < 300
    assert "9223372036854775808" not in str(e.value)
