"""Helpers of the command-line tests: run a command in-process, and check that it failed with one line."""

from __future__ import annotations

from click.testing import CliRunner, Result

from latent_geodesics.cli import main


def run(*args) -> Result:
    """``latent-geodesics ARGS`` in this process; each argument is turned into a string."""
    return CliRunner().invoke(main, [str(a) for a in args])


def assert_one_line(result: Result, code: int, word: str) -> None:
    """The command exited with ``code`` and one ``latent-geodesics: error:`` line holding ``word``, no traceback."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == code, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and len(lines) == 1, result.stderr
    assert lines[0].startswith("latent-geodesics: error: ") and word in lines[0], lines[0]


def assert_user_error(result: Result, match: str) -> None:
    """A problem with the input: exit 2 and one error line holding ``match``."""
    assert_one_line(result, 2, match)
