"""``latent-geodesics explore``: a local page to pick samples, drop photos, watch the geodesic form level by
level beside the straight line and slerp, and map the samples by their geodesic distances.

Stack: Starlette (a small ASGI app: a static page, JSON routes, server-sent events for progress) served by
uvicorn; the page is plain HTML and JavaScript with no build step. Both come with the ``[app]`` extra; the
default install does not need them, and :func:`require_extra` says in one line how to get them.

- :mod:`.worker`: the job thread (one job at a time, cancellable) and the event log;
- :mod:`.explorer`: the samples and the jobs, on the library's own functions (no HTTP);
- :mod:`.server`: the routes and the uvicorn server (imported only when serving).
"""

from __future__ import annotations

import importlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .._check import UserError

if TYPE_CHECKING:
    from ..generators import Generator

EXTRA_HINT = "pip install 'latent-geodesics[app]'"


def require_extra() -> None:
    """Raise a one-line :class:`UserError` unless Starlette and uvicorn can be imported."""
    for name in ("starlette", "uvicorn"):
        try:
            importlib.import_module(name)
        except ImportError:
            raise UserError(f"explore needs the [app] extra ({name} is missing): {EXTRA_HINT}") from None


def serve(load: Callable[[], Generator], *, model_name: str, host: str = "127.0.0.1", port: int = 8000,
          seeds: tuple[int, ...] = (), folder: str | Path | None = None, echo=print, **settings) -> None:
    """Listen on ``host:port``, load the model, then serve the explore page until interrupted (Ctrl-C).

    Args:
        load: builds the generator (called once the port is taken, so a taken port is told first).
        model_name: how the page and the reports name the model.
        folder: the app's own folder (samples, runs, checked uploads); default a new temporary one.
        settings: fields of :class:`~latent_geodesics.app.requests.ExploreSettings`.
    """
    require_extra()
    from .explorer import Explorer
    from .requests import ExploreSettings
    from .server import ExploreServer, bind

    sock = bind(host, port)
    try:
        generator = load()
        work = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="latent-geodesics-explore-"))
        explorer = Explorer(generator, model_name=model_name, folder=work,
                            settings=ExploreSettings(seeds=tuple(seeds), **settings))
    except BaseException:
        sock.close()
        raise
    server = ExploreServer(explorer, host=host, sock=sock)
    echo(f"explore: {model_name} on {generator.device}; files in {work}")
    echo(f"explore: open {server.url} (Ctrl-C stops)")
    try:
        server.run()
    except KeyboardInterrupt:  # Ctrl-C is how a server is stopped: not a failure
        pass
    echo("explore: stopped")


__all__ = ["EXTRA_HINT", "require_extra", "serve"]
