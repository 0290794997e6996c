"""PARSEC search step against one fixed architecture and a DARTS supernet, side by side.

Every measurement runs in a fresh subprocess (so one cannot warm the caches or
inflate the peak memory of another) on the same synthetic batch and the same
sampled architectures, and the table prints ratios:

- activation memory per example: the slope of the process' peak RSS between two
  batch sizes (what grows with the batch is activations), for a search step,
  a training step of a fixed architecture and a DARTS all-operations step;
- time per sampled architecture: a search step (K search forwards plus K train
  forward/backward passes, none skipped) divided by K, against a training step
  of the same architectures compiled one at a time;
- graph build and first step;
- peak memory of search steps with K=1 and with K.

    python benchmarks/engine.py                       # paper's search network
    python benchmarks/engine.py --num_cells=2 --batch_size=32 --num_samples=2   # quick
"""

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

flags.DEFINE_integer("num_cells", 8, "Cells of the search network (paper: 8).")
flags.DEFINE_integer("filters", 16, "Initial filters (paper: 16).")
flags.DEFINE_integer("image_size", 32, "Square image size (CIFAR-10: 32).")
flags.DEFINE_integer("batch_size", 64, "Batch size of the timing runs (paper: 64).")
flags.DEFINE_list("memory_batches", ["16", "64"], "Two batch sizes for the memory slope.")
flags.DEFINE_integer("num_samples", 4, "K, architectures per search step.")
flags.DEFINE_integer("steps", 3, "Timed steps after the warm-up steps.")
flags.DEFINE_bool("darts", True, "Also measure the DARTS all-operations supernet.")
flags.DEFINE_enum("recompute", "True", ["True", "False", "early_cells"], "SuperNet's recompute policy.")
flags.DEFINE_string("child", None, "Internal: run one measurement, print JSON.")
flags.DEFINE_integer("child_batch", 0, "Internal: batch size of the child.")
flags.DEFINE_integer("child_samples", 0, "Internal: K of the child.")
FLAGS = flags.FLAGS

NUM_CLASSES = 10


def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _setup(batch):
    import tensorflow as tf

    import keras_parsec as kp

    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    rng = np.random.default_rng(0)
    shape = (batch, FLAGS.image_size, FLAGS.image_size, 3)
    x = tf.constant(rng.normal(size=shape).astype("float32"))
    y = tf.constant(rng.integers(0, NUM_CLASSES, size=batch).astype("int32"))
    samples = max(FLAGS.child_samples, 1)
    net = kp.SuperNet(space, NUM_CLASSES, num_samples=samples, seed=0, recompute=_recompute_policy())
    net.build(shape)
    architectures = kp.ArchitectureDistribution(space).sample_choices(max(FLAGS.num_samples, 1), seed=0).numpy()
    return net, x, y, architectures


def _recompute_policy():
    return {"True": True, "False": False}.get(FLAGS.recompute, FLAGS.recompute)


def _timed(step, warmup, steps):
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return first, float(np.median(times))


def child_fixed(batch):
    """Training steps of each sampled architecture, each compiled as its own graph."""
    import keras
    import tensorflow as tf

    from keras_parsec import supernet

    net, x, y, architectures = _setup(batch)
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(net.trainable_variables)
    firsts, steps = [], []

    def compiled_step(architecture):
        variables = net.architecture_variables(architecture)

        @tf.function
        def step():
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(supernet.cross_entropy(y, net.architecture_logits(x, architecture)))
            pairs = [(g, v) for g, v in zip(tape.gradient(loss, variables), variables) if g is not None]
            optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])

        return step

    for architecture in architectures[: max(FLAGS.child_samples, 1)]:  # the same ones the search step runs
        first, median = _timed(compiled_step(architecture), 2, FLAGS.steps)
        firsts.append(first)
        steps.append(median)
    return {"first_step_s": float(np.mean(firsts)), "step_s": float(np.mean(steps))}


def child_parsec(batch, num_samples):
    """Search steps (Algorithm 1) over the same sampled architectures."""
    net, x, y, architectures = _setup(batch)
    net.compile()
    net.skip_zero_weights = False  # every sampled architecture pays its train pass
    chosen = np.resize(architectures, (num_samples,) + architectures.shape[1:])
    net.sample_choices = lambda: chosen
    data = ((x, y), (x, y))
    first, median = _timed(lambda: net.train_step(data), 2, FLAGS.steps)
    return {"first_step_s": first, "step_s": median, "per_architecture_s": median / num_samples}


def child_darts(batch):
    """DARTS' continuous relaxation: every operation on every edge, softmax-weighted."""
    import keras
    import tensorflow as tf

    from keras_parsec import ops, supernet

    net, x, y, _ = _setup(batch)
    space = net.search_space
    edges = sum(n + 2 for n in range(space.num_nodes))
    alphas = tf.Variable(tf.zeros([2, edges, space.num_operations]))
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(net.trainable_variables)

    def mixed_cell(s0, s1, cell, weights):
        states, edge = [s0, s1], 0
        for node in range(space.num_nodes):
            total = 0.0
            for source in range(node + 2):
                stride = 2 if cell["reduction"] and source < 2 else 1
                for p, op in enumerate(space.operations):
                    out = ops.apply_operation(op, states[source], cell["edges"][node, source, op], stride)
                    total += weights[edge, p] * out
                edge += 1
            states.append(total)
        return tf.concat(states[2:], axis=-1)

    def logits():
        s0 = s1 = supernet.stem(x, [net.stem_kernel])
        for cell in net.cells:
            pre0 = ops.factorized_reduce if cell["reduction_prev"] else ops.relu_conv_bn
            p0, p1 = pre0(s0, cell["pre0"]), ops.relu_conv_bn(s1, cell["pre1"])
            weights = tf.nn.softmax(alphas[1 if cell["reduction"] else 0], axis=-1)
            s0, s1 = s1, mixed_cell(p0, p1, cell, weights)
        return supernet.classifier(s1, [net.classifier_kernel, net.classifier_bias])

    @tf.function
    def step():
        variables = net.trainable_variables
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(supernet.cross_entropy(y, logits()))
        optimizer.apply(tape.gradient(loss, variables), variables)

    first, median = _timed(step, 2, FLAGS.steps)
    return {"first_step_s": first, "step_s": median}


def _run_child(kind, batch, num_samples=1):
    args = [sys.executable, os.path.abspath(__file__), f"--child={kind}", f"--child_batch={batch}"]
    args += [f"--child_samples={num_samples}", f"--num_cells={FLAGS.num_cells}", f"--filters={FLAGS.filters}"]
    args += [f"--image_size={FLAGS.image_size}", f"--num_samples={FLAGS.num_samples}", f"--steps={FLAGS.steps}"]
    args += [f"--recompute={FLAGS.recompute}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(__file__)))] + sys.path)
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark child {kind} failed:\n{out.stderr[-3000:]}")
    result = json.loads(lines[-1])
    print(f"  {kind:7s} batch={batch:4d} K={num_samples:2d}: {result}", flush=True)
    return result


def main(argv):
    del argv
    if FLAGS.child:
        batch, k = FLAGS.child_batch, FLAGS.child_samples
        result = {
            "fixed": lambda: child_fixed(batch),
            "parsec": lambda: child_parsec(batch, k),
            "darts": lambda: child_darts(batch),
        }[FLAGS.child]()
        result["peak_rss_mb"] = _peak_rss_mb()
        print(json.dumps(result))
        return
    k = FLAGS.num_samples
    kinds = ["fixed", "parsec"] + (["darts"] if FLAGS.darts else [])
    print(
        f"Search network: {FLAGS.num_cells} cells, {FLAGS.filters} filters, "
        f"{FLAGS.image_size}x{FLAGS.image_size} images, K={k}; one subprocess per line."
    )
    b1, b2 = (int(b) for b in FLAGS.memory_batches)
    memory = {}
    for kind in kinds:
        low = _run_child(kind, b1, k)["peak_rss_mb"]
        high = _run_child(kind, b2, k)["peak_rss_mb"]
        memory[kind] = (high - low) / (b2 - b1)
    timing = {kind: _run_child(kind, FLAGS.batch_size, k) for kind in kinds}
    peak_k1 = _run_child("parsec", FLAGS.batch_size, 1)["peak_rss_mb"]
    fixed = timing["fixed"]
    rows = [
        ("activation memory per example (MB)", {kd: memory[kd] for kd in kinds}, memory["fixed"]),
        (
            "time per architecture, one step (s)",
            {
                "fixed": fixed["step_s"],
                "parsec": timing["parsec"]["per_architecture_s"],
                **({"darts": timing["darts"]["step_s"]} if FLAGS.darts else {}),
            },
            fixed["step_s"],
        ),
        ("graph build + first step (s)", {kd: timing[kd]["first_step_s"] for kd in kinds}, fixed["first_step_s"]),
    ]
    print()
    print(f"| measure | {' | '.join(kinds)} | {' | '.join(f'{kd}/fixed' for kd in kinds[1:])} |")
    print("|" + " --- |" * (1 + 2 * len(kinds) - 1))
    for name, values, base in rows:
        cells = " | ".join(f"{values[kd]:.3f}" for kd in kinds)
        ratios = " | ".join(f"{values[kd] / base:.2f}x" for kd in kinds[1:])
        print(f"| {name} | {cells} | {ratios} |")
    peak_k = timing["parsec"]["peak_rss_mb"]
    print(
        f"\nPARSEC peak RSS at batch {FLAGS.batch_size}: K=1 {peak_k1:.0f} MB, K={k} {peak_k:.0f} MB "
        f"(ratio {peak_k / peak_k1:.2f}x)"
    )
    print("Targets: memory <= 1.25x fixed, time per architecture <= 1.6x, build + first step <= 10x, peak flat in K.")


if __name__ == "__main__":
    app.run(main)
