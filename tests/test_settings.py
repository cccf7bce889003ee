"""The settings tree: every setting has one flat name, shared by its ``interpolate`` option and its JOBS key; the
defaults of the options are the dataclasses'; values are checked in one place."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latent_geodesics._check import UserError
from latent_geodesics.batch import LINE_KEYS, parse_jobs_text
from latent_geodesics.cli import main
from latent_geodesics.settings import FIELDS, Settings

RUNTIME = {"device", "out", "quiet"}
"""Options that say how and where a run happens, not what it computes (no setting)."""


def _params(command: str) -> dict:
    return {p.name: p for p in main.commands[command].params}


def test_every_interpolate_option_is_one_setting_and_back():
    params = _params("interpolate")
    names = {"class" if n == "classes" else n for n in params} - RUNTIME
    video = {n for n in names if n not in FIELDS}
    assert set(FIELDS) - names == set()  # every setting is an option
    assert all(n in FIELDS or n in video for n in names)
    assert set(FIELDS) <= set(LINE_KEYS)  # and a JOBS key


@pytest.mark.parametrize("command", ["interpolate", "batch", "compare"])
def test_option_defaults_are_the_dataclass_defaults(command):
    tree = Settings().flat()
    differs = {"metric": ("batch",), "frames": ("batch", "compare"), "realism": ("compare",)}
    for name, param in _params(command).items():
        key = "class" if name == "classes" else name
        if key not in FIELDS or command in differs.get(key, ()) or \
                not isinstance(param.default, (bool, int, float, str, tuple, list)):  # None: click's "no default"
            continue
        default = param.default
        if key == "nodes":
            default = None if default == "auto" else default
        if isinstance(default, tuple) or param.multiple:
            default = list(default)
        assert tree[key] == default, (command, key)


def test_flat_round_trip():
    s = Settings().with_fields({"model": "zoo:eyes128", "class": ("brown", "hazel"), "seeds": (1, 2),
                                "metric_options": (("min_size", 32),), "ftol": None, "nodes": 5, "loop": False})
    flat = s.flat()
    assert json.loads(json.dumps(flat)) == flat
    again = Settings().with_fields({k: tuple(map(tuple, v.items())) if k == "metric_options" else
                                    tuple(v) if isinstance(v, list) else v for k, v in flat.items()})
    assert again == s and hash(again) == hash(s)


@pytest.mark.parametrize("values, words", [
    ({"frames": 1}, "--frames must be a whole number from 2"),
    ({"fps": 0}, "--fps must be a finite number"),
    ({"metric": "l3"}, "unknown metric 'l3'"),
    ({"solver": "magic"}, "unknown solver"),
    ({"nodes": 1}, "--nodes must be"),
    ({"time_limit": 0}, "--time-limit must be a finite number above 0"),
    ({"realism": float("nan")}, "--realism must be a finite number"),
    ({"starts": 0}, "--starts must be a whole number from 1"),
    ({"seed": 1}, "unknown setting 'seed'"),
    ({"class": ("a",), "condition": "c.npy"}, "give --class or --condition, not both"),
])
def test_a_bad_value_is_one_line(values, words):
    with pytest.raises(UserError) as e:
        Settings().with_fields(values)
    assert words in str(e.value) and "\n" not in str(e.value)


values = st.one_of(st.none(), st.booleans(), st.integers(-3, 10**6), st.floats(allow_nan=True),
                   st.text(max_size=8), st.lists(st.integers(-2, 5), max_size=4))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(FIELDS)), values, max_size=4))
def test_any_values_give_settings_or_one_line_naming_the_line(fields):
    line = json.dumps({"seeds": [1, 2], **{k: v for k, v in fields.items() if k not in ("seeds", "z", "images",
                                                                                        "z0", "z1")}})
    try:
        specs = parse_jobs_text(line, "jsonl", name="j")
    except UserError as e:
        assert str(e).startswith("j line 1: ") and "\n" not in str(e)
    else:
        assert specs[0].settings(Settings()).endpoints.seeds == (1, 2)
