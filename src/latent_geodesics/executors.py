"""Executors by name: ``local`` (:class:`~latent_geodesics.batch.LocalExecutor`) or ``ray``
(:class:`~latent_geodesics.ray_executor.RayExecutor`). Above both, so that neither imports the other's module."""

from __future__ import annotations

import torch

from ._check import UserError
from .batch import LocalExecutor
from .generators import Generator
from .ray_executor import RayExecutor
from .settings import ModelSettings


def make_executor(kind: str, model: ModelSettings, *, generator: Generator | None = None,
                  device: str | torch.device = "cpu", ray_address: str | None = None, workers: int | None = None,
                  cpus_per_worker: int = 1, num_cpus: int | None = None, ray_timeout: float | None = None):
    """``local`` (this process; reuses ``generator`` when given) or ``ray`` (see
    :class:`~latent_geodesics.ray_executor.RayExecutor`; Ray is imported only when it starts)."""
    if kind == "local":
        if workers not in (None, 1) or ray_address is not None or ray_timeout is not None:
            raise UserError("--workers, --ray-address and --ray-timeout belong to --executor ray; drop them or add "
                            "--executor ray")
        return LocalExecutor((model, generator) if generator is not None else model, device=device)
    if kind == "ray":
        timeout = {} if ray_timeout is None else {"connect_timeout": ray_timeout}
        return RayExecutor(model, address=ray_address, workers=workers, cpus_per_worker=cpus_per_worker,
                           num_cpus=num_cpus, **timeout)
    raise UserError(f"unknown executor {kind!r}; choose local or ray")
