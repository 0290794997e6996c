"""Engine v2 (compiled passes) against the eager engine and one fixed architecture, in one process.

Per sampled architecture, a search step of `keras_parsec.search.EagerSuperNet` (eager
composition) and of `keras_parsec.SuperNet` (the architecture as
data), against a training step of the same architectures each compiled as its
own graph. The cases run in turn, round after round (`measure.interleaved`), on
the same batch and the same K distinct architectures; each round prints its
ratios, the table the medians. Also: graph build and first step of each engine,
and the Python-to-runtime calls of one step of each engine (TensorFlow's
`TFE_Py_Execute` and `TFE_Py_FastPathExecute`, counted with `sys.setprofile`).

    python benchmarks/engine_v2.py --image_size=4 --batch_size=2     # the host floor
    python benchmarks/engine_v2.py                                   # the paper's search network
    python benchmarks/engine_v2.py --compare_recompute               # and the backward that recomputes
    python benchmarks/engine_v2.py --eager=false --compare_inlined   # and cells inlined in the train pass
"""

import os
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402

measure.define_network_flags()
flags.DEFINE_integer("rounds", 5, "Timing rounds (every case once per round).")
flags.DEFINE_bool("eager", True, "Also time the eager engine (EagerSuperNet), the slowest case.")
flags.DEFINE_bool(
    "static_width", False, "Also engine v2 with one cell function per kind and width (Executor(open_width=False))."
)
flags.DEFINE_bool(
    "compare_branches",
    False,
    "Engine v2 both ways: branches that call shared operation functions and branches that hold them "
    "(Executor(operation_calls=True/False)) instead of the device's default.",
)
flags.DEFINE_bool(
    "compare_lowered",
    False,
    "Also engine v2 with its switches lowered the other way from the device's default (lowered to Switch/Merge "
    "on a CPU, functional Case ops on a GPU: Executor(lowered=...)); with --compare_branches both calling "
    "and holding the operations.",
)
flags.DEFINE_bool(
    "compare_recompute",
    False,
    "Also engine v2 with a backward that recomputes every operation instead of reading saved activations "
    "(SuperNet(recompute=True)); with --compare_branches both calling and holding the operations.",
)
flags.DEFINE_bool(
    "compare_inlined",
    False,
    "Also engine v2 with its cells inlined in the train pass (SuperNet(inline_cells=True)): a faster step, "
    "a longer build; with --compare_branches both calling and holding the operations (held and inlined, a "
    "pass has no function boundary left but its switches).",
)
flags.DEFINE_list(
    "memory_batches", [], "On a GPU: batch sizes whose peak device memory gives the activation memory per example."
)
FLAGS = flags.FLAGS


def count_runtime_calls(step):
    """How many eager ops and function calls `step()` sends from Python to the TensorFlow runtime."""
    calls = [0]

    def profile(frame, event, arg):
        del frame
        if event == "c_call" and getattr(arg, "__name__", "") in ("TFE_Py_Execute", "TFE_Py_FastPathExecute"):
            calls[0] += 1

    sys.setprofile(profile)
    try:
        step()
    finally:
        sys.setprofile(None)
    return calls[0]


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    from keras_parsec.search import SuperNet as CompiledSuperNet

    config = measure.network_config(FLAGS)
    k = FLAGS.num_samples
    eager, x, y, pool = measure._setup(FLAGS.batch_size, k, config)
    eager.compile()

    def engine_v2(**executor_options):
        from keras_parsec.search import Executor

        net = CompiledSuperNet(eager.search_space, measure.NUM_CLASSES, num_samples=k, seed=0)
        net.build(x.shape)
        net.compile()
        net.shared.copy_from_supernet(eager)
        if executor_options:
            net.executor = Executor(net.shared, **executor_options)  # before the first trace
        return net

    engines = {"eager": eager} if FLAGS.eager else {}
    if FLAGS.compare_branches:
        engines["compiled_calls"] = engine_v2(operation_calls=True)
        engines["compiled_held"] = engine_v2(operation_calls=False)
    else:
        engines["compiled"] = engine_v2()
    # The default lowers the switches where no GPU is visible; --compare_lowered adds the other way.
    other = bool(tf.config.list_physical_devices("GPU"))
    other_name = "lowered" if other else "functional"
    if FLAGS.compare_lowered and FLAGS.compare_branches:
        engines[f"{other_name}_calls"] = engine_v2(operation_calls=True, lowered=other)
        engines[f"{other_name}_held"] = engine_v2(operation_calls=False, lowered=other)
    elif FLAGS.compare_lowered:
        engines[other_name] = engine_v2(lowered=other)
    if FLAGS.compare_recompute and FLAGS.compare_branches:
        engines["recompute_calls"] = engine_v2(operation_calls=True, saved_activations=False)
        engines["recompute_held"] = engine_v2(operation_calls=False, saved_activations=False)
    elif FLAGS.compare_recompute:
        engines["recompute"] = engine_v2(saved_activations=False)
    if FLAGS.compare_inlined and FLAGS.compare_branches:
        engines["inlined_calls"] = engine_v2(inline_cells=True, operation_calls=True)
        engines["inlined_held"] = engine_v2(inline_cells=True, operation_calls=False)
    elif FLAGS.compare_inlined:
        engines["inlined"] = engine_v2(inline_cells=True)
    if FLAGS.static_width:
        engines["compiled_static"] = engine_v2(open_width=False)
    chosen = pool[:k]
    data = ((x, y), (x, y))
    for net in engines.values():
        net.skip_zero_weights = False  # every sampled architecture pays its train pass
        net.sample_choices = lambda: chosen
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(eager.trainable_variables)
    fixed_steps = [measure.compiled_train_step(eager, x, y, a, optimizer) for a in chosen]

    print(
        f"{FLAGS.num_cells} cells, {FLAGS.filters} filters, {FLAGS.image_size}x{FLAGS.image_size}, "
        f"batch {FLAGS.batch_size}, K={k}; {measure.threads()}; load average {os.getloadavg()[0]:.2f}"
    )
    cases = {"fixed": lambda: [s() for s in fixed_steps]}
    cases.update({name: (lambda net=net: net.train_step(data)) for name, net in engines.items()})
    firsts = {}
    for name, step in cases.items():
        start = time.perf_counter()
        step()
        firsts[name] = time.perf_counter() - start
    firsts["fixed"] /= k
    print("build and first step (s; fixed: per architecture): " + ", ".join(f"{n} {t:.1f}" for n, t in firsts.items()))
    print(
        "runtime calls per step (fixed: its K steps): "
        + ", ".join(f"{n} {count_runtime_calls(step)}" for n, step in cases.items())
    )
    steal = measure.steal_seconds()
    wall, cpu = measure.interleaved(cases, FLAGS.rounds, warmup=1)
    steal = measure.steal_seconds() - steal
    for r in range(FLAGS.rounds):
        print(f"  round {r}: " + ", ".join(f"{n}/fixed {wall[n][r] / wall['fixed'][r]:.2f}" for n in engines))
    fixed = np.median(wall["fixed"]) / k
    print(f"{'per sampled architecture':28s} {'wall s':>8s} {'/ fixed':>8s} {'CPU / fixed':>12s}")
    for name in cases:
        ratios = [w / f for w, f in zip(wall[name], wall["fixed"])]
        cpu_ratios = [c / f for c, f in zip(cpu[name], cpu["fixed"])]
        print(f"{name:28s} {np.median(wall[name]) / k:8.3f} {np.median(ratios):8.2f} {np.median(cpu_ratios):12.2f}")
    peak = measure.peak_rss_mb()
    print(
        f"(fixed: {fixed:.3f} s per architecture); peak RSS {peak:.0f} MB; load {os.getloadavg()[0]:.2f}; "
        f"CPU steal during the rounds {steal:.1f} s"
    )
    if FLAGS.memory_batches:
        gpu_memory_per_example(eager, engines, chosen, optimizer, [int(b) for b in FLAGS.memory_batches])


def gpu_memory_per_example(eager, engines, chosen, optimizer, batches):
    """Slope of peak GPU memory over batch size, per engine: the activation memory per example.

    The fixed case is the heaviest of the K architectures, each trained alone.
    """
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        print("--memory_batches: no GPU here, skipped (CPU memory: benchmarks/engine.py)")
        return
    peaks = {"fixed": []} | {name: [] for name in engines}
    rng = np.random.default_rng(0)
    for batch in batches:
        shape = (batch, FLAGS.image_size, FLAGS.image_size, 3)
        x = tf.constant(rng.normal(size=shape).astype("float32"))
        y = tf.constant(rng.integers(0, measure.NUM_CLASSES, size=batch).astype("int32"))

        def peak(run):
            tf.config.experimental.reset_memory_stats("GPU:0")
            run()
            return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20

        fixed_steps = [measure.compiled_train_step(eager, x, y, a, optimizer) for a in chosen]
        for step in fixed_steps:
            step()  # build outside the measured peak
        peaks["fixed"].append(max(peak(step) for step in fixed_steps))
        data = ((x, y), (x, y))
        for name, net in engines.items():
            net.train_step(data)
            peaks[name].append(peak(lambda net=net, data=data: net.train_step(data)))
    slopes = {name: measure.memory_slope(batches, values) for name, values in peaks.items()}
    print(
        f"peak GPU memory per example (MB), batches {batches}: " + ", ".join(f"{n} {v:.2f}" for n, v in slopes.items())
    )
    print("  / fixed: " + ", ".join(f"{n} {slopes[n] / slopes['fixed']:.2f}" for n in engines))


if __name__ == "__main__":
    app.run(main)
