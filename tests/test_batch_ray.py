"""The ``ray`` executor on a real local Ray instance (2 CPUs): same paths as ``local``, a killed worker, an
interrupted driver, a corrupt result file.

One Ray instance serves the whole module (starting one takes many seconds on a small machine); each test
starts its own actors and ends them, so that the CPUs are free for the next (an actor holds its CPU).
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'latent-geodesics[ray]' (./run.sh test "
                                        "installs it)")

from latent_geodesics.settings import Settings  # noqa: E402
from latent_geodesics.batch import (Generators, JobSpec, LocalExecutor, ResultStore,  # noqa: E402
                                    make_job, resolve_jobs, run_jobs)
from latent_geodesics.generators import load_generator  # noqa: E402
from latent_geodesics.ray_executor import RayExecutor  # noqa: E402

pytestmark = pytest.mark.slow

MODEL = "zoo:fashion32"
FAST = Settings().with_fields({"model": MODEL, "metric": "pixel", "frames": 5, "steps": 3})
MODEL_SPEC = FAST.model
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster():
    """A local Ray instance with 2 CPUs for this module: its GCS address (other drivers join it)."""
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def gen():
    return load_generator(MODEL)


@pytest.fixture
def one_thread():
    """The local reference solves with one torch thread, as each CPU actor does, so that the sums match bit for bit."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def seeded_jobs(gen, n: int) -> list:
    specs = [JobSpec(line=i + 1, fields=(("seeds", (2 * i + 1, 2 * i + 2)),)) for i in range(n)]
    return resolve_jobs(specs, FAST, Generators(gen.device, {FAST.model: gen}))


def points_of(out: Path) -> dict[str, np.ndarray]:
    return {p.stem: np.load(p)["points"] for p in sorted((out / "paths").glob("*.npz"))}


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines() if line.endswith("}")]


def assert_same_paths(a: Path, b: Path) -> None:
    pa, pb = points_of(a), points_of(b)
    assert pa.keys() == pb.keys()
    for name in pa:
        np.testing.assert_array_equal(pa[name], pb[name], err_msg=name)


def test_ray_and_local_give_the_same_paths_and_a_corrupt_file_is_redone(cluster, gen, tmp_path, one_thread):
    jobs = seeded_jobs(gen, 5)
    jobs.append(make_job(FAST, np.full(64, 3e38, np.float32), jobs[0].z1[0], name="huge", line=6))
    local = run_jobs(jobs, tmp_path / "local", LocalExecutor((FAST.model, gen)), batch_size=2)
    ex = RayExecutor(MODEL_SPEC, workers=2)
    try:
        remote = run_jobs(jobs, tmp_path / "ray", ex, batch_size=2)
        assert (remote.solved, remote.failed) == (local.solved, local.failed) == (5, 1)
        assert_same_paths(tmp_path / "local", tmp_path / "ray")
        recs = {r["name"]: r for r in records(tmp_path / "ray")}
        assert "NaN or inf" in recs["huge"]["error"]
        workers = {r["worker"] for r in recs.values()}
        assert all(w.startswith("ray:") for w in workers) and len(workers) == 2
        for r in local.records:
            if r["status"] == "done":
                assert recs[r["name"]]["stats"] == r["stats"]

        # a corrupt result file is solved again (its batch mate is recomputed, not rewritten)
        victim = tmp_path / "ray" / "paths" / f"{jobs[2].name}.npz"
        victim.write_bytes(victim.read_bytes()[:100])
        mate = tmp_path / "ray" / "paths" / f"{jobs[3].name}.npz"
        mate_time = mate.stat().st_mtime_ns
        again = run_jobs(jobs, tmp_path / "ray", ex, batch_size=2)
        # recomputed: the corrupt file's batch mate, and the failed line's (that line is retried and fails again)
        assert (again.solved, again.recomputed, again.failed) == (1, 2, 1)
        assert mate.stat().st_mtime_ns == mate_time
        assert_same_paths(tmp_path / "local", tmp_path / "ray")
    finally:
        ex.close()


class KillOneWorker:
    """The Ray executor, with one actor's process killed (SIGKILL, by its id) when the first batch is back,
    while the other actor is in the middle of a batch."""

    def __init__(self, executor: RayExecutor) -> None:
        self.executor = executor
        self.pids = executor.worker_pids()  # asked now: later the question would queue behind the batches
        self.killed: int | None = None

    def run(self, batches):
        for k, results in enumerate(self.executor.run(batches)):
            if k == 0:  # both actors started a batch together; the other one is still solving its first
                done_by = int(results[0]["worker"].rsplit(":", 1)[1])
                self.killed = next(p for p in self.pids if p != done_by)
                os.kill(self.killed, signal.SIGKILL)
            yield results


def test_a_killed_worker_loses_and_duplicates_no_line(cluster, gen, tmp_path, one_thread):
    jobs = seeded_jobs(gen, 8)
    run_jobs(jobs, tmp_path / "local", LocalExecutor((FAST.model, gen)), batch_size=1)
    ex = RayExecutor(MODEL_SPEC, workers=2)
    try:
        killer = KillOneWorker(ex)
        before = set(killer.pids)
        result = run_jobs(jobs, tmp_path / "ray", killer, batch_size=1)
        assert killer.killed in before
        with pytest.raises(ProcessLookupError):
            os.kill(killer.killed, 0)
        assert (result.solved, result.failed) == (8, 0)
        names = [r["name"] for r in records(tmp_path / "ray")]
        assert sorted(names) == sorted(j.name for j in jobs)  # each line exactly once
        after = set(ex.worker_pids())
        assert killer.killed not in after and len(after - before) == 1  # Ray restarted the actor
        workers = {int(r["worker"].rsplit(":", 1)[1]) for r in records(tmp_path / "ray")}
        assert workers & (after - before), "the batches of the killed actor were retried on its restart"
        assert_same_paths(tmp_path / "local", tmp_path / "ray")
    finally:
        ex.close()


def _driver(jobs: Path, out: Path, address: str) -> list[str]:
    return [sys.executable, "-m", "latent_geodesics.cli", "batch", str(jobs), "--model", MODEL, "--frames", "5",
            "--steps", "3", "--batch-size", "2", "--executor", "ray", "--ray-address", address, "--workers", "2",
            "--out", str(out), "-q"]


def test_an_interrupted_driver_resumes_and_equals_an_uninterrupted_run(cluster, gen, tmp_path, one_thread):
    """16 lines; the driver is killed (SIGKILL) at a random moment, rerun, and the result equals a run that
    was not interrupted; no line finished before the interrupt is solved or written again."""
    rng = random.Random()
    seed = rng.randrange(1 << 30)
    rng = random.Random(seed)
    jobs_file = tmp_path / "jobs.jsonl"
    jobs_file.write_text("".join(json.dumps({"seeds": [2 * i + 1, 2 * i + 2]}) + "\n" for i in range(16)))
    reference = tmp_path / "reference"
    jobs = seeded_jobs(gen, 16)
    run_jobs(jobs, reference, LocalExecutor((FAST.model, gen)), batch_size=2)

    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    wait_for = rng.randrange(0, 13)  # finished lines before the interrupt (at least 2 batches left), plus a delay
    extra = rng.uniform(0, 0.3)
    driver = subprocess.Popen(_driver(jobs_file, out, cluster), cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while driver.poll() is None and time.monotonic() < deadline:
            if (out / "manifest.jsonl").exists() and len(records(out)) >= wait_for:
                break
            time.sleep(0.05)
        time.sleep(extra)
        driver.send_signal(signal.SIGKILL)
    finally:
        driver.wait(60)
    msg = f"seed {seed}: killed after {wait_for} lines + {extra:.2f} s"
    assert driver.returncode == -signal.SIGKILL, (msg, driver.stderr.read()[-2000:])  # it was interrupted
    finished = {r["name"]: r for r in records(out)} if (out / "manifest.jsonl").exists() else {}
    times = {n: os.stat(out / r["file"]).st_mtime_ns for n, r in finished.items()}

    rerun = subprocess.run(_driver(jobs_file, out, cluster), cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=300)
    assert rerun.returncode == 0, (msg, rerun.stderr[-2000:])
    assert f"{16 - len(finished)} solved now, {len(finished)} finished before" in rerun.stderr, (msg, rerun.stderr)
    after = records(out)
    assert sorted(r["name"] for r in after) == sorted(j.name for j in jobs), msg  # every line once, none twice
    assert times == {n: os.stat(out / r["file"]).st_mtime_ns for n, r in finished.items()}, msg
    assert_same_paths(reference, out)
    deterministic = ("line", "name", "status", "length", "start_length", "energy", "step_cv", "converged", "steps")
    rows = [{k: r[k] for k in deterministic} for r in csv.DictReader(open(out / "summary.csv"))]
    assert len(rows) == 16 and all(r["status"] == "done" for r in rows), msg
    ref = {r["name"]: r for r in ResultStore(reference).records.values()}
    for r in rows:
        assert float(r["length"]) == pytest.approx(ref[r["name"]]["stats"]["length"], rel=1e-5), msg
