"""Slices whose gradient is a pad against strided slices: one kernel, a final network's step, and the search.

`x[:, ::2, ::2, :]` (a dilated convolution at stride 2) and `x[:, 1:, 1:, :]`
(`FactorizedReduce`) are strided slices; TensorFlow's gradient of one is far
slower than a pad. `keras_parsec.search.ops.subsample`/`shift` and
`keras_parsec.final.subsampling` write them as a reshape and a slice instead.
This prints, in one process with the cases alternating: the gradient of each
on its own, and a final network's training step (`CellNetwork`, `fit`'s
compiled step) built with the strided slices against the current layers. The
search engine against the commit before the change: `against_commit.py`.
Figures go to BENCHMARKS.md.

    python benchmarks/subsampling.py                       # DARTS_V1 and DARTS_V2, 8 cells, 16 filters, 32x32, batch 64
    python benchmarks/subsampling.py --num_cells=20 --filters=36 --batch_size=96   # the paper's evaluation network
"""

import contextlib
import os
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402

flags.DEFINE_integer("num_cells", 8, "Cells of the final network.")
flags.DEFINE_integer("filters", 16, "Initial filters of the final network.")
flags.DEFINE_integer("image_size", 32, "Square image size.")
flags.DEFINE_integer("batch_size", 64, "Images per step.")
flags.DEFINE_integer("rounds", 8, "Timing rounds (every case once per round).")
flags.DEFINE_list("genotypes", ["DARTS_V1", "DARTS_V2"], "Published genotypes whose networks are timed.")
FLAGS = flags.FLAGS


def strided_subsample(x, stride):
    return x[:, ::stride, ::stride, :]


def strided_shift(x):
    import tensorflow as tf

    return tf.pad(x[:, 1:, 1:, :], [[0, 0], [0, 1], [0, 1], [0, 0]])


@contextlib.contextmanager
def strided_slices():
    """While open, the final layers trace the strided slices (as before the change)."""
    from keras_parsec.final import subsampling

    saved = subsampling.subsample, subsampling.shift
    subsampling.subsample, subsampling.shift = strided_subsample, strided_shift
    try:
        yield
    finally:
        subsampling.subsample, subsampling.shift = saved


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    import keras_parsec as kp
    from keras_parsec.search import ops

    cases = {}
    for shape in [(FLAGS.batch_size, 32, 32, 16), (FLAGS.batch_size, 16, 16, 32)]:
        x = tf.random.normal(shape)
        for name, function in [
            ("x[:, ::2, ::2]", lambda t: strided_subsample(t, 2)),
            ("subsample", lambda t: ops.subsample(t, 2)),
            ("x[:, 1:, 1:] padded", strided_shift),
            ("shift", ops.shift),
        ]:

            @tf.function(input_signature=[tf.TensorSpec([None, None, None, shape[-1]])])
            def gradient(t, function=function):
                with tf.GradientTape() as tape:
                    tape.watch(t)
                    y = function(t)
                return tape.gradient(y, t, output_gradients=tf.ones_like(y))

            cases[f"{name}, forward and backward, {shape}"] = lambda g=gradient, x=x: g(x).numpy()
    rng = np.random.default_rng(0)
    size = (FLAGS.batch_size, FLAGS.image_size, FLAGS.image_size, 3)
    images = rng.normal(size=size).astype("float32")
    labels = rng.integers(0, 10, size=FLAGS.batch_size)
    for genotype in FLAGS.genotypes:
        for version, context in [("strided slices", strided_slices), ("slices (now)", contextlib.nullcontext)]:
            keras.utils.set_random_seed(0)
            with context():
                network = kp.CellNetwork(
                    kp.Genotype.load(genotype),
                    10,
                    num_cells=FLAGS.num_cells,
                    filters=FLAGS.filters,
                    input_shape=size[1:],
                )
                network.compile(
                    optimizer=keras.optimizers.SGD(0.025, momentum=0.9), loss="sparse_categorical_crossentropy"
                )
                network.train_on_batch(images, labels)  # traced here, inside the context
            cases[f"{genotype} train step, {version}"] = lambda n=network: n.train_on_batch(images, labels)
    steal = measure.steal_seconds()
    wall, _ = measure.interleaved(cases, FLAGS.rounds)
    steal = measure.steal_seconds() - steal
    print(
        f"{FLAGS.num_cells} cells, {FLAGS.filters} filters, {FLAGS.image_size}x{FLAGS.image_size}, "
        f"batch {FLAGS.batch_size}; {FLAGS.rounds} rounds; load {os.getloadavg()[0]:.2f}; "
        f"CPU steal during the rounds {steal:.1f} s"
    )
    names = list(cases)
    for before, after in zip(names[::2], names[1::2]):
        ratios = [a / b for a, b in zip(wall[after], wall[before])]
        print(
            f"{after:58s} {np.median(wall[after]) * 1e3:8.2f} ms against {np.median(wall[before]) * 1e3:8.2f} ms: "
            f"{np.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f})"
        )


if __name__ == "__main__":
    app.run(main)
