"""The paper's Figure 3 on scikit-learn digits: entropy of p(alpha | pi) and the mode's accuracy per epoch.

One `ParsecTuner` search with one run per seed (run i uses seed i); each run's
per-epoch history (entropy of the architecture distribution and validation
accuracy of its mode) is kept by the oracle and drawn with `plot_search`.

    python benchmarks/figure3.py                                  # 3 seeds, 12 epochs
    python benchmarks/figure3.py --seeds=1 --epochs=2 --examples=128   # smoke run
"""

import shutil
import tempfile
import time

import numpy as np
from absl import app, flags

flags.DEFINE_integer("num_cells", 3, "Cells of the search network.")
flags.DEFINE_integer("filters", 4, "Initial filters of the search network.")
flags.DEFINE_integer("num_samples", 4, "K, architectures per search step.")
flags.DEFINE_integer("seeds", 3, "Search runs, one per seed.")
flags.DEFINE_integer("epochs", 12, "Search epochs per run.")
flags.DEFINE_integer("examples", 512, "Digits used by the search (split into train and search halves).")
flags.DEFINE_integer("validation", 300, "Digits the mode is scored on (disjoint from the search's).")
flags.DEFINE_integer("batch_size", 32, "Examples per train and per search batch.")
flags.DEFINE_string("path", "benchmarks/results/figure3.png", "PNG to write.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    import keras_parsec as kp

    images, labels = kp.data.load_digits_images()
    order = np.random.default_rng(0).permutation(len(images))
    search, validation = order[: FLAGS.examples], order[FLAGS.examples : FLAGS.examples + FLAGS.validation]
    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    directory = tempfile.mkdtemp(prefix="figure3_")
    start = time.perf_counter()
    try:
        tuner = kp.ParsecTuner(
            space, num_samples=FLAGS.num_samples, max_trials=FLAGS.seeds, seed=0, directory=directory
        )
        tuner.search(
            images[search],
            labels[search],
            validation_data=(images[validation], labels[validation]),
            epochs=FLAGS.epochs,
            batch_size=FLAGS.batch_size,
            verbose=0,
        )
        runs = sorted(tuner.oracle.runs.items())
        seeds = [tuner.oracle.trials[trial_id].hyperparameters.values["seed"] for trial_id, _ in runs]
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    print(f"{len(runs)} runs, {FLAGS.epochs} epochs, K={FLAGS.num_samples}: {time.perf_counter() - start:.0f} s")
    for seed, (_, run) in zip(seeds, runs):
        history = run["history"]
        print(f"  seed {seed}: entropy {np.round(history['entropy'], 2).tolist()}")
        print(f"          mode val_accuracy {np.round(history['val_accuracy'], 3).tolist()}")
    labels = [f"seed {seed}" for seed in seeds]
    print(f"Figure 3: {kp.plot_search([run['history'] for _, run in runs], FLAGS.path, labels=labels)}")


if __name__ == "__main__":
    app.run(main)
