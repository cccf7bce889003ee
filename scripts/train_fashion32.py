#!/usr/bin/env python
"""Train the ``zoo:fashion32`` DCGAN (generator + discriminator) on Fashion-MNIST.

The architecture lives in ``latent_geodesics.generators.fashion32``. Images
are the 28x28 Fashion-MNIST training images padded to 32x32 with background
and scaled to [-1, 1]. The loss is the non-saturating GAN loss with a
spectral-normalised discriminator, Adam(2e-4, betas=(0.5, 0.999)) for both
networks, one discriminator step per generator step.

Deterministic from ``--seed`` for a given ``--threads`` (and torch build):
``torch.manual_seed``, a dedicated ``torch.Generator`` for the shuffling and
``torch.use_deterministic_algorithms(True)``. A checkpoint is written
atomically to ``<out>.ckpt`` after every epoch; ``--resume`` continues from
it (it also restores the random states, so a resumed run matches an
uninterrupted one).

Outputs:
  * ``--out`` (default ``src/latent_geodesics/generators/weights/fashion32.pt``):
    ``{"generator": state_dict, "discriminator": state_dict, "config": CONFIG}``;
  * ``fashion32.json`` next to it: seed, epochs, wall time, final losses and
    the discriminator's scores on the 10k real test images vs 10k samples;
  * ``--samples`` (default ``docs/fashion32_samples.png``): 8x8 grid of samples.

Data: ``apt-get install dataset-fashion-mnist`` (idx ``.gz`` files under
/usr/share/datasets/fashion-mnist).

Reproduce the shipped weights (from the repository root)::

    python scripts/train_fashion32.py --epochs 10 --seed 0 --batch-size 64 --threads 1
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from tqdm import tqdm

try:
    from latent_geodesics.generators import fashion32 as arch
except ImportError:  # running from a checkout without the package installed
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from latent_geodesics.generators import fashion32 as arch

LR = 2e-4
BETAS = (0.5, 0.999)


@dataclass(frozen=True)
class Recipe:
    """What differs between the zoo DCGANs this script trains (``zoo:fashion32``, ``zoo:mnist28``).

    ``read(args, split)`` returns uint8 images ``(N, 1, size, size)``, background 0.
    """

    name: str
    size: int
    out: str
    samples: str
    epochs: int
    data_help: str
    read: Callable[[argparse.Namespace, str], torch.Tensor]
    script: str


def _read_fashion(args: argparse.Namespace, split: str) -> torch.Tensor:
    return arch.read_fashion_mnist(args.data_dir, split, limit=args.limit if split == "train" else None,
                                   as_uint8=True)


FASHION32 = Recipe(name="fashion32", size=32, out="src/latent_geodesics/generators/weights/fashion32.pt",
                   samples="docs/fashion32_samples.png", epochs=10, read=_read_fashion,
                   data_help="folder with the idx .gz files", script="scripts/train_fashion32.py")


def parse_args(argv: list[str] | None = None, recipe: Recipe = FASHION32) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=recipe.epochs, help=f"training epochs (default {recipe.epochs})")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--out", default=recipe.out, help="weights file to write")
    p.add_argument("--data-dir", default=arch.DEFAULT_DATA_DIR, help=recipe.data_help)
    p.add_argument("--samples", default=recipe.samples, help="8x8 sample grid PNG to write")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--z-dim", type=int, default=arch.CONFIG["z_dim"], help="latent dimension")
    p.add_argument("--width", type=int, default=arch.CONFIG["width"], help="network width")
    p.add_argument("--resume", action="store_true", help="resume from <out>.ckpt if it exists")
    p.add_argument("--keep-checkpoint", action="store_true",
                   help="keep <out>.ckpt after the final weights are written")
    p.add_argument("--limit", type=int, default=None,
                   help="train on the first N training images only (smoke tests)")
    p.add_argument("--sample-seed", type=int, default=1234, help="seed of the sample grid latents")
    p.add_argument("--eval-seed", type=int, default=4321, help="seed of the 10k evaluation latents")
    return p.parse_args(argv)


def _public_mode(fd: int) -> None:
    """Give a ``mkstemp`` file (0600) the usual umask-derived permissions."""
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)


def atomic_torch_save(obj, path: Path) -> None:
    """``torch.save`` to a temp file in ``path``'s folder, then ``os.replace``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        _public_mode(fd)
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_bytes(data: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        _public_mode(fd)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def init_weights(module: torch.nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) BatchNorm scales."""
    for m in module.modules():
        if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
            torch.nn.init.normal_(weight, 0.0, 0.02)
            if m.bias is not None:
                torch.nn.init.zeros_(m.bias)
        elif isinstance(m, torch.nn.BatchNorm2d):
            torch.nn.init.normal_(m.weight, 1.0, 0.02)
            torch.nn.init.zeros_(m.bias)


def to_float(batch_u8: torch.Tensor) -> torch.Tensor:
    return batch_u8.float().div_(127.5).sub_(1.0)


def sample_grid(images: torch.Tensor, nrow: int = 8, scale: int = 3, pad: int = 2) -> Image.Image:
    """``(N, 1, 32, 32)`` in [-1, 1] -> grey PIL image, upscaled ``scale``x nearest."""
    n, _, h, w = images.shape
    ncol = math.ceil(n / nrow)
    pix = ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)[:, 0].numpy()
    canvas = np.full((ncol * (h + pad) + pad, nrow * (w + pad) + pad), 128, dtype=np.uint8)
    for k in range(n):
        r, c = divmod(k, nrow)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        canvas[y:y + h, x:x + w] = pix[k]
    img = Image.fromarray(canvas, mode="L")
    return img.resize((img.width * scale, img.height * scale), Image.NEAREST)


@torch.no_grad()
def critic_scores(D: torch.nn.Module, images: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([D(images[i:i + batch]) for i in range(0, len(images), batch)])


@torch.no_grad()
def generate(G: torch.nn.Module, z: torch.Tensor, batch: int = 500) -> torch.Tensor:
    return torch.cat([G(z[i:i + batch]) for i in range(0, len(z), batch)])


def main(argv: list[str] | None = None, recipe: Recipe = FASHION32) -> int:
    args = parse_args(argv, recipe)
    torch.set_num_threads(args.threads)
    try:
        torch.use_deterministic_algorithms(True)
        deterministic = True
    except Exception:  # pragma: no cover - depends on the torch build
        deterministic = False
    torch.manual_seed(args.seed)

    out = Path(args.out)
    ckpt_path = out.with_name(out.name + ".ckpt")
    config = {"z_dim": args.z_dim, "width": args.width}
    if recipe.size != 32:
        config["size"] = recipe.size

    train = recipe.read(args, "train")
    n_train = len(train)
    steps_per_epoch = n_train // args.batch_size  # drop the last partial batch

    G = arch.Fashion32Generator(**config)
    D = arch.Fashion32Discriminator(width=args.width, size=recipe.size)
    init_weights(G)
    init_weights(D)
    opt_g = torch.optim.Adam(G.parameters(), lr=LR, betas=BETAS)
    opt_d = torch.optim.Adam(D.parameters(), lr=LR, betas=BETAS)
    shuffle_gen = torch.Generator().manual_seed(args.seed + 1)

    start_epoch, elapsed, history = 0, 0.0, []
    if args.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck["config"] != config or ck["seed"] != args.seed or ck["batch_size"] != args.batch_size:
            raise SystemExit(f"{ckpt_path}: checkpoint was made with other settings; remove it or match them")
        G.load_state_dict(ck["generator"])
        D.load_state_dict(ck["discriminator"])
        opt_g.load_state_dict(ck["opt_g"])
        opt_d.load_state_dict(ck["opt_d"])
        torch.set_rng_state(ck["torch_rng"])
        shuffle_gen.set_state(ck["shuffle_rng"])
        start_epoch, elapsed, history = ck["epoch"], ck["elapsed"], ck["history"]
        print(f"resumed from {ckpt_path} after epoch {start_epoch}", flush=True)

    n_g = sum(p.numel() for p in G.parameters())
    n_d = sum(p.numel() for p in D.parameters())
    print(f"G: {n_g:,} params, D: {n_d:,} params, {n_train} images, {steps_per_epoch} steps/epoch, "
          f"{args.threads} thread(s), deterministic={deterministic}", flush=True)

    for epoch in range(start_epoch, args.epochs):
        t0 = time.time()
        G.train()
        D.train()
        perm = torch.randperm(n_train, generator=shuffle_gen)
        sums = {"loss_d": 0.0, "loss_g": 0.0, "d_real": 0.0, "d_fake": 0.0}
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{args.epochs}",
                   mininterval=10.0, file=sys.stdout)
        for step in bar:
            real = to_float(train[perm[step * args.batch_size:(step + 1) * args.batch_size]])
            z = torch.randn(args.batch_size, args.z_dim)
            fake = G(z)

            # Discriminator: softplus(-D(real)) + softplus(D(fake)) = BCE with logits.
            d_real = D(real)
            d_fake = D(fake.detach())
            loss_d = F.softplus(-d_real).mean() + F.softplus(d_fake).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()

            # Generator: non-saturating loss -log sigmoid(D(G(z))).
            loss_g = F.softplus(-D(fake)).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()

            sums["loss_d"] += loss_d.item()
            sums["loss_g"] += loss_g.item()
            sums["d_real"] += d_real.mean().item()
            sums["d_fake"] += d_fake.mean().item()
            if step % 50 == 0:
                bar.set_postfix(loss_d=f"{loss_d.item():.3f}", loss_g=f"{loss_g.item():.3f}")
        bar.close()
        means = {k: v / steps_per_epoch for k, v in sums.items()}
        elapsed += time.time() - t0
        history.append({"epoch": epoch + 1, **means, "seconds": round(time.time() - t0, 1)})
        print(f"epoch {epoch + 1}: " + ", ".join(f"{k}={v:.4f}" for k, v in means.items())
              + f" ({time.time() - t0:.0f}s, total {elapsed:.0f}s)", flush=True)
        atomic_torch_save({
            "generator": G.state_dict(), "discriminator": D.state_dict(),
            "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
            "torch_rng": torch.get_rng_state(), "shuffle_rng": shuffle_gen.get_state(),
            "epoch": epoch + 1, "elapsed": elapsed, "history": history,
            "config": config, "seed": args.seed, "batch_size": args.batch_size,
        }, ckpt_path)

    # ---- final weights (float32; G and D state dicts + config) ----------------
    G.eval().requires_grad_(False)
    D.eval().requires_grad_(False)
    state = {
        "generator": {k: v.detach().clone() for k, v in G.state_dict().items()},
        "discriminator": {k: v.detach().clone() for k, v in D.state_dict().items()},
        "config": dict(config),
    }
    atomic_torch_save(state, out)
    # Sanity: the shipped file loads through the library loader.
    G, D = arch.load_fashion32(out)

    # ---- sample grid ------------------------------------------------------------
    z_grid = torch.randn(64, args.z_dim, generator=torch.Generator().manual_seed(args.sample_seed))
    grid = sample_grid(generate(G, z_grid))
    samples = Path(args.samples)
    samples.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=samples.name + ".", suffix=".png", dir=samples.parent)
    _public_mode(fd)
    os.close(fd)
    grid.save(tmp, format="PNG")
    os.replace(tmp, samples)

    # ---- discriminator on 10k real test images vs 10k generated ---------------
    test = to_float(recipe.read(args, "test"))
    z_eval = torch.randn(len(test), args.z_dim, generator=torch.Generator().manual_seed(args.eval_seed))
    s_real = critic_scores(D, test)
    s_fake = critic_scores(D, generate(G, z_eval))
    last = history[-1] if history else {}
    report = {
        "model": f"zoo:{recipe.name}",
        "config": config,
        "seed": args.seed,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "steps": args.epochs * steps_per_epoch,
        "train_images": n_train,
        "optimizer": {"name": "Adam", "lr": LR, "betas": list(BETAS)},
        "loss": "non-saturating GAN loss (BCE with logits), spectral-norm discriminator",
        "threads": args.threads,
        "deterministic": deterministic,
        "wall_time_s": round(elapsed, 1),
        "final_losses": {"loss_d": last.get("loss_d"), "loss_g": last.get("loss_g"),
                         "note": "means over the last epoch"},
        "params": {"generator": n_g, "discriminator": n_d},
        "discriminator_scores": {
            "real_test_images": len(test),
            "generated_images": len(z_eval),
            "real_mean": s_real.mean().item(),
            "real_std": s_real.std().item(),
            "generated_mean": s_fake.mean().item(),
            "generated_std": s_fake.std().item(),
            "real_frac_classified_real": (s_real > 0).float().mean().item(),
            "generated_frac_classified_real": (s_fake > 0).float().mean().item(),
            "eval_seed": args.eval_seed,
        },
        "sample_grid": {"path": str(samples), "seed": args.sample_seed},
        "weights_bytes": out.stat().st_size,
        "weights_sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "history": history,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "command": f"python {recipe.script} " + " ".join(
            sys.argv[1:] if argv is None else argv),
    }
    text = json.dumps(report, indent=2)
    print(text, flush=True)
    atomic_write_bytes((text + "\n").encode(), out.with_suffix(".json"))
    if not args.keep_checkpoint and ckpt_path.exists():
        ckpt_path.unlink()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
