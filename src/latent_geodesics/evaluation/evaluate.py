"""Measure path sets and their baselines, streaming the frames in chunks: :func:`evaluate_paths`.

Each frame goes through the generator once, and through each metric's feature network once; frames are
streamed in chunks of ``chunk_size`` so memory stays bounded for any ``B`` and ``N``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from .._check import UserError, as_tensor, check_latents, check_positive_int
from ..generators import Generator
from ..judges import Judge, judge_path_stats
from ..metrics import Features, Metric, cat, select
from ..budget import chunk_for
from ..data_realism import DataRealism
from ..paths import DEFAULT_CHUNK, INITS, baseline_path, energy_of, length_of
from ..realism import Calibration
from .functional import (brightness_contrast, critic_scores, max_over_mean_step, mid_path_change, mid_path_ratio,
                         step_cv)

_PPL = "\0ppl"  # PPL's similarity among the measured metrics: a name no metric has
PATH_METHOD = "path"
"""Key of the evaluated paths in a report's ``methods``; the baselines use their own names."""


class _ConsecutiveDistances:
    """Squared distances between consecutive frames of a path-major frame stream, fed in chunks.

    Each frame is embedded once; the last frame's features of a chunk are kept to compare with the first
    frame of the next, so only ``chunk + 1`` frames' features are ever held.
    """

    def __init__(self, metric: Metric) -> None:
        self.metric = metric
        self._last: Features | None = None
        self._out: list[Tensor] = []

    def add(self, images: Tensor) -> None:
        feats = self.metric.embed(images)
        both = feats if self._last is None else cat([self._last, feats])
        if both[0].shape[0] > 1:
            self._out.append(self.metric.compare(select(both, slice(0, -1)), select(both, slice(1, None))))
        self._last = tuple(f[-1:].clone() for f in feats)  # clone: do not keep the whole chunk alive

    def result(self, b: int, n_points: int) -> Tensor:
        """``(B, N)``: drops the distances across path boundaries (last frame of one path, first of the next)."""
        d = torch.cat(self._out)  # (B * (N+1) - 1,)
        d = torch.cat([d, d.new_zeros(1)]).view(b, n_points)
        return d[:, :-1]


def _measure(generator: Generator, metrics: Mapping[str, Metric], points: Tensor, chunk_size: int,
             per_image: bool = False, judge: Judge | None = None, data_realism: DataRealism | None = None) -> dict:
    """Raw per-step and per-frame tensors for one path set ``(B, N+1, *latent_shape)``.

    Returns:
        ``{"d_sq": {name: (B, N)}, "brightness": (B, N+1), "contrast": (B, N+1), "critic": (B, N+1) or None,
        "judge": (B, N+1, K) class probabilities or None, "data_features": (B, N+1, D) or None}``.
    """
    b, n1 = points.shape[:2]
    z = points.reshape(b * n1, *points.shape[2:])
    dists = {name: _ConsecutiveDistances(m) for name, m in metrics.items()}
    bright, contrast, critic, probs, data_feats = [], [], [], [], []
    with torch.no_grad():
        for zc in z.split(chunk_size):
            images = generator(zc)  # (chunk, C, H, W)
            br, co = brightness_contrast(images)
            bright.append(br)
            contrast.append(co)
            if generator.discriminator is not None:
                critic.append(critic_scores(generator, images, per_image=per_image))
            if judge is not None:
                probs.append(judge(images))
            if data_realism is not None:
                data_feats.append(data_realism.embed(images))
            for acc in dists.values():
                acc.add(images)
    return {
        "d_sq": {name: acc.result(b, n1) for name, acc in dists.items()},
        "brightness": torch.cat(bright).view(b, n1),
        "contrast": torch.cat(contrast).view(b, n1),
        "critic": torch.cat(critic).view(b, n1) if critic else None,
        "judge": torch.cat(probs).view(b, n1, -1) if probs else None,
        "data_features": torch.cat(data_feats).view(b, n1, -1) if data_feats else None,
    }


def _floats(t: Tensor) -> list:
    """Tensor -> nested lists of Python floats, with ``None`` for NaN/inf (JSON has no NaN)."""
    def clean(x):
        if isinstance(x, list):
            return [clean(v) for v in x]
        return float(x) if math.isfinite(x) else None
    return clean(t.detach().double().cpu().tolist())


def _data_realism(feats: Tensor, judge: DataRealism) -> tuple[dict, float | None]:
    """Per-frame realism scores and per-path lowest and mean over the interior frames (the endpoints are the same
    for every method; ``None`` without interior frames), and the Fréchet distance of all paths' interior frames,
    pooled, to the real pictures. ``feats``: ``(B, N+1, D)``."""
    b, n1 = feats.shape[:2]
    score = judge.scores(feats.flatten(0, 1)).view(b, n1)
    inner = score[:, 1:-1]  # (B, N-1)
    empty = torch.full((b,), math.nan)
    frames = b * (n1 - 2)
    out = {"score": _floats(score), "min": _floats(inner.amin(1) if n1 > 2 else empty),
           "mean": _floats(inner.mean(1) if n1 > 2 else empty), "interior_frames": frames,
           "frechet_real_floor": judge.real_floor(frames) if frames else None}
    return out, judge.frechet(feats[:, 1:-1].flatten(0, 1)) if frames else None


def _summarise(raw: dict, calibration: Calibration | None = None, data_realism: DataRealism | None = None) -> dict:
    """Per-pair numbers of one path set, JSON-ready."""
    metrics = {}
    for name, d_sq in raw["d_sq"].items():
        d = d_sq.clamp_min(0).sqrt()
        metrics[name] = {
            "length": _floats(length_of(d_sq)),
            "energy": _floats(energy_of(d_sq)),
            "step_cv": _floats(step_cv(d)),
            "max_over_mean_step": _floats(max_over_mean_step(d)),
            "step_distances": _floats(d),
        }
    out = {
        "metrics": metrics,
        "brightness": _floats(raw["brightness"]),
        "contrast": _floats(raw["contrast"]),
        "mid_brightness_change": _floats(mid_path_change(raw["brightness"])),
        "mid_contrast_ratio": _floats(mid_path_ratio(raw["contrast"])),
        "realism": None,
    }
    if raw["critic"] is not None:
        c = raw["critic"]
        out["realism"] = {"critic": _floats(c), "min": _floats(c.amin(1)), "mean": _floats(c.mean(1))}
        if calibration is not None:
            p = calibration.realism(c.double())  # (B, N+1)
            out["realism"].update({
                "p": _floats(p),
                "p_min": _floats(p.amin(1)),
                "p_p5": _floats(torch.quantile(p, 0.05, dim=1)),
                "p_mean": _floats(p.mean(1)),
                "frac_below_random_p5": _floats((p < calibration.p5).double().mean(1)),
                "random_p5": calibration.p5,
            })
    out["judge"] = None
    if raw.get("judge") is not None:
        stats = judge_path_stats(raw["judge"])
        out["judge"] = {"confidence": _floats(stats["confidence"]), "classes": stats["classes"].tolist(),
                        "confidence_min": _floats(stats["confidence_min"]),
                        "confidence_mean": _floats(stats["confidence_mean"]),
                        "off_class": _floats(stats["off_class"])}
    out["data_realism"] = out["frechet"] = None
    if raw.get("data_features") is not None and data_realism is not None:
        out["data_realism"], out["frechet"] = _data_realism(raw["data_features"], data_realism)
    return out


def _checked_sets(generator: Generator, points: Tensor | Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The path sets to evaluate by name (one set: ``"path"``), each ``(B >= 1, N+1 >= 2, *latent_shape)``.

    Raises:
        UserError: no set, a set of the wrong shape or with non-finite points, or sets between different
            endpoints (or different numbers of pairs).
    """
    latent_shape = tuple(generator.latent_shape)
    single = not isinstance(points, Mapping)
    sets = {PATH_METHOD: points} if single else dict(points)
    if not sets:
        raise UserError("no paths to evaluate")
    for label, p in sets.items():
        what = "paths" if single else f"paths of {label!r}"
        p = as_tensor(p, what=what)
        if p.dim() != 2 + len(latent_shape) or tuple(p.shape[2:]) != latent_shape or p.shape[1] < 2 \
                or p.shape[0] == 0:
            raise UserError(f"{what} have shape {tuple(p.shape)}; expected (pairs >= 1, frames >= 2, "
                            f"{', '.join(map(str, latent_shape))}) for this model")
        sets[label] = check_latents(p.flatten(0, 1), latent_shape, what=what).view(p.shape)
    first_label, first = next(iter(sets.items()))
    for label, p in sets.items():
        if p.shape[0] != first.shape[0] or not (torch.allclose(p[:, 0], first[:, 0], atol=1e-5)
                                                and torch.allclose(p[:, -1], first[:, -1], atol=1e-5)):
            raise UserError(f"paths of {label!r} do not join the same endpoints as those of {first_label!r}")
    return sets


def _lengths_vs_linear(generator: Generator, metrics: Mapping[str, Metric], sets: Mapping[str, Tensor],
                       raw: Mapping[str, dict], chunk_size: int, per_image: bool) -> dict[str, dict[str, Tensor]]:
    """Each set's length over the straight line's with the same number of frames, per metric: ``(B,)``.

    NaN where the straight line has length 0. ``sets`` holds ``"linear"``; a straight line with another frame
    count is measured here.
    """
    first = next(iter(sets.values()))
    linear_d_sq = {sets["linear"].shape[1]: raw["linear"]["d_sq"]}  # by frame count
    out: dict[str, dict[str, Tensor]] = {}
    for method, r in raw.items():
        n1 = sets[method].shape[1]
        if n1 not in linear_d_sq:
            line = baseline_path(generator, "linear", first[:, 0], first[:, -1], n1 - 1)
            linear_d_sq[n1] = _measure(generator, metrics, line, chunk_size, per_image)["d_sq"]
        out[method] = {}
        for name, d_sq in r["d_sq"].items():
            ref = length_of(linear_d_sq[n1][name])
            out[method][name] = torch.where(ref > 0, length_of(d_sq) / ref.clamp_min(1e-30),
                                            torch.full_like(ref, math.nan))
    return out


def evaluate_paths(generator: Generator, metrics: Mapping[str, Metric], points: Tensor | Mapping[str, Tensor], *,
                   chunk_size: int | None = DEFAULT_CHUNK, baselines: Sequence[str] = ("linear", "slerp"),
                   calibration: Calibration | None = None, judge: Judge | None = None,
                   ppl_metric: Metric | None = None, data_realism: DataRealism | None = None) -> dict:
    """Measure paths and the baseline paths between the same endpoints with the same number of segments.

    Args:
        generator: the model the paths live in (its discriminator, if any, scores realism).
        metrics: metrics by the name the report uses, e.g. ``{"vgg-eq": build_metric("vgg-eq")}``; all on the
            generator's device.
        points: ``(B, N+1, *latent_shape)``, ``N >= 1``, on the generator's device, reported as ``"path"``;
            or several such path sets by name (e.g. the methods of a ``compare``), each between the same
            ``B`` pairs of endpoints, possibly with different ``N``.
        chunk_size: frames per generator + metric call.
        baselines: names from :data:`latent_geodesics.paths.INITS`, built with the first path set's ``N``
            unless a path set has that name already. Each set's ``length_vs_linear`` is against the straight
            line with its own ``N``.
        calibration: maps critic scores to realism ``p`` (:func:`latent_geodesics.realism.calibrate`); with
            it, ``realism`` also holds ``p`` per frame and per pair ``p_min``, ``p_p5``, ``p_mean`` and
            ``frac_below_random_p5`` (the fraction of frames less realistic than 95% of random samples).
        judge: an independent classifier (:mod:`latent_geodesics.judges`, e.g. ``judge_for(generator)``);
            with it each set also holds ``judge``: ``confidence`` and ``classes`` ``(B, N+1)``, and per pair
            ``confidence_min``, ``confidence_mean`` and ``off_class`` (fraction of interior frames whose
            class is neither endpoint's).
        ppl_metric: PPL's similarity (:func:`latent_geodesics.ppl.ppl_metric`); with it each set also holds
            ``ppl_energy`` (per pair, the LPIPS energy ``N * sum_i LPIPS(x_i, x_{i+1})``, on PPL's scale: for
            the interpolation of PPL itself its mean is the full-sampling PPL of those pairs) and
            ``ppl_energy_mean``.
        data_realism: real pictures' judge (:mod:`latent_geodesics.data_realism`, e.g.
            ``data_realism_for(generator)``); with it the report holds its ``info()`` under ``data_realism``, and
            each set ``data_realism``: ``score`` ``(B, N+1)`` (Kynkäänniemi's realism score, 1 = as typical as
            real pictures), per pair ``min`` and ``mean`` over the interior frames, ``interior_frames`` and
            ``frechet_real_floor`` (the Fréchet distance of as many real pictures), and ``frechet``: the
            Fréchet distance of the set's interior frames to the real pictures.

    Returns:
        JSON-ready ``{"pairs": B, "frames": N+1, "metrics": [names], "methods": {"path": M, "linear": M, ...}}``
        (``frames`` is ``None`` and ``frames_by_method`` gives each set's ``N+1`` when they differ), where each
        ``M`` holds per pair (lists of length ``B``): ``metrics[name]`` with ``length``,
        ``energy``, ``step_cv``, ``max_over_mean_step``, ``length_vs_linear`` (when linear is a baseline),
        ``step_distances`` ``(B, N)``; ``brightness`` and ``contrast`` ``(B, N+1)``; ``mid_brightness_change``;
        ``mid_contrast_ratio``; ``realism`` (``None`` without a discriminator, else ``critic`` ``(B, N+1)``,
        ``min``, ``mean``); ``judge`` (``None`` without a judge); ``data_realism`` and ``frechet`` (``None``
        without ``data_realism``). Undefined values (a ratio over 0) are ``None``.
    """
    measured = dict(metrics) if ppl_metric is None else {**metrics, _PPL: ppl_metric}
    if chunk_size is None:  # the smallest chunk that fits the memory budget for every metric measured, PPL's too
        chunk_size = min(chunk_for(generator, m) for m in measured.values()) if measured else chunk_for(generator)
    chunk_size = check_positive_int(chunk_size, "chunk size")
    sets = _checked_sets(generator, points)
    if not metrics:
        raise UserError("no metric to evaluate with; name at least one (e.g. pixel, vgg-eq)")
    for method in baselines:
        if method not in INITS:
            raise UserError(f"unknown baseline {method!r}; choose from: {', '.join(INITS)}")
    first = next(iter(sets.values()))
    b = first.shape[0]
    for method in baselines:
        sets.setdefault(method, baseline_path(generator, method, first[:, 0], first[:, -1], first.shape[1] - 1))
    per_image = calibration.per_image if calibration is not None else False
    raw = {method: _measure(generator, measured, p, chunk_size, per_image, judge, data_realism)
           for method, p in sets.items()}
    ppl = {method: energy_of(r["d_sq"].pop(_PPL)) for method, r in raw.items()} if ppl_metric is not None else {}
    methods = {method: _summarise(r, calibration, data_realism) for method, r in raw.items()}
    for method, e in ppl.items():
        methods[method].update(ppl_energy=_floats(e), ppl_energy_mean=_floats(e.mean()))
    if "linear" in sets:
        for method, rel in _lengths_vs_linear(generator, metrics, sets, raw, chunk_size, per_image).items():
            for name, r in rel.items():
                methods[method]["metrics"][name]["length_vs_linear"] = _floats(r)
    frames = {method: int(p.shape[1]) for method, p in sets.items()}
    uniform = len(set(frames.values())) == 1
    return {"pairs": b, "frames": next(iter(frames.values())) if uniform else None, "metrics": list(metrics),
            "methods": methods, **({} if uniform else {"frames_by_method": frames}),
            **({} if data_realism is None else {"data_realism": data_realism.info()})}
