"""Memory and speed of a PARSEC search step over batch sizes and K, side by side.

Against (a) training one fixed architecture of the same size and (b) DARTS'
continuous-relaxation supernet (all operations on every edge, softmax weights).
Every number comes from its own fresh subprocess (`measure.py`), all in this one
run, on the same synthetic batch and the same sampled architectures:

- activation memory per example: the least-squares slope of the process' peak
  RSS over the batch sizes (what grows with the batch is activations);
- time per step at each batch size; for PARSEC also per sampled architecture
  (a search forward plus a train forward and backward pass each);
- graph build and first step.

PARSEC with K architectures is compared with the fixed training steps of the
same architectures: K=1 with the first one, larger K with the first
`--architectures` of the K that PARSEC runs (all distinct: a search step runs a
repeated architecture once).

    python benchmarks/memory_speed.py                      # paper's search network (slow on a CPU)
    python benchmarks/memory_speed.py --num_cells=3 --filters=8 --image_size=16 \\
        --batch_sizes=8,16,32 --num_samples=1,4 --steps=2   # a quick look
"""

import ast
import os
import re
import sys

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import measure  # noqa: E402  (benchmarks/measure.py, next to this file)

flags.DEFINE_integer("num_cells", 8, "Cells of the search network (paper: 8).")
flags.DEFINE_integer("filters", 16, "Initial filters (paper: 16).")
flags.DEFINE_integer("image_size", 32, "Square image size (CIFAR-10: 32).")
flags.DEFINE_list("batch_sizes", ["16", "32", "64"], "Batch sizes (paper: 64); at least two, for the memory slope.")
flags.DEFINE_list("num_samples", ["1", "4", "16"], "Values of K, architectures per search step.")
flags.DEFINE_integer("architectures", 4, "Architectures the fixed baseline trains (at most K); PARSEC runs K distinct.")
flags.DEFINE_integer("steps", 3, "Timed steps after two warm-up steps.")
flags.DEFINE_bool("darts", True, "Also measure the DARTS all-operations supernet.")
flags.DEFINE_integer("child_timeout", 1800, "Seconds after which one measurement is abandoned.")
flags.DEFINE_string("plot", "benchmarks/results/memory_speed.png", "PNG to write ('' for none).")
flags.DEFINE_string("from_log", None, "Report from the child lines of an earlier run's log instead of measuring.")
FLAGS = flags.FLAGS


def _config():
    return {
        "num_cells": FLAGS.num_cells,
        "filters": FLAGS.filters,
        "image_size": FLAGS.image_size,
        "architectures": FLAGS.architectures,
        "steps": FLAGS.steps,
    }


def _fixed_for(k):
    """How many pool architectures the fixed baseline of a K-sample search step trains."""
    return min(k, FLAGS.architectures)


def measure_all(batches, ks):
    """{(kind, k, batch): child result} for fixed, PARSEC and DARTS at every batch size."""
    config = _config()
    results = {}
    fixed_counts = sorted({_fixed_for(k) for k in ks})
    for batch in batches:
        for count in fixed_counts:
            results["fixed", count, batch] = measure.run("fixed", batch, count, config, FLAGS.child_timeout)
        for k in ks:
            results["parsec", k, batch] = measure.run("parsec", batch, k, config, FLAGS.child_timeout)
        if FLAGS.darts:
            results["darts", 1, batch] = measure.run("darts", batch, 1, config, FLAGS.child_timeout)
    return results


def read_log(path):
    """{(kind, k, batch): result} from the child lines of a log, e.g. of a run stopped early."""
    pattern = re.compile(r"^\s+(\w+)\s+batch=\s*(\d+) K=\s*(\d+): (\{.*\})$")
    results = {}
    with open(path) as f:
        for line in f:
            match = pattern.match(line)
            if match:
                kind, batch, k, result = match.groups()
                results[kind, 1 if kind == "darts" else int(k), int(batch)] = ast.literal_eval(result)
    return results


def complete_batches(results, batches, ks):
    """The batch sizes at which every measurement of the table is there."""
    needed = [("fixed", _fixed_for(k)) for k in ks] + [("parsec", k) for k in ks]
    needed += [("darts", 1)] if FLAGS.darts else []
    return [b for b in batches if all((kind, k, b) in results for kind, k in needed)]


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def report(results, batches, ks):
    """Prints the memory, time and build tables with their ratios; returns the memory slopes."""

    def slope(kind, k):
        return measure.memory_slope(batches, [results[kind, k, b]["peak_rss_mb"] for b in batches])

    memory = {("fixed", c): slope("fixed", c) for c in sorted({_fixed_for(k) for k in ks})}
    memory.update({("parsec", k): slope("parsec", k) for k in ks})
    if FLAGS.darts:
        memory["darts", 1] = slope("darts", 1)
    rows = []
    for k in ks:
        fixed = memory["fixed", _fixed_for(k)]
        row = [f"K={k}", f"{fixed:.2f}", f"{memory['parsec', k]:.2f}", f"{memory['parsec', k] / fixed:.2f}x"]
        if FLAGS.darts:
            row += [f"{memory['darts', 1]:.2f}", f"{memory['darts', 1] / fixed:.2f}x"]
        rows.append(row)
    header = ["", "fixed MB/example", "PARSEC MB/example", "PARSEC/fixed"]
    header += ["DARTS MB/example", "DARTS/fixed"] if FLAGS.darts else []
    print("\nActivation memory per example (slope of peak RSS over batch sizes " + ",".join(map(str, batches)) + ")")
    print(_table(header, rows))

    rows = []
    for batch in batches:
        for k in ks:
            fixed = results["fixed", _fixed_for(k), batch]["step_s"]
            parsec = results["parsec", k, batch]
            row = [
                str(batch),
                f"K={k}",
                f"{fixed:.3f}",
                f"{parsec['step_s']:.3f}",
                f"{parsec['per_architecture_s']:.3f}",
                f"{parsec['per_architecture_s'] / fixed:.2f}x",
            ]
            if FLAGS.darts:
                darts = results["darts", 1, batch]["step_s"]
                row += [f"{darts:.3f}", f"{darts / fixed:.2f}x"]
            rows.append(row)
    header = ["batch", "K", "fixed step (s)", "PARSEC step (s)", "PARSEC per arch (s)", "per arch/fixed"]
    header += ["DARTS step (s)", "DARTS/fixed"] if FLAGS.darts else []
    print("\nTime per step (median after warm-up); fixed = mean over the same architectures")
    print(_table(header, rows))

    rows = []
    for batch in batches:
        for k in ks:
            fixed = results["fixed", _fixed_for(k), batch]
            parsec = results["parsec", k, batch]
            row = [str(batch), f"K={k}", f"{fixed['first_step_s']:.2f}", f"{parsec['first_step_s']:.2f}"]
            row += [f"{parsec['first_step_s'] / fixed['first_step_s']:.2f}x"]
            row += [f"{fixed['peak_rss_mb']:.0f}", f"{parsec['peak_rss_mb']:.0f}"]
            if FLAGS.darts:
                darts = results["darts", 1, batch]
                row += [f"{darts['first_step_s']:.2f}", f"{darts['peak_rss_mb']:.0f}"]
            rows.append(row)
    header = ["batch", "K", "fixed build+first (s)", "PARSEC build+first (s)", "PARSEC/fixed"]
    header += ["fixed peak RSS (MB)", "PARSEC peak RSS (MB)"]
    header += ["DARTS build+first (s)", "DARTS peak RSS (MB)"] if FLAGS.darts else []
    print("\nGraph build + first step (fixed: per architecture) and peak RSS of the process")
    print(_table(header, rows))
    print("Targets: memory <= 1.25x fixed (goal 1.0x), DARTS several times more; PARSEC peak flat in K.")
    return memory


def plot(results, batches, ks, path):
    """Peak RSS and time per architecture over batch size, one line per kind; returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [("fixed", c, f"fixed ({c} arch.)") for c in sorted({_fixed_for(k) for k in ks})]
    lines += [("parsec", k, f"PARSEC K={k}") for k in ks]
    lines += [("darts", 1, "DARTS supernet")] if FLAGS.darts else []
    figure, (memory_axes, time_axes) = plt.subplots(1, 2, figsize=(11, 4))
    for i, (kind, k, label) in enumerate(lines):
        style = {"marker": "o", "color": f"C{i}", "label": label, "linestyle": "--" if kind == "fixed" else "-"}
        memory_axes.plot(batches, [results[kind, k, b]["peak_rss_mb"] for b in batches], **style)
        key = "per_architecture_s" if kind == "parsec" else "step_s"
        time_axes.plot(batches, [results[kind, k, b][key] for b in batches], **style)
    title = f"{FLAGS.num_cells} cells, {FLAGS.filters} filters, {FLAGS.image_size}x{FLAGS.image_size}"
    memory_axes.set(title=f"peak RSS ({title})", xlabel="batch size", ylabel="MB")
    time_axes.set(
        title="time per step (PARSEC: per sampled architecture)", xlabel="batch size", ylabel="seconds", yscale="log"
    )
    for axes in (memory_axes, time_axes):
        axes.grid(alpha=0.3)
        axes.legend(fontsize=8)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def main(argv):
    del argv
    batches = sorted(int(b) for b in FLAGS.batch_sizes)
    ks = sorted(int(k) for k in FLAGS.num_samples)
    if len(batches) < 2 or batches[0] < 1 or ks[0] < 1:
        raise app.UsageError("--batch_sizes needs two or more positive sizes and --num_samples positive values.")
    print(
        f"Search network: {FLAGS.num_cells} cells, {FLAGS.filters} filters, {FLAGS.image_size}x{FLAGS.image_size} "
        f"images; batch sizes {batches}; K in {ks}; {FLAGS.architectures} distinct architectures; "
        "one subprocess per line.",
        flush=True,
    )
    if FLAGS.from_log:
        results = read_log(FLAGS.from_log)
        batches = complete_batches(results, batches, ks)
        print(f"From {FLAGS.from_log}: complete batch sizes {batches}")
        if len(batches) < 2:
            raise app.UsageError("The log holds fewer than two complete batch sizes.")
    else:
        results = measure_all(batches, ks)
    report(results, batches, ks)
    if FLAGS.plot:
        print(f"\nPlot: {plot(results, batches, ks, FLAGS.plot)}")
    peaks = [results["parsec", k, batches[-1]]["peak_rss_mb"] for k in ks]
    print(f"PARSEC peak RSS at batch {batches[-1]} for K={ks}: {np.round(peaks).astype(int).tolist()} MB")


if __name__ == "__main__":
    app.run(main)
