"""The command group: one error line and an exit code for every failure, signals that roll back outputs."""

from __future__ import annotations

import signal
import threading
import warnings

import click

from .._version import __version__
from .._check import MachineError, StateWarning, UserError, first_line, os_error


class _Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that every ``finally`` (staging, rollback) runs."""


_SIGNALLED: list[int] = []
"""Signals received during this command (a SIGTERM that lands inside an import may surface as another error)."""
_DONE = threading.Event()
"""Set once the command has said what it wrote (:func:`wrote`): its outputs are final, a signal no longer undoes
them, and the exit code stays 0."""


def _raise_terminated(signum, frame) -> None:
    _SIGNALLED.append(signum)
    if not _DONE.is_set():
        raise _Terminated()


def _interrupt(signum, frame) -> None:
    if not _DONE.is_set():
        raise KeyboardInterrupt()


def wrote(text: str, *, err: bool = False) -> None:
    """Print the ``wrote ...`` line of a command whose outputs are committed: from here on Ctrl-C and SIGTERM
    leave the exit code 0, as the files are kept (130/143 mean rolled back)."""
    click.echo(text, err=err)
    _DONE.set()


def _interrupted_by(e: BaseException) -> int | None:
    """130 or 143 when ``e`` is, or was caused by, Ctrl-C or SIGTERM (say, an import that SIGTERM cut short and
    that then failed with an ImportError), else ``None``."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, _Terminated):
            return 143
        if isinstance(e, KeyboardInterrupt):
            return 130
        e = e.__cause__ or e.__context__
    return 143 if signal.SIGTERM in _SIGNALLED else None


def _machine_fault(e: BaseException) -> MachineError | None:
    """Out of memory or a full disk where no code caught it: a fault of the machine, one line."""
    if isinstance(e, MemoryError):
        return MachineError(f"out of memory{f' ({first_line(e)})' if str(e) else ''}; use fewer frames, pairs or "
                            "points, or a smaller --chunk-size")
    if isinstance(e, OSError):
        err = os_error(e, f"cannot read or write {e.filename}" if e.filename else "cannot read or write a file")
        return err if isinstance(err, MachineError) else None
    if isinstance(e, RuntimeError) and ("can't allocate memory" in str(e) or "out of memory" in str(e)):
        return MachineError(f"out of memory ({first_line(e)}); use fewer frames or pairs, or a smaller chunk size")
    return None


class _Command(click.Command):
    """A command that refuses a single-valued option given twice (click would keep the last one silently)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing:
            _refuse_repeats(self, ctx, args)
        return super().parse_args(ctx, args)


def _refuse_repeats(command: click.Command, ctx: click.Context, args: list[str]) -> None:
    _, _, order = command.make_parser(ctx).parse_args(args=list(args))
    seen: set[int] = set()
    for param in order:
        if not isinstance(param, click.Option) or param.multiple or param.count or param.is_eager:
            continue
        if id(param) in seen:
            names = "/".join(param.opts + param.secondary_opts)
            raise click.UsageError(f"{names} given twice; give it once (only options documented as repeatable, "
                                   "like --seed, take several values)", ctx)
        seen.add(id(param))


class _Group(_Command, click.Group):
    """One line on stderr and no traceback: exit 2 for a :class:`UserError` or a bad option, exit 1 for a
    fault of the machine (:class:`MachineError`: disk full, permissions, out of memory), 130 on SIGINT and
    143 on SIGTERM (both roll back partly written outputs)."""

    command_class = _Command
    group_class = type

    def main(self, args=None, *a, **kw):
        if args is not None:  # in-process (tests, CliRunner): the caller's signal handlers come back
            return super().main(args, *a, **kw)
        try:  # the program itself
            return super().main(args, *a, **kw)
        except SystemExit as e:
            if e.code in (0, None) and threading.current_thread() is threading.main_thread():
                # done and committed: a signal while the interpreter shuts down must not read as rolled back
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                signal.signal(signal.SIGINT, signal.SIG_IGN)
            raise

    def invoke(self, ctx: click.Context):
        in_main = threading.current_thread() is threading.main_thread()
        if ctx.parent is None:
            _DONE.clear()
        previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main else None
        previous_int = signal.signal(signal.SIGINT, _interrupt) if in_main else None
        _SIGNALLED.clear()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("always", StateWarning)
                warnings.showwarning = _show_warning
                return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort):
            raise
        except UserError as e:
            code = _interrupted_by(e)  # e.g. a model module whose import SIGTERM cut short
            if code is not None:
                _fail(ctx, "interrupted" if code == 130 else "terminated", code)
            _fail(ctx, str(e), e.exit_code)
        except click.UsageError as e:
            where = e.ctx.command_path if e.ctx is not None else "latent-geodesics"
            _fail(ctx, f"{e.format_message()} (see {where} --help)", 2)
        except KeyboardInterrupt:
            _fail(ctx, "interrupted", 130)
        except _Terminated:
            _fail(ctx, "terminated", 143)
        except SystemExit as e:  # click exits with its own Exit; this came from the model's or discriminator's code
            code = _interrupted_by(e)
            if code is not None:
                _fail(ctx, "interrupted" if code == 130 else "terminated", code)
            _fail(ctx, f"the model's or discriminator's code called sys.exit({e.code!r}) while running; a model "
                       "must return images (and a discriminator scores) and never exit", 2)
        except Exception as e:  # noqa: BLE001 - last resort: a signal or a machine fault, else a real bug
            code = _interrupted_by(e)
            if code is not None:
                _fail(ctx, "interrupted" if code == 130 else "terminated", code)
            fault = _machine_fault(e)
            if fault is None:
                raise
            _fail(ctx, str(fault), fault.exit_code)
        finally:
            if in_main:
                signal.signal(signal.SIGTERM, previous)
                signal.signal(signal.SIGINT, previous_int)


_showwarning = warnings.showwarning


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Our own warnings (a damaged state file being redone) as one ``warning:`` line; others as Python shows them."""
    if issubclass(category, StateWarning):
        click.echo(f"warning: {' '.join(str(message).split())}", err=True)
    else:
        _showwarning(message, category, filename, lineno, file, line)


def _fail(ctx: click.Context, message: str, code: int) -> None:
    click.echo(f"latent-geodesics: error: {' '.join(message.split())}", err=True)
    ctx.exit(code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="latent-geodesics")
def main() -> None:
    """Perceptually shortest, realistic interpolation paths in the latent space of generative models.

    \b
    Examples:
      latent-geodesics demo
      latent-geodesics compare --pairs 4 --methods linear,slerp,pixel,vgg-eq --frames 17 --out cmp/
      latent-geodesics interpolate --model zoo:faces64 --seed 1 --seed 2 --metric pixel --out out/
      latent-geodesics interpolate --model my_gen.pt --latent-shape 128 --z0 a.npy --z1 b.npy --out out/
      latent-geodesics interpolate --model zoo:celeba64 --image a.jpg --image b.jpg --out out/
      latent-geodesics project a.jpg b.jpg --model zoo:celeba64 --out proj/
      latent-geodesics evaluate out/path.npz --metric vgg-eq --metric pixel
      latent-geodesics explore --model zoo:mnist28      (needs the [app] extra)
      latent-geodesics models
      latent-geodesics weights list
    """

