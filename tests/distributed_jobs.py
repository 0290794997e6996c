"""Jobs that tests/test_distributed.py runs in their own processes (TF must start fresh).

`python tests/distributed_jobs.py JOB OUTPUT` runs one job and writes its result
to OUTPUT; nothing here downloads anything.
"""

import json
import os
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

if sys.argv[1] in ("mirrored", "mirrored_compiled"):
    # Two logical CPU devices: must happen before TensorFlow initialises its devices.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import keras  # noqa: E402

keras.config.disable_traceback_filtering()

import keras_parsec as kp  # noqa: E402
from keras_parsec import distribution as dist_lib  # noqa: E402
from keras_parsec.data import arrays as data_lib  # noqa: E402

SPACE = kp.SearchSpace(num_cells=1, filters=4)
ORIGINAL_IMPORTANCE_WEIGHTS = dist_lib.importance_weights


def tiny_data(n=16, classes=3):
    rng = np.random.default_rng(0)
    return rng.random((n, 8, 8, 1), np.float32), rng.integers(0, classes, n).astype(np.int32)


def record_importance_weights():
    """Wraps `importance_weights` so every step's weights are kept, in order."""
    recorded = []
    original = dist_lib.importance_weights

    def recording(log_likelihoods):
        weights = original(log_likelihoods)
        recorded.append(weights.numpy())
        return weights

    dist_lib.importance_weights = recording
    return recorded


def tiny_supernet(strategy, engine=kp.search.EagerSuperNet):
    keras.utils.set_random_seed(1)
    with strategy.scope():
        net = engine(SPACE, 3, num_samples=3, seed=5)
        net.build((None, 8, 8, 1))
        net.compile(weight_optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    return net


def grouped_reference_step(net, batch, groups):
    """Algorithm 1 on one device, each batch normalised in `groups` parts as R replicas do."""
    (x_train, y_train), (x_search, y_search) = batch
    size = len(y_train) // groups
    parts = [slice(i * size, (i + 1) * size) for i in range(groups)]
    choices = net.sample_choices()
    log_likelihoods = sum(net.search_log_likelihoods(x_search[p], y_search[p], choices) for p in parts)
    weights = dist_lib.importance_weights(log_likelihoods)
    summed = {}
    for p in parts:
        pairs, _, _, _ = net.weighted_gradients(x_train[p], y_train[p], choices, weights, normalizer=1.0)
        for variable, gradient in pairs:
            summed[id(variable)] = (variable, summed.get(id(variable), (variable, 0.0))[1] + gradient)
    net.apply_step([(v, g / float(len(y_train))) for v, g in summed.values()], choices, weights)


def mirrored(output):
    """Two replicas against one device on the same global batches and seed, in three cases.

    plain: as sampled; duplicates: the second of three samples repeats the
    first; nonfinite: on the second replica only, the train loss of the second
    sample is NaN (the reference gives it log-likelihood -inf instead).
    """
    save_three_cases(output, compare_with_one_device)


def save_three_cases(output, compare):
    """`compare(strategy, case)` on two logical CPUs for each case, saved to `output` as `{case}_{key}`."""
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    results = {"replicas": strategy.num_replicas_in_sync}
    for case in ("plain", "duplicates", "nonfinite"):
        for key, value in compare(strategy, case).items():
            results[f"{case}_{key}"] = value
    np.savez(output, **results)


def two_step_dataset():
    """The same two global batches for every run: 8 train and 8 search images, batch 4."""
    images, labels = tiny_data()
    return data_lib.search_dataset((images[:8], labels[:8]), (images[8:], labels[8:]), 4, seed=0, epochs=1)


def compare_with_one_device(strategy, case, steps=2):
    recorded = record_importance_weights()
    replicated = tiny_supernet(strategy)
    reference = tiny_supernet(tf.distribute.get_strategy())
    calls = count_train_passes(replicated)
    if case != "plain":
        choices = reference.sample_choices()
        choices[1] = choices[0] if case == "duplicates" else choices[1]
        replicated.sample_choices = reference.sample_choices = lambda: choices.copy()
    if case == "nonfinite":
        poison_on_second_replica(replicated, choices[1])
        give_minus_infinity(reference, choices[1])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        replicated.fit(two_step_dataset(), epochs=1, steps_per_epoch=steps, verbose=0)
    results = run_reference(reference, replicated, grouped_reference_step, strategy, steps, recorded, caught)
    copies = replicated.distribution.logits.value.values  # pi's copy on each replica
    return results | {
        "weight_error": max(
            float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in zip(replicated.weights, reference.weights)
        ),
        "copies_error": max(float(np.max(np.abs(c.numpy() - copies[0].numpy()))) for c in copies),
        "train_passes": calls["train"],
        "search_passes": calls["search"],
    }


def run_reference(reference, replicated, reference_step, strategy, steps, recorded, caught):
    """Runs `reference_step` on one device over the same batches; the results both engines' jobs compare.

    `recorded` holds the importance weights of the replicated run so far; it
    collects the reference's, and the recording is undone.
    """
    replicated_weights = list(recorded)
    recorded.clear()
    reference.build_optimizers()
    for batch in two_step_dataset().take(steps):
        reference_step(reference, batch, strategy.num_replicas_in_sync)
    dist_lib.importance_weights = ORIGINAL_IMPORTANCE_WEIGHTS
    return {
        "logits": replicated.distribution.logits.numpy(),
        "reference_logits": reference.distribution.logits.numpy(),
        "importance": np.stack(replicated_weights),
        "reference_importance": np.stack(recorded),
        "nonfinite_warnings": sum("NaN or infinite" in str(w.message) for w in caught),
    }


def grouped_compiled_reference_step(net, batch, groups):
    """Algorithm 1 on one device from the compiled pieces, each batch normalised in `groups` parts.

    No merging of repeats and no NaN handling: a repeated sample runs twice,
    and an architecture of weight 0 is left out (what the replicas must equal).
    """
    (x_train, y_train), (x_search, y_search) = batch
    size = len(y_train) // groups
    parts = [slice(i * size, (i + 1) * size) for i in range(groups)]
    choices = net.sample_choices()
    log_likelihoods = sum(net.search_log_likelihoods(x_search[p], y_search[p], choices) for p in parts)
    weights = dist_lib.importance_weights(log_likelihoods)
    net._zero()
    used = {}
    for k, architecture in enumerate(choices):
        if float(weights[k]) == 0.0:
            continue
        for key, rows in net.shared.used_rows(architecture).items():
            used.setdefault(key, set()).update(rows)
        for p in parts:
            net._accumulate_passes(x_train[p], y_train[p], [(tf.constant(architecture, tf.int32), weights[k])])
    net._apply_accumulated(used, tf.constant(1.0 / len(y_train)))
    kp.search.algorithm.update_distribution(net.architecture_optimizer, net.distribution, choices, weights)


def mirrored_compiled(output):
    """The compiled engine: two replicas against one device, in the three cases of `mirrored`."""
    save_three_cases(output, compare_compiled_with_one_device)


def compare_compiled_with_one_device(strategy, case, steps=2):
    images, labels = tiny_data()
    recorded = record_importance_weights()
    replicated = tiny_supernet(strategy, kp.search.SuperNet)
    reference = tiny_supernet(tf.distribute.get_strategy(), kp.search.SuperNet)
    for mine, theirs in zip(reference.executor.variables, replicated.executor.variables):
        mine.assign(theirs.numpy())
    passes = {"train": 0}
    accumulate = replicated._accumulate
    if case != "plain":
        choices = reference.sample_choices()
        choices[1] = choices[0] if case == "duplicates" else choices[1]
        replicated.sample_choices = reference.sample_choices = lambda: choices.copy()
    if case == "nonfinite":
        accumulate = poisoned_on_second_replica(replicated, choices[1])
        give_minus_infinity(reference, choices[1])

    replicated._accumulate = accumulate
    run = replicated.replicas.run

    def counting(function, *args):
        passes["train"] += function is accumulate  # one call runs every replica
        return run(function, *args)

    replicated.replicas.run = counting
    traces = count_pass_traces(replicated)
    traces_after_step = []
    record = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: traces_after_step.append(traces[0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        replicated.fit(two_step_dataset(), epochs=1, steps_per_epoch=steps, verbose=0, callbacks=[record])
        history = replicated.evaluate(images[:8], labels[:8], batch_size=4, verbose=0, return_dict=True)
    results = run_reference(reference, replicated, grouped_compiled_reference_step, strategy, steps, recorded, caught)
    copies = replicated.distribution.logits.value.values
    weight_copies = [v.value.values for v in replicated.executor.variables]
    return results | {
        "weight_error": max(
            float(np.max(np.abs(a.numpy() - b.numpy())))
            for a, b in zip(replicated.executor.variables, reference.executor.variables)
        ),
        "copies_error": max(
            float(np.max(np.abs(c.numpy() - group[0].numpy()))) for group in [copies] + weight_copies for c in group
        ),
        "train_passes": passes["train"],
        "evaluate_accuracy": history["accuracy"],
        "traces_after_step": np.array(traces_after_step),
    }


def count_pass_traces(net):
    """Counts how often a compiled function of `net` traces a pass (on every replica): `[count]`, kept up to date."""
    traces = [0]
    original = net.executor.pass_outputs

    def counting(*args, **kwargs):
        traces[0] += 1  # runs only while tracing: inside a compiled function this is Python
        return original(*args, **kwargs)

    net.executor.pass_outputs = counting
    return traces


def poisoned_on_second_replica(net, architecture):
    """The train pass of `net` with a NaN prefix for `architecture` on replica 1 only, as a `tf.function`."""
    original = net._accumulate_gradients

    def poisoned(images, labels, choices, weight, prefix, prefix_sums):
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        hit = tf.logical_and(tf.equal(replica, 1), tf.reduce_all(tf.equal(choices, architecture)))
        prefix = tuple(tf.where(hit, p * float("nan"), p) for p in prefix)  # the pass reads the images through it
        return original(images, labels, choices, weight, prefix, prefix_sums)

    return tf.function(poisoned, autograph=False)


def count_train_passes(net):
    """Counts the architectures `net` runs (all replicas together), search and train passes apart."""
    calls = {"search": 0, "train": 0}
    original = net.architecture_logits

    def counting(images, choices, recompute=None, prefix=None):
        calls["search" if recompute is False else "train"] += 1
        return original(images, choices, recompute, prefix)

    net.architecture_logits = counting
    return calls


def poison_on_second_replica(net, architecture):
    """NaN logits for `architecture`'s train passes on replica 1 only."""
    original = net.architecture_logits

    def poisoned(images, choices, recompute=None, prefix=None):
        logits = original(images, choices, recompute, prefix)
        context = tf.distribute.get_replica_context()
        replica = tf.get_static_value(context.replica_id_in_sync_group) if context else None
        if recompute is not False and replica == 1 and np.array_equal(choices, architecture):
            logits = logits * float("nan")
        return logits

    net.architecture_logits = poisoned


def give_minus_infinity(net, architecture):
    """The search log-likelihood -inf for `architecture`: weight 0, as a dropped architecture gets."""
    original = net.search_log_likelihoods

    def patched(images, labels, choices):
        hit = [np.array_equal(c, architecture) for c in choices]
        return tf.where(hit, float("-inf"), original(images, labels, choices))

    net.search_log_likelihoods = patched


class PauseBeforeSecondEpoch(keras.callbacks.Callback):
    """Signals through a file, then hangs, after the first epoch was saved: the test kills us there."""

    def __init__(self, marker):
        super().__init__()
        self.marker = marker

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            with open(self.marker, "w") as f:
                f.write(os.environ["KERASTUNER_TUNER_ID"])
            time.sleep(600)


def search_summary(tuner):
    """What a finished search gives on the process that holds the oracle, as JSON."""
    oracle = tuner.oracle
    best = tuner.get_best_genotypes()[0]
    return {
        "runs": oracle.runs,
        "statuses": {trial_id: trial.status for trial_id, trial in oracle.trials.items()},
        "best_genotype": best.to_dict(),
        "best_genotype_type": type(best).__name__,
        "best_distribution_type": type(tuner.get_best_distribution()).__name__,
        "best_logits": tuner.get_best_distribution().logits.numpy().tolist(),
    }


def tuner_search(output):
    """A small search; in Keras Tuner's distributed mode when KERASTUNER_* is set."""
    images, labels = tiny_data(24)
    tuner = kp.ParsecTuner(
        SPACE, num_samples=2, max_trials=2, seed=3, directory=os.environ["PARSEC_TEST_DIR"], project_name="p"
    )
    marker = os.environ.get("PARSEC_TEST_PAUSE")
    callbacks = [PauseBeforeSecondEpoch(marker)] if marker else []
    tuner.search(images, labels, epochs=2, batch_size=4, verbose=1, callbacks=callbacks)
    if "KERASTUNER_TUNER_ID" not in os.environ or "chief" in os.environ["KERASTUNER_TUNER_ID"]:
        with open(output, "w") as f:
            json.dump(search_summary(tuner), f)


def multi_worker(output):
    """One search across the workers of TF_CONFIG under MultiWorkerMirroredStrategy."""
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    images, labels = tiny_data(16)
    tuner = kp.ParsecTuner(
        SPACE,
        num_samples=2,
        seed=3,
        directory=os.environ["PARSEC_TEST_DIR"],
        project_name="p",
        distribution_strategy=strategy,
        engine=os.environ.get("PARSEC_TEST_ENGINE", "compiled"),
    )
    tuner.search(images, labels, epochs=1, batch_size=4, verbose=0)
    with open(output, "w") as f:
        json.dump(
            {"replicas": strategy.num_replicas_in_sync, "directory": tuner.project_dir, **search_summary(tuner)}, f
        )


if __name__ == "__main__":
    job, output = sys.argv[1], sys.argv[2]
    jobs = {"mirrored": mirrored, "mirrored_compiled": mirrored_compiled, "tuner": tuner_search}
    jobs["multi_worker"] = multi_worker
    jobs[job](output)
