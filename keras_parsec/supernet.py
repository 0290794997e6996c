"""Former home of the eager engine, kept so that `keras_parsec.supernet.*` imports keep working.

The engines live in `keras_parsec.search`: `search.eager` (this module's former
contents, the baseline) and `search.compiled_supernet`.
"""

from keras_parsec.ops import classifier, cross_entropy, stem  # noqa: F401
from keras_parsec.search.algorithm import distinct_architectures, merged_weights  # noqa: F401
from keras_parsec.search.eager import (  # noqa: F401
    NORMAL,
    PREPROCESS,
    REDUCE,
    CosineSchedule,
    SuperNet,
    check_recompute,
)
