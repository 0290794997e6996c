"""Where a search step's time goes, against the same architectures compiled as one graph.

In one process, in turn over `--rounds` rounds (this machine's speed drifts, so
every figure is the median of per-round ratios), for the same K architectures
and batch:

- fixed: a training step of each architecture compiled as its own graph (the
  engine benchmark's reference, 1.00);
- graph forward: the forward pass alone, compiled as one graph;
- eager forward: the forward pass as `SuperNet` runs it on the search batch
  (compiled operations composed eagerly, shared prefix, nothing kept);
- train pass: forward and backward as `SuperNet` runs them on the train batch;
- search step: `SuperNet.train_step` (K search forwards, K train passes, updates).

A second table times, per operation at the first cell's shape, a chain of ten
copies called one compiled function at a time (the unit `SuperNet` composes)
against the same chain compiled as one graph, forward and forward+backward.

    python benchmarks/engine_breakdown.py                  # paper's search network, batch 64, K=4
    python benchmarks/engine_breakdown.py --num_cells=2 --rounds=2   # quick
    python benchmarks/engine_breakdown.py --engine=compiled --operations=false   # engine v2's passes
    python benchmarks/engine_breakdown.py --engine=compiled --operations=false --compare_recompute --rounds=4
"""

import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402  (benchmarks/measure.py, next to this file)

measure.define_network_flags()
flags.DEFINE_integer("rounds", 6, "Rounds; each times every case once, in turn.")
flags.DEFINE_bool("operations", True, "Also print the per-operation table.")
flags.DEFINE_bool("compare_recompute", False, "With --engine=compiled: also SuperNet(recompute=True)'s passes.")
flags.DEFINE_enum(
    "engine", "eager", ["eager", "compiled"], "The engine whose passes are timed: EagerSuperNet or SuperNet (v2)."
)
FLAGS = flags.FLAGS


def one_graph_cases(net, x, y, pool):
    """The references: each architecture's training step, and its forward, compiled as one graph."""
    import keras
    import tensorflow as tf

    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(net.trainable_variables)
    fixed = [measure.compiled_train_step(net, x, y, a, optimizer) for a in pool]

    def graph_forward(architecture):
        return tf.function(lambda: net.architecture_logits(x, architecture), autograph=False)

    forwards = [graph_forward(a) for a in pool]
    return {
        "fixed (one graph per architecture)": lambda: [f() for f in fixed],
        "graph forward": lambda: [f() for f in forwards],
    }


def pass_cases(net, x, y, pool):
    """The passes of a search step and their one-graph counterparts, each over the K architectures."""
    import tensorflow as tf

    from keras_parsec.search import ops

    references = one_graph_cases(net, x, y, pool)

    def eager_forward():
        prefix = net.shared_prefix(x)
        for a in pool:
            net.architecture_logits(x, a, recompute=False, prefix=prefix)

    def train_pass():
        for a in pool:
            variables = net.architecture_variables(a)
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(ops.cross_entropy(y, net.architecture_logits(x, a)))
            tape.gradient(loss, variables)

    return references | {
        "eager forward (search batch)": eager_forward,
        "train pass (forward + backward)": train_pass,
        "search step (SuperNet.train_step)": lambda: net.train_step(((x, y), (x, y))),
    }


def compiled_pass_cases(eager, x, y, pool):
    """`pass_cases` for engine v2 (`SuperNet`): its compiled passes, on the same weights and architectures.

    With `--compare_recompute`, also the passes of `SuperNet(recompute=True)` (every operation recomputed).
    """
    import tensorflow as tf

    from keras_parsec.search import SuperNet

    architectures = [tf.constant(a, tf.int32) for a in pool]
    weight = tf.constant(0.25)

    def engine(recompute=False):
        net = SuperNet(eager.search_space, measure.NUM_CLASSES, num_samples=len(pool), seed=0, recompute=recompute)
        net.build(x.shape)
        net.compile()
        net.shared.copy_from_supernet(eager)
        net.skip_zero_weights = False
        net.sample_choices = lambda: pool
        return net

    def passes(net, suffix=""):
        def forwards_compiled():  # as a step runs them: FORWARDS_PER_CALL to a call
            return net.search_log_likelihoods(x, y, pool).numpy()

        def train_passes():
            return measure.train_passes(net, x, y, architectures, weight)

        return {
            f"compiled forward (search batch){suffix}": forwards_compiled,
            f"compiled train pass (forward + backward, accumulated){suffix}": train_passes,
            f"search step (SuperNet.train_step){suffix}": lambda: net.train_step(((x, y), (x, y))),
        }

    cases = one_graph_cases(eager, x, y, pool) | passes(engine())
    if FLAGS.compare_recompute:
        cases |= passes(engine(recompute=True), ", recomputing")
    return cases


def operation_cases(batch, size, channels):
    """Per operation with weights or a pooling, `_chain_case` at the first cell's shape (stride 1)."""
    import tensorflow as tf

    from keras_parsec import space
    from keras_parsec.search import ops

    x = tf.random.normal([batch, size, size, channels])
    cases = {}
    for op in space.OPERATIONS:
        if op == "skip_connect":
            continue  # the identity at stride 1: one graph would fold its chain into one multiply
        weights = [tf.random.normal(s) for s in ops.operation_weight_shapes(op, channels, 1)]
        cases[op] = _chain_case(op, x, weights)
    return cases


def _chain_case(op, x, weights, length=10):
    """A chain of `length` copies of `op`: each copy called alone, against the chain compiled as one graph.

    Forward, and forward+backward (under a tape when alone, as `SuperNet` runs it).
    """
    import tensorflow as tf

    from keras_parsec.search import ops

    specs = (tf.TensorSpec(x.shape), [tf.TensorSpec(w.shape) for w in weights])  # SuperNet's (x, weights)

    def forward(x, w):  # the same small scaling in both versions (the recorded figures include it)
        return ops.apply_operation(op, x * 1.000001, w, 1)

    alone = tf.function(forward, autograph=False).get_concrete_function(*specs)

    def chain(x, w, step=forward):
        for _ in range(length):
            x = step(x, w)
        return x

    def taped(x, w, step=forward):
        with tf.GradientTape() as tape:
            tape.watch([x] + w)
            y = chain(x, w, step)
        return tape.gradient(y, [x] + w)

    together = tf.function(lambda x, w: chain(x, w), autograph=False).get_concrete_function(*specs)
    together_taped = tf.function(lambda x, w: taped(x, w), autograph=False).get_concrete_function(*specs)
    return {
        "forward alone": lambda: chain(x, weights, alone),
        "forward in one graph": lambda: together(x, weights),
        "train alone": lambda: taped(x, weights, alone),
        "train in one graph": lambda: together_taped(x, weights),
    }


def median_ratio(seconds, numerator, denominator):
    return float(np.median(np.array(seconds[numerator]) / np.array(seconds[denominator])))


def main(argv):
    del argv
    k = FLAGS.num_samples
    net, x, y, pool = measure._setup(FLAGS.batch_size, k, measure.network_config(FLAGS))
    net.compile()
    net.skip_zero_weights = False  # every sampled architecture pays its train pass
    net.sample_choices = lambda: pool
    print(
        f"Search network: {FLAGS.num_cells} cells, {FLAGS.filters} filters, {FLAGS.image_size}x{FLAGS.image_size}, "
        f"batch {FLAGS.batch_size}, K={k}, engine {FLAGS.engine}, recompute={FLAGS.recompute}; "
        f"{FLAGS.rounds} rounds in one process; {measure.threads()}; load average {os.getloadavg()[0]:.2f}."
    )
    cases = compiled_pass_cases(net, x, y, pool) if FLAGS.engine == "compiled" else pass_cases(net, x, y, pool)
    seconds, _ = measure.interleaved(cases, FLAGS.rounds)
    reference = next(iter(seconds))
    print("| pass | s per architecture | / fixed |")
    print("| --- | --- | --- |")
    for name, values in seconds.items():
        print(f"| {name} | {np.median(values) / k:.3f} | {median_ratio(seconds, name, reference):.2f}x |")
    print("Ideal search step: graph forward + fixed (a forward on the search batch, a training step on the train one).")
    if not FLAGS.operations:
        return
    size = f"{FLAGS.image_size}x{FLAGS.image_size}x{FLAGS.filters}"
    print(f"\nA chain of 10 copies of one operation, batch {FLAGS.batch_size}, {size}, stride 1:")
    print("| operation | forward: called alone / one graph | forward + backward: called alone, taped / one graph |")
    print("| --- | --- | --- |")
    for op, cases in operation_cases(FLAGS.batch_size, FLAGS.image_size, FLAGS.filters).items():
        s, _ = measure.interleaved(cases, FLAGS.rounds)
        forward = median_ratio(s, "forward alone", "forward in one graph")
        train = median_ratio(s, "train alone", "train in one graph")
        print(f"| {op} | {forward:.2f}x | {train:.2f}x |")


if __name__ == "__main__":
    app.run(main)
