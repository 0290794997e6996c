"""Quickstart: the Python API on scikit-learn's digits (offline, a few minutes on a CPU).

    python examples/quickstart_digits.py --epochs=10
    python examples/quickstart_digits.py --smoke      # seconds: one epoch each, K=2, 600 digits

Searches a small DARTS space with `ParsecTuner`, prints per epoch the weighted
training loss, the entropy of p(alpha | pi) and the validation accuracy of the
mode architecture, then trains the best genotype from scratch as a
`CellNetwork` and evaluates it on held-out digits.
"""

import keras
from absl import app, flags

import keras_parsec as kp
from keras_parsec.data.arrays import load_digits_images

flags.DEFINE_integer("epochs", 10, "Search epochs.")
flags.DEFINE_integer("train_epochs", 10, "Epochs of the final network.")
flags.DEFINE_integer("num_samples", 4, "K, architectures sampled per step.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_string("directory", "runs", "Where the project goes.")
flags.DEFINE_bool("smoke", False, "A seconds-long run: 600 digits, one search and one training epoch, K=2.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    images, labels = load_digits_images()
    epochs, train_epochs, num_samples = FLAGS.epochs, FLAGS.train_epochs, FLAGS.num_samples
    if FLAGS.smoke:
        images, labels, epochs, train_epochs, num_samples = images[:600], labels[:600], 1, 1, 2
    (x, y), (x_test, y_test) = kp.split_train_search(images, labels, search_fraction=0.2, seed=FLAGS.seed)

    space = kp.SearchSpace(num_cells=3, filters=8)
    tuner = kp.ParsecTuner(
        space,
        num_samples=num_samples,
        seed=FLAGS.seed,
        directory=FLAGS.directory,
        project_name="quickstart_digits",
    )
    tuner.search(x, y, epochs=epochs, batch_size=64, verbose=2)  # train/search halves split inside
    tuner.results_summary()
    genotype = tuner.get_best_genotypes()[0]

    keras.utils.set_random_seed(FLAGS.seed)
    # The paper's recipe (cosine SGD, auxiliary head, drop path) at the searched size, for fewer epochs.
    model = tuner.train_best_model(x, y, epochs=train_epochs, batch_size=64, verbose=2)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"\nBest genotype: {genotype}\nTrained from scratch: test accuracy {accuracy:.4f}")


if __name__ == "__main__":
    app.run(main)
