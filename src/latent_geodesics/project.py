"""Projection of real pictures into a generator's latent space (GAN inversion).

Find latents ``z`` whose images ``g(z)`` look like given pictures: minimise a perceptual loss (LPIPS by
default) plus a pixel loss, from several random starts per picture at once (every start of every picture
is one row of one batch), keeping each point on the support of the prior after every step, and keep the
best start of each picture. A geodesic between two projections is a geodesic between their
*reconstructions*, not between the photos: the reconstruction error (LPIPS and PSNR) says how far apart
those are.

Pictures come in through :func:`load_image`, which resizes and centre-crops them to the model's size and
refuses, with one line each, what it cannot read honestly: a file that is not an image, a truncated one,
16-bit samples, transparent pixels, a grey picture for a colour model, and pictures too small to scale up.

Example (seeded; real weights are fetched on first use)::

    from latent_geodesics.generators import load_generator
    from latent_geodesics.project import ProjectConfig, load_image, project_images

    gen = load_generator("zoo:celeba64")
    photos = torch.stack([load_image(p, image_shape=(3, 64, 64)) for p in ["a.jpg", "b.jpg"]])
    result = project_images(gen, photos, ProjectConfig(starts=4, steps=200), names=["a.jpg", "b.jpg"])
    result.latents          # (2, 100): use them as endpoints (--z0/--z1 files, or interpolate(...))
    result.lpips, result.psnr   # (2,) each: how well g(latents) matches the photos
"""

from __future__ import annotations

import dataclasses
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ._check import UserError, check_positive_int, first_line, os_error
from .generators import Generator
from .generators.base import project_to_prior
from .metrics import Metric, build_metric, cat
from .budget import chunk_for
from .paths import DEFAULT_CHUNK
from .reporting import model_block, report_json
from .solvers import Progress

DEFAULT_SHELL = 3.0
"""Standard deviations of the typical-set shell that projection keeps gaussian latents in (when the
generator sets none): a GAN has seen nothing outside it, and unconstrained inversion drifts there to
fit details the model cannot make, which then makes poor path endpoints."""

MAX_UPSCALE = 2.0
"""A picture is refused when the model's side is more than this many times its shorter side: scaling up
further invents the detail the projection would then try to match."""


# ---------------------------------------------------------------------------------------------------------------
# Reading pictures
# ---------------------------------------------------------------------------------------------------------------

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


def load_image(path: str | Path, *, image_shape: Sequence[int], model: str = "the model") -> Tensor:
    """Read a picture, resize it so that its shorter side fits the model, and centre-crop it.

    Rules (each refusal is one :class:`UserError` line naming the fix):

    - not an image, or truncated / corrupt: refused;
    - 16-bit (or float) samples: refused (how many of the 16 bits hold data is not knowable);
    - an alpha channel: dropped when every pixel is opaque; refused when any pixel is transparent (what is
      behind it is undefined);
    - a grey picture for a colour model: refused (a colour model cannot make a grey picture faithfully);
      a colour picture for a grey model is converted to luminance (ITU-R 601, Pillow's ``L``);
    - shorter side below ``model side / MAX_UPSCALE``: refused;
    - EXIF orientation is applied first; palette, CMYK and other modes are converted to RGB.

    Args:
        path: an image file Pillow reads (PNG, JPEG, WebP, ...).
        image_shape: the model's ``(C, H, W)``, ``C`` in ``{1, 3}``.
        model: how to name the model in messages.

    Returns:
        ``(C, H, W)`` float32 in ``[-1, 1]``.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    c, h, w = (int(s) for s in image_shape)
    path = Path(path)
    if path.is_dir():
        raise UserError(f"picture {path} is a folder; give an image file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                sixteen = im.mode in _SIXTEEN_BIT_MODES or _png_sixteen_bit(im)
                im.load()  # decode all of it here: a truncated file fails now, not half-way
                img = ImageOps.exif_transpose(im)
    except FileNotFoundError:
        raise UserError(f"picture {path} does not exist") from None
    except UnidentifiedImageError:
        raise UserError(f"{path} is not an image Pillow can read; give a PNG or JPEG picture") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise UserError(f"{path} is too large to read safely ({first_line(e)}); scale it down first") from None
    except OSError as e:
        if e.errno is not None:
            raise os_error(e, f"cannot read picture {path}") from e
        raise UserError(f"{path} is truncated or corrupt ({first_line(e)}); give a complete image file") from None
    except Exception as e:  # noqa: BLE001 - decoders raise many kinds (SyntaxError, ValueError) on bad data
        raise UserError(f"{path} is truncated or corrupt ({type(e).__name__}: {first_line(e)}); "
                        "give a complete image file") from None
    if sixteen:
        raise UserError(f"{path} has 16-bit (or floating-point) samples ({img.mode}); save it with 8 bits per "
                        "channel (e.g. PIL: img.convert('RGB') after scaling, or `convert in.png -depth 8 out.png`)")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in _ALPHA_MODES:
        alpha = np.asarray(img.getchannel("A"))
        if alpha.min() < 255:
            raise UserError(f"{path} has {int((alpha < 255).sum())} transparent pixel(s); flatten it onto a "
                            "background first (an opaque alpha channel is dropped)")
        img = img.convert("RGB" if img.mode.startswith(("RGB", "P")) else "L")
    grey = img.mode in ("1", "L")
    if c == 3 and grey:
        raise UserError(f"{path} is a grey picture but {model} makes colour images; give a colour picture "
                        "(or convert it to RGB yourself if you mean it)")
    img = img.convert("RGB" if c == 3 else "L")
    short = min(img.size)
    if short * MAX_UPSCALE < max(h, w):
        raise UserError(f"{path} is {img.size[0]}x{img.size[1]} pixels, too small for {model} ({w}x{h}): give "
                        f"a picture at least {math.ceil(max(h, w) / MAX_UPSCALE)} px on its shorter side")
    img = _resize_crop(img, h, w)
    arr = np.asarray(img, dtype=np.float32).reshape(h, w, c)
    return torch.from_numpy(arr).permute(2, 0, 1).div(127.5).sub(1).contiguous()


def _png_sixteen_bit(im) -> bool:
    """Pillow opens 16-bit RGB(A) PNGs as 8-bit modes; their raw mode still says 16."""
    return any(";16" in str(t[3] if len(t) > 3 else "") for t in getattr(im, "tile", []) or [])


def _resize_crop(img, h: int, w: int):
    """Scale so that the picture covers ``w x h`` (Lanczos, antialiased), then cut the centre."""
    from PIL import Image

    scale = max(w / img.size[0], h / img.size[1])
    size = (max(w, round(img.size[0] * scale)), max(h, round(img.size[1] * scale)))
    if size != img.size:
        img = img.resize(size, Image.Resampling.LANCZOS)
    left, top = (size[0] - w) // 2, (size[1] - h) // 2
    return img.crop((left, top, left + w, top + h))


def load_images(paths: Sequence[str | Path], *, image_shape: Sequence[int], model: str = "the model") -> Tensor:
    """:func:`load_image` for each path, all checked before any is used: ``(P, C, H, W)`` in ``[-1, 1]``."""
    if not paths:
        raise UserError("no pictures given; name at least one image file")
    return torch.stack([load_image(p, image_shape=image_shape, model=model) for p in paths])


# ---------------------------------------------------------------------------------------------------------------
# Projection
# ---------------------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ProjectConfig:
    """How :func:`project_images` searches (all recorded in reports).

    Attributes:
        starts: random starts per picture; all starts of all pictures run as one batch.
        steps: Adam steps.
        lr: Adam's step size, in latent units, decayed to zero on a cosine schedule.
        perceptual: metric name of the perceptual loss (a squared distance: LPIPS by default).
        perceptual_options: its ``build_metric`` options (default AlexNet LPIPS: about 6x faster than VGG-16 on
            a CPU; the reported error is VGG-16 LPIPS, so it is not the number that was minimised).
        pixel_weight: weight of the mean squared pixel error (images in ``[-1, 1]``) added to it.
        shell: for a gaussian prior without a shell of its own, keep latents within this many std of
            the typical-set radius (:data:`DEFAULT_SHELL`); ``None`` leaves them free.
        seed: seed of the starting latents.
        chunk_size: rows (picture x start) per generator + metric call; bounds memory.
    """

    starts: int = 4
    steps: int = 200
    lr: float = 0.05
    perceptual: str = "lpips"
    perceptual_options: Mapping[str, object] = field(default_factory=lambda: {"net": "alex"})
    pixel_weight: float = 1.0
    shell: float | None = DEFAULT_SHELL
    seed: int = 0
    chunk_size: int | None = DEFAULT_CHUNK

    def __post_init__(self) -> None:
        check_positive_int(self.starts, "--starts")
        check_positive_int(self.steps, "--projection-steps", minimum=0)
        if self.chunk_size is not None:
            check_positive_int(self.chunk_size, "chunk_size")
        for name in ("lr", "pixel_weight"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise UserError(f"projection {name} must be a finite number >= 0, got {value}")
        if self.shell is not None and not (math.isfinite(self.shell) and self.shell > 0):
            raise UserError(f"projection shell must be a positive number of std, got {self.shell}")

    def to_dict(self) -> dict:
        return {"starts": self.starts, "steps": self.steps, "lr": self.lr, "perceptual": self.perceptual,
                "perceptual_options": dict(self.perceptual_options), "pixel_weight": self.pixel_weight,
                "shell": self.shell, "seed": self.seed, "chunk_size": self.chunk_size}


@dataclass
class Projection:
    """The best latent found for each picture, and how well its image matches.

    Attributes:
        latents: ``(P, *latent_shape)``.
        reconstructions: ``g(latents)``, ``(P, C, H, W)`` in ``[-1, 1]``.
        targets: the pictures, ``(P, C, H, W)`` in ``[-1, 1]``.
        loss: ``(P,)`` the loss of the kept start.
        start_losses: ``(P, S)`` the final loss of every start (spread = how much several starts help).
        lpips: ``(P,)`` LPIPS v0.1 (VGG-16) between reconstruction and picture (lower is closer).
        psnr: ``(P,)`` dB, peak-signal-to-noise ratio of the reconstruction (higher is closer).
        config: the search settings.
        wall_time_s: seconds spent.
        names: one label per picture (e.g. its file name).
    """

    latents: Tensor
    reconstructions: Tensor
    targets: Tensor
    loss: Tensor
    start_losses: Tensor
    lpips: Tensor
    psnr: Tensor
    config: ProjectConfig
    wall_time_s: float
    names: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Per-picture numbers, their medians, and the settings (JSON-ready)."""
        names = self.names or [str(i) for i in range(self.latents.shape[0])]
        return {
            "settings": self.config.to_dict(),
            "images": [{"name": n, "lpips": float(lp), "psnr_db": float(ps), "loss": float(lo),
                        "start_losses": [float(v) for v in sl]}
                       for n, lp, ps, lo, sl in zip(names, self.lpips, self.psnr, self.loss, self.start_losses)],
            "median_lpips": float(self.lpips.median()),
            "median_psnr_db": float(self.psnr.median()),
            "wall_time_s": round(self.wall_time_s, 4),
        }


def psnr(x: Tensor, y: Tensor) -> Tensor:
    """Peak signal-to-noise ratio in dB of images ``(B, C, H, W)`` in ``[-1, 1]`` (peak-to-peak 2): ``(B,)``."""
    mse = (x - y).pow(2).flatten(1).mean(1).clamp_min(1e-12)
    return 10 * torch.log10(4.0 / mse)


def _cosine(step: int, total: int) -> float:
    return 0.5 * (1 + math.cos(math.pi * step / max(total, 1)))


def project_images(generator: Generator, targets: Tensor, config: ProjectConfig = ProjectConfig(), *,
                   progress: Progress | None = None, names: Sequence[str] = (),
                   metric: Metric | None = None, lpips: Metric | None = None) -> Projection:
    """Find, for each picture, the latent whose image matches it best.

    Loss per row: ``perceptual(g(z), target) + pixel_weight * mean((g(z) - target)^2)``. ``starts`` latents
    per picture are drawn from the prior (seeded), all ``P * starts`` rows are optimised together by Adam
    (each row's loss depends on its own latent only, so the batch is exactly independent runs), and after
    every step each latent is put back on the prior's support (the generator's sphere or shell, else
    ``config.shell``). Each picture keeps its start of lowest final loss.

    Args:
        generator: the model (its condition, if any, rides along).
        targets: pictures ``(P, C, H, W)`` in ``[-1, 1]`` at the model's image size (:func:`load_images`).
        config: the search settings.
        progress: a ``tqdm``-like bar with ``total = config.steps``; its postfix shows the median loss.
        names: labels of the pictures for the report.
        metric: the perceptual loss, prebuilt (default: ``config.perceptual`` built here).
        lpips: the LPIPS metric used for the reported error, prebuilt (default: built here).

    Returns:
        A :class:`Projection`.

    Raises:
        UserError: pictures of another shape than the model's images, or NaN.
    """
    t0 = time.perf_counter()
    device = generator.device
    targets = targets.to(device=device, dtype=torch.float32)
    image_shape = tuple(generator.probe(what=f"generator {generator.name}"))
    if targets.dim() != 4 or tuple(targets.shape[1:]) != image_shape or targets.shape[0] == 0:
        raise UserError(f"pictures of shape {tuple(targets.shape)} do not fit the model's images {image_shape}; "
                        "load them with load_images(..., image_shape=...)")
    if not torch.isfinite(targets).all():
        raise UserError("the pictures contain NaN or inf values")
    p, s = targets.shape[0], config.starts
    if metric is None:
        metric = build_metric(config.perceptual, device=device, **dict(config.perceptual_options))
    config = dataclasses.replace(config, chunk_size=chunk_for(generator, metric, config.chunk_size))
    shell = generator.shell if generator.constrained else config.shell
    mapped = getattr(generator, "space", "z") != "z"  # W and W+ have no gaussian prior to be kept on

    def on_prior(z: Tensor) -> Tensor:
        return z if mapped else project_to_prior(z, generator.latent_shape, generator.prior, shell)

    z = on_prior(start_latents(generator, p, s, seed=config.seed).to(device)).requires_grad_(True)
    rows = targets.repeat_interleave(s, 0)                                         # (P*S, C, H, W)
    with torch.no_grad():
        target_features = cat([metric.embed(part) for part in rows.split(config.chunk_size)])
    opt = torch.optim.Adam([z], lr=config.lr)
    for step in range(config.steps):
        for group in opt.param_groups:
            group["lr"] = config.lr * _cosine(step, config.steps)
        opt.zero_grad(set_to_none=True)
        losses = []
        for lo in range(0, p * s, config.chunk_size):
            hi = min(lo + config.chunk_size, p * s)
            loss = _loss(generator, metric, z[lo:hi], rows[lo:hi], tuple(f[lo:hi] for f in target_features),
                         config.pixel_weight)
            loss.sum().backward()
            losses.append(loss.detach())
        opt.step()
        with torch.no_grad():
            z.copy_(on_prior(z))
        if progress is not None:
            progress.update(1)
            progress.set_postfix_str(f"loss {float(torch.cat(losses).median()):.4g}", refresh=False)
    z = z.detach()
    with torch.no_grad():
        final = torch.cat([_loss(generator, metric, z[lo:lo + config.chunk_size], rows[lo:lo + config.chunk_size],
                                 tuple(f[lo:lo + config.chunk_size] for f in target_features), config.pixel_weight)
                           for lo in range(0, p * s, config.chunk_size)]).view(p, s)
        if not torch.isfinite(final).all():
            raise UserError("projection gave NaN or inf losses: the model makes NaN images for some latents; "
                            "check the model, or lower --projection-lr")
        best = final.argmin(1)                                                    # (P,)
        latents = z.view(p, s, *generator.latent_shape)[torch.arange(p, device=device), best]
        recon = torch.cat([generator(latents[lo:lo + config.chunk_size])
                           for lo in range(0, p, config.chunk_size)])
        if lpips is None:
            lpips = metric if _is_lpips_vgg(config) else build_metric("lpips", device=device)
        lp = torch.cat([lpips(recon[lo:lo + config.chunk_size], targets[lo:lo + config.chunk_size])
                        for lo in range(0, p, config.chunk_size)])
    return Projection(latents=latents, reconstructions=recon, targets=targets, loss=final.gather(1, best[:, None])[:, 0],
                      start_losses=final, lpips=lp, psnr=psnr(recon, targets), config=config,
                      wall_time_s=time.perf_counter() - t0, names=list(names))


def start_latents(generator: Generator, pictures: int, starts: int, *, seed: int) -> Tensor:
    """Starting latents ``(pictures * starts, *latent_shape)`` drawn from the prior, picture by picture.

    Picture ``i`` has its own RNG (seeded from ``seed`` and ``i``) and draws its starts one at a time, so its
    starts do not depend on the other pictures of the batch, and ``k`` starts are the first ``k`` of more. On a
    StyleGAN-class model the draws are Z codes mapped into its space (W has no gaussian prior).
    """
    z_shape = getattr(generator, "z_shape", None)
    rows = []
    for i in range(pictures):
        rng = torch.Generator().manual_seed((int(seed) * 1_000_003 + i) % 2**63)
        rows += [torch.randn(1, *(z_shape or generator.latent_shape), generator=rng) for _ in range(starts)]
    if z_shape is not None:
        return generator.from_z(torch.cat(rows)).cpu()
    return generator.endpoint(torch.cat(rows))


def _is_lpips_vgg(config: ProjectConfig) -> bool:
    return config.perceptual == "lpips" and dict(config.perceptual_options).get("net", "vgg") == "vgg" and \
        set(config.perceptual_options) <= {"net"}


def _loss(generator: Generator, metric: Metric, z: Tensor, targets: Tensor, target_features: tuple[Tensor, ...],
          pixel_weight: float) -> Tensor:
    """Per-row loss ``(B,)``: perceptual squared distance plus weighted mean squared pixel error."""
    x = generator(z)
    loss = metric.compare(metric.embed(x), target_features)
    if pixel_weight:
        loss = loss + pixel_weight * (x - targets).pow(2).flatten(1).mean(1)
    return loss


def side_by_side(projection: Projection) -> np.ndarray:
    """Each picture beside its reconstruction, one row per picture: ``(P, 2, H, W, 3)`` uint8 for ``tile``."""
    from .rendering import to_uint8

    pics, recs = to_uint8(projection.targets), to_uint8(projection.reconstructions)
    return np.stack([pics, recs], 1)


PROJECT_FILES = ("projection.png", "latents.npy", "report.json")
"""The files ``latent-geodesics project`` writes into its output folder."""


def write_projection_files(stage: Path, projection: Projection) -> None:
    """``projection.png`` (each picture beside its reconstruction, one row per picture) into a staging folder."""
    from .rendering import tile, write_png

    write_png(stage / "projection.png", tile(side_by_side(projection)))


def project_job(generator: Generator, targets: Tensor, out_dir: str | Path, config: ProjectConfig = ProjectConfig(),
                *, model_name: str, names: Sequence[str] = (), progress: Progress | None = None) -> dict:
    """Project pictures and write ``projection.png``, ``latents.npy`` and ``report.json``, all or nothing.

    Args:
        targets: pictures ``(P, C, H, W)`` in ``[-1, 1]`` (:func:`load_images`).
        out_dir: created if needed; nothing in it changes unless the whole job succeeds.

    Returns:
        The report: model, the projection's :meth:`Projection.to_dict`, device.
    """
    import json

    from ._check import check_output_dir
    from .rendering import staged_outputs, write_json

    out = check_output_dir(out_dir, files=PROJECT_FILES)
    result = project_images(generator, targets, config, progress=progress, names=names)
    report = report_json("project", {"model": model_block(model_name, generator, result.targets.shape[1:]),
                                     "projection": result.to_dict(), "latents": "latents.npy",
                                     "device": str(generator.device)}, with_host=False)
    with staged_outputs(out) as stage:
        write_projection_files(stage, result)
        np.save(stage / "latents.npy", result.latents.detach().cpu().numpy())
        write_json(stage / "report.json", report)
    return json.loads(json.dumps(report))
