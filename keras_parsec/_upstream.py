"""Every private Keras and Keras Tuner API the package uses, in one place.

Each entry names the upstream API it relies on and why no public one does the
job. Tested with keras 3.15.1 and keras-tuner 1.4.8 (the ranges `setup.py`
pins); tests/test_upstream.py fails, naming the private API, when one of them
disappears, changes its signature or is no longer called. Callers import from
here and touch no private upstream name themselves.

The one private TensorFlow API, `cond_v2.indexed_case`, stays beside the code
that needs it in `search/executor.py`, tested in tests/search/test_executor.py.
"""

# ------------------------------------------------------------------ Keras


def optimizer_schedule(optimizer):
    """The learning rate `optimizer` was given: a schedule object, a variable or None.

    Upstream: `keras.src.optimizers.base_optimizer.BaseOptimizer._learning_rate`.
    The public `optimizer.learning_rate` evaluates a schedule at the current
    step; only the private attribute holds the schedule itself, which `fit`
    sizes (`BaseSuperNet.fit`).
    """
    return getattr(optimizer, "_learning_rate", None)


def compiled_loss(model):
    """The loss `model.compile` built, `loss(y_true, y_pred, sample_weight)`, or None before `compile`.

    Upstream: `keras.src.trainers.trainer.Trainer._compile_loss` (a
    `CompileLoss`). The public `Model.compute_loss` adds the regularisation
    losses of `model.losses` too, and `Model.compiled_loss` is deprecated and
    calls `compute_loss`; the auxiliary head's loss (`CellNetwork.compute_loss`)
    needs the compiled loss alone, with its weights and reduction.
    """
    return model._compile_loss


def sublayers(layer):
    """Every layer inside `layer`, at any depth, `layer` itself excluded.

    Upstream: `keras.src.layers.layer.Layer._flatten_layers(include_self,
    recursive)`. The public `Model.layers` lists only the direct children, and
    a plain `Layer` (a cell) lists none.
    """
    return layer._flatten_layers(include_self=False)


class BuiltModelSkipsSymbolicBuild:
    """Mixin for a `keras.Model` built explicitly: `fit` leaves it alone once built.

    Upstream: `keras.src.backend.tensorflow.trainer.TensorFlowTrainer.
    _maybe_symbolic_build(iterator=None, data_batch=None)`, the hook through
    which `fit` and `evaluate` build a model under a distribution strategy
    from a reduced first batch; no public switch turns it off. A supernet is
    built explicitly, and `strategy.reduce` of its nested
    ((x_t, y_t), (x_s, y_s)) batch fails under MultiWorkerMirroredStrategy.
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if not self.built:
            super()._maybe_symbolic_build(iterator=iterator, data_batch=data_batch)
