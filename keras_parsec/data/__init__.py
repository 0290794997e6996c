"""Data for a search and for final training.

arrays          NumPy arrays and `tf.data` inputs to a search: the train/search split, the paired batches
preprocessing   tensorflow-datasets pipelines: CIFAR crop/flip/cutout, ImageNet crops
"""

from keras_parsec.data import arrays, preprocessing
from keras_parsec.data.arrays import load_digits_images, search_dataset, split_train_search

__all__ = ["arrays", "load_digits_images", "preprocessing", "search_dataset", "split_train_search"]
