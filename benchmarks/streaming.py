"""Peak memory of a search over a streamed dataset, against the array path, at two dataset sizes.

Each case runs in its own fresh subprocess and reports the process' peak
resident memory (`VmHWM` of /proc/self/status) and its resident memory after
the imports (the baseline every case shares):

- stream: `ParsecTuner.search` on a `tf.data.Dataset.range(n).map(...)` of
  32x32x3 uint8 images made on the fly (never held anywhere), `num_classes=10`,
  `steps_per_epoch` batches of 64, one epoch, scored on 256 other streamed images;
- arrays: the same images as one NumPy array, through the array path's
  `prepare_search_data` and `search_dataset` and the same number of batches
  (not a whole search: its epoch is one pass, 390 steps at 50,000 images,
  and the data's memory is all held before the first step).

    python benchmarks/streaming.py                        # 5,000 and 50,000 images
    python benchmarks/streaming.py --sizes=5000,50000,200000 --steps=8
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app, flags

flags.DEFINE_list("sizes", ["5000", "50000"], "Dataset sizes (images).")
flags.DEFINE_integer("steps", 4, "Search steps (batches of 64) per case.")
flags.DEFINE_integer("shuffle_buffer", 1024, "Examples in each half's shuffle buffer (the stream's).")
flags.DEFINE_string("case", None, "Internal: run one case ('stream' or 'arrays') in this process.")
flags.DEFINE_integer("size", None, "Internal: the case's dataset size.")
FLAGS = flags.FLAGS
BATCH = 64


def _status_kib(field):
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))


def _images(start, stop):
    """A dataset of `(uint8 image [32, 32, 3], label)` computed from each index, never stored."""
    import tensorflow as tf

    def example(index):
        pixels = tf.random.stateless_uniform([32, 32, 3], seed=tf.stack([index, index]), maxval=256, dtype=tf.int32)
        return tf.cast(pixels, tf.uint8), tf.cast(index % 10, tf.int32)

    return tf.data.Dataset.range(start, stop).map(example)


def _space():
    import keras_parsec as kp

    return kp.SearchSpace(num_cells=2, filters=4, num_nodes=2, operations=("max_pool_3x3", "skip_connect"))


def _run_case(case, size):
    import numpy as np

    import keras_parsec as kp
    from keras_parsec.data import arrays

    baseline = _status_kib("VmRSS")
    begin = time.perf_counter()
    if case == "stream":
        with tempfile.TemporaryDirectory() as directory:
            tuner = kp.ParsecTuner(_space(), num_samples=2, seed=1, directory=directory, project_name="p")
            tuner.search(
                _images(0, size),
                validation_data=_images(size, size + 256).batch(BATCH),
                num_classes=10,
                steps_per_epoch=FLAGS.steps,
                shuffle_buffer=FLAGS.shuffle_buffer,
                epochs=1,
                batch_size=BATCH,
                verbose=0,
            )
    else:
        images, labels = (np.concatenate(part) for part in zip(*_images(0, size).batch(4096).as_numpy_iterator()))
        train, search, _, _ = arrays.prepare_search_data(images, labels, None, None, BATCH, 10, _space(), 1)
        del images, labels
        for _ in arrays.search_dataset(train, search, BATCH, seed=1, epochs=1).take(FLAGS.steps):
            pass
    return {
        "case": case,
        "size": size,
        "baseline_mib": baseline / 1024,
        "peak_mib": _status_kib("VmHWM") / 1024,
        "seconds": time.perf_counter() - begin,
    }


def main(argv):
    del argv
    if FLAGS.case:
        print("RESULT " + json.dumps(_run_case(FLAGS.case, FLAGS.size)), flush=True)
        return
    results = {}
    for case in ("stream", "arrays"):
        for size in (int(s) for s in FLAGS.sizes):
            command = [sys.executable, os.path.abspath(__file__), f"--case={case}", f"--size={size}"]
            command += [f"--steps={FLAGS.steps}", f"--shuffle_buffer={FLAGS.shuffle_buffer}"]
            out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            result = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT "))[7:])
            results[case, size] = result
            print(
                f"{case:6s} {size:>7,d} images: peak RSS {result['peak_mib']:7.0f} MiB "
                f"(after imports {result['baseline_mib']:5.0f} MiB), {result['seconds']:5.1f} s",
                flush=True,
            )
    small, large = (int(s) for s in (FLAGS.sizes[0], FLAGS.sizes[-1]))
    for case in ("stream", "arrays"):
        ratio = results[case, large]["peak_mib"] / results[case, small]["peak_mib"]
        print(f"{case}: peak at {large:,d} / peak at {small:,d} = {ratio:.2f}")


if __name__ == "__main__":
    app.run(main)
