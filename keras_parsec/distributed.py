"""Which strategies run a search step on several replicas, and which worker writes the project.

The replica step itself lives with each engine: `search.replicas` (the
default engine) and `search.eager_replicas` (the eager baseline).
"""

import os

import tensorflow as tf


def is_distributed(strategy) -> bool:
    """True when `strategy` runs more than one replica in sync."""
    return strategy is not None and strategy.num_replicas_in_sync > 1


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
