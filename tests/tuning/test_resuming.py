"""Tests for keras_parsec.tuning.resuming: one wording for every project a search cannot resume."""

import inspect

import pytest

from keras_parsec import errors
from keras_parsec.tuning import oracle, resuming, tuner


def test_an_equal_value_resumes():
    assert resuming.check_same_as_saved("num_samples", [16], [16], "runs/p") is None


def test_a_different_value_names_the_argument_the_saved_value_and_the_three_ways_out():
    with pytest.raises(errors.InvalidArgumentError, match="`num_samples`") as info:
        resuming.check_same_as_saved("num_samples", [16], [8], "runs/p")
    message = str(info.value)
    assert "[16] as in the search saved in runs/p" in message and "num_samples=[8]" in message
    assert "pass num_samples=[16] to resume it, another project_name for a new search" in message
    assert "overwrite=True to replace the old one" in message


def test_the_caller_may_say_how_to_resume():
    with pytest.raises(errors.InvalidArgumentError, match="pass the same data to resume it, another project_name"):
        resuming.check_same_as_saved("num_classes", 10, 3, "runs/p", "pass the same data to resume it")


@pytest.mark.parametrize("why", [None, "the state files there are corrupt"])
def test_an_unusable_project_says_to_choose_another_or_overwrite(why):
    error = resuming.unusable_project("project_name", "a project folder", "runs/p", why)
    assert isinstance(error, errors.InvalidArgumentError)
    assert "choose another project_name, or pass overwrite=True to replace it" in str(error)
    assert ("corrupt: move the folder away" in str(error)) == (why is not None)


@pytest.mark.parametrize("module", [oracle, tuner])
def test_the_oracle_and_the_tuner_leave_the_wording_to_resuming(module):
    source = inspect.getsource(module)
    assert "overwrite=True" not in source and "as in the search saved in" not in source
    assert "resuming.check_same_as_saved(" in source and "resuming.unusable_project(" in source
