"""What the digits benchmarks share: one split of scikit-learn's digits and one small from-scratch recipe.

`figure3.py`, `budget.py` and `ensemble.py` search on the first `examples` digits of one fixed
permutation, select on the next `validation`, and score networks trained from scratch on the
rest, which no search saw.
"""

import numpy as np


def splits(examples, validation):
    """`(((x, y), (x_val, y_val)), (x_test, y_test))` of the digits, in one fixed order (seed 0)."""
    import keras_parsec as kp

    images, labels = kp.data.load_digits_images()
    order = np.random.default_rng(0).permutation(len(images))
    used, held = order[:examples], order[examples : examples + validation]
    test = order[examples + validation :]
    return ((images[used], labels[used]), (images[held], labels[held])), (images[test], labels[test])


def small_recipe(num_cells, filters, epochs, batch_size, image_size):
    """The final-training recipe of the digits benchmarks: no auxiliary head, no drop path."""
    import keras_parsec as kp

    return kp.Recipe(
        num_cells=num_cells,
        filters=filters,
        epochs=epochs,
        batch_size=batch_size,
        auxiliary_weight=0.0,
        drop_path_rate=0.0,
        image_size=image_size,
    )


def from_scratch(genotype, data, test, seed, recipe):
    """Held-out accuracy of `genotype` trained from scratch on train + validation with `recipe` and seed `seed`."""
    import keras

    import keras_parsec as kp

    (x, y), validation = data
    keras.utils.set_random_seed(seed)
    model = kp.train_final_network(
        genotype, np.concatenate([x, validation[0]]), np.concatenate([y, validation[1]]),
        num_classes=10, input_shape=x.shape[1:], recipe=recipe, verbose=0,
    )  # fmt: skip
    return float(model.evaluate(*test, verbose=0)[1])
