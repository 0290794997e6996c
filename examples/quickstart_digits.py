"""Quickstart: a PARSEC search on scikit-learn's digits (offline, a few minutes on a CPU).

    python examples/quickstart_digits.py --epochs=10

Searches a small DARTS space on 8x8 digit images with Algorithm 1 and prints,
per epoch, the weighted training loss, the entropy of p(alpha | pi) and the
validation accuracy of the mode architecture; then the best genotype, saved
as JSON beside the learnt distribution.
"""

import os

import keras
from absl import app, flags

import keras_parsec as kp

flags.DEFINE_integer("epochs", 10, "Search epochs.")
flags.DEFINE_integer("num_samples", 4, "K, architectures sampled per step.")
flags.DEFINE_integer("num_cells", 3, "Cells of the search network.")
flags.DEFINE_integer("filters", 8, "Initial filters.")
flags.DEFINE_integer("batch_size", 64, "Examples per train and per search batch.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("output_dir", "runs/quickstart_digits", "Where the genotype and distribution go.")
FLAGS = flags.FLAGS


def load_digits_images():
    """Digits as float32 images [N, 8, 8, 1] in [0, 1] and int labels, from scikit-learn's copy."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return (digits.images[..., None] / 16.0).astype("float32"), digits.target.astype("int32")


def main(argv):
    del argv
    keras.utils.set_random_seed(FLAGS.seed)
    images, labels = load_digits_images()
    held_out = len(images) // 5
    validation = images[:held_out], labels[:held_out]
    train, search = kp.split_train_search(images[held_out:], labels[held_out:], seed=FLAGS.seed)
    space = kp.SearchSpace(num_cells=FLAGS.num_cells, filters=FLAGS.filters)
    net = kp.SuperNet(space, num_classes=10, num_samples=FLAGS.num_samples, seed=FLAGS.seed)
    net.build((None,) + images.shape[1:])
    net.compile()
    print(f"Searching {space} with K={FLAGS.num_samples} on {len(train[0])} train / "
          f"{len(search[0])} search / {held_out} validation digits.")
    history = net.fit(
        kp.search_dataset(train, search, batch_size=FLAGS.batch_size, seed=FLAGS.seed),
        validation_data=validation,
        epochs=FLAGS.epochs,
        verbose=2,
    )
    genotype = net.distribution.mode()
    os.makedirs(FLAGS.output_dir, exist_ok=True)
    genotype_path = os.path.join(FLAGS.output_dir, "genotype.json")
    with open(genotype_path, "w") as f:
        f.write(genotype.to_json())
    distribution_path = os.path.join(FLAGS.output_dir, "distribution.json")
    net.distribution.save(distribution_path)
    print(f"\nBest genotype (mode of p(alpha | pi)):\n{genotype}")
    print(f"Mode validation accuracy: {history.history['val_accuracy'][-1]:.3f}; "
          f"entropy {history.history['entropy'][0]:.2f} -> {history.history['entropy'][-1]:.2f} nats")
    print(f"Saved {genotype_path} and {distribution_path}")


if __name__ == "__main__":
    app.run(main)
