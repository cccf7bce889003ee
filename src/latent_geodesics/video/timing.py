"""When each frame of a video is where: a :class:`Schedule` of (leg, fraction of the leg's perceptual length).

The fractions are of *perceptual* arc length, so an easing shapes the perceived change, not the latent
distance. Frames are then looked up on the measured curve through the solver's nodes
(:func:`~latent_geodesics.solvers.frames_at_fractions`): the solve does not grow with the video.

Timing of a leg of ``N = round(duration * fps)`` frames with ``H = round(hold * fps)`` frames of rest: frames
``0 .. H`` show the waypoint it leaves (``H`` steps of zero speed: the hold), frames ``H .. N`` move along it
(frame ``N`` is the next leg's frame 0, its waypoint). An open path ends with its last waypoint, once plus its
hold; a loop does not repeat its first frame at the end: its last step leads back to frame 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._check import UserError, seconds_text
from .easing import cumulative, speed_profile
from .settings import VideoSettings, check_frame_count

JOIN_RAMP = 0.2
"""Smooth joins: the fraction of a move (at each end that meets a turn or a rest) over which the speed is brought
from zero to the easing's, by a smoothstep factor on the easing's speed."""
_GRID = 4097


@dataclass
class LegTiming:
    """How one leg is timed: its frames (hold included), the rest on the waypoint it leaves, its easing, and
    whether its speed is ramped from/to zero at the start/end (smooth joins)."""

    start: int
    frames: int
    hold_frames: int
    easing: str
    ramp_in: bool
    ramp_out: bool
    duration: float
    hold: float

    def to_dict(self) -> dict:
        return {"start_frame": self.start, "frames": self.frames, "hold_frames": self.hold_frames,
                "duration_s": self.duration, "hold_s": self.hold, "easing": self.easing,
                "ramp_in": self.ramp_in, "ramp_out": self.ramp_out}


@dataclass
class Schedule:
    """Where each of the video's ``T`` frames is.

    Attributes:
        leg: ``(T,)`` the leg each frame lies on.
        fraction: ``(T,)`` in ``[0, 1]``, the fraction of that leg's perceptual length covered.
        fps: frames per second.
        loop: the video repeats: after the last frame comes frame 0 (one more step).
        legs: per leg timing (easing schedules), else empty.
        envelope: the audio envelope the steps follow (audio schedules), ``(steps,)``.
    """

    leg: np.ndarray
    fraction: np.ndarray
    fps: float
    loop: bool
    legs: list[LegTiming] = field(default_factory=list)
    envelope: np.ndarray | None = None

    @property
    def n_frames(self) -> int:
        return int(self.leg.shape[0])

    @property
    def seconds(self) -> float:
        return self.n_frames / self.fps

    def positions(self, lengths: np.ndarray) -> np.ndarray:
        """``(T,)`` perceptual arc length from frame 0 along the whole path, given each leg's length ``(L,)``."""
        starts = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
        return starts[self.leg] + self.fraction * lengths[self.leg]

    def target_steps(self, lengths: np.ndarray) -> np.ndarray:
        """The perceptual step the schedule asks for between consecutive frames ``(T-1,)``, or ``(T,)`` for a loop
        (its last step leads back to frame 0), given each leg's length ``(L,)``."""
        pos = self.positions(lengths)
        if self.loop:
            pos = np.concatenate([pos, [float(np.sum(lengths))]])
        return np.diff(pos)

    def waypoint_frames(self) -> list[int]:
        """The first frame of each leg (on or just past the waypoint it leaves)."""
        if self.legs:
            return [leg.start for leg in self.legs]
        return [0] + [int(k) for k in np.flatnonzero(np.diff(self.leg)) + 1]


def _frames(seconds: float, fps: float) -> int:
    return int(round(seconds * fps + 1e-9))


def leg_profile(timing: LegTiming, u: np.ndarray) -> np.ndarray:
    """The speed profile of a leg's move over its time fraction ``u``, before normalisation."""
    v = speed_profile(timing.easing, u)
    if timing.ramp_in:
        v = v * _smoothstep(u / JOIN_RAMP)
    if timing.ramp_out:
        v = v * _smoothstep((1 - u) / JOIN_RAMP)
    return v


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _leg_frames(video: VideoSettings, plan: list, end_hold: float, loop: bool,
                lengths: np.ndarray | None) -> list[tuple[int, int]]:
    """Frames and hold frames of each leg: from its duration, or (``video.total``) from the whole video's length
    shared among the moves in proportion to the legs' perceptual ``lengths`` (equal without them)."""
    fps = video.fps
    holds = [_frames(hold, fps) for _, _, hold in plan]
    if video.total is None:
        return [(_frames(duration, fps), h) for (duration, _, _), h in zip(plan, holds)]
    tail = 0 if loop else 1 + _frames(end_hold, fps)
    moves = _frames(video.total, fps) - sum(holds) - tail
    if moves < len(plan):
        raise UserError(f"--total {seconds_text(video.total)} at {video.fps:g} fps leaves {max(moves, 0)} frame(s) to move in "
                        f"for {len(plan)} leg(s) after the holds; give a longer --total or shorter --hold")
    w = np.ones(len(plan)) if lengths is None else np.maximum(np.asarray(lengths, dtype=np.float64), 0)
    w = w / w.sum() if w.sum() > 0 else np.full(len(plan), 1 / len(plan))
    # shared by cumulative rounding, so that the moves add up exactly; a leg left without a frame takes one from
    # the longest
    ends = np.round(np.cumsum(w) * moves + 1e-9).astype(int)
    share = np.diff(np.concatenate([[0], ends]))
    while share.min() < 1:
        share[np.argmin(share)] += 1
        share[np.argmax(share)] -= 1
    return [(int(m) + h, h) for m, h in zip(share, holds)]


def easing_schedule(video: VideoSettings, n_legs: int, *, loop: bool, lengths: np.ndarray | None = None) -> Schedule:
    """The frames of a video through ``n_legs`` legs timed by ``video`` (durations, holds, easings, joins).

    Args:
        lengths: ``(L,)`` each leg's perceptual length: with ``video.total``, the legs share the video's time in
            proportion to them (the same mean speed on every leg).

    Raises:
        UserError: a leg's hold leaves it no frame to move in.
    """
    fps = video.fps
    plan = [video.leg(i) for i in range(n_legs)]
    end_hold = 0.0 if loop else video.leg(n_legs)[2]
    smooth = video.joins == "smooth"
    legs, leg_idx, fracs = [], [], []
    start = 0
    g = np.linspace(0.0, 1.0, _GRID)
    for i, ((duration, easing, hold), (n, h)) in enumerate(zip(plan, _leg_frames(video, plan, end_hold, loop,
                                                                                  lengths))):
        duration = n / fps if video.total is not None else duration
        if n - h < 1:
            raise UserError(f"leg {i + 1} has {n} frame(s) ({seconds_text(duration)} at {fps:g} fps) and a hold of "
                            f"{seconds_text(hold)} ({h} frame(s)): no frame is left to move in; give a longer "
                            "--duration, a higher --fps or a shorter --hold")
        next_hold = plan[i + 1][2] if i + 1 < n_legs else (plan[0][2] if loop else end_hold)
        turn_in, turn_out = i > 0 or loop, i < n_legs - 1 or loop
        v = speed_profile(easing, np.array([0.0, 1.0]))
        ramp_in = smooth and v[0] > 0 and (turn_in or hold > 0)
        ramp_out = smooth and v[1] > 0 and (turn_out or next_hold > 0)
        timing = LegTiming(start=start, frames=n, hold_frames=h, easing=easing, ramp_in=bool(ramp_in),
                           ramp_out=bool(ramp_out), duration=duration, hold=hold)
        u = np.clip((np.arange(n) - h) / (n - h), 0.0, 1.0)
        fracs.append(cumulative(g, leg_profile(timing, g), u))
        leg_idx.append(np.full(n, i))
        legs.append(timing)
        start += n
    if not loop:  # the last waypoint, once, and its hold
        tail = 1 + _frames(end_hold, fps)
        fracs.append(np.ones(tail))
        leg_idx.append(np.full(tail, n_legs - 1))
    check_frame_count(sum(len(i) for i in leg_idx))
    return Schedule(leg=np.concatenate(leg_idx), fraction=np.concatenate(fracs), fps=fps, loop=loop, legs=legs)


def audio_schedule(envelope: np.ndarray, lengths: np.ndarray, fps: float, *, loop: bool) -> Schedule:
    """Frames whose perceptual steps are proportional to ``envelope``: step ``k`` (from frame ``k`` to ``k+1``, for a
    loop the last back to frame 0) covers ``envelope[k] / sum(envelope)`` of the whole path.

    Args:
        envelope: ``(S,)`` non-negative, not all zero; ``S`` steps (``T-1`` frames' worth for an open path,
            ``T`` for a loop).
        lengths: ``(L,)`` the perceptual length of each leg.
    """
    env = np.asarray(envelope, dtype=np.float64)
    cum = np.concatenate([[0.0], np.cumsum(env)]) / env.sum()  # (S+1,), 0 .. 1
    if loop:
        cum = cum[:-1]  # the last step returns to frame 0
    total = float(np.sum(lengths))
    pos = cum * total
    bounds = np.concatenate([[0.0], np.cumsum(lengths)])
    leg = np.clip(np.searchsorted(bounds, pos, side="right") - 1, 0, len(lengths) - 1)
    frac = np.where(lengths[leg] > 0, (pos - bounds[leg]) / np.maximum(lengths[leg], 1e-30), 0.0)
    frac = np.clip(frac, 0.0, 1.0)
    frac[-1] = frac[-1] if loop else 1.0
    leg[-1] = leg[-1] if loop else len(lengths) - 1
    return Schedule(leg=leg, fraction=frac, fps=fps, loop=loop, envelope=env)
