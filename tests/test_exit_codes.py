"""After ``wrote ...`` the outputs are final: a signal then (or while the interpreter shuts down) leaves exit 0, since
130/143 mean rolled back."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ARGS = ["interpolate", "--model", "zoo:mnist28", "--metric", "pixel", "--solver", "linear", "--seed", "1", "--seed",
        "2", "--frames", "3", "-q"]


def test_signals_after_wrote_keep_exit_0(tmp_path):
    out = tmp_path / "out"
    script = textwrap.dedent(f"""
        import atexit, os, signal, sys
        from latent_geodesics.cli import app, interpolate

        def both():
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGINT)

        original = interpolate.wrote
        def wrote(*args, **kwargs):
            original(*args, **kwargs)
            both()  # right after the line: the command has not returned yet
        interpolate.wrote = wrote
        atexit.register(both)  # while the interpreter shuts down
        sys.argv = ["latent-geodesics", *{ARGS!r}, "--out", {str(out)!r}]
        app.main()
    """)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert proc.stdout.startswith(f"wrote {out}/strip.png") and "error" not in proc.stderr
    assert {p.name for p in out.iterdir()} == {"strip.png", "video.mp4", "path.npz", "report.json"}
