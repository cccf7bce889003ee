"""One background thread that runs the explorer's jobs one at a time, an event log the page streams, and
cancellation through the progress protocol the solvers already report to.

Nothing here knows about HTTP: the server turns :class:`Busy` into 409, reads :class:`Events` for its
server-sent-event stream, and a client that goes away only stops reading the log, never the job.
"""

from __future__ import annotations

import itertools
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from .._check import UserError, first_line

MAX_EVENTS = 2000
"""Events kept for late readers; older ones are dropped (a reader that far behind reloads the state)."""
PROGRESS_EVERY_S = 0.25
"""Most often a job's progress is published (the solvers report every step)."""


class Busy(UserError):
    """A job is already running (the explorer runs one at a time)."""


class Cancelled(Exception):
    """Raised inside a job, at its next progress report, once :meth:`Worker.cancel` was called."""


class Events:
    """A thread-safe, bounded log of ``{"seq", "kind", ...}`` records: written by jobs, read by streams."""

    def __init__(self, maxlen: int = MAX_EVENTS) -> None:
        self._log: deque[dict] = deque(maxlen=maxlen)
        self._seq = itertools.count(1)
        self._cond = threading.Condition()
        self.last = 0

    def publish(self, kind: str, **data: object) -> dict:
        with self._cond:
            self.last = next(self._seq)
            event = {"seq": self.last, "kind": kind, **data}
            self._log.append(event)
            self._cond.notify_all()
        return event

    def since(self, seq: int) -> list[dict]:
        """Events after ``seq``, oldest first."""
        with self._cond:
            return [e for e in self._log if e["seq"] > seq]

    def wait(self, seq: int, timeout: float) -> bool:
        """Block until an event after ``seq`` exists (True) or ``timeout`` seconds pass (False)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.last > seq, timeout=timeout)


@dataclass
class Job:
    """One unit of work: ``run(ctx)`` computes and publishes; its return value is kept as ``result``."""

    id: str
    kind: str
    run: Callable[["JobContext"], object]
    state: str = "queued"  # queued | running | done | failed | cancelled
    error: str | None = None
    result: object = None
    started: float = field(default_factory=time.time)

    def info(self) -> dict:
        return {"id": self.id, "type": self.kind, "state": self.state, "error": self.error}


class JobContext:
    """What a job gets: a progress object for the solvers (which raises :class:`Cancelled` when asked to stop),
    :meth:`check` for the job's own stage boundaries, and :meth:`publish`."""

    def __init__(self, job: Job, events: Events, cancel: threading.Event) -> None:
        self.job, self.events, self._cancel = job, events, cancel
        self.done = 0
        self.total = 0
        self.stage = ""
        self.note = ""
        self._last = 0.0

    # the solver's Progress protocol
    def update(self, n: int = 1) -> None:
        self.check()
        self.done += int(n)
        self.tell()

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.note = s
        self.tell()

    def set_stage(self, stage: str, total: int = 0) -> None:
        self.check()
        self.stage, self.total, self.done, self.note = stage, int(total), 0, ""
        self.tell(force=True)

    def check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled()

    def publish(self, kind: str, **data: object) -> None:
        self.events.publish(kind, job=self.job.id, **data)

    def tell(self, force: bool = False) -> None:
        """Publish the progress (at most every :data:`PROGRESS_EVERY_S` unless ``force``)."""
        now = time.monotonic()
        if force or now - self._last >= PROGRESS_EVERY_S:
            self._last = now
            self.publish("progress", stage=self.stage, done=self.done, total=self.total, note=self.note)


class Worker:
    """Runs submitted jobs on one daemon thread, one at a time; :meth:`submit` refuses while one runs."""

    def __init__(self, events: Events) -> None:
        self.events = events
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._next: Job | None = None
        self.current: Job | None = None
        self._cancel = threading.Event()
        self._ids = itertools.count(1)
        self._stop = False
        self._thread = threading.Thread(target=self._loop, name="latent-geodesics-explore-worker", daemon=True)
        self._thread.start()

    def submit(self, kind: str, run: Callable[[JobContext], object]) -> Job:
        """Queue ``run`` to start at once. Raises :class:`Busy` while another job is queued or running."""
        with self._lock:
            if self._stop:
                raise Busy("the explorer is shutting down")
            if self.current is not None and self.current.state in ("queued", "running"):
                raise Busy(f"a {self.current.kind} job is running; wait for it or cancel it first")
            job = Job(id=f"{kind}-{next(self._ids)}", kind=kind, run=run)
            self.current = self._next = job
            self._cancel.clear()
            self._wake.notify_all()
        self.events.publish("job", **job.info())
        return job

    def cancel(self) -> Job | None:
        """Ask the running job to stop at its next progress report; the job, or ``None`` when none runs."""
        with self._lock:
            job = self.current
            if job is None or job.state not in ("queued", "running"):
                return None
            self._cancel.set()
            return job

    def busy(self) -> bool:
        with self._lock:
            return self.current is not None and self.current.state in ("queued", "running")

    def wait_idle(self, timeout: float) -> bool:
        """Block until no job is queued or running (True) or ``timeout`` passes (False); for tests and shutdown."""
        deadline = time.monotonic() + timeout
        while self.busy():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Cancel what runs and stop the thread."""
        self.cancel()
        with self._lock:
            self._stop = True
            self._wake.notify_all()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._lock:
                self._wake.wait_for(lambda: self._next is not None or self._stop)
                if self._next is None:
                    return
                job, self._next = self._next, None
                job.state = "running"
            self.events.publish("job", **job.info())
            ctx = JobContext(job, self.events, self._cancel)
            try:
                job.result = job.run(ctx)
                state, error = "done", None
            except Cancelled:
                state, error = "cancelled", None
            except UserError as e:
                state, error = "failed", " ".join(str(e).split())
            except Exception as e:  # noqa: BLE001 - the server must keep serving; the page shows the line
                state, error = "failed", f"{type(e).__name__}: {first_line(e)}"
                traceback.print_exc()
            with self._lock:
                job.state, job.error = state, error
            self.events.publish("job", **job.info())
