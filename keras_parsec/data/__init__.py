"""Data for a search and for final training.

arrays          NumPy arrays and in-memory inputs to a search: the train/search split, the paired batches
streaming       a `tf.data.Dataset` searched as it is read: split by index, bounded shuffles, resumable order
examples        one streamed example: its spec checked, its classes counted, its normalisation
preprocessing   tensorflow-datasets pipelines: CIFAR crop/flip/cutout, ImageNet crops
"""

from keras_parsec.data import arrays, preprocessing, streaming
from keras_parsec.data.arrays import load_digits_images, search_dataset, split_train_search

__all__ = ["arrays", "load_digits_images", "preprocessing", "search_dataset", "split_train_search", "streaming"]
