"""VideoSettings and the timeline file: one-line errors for bad values, round trips through mappings."""

import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latent_geodesics._check import UserError
from latent_geodesics.video import (FORMATS, LegSpec, Timeline, VideoSettings, Waypoint, easing_names,
                                    parse_timeline, read_timeline)


@pytest.mark.parametrize("kwargs,match", [
    ({"duration": -1.0}, "--duration must be a positive"),
    ({"duration": 0.0}, "--duration must be a positive"),
    ({"hold": -0.5}, "--hold must be zero or"),
    ({"fps": 0.0}, "--fps must be from"),
    ({"fps": float("nan")}, "--fps must be from"),
    ({"easing": "bounce"}, "unknown easing 'bounce'"),
    ({"formats": ("mp4", "avi")}, "unknown video format 'avi'"),
    ({"formats": ("gif", "gif")}, "names a format twice"),
    ({"formats": ()}, "at least one --format"),
    ({"scale": 0}, "--scale must be"),
    ({"scale_filter": "cubic"}, "unknown scale filter"),
    ({"joins": "bevel"}, "unknown join"),
    ({"fps": 1000.0, "duration": 3600.0}, "more than 10000"),
    ({"audio": "a.wav", "easing": "ease-in"}, "--audio sets the speed"),
    ({"audio": "a.wav", "hold": 1.0}, "--audio sets the speed"),
])
def test_bad_values(kwargs, match):
    with pytest.raises(UserError, match=match) as e:
        VideoSettings(**kwargs)
    assert "\n" not in str(e.value)


def test_legs_take_their_overrides():
    v = VideoSettings(duration=2.0, hold=0.5, easing="ease-in",
                      legs=(LegSpec(duration=3.0), LegSpec(easing="linear", hold=0.0)))
    assert v.leg(0) == (3.0, "ease-in", 0.5)
    assert v.leg(1) == (2.0, "linear", 0.0)
    assert v.leg(2) == (2.0, "ease-in", 0.5)
    assert v.total_seconds(3) == 7.0


def test_unknown_keys_are_errors():
    with pytest.raises(UserError, match="unknown setting 'speed'"):
        VideoSettings.from_dict({"fps": 30, "speed": 2})
    with pytest.raises(UserError, match="must be a number"):
        VideoSettings.from_dict({"fps": "fast"})
    with pytest.raises(UserError, match="must be a whole number"):
        VideoSettings.from_dict({"scale": 2.5})


legs = st.builds(LegSpec, duration=st.none() | st.floats(0.1, 10), easing=st.none() | st.sampled_from(easing_names()),
                 hold=st.none() | st.floats(0, 10))
videos = st.builds(VideoSettings, fps=st.floats(1, 60), duration=st.none() | st.floats(0.1, 10),
                   hold=st.floats(0, 5), easing=st.sampled_from(easing_names()),
                   joins=st.sampled_from(["smooth", "sharp"]),
                   formats=st.lists(st.sampled_from(FORMATS), min_size=1, max_size=4, unique=True).map(tuple),
                   scale=st.none() | st.integers(1, 64), scale_filter=st.sampled_from(["nearest", "lanczos"]),
                   legs=st.lists(legs, max_size=4).map(tuple))


@settings(max_examples=80, deadline=None)
@given(videos)
def test_settings_round_trip(v):
    d = json.loads(json.dumps(v.to_dict()))
    assert VideoSettings.from_dict(d) == v


@settings(max_examples=60, deadline=None)
@given(seeds=st.lists(st.integers(0, 2**63 - 1), min_size=2, max_size=6), loop=st.booleans(),
       video=videos, data=st.data())
def test_timeline_round_trip(seeds, loop, video, data):
    """A timeline written out as its file holds it reads back the same."""
    n = len(seeds)
    per = tuple(data.draw(legs) for _ in range(n))
    if not loop:  # the last waypoint of an open path carries only a hold
        per = per[:-1] + (LegSpec(hold=per[-1].hold),)
    video = replace(video, duration=video.duration or 1.0, legs=per)
    t = Timeline(waypoints=tuple(Waypoint("seed", s) for s in seeds), loop=loop, video=video)
    back = parse_timeline(json.loads(json.dumps(t.to_dict())))
    assert back == t


TOML = """
fps = 24
easing = "ease-in-out"
loop = true
formats = ["mp4", "gif"]

[[waypoints]]
seed = 1
duration = 2.5
hold = 0.25

[[waypoints]]
latent = "z.npy"
duration = 1
easing = "linear"

[[waypoints]]
image = "photos/a.png"
duration = 3
"""


def test_toml_and_json_read_the_same(tmp_path):
    (tmp_path / "t.toml").write_text(TOML)
    t = read_timeline(tmp_path / "t.toml")
    assert t.loop and t.n_legs == 3 and t.video.fps == 24 and t.video.formats == ("mp4", "gif")
    assert t.waypoints[1] == Waypoint("latent", str(tmp_path / "z.npy"))  # relative to the file
    assert t.waypoints[2] == Waypoint("image", str(tmp_path / "photos/a.png"))
    assert [t.video.leg(i) for i in range(3)] == [(2.5, "ease-in-out", 0.25), (1.0, "linear", 0.0),
                                                 (3.0, "ease-in-out", 0.0)]
    import tomllib
    (tmp_path / "t.json").write_text(json.dumps(tomllib.loads(TOML)))
    from_json = read_timeline(tmp_path / "t.json")
    assert from_json.video.timeline == str(tmp_path / "t.json") and t.video.timeline == str(tmp_path / "t.toml")
    assert replace(from_json, video=replace(from_json.video, timeline=t.video.timeline)) == t
    assert read_timeline(tmp_path / "t.toml", fps=50.0).video.fps == 50.0  # the command line overrides


@pytest.mark.parametrize("data,match", [
    ({"fps": 30}, "has no waypoints"),
    ({"waypoints": [{"seed": 1}]}, "at least two"),
    ({"waypoints": [{"seed": 1, "duration": 1}, {}]}, "waypoint 2 of the timeline needs exactly one of seed"),
    ({"waypoints": [{"seed": 1, "latent": "a.npy", "duration": 1}, {"seed": 2}]}, "got seed, latent"),
    ({"waypoints": [{"seed": 1}, {"seed": 2}]}, "leg 1 of the timeline (leaving waypoint 1) has no duration"),
    ({"waypoints": [{"seed": 1, "duration": 1}, {"seed": 2}], "loop": True}, "leg 2 of the timeline"),
    ({"waypoints": [{"seed": 1, "duration": 1}, {"seed": 2, "duration": 1}]}, "last of an open path"),
    ({"waypoints": [{"seed": -1, "duration": 1}, {"seed": 2}]}, "seed of waypoint 1"),
    ({"waypoints": [{"seed": 1, "duration": -2}, {"seed": 2}]},
     "duration of waypoint 1 of the timeline must be a positive number of seconds up to 3600, got -2; give e.g. "
     "duration = 2"),
    ({"waypoints": [{"seed": 1}, {"seed": 2, "hold": -1}]}, "hold of waypoint 2 of the timeline must be zero or"),
    ({"waypoints": [{"seed": 1}, {"seed": 2}], "duration": -1}, "duration of the timeline must be a positive"),
    ({"waypoints": [{"seed": 1}, {"seed": 2}], "duration": 1, "fps": 0}, "fps of the timeline must be from 0.01"),
    ({"waypoints": [{"seed": 1}, {"seed": 2}], "total": 1e9}, "total of the timeline must be a positive"),
    ({"waypoints": [{"seed": 1}, {"seed": 2}], "duration": 1, "scale": 0}, "scale of the timeline must be a whole"),
    ({"waypoints": [{"seed": 1}, {"seed": 2}], "duration": 1, "formats": ["avi"]},
     "unknown video format 'avi' in formats of the timeline"),
    ({"waypoints": [{"seed": 1, "duration": 1, "easing": "wobble"}, {"seed": 2}]}, "unknown easing 'wobble'"),
    ({"waypoints": [{"seed": 1, "speed": 1}, {"seed": 2}], "duration": 1}, "unknown setting 'speed'"),
    ({"waypoints": [{"seed": 1}, {"seed": 2}], "duration": 1, "colour": "red"}, "unknown setting 'colour'"),
    ({"waypoints": [{"seed": 1}, {"seed": 2}], "duration": 1, "loop": "maybe"}, "loop in the timeline must be"),
    ([1, 2], "must be a table"),
])
def test_bad_timelines(data, match):
    with pytest.raises(UserError, match=match.replace("(", r"\(").replace(")", r"\)")) as e:
        parse_timeline(data)
    assert "\n" not in str(e.value)


def test_command_line_values_beside_a_timeline_are_named_as_options(tmp_path):
    (tmp_path / "t.toml").write_text("duration = 1\n[[waypoints]]\nseed = 1\n[[waypoints]]\nseed = 2\n")
    with pytest.raises(UserError, match="^--duration must be a positive number of seconds up to 3600, got -1; give "
                                        "e.g. --duration 2$"):
        read_timeline(tmp_path / "t.toml", duration=-1.0)
    with pytest.raises(UserError, match="^--fps must be from"):
        read_timeline(tmp_path / "t.toml", fps=0.0)


def test_unreadable_timeline_files(tmp_path):
    with pytest.raises(UserError, match="cannot read the timeline"):
        read_timeline(tmp_path / "missing.json")
    (tmp_path / "bad.toml").write_text("fps = = 3")
    with pytest.raises(UserError, match="is not valid TOML"):
        read_timeline(tmp_path / "bad.toml")
    (tmp_path / "bad.json").write_text("{fps: 3")
    with pytest.raises(UserError, match="is not valid JSON"):
        read_timeline(tmp_path / "bad.json")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10**20) | st.floats(allow_nan=True) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
keys = st.sampled_from(["seed", "latent", "image", "duration", "easing", "hold", "fps", "loop", "formats", "scale",
                        "total", "joins", "audio", "legs", "waypoints", "x"])
near_timelines = st.fixed_dictionaries(
    {"waypoints": st.lists(st.dictionaries(keys, json_values, max_size=3), max_size=4)},
    optional={k: json_values for k in ["fps", "duration", "hold", "easing", "loop", "formats", "scale", "total"]})


@settings(max_examples=200, deadline=None)
@given(data=json_values | near_timelines)
def test_any_mapping_is_a_timeline_or_one_line(data):
    """Whatever a timeline file holds, reading it gives a timeline or one UserError line, never a traceback."""
    try:
        t = parse_timeline(data)
    except UserError as e:
        assert "\n" not in str(e) and str(e)
    else:
        assert len(t.waypoints) >= 2 and t.video.fps > 0


@pytest.mark.parametrize("name, text, words", [
    ("deep.json", "[" * 100_000 + "]" * 100_000, "is nested too deeply to read"),
    ("deep.toml", "a = " + "[" * 100_000 + "]" * 100_000, "is nested too deeply to read"),
    ("inline.toml", "a = " + "{b = " * 3000 + "1" + "}" * 3000, "is nested too deeply to read"),
    ("dup.json", '{"duration": 1, "duration": 2, "waypoints": [{"seed": 1}, {"seed": 2}]}',
     "gives the key 'duration' twice in one table; give each key once"),
    ("dup2.json", '{"duration": 1, "waypoints": [{"seed": 1, "seed": 3}, {"seed": 2}]}', "gives the key 'seed' twice"),
    ("big.json", '{"duration": 1, "waypoints": [{"seed": ' + "9" * 5000 + '}, {"seed": 2}]}',
     "holds a number too long to read (more than 4300 digits); seeds are whole numbers from 0 to 9223372036854775807"),
    ("big.toml", "duration = 1\n[[waypoints]]\nseed = " + "9" * 5000 + "\n[[waypoints]]\nseed = 2\n",
     "holds a number too long to read"),
])
def test_unreadable_timelines_are_one_line(tmp_path, name, text, words):
    (tmp_path / name).write_text(text)
    with pytest.raises(UserError) as e:
        read_timeline(tmp_path / name)
    assert words in str(e.value) and "\n" not in str(e.value) and "sys.set_int_max_str_digits" not in str(e.value)
