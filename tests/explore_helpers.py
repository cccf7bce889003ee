"""What the explore tests share: a tiny model whose speed a test can turn down, a server on a free port, and
plain-HTTP helpers (``http.client``: the requests go over a real socket to the real uvicorn server)."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit

import torch
from torch import nn

from latent_geodesics.generators import Generator


class Tiny(nn.Module):
    """``z (B, 6) -> (B, 3, 16, 16)`` in [-1, 1]; sleeps ``delay`` seconds per call (a slow model on demand)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.register_buffer("w", torch.randn(6, 3 * 16 * 16, generator=g) * 0.5)
        self.delay = 0.0

    def forward(self, z):
        if self.delay:
            time.sleep(self.delay)
        return torch.tanh(z @ self.w).view(z.shape[0], 3, 16, 16)


def tiny_generator() -> Generator:
    return Generator(Tiny(), latent_shape=(6,), name="tiny")


class Client:
    """JSON over HTTP/1.1 to ``url``; one connection per request (as a browser's parallel requests are)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname, parts.port

    def connection(self, timeout: float = 30.0) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def request(self, method: str, path: str, body: object = None, *, raw: bytes | None = None,
                headers: dict | None = None, timeout: float = 30.0) -> tuple[int, dict | bytes, dict]:
        conn = self.connection(timeout)
        try:
            data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
            heads = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(method, path, body=data, headers={**heads, **(headers or {})})
            resp = conn.getresponse()
            payload = resp.read()
            kind = resp.getheader("Content-Type") or ""
            return resp.status, (json.loads(payload) if kind.startswith("application/json") else payload), \
                dict(resp.getheaders())
        finally:
            conn.close()

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def post(self, path: str, body: object = None, **kw):
        return self.request("POST", path, body if body is not None else ({} if "raw" not in kw else None), **kw)

    def events(self, after: int = 0, *, until, timeout: float = 60.0) -> list[dict]:
        """Read ``/api/events`` as a stream until ``until(event)`` is true; the events read."""
        conn = self.connection(timeout)
        try:
            conn.request("GET", f"/api/events?after={after}")
            resp = conn.getresponse()
            assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/event-stream")
            seen, deadline = [], time.monotonic() + timeout
            while time.monotonic() < deadline:
                line = resp.fp.readline()
                if not line:
                    break
                if line.startswith(b"data: "):
                    event = json.loads(line[6:])
                    seen.append(event)
                    if until(event):
                        return seen
            raise AssertionError(f"the awaited event did not come; saw {[e['kind'] for e in seen][-20:]}")
        finally:
            conn.close()

    def wait_job(self, job_id: str, states=("done", "failed", "cancelled"), timeout: float = 120.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            status, body, _ = self.get("/api/job")
            assert status == 200
            job = body["job"]
            if job and job["id"] == job_id and job["state"] in states:
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not reach {states}")
