"""Even pixels and a one-pixel shift in `keras.ops`, written as slices whose gradient is a pad.

`x[:, ::2, ::2, :]` and `x[:, 1:, 1:, :]` are strided slices, whose gradient
on TensorFlow is several times slower than the pad a plain slice's gradient is
(BENCHMARKS.md, "Slices whose gradient is a pad"). The search's versions, in
`tf`: `keras_parsec.search.ops.subsample` and `shift`.
"""

from keras import ops


def _dims(x):
    """Each dimension of NHWC `x`: an int where known, else a scalar tensor."""
    dynamic = ops.shape(x)
    return [x.shape[i] if x.shape[i] is not None else dynamic[i] for i in range(4)]


def subsample(x, stride):
    """`x[:, ::stride, ::stride, :]` for NHWC `x`: a pad to a multiple of `stride`, a reshape, a slice."""
    batch, height, width, channels = _dims(x)
    extra = [(-height) % stride, (-width) % stride]
    if not all(isinstance(e, int) and e == 0 for e in extra):  # odd sides: "same" padding rounds up
        x = ops.pad(x, [[0, 0], [0, extra[0]], [0, extra[1]], [0, 0]])
    height, width = (height + stride - 1) // stride, (width + stride - 1) // stride
    blocks = ops.reshape(x, [batch, height, stride, width, stride, channels])
    return ops.reshape(
        ops.slice(blocks, [0] * 6, [batch, height, 1, width, 1, channels]), [batch, height, width, channels]
    )


def shift(x):
    """NHWC `x` moved up and left by one pixel, zeros entering at the bottom and the right."""
    batch, height, width, channels = _dims(x)
    inner = ops.slice(x, [0, 1, 1, 0], [batch, height - 1, width - 1, channels])
    return ops.pad(inner, [[0, 0], [0, 1], [0, 1], [0, 0]])
