"""The commands of `keras-parsec`: search, train, export, show.

`keras_parsec_cli` (outside the package, so that help answers without loading
TensorFlow) parses the arguments and calls `run_command`.
"""

import dataclasses
import json
import os

from keras_parsec_cli import fail as _fail


def _project_dir(args):
    return os.path.join(args.directory, args.project_name or args.dataset)


def _load_dataset(args):
    """(train, test) image/label pairs: digits keep a fifth aside as the test set, tfds names their test split."""
    from keras_parsec.data import arrays as data

    if args.dataset == "digits":
        images, labels = data.load_digits_images()
        train, test = data.split_train_search(images, labels, search_fraction=0.2, seed=args.seed)
    else:
        import tensorflow_datasets as tfds

        train = data.as_arrays(tfds.load(args.dataset, split="train", as_supervised=True))
        test = data.as_arrays(tfds.load(args.dataset, split="test", as_supervised=True), name="test")
    if args.image_size:
        train = data.resize(train[0], args.image_size), train[1]
        test = data.resize(test[0], args.image_size), test[1]
    return train, test


def _draw(function, *args):
    try:
        return function(*args)
    except ImportError as e:
        print(f"(no picture: {e})")
        return None


def command_search(args):
    """Searches the space with PARSEC and reports the best genotype and every file written."""
    import tensorflow as tf

    import keras_parsec as kp
    from keras_parsec import visualize
    from keras_parsec.tuning.tuner import BEST_DISTRIBUTION_FILE, BEST_GENOTYPE_FILE

    prior = kp.ArchitectureDistribution.load(args.prior) if args.prior else None
    limits = {name: getattr(args, name) for name in ("max_params", "max_flops", "max_latency_ms")}
    budget = None
    if any(value is not None for value in limits.values()):
        budget = kp.Budget(**limits, rule=args.budget_rule, latency_table=args.latency_table)
    train, _ = _load_dataset(args)  # the test split is not looked at
    space = kp.SearchSpace(num_cells=args.num_cells or 3, filters=args.filters or 8, num_nodes=args.num_nodes)
    tuner = kp.ParsecTuner(
        space,
        num_samples=args.num_samples,
        max_trials=args.max_trials,
        seed=args.seed,
        directory=args.directory,
        project_name=args.project_name or args.dataset,
        overwrite=args.overwrite,
        engine=args.engine,
        inline_cells=args.inline_cells,
        prior=prior,
        early_stopping=None if args.early_stopping == "none" else args.early_stopping,
        distribution_strategy=tf.distribute.MirroredStrategy() if args.strategy == "mirrored" else None,
        budget=budget,
    )
    print(
        f"Searching {space} on {args.dataset}: {len(train[0])} training images, {args.validation_split:.0%} held "
        "out to select on, the rest split into train and search halves."
    )
    tuner.search(
        *train,
        validation_split=args.validation_split,
        epochs=args.epochs,
        batch_size=args.batch_size,
        verbose=args.verbose,
        augment=kp.preprocessing.search_augment(args.augment) if args.augment else None,
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
        "pi picture": _draw(
            visualize.plot_distribution, tuner.get_best_distribution(), os.path.join(project, "pi.png")
        ),
    }
    print(f"\nBest genotype (mode of p(alpha | pi), trial {best_trial.trial_id}):\n  {genotype}")
    print(f"Mode validation accuracy: {best_trial.score:.4f}   entropy: {history['entropy'][-1]:.3f} nats")
    if history.get("effective_sample_size"):
        print(
            f"Effective sample size in the last epoch: {history['effective_sample_size'][-1]:.2f} of K="
            f"{args.num_samples} (near 1: each step's importance weights pick out one sampled architecture; "
            "near K: they cannot tell the samples apart, and pi learns no more than a K=1 null run)"
        )
    print(f"Files:\n  project    {project}")
    for name, path in written.items():
        if path:
            print(f"  {name:14s} {path}")
    print(f"Next: keras-parsec train --run={project}")


def _searched_size(run):
    """(num_cells, filters) of the search saved in the project folder `run`, or (None, None)."""
    from keras_parsec import files

    path = os.path.join(run, "oracle.json")
    if not files.exists(path):
        _fail(f"{run} holds no search (no oracle.json).")
    space = json.loads(files.read_text(path)).get("parsec", {}).get("search_space", {})
    return space.get("num_cells"), space.get("filters")


def command_train(args):
    """Trains a genotype from scratch with the CIFAR recipe at the searched size, reports test accuracy, saves it."""
    import keras

    import keras_parsec as kp
    from keras_parsec.tuning.tuner import BEST_GENOTYPE_FILE

    if not (args.genotype or args.run):
        _fail("train needs --run=DIR (a search project) or --genotype=PATH (a genotype JSON file).")
    num_cells, filters = _searched_size(args.run) if args.run else (None, None)
    genotype = _read_genotype(args.genotype or os.path.join(args.run, BEST_GENOTYPE_FILE))
    (x, y), test = _load_dataset(args)
    recipe = dataclasses.replace(
        kp.CIFAR10_RECIPE,
        num_cells=args.num_cells or num_cells or 3,
        filters=args.filters or filters or 8,
        epochs=args.epochs,
        batch_size=args.batch_size,
        image_size=x.shape[1],
    )
    held = int(len(x) * args.validation_split)
    validation = (x[len(x) - held :], y[len(x) - held :]) if held else None
    keras.utils.set_random_seed(args.seed)
    print(f"Training {recipe.num_cells} cells, {recipe.filters} filters, the CIFAR-10 recipe, {args.epochs} epochs.")
    model = kp.train_final_network(
        genotype, x[: len(x) - held], y[: len(x) - held], num_classes=int(max(y.max(), test[1].max())) + 1,
        input_shape=x.shape[1:], recipe=recipe, validation_data=validation, verbose=args.verbose,
    )  # fmt: skip
    loss, accuracy = model.evaluate(*test, verbose=0)[:2]
    os.makedirs(_project_dir(args), exist_ok=True)
    path = os.path.join(_project_dir(args), "model.keras")
    model.save(path)
    print(
        f"Test accuracy {accuracy:.4f} (loss {loss:.4f}).\nSaved {path}\n"
        f"Next: keras-parsec export --model={path} --output=exported/{args.project_name or args.dataset}"
    )


def command_export(args):
    """Exports a saved .keras model as a SavedModel with a `serve` signature."""
    import keras

    import keras_parsec  # noqa: F401  (registers the layers for loading)

    if not args.model or not args.output:
        _fail("export needs --model=PATH.keras and --output=DIR.")
    if os.path.exists(args.output):
        _fail(f"{args.output} exists; choose another --output (nothing is overwritten).")
    model = keras.models.load_model(args.model)
    model.export(args.output)
    print(f"SavedModel written to {args.output}; serve with tf.saved_model.load(path).serve(images).")


def _read_genotype(path):
    from keras_parsec import files
    from keras_parsec.genotype import Genotype

    try:
        return Genotype.from_json(files.read_text(path))
    except OSError as e:
        _fail(f"cannot read genotype file {path}: {e}")


def _network_shape(args):
    """(input shape, classes, stem) of the network `show` counts: digits', or the paper's for --dataset."""
    from keras_parsec.final.counting import SETTINGS

    if args.dataset == "digits":
        return (8, 8, 1), 10, "cifar"
    setting = SETTINGS["imagenet" if args.dataset == "imagenet2012" else "cifar10"]
    return setting["input_shape"], setting["num_classes"], setting["stem"]


def _counts(args, genotype, num_cells, filters):
    """Parameters and multiply-adds of the genotype's network at that size on --dataset's images."""
    from keras_parsec.final.counting import describe_counts

    input_shape, num_classes, stem = _network_shape(args)
    counts = describe_counts(
        genotype, num_classes=num_classes, num_cells=num_cells, filters=filters, input_shape=input_shape, stem=stem
    )
    return f"As a {num_cells}-cell, {filters}-filter network on {args.dataset}: {counts}"


def command_show(args):
    """Prints a genotype (or a finished run's results) and draws its cells."""
    from keras_parsec import files, visualize

    num_cells, filters = None, None
    if args.run:
        state_path = os.path.join(args.run, "oracle.json")
        if not files.exists(state_path):
            _fail(f"{args.run} holds no search (no oracle.json).")
        runs = json.loads(files.read_text(state_path)).get("parsec", {}).get("runs", {})
        if not runs:
            _fail(f"{args.run} holds no finished search run.")
        from keras_parsec.genotype import Genotype
        from keras_parsec.tuning.tuner import BEST_GENOTYPE_FILE

        for trial_id, run in sorted(runs.items()):
            print(
                f"trial {trial_id}: val_accuracy {run['history'].get('val_accuracy', ['?'])[-1]}  "
                f"entropy {run['entropy']:.3f}\n  {Genotype.from_dict(run['mode'])}"
            )
        num_cells, filters = _searched_size(args.run)
        genotype_path = os.path.join(args.run, BEST_GENOTYPE_FILE)
        genotype = _read_genotype(genotype_path) if files.exists(genotype_path) else None
        output = args.output or os.path.join(args.run, "best_genotype.png")
    elif args.genotype:
        genotype = _read_genotype(args.genotype)
        print(genotype)
        output = args.output or os.path.splitext(args.genotype)[0] + ".png"
    else:
        _fail("show needs --genotype=PATH or --run=DIR.")
    if genotype is not None:
        print(_counts(args, genotype, args.num_cells or num_cells or 3, args.filters or filters or 8))
        path = _draw(visualize.plot_genotype, genotype, output)
        if path:
            print(f"Drawn: {path}")


def run_command(args):
    """Runs the command `args.command` with the parsed `args` (`keras_parsec_cli.parser`)."""
    {"search": command_search, "train": command_train, "export": command_export, "show": command_show}[args.command](
        args
    )


if __name__ == "__main__":
    import keras_parsec_cli

    keras_parsec_cli.run()
