"""StyleGAN-class networks as their users hold them: NVIDIA's pickles, paths in Z, W or W+, truncation, their D.

A *style network* has NVIDIA's calling interface (StyleGAN2-ADA, StyleGAN3):
``mapping(z, c, truncation_psi, truncation_cutoff) -> ws (B, num_ws, w_dim)`` with a ``w_avg`` buffer,
``synthesis(ws, noise_mode=...) -> images (B, C, R, R)`` and the attributes ``z_dim``, ``w_dim``, ``num_ws``,
``c_dim``. :func:`style_generator` makes a :class:`StyleGenerator` whose latent is a point of one space:

- ``z``: ``(z_dim,)``; every point goes through the mapping (with truncation), as in ``G(z, c)``;
- ``w``: ``(w_dim,)``, given to every layer; the default, as their tools interpolate in W;
- ``w+``: ``(num_ws, w_dim)``, a w per layer.

Seeds and Z latents go through the mapping into the space (:meth:`StyleGenerator.from_z`), so a seed gives
the image it gives in every space. Synthesis always runs with ``noise_mode='const'``: a path's energy must be
a function of its points. Pickles run code when loaded; :func:`load_pickle` is only called on a file the user
named on the command line or in Python, never on a name read from a data file.
"""

from __future__ import annotations

import pickle
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from .._check import UserError, first_line
from ..limits import SPACES
from .base import Generator, check_seed

DEFAULT_SPACE = "w"
"""Where paths live on a style network unless ``--space`` says otherwise (see docs/stylegan.md)."""
STYLE_ATTRIBUTES = ("mapping", "synthesis", "z_dim", "w_dim", "num_ws", "c_dim")
PICKLE_SUFFIXES = (".pkl", ".pickle")
NVIDIA_SEEDS = 2**32
"""Seeds below this draw ``z`` as NVIDIA's tools do (``numpy.random.RandomState(seed).randn(z_dim)``, 32 bits)."""


def is_style_network(obj: object) -> bool:
    """Whether ``obj`` has NVIDIA's generator interface (mapping, synthesis and their sizes)."""
    return all(hasattr(obj, a) for a in STYLE_ATTRIBUTES) and callable(getattr(obj, "synthesis", None))


def is_pickle_name(spec: object) -> bool:
    return isinstance(spec, (str, Path)) and str(spec).lower().endswith(PICKLE_SUFFIXES)


def load_pickle(path: str | Path, *, part: str = "generator") -> object:
    """The generator (``G_ema``, else ``G``) or the discriminator (``D``) of a pickle as NVIDIA's training saves it.

    A pickle that holds one network (not a dict) is that network. Loading runs code from the classes the
    pickle names: call this only on a file the user named.

    Raises:
        UserError: no such file, not a pickle, a class whose module cannot be imported (the line names it and
            says to put the code's checkout on ``PYTHONPATH``), or no network of that part in the dict.
    """
    path = Path(path)
    what = "discriminator" if part == "discriminator" else "model"
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder, not a pickle; give the .pkl file inside it")
    if not path.is_file():
        raise UserError(f"{what} file {path} does not exist")
    try:
        with open(path, "rb") as f:
            data = pickle.load(f)
    except ModuleNotFoundError as e:
        raise UserError(f"{path} needs module {e.name!r}, which cannot be imported: put your checkout of the code "
                        "that saved it (for NVIDIA's StyleGAN2-ADA or StyleGAN3 pickles, the folder holding "
                        "torch_utils and dnnlib) on PYTHONPATH") from None
    except AttributeError as e:  # the module imports but lacks the class: another version of the code
        raise UserError(f"{path} names a class its code does not have ({first_line(e)}); put the checkout of "
                        "the code version that saved it on PYTHONPATH") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, ImportError) as e:
        raise UserError(f"{path} is not a readable pickle ({first_line(e) or type(e).__name__}); is the file whole? "
                        "give the .pkl file the training wrote") from None
    except OSError as e:
        raise UserError(f"cannot read {what} file {path}: {e.strerror or first_line(e)}") from None
    if isinstance(data, dict):
        keys = ("D",) if part == "discriminator" else ("G_ema", "G")
        for key in keys:
            if data.get(key) is not None:
                return data[key]
        shown = ", ".join(repr(k) for k in list(data)[:8])
        raise UserError(f"{path} holds no {' or '.join(repr(k) for k in keys)} (its keys: {shown}); give a pickle "
                        "that NVIDIA's StyleGAN training wrote")
    return data


def one_hot(class_index: int | None, c_dim: int) -> Tensor:
    """The label ``c`` ``(c_dim,)`` of a conditional network (``(0,)`` when it takes none)."""
    if c_dim == 0:
        if class_index is not None:
            raise UserError("this model takes no class (c_dim 0); leave out --class")
        return torch.zeros(0)
    if class_index is None:
        raise UserError(f"this model is conditional on {c_dim} classes; give --class K with K from 0 to {c_dim - 1}")
    if not 0 <= class_index < c_dim:
        raise UserError(f"--class {class_index} is out of range; this model has classes 0 to {c_dim - 1}")
    return torch.nn.functional.one_hot(torch.tensor(class_index), c_dim).float()


class _Synthesis(nn.Module):
    """``points (B, *latent_shape), c (B, c_dim) -> images``: the points of a space made into ws, then synthesis
    with constant noise; images are clamped to ``[-1, 1]`` as the user sees them (docs/stylegan.md says why)."""

    def __init__(self, net: nn.Module, space: str, psi: float, cutoff: int | None, w_avg: Tensor) -> None:
        super().__init__()
        self.net, self.space, self.psi, self.cutoff = net, space, psi, cutoff
        self.register_buffer("w_avg", w_avg, persistent=False)

    def mapped(self, z: Tensor, c: Tensor, cutoff: int | None) -> Tensor:
        """``ws (B, num_ws, w_dim)``: the mapping without truncation, then ``w_avg + psi (w - w_avg)`` on the first
        ``cutoff`` layers (all if ``None``), as NVIDIA's mapping truncates, with the model's ``w_avg`` or ours."""
        ws = self.net.mapping(z, c, truncation_psi=1, truncation_cutoff=None)
        if self.psi == 1:
            return ws
        k = ws.shape[1] if cutoff is None else cutoff
        return torch.cat([self.w_avg.lerp(ws[:, :k], self.psi), ws[:, k:]], dim=1)

    def ws(self, points: Tensor, c: Tensor) -> Tensor:
        if self.space == "z":
            return self.mapped(points, c, self.cutoff)
        if self.space == "w":
            return points.unsqueeze(1).expand(-1, int(self.net.num_ws), -1)
        return points

    def forward(self, points: Tensor, c: Tensor) -> Tensor:
        return self.net.synthesis(self.ws(points, c), noise_mode="const").clamp(-1, 1)


class _Critic(nn.Module):
    """``images (B, C, R, R) -> logits (B,)``: NVIDIA's ``D(img, c)`` with the model's label."""

    def __init__(self, net: nn.Module, c: Tensor) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("c", c, persistent=False)

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images, self.c.expand(images.shape[0], -1)).reshape(images.shape[0], -1)[:, 0]


class StyleGenerator(Generator):
    """A :class:`Generator` on a style network, its latent a point of ``space`` (``z``, ``w`` or ``w+``).

    Attributes:
        space: ``"z"``, ``"w"`` or ``"w+"``.
        truncation: ``psi``; ``w_avg + psi (w - w_avg)`` on the first ``truncation_cutoff`` layers (all if ``None``).
        z_shape: ``(z_dim,)``: what seeds draw and ``--z`` files hold before the mapping.
        style: the network itself (frozen).
    """

    def __init__(self, net: nn.Module, *, space: str = DEFAULT_SPACE, truncation: float = 1.0,
                 truncation_cutoff: int | None = None, class_index: int | None = None,
                 discriminator: Callable | None = None, name: str = "stylegan") -> None:
        space = space.lower()
        if space not in SPACES:
            raise UserError(f"unknown --space {space!r}; choose one of: {', '.join(SPACES)}")
        num_ws, w_dim, z_dim, c_dim = (int(getattr(net, a)) for a in ("num_ws", "w_dim", "z_dim", "c_dim"))
        if truncation_cutoff is not None and space == "w":
            raise UserError("--truncation-cutoff truncates some layers only, which a single w cannot hold; "
                            "use --space w+ (or z) with it")
        if truncation_cutoff is not None and not 1 <= truncation_cutoff <= num_ws:
            raise UserError(f"--truncation-cutoff must be from 1 to the model's {num_ws} layers, got {truncation_cutoff}")
        c = one_hot(class_index, c_dim)
        shape = {"z": (z_dim,), "w": (w_dim,), "w+": (num_ws, w_dim)}[space]
        critic = _Critic(discriminator, c) if isinstance(discriminator, nn.Module) and _takes_label(discriminator) \
            else discriminator
        w_avg = _w_avg(net, c) if truncation != 1 else torch.zeros(w_dim)
        super().__init__(_Synthesis(net, space, float(truncation), truncation_cutoff, w_avg), latent_shape=shape,
                         prior="gaussian", discriminator=critic, condition=c, name=name)
        self.space, self.truncation, self.truncation_cutoff = space, float(truncation), truncation_cutoff
        self.class_index = class_index
        self.z_shape = (z_dim,)

    @property
    def style(self) -> nn.Module:
        return self.net.net

    @property
    def constrained(self) -> bool:
        return False

    def endpoint(self, z: Tensor) -> Tensor:
        return z

    def project(self, z: Tensor) -> Tensor:
        return z

    @torch.no_grad()
    def from_z(self, z: Tensor, *, class_index: int | None = None) -> Tensor:
        """Z latents ``(B, z_dim)`` as points of this space ``(B, *latent_shape)`` (mapped, truncated), with the
        model's class or, for a path between classes in W or W+, ``class_index``."""
        z = z.to(self.device, torch.float32)
        if self.space == "z":
            return z
        label = self.condition if class_index is None else one_hot(class_index, self.condition.numel()).to(z)
        c = label.expand(z.shape[0], -1)
        ws = self.net.mapped(z, c, self.truncation_cutoff if self.space == "w+" else None)
        return ws[:, 0] if self.space == "w" else ws

    def sample_latents(self, n: int, *, seed: int, device: torch.device | str | None = None) -> Tensor:
        """``n`` points of this space from ``seed``: ``z = RandomState(seed).randn(n, z_dim)`` (the ``z`` NVIDIA's
        ``gen_images.py --seeds`` draws for one image), mapped into the space."""
        return self.from_z(self.z_of_seed(seed, n)).to(device or self.device)

    def z_of_seed(self, seed: int, n: int = 1) -> Tensor:
        """``RandomState(seed).randn(n, z_dim)`` as float32 ``(n, z_dim)``, on the CPU (a seed of 32 bits or more
        seeds the RandomState with its two 32-bit words)."""
        seed = check_seed(seed)
        state = seed if seed < NVIDIA_SEEDS else [seed % NVIDIA_SEEDS, seed // NVIDIA_SEEDS]
        return torch.from_numpy(np.random.RandomState(state).randn(n, *self.z_shape)).float()

    def style_info(self) -> dict:
        """What report.json and path.npz record: ``space``, ``truncation``, ``truncation_cutoff``, ``class``."""
        return {"space": self.space, "truncation": self.truncation, "truncation_cutoff": self.truncation_cutoff,
                "class": self.class_index}


W_AVG_SAMPLES = 10_000
"""Mapped samples averaged for ``w_avg`` where a model has none (NVIDIA's projector uses 10,000)."""
_W_AVG_CACHE: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


@torch.no_grad()
def _w_avg(net: nn.Module, c: Tensor) -> Tensor:
    """The model's ``mapping.w_avg``, or the mean of mapped samples (seeded, with the model's label), computed once
    per network and label."""
    tracked = getattr(getattr(net, "mapping", None), "w_avg", None)
    if isinstance(tracked, Tensor):
        return tracked.detach().float().clone()
    cache = _W_AVG_CACHE.setdefault(net, {})
    key = tuple(c.tolist())
    if key not in cache:
        device = next((t.device for t in net.parameters()), torch.device("cpu"))
        rng = torch.Generator().manual_seed(0)
        total = torch.zeros(int(net.w_dim), dtype=torch.float64)
        for lo in range(0, W_AVG_SAMPLES, 1000):
            z = torch.randn(1000, int(net.z_dim), generator=rng).to(device)
            ws = net.mapping(z, c.to(device).expand(1000, -1), truncation_psi=1, truncation_cutoff=None)
            total += ws[:, 0].double().sum(0).cpu()
        cache[key] = (total / W_AVG_SAMPLES).float()
    return cache[key].clone()


def _takes_label(module: nn.Module) -> bool:
    """NVIDIA's D takes ``(img, c)``; a discriminator given as a plain ``images -> scores`` module does not."""
    return hasattr(module, "c_dim")


def style_generator(net: object, *, space: str | None = None, truncation: float | None = None,
                    truncation_cutoff: int | None = None, class_index: int | None = None,
                    discriminator: object | None = None, name: str = "stylegan") -> StyleGenerator:
    """A :class:`StyleGenerator` on ``net`` (a style network, e.g. from :func:`load_pickle`); ``discriminator``:
    NVIDIA's ``D(img, c)`` or any ``images -> scores`` callable."""
    if not is_style_network(net):
        missing = [a for a in STYLE_ATTRIBUTES if not hasattr(net, a)]
        raise UserError(f"{name} is not a StyleGAN-class network: it lacks {', '.join(missing)}; a .pkl model must "
                        "hold NVIDIA's generator (G_ema) or a network with its interface")
    if truncation is not None and not (np.isfinite(truncation) and -1 <= truncation <= 2):
        raise UserError(f"--truncation must be a number from -1 to 2 (1: none; their tools use 0.5-1), got {truncation}")
    return StyleGenerator(net, space=space or DEFAULT_SPACE, truncation=1.0 if truncation is None else truncation,
                          truncation_cutoff=truncation_cutoff, class_index=class_index, discriminator=discriminator,
                          name=name)
