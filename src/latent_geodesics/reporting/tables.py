"""Plain-text tables of the reports, as the command line prints them: medians over the pairs.

- :func:`format_table`: ``evaluate`` (:func:`latent_geodesics.evaluation.evaluate_paths` and
  :func:`~latent_geodesics.evaluation.evaluate_file`), one row per method and metric;
- :func:`format_summary`: ``compare`` (:func:`latent_geodesics.workflows.compare.compare`), one row per method.
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence


def median_or_none(values: Sequence[float | None] | None) -> float | None:
    """Median of the values that are not ``None`` (``None`` if there are none)."""
    vals = [v for v in (values or []) if v is not None]
    return float(statistics.median(vals)) if vals else None


def format_table(report: Mapping) -> str:
    """A plain-text table of a report from :func:`~latent_geodesics.evaluation.evaluate_paths` or
    :func:`~latent_geodesics.evaluation.evaluate_file`.

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
    has_data = any(m.get("data_realism") for m in methods.values())
    data_cols = [("real min", 8, ">"), ("real mean", 9, ">"), ("Frechet", 8, ">")] if has_data else []
    width = max([8] + [len(name) for name in methods])
    cols = [("method", width, "<"), ("metric", 12, "<"), ("length", 11, ">"), ("vs linear", 10, ">"),
            ("step CV", 9, ">"), ("mid bright", 11, ">")] + (realism_cols if has_realism else []) + judge_cols \
        + data_cols

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
        d = m.get("data_realism") or {}
        judged += [median_or_none(d.get("min")), median_or_none(d.get("mean")), m.get("frechet")] if has_data else []
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
    if has_data:
        info = report.get("data_realism") or {}
        floor = next((m["data_realism"].get("frechet_real_floor") for m in methods.values() if m.get("data_realism")),
                     None)
        lines.append(f"real min/mean: realism score (Kynkaanniemi et al. 2019; 1 = as typical as real pictures) of "
                     f"the interior frames in {info.get('features', '?')} features against "
                     f"{info.get('reference_images', '?')} real pictures; Frechet: of all interior frames to them "
                     f"(as many real pictures: {'-' if floor is None else f'{floor:.4g}'})")
        if info.get("shares_network_with_metric"):
            lines.append(f"note: {', '.join(info['shares_network_with_metric'])} uses AlexNet too: the real-picture "
                         "judge is not independent of that metric")
    return "\n".join(lines) + "\n"


def format_summary(report: Mapping) -> str:
    """A plain-text table of a ``compare`` report: one row per method, medians over the pairs."""
    has_p = any(m["summary"]["realism_p_min"] is not None for m in report["methods"].values())
    has_judge = any(m["summary"].get("judge_confidence_min") is not None for m in report["methods"].values())
    has_data = any(m["summary"].get("data_realism_min") is not None for m in report["methods"].values())
    ref = report["reference_metric"]
    cols = [("method", 16, "<"), (f"length {ref}"[:14], 14, ">"), ("vs linear", 9, ">"), ("step CV", 8, ">"),
            ("mid bright", 10, ">")] + ([("p min", 7, ">")] if has_p else []) + \
        ([("judge min", 9, ">"), ("off-class", 9, ">")] if has_judge else []) + \
        ([("real min", 8, ">"), ("real mean", 9, ">"), ("Frechet", 8, ">")] if has_data else []) + [("time s", 8, ">")]

    def row(cells: Sequence) -> str:
        parts = []
        for (_, width, align), cell in zip(cols, cells):
            text = cell if isinstance(cell, str) else "-" if cell is None else f"{cell:.4g}"
            parts.append(f"{text:{align}{width}}")
        return "  ".join(parts).rstrip()

    lines = [row([c for c, _, _ in cols]), row(["-" * w for _, w, _ in cols])]
    for name, m in report["methods"].items():
        s = m["summary"]
        cells = [name, s["length"], s["length_vs_linear"], s["step_cv"], s["mid_brightness_change"]]
        judged = [s["judge_confidence_min"], s["judge_off_class"]] if has_judge else []
        judged += [s.get("data_realism_min"), s.get("data_realism_mean"), s.get("frechet")] if has_data else []
        lines.append(row(cells + ([s["realism_p_min"]] if has_p else []) + judged + [m["wall_time_s"]]))
    ppl = {name: m["summary"].get("ppl_energy_mean") for name, m in report["methods"].items()}
    if any(v is not None for v in ppl.values()):
        line = ppl.get("linear")
        lines.append("PPL-scale energy (LPIPS-VGG, N sum LPIPS, mean over pairs): " + ", ".join(
            f"{name} {v:.4g}" + (f" ({100 * (v / line - 1):+.0f}% vs linear)" if line and name != "linear" else "")
            for name, v in ppl.items() if v is not None))
    return "\n".join(lines)
