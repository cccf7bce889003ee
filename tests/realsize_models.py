"""Generators for the real-size tests, as ``package.module:factory`` specs (``tests`` is on ``sys.path``).

- ``realsize_models:big1024``: a cheap 8-d generator of 1024x1024 RGB images (a linear map to 16x16, upsampled):
  a real-size output whose cost is tiny; every batch it is given is recorded in :data:`BATCHES`.
- ``realsize_models:slow``: a small 8-d, 32 px generator that sleeps :data:`SLEEP` s per call: a deliberately slow
  model for the time limit.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from torch import nn

BATCHES: list[int] = []
SLEEP = 0.01


class Big(nn.Module):
    def __init__(self, size: int = 1024) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(8, 3 * 16 * 16)
        self.size = size

    def forward(self, z):
        BATCHES.append(z.shape[0])
        x = self.fc(z).view(-1, 3, 16, 16)
        return torch.tanh(F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False))


class Slow(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.fc = nn.Linear(8, 3 * 8 * 8)

    def forward(self, z):
        time.sleep(SLEEP)
        x = self.fc(z).view(-1, 3, 8, 8)
        return torch.tanh(F.interpolate(x, size=(32, 32), mode="bilinear", align_corners=False))


def big1024() -> Big:
    return Big(1024)


def slow() -> Slow:
    return Slow()
