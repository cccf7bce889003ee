"""One convention for names and flags: choices in any case on the command line, in timelines and in JOBS lines;
messages that list every choice; the same true/false words in timelines and JOBS lines."""

import click
import pytest

from cli_helpers import assert_user_error, run
from latent_geodesics._check import UserError, resolve_device
from latent_geodesics.batch import parse_jobs_text
from latent_geodesics.cli import main
from latent_geodesics.video import parse_timeline


def _choices():
    def walk(group, path=()):
        for name, cmd in sorted(group.commands.items()):
            if isinstance(cmd, click.Group):
                yield from walk(cmd, path + (name,))
            else:
                for p in cmd.params:
                    if isinstance(p.type, click.Choice):
                        yield " ".join(path + (name,)) + " " + p.opts[0], p
    return list(walk(main))


CHOICES = _choices()


@pytest.mark.parametrize("where, param", CHOICES, ids=[w for w, _ in CHOICES])
def test_every_choice_takes_any_case(where, param):
    for choice in param.type.choices:
        assert param.type.convert(choice.upper(), param, None) == choice


def test_free_names_take_any_case(tmp_path):
    r = run("interpolate", "--model", "zoo:mnist28", "--metric", "PIXEL", "--solver", "LINEAR", "--device", "AUTO",
            "--seed", 1, "--seed", 2, "--easing", "EASE-IN-OUT", "--duration", 0.5, "--format", "GIF",
            "--out", tmp_path / "o", "-q")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "video.gif").exists()


def test_the_device_message_lists_every_choice():
    assert_user_error(run("interpolate", "--device", "gpu", "--seed", 1, "--seed", 2, "--model", "zoo:mnist28",
                          "--out", "unused"), "unknown device 'gpu'; use auto, cpu, cuda or cuda:N")
    with pytest.raises(UserError, match="use auto, cpu, cuda or cuda:N"):
        resolve_device("tpu")


@pytest.mark.parametrize("word, value", [("yes", True), ("No", False), ("TRUE", True), (1, True), (0, False)])
def test_loop_takes_the_same_words_in_timelines_and_jobs(word, value):
    t = parse_timeline({"waypoints": [{"seed": 1}, {"seed": 2}], "duration": 1, "loop": word, "easing": "Ease-In"})
    assert t.loop is value and t.video.easing == "ease-in"
    (spec,) = parse_jobs_text('{"seeds": [1, 2], "loop": %s, "solver": "LINEAR"}' % (
        f'"{word}"' if isinstance(word, str) else word), "jsonl")
    fields = dict(spec.fields)
    assert fields["loop"] is value and fields["solver"] == "linear"
    for bad in ("maybe", 2):
        with pytest.raises(UserError, match=r"loop .*must be true or false \(or yes/no, 1/0\)"):
            parse_timeline({"waypoints": [{"seed": 1}, {"seed": 2}], "duration": 1, "loop": bad})
        with pytest.raises(UserError, match=r"loop must be true or false \(or yes/no, 1/0\)"):
            parse_jobs_text('{"seeds": [1, 2], "loop": %s}' % (f'"{bad}"' if isinstance(bad, str) else bad), "jsonl")


@pytest.mark.parametrize("key", ["duration", "hold", "easing", "formats", "audio"])
def test_jobs_lines_refuse_video_settings_saying_so(key):
    with pytest.raises(UserError, match=f"'{key}' is a video setting; a JOBS line solves a path"):
        parse_jobs_text('{"seeds": [1, 2], "%s": 1}' % key, "jsonl")


@pytest.mark.parametrize("seconds, text", [(0.5833, "0.583 s"), (42.5, "42.5 s"), (125, "2 min 05 s"),
                                           (3600, "1 h 00 min 00 s"), (5430.4, "1 h 30 min 30 s")])
def test_durations_read_as_people_write_them(seconds, text):
    from latent_geodesics._check import seconds_text

    assert seconds_text(seconds) == text


def test_video_lengths_and_holds_in_seconds(tmp_path):
    args = ("interpolate", "--model", "zoo:mnist28", "--metric", "pixel", "--solver", "linear", "--seed", 1, "--seed",
            2, "-q")
    r = run(*args, "--duration", 70, "--fps", 0.1, "--format", "gif", "--out", tmp_path / "o")
    assert r.exit_code == 0, r.output
    assert r.stdout.strip().endswith("(8 frames at 0.1 fps, 1 min 20 s)")  # 7 steps and the last frame
    # a hold is reported in the seconds the user typed, its frames beside it
    assert_user_error(run(*args, "--duration", 1, "--hold", 20, "--out", tmp_path / "h"),
                      "leg 1 has 12 frame(s) (1 s at 12 fps) and a hold of 20 s (240 frame(s))")


def test_quiet_keeps_the_note_on_pairs_not_solved(tmp_path):
    import numpy as np

    points = np.random.default_rng(0).standard_normal((3, 64)).astype(np.float32)
    points[1] = points[0]
    np.save(tmp_path / "p.npy", points)
    r = run("distances", tmp_path / "p.npy", "--model", "zoo:mnist28", "--metric", "pixel", "--solver", "linear",
            "--frames", 3, "--out", tmp_path / "d", "-q")
    assert r.exit_code == 0, r.output
    assert "note: 1 pair(s) of equal latents (first: points 0 and 1) have distance 0 and are not solved" in r.stderr
