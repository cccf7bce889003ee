"""``latent-geodesics explore`` without a browser: the real uvicorn server on a free port, plain HTTP.

The solve streams each level, then the final path, then the downloads; and abuse (oversized, non-image and
path-traversal uploads, a cancel and a second solve during a solve, 50 concurrent requests, a client that
leaves mid-solve) is answered with a clear HTTP error while the server keeps serving.
"""

from __future__ import annotations

import io
import json
import socket
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from click.testing import CliRunner

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

from explore_helpers import Client, tiny_generator  # noqa: E402

from latent_geodesics.app.explorer import Explorer  # noqa: E402
from latent_geodesics.app.requests import ExploreSettings  # noqa: E402
from latent_geodesics.generators import Generator  # noqa: E402
from latent_geodesics.app.server import ExploreServer  # noqa: E402
from latent_geodesics.cli import main  # noqa: E402
from latent_geodesics.project import ProjectConfig  # noqa: E402
from latent_geodesics.solvers import OptimizeConfig, SubdivideConfig  # noqa: E402

SETTINGS = ExploreSettings(grid=6, max_nodes=9, map_nodes=3, upload_bytes=1 << 20,
                           subdivide=SubdivideConfig(level=OptimizeConfig(optimizer="lbfgs", max_steps=8)),
                           projection=ProjectConfig(steps=3, starts=1, perceptual="pixel", perceptual_options={}))


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("explore") / "app"
    gen = tiny_generator()
    explorer = Explorer(gen, model_name="tiny <test>", folder=folder, settings=SETTINGS)
    server = ExploreServer(explorer, port=0).start()
    yield server, Client(server.url), gen.net
    server.stop()


@pytest.fixture
def app(served):
    """The shared server, idle and with a fast model at the start of each test."""
    server, client, net = served
    net.delay = 0.0
    assert server.explorer.worker.wait_idle(60)
    yield server, client, net
    net.delay = 0.0
    server.explorer.worker.cancel()
    assert server.explorer.worker.wait_idle(60)


def _still_serving(client: Client) -> None:
    status, body, _ = client.get("/api/info")
    assert status == 200 and body["samples"], body


def _solve(client: Client, **kw) -> str:
    body = {"waypoints": ["s1", "s2"], "metric": "pixel", "frames": 9, "easing": "linear", **kw}
    status, reply, _ = client.post("/api/solve", body)
    assert status == 202, reply
    return reply["job"]["id"]


def test_the_page_and_its_files_are_served(app):
    _, client, _ = app
    status, page, headers = client.get("/")
    assert status == 200 and b"/static/app.js" in page and headers["content-type"].startswith("text/html")
    for name in ("app.js", "app.css"):
        assert client.get(f"/static/{name}")[0] == 200
    status, body, _ = client.get("/api/info")
    assert status == 200
    assert body["model"] == "tiny <test>" and body["image_shape"] == [3, 16, 16]
    assert [s["id"] for s in body["samples"]] == [f"s{i}" for i in range(6)]
    status, png, headers = client.get("/api/samples/s3.png")
    assert status == 200 and png.startswith(b"\x89PNG") and headers["content-type"] == "image/png"


def test_a_solve_streams_each_level_then_the_final_path_then_the_downloads(app):
    server, client, _ = app
    after = server.explorer.events.last
    job = _solve(client)
    events = client.events(after, until=lambda e: e["kind"] == "job" and e["id"] == job
                           and e["state"] in ("done", "failed", "cancelled"))
    assert events[-1]["state"] == "done", events[-1]
    paths = [e["path"] for e in events if e["kind"] == "path"]
    names = [p["name"] for p in paths]
    assert names == ["linear", "slerp", "geodesic-1", "geodesic-2", "geodesic-3", "geodesic"]
    assert [p["frames"] for p in paths] == [9, 9, 3, 5, 9, 9]
    assert [p.get("final") for p in paths] == [True, True, False, False, False, True]
    assert {p["metric"] for p in paths} == {"pixel"}  # the speed plot's unit
    writing = [e for e in events if e["kind"] == "progress" and "writing" in e["stage"]]
    assert writing and writing[0]["stage"].startswith("final path shown")  # not "solving" once it is done
    assert any(e["kind"] == "progress" and e["total"] > 0 and e["done"] > 0 for e in events)
    final = paths[-1]
    assert final["length"] <= paths[0]["length"] * 1.001  # no longer than the straight line under its metric
    assert len(final["steps"]) == 8 and all(v >= 0 for v in final["steps"])
    for p in paths:  # every frame sheet is a PNG of the frames side by side
        status, png, _ = client.get(p["url"])
        assert status == 200 and png.startswith(b"\x89PNG")
        from PIL import Image

        assert Image.open(io.BytesIO(png)).size == (16 * p["frames"], 16)
    done = next(e for e in events if e["kind"] == "done")
    status, npz, headers = client.get(done["files"]["path.npz"])
    assert status == 200 and "attachment" in headers["content-disposition"]
    arrays = np.load(io.BytesIO(npz))
    assert arrays["points"].shape == (1, 9, 6)
    samples = server.explorer.samples
    np.testing.assert_array_equal(arrays["z0"][0], samples["s1"].latent[0].numpy())
    np.testing.assert_array_equal(arrays["z1"][0], samples["s2"].latent[0].numpy())
    status, report, headers = client.get(done["files"]["report.json"])
    assert status == 200 and "attachment" in headers["content-disposition"]
    assert report["command"] == "explore" and report["settings"]["frames"] == 9
    assert report["settings"]["precision"] == "float32"  # a pixel metric has no network to run in bfloat16
    assert set(report["methods"]) == {"linear", "slerp", "geodesic"}
    assert report["levels"] == ["geodesic-1", "geodesic-2", "geodesic-3"]
    status, video, _ = client.get(done["files"]["video.mp4"])
    assert status == 200
    frames = _decode(video, server.explorer.folder)
    assert len(frames) == 9 and frames[0].shape[1] > frames[0].shape[0] * 2  # three methods side by side
    assert report["files"]["video"]["methods"] == ["linear", "slerp", "geodesic"]


def _decode(video: bytes, folder) -> list[np.ndarray]:
    import imageio.v2 as imageio

    path = folder.parent / "decoded.mp4"
    path.write_bytes(video)
    with imageio.get_reader(path, format="FFMPEG") as reader:
        return [frame for frame in reader]


def test_waypoints_make_one_path_of_legs_and_easing_retimes_the_video(app):
    server, client, _ = app
    job = _solve(client, waypoints=["s0", "s3", "s5"], frames=5, easing="ease-in-out")
    assert client.wait_job(job)["state"] == "done"
    run = server.explorer.runs[job]
    assert run["paths"]["geodesic"]["frames"] == 9  # two legs of 5 frames, the waypoint once
    arrays = np.load(server.explorer.run_file(job, "path.npz"))
    assert arrays["points"].shape == (1, 9, 6) and int(arrays["legs"]) == 2
    from latent_geodesics.pathfile import PathFile

    read = PathFile.read(server.explorer.run_file(job, "path.npz"))  # what `evaluate` reads
    assert read.legs == 2 and read.model == "tiny <test>" and read.metric == "pixel"
    assert [leg.shape for leg in read.leg_sets()["path"]] == [(5, 6), (5, 6)]
    np.testing.assert_array_equal(arrays["points"][0, 4], server.explorer.samples["s3"].latent[0].numpy())
    report = json.loads(server.explorer.run_file(job, "report.json").read_text())
    assert report["settings"]["easing"] == "ease-in-out"
    assert [w["id"] for w in report["waypoints"]] == ["s0", "s3", "s5"]


def test_the_first_solve_with_nothing_changed_is_under_the_cli_metric(app):
    """The page starts on the metric every command defaults to (one definition: MetricSettings), and a solve
    or map that names no metric is under it."""
    from latent_geodesics.pathfile import PathFile
    from latent_geodesics.settings import MetricSettings

    server, client, _ = app
    default = MetricSettings().metric
    assert default == "vgg-eq"
    status, info, _ = client.get("/api/info")
    assert status == 200 and info["default_metric"] == default and default in info["metrics"]
    status, reply, _ = client.post("/api/solve", {"waypoints": ["s1", "s2"], "frames": 3})
    assert status == 202, reply
    job = reply["job"]["id"]
    assert client.wait_job(job)["state"] == "done"
    report = json.loads(server.explorer.run_file(job, "report.json").read_text())
    assert report["metric"] == "vgg-eq" and report["methods"]["geodesic"]["length"] > 0
    assert PathFile.read(server.explorer.run_file(job, "path.npz")).metric == "vgg-eq"
    assert server.explorer.map_request({})[1] == "vgg-eq"


@pytest.mark.parametrize("body,expected", [
    ({"waypoints": ["s1"]}, "pick from 2"),
    ({"waypoints": ["s1", "nope"]}, "unknown sample"),
    ({"waypoints": ["s1", "s1"]}, "same sample"),
    ({"waypoints": ["s1", "s2"], "metric": "nope"}, "unknown metric"),
    ({"waypoints": ["s1", "s2"], "frames": 10_000}, "frames must be"),
    ({"waypoints": ["s1", "s2"], "frames": "9"}, "frames must be"),
    ({"waypoints": ["s1", "s2"], "easing": "bounce"}, "easing must be"),
    ({"waypoints": ["s1", "s2"], "realism": 0.5}, "no discriminator"),
    ([1, 2], "JSON object"),
])
def test_bad_solve_requests_are_400_with_one_line(app, body, expected):
    _, client, _ = app
    status, reply, _ = client.post("/api/solve", body)
    assert status == 400 and expected in reply["error"] and "\n" not in reply["error"], reply
    _still_serving(client)


def test_not_json_and_oversized_json_are_refused(app):
    _, client, _ = app
    status, reply, _ = client.post("/api/solve", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert status == 400 and "not JSON" in reply["error"]
    status, reply, _ = client.post("/api/solve", raw=b" " * (200 << 10))
    assert status == 413
    _still_serving(client)


def test_samples_reseed_and_given_seeds(app):
    server, client, _ = app
    status, reply, _ = client.post("/api/samples", {"seeds": [7, 8, 9]})
    assert status == 200 and [s["id"] for s in reply["samples"]] == ["s7", "s8", "s9"]
    status, reply, _ = client.post("/api/samples", {"reseed": 4})
    assert status == 200 and len(reply["samples"]) == 4
    for bad in ({"seeds": [-1]}, {"seeds": ["a"]}, {"seeds": list(range(100))}, {"reseed": 0}):
        status, reply, _ = client.post("/api/samples", bad)
        assert status == 400, (bad, reply)
    status, reply, _ = client.post("/api/samples", {"seeds": list(range(6))})  # as the other tests expect
    assert status == 200


def test_a_50_mb_upload_is_refused_with_413(app):
    server, client, _ = app
    # declared too large: refused from the header, before the body is read
    conn = client.connection()
    try:
        conn.putrequest("POST", "/api/upload?name=big.png")
        conn.putheader("Content-Length", str(50 << 20))
        conn.endheaders()
        try:
            conn.send(b"\0" * (1 << 20))  # the server may answer and close before taking more
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = conn.getresponse()
        assert resp.status == 413 and "larger than" in json.loads(resp.read())["error"]
    finally:
        conn.close()
    # sent without a length (chunked): refused once the count passes the limit
    conn = client.connection()
    try:
        conn.putrequest("POST", "/api/upload?name=big.png")
        conn.putheader("Transfer-Encoding", "chunked")
        conn.endheaders()
        chunk = b"\0" * (1 << 20)
        try:
            for _ in range(50):
                conn.send(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
            conn.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        resp = conn.getresponse()
        assert resp.status == 413
    finally:
        conn.close()
    assert not any((server.explorer.folder / "uploads").iterdir())
    _still_serving(client)


def test_a_non_image_upload_is_400_and_leaves_nothing(app):
    server, client, _ = app
    status, reply, _ = client.post("/api/upload?name=notes.png", raw=b"this is not a picture")
    assert status == 400 and "not an image" in reply["error"] and "'notes.png'" in reply["error"], reply
    assert str(server.explorer.folder) not in reply["error"]  # the explorer's own file names stay private
    status, reply, _ = client.post("/api/upload?name=empty.png", raw=b"")
    assert status == 400
    assert not any((server.explorer.folder / "uploads").iterdir())
    _still_serving(client)


@pytest.mark.parametrize("name", ["../../evil.png", "..", "a/b.png", "..\\evil.png", "/etc/passwd", "",
                                  "evil\x00.png", "x" * 200])
def test_a_path_traversal_upload_name_is_400(app, tmp_path, name):
    server, client, _ = app
    from urllib.parse import quote

    status, reply, _ = client.post(f"/api/upload?name={quote(name)}", raw=_png_bytes())
    assert status == 400 and "plain name" in reply["error"], reply
    assert not (server.explorer.folder.parent / "evil.png").exists()
    _still_serving(client)


@pytest.mark.parametrize("path", [
    "/api/runs/solve-1/../../../../etc/passwd", "/api/runs/..%2F..%2Fetc/passwd", "/api/runs/solve-1/%2e%2e%2fx",
    "/api/samples/..%2Fruns%2Fs0.png", "/api/samples/s0.png%00", "/static/..%2Fserver.py", "/static/../__init__.py",
    "/api/runs/solve-1/app.js", "/api/runs/solve-999/video.mp4", "/../../etc/passwd",
])
def test_no_request_reads_outside_the_app_folder(app, path):
    _, client, _ = app
    status, body, _ = client.get(path)
    assert status in (400, 404), (path, status)
    assert b"root:" not in (body if isinstance(body, bytes) else json.dumps(body).encode())
    _still_serving(client)


def _png_bytes(size: int = 16, rgb: bool = True) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    arr = (np.arange(size * size * 3) % 251).astype(np.uint8).reshape(size, size, 3)
    Image.fromarray(arr if rgb else arr[..., 0]).save(buf, format="PNG")
    return buf.getvalue()


def test_a_dropped_photo_is_checked_projected_and_joins_the_samples(app):
    server, client, _ = app
    status, reply, _ = client.post("/api/upload?name=face.png", raw=_png_bytes(40))
    assert status == 202, reply
    job = client.wait_job(reply["job"]["id"])
    assert job["state"] == "done", job
    status, info, _ = client.get("/api/info")
    photo = [s for s in info["samples"] if s["photo"]][-1]
    assert photo["label"] == "face.png" and photo["lpips"] is not None
    for url in (photo["image"], photo["target"]):
        status, png, _ = client.get(url)
        assert status == 200 and png.startswith(b"\x89PNG")
    status, reply, _ = client.post("/api/upload?name=grey.png", raw=_png_bytes(40, rgb=False))
    assert status == 400 and "grey picture" in reply["error"]  # the same checks as --image
    job = _solve(client, waypoints=["s1", photo["id"]], frames=3)  # a photo is a sample like any other
    assert client.wait_job(job)["state"] == "done"


def test_a_cancel_while_a_solve_runs_stops_it_and_the_server_goes_on(app):
    server, client, net = app
    net.delay = 0.05
    job = _solve(client, frames=17)
    client.wait_job(job, states=("running",))
    time.sleep(0.3)
    status, reply, _ = client.post("/api/cancel")
    assert status == 200 and reply["cancelling"]["id"] == job
    assert client.wait_job(job, timeout=30)["state"] == "cancelled"
    status, reply, _ = client.post("/api/cancel")  # nothing left to cancel
    assert status == 409 and "no job" in reply["error"]
    net.delay = 0.0
    assert client.wait_job(_solve(client))["state"] == "done"  # the worker takes the next one


def test_a_second_solve_while_one_runs_is_409(app):
    server, client, net = app
    net.delay = 0.05
    job = _solve(client, frames=17)
    status, reply, _ = client.post("/api/solve", {"waypoints": ["s2", "s3"], "metric": "pixel", "frames": 5})
    assert status == 409 and "running" in reply["error"], reply
    status, reply, _ = client.post("/api/map", {"metric": "pixel"})
    assert status == 409
    status, reply, _ = client.post("/api/upload?name=a.png", raw=_png_bytes(40))
    assert status == 409
    _still_serving(client)
    assert client.post("/api/cancel")[0] == 200
    assert client.wait_job(job, timeout=30)["state"] == "cancelled"


def test_50_concurrent_requests_are_all_answered(app):
    server, client, net = app
    net.delay = 0.02
    job = _solve(client, frames=17)  # the worker is busy throughout

    def one(i: int) -> tuple[int, object]:
        kind = i % 5
        if kind == 0:
            return client.get("/api/info", timeout=60)[:2]
        if kind == 1:
            return client.get(f"/api/samples/s{i % 6}.png", timeout=60)[:2]
        if kind == 2:
            return client.post("/api/solve", {"waypoints": ["s1", "s2"], "metric": "pixel", "frames": 5},
                               timeout=60)[:2]
        if kind == 3:
            return client.get("/static/app.js", timeout=60)[:2]
        return client.get("/api/job", timeout=60)[:2]

    results = []
    for _ in range(3):  # bounded: three rounds of 50 at once
        with ThreadPoolExecutor(50) as pool:
            results += list(pool.map(one, range(50)))
    statuses = [s for s, _ in results]
    assert set(statuses) <= {200, 409, 503}, statuses
    assert statuses.count(409) == sum(1 for i in range(150) if i % 5 == 2 and statuses[i] != 503)
    for status, body in results:
        if status in (409, 503):
            assert body["error"]
    assert statuses.count(200) >= 100
    net.delay = 0.0
    assert client.post("/api/cancel")[0] == 200
    assert client.wait_job(job, timeout=30)["state"] == "cancelled"
    _still_serving(client)


def test_a_client_that_leaves_mid_solve_leaves_the_server_working(app):
    server, client, net = app
    net.delay = 0.01
    # the page's event stream is open when the client goes away
    sock = socket.create_connection((client.host, client.port))
    sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    # and the solve itself is asked for by a client that does not wait for the answer
    body = json.dumps({"waypoints": ["s1", "s4"], "metric": "pixel", "frames": 9}).encode()
    post = socket.create_connection((client.host, client.port))
    post.sendall(b"POST /api/solve HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    time.sleep(0.3)
    post.close()
    sock.recv(1000)
    sock.close()
    job = server.explorer.worker.current
    assert job is not None and job.kind == "solve"
    assert client.wait_job(job.id)["state"] == "done"
    assert server.explorer.run_file(job.id, "video.mp4").stat().st_size > 0
    _still_serving(client)


def test_the_map_places_the_samples_by_their_geodesic_and_straight_line_lengths(app):
    server, client, _ = app
    status, reply, _ = client.post("/api/map", {"metric": "pixel"})
    assert status == 202
    assert client.wait_job(reply["job"]["id"])["state"] == "done"
    status, info, _ = client.get("/api/info")
    m = info["map"]
    k = len(info["samples"])  # the seeded ones, and a photo where an earlier test dropped one
    assert m["ids"] == [s["id"] for s in info["samples"]] and m["pairs"] == k * (k - 1) // 2
    g, s = np.array(m["geodesic_lengths"]), np.array(m["linear_lengths"])
    assert g.shape == s.shape == (k, k) and np.allclose(g, g.T) and (np.diag(g) == 0).all()
    assert (g <= s * 1.001 + 1e-9).all()  # a geodesic is never longer than the straight line it starts from
    assert np.array(m["geodesic"]).shape == np.array(m["linear"]).shape == (k, 2)
    assert 0 < m["median_ratio"] <= 1.001


def test_foreign_origins_and_hosts_are_refused(app):
    _, client, _ = app
    status, reply, _ = client.post("/api/cancel", headers={"Origin": "http://evil.example"})
    assert status == 403 and "other sites" in reply["error"]
    for host in ("evil.example", "evil.example:80", "127.0.0.1.evil.example", "[::2]", ""):
        status, reply, headers = client.get("/api/info", headers={"Host": host})
        # DNS rebinding: only loopback names are served on 127.0.0.1, refused with the JSON error of any request
        assert status == 400 and headers["content-type"] == "application/json", (host, reply)
        assert "answers to 127.0.0.1" in reply["error"] and "\n" not in reply["error"], reply
    _still_serving(client)


@pytest.mark.parametrize("origin", ["null", "http://evil.example", "http://127.0.0.1:1", "http://localhost:{port}",
                                    "https://127.0.0.1:{port}", "file://", "http://[", "http://127.0.0.1:{port}.evil"])
def test_a_post_from_a_page_not_this_servers_is_refused(app, origin):
    _, client, _ = app
    origin = origin.format(port=client.port)
    before = [s["id"] for s in client.get("/api/info")[1]["samples"]]
    status, reply, _ = client.post("/api/samples", {"seeds": [40, 41, 42]}, headers={"Origin": origin})
    assert status == 403 and "other sites" in reply["error"] and "\n" not in reply["error"], reply
    assert [s["id"] for s in client.get("/api/info")[1]["samples"]] == before  # the grid was not replaced


def test_a_post_from_the_servers_own_page_or_no_page_is_served(app):
    _, client, _ = app
    own = f"http://127.0.0.1:{client.port}"  # what a browser sends from the page itself
    status, reply, _ = client.post("/api/samples", {"seeds": list(range(6))}, headers={"Origin": own})
    assert status == 200 and [s["id"] for s in reply["samples"] if not s["photo"]] == [f"s{i}" for i in range(6)], reply
    status, reply, _ = client.post("/api/samples", {"seeds": list(range(6))})  # curl and scripts send none
    assert status == 200, reply


@pytest.mark.parametrize("body", [b"[" * 50_000, b'{"a":' * 12_000, b"[" * 30_000 + b"]" * 30_000])
def test_a_deeply_nested_json_body_is_400(app, body):
    _, client, _ = app
    status, reply, _ = client.post("/api/solve", raw=body, headers={"Content-Type": "application/json"})
    assert status == 400 and "nested too deeply" in reply["error"], reply
    _still_serving(client)


def test_events_resume_after_the_last_one_read(app):
    server, client, _ = app
    server.explorer.events.publish("note", text="first")
    mark = server.explorer.events.last
    server.explorer.events.publish("note", text="second")
    seen = client.events(mark, until=lambda e: e["kind"] == "note")
    assert [e["text"] for e in seen if e["kind"] == "note"] == ["second"]
    status, reply, _ = client.get("/api/events?after=abc")
    assert status == 400


def test_bad_event_numbers_are_400_and_take_no_stream_slot(app):
    """'²' passes str.isdigit() but not int(): it once failed inside the stream and kept its slot for good."""
    from latent_geodesics.app.server import MAX_STREAMS

    server, client, _ = app
    for _ in range(MAX_STREAMS + 1):
        status, reply, _ = client.get("/api/events?after=%C2%B2")
        assert status == 400 and "after must be an event number" in reply["error"], reply
    for query, headers in [("?after=-1", {}), ("?after=1e3", {}), ("?after=" + "9" * 19, {}), ("?after=%EF%BC%91", {}),
                           ("", {"Last-Event-ID": "\u00b2"}), ("", {"Last-Event-ID": "x"})]:
        status, reply, _ = client.get(f"/api/events{query}", headers=headers)
        assert status == 400 and "event number" in reply["error"] and "\n" not in reply["error"], (query, reply)
    mark = server.explorer.events.last
    server.explorer.events.publish("note", text="after the bad ones")
    seen = client.events(mark, until=lambda e: e["kind"] == "note")  # a normal stream still opens
    assert seen[-1]["text"] == "after the bad ones"


def test_the_server_binds_loopback_unless_told(tmp_path):
    explorer = Explorer(tiny_generator(), model_name="tiny", folder=tmp_path / "a", settings=SETTINGS)
    server = ExploreServer(explorer, port=0)
    try:
        assert server.socket.getsockname()[0] == "127.0.0.1" and server.url.startswith("http://127.0.0.1:")
    finally:
        explorer.close()
        server.socket.close()


def test_explore_without_the_extra_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "starlette", None)
    result = CliRunner().invoke(main, ["explore", "--model", "zoo:mnist28", "--port", "0"])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "pip install 'latent-geodesics[app]'" in lines[0], result.output


def test_explore_refuses_a_port_in_use(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        result = CliRunner().invoke(main, ["explore", "--model", "zoo:mnist28", "--device", "cpu",
                                           "--port", str(taken.getsockname()[1]), "--folder", str(tmp_path / "f")])
        assert result.exit_code == 2 and "cannot listen" in result.output, result.output
    finally:
        taken.close()


def test_worker_runs_one_job_at_a_time_and_reports_failures():
    from latent_geodesics._check import UserError
    from latent_geodesics.app.worker import Busy, Events, Worker

    events = Events()
    worker = Worker(events)
    gate = threading.Event()
    try:
        first = worker.submit("solve", lambda ctx: gate.wait(10))
        with pytest.raises(Busy):
            worker.submit("solve", lambda ctx: None)
        gate.set()
        assert worker.wait_idle(10) and first.state == "done"

        def bad(ctx):
            raise UserError("a clear line")

        job = worker.submit("solve", bad)
        assert worker.wait_idle(10) and job.state == "failed" and job.error == "a clear line"

        def boom(ctx):
            raise RuntimeError("a bug")

        job = worker.submit("solve", boom)
        assert worker.wait_idle(10) and job.state == "failed" and "RuntimeError" in job.error
        job = worker.submit("solve", lambda ctx: torch.zeros(1))  # the thread lives on after failures
        assert worker.wait_idle(10) and job.state == "done"
    finally:
        worker.close()


def _solve_here(explorer: Explorer, **kw) -> str:
    body = {"waypoints": ["s1", "s2"], "metric": "pixel", "frames": 5, **kw}
    job = explorer.solve(explorer.solve_request(body))
    assert explorer.worker.wait_idle(120)
    assert job.state == "done", job.error
    return job.id


def test_the_explorer_solves_on_every_device(tmp_path, device):
    explorer = Explorer(tiny_generator().to(device), model_name="tiny", folder=tmp_path / "app", settings=SETTINGS)
    try:
        job = _solve_here(explorer)
        arrays = np.load(explorer.run_file(job, "path.npz"))
        assert arrays["points"].shape == (1, 5, 6)
        assert explorer.samples["s1"].latent.device.type == "cpu"
    finally:
        explorer.close()


def test_a_realism_weighted_solve_on_a_model_with_a_discriminator(tmp_path):
    from latent_geodesics.generators import load_generator

    gen = load_generator("zoo:mnist28", device="cpu")
    explorer = Explorer(gen, model_name="zoo:mnist28", folder=tmp_path / "app", settings=SETTINGS)
    try:
        job = _solve_here(explorer, realism=0.5)
        report = json.loads(explorer.run_file(job, "report.json").read_text())
        assert report["realism"] == {"lambda": 0.5, "form": "conformal"}
        assert explorer.runs[job]["paths"]["geodesic"]["metric"] == "pixel + realism 0.5"  # the plot's unit
        assert report["model"]["name"] == "zoo:mnist28" and report["model"]["image_shape"] == [1, 28, 28]
    finally:
        explorer.close()


def test_old_solves_are_removed_from_the_app_folder(tmp_path, monkeypatch):
    import latent_geodesics.app.explorer as explorer_module

    monkeypatch.setattr(explorer_module, "MAX_RUNS", 2)
    explorer = Explorer(tiny_generator(), model_name="tiny", folder=tmp_path / "app", settings=SETTINGS)
    try:
        first, second, third = (_solve_here(explorer) for _ in range(3))
        assert sorted(p.name for p in (explorer.folder / "runs").iterdir()) == sorted([second, third])
        with pytest.raises(KeyError):
            explorer.run_file(first, "video.mp4")
    finally:
        explorer.close()


def test_the_explore_command_serves_until_interrupted(tmp_path):
    import os
    import re
    import signal
    import subprocess

    from explore_helpers import Client as HTTP

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "latent_geodesics.cli", "explore", "--model", "zoo:mnist28",
                             "--device", "cpu", "--port", "0", "--folder", str(tmp_path / "app"), "--seed", "3",
                             "--seed", "4"], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env, text=True)
    try:
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            assert line, "explore exited early"
            found = re.search(r"open (http://127\.0\.0\.1:\d+/)", line)
            url = found.group(1) if found else None
        client = HTTP(url)
        status, info, _ = client.get("/api/info")
        assert status == 200 and [s["id"] for s in info["samples"]] == ["s3", "s4"]
        # a client that leaves mid-upload: nothing to answer, nothing printed
        upload = socket.create_connection((client.host, client.port))
        upload.sendall(b"POST /api/upload?name=a.png HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000\r\n\r\n"
                       + b"\x89PNG" * 100)
        upload.shutdown(socket.SHUT_WR)
        assert upload.recv(1000) == b""  # the server saw it go
        upload.close()
        # Ctrl-C with an event stream open and a solve running (the default, vgg-eq: long enough to be caught)
        stream = socket.create_connection((client.host, client.port))
        stream.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert stream.recv(1000).startswith(b"HTTP/1.1 200")
        status, reply, _ = client.post("/api/solve", {"waypoints": ["s3", "s4"]})
        assert status == 202, reply
        client.wait_job(reply["job"]["id"], states=("running",))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
        stream.close()
        err = proc.stderr.read()
        assert "Traceback" not in err and "ERROR" not in err and err.strip().endswith("explore: stopped"), err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_map_of_a_linear_model_is_its_latent_geometry(linear_gen):
    """Pixel geodesics of a linear model are straight lines: both maps agree, and MDS keeps the distances."""
    from latent_geodesics.app.mapping import map_latents
    from latent_geodesics.metrics import build_metric

    z = torch.randn(5, 4, generator=torch.Generator().manual_seed(1))
    z = torch.cat([z, z[:1]])  # a repeated point: 0 apart, not solved
    found = map_latents(linear_gen, build_metric("pixel"), z, nodes=3,
                        subdivide=SubdivideConfig(level=OptimizeConfig(optimizer="lbfgs", max_steps=20)))
    g, s = np.array(found["geodesic_lengths"]), np.array(found["linear_lengths"])
    assert found["pairs"] == 15 and g[0, 5] == s[0, 5] == 0
    np.testing.assert_allclose(g, s, rtol=1e-3, atol=1e-7)
    xy = np.array(found["geodesic"])
    mds = np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(-1))
    # four latent dimensions seen in two: MDS keeps the largest part of the distances, never stretches them
    assert (mds <= g * 1.001 + 1e-6).all() and np.corrcoef(mds.ravel(), g.ravel())[0, 1] > 0.9
    assert abs(found["median_ratio"] - 1) < 1e-3


def test_explore_takes_the_model_options_of_the_other_commands(tmp_path):
    """A TorchScript model without a latent shape needs --latent-shape, as interpolate does."""
    net = torch.nn.Sequential(torch.nn.Linear(6, 3 * 8 * 8), torch.nn.Tanh(), torch.nn.Unflatten(1, (3, 8, 8)))
    script = torch.jit.script(net)
    path = tmp_path / "gen.pt"
    script.save(str(path))
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    result = CliRunner().invoke(main, ["explore", "--model", str(path), "--port", str(port),
                                       "--folder", str(tmp_path / "f")])
    assert result.exit_code == 2 and "--latent-shape" in result.output, result.output


def test_event_streams_are_bounded_and_a_closed_one_frees_its_place(app):
    from latent_geodesics.app.server import MAX_STREAMS

    _, client, _ = app

    def open_stream() -> socket.socket:
        sock = socket.create_connection((client.host, client.port))
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert sock.recv(1000).startswith(b"HTTP/1.1 200")
        return sock

    streams = [open_stream() for _ in range(MAX_STREAMS)]
    try:
        status, reply, _ = client.get("/api/events")
        assert status == 503 and "too many event streams" in reply["error"]
        _still_serving(client)
    finally:
        for sock in streams:
            sock.close()
    deadline = time.monotonic() + 10
    while True:  # the server notices the closed streams and takes new ones
        sock = socket.create_connection((client.host, client.port))
        sock.sendall(b"GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = sock.recv(1000)
        sock.close()
        if head.startswith(b"HTTP/1.1 200"):
            break
        assert time.monotonic() < deadline, head
        time.sleep(0.1)


def test_a_model_that_gives_nan_fails_the_job_with_one_line_and_the_worker_goes_on(tmp_path):
    class Nan(torch.nn.Module):
        def forward(self, z):
            x = torch.tanh(z[:, :1, None, None].expand(-1, 3, 8, 8))
            return torch.where(z[:, :1, None, None] > 8, torch.full_like(x, float("nan")), x)

    gen = Generator(Nan(), latent_shape=(6,), name="nan")
    explorer = Explorer(gen, model_name="nan", folder=tmp_path / "app", settings=SETTINGS)
    try:
        explorer.set_seeds([0, 1, 2])
        explorer.samples["s1"].latent[0, 0] = 10.0  # its image is NaN
        job = explorer.solve(explorer.solve_request({"waypoints": ["s0", "s1"], "metric": "pixel", "frames": 5}))
        assert explorer.worker.wait_idle(60)
        assert job.state == "failed" and "NaN" in job.error and "\n" not in job.error
        for event in explorer.events.since(0):  # every event stays valid JSON for the page (no NaN numbers)
            json.dumps(event, allow_nan=False)
        explorer.samples["s1"].latent[0, 0] = 0.5
        assert _solve_here(explorer, waypoints=["s0", "s1"]) and explorer.runs
    finally:
        explorer.close()


def test_any_json_a_page_may_send_is_a_request_or_one_line(tmp_path_factory):
    """Random JSON bodies, and random values in the right keys: a checked request or a UserError, nothing else."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from latent_geodesics._check import UserError

    explorer = Explorer(tiny_generator(), model_name="tiny", folder=tmp_path_factory.mktemp("fuzz") / "app",
                        settings=SETTINGS)
    json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
                               lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                           max_size=4), max_leaves=10)
    ids = st.sampled_from(["s0", "s1", "s2", "s9", "p1", "", "../s0"])
    bodies = json_values | st.fixed_dictionaries({}, optional={
        "waypoints": st.lists(ids, max_size=8) | json_values, "metric": st.sampled_from(["pixel", "vgg", "x"]) | json_values,
        "realism": json_values, "frames": st.integers(-5, 100) | json_values, "easing": json_values})
    valid = {"waypoints": ["s0", "s1"], "metric": "pixel", "realism": None, "frames": 5, "easing": "linear"}
    one_bad = st.builds(lambda key, value: {**valid, key: value}, st.sampled_from(sorted(valid)), json_values)
    bodies = bodies | one_bad

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(bodies)
    def check(body):
        for parse in (explorer.solve_request, explorer.map_request):
            try:
                parse(body)
            except UserError as e:
                assert str(e) and "\n" not in str(e)

    try:
        check()
    finally:
        explorer.close()
