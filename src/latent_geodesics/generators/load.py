"""Turn what the user names into a checked :class:`Generator`.

Accepted: a :class:`Generator`; an ``nn.Module`` or callable; a TorchScript file (``*.pt``/``*.pth``);
a ``package.module:factory`` spec whose factory returns either of the former; ``zoo:NAME``.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from .._check import UserError, check_shell, first_line, resolve_device
from .base import Generator, Prior
from .zoo import load_zoo


def _latent_shape_of(net: object, given: tuple[int, ...] | None, what: str) -> tuple[int, ...]:
    if given is not None:
        return tuple(given)
    for attr in ("latent_shape", "z_dim", "latent_dim", "nz"):
        value = getattr(net, attr, None)
        if isinstance(value, int):
            return (value,)
        if isinstance(value, (tuple, list)) and value and all(isinstance(v, int) for v in value):
            return tuple(value)
    raise UserError(f"{what}: cannot tell its latent size; pass --latent-shape (e.g. --latent-shape 128) "
                    "or give the model a `latent_shape` attribute")


def load_torchscript(path: str | Path, *, device: torch.device) -> torch.jit.ScriptModule:
    path = Path(path)
    if path.is_dir():
        raise UserError(f"model {path} is a folder, not a TorchScript file; give the .pt file inside it")
    if not path.is_file():
        raise UserError(f"model file {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch 2.10+ marks TorchScript deprecated; it is still what users have
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location=device)
    except Exception as e:  # torch raises many kinds for a file that is not TorchScript
        raise UserError(f"{path} is not a TorchScript model ({first_line(e)}); save one with "
                        "torch.jit.save(torch.jit.script(model), path)") from e


def _import_factory(spec: str) -> Callable:
    module_name, _, attr = spec.partition(":")
    if not module_name.strip() or not attr.strip():
        raise UserError(f"model {spec!r} must look like package.module:factory (both parts named)")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as e:
        raise UserError(f"cannot import {module_name!r} for model {spec!r}: syntax error in {e.filename} "
                        f"line {e.lineno}: {e.msg}") from e
    except Exception as e:  # the module's own code raised while it was imported
        raise UserError(f"cannot import {module_name!r} for model {spec!r}: {type(e).__name__}: {first_line(e)}") \
            from e
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise UserError(f"module {module_name!r} has no {attr!r} for model {spec!r}") from None
    if not callable(factory):
        raise UserError(f"{spec!r} is not callable; it must be a function or class that returns a generator")
    return factory


def _call_factory(spec: str) -> object:
    """Call the factory a ``package.module:factory`` spec names, with no arguments."""
    factory = _import_factory(spec)
    try:
        return factory()
    except UserError:
        raise
    except Exception as e:  # the user's factory raised, or it needs arguments
        raise UserError(f"model factory {spec!r} failed when called with no arguments: {type(e).__name__}: "
                        f"{first_line(e)}; it must build the generator by itself") from e


def load_generator(model: object, *, device: str | torch.device | None = "cpu",
                   latent_shape: tuple[int, ...] | None = None, prior: Prior | None = None,
                   discriminator: Callable | None = None, shell: float | None = None,
                   condition: torch.Tensor | None = None, check: bool = True) -> Generator:
    """Load and check a generator.

    Args:
        model: a :class:`Generator`, ``nn.Module``/callable, ``"zoo:NAME"``, a TorchScript path, or
            ``"package.module:factory"``.
        device: where it runs (``"auto"`` picks CUDA when available).
        latent_shape: shape of one latent (needed when the model does not say).
        prior: overrides the model's prior (default ``gaussian``).
        discriminator: optional realism critic ``images -> (B,)``.
        shell: keep gaussian latents near the typical-set radius (see :class:`Generator`).
        condition: a fixed extra input (e.g. a one-hot class label) passed to the model with every
            latent, as ``net(z, condition.expand(B, ...))``.
        check: probe the generator on two latents and check the images' shape and range.

    Raises:
        UserError: unknown name, unreadable file, or a model whose output is not images in ``[-1, 1]``.
    """
    dev = resolve_device(device)
    what = f"model {model!r}" if isinstance(model, str) else "model"
    check_shell(shell)
    if isinstance(model, str) and model.startswith("zoo:"):
        gen = load_zoo(model[4:], dev)
    elif isinstance(model, str) and (model.endswith((".pt", ".pth", ".ts")) or Path(model).is_file()
                                     or Path(model).is_dir()):
        net = load_torchscript(model, device=dev)
        gen = Generator(net, latent_shape=_latent_shape_of(net, latent_shape, what), prior=prior or "gaussian",
                        name=Path(model).name)
    elif isinstance(model, str) and ":" in model:
        obj = _call_factory(model)
        return load_generator(obj, device=dev, latent_shape=latent_shape, prior=prior,
                              discriminator=discriminator, shell=shell, condition=condition, check=check)
    elif isinstance(model, str):
        raise UserError(f"unknown model {model!r}; give zoo:NAME, a TorchScript .pt file, "
                        "or package.module:factory")
    elif isinstance(model, Generator):
        gen = model
    elif callable(model):
        gen = Generator(model, latent_shape=_latent_shape_of(model, latent_shape, what),
                        prior=prior or "gaussian", name=type(model).__name__)
    else:
        raise UserError(f"cannot use a {type(model).__name__} as a generator; give a module or callable")
    if prior is not None and gen.prior != prior:
        gen.prior = prior
    if shell is not None:
        gen.shell = shell
    if latent_shape is not None and tuple(latent_shape) != gen.latent_shape:
        raise UserError(f"{what} has latent shape {gen.latent_shape}, not {tuple(latent_shape)}")
    if discriminator is not None or condition is not None:
        gen = Generator(gen.net, latent_shape=gen.latent_shape, prior=gen.prior,
                        discriminator=discriminator if discriminator is not None else gen.discriminator,
                        condition=condition if condition is not None else gen.condition, name=gen.name,
                        shell=gen.shell)
    gen = gen.to(dev)
    if check:
        gen.probe(what=what)
    return gen
