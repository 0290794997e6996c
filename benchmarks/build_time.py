"""Graph build and first search step of engine v2 at any depth, on tiny images (the graph ignores their size).

python benchmarks/build_time.py --num_cells=20 --filters=36    # the fine-tuning network of paper 4.2
"""

import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402

flags.DEFINE_integer("num_cells", 20, "Cells.")
flags.DEFINE_integer("filters", 36, "Initial filters.")
flags.DEFINE_integer("num_samples", 4, "K.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import tensorflow as tf

    import keras_parsec as kp
    from keras_parsec.search import SuperNet as CompiledSuperNet

    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    x = tf.zeros([2, 8, 8, 3])
    y = tf.zeros([2], tf.int32)
    start = time.perf_counter()
    net = CompiledSuperNet(space, 10, num_samples=FLAGS.num_samples, seed=0)
    net.build(x.shape)
    net.compile()
    choices = kp.ArchitectureDistribution(space).sample_choices(FLAGS.num_samples, seed=0).numpy()
    net.sample_choices = lambda: choices
    net.train_step(((x, y), (x, y)))
    built = time.perf_counter() - start
    start = time.perf_counter()
    net.train_step(((x, y), (x, y)))
    print(
        f"{FLAGS.num_cells} cells, {FLAGS.filters} filters, K={FLAGS.num_samples}: build + first step {built:.1f} s, "
        f"second step {time.perf_counter() - start:.2f} s; peak RSS {measure.peak_rss_mb():.0f} MB; "
        f"load {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    app.run(main)
