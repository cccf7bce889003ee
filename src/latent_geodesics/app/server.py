"""The explore page's HTTP side: a small Starlette app served by uvicorn (needs the ``[app]`` extra).

Routes (JSON in and out unless said; errors are ``{"error": one line}`` with 400 bad input, 403 a foreign
origin, 404 unknown, 409 busy or nothing to cancel, 413 too large, 503 too many streams):

- ``GET /``, ``GET /static/{app.js|app.css}``: the page (fixed files of this package);
- ``GET /api/info``: model, metrics, limits, samples, the current job, the map;
- ``POST /api/samples``: ``{"seeds": [..]}`` or ``{"reseed": N}``; ``GET /api/samples/{id}.png``;
- ``POST /api/upload?name=NAME``: the photo's bytes as the body; checked, then projected on the worker;
- ``POST /api/solve``, ``POST /api/map``, ``POST /api/cancel``, ``GET /api/job``;
- ``GET /api/runs/{job}/{file}``: a solve's frame sheets and downloads;
- ``GET /api/events?after=SEQ``: server-sent events (progress, each level's path, done, map, samples).

Files are found by name in the explorer's own tables (:meth:`Explorer.run_file`, :meth:`Explorer.sample_file`),
never by joining a request's path onto a folder.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Collection
from importlib import resources
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from .._check import UserError
from .explorer import Explorer
from .requests import RUN_FILES, check_file_name
from .worker import Busy

MAX_JSON_BYTES = 64 << 10
"""Largest JSON request body."""
MAX_STREAMS = 16
"""Most event streams open at once (each holds a connection)."""
MAX_CONNECTIONS = 64
"""Most connections uvicorn serves at once; beyond, it answers 503."""
HEARTBEAT_S = 15.0
STATIC = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
SHUTDOWN_WAIT_S = 2.0
"""Longest Ctrl-C waits for a cancelled job to stop; one still running then ends with the process."""
EVENT_NUMBER = 18
"""Most digits of an event number (``after``, ``Last-Event-ID``)."""


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(message.split())}, status_code=status)


async def _body(request: Request, limit: int, what: str) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes (declared or sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise HTTPError(413, f"{what} is larger than {limit} bytes" if declared.isdigit()
                        else "bad Content-Length header")
    data = bytearray()
    async for chunk in request.stream():
        data += chunk
        if len(data) > limit:
            raise HTTPError(413, f"{what} is larger than {limit} bytes")
    return bytes(data)


async def _json(request: Request) -> object:
    data = await _body(request, MAX_JSON_BYTES, "the request")
    try:
        return json.loads(data or b"{}")
    except (ValueError, UnicodeDecodeError):
        raise HTTPError(400, "the request body is not JSON") from None
    except RecursionError:
        raise HTTPError(400, "the request body is JSON nested too deeply") from None


def _event_number(text: str, what: str) -> int:
    """``text`` as an event number: ASCII digits only (``str.isdigit`` also takes '²', which ``int`` refuses)."""
    if not (text.isascii() and text.isdigit() and len(text) <= EVENT_NUMBER):
        raise HTTPError(400, f"{what} must be an event number (digits 0-9, at most {EVENT_NUMBER})")
    return int(text)


def _hostname(netloc: str) -> str | None:
    """The lower-case host name of ``host[:port]`` (IPv6 without brackets); ``None`` when unreadable."""
    try:
        return urlsplit("//" + netloc).hostname
    except ValueError:
        return None


class _HostCheck:
    """Requests whose Host header names another server get a 400 JSON error (DNS rebinding); ``names``
    ``None``: any name."""

    def __init__(self, app: ASGIApp, names: Collection[str] | None) -> None:
        self.app, self.names = app, names

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.names is not None:
            host = Headers(scope=scope).get("host", "")
            if _hostname(host) not in self.names:
                await _error(400, f"this server answers to {', '.join(sorted(self.names))} only; "
                                  f"got Host {host[:60]!r}")(scope, receive, send)
                return
        await self.app(scope, receive, send)


class _EventStream(StreamingResponse):
    """Server-sent events whose slot is given back however the stream ends (closed, failed, cancelled)."""

    def __init__(self, content, release: Callable[[], None]) -> None:
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except ClientDisconnect:
            pass
        finally:
            self._release()


def _static(name: str) -> Response:
    if name not in STATIC:
        raise HTTPError(404, "no such file")
    text = resources.files(__package__).joinpath("static", name).read_bytes()
    return Response(text, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


def create_app(explorer: Explorer, *, allowed_hosts: tuple[str, ...] = LOOPBACK,
               stopping: Callable[[], bool] = lambda: False) -> Starlette:
    """The ASGI app for ``explorer``; requests whose Host is not in ``allowed_hosts`` are refused (400).

    ``stopping``: true once the server shuts down; event streams then end (no wait, no cancelled task).
    """
    streams = {"open": 0}
    names = None if "*" in allowed_hosts else frozenset(h.strip("[]").lower() for h in allowed_hosts)

    async def index(request: Request) -> Response:
        return _static("index.html")

    async def static(request: Request) -> Response:
        return _static(request.path_params["name"])

    async def info(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(explorer.info))

    async def samples(request: Request) -> Response:
        body = await _json(request)
        if not isinstance(body, dict):
            raise HTTPError(400, "send a JSON object")
        if "seeds" in body:
            seeds = body["seeds"]
            if not isinstance(seeds, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds):
                raise HTTPError(400, "seeds must be a list of whole numbers")
            if len(seeds) > explorer.settings.max_samples:
                raise HTTPError(400, f"at most {explorer.settings.max_samples} seeds")
            out = await run_in_threadpool(explorer.set_seeds, seeds)
        else:
            count = body.get("reseed")
            if count is not None and (isinstance(count, bool) or not isinstance(count, int) or
                                      not 1 <= count <= explorer.settings.max_samples):
                raise HTTPError(400, f"reseed takes a count from 1 to {explorer.settings.max_samples}")
            out = await run_in_threadpool(explorer.reseed, count)
        explorer.events.publish("samples", samples=out)
        return JSONResponse({"samples": out})

    async def sample_image(request: Request) -> Response:
        try:
            path = explorer.sample_file(request.path_params["name"])
        except KeyError:
            raise HTTPError(404, "no such sample") from None
        return FileResponse(path, media_type="image/png", headers={"Cache-Control": "no-cache"})

    async def upload(request: Request) -> Response:
        name = request.query_params.get("name", "")
        check_file_name(name)  # before reading any of the body
        if explorer.worker.busy():
            raise Busy("a job is running; wait for it or cancel it before dropping a photo")
        data = await _body(request, explorer.settings.upload_bytes, "the photo")
        job = await run_in_threadpool(explorer.add_photo, data, name)
        return JSONResponse({"job": job.info()}, status_code=202)

    async def solve(request: Request) -> Response:
        req = explorer.solve_request(await _json(request))
        job = explorer.solve(req)
        return JSONResponse({"job": job.info()}, status_code=202)

    async def map_(request: Request) -> Response:
        ids, metric = explorer.map_request(await _json(request))
        job = explorer.start_map(ids, metric)
        return JSONResponse({"job": job.info()}, status_code=202)

    async def cancel(request: Request) -> Response:
        job = explorer.worker.cancel()
        if job is None:
            raise HTTPError(409, "no job is running")
        return JSONResponse({"cancelling": job.info()})

    async def job(request: Request) -> Response:
        return JSONResponse({"job": explorer.job_info()})

    async def run_file(request: Request) -> Response:
        job_id, name = request.path_params["job"], request.path_params["name"]
        try:
            path = explorer.run_file(job_id, name)
        except KeyError:
            raise HTTPError(404, "no such file") from None
        if name in RUN_FILES:
            return FileResponse(path, filename=f"{job_id}-{name}")
        return FileResponse(path, media_type="image/png")

    async def events(request: Request) -> Response:
        after = request.query_params.get("after")
        after = (_event_number(after, "after") if after else
                 _event_number(request.headers.get("last-event-id") or "0", "the Last-Event-ID header"))
        if streams["open"] >= MAX_STREAMS:
            raise HTTPError(503, f"too many event streams open (at most {MAX_STREAMS}); close a tab")

        async def stream():
            seen, quiet = after, 0.0
            yield "retry: 1000\n\n"
            while not stopping():
                batch = explorer.events.since(seen)
                for event in batch:
                    seen = event["seq"]
                    yield f"id: {seen}\ndata: {json.dumps(event)}\n\n"
                if batch:
                    quiet = 0.0
                    continue
                await asyncio.sleep(0.1)
                quiet += 0.1
                if quiet >= HEARTBEAT_S:
                    quiet = 0.0
                    yield ": still here\n\n"

        def release() -> None:
            streams["open"] -= 1

        streams["open"] += 1  # given back by the response, whatever happens to it
        return _EventStream(stream(), release)

    def guarded(handler):
        async def endpoint(request: Request) -> Response:
            try:
                if request.method == "POST":
                    _check_origin(request, names)
                return await handler(request)
            except ClientDisconnect:  # the client left mid-request: nobody to answer
                return Response(status_code=400)
            except HTTPError as e:
                return _error(e.status, str(e))
            except Busy as e:
                return _error(409, str(e))
            except UserError as e:
                return _error(400, str(e))
        return endpoint

    routes = [
        Route("/", guarded(index)),
        Route("/static/{name}", guarded(static)),
        Route("/api/info", guarded(info)),
        Route("/api/samples", guarded(samples), methods=["POST"]),
        Route("/api/samples/{name}", guarded(sample_image)),
        Route("/api/upload", guarded(upload), methods=["POST"]),
        Route("/api/solve", guarded(solve), methods=["POST"]),
        Route("/api/map", guarded(map_), methods=["POST"]),
        Route("/api/cancel", guarded(cancel), methods=["POST"]),
        Route("/api/job", guarded(job)),
        Route("/api/runs/{job}/{name}", guarded(run_file)),
        Route("/api/events", guarded(events)),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 404)
        return _error(status, "no such page" if status == 404 else getattr(exc, "detail", "bad request"))

    async def server_error(request: Request, exc: Exception) -> Response:
        return _error(500, f"internal error ({type(exc).__name__}); the server goes on")

    return Starlette(routes=routes, middleware=[Middleware(_HostCheck, names=names)],
                     exception_handlers={404: not_found, 405: not_found, Exception: server_error})


def _check_origin(request: Request, names: Collection[str] | None) -> None:
    """A POST from a page that is not this server's own is refused: another site's, a sandboxed one (Origin
    ``null``), one on another port, or (``names`` not ``None``) one not named as this server (loopback)."""
    origin = request.headers.get("origin")
    if origin is None:  # not sent by a browser's page (curl, a script)
        return
    try:
        parts = urlsplit(origin)
    except ValueError:
        parts = urlsplit("")
    if not (parts.scheme == "http" and parts.netloc == request.headers.get("host")
            and (names is None or parts.hostname in names)):
        raise HTTPError(403, f"requests from other sites are refused (Origin {origin[:60]!r}); "
                             "use the page this server serves")


def allowed_hosts_for(host: str) -> tuple[str, ...]:
    """Host headers the server answers: loopback names when bound to loopback, else also the bound name
    (any, for 0.0.0.0 / ::, where the server cannot know its names)."""
    if host in ("0.0.0.0", "::", ""):
        return ("*",)
    return tuple(dict.fromkeys((*LOOPBACK, host.strip("[]"), host)))


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (``port`` 0: a free one); a one-line error when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as e:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port or --host") from None
    sock.listen(MAX_CONNECTIONS)  # connections wait in the queue until uvicorn takes them
    return sock


class ExploreServer:
    """uvicorn serving :func:`create_app` on ``host:port`` (``port`` 0: a free one), in this thread or another.

    ``sock``: a socket already bound by :func:`bind` (so that a taken port is reported before the model loads).
    """

    def __init__(self, explorer: Explorer, *, host: str = "127.0.0.1", port: int = 8000,
                 sock: socket.socket | None = None) -> None:
        self.explorer = explorer
        self.socket = sock if sock is not None else bind(host, port)
        self.host, self.port = host, self.socket.getsockname()[1]
        app = create_app(explorer, allowed_hosts=allowed_hosts_for(host), stopping=lambda: self.server.should_exit)
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off",
                                limit_concurrency=MAX_CONNECTIONS, timeout_graceful_shutdown=2)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def run(self) -> None:
        """Serve until interrupted (Ctrl-C)."""
        try:
            self.server.run(sockets=[self.socket])
        finally:
            self.explorer.close(timeout=SHUTDOWN_WAIT_S)

    def start(self, timeout: float = 30.0) -> "ExploreServer":
        """Serve on a background thread; returns once the server accepts connections."""
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]},
                                        name="latent-geodesics-explore-server", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the explore server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(10)
        self.explorer.close()
        self.socket.close()
