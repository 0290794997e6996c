"""Tests for keras_parsec.errors."""

import numpy as np
import pytest

from keras_parsec.errors import (
    InvalidArgumentError,
    InvalidTypeError,
    ParsecError,
    invalid_argument,
    invalid_type,
    is_int,
)

MESSAGE_CASES = (
    (
        invalid_argument,
        ("num_cells", "a positive integer", 0, "pass num_cells >= 1."),
        (
            "Invalid value received for argument `num_cells`. "
            "Expected a positive integer. Received: num_cells=0. "
            "Fix: pass num_cells >= 1."
        ),
    ),
    (
        invalid_type,
        ("filters", "an int", "16", "pass filters=16"),
        (
            "Invalid type received for argument `filters`. Expected an int. "
            "Received: filters='16' of type str. Fix: pass filters=16."
        ),
    ),
    (
        invalid_argument,
        ("rate", "a float between 0 and 1.", 1.5, None),
        ("Invalid value received for argument `rate`. Expected a float between 0 and 1. Received: rate=1.5."),
    ),
    (
        invalid_type,
        ("operations", "a list", None),
        (
            "Invalid type received for argument `operations`. Expected a list. "
            "Received: operations=None of type NoneType."
        ),
    ),
    (
        invalid_argument,
        ("normal[3]", "an operation name", ("conv", 0), "  use sep_conv_3x3  "),
        (
            "Invalid value received for argument `normal[3]`. "
            "Expected an operation name. "
            "Received: normal[3]=('conv', 0). Fix: use sep_conv_3x3."
        ),
    ),
)


@pytest.mark.parametrize("helper, args, message", MESSAGE_CASES)
def test_message(helper, args, message):
    assert str(helper(*args)) == message


@pytest.mark.parametrize(
    "helper, error_type, builtin",
    (
        (invalid_argument, InvalidArgumentError, ValueError),
        (invalid_type, InvalidTypeError, TypeError),
    ),
)
def test_helper_returns_typed_error(helper, error_type, builtin):
    error = helper("x", "something", 1, "fix it")
    assert type(error) is error_type
    assert isinstance(error, ParsecError)
    assert isinstance(error, builtin)
    with pytest.raises(builtin, match=r"argument `x`.*Fix: fix it\."):
        raise error


@pytest.mark.parametrize(
    "error_type, bases",
    (
        (ParsecError, (Exception,)),
        (InvalidArgumentError, (ParsecError, ValueError)),
        (InvalidTypeError, (ParsecError, TypeError)),
    ),
)
def test_hierarchy(error_type, bases):
    for base in bases:
        assert issubclass(error_type, base)


@pytest.mark.parametrize("helper", (invalid_argument, invalid_type))
def test_fix_is_optional(helper):
    assert "Fix:" not in str(helper("x", "something", 1))


@pytest.mark.parametrize(
    "value, expected",
    [(3, True), (np.int64(3), True), (-1, True), (True, False), (3.0, False), ("3", False), (None, False)],
)
def test_is_int_accepts_python_and_numpy_integers_but_not_bools(value, expected):
    assert is_int(value) is expected
