"""Epoch times of the paper's three runs at full size, measured over a few steps and extrapolated.

- search (4.1): SuperNet, 8 cells, 16 filters, batch 64, K=16, 25,000 train images
  (the 50/50 split of CIFAR-10's 50,000): 390 steps per epoch, 100 epochs;
- fine-tuning (4.2): SuperNet, 20 cells, 36 filters, auxiliary head, batch 96,
  K=16: 260 steps per epoch, 10 epochs;
- final training (4.1): CellNetwork of DARTS_V2, 20 cells, 36 filters,
  auxiliary head 0.4, drop path 0.4, batch 96: 520 steps per epoch, 600 epochs.

A search step's cost is linear in K (K search forwards, then K train
forward/backward passes, none skipped here), so `--num_samples` below 16
measures the time per architecture and scales it to K=16. Each run is a
separate process; synthetic CIFAR-shaped data. "CPU s / step" is the
process' CPU time (all cores), which, unlike the wall time, does not grow when
other processes share the machine.

    python benchmarks/paper.py                       # all three
    python benchmarks/paper.py --runs=search --steps=2 --num_samples=4
    python benchmarks/paper.py --runs= --counts      # only the parameter and multiply-add counts
    python benchmarks/paper.py --runs=search --engine=eager      # the search on the eager baseline
"""

import json
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

flags.DEFINE_list("runs", ["search", "finetune", "final"], "Which runs to measure.")
flags.DEFINE_integer("steps", 2, "Timed steps after one warm-up step.")
flags.DEFINE_integer("num_samples", 16, "K of the measured search steps (scaled to the paper's K=16).")
flags.DEFINE_bool("counts", True, "Also print DARTS_V1/V2 parameters and multiply-adds at the paper's sizes.")
flags.DEFINE_enum(
    "engine",
    "compiled",
    ["compiled", "eager"],
    "The search runs' engine (eager: the baseline keras_parsec.search.EagerSuperNet).",
)
flags.DEFINE_string("child", None, "Internal: measure one run and print JSON.")
FLAGS = flags.FLAGS

PAPER_K = 16
RUNS = {
    # name: (num_cells, filters, batch, steps per epoch, epochs)
    "search": (8, 16, 64, 25_000 // 64, 100),
    "finetune": (20, 36, 96, 25_000 // 96, 10),
    "final": (20, 36, 96, 50_000 // 96, 600),
}


def _measure(run):
    import keras
    import tensorflow as tf

    import keras_parsec as kp

    num_cells, filters, batch, _, _ = RUNS[run]
    rng = np.random.default_rng(0)
    x = tf.constant(rng.normal(size=(batch, 32, 32, 3)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, size=batch).astype("int32"))
    keras.utils.set_random_seed(0)
    if run == "final":
        model = kp.build_final_network(kp.DARTS_V2, kp.CIFAR10_RECIPE, num_classes=10)
        kp.compile_final_network(model, kp.CIFAR10_RECIPE, steps_per_epoch=RUNS[run][3])
        step = lambda: model.train_on_batch(x, y)  # noqa: E731
    else:
        space = kp.SearchSpace(num_cells=num_cells, filters=filters)
        engine = kp.SuperNet if FLAGS.engine == "compiled" else kp.search.EagerSuperNet
        auxiliary_weight = 0.4 if run == "finetune" else 0.0
        net = engine(space, 10, num_samples=FLAGS.num_samples, seed=0, auxiliary_weight=auxiliary_weight)
        net.build((None, 32, 32, 3))
        net.compile()
        net.skip_zero_weights = False
        step = lambda: net.train_step(((x, y), (x, y)))  # noqa: E731
    start = time.perf_counter()
    step()
    first = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(FLAGS.steps):
        step()
    seconds = (time.perf_counter() - start) / FLAGS.steps
    cpu_seconds = (time.process_time() - cpu_start) / FLAGS.steps
    if run != "final":
        seconds *= PAPER_K / FLAGS.num_samples
        cpu_seconds *= PAPER_K / FLAGS.num_samples
    return {"first_step_s": first, "step_s": seconds, "cpu_step_s": cpu_seconds}


def _print_counts():
    import keras_parsec as kp

    print("\n| genotype | setting | params (M) | multiply-adds (M) |\n| --- | --- | --- | --- |")
    for name in ("DARTS_V1", "DARTS_V2"):
        for setting in ("cifar10", "imagenet"):
            genotype = getattr(kp, name)
            params, flops = kp.count_params(genotype, setting), kp.count_flops(genotype, setting)
            print(f"| {name} | {setting} | {params / 1e6:.2f} | {flops / 1e6:.0f} |", flush=True)


def main(argv):
    del argv
    if FLAGS.child:
        print("RESULT " + json.dumps(_measure(FLAGS.child)))
        return
    if FLAGS.runs:
        print("| run | network | batch | K | first step (s) | step (s) | CPU s / step | epoch (h) | run (days) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for run in FLAGS.runs:
        command = [sys.argv[0], f"--child={run}", f"--steps={FLAGS.steps}", f"--num_samples={FLAGS.num_samples}"]
        command.append(f"--engine={FLAGS.engine}")
        result = subprocess.run([sys.executable, *command], capture_output=True, text=True, check=False)
        lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
        if not lines:
            print(f"| {run} | failed: {result.stderr[-500:]!r} |")
            continue
        measured = json.loads(lines[-1][len("RESULT ") :])
        num_cells, filters, batch, steps_per_epoch, epochs = RUNS[run]
        epoch_h = measured["step_s"] * steps_per_epoch / 3600
        k = "-" if run == "final" else f"16 (measured {FLAGS.num_samples})"
        print(
            f"| {run} | {num_cells} cells, {filters} filters | {batch} | {k} | {measured['first_step_s']:.1f} | "
            f"{measured['step_s']:.1f} | {measured['cpu_step_s']:.1f} | {epoch_h:.2f} | "
            f"{epoch_h * epochs / 24:.1f} ({epochs} epochs) |",
            flush=True,
        )
    if FLAGS.counts:
        _print_counts()


if __name__ == "__main__":
    app.run(main)
