"""A parameter budget at half the unconstrained mode's, on digits: is the mode within it, and how good is it?

Per seed: one unconstrained `ParsecTuner` search; the parameters of its mode
(at the trained size, `kp.count_params`) set the budget to `--fraction` of
them; one search of the same seed and length under `kp.Budget(max_params=...)`
(`--rule`). Both modes, and one uniformly random genotype within the budget
(the baseline a budget with no search would give), are trained from scratch
with one small recipe (two initialisations each) and scored on held-out
digits neither search saw. Issue 17's target: the budgeted mode is within
budget for 3 of 3 seeds, and within 2 points of the unconstrained mode's
accuracy.

    python benchmarks/budget.py                                     # 3 seeds
    python benchmarks/budget.py --seeds=1 --epochs=1 --examples=128 --final_epochs=1   # smoke run
"""

import os
import shutil
import sys
import tempfile
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import digits  # noqa: E402  (benchmarks/digits.py, next to this file)

flags.DEFINE_integer("num_cells", 3, "Cells of the searched and the trained networks.")
flags.DEFINE_integer("filters", 8, "Initial filters of the searched and the trained networks.")
flags.DEFINE_integer("num_samples", 4, "K of the searches.")
flags.DEFINE_integer("seeds", 3, "Seeds (one unconstrained and one budgeted search each).")
flags.DEFINE_integer("epochs", 20, "Search epochs per run.")
flags.DEFINE_integer("examples", 600, "Digits used by the search (split into train and search halves).")
flags.DEFINE_integer("validation", 300, "Digits the modes are selected on (disjoint from the search's).")
flags.DEFINE_integer("batch_size", 32, "Examples per train and per search batch.")
flags.DEFINE_float("fraction", 0.5, "The budget as a fraction of the unconstrained mode's parameters.")
flags.DEFINE_enum("rule", "hard", ["hard", "soft"], "The budget's rule.")
flags.DEFINE_integer("final_epochs", 10, "Epochs of each from-scratch training.")
FLAGS = flags.FLAGS


def search(data, space, directory, seed, budget=None):
    """The mode genotype and final entropy of one search run of `seed`."""
    import keras_parsec as kp

    (x, y), validation = data
    tuner = kp.ParsecTuner(
        space,
        num_samples=FLAGS.num_samples,
        seed=seed,
        directory=directory,
        project_name=f"seed{seed}_{'budget' if budget else 'free'}",
        budget=budget,
    )
    tuner.search(x, y, validation_data=validation, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, verbose=0)
    run = next(iter(tuner.oracle.runs.values()))
    history = run["history"]
    over = history.get("over_budget", [float("nan")])
    return kp.Genotype.from_dict(run["mode"]), run["entropy"], over[0], over[-1]


def from_scratch(genotype, data, test, seed):
    """Held-out accuracy of `genotype` trained from scratch with the digits benchmarks' small recipe."""
    recipe = digits.small_recipe(FLAGS.num_cells, FLAGS.filters, FLAGS.final_epochs, FLAGS.batch_size, test[0].shape[1])
    return digits.from_scratch(genotype, data, test, seed, recipe)


def random_within(space, params, limit, seed, draws=200_000):
    """A uniformly random genotype of `space` within `limit` parameters (rejection sampling), or None.

    Returns:
        `(genotype or None, share of the draws within the limit)`.
    """
    import keras_parsec as kp

    distribution = kp.ArchitectureDistribution(space)
    samples = distribution.sample_choices(draws, seed=seed).numpy()
    fits = samples[params.cost(samples) <= limit]
    return (distribution.choices_to_genotype(fits[0]) if len(fits) else None), len(fits) / draws


def main(argv):
    del argv
    import keras_parsec as kp

    data, held_out = digits.splits(FLAGS.examples, FLAGS.validation)
    images, test = data[0][0], held_out[0]
    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    network = {"num_cells": FLAGS.num_cells, "filters": FLAGS.filters, "input_shape": images.shape[1:]}
    params = kp.params_table(space, num_classes=10, **network)
    steps = FLAGS.epochs * (FLAGS.examples // 2 // FLAGS.batch_size)
    print(
        f"digits, {FLAGS.num_cells} cells, {FLAGS.filters} filters, K={FLAGS.num_samples}, {FLAGS.examples} search "
        f"digits, batch {FLAGS.batch_size}, {FLAGS.epochs} epochs = {steps} steps per search; budget "
        f"{FLAGS.fraction:g} x the unconstrained mode's parameters, rule {FLAGS.rule!r}; held-out {len(test)} digits; "
        f"parameters of the space: {params.min_cost():,.0f} to {params.max_cost():,.0f}; "
        f"load {os.getloadavg()[0]:.2f}"
    )
    header = (
        "seed  free mode params  budget  budgeted mode params  within  over-budget share first/last epoch  "
        "entropy free/budgeted  held-out: free mode, budgeted mode, random within budget (share of space within)"
    )
    print(header)
    rows = []
    directory = tempfile.mkdtemp(prefix="budget_")
    start = time.perf_counter()
    try:
        for seed in range(FLAGS.seeds):
            free, free_entropy, _, _ = search(data, space, directory, seed)
            free_params = params.genotype_cost(free)
            limit = FLAGS.fraction * free_params
            budget = kp.Budget(max_params=limit, rule=FLAGS.rule)
            budgeted, entropy, first, last = search(data, space, directory, seed, budget)
            budgeted_params = params.genotype_cost(budgeted)
            baseline, share = random_within(space, params, limit, seed)
            scores = [
                np.mean([from_scratch(g, data, held_out, s) for s in (1, 2)]) if g is not None else np.nan
                for g in (free, budgeted, baseline)
            ]
            rows.append((budgeted_params <= limit, *scores))
            print(
                f"{seed:4d} {free_params:17,.0f} {limit:7,.0f} {budgeted_params:21,.0f}"
                f" {str(budgeted_params <= limit):>7s}"
                f" {first:10.2f} / {last:4.2f} {free_entropy:17.2f} / {entropy:5.2f}"
                f"   {scores[0]:.3f}  {scores[1]:.3f}  {scores[2]:.3f} ({share:.2f})   "
                f"[{time.perf_counter() - start:.0f} s, load {os.getloadavg()[0]:.2f}]",
                flush=True,
            )
            print(f"     budgeted mode: {budgeted}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    within, free_acc, budget_acc, random_acc = (np.array(column) for column in zip(*rows))
    print(
        f"\nwithin budget: {int(within.sum())} of {len(rows)} seeds; held-out accuracy, mean over seeds: free mode "
        f"{free_acc.mean():.4f}, budgeted mode {budget_acc.mean():.4f} ({100 * (budget_acc - free_acc).mean():+.2f} "
        f"points), random within budget {np.nanmean(random_acc):.4f} (where one was found); "
        f"{time.perf_counter() - start:.0f} s"
    )


if __name__ == "__main__":
    app.run(main)
