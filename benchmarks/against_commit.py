"""The default engine's search step at another commit beside the working tree's, in one process.

A change to the engine is faster only if it wins against what it replaces in
the same run: this CPU's speed drifts by 2x within an hour. The package of
`--commit` is extracted (`git archive`) into a temporary folder under another
name (`keras_parsec_base`), so both versions run in this process on the same
weights, architectures and batch, in turn, with one fixed architecture's
compiled training step as the reference. Per sampled architecture: the whole
step (`SuperNet.train_step`), its search-batch forwards and its train passes,
and the fixed architecture's forward alone (what a search forward would cost
if the architecture were fixed).

    python benchmarks/against_commit.py --commit=bc23814                     # paper's search network
    python benchmarks/against_commit.py --commit=HEAD~1 --num_cells=2 --rounds=2   # quick
"""

import importlib
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402

measure.define_network_flags()
flags.DEFINE_string("commit", "HEAD", "The commit whose engine runs beside the working tree's.")
flags.DEFINE_integer("rounds", 6, "Timing rounds (every case once per round).")
FLAGS = flags.FLAGS
BASE = "keras_parsec_base"


def import_commit(commit):
    """The `keras_parsec` package of `commit`, imported as `keras_parsec_base` from a temporary folder."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    folder = tempfile.mkdtemp(prefix="against_commit_")
    archive = subprocess.run(["git", "archive", commit, "keras_parsec"], cwd=root, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", folder], input=archive.stdout, check=True)
    os.rename(os.path.join(folder, "keras_parsec"), os.path.join(folder, BASE))
    for directory, _, files in os.walk(os.path.join(folder, BASE)):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with open(path) as f:
                    text = f.read()
                with open(path, "w") as f:
                    f.write(text.replace("keras_parsec", BASE))
    sys.path.insert(0, folder)
    return importlib.import_module(BASE)


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    import keras_parsec

    base = import_commit(FLAGS.commit)
    k = FLAGS.num_samples
    eager, x, y, pool = measure._setup(FLAGS.batch_size, k, measure.network_config(FLAGS))
    data = ((x, y), (x, y))

    def engine(package):
        space = package.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
        net = package.search.SuperNet(space, measure.NUM_CLASSES, num_samples=k, seed=0)
        net.build(x.shape)
        net.compile()
        net.shared.copy_from_supernet(eager)
        net.skip_zero_weights = False  # every sampled architecture pays its train pass
        net.sample_choices = lambda: pool[:k]
        start = time.perf_counter()
        net.train_step(data)
        print(f"{package.__name__} engine: build and first step {time.perf_counter() - start:.1f} s", flush=True)
        return net

    nets = {f"{FLAGS.commit}": engine(base), "working tree": engine(keras_parsec)}
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(eager.trainable_variables)
    fixed = [measure.compiled_train_step(eager, x, y, a, optimizer) for a in pool[:k]]
    architectures = [tf.constant(a, tf.int32) for a in pool[:k]]
    weight = tf.constant(1.0 / k)

    def train_passes(net):
        return lambda: measure.train_passes(net, x, y, architectures, weight)

    fixed_forwards = [measure.compiled_forward(eager, x, y, a) for a in pool[:k]]
    cases = {"fixed": lambda: [step() for step in fixed], "fixed: forward": lambda: [f() for f in fixed_forwards]}
    for name, net in nets.items():
        cases[f"{name}: step"] = lambda net=net: float(net.train_step(data)["loss"])
        cases[f"{name}: search forwards"] = lambda net=net: net.search_log_likelihoods(x, y, pool[:k]).numpy()
        cases[f"{name}: train passes"] = train_passes(net)
    steal = measure.steal_seconds()
    wall, cpu = measure.interleaved(cases, FLAGS.rounds)
    steal = measure.steal_seconds() - steal
    print(
        f"{FLAGS.num_cells} cells, {FLAGS.filters} filters, {FLAGS.image_size}x{FLAGS.image_size}, "
        f"batch {FLAGS.batch_size}, K={k}; {FLAGS.rounds} rounds; {measure.threads()}; load {os.getloadavg()[0]:.2f}; "
        f"CPU steal during the rounds {steal:.1f} s"
    )
    print(f"{'per sampled architecture':36s} {'wall s':>8s} {'/ fixed':>8s} {'rounds':>11s} {'CPU / fixed':>12s}")
    for name in cases:
        ratios = [a / b for a, b in zip(wall[name], wall["fixed"])]
        cpu_ratio = np.median([a / b for a, b in zip(cpu[name], cpu["fixed"])])
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        print(f"{name:36s} {np.median(wall[name]) / k:8.3f} {np.median(ratios):8.2f} {spread:>11s} {cpu_ratio:12.2f}")
    first, second = nets
    for part in ("step", "search forwards", "train passes"):
        ratios = [a / b for a, b in zip(wall[f"{second}: {part}"], wall[f"{first}: {part}"])]
        print(f"{second} / {first}, {part}: {np.median(ratios):.2f} (rounds {min(ratios):.2f}-{max(ratios):.2f})")


if __name__ == "__main__":
    app.run(main)
