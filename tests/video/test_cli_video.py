"""``interpolate`` videos in seconds, end to end on the zoo's MNIST model with the pixel metric: the files are
decoded and measured (frame counts, rates, leg durations, loop joins, audio), and bad values are one line."""

import json

import imageio.v2 as imageio
import numpy as np
import pytest
from PIL import Image, ImageSequence

from cli_helpers import assert_user_error, run
from latent_geodesics.video.audio import read_audio
from latent_geodesics.video.encode import probe
from sounds import click_track, write_wav

MODEL = ("--model", "zoo:mnist28", "--metric", "pixel", "-q")


def _decode(path):
    """Frames ``(T, H, W, 3)`` and the frame rate of an MP4 or WebM."""
    reader = imageio.get_reader(path, format="FFMPEG")
    try:
        fps = reader.get_meta_data()["fps"]
        frames = np.stack([f for f in reader])
    finally:
        reader.close()
    return frames, fps


def _png_frames(folder):
    return np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.iterdir())])


def _steps(frames):
    """Pixel-metric steps between consecutive frames ``(T, H, W, 3)`` uint8 (values mapped to [-1, 1])."""
    x = frames.astype(np.float64) / 127.5
    return np.sqrt(((x[1:] - x[:-1]) ** 2).mean(axis=(1, 2, 3)))


def test_the_issue_loop(tmp_path):
    """--seed 1 --seed 2 --seed 3 --loop --duration 2 --hold 0.5 --easing ease-in-out --fps 30: a 6 s loop of
    180 frames at 30 fps whose last frame leads into the first, with speed following the easing within 10%."""
    out = tmp_path / "loop"
    r = run("interpolate", *MODEL, "--seed", 1, "--seed", 2, "--seed", 3, "--loop", "--duration", 2, "--hold", 0.5,
            "--easing", "ease-in-out", "--fps", 30, "--nodes", 9, "--format", "mp4,png", "--out", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["frames", "path.npz", "report.json", "speed.png", "strip.png",
                                                     "video.mp4"]
    frames, fps = _decode(out / "video.mp4")
    assert frames.shape[0] == 180 and fps == 30
    assert probe(out / "video.mp4")["duration_s"] == pytest.approx(6.0, abs=0.05)
    png = _png_frames(out / "frames")
    assert png.shape[0] == 180
    report = json.loads((out / "report.json").read_text())
    v = report["video"]
    assert v["settings"] == {**v["settings"], "fps": 30.0, "duration": 2.0, "hold": 0.5, "easing": "ease-in-out"}
    assert v["frames"] == 180 and v["seconds"] == 6.0 and v["loop"]
    # the loop: frame 0 is waypoint 1, held 15 steps; the last frame is not frame 0 again, its step leads into it
    assert all((png[k] == png[0]).all() for k in range(16)) and not (png[16] == png[0]).all()
    assert not (png[-1] == png[0]).all()
    assert len(v["steps"]) == 180  # the closing step (last frame -> frame 0) is measured too
    # measured perceptual speed against the easing's: within 10% of the peak, in the report and on the frames
    assert v["speed_error"]["max"] <= 0.10
    target = np.array(v["target_steps"])
    decoded = _steps(np.concatenate([png, png[:1]]))
    assert np.max(np.abs(decoded - target)) <= 0.10 * target.max()
    assert np.corrcoef(decoded, target)[0, 1] > 0.99
    assert [j["waypoint"] for j in v["joins"]] == [0, 1, 2]
    assert all(j["relative_jump"] < 0.2 for j in v["joins"])
    assert (out / "speed.png").stat().st_size > 5000


TIMELINE = """
fps = 20
hold = 0.3
joins = "sharp"
formats = ["mp4"]

[[waypoints]]
seed = 1
duration = 1.0
easing = "linear"

[[waypoints]]
seed = 2
duration = 2.0
easing = "ease-in"

[[waypoints]]
seed = 3
"""


def _arrivals(frames, rest=0.004):
    """Frames where a move arrives at a rest: a moving step followed by a still one."""
    d = _steps(frames)
    return [k for k in range(1, len(d)) if d[k - 1] > 4 * rest and d[k] < rest]


def test_timeline_legs_last_what_they_say(tmp_path):
    (tmp_path / "t.toml").write_text(TIMELINE)
    out = tmp_path / "out"
    r = run("interpolate", *MODEL, "--timeline", tmp_path / "t.toml", "--solver", "linear", "--out", out)
    assert r.exit_code == 0, r.output
    frames, fps = _decode(out / "video.mp4")
    assert fps == 20 and frames.shape[0] == 20 + 40 + 1 + 6
    # measured on the decoded video: waypoint 2 is reached at 1.0 s, waypoint 3 at 3.0 s
    assert _arrivals(frames) == [20, 60]
    v = json.loads((out / "report.json").read_text())["video"]
    assert [(leg["duration_s"], leg["easing"]) for leg in v["legs"]] == [(1.0, "linear"), (2.0, "ease-in")]
    assert v["settings"]["legs"][1] == {"duration": 2.0, "easing": "ease-in", "hold": None}
    assert v["speed_error"]["max"] <= 0.10
    assert v["joins"][0]["relative_jump"] > 0.5  # sharp: linear arrives at speed into the hold


def test_audio_drives_the_steps_and_is_muxed(tmp_path):
    wav = click_track(tmp_path / "click.wav", seconds=3.0, every=0.5)
    out = tmp_path / "beat"
    r = run("interpolate", *MODEL, "--seed", 1, "--seed", 2, "--seed", 3, "--loop", "--audio", wav, "--fps", 30,
            "--solver", "linear", "--format", "mp4,webm,png", "--out", out)
    assert r.exit_code == 0, r.output
    v = json.loads((out / "report.json").read_text())["video"]
    assert v["frames"] == 90 and v["audio_correlation"] >= 0.9
    env = np.array(v["audio_envelope"])
    decoded = _steps(np.concatenate([(png := _png_frames(out / "frames")), png[:1]]))
    assert np.corrcoef(decoded, env)[0, 1] >= 0.9  # on the written frames too
    info = probe(out / "video.mp4")
    assert len(info["audio"]) == 1 and len(info["video"]) == 1
    assert read_audio(out / "video.mp4").shape[0] / 22050 == pytest.approx(3.0, abs=0.05)
    _, fps = _decode(out / "video.mp4")
    assert fps == 30
    assert len(probe(out / "video.webm")["audio"]) == 1  # Opus in the WebM
    assert read_audio(out / "video.webm").shape[0] / 22050 == pytest.approx(3.0, abs=0.05)
    # --duration cuts the audio (and the video) shorter
    r = run("interpolate", *MODEL, "--seed", 1, "--seed", 2, "--audio", wav, "--duration", 1.5, "--fps", 30,
            "--solver", "linear", "--out", tmp_path / "short")
    assert r.exit_code == 0, r.output
    assert json.loads((tmp_path / "short" / "report.json").read_text())["video"]["frames"] == 45
    assert read_audio(tmp_path / "short" / "video.mp4").shape[0] / 22050 == pytest.approx(1.5, abs=0.05)


def test_gif_webm_and_png_frames_decode(tmp_path):
    out = tmp_path / "fmt"
    r = run("interpolate", *MODEL, "--seed", 1, "--seed", 2, "--duration", 1, "--fps", 10, "--solver", "linear",
            "--format", "gif,webm,png", "--scale", 3, "--scale-filter", "lanczos", "--out", out)
    assert r.exit_code == 0, r.output
    assert sorted(p.name for p in out.iterdir()) == ["frames", "path.npz", "report.json", "speed.png", "strip.png",
                                                     "video.gif", "video.webm"]
    frames, fps = _decode(out / "video.webm")
    assert frames.shape == (11, 84, 84, 3) and fps == 10
    png = _png_frames(out / "frames")
    assert png.shape == (11, 84, 84, 3)
    with Image.open(out / "video.gif") as gif:
        shown = [(np.asarray(f.convert("RGB")), f.info["duration"]) for f in ImageSequence.Iterator(gif)]
    assert sum(d for _, d in shown) == 1100  # 11 frames of 100 ms (identical ones merged)
    assert shown[0][0].shape == (84, 84, 3)
    assert np.abs(shown[0][0].astype(int) - png[0]).mean() < 8  # a 256-colour palette of the first frame
    # again into the same folder with fewer frames: the frames folder is replaced whole
    r = run("interpolate", *MODEL, "--seed", 1, "--seed", 2, "--duration", 0.5, "--fps", 10, "--solver", "linear",
            "--format", "png", "--out", out)
    assert r.exit_code == 0, r.output
    assert len(list((out / "frames").iterdir())) == 6


@pytest.fixture
def sounds(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"RIFF\x00\x00not a wave" * 20)
    write_wav(tmp_path / "silent.wav", np.zeros(22050))
    (tmp_path / "nodur.toml").write_text("[[waypoints]]\nseed = 1\n[[waypoints]]\nseed = 2\n")
    (tmp_path / "ok.toml").write_text("duration = 1\n[[waypoints]]\nseed = 1\n[[waypoints]]\nseed = 2\n")
    (tmp_path / "nokind.json").write_text(json.dumps({"duration": 1, "waypoints": [{"seed": 1}, {"hold": 1}]}))
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "deep.toml").write_text("a = " + "{b = " * 3000 + "1" + "}" * 3000)
    (tmp_path / "bad.toml").write_text("[[waypoints]]\nseed = 1\nduration = -1\n[[waypoints]]\nseed = 2\n")
    return tmp_path


@pytest.mark.parametrize("args,match", [
    (("--seed", 1, "--seed", 2, "--duration", -1), "--duration must be a positive"),
    (("--seed", 1, "--seed", 2, "--duration", 2, "--fps", 0), "Invalid value for '--fps'"),
    (("--seed", 1, "--seed", 2, "--easing", "bounce"), "unknown easing 'bounce'"),
    (("--seed", 1, "--seed", 2, "--hold", -0.5), "--hold must be zero or"),
    (("--seed", 1, "--seed", 2, "--format", "mp4,avi"), "unknown video format 'avi'"),
    (("--seed", 1, "--seed", 2, "--duration", 1, "--hold", 1), "no frame is left to move in"),
    (("--seed", 1, "--seed", 2, "--audio", "{d}/junk.wav"), "cannot read the audio file"),
    (("--seed", 1, "--seed", 2, "--audio", "{d}/missing.wav"), "no such file"),
    (("--seed", 1, "--seed", 2, "--audio", "{d}/silent.wav"), "is silent"),
    (("--seed", 1, "--seed", 2, "--audio", "{d}/silent.wav", "--easing", "ease-in"), "--audio sets the speed"),
    (("--timeline", "{d}/nodur.toml"), "has no duration"),
    (("--timeline", "{d}/nokind.json"), "needs exactly one of seed, latent, image"),
    (("--timeline", "{d}/missing.toml"), "cannot read the timeline"),
    (("--timeline", "{d}/deep.json"), "is nested too deeply to read"),
    (("--timeline", "{d}/deep.toml"), "is nested too deeply to read"),
    (("--timeline", "{d}/bad.toml"), "duration of waypoint 1 of the timeline {d}/bad.toml must be a positive"),
    (("--timeline", "{d}/ok.toml", "--duration", -1), "--duration must be a positive"),
    (("--seed", "9" * 5000, "--seed", 2), "a number of 5000 digits is too large; give a whole number from 0 to "
                                          "9223372036854775807"),
    (("--timeline", "{d}/ok.toml", "--seed", 1), "--timeline gives the waypoints"),
    (("--seed", 1, "--seed", 2, "--duration", 1, "--frames", 9), "drop --frames"),
    (("--z0", "{d}/two.npy", "--z1", "{d}/two.npy", "--duration", 1), "a video follows one path"),
    (("--seed", 1, "--seed", 2, "--total", 1, "--duration", 1), "not both"),
    (("--seed", 1, "--seed", 2, "--audio", "{d}/silent.wav", "--total", 1), "drop --total"),
])
def test_bad_values_are_one_line_and_write_nothing(sounds, args, match):
    np.save(sounds / "two.npy", np.zeros((2, 64), np.float32))
    out = sounds / "out"
    result = run("interpolate", "--model", "zoo:mnist28", "--metric", "pixel", "--solver", "linear",
                 *[str(a).format(d=sounds) for a in args], "--out", out)
    assert_user_error(result, match.format(d=sounds))
    assert not out.exists()


def test_timeline_mixes_seeds_and_latent_files(tmp_path):
    """A latent file waypoint (relative to the timeline's folder) is passed through exactly, between seeds."""
    (tmp_path / "in").mkdir()
    z = np.random.default_rng(5).standard_normal(64).astype(np.float32)
    np.save(tmp_path / "in" / "z.npy", z)
    (tmp_path / "in" / "t.json").write_text(json.dumps({
        "fps": 10, "loop": True, "easing": "sine-in-out",
        "waypoints": [{"seed": 1, "duration": 1}, {"latent": "z.npy", "duration": 0.5}, {"seed": 3, "duration": 1}]}))
    out = tmp_path / "out"
    r = run("interpolate", *MODEL, "--timeline", tmp_path / "in" / "t.json", "--solver", "linear", "--out", out)
    assert r.exit_code == 0, r.output
    with np.load(out / "path.npz") as data:
        points = data["points"]
        assert points.shape == (1, 25, 64) and data["nodes"].shape[0] == 3
    np.testing.assert_array_equal(points[0, 10], z)
    report = json.loads((out / "report.json").read_text())
    assert report["video"]["frames"] == 25 and report["waypoints"] == {"legs": 3, "loop": True}


def test_total_shares_the_time_by_perceptual_length(tmp_path):
    out = tmp_path / "total"
    r = run("interpolate", *MODEL, "--seed", 1, "--seed", 2, "--seed", 3, "--loop", "--total", 3, "--fps", 20,
            "--solver", "linear", "--out", out)
    assert r.exit_code == 0, r.output
    v = json.loads((out / "report.json").read_text())["video"]
    assert v["frames"] == 60 and v["settings"]["total"] == 3.0
    frames = np.array([leg["frames"] for leg in v["legs"]])
    speeds = np.array(v["leg_lengths"]) / frames  # mean perceptual speed per leg
    assert frames.sum() == 60 and speeds.max() / speeds.min() < 1.1
    assert_user_error(run("interpolate", *MODEL, "--seed", 1, "--seed", 2, "--total", 3, "--duration", 1,
                          "--out", tmp_path / "bad"), "not both")


@pytest.mark.parametrize("kinds", [("image", "seed", "image"), ("image", "image")])
def test_timeline_photos_are_projected(model_file, tmp_path, kinds):
    """Photo waypoints are projected (all photos in one batch) and the path runs through their projections;
    with every waypoint a photo, projection.png is written too."""
    rng = np.random.default_rng(7)
    points = []
    for i, kind in enumerate(kinds):
        if kind == "image":
            Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(tmp_path / f"p{i}.png")
            points.append({"image": f"p{i}.png"})
        else:
            points.append({"seed": i})
    (tmp_path / "t.json").write_text(json.dumps({"fps": 5, "duration": 1, "waypoints": points}))
    out = tmp_path / "out"
    r = run("interpolate", "--model", model_file, "--metric", "pixel", "--timeline", tmp_path / "t.json",
            "--starts", 1, "--projection-steps", 3, "--solver", "linear", "--out", out, "-q")
    assert r.exit_code == 0, r.output
    report = json.loads((out / "report.json").read_text())
    assert report["video"]["frames"] == 5 * (len(kinds) - 1) + 1
    assert (out / "projection.png").exists() == all(k == "image" for k in kinds)


def test_the_python_api(tmp_path):
    """jobs.interpolate with VideoSettings: the solver solves the nodes and a midpoint between every two, the video
    places its frames on the curve through them."""
    import torch

    from latent_geodesics.generators import load_generator
    from latent_geodesics.jobs import InterpolateSettings, interpolate, waypoint_legs
    from latent_geodesics.metrics import build_metric
    from latent_geodesics.video import VideoSettings

    gen = load_generator("zoo:mnist28", device="cpu")
    z0, z1 = waypoint_legs(torch.cat([gen.sample_latents(1, seed=s) for s in (1, 2, 3)]), loop=True)
    report = interpolate(gen, build_metric("pixel"), z0, z1, tmp_path / "api",
                         InterpolateSettings(solver="optimize", nodes=5, frames=99),
                         model_name="zoo:mnist28", join=True, loop=True,
                         video=VideoSettings(fps=10, duration=1, easing="ease-out", formats=("gif",)))
    assert report["settings"]["nodes"] == 5 and report["settings"]["frames"] == 9 and report["video"]["frames"] == 30
    with np.load(tmp_path / "api" / "path.npz") as data:
        assert data["nodes"].shape == (3, 9, 64) and data["points"].shape == (1, 30, 64)
    assert sorted(p.name for p in (tmp_path / "api").iterdir()) == ["path.npz", "report.json", "speed.png",
                                                                    "strip.png", "video.gif"]


def test_run_interpolate_takes_video_settings_and_timelines(tmp_path):
    from latent_geodesics.settings import Settings
    from latent_geodesics.video import parse_timeline
    from latent_geodesics.workflows.interpolate import run_interpolate

    base = Settings().with_fields({"model": "zoo:mnist28", "metric": "pixel", "solver": "linear"})
    timeline = parse_timeline({"fps": 10, "duration": 1, "formats": ["png"],
                               "waypoints": [{"seed": 4}, {"seed": 5, "hold": 0.5}]})
    report = run_interpolate(base, tmp_path / "t", device="cpu", timeline=timeline)
    assert report["video"]["frames"] == 10 + 1 + 5 and report["config"]["timeline"]["waypoints"][1]["seed"] == 5
    assert len(list((tmp_path / "t" / "frames").iterdir())) == 16
    from latent_geodesics._check import UserError
    with pytest.raises(UserError, match="--timeline gives the waypoints"):
        run_interpolate(base.with_fields({"seeds": (1, 2)}), tmp_path / "u", device="cpu", timeline=timeline)
    assert not (tmp_path / "u").exists()


def test_round_joins_from_the_command_line(tmp_path):
    out = tmp_path / "round"
    r = run("interpolate", *MODEL, "--seed", 1, "--seed", 2, "--seed", 3, "--loop", "--total", 3, "--fps", 20,
            "--joins", "round", "--solver", "linear", "--nodes", 9, "--out", out)
    assert r.exit_code == 0, r.output
    v = json.loads((out / "report.json").read_text())["video"]
    assert v["settings"]["joins"] == "round" and len(v["joins"]) == 3 and v["speed_error"]["max"] < 0.1
    with np.load(out / "path.npz") as data:
        starts = [leg["start_frame"] for leg in v["legs"]]
        np.testing.assert_array_equal(data["points"][0, starts], data["nodes"][:, 0])  # the waypoints, exactly
