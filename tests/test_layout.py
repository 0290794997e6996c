"""The package's layout: which part may import which, and the old module names of 0.2.0."""

import ast
import importlib
import pathlib
import warnings

import pytest

import keras_parsec as kp
from keras_parsec import _moved

PACKAGE = pathlib.Path(kp.__file__).parent


def imported_modules(path):
    """Every `keras_parsec...` module that the file at `path` imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.startswith("keras_parsec")}


@pytest.mark.parametrize("part, forbidden", [("search", "final"), ("final", "search"), ("data", "tuning")])
def test_a_part_of_the_package_does_not_import_the_part_it_must_not_know(part, forbidden):
    for path in sorted((PACKAGE / part).glob("*.py")):
        bad = {name for name in imported_modules(path) if name.startswith(f"keras_parsec.{forbidden}")}
        assert not bad, f"{path.relative_to(PACKAGE)} imports {sorted(bad)}"


def test_the_top_level_modules_are_the_ones_the_layout_names():
    modules = {path.stem for path in PACKAGE.glob("*.py")}
    expected = {
        "__init__",
        "_moved",
        "_upstream",
        "categorical",
        "cell_drawing",
        "cli",
        "distribution",
        "errors",
        "files",
        "genotype",
        "space",
        "visualize",
    }
    assert modules == expected
    parts = {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert parts == {"data", "final", "search", "tuning"}


@pytest.mark.parametrize("old", sorted(_moved.MOVED))
def test_a_module_of_0_2_0_imports_under_its_old_name_and_is_the_moved_one(old):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(f"keras_parsec.{old}")
    assert module is importlib.import_module(_moved.MOVED[old])
    assert module.__spec__.name == _moved.MOVED[old]
    deprecations = [w for w in caught if issubclass(w.category, DeprecationWarning) and "0.3.0" in str(w.message)]
    if old in _moved.PUBLIC:
        assert getattr(kp, old) is module
    else:
        assert deprecations and _moved.MOVED[old] in str(deprecations[0].message)


def test_every_public_name_is_importable_from_the_top():
    for name in kp.__all__:
        assert getattr(kp, name) is not None, name
