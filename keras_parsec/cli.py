"""The `keras-parsec` command: search, train, export, show.

keras-parsec search                       # digits, offline, a few minutes on a CPU
keras-parsec search --dataset=cifar10 --num_cells=8 --filters=16 --epochs=50 --num_samples=16
keras-parsec train  --genotype=runs/digits/best_genotype.json --epochs=20
keras-parsec export --model=runs/digits/model.keras --output=exported/digits
keras-parsec show   --genotype=runs/digits/best_genotype.json      (or --run=runs/digits)
keras-parsec show   --genotype=g.json --dataset=cifar10 --num_cells=20 --filters=36   # paper-size counts
"""

import json
import os
import sys

from absl import app, flags

from keras_parsec import files

COMMANDS = ("search", "train", "export", "show")

flags.DEFINE_string("dataset", "digits", "'digits' (scikit-learn, offline) or a tfds dataset name.")
flags.DEFINE_integer("num_cells", 3, "Cells of the network.")
flags.DEFINE_integer("filters", 8, "Initial filters.")
flags.DEFINE_integer("num_nodes", 4, "Intermediate nodes per cell.")
flags.DEFINE_integer("epochs", 10, "Epochs.")
flags.DEFINE_integer("batch_size", 64, "Batch size.")
flags.DEFINE_integer("num_samples", 4, "search: K, architectures sampled per step.")
flags.DEFINE_integer("max_trials", 1, "search: search runs (seeds); the best is kept.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("directory", "runs", "search/train: where projects go.")
flags.DEFINE_string("project_name", None, "search/train: project folder (default: the dataset name).")
flags.DEFINE_bool("overwrite", False, "search: replace an existing project instead of resuming it.")
flags.DEFINE_string("genotype", None, "train/show: a genotype JSON file.")
flags.DEFINE_string("run", None, "show: a search project folder.")
flags.DEFINE_string("model", None, "export: a .keras model file.")
flags.DEFINE_string("output", None, "export: SavedModel folder; show: PNG path.")
flags.DEFINE_enum(
    "engine",
    "compiled",
    ["compiled", "eager"],
    "search: the supernet engine (eager: the baseline, each pass hundreds of calls; BENCHMARKS.md).",
)
flags.DEFINE_integer("verbose", 1, "Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")
FLAGS = flags.FLAGS


def _fail(message):
    print(f"keras-parsec: error: {message}", file=sys.stderr)
    sys.exit(2)


def _project_dir():
    return os.path.join(FLAGS.directory, FLAGS.project_name or FLAGS.dataset)


def _load_dataset():
    """(train, validation) image/label pairs: digits keep a fifth aside, tfds names use their test split."""
    from keras_parsec.data import arrays as data

    if FLAGS.dataset == "digits":
        images, labels = data.load_digits_images()
        return data.split_train_search(images, labels, search_fraction=0.2, seed=FLAGS.seed)
    import tensorflow_datasets as tfds

    train = tfds.load(FLAGS.dataset, split="train", as_supervised=True)
    test = tfds.load(FLAGS.dataset, split="test", as_supervised=True)
    return data.as_arrays(train), data.as_arrays(test, name="validation_data")


def _draw(function, *args):
    try:
        return function(*args)
    except ImportError as e:
        print(f"(no picture: {e})")
        return None


def command_search():
    """Searches the space with PARSEC and reports the best genotype and every file written."""
    import keras_parsec as kp
    from keras_parsec import visualize
    from keras_parsec.tuning.tuner import BEST_DISTRIBUTION_FILE, BEST_GENOTYPE_FILE

    train, validation = _load_dataset()
    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters, num_nodes=FLAGS.num_nodes)
    tuner = kp.ParsecTuner(
        space,
        num_samples=FLAGS.num_samples,
        max_trials=FLAGS.max_trials,
        seed=FLAGS.seed,
        directory=FLAGS.directory,
        project_name=FLAGS.project_name or FLAGS.dataset,
        overwrite=FLAGS.overwrite,
        engine=FLAGS.engine,
    )
    print(
        f"Searching {space} on {FLAGS.dataset}: {len(train[0])} training images "
        f"(split into train and search halves), {len(validation[0])} validation images."
    )
    tuner.search(
        *train, validation_data=validation, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, verbose=FLAGS.verbose
    )
    tuner.results_summary(num_trials=3)
    project = tuner.project_dir
    best_trial = tuner.oracle.get_best_trials(1)[0]
    genotype = tuner.get_best_genotypes()[0]
    history = tuner.oracle.runs[best_trial.trial_id]["history"]
    written = {  # the tuner wrote the first two
        "genotype": os.path.join(project, BEST_GENOTYPE_FILE),
        "distribution": os.path.join(project, BEST_DISTRIBUTION_FILE),
        "cell picture": _draw(visualize.plot_genotype, genotype, os.path.join(project, "best_genotype.png")),
        "search curves": _draw(visualize.plot_search, history, os.path.join(project, "search.png")),
    }
    print(f"\nBest genotype (mode of p(alpha | pi), trial {best_trial.trial_id}):\n  {genotype}")
    print(f"Mode validation accuracy: {best_trial.score:.4f}   entropy: {history['entropy'][-1]:.3f} nats")
    print(f"Files:\n  project    {project}")
    for name, path in written.items():
        if path:
            print(f"  {name:14s} {path}")
    print(f"Next: keras-parsec train --genotype={written['genotype']}")


def command_train():
    """Trains a CellNetwork of a genotype from scratch and saves it as .keras."""
    import keras

    import keras_parsec as kp

    if not FLAGS.genotype:
        _fail("train needs --genotype=PATH (a genotype JSON file, e.g. from `keras-parsec search`).")
    genotype = _read_genotype(FLAGS.genotype)
    (x, y), validation = _load_dataset()
    keras.utils.set_random_seed(FLAGS.seed)
    model = kp.CellNetwork(
        genotype,
        num_classes=int(max(y.max(), validation[1].max())) + 1,
        num_cells=FLAGS.num_cells,
        filters=FLAGS.filters,
        input_shape=x.shape[1:],
    )
    model.compile(
        optimizer=keras.optimizers.SGD(kp.CIFAR10_RECIPE.learning_rate, momentum=kp.CIFAR10_RECIPE.momentum),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    model.fit(x, y, validation_data=validation, epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, verbose=FLAGS.verbose)
    loss, accuracy = model.evaluate(*validation, verbose=0)
    os.makedirs(_project_dir(), exist_ok=True)
    path = os.path.join(_project_dir(), "model.keras")
    model.save(path)
    print(
        f"Validation accuracy {accuracy:.4f} (loss {loss:.4f}).\nSaved {path}\n"
        f"Next: keras-parsec export --model={path} --output=exported/{FLAGS.project_name or FLAGS.dataset}"
    )


def command_export():
    """Exports a saved .keras model as a SavedModel with a `serve` signature."""
    import keras

    import keras_parsec  # noqa: F401  (registers the layers for loading)

    if not FLAGS.model or not FLAGS.output:
        _fail("export needs --model=PATH.keras and --output=DIR.")
    if os.path.exists(FLAGS.output):
        _fail(f"{FLAGS.output} exists; choose another --output (nothing is overwritten).")
    model = keras.models.load_model(FLAGS.model)
    model.export(FLAGS.output)
    print(f"SavedModel written to {FLAGS.output}; serve with tf.saved_model.load(path).serve(images).")


def _read_genotype(path):
    from keras_parsec.genotype import Genotype

    try:
        return Genotype.from_json(files.read_text(path))
    except OSError as e:
        _fail(f"cannot read genotype file {path}: {e}")


def _network_shape():
    """(input shape, classes, stem) of the network `show` counts: digits', or the paper's for --dataset."""
    from keras_parsec.final.counting import SETTINGS

    if FLAGS.dataset == "digits":
        return (8, 8, 1), 10, "cifar"
    setting = SETTINGS["imagenet" if FLAGS.dataset == "imagenet2012" else "cifar10"]
    return setting["input_shape"], setting["num_classes"], setting["stem"]


def _counts(genotype):
    """Parameters and multiply-adds of the genotype's network at --num_cells/--filters on --dataset's images."""
    from keras_parsec.final.counting import describe_counts

    input_shape, num_classes, stem = _network_shape()
    counts = describe_counts(
        genotype, num_classes=num_classes, num_cells=FLAGS.num_cells, filters=FLAGS.filters,
        input_shape=input_shape, stem=stem,
    )  # fmt: skip
    return f"As a {FLAGS.num_cells}-cell, {FLAGS.filters}-filter network on {FLAGS.dataset}: {counts}"


def command_show():
    """Prints a genotype (or a finished run's results) and draws its cells."""
    from keras_parsec import visualize

    if FLAGS.run:
        state_path = os.path.join(FLAGS.run, "oracle.json")
        if not files.exists(state_path):
            _fail(f"{FLAGS.run} holds no search (no oracle.json).")
        runs = json.loads(files.read_text(state_path)).get("parsec", {}).get("runs", {})
        if not runs:
            _fail(f"{FLAGS.run} holds no finished search run.")
        from keras_parsec.genotype import Genotype

        for trial_id, run in sorted(runs.items()):
            print(
                f"trial {trial_id}: val_accuracy {run['history'].get('val_accuracy', ['?'])[-1]}  "
                f"entropy {run['entropy']:.3f}\n  {Genotype.from_dict(run['mode'])}"
            )
        from keras_parsec.tuning.tuner import BEST_GENOTYPE_FILE

        genotype_path = os.path.join(FLAGS.run, BEST_GENOTYPE_FILE)
        genotype = _read_genotype(genotype_path) if files.exists(genotype_path) else None
        output = FLAGS.output or os.path.join(FLAGS.run, "best_genotype.png")
    elif FLAGS.genotype:
        genotype = _read_genotype(FLAGS.genotype)
        print(genotype)
        output = FLAGS.output or os.path.splitext(FLAGS.genotype)[0] + ".png"
    else:
        _fail("show needs --genotype=PATH or --run=DIR.")
    if genotype is not None:
        print(_counts(genotype))
        path = _draw(visualize.plot_genotype, genotype, output)
        if path:
            print(f"Drawn: {path}")


def main(argv):
    command = argv[1] if len(argv) > 1 else "search"
    if command not in COMMANDS or len(argv) > 2:
        _fail(f"unknown command {' '.join(argv[1:])!r}; expected one of {', '.join(COMMANDS)}.")
    {"search": command_search, "train": command_train, "export": command_export, "show": command_show}[command]()


def run():
    """Console entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
