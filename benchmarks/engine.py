"""PARSEC search step against one fixed architecture and a DARTS supernet, side by side.

Every measurement runs in a fresh subprocess (so one cannot warm the caches or
inflate the peak memory of another) on the same synthetic batch and the same
sampled architectures, and the table prints ratios:

- activation memory per example: the least-squares slope of the process' peak
  RSS over batch sizes (what grows with the batch is activations), for a search step,
  a training step of a fixed architecture and a DARTS all-operations step;
- time per sampled architecture: a search step (K search forwards plus K train
  forward/backward passes, none skipped) divided by K, against a training step
  of the same architectures compiled one at a time; `--rounds` pairs of children
  in turn, the table showing the medians and each round's ratio printed below it;
- graph build and first step;
- peak memory of search steps with K=1 and with K.

    python benchmarks/engine.py                       # paper's search network
    python benchmarks/engine.py --num_cells=2 --batch_size=32 --num_samples=2   # quick
"""

import os
import sys

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402  (benchmarks/measure.py, next to this file)

measure.define_network_flags()
flags.DEFINE_list("memory_batches", ["16", "40", "64"], "Batch sizes of the memory slope (least squares).")
flags.DEFINE_integer("steps", 3, "Timed steps after the warm-up steps.")
flags.DEFINE_bool("darts", True, "Also measure the DARTS all-operations supernet.")
flags.DEFINE_bool("eager", True, "Also measure the eager engine (keras_parsec.search.EagerSuperNet).")
flags.DEFINE_bool("compiled", True, "Also measure engine v2 (keras_parsec.SuperNet, the default engine).")
flags.DEFINE_bool("recomputing", False, "Also measure engine v2 recomputing every operation (recompute=True).")
flags.DEFINE_bool("inlined", False, "Also measure engine v2 with cells inlined in the train pass (inline_cells=True).")
flags.DEFINE_integer(
    "rounds", 3, "Timing rounds; each runs a fixed and a PARSEC child in turn (this machine's speed drifts by 20%)."
)
FLAGS = flags.FLAGS

SEARCH_KINDS = ("parsec", "compiled", "recomputing", "inlined")  # a step runs K architectures: its time is divided by K


def _run_child(kind, batch, num_samples):
    return measure.run(kind, batch, num_samples, dict(measure.network_config(FLAGS), steps=FLAGS.steps))


def _per_architecture(kind, result, cpu=False):
    """Seconds per architecture of one child's result: a search step over K, a fixed or DARTS step whole."""
    if kind in SEARCH_KINDS:
        return result["cpu_per_architecture_s" if cpu else "per_architecture_s"]
    return result["cpu_step_s" if cpu else "step_s"]


def main(argv):
    del argv
    k = FLAGS.num_samples
    chosen = {
        "parsec": FLAGS.eager,
        "compiled": FLAGS.compiled,
        "recomputing": FLAGS.recomputing,
        "inlined": FLAGS.inlined,
        "darts": FLAGS.darts,
    }
    kinds = ["fixed"] + [kind for kind, on in chosen.items() if on]
    print(
        f"Search network: {FLAGS.num_cells} cells, {FLAGS.filters} filters, "
        f"{FLAGS.image_size}x{FLAGS.image_size} images, K={k}, recompute={FLAGS.recompute}; "
        "one subprocess per line."
    )
    batches = [int(b) for b in FLAGS.memory_batches]
    memory = {}
    for kind in kinds:
        peaks = [_run_child(kind, b, k)["peak_rss_mb"] for b in batches]
        memory[kind] = measure.memory_slope(batches, peaks)
    rounds = [{kind: _run_child(kind, FLAGS.batch_size, k) for kind in kinds} for _ in range(FLAGS.rounds)]
    timing = {kind: measure.median_run([r[kind] for r in rounds]) for kind in kinds}
    rows = [
        ("activation memory per example (MB)", {kd: memory[kd] for kd in kinds}),
        ("time per architecture, one step (s)", {kd: _per_architecture(kd, timing[kd]) for kd in kinds}),
        ("CPU time per architecture, one step (s)", {kd: _per_architecture(kd, timing[kd], True) for kd in kinds}),
        ("graph build + first step (s)", {kd: timing[kd]["first_step_s"] for kd in kinds}),
    ]
    print()
    print(f"| measure | {' | '.join(kinds)} | {' | '.join(f'{kd}/fixed' for kd in kinds[1:])} |")
    print("|" + " --- |" * (1 + 2 * len(kinds) - 1))
    for name, values in rows:
        cells = " | ".join(f"{values[kd]:.3f}" for kd in kinds)
        ratios = " | ".join(f"{values[kd] / values['fixed']:.2f}x" for kd in kinds[1:])
        print(f"| {name} | {cells} | {ratios} |")
    for kind in kinds[1:]:
        for name, cpu in (("time", False), ("CPU time", True)):
            ratios = sorted(_per_architecture(kind, r[kind], cpu) / _per_architecture("fixed", r["fixed"], cpu)
                            for r in rounds)  # fmt: skip
            print(
                f"{name} per architecture, {kind}/fixed in each of {len(rounds)} rounds (children in turn): "
                + ", ".join(f"{ratio:.2f}x" for ratio in ratios)
            )
    print()
    for kind in [kd for kd in kinds if kd in SEARCH_KINDS]:
        peak_k1, peak_k = _run_child(kind, FLAGS.batch_size, 1)["peak_rss_mb"], timing[kind]["peak_rss_mb"]
        print(f"{kind} peak RSS at batch {FLAGS.batch_size}: K=1 {peak_k1:.0f} MB, K={k} {peak_k:.0f} MB "
              f"(ratio {peak_k / peak_k1:.2f}x)")  # fmt: skip
    print("Targets: memory <= 1.25x fixed, time per architecture <= 1.6x, build + first step <= 10x, peak flat in K.")


if __name__ == "__main__":
    app.run(main)
