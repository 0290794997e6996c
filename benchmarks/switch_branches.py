"""One operation inside a switch, against the same operation in one graph: what the branch itself costs.

A chain of ten copies of an operation (batch 64, 32x32x16, stride 1), each copy
picked by a switch over the space's operations (`cells.switch_case`), the
index a tensor, in four ways: branches holding the operations or calling one
shared function per operation, as functional Case ops or lowered to
Switch/Merge (`Executor(operation_calls=..., lowered=...)`). Against the chain
written directly in one graph; forward, and forward with the backward (TensorFlow
differentiating the switch). The cases run in turn, round after round.

    python benchmarks/switch_branches.py sep_conv_3x3 dil_conv_5x5 max_pool_3x3
"""

import os
import sys
import time

import numpy as np

BATCH, SIZE, CHANNELS, LENGTH, ROUNDS = 64, 32, 16, 10, 5


def cases_for(op):
    """Name -> (no-argument call) for the direct chain and the four switch variants, forward and train."""
    import tensorflow as tf

    from keras_parsec import space
    from keras_parsec.search import cells, ops

    names = [o for o in space.OPERATIONS if o != "none"]
    x = tf.random.normal([BATCH, SIZE, SIZE, CHANNELS])
    weights = {o: [tf.random.normal(s) for s in ops.operation_weight_shapes(o, CHANNELS, 1)] for o in names}
    specs = {o: [tf.TensorSpec(w.shape) for w in weights[o]] for o in names}
    index = tf.constant(names.index(op), tf.int32)

    def operation(o):
        return lambda x, w: ops.apply_operation(o, x, w, 1)

    def switched(calls, lowered):
        functions = {o: operation(o) for o in names}
        if calls:
            x_spec = tf.TensorSpec([None, None, None, CHANNELS])
            functions = {
                o: tf.function(f, autograph=False).get_concrete_function(x_spec, specs[o]) for o, f in functions.items()
            }

        def chain(x, ws):
            for _ in range(LENGTH):
                x = cells.switch_case(index, [lambda o=o, x=x: functions[o](x, ws[o]) for o in names], lowered)
            return x

        return chain

    def direct(x, ws):
        for _ in range(LENGTH):
            x = operation(op)(x, ws[op])
        return x

    def compiled(body, train):
        def run(x, ws):
            if not train:
                return body(x, ws)
            with tf.GradientTape() as tape:
                tape.watch([x] + ws[op])
                loss = tf.reduce_sum(tf.square(body(x, ws)))
            return tape.gradient(loss, [x] + ws[op])

        function = tf.function(run, autograph=False).get_concrete_function(tf.TensorSpec(x.shape), specs)
        return lambda: function(x, weights)

    bodies = {"one graph": direct}
    for calls in (False, True):
        for lowered in (False, True):
            name = f"switch, {'calls' if calls else 'held'}, {'lowered' if lowered else 'functional'}"
            bodies[name] = switched(calls, lowered)
    return {(name, train): compiled(body, train) for train in (False, True) for name, body in bodies.items()}


def main(operations):
    for op in operations or ["sep_conv_3x3"]:
        cases = cases_for(op)
        for call in cases.values():
            call()  # build
        seconds = {key: [] for key in cases}
        for _ in range(ROUNDS):
            for key, call in cases.items():
                start = time.perf_counter()
                call()
                seconds[key].append(time.perf_counter() - start)
        print(f"\n{op}, a chain of {LENGTH}, batch {BATCH}, {SIZE}x{SIZE}x{CHANNELS}; load {os.getloadavg()[0]:.2f}")
        print("| case | forward ms | / one graph | forward + backward ms | / one graph |")
        print("| --- | --- | --- | --- | --- |")
        for name in dict.fromkeys(name for name, _ in cases):
            cells = []
            for train in (False, True):
                ratio = np.median(np.array(seconds[name, train]) / np.array(seconds["one graph", train]))
                cells += [f"{np.median(seconds[name, train]) * 1000:.1f}", f"{ratio:.2f}x"]
            print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:])
