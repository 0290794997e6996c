"""The paper's Figure 3 on scikit-learn digits, read against a null: does pi learn anything?

For each K in `--num_samples` and for the null (K=1: the update of pi then
carries no information about any architecture, yet Adam still walks every
logit), one `ParsecTuner` search with one run per seed (run i uses seed i),
all of the same length. Per epoch it keeps the entropy of p(alpha | pi),
log p(mode | pi) and the mode's accuracy on held-out digits with the shared
weights. It prints, per seed, the gap of each K to its null; the agreement of
the seeds' modes slot by slot against chance; the share of `skip_connect` and
of parameter-free operations in the modes' normal cells (DARTS' collapse);
and, with `--from_scratch`, the modes trained from scratch against uniformly
random genotypes trained the same way (two initialisations each): the modes'
percentile among them. `--variants` runs issue 15's knobs side by side, each
with K and its own null: `default` (the paper's), `warmup` (pi frozen for the
first quarter of the epochs, `architecture_warmup_epochs`) and `cosine` (pi's
learning rate decayed to 0, `architecture_decay="cosine"`).

    python benchmarks/figure3.py                                   # 3 seeds, K=4 and its null, 12 epochs
    python benchmarks/figure3.py --num_samples=4,8 --epochs=105 --examples=1200 --from_scratch   # issue 15
    python benchmarks/figure3.py --epochs=22 --examples=1200 --variants=default,warmup,cosine   # the knobs
    python benchmarks/figure3.py --seeds=1 --epochs=2 --examples=128 --random=2 --from_scratch   # smoke run
    python benchmarks/figure3.py --epochs=112 --examples=1200 --from_scratch --scratch_examples=200   # ranks on 500
"""

import collections
import os
import shutil
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402  (benchmarks/digits.py, next to this file)

flags.DEFINE_integer("num_cells", 3, "Cells of the search network.")
flags.DEFINE_integer("filters", 4, "Initial filters of the search network.")
flags.DEFINE_list("num_samples", ["4"], "The K values searched, each beside the null (K=1).")
flags.DEFINE_integer("seeds", 3, "Search runs per K, one per seed.")
flags.DEFINE_integer("epochs", 12, "Search epochs per run.")
flags.DEFINE_integer("examples", 512, "Digits used by the search (split into train and search halves).")
flags.DEFINE_integer("validation", 300, "Digits the mode is scored on (disjoint from the search's).")
flags.DEFINE_integer("batch_size", 32, "Examples per train and per search batch.")
flags.DEFINE_bool("from_scratch", False, "Train the modes and random genotypes from scratch and rank them.")
flags.DEFINE_integer("random", 10, "Uniformly random genotypes trained from scratch (with --from_scratch).")
flags.DEFINE_integer("final_epochs", 10, "Epochs of each from-scratch training.")
flags.DEFINE_integer(
    "scratch_examples", None, "From-scratch training on this many digits (split as --examples) instead of the search's."
)
flags.DEFINE_list("variants", ["default"], "Settings, each with every K and its null: default, warmup, cosine.")
flags.DEFINE_string("path", "benchmarks/results/figure3.png", "PNG to write.")
FLAGS = flags.FLAGS

PARAMETER_FREE = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "none")


def variant_arguments(variant):
    """`ParsecTuner` arguments of a `--variants` name."""
    variants = {
        "default": {},
        "warmup": {"architecture_warmup_epochs": max(1, FLAGS.epochs // 4)},
        "cosine": {"architecture_decay": "cosine"},
    }
    if variant not in variants:
        raise app.UsageError(f"--variants: {variant!r} is not one of {', '.join(variants)}")
    return variants[variant]


def search(variant, k, data, space, directory):
    """One search of `FLAGS.seeds` runs with K = `k` and `variant`'s settings; returns `[(seed, run record)]`."""
    import keras_parsec as kp

    (x, y), validation = data
    tuner = kp.ParsecTuner(
        space,
        num_samples=k,
        max_trials=FLAGS.seeds,
        seed=0,
        directory=directory,
        project_name=f"{variant}_k{k}",
        **variant_arguments(variant),
    )
    tuner.search(
        x,
        y,
        validation_data=validation,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        verbose=0,
    )  # the search logs entropy, mode_log_prob and the ESS itself (keras_parsec.search.diagnostics)
    runs = sorted(tuner.oracle.runs.items())
    return [(tuner.oracle.trials[t].hyperparameters.values["seed"], run) for t, run in runs]


def normal_cell_shares(genotype):
    """(share of skip_connect, share of parameter-free operations) among the normal cell's edges."""
    ops = [op for op, _ in genotype.normal]
    return ops.count("skip_connect") / len(ops), sum(op in PARAMETER_FREE for op in ops) / len(ops)


def slot_agreement(genotypes):
    """Mean over pairs of genotypes of the share of slots (cell, node, slot) with the same (operation, input)."""
    slots = [list(g.normal) + list(g.reduce) for g in genotypes]
    pairs = [(a, b) for i, a in enumerate(slots) for b in slots[i + 1 :]]
    if not pairs:
        return float("nan")
    return float(np.mean([np.mean([x == y for x, y in zip(a, b)]) for a, b in pairs]))


def chance_agreement(space):
    """Expected slot agreement of two uniform samples: the mean over slots of 1 / (number of choices)."""
    return float(np.mean([1.0 / space.num_choices(node) for node in range(space.num_nodes)]))


def from_scratch(genotype, data, test, seed):
    """Held-out accuracy of `genotype` trained from scratch with the digits benchmarks' small recipe."""
    recipe = digits.small_recipe(FLAGS.num_cells, FLAGS.filters, FLAGS.final_epochs, FLAGS.batch_size, test[0].shape[1])
    return digits.from_scratch(genotype, data, test, seed, recipe)


def main(argv):
    del argv
    import keras_parsec as kp

    data, held_out = digits.splits(FLAGS.examples, FLAGS.validation)
    test = held_out[0]
    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    ks = [int(k) for k in FLAGS.num_samples]
    for variant in FLAGS.variants:
        variant_arguments(variant)  # a bad name fails before any search
    cases = [(v, k) for v in FLAGS.variants for k in [1] + ks]
    steps = FLAGS.epochs * (FLAGS.examples // 2 // FLAGS.batch_size)
    print(
        f"digits, {FLAGS.num_cells} cells, {FLAGS.filters} filters, {FLAGS.examples} search digits, "
        f"batch {FLAGS.batch_size}, {FLAGS.epochs} epochs = {steps} steps; K in {ks} and the null K=1; "
        f"variants {FLAGS.variants}; load {os.getloadavg()[0]:.2f}"
    )
    results = {}
    directory = tempfile.mkdtemp(prefix="figure3_")
    try:
        for variant, k in cases:
            start = time.perf_counter()
            results[variant, k] = search(variant, k, data, space, directory)
            print(
                f"{variant} K={k}: {len(results[variant, k])} runs in {time.perf_counter() - start:.0f} s; "
                f"load {os.getloadavg()[0]:.2f}"
            )
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    print("\nper seed, at the last epoch: the value | its null's (K=1, same variant, seed and length)")
    header = ("variant", "K", "seed", "entropy", "gap", "log p(mode)", "mode val acc", "skip", "free")
    print(" ".join(f"{h:>{w}s}" for h, w in zip(header, (8, 3, 4, 16, 6, 18, 14, 5, 5))))
    modes = collections.defaultdict(list)
    for variant, k in cases:
        null = dict(results[variant, 1])
        for seed, run in results[variant, k]:
            history, reference = run["history"], null[seed]["history"]
            genotype = kp.Genotype.from_dict(run["mode"])
            modes[variant, k].append(genotype)
            skip, free = normal_cell_shares(genotype)
            print(
                f"{variant:>8s} {k:3d} {seed:4d} {history['entropy'][-1]:7.2f} | {reference['entropy'][-1]:6.2f} "
                f"{reference['entropy'][-1] - history['entropy'][-1]:6.2f} "
                f"{history['mode_log_prob'][-1]:8.2f} | {reference['mode_log_prob'][-1]:7.2f} "
                f"{history['val_accuracy'][-1]:6.3f} | {reference['val_accuracy'][-1]:5.3f} {skip:5.2f} {free:5.2f}"
            )
    chance = chance_agreement(space)
    print(f"\nagreement of the seeds' modes, slot by slot (operation and input); chance {chance:.3f}")
    for variant, k in cases:
        print(f"  {variant} K={k}: {slot_agreement(modes[variant, k]):.3f}")

    print("\nthe modes, to train again without searching again (kp.Genotype.from_string)")
    for variant, k in cases:
        for (seed, _), genotype in zip(results[variant, k], modes[variant, k]):
            print(f"  {variant} K={k} seed {seed}: {genotype}")

    if FLAGS.from_scratch:
        if FLAGS.scratch_examples:
            data, held_out = digits.splits(FLAGS.scratch_examples, FLAGS.validation)
            test = held_out[0]
        randoms = kp.ArchitectureDistribution(space).sample(FLAGS.random, seed=10_000)
        random_scores = [np.mean([from_scratch(g, data, held_out, s) for s in (1, 2)]) for g in randoms]
        print(f"\nfrom scratch ({FLAGS.final_epochs} epochs, held-out {len(test)} digits, mean of 2 initialisations)")
        print(f"  {FLAGS.random} random genotypes: {np.round(sorted(random_scores), 3).tolist()}")
        for variant, k in cases:
            for seed, genotype in zip([s for s, _ in results[variant, k]], modes[variant, k]):
                score = np.mean([from_scratch(genotype, data, held_out, s) for s in (1, 2)])
                percentile = 100.0 * np.mean([score > r for r in random_scores])
                print(
                    f"  {variant} K={k} seed {seed} mode: {score:.3f}, above {percentile:.0f}% of the random genotypes"
                )

    histories = [run["history"] for case in cases for _, run in results[case]]
    labels = [f"{v} K={k} seed {seed}" if len(FLAGS.variants) > 1 else f"K={k} seed {seed}" for v, k in cases
              for seed, _ in results[v, k]]  # fmt: skip
    print(f"\nFigure 3: {kp.plot_search(histories, FLAGS.path, labels=labels)}")


if __name__ == "__main__":
    app.run(main)
