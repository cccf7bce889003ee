"""The explore page in a real headless Chromium, driven over the DevTools protocol (as the report's browser
test is): drop a photo (projected into zoo:mnist28), pick it and a sample, solve, see the coarse levels and
then the final frames, play, download the MP4 and decode it; then compute the map and click two of its
points, which solves again.

Skipped where ``/usr/bin/chromium`` is absent (Debian: ``apt-get install chromium``) or the ``[app]`` extra
is not installed. ``LG_SCREENSHOT_DIR`` keeps a screenshot of the page (docs/explore.png comes from it).
"""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from test_report_browser import CHROMIUM, DevTools  # noqa: E402

from latent_geodesics.app.explorer import Explorer  # noqa: E402
from latent_geodesics.app.requests import ExploreSettings  # noqa: E402
from latent_geodesics.app.server import ExploreServer  # noqa: E402
from latent_geodesics.generators import load_generator  # noqa: E402
from latent_geodesics.project import ProjectConfig  # noqa: E402
from latent_geodesics.settings import MetricSettings  # noqa: E402

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                reason="needs /usr/bin/chromium (apt-get install chromium)")


class Page:
    """One tab: evaluate JavaScript, click like a mouse, wait for a condition, take a screenshot."""

    def __init__(self, tools: DevTools, width: int = 1280, height: int = 900, mobile: bool = False) -> None:
        self.tools = tools
        target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.width = width
        tools.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": height, "deviceScaleFactor": 1,
                                                          "mobile": mobile}, session=self.session)
        tools.send("Page.enable", session=self.session)

    def goto(self, url: str) -> None:
        self.tools.send("Page.navigate", {"url": url}, session=self.session)
        self.tools.wait_event("Page.loadEventFired")

    def js(self, expression: str):
        reply = self.tools.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                     "awaitPromise": True}, session=self.session)
        if "exceptionDetails" in reply:
            raise AssertionError(f"{expression}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def wait(self, expression: str, what: str, timeout: float = 90.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.js(expression)
            if value:
                return value
            time.sleep(0.1)
        error, status = self.js("$('error').textContent"), self.js("$('status').textContent")
        raise AssertionError(f"timed out waiting for {what}; page error: {error!r}, status: {status!r}")

    def click(self, selector: str) -> None:
        """A real mouse click (pressed and released) at the middle of the element, scrolled into view."""
        rect = self.js(f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
            el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2}}; }})()""")
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.tools.send("Input.dispatchMouseEvent", {"type": kind, "x": rect["x"], "y": rect["y"],
                                                         "button": "left", "clickCount": 1}, session=self.session)

    def drop_file(self, selector: str, path: Path) -> None:
        """Drag a file from outside the browser and drop it on the element (as a person drops a photo)."""
        rect = self.js(f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
            el.scrollIntoView({{block: 'center'}}); const r = el.getBoundingClientRect();
            return {{x: r.left + r.width / 2, y: r.top + r.height / 2}}; }})()""")
        data = {"items": [], "files": [str(path)], "dragOperationsMask": 1}
        for kind in ("dragEnter", "dragOver", "drop"):
            self.tools.send("Input.dispatchDragEvent", {"type": kind, "x": rect["x"], "y": rect["y"], "data": data},
                            session=self.session)

    def screenshot(self) -> bytes:
        height = self.js("document.documentElement.scrollHeight")
        shot = self.tools.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": self.width, "height": min(height, 4000), "scale": 1}},
            session=self.session)["data"]
        return base64.b64decode(shot)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    gen = load_generator("zoo:mnist28", device="cpu")
    explorer = Explorer(gen, model_name="zoo:mnist28", folder=tmp_path_factory.mktemp("explore-browser") / "app",
                        settings=ExploreSettings(grid=8, max_nodes=17, map_nodes=3,
                                                 projection=ProjectConfig(steps=30, starts=2)))
    served = ExploreServer(explorer, port=0).start()
    yield served
    served.stop()


def _canvas_ink(page: Page, method: str) -> int:
    """How many non-transparent pixels the method's canvas shows."""
    return page.js(f"""(() => {{ const c = $('canvas-{method}');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) n += d[i] > 0; return n; }})()""")


def test_pick_solve_watch_levels_play_download_and_map(server, tmp_path):
    import imageio.v2 as imageio

    tools = DevTools(tmp_path / "profile")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    try:
        page = Page(tools)
        tools.send("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads),
                                                   "eventsEnabled": True})
        page.goto(server.url)
        page.wait("document.querySelectorAll('.sample img').length === 8 && "
                  "Array.from(document.querySelectorAll('.sample img')).every(i => i.complete && i.naturalWidth > 0)",
                  "the sample grid")
        assert page.js("$('solve').disabled")  # nothing picked yet
        assert page.js("$('metric').value") == MetricSettings().metric == "vgg-eq"  # the commands' default

        # drop a photo on the page: it is checked, projected on the worker, and joins the samples
        photo = tmp_path / "digit.png"
        photo.write_bytes(server.explorer.sample_file("s3.png").read_bytes())
        page.drop_file("#drop", photo)
        page.wait("document.querySelector(\".sample[data-id='p1'] img\")?.naturalWidth > 0", "the projected photo")
        assert page.js("$('error').hidden")

        # pick two samples (the photo and a seed) and solve with nothing else changed
        page.click(".sample[data-id='p1']")
        page.click(".sample[data-id='s5']")
        assert page.js("$('selection').textContent") == "digit.png \u2192 seed 5"
        assert page.js("$('frames').value") == "17"
        page.click("#solve")

        # the straight lines first, then the geodesic's coarse levels, then its final frames
        page.wait("lg.shown.some(p => p.method === 'geodesic' && p.final)", "the final geodesic", timeout=240)
        assert server.explorer.runs[page.js("lg.run")]["request"]["metric"] == "vgg-eq"
        shown = page.js("lg.shown")
        geodesic = [p for p in shown if p["method"] == "geodesic"]
        assert {p["method"] for p in shown} == {"linear", "slerp", "geodesic"}
        coarse = [p for p in geodesic if not p["final"]]
        assert coarse and coarse[0]["frames"] == 3, geodesic  # the one-midpoint level showed on its own
        assert geodesic.index(coarse[0]) < geodesic.index(next(p for p in geodesic if p["final"]))
        assert [p["frames"] for p in coarse] == sorted(p["frames"] for p in coarse)  # coarse to fine
        final = next(p for p in geodesic if p["final"])
        assert final["frames"] == 17 and final["width"] == 17 * 28
        for method in ("linear", "slerp", "geodesic"):
            assert _canvas_ink(page, method) == 28 * 28, method
        assert page.js("document.querySelectorAll('#speed polyline').length") == 3

        # once done, the texts say so (not the last level, not the last stage)
        page.wait("!$('downloads').hidden", "the downloads")
        page.wait("$('status').textContent.endsWith('done (downloads below)')", "the status of a finished solve")
        assert page.js("$('levels').textContent").startswith("done: lengths geodesic ")
        speed = page.js("Array.from(document.querySelectorAll('#speed text')).map(t => t.textContent)")
        assert "vgg-eq distance per step" in speed and not any("e+" in t or "e-" in t for t in speed), speed

        # play: the scrubber runs to the end and the frames follow it
        page.click("#play")
        page.wait("lg.played > 5 && Number($('scrub').value) === 1000", "playback to the end", timeout=30)

        # download the MP4 and decode it: 17 frames of the three methods side by side
        page.click("#dl-video")
        event = tools.wait_event("Browser.downloadProgress", timeout=30)
        while event["params"]["state"] == "inProgress":
            event = tools.wait_event("Browser.downloadProgress", timeout=30)
        assert event["params"]["state"] == "completed", event
        files = list(downloads.glob("*.mp4"))
        assert len(files) == 1, list(downloads.iterdir())
        with imageio.get_reader(files[0], format="FFMPEG") as reader:
            frames = [f for f in reader]
        assert len(frames) == 17
        assert frames[0].shape[1] > 2 * frames[0].shape[0]  # three square tiles side by side, labels above

        keep = os.environ.get("LG_SCREENSHOT_DIR")
        first_run = page.js("lg.run")

        # the map: classical MDS of the samples' geodesic lengths; clicking two points solves between them
        page.js("$('metric').value = 'pixel'")  # quicker than vgg-eq for 36 pairs
        page.click("#map-button")
        page.wait("document.querySelectorAll('#map-geodesic circle').length === 9", "the map", timeout=120)
        assert page.js("document.querySelectorAll('#map-linear circle').length") == 9
        page.click("#map-geodesic circle[data-id='s2']")
        page.click("#map-geodesic circle[data-id='s7']")
        page.wait(f"lg.run !== {json.dumps(first_run)} && lg.shown.some(p => p.method === 'geodesic' && p.final "
                  f"&& p.at > 0) && !lg.busy", "the solve the map started", timeout=120)
        assert page.js("$('selection').textContent") == "seed 2 \u2192 seed 7"
        assert page.js("$('error').hidden")
        page.js("setT(0.5)")
        shot = page.screenshot()
        assert shot.startswith(b"\x89PNG")
        if keep:
            Path(keep).mkdir(parents=True, exist_ok=True)
            Path(keep, "explore.png").write_bytes(shot)
    finally:
        tools.close()


def test_the_page_fits_a_phone(server, tmp_path):
    tools = DevTools(tmp_path / "profile")
    try:
        page = Page(tools, width=390, height=844, mobile=True)
        page.goto(server.url)
        page.wait("document.querySelectorAll('.sample img').length > 0 && "
                  "Array.from(document.querySelectorAll('.sample img')).every(i => i.complete && i.naturalWidth > 0)",
                  "the sample grid")
        layout = page.js("""({scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
            canvases: Array.from(document.querySelectorAll('canvas')).map(c => c.getBoundingClientRect().width),
            maps: Array.from(document.querySelectorAll('#maps svg')).map(c => c.getBoundingClientRect().width)})""")
        assert layout["scroll"] <= layout["inner"], layout  # the page never scrolls sideways
        assert all(0 < w <= 390 / 3 for w in layout["canvases"]), layout  # the three methods stay side by side
        assert all(0 < w <= 390 for w in layout["maps"]), layout
    finally:
        tools.close()
