"""What a model costs, measured once: memory and seconds per latent, and the chunk that fits a memory budget.

Every command sends latents through generator and metric in chunks. A chunk's memory is what its graph keeps
for the backward pass (activations of generator and metric), which grows with the image area: 64 latents of a
256 px model through VGG-19 with gradients need tens of GB. So the chunk is sized by a measured footprint, not
a fixed count: :func:`footprint` runs one latent forward and backward through generator and metric, adds up
the bytes of every tensor the graph saves (parameters excluded, shared storage counted once) and times it;
:func:`chunk_for` divides the memory budget by that (times :data:`SAFETY`).

The budget (:func:`memory_budget`) is a fraction of the memory available on the device (:data:`CPU_FRACTION`
of what the system reports available, :data:`CUDA_FRACTION` of free CUDA memory) unless set with
:func:`set_memory_budget` (the CLI's ``--memory-budget``, or ``LG_MEMORY_BUDGET``). Chunks are also capped at
:data:`MAX_AUTO_CHUNK` points: on a CPU larger batches do not run faster, they only hold more memory.
"""

from __future__ import annotations

import math
import os
import re
import resource
import time
import weakref
from dataclasses import dataclass

import torch
from torch import nn

from ._check import UserError

CPU_FRACTION = 0.25
"""Share of the memory the system reports available that the chunks may use on a CPU: the rest is for the
model's weights, the solver, the outputs and whatever else runs on the machine."""
CUDA_FRACTION = 0.6
"""Share of the free CUDA memory the chunks may use."""
SAFETY = 1.5
"""A chunk's memory taken as this many times its measured graph: allocator slack and the forward pass's
transient tensors (not kept for backward) come on top of the graph."""
BACKWARD_OVER_FORWARD = 3.0
"""A forward and backward pass taken as at most this many forward passes (the measured one was the first, slowed
by set-up: 5-7x a later one at 1024 px)."""
MAX_AUTO_CHUNK = 64
"""Most points per chunk when the chunk is sized automatically (the fixed chunk of earlier versions)."""
MAX_AUTO_CHUNK_CUDA = 256
"""The same on CUDA, where larger batches do run faster."""
ENV_BUDGET = "LG_MEMORY_BUDGET"

_budget_override: int | None = None


def parse_bytes(text: str | int | float) -> int:
    """``"6G"``, ``"512M"``, ``"1.5GiB"``, ``"2000000000"`` -> bytes (powers of 1024 for K, M, G, T)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value, unit = float(text), ""
    else:
        m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+(?:e[+-]?[0-9]+)?)\s*([kmgt]?)(?:i?b)?\s*", str(text), re.IGNORECASE)
        if m is None:
            raise UserError(f"memory budget {text!r} is not a size; give e.g. 6G, 512M or a number of bytes")
        value, unit = float(m.group(1)), m.group(2).lower()
    value *= 1024 ** " kmgt".index(unit or " ")
    if not math.isfinite(value) or value < 1 << 20:
        raise UserError(f"memory budget {text!r} is below 1 MiB; give e.g. 6G or 512M")
    return int(value)


def set_memory_budget(budget: str | int | None) -> None:
    """Set the memory budget of every chunk from now on (``None``: the default fraction of what is available)."""
    global _budget_override
    _budget_override = None if budget is None else parse_bytes(budget)


def available_memory(device: torch.device | str) -> int:
    """Bytes available on ``device``: free CUDA memory, or on a CPU the system's available memory (within the
    process's cgroup limit where there is one)."""
    device = torch.device(device)
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    avail = None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            avail = 4 << 30
    try:  # a container's limit can be far below the machine's memory
        limit = open("/sys/fs/cgroup/memory.max").read().strip()
        used = int(open("/sys/fs/cgroup/memory.current").read().strip())
        if limit != "max":
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(int(avail), 1 << 28)


def memory_budget(device: torch.device | str) -> int:
    """Bytes the chunks may use on ``device``: :func:`set_memory_budget`'s, else ``LG_MEMORY_BUDGET``'s, else a
    fraction of what is available."""
    if _budget_override is not None:
        return _budget_override
    env = os.environ.get(ENV_BUDGET)
    if env:
        return parse_bytes(env)
    device = torch.device(device)
    fraction = CUDA_FRACTION if device.type == "cuda" else CPU_FRACTION
    return int(fraction * available_memory(device))


def peak_memory(device: torch.device | str) -> int | None:
    """The process's peak memory so far in bytes: CUDA's peak allocation on a GPU, else the peak resident set."""
    device = torch.device(device)
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


@dataclass(frozen=True)
class Footprint:
    """What one latent costs through a generator (and metric).

    Attributes:
        bytes_per_latent: memory its graph keeps for the backward pass (plus its images and features).
        seconds_backward: forward and backward pass, seconds per latent.
        seconds_forward: forward pass without gradients, seconds per latent.
        device: where it was measured.
        image_shape: ``(C, H, W)`` of the generator's images.
    """

    bytes_per_latent: int
    seconds_backward: float
    seconds_forward: float
    device: str
    image_shape: tuple[int, ...] = ()

    def chunk(self, chunk_size: int | None = None) -> int:
        """``chunk_size`` if given, else the most latents whose graphs fit the memory budget (at least one)."""
        if chunk_size is not None:
            return chunk_size
        cap = MAX_AUTO_CHUNK_CUDA if torch.device(self.device).type == "cuda" else MAX_AUTO_CHUNK
        fit = memory_budget(self.device) // max(1, int(SAFETY * self.bytes_per_latent))
        return int(max(1, min(cap, fit)))

    def to_dict(self, chunk_size: int | None = None) -> dict:
        return {"mb_per_latent": round(self.bytes_per_latent / 2**20, 2),
                "seconds_per_latent": round(self.seconds_backward, 4),
                "seconds_per_latent_forward": round(self.seconds_forward, 4),
                "chunk_size": self.chunk(chunk_size),
                "memory_budget_mb": round(memory_budget(self.device) / 2**20),
                "chunk_sized": "given" if chunk_size is not None else "by memory budget"}

    def describe(self, chunk_size: int | None = None) -> str:
        """One line for a user: the cost per latent, the chunk and the budget."""
        return (f"{self.seconds_backward:.3g} s per latent forward+backward ({self.seconds_forward:.3g} s forward), "
                f"{self.bytes_per_latent / 2**20:.0f} MB per latent; chunks of {self.chunk(chunk_size)} "
                f"({'given' if chunk_size is not None else 'fit to'} a memory budget of "
                f"{memory_budget(self.device) / 2**30:.1f} GB)")


_cache: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def _storages(*modules) -> set[int]:
    ptrs = set()
    for m in modules:
        if isinstance(m, nn.Module):
            for t in (*m.parameters(), *m.buffers()):
                ptrs.add(t.untyped_storage().data_ptr())
    return ptrs


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def footprint(generator, metric=None) -> Footprint:
    """Measure (once per generator and metric; cached) what one latent costs through ``generator`` and ``metric``
    (``None``: the generator alone): one forward and backward pass, one forward pass."""
    per_gen = _cache.setdefault(generator, {})
    key = id(metric)
    hit = per_gen.get(key)
    if hit is not None and hit[0]() is metric:
        return hit[1]
    device = generator.device
    z = generator.sample_latents(1, seed=0, device=device)
    if isinstance(generator, nn.Module):  # a model in another precision (e.g. float64) gets latents in it
        z = z.to(next((p.dtype for p in generator.parameters() if p.is_floating_point()), z.dtype))
    own = _storages(generator, metric)
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor):
        s = t.untyped_storage()
        if s.data_ptr() not in own:
            saved[s.data_ptr()] = s.nbytes()
        return t

    def run(zz: torch.Tensor):
        images = generator(zz)
        return (images,) if metric is None else metric.embed(images)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
    _sync(device)
    t0 = time.perf_counter()
    x = z.detach().clone().requires_grad_(True)
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        images = generator(x)
        shape = tuple(images.shape[1:])
        feats = (images,) if metric is None else metric.embed(images)
        del images
        loss = sum(f.float().square().mean() for f in feats)
    out_bytes = sum(f.numel() * f.element_size() for f in feats)
    loss.backward()
    _sync(device)
    t_back = time.perf_counter() - t0
    graph = sum(saved.values()) + out_bytes
    if device.type == "cuda":
        graph = max(graph, torch.cuda.max_memory_allocated(device) - base)
    del feats, loss, x
    t_fwd = math.inf
    for _ in range(2):  # the first pass at a new size pays for allocations and kernel set-up: keep the faster
        t0 = time.perf_counter()
        with torch.no_grad():
            run(z)
        _sync(device)
        t_fwd = min(t_fwd, time.perf_counter() - t0)
    t_back = min(t_back, BACKWARD_OVER_FORWARD * t_fwd)
    fp = Footprint(bytes_per_latent=int(graph), seconds_backward=t_back, seconds_forward=t_fwd, device=str(device),
                   image_shape=shape)
    if metric is not None:
        per_gen[key] = (weakref.ref(metric), fp)
    else:
        per_gen[key] = (lambda: None, fp)
    return fp


def chunk_for(generator, metric=None, chunk_size: int | None = None) -> int:
    """``chunk_size`` when given, else the chunk that fits the memory budget (measuring the footprint once). For the
    generator alone (``metric=None``) a footprint measured with a metric serves: it holds more, so its chunk fits."""
    if chunk_size is not None:
        return chunk_size
    if metric is None:
        known = [fp for ref, fp in _cache.get(generator, {}).values()]
        if known:
            return min(fp.chunk() for fp in known)
    return footprint(generator, metric).chunk()
