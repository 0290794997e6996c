"""The `keras-parsec` command line: parses the arguments, then hands them to `keras_parsec.cli`.

It lives outside the package so that `keras-parsec COMMAND --help` and bad
arguments answer without loading TensorFlow (`import keras_parsec` does, and
must: it registers the layers that `keras.models.load_model` looks up).

keras-parsec search                       # digits, offline, a few minutes on a CPU
keras-parsec search --dataset=cifar10 --num_cells=8 --filters=16 --epochs=50 --num_samples=16 --augment=16
keras-parsec train  --run=runs/digits --epochs=20          # the run's best genotype, at the searched size
keras-parsec export --model=runs/digits/model.keras --output=exported/digits
keras-parsec show   --run=runs/digits                      (or --genotype=g.json)
keras-parsec show   --genotype=g.json --dataset=cifar10 --num_cells=20 --filters=36   # paper-size counts

Architectures are chosen on a validation split held out of the training data;
a dataset's test split (digits: a fifth kept aside) only gives `train`'s final report.
"""

import argparse
import os
import sys

COMMANDS = ("search", "train", "export", "show")


def parser():
    """The argparse parser: one subcommand per command, each with its own flags."""
    parser = argparse.ArgumentParser(
        prog="keras-parsec", description="PARSEC neural architecture search for Keras.", epilog=__doc__.split("\n\n")[0]
    )
    commands = parser.add_subparsers(dest="command", metavar="{search,train,export,show}")

    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--dataset", default="digits", help="'digits' (scikit-learn, offline) or a tfds dataset name")
    data.add_argument("--image_size", type=int, help="resize images to this side")
    data.add_argument("--validation_split", type=float, default=0.1, help="share of the training data to select on")
    size = argparse.ArgumentParser(add_help=False)
    size.add_argument("--num_cells", type=int, help="cells of the network (search default 3; train: the run's)")
    size.add_argument("--filters", type=int, help="initial filters (search default 8; train: the run's)")
    size.add_argument("--num_nodes", type=int, default=4, help="intermediate nodes per cell")
    fit = argparse.ArgumentParser(add_help=False)
    fit.add_argument("--epochs", type=int, default=10, help="epochs")
    fit.add_argument("--batch_size", type=int, default=64, help="examples per batch")
    fit.add_argument("--seed", type=int, default=0, help="random seed")
    fit.add_argument("--verbose", type=int, default=1, choices=(0, 1, 2), help="Keras verbosity")
    fit.add_argument("--directory", default="runs", help="where projects go")
    fit.add_argument("--project_name", help="project folder (default: the dataset name)")
    fit.add_argument("--tf_logs", action="store_true", help="show TensorFlow's Python log lines (hidden by default)")

    search = commands.add_parser("search", parents=[data, size, fit], help="search the cell space with PARSEC")
    search.add_argument("--num_samples", type=int, default=4, help="K, architectures sampled per step")
    search.add_argument("--max_trials", type=int, default=1, help="search runs (seeds); the best is kept")
    search.add_argument("--overwrite", action="store_true", help="replace an existing project instead of resuming")
    search.add_argument("--engine", choices=("compiled", "eager"), default="compiled", help="the supernet engine")
    search.add_argument(
        "--inline_cells", action="store_true", help="compiled engine: a faster step, a longer build (long searches)"
    )
    search.add_argument("--strategy", choices=("none", "mirrored"), default="none", help="tf.distribute strategy")
    search.add_argument("--early_stopping", choices=("none", "halving"), default="none", help="stop weak runs early")
    search.add_argument("--prior", help="a distribution JSON (best_distribution.json of an earlier search)")
    search.add_argument("--augment", type=int, default=0, help="crop, flip and cutout of this side (0: none)")
    budget = search.add_argument_group("budget (counted at --num_cells/--filters, the size `train` uses)")
    budget.add_argument("--max_params", type=float, help="most parameters of the found network")
    budget.add_argument("--max_flops", type=float, help="most multiply-adds of one image")
    budget.add_argument("--max_latency_ms", type=float, help="most latency, predicted from --latency_table")
    budget.add_argument("--latency_table", help="a table saved by kp.measure_latency_table on the target device")
    budget.add_argument("--budget_rule", choices=("hard", "soft"), default="hard", help="how a budget weighs samples")

    train = commands.add_parser("train", parents=[data, size, fit], help="train a genotype from scratch")
    train.add_argument("--genotype", help="a genotype JSON file")
    train.add_argument("--run", help="a search project: its best genotype, at the size it was searched")
    export = commands.add_parser("export", help="export a .keras model as a SavedModel")
    export.add_argument("--model", help="a .keras model file")
    export.add_argument("--output", help="the SavedModel folder (must not exist)")
    show = commands.add_parser("show", parents=[data, size], help="print and draw a genotype or a search's results")
    show.add_argument("--genotype", help="a genotype JSON file")
    show.add_argument("--run", help="a search project folder")
    show.add_argument("--output", help="PNG path")
    return parser


def fail(message):
    """Prints `message` as argparse prints a usage error and exits with status 2."""
    print(f"keras-parsec: error: {message}", file=sys.stderr)
    sys.exit(2)


def main(argv=None):
    """Parses `argv` (default `sys.argv[1:]`) and runs the command (default `search`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help"):
        argv = ["search", *argv]
    if argv[0] not in COMMANDS and argv[0] not in ("-h", "--help"):
        fail(f"unknown command {argv[0]!r}; expected one of {', '.join(COMMANDS)} (keras-parsec --help).")
    args = parser().parse_args(argv)
    if not getattr(args, "tf_logs", False):
        _quiet_tensorflow()
    from keras_parsec import cli  # TensorFlow loads here, after the arguments are known to be good

    cli.run_command(args)


def _quiet_tensorflow():
    """TensorFlow's Python and absl INFO and WARNING lines off.

    The C++ start-up lines (oneDNN, CUDA) print when TensorFlow loads, before
    any command runs, and TF 2.21 prints them whatever TF_CPP_MIN_LOG_LEVEL says.
    """
    import logging

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def run():
    """Console entry point."""
    main()


if __name__ == "__main__":
    run()
