"""Ensembles of a learnt p(alpha | pi) against its mode alone, from scratch on digits (issue 17, item 2).

Per seed: one short `ParsecTuner` search (one run), then, all with one recipe
and length, trained on the search's digits plus its validation digits and
scored on held-out digits neither ever saw:
    mode          the best genotype alone (the first member of "top-3")
    top-3         `get_best_ensemble(3, selection="top")`, equal weights
    top-3 p       the same three networks weighted by p(alpha | pi)
    sample-3      `get_best_ensemble(3, selection="sample", seed=seed)`
    mode x3       the mode trained from three initialisations (an ensemble of the same cost, one architecture)
It prints the table, the mean and standard error over seeds, each
ensemble's gain over the mode per seed, and, pooled over seeds, the held-out
digits an ensemble gets right and the mode wrong (and the reverse).

    python benchmarks/ensemble.py                              # 3 seeds, about 20 minutes on 2 busy CPU cores
    python benchmarks/ensemble.py --seeds=1 --epochs=1 --final_epochs=1 --examples=128   # smoke run
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

flags.DEFINE_integer("num_cells", 3, "Cells of the search and final networks.")
flags.DEFINE_integer("filters", 4, "Initial filters of the search and final networks.")
flags.DEFINE_integer("num_samples", 4, "K, architectures sampled per search step.")
flags.DEFINE_integer("seeds", 3, "Seeds; each runs its own search and trainings.")
flags.DEFINE_integer("epochs", 20, "Search epochs per seed.")
flags.DEFINE_integer("examples", 512, "Digits used by the search (split into train and search halves).")
flags.DEFINE_integer("validation", 300, "Digits the search scores its mode on; the final trainings use them too.")
flags.DEFINE_integer("batch_size", 32, "Examples per batch, in the search and the final trainings.")
flags.DEFINE_integer("final_epochs", 10, "Epochs of each from-scratch training.")
flags.DEFINE_integer("num_models", 3, "Members of each ensemble.")
FLAGS = flags.FLAGS


def probabilities(model, test, cache):
    """`model`'s class probabilities on the held-out digits; an ensemble's from its members' (each predicted once).

    `EnsembleNetwork.predict` gives the same weighted mean (tests/final/test_ensemble.py); combining cached member
    predictions spares tracing every ensemble's graph again.
    """
    members = getattr(model, "members", None)
    if members is not None:
        return sum(w * probabilities(m, test, cache) for w, m in zip(model.member_weights, members))
    if id(model) not in cache:
        cache[id(model)] = model.predict(test[0], batch_size=256, verbose=0)
    return cache[id(model)]


def correct(model, test, cache):
    """Per held-out digit, whether `model`'s most probable class is the label."""
    return np.argmax(probabilities(model, test, cache), axis=1) == test[1]


def one_seed(seed, data, test, directory):
    """The search of `seed` and every model of the comparison: {name: per-digit correctness}, and notes."""
    import keras

    import keras_parsec as kp
    from keras_parsec.tuning import ensembles

    (x, y), validation = data
    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    tuner = kp.ParsecTuner(
        space, num_samples=FLAGS.num_samples, seed=seed, directory=directory, project_name=f"seed{seed}"
    )
    start = time.perf_counter()
    tuner.search(x, y, validation_data=validation, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, verbose=0)
    search_s = time.perf_counter() - start
    recipe = digits.small_recipe(FLAGS.num_cells, FLAGS.filters, FLAGS.final_epochs, FLAGS.batch_size, x.shape[1])
    x_final, y_final = np.concatenate([x, validation[0]]), np.concatenate([y, validation[1]])
    n = FLAGS.num_models
    keras.utils.set_random_seed(1000 * seed)
    top = tuner.get_best_ensemble(n, x_final, y_final, selection="top", recipe=recipe, verbose=0)
    mode = top.members[0]
    assert mode.genotype == tuner.get_best_genotypes()[0]
    distribution = tuner.get_best_distribution()
    genotypes = [m.genotype for m in top.members]
    probability_weights = ensembles.ensemble_weights(distribution, genotypes, "probability")
    top_p = kp.EnsembleNetwork(top.members, member_weights=probability_weights)
    keras.utils.set_random_seed(1000 * seed + 1)
    sampled = tuner.get_best_ensemble(n, x_final, y_final, selection="sample", seed=seed, recipe=recipe, verbose=0)
    keras.utils.set_random_seed(1000 * seed + 2)
    inits = [
        kp.train_final_network(
            mode.genotype, x_final, y_final, num_classes=10, input_shape=x.shape[1:], recipe=recipe, verbose=0
        )
        for _ in range(n - 1)
    ]
    mode_x = kp.EnsembleNetwork([mode, *inits])
    models = {"mode": mode, f"top-{n}": top, f"top-{n} p": top_p, f"sample-{n}": sampled, f"mode x{n}": mode_x}
    cache = {}
    results = {name: correct(model, test, cache) for name, model in models.items()}
    members = {
        "top": [correct(m, test, cache).mean() for m in top.members],
        "sample": [correct(m, test, cache).mean() for m in sampled.members],
        "inits": [correct(m, test, cache).mean() for m in (mode, *inits)],
    }
    notes = {
        "search_s": search_s,
        "entropy": distribution.entropy(),
        "log_p_top": distribution.log_prob(genotypes).round(2).tolist(),
        "log_p_sample": distribution.log_prob([m.genotype for m in sampled.members]).round(2).tolist(),
        "weights": np.round(probability_weights, 3).tolist(),
        "members": members,
        "shared_with_top": sum(m.genotype in genotypes for m in sampled.members),
    }
    return results, notes


def mean_se(values):
    values = np.asarray(values, float)
    se = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else float("nan")
    return f"{values.mean():.4f} +- {se:.4f}"


def main(argv):
    del argv

    started = time.perf_counter()
    data, test = digits.splits(FLAGS.examples, FLAGS.validation)
    held_out = test[1]
    steps = FLAGS.epochs * (FLAGS.examples // 2 // FLAGS.batch_size)
    print(
        f"digits, {FLAGS.num_cells} cells, {FLAGS.filters} filters, K={FLAGS.num_samples}, search {FLAGS.epochs} "
        f"epochs = {steps} steps on {FLAGS.examples} digits; from scratch {FLAGS.final_epochs} epochs on "
        f"{FLAGS.examples + FLAGS.validation} digits; held out {len(held_out)} digits; load {os.getloadavg()[0]:.2f}"
    )
    directory = tempfile.mkdtemp(prefix="ensemble_")
    table = {}
    try:
        for seed in range(FLAGS.seeds):
            results, notes = one_seed(seed, data, test, directory)
            table[seed] = results
            print(
                f"\nseed {seed}: search {notes['search_s']:.0f} s, entropy {notes['entropy']:.2f} nats, "
                f"{time.perf_counter() - started:.0f} s so far, load {os.getloadavg()[0]:.2f}"
            )
            print(f"  log p of top-{FLAGS.num_models} {notes['log_p_top']}, probability weights {notes['weights']}")
            print(f"  log p of the samples {notes['log_p_sample']}, {notes['shared_with_top']} of them in the top")
            for name, accuracies in notes["members"].items():
                print(f"  members' held-out accuracy, {name}: {np.round(accuracies, 4).tolist()}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    names = list(table[0])
    print(f"\nheld-out accuracy ({len(held_out)} digits; one accuracy's binomial SE is about 0.005 at 0.97)")
    print(f"{'seed':>4s} " + " ".join(f"{name:>10s}" for name in names))
    for seed, results in table.items():
        print(f"{seed:4d} " + " ".join(f"{results[name].mean():10.4f}" for name in names))
    print("\nmean +- SE over seeds, and the gain over the mode (paired by seed)")
    mode = [table[s]["mode"] for s in table]
    for name in names:
        accuracies = [table[s][name].mean() for s in table]
        gains = [table[s][name].mean() - m.mean() for s, m in zip(table, mode)]
        right = sum(int(np.sum(table[s][name] & ~m)) for s, m in zip(table, mode))
        wrong = sum(int(np.sum(~table[s][name] & m)) for s, m in zip(table, mode))
        print(
            f"  {name:>10s}: {mean_se(accuracies)}  gain {mean_se(gains)}  "
            f"digits right where the mode is wrong / the reverse: {right} / {wrong}"
        )
    print(f"\nwall time {time.perf_counter() - started:.0f} s; load {os.getloadavg()}")


if __name__ == "__main__":
    app.run(main)
