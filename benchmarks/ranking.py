"""Rank on the shared weights, then train: against taking the mode of pi, on digits (issue 17, item 3).

Per seed: one PARSEC search (`ParsecTuner`), then candidates = the mode of the
learnt distribution plus `--candidates` distinct samples of it. Each candidate is
scored on the best run's shared weights (`tuner.score_genotypes`, on the
validation digits: no training) and trained from scratch with the digits
benchmarks' one recipe (`benchmarks/digits.py`, `--inits` initialisations each,
on train + validation) to score it on held-out digits no search saw. Reported
side by side, per seed and in the mean:
    mode           the learnt distribution's mode
    rank all       the candidate (mode included) ranked first on the shared weights
    rank samples   the sample ranked first, the mode left out ("sample N, rank, train the best")
    sample         a sample taken at random (the mean over the samples)
    best           the best candidate in hindsight
and the Spearman rank correlation between the shared-weight log-likelihood and
the held-out accuracy over the candidates.

    python benchmarks/ranking.py                        # 3 seeds, 6 samples each, about 25 minutes on 2 CPU cores
    python benchmarks/ranking.py --seeds=1 --candidates=2 --epochs=1 --final_epochs=1 --inits=1   # smoke run
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

flags.DEFINE_integer("seeds", 3, "Searches (seeds 0, 1, ...).")
flags.DEFINE_integer("candidates", 6, "Distinct samples of the learnt distribution, besides its mode.")
flags.DEFINE_integer("num_cells", 3, "Cells of the searched and the retrained networks.")
flags.DEFINE_integer("filters", 4, "Initial filters of the searched and the retrained networks.")
flags.DEFINE_integer("num_samples", 4, "K of the search.")
flags.DEFINE_integer("epochs", 20, "Search epochs.")
flags.DEFINE_integer("examples", 512, "Digits used by the search (split into train and search halves).")
flags.DEFINE_integer("validation", 300, "Digits the candidates are ranked on; final trainings use them too.")
flags.DEFINE_integer("final_epochs", 10, "Epochs of each from-scratch training.")
flags.DEFINE_integer("inits", 2, "Initialisations (seeds) per from-scratch training; their accuracies are averaged.")
flags.DEFINE_integer("batch_size", 32, "Batch size of the search, the scoring and the training.")
FLAGS = flags.FLAGS


def spearman(a, b):
    """Spearman rank correlation (ties broken by order; real-valued scores rarely tie)."""
    ranks = [np.argsort(np.argsort(v)) for v in (a, b)]
    return float(np.corrcoef(*ranks)[0, 1])


def candidates_of(tuner, seed):
    """The mode first, then up to `--candidates` distinct samples of the best run's distribution."""
    mode = tuner.get_best_genotypes()[0]
    candidates = [mode]
    for genotype in tuner.get_best_distribution().sample(50 * FLAGS.candidates, seed=seed):
        if len(candidates) > FLAGS.candidates:
            break
        if genotype not in candidates:
            candidates.append(genotype)
    return candidates


def one_seed(seed, data, test, directory):
    import keras_parsec as kp

    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    tuner = kp.ParsecTuner(space, num_samples=FLAGS.num_samples, seed=seed, directory=directory, project_name="p")
    started = time.perf_counter()
    tuner.search(*data[0], validation_data=data[1], epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, verbose=0)
    search_s = time.perf_counter() - started
    candidates = candidates_of(tuner, seed)
    started = time.perf_counter()
    scores = tuner.score_genotypes(candidates, *data[1], batch_size=FLAGS.batch_size)
    score_s = time.perf_counter() - started
    recipe = digits.small_recipe(FLAGS.num_cells, FLAGS.filters, FLAGS.final_epochs, FLAGS.batch_size, test[0].shape[1])
    held_out = [
        float(np.mean([digits.from_scratch(g, data, test, 1000 + i, recipe) for i in range(FLAGS.inits)]))
        for g in candidates
    ]
    likelihoods = [s["log_likelihood"] for s in scores]
    first, first_sample = int(np.argmax(likelihoods)), 1 + int(np.argmax(likelihoods[1:]))
    return {
        "mode": held_out[0],
        "rank all": held_out[first],
        "rank samples": held_out[first_sample],
        "sample": float(np.mean(held_out[1:])),
        "best": max(held_out),
        "spearman": spearman(likelihoods, held_out),
    }, {
        "search_s": search_s,
        "score_s": score_s,
        "first_is_mode": first == 0,
        "shared_accuracy": [s["accuracy"] for s in scores],
        "held_out": held_out,
    }


def main(argv):
    del argv
    started = time.perf_counter()
    data, test = digits.splits(FLAGS.examples, FLAGS.validation)
    print(
        f"digits, {FLAGS.num_cells} cells, {FLAGS.filters} filters, K={FLAGS.num_samples}, search {FLAGS.epochs} epochs"
        f" on {FLAGS.examples} digits; {FLAGS.candidates} samples + the mode ranked on {FLAGS.validation} validation"
        f" digits; from scratch {FLAGS.final_epochs} epochs x {FLAGS.inits} inits; held out {len(test[1])} digits;"
        f" load {os.getloadavg()[0]:.2f}"
    )
    rows = []
    directory = tempfile.mkdtemp(prefix="ranking_")
    try:
        for seed in range(FLAGS.seeds):
            row, notes = one_seed(seed, data, test, os.path.join(directory, str(seed)))
            rows.append(row)
            print(
                f"\nseed {seed}: search {notes['search_s']:.0f} s, scoring {len(notes['held_out'])} genotypes"
                f" {notes['score_s']:.1f} s, ranked first is the mode: {notes['first_is_mode']};"
                f" load {os.getloadavg()[0]:.2f}"
            )
            print(f"  shared-weight accuracy {np.round(notes['shared_accuracy'], 3).tolist()}")
            print(f"  held-out accuracy      {np.round(notes['held_out'], 4).tolist()}")
            print("  " + ", ".join(f"{k} {v:.4f}" for k, v in row.items()))
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print("\nmean over seeds (held-out accuracy; Spearman of shared log-likelihood against it)")
    for key in rows[0]:
        values = [r[key] for r in rows]
        se = np.std(values, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
        print(f"  {key:>12s}: {np.mean(values):.4f} +- {se:.4f}")
    print(f"\nwall time {time.perf_counter() - started:.0f} s; load {os.getloadavg()}")


if __name__ == "__main__":
    app.run(main)
