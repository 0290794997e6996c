"""Paper 4.3: train a genotype found on CIFAR-10 on ImageNet in the mobile setting.

    python examples/imagenet_train.py --genotype=runs/cifar10_finetune/best_genotype.json \
        --manual_dir=/data/imagenet           # ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar
    python examples/imagenet_train.py --smoke                             # tfds mock data, tiny network

14 cells, 48 filters, 224x224 crops, the ImageNet stem, under 600M
multiply-adds (checked before training); DARTS' ImageNet settings: batch 128,
SGD momentum 0.9, learning rate 0.1 decayed by 0.97 per epoch, weight decay
3e-5, label smoothing 0.1, auxiliary head 0.4, gradient clipping 5; 600 epochs
as the paper states (DARTS trained 250). Data come from tfds `imagenet2012`
read from disk as training runs (never into memory).
"""

import contextlib
import dataclasses
import os

import keras
from absl import app, flags

import keras_parsec as kp
from keras_parsec.data import preprocessing

_DEFAULT = kp.IMAGENET_RECIPE
flags.DEFINE_string(
    "genotype", None, "Genotype JSON file, or DARTS_V1 / DARTS_V2 (required, except with --smoke: DARTS_V2)."
)
flags.DEFINE_integer("num_cells", _DEFAULT.num_cells, "Cells.")
flags.DEFINE_integer("filters", _DEFAULT.filters, "Initial filters.")
flags.DEFINE_integer("epochs", _DEFAULT.epochs, "Epochs (paper: 600; DARTS: 250).")
flags.DEFINE_integer("batch_size", _DEFAULT.batch_size, "Batch size.")
flags.DEFINE_float("learning_rate", _DEFAULT.learning_rate, "Initial learning rate (x0.97 per epoch).")
flags.DEFINE_float("label_smoothing", _DEFAULT.label_smoothing, "Label smoothing.")
flags.DEFINE_integer("image_size", _DEFAULT.image_size, "Side of the crops.")
flags.DEFINE_integer("seed", 0, "Seed.")
flags.DEFINE_string("data_dir", None, "tfds data directory.")
flags.DEFINE_string("manual_dir", None, "Folder with the manually downloaded ImageNet archives.")
flags.DEFINE_string("output", "runs/imagenet_train", "Where the model and the SavedModel go.")
flags.DEFINE_bool("smoke", False, "Run end to end on tfds mock data with a tiny network (no download).")
FLAGS = flags.FLAGS

NUM_CLASSES = 1000
NUM_TRAIN = 1_281_167


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
        label_smoothing=FLAGS.label_smoothing,
        image_size=FLAGS.image_size,
    )
    mock, num_train, compile_kwargs = contextlib.nullcontext(), NUM_TRAIN, {}
    if FLAGS.smoke:  # 3 cells, 4 filters, 32x32 crops, one epoch of 2 steps on mock data, eager
        import tensorflow_datasets as tfds

        recipe = dataclasses.replace(recipe, num_cells=3, filters=4, epochs=1, batch_size=4, image_size=32)
        num_train, compile_kwargs = 8, {"run_eagerly": True}
        mock = tfds.testing.mock_data(num_examples=num_train, policy=tfds.testing.MockPolicy.USE_CODE)
    keras.utils.set_random_seed(FLAGS.seed)
    with mock:
        train, validation = preprocessing.imagenet_datasets(
            recipe.batch_size, recipe.image_size, FLAGS.data_dir, FLAGS.manual_dir, FLAGS.seed
        )
        model = kp.build_final_network(genotype, recipe, num_classes=NUM_CLASSES)
        flops = kp.check_mobile_setting(model)  # raises above 600M multiply-adds
        print(f"{genotype}\n{kp.count_params(model) / 1e6:.2f}M params, {flops / 1e6:.1f}M multiply-adds")
        kp.compile_final_network(
            model,
            recipe,
            steps_per_epoch=num_train // recipe.batch_size,
            metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(5, name="top5")],
            **compile_kwargs,
        )
        model.fit(
            train, validation_data=validation, epochs=recipe.epochs, callbacks=kp.final_callbacks(recipe), verbose=2
        )
        results = model.evaluate(validation, verbose=0, return_dict=True)
    os.makedirs(FLAGS.output, exist_ok=True)
    model_path = os.path.join(FLAGS.output, "model.keras")
    model.save(model_path)
    print(f"Top-1 accuracy {results['accuracy']:.4f}, top-5 {results['top5']:.4f}. Saved {model_path}")


if __name__ == "__main__":
    app.run(main)
