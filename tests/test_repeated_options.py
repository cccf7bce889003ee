"""A single-valued option given twice is refused with one line (click would keep the last one silently); --format
accumulates like --seed."""

import click
import pytest

from cli_helpers import assert_user_error, run
from latent_geodesics.cli import main


def _commands(group: click.Group, path=()):
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, path + (name,))
        else:
            yield path + (name,), cmd


SINGLE = [(path, opt) for path, cmd in _commands(main) for opt in cmd.params
          if isinstance(opt, click.Option) and not opt.multiple and not opt.is_eager]


def test_every_command_has_single_valued_options():
    assert {p[-1] for p, _ in SINGLE} >= {"interpolate", "compare", "batch", "distances", "evaluate", "project",
                                          "explore", "demo", "fetch"}


@pytest.mark.parametrize("path, opt", SINGLE, ids=[f"{' '.join(p)} {o.opts[0]}" for p, o in SINGLE])
def test_a_repeated_single_valued_option_is_refused(path, opt):
    once = [opt.opts[0]] if opt.is_flag else [opt.opts[0], "1"]
    assert_user_error(run(*path, *once, *once), f"{'/'.join(opt.opts + opt.secondary_opts)} given twice; give it once")


def test_flag_and_its_off_switch_together_are_refused():
    flags = [(p, o) for p, o in SINGLE if o.secondary_opts]
    for path, opt in flags:
        assert_user_error(run(*path, opt.opts[0], opt.secondary_opts[0]), "given twice")


def test_repeated_formats_accumulate(model_file, tmp_path):
    r = run("interpolate", "--model", model_file, "--seed", 1, "--seed", 2, "--solver", "linear", "--duration", 0.2,
            "--fps", 5, "--format", "gif", "--format", "webm", "--out", tmp_path / "o", "-q")
    assert r.exit_code == 0, r.output
    assert (tmp_path / "o" / "video.gif").stat().st_size > 0 and (tmp_path / "o" / "video.webm").stat().st_size > 0
    assert not (tmp_path / "o" / "video.mp4").exists()
