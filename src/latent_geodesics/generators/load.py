"""Turn what the user names into a checked :class:`Generator` (and, optionally, its discriminator).

Accepted: a :class:`Generator`; an ``nn.Module`` or callable; a TorchScript file (``*.pt``/``*.pth``);
a ``package.module:factory`` spec whose factory returns either of the former; ``zoo:NAME``; a StyleGAN-class
network (NVIDIA's interface) as a pickle (``*.pkl``), a module or a factory's result
(:mod:`~latent_geodesics.generators.stylegan`). A discriminator is given the same ways (a module or callable, a
TorchScript file, a factory spec, or a pickle's ``D``).
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from .._check import UserError, check_shell, first_line, resolve_device
from .base import Generator, Prior
from .stylegan import is_pickle_name, is_style_network, load_pickle, style_generator
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


def load_torchscript(path: str | Path, *, device: torch.device, what: str = "model") -> torch.jit.ScriptModule:
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{what} {path} is a folder, not a TorchScript file; give the .pt file inside it")
    if not path.is_file():
        raise UserError(f"{what} file {path} does not exist")
    try:
        with warnings.catch_warnings():  # torch 2.10+ marks TorchScript deprecated; it is still what users have
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location=device)
    except Exception as e:  # torch raises many kinds for a file that is not TorchScript
        raise UserError(f"{path} is not a TorchScript {what} ({first_line(e)}); save one with "
                        "torch.jit.save(torch.jit.script(model), path)") from e


def _import_factory(spec: str, what: str = "model", returns: str = "a generator") -> Callable:
    module_name, _, attr = spec.partition(":")
    if not module_name.strip() or not attr.strip():
        raise UserError(f"{what} {spec!r} must look like package.module:factory (both parts named)")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as e:
        raise UserError(f"cannot import {module_name!r} for {what} {spec!r}: syntax error in {e.filename} "
                        f"line {e.lineno}: {e.msg}") from e
    except Exception as e:  # the module's own code raised while it was imported (ImportError included)
        raise UserError(f"cannot import {module_name!r} for {what} {spec!r}: {type(e).__name__}: {first_line(e)}") \
            from e
    try:
        factory = getattr(module, attr)
    except AttributeError:
        raise UserError(f"module {module_name!r} has no {attr!r} for {what} {spec!r}") from None
    if not callable(factory):
        raise UserError(f"{spec!r} is not callable; it must be a function or class that returns {returns}")
    return factory


def _call_factory(spec: str, what: str = "model", builds: str = "generator") -> object:
    """Call the factory a ``package.module:factory`` spec names, with no arguments."""
    factory = _import_factory(spec, what, f"a {builds}")
    try:
        return factory()
    except UserError:
        raise
    except Exception as e:  # the user's factory raised, or it needs arguments
        raise UserError(f"{what} factory {spec!r} failed when called with no arguments: {first_line(e)} "
                        f"({type(e).__name__}); it must build the {builds} by itself") from e


def _is_file_spec(spec: str) -> bool:
    """A TorchScript file by its name, or a path that exists (a folder too, to say it is one)."""
    return spec.endswith((".pt", ".pth", ".ts")) or Path(spec).is_file() or Path(spec).is_dir()


def load_discriminator(spec: object, *, device: str | torch.device | None = "cpu") -> Callable:
    """Load a discriminator: ``images (B, C, H, W) in [-1, 1] -> scores (B,)`` or ``(B, 1)``, higher = more real.

    Args:
        spec: an ``nn.Module`` or callable, a TorchScript file, or ``"package.module:factory"`` whose factory
            returns a module or callable.
        device: where it runs (modules are moved there).

    Returns:
        The module or callable. It is checked on generated images when it rides along with a generator
        (:meth:`Generator.probe`, run by :func:`load_generator`).

    Raises:
        UserError: unknown name, unreadable file, or a factory that does not return a module or callable.
    """
    dev = resolve_device(device)
    if is_pickle_name(spec):
        disc = load_pickle(spec, part="discriminator")
        if not callable(disc):
            raise UserError(f"the 'D' of {spec} is a {type(disc).__name__}, not a network")
    elif isinstance(spec, (str, Path)) and _is_file_spec(str(spec)):
        disc = load_torchscript(spec, device=dev, what="discriminator")
    elif isinstance(spec, str) and ":" in spec:
        disc = _call_factory(spec, "discriminator", "discriminator module")
        if not callable(disc):
            raise UserError(f"discriminator {spec!r} returned a {type(disc).__name__}, not a module or callable "
                            "mapping images (B, C, H, W) to scores (B,)")
    elif isinstance(spec, (str, Path)):
        raise UserError(f"unknown discriminator {str(spec)!r}; give a TorchScript .pt file, a StyleGAN .pkl or "
                        "package.module:factory")
    elif callable(spec):
        disc = spec
    else:
        raise UserError(f"cannot use a {type(spec).__name__} as a discriminator; give a module or callable")
    return disc.to(dev) if isinstance(disc, torch.nn.Module) else disc


def load_generator(model: object, *, device: str | torch.device | None = "cpu",
                   latent_shape: tuple[int, ...] | None = None, prior: Prior | None = None,
                   discriminator: str | Path | Callable | None = None, shell: float | None = None,
                   condition: torch.Tensor | None = None, check: bool = True, space: str | None = None,
                   truncation: float | None = None, truncation_cutoff: int | None = None,
                   class_index: int | None = None) -> Generator:
    """Load and check a generator.

    Args:
        model: a :class:`Generator`, ``nn.Module``/callable, ``"zoo:NAME"``, a TorchScript path, or
            ``"package.module:factory"``.
        device: where it runs (``"auto"`` picks CUDA when available).
        latent_shape: shape of one latent (needed when the model does not say).
        prior: overrides the model's prior (default ``gaussian``).
        discriminator: a realism critic ``images -> (B,)`` that replaces the model's own (if any): whatever
            :func:`load_discriminator` accepts.
        shell: keep gaussian latents near the typical-set radius (see :class:`Generator`).
        condition: a fixed extra input (e.g. a one-hot class label) passed to the model with every
            latent, as ``net(z, condition.expand(B, ...))``.
        check: probe the generator on two latents and check the images' shape and range, that two identical
            calls give the same images, and the discriminator's scores of those images (one finite score per
            image, independent of the batch).
        space: for a StyleGAN-class network only, as are the next three (refused for others): where paths live
            (``z``, ``w``, ``w+``; default ``w``)
            (:func:`~latent_geodesics.generators.stylegan.style_generator`).
        truncation: ``psi``.
        truncation_cutoff: the layer cutoff of the truncation.
        class_index: the class of a conditional network.

    Raises:
        UserError: unknown name, unreadable file, a model whose output is not images in ``[-1, 1]``, or a
            bad discriminator.
    """
    dev = resolve_device(device)
    check_shell(shell)
    if discriminator is not None:
        discriminator = load_discriminator(discriminator, device=dev)
    what = f"model {model!r}" if isinstance(model, str) else "model"
    style = {"space": space, "truncation": truncation, "truncation_cutoff": truncation_cutoff,
             "class_index": class_index}
    if is_pickle_name(model) or is_style_network(model):
        net = load_pickle(model) if is_pickle_name(model) else model
        name = Path(model).name if is_pickle_name(model) else type(model).__name__
        if latent_shape is not None or prior is not None or shell is not None or condition is not None:
            raise UserError(f"{what} is a StyleGAN-class network: its latent shape, prior and label come from it; "
                            "leave out --latent-shape, --prior, --shell and --condition (--class K for a label)")
        if isinstance(net, torch.nn.Module):
            net = net.to(dev)
        gen = style_generator(net, **style, discriminator=discriminator, name=name).to(dev)
        if check:
            gen.probe(what=what)
        return gen
    if class_index is not None:
        raise UserError(f"--class names a class of a conditional zoo model, or the class number of a StyleGAN-class "
                        f"model; for {what} give the model's input with --condition FILE.npy")
    if any(v is not None for v in style.values()):
        given = [f"--{k.replace('_', '-')}" for k, v in style.items() if v is not None]
        raise UserError(f"{', '.join(given)} {'apply' if len(given) > 1 else 'applies'} to StyleGAN-class models "
                        f"(a mapping network and w); {what} is not one")
    if isinstance(model, str) and model.startswith("zoo:"):
        gen = load_zoo(model[4:], dev)
    elif isinstance(model, str) and _is_file_spec(model):
        net = load_torchscript(model, device=dev)
        gen = Generator(net, latent_shape=_latent_shape_of(net, latent_shape, what), prior=prior or "gaussian",
                        name=Path(model).name)
    elif isinstance(model, str) and ":" in model:
        obj = _call_factory(model)
        return load_generator(obj, device=dev, latent_shape=latent_shape, prior=prior, discriminator=discriminator,
                              shell=shell, condition=condition, check=check, **style)
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
