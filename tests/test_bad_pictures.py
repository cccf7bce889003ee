"""Bad pictures at ``project`` and ``--image``: one line, exit 2, nothing written; then random bytes and
random pictures (Hypothesis) at the reader, which either reads them or refuses them with one line."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cli_helpers import assert_user_error, run
from latent_geodesics._check import UserError
from latent_geodesics.project import MAX_UPSCALE, load_image


def png16(width: int, height: int, channels: int) -> bytes:
    """A 16-bit PNG (grey, RGB or RGBA) written chunk by chunk: Pillow cannot write 16-bit colour."""
    colour_type = {1: 0, 3: 2, 4: 6}[channels]
    rng = np.random.default_rng(0)
    rows = b"".join(b"\x00" + rng.integers(0, 65535, width * channels).astype(">u2").tobytes() for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 16, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def encoded(array: np.ndarray, fmt: str, mode: str | None = None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buf, format=fmt)
    return buf.getvalue()


RGB = np.random.default_rng(3).integers(0, 256, (12, 12, 3), dtype=np.uint8)
TRANSPARENT = np.concatenate([RGB, np.full((12, 12, 1), 255, np.uint8)], 2)
TRANSPARENT[0, 0, 3] = 0

BAD = {  # name: (file bytes, words the one error line must hold)
    "not an image": (b"just some text, not pixels\n", "not an image"),
    "empty file": (b"", "not an image"),
    "truncated jpeg": (encoded(RGB, "JPEG")[:200], "truncated or corrupt"),
    "truncated png": (encoded(RGB, "PNG")[:-30], "truncated or corrupt"),
    "16-bit grey": (png16(12, 12, 1), "16-bit"),
    "16-bit rgb": (png16(12, 12, 3), "16-bit"),
    "16-bit rgba": (png16(12, 12, 4), "16-bit"),
    "transparent pixel": (encoded(TRANSPARENT, "PNG", "RGBA"), "transparent pixel"),
    "grey for a colour model": (encoded(RGB[..., 0], "PNG"), "grey picture but"),
    "bilevel for a colour model": (encoded(RGB[..., 0] > 128, "PNG"), "grey picture but"),
    "tiny": (encoded(RGB[:3, :3], "PNG"), "too small"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_bad_picture_is_one_line_and_nothing_is_written(name, model_file, tmp_path):
    data, words = BAD[name]
    bad = tmp_path / "bad.png"
    bad.write_bytes(data)
    good = tmp_path / "good.png"
    good.write_bytes(encoded(RGB, "PNG"))
    out = tmp_path / "out"
    # the bad picture after a good one: every picture is checked before any work or output
    assert_user_error(run("project", good, bad, "--model", model_file, "--out", out), words)
    assert not out.exists()
    assert_user_error(run("interpolate", "--metric", "pixel", "--model", model_file, "--image", good, "--image", bad, "--out", out),
                      words)
    assert not out.exists()


def test_missing_and_folder_pictures(model_file, tmp_path):
    out = tmp_path / "out"
    assert_user_error(run("project", tmp_path / "nope.jpg", "--model", model_file, "--out", out), "does not exist")
    assert_user_error(run("project", tmp_path, "--model", model_file, "--out", out), "is a folder")
    assert_user_error(run("project", "--model", model_file, "--out", out), "Missing argument")
    assert not out.exists()


def test_existing_outputs_are_untouched_by_a_refused_picture(model_file, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.json").write_text("mine")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    assert_user_error(run("project", bad, "--model", model_file, "--out", out), "bad.jpg")
    assert (out / "report.json").read_text() == "mine" and sorted(p.name for p in out.iterdir()) == ["report.json"]


def test_smallest_accepted_size(tmp_path):
    side = int(8 / MAX_UPSCALE)  # the tiny model makes 8x8 images: 4 px is the least accepted
    ok = tmp_path / "ok.png"
    ok.write_bytes(encoded(RGB[:side, :side], "PNG"))
    assert load_image(ok, image_shape=(3, 8, 8)).shape == (3, 8, 8)
    small = tmp_path / "small.png"
    small.write_bytes(encoded(RGB[:side - 1, :side + 5], "PNG"))
    with pytest.raises(UserError, match=f"at least {side} px on its shorter side"):
        load_image(small, image_shape=(3, 8, 8))


MAGIC = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"BM", b"RIFF\x00\x00\x00\x00WEBP"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(MAGIC), raw=st.binary(max_size=400))
def test_random_bytes_are_read_or_refused_with_one_line(prefix, raw, tmp_path):
    path = tmp_path / "random.img"
    path.write_bytes(prefix + raw)
    try:
        x = load_image(path, image_shape=(3, 8, 8))
    except UserError as e:
        assert "\n" not in str(e) and str(path) in str(e)
    else:
        assert x.shape == (3, 8, 8) and torch.isfinite(x).all() and x.abs().max() <= 1


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(width=st.integers(1, 40), height=st.integers(1, 40),
       mode=st.sampled_from(["RGB", "L", "RGBA", "LA", "P", "1", "CMYK", "I;16"]),
       fmt=st.sampled_from(["PNG", "TIFF", "JPEG", "BMP", "GIF", "WEBP"]), channels=st.sampled_from([1, 3]),
       seed=st.integers(0, 2**16))
def test_random_pictures_follow_the_rules(width, height, mode, fmt, channels, seed, tmp_path):
    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).convert(mode)
    buf = io.BytesIO()
    try:
        img.save(buf, format=fmt)
    except (OSError, ValueError, KeyError):
        return  # this format cannot hold this mode
    path = tmp_path / f"pic.{fmt.lower()}"
    path.write_bytes(buf.getvalue())
    with Image.open(path) as back:
        stored = back.mode
    try:
        x = load_image(path, image_shape=(channels, 8, 8))
    except UserError as e:
        msg = str(e)
        assert "\n" not in msg
        expected = ["too small"]
        if stored in ("I;16", "I;16B", "I;16L", "I", "F"):
            expected.append("16-bit")
        if channels == 3 and stored in ("L", "1", "LA", "I;16", "I;16B", "I"):
            expected.append("grey picture")
        assert any(word in msg for word in expected), (stored, msg)
    else:
        assert x.shape == (channels, 8, 8) and x.abs().max() <= 1
        assert min(width, height) * MAX_UPSCALE >= 8
        assert not (channels == 3 and stored in ("L", "1"))
