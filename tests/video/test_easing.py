"""Easing curves: monotone maps of [0, 1] onto itself whose speed profiles are their derivatives."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from latent_geodesics.video.easing import EASINGS, ease, easing_names, speed_profile

NAMES = easing_names()


@pytest.mark.parametrize("name", NAMES)
def test_ends_and_monotone(name):
    u = np.linspace(0, 1, 1001)
    s = ease(name, u)
    assert s[0] == 0 and s[-1] == pytest.approx(1.0, abs=1e-12)
    assert np.all(np.diff(s) >= -1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_speed_is_the_derivative(name):
    """The profile integrates to 1 and is the slope of the curve (to the grid's accuracy)."""
    u = np.linspace(0, 1, 20001)
    v = speed_profile(name, u)
    assert np.trapezoid(v, u) == pytest.approx(1.0, abs=1e-6)
    s = ease(name, u)
    slope = np.gradient(s, u)
    assert np.max(np.abs(slope[5:-5] - v[5:-5])) < 1e-2


def test_closed_forms():
    u = np.linspace(0, 1, 11)
    np.testing.assert_allclose(ease("linear", u), u, atol=1e-12)
    np.testing.assert_allclose(ease("ease-in", u), u ** 2, atol=1e-6)
    np.testing.assert_allclose(ease("ease-out", u), 1 - (1 - u) ** 2, atol=1e-6)
    np.testing.assert_allclose(ease("ease-in-out", u), 3 * u ** 2 - 2 * u ** 3, atol=1e-6)
    np.testing.assert_allclose(ease("sine-in-out", u), (1 - np.cos(np.pi * u)) / 2, atol=1e-6)


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(NAMES), u=st.floats(0, 1))
def test_symmetry_of_in_out_pairs(name, u):
    """ease-out is ease-in played backwards; the in-out curves are point-symmetric about (1/2, 1/2)."""
    if name.endswith("-in"):
        partner = name[:-3] + "-out"
        assert ease(partner, np.array([u]))[0] == pytest.approx(1 - ease(name, np.array([1 - u]))[0], abs=1e-6)
    if name.endswith("in-out"):
        assert ease(name, np.array([u]))[0] == pytest.approx(1 - ease(name, np.array([1 - u]))[0], abs=1e-6)


def test_every_easing_has_help():
    assert all(text for _, text in EASINGS.values())
