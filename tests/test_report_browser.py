"""The comparison page in a real browser: headless Chromium loads every picture and the video's metadata.

Chromium is driven over the DevTools protocol through a pipe (``--remote-debugging-pipe``: JSON messages
ending in a NUL byte on file descriptors 3 and 4), so no Python driver is needed. Skipped where
``/usr/bin/chromium`` is absent (Debian: ``apt-get install chromium``). Set ``LG_SCREENSHOT_DIR`` to keep
the screenshots (phone and laptop width) for a look.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from latent_geodesics.workflows.compare import CompareSettings, compare, pair_seeds, seeded_endpoints
from latent_geodesics.generators import Generator
from latent_geodesics.solvers import OptimizeConfig, SubdivideConfig

CHROMIUM = "/usr/bin/chromium"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="needs /usr/bin/chromium (apt-get install chromium)")


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = nn.Linear(6, 3 * 12 * 12)

    def forward(self, z):
        return torch.tanh(self.lin(z)).view(z.shape[0], 3, 12, 12)


class DevTools:
    """A minimal DevTools-protocol client over ``--remote-debugging-pipe``."""

    def __init__(self, user_data_dir: Path) -> None:
        to_chrome_r, to_chrome_w = os.pipe()
        from_chrome_r, from_chrome_w = os.pipe()
        # Chromium reads commands from fd 3 and writes replies to fd 4; move our ends out of the way first
        # so that the redirections cannot clobber one with the other (bash: dash refuses fds above 9).
        child_in = fcntl.fcntl(to_chrome_r, fcntl.F_DUPFD, 10)
        child_out = fcntl.fcntl(from_chrome_w, fcntl.F_DUPFD, 10)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
                f"--user-data-dir={user_data_dir}", "--no-first-run", "--no-default-browser-check",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-extensions", "--mute-audio", "--hide-scrollbars", "about:blank"]
        self.proc = subprocess.Popen(
            ["/bin/bash", "-c", f'exec "$@" 3<&{child_in} 4>&{child_out}', "bash", *args],
            pass_fds=(child_in, child_out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(child_in)
        os.close(child_out)
        self.write_fd, self.read_fd = to_chrome_w, from_chrome_r
        self.buffer = b""
        self.next_id = 0
        self.events: list[dict] = []

    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self.read_fd, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, *, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self.write_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_event(self, method: str, *, timeout: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout
        for i, event in enumerate(self.events):
            if event.get("method") == method:
                return self.events.pop(i)
        while True:
            event = self._read_message(deadline)
            if event.get("method") == method:
                return event
            self.events.append(event)

    def close(self) -> None:
        try:
            self.send("Browser.close", timeout=5)
        except Exception:  # already gone: nothing to close
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.write_fd)
        os.close(self.read_fd)


PROBE = """JSON.stringify({
  images: Array.from(document.images).map(i => ({src: i.getAttribute('src'), complete: i.complete,
                                               naturalWidth: i.naturalWidth, width: i.getBoundingClientRect().width})),
  video: (v => v && {readyState: v.readyState, videoWidth: v.videoWidth, error: v.error && v.error.code,
                     width: v.getBoundingClientRect().width})(document.querySelector('video')),
  scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
  tables: Array.from(document.querySelectorAll('.table-wrap')).map(t => ({client: t.clientWidth,
                                                                        scroll: t.scrollWidth})),
  fontSize: parseFloat(getComputedStyle(document.querySelector('td')).fontSize)
})"""


def _load(tools: DevTools, url: str, width: int, height: int, mobile: bool) -> tuple[dict, bytes]:
    target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    tools.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                      "mobile": mobile}, session=session)
    tools.send("Page.enable", session=session)
    tools.send("Page.navigate", {"url": url}, session=session)
    tools.wait_event("Page.loadEventFired")
    deadline = time.monotonic() + 15
    while True:  # the video's metadata may arrive after the load event
        value = tools.send("Runtime.evaluate", {"expression": PROBE, "returnByValue": True},
                           session=session)["result"]["value"]
        state = json.loads(value)
        video = state["video"]
        if video is None or video["readyState"] >= 1 or video["error"] or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    size = tools.send("Page.getLayoutMetrics", session=session)["cssContentSize"]
    shot = tools.send("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": min(size["height"], 6000), "scale": 1}},
        session=session)["data"]
    tools.send("Target.closeTarget", {"targetId": target})
    return state, base64.b64decode(shot)


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    gen = Generator(Tiny(), latent_shape=(6,), name="tiny")
    level = OptimizeConfig(optimizer="lbfgs", max_steps=5)
    settings = CompareSettings(methods=("linear", "slerp", "pixel", "pixel-eq"), frames=5,
                               subdivide=SubdivideConfig(level=level))
    seeds = pair_seeds(2)
    z0, z1 = seeded_endpoints(gen, seeds)
    compare(gen, z0, z1, out, settings, model_name="tiny <test>", seeds=seeds)
    return out


@pytest.mark.parametrize("width,height,mobile", [(390, 844, True), (1366, 900, False)], ids=["phone", "laptop"])
def test_page_loads_pictures_and_video(report_dir, tmp_path, width, height, mobile):
    tools = DevTools(tmp_path / "profile")
    try:
        state, shot = _load(tools, (report_dir / "report.html").as_uri(), width, height, mobile)
    finally:
        tools.close()
    assert {i["src"] for i in state["images"]} == {"grid.png", "plots.png"}
    for image in state["images"]:
        assert image["complete"] and image["naturalWidth"] > 0, image
        assert 0 < image["width"] <= width, image  # scaled down to fit, never wider than the screen
    video = state["video"]
    assert video["error"] is None and video["readyState"] >= 1 and video["videoWidth"] > 0, video
    assert 0 < video["width"] <= width
    assert state["scrollWidth"] <= state["innerWidth"], state  # the page itself never scrolls sideways
    assert state["fontSize"] >= 13
    assert shot.startswith(b"\x89PNG")
    keep = os.environ.get("LG_SCREENSHOT_DIR")
    if keep:
        os.makedirs(keep, exist_ok=True)
        Path(keep, f"report-{width}x{height}.png").write_bytes(shot)
        shutil.copy(report_dir / "report.html", Path(keep) / "report.html")
