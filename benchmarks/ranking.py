"""Rank on the shared weights, then train: against taking the mode of pi, on digits.

Per seed: one PARSEC search (`ParsecTuner`), then candidates = the mode of the
learnt distribution plus `--candidates` distinct samples of it. Each candidate is
scored on the best run's shared weights (`tuner.score_genotypes`, on the
validation digits: no training) and trained from scratch with one recipe
(`CellNetwork`, Adam, fixed seed, on train + validation) to score it on the
held-out test digits. Reported: the held-out accuracy of the mode, of the
candidate ranked first on the shared weights, and of the best and the median
candidate; and the Spearman rank correlation between the shared-weight
log-likelihood and the held-out accuracy over the candidates. Everything is
printed; the commands and figures go to BENCHMARKS.md.

    python benchmarks/ranking.py                                   # 2 seeds, 6 samples each
    python benchmarks/ranking.py --seeds=1 --candidates=2 --epochs=2 --final_epochs=1   # smoke run
"""

import os
import tempfile
import time

import numpy as np
from absl import app, flags

flags.DEFINE_integer("seeds", 2, "Searches (seeds 0, 1, ...).")
flags.DEFINE_integer("candidates", 6, "Distinct samples of the learnt distribution, besides its mode.")
flags.DEFINE_integer("num_cells", 3, "Cells of the searched and the retrained networks.")
flags.DEFINE_integer("filters", 8, "Initial filters of the searched and the retrained networks.")
flags.DEFINE_integer("num_samples", 4, "K of the search.")
flags.DEFINE_integer("epochs", 10, "Search epochs.")
flags.DEFINE_integer("final_epochs", 10, "Epochs of each from-scratch training.")
flags.DEFINE_integer("batch_size", 32, "Batch size of the search, the scoring and the training.")
FLAGS = flags.FLAGS


def splits():
    """Digits split once (seed 0): 297 held-out test, 300 validation, the rest train."""
    import keras_parsec as kp

    images, labels = kp.data.load_digits_images()
    order = np.random.default_rng(0).permutation(len(images))
    test, validation, train = np.split(order, [297, 597])
    return {name: (images[i], labels[i]) for name, i in (("train", train), ("val", validation), ("test", test))}


def held_out_accuracy(genotype, data):
    """Test accuracy of `genotype` trained from scratch with the one recipe."""
    import keras

    import keras_parsec as kp

    keras.utils.set_random_seed(1234)
    model = kp.CellNetwork(
        genotype, num_classes=10, num_cells=FLAGS.num_cells, filters=FLAGS.filters, input_shape=(8, 8, 1)
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.concatenate([data["train"][0], data["val"][0]])
    y = np.concatenate([data["train"][1], data["val"][1]])
    model.fit(x, y, epochs=FLAGS.final_epochs, batch_size=FLAGS.batch_size, verbose=0)
    return float(model.evaluate(*data["test"], verbose=0)[1])


def spearman(a, b):
    """Spearman rank correlation (no ties expected among real-valued scores)."""
    ranks = [np.argsort(np.argsort(v)) for v in (a, b)]
    return float(np.corrcoef(*ranks)[0, 1])


def one_seed(seed, data, directory):
    import keras_parsec as kp

    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    tuner = kp.ParsecTuner(space, num_samples=FLAGS.num_samples, seed=seed, directory=directory, project_name="p")
    started = time.perf_counter()
    tuner.search(*data["train"], validation_data=data["val"], epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
                 verbose=0)  # fmt: skip
    search_s = time.perf_counter() - started
    mode = tuner.get_best_genotypes()[0]
    candidates = [mode]
    for genotype in tuner.get_best_distribution().sample(50 * FLAGS.candidates, seed=seed):
        if genotype not in candidates:
            candidates.append(genotype)
        if len(candidates) > FLAGS.candidates:
            break
    started = time.perf_counter()
    scores = tuner.score_genotypes(candidates, *data["val"], batch_size=FLAGS.batch_size)
    score_s = time.perf_counter() - started
    accuracies = [held_out_accuracy(g, data) for g in candidates]
    likelihoods = [s["log_likelihood"] for s in scores]
    ranked_first = int(np.argmax(likelihoods))
    return {
        "search_s": search_s,
        "score_s": score_s,
        "mode": accuracies[0],
        "ranked_first": accuracies[ranked_first],
        "ranked_first_is_mode": ranked_first == 0,
        "best": max(accuracies),
        "median": float(np.median(accuracies)),
        "spearman": spearman(likelihoods, accuracies),
        "shared_accuracy": [s["accuracy"] for s in scores],
        "held_out": accuracies,
    }


def main(argv):
    del argv
    data = splits()
    rows = []
    for seed in range(FLAGS.seeds):
        with tempfile.TemporaryDirectory() as directory:
            rows.append(one_seed(seed, data, os.path.join(directory, "runs")))
        row = rows[-1]
        print(
            f"seed {seed}: search {row['search_s']:.0f} s, scoring {len(row['held_out'])} genotypes"
            f" {row['score_s']:.1f} s;"
            f" held-out mode {row['mode']:.3f}, ranked first {row['ranked_first']:.3f}"
            f" (the mode: {row['ranked_first_is_mode']}), best {row['best']:.3f}, median {row['median']:.3f};"
            f" Spearman(shared log-likelihood, held-out) {row['spearman']:.2f}"
        )
        print(f"  shared-weight accuracy {np.round(row['shared_accuracy'], 3).tolist()}")
        print(f"  held-out accuracy      {np.round(row['held_out'], 3).tolist()}")
    for key in ("mode", "ranked_first", "best", "median", "spearman"):
        print(f"mean {key}: {np.mean([r[key] for r in rows]):.3f}")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    app.run(main)
