"""Inference latency of final networks: end to end, and per choice as a `CostTable` named "latency_ms".

Every timing runs a `tf.function` (a graph, traced once) on one device and
reads one value of its output back, which waits for the device. A timing
sample is the mean of enough calls to last a few milliseconds; the reported
time is the median (or the minimum) of `repeats` samples, taken after warm-up calls. Functions
timed together are timed in turns (one sample of each per round), so that a
change of the machine's load reaches all of them alike.

`measure_latency_table` times each operation layer alone, at each (operation,
filters, stride, map size) a network of the given size runs, minus the time of
calling a function that does nothing, so that the call overhead is not counted
once per operation; one scale and `base` (the stem, cell preprocessing,
additions, classifier and one call) are then fitted to a few networks timed
end to end. Latency is not exactly
additive: how well the table ranks architectures is measured by
`benchmarks/latency.py` (figures in BENCHMARKS.md).
"""

import time

import numpy as np
import tensorflow as tf

from keras_parsec.distribution import ArchitectureDistribution
from keras_parsec.errors import invalid_argument, invalid_type, is_int
from keras_parsec.final.costs import CostTable, reference_network, tabulate
from keras_parsec.final.operations import operation_layer
from keras_parsec.genotype import Genotype, to_genotype

DEFAULT_REPEATS = 30
_WARMUP_CALLS = 3
_SAMPLE_SECONDS = 0.003  # a timing sample lasts at least this long: several calls of a fast function


def default_device() -> str:
    """The first GPU if TensorFlow sees one, else the CPU: "/GPU:0" or "/CPU:0"."""
    return "/GPU:0" if tf.config.list_logical_devices("GPU") else "/CPU:0"


def _check_device(device):
    if device is None:
        return default_device()
    fix = 'pass a device TensorFlow lists, e.g. "/CPU:0" or "/GPU:0", or None for the default'
    if not isinstance(device, str):
        raise invalid_type("device", "a TensorFlow device string", device, fix)
    try:
        spec = tf.DeviceSpec.from_string(device)
    except ValueError as e:
        raise invalid_argument("device", "a TensorFlow device string", device, fix) from e
    available = [tf.DeviceSpec.from_string(d.name) for d in tf.config.list_logical_devices()]
    kind, index = (spec.device_type or "").upper(), spec.device_index or 0
    if not any(d.device_type == kind and d.device_index == index for d in available):
        names = [d.to_string() for d in available]
        raise invalid_argument("device", f"one of this machine's devices {names}", device, fix)
    return f"/{kind}:{index}"


def _check_count(name, value, minimum, example):
    if not is_int(value) or value < minimum:
        raise invalid_argument(name, f"an int >= {minimum}", value, f"pass e.g. {name}={example}")
    return int(value)


def _probe(outputs):
    """One value of `outputs`: reading it back waits for the device, and costs nothing to copy."""
    return outputs[(0,) * len(outputs.shape)]


class _Timer:
    """Times calls of `function(inputs)`; `sample()` is the mean seconds per call over a short block."""

    def __init__(self, function, inputs):
        self.function, self.inputs = function, inputs
        for _ in range(_WARMUP_CALLS):
            function(inputs).numpy()
        start = time.perf_counter()
        function(inputs).numpy()
        self.number = max(1, int(_SAMPLE_SECONDS / max(time.perf_counter() - start, 1e-6)))

    def sample(self):
        start = time.perf_counter()
        for _ in range(self.number):
            self.function(self.inputs).numpy()
        return (time.perf_counter() - start) / self.number


_STATISTICS = {"median": np.median, "min": np.min}


def _check_statistic(statistic):
    if not isinstance(statistic, str) or statistic not in _STATISTICS:
        raise invalid_argument(
            "statistic", f"one of {sorted(_STATISTICS)}", statistic, 'pass "min" on a machine other work loads'
        )
    return statistic


def _time_ms(timers, repeats, statistic):
    """Milliseconds per call of each timer: `statistic` of `repeats` samples, taken in turns."""
    samples = np.zeros((repeats, len(timers)))
    for r in range(repeats):
        for i, timer in enumerate(timers):
            samples[r, i] = timer.sample()
    return 1000.0 * _STATISTICS[statistic](samples, axis=0)


def _timer(call, shape, device):
    """A `_Timer` of `tf.function(call)` on random inputs of `shape`, on `device`."""
    with tf.device(device):
        inputs = tf.random.normal(shape)
        function = tf.function(lambda x: _probe(call(x)))
        return _Timer(function, inputs)


def _network_timer(model, device, batch_size):
    return _timer(lambda x: model(x, training=False), (batch_size, *model.image_shape), device)


def _models(models_or_genotypes, input_shape, num_classes, network_kwargs, device):
    from keras_parsec.final.networks import CellNetwork

    models, given_size = [], {"input_shape": input_shape, "num_classes": num_classes}
    for item in models_or_genotypes:
        if isinstance(item, CellNetwork):
            given = {**given_size, **network_kwargs}
            given = {key: value for key, value in given.items() if value is not None}
            if given:
                raise invalid_argument(
                    "network_kwargs",
                    "no input_shape, num_classes or network arguments when a built CellNetwork is passed",
                    given,
                    "pass the genotype instead to build a network of another size",
                )
            models.append(item)
            continue
        arguments = {"num_classes": 10, **network_kwargs}
        arguments.update({key: value for key, value in given_size.items() if value is not None})
        with tf.device(device):
            models.append(CellNetwork(to_genotype(item, "model_or_genotype"), **arguments))
    return models


def measure_latency(
    model_or_genotype,
    input_shape=None,
    num_classes=None,
    device=None,
    batch_size: int = 1,
    repeats: int = DEFAULT_REPEATS,
    statistic: str = "median",
    **network_kwargs,
):
    """End-to-end inference latency of final networks, in milliseconds.

    The network runs in inference mode inside a `tf.function` on `device`;
    the time includes one function call.

    Args:
        model_or_genotype: a built `CellNetwork`, a `Genotype` (or its dict),
            or a list of them, timed in turns.
        input_shape: for a genotype, `(height, width, channels)` of the images
            (default: `CellNetwork`'s, 32x32x3).
        num_classes: for a genotype, the classes (default 10).
        device: a TensorFlow device string, "/CPU:0" or "/GPU:0"; default the
            first GPU if any, else the CPU.
        batch_size: images per call.
        repeats: timing samples.
        statistic: "median" of the samples, or "min" (steadier while other
            work loads the machine, see BENCHMARKS.md).
        **network_kwargs: for a genotype, other `CellNetwork` arguments
            (num_cells, filters, stem...).

    Returns:
        The milliseconds per call, a float; for a list, a float64 array
        of one per item.

    Example:

    ```python
    measure_latency([DARTS_V1, DARTS_V2], num_cells=8, filters=16, device="/CPU:0")
    ```
    """
    device = _check_device(device)
    batch_size = _check_count("batch_size", batch_size, 1, 8)
    repeats = _check_count("repeats", repeats, 1, DEFAULT_REPEATS)
    statistic = _check_statistic(statistic)
    many = isinstance(model_or_genotype, (list, tuple)) and not isinstance(model_or_genotype, Genotype)
    items = list(model_or_genotype) if many else [model_or_genotype]
    models = _models(items, input_shape, num_classes, network_kwargs, device)
    latencies = _time_ms([_network_timer(model, device, batch_size) for model in models], repeats, statistic)
    return latencies if many else float(latencies[0])


def measure_latency_table(
    space,
    input_shape=(32, 32, 3),
    num_classes: int = 10,
    device=None,
    batch_size: int = 1,
    repeats: int = DEFAULT_REPEATS,
    statistic: str = "median",
    calibration: int = 3,
    seed: int = 0,
    **network_kwargs,
) -> CostTable:
    """Measured inference latency of every choice of `space`, a `CostTable` named "latency_ms".

    Each entry is the sum, over the cells of its type, of the median time of
    its operation layer alone (at that cell's filters, stride and map size)
    minus the time of an empty call, then multiplied by one `scale` that,
    with `base`, fits `base + scale * sum` (least squares) to the end-to-end
    latency of the network of the first choices and of `calibration`
    architectures sampled uniformly. Without calibration networks the scale is
    1 and `base` the first network's latency minus its sum.

    Args:
        space: the `SearchSpace` whose choices index the table.
        input_shape: `(height, width, channels)` of the images.
        num_classes: classes of the classifier.
        device: a TensorFlow device string; default the first GPU, else the CPU.
        batch_size: images per call.
        repeats: timing samples per operation and per network.
        statistic: "median" or "min" of each one's samples.
        calibration: sampled architectures that `base` and the scale are fitted on, >= 0.
        seed: seed of those samples.
        **network_kwargs: other `CellNetwork` arguments (num_cells, filters,
            stem...; default the CIFAR-10 network's 20 cells, 36 filters).

    Returns:
        A `CostTable` in milliseconds; `measurement` records the device, the
        batch size, the repeats, the empty call's time, the scale and the
        calibration networks' measured latencies and unscaled table sums.

    Example:

    ```python
    table = measure_latency_table(space, num_cells=8, filters=16, device="/CPU:0")
    table.cost(distribution.sample_choices(64))  # predicted ms of 64 samples
    ```
    """
    device = _check_device(device)
    batch_size = _check_count("batch_size", batch_size, 1, 8)
    repeats = _check_count("repeats", repeats, 1, DEFAULT_REPEATS)
    statistic = _check_statistic(statistic)
    calibration = _check_count("calibration", calibration, 0, 3)
    arguments = {**network_kwargs, "input_shape": input_shape, "num_classes": num_classes}
    arguments.update(auxiliary_weight=0.0, drop_path_rate=0.0)
    with tf.device(device):
        model, first = reference_network(space, arguments)

    keys = set()
    tabulate(space, model, lambda *key: keys.add(key) or 0.0)
    keys = sorted(keys)
    shapes = sorted({(batch_size, height, width, filters) for _, filters, _, height, width in keys})
    timers = [_timer(lambda x: x, shape, device) for shape in shapes]
    for operation, filters, strides, height, width in keys:
        with tf.device(device):
            layer = operation_layer(operation, filters, strides)
            layer.build((batch_size, height, width, filters))
        timers.append(
            _timer(lambda x, layer=layer: layer(x, training=False), (batch_size, height, width, filters), device)
        )
    times = _time_ms(timers, repeats, statistic)
    overhead = dict(zip(shapes, times[: len(shapes)]))
    latency = {
        key: max(0.0, time_ms - overhead[(batch_size, key[3], key[4], key[1])])
        for key, time_ms in zip(keys, times[len(shapes) :])
    }
    table = tabulate(space, model, lambda *key: latency[key])

    distribution = ArchitectureDistribution(space)
    choices = first[None]
    if calibration:
        choices = np.concatenate([choices, distribution.sample_choices(calibration, seed=seed).numpy()])
    genotypes = [distribution.choices_to_genotype(c) for c in choices[1:]]
    models = [model, *_models(genotypes, None, None, arguments, device)]
    measured = _time_ms([_network_timer(m, device, batch_size) for m in models], repeats, statistic)
    summed = CostTable("latency_ms", 0.0, table, space).cost(choices)
    base, scale = _fit(summed, measured)
    measurement = {
        "device": device,
        "batch_size": batch_size,
        "repeats": repeats,
        "statistic": statistic,
        "empty_call_ms": float(np.median(times[: len(shapes)])),
        "scale": scale,
        "calibration_ms": measured.tolist(),
        "calibration_table_sums_ms": summed.tolist(),
    }
    return CostTable("latency_ms", base, scale * table, space, arguments, measurement)


def _fit(summed, measured):
    """`(base, scale)` with `measured ~ base + scale * summed`: least squares, or scale 1 where it cannot fit.

    Operations timed alone take longer than inside one network's graph (each
    alone pays its own scheduling and allocation), so the fitted scale is
    usually below 1; it orders nothing differently, it only moves the
    predictions onto the measured milliseconds.
    """
    if len(summed) > 1 and np.ptp(summed) > 0:
        scale, base = np.polyfit(summed, measured, 1)
        if scale > 0:
            return float(base), float(scale)
    return float(np.median(measured - summed)), 1.0
