"""A video's frames from solved legs, and what they measure: perceptual speed against the target, joins.

:func:`video_frames` measures the smooth curve through each leg's solver nodes under the metric, asks a
:class:`~latent_geodesics.video.timing.Schedule` where each frame goes, looks the frames up by arc length,
then measures the result: every step between consecutive frames, and the change of perceptual velocity at
each waypoint.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .._check import atomic_path
from ..generators import Generator
from ..metrics import Metric
from ..metrics.base import Features, cat, select
from ..curves import resample_at
from ..budget import chunk_for
from ..paths import DEFAULT_CHUNK, images_of, path_stats
from ..solvers import curve_steps, frames_at_fractions
from .settings import VideoSettings
from .timing import Schedule, audio_schedule, easing_schedule

MEASURE_DENSITY = 2
"""Points of the curve through a leg's nodes measured per frame of the leg (one generator + metric pass each)."""
CHORD_PASSES = 6
"""Most passes that move frames so that the steps measured between them (chords) follow the target's shape, not
only the arc length of the curve (one generator + metric pass over the frames each); the best placement is kept."""
ROUND_SPAN = 0.375
"""``joins="round"``: the fraction of each leg, at each end, over which the curve turns: the solver's nodes there
(but the waypoint) are left out of the smooth curve, so that it rounds the corner gently instead of within one node
interval."""
CHORD_TOL = 0.005
"""The passes stop once no measured step is further than this fraction of the peak from its target."""


@dataclass
class VideoPath:
    """The frames of a video and their measurements.

    Attributes:
        latents: ``(T, *latent_shape)``.
        images: ``(T, C, H, W)`` in ``[-1, 1]``.
        schedule: where each frame was asked to be.
        lengths: ``(L,)`` each leg's perceptual length (measured on the curve through its nodes).
        steps: ``(S,)`` the measured perceptual step between consecutive frames (``S = T - 1``, or ``T`` for a
            loop: its last step is from the last frame back to frame 0).
        targets: ``(S,)`` the steps the schedule asked for, scaled by ``chord_ratio``.
        joins: per waypoint between moves, the speeds in and out and the jump of velocity (per second).
        chord_ratio: the sum of the measured steps over the curve's length: steps between frames are chords,
            shorter than the arc across a bend (the more so in a curved feature space such as VGG's).
    """

    latents: Tensor
    images: Tensor
    schedule: Schedule
    lengths: np.ndarray
    steps: np.ndarray
    targets: np.ndarray
    joins: list[dict]
    chord_ratio: float = 1.0

    def speed_error(self) -> dict:
        """How far measured steps are from the targets, relative to the largest target step."""
        peak = float(self.targets.max()) if self.targets.size else 0.0
        diff = np.abs(self.steps - self.targets) / max(peak, 1e-30)
        return {"max": float(diff.max(initial=0.0)), "mean": float(diff.mean()) if diff.size else 0.0}

    def audio_correlation(self) -> float | None:
        env = self.schedule.envelope
        if env is None or self.steps.size < 2:
            return None
        env = env[: self.steps.size]
        if np.std(env) == 0 or np.std(self.steps) == 0:
            return None
        return float(np.corrcoef(env, self.steps)[0, 1])

    def to_dict(self) -> dict:
        fps = self.schedule.fps
        s = self.schedule
        return {
            "frames": s.n_frames,
            "fps": fps,
            "seconds": s.n_frames / fps,
            "loop": s.loop,
            "leg_lengths": self.lengths.tolist(),
            "chord_ratio": self.chord_ratio,
            "legs": [leg.to_dict() for leg in s.legs],
            "speed_error": self.speed_error(),
            "audio_correlation": self.audio_correlation(),
            "joins": self.joins,
            "steps": self.steps.tolist(),
            "target_steps": self.targets.tolist(),
            "audio_envelope": None if s.envelope is None else s.envelope.tolist(),
        }


def video_frames(generator: Generator, metric: Metric, nodes: Tensor, video: VideoSettings, *, loop: bool,
                 envelope: np.ndarray | None = None, chunk_size: int | None = DEFAULT_CHUNK) -> VideoPath:
    """Place a video's frames along solved legs and measure them.

    Args:
        nodes: ``(L, K, *latent_shape)``: leg ``i`` runs from waypoint ``i`` to ``i+1`` (the last back to the first
            for a loop).
        video: timing (ignored where ``envelope`` is given: the audio sets it).
        envelope: ``(T,)`` the audio's envelope per frame (:func:`~latent_geodesics.video.audio.envelope`): the
            video has ``T`` frames and step ``k`` follows ``envelope[k]``; or ``None``.

    Returns:
        The :class:`VideoPath`.
    """
    n_legs = nodes.shape[0]
    chunk_size = chunk_for(generator, metric, chunk_size)
    curve_of = _RoundCurve if video.joins == "round" else _LegCurves
    if envelope is None:
        schedule = easing_schedule(video, n_legs, loop=loop)  # with a total: the legs' shares are not known yet
        per_leg = max(leg.frames for leg in schedule.legs) + 1 if video.total is None else schedule.n_frames
        curve = curve_of(generator, metric, nodes, loop, per_leg * (n_legs if video.joins == "round" else 1),
                         chunk_size)
        lengths = curve.lengths
        if video.total is not None:
            schedule = easing_schedule(video, n_legs, loop=loop, lengths=lengths)
    else:
        curve = curve_of(generator, metric, nodes, loop, len(envelope), chunk_size)
        lengths = curve.lengths
        schedule = audio_schedule(envelope if loop else envelope[:-1], lengths, video.fps, loop=loop)
    arc_targets = schedule.target_steps(lengths)
    t = schedule.n_frames
    order = torch.arange(t + 1 if loop else t) % t
    placed, best = schedule, None
    for it in range(CHORD_PASSES + 1):
        latents = curve.lookup(placed)
        images = images_of(generator, latents, chunk_size=chunk_size)
        feats = _embed(metric, images, chunk_size)
        steps = _dist(metric, feats, order[:-1], order[1:])
        ratio = float(steps.sum() / max(arc_targets.sum(), 1e-30))
        error = float(np.abs(steps - arc_targets * ratio).max(initial=0.0)) / max(float(arc_targets.max()) * ratio,
                                                                                 1e-30)
        if best is None or error < best[0]:
            best = (error, placed, latents, images, feats, steps, ratio)
        if it == CHORD_PASSES or error < CHORD_TOL:
            break
        placed = _chord_corrected(schedule, placed, lengths, arc_targets, steps)
    _, placed, latents, images, feats, steps, ratio = best
    joins = _joins(metric, feats, schedule, steps) if envelope is None else []
    return VideoPath(latents=latents, images=images, schedule=placed, lengths=lengths, steps=steps,
                     targets=arc_targets * ratio, joins=joins, chord_ratio=ratio)


def _chord_corrected(schedule: Schedule, placed: Schedule, lengths: np.ndarray, targets: np.ndarray,
                     steps: np.ndarray) -> Schedule:
    """Frames moved along the curve so that the measured steps (chords between frames) follow the targets' shape.

    A chord across a bend is shorter than the arc, the more so the longer the step: where frame ``k``'s chord
    covers a fraction ``e_k`` of its arc step, the arc step asked for becomes ``targets[k] / e_k``, rescaled so that
    every stretch between two frames on waypoints keeps its arc length (waypoints and holds stay where they are).
    """
    pos = placed.positions(lengths)
    total = float(np.sum(lengths))
    ext = np.concatenate([pos, [total]]) if schedule.loop else pos
    arc = np.diff(ext)
    eff = np.where((arc > 0) & (steps > 0), steps / np.maximum(arc, 1e-30), 1.0)
    want = np.where(targets > 0, targets / np.maximum(eff, 1e-3), 0.0)
    fixed = (schedule.fraction == 0) | (schedule.fraction == 1)
    anchors = np.flatnonzero(np.concatenate([fixed, [True]]) if schedule.loop else fixed)
    anchors = np.unique(np.concatenate([[0], anchors, [len(ext) - 1]]))
    new = ext.copy()
    for p, q in zip(anchors[:-1], anchors[1:]):
        w = want[p:q]
        if q - p > 1 and w.sum() > 0:
            new[p + 1: q + 1] = ext[p] + np.cumsum(w) * ((ext[q] - ext[p]) / w.sum())
    new = new[: schedule.n_frames]
    bounds = np.concatenate([[0.0], np.cumsum(lengths)])
    leg = np.clip(np.searchsorted(bounds, new, side="right") - 1, 0, len(lengths) - 1)
    frac = np.clip((new - bounds[leg]) / np.maximum(lengths[leg], 1e-30), 0.0, 1.0)
    leg = np.where(fixed, schedule.leg, leg)
    frac = np.where(fixed, schedule.fraction, frac)
    return replace(schedule, leg=leg, fraction=frac)


class _LegCurves:
    """Each leg its own smooth curve through its nodes (it turns sharply at the waypoints), measured under the metric
    on ``MEASURE_DENSITY * frames`` points per leg."""

    def __init__(self, generator: Generator, metric: Metric, nodes: Tensor, loop: bool, frames: int,
                 chunk_size: int) -> None:
        self.generator, self.nodes = generator, nodes
        self.d_sq = curve_steps(generator, metric, nodes, max(MEASURE_DENSITY * frames + 1, 33), chunk_size=chunk_size)
        self.lengths = self.d_sq.clamp_min(0).sqrt().sum(1).double().cpu().numpy()

    def lookup(self, schedule: Schedule) -> Tensor:
        return _lookup(self.generator, self.nodes, self.d_sq, schedule)


class _RoundCurve:
    """``joins="round"``: one smooth (Catmull-Rom) curve through the nodes of every leg in turn, closed for a loop,
    so that its direction is continuous through each waypoint (the corner is rounded between the nodes next to it);
    it still passes through every waypoint. Measured under the metric on ``MEASURE_DENSITY * frames`` points."""

    def __init__(self, generator: Generator, metric: Metric, nodes: Tensor, loop: bool, frames: int,
                 chunk_size: int) -> None:
        n_legs, k = nodes.shape[:2]
        r = max(1, min(round(ROUND_SPAN * (k - 1)), (k - 1) // 2))  # node intervals bridged on each side
        keep = [0] + [j for j in range(r, k - r)] + [k - 1] if k - 1 >= 2 * r else [0, k - 1]
        keep = sorted(set(keep))
        chain = torch.cat([nodes[:1, 0]] + [leg[keep[1:]] for leg in nodes])  # (N+1, ...)
        self.waypoint_at = np.arange(n_legs + 1) * (len(keep) - 1)  # chain index of each waypoint
        n = chain.shape[0] - 1
        if loop:  # a closed curve: the points before the start and after the end are the loop's own neighbours
            chain = torch.cat([chain[-2:-1], chain, chain[1:2]])
        self.generator, self.nodes, self.loop = generator, nodes, loop
        self.lo, self.n = 1.0 if loop else 0.0, n
        self.chain = chain.flatten(1)
        self.t_out, self.t_in = _round_tangents(self.chain)
        self.per = max(1, math.ceil(MEASURE_DENSITY * frames / n))  # measured points per node interval
        where = self.lo + torch.arange(n * self.per + 1, dtype=nodes.dtype, device=nodes.device) / self.per
        dense = generator.project(self._at(where)).unsqueeze(0)
        self.d_sq = path_stats(generator, metric, dense, chunk_size=chunk_size).d_sq  # (1, n * per)
        d = self.d_sq[0].clamp_min(0).sqrt().double().cpu().numpy()
        bounds = self.waypoint_at * self.per
        cum = np.concatenate([[0.0], np.cumsum(d)])
        self.lengths = np.diff(cum[bounds])

    def _at(self, t: Tensor) -> Tensor:
        """Points ``(P, *latent_shape)`` of the curve at chain positions ``t`` ``(P,)`` (cubic Hermite)."""
        i = t.floor().long().clamp(0, self.chain.shape[0] - 2)
        u = (t - i.to(t.dtype)).unsqueeze(-1)
        h00, h10, h01, h11 = 2 * u**3 - 3 * u**2 + 1, u**3 - 2 * u**2 + u, -2 * u**3 + 3 * u**2, u**3 - u**2
        out = h00 * self.chain[i] + h10 * self.t_out[i] + h01 * self.chain[i + 1] + h11 * self.t_in[i + 1]
        return out.reshape(t.shape[0], *self.nodes.shape[2:])

    def lookup(self, schedule: Schedule) -> Tensor:
        pos = schedule.positions(self.lengths)
        total = max(float(self.lengths.sum()), 1e-30)
        fr = torch.from_numpy(np.clip(pos / total, 0.0, 1.0)).unsqueeze(0).to(self.d_sq)
        at = resample_at(self.d_sq, fr)[0]  # fractional indices into the measured points
        with torch.no_grad():
            out = self.generator.project(self._at((self.lo + at / self.per).to(self.chain.dtype)))
        for i, leg in enumerate(self.nodes):  # waypoints exactly
            for f, point in ((0.0, leg[0]), (1.0, leg[-1])):
                hit = np.flatnonzero((schedule.leg == i) & (schedule.fraction == f))
                if len(hit):
                    out[torch.from_numpy(hit).to(out.device)] = point
        return out


def _round_tangents(chain: Tensor) -> tuple[Tensor, Tensor]:
    """Tangents of a Hermite curve through ``chain`` ``(M, D)``, each node's leaving and arriving one: along the
    bisector of the directions of the chords on either side (the chord's own at the ends), as long as the chord on
    that side. So the direction is continuous through every node, and a sharp turn at a waypoint between legs of
    different node spacing is spread over the chords next to it (Catmull-Rom's tangent there points along the longer
    chord and is too long for the shorter one: the curve then turns within a frame or two)."""
    steps = chain[1:] - chain[:-1]
    chords = steps.norm(dim=1, keepdim=True)  # (M-1, 1)
    along = steps / chords.clamp_min(1e-30)
    d = torch.cat([along[:1], along[1:] + along[:-1], along[-1:]])  # the bisector of the chords' directions
    unit = d / d.norm(dim=1, keepdim=True).clamp_min(1e-30)
    t_out, t_in = unit.clone(), unit.clone()
    t_out[:-1] *= chords
    t_in[1:] *= chords
    return t_out, t_in


def _lookup(generator: Generator, nodes: Tensor, d_sq: Tensor, schedule: Schedule) -> Tensor:
    """The frames' latents ``(T, *latent_shape)``: each leg's frames looked up at their fractions in one batch."""
    n_legs = nodes.shape[0]
    per = [np.flatnonzero(schedule.leg == i) for i in range(n_legs)]
    width = max(1, max(len(p) for p in per))
    fr = torch.ones(n_legs, width, dtype=torch.float64)
    for i, p in enumerate(per):
        fr[i, : len(p)] = torch.from_numpy(schedule.fraction[p])
    with torch.no_grad():
        pts = frames_at_fractions(generator, nodes, d_sq, fr.to(d_sq.device))  # (L, width, ...)
    out = torch.empty(schedule.n_frames, *nodes.shape[2:], dtype=nodes.dtype, device=nodes.device)
    for i, p in enumerate(per):
        if len(p):
            out[torch.from_numpy(p).to(nodes.device)] = pts[i, : len(p)]
    return out


def _embed(metric: Metric, images: Tensor, chunk_size: int) -> Features:
    with torch.no_grad():
        return cat([metric.embed(x) for x in images.split(chunk_size)])


def _dist(metric: Metric, feats: Features, a: Tensor, b: Tensor) -> np.ndarray:
    """Metric distances between frames ``a[j]`` and ``b[j]`` ``(J,)``."""
    if a.numel() == 0:
        return np.zeros(0)
    dev = feats[0].device
    with torch.no_grad():
        d_sq = metric.compare(select(feats, a.to(dev)), select(feats, b.to(dev)))
    return d_sq.clamp_min(0).sqrt().double().cpu().numpy()


def _joins(metric: Metric, feats: Features, schedule: Schedule, steps: np.ndarray) -> list[dict]:
    """Perceptual velocity into and out of each waypoint where one move follows another (per second).

    Without a hold, the velocity jump at the waypoint frame ``k`` is ``|f[k+1] - 2 f[k] + f[k-1]|`` in the metric's
    feature space, from three distances by the parallelogram law; with a hold, the move stops and starts: the
    jumps are the speeds in and out. ``relative`` divides by the video's mean moving speed.
    """
    fps, t = schedule.fps, schedule.n_frames
    moving = steps[steps > 0]
    mean_speed = float(moving.mean()) * fps if moving.size else 0.0
    out = []
    for i, leg in enumerate(schedule.legs):
        if i == 0 and not schedule.loop:
            continue
        k = leg.start  # first frame on the waypoint
        k_out = leg.start + leg.hold_frames  # last frame on it
        into = steps[(k - 1) % len(steps)] if schedule.loop or k > 0 else 0.0
        out_of = steps[k_out] if k_out < len(steps) else 0.0
        if leg.hold_frames == 0:
            c = _dist(metric, feats, torch.tensor([(k - 1) % t]), torch.tensor([(k + 1) % t]))[0]
            jump = math.sqrt(max(2 * into ** 2 + 2 * out_of ** 2 - c ** 2, 0.0)) * fps
        else:
            jump = max(into, out_of) * fps
        out.append({"waypoint": i, "frame": int(k), "speed_in": into * fps, "speed_out": out_of * fps,
                    "velocity_jump": jump, "relative_jump": jump / mean_speed if mean_speed > 0 else 0.0})
    return out


def write_speed_plot(path: str | os.PathLike, vp: VideoPath, *, metric_name: str) -> Path:
    """Measured perceptual speed per frame against the schedule's target (and the audio envelope), as a PNG."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fps = vp.schedule.fps
    t = (np.arange(vp.steps.size) + 0.5) / fps
    fig = Figure(figsize=(6.4, 3.2), dpi=110, layout="constrained")
    ax = fig.subplots()
    ax.plot(t, vp.targets * fps, color="C1", linewidth=2.5,
            label="target" if abs(vp.chord_ratio - 1) < 5e-3 else f"target x {vp.chord_ratio:.2f} (chords / arc)")
    ax.plot(t, vp.steps * fps, color="C0", linewidth=1.2, marker="o" if t.size <= 60 else None, markersize=2.5,
            label="measured")
    env = vp.schedule.envelope
    if env is not None and env.max() > 0:
        scale = float(vp.targets.max()) * fps / float(env.max())
        ax.plot(t, env[: t.size] * scale, color="0.6", linewidth=1.0, linestyle=":", label="audio envelope")
    for k in vp.schedule.waypoint_frames()[1:]:
        ax.axvline(k / fps, color="0.8", linewidth=0.8, zorder=0)
    err = vp.speed_error()
    ax.set_title(f"perceptual speed ({metric_name}); max error {100 * err['max']:.1f}% of the peak", fontsize=9)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(f"{metric_name} distance / s")
    ax.legend(fontsize=8, loc="upper right")
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return Path(path)
