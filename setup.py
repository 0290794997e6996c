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
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16",
        "keras>=3.3",
        "keras-tuner>=1.4.7",
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
    entry_points={"console_scripts": ["keras-parsec=keras_parsec.cli:run"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
