"""Typed errors raised by keras-parsec, with Keras-style messages that say the fix.

Every error raised on purpose derives from `ParsecError`, so callers can catch
the library's errors as one family, and from the matching built-in
(`ValueError`, `TypeError`), so generic handlers keep working.
"""

import numbers

import numpy as np

_MAX_REPR = 200


def is_int(value) -> bool:
    """Returns whether `value` is an integer (Python or NumPy), `bool` excluded.

    Args:
        value: anything.

    Returns:
        True for `3` or `np.int64(3)`, False for `True`, `3.0` or `"3"`.
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


class ParsecError(Exception):
    """Base class of every error keras-parsec raises on purpose."""


class InvalidArgumentError(ParsecError, ValueError):
    """An argument has the right type but an unusable value."""


class InvalidTypeError(ParsecError, TypeError):
    """An argument has the wrong type."""


def _sentence(text):
    """Returns `text` stripped and ending with exactly one full stop."""
    text = str(text).strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _received(name, value, with_type):
    """`name=value` for the message: arrays by shape and dtype, dtypes by name, long reprs cut."""
    if isinstance(value, np.dtype) or (isinstance(value, type) and issubclass(value, np.generic)):
        return f"{name} of dtype {np.dtype(value).name}"
    shape = getattr(value, "shape", None)
    if getattr(value, "dtype", None) is not None and shape is not None and len(shape) > 0:
        dtype = getattr(value.dtype, "name", value.dtype)
        return f"{name}={type(value).__name__} of shape {tuple(shape)} and dtype {dtype}"
    text = repr(value)
    if len(text) > _MAX_REPR:
        text = text[: _MAX_REPR - 3] + "..."
    return f"{name}={text}" + (f" of type {type(value).__name__}" if with_type else "")


def _message(kind, name, expected, received_text, fix):
    message = (
        f"Invalid {kind} received for argument `{name}`. Expected {_sentence(expected)} Received: {received_text}."
    )
    if fix:
        message += f" Fix: {_sentence(fix)}"
    return message


def invalid_argument(name: str, expected: str, received, fix: str | None = None) -> InvalidArgumentError:
    """Builds the error for an argument with an unusable value.

    Args:
        name: name of the argument, as the caller spells it (`"num_cells"`,
            `"normal[3]"`).
        expected: what a valid value looks like, e.g. `"a positive integer"`.
        received: the value received; shown with `repr` (arrays and tensors by
            shape and dtype, reprs over 200 characters cut).
        fix: optional advice on how to fix the call.

    Returns:
        An `InvalidArgumentError`, to be raised by the caller.

    Example:

    ```python
    raise invalid_argument("num_cells", "a positive integer", 0, "pass num_cells >= 1")
    # Invalid value received for argument `num_cells`. Expected a positive
    # integer. Received: num_cells=0. Fix: pass num_cells >= 1.
    ```
    """
    return InvalidArgumentError(_message("value", name, expected, _received(name, received, False), fix))


def invalid_type(name: str, expected: str, received, fix: str | None = None) -> InvalidTypeError:
    """Builds the error for an argument of the wrong type.

    Args:
        name: name of the argument, as the caller spells it.
        expected: the accepted type(s), e.g. `"an int"`.
        received: the value received; shown with `repr` and its type name
            (arrays and tensors by shape and dtype, NumPy dtypes by name).
        fix: optional advice on how to fix the call.

    Returns:
        An `InvalidTypeError`, to be raised by the caller.

    Example:

    ```python
    raise invalid_type("filters", "an int", "16", "pass filters=16")
    # Invalid type received for argument `filters`. Expected an int.
    # Received: filters='16' of type str. Fix: pass filters=16.
    ```
    """
    return InvalidTypeError(_message("type", name, expected, _received(name, received, True), fix))
