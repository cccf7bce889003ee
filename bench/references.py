"""The lowest energy any run has reached for each pair: issue 19's reference, kept across runs.

A pair's path energy has several local minima a few per cent apart, and which one a solve ends in is chaotic,
so a reference taken from one run moves with that run (the faces64 references of two ``speedup`` runs differ by
2%). Issue 19 asks for "the lowest energy any method reached for that pair in a long run": ``speedup``,
``precision``, ``coarse_rule`` and ``batch`` read it from ``<out>/references.json`` and write back every energy that
lies below it, with the suite and setting that reached it. Energies are float32 measurements of the same
metric (vgg-eq, ``min_size`` px, ``frames`` points), so only pairs with equal keys are compared.
"""

from __future__ import annotations

import json
from pathlib import Path

from .common import Context, clean

FILE = "references.json"


def pair_key(model: str, min_size: int | None, frames: int, seeds) -> str:
    """The table's key of one pair: ``"zoo:faces64 vgg-eq@64px 17 frames seeds 1-2"``."""
    return f"{model} vgg-eq@{min_size}px {frames} frames seeds {seeds[0]}-{seeds[1]}"


class References:
    """``<out>/references.json``: key -> ``{"energy", "by", "date"}``; a quick run starts from an empty table."""

    def __init__(self, ctx: Context) -> None:
        self.path: Path = ctx.out / FILE
        self.date = ctx.started
        self.table: dict[str, dict] = {}
        if self.path.exists() and not ctx.quick:
            self.table = json.loads(self.path.read_text())["pairs"]

    def lowest(self, pair: str) -> float | None:
        """The lowest energy known for ``pair``, or ``None``."""
        row = self.table.get(pair)
        return None if row is None else row["energy"]

    def offer(self, pair: str, energy: float, by: str) -> float:
        """Keep ``energy`` if it is the lowest known for ``pair`` (written at once); returns the lowest known."""
        known = self.lowest(pair)
        if known is None or energy < known:
            self.table[pair] = {"energy": float(energy), "by": by, "date": self.date}
            self._write()
            return float(energy)
        return known

    def _write(self) -> None:
        doc = {"about": "lowest float32 vgg-eq path energy any benchmark run reached per pair (bench/references.py)",
               "pairs": dict(sorted(self.table.items()))}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(clean(doc), indent=1, allow_nan=False) + "\n")
        tmp.replace(self.path)
