"""Parallel search runs on Keras Tuner's distributed mode: the chief's server loop.

Keras Tuner's chief (`KERASTUNER_TUNER_ID` containing "chief") serves its
oracle over gRPC to workers started with the same `KERASTUNER_ORACLE_IP` and
`KERASTUNER_ORACLE_PORT`. `serve` runs Keras Tuner's own `OracleServicer`; it
differs from `keras_tuner`'s loop only in that it checks for the end every
`poll_seconds` instead of every 20 s, and stops the gRPC server when it returns.

Each worker writes its run record (pi, mode, entropy, history) and its
resumable search state to its trial folder in the shared project directory; the
chief's `ParsecOracle.end_trial` reads the record. A worker that dies keeps its
trial RUNNING on the chief: started again with the same `KERASTUNER_TUNER_ID`,
Keras Tuner gives it back the same trial, and `ParsecTuner` resumes it from its
last finished epoch. The other workers' results are on the chief already.
"""

import os
import time
from concurrent import futures

import tensorflow as tf

from keras_parsec import _upstream


def _distributed() -> bool:
    """True in Keras Tuner's distributed mode: `KERASTUNER_ORACLE_IP` set, with the variables it needs.

    Read from the environment variables Keras Tuner documents, with its own
    checks (`keras_tuner.src.distribute.utils.has_chief_oracle`, private).
    """
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return False
    for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        if name not in os.environ:
            raise RuntimeError(f'Environment variable "KERASTUNER_ORACLE_IP" was set, but "{name}" was not.')
    return True


def is_chief() -> bool:
    """True in the chief process of Keras Tuner's distributed mode."""
    return _distributed() and "chief" in os.environ["KERASTUNER_TUNER_ID"]


def is_worker() -> bool:
    """True in a worker process of Keras Tuner's distributed mode (its oracle is the chief's client)."""
    return _distributed() and "chief" not in os.environ["KERASTUNER_TUNER_ID"]


def serve(oracle, poll_seconds=0.5):
    """Serves `oracle` to the workers until every trial has ended and every worker was told to stop.

    Args:
        oracle: the chief's `ParsecOracle`.
        poll_seconds: how often the end is checked.
    """
    import grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
    servicer = _upstream.add_oracle_servicer(oracle, server)
    server.add_insecure_port(f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}")
    server.start()
    try:
        while not (servicer.stop_triggered and _upstream.chief_may_exit(oracle)):
            time.sleep(poll_seconds)
    finally:
        server.stop(grace=1.0).wait()


def writer_directory(directory, strategy):
    """Where this process writes a search: `directory`, or a private subfolder on a non-chief worker.

    Under `MultiWorkerMirroredStrategy` every worker runs the same search; the
    chief (task 0, or the "chief" task) writes the project, the others write
    to `directory/.worker_<type>_<index>` so that no file is written twice.

    Args:
        directory: the `directory` given to the tuner (None: ".").
        strategy: a `tf.distribute.Strategy` or None.

    Returns:
        The directory to use.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return directory
    task_type, task_id = resolver.task_type, resolver.task_id
    has_chief = "chief" in (resolver.cluster_spec().as_dict() or {})
    if task_type is None or task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief):
        return directory
    return os.path.join(directory or ".", f".worker_{task_type}_{task_id}")
