"""What every suite shares: the run context, models and metrics at real or toy size, seeded pairs,
timing, a path problem that records its own energy trace, and the JSON writer."""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from latent_geodesics import networks
from latent_geodesics.generators import Generator, load_generator
from latent_geodesics.metrics import Equalized, Features, Metric, build_metric
from latent_geodesics.metrics.vgg import feature_distance_sq
from latent_geodesics.paths import PathProblem, energy_of

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO_ROOT / "bench" / "results"
REAL_MODEL = "zoo:faces64"
VGG_MIN_SIZE = 64
"""``min_size`` of the VGG-19 metric in every real run: 64 px (the library's default since issue 32; it was 128) to fit
a CPU budget."""
THREADS = 2
"""Default CPU threads for torch (the benchmark machine has 2 cores; ``--threads`` overrides it)."""


# ---------------------------------------------------------------------------------------------------------------
# Run context and machine
# ---------------------------------------------------------------------------------------------------------------

@dataclass
class Context:
    """How a suite is run: device, toy or real size, where results go, and the command line."""

    device: torch.device
    quick: bool
    out: Path
    command: str
    started: str = field(default_factory=lambda: _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"


def command_line(argv: Sequence[str] | None = None) -> str:
    """The exact command as typed from the repository root: ``python -m bench ...``."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join(["python", "-m", "bench", *map(shlex.quote, args)])


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info(device: torch.device) -> dict:
    """Platform, CPU, cores, torch and the device a result was measured on."""
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": str(device),
        "device_name": cpu_model(),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    return info


def sync(device: torch.device) -> None:
    """Wait for queued device work, so a timer measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, *, repeats: int, warmup: int = 1) -> list[float]:
    """Seconds of ``repeats`` calls of ``fn`` after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    sync(device)
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        out.append(time.perf_counter() - t)
    return out


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# ---------------------------------------------------------------------------------------------------------------
# Models and metrics
# ---------------------------------------------------------------------------------------------------------------

class TinyNet(nn.Module):
    """A small random generator for ``--quick``: ``z (B, 8) -> (B, 3, 8, 8)`` in ``[-1, 1]``, seeded."""

    def __init__(self, z_dim: int = 8, side: int = 8, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.latent_shape = (z_dim,)
        self.side = side
        self.body = nn.Sequential(nn.Linear(z_dim, 32), nn.Tanh(), nn.Linear(32, 3 * side * side), nn.Tanh())

    def forward(self, z: Tensor) -> Tensor:
        return self.body(z).view(z.shape[0], 3, self.side, self.side)


class RandomVGG(Metric):
    """VGG-19 layers conv1_1 and conv2_1 with random weights: the VGG code path without weight files (``--quick``)."""

    name = "vgg"

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.network = networks.FeatureNet("vgg19", ("conv1_1", "conv2_1"), preprocessing=networks.TORCHVISION,
                                           min_size=8)

    def embed(self, images: Tensor) -> Features:
        return self.network(images)

    def compare(self, fa: Features, fb: Features) -> Tensor:
        return feature_distance_sq(fa, fb, (1.0, 1.0))


def load_model(ctx: Context) -> Generator:
    """``zoo:faces64`` on the context's device, or the tiny random generator with ``--quick``."""
    if ctx.quick:
        return Generator(TinyNet(), latent_shape=(8,), name="tiny-random").to(ctx.device)
    return load_generator(REAL_MODEL, device=ctx.device)


def model_name(ctx: Context) -> str:
    return "tiny-random (quick)" if ctx.quick else REAL_MODEL


def load_metric(name: str, ctx: Context) -> Metric:
    """A metric by name; ``vgg``/``vgg-eq`` at ``min_size=64`` (real) or with random weights (``--quick``)."""
    if name in ("vgg", "vgg-eq"):
        if ctx.quick:
            base = RandomVGG().to(ctx.device)
            metric = Equalized(base) if name.endswith("-eq") else base
            return metric.freeze()
        return build_metric(name, device=ctx.device, min_size=VGG_MIN_SIZE)
    return build_metric(name, device=ctx.device)


def metric_note(ctx: Context) -> str:
    if ctx.quick:
        return "quick: vgg-eq is VGG-19 conv1_1+conv2_1 with random weights at 8 px (code path only)"
    return (f"vgg-eq: original ImageNet VGG-19, conv1_2..conv5_2, min_size={VGG_MIN_SIZE} (the "
            "library default) to fit the CPU budget")


def seeded_pairs(generator: Generator, n_pairs: int) -> tuple[Tensor, Tensor, list[list[int]]]:
    """Endpoint pairs from seeds (1, 2), (3, 4), ...: ``z0, z1`` each ``(n_pairs, *latent_shape)`` and the seeds."""
    seeds = [[2 * k + 1, 2 * k + 2] for k in range(n_pairs)]
    z0 = torch.cat([generator.sample_latents(1, seed=a) for a, _ in seeds])
    z1 = torch.cat([generator.sample_latents(1, seed=b) for _, b in seeds])
    return z0, z1, seeds


class BudgetExhausted(Exception):
    """Raised by a benchmark's path problem when its budget is spent (ends a solver run early)."""


# ---------------------------------------------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------------------------------------------

def clean(value):
    """JSON-ready copy: tensors to lists, NaN/inf to ``None``, tuples to lists."""
    if isinstance(value, Tensor):
        value = value.detach().cpu().tolist()
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    return value


def write_result(ctx: Context, suite: str, *, settings: dict, results: dict, notes: Sequence[str] = (),
                 wall_time: float | None = None, model: str | None = None) -> Path:
    """Write ``<out>/<suite>.json`` with machine, command, date, settings and results; returns the path."""
    doc = {
        "suite": suite,
        "quick": ctx.quick,
        "command": ctx.command,
        "date": ctx.started,
        "machine": machine_info(ctx.device),
        "model": model or model_name(ctx),
        "settings": settings,
        "results": results,
        "notes": list(notes),
        "suite_wall_time_s": None if wall_time is None else round(wall_time, 2),
    }
    if torch.get_num_threads() != THREADS:
        doc["notes"].append(f"torch threads: {torch.get_num_threads()} (--threads; the default is {THREADS})")
    ctx.out.mkdir(parents=True, exist_ok=True)
    path = ctx.out / f"{suite}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(clean(doc), indent=1, allow_nan=False) + "\n")
    tmp.replace(path)
    return path


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)
