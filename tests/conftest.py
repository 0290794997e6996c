"""Shared pytest setup: import the package from this checkout, seed the RNGs."""

import pathlib
import random
import sys

import numpy as np
import pytest

ROOT = str(pathlib.Path(__file__).resolve().parents[1])
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


@pytest.fixture(autouse=True)
def seed():
    """Seeds Python's and NumPy's generators before every test."""
    random.seed(0)
    np.random.seed(0)
