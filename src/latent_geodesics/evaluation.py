"""Evaluation of finished paths: length, speed uniformity, brightness and realism, against baselines.

What section 6 of the design judges, measured on a batch of paths ``points: (B, N+1, *latent_shape)``
and, for comparison, on the linear and slerp paths between the same endpoints with the same ``N``:

- per metric: length ``L = sum_i d_i``, energy ``N * sum_i d_i^2``, the step distances ``d_i`` and how
  uneven they are (coefficient of variation ``std(d) / mean(d)``, and ``max(d) / mean(d)``);
- per frame: brightness and contrast (mean and std of the luminance on the ``[0, 1]`` scale), and the
  mid-path change against the endpoints (Laine's darkening failure mode);
- per frame, where the generator carries a discriminator: the raw critic score (higher = more real).

Each frame goes through the generator once, and through each metric's feature network once; frames are
streamed in chunks of ``chunk_size`` so memory stays bounded for any ``B`` and ``N``. Nothing here needs
gradients.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ._check import UserError, as_tensor, check_latents, check_positive_int, read_arrays, resolve_device
from .generators import ZOO, Generator, load_generator
from .metrics import Features, Metric, build_metric, cat, select
from .paths import DEFAULT_CHUNK, INITS, baseline_path, energy_of, length_of
from .judges import Judge, judge_for, judge_path_stats
from .realism import Calibration, calibrate, critic

LUMA = (0.299, 0.587, 0.114)
"""Rec. 601 luminance weights for R, G, B."""

PATH_METHOD = "path"
"""Key of the evaluated paths in a report's ``methods``; the baselines use their own names."""


# ---------------------------------------------------------------------------------------------------------------
# Pure functions of tensors
# ---------------------------------------------------------------------------------------------------------------

def step_cv(d: Tensor) -> Tensor:
    """Coefficient of variation of the step distances of each path: ``std(d) / mean(d)``, population std.

    0 for a path at constant speed (and for a path whose steps are all zero).

    Shape:
        - d: ``(B, N)`` step distances (not squared)
        - output: ``(B,)``
    """
    mean = d.mean(-1)
    std = d.std(-1, unbiased=False)
    return torch.where(mean > 0, std / mean.clamp_min(torch.finfo(d.dtype).tiny), torch.zeros_like(mean))


def max_over_mean_step(d: Tensor) -> Tensor:
    """Largest step over the mean step of each path (1 at constant speed, 1 for all-zero steps).

    Shape:
        - d: ``(B, N)``
        - output: ``(B,)``
    """
    mean = d.mean(-1)
    return torch.where(mean > 0, d.amax(-1) / mean.clamp_min(torch.finfo(d.dtype).tiny), torch.ones_like(mean))


def luminance(images: Tensor) -> Tensor:
    """Luminance on the ``[0, 1]`` scale: ``Y = 0.299 R + 0.587 G + 0.114 B``, or the channel itself if grey.

    Shape:
        - images: ``(M, C, H, W)`` in ``[-1, 1]``, ``C`` in ``{1, 3}``
        - output: ``(M, H, W)`` in ``[0, 1]``
    """
    x = (images + 1) / 2
    if x.shape[1] == 1:
        return x[:, 0]
    w = torch.tensor(LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1)


def brightness_contrast(images: Tensor) -> tuple[Tensor, Tensor]:
    """Brightness (mean) and contrast (population std) of each image's luminance, on the ``[0, 1]`` scale.

    Shape:
        - images: ``(M, C, H, W)`` in ``[-1, 1]``, ``C`` in ``{1, 3}``
        - output: ``((M,), (M,))``
    """
    y = luminance(images).flatten(1)  # (M, H*W)
    return y.mean(1), y.std(1, unbiased=False)


def middle_third(n_points: int) -> list[int]:
    """Indices ``i`` of the frames of an ``N + 1``-frame path whose position ``i / N`` lies in ``[1/3, 2/3]``.

    Symmetric about the middle of the path; for ``N = 1`` (no interior frame) both endpoints, so that the
    mid-path change of a two-frame path is 0.
    """
    n = n_points - 1
    idx = [i for i in range(n_points) if n <= 3 * i <= 2 * n]
    return idx or list(range(n_points))


def _mid_and_ends(values: Tensor) -> tuple[Tensor, Tensor]:
    """Mean over the middle third of the frames and mean of the two endpoints: ``(B, N+1) -> ((B,), (B,))``."""
    mid = values[:, middle_third(values.shape[1])].mean(1)
    ends = (values[:, 0] + values[:, -1]) / 2
    return mid, ends


def mid_path_change(values: Tensor) -> Tensor:
    """Mean of a per-frame value over the middle third of each path minus the mean of its two endpoints.

    With brightness as the value, negative means the path gets darker in the middle.

    Shape:
        - values: ``(B, N+1)``
        - output: ``(B,)``
    """
    mid, ends = _mid_and_ends(values)
    return mid - ends


def mid_path_ratio(values: Tensor) -> Tensor:
    """Mean of a per-frame value over the middle third of each path over the mean of its two endpoints.

    With contrast as the value, below 1 means the path gets flatter in the middle. NaN where the endpoints'
    mean is 0 (the ratio is undefined; reports write it as ``null``).

    Shape:
        - values: ``(B, N+1)``
        - output: ``(B,)``
    """
    mid, ends = _mid_and_ends(values)
    return torch.where(ends > 0, mid / ends.clamp_min(torch.finfo(values.dtype).tiny),
                       torch.full_like(mid, math.nan))


def critic_scores(generator: Generator, images: Tensor, *, per_image: bool = False) -> Tensor:
    """Raw critic scores of images from the generator's discriminator (higher = more realistic).

    Call it on at most a chunk of images at a time; it runs the discriminator without gradients.

    Shape:
        - images: ``(M, C, H, W)`` in ``[-1, 1]``
        - output: ``(M,)``, in the discriminator's own units (e.g. a logit)

    Raises:
        UserError: the generator has no discriminator, or it does not return one score per image.
    """
    if generator.discriminator is None:
        raise UserError(f"model {generator.name} has no discriminator, so realism cannot be scored; "
                        "use a model that carries one")
    with torch.no_grad():
        return critic(generator.discriminator, images, per_image=per_image).float()


# ---------------------------------------------------------------------------------------------------------------
# Streaming over the frames of a path set
# ---------------------------------------------------------------------------------------------------------------

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
             per_image: bool = False, judge: Judge | None = None) -> dict:
    """Raw per-step and per-frame tensors for one path set ``(B, N+1, *latent_shape)``.

    Returns:
        ``{"d_sq": {name: (B, N)}, "brightness": (B, N+1), "contrast": (B, N+1), "critic": (B, N+1) or None,
        "judge": (B, N+1, K) class probabilities or None}``.
    """
    b, n1 = points.shape[:2]
    z = points.reshape(b * n1, *points.shape[2:])
    dists = {name: _ConsecutiveDistances(m) for name, m in metrics.items()}
    bright, contrast, critic, probs = [], [], [], []
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
            for acc in dists.values():
                acc.add(images)
    return {
        "d_sq": {name: acc.result(b, n1) for name, acc in dists.items()},
        "brightness": torch.cat(bright).view(b, n1),
        "contrast": torch.cat(contrast).view(b, n1),
        "critic": torch.cat(critic).view(b, n1) if critic else None,
        "judge": torch.cat(probs).view(b, n1, -1) if probs else None,
    }


def _floats(t: Tensor) -> list:
    """Tensor -> nested lists of Python floats, with ``None`` for NaN/inf (JSON has no NaN)."""
    def clean(x):
        if isinstance(x, list):
            return [clean(v) for v in x]
        return float(x) if math.isfinite(x) else None
    return clean(t.detach().double().cpu().tolist())


def _summarise(raw: dict, calibration: Calibration | None = None) -> dict:
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
    return out


def evaluate_paths(generator: Generator, metrics: Mapping[str, Metric], points: Tensor | Mapping[str, Tensor], *,
                   chunk_size: int = DEFAULT_CHUNK, baselines: Sequence[str] = ("linear", "slerp"),
                   calibration: Calibration | None = None, judge: Judge | None = None) -> dict:
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

    Returns:
        JSON-ready ``{"pairs": B, "frames": N+1, "metrics": [names], "methods": {"path": M, "linear": M, ...}}``
        (``frames`` is ``None`` and ``frames_by_method`` gives each set's ``N+1`` when they differ), where each
        ``M`` holds per pair (lists of length ``B``): ``metrics[name]`` with ``length``,
        ``energy``, ``step_cv``, ``max_over_mean_step``, ``length_vs_linear`` (when linear is a baseline),
        ``step_distances`` ``(B, N)``; ``brightness`` and ``contrast`` ``(B, N+1)``; ``mid_brightness_change``;
        ``mid_contrast_ratio``; ``realism`` (``None`` without a discriminator, else ``critic`` ``(B, N+1)``,
        ``min``, ``mean``); ``judge`` (``None`` without a judge). Undefined values (a ratio over 0) are ``None``.
    """
    chunk_size = check_positive_int(chunk_size, "chunk size")
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
    if not metrics:
        raise UserError("no metric to evaluate with; name at least one (e.g. pixel, vgg-eq)")
    for method in baselines:
        if method not in INITS:
            raise UserError(f"unknown baseline {method!r}; choose from: {', '.join(INITS)}")
    b = first.shape[0]
    for method in baselines:
        sets.setdefault(method, baseline_path(generator, method, first[:, 0], first[:, -1], first.shape[1] - 1))
    per_image = calibration.per_image if calibration is not None else False
    raw = {method: _measure(generator, metrics, p, chunk_size, per_image, judge) for method, p in sets.items()}
    methods = {method: _summarise(r, calibration) for method, r in raw.items()}
    if "linear" in sets:
        linear_d_sq = {sets["linear"].shape[1]: raw["linear"]["d_sq"]}  # by frame count
        for method, r in raw.items():
            n1 = sets[method].shape[1]
            if n1 not in linear_d_sq:
                line = baseline_path(generator, "linear", first[:, 0], first[:, -1], n1 - 1)
                linear_d_sq[n1] = _measure(generator, metrics, line, chunk_size, per_image)["d_sq"]
            for name, d_sq in r["d_sq"].items():
                ref = length_of(linear_d_sq[n1][name])
                rel = torch.where(ref > 0, length_of(d_sq) / ref.clamp_min(1e-30), torch.full_like(ref, math.nan))
                methods[method]["metrics"][name]["length_vs_linear"] = _floats(rel)
    frames = {method: int(p.shape[1]) for method, p in sets.items()}
    uniform = len(set(frames.values())) == 1
    return {"pairs": b, "frames": next(iter(frames.values())) if uniform else None, "metrics": list(metrics),
            "methods": methods, **({} if uniform else {"frames_by_method": frames})}


# ---------------------------------------------------------------------------------------------------------------
# Files and tables
# ---------------------------------------------------------------------------------------------------------------

WRITTEN_BY = "give the path.npz that `latent-geodesics interpolate` wrote or the paths.npz of `compare`"


def _checked_points(points: np.ndarray, path: Path, key: str) -> np.ndarray:
    """A path file's array of points: real, finite, ``(pairs >= 1, frames >= 2, *latent_shape)``."""
    if not (np.issubdtype(points.dtype, np.integer) or np.issubdtype(points.dtype, np.floating)):
        raise UserError(f"{path}: {key!r} has dtype {points.dtype}; it must hold real numbers")
    if not np.isfinite(points).all():
        raise UserError(f"{path}: {key!r} contains NaN or inf values; solve the path again")
    if points.ndim < 3 or points.shape[0] == 0 or points.shape[1] < 2:
        raise UserError(f"{path}: {key!r} has shape {points.shape}; expected (pairs >= 1, frames >= 2, "
                        f"*latent_shape); {WRITTEN_BY}")
    return points


def _load_path_file(path: Path) -> tuple[dict[str, np.ndarray], dict[str, str | None]]:
    """Path sets by name, and the ``model``, ``metric`` and ``discriminator`` names (or ``None``) of a path file.

    An ``interpolate`` file (``points``) gives one set, ``"path"``; a path through waypoints (the file has
    ``legs``) is split back into its legs, one per row, so that each leg is compared with the straight line
    between its own waypoints. A ``compare`` file gives one set per name in ``methods`` (``points_<i>``).
    """
    if not path.is_file() and not path.is_dir():
        raise UserError(f"path file {path} does not exist; {WRITTEN_BY}")
    arrays = read_arrays(path, what="path", hint=WRITTEN_BY)
    if "" in arrays:
        raise UserError(f"{path} is a single array, not an .npz archive; {WRITTEN_BY}")
    names = {key: str(arrays[key].item()) if key in arrays and arrays[key].ndim == 0 else None
             for key in ("model", "metric", "discriminator")}
    if "methods" in arrays:
        methods = [str(m) for m in arrays["methods"].reshape(-1)]
        missing = [f"points_{i}" for i in range(len(methods)) if f"points_{i}" not in arrays]
        if not methods or missing:
            raise UserError(f"{path} lists methods {methods} but has no {missing[0] if missing else 'paths'!r}"
                            f" array; {WRITTEN_BY}")
        if len(set(methods)) != len(methods):
            raise UserError(f"{path} lists a method twice ({methods}); {WRITTEN_BY}")
        return {m: _checked_points(arrays[f"points_{i}"], path, f"points_{i}") for i, m in enumerate(methods)}, names
    if "points" not in arrays:
        raise UserError(f"{path} has no 'points' array (it has: {', '.join(arrays) or 'none'}); {WRITTEN_BY}")
    points = _checked_points(arrays["points"], path, "points")
    legs = arrays.get("legs", np.array(1))
    if legs.ndim != 0 or not np.issubdtype(legs.dtype, np.integer) or int(legs) < 1:
        raise UserError(f"{path}: 'legs' must be a whole number >= 1, got {legs!r}; solve the path again")
    legs = int(legs)
    if legs > 1:
        if points.shape[0] != 1 or (points.shape[1] - 1) % legs:
            raise UserError(f"{path}: {legs} legs do not fit 'points' of shape {points.shape}; solve the path again")
        n = (points.shape[1] - 1) // legs
        points = np.stack([points[0, i * n: (i + 1) * n + 1] for i in range(legs)])
    return {PATH_METHOD: points}, names


def _is_zoo_name(name: str) -> bool:
    return name.startswith("zoo:") and name[4:] in ZOO


def evaluate_file(path_npz: str | Path, *, model: str | None, metrics: Sequence[str], device: str = "cpu",
                  latent_shape: tuple[int, ...] | None = None, chunk_size: int = DEFAULT_CHUNK,
                  discriminator: str | None = None) -> dict:
    """Evaluate the paths of a ``path.npz`` (``interpolate``) or ``paths.npz`` (``compare``) against linear and slerp.

    Args:
        path_npz: the file: an ``interpolate`` file's ``points`` ``(B, N+1, *latent_shape)`` are reported as
            ``"path"``; a ``compare`` file's methods by their names (``methods``, ``points_<i>``), next to
            the baselines it does not hold.
        model: what :func:`~latent_geodesics.generators.load_generator` accepts; ``None`` uses the file's
            ``model`` entry, but only when it names a zoo model (e.g. ``zoo:faces64``): a data file never
            chooses a file or module to load.
        metrics: metric names (:func:`~latent_geodesics.metrics.build_metric`); empty uses the metric the
            path was solved with (the file's ``metric`` entry; its base metric if realism-weighted).
        device: where the model and metrics run.
        latent_shape: for models that do not say their latent shape.
        chunk_size: frames per generator + metric call.
        discriminator: scores realism instead of the model's own (what
            :func:`~latent_geodesics.generators.load_discriminator` accepts). The file's ``discriminator``
            entry is never loaded by itself: a data file does not choose code to run.

    Returns:
        ``{"file", "model", "discriminator", "file_discriminator", "judge", "pairs", "frames", "metrics",
        "methods"}`` (``discriminator``: the one given, or ``None``; ``file_discriminator``: the file's entry, or
        ``None``; ``judge``: the zoo model's independent judge, :meth:`~latent_geodesics.judges.Judge.info`, or
        ``None``); see :func:`evaluate_paths`.

    Raises:
        UserError: unreadable file, no ``points`` (or ``methods`` without their ``points_<i>``), non-finite
            points, no model named (or, without ``model``, a file that names one outside the zoo), points
            whose latent size does not match the model, or path sets between different endpoints.
    """
    path = Path(path_npz)
    sets, names = _load_path_file(path)
    model_name = model if model is not None else names["model"]
    if model_name is None:
        raise UserError(f"{path} does not say which model made it; pass --model")
    if model is None and not _is_zoo_name(model_name):  # a data file never chooses code to run
        raise UserError(f"{path} was made with model {model_name!r}, which is not in the zoo; pass --model "
                        "to load it (only a model given on the command line is loaded from a file or module)")
    file_metric = names["metric"]
    if file_metric:  # a realism-weighted path ("vgg-eq+realism0.5") is measured with its base metric
        file_metric = file_metric.split("+realism")[0]
    metric_names = list(metrics) if metrics else ([file_metric] if file_metric else [])
    if not metric_names:
        raise UserError(f"{path} does not say which metric made it; pass --metric")
    dev = resolve_device(device)
    generator = load_generator(model_name, device=dev, latent_shape=latent_shape, discriminator=discriminator)
    shape = generator.latent_shape
    for label, points in sets.items():
        if points.ndim != 2 + len(shape) or tuple(points.shape[2:]) != shape or points.shape[1] < 2:
            what = "'points'" if label == PATH_METHOD else f"the paths of {label!r}"
            raise UserError(f"{path}: {what} has shape {points.shape} but model {model_name} expects "
                            f"(pairs, frames >= 2, {', '.join(map(str, shape))}); "
                            "pass the model the path was made with")
    built = {name: build_metric(name, device=dev) for name in dict.fromkeys(metric_names)}
    tensors = {label: torch.from_numpy(np.asarray(p, dtype=np.float32)).to(dev) for label, p in sets.items()}
    calibration = calibrate(generator) if generator.discriminator is not None else None
    judge = judge_for(generator)
    report = evaluate_paths(generator, built, tensors, chunk_size=chunk_size, calibration=calibration, judge=judge)
    return {"file": str(path), "model": model_name, "discriminator": discriminator,
            "file_discriminator": names["discriminator"], "judge": judge.info() if judge is not None else None,
            **report}


def median_or_none(values: Sequence[float | None] | None) -> float | None:
    """Median of the values that are not ``None`` (``None`` if there are none)."""
    vals = [v for v in (values or []) if v is not None]
    return float(statistics.median(vals)) if vals else None


def format_table(report: Mapping) -> str:
    """A plain-text table of a report from :func:`evaluate_paths` or :func:`evaluate_file`.

    One row per method and metric; every number is the median over the pairs: path length, length over
    the linear path's, step-length coefficient of variation (0 = constant speed), mid-path brightness
    change (negative = darker in the middle) and, where the model has a discriminator, the lowest
    realism ``p`` along the path and the fraction of frames below the 5th percentile of random samples'
    realism (the lowest raw critic score when there is no calibration); where the model has an independent
    judge (:mod:`latent_geodesics.judges`), its lowest confidence along the path and the fraction of
    off-class frames.
    """
    methods = report["methods"]
    has_realism = any(m.get("realism") for m in methods.values())
    has_p = any((m.get("realism") or {}).get("p_min") for m in methods.values())
    realism_cols = [("p min", 8, ">"), ("< rand p5", 10, ">")] if has_p else [("realism min", 12, ">")]
    has_judge = any(m.get("judge") for m in methods.values())
    judge_cols = [("judge min", 9, ">"), ("off-class", 9, ">")] if has_judge else []
    width = max([8] + [len(name) for name in methods])
    cols = [("method", width, "<"), ("metric", 12, "<"), ("length", 11, ">"), ("vs linear", 10, ">"),
            ("step CV", 9, ">"), ("mid bright", 11, ">")] + (realism_cols if has_realism else []) + judge_cols

    def row(cells: list) -> str:
        parts = []
        for (_, width, align), cell in zip(cols, cells):
            text = cell if isinstance(cell, str) else ("-" if cell is None else f"{cell:.4g}")
            parts.append(f"{text[:width]:{align}{width}}")
        return "  ".join(parts).rstrip()

    lines = []
    if "model" in report or "file" in report:
        lines.append(f"{report.get('file', '')}  model {report.get('model', '?')}".strip())
    frames = report["frames"] if report.get("frames") is not None else "/".join(
        str(n) for n in dict.fromkeys(report.get("frames_by_method", {}).values()))
    lines.append(f"{report['pairs']} pair(s), {frames} frames; medians over pairs")
    lines.append(row([name for name, _, _ in cols]))
    lines.append(row(["-" * width for _, width, _ in cols]))
    for method, m in methods.items():
        r = m.get("realism") or {}
        realism = [median_or_none(r.get("p_min")), median_or_none(r.get("frac_below_random_p5"))] if has_p else \
            [median_or_none(r.get("min"))]
        j = m.get("judge") or {}
        judged = [median_or_none(j.get("confidence_min")), median_or_none(j.get("off_class"))] if has_judge else []
        for name, s in m["metrics"].items():
            cells = [method, name, median_or_none(s["length"]), median_or_none(s.get("length_vs_linear")),
                     median_or_none(s["step_cv"]), median_or_none(m["mid_brightness_change"])]
            lines.append(row(cells + (realism if has_realism else []) + judged))
    lines.append("vs linear: length / linear length; step CV: std/mean of step lengths (0 = constant speed); "
                 "mid bright: middle-third brightness minus endpoints' (< 0: darker)")
    if has_judge:
        judge = report.get("judge") or {}
        lines.append(f"judge min: lowest confidence (max softmax) of the independent classifier "
                     f"{judge.get('name', '')} along the path; off-class: fraction of interior frames whose "
                     "class is neither endpoint's")
    return "\n".join(lines) + "\n"
