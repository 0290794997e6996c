"""Modules that moved in 0.3.0, importable under their old names with a `DeprecationWarning`.

`import keras_parsec.tuner` (or `from keras_parsec import tuner`) still works
and gives the module that now lives at `keras_parsec.tuning.tuner`; the
warning names the new path. To be removed in 0.4.0. `keras_parsec.layers` and
`keras_parsec.preprocessing` stay public names (`kp.layers.Cell`) and do not warn.
"""

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

# old module name -> where it lives now
PUBLIC = ("layers", "preprocessing")
MOVED = {
    "counting": "keras_parsec.final.counting",
    "layers": "keras_parsec.final.layers",
    "networks": "keras_parsec.final.networks",
    "training": "keras_parsec.final.recipes",
    "halving": "keras_parsec.tuning.halving",
    "hypermodel": "keras_parsec.tuning.hypermodel",
    "oracle": "keras_parsec.tuning.oracle",
    "parallel": "keras_parsec.tuning.chief",
    "ranking": "keras_parsec.tuning.ranking",
    "tuner": "keras_parsec.tuning.tuner",
    "ops": "keras_parsec.search.ops",
    "weight_updates": "keras_parsec.search.eager_updates",
    "preprocessing": "keras_parsec.data.preprocessing",
}


def warn(old, new):
    warnings.warn(
        f"keras_parsec.{old} moved to {new} in keras-parsec 0.3.0; import it from there (the old name goes in 0.4.0)",
        DeprecationWarning,
        stacklevel=3,
    )


class _Alias(importlib.abc.Loader):
    def __init__(self, old, new):
        self.old, self.new = old, new

    def create_module(self, spec):
        del spec
        if self.old not in PUBLIC:
            warn(self.old, self.new)
        module = importlib.import_module(self.new)
        self.spec = module.__spec__  # the import machinery overwrites it with the alias's
        return module

    def exec_module(self, module):
        module.__spec__ = self.spec  # already executed under its new name


class MovedModules(importlib.abc.MetaPathFinder):
    """Finds `keras_parsec.<old name>` and hands back the module at its new path."""

    def find_spec(self, fullname, path=None, target=None):
        del path, target
        package, _, name = fullname.rpartition(".")
        if package != "keras_parsec" or name not in MOVED:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(name, MOVED[name]))


def install():
    """Adds the finder once to `sys.meta_path`."""
    if not any(isinstance(finder, MovedModules) for finder in sys.meta_path):
        sys.meta_path.append(MovedModules())
