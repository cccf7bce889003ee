"""The pictures of a report: a labelled grid of frames, and side-by-side video frames with titles.

Text is drawn with Pillow's default font (no font files, no network).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..rendering import upscale

GRID_MIN_SIDE = 64
"""Frames in the grid are upscaled (nearest neighbour, integer factor) until their shorter side reaches this."""

VIDEO_TILE_SIDE = 192
"""Each method's tile in the video is upscaled until its shorter side reaches this."""

VIDEO_BAND = 32
"""Height of the text bands of the video (one above all tiles, one above each tile): two bands plus a
tile are at least 256 px, so :func:`latent_geodesics.rendering.write_video` does not upscale again."""

INK = (30, 30, 30)
MUTED = (95, 95, 95)
PAPER = (255, 255, 255)


# ---------------------------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------------------------

def label_font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's default font at ``size`` pixels (the fixed small bitmap font where FreeType is missing)."""
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or built without FreeType
        return ImageFont.load_default()


def _text_size(font, text: str) -> tuple[int, int]:
    left, top, right, bottom = font.getbbox(text)
    return right - left, bottom - top


def _vertical_offset(font, cy: float) -> float:
    """The ``y`` to draw at so that text of ``font`` is centred on ``cy`` (same for every label: one baseline)."""
    _, top, _, bottom = font.getbbox("Ag")
    return cy - (top + bottom) / 2


def _draw_centred_left(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str, font,
                       fill=INK, pad: int = 8) -> None:
    """Text left-aligned (after ``pad``) and vertically centred in ``box = (x0, y0, x1, y1)``."""
    x0, y0, x1, y1 = box
    left = font.getbbox(text)[0]
    draw.text((x0 + pad - left, _vertical_offset(font, (y0 + y1) / 2)), text, font=font, fill=fill)


def _draw_centred(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str, font, fill=INK) -> None:
    """Text centred in ``box = (x0, y0, x1, y1)``."""
    x0, y0, x1, y1 = box
    left, _, right, _ = font.getbbox(text)
    draw.text(((x0 + x1) / 2 - (left + right) / 2, _vertical_offset(font, (y0 + y1) / 2)), text, font=font,
              fill=fill)


# ---------------------------------------------------------------------------------------------------------------
# Grid
# ---------------------------------------------------------------------------------------------------------------

def labelled_grid(frames: Mapping[str, np.ndarray], pair_titles: Sequence[str], *, gap: int = 2,
                  pad: int = 8) -> tuple[np.ndarray, dict]:
    """One row per method per pair, method names on the left, rows grouped by pair under a title band.

    Args:
        frames: per method (in row order) ``(B, T, H, W, 3)`` uint8, the same shape for every method.
        pair_titles: ``B`` titles, one above each group of rows.
        gap: pixels between frames and between rows.
        pad: pixels around the text.

    Returns:
        The picture ``(height, width, 3)`` uint8, and its layout (JSON-ready): ``label_width``, ``frame_size``
        ``[h, w]`` as drawn, ``columns``, ``font_px`` and ``rows``: one ``{"pair", "method", "top", "height"}``
        per row, top to bottom (pixel rows of the picture), and ``titles``: ``{"pair", "top", "height"}``.
    """
    names = list(frames)
    if not names:
        raise ValueError("no methods to draw")
    b, t = frames[names[0]].shape[:2]
    scaled = {m: upscale(f, GRID_MIN_SIDE) for m, f in frames.items()}  # (B, T, h, w, 3)
    h, w = scaled[names[0]].shape[2:4]
    font_px = int(max(12, min(24, round(h * 0.3))))
    font = label_font(font_px)
    title_font = label_font(font_px + 2)
    label_width = max(_text_size(font, m)[0] for m in names) + 2 * pad
    title_height = _text_size(title_font, "Pg")[1] + 2 * pad
    group_gap = 3 * gap * 2
    width = label_width + t * (w + gap) - gap
    height = b * (title_height + len(names) * (h + gap) - gap) + (b - 1) * group_gap
    canvas = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(canvas)
    rows, titles = [], []
    y = 0
    for pair in range(b):
        _draw_centred_left(draw, (0, y, width, y + title_height), pair_titles[pair], title_font, fill=MUTED,
                           pad=pad)
        titles.append({"pair": pair, "top": y, "height": title_height})
        y += title_height
        for m in names:
            _draw_centred_left(draw, (0, y, label_width, y + h), m, font, pad=pad)
            for j in range(t):
                canvas.paste(Image.fromarray(scaled[m][pair, j]), (label_width + j * (w + gap), y))
            rows.append({"pair": pair, "method": m, "top": y, "height": h})
            y += h + gap
        y += group_gap - gap
    layout = {"label_width": label_width, "frame_size": [h, w], "columns": t, "font_px": font_px, "rows": rows,
              "titles": titles}
    return np.asarray(canvas), layout


# ---------------------------------------------------------------------------------------------------------------
# Video
# ---------------------------------------------------------------------------------------------------------------

def side_by_side_frames(frames: Mapping[str, np.ndarray], *, hold: int = 0, gap: int = 4) -> tuple[np.ndarray, dict]:
    """Video frames: one labelled tile per method, all in sync; the pairs one after another.

    Each pair plays its ``T`` frames, then holds its last frame ``hold`` more times. A band on top says which
    pair and frame is shown. Width and height are even (H.264) and the height is at least 256 px.

    Args:
        frames: per method ``(B, T, H, W, 3)`` uint8.

    Returns:
        ``(B * (T + hold), height, width, 3)`` uint8, and ``{"frames", "height", "width", "tile", "hold",
        "methods"}``.
    """
    names = list(frames)
    b, t = frames[names[0]].shape[:2]
    tiles = {m: upscale(f, VIDEO_TILE_SIDE) for m, f in frames.items()}  # (B, T, th, tw, 3)
    th, tw = tiles[names[0]].shape[2:4]
    width = len(names) * (tw + gap) - gap
    height = 2 * VIDEO_BAND + th
    width += width % 2
    height += height % 2
    font = label_font(18)
    base = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(base)
    for k, m in enumerate(names):
        x0 = k * (tw + gap)
        _draw_centred(draw, (x0, VIDEO_BAND, x0 + tw, 2 * VIDEO_BAND), m, font)
    out = np.empty((b * (t + hold), height, width, 3), dtype=np.uint8)
    i = 0
    for pair in range(b):
        for j in list(range(t)) + [t - 1] * hold:
            canvas = base.copy()
            d = ImageDraw.Draw(canvas)
            _draw_centred(d, (0, 0, width, VIDEO_BAND), f"pair {pair + 1} of {b}   frame {j + 1} of {t}", font,
                          fill=MUTED)
            picture = np.asarray(canvas).copy()
            for k, m in enumerate(names):
                x0 = k * (tw + gap)
                picture[2 * VIDEO_BAND:2 * VIDEO_BAND + th, x0:x0 + tw] = tiles[m][pair, j]
            out[i] = picture
            i += 1
    info = {"frames": int(out.shape[0]), "height": height, "width": width, "tile": [th, tw], "hold": hold,
            "methods": names}
    return out, info
