"""Packaging of keras-parsec."""

import pathlib
import re

from setuptools import find_packages, setup

ROOT = pathlib.Path(__file__).parent
VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "keras_parsec" / "__init__.py").read_text()).group(1)

setup(
    name="keras-parsec",
    version=VERSION,
    description="PARSEC probabilistic neural architecture search for Keras and Keras Tuner.",
    long_description=(ROOT / "README.md").read_text(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    packages=find_packages(include=["keras_parsec", "keras_parsec.*"]),
    py_modules=["keras_parsec_cli"],  # the command's parser, outside the package: help without TensorFlow
    python_requires=">=3.10",
    install_requires=[
        # Upper bounds: the newest versions tested (TF 2.21.0, Keras 3.15.1, Keras Tuner
        # 1.4.8). The package relies on private Keras and Keras Tuner APIs, all in
        # keras_parsec/_upstream.py, and on TensorFlow's private cond_v2.indexed_case
        # (search/executor.py); an upgrade can break them, so raise a bound only
        # after tests/test_upstream.py and tests/search/test_executor.py pass on it.
        "tensorflow>=2.16,<2.22",
        "keras>=3.3,<3.16",
        "keras-tuner>=1.4.7,<1.4.9",
        "tensorboard",  # keras-tuner's distributed worker path imports it
        "tensorflow-datasets",
        "numpy",
        "absl-py",
    ],
    extras_require={
        "test": ["pytest", "scikit-learn", "matplotlib"],
        "examples": ["scikit-learn", "matplotlib"],
        "lint": ["ruff"],
    },
    entry_points={"console_scripts": ["keras-parsec=keras_parsec_cli:run"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
