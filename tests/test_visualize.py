"""Tests of the pictures: cell diagrams and search curves are real, readable images."""

import matplotlib.image
import pytest

import keras_parsec as kp


@pytest.mark.parametrize("genotype", [kp.DARTS_V1, kp.DARTS_V2])
def test_plot_genotype_writes_an_image(tmp_path, genotype):
    path = kp.plot_genotype(genotype, str(tmp_path / "cells" / "g.png"), title="DARTS")
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 300 and image.shape[1] > 600
    assert image.std() > 0.01  # not a blank canvas


def test_plot_search_draws_several_runs_and_runs_without_validation(tmp_path):
    histories = [{"entropy": [3.0, 2.5, 2.0], "val_accuracy": [0.2, 0.4, 0.5]}, {"entropy": [3.0, 2.8]}]
    path = kp.plot_search(histories, str(tmp_path / "search.png"), labels=["seed 0", "seed 1"])
    assert (tmp_path / "search.png").stat().st_size > 1000
    assert matplotlib.image.imread(path).ndim == 3
    single = kp.plot_search({"entropy": [1.0, 0.5]}, str(tmp_path / "one.png"))
    assert (tmp_path / "one.png").exists() and single.endswith("one.png")
