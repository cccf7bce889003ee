import errno
import json
import os

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from PIL import Image

from latent_geodesics._check import MachineError, UserError, atomic_path
from latent_geodesics.rendering import staged_outputs, tile, to_uint8, upscale, write_png, write_video


def test_to_uint8_maps_range_and_repeats_gray():
    x = torch.tensor([-1.0, 0.0, 1.0]).view(1, 1, 1, 3)
    u = to_uint8(x)
    assert u.shape == (1, 1, 3, 3) and u.dtype == np.uint8
    assert u[0, 0, :, 0].tolist() == [0, 128, 255]


def test_tile_layout():
    frames = np.zeros((2, 3, 4, 5, 3), np.uint8)
    frames[1, 2] = 7
    out = tile(frames, gap=1)
    assert out.shape == (2 * 5 - 1, 3 * 6 - 1, 3)
    assert (out[5:9, 12:17] == 7).all() and out[4, 0, 0] == 255


def test_png_and_video_round_trip(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (5, 30, 20, 3), dtype=np.uint8)
    write_png(tmp_path / "a.png", tile(frames[None]))
    assert Image.open(tmp_path / "a.png").size == (5 * 22 - 2, 30)
    write_video(tmp_path / "v.mp4", frames, fps=5)
    reader = imageio.get_reader(tmp_path / "v.mp4")
    got = [f for f in reader]
    assert len(got) == 5
    assert got[0].shape == upscale(frames[0], 256).shape  # 20 px upscaled x13 -> 390 x 260


def test_atomic_write_leaves_nothing_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "x.json") as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_staged_outputs_all_or_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with staged_outputs(tmp_path) as stage:
            (stage / "a.txt").write_text("a")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with staged_outputs(tmp_path) as stage:
        (stage / "a.txt").write_text("a")
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_staged_outputs_unwritable(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot write to output folder"):
        with staged_outputs(blocker):
            pass


def _old_outputs(out):
    out.mkdir(exist_ok=True)
    (out / "a.txt").write_text("old a")
    (out / "mine.txt").write_text("user file")
    return {p.name: p.read_text() for p in out.iterdir()}


def test_failure_half_way_through_the_commit_rolls_every_file_back(tmp_path, monkeypatch):
    from latent_geodesics import rendering

    before = _old_outputs(tmp_path)
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # a.txt moved aside and the new a.txt moved in; b.txt fails
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(rendering.os, "replace", flaky)
    with pytest.raises(MachineError, match="No space left"):
        with staged_outputs(tmp_path) as stage:
            (stage / "a.txt").write_text("new a")
            (stage / "b.txt").write_text("new b")
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == before


def test_folder_in_the_way_refuses_the_commit_before_moving_anything(tmp_path):
    before = _old_outputs(tmp_path)
    (tmp_path / "b.txt").mkdir()
    with pytest.raises(UserError, match="b.txt is a folder"):
        with staged_outputs(tmp_path) as stage:
            (stage / "a.txt").write_text("new a")
            (stage / "b.txt").write_text("new b")
    assert {p.name: p.read_text() for p in tmp_path.iterdir() if p.is_file()} == before


def test_commit_of_a_killed_job_is_rolled_back_by_the_next_one(tmp_path):
    from latent_geodesics.rendering import STAGING_PREFIX, clean_stale_staging

    before = _old_outputs(tmp_path)
    # what a job killed (SIGKILL) in the middle of its commit leaves: a.txt replaced, b.txt moved in, c.txt not
    stage = tmp_path / f"{STAGING_PREFIX}999999999-x"  # no such process
    (stage / ".lg-old").mkdir(parents=True)
    (stage / ".lg-manifest.json").write_text(json.dumps({"a.txt": True, "b.txt": False, "c.txt": False}))
    os.replace(tmp_path / "a.txt", stage / ".lg-old" / "a.txt")
    (tmp_path / "a.txt").write_text("new a")
    (tmp_path / "b.txt").write_text("new b")
    (stage / "c.txt").write_text("new c")
    live = tmp_path / f"{STAGING_PREFIX}{os.getpid()}-y"  # a job of a live process: left alone
    live.mkdir()
    clean_stale_staging(tmp_path)
    assert {p.name: p.read_text() for p in tmp_path.iterdir() if p.is_file()} == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == [live.name]


def test_staged_outputs_creates_the_folder_and_removes_it_on_failure(tmp_path):
    out = tmp_path / "a" / "b"
    with pytest.raises(RuntimeError):
        with staged_outputs(out) as stage:
            (stage / "x.txt").write_text("x")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with staged_outputs(out) as stage:
        (stage / "x.txt").write_text("x")
    assert [p.name for p in out.iterdir()] == ["x.txt"]


def test_a_folder_output_replaces_the_old_folder_whole(tmp_path):
    """A video's PNG frames: a folder in the staging area replaces the folder of the same name, old frames gone."""
    (tmp_path / "frames").mkdir()
    for k in range(5):
        (tmp_path / "frames" / f"frame_{k}.png").write_text("old")
    with staged_outputs(tmp_path) as stage:
        (stage / "frames").mkdir()
        (stage / "frames" / "frame_0.png").write_text("new")
        (stage / "a.txt").write_text("new a")
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["frame_0.png"]
    assert not any(p.name.startswith(".lg-") for p in tmp_path.iterdir())


def test_a_failed_commit_brings_the_old_folder_back(tmp_path, monkeypatch):
    from latent_geodesics import rendering

    (tmp_path / "frames").mkdir()
    (tmp_path / "frames" / "frame_0.png").write_text("old")
    (tmp_path / "z.txt").write_text("old z")
    real, calls = os.replace, []

    def flaky(src, dst):
        calls.append(dst)
        if len(calls) == 3:  # frames moved aside and the new frames moved in; z.txt fails
            raise OSError(errno.ENOSPC, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(rendering.os, "replace", flaky)
    with pytest.raises(MachineError, match="No space left"):
        with staged_outputs(tmp_path) as stage:
            (stage / "frames").mkdir()
            (stage / "frames" / "frame_0.png").write_text("new")
            (stage / "frames" / "frame_1.png").write_text("new")
            (stage / "z.txt").write_text("new z")
    assert [p.name for p in (tmp_path / "frames").iterdir()] == ["frame_0.png"]
    assert (tmp_path / "frames" / "frame_0.png").read_text() == "old" and (tmp_path / "z.txt").read_text() == "old z"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames", "z.txt"]
