"""The ``ray`` executor: batches of lines solved by Ray actors that each load the model and metrics once.

Ray is an optional extra (``pip install latent-geodesics[ray]``) and is imported only here, only when this
executor is used. The driver (:func:`latent_geodesics.batch.run_jobs`) alone writes the output folder; the
actors only compute and send results back, which stream in as each batch finishes (``ray.wait``).

Placement: one actor per GPU (``num_gpus=1``) when the cluster has GPUs, else one actor per group of
``cpus_per_worker`` CPUs. A dead actor (its process killed, its node lost) is restarted by Ray and the
batches it held are retried on it (``max_restarts``, ``max_task_retries``); a batch that still fails is
recorded as failed for each of its lines, and the other batches go on.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from ._check import UserError, first_line
from .batch import Batch, BatchSolver, worker_name
from .settings import ModelSettings

IN_FLIGHT_PER_WORKER = 2
"""Batches queued on each actor at once: one running, one waiting, so an actor never idles between batches."""
CONNECT_TIMEOUT_S = 30.0
"""Default bound (``--ray-timeout``) on joining a cluster at ``--ray-address``: Ray itself retries forever."""
_RAY_ATTEMPT_S = 4
"""Ray's own first-connection timeouts while joining a cluster, in seconds (Ray's defaults add up to about 40 s
per attempt, these to about 13 s); set through Ray's ``RAY_*`` variables unless the user set them."""


class _ConnectTimeout(BaseException):
    """Raised by the alarm when joining Ray takes longer than the bound (a BaseException: Ray catches Exception)."""


def split_address(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``HOST:PORT`` address (``ray://`` stripped); ``None`` for ``auto`` and the like."""
    text = address.strip()
    if text.startswith("ray://"):
        text = text[len("ray://"):]
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def probe_address(address: str, timeout: float) -> None:
    """A TCP connection to ``HOST:PORT`` within ``timeout`` seconds, or a one-line error (nothing listens there)."""
    hp = split_address(address)
    if hp is None:
        return
    try:
        socket.create_connection(hp, timeout=timeout).close()
    except (OSError, ValueError, OverflowError) as e:
        why = (f"no answer within {timeout:g} s, --ray-timeout" if isinstance(e, socket.timeout)
               else (getattr(e, "strerror", None) or first_line(e)).lower())
        raise UserError(f"cannot reach Ray at {address} ({why}); start the cluster (ray start --head) or check "
                        "--ray-address (auto, or the head node's HOST:PORT)") from None


@contextmanager
def _stderr_kept_back() -> Iterator[None]:
    """Ray's C++ core logs a warning line every few seconds while it cannot reach a cluster, on file descriptor 2:
    hold that back while joining, and pass it on only if the join succeeds (a failure is our one line)."""
    import sys
    import tempfile

    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield
        return
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        ok = False
        try:
            yield
            ok = True
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if ok:
                held.seek(0)
                text = held.read()
                if text:
                    os.write(2, text)


@contextmanager
def _deadline(seconds: float, address: str) -> Iterator[None]:
    """Raise a one-line :class:`UserError` when the body runs past ``seconds`` (main thread only: SIGALRM)."""
    if threading.current_thread() is not threading.main_thread() or seconds <= 0:
        yield
        return

    def alarm(signum, frame):
        raise _ConnectTimeout()

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except _ConnectTimeout:
        raise UserError(f"cannot join Ray at {address} within {seconds:g} s (--ray-timeout): no Ray cluster head "
                        "answered there; check --ray-address, or raise --ray-timeout for a slow cluster") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def import_ray():
    """``ray``, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise UserError("--executor ray needs Ray: pip install 'latent-geodesics[ray]' (or pip install ray)") from None
    return ray


class _Worker:
    """Body of a Ray actor: the model and metrics loaded once, then batches solved on request."""

    def __init__(self, model: ModelSettings, device: str, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)  # as many as the CPUs Ray gave this actor, not the node's
        self.solver = BatchSolver(model, device=device, worker=worker_name("ray"))

    def solve(self, batch: Batch) -> list[dict]:
        return self.solver.solve(batch)

    def pid(self) -> int:
        return os.getpid()


def _import_ray_with_short_attempts():
    """Ray, imported with shorter first-connection attempts (Ray reads its ``RAY_*`` settings at import; a user's
    own values win), so that :func:`_deadline` gets control back every few seconds. The variables are set only
    for the import, so that processes started later (a local Ray instance) do not inherit them."""
    keys = ("RAY_gcs_rpc_server_connect_timeout_s", "RAY_py_gcs_connect_timeout_s")
    added = [k for k in keys if k not in os.environ]
    for k in added:
        os.environ[k] = str(_RAY_ATTEMPT_S)
    try:
        return import_ray()
    finally:
        for k in added:
            os.environ.pop(k, None)


class RayExecutor:
    """Solves batches on Ray actors; ``run`` yields each batch's results as soon as it is back.

    Args:
        model: how each actor loads the model.
        address: ``None`` starts a local Ray instance (stopped again by :meth:`close`); ``"auto"`` joins the
            cluster this machine belongs to; ``HOST:PORT`` a cluster's GCS address.
        workers: actors to start (default: one per GPU, else one per ``cpus_per_worker`` CPUs of the cluster).
        cpus_per_worker: CPUs (and torch threads) per CPU actor.
        max_retries: restarts of a dead actor, and retries of the batch it was solving.
        num_cpus: CPUs of a local Ray instance started here (default: all of this machine's).
        connect_timeout: seconds to join the cluster at ``address`` (``--ray-timeout``): a port nobody listens
            on fails at once, a silent one after this long, one that answers but is not Ray's after this long
            plus at most one of Ray's own attempts (about 13 s, see :data:`_RAY_ATTEMPT_S`).
    """

    name = "ray"

    def __init__(self, model: ModelSettings, *, address: str | None = None, workers: int | None = None,
                 cpus_per_worker: int = 1, max_retries: int = 3, num_cpus: int | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        ray = _import_ray_with_short_attempts() if address is not None else import_ray()
        self._ray = ray
        self._started = False
        if not ray.is_initialized():
            if address is not None:
                probe_address(address, connect_timeout)  # a refused or silent port fails here, in bounded time
            try:
                if address is None:
                    ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                             configure_logging=False)
                    self._started = True
                else:
                    try:
                        with _stderr_kept_back(), _deadline(connect_timeout, address):
                            ray.init(address=address, log_to_driver=False, configure_logging=False)
                    except UserError:
                        try:
                            ray.shutdown()
                        except Exception:  # noqa: BLE001 - half connected; nothing to keep
                            pass
                        raise
            except (ConnectionError, RuntimeError, ValueError) as e:
                raise UserError(f"cannot start or join Ray at {address or 'a new local instance'}: {first_line(e)}; "
                                "check --ray-address (auto, or the head node's HOST:PORT)") from e
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0))
        cpus = int(resources.get("CPU", 1))
        self.use_gpu = gpus > 0
        n = workers or (gpus if self.use_gpu else max(1, cpus // cpus_per_worker))
        if self.use_gpu:
            options = {"num_gpus": 1, "num_cpus": 1}
            threads = 1
        else:
            options = {"num_gpus": 0, "num_cpus": cpus_per_worker}
            threads = cpus_per_worker
        actor = ray.remote(max_restarts=max_retries, max_task_retries=max_retries, **options)(_Worker)
        device = "cuda" if self.use_gpu else "cpu"
        self.actors = [actor.remote(model, device, threads) for _ in range(n)]
        self.device = device
        self.cpus_per_worker = cpus_per_worker

    def worker_pids(self) -> list[int]:
        """Process ids of the actors (they load the model first, so this waits for them to be ready)."""
        return self._ray.get([a.pid.remote() for a in self.actors])

    def run(self, batches: Sequence[Batch]) -> Iterator[list[dict]]:
        """Yield each batch's line results as it finishes (in any order); every batch yields exactly once."""
        ray = self._ray
        queue = list(batches)[::-1]
        pending: dict = {}  # object ref -> (actor index, batch)
        load = [0] * len(self.actors)

        def submit() -> None:
            while queue:
                k = min(range(len(self.actors)), key=load.__getitem__)
                if load[k] >= IN_FLIGHT_PER_WORKER:
                    return
                batch = queue.pop()
                pending[self.actors[k].solve.remote(batch)] = (k, batch)
                load[k] += 1

        submit()
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            ref = ready[0]
            k, batch = pending.pop(ref)
            load[k] -= 1
            try:
                results = ray.get(ref)
            except ray.exceptions.RayError as e:  # the actor died past its restarts, or the task kept failing
                message = f"Ray worker failed: {first_line(e)}"
                results = [{"key": j.key, "name": j.name, "ok": False, "error": message, "worker": "ray",
                            "device": self.device} for j in batch.jobs]
            submit()
            yield results

    def close(self) -> None:
        for a in self.actors:
            try:
                self._ray.kill(a)
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.actors = []
        if self._started:
            self._ray.shutdown()

    def describe(self) -> dict:
        return {"executor": "ray", "workers": len(self.actors), "device": self.device,
                "cpus_per_worker": None if self.use_gpu else self.cpus_per_worker}
