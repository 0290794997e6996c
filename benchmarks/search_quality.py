"""Search quality on scikit-learn digits: PARSEC against Keras Tuner's RandomSearch and Hyperband.

All searches explore the same DARTS cell space (`CellHyperModel` for Keras
Tuner, `ParsecTuner` for PARSEC) under the same wall-clock budget per search,
with three seeds each. The digits are split once: a held-out test set, and the
rest into a train part and a validation part. Keras Tuner trains each trial on
the train part and ranks it on the validation part; PARSEC splits the same
train part into its train and search halves (Algorithm 1) and scores its mode on
the same validation part. Every architecture a search returns is then trained
from scratch with one recipe (`CellNetwork`, same size, Adam, fixed seed, on
train + validation) and scored on the held-out test set.

Reported per method: mean and spread of the held-out accuracy, the wall-clock
seconds and the training examples (forward + backward passes) each search used,
and the seconds it needed to reach its answer (RandomSearch, Hyperband: the end
of their best trial). PARSEC also runs a second time, planned for a fifth of
the budget (`--fraction`): that budget, and its cosine schedule sized to it
(epochs from the full run's pace, or `--fraction_epochs`); its mode when it ends
is trained from scratch the same way and set against RandomSearch's answer and
compute, seed by seed. With `--full_parsec=false` PARSEC runs only that once,
given `--fraction` of the wall seconds and of the train examples the same seed's
RandomSearch used, whichever runs out first. As a reference, uniformly random architectures trained
with the same recipe (`--seeds=0` trains only these, to gauge how much the
architecture matters at a given size).

The PARSEC runs' per-epoch entropy and mode accuracy are drawn with `plot_search`
(`search_quality_curves.png`); `figure3.py` draws the paper's Figure 3 from longer runs.

    python benchmarks/search_quality.py                            # 15 searches of --budget_s each, then retraining
    python benchmarks/search_quality.py --budget_s=10 --seeds=1 --num_samples=2 \\
        --final_epochs=2 --random_architectures=1 --num_cells=1 --filters=4   # smoke run
    python benchmarks/search_quality.py --budget_s=600 --full_parsec=false --keras_tuner=random \\
        --num_samples=2,4 --train_examples=300 --num_cells=3 --filters=4 --final_epochs=5   # the fifth target
"""

import json
import os
import shutil
import tempfile
import time

import numpy as np
from absl import app, flags

flags.DEFINE_integer("num_cells", 3, "Cells of the searched and the retrained networks.")
flags.DEFINE_integer("filters", 8, "Initial filters of the searched and the retrained networks.")
flags.DEFINE_float("budget_s", 60.0, "Wall-clock seconds of every search.")
flags.DEFINE_integer("seeds", 3, "Seeds per method.")
flags.DEFINE_list("num_samples", ["1", "4", "16"], "Values of K for PARSEC.")
flags.DEFINE_list("keras_tuner", ["random", "hyperband"], "Keras Tuner searches to run (random must be one of them).")
flags.DEFINE_integer("parsec_epochs", 30, "PARSEC epochs (sizes the cosine schedule; the budget stops earlier).")
flags.DEFINE_integer("trial_epochs", 4, "Epochs of one RandomSearch trial.")
flags.DEFINE_integer("hyperband_max_epochs", 9, "Hyperband's max_epochs (factor 3).")
flags.DEFINE_integer("batch_size", 32, "Batch size of every search and of the final training.")
flags.DEFINE_integer("final_epochs", 15, "Epochs of the from-scratch training of each found architecture.")
flags.DEFINE_integer("random_architectures", 6, "Uniformly random architectures trained as a reference.")
flags.DEFINE_float("fraction", 0.2, "PARSEC also runs a second time, planned for this fraction of the budget.")
flags.DEFINE_integer("fraction_epochs", 0, "Epochs of that second run (0: planned from the full run's pace).")
flags.DEFINE_bool(
    "full_parsec",
    True,
    "Run PARSEC for the full budget too. False: PARSEC runs only once, given --fraction of the wall seconds "
    "and of the train examples that the same seed's RandomSearch used, whichever runs out first.",
)
flags.DEFINE_string("results", "benchmarks/results", "Folder of the JSON results and the PNG plots.")
flags.DEFINE_list("report_from", None, "Report from earlier runs' search_quality.json files instead of searching.")
flags.DEFINE_integer("first_seed", 0, "Seeds are first_seed, first_seed + 1, ... (to split a run across processes).")
flags.DEFINE_integer(
    "train_examples", 0, "Keep only this many of the 1200 train digits (0: all); validation and test stay."
)
FLAGS = flags.FLAGS

TEST_SIZE = 297
VALIDATION_SIZE = 300


def load_splits():
    """Digits split once (seed 0) into train, validation and held-out test arrays."""
    import keras_parsec as kp

    images, labels = kp.data.load_digits_images()
    order = np.random.default_rng(0).permutation(len(images))
    test, validation, train = np.split(order, [TEST_SIZE, TEST_SIZE + VALIDATION_SIZE])
    if FLAGS.train_examples:
        train = train[: FLAGS.train_examples]
    return {name: (images[idx], labels[idx]) for name, idx in (("train", train), ("val", validation), ("test", test))}


class Budget:
    """Counts training examples and stops training when the wall-clock budget is spent.

    Keras Tuner deep-copies callbacks per trial, so the counters live on a shared
    dict that `callback()` closes over rather than on the callback instance.
    """

    def __init__(self, seconds, max_examples=None):
        self.start = time.perf_counter()
        self.deadline = self.start + seconds
        self.max_examples = max_examples
        self.state = {"examples": 0, "events": []}

    def spent(self, next_batch_examples):
        """True once the deadline has passed or the next batch would exceed `max_examples`."""
        over = self.max_examples is not None and self.state["examples"] + next_batch_examples > self.max_examples
        return over or time.perf_counter() >= self.deadline

    def elapsed(self):
        return time.perf_counter() - self.start

    def callback(self, examples_per_batch=1, on_epoch=None):
        import keras

        budget = self

        class BudgetCallback(keras.callbacks.Callback):
            def __deepcopy__(self, memo):
                return budget.callback(examples_per_batch, on_epoch)

            def on_train_batch_end(self, batch, logs=None):
                budget.state["examples"] += examples_per_batch
                if budget.spent(examples_per_batch):
                    self.model.stop_training = True

            def on_epoch_end(self, epoch, logs=None):
                if on_epoch is not None:
                    on_epoch(self.model, epoch, logs or {})

        return BudgetCallback()

    def limit(self, oracle):
        """Makes `oracle` create no trial after the deadline."""
        populate = oracle.populate_space

        def populate_until_deadline(trial_id):
            if time.perf_counter() >= self.deadline:
                return {"status": "STOPPED"}
            return populate(trial_id)

        oracle.populate_space = populate_until_deadline


def keras_tuner_search(method, seed, splits, space, directory):
    """RandomSearch or Hyperband over `CellHyperModel` until the budget is spent."""
    import keras
    import keras_tuner

    import keras_parsec as kp
    from keras_parsec.tuning import hypermodel

    keras.utils.set_random_seed(seed)
    model = kp.CellHyperModel(space, 10, splits["train"][0].shape[1:])
    # Hyperband's seeds differ from RandomSearch's, so their first random trials differ too.
    tuner_seed = seed if method == "random" else 1000 + seed
    common = {
        "objective": "val_accuracy",
        "seed": tuner_seed,
        "directory": directory,
        "project_name": f"{method}_{seed}",
    }
    budget = Budget(FLAGS.budget_s)
    finished = {}

    class Timed(keras_tuner.RandomSearch if method == "random" else keras_tuner.Hyperband):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            finished[trial.trial_id] = (budget.elapsed(), budget.state["examples"])

    if method == "random":
        tuner = Timed(model, max_trials=100000, **common)
    else:
        tuner = Timed(model, max_epochs=FLAGS.hyperband_max_epochs, factor=3, hyperband_iterations=1000, **common)
    budget.limit(tuner.oracle)
    tuner.search(
        *splits["train"],
        validation_data=splits["val"],
        epochs=FLAGS.trial_epochs,
        batch_size=FLAGS.batch_size,
        callbacks=[budget.callback(FLAGS.batch_size)],
        verbose=0,
    )
    seconds = budget.elapsed()
    best = tuner.oracle.get_best_trials(1)[0]
    return {
        "method": method,
        "seed": seed,
        "seconds": seconds,
        "examples": budget.state["examples"],
        "trials": len(tuner.oracle.trials),
        "val_accuracy": best.score,
        "seconds_to_answer": finished.get(best.trial_id, (seconds, 0))[0],
        "examples_to_answer": finished.get(best.trial_id, (0, budget.state["examples"]))[1],
        "genotype": hypermodel.values_to_genotype(best.hyperparameters.values, space).to_json(),
    }


def parsec_search(k, seed, splits, space, directory, budget_s, epochs, name, max_examples=None):
    """ParsecTuner (one run) with K samples, a cosine schedule of `epochs` epochs, stopped after `budget_s`
    (or before the train examples would pass `max_examples`).

    Returns the run's record; its answer is the mode when the run ended (by the budget or the schedule).
    """
    import keras_parsec as kp

    budget = Budget(budget_s, max_examples)
    ends = []

    def on_epoch(model, epoch, logs):
        ends.append(
            {
                "seconds": budget.elapsed(),
                "examples": budget.state["examples"],
                "genotype": model.distribution.mode().to_json(),
                "val_accuracy": float(logs.get("val_accuracy", float("nan"))),
            }
        )

    tuner = kp.ParsecTuner(space, num_samples=k, seed=seed, directory=directory, project_name=name)
    # Each step trains K architectures (forward + backward) on a batch, besides K forwards on a search batch.
    callback = budget.callback(k * FLAGS.batch_size, on_epoch)
    tuner.search(
        *splits["train"],
        validation_data=splits["val"],
        epochs=epochs,
        batch_size=FLAGS.batch_size,
        callbacks=[callback],
        verbose=0,
    )
    trial_id = next(iter(tuner.oracle.runs))
    last = ends[-1] if ends else {"seconds": budget.elapsed(), "examples": 0, "val_accuracy": float("nan")}
    return {
        "method": f"parsec_k{k}",
        "seed": seed,
        "seconds": budget.elapsed(),
        "examples": budget.state["examples"],
        "epochs": len(ends),
        "planned_epochs": epochs,
        "val_accuracy": last["val_accuracy"],
        "seconds_to_answer": last["seconds"],
        "examples_to_answer": last["examples"],
        "genotype": tuner.get_best_genotypes()[0].to_json(),
        "history": tuner.oracle.runs[trial_id]["history"],
    }


def parsec_at_fraction(k, seed, splits, space, directory, full=None, rival=None):
    """A PARSEC run planned for `fraction` of the budget: that budget, and a cosine schedule sized to it.

    With `rival` (the same seed's RandomSearch record) the budget is `fraction` of
    the wall seconds and of the train examples that search used, whichever runs
    out first, and the schedule's epochs are those the example budget allows.
    Otherwise the budget is `fraction` of `--budget_s`, and the epochs come from
    `--fraction_epochs`, or else from the full run's pace (its seconds per
    epoch's worth of examples, tracing included, so the plan errs short).
    """
    steps = (len(splits["train"][0]) - len(splits["train"][0]) // 2) // FLAGS.batch_size
    examples_per_epoch = k * FLAGS.batch_size * steps
    max_examples = None
    if rival is not None:
        budget_s = FLAGS.fraction * rival["seconds"]
        max_examples = int(FLAGS.fraction * rival["examples"])
        epochs = max(1, max_examples // examples_per_epoch)
    else:
        budget_s = FLAGS.fraction * FLAGS.budget_s
        epochs = FLAGS.fraction_epochs
        if not epochs:
            epochs_done = full["examples"] / examples_per_epoch
            epochs = max(1, int(budget_s / (full["seconds"] / max(epochs_done, 1e-9))))
    name = f"parsec_{k}_{seed}_fraction"
    run = parsec_search(k, seed, splits, space, directory, budget_s, epochs, name, max_examples)
    if rival is None:
        run.pop("history")  # the full run's history is the one drawn
    return run


def train_from_scratch(genotype_json, splits, cache):
    """Held-out accuracy of a genotype trained from scratch with the one recipe (cached by genotype)."""
    if genotype_json in cache:
        return cache[genotype_json]
    import keras

    import keras_parsec as kp

    keras.utils.set_random_seed(1234)
    model = kp.CellNetwork(
        kp.Genotype.from_json(genotype_json),
        num_classes=10,
        num_cells=FLAGS.num_cells,
        filters=FLAGS.filters,
        input_shape=splits["train"][0].shape[1:],
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    x = np.concatenate([splits["train"][0], splits["val"][0]])
    y = np.concatenate([splits["train"][1], splits["val"][1]])
    model.fit(x, y, epochs=FLAGS.final_epochs, batch_size=FLAGS.batch_size, verbose=0)
    cache[genotype_json] = float(model.evaluate(*splits["test"], verbose=0)[1])
    return cache[genotype_json]


def _summary_row(label, group):
    """One table row: held-out accuracy (mean +- std, min-max) and compute of `group`'s runs."""
    acc = np.array([r["test_accuracy"] for r in group])
    count = [r.get("trials", r.get("epochs")) for r in group]
    return (
        f"| {label} | {len(group)} | {acc.mean():.4f} +- {acc.std():.4f} | {acc.min():.4f} - {acc.max():.4f} | "
        f"{np.mean([r['val_accuracy'] for r in group]):.4f} | {np.mean([r['seconds'] for r in group]):.0f} | "
        f"{np.mean([r['seconds_to_answer'] for r in group]):.0f} | "
        f"{np.mean([r['examples'] for r in group]):.0f} | {count} |"
    )


def summarise(runs, randoms, fraction):
    """Markdown table: per method, held-out accuracy (mean +- std, min-max) and compute."""
    rows = [
        "| method | runs | held-out acc. mean +- std | min - max | search val acc. | search s | "
        "s to answer | train examples | trials / epochs |",
        "|" + " --- |" * 9,
    ]
    methods = list(dict.fromkeys(r["method"] for r in runs))
    for method in methods:
        group = [r for r in runs if r["method"] == method]
        full = [r for r in group if "genotype" in r]
        if full:
            rows.append(_summary_row(method, full))
        early = [r["early"] for r in group if r.get("early")]
        if method.startswith("parsec") and early:
            rows.append(_summary_row(f"{method} planned for {fraction:g} of the budget", early))
    acc = np.array(randoms if randoms else [np.nan])
    rows.append(
        f"| uniformly random architectures | {len(acc)} | {acc.mean():.4f} +- {acc.std():.4f} | "
        f"{acc.min():.4f} - {acc.max():.4f} | - | 0 | 0 | 0 | - |"
    )
    return "\n".join(rows)


def plot_quality(runs, randoms, path):
    """Held-out accuracy against the seconds each search needed to reach its answer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    methods = list(dict.fromkeys(r["method"] for r in runs))
    for i, method in enumerate(methods):
        group = [r for r in runs if r["method"] == method and "genotype" in r]
        axes.scatter(
            [r["seconds_to_answer"] for r in group], [r["test_accuracy"] for r in group], color=f"C{i}", label=method
        )
        early = [r["early"] for r in group if r.get("early")]
        if early:
            axes.scatter(
                [e["seconds"] for e in early],
                [e["test_accuracy"] for e in early],
                color=f"C{i}",
                marker="x",
                label=f"{method} planned for {FLAGS.fraction:g} budget",
            )
    if randoms:
        axes.axhspan(np.min(randoms), np.max(randoms), color="grey", alpha=0.2, label="random architectures (range)")
    axes.set(xlabel="search seconds to reach the answer", ylabel="held-out accuracy (trained from scratch)")
    axes.set_title(f"digits, {FLAGS.num_cells} cells, {FLAGS.filters} filters, budget {FLAGS.budget_s:g} s")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
    return path


def _save(runs, randoms):
    os.makedirs(FLAGS.results, exist_ok=True)
    with open(os.path.join(FLAGS.results, "search_quality.json"), "w") as f:
        json.dump({"flags": FLAGS.flag_values_dict(), "runs": runs, "random_architectures": randoms}, f, indent=1)


def _random_architecture(space, i, splits, cache):
    import keras_parsec as kp

    genotype = kp.ArchitectureDistribution(space).sample(1, seed=10_000 + i)[0]
    accuracy = train_from_scratch(genotype.to_json(), splits, cache)
    print(f"  random architecture {i}: held-out {accuracy:.4f}", flush=True)
    return accuracy


def run_all(splits, space, ks):
    """Every search and retraining; saves the JSON results after each, so a stopped run still reports."""
    directory = tempfile.mkdtemp(prefix="search_quality_")
    runs, randoms, cache = [], [], {}
    try:
        for seed in range(FLAGS.first_seed, FLAGS.first_seed + FLAGS.seeds):
            for method in list(FLAGS.keras_tuner) + [f"parsec_k{k}" for k in ks]:
                start = time.perf_counter()
                if method.startswith("parsec"):
                    k = int(method[len("parsec_k") :])
                    if FLAGS.full_parsec:
                        run = parsec_search(
                            k, seed, splits, space, directory, FLAGS.budget_s, FLAGS.parsec_epochs, f"parsec_{k}_{seed}"
                        )
                        run["early"] = parsec_at_fraction(k, seed, splits, space, directory, full=run)
                    else:
                        rival = next(r for r in runs if r["method"] == "random" and r["seed"] == seed)
                        run = {"method": method, "seed": seed}
                        run["early"] = parsec_at_fraction(k, seed, splits, space, directory, rival=rival)
                else:
                    run = keras_tuner_search(method, seed, splits, space, directory)
                if "genotype" in run:
                    run["test_accuracy"] = train_from_scratch(run["genotype"], splits, cache)
                if run.get("early"):
                    run["early"]["test_accuracy"] = train_from_scratch(run["early"]["genotype"], splits, cache)
                runs.append(run)
                early = run.get("early") or {}
                full = (
                    f"search {run['seconds']:.0f} s, answer at {run['seconds_to_answer']:.0f} s, "
                    f"val {run['val_accuracy']:.4f}, held-out {run['test_accuracy']:.4f}"
                    if "genotype" in run
                    else "no full-budget run"
                )
                print(
                    f"  {method:10s} seed {seed}: {full}"
                    + (
                        f", at {early['seconds']:.0f} s and {early['examples']} examples: held-out "
                        f"{early['test_accuracy']:.4f}"
                        if early
                        else ""
                    )
                    + f"  ({time.perf_counter() - start:.0f} s with retraining)",
                    flush=True,
                )
                _save(runs, randoms)
            if seed - FLAGS.first_seed < FLAGS.random_architectures:  # the reference grows with the seeds
                randoms.append(_random_architecture(space, seed, splits, cache))
                _save(runs, randoms)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
    for i in range(len(randoms), FLAGS.random_architectures):
        randoms.append(_random_architecture(space, FLAGS.first_seed + i, splits, cache))
        _save(runs, randoms)
    return runs, randoms


def main(argv):
    del argv
    import keras_parsec as kp

    splits = load_splits()
    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    ks = [int(k) for k in FLAGS.num_samples]
    print(
        f"digits: train {len(splits['train'][0])}, validation {len(splits['val'][0])}, test {len(splits['test'][0])}; "
        f"{FLAGS.num_cells} cells, {FLAGS.filters} filters; budget {FLAGS.budget_s:g} s per search; "
        f"seeds {FLAGS.seeds}; K in {ks}",
        flush=True,
    )
    if FLAGS.report_from:
        runs, randoms = [], []
        for path in FLAGS.report_from:
            with open(path) as f:
                saved = json.load(f)
            runs += saved["runs"]
            randoms += saved["random_architectures"]
        print(f"From {', '.join(FLAGS.report_from)}: {len(runs)} searches, {len(randoms)} random architectures")
    else:
        runs, randoms = run_all(splits, space, ks)
    print("\n" + summarise(runs, randoms, FLAGS.fraction))
    if not any(r["method"] == "random" for r in runs):  # --seeds=0: only the random architectures
        return
    random_runs = {r["seed"]: r for r in runs if r["method"] == "random"}
    best_random = max(r["test_accuracy"] for r in random_runs.values())
    print(
        f"\nTarget: PARSEC reaches the held-out accuracy of RandomSearch's best architecture with at most "
        f"{FLAGS.fraction:g} of RandomSearch's compute (wall seconds and train examples). Per seed against "
        f"that seed's RandomSearch, and against the best over all seeds ({best_random:.4f}):"
    )
    for run in runs:
        early, rival = run.get("early"), random_runs.get(run["seed"])
        if not run["method"].startswith("parsec") or not early or not rival:
            continue
        share_s = early["seconds"] / rival["seconds"]
        share_x = early["examples"] / max(rival["examples"], 1)
        print(
            f"  {run['method']} seed {run['seed']}: planned for {FLAGS.fraction:g} of the budget "
            f"({early['epochs']}/{early['planned_epochs']} epochs) {early['test_accuracy']:.4f} with "
            f"{early['seconds']:.0f} s ({share_s:.2f}x) and {early['examples']} examples ({share_x:.2f}x) against "
            f"RandomSearch's {rival['test_accuracy']:.4f} ({rival['seconds']:.0f} s, {rival['examples']} examples): "
            + (
                "met"
                if early["test_accuracy"] >= rival["test_accuracy"] and max(share_s, share_x) <= FLAGS.fraction
                else "not met"
            )
            + ("; also >= the best over seeds" if early["test_accuracy"] >= best_random else "")
            + (f"; at the full budget {run['test_accuracy']:.4f}" if "test_accuracy" in run else "")
        )
    os.makedirs(FLAGS.results, exist_ok=True)
    print(f"\nPlot: {plot_quality(runs, randoms, os.path.join(FLAGS.results, 'search_quality.png'))}")
    histories = [r.get("history") or r["early"]["history"] for r in runs if r["method"].startswith("parsec")]
    labels = [f"K={r['method'][len('parsec_k') :]} seed {r['seed']}" for r in runs if r["method"].startswith("parsec")]
    curves = os.path.join(FLAGS.results, "search_quality_curves.png")
    print(f"Search curves (entropy, mode accuracy per epoch): {kp.plot_search(histories, curves, labels=labels)}")


if __name__ == "__main__":
    app.run(main)
