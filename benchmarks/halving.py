"""Successive halving across search runs against running every run to the end, on digits.

Both searches run the same `max_trials` PARSEC runs (same seeds, K, learning
rates) on scikit-learn's digits, offline; each in its own subprocess. One lets
every run finish all `epochs`; the other passes `early_stopping="halving"`, so
runs that fall behind at a rung (1, rate, rate**2... epochs) by the mode's
validation accuracy stop there. Printed side by side: the epochs spent in all,
the search's wall time, the winning run's validation accuracy, and the test
accuracy of its genotype trained from scratch as a `CellNetwork`.

    python benchmarks/halving.py                                  # 8 runs x 4 epochs
    python benchmarks/halving.py --max_trials=4 --epochs=2 --train_epochs=3   # a quick look
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_integer("max_trials", 8, "Search runs (seeds) in each search.")
flags.DEFINE_integer("epochs", 4, "Epochs of a run that is never stopped.")
flags.DEFINE_integer("num_samples", 4, "K, architectures per search step.")
flags.DEFINE_integer("num_cells", 3, "Cells of the search network and of the final network.")
flags.DEFINE_integer("filters", 8, "Initial filters.")
flags.DEFINE_integer("batch_size", 64, "Examples per train and per search batch.")
flags.DEFINE_float("halving_rate", 2.0, "eta: about 1 / eta of the runs at a rung go on.")
flags.DEFINE_integer("halving_min_epochs", 1, "Epochs before the first rung.")
flags.DEFINE_integer("train_epochs", 10, "Epochs of the found genotype trained from scratch.")
flags.DEFINE_integer("seed", 0, "Base seed of the runs, the split and the final training.")
flags.DEFINE_string("child", None, "Internal: 'full' or 'halving'; run one search and print JSON.")
FLAGS = flags.FLAGS


def run_search(mode, directory):
    import keras

    import keras_parsec as kp
    from keras_parsec.data.arrays import load_digits_images

    images, labels = load_digits_images()
    (x, y), (x_test, y_test) = kp.split_train_search(images, labels, search_fraction=0.2, seed=FLAGS.seed)
    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    tuner = kp.ParsecTuner(
        space,
        num_samples=FLAGS.num_samples,
        max_trials=FLAGS.max_trials,
        seed=FLAGS.seed,
        directory=directory,
        project_name=mode,
        early_stopping="halving" if mode == "halving" else None,
        halving_rate=FLAGS.halving_rate,
        halving_min_epochs=FLAGS.halving_min_epochs,
    )
    start = time.perf_counter()
    tuner.search(x, y, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, verbose=0)
    search_seconds = time.perf_counter() - start
    runs = tuner.oracle.runs
    best = tuner.oracle.get_best_trials(1)[0]
    genotype = tuner.get_best_genotypes()[0]
    keras.utils.set_random_seed(FLAGS.seed)
    model = kp.CellNetwork(
        genotype, num_classes=10, num_cells=FLAGS.num_cells, filters=FLAGS.filters, input_shape=x.shape[1:]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(0.025, momentum=0.9),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, epochs=FLAGS.train_epochs, batch_size=64, verbose=0)
    _, test_accuracy = model.evaluate(x_test, y_test, verbose=0)
    return {
        "epochs_spent": sum(len(run["history"]["val_accuracy"]) for run in runs.values()),
        "search_seconds": search_seconds,
        "best_trial": best.trial_id,
        "best_val_accuracy": best.score,
        "test_accuracy": float(test_accuracy),
        "stopped": tuner.oracle.stopped,
        "final_val_accuracy": {i: run["history"]["val_accuracy"][-1] for i, run in sorted(runs.items())},
        "genotype": str(genotype),
    }


def main(argv):
    del argv
    if FLAGS.child:
        with tempfile.TemporaryDirectory() as directory:
            print("RESULT " + json.dumps(run_search(FLAGS.child, directory)))
        return
    results = {}
    for mode in ("full", "halving"):
        flags_passed = [a for a in sys.argv[1:] if not a.startswith("--child")]
        output = subprocess.run(
            [sys.executable, os.path.abspath(__file__), f"--child={mode}", *flags_passed],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results[mode] = json.loads(next(line for line in output.splitlines() if line.startswith("RESULT "))[7:])
    full, halving = results["full"], results["halving"]
    print(
        f"{FLAGS.max_trials} runs x {FLAGS.epochs} epochs, K={FLAGS.num_samples}, {FLAGS.num_cells} cells, "
        f"{FLAGS.filters} filters, halving rate {FLAGS.halving_rate}, digits (offline)\n"
    )
    rows = (
        ("epochs spent (all runs)", "epochs_spent", "{:d}"),
        ("search wall time (s)", "search_seconds", "{:.1f}"),
        ("best run", "best_trial", "{}"),
        ("best run's val_accuracy (mode)", "best_val_accuracy", "{:.4f}"),
        (f"its genotype from scratch, test acc ({FLAGS.train_epochs} ep)", "test_accuracy", "{:.4f}"),
    )
    print(f"{'':48s}{'all to the end':>16s}{'halving':>12s}{'ratio':>8s}")
    for title, key, fmt in rows:
        ratio = ""
        if isinstance(full[key], (int, float)) and full[key]:
            ratio = f"{halving[key] / full[key]:.2f}"
        print(f"{title:48s}{fmt.format(full[key]):>16s}{fmt.format(halving[key]):>12s}{ratio:>8s}")
    print(f"\nstopped by halving (run: epochs done): {halving['stopped']}")
    for mode in ("full", "halving"):
        print(f"{mode}: final val_accuracy per run {results[mode]['final_val_accuracy']}")
        print(f"{mode}: best genotype {results[mode]['genotype']}")


if __name__ == "__main__":
    app.run(main)
