"""Every bad input and fault we know of: one line on stderr, the documented exit code, no traceback, and
an output folder left exactly as it was (issue 11). Then random arrays, shapes, dtypes and option values
(Hypothesis) at the latent and condition readers and at the CLI."""

from __future__ import annotations

import errno
import os
import shlex
import signal
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from latent_geodesics import jobs, pathfile
from latent_geodesics._check import UserError
from latent_geodesics.generators import Generator
from latent_geodesics.jobs import load_array, load_latent_file

from cli_helpers import assert_one_line, run

MODULES = {
    "lg_bad_raising.py": "raise RuntimeError('boom at import')\n",
    "lg_bad_syntax.py": "def f(:\n",
    "lg_bad_factories.py": """
import torch

def raises():
    raise ValueError('factory broke')

def needs(x):
    return x

class NanOther(torch.nn.Module):  # fine on the probe's 2 latents, NaN at any other batch size
    latent_shape = (4,)

    def forward(self, z):
        x = torch.tanh(z[:, :4].repeat(1, 4)).view(z.shape[0], 1, 4, 4)
        return x if z.shape[0] == 2 else x * float('nan')

def nan_other():
    return NanOther()
""",
}


class _NeedsBatch99(torch.nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        assert z.shape[0] == 99, "batch must be 99"
        return z


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """Bad (and a few good) input files, and model modules, in one folder."""
    d = tmp_path_factory.mktemp("bad-input")
    rng = np.random.default_rng(0)
    np.save(d / "z64.npy", rng.standard_normal(64).astype(np.float32))
    np.save(d / "z3x64.npy", rng.standard_normal((3, 64)).astype(np.float32))
    np.save(d / "z2x32.npy", np.zeros((2, 32), np.float32))
    np.save(d / "z0x64.npy", np.zeros((0, 64), np.float32))
    np.save(d / "huge.npy", np.full(64, 3e38, np.float32))
    np.save(d / "strings.npy", np.array(["a"] * 64))
    np.savez(d / "z.npz", a=np.zeros(64, np.float32))
    raw = (d / "z.npz").read_bytes()
    (d / "truncated.npz").write_bytes(raw[: len(raw) // 2])
    flipped = bytearray(raw)
    flipped[raw.find(b"\x93NUMPY") + 100] ^= 0xFF
    (d / "crc.npz").write_bytes(bytes(flipped))
    (d / "empty.npy").write_bytes(b"")
    (d / "text.npy").write_text("hello world\n")
    (d / "folder.pt").mkdir()
    torch.jit.save(torch.jit.script(_NeedsBatch99()), str(d / "needs99.pt"))
    for name, text in MODULES.items():
        (d / name).write_text(text)
    points = np.zeros((1, 10, 64), np.float32)
    np.savez(d / "os_abort.npz", points=points, model=np.array("os:abort"), metric=np.array("pixel"))
    np.savez(d / "compare_os_abort.npz", methods=np.array(["linear"]), points_0=points, model=np.array("os:abort"),
             metric=np.array("pixel"), discriminator=np.array("lg_bad_raising:f"))
    np.savez(d / "no_pairs.npz", points=np.zeros((0, 5, 64), np.float32), model=np.array("zoo:fashion32"),
             metric=np.array("pixel"))
    np.savez(d / "bad_legs.npz", points=points, legs=np.array(4), model=np.array("zoo:fashion32"),
             metric=np.array("pixel"))
    np.savez(d / "zero_legs.npz", points=points, legs=np.array(0), model=np.array("zoo:fashion32"),
             metric=np.array("pixel"))
    return d


def _fail_with(code: int):
    def broken(*args, **kwargs):
        raise OSError(code, os.strerror(code))
    return broken


def _disk_full_mid_video(path, frames, **kwargs):
    Path(path).write_bytes(b"half a video")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@dataclass
class Case:
    args: str
    code: int
    word: str
    patch: dict = field(default_factory=dict)  # attribute of latent_geodesics.jobs -> replacement
    env: dict = field(default_factory=dict)


I = "interpolate --model zoo:fashion32 --metric pixel --solver linear --frames 3 -q --out {out}"
S = I + " --seed 1 --seed 2"
C = "compare --model zoo:fashion32 --methods linear,slerp --pairs 1 --frames 3 -q --out {out}"
CASES = {
    # unreadable latent and condition files
    "truncated npz as --z0": Case(I + " --z0 {d}/truncated.npz --z1 {d}/z64.npy", 2, "truncated"),
    "crc-corrupt npz as --z0": Case(I + " --z0 {d}/crc.npz --z1 {d}/z64.npy", 2, "CRC"),
    "truncated npz as --condition": Case(S + " --condition {d}/truncated.npz", 2, "condition file"),
    "crc-corrupt npz as --condition": Case(S + " --condition {d}/crc.npz", 2, "condition file"),
    "0-byte npy": Case(I + " --z0 {d}/empty.npy --z1 {d}/z64.npy", 2, "empty"),
    "text file as npy": Case(I + " --z0 {d}/text.npy --z1 {d}/z64.npy", 2, "not a .npy"),
    "missing latent file": Case(I + " --z0 {d}/nope.npy --z1 {d}/z64.npy", 2, "No such file"),
    "strings as latent": Case(I + " --z0 {d}/strings.npy --z1 {d}/z64.npy", 2, "dtype"),
    "(2, 32) latents for a 64-latent model": Case(I + " --z0 {d}/z2x32.npy --z1 {d}/z64.npy", 2, "(2, 32)"),
    "empty (0, D) batch": Case(I + " --z0 {d}/z0x64.npy --z1 {d}/z0x64.npy", 2, "no latents"),
    "mismatched batches": Case(I + " --z0 {d}/z3x64.npy --z1 {d}/z64.npy", 2, "as many"),
    "wrong --condition": Case(S + " --condition {d}/z64.npy", 2, "--condition"),
    # NaN paths
    "latent of 3e38": Case(I + " --z0 {d}/huge.npy --z1 {d}/z64.npy", 2, "NaN or inf"),
    "--shell nan": Case(S + " --shell nan", 2, "finite"),
    "model NaN at other batch sizes": Case(S.replace("zoo:fashion32", "lg_bad_factories:nan_other"), 2,
                                           "NaN or inf"),
    # options
    "--fps nan": Case(S + " --fps nan", 2, "finite"),
    "--fps inf": Case(S + " --fps inf", 2, "finite"),
    "--metric-option min_size=abc": Case(S.replace("--metric pixel", "--metric vgg") + " --metric-option min_size=abc",
                                         2, "min_size"),
    "--device mps": Case(S + " --device mps", 2, "not supported"),
    "--device xpu": Case(S + " --device xpu", 2, "not supported"),
    "--device meta": Case(S + " --device meta", 2, "not supported"),
    "--frames 1e12": Case(I.replace("--frames 3", "--frames 1000000000000") + " --seed 1 --seed 2", 2, "--frames"),
    "--seed 1e23": Case(I + " --seed 1 --seed 100000000000000000000000", 2, "--seed"),
    "unknown option": Case(S + " --colour red", 2, "--colour"),
    # models
    "--model :": Case(S.replace("zoo:fashion32", ":"), 2, "package.module:factory"),
    "module raises on import": Case(S.replace("zoo:fashion32", "lg_bad_raising:f"), 2, "boom at import"),
    "module with a syntax error": Case(S.replace("zoo:fashion32", "lg_bad_syntax:f"), 2, "syntax error"),
    "factory raises": Case(S.replace("zoo:fashion32", "lg_bad_factories:raises"), 2, "factory broke"),
    "factory needs an argument": Case(S.replace("zoo:fashion32", "lg_bad_factories:needs"), 2, "no arguments"),
    "folder as model": Case(S.replace("zoo:fashion32", "{d}/folder.pt"), 2, "is a folder"),
    "TorchScript failure": Case(S.replace("zoo:fashion32", "{d}/needs99.pt") + " --latent-shape 4", 2,
                                "batch must be 99"),
    # output folder
    "empty --out": Case(S.replace("{out}", "''"), 2, "empty name"),
    "output file name taken by a folder": Case(S, 2, "strip.png is a folder"),
    "compare: output file name taken by a folder": Case(C, 2, "grid.png is a folder"),
    "compare --fps nan": Case(C + " --fps nan", 2, "finite"),
    "disk full while writing": Case(S, 1, "No space left", patch={"write_video": _disk_full_mid_video}),
    "no permission while writing": Case(S, 1, "Permission denied", patch={"write_npz": _fail_with(errno.EACCES)}),
    "read-only file system": Case(S, 1, "Read-only", patch={"write_png": _fail_with(errno.EROFS)}),
    # weight cache
    "cache path is a file": Case(S.replace("zoo:fashion32", "zoo:faces64"), 2, "not a folder",
                                 env={"LATENT_GEODESICS_CACHE": "{d}/z64.npy"}),
    "read-only cache": Case(S.replace("zoo:fashion32", "zoo:faces64"), 1, "weight cache",
                            env={"LATENT_GEODESICS_CACHE": "{read_only}"}),
    # evaluate
    "evaluate truncated npz": Case("evaluate {d}/truncated.npz --model zoo:fashion32 --json {out}/e.json", 2,
                                   "truncated"),
    "evaluate crc-corrupt npz": Case("evaluate {d}/crc.npz --model zoo:fashion32 --json {out}/e.json", 2, "CRC"),
    "evaluate: file names os:abort": Case("evaluate {d}/os_abort.npz --json {out}/e.json", 2, "pass --model"),
    "evaluate: compare file names os:abort": Case("evaluate {d}/compare_os_abort.npz --json {out}/e.json", 2,
                                                  "pass --model"),
    "evaluate zero pairs": Case("evaluate {d}/no_pairs.npz --json {out}/e.json", 2, "pairs >= 1"),
    "evaluate inconsistent legs": Case("evaluate {d}/bad_legs.npz --json {out}/e.json", 2, "legs"),
    "evaluate zero legs": Case("evaluate {d}/zero_legs.npz --json {out}/e.json", 2, "legs"),
}


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else None for p in folder.rglob("*")}


def _user_out(tmp_path: Path, *, blockers: bool = False) -> Path:
    """An output folder holding a user's file and the outputs of an earlier run (and, with ``blockers``,
    folders where ``interpolate`` and ``compare`` put their images)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    for name in ("report.json", "path.npz", "video.mp4", "report.html"):
        (out / name).write_text(f"old {name}")
    if blockers:
        (out / "strip.png").mkdir()
        (out / "grid.png").mkdir()
    return out


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_line_and_leaves_out_as_it_was(name, data, tmp_path, monkeypatch, request):
    case = CASES[name]
    monkeypatch.syspath_prepend(str(data))
    monkeypatch.chdir(tmp_path)
    read_only = request.getfixturevalue("read_only_path") if "{read_only}" in str(case.env) else None
    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path / "cache"))  # never touch the user's cache
    for key, value in case.env.items():
        monkeypatch.setenv(key, value.format(d=data, read_only=read_only))
    for attr, replacement in case.patch.items():
        monkeypatch.setattr(pathfile if attr == "write_npz" else jobs, attr, replacement)
    out = _user_out(tmp_path, blockers="taken by a folder" in name)
    before, before_here = _snapshot(out), sorted(os.listdir(tmp_path))
    args = shlex.split(case.args.format(d=data, out=out))
    result = run(*args)
    assert_one_line(result, case.code, case.word)
    assert _snapshot(out) == before  # no new, changed, half-written or staging files
    assert sorted(os.listdir(tmp_path)) == before_here  # nothing written into the current folder either


def test_evaluate_never_loads_a_discriminator_a_file_names(data, tmp_path, monkeypatch):
    """A compare ``paths.npz`` of a zoo model, naming a module whose import raises: only mentioned."""
    monkeypatch.syspath_prepend(str(data))
    monkeypatch.setenv("LATENT_GEODESICS_CACHE", str(tmp_path / "cache"))
    z = np.random.default_rng(1).standard_normal((2, 64)).astype(np.float32)
    points = np.linspace(z[0], z[1], 3)[None]  # one pair, three frames
    path = tmp_path / "paths.npz"
    np.savez(path, methods=np.array(["linear", "mine"]), points_0=points, points_1=points,
             model=np.array("zoo:fashion32"), metric=np.array("pixel"), discriminator=np.array("lg_bad_raising:f"))
    result = run("evaluate", str(path))
    assert result.exit_code == 0, result.output
    assert "lg_bad_raising" not in sys.modules
    assert "solved with discriminator lg_bad_raising:f; pass --discriminator" in result.stderr
    assert any(line.startswith("mine ") for line in result.stdout.splitlines())


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EINVAL])
def test_failed_run_removes_the_output_folders_it_created(code, data, tmp_path, monkeypatch):
    monkeypatch.setattr(jobs, "write_video", _fail_with(code))
    result = run("interpolate", "--metric", "pixel", "--model", "zoo:fashion32", "--solver", "linear", "--frames", "3", "-q",
                 "--seed", "1", "--seed", "2", "--out", str(tmp_path / "new" / "deep" / "out"))
    assert_one_line(result, 1 if code == errno.ENOSPC else 2, os.strerror(code))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_while_writing_rolls_back(sig, code, tmp_path, monkeypatch):
    out = _user_out(tmp_path)
    before = _snapshot(out)
    real = pathfile.write_npz

    def write_then_signal(path, **arrays):
        real(path, **arrays)
        os.kill(os.getpid(), sig)  # SIGTERM: the CLI's handler raises; SIGINT: KeyboardInterrupt

    monkeypatch.setattr(pathfile, "write_npz", write_then_signal)
    result = run("interpolate", "--metric", "pixel", "--model", "zoo:fashion32", "--solver", "linear", "--frames", "3", "-q",
                 "--seed", "1", "--seed", "2", "--out", str(out))
    assert result.exit_code == code, result.output
    assert _snapshot(out) == before
    assert signal.getsignal(signal.SIGTERM) is not None  # the previous handler is back


def test_stale_staging_folder_is_cleaned_by_the_next_run(tmp_path):
    out = tmp_path / "out"
    stale = out / ".lg-staging-abc123"  # an older version's name, with a partial video in it
    stale.mkdir(parents=True)
    (stale / "video.mp4").write_bytes(b"partial")
    result = run("interpolate", "--metric", "pixel", "--model", "zoo:fashion32", "--solver", "linear", "--frames", "3", "-q",
                 "--seed", "1", "--seed", "2", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["path.npz", "report.json", "strip.png", "video.mp4"]


# --- property-based ---------------------------------------------------------------------------------------------

DTYPES = st.sampled_from([np.float16, np.float32, np.float64, np.int8, np.int32, np.int64, np.uint8, np.bool_,
                          np.complex64, np.dtype("U3"), np.dtype("S2"), np.dtype(">f4"), np.dtype("<f8")])
ARRAYS = DTYPES.flatmap(lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)))


def _write(path: Path, array: np.ndarray, how: str) -> Path:
    if how == "npy":
        np.save(path.with_suffix(".npy"), array)
        return path.with_suffix(".npy")
    if how == "npz":
        np.savez(path.with_suffix(".npz"), a=array)
    else:
        np.savez_compressed(path.with_suffix(".npz"), a=array)
    return path.with_suffix(".npz")


def _one_line(e: UserError) -> None:
    assert str(e) and "\n" not in str(e)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(array=ARRAYS, how=st.sampled_from(["npy", "npz", "npz-compressed"]),
       cut=st.one_of(st.none(), st.integers(0, 400)), latent_shape=st.sampled_from([(4,), (2, 3), (1,)]))
def test_readers_return_float32_latents_or_one_line(tmp_path, array, how, cut, latent_shape):
    path = _write(tmp_path / "x", array, how)
    if cut is not None:  # truncated, or with a flipped byte
        raw = bytearray(path.read_bytes())
        if cut < len(raw) // 2:
            raw = raw[:cut]
        else:
            raw[cut % len(raw)] ^= 0x5A
        path.write_bytes(bytes(raw))
    gen = Generator(lambda z: torch.zeros(z.shape[0], 1, 2, 2), latent_shape=latent_shape)
    try:
        t = load_array(path, what="condition")
    except UserError as e:
        _one_line(e)
    else:
        assert t.dtype == torch.float32 and torch.isfinite(t).all()
    try:
        z = load_latent_file(path, gen)
    except UserError as e:
        _one_line(e)
    else:
        assert z.dtype == torch.float32 and z.shape[1:] == latent_shape and z.shape[0] >= 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300), prefix=st.sampled_from([b"", b"\x93NUMPY", b"PK\x03\x04"]))
def test_readers_on_random_bytes(tmp_path, raw, prefix):
    path = tmp_path / "x.npy"
    path.write_bytes(prefix + raw)
    try:
        t = load_array(path)
    except UserError as e:
        _one_line(e)
    else:
        assert t.dtype == torch.float32


TEXT = st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), max_size=12)
OPTIONS = st.one_of(
    st.tuples(st.just("--fps"), st.one_of(TEXT, st.floats().map(repr))),
    st.tuples(st.just("--frames"), st.one_of(TEXT, st.integers(-5, 10**15).map(str))),
    st.tuples(st.just("--seed"), st.one_of(TEXT, st.integers(-10**20, 10**25).map(str))),
    st.tuples(st.just("--shell"), st.one_of(TEXT, st.floats().map(repr))),
    st.tuples(st.just("--rtol"), st.one_of(TEXT, st.floats().map(repr))),
    st.tuples(st.just("--chunk-size"), st.one_of(TEXT, st.integers(-3, 10**20).map(str))),
    st.tuples(st.just("--device"), st.one_of(TEXT, st.sampled_from(["cpu", "cuda:7", "mps", "meta", "xpu", "hpu"]))),
    st.tuples(st.just("--latent-shape"), TEXT),
    st.tuples(st.just("--metric-option"), TEXT),
    st.tuples(st.just("--metric"), st.one_of(TEXT, st.sampled_from(["pixel", "pixel-eq", "nope"]))),
    st.tuples(st.just("--prior"), TEXT),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(options=st.lists(OPTIONS, min_size=1, max_size=3))
def test_cli_random_option_values(model_file, tmp_path_factory, options):
    out = tmp_path_factory.mktemp("o")
    base = {"--metric": "pixel", "--model": model_file, "--solver": "linear", "--frames": "3"}
    base.update({name: value for name, value in options if name in base})  # a single-valued option is given once
    args = ["interpolate", *[x for kv in base.items() for x in kv], "-q", "--seed", "1", "--seed", "2", "--out", str(out)]
    single = {name: value for name, value in options if name not in base and name not in ("--seed", "--metric-option")}
    args += [x for kv in single.items() for x in kv]  # the last of each, given once (a repeat is refused)
    args += [x for name, value in options if name in ("--seed", "--metric-option") for x in (name, value)]
    result = run(*args)
    if result.exit_code == 0:
        assert sorted(p.name for p in out.iterdir()) == ["path.npz", "report.json", "strip.png", "video.mp4"]
        return
    assert result.exit_code in (1, 2), (args, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, (args, result.stderr)
    assert list(out.iterdir()) == []


def test_zip_with_no_arrays_is_refused(tmp_path):
    path = tmp_path / "x.npz"
    with zipfile.ZipFile(path, "w"):
        pass
    with pytest.raises(UserError, match="cannot read|no arrays"):
        load_array(path)


# --- the Python API validates at its boundary ------------------------------------------------------------------

def test_api_accepts_numpy_endpoints_and_refuses_bad_ones(linear_gen):
    from latent_geodesics.evaluation import evaluate_paths
    from latent_geodesics.metrics import build_metric
    from latent_geodesics.paths import PathProblem, linear_path, path_stats

    metric = build_metric("pixel")
    rng = np.random.default_rng(0)
    z0, z1 = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))  # float64 numpy
    points = linear_path(z0, z1, 4)
    assert points.shape == (2, 5, 4) and torch.is_tensor(points)
    problem = PathProblem(linear_gen, metric, z0.astype(np.float32), z1.astype(np.float32))
    assert problem.n_pairs == 2
    assert evaluate_paths(linear_gen, {"pixel": metric}, points.float().numpy())["pairs"] == 2
    assert torch.isfinite(path_stats(linear_gen, metric, points.float()).length).all()
    bad = {
        "as many": (z0, z1[:1]),
        "latent has shape": (np.zeros((2, 5), np.float32), np.zeros((2, 5), np.float32)),
        "NaN": (np.array([[np.nan, 0, 0, 0]], np.float32), np.zeros((1, 4), np.float32)),
        "dtype": (np.array([["a"] * 4]), np.array([["b"] * 4])),
        "no latents": (np.zeros((0, 4), np.float32), np.zeros((0, 4), np.float32)),
        "expected a tensor": ("zeros", "ones"),
    }
    for word, (a, b) in bad.items():
        with pytest.raises(UserError, match=word) as err:
            PathProblem(linear_gen, metric, a, b)
        _one_line(err.value)
    with pytest.raises(UserError, match="same shape"):
        linear_path(z0, z1[:1], 4)
    with pytest.raises(UserError, match="pairs >= 1"):
        evaluate_paths(linear_gen, {"pixel": metric}, torch.zeros(0, 5, 4))
    with pytest.raises(UserError, match="NaN"):
        evaluate_paths(linear_gen, {"pixel": metric}, torch.full((1, 5, 4), float("nan")))
    with pytest.raises(UserError, match="seed"):
        linear_gen.sample_latents(1, seed=10**30)
