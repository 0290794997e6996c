"""A sampled architecture's pass as one compiled function, the architecture an int32 tensor.

`Executor(weights).logits(images, choices)` and `.gradients(images, labels,
choices)` are `tf.function`s traced once: every architecture of the space runs
through the same graph, so a search step is a handful of calls instead of the
eager engine's hundreds (BENCHMARKS.md, "Engine v2").

The stem and the classifier are plain operations; each cell is one call of a
function shared by every cell of its kind (`cells`), whose slots pick their
input and operation with switches and whose backward is written by hand.
Weights an architecture does not use get exact zeros. Whether a switch branch
holds its operation or calls a function shared by every slot is
`Executor(operation_calls=...)`: the first where the host bounds the step (a
GPU), the second on a CPU; whether the switches stay functional Case ops or
are lowered to Switch/Merge is `lowered`; whether the backward recomputes
each operation or reads the activations its forward saved is
`saved_activations` (BENCHMARKS.md, "Engine v2"); whether the differentiated
pass inlines its cells' calls, trading a longer build for a faster step, is
`inline_cells`.
"""

import collections

import tensorflow as tf

from keras_parsec.search import cells as cells_lib
from keras_parsec.search import ops

# How passes are compiled (see `Executor`).
Options = collections.namedtuple("Options", "open_width operation_calls lowered saved_activations inline_cells")


def prefix_variables(weights):
    """The weights `prefix_outputs` reads: the stem's kernel and the preprocessing of its output."""
    cells = weights.cells
    return [weights.stem_kernel, *cells[0]["pre0"], *cells[0]["pre1"], *(cells[1]["pre0"] if len(cells) > 1 else [])]


def prefix_outputs(weights, images, dtype):
    """What every architecture computes first, whatever its choices: the stem's output prepared for the cells.

    The stem feeds cell 0's two inputs and cell 1's first; their preprocessing
    (`cells.preprocess`, one ReLU shared) does not depend on the
    architecture, so the K architectures of a step can share it.

    Returns:
        A tuple: cell 0's prepared inputs, then cell 1's first if there is a cell 1.
    """
    stem = ops.stem(tf.cast(images, dtype), [tf.cast(weights.stem_kernel, dtype)])
    activated = tf.nn.relu(stem)
    readers = [(weights.cells[0], 0), (weights.cells[0], 1)] + [(cell, 0) for cell in weights.cells[1:2]]
    return tuple(cells_lib.preprocess(cell, which, activated, dtype, activated=True) for cell, which in readers)


def architecture_outputs(weights, images, choices, dtype, options, auxiliary=False, prefix=None):
    """Logits of architecture `choices` ([2, num_nodes, 2] int32 tensor) on `images`, in graph mode.

    Args:
        prefix: `prefix_outputs(weights, images, dtype)` where already computed
            (`images` is then not read), else None.

    Returns:
        `(logits, auxiliary_logits)`: the second is None unless `auxiliary`
        and the weights have an auxiliary head.
    """
    prefix = prefix_outputs(weights, images, dtype) if prefix is None else prefix
    preprocessed = {0: prefix[:2], 1: prefix[2:]}
    s0 = s1 = None  # the stem's output is read only through the prefix
    auxiliary_logits = None
    for index, cell in enumerate(weights.cells):
        cell_choices = choices[1 if cell["reduction"] else 0]
        s1_next = cells_lib.cell_output(
            weights, cell, s0, s1, cell_choices, dtype, options, preprocessed.get(index, ())
        )
        s0, s1 = s1, s1_next
        if auxiliary and weights.auxiliary_weights and index == weights.auxiliary_index:
            read = [tf.cast(w, dtype) for w in weights.auxiliary_weights]
            auxiliary_logits = ops.auxiliary_head(s1, read, weights.auxiliary_pool)
    logits = ops.classifier(s1, [tf.cast(w, dtype) for w in (weights.classifier_kernel, weights.classifier_bias)])
    return logits, auxiliary_logits


class Executor:
    """The compiled passes of one `SharedWeights`: forward, and loss with gradients.

    Args:
        weights: a built `SharedWeights`.
        dtype: compute dtype (float16 or bfloat16 under mixed precision).
        open_width: trace one cell function per kind for every width (fast
            builds) rather than one per kind and width.
        operation_calls: switch branches call one shared function per
            operation instead of holding the operation. None (default): only
            where no GPU is visible. Held in the branch, a step makes fewer
            calls (what bounds it on a GPU); on a CPU the operations held in
            a functional Case branch run without TensorFlow's oneDNN rewrite,
            several times slower, while called functions get it.
        lowered: lower the switches to Switch/Merge nodes of the cell's graph
            instead of keeping them functional Case ops. None (default): only
            where no GPU is visible. Lowered, each operation runs at about its
            speed in one graph and the step is faster on a CPU, but the build
            takes longer (BENCHMARKS.md, "One backward per cell").
        saved_activations: the taken branch returns the outputs of its
            convolutions and pooling, and the backward applies the kernels'
            gradient ops to them (`saved_backward`), rerunning only ReLUs and
            batch norms. False: every operation is recomputed from the slot's
            input (less activation memory, more time; BENCHMARKS.md, "Engine v2").
        inline_cells: in the pass that is differentiated (`gradients`), each
            cell's forward and backward are inlined into the pass's graph
            instead of being calls of a function shared by the cells of its
            kind, so Grappler optimises and schedules them together. The step
            is a few percent faster, for about twice the build and more
            activation memory (BENCHMARKS.md, "Cells inlined in the train
            pass"): worth it for a long search, not for a short one.
            Forward-only passes keep their calls, which inlining does not
            speed up.

    Attributes:
        traces: how many times each pass was traced (a new architecture adds none).
    """

    def __init__(
        self,
        weights,
        dtype="float32",
        open_width=True,
        operation_calls=None,
        lowered=None,
        saved_activations=True,
        inline_cells=False,
    ):
        self.weights = weights
        self.dtype = tf.as_dtype(dtype)
        on_cpu = not tf.config.list_physical_devices("GPU")
        operation_calls = on_cpu if operation_calls is None else operation_calls
        lowered = on_cpu if lowered is None else lowered
        self.options = Options(
            bool(open_width), bool(operation_calls), bool(lowered), bool(saved_activations), bool(inline_cells)
        )
        self.variables = list(weights.trainable_variables)
        self.traces = {"logits": 0, "gradients": 0}
        self.logits = tf.function(self._logits, autograph=False, reduce_retracing=True)
        self.gradients = tf.function(self._gradients, autograph=False, reduce_retracing=True)

    def _logits(self, images, choices):
        self.traces["logits"] += 1
        return self.pass_logits(images, choices)

    def pass_logits(self, images, choices, prefix=None):
        """Logits of architecture `choices` on `images` (or their `prefix`), not differentiated, in a `tf.function`."""
        return self.pass_outputs(images, choices, differentiated=False, prefix=prefix)[0]

    def pass_prefix(self, images):
        """`prefix_outputs` of `images`, inside a `tf.function`: what `pass_outputs(prefix=...)` reads."""
        return prefix_outputs(self.weights, images, self.dtype)

    def pass_outputs(self, images, choices, auxiliary=False, differentiated=True, prefix=None):
        """`(logits, auxiliary_logits)` of architecture `choices`, inside a `tf.function` (`architecture_outputs`).

        A pass that is not `differentiated` saves nothing for a backward, even with
        `saved_activations`, and calls its cells, even with `inline_cells`.
        `prefix`: `pass_prefix(images)`, shared by several architectures, or None.
        """
        choices = tf.cast(choices, tf.int32)
        forward_only = self.options._replace(saved_activations=False, inline_cells=False)
        options = self.options if differentiated else forward_only
        return architecture_outputs(self.weights, images, choices, self.dtype, options, auxiliary, prefix)

    def _gradients(self, images, labels, choices):
        """`(loss, logits, gradients)`: mean cross-entropy and its gradient for every variable (zeros if unused)."""
        self.traces["gradients"] += 1
        with tf.GradientTape() as tape:
            logits = self.pass_outputs(images, choices)[0]
            loss = tf.reduce_mean(ops.cross_entropy(labels, logits))
        gradients = tape.gradient(loss, self.variables)
        gradients = [
            tf.zeros_like(v) if g is None else tf.convert_to_tensor(g) for v, g in zip(self.variables, gradients)
        ]
        return loss, logits, gradients
