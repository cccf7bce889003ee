"""The package's imports point down the data flow: no import circle, and no import against the layer order.

Imports are read from the source with ``ast``, wherever they stand: at the top, inside functions (lazy
imports), under ``if TYPE_CHECKING``. Importing ``a.b.c`` also runs ``a/__init__`` and ``a/b/__init__``, so
it counts as importing those packages too (except the importer's own packages, which are already running;
a name taken from one of them, ``from . import x`` in ``a/b/c.py``, is an import of ``a.b``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = "latent_geodesics"
ROOT = Path(__file__).resolve().parents[1] / "src" / PACKAGE

LAYERS: tuple[tuple[str, ...], ...] = (
    ("_version",),                      # the version, in one place
    ("", "_check", "limits"),           # the package root, the boundary checks, the limits
    ("budget",),                        # what a model costs: the memory budget and the chunks it allows
    ("pathfile",),                      # the .npz of a finished path (interpolate, JOBS lines, compare)
    ("curves",),                        # points along a discrete path (pure tensor functions)
    ("reporting",),                     # what every report shares: the report.json header, the text tables
    ("weights.netfile",),               # our feature-network file format
    ("weights.vgg19",),                 # the VGG-19 rebuilt from two public files
    ("weights.files",),                 # the static table of weight files
    ("weights",),                       # fetching, caching and checking weight files
    ("networks",),                      # feature networks (VGG, AlexNet) and their loaders
    ("generators", "metrics"),          # what makes images, and how two images are compared
    ("datasets",),                      # real images
    ("judges",),                        # classifiers trained on the real images
    ("data_realism",),                  # real images' k-NN realism and Fréchet distance, in AlexNet features
    ("knn_realism",),                   # a critic from real pictures' k-NN balls in pixel features (no discriminator)
    ("realism",),                       # the realism-weighted metric (discriminator or k-NN critic)
    ("paths",),                         # a path of latents, its images and energy
    ("ppl",),                           # perceptual path length and its similarity (evaluation reports it)
    ("solvers",),                       # path solvers
    ("evaluation",),                    # numbers about a finished path
    ("rendering",),                     # pictures, videos and files of a finished path
    ("video.easing",),                  # easing curves: time -> fraction of perceptual length
    ("video.settings",),                # VideoSettings and the timeline file
    ("video.timing",),                  # where each frame goes: (leg, arc fraction) schedules
    ("video.encode",),                  # MP4/WebM (ffmpeg), GIF, PNG frames, upscaling
    ("video.audio",),                   # decoding sound, its envelope per frame
    ("video.frames",),                  # frames placed on solved legs by arc length, measured
    ("video",),                         # a video job's steps (checks, files)
    ("report",),                        # the HTML report
    ("project", "distances"),           # photos to latents; distances between many points
    ("jobs",),                          # solving and writing one interpolation, given the built objects
    ("settings",),                      # the settings tree every command and JOBS line builds
    ("compare_settings",),              # compare's methods, settings and endpoint pairs
    ("workflows",),                     # settings in, files out: what the CLI, the API and JOBS lines run (compare too)
    ("batch",),                         # many lines of a JOBS file: spec, plan, solve, store, driver, summary
    ("ray_executor",),                  # batches on a Ray cluster
    ("executors",),                     # an executor by name
    ("app",),                           # the explore page: server, worker, static page (cli imports it lazily)
    ("cli",),                           # the command line
    ("api",),                           # the Python API: one call per path, results that show themselves
)
"""Modules, by name below ``latent_geodesics`` ("" is the package itself), from the bottom layer up.

A name covers its submodules unless a longer name in the table covers them (``weights.files`` is lower than
``weights``). A module may import what is in a lower layer, and the modules under its own table name
(``generators.load`` may import ``generators.base``; the circle test keeps those in order)."""


LAZY_EXPORTS: dict[str, set[str]] = {"": {"api"}}
"""Imports that run after every module has loaded, never while one loads: the package root's ``__getattr__``
(PEP 562) imports ``api`` when ``latent_geodesics.geodesic`` is first asked for. They are left out of the graph."""


def _modules() -> dict[str, Path]:
    mods = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _ancestors(name: str) -> list[str]:
    """``"a.b.c"`` -> ``["", "a", "a.b"]``: the packages whose ``__init__`` runs before ``a.b.c``."""
    parts = name.split(".") if name else []
    return [".".join(parts[:i]) for i in range(len(parts))]


def _known(name: str) -> str | None:
    """The module of ours that ``name`` (a module or a name inside one) refers to, if any."""
    while name not in MODULES:
        if "." not in name:
            return "" if name == "" else None
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(name: str, source: str) -> Iterator[tuple[str, int]]:
    """``(module, line)`` for every module of ours that the module ``name`` with text ``source`` imports."""
    is_package = name == "" or MODULES.get(name, Path()).name == "__init__.py"
    here = name.split(".") if name else []
    if not is_package:
        here = here[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] + ([node.module] if node.module else [])
                prefix = ".".join(base)
            else:
                prefix = node.module or ""
                if prefix != PACKAGE and not prefix.startswith(PACKAGE + "."):
                    continue
                prefix = prefix[len(PACKAGE) + 1:]
            targets = [prefix] + [f"{prefix}.{a.name}" if prefix else a.name for a in node.names]
            targets = [PACKAGE + ("." + t if t else "") for t in targets]
        else:
            continue
        for target in targets:
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            module = _known(target[len(PACKAGE) + 1:])
            if module is None:
                continue
            if module != name:
                yield module, node.lineno
            own = set(_ancestors(name))
            for package in _ancestors(module):  # run first; the importer's own packages already are
                if package != name and package not in own:
                    yield package, node.lineno


def _graph() -> dict[str, dict[str, int]]:
    """``{module: {imported module: first line}}``."""
    graph: dict[str, dict[str, int]] = {}
    for name, path in MODULES.items():
        edges: dict[str, int] = {}
        for target, line in imports_of(name, path.read_text()):
            if target not in LAZY_EXPORTS.get(name, ()):
                edges.setdefault(target, line)
        graph[name] = edges
    return graph


def _entry(name: str) -> tuple[int, str] | None:
    """``(layer, table name)`` of a module: its longest covering name in :data:`LAYERS`."""
    best: tuple[int, str] | None = None
    for layer, names in enumerate(LAYERS):
        for entry in names:
            covers = name == entry or (entry != "" and name.startswith(entry + "."))
            if covers and (best is None or len(entry) > len(best[1])):
                best = (layer, entry)
    return best


def _circles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(graph[w])))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    component = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        component.append(w)
                        if w == v:
                            break
                    if len(component) > 1:
                        circles.append(sorted(component))
    return circles


def _where(name: str) -> str:
    return str(MODULES[name].relative_to(ROOT.parent))


def test_every_module_has_a_layer():
    missing = sorted(name or "(package)" for name in MODULES if _entry(name) is None)
    assert not missing, f"modules with no place in LAYERS (add them to the table): {', '.join(missing)}"


def test_every_name_in_the_table_is_a_module():
    names = [entry for layer in LAYERS for entry in layer]
    assert len(names) == len(set(names)), "a name stands twice in LAYERS"
    stale = [entry for entry in names if entry not in MODULES]
    assert not stale, f"names in LAYERS that are no module of {PACKAGE} (remove or rename them): {', '.join(stale)}"


def test_no_import_circle():
    circles = _circles(_graph())
    assert not circles, "import circles: " + "; ".join(" <-> ".join(c) for c in circles)


def test_imports_point_down_the_layers():
    bad = []
    for name, edges in _graph().items():
        here = _entry(name)
        for target, line in edges.items():
            there = _entry(target)
            if here is None or there is None:
                continue  # reported by test_every_module_has_a_layer
            if there[0] < here[0] or there[1] == here[1]:
                continue
            bad.append(f"{_where(name)}:{line} imports {target or PACKAGE} (layer {there[0]}, "
                       f"{'the same' if there[0] == here[0] else 'above'} {name}'s {here[0]})")
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


@pytest.mark.parametrize("source,expected", [
    ("def f():\n    from .batch import run_jobs\n", {"batch"}),                   # a lazy import counts
    ("from . import weights\n", {"", "weights"}),
    ("from .generators.discriminator import critic\n", {"generators", "generators.discriminator"}),
    ("import latent_geodesics.metrics.vgg as v\n", {"", "metrics", "metrics.vgg"}),
    ("from latent_geodesics.weights import ensure\n", {"", "weights"}),
    ("if TYPE_CHECKING:\n    from .project import Projection\n", {"project"}),
    ("import numpy\nfrom torch import nn\n", set()),
])
def test_the_parser_sees_every_kind_of_import(source, expected):
    assert {m for m, _ in imports_of("compare", source)} - {""} == expected - {""}


def test_the_parser_resolves_relative_imports_in_a_subpackage():
    found = {m for m, _ in imports_of("generators.load", "from .base import Generator\nfrom .. import weights\n")}
    assert found == {"generators.base", "weights", ""}
    # a submodule that takes a name from its own package's __init__ depends on it (metrics/vgg.py used to)
    assert {m for m, _ in imports_of("metrics.vgg", "def f():\n    from . import register_metric\n")} == {"metrics"}
