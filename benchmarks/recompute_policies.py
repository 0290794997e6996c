"""Time per sampled architecture of each recompute policy against one compiled architecture.

The variants run in one process and alternate step by step, so a load that
changes from minute to minute falls on all of them alike; each reports the
median wall-clock and CPU (process) time per architecture. Memory per policy
comes from `engine.py --recompute=...`, which needs a fresh process per figure.

    python benchmarks/recompute_policies.py                       # 8 cells, batch 64, K=2, 4 rounds
    python benchmarks/recompute_policies.py --num_cells=2 --rounds=2   # quick
"""

import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402  (benchmarks/measure.py, next to this file)

flags.DEFINE_integer("num_cells", 8, "Cells of the search network (paper: 8).")
flags.DEFINE_integer("filters", 16, "Initial filters (paper: 16).")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("num_samples", 2, "K, architectures per search step.")
flags.DEFINE_integer("rounds", 4, "Timed rounds; each runs every variant once.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    import keras_parsec as kp

    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(FLAGS.batch_size, 32, 32, 3)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, size=FLAGS.batch_size).astype("int32"))
    net = kp.search.EagerSuperNet(space, 10, num_samples=FLAGS.num_samples, seed=0)
    net.build(x.shape)
    net.compile()
    net.skip_zero_weights = False  # every architecture pays its train pass
    architectures = kp.ArchitectureDistribution(space).sample_choices(FLAGS.num_samples, seed=0).numpy()
    net.sample_choices = lambda: architectures
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(net.trainable_variables)

    fixed_steps = [measure.compiled_train_step(net, x, y, a, optimizer) for a in architectures]

    def search_step(policy):
        def run():
            net.recompute = policy
            net.train_step(((x, y), (x, y)))

        return run

    variants = {"fixed": lambda: [step() for step in fixed_steps]}
    variants.update({f"parsec recompute={p!r}": search_step(p) for p in (True, "early_cells", False)})
    wall, cpu = measure.interleaved(variants, FLAGS.rounds)
    wall = {name: [t / FLAGS.num_samples for t in times] for name, times in wall.items()}
    cpu = {name: [t / FLAGS.num_samples for t in times] for name, times in cpu.items()}
    base_wall, base_cpu = np.median(wall["fixed"]), np.median(cpu["fixed"])
    print(f"{FLAGS.num_cells} cells, {FLAGS.filters} filters, batch {FLAGS.batch_size}, K={FLAGS.num_samples}")
    print("| variant | wall per architecture | CPU per architecture |\n| --- | --- | --- |")
    for name in variants:
        w, c = np.median(wall[name]), np.median(cpu[name])
        print(f"| {name} | {w:.3f} s ({w / base_wall:.2f}x) | {c:.3f} s ({c / base_cpu:.2f}x) |")


if __name__ == "__main__":
    app.run(main)
