"""Paper 4.1/4.2: train a found genotype from scratch on CIFAR-10 at full size (DARTS' protocol).

    python examples/cifar10_train.py --genotype=runs/cifar10_finetune/best_genotype.json
    python examples/cifar10_train.py --genotype=DARTS_V2                  # a published cell
    python examples/cifar10_train.py --smoke                             # tfds mock data, tiny network

20 cells, 36 filters, auxiliary head 0.4, drop path 0.4 (ramped linearly over
the epochs as in DARTS' code), cutout 16, batch 96, SGD momentum 0.9 with
cosine learning rate from 0.025, weight decay 3e-4, gradient clipping 5, 600
epochs: `kp.CIFAR10_RECIPE` over plain `model.fit`. Saves the model (.keras)
and a SavedModel without the auxiliary head.
"""

import contextlib
import dataclasses
import os

import keras
from absl import app, flags

import keras_parsec as kp
from keras_parsec.data import preprocessing

_DEFAULT = kp.CIFAR10_RECIPE
flags.DEFINE_string(
    "genotype", None, "Genotype JSON file, or DARTS_V1 / DARTS_V2 (required, except with --smoke: DARTS_V2)."
)
flags.DEFINE_integer("num_cells", _DEFAULT.num_cells, "Cells.")
flags.DEFINE_integer("filters", _DEFAULT.filters, "Initial filters.")
flags.DEFINE_integer("epochs", _DEFAULT.epochs, "Epochs.")
flags.DEFINE_integer("batch_size", _DEFAULT.batch_size, "Batch size.")
flags.DEFINE_float("learning_rate", _DEFAULT.learning_rate, "Initial learning rate (cosine to 0).")
flags.DEFINE_float("weight_decay", _DEFAULT.weight_decay, "L2 weight decay.")
flags.DEFINE_float("auxiliary_weight", _DEFAULT.auxiliary_weight, "Auxiliary head weight (0: no head).")
flags.DEFINE_float("drop_path_rate", _DEFAULT.drop_path_rate, "Drop path rate (DARTS' text: 0.2).")
flags.DEFINE_bool("drop_path_ramp", _DEFAULT.drop_path_ramp, "Raise drop path linearly over the epochs.")
flags.DEFINE_integer("cutout_size", _DEFAULT.cutout_size, "Cutout square side (0: none).")
flags.DEFINE_integer("seed", 0, "Seed of the weights and the shuffles.")
flags.DEFINE_string("data_dir", None, "tfds data directory.")
flags.DEFINE_string("output", "runs/cifar10_train", "Where the model and the SavedModel go.")
flags.DEFINE_bool("smoke", False, "Run end to end on tfds mock data with a tiny network (no download).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if not FLAGS.genotype and not FLAGS.smoke:
        raise app.UsageError("--genotype is required: a genotype JSON file (best_genotype.json), DARTS_V1 or DARTS_V2.")
    genotype = kp.Genotype.load(FLAGS.genotype or "DARTS_V2")
    recipe = dataclasses.replace(
        _DEFAULT,
        num_cells=FLAGS.num_cells,
        filters=FLAGS.filters,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        weight_decay=FLAGS.weight_decay,
        auxiliary_weight=FLAGS.auxiliary_weight,
        drop_path_rate=FLAGS.drop_path_rate,
        drop_path_ramp=FLAGS.drop_path_ramp,
        cutout_size=FLAGS.cutout_size,
    )
    mock, num_train, compile_kwargs = contextlib.nullcontext(), 50_000, {}
    if FLAGS.smoke:  # 3 cells, 4 filters, one epoch of 2 steps on mock data, eager (no graph to trace)
        import tensorflow_datasets as tfds

        recipe = dataclasses.replace(recipe, num_cells=3, filters=4, epochs=1, batch_size=8)
        num_train, compile_kwargs = 16, {"run_eagerly": True}
        mock = tfds.testing.mock_data(num_examples=num_train, policy=tfds.testing.MockPolicy.USE_CODE)
    keras.utils.set_random_seed(FLAGS.seed)
    with mock:
        train, test = preprocessing.cifar10_datasets(recipe.batch_size, recipe.cutout_size, FLAGS.data_dir, FLAGS.seed)
        model = kp.build_final_network(genotype, recipe, num_classes=10)
        params = kp.count_params(model) / 1e6
        print(f"{genotype}\n{recipe.num_cells} cells, {recipe.filters} filters: {params:.2f}M params")
        kp.compile_final_network(model, recipe, steps_per_epoch=num_train // recipe.batch_size, **compile_kwargs)
        model.fit(train, validation_data=test, epochs=recipe.epochs, callbacks=kp.final_callbacks(recipe), verbose=2)
        loss, accuracy = model.evaluate(test, verbose=0)
    os.makedirs(FLAGS.output, exist_ok=True)
    model_path = os.path.join(FLAGS.output, "model.keras")
    model.save(model_path)
    exported = os.path.join(FLAGS.output, "exported")
    model.export(exported, verbose=False)
    print(f"Test accuracy {accuracy:.4f} (error {100 * (1 - accuracy):.2f}%), loss {loss:.4f}")
    print(f"Saved {model_path}; SavedModel (main classifier only) in {exported}")


if __name__ == "__main__":
    app.run(main)
