"""Even pixels and the one-pixel shift of the final layers: the strided slices' values and gradients, without them."""

import pytest
from strided_slices import assert_equal_to_strided_slices

from keras_parsec.final import subsampling


@pytest.mark.parametrize("size", [(6, 6), (7, 5)])
@pytest.mark.parametrize("static", [True, False])
def test_subsample_and_shift_equal_the_strided_slices_without_a_strided_slice_gradient(size, static):
    assert_equal_to_strided_slices(subsampling.subsample, subsampling.shift, size, static)
