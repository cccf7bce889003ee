#!/usr/bin/env bash
# One entry point that sets itself up: a virtual environment in .venv with the project and its
# dependencies (weights are fetched on first use, into the user cache, checked by sha256).
#   ./run.sh demo            the main job on the built-in default model
#   ./run.sh test [ARGS]     the test suite (ARGS go to pytest)
#   ./run.sh lg ARGS         any latent-geodesics command
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
VENV=.venv
# torch is installed first and pinned, so pip does not pull a multi-GB CUDA build where a CPU one is at hand.
TORCH_SPEC=${LG_TORCH_SPEC:-torch==2.13.0}

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
  fi
  if [ ! -f "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$TORCH_SPEC" 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/python" -c 'import torch, latent_geodesics' || { echo "run.sh: installing the project failed" >&2; exit 1; }
    touch "$VENV/.installed"
  fi
}

# The tests also cover the optional extras (CI runs ./run.sh test), so `test` installs them; `demo` does not.
setup_extras() {
  if [ ! -f "$VENV/.installed-extras" ] || [ pyproject.toml -nt "$VENV/.installed-extras" ]; then
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test,ray,app,docs]' 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/python" -c 'import ray' 2>/dev/null || echo "run.sh: could not install the [ray] extra; its tests will skip" >&2
    "$VENV/bin/python" -c 'import starlette, uvicorn' 2>/dev/null || echo "run.sh: could not install the [app] extra; its tests will skip" >&2
    "$VENV/bin/python" -c 'import mkdocs, mkdocstrings' 2>/dev/null || echo "run.sh: could not install the [docs] extra; the docs build test will skip" >&2
    touch "$VENV/.installed-extras"
  fi
}

cmd=${1:-}
shift || true
case "$cmd" in
  demo) setup; exec "$VENV/bin/latent-geodesics" demo "$@" ;;
  test) setup; setup_extras; exec "$VENV/bin/python" -m pytest "$@" ;;
  lg)   setup; exec "$VENV/bin/latent-geodesics" "$@" ;;
  *) echo "usage: ./run.sh demo | test [pytest args] | lg ARGS" >&2; exit 2 ;;
esac
