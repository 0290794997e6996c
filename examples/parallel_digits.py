"""PARSEC on several devices, machines or parallel workers, on scikit-learn's digits (offline).

One script for every mode of BUILD.md's "Several GPUs and several machines":

    python examples/parallel_digits.py --strategy=mirrored                 # every local GPU
    python examples/parallel_digits.py --strategy=mirrored --logical_cpus=2  # try it without a GPU
    TF_CONFIG='...' python examples/parallel_digits.py --strategy=multi_worker
    KERASTUNER_TUNER_ID=chief ... python examples/parallel_digits.py --max_trials=8   # and workers
    python examples/parallel_digits.py --max_trials=8 --early_stopping=halving

    python examples/parallel_digits.py --smoke     # seconds: 300 digits, one epoch, K=2
"""

import os

import tensorflow as tf
from absl import app, flags

flags.DEFINE_enum("strategy", "none", ["none", "mirrored", "multi_worker"], "tf.distribute strategy of each step.")
flags.DEFINE_integer("logical_cpus", 0, "Split the CPU into this many logical devices (MirroredStrategy without GPUs).")
flags.DEFINE_integer("max_trials", 1, "Search runs (seeds).")
flags.DEFINE_integer("epochs", 5, "Search epochs per run.")
flags.DEFINE_integer("num_samples", 4, "K, architectures sampled per step.")
flags.DEFINE_integer("batch_size", 64, "Global batch: split across the replicas.")
flags.DEFINE_enum("early_stopping", None, ["halving"], "Successive halving across runs.")
flags.DEFINE_string("directory", "runs", "Project directory; shared by the chief and workers in parallel mode.")
flags.DEFINE_string("project_name", "parallel_digits", "Project name.")
flags.DEFINE_integer("seed", 0, "Base seed.")
flags.DEFINE_bool("smoke", False, "A seconds-long run: 300 digits, one epoch, K=2, a 2-cell space of 4 filters.")
FLAGS = flags.FLAGS


def make_strategy():
    if FLAGS.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * FLAGS.logical_cpus)
    if FLAGS.strategy == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = None if gpus else [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if FLAGS.strategy == "multi_worker":
        return tf.distribute.MultiWorkerMirroredStrategy()  # reads TF_CONFIG
    return None


def main(argv):
    del argv
    strategy = make_strategy()  # before anything else initialises TensorFlow's devices
    import keras_parsec as kp
    from keras_parsec.data.arrays import load_digits_images

    images, labels = load_digits_images()
    space = kp.SearchSpace(num_cells=3, filters=8)
    epochs, num_samples = FLAGS.epochs, FLAGS.num_samples
    if FLAGS.smoke:
        images, labels, epochs, num_samples = images[:300], labels[:300], 1, 2
        space = kp.SearchSpace(num_cells=2, filters=4)
    tuner = kp.ParsecTuner(
        space,
        num_samples=num_samples,
        max_trials=FLAGS.max_trials,
        seed=FLAGS.seed,
        directory=FLAGS.directory,
        project_name=FLAGS.project_name,
        distribution_strategy=strategy,
        early_stopping=FLAGS.early_stopping,
    )
    tuner.search(images, labels, epochs=epochs, batch_size=FLAGS.batch_size, verbose=2)
    if "KERASTUNER_ORACLE_IP" not in os.environ or "chief" in os.environ.get("KERASTUNER_TUNER_ID", ""):
        tuner.results_summary()
        print("Best genotype:", tuner.get_best_genotypes()[0])


if __name__ == "__main__":
    app.run(main)
