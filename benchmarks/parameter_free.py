"""Do weight-free normal cells train worse on digits? The check behind issue 15's collapse target.

PARSEC's modes on digits lean to parameter-free operations in the normal cell
(`figure3.py`: 62-88% of the edges). Whether that is DARTS' collapse (weight-free
operations win while the shared weights are untrained) or what the data rewards
is a question about training from scratch, which this benchmark asks directly,
in pairs: each uniformly random genotype gives two variants that differ only in
the normal cell's operations, all parameter-free (max pool, avg pool, skip) in
one and all with weights (separable and dilated convolutions) in the other,
drawn at random per edge; inputs and the reduce cell are shared. Both are
trained from scratch with the digits benchmarks' recipe (two initialisations
each) at each size in `--examples` (the search digits of `figure3.py`; a
training set is those and the `--validation` digits, the rest is held out),
and the paired differences are printed with their standard error.

    python benchmarks/parameter_free.py                         # 6 pairs, trained on 1,500 and on 500 digits
    python benchmarks/parameter_free.py --pairs=1 --examples=100 --final_epochs=1   # smoke run
"""

import os
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402  (benchmarks/digits.py, next to this file)

FLAGS = flags.FLAGS
flags.DEFINE_integer("pairs", 6, "Random genotypes, each trained as a weight-free and a weighted variant.")
flags.DEFINE_list("examples", ["1200", "200"], "Sizes: search digits as figure3.py counts them.")
flags.DEFINE_integer("validation", 300, "Digits kept out of every training set (as figure3.py).")
flags.DEFINE_integer("num_cells", 3, "Cells of the trained networks.")
flags.DEFINE_integer("filters", 4, "Initial filters of the trained networks.")
flags.DEFINE_integer("final_epochs", 10, "Epochs of each from-scratch training.")
flags.DEFINE_integer("batch_size", 32, "Batch size of each from-scratch training.")

PARAMETER_FREE = ("max_pool_3x3", "avg_pool_3x3", "skip_connect")
WEIGHTED = ("sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")


def with_normal_operations(genotype, operations, rng):
    """`genotype` with each normal-cell edge's operation drawn from `operations` (inputs kept)."""
    import keras_parsec as kp

    normal = [(str(rng.choice(operations)), source) for _, source in genotype.normal]
    return kp.Genotype(normal, genotype.normal_concat, genotype.reduce, genotype.reduce_concat)


def score(genotype, data, held_out, recipe):
    """Held-out accuracy of `genotype` trained from scratch, the mean of two initialisations."""
    return np.mean([digits.from_scratch(genotype, data, held_out, seed, recipe) for seed in (1, 2)])


def main(argv):
    del argv
    import keras_parsec as kp

    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    rng = np.random.default_rng(0)
    genotypes = kp.ArchitectureDistribution(space).sample(FLAGS.pairs, seed=20_000)
    pairs = [(with_normal_operations(g, PARAMETER_FREE, rng), with_normal_operations(g, WEIGHTED, rng))
             for g in genotypes]  # fmt: skip
    print(
        f"digits, {FLAGS.num_cells} cells, {FLAGS.filters} filters, {FLAGS.pairs} pairs, {FLAGS.final_epochs} epochs, "
        f"mean of 2 initialisations; load {os.getloadavg()[0]:.2f}"
    )
    for examples in [int(e) for e in FLAGS.examples]:
        data, held_out = digits.splits(examples, FLAGS.validation)
        recipe = digits.small_recipe(
            FLAGS.num_cells, FLAGS.filters, FLAGS.final_epochs, FLAGS.batch_size, held_out[0].shape[1]
        )
        start = time.perf_counter()
        scores = np.array([[score(g, data, held_out, recipe) for g in pair] for pair in pairs])
        difference = scores[:, 0] - scores[:, 1]
        seconds, load = time.perf_counter() - start, os.getloadavg()[0]
        print(f"\n{examples} search digits, held-out {len(held_out[0])}; {seconds:.0f} s, load {load:.2f}")
        print("  pair  weight-free  weighted  difference")
        for i, (free, weighted) in enumerate(scores):
            print(f"  {i:4d}  {free:11.3f}  {weighted:8.3f}  {free - weighted:+10.3f}")
        error = difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else float("nan")
        print(
            f"  mean  {scores[:, 0].mean():11.3f}  {scores[:, 1].mean():8.3f}  {difference.mean():+10.3f}"
            f"  (standard error {error:.3f}; weight-free at least as good in "
            f"{int((difference >= 0).sum())} of {len(difference)})"
        )


if __name__ == "__main__":
    app.run(main)
