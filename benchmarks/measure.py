"""Measurements shared by the benchmarks: one training step per fresh subprocess.

`run(kind, batch, num_samples, config)` starts this file as a child process that
builds one network on a synthetic batch, times its steps and prints a JSON line
with the step times and the process' peak RSS. Every child samples the same
architectures (seed 0), so the kinds compare like with like:

- "fixed": a training step of each of the first `min(K, architectures)` sampled
  architectures, each compiled as its own graph (training one architecture);
- "parsec": Algorithm 1's search step (`SuperNet.train_step`) over the first K
  architectures of the pool, none skipped. The pool holds at least K distinct
  architectures, because a step runs an architecture sampled twice only once.
- "compiled": the same search step on engine v2 (`keras_parsec.SuperNet`);
- "darts": DARTS' continuous relaxation, every operation on every edge,
  softmax-weighted, compiled as one graph.

`config` keys: num_cells, filters, image_size, architectures (the pool size),
steps (timed steps after two warm-up steps), and optionally recompute (the
SuperNet's recompute policy: true, false or "early_cells"; default "early_cells").

Each child reports wall-clock and CPU (process) time per step: on a machine
that other work is loading, CPU time is the steadier of the two.
"""

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

NUM_CLASSES = 10


def define_network_flags():
    """Defines the search network's flags that `engine.py` and `engine_breakdown.py` share (paper's defaults)."""
    from absl import flags

    flags.DEFINE_integer("num_cells", 8, "Cells of the search network (paper: 8).")
    flags.DEFINE_integer("filters", 16, "Initial filters (paper: 16).")
    flags.DEFINE_integer("image_size", 32, "Square image size (CIFAR-10: 32).")
    flags.DEFINE_integer("batch_size", 64, "Batch size of the timed steps (paper: 64).")
    flags.DEFINE_integer("num_samples", 4, "K, architectures per search step.")
    flags.DEFINE_enum("recompute", "early_cells", ["True", "False", "early_cells"], "The SuperNet's recompute policy.")


def network_config(values):
    """The `config` of `run` and the children from the values of `define_network_flags`' flags.

    Args:
        values: absl's `flags.FLAGS`, parsed.

    Returns:
        dict: num_cells, filters, image_size, architectures (K), recompute.
    """
    return {
        "num_cells": values.num_cells,
        "filters": values.filters,
        "image_size": values.image_size,
        "architectures": values.num_samples,
        "recompute": {"True": True, "False": False}.get(values.recompute, values.recompute),
    }


def peak_rss_mb():
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def threads():
    """TensorFlow's intra- and inter-op thread counts, a phrase for a benchmark's header ("default": one per core).

    One intra-op thread makes both a fixed step and a search step faster on a
    2-core machine (BENCHMARKS.md, "One intra-op thread"), so every timing says which it ran with.
    """
    import tensorflow as tf

    # Set in code (tf.config.threading) or, read by TensorFlow when it starts, in the environment.
    intra = tf.config.threading.get_intra_op_parallelism_threads() or os.environ.get("TF_NUM_INTRAOP_THREADS")
    inter = tf.config.threading.get_inter_op_parallelism_threads() or os.environ.get("TF_NUM_INTEROP_THREADS")
    return f"TF threads intra-op {intra or 'default'}, inter-op {inter or 'default'}"


def steal_seconds():
    """CPU time the hypervisor gave to other machines so far (Linux), in seconds; 0.0 where unknown.

    On a shared virtual machine a high steal during a timing run means its wall
    times are slowed unevenly: printed beside the load with every timing.
    """
    try:
        with open("/proc/stat") as f:
            return int(f.readline().split()[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _setup(batch, num_samples, config):
    import tensorflow as tf

    import keras_parsec as kp

    space = kp.SearchSpace(num_cells=config["num_cells"], filters=config["filters"])
    rng = np.random.default_rng(0)
    shape = (batch, config["image_size"], config["image_size"], 3)
    x = tf.constant(rng.normal(size=shape).astype("float32"))
    y = tf.constant(rng.integers(0, NUM_CLASSES, size=batch).astype("int32"))
    recompute = config.get("recompute", "early_cells")
    net = kp.search.EagerSuperNet(space, NUM_CLASSES, num_samples=max(num_samples, 1), seed=0, recompute=recompute)
    net.build(shape)
    # K distinct architectures at least: a search step runs a repeated one once. Same K, same pool.
    size = max(config["architectures"], num_samples, 1)
    pool = kp.ArchitectureDistribution(space).sample_choices(size, seed=0).numpy()
    return net, x, y, pool


def _timed(step, warmup, steps):
    """Seconds: (first call incl. graph build, median wall and median CPU time of `steps` calls after `warmup`)."""
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    for _ in range(warmup - 1):
        step()
    walls, cpus = [], []
    for _ in range(steps):
        start, cpu = time.perf_counter(), time.process_time()
        step()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return first, float(np.median(walls)), float(np.median(cpus))


def interleaved(cases, rounds, warmup=2):
    """Times every case once per round, the cases in turn, after `warmup` calls of each.

    On a machine whose speed drifts, a ratio of two cases within a round is
    steadier than the ratio of two separate runs.

    Args:
        cases: {name: no-argument callable}.
        rounds: timed rounds.
        warmup: untimed calls of each case first (traces, caches).

    Returns:
        `(wall, cpu)`: {name: [seconds per round]} each.
    """
    for run_case in cases.values():
        for _ in range(warmup):
            run_case()
    wall = {name: [] for name in cases}
    cpu = {name: [] for name in cases}
    for _ in range(rounds):
        for name, run_case in cases.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run_case()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return wall, cpu


def compiled_train_step(net, x, y, architecture, optimizer):
    """One architecture's training step on `(x, y)` as its own `tf.function` graph: training one fixed network.

    Args:
        net: a built `SuperNet` whose weights the architecture uses.
        x, y: the batch.
        architecture: [2, N, 2] choices.
        optimizer: a Keras optimizer built on `net.trainable_variables`.

    Returns:
        A no-argument `tf.function`.
    """
    import tensorflow as tf

    from keras_parsec.search import ops

    variables = net.architecture_variables(architecture)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(ops.cross_entropy(y, net.architecture_logits(x, architecture)))
        pairs = [(g, v) for g, v in zip(tape.gradient(loss, variables), variables) if g is not None]
        optimizer.apply([g for g, _ in pairs], [v for _, v in pairs])

    return step


def train_passes(net, x, y, architectures, weight):
    """A compiled `SuperNet`'s train passes of `architectures` on `(x, y)`, zeroed first, as a step runs them.

    Also for a `SuperNet` of an earlier commit (`against_commit.py`), whose
    passes did not share a prefix.

    Returns:
        [len(architectures), 4] totals (loss, NaN flag, correct, examples).
    """
    import tensorflow as tf

    net._zero()
    if hasattr(net, "_accumulate_passes"):
        totals = net._accumulate_passes(x, y, [(a, weight) for a in architectures])
    else:
        totals = [net._accumulate(x, y, a, weight) for a in architectures]
    return tf.stack(totals).numpy()


def compiled_forward(net, x, y, architecture):
    """One architecture's summed log-likelihood on `(x, y)` as its own `tf.function` graph: a fixed network's forward.

    What a search forward (Algorithm 1, line 8) would cost if the architecture were fixed.
    """
    import tensorflow as tf

    from keras_parsec.search import ops

    @tf.function
    def forward():
        return -tf.reduce_sum(ops.cross_entropy(y, net.architecture_logits(x, architecture)))

    return forward


def child_fixed(batch, num_samples, config):
    """Training steps of each of the first K pool architectures, each compiled as its own graph."""
    import keras

    net, x, y, pool = _setup(batch, num_samples, config)
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(net.trainable_variables)
    firsts, steps, cpus = [], [], []
    for architecture in pool[: max(num_samples, 1)]:  # the ones the search step runs
        first, median, cpu = _timed(compiled_train_step(net, x, y, architecture, optimizer), 2, config["steps"])
        firsts.append(first)
        steps.append(median)
        cpus.append(cpu)
    return {"first_step_s": float(np.mean(firsts)), "step_s": float(np.mean(steps)), "cpu_step_s": float(np.mean(cpus))}


def child_parsec(batch, num_samples, config):
    """Search steps (Algorithm 1) over K distinct architectures, the first ones of the pool."""
    net, x, y, pool = _setup(batch, num_samples, config)
    net.compile()
    net.skip_zero_weights = False  # every sampled architecture pays its train pass
    from keras_parsec.search import algorithm

    chosen = pool[:num_samples]
    if len(algorithm.distinct_architectures(chosen)[0]) < len(chosen):
        raise RuntimeError("the sampled pool repeats an architecture: a step would run it once")
    return _timed_search_steps(net, x, y, chosen, config["steps"])


def _timed_search_steps(net, x, y, chosen, steps):
    """Times `net.train_step` with its sampler fixed to `chosen`; per step and per architecture."""
    net.sample_choices = lambda: chosen
    data = ((x, y), (x, y))
    first, median, cpu = _timed(lambda: net.train_step(data), 2, steps)
    return {
        "first_step_s": first,
        "step_s": median,
        "per_architecture_s": median / len(chosen),
        "cpu_step_s": cpu,
        "cpu_per_architecture_s": cpu / len(chosen),
    }


def child_compiled(batch, num_samples, config, **executor_options):
    """Search steps of engine v2 (`keras_parsec.SuperNet`) over the same K architectures.

    `executor_options`: arguments of `keras_parsec.search.executor.Executor` other than the default's.
    """
    from keras_parsec.search import Executor
    from keras_parsec.search import SuperNet as CompiledSuperNet

    eager, x, y, pool = _setup(batch, num_samples, config)
    net = CompiledSuperNet(eager.search_space, NUM_CLASSES, num_samples=max(num_samples, 1), seed=0)
    net.build(x.shape)
    if executor_options:
        net.executor = Executor(net.shared, dtype=net.compute_dtype, **executor_options)  # before the first trace
    net.compile()
    net.skip_zero_weights = False  # every sampled architecture pays its train pass
    return _timed_search_steps(net, x, y, pool[:num_samples], config["steps"])


def child_darts(batch, num_samples, config):
    """DARTS' continuous relaxation: every operation on every edge, softmax-weighted."""
    import keras
    import tensorflow as tf

    from keras_parsec.search import ops

    net, x, y, _ = _setup(batch, num_samples, config)
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
        s0 = s1 = ops.stem(x, [net.stem_kernel])
        for cell in net.cells:
            pre0 = ops.factorized_reduce if cell["reduction_prev"] else ops.relu_conv_bn
            p0, p1 = pre0(s0, cell["pre0"]), ops.relu_conv_bn(s1, cell["pre1"])
            weights = tf.nn.softmax(alphas[1 if cell["reduction"] else 0], axis=-1)
            s0, s1 = s1, mixed_cell(p0, p1, cell, weights)
        return ops.classifier(s1, [net.classifier_kernel, net.classifier_bias])

    @tf.function
    def step():
        variables = net.trainable_variables
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(ops.cross_entropy(y, logits()))
        optimizer.apply(tape.gradient(loss, variables), variables)

    first, median, cpu = _timed(step, 2, config["steps"])
    return {"first_step_s": first, "step_s": median, "cpu_step_s": cpu}


def child_recomputing(batch, num_samples, config):
    """`child_compiled` with a backward that recomputes every operation (`SuperNet(recompute=True)`)."""
    return child_compiled(batch, num_samples, config, saved_activations=False)


def child_inlined(batch, num_samples, config):
    """`child_compiled` with the cells inlined in the train pass (`SuperNet(inline_cells=True)`)."""
    return child_compiled(batch, num_samples, config, inline_cells=True)


CHILDREN = {
    "fixed": child_fixed,
    "parsec": child_parsec,
    "compiled": child_compiled,
    "recomputing": child_recomputing,
    "inlined": child_inlined,
    "darts": child_darts,
}


def run(kind, batch, num_samples, config, timeout=None):
    """Runs one measurement in a fresh subprocess and returns its JSON result (with `peak_rss_mb`).

    Args:
        kind: a key of `CHILDREN`.
        batch: batch size.
        num_samples: K.
        config: dict with num_cells, filters, image_size, architectures, steps.
        timeout: seconds after which the child is killed (None: no limit).
    """
    args = [sys.executable, os.path.abspath(__file__), kind, str(batch), str(num_samples), json.dumps(config)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(os.path.abspath(__file__)))] + sys.path)
    out = subprocess.run(args, capture_output=True, text=True, env=env, check=False, timeout=timeout)
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"benchmark child {kind} failed:\n{out.stderr[-3000:]}")
    result = json.loads(lines[-1])
    print(f"  {kind:7s} batch={batch:4d} K={num_samples:2d}: {result}", flush=True)
    return result


def median_run(results):
    """Per key, the median over `results` (dicts of numbers from children of one kind)."""
    return {key: float(np.median([r[key] for r in results])) for key in results[0]}


def memory_slope(batches, peaks):
    """Activation memory per example: least-squares slope of peak RSS (MB) over batch size."""
    return float(np.polyfit(np.asarray(batches, float), np.asarray(peaks, float), 1)[0])


if __name__ == "__main__":
    kind, batch, num_samples, config = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
    result = CHILDREN[kind](batch, num_samples, config)
    result["peak_rss_mb"] = peak_rss_mb()
    print(json.dumps(result))
