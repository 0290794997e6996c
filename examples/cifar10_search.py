"""Paper 4.1: PARSEC search on CIFAR-10 with the small network (8 cells, 16 filters).

    python examples/cifar10_search.py                          # the paper's settings (about 15 V100-hours)
    python examples/cifar10_search.py --smoke                  # tfds mock data, tiny network, < 2 minutes

Half of CIFAR-10's training set trains the shared weights, the other half
weighs the sampled architectures (Algorithm 1); pi is learned with Adam 0.02,
betas (0.5, 0.999), K=16, for 100 epochs, twice with different seeds, and the
run whose mode scores best wins. Batches are augmented as in DARTS' search
(pad 4 + random crop, flip). Writes `best_genotype.json` and
`best_distribution.json` (the prior of `cifar10_finetune.py`) to the project.
"""

import contextlib
import os

from absl import app, flags

import keras_parsec as kp
from keras_parsec.data import preprocessing

flags.DEFINE_integer("num_cells", 8, "Cells of the search network.")
flags.DEFINE_integer("filters", 16, "Initial filters of the search network.")
flags.DEFINE_integer("num_nodes", 4, "Intermediate nodes per cell.")
flags.DEFINE_integer("epochs", 100, "Search epochs.")
flags.DEFINE_integer("num_samples", 16, "K, architectures sampled per step.")
flags.DEFINE_integer("batch_size", 64, "Examples per train and per search batch.")
flags.DEFINE_integer("max_trials", 2, "Search runs with different seeds; the best mode wins.")
flags.DEFINE_float("architecture_learning_rate", 0.02, "Adam learning rate of pi.")
flags.DEFINE_integer("cutout_size", 0, "Cutout on the search batches (0: none, as in DARTS' search).")
flags.DEFINE_bool(
    "inline_cells", True, "Inline the cells into the compiled train pass: a faster step for a longer first build."
)
flags.DEFINE_integer("seed", 0, "Base seed.")
flags.DEFINE_string("data_dir", None, "tfds data directory.")
flags.DEFINE_string("directory", "runs", "Where the project goes.")
flags.DEFINE_string("project_name", "cifar10_search", "Project folder.")
flags.DEFINE_bool("smoke", False, "Run end to end on tfds mock data with a tiny network (no download).")
FLAGS = flags.FLAGS


def smoke_settings():
    """Tiny settings for --smoke: a 2-cell network, K=2, one epoch over 32 mock images."""
    FLAGS.num_cells, FLAGS.filters, FLAGS.num_nodes = 2, 4, 2
    FLAGS.epochs, FLAGS.num_samples, FLAGS.batch_size, FLAGS.max_trials = 1, 2, 8, 1
    import tensorflow_datasets as tfds

    return tfds.testing.mock_data(num_examples=32, policy=tfds.testing.MockPolicy.USE_CODE)


def main(argv):
    del argv
    with smoke_settings() if FLAGS.smoke else contextlib.nullcontext():
        images, labels = preprocessing.load_arrays("cifar10", "train", FLAGS.data_dir)
    x = preprocessing.normalize(images).numpy()  # once; crops and flips are drawn per epoch
    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters, num_nodes=FLAGS.num_nodes)
    tuner = kp.ParsecTuner(
        space,
        num_samples=FLAGS.num_samples,
        max_trials=FLAGS.max_trials,
        seed=FLAGS.seed,
        architecture_learning_rate=FLAGS.architecture_learning_rate,
        inline_cells=FLAGS.inline_cells,
        directory=FLAGS.directory,
        project_name=FLAGS.project_name,
    )
    print(f"Searching {space} on {len(x)} CIFAR-10 images (split into train and search halves).")
    tuner.search(
        x,
        labels,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        num_classes=10,
        augment=preprocessing.search_augment(cutout_size=FLAGS.cutout_size),
        verbose=2,
    )
    tuner.results_summary(num_trials=FLAGS.max_trials)
    genotype_path = os.path.join(tuner.project_dir, "best_genotype.json")
    with open(genotype_path, "w") as f:
        f.write(tuner.get_best_genotypes()[0].to_json())
    distribution_path = os.path.join(tuner.project_dir, "best_distribution.json")
    tuner.get_best_distribution().save(distribution_path)
    print(f"\nBest genotype: {genotype_path}\nPrior for fine-tuning: {distribution_path}")
    print(f"Next: python examples/cifar10_finetune.py --prior={distribution_path}")


if __name__ == "__main__":
    app.run(main)
