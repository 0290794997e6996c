"""Paper 4.2: fine-tune the searched distribution directly on the full-size network.

    python examples/cifar10_finetune.py --prior=runs/cifar10_search/best_distribution.json
    python examples/cifar10_finetune.py --smoke                # tfds mock data, tiny network, uniform prior

p(alpha | pi) starts from the small search's distribution and is tuned on the
network that will be trained: 20 cells, 36 filters, auxiliary head (0.4),
cutout 16, batch 96, Adam learning rate 0.01, 10 epochs. The prior may come
from a space with other cell counts or filters (only nodes and operations must
match). Writes `best_genotype.json` for `cifar10_train.py`.
"""

import contextlib
import os

from absl import app, flags

import keras_parsec as kp
from keras_parsec.data import preprocessing

flags.DEFINE_string(
    "prior", None, "ArchitectureDistribution JSON from cifar10_search.py (required, except with --smoke: uniform)."
)
flags.DEFINE_integer("num_cells", 20, "Cells of the full-size network.")
flags.DEFINE_integer("filters", 36, "Initial filters of the full-size network.")
flags.DEFINE_integer("epochs", 10, "Fine-tuning epochs.")
flags.DEFINE_integer("num_samples", 16, "K, architectures sampled per step.")
flags.DEFINE_integer("batch_size", 96, "Examples per train and per search batch.")
flags.DEFINE_float("architecture_learning_rate", 0.01, "Adam learning rate of pi.")
flags.DEFINE_float("auxiliary_weight", 0.4, "Weight of the auxiliary head's loss.")
flags.DEFINE_integer("cutout_size", 16, "Cutout square side on the batches.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_string("data_dir", None, "tfds data directory.")
flags.DEFINE_string("directory", "runs", "Where the project goes.")
flags.DEFINE_string("project_name", "cifar10_finetune", "Project folder.")
flags.DEFINE_bool("smoke", False, "Run end to end on tfds mock data with a tiny network (no download).")
FLAGS = flags.FLAGS


def smoke_settings():
    """Tiny settings for --smoke: a 3-cell network, K=2, one epoch over 16 mock images."""
    FLAGS.num_cells, FLAGS.filters = 3, 4
    FLAGS.epochs, FLAGS.num_samples, FLAGS.batch_size = 1, 2, 8
    import tensorflow_datasets as tfds

    return tfds.testing.mock_data(num_examples=16, policy=tfds.testing.MockPolicy.USE_CODE)


def main(argv):
    del argv
    if FLAGS.prior:
        prior = kp.ArchitectureDistribution.load(FLAGS.prior)
    elif FLAGS.smoke:
        prior = kp.ArchitectureDistribution(kp.SearchSpace(num_cells=8, filters=16))
        print("No --prior: starting the smoke run from a uniform distribution over the paper's search space.")
    else:
        raise app.UsageError("--prior is required: the best_distribution.json that cifar10_search.py wrote.")
    with smoke_settings() if FLAGS.smoke else contextlib.nullcontext():
        images, labels = preprocessing.load_arrays("cifar10", "train", FLAGS.data_dir)
    x = preprocessing.normalize(images).numpy()
    space = kp.SearchSpace(
        num_cells=FLAGS.num_cells,
        filters=FLAGS.filters,
        num_nodes=prior.space.num_nodes,
        operations=prior.space.operations,
    )
    tuner = kp.ParsecTuner(
        space,
        num_samples=FLAGS.num_samples,
        seed=FLAGS.seed,
        prior=prior,
        auxiliary_weight=FLAGS.auxiliary_weight,
        architecture_learning_rate=FLAGS.architecture_learning_rate,
        directory=FLAGS.directory,
        project_name=FLAGS.project_name,
    )
    print(f"Fine-tuning the distribution of {prior.space} on {space}, {len(x)} CIFAR-10 images.")
    tuner.search(
        x,
        labels,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        num_classes=10,
        augment=preprocessing.search_augment(cutout_size=FLAGS.cutout_size),
        verbose=2,
    )
    tuner.results_summary(num_trials=1)
    before, after = prior.mode(), tuner.get_best_genotypes()[0]
    print(f"\nMode of the prior:      {before}\nMode after fine-tuning: {after}")
    genotype_path = os.path.join(tuner.project_dir, "best_genotype.json")
    with open(genotype_path, "w") as f:
        f.write(after.to_json())
    tuner.get_best_distribution().save(os.path.join(tuner.project_dir, "best_distribution.json"))
    print(f"Best genotype: {genotype_path}\nNext: python examples/cifar10_train.py --genotype={genotype_path}")


if __name__ == "__main__":
    app.run(main)
