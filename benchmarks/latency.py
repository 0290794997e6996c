"""Does a per-choice latency table rank architectures like their measured end-to-end latency?

Builds `measure_latency_table` for a DARTS space at a CPU-friendly size, samples
architectures uniformly (fixed seed), measures each end to end (`measure_latency`
on the list: one sample of every network per round, median of the rounds), and
prints predicted against measured milliseconds (also without the table's fitted scale), the Spearman rank correlation,
and the mean absolute relative error. The exact multiply-add and parameter
tables (`flops_table`, `params_table`) are scored as predictors of the same
latencies, for comparison. The machine's load average is printed at the start
and the end. Figures go to BENCHMARKS.md.

    python benchmarks/latency.py                         # 8 cells, 16 filters, 32x32, batch 1, 20 architectures
    python benchmarks/latency.py --batch_size=8 --architectures=5 --repeats=5   # smoke run
"""

import time

import numpy as np
from absl import app, flags

flags.DEFINE_integer("num_cells", 8, "Cells of the timed networks.")
flags.DEFINE_integer("filters", 16, "Initial filters of the timed networks.")
flags.DEFINE_integer("image_size", 32, "Square image size.")
flags.DEFINE_integer("batch_size", 1, "Images per timed call.")
flags.DEFINE_integer("architectures", 20, "Architectures sampled uniformly and timed end to end.")
flags.DEFINE_integer("repeats", 30, "Timing samples (median) per operation and per network.")
flags.DEFINE_enum("statistic", "median", ["median", "min"], "Statistic of each one's timing samples.")
flags.DEFINE_integer("seed", 0, "Seed of the sampled architectures.")
flags.DEFINE_string("device", None, 'TensorFlow device, e.g. "/CPU:0" (default: the first GPU, else the CPU).')
FLAGS = flags.FLAGS


def load_average():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def ranks(values):
    """Ranks from 0, ties given their mean rank (as scipy.stats.rankdata, minus 1)."""
    values = np.asarray(values, float)
    result = np.empty(len(values))
    result[np.argsort(values, kind="stable")] = np.arange(len(values))
    for value in np.unique(values):
        tied = values == value
        result[tied] = result[tied].mean()
    return result


def spearman(a, b):
    """The Spearman rank correlation: the Pearson correlation of the ranks."""
    return float(np.corrcoef(ranks(a), ranks(b))[0, 1])


def main(argv):
    del argv
    import keras_parsec as kp

    start, load_start = time.time(), load_average()
    print(f"load average at start: {load_start}")
    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    network = {"num_cells": FLAGS.num_cells, "filters": FLAGS.filters}
    shape = (FLAGS.image_size, FLAGS.image_size, 3)
    timing = {
        "device": FLAGS.device,
        "batch_size": FLAGS.batch_size,
        "repeats": FLAGS.repeats,
        "statistic": FLAGS.statistic,
    }

    table = kp.measure_latency_table(space, shape, 10, **timing, **network)
    table_seconds = time.time() - start
    print(f"latency table: {table_seconds:.0f} s, {table.measurement}")
    counts = {
        "flops": kp.flops_table(space, input_shape=shape, num_classes=10, **network),
        "params": kp.params_table(space, input_shape=shape, num_classes=10, **network),
    }

    distribution = kp.ArchitectureDistribution(space)
    choices = distribution.sample_choices(FLAGS.architectures, seed=FLAGS.seed).numpy()
    genotypes = [distribution.choices_to_genotype(c) for c in choices]
    measure_start = time.time()
    measured = kp.measure_latency(genotypes, shape, 10, **timing, **network)
    print(f"end-to-end measurements: {time.time() - measure_start:.0f} s")

    predicted = table.cost(choices)
    print(f"{'arch':>4} {'predicted ms':>12} {'measured ms':>11} {'M mult-adds':>11} {'params':>8}")
    for i in range(len(choices)):
        flops, params = counts["flops"].cost(choices[i]), counts["params"].cost(choices[i])
        print(f"{i:>4} {predicted[i]:>12.3f} {measured[i]:>11.3f} {flops / 1e6:>11.2f} {params:>8.0f}")
    error = np.mean(np.abs(predicted - measured) / measured)
    print(f"latency table: Spearman {spearman(predicted, measured):.3f}, mean absolute relative error {error:.1%}")
    # The same table without the fitted scale: operations' times alone, base = the median residual.
    m = table.measurement
    unscaled = (predicted - table.base) / m["scale"]
    unscaled += np.median(np.array(m["calibration_ms"]) - np.array(m["calibration_table_sums_ms"]))
    error = np.mean(np.abs(unscaled - measured) / measured)
    print(f"unscaled table (scale 1, median residual as base): mean absolute relative error {error:.1%}")
    for name, counted in counts.items():
        print(f"{name} table as predictor: Spearman {spearman(counted.cost(choices), measured):.3f}")
    spread = (measured.max() - measured.min()) / np.median(measured)
    print(f"measured: median {np.median(measured):.3f} ms, spread (max - min) / median {spread:.1%}")
    print(f"load average at end: {load_average()} (start: {load_start}); total {time.time() - start:.0f} s")


if __name__ == "__main__":
    app.run(main)
