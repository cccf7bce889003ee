"""What a notebook shows of a path: a strip of frames as PNG bytes or an ``<img>`` tag, and a small inline SVG plot of
the step distances (:meth:`latent_geodesics.api.Path._repr_html_`). Nothing is written to disk."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping

import numpy as np
from PIL import Image

from ..rendering import tile

def strip_picture(pictures: np.ndarray, count: int, height: int) -> np.ndarray:
    """At most ``count`` evenly spaced frames of ``pictures`` ``(T, H, W, 3)`` uint8 (the ends included), each resized to
    ``height`` px, side by side: ``(height, w, 3)`` uint8."""
    n = pictures.shape[0]
    idx = np.unique(np.round(np.linspace(0, n - 1, min(count, n))).astype(int))
    h, w = pictures.shape[1:3]
    size = (max(1, round(w * height / h)), height)
    frames = np.stack([np.asarray(Image.fromarray(pictures[i]).resize(size, Image.Resampling.LANCZOS
                                                                        if h > height else Image.Resampling.NEAREST))
                       for i in idx])
    return tile(frames[None])


def png_bytes(picture: np.ndarray) -> bytes:
    """An ``(H, W, 3)`` uint8 picture as PNG bytes."""
    buf = io.BytesIO()
    Image.fromarray(picture).save(buf, format="PNG")
    return buf.getvalue()


def img_tag(picture: np.ndarray, alt: str) -> str:
    """An ``<img>`` tag holding the picture as a data URL (``alt`` must be HTML-escaped already)."""
    data = base64.b64encode(png_bytes(picture)).decode("ascii")
    return f"<img src='data:image/png;base64,{data}' alt='{alt}' style='image-rendering:pixelated'/>"


_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")


def speed_svg(series: Mapping[str, np.ndarray], metric: str, width: int = 260, height: int = 120) -> str:
    """A small inline SVG of step distance against step: flat is constant speed, lower is shorter."""
    top = max((float(np.max(d)) for d in series.values() if len(d)), default=0.0) or 1.0
    pad, lines, legend = 24, [], []
    for k, (name, d) in enumerate(series.items()):
        if not len(d):
            continue
        xs = np.linspace(pad, width - 4, len(d)) if len(d) > 1 else np.array([width / 2])
        ys = height - pad - (np.asarray(d) / top) * (height - pad - 6)
        colour = _COLOURS[k % len(_COLOURS)]
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys))
        lines.append(f"<polyline fill='none' stroke='{colour}' stroke-width='1.5' points='{pts}'/>")
        legend.append(f"<text x='{pad + 4}' y='{12 + 11 * k}' font-size='10' fill='{colour}'>"
                      f"{html.escape(name)}</text>")
    axes = (f"<line x1='{pad}' y1='{height - pad}' x2='{width - 4}' y2='{height - pad}' stroke='#888'/>"
            f"<line x1='{pad}' y1='4' x2='{pad}' y2='{height - pad}' stroke='#888'/>"
            f"<text x='{pad}' y='{height - 8}' font-size='10'>step along the path</text>"
            f"<text x='2' y='{height - pad}' font-size='9'>0</text>"
            f"<text x='2' y='12' font-size='9'>{top:.2g}</text>")
    title = f"step distance ({metric}) per step"
    return (f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' "
            f"aria-label='{html.escape(title)}'><title>{html.escape(title)}</title>{axes}{''.join(lines)}"
            f"{''.join(legend)}</svg>")
