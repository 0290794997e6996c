"""Kernel time by TensorFlow op in engine v2's train passes: recomputing against saved activations.

One `tf.profiler` trace per executor of K train passes (`SuperNet._accumulate`,
forward and backward on the same weights and architectures), read back from
the trace's XSpace; the kernel time of each op is summed over the compute
threads. This is how the saved-activation backward's first version was found
to lose its time in a bare `MaxPoolGrad` and in Eigen's matrix products
(BENCHMARKS.md, "A hand-written backward from saved activations").

    python benchmarks/profile_passes.py                                  # paper's search network
    python benchmarks/profile_passes.py --num_cells=2 --image_size=8 --batch_size=4   # quick
"""

import collections
import glob
import os
import sys
import tempfile

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402

measure.define_network_flags()
flags.DEFINE_integer("top", 30, "Ops printed, the costliest first.")
flags.DEFINE_bool("fixed", True, "Also profile each architecture's forward and backward compiled as one graph.")
FLAGS = flags.FLAGS

# Trace events of the runtime itself rather than of a kernel.
NOT_KERNELS = {"Process", "Start", "ExecutorDoneCallback", "FunctionRun", "PartitionedCallOp", "Run", "Done"}


def kernel_times(path):
    """`{op: (milliseconds, count)}` over the compute threads of the XSpace at `path`."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
        space.ParseFromString(f.read())
    times, counts = collections.Counter(), collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            if not line.name.startswith("tf_"):
                continue
            for event in line.events:
                metadata = plane.event_metadata.get(event.metadata_id)
                op = metadata.name.split(":")[-1] if metadata else "?"
                times[op] += event.duration_ps / 1e9
                counts[op] += 1
    return {op: (times[op], counts[op]) for op in times}


def main(argv):
    del argv
    import tensorflow as tf

    from keras_parsec.search import Executor, SuperNet

    k = FLAGS.num_samples
    eager, x, y, pool = measure._setup(FLAGS.batch_size, k, measure.network_config(FLAGS))
    architectures = [tf.constant(a, tf.int32) for a in pool[:k]]
    weight = tf.constant(1.0 / k)

    def engine(**options):
        net = SuperNet(eager.search_space, measure.NUM_CLASSES, num_samples=k, seed=0)
        net.build(x.shape)
        net.compile()
        net.shared.copy_from_supernet(eager)
        net.executor = Executor(net.shared, **options)
        return net

    def passes(net):
        return measure.train_passes(net, x, y, architectures, weight)

    def fixed_passes():
        """Each architecture's forward and backward compiled as its own graph: training one fixed network."""
        from keras_parsec.search import ops

        def graph(architecture):
            variables = eager.architecture_variables(architecture)

            @tf.function(autograph=False)
            def forward_backward():
                with tf.GradientTape() as tape:
                    loss = tf.reduce_mean(ops.cross_entropy(y, eager.architecture_logits(x, architecture)))
                return tape.gradient(loss, variables)

            return forward_backward

        graphs = [graph(a) for a in pool[:k]]
        return lambda: [g() for g in graphs]

    def engine_passes(**options):
        net = engine(**options)
        return lambda: passes(net)

    cases = {"recomputing": lambda: engine_passes(saved_activations=False), "saved": engine_passes}
    if FLAGS.fixed:
        cases = {"fixed": fixed_passes} | cases
    results, walls = {}, {}
    for name, make in cases.items():
        run_passes = make()
        run_passes()  # build and warm up outside the trace
        run_passes()
        walls[name] = measure._timed(run_passes, 1, 3)[1]
        directory = tempfile.mkdtemp(prefix=f"profile_{name}_")
        tf.profiler.experimental.start(directory)
        run_passes()
        tf.profiler.experimental.stop()
        results[name] = kernel_times(sorted(glob.glob(f"{directory}/**/*.xplane.pb", recursive=True))[-1])
    print(
        f"{FLAGS.num_cells} cells, {FLAGS.filters} filters, {FLAGS.image_size}x{FLAGS.image_size}, "
        f"batch {FLAGS.batch_size}, K={k} train passes; load {os.getloadavg()[0]:.2f}"
    )
    totals = {n: sum(t for op, (t, _) in r.items() if op not in NOT_KERNELS) for n, r in results.items()}
    print("kernel time: " + ", ".join(f"{n} {t:.0f} ms" for n, t in totals.items()))
    print("wall time, median of 3 before the trace: " + ", ".join(f"{n} {t * 1e3:.0f} ms" for n, t in walls.items()))
    ops = set().union(*results.values()) - NOT_KERNELS
    ranked = sorted(ops, key=lambda op: -max(r.get(op, (0, 0))[0] for r in results.values()))
    print(f"{'op':48s}" + "".join(f"{n:>24s}" for n in results))
    for op in ranked[: FLAGS.top]:
        cells = "".join(f"{r.get(op, (0, 0))[0]:12.1f} ms x{r.get(op, (0, 0))[1]:6d}" for r in results.values())
        print(f"{op[:48]:48s}{cells}")


if __name__ == "__main__":
    app.run(main)
