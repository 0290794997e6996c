"""Shared pytest setup: import the package from this checkout, seed the RNGs."""

import pathlib
import random
import sys

import keras
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


@pytest.fixture
def mixed_precision():
    """Keras' `mixed_float16` policy for one test, the previous policy restored after it."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
