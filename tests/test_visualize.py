"""Tests of the pictures: cell diagrams and search curves are real, readable images."""

import builtins
import os

import matplotlib.image
import numpy as np
import pytest

import keras_parsec as kp
from keras_parsec import cell_drawing, visualize
from keras_parsec.errors import InvalidArgumentError, InvalidTypeError

ONE_NODE = kp.Genotype(
    normal=[("skip_connect", 0), ("skip_connect", 0)],  # the same input twice
    normal_concat=[2],
    reduce=[("max_pool_3x3", 0), ("sep_conv_5x5", 1)],
    reduce_concat=[2],
)


def _assert_image(path, min_height=200, min_width=400):
    assert os.path.getsize(path) > 1000
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] >= min_height and image.shape[1] >= min_width
    assert image.std() > 0.01  # not a blank canvas


@pytest.mark.parametrize("genotype", [kp.DARTS_V1, kp.DARTS_V2, ONE_NODE])
def test_plot_genotype_writes_an_image_and_creates_its_folder(tmp_path, genotype):
    path = str(tmp_path / "cells" / "deeper" / "g.png")
    assert kp.plot_genotype(genotype, path, title="DARTS") == path
    _assert_image(path, 300, 600)


def test_plot_genotype_takes_a_dict_a_path_object_and_other_formats(tmp_path):
    path = kp.plot_genotype(kp.DARTS_V2.to_dict(), tmp_path / "g.svg")
    assert path == str(tmp_path / "g.svg")
    assert (tmp_path / "g.svg").read_text().lstrip().startswith("<?xml")


def test_edges_are_bent_around_nodes_and_apart_from_each_other():
    positions, output = cell_drawing.layout(5)
    start, end = positions[2], positions[6]  # node 0 -> node 4 passes node 2 when straight
    obstacles = [p for p in [*positions.values(), output] if p not in (start, end)]
    assert cell_drawing.route(start, end, obstacles) != 0.0
    drawn = []
    first = cell_drawing.route(positions[0], positions[2], [], drawn)
    assert cell_drawing.route(positions[0], positions[2], [], drawn) != first  # a repeated pair is not drawn over


def test_plot_search_draws_several_runs_and_runs_without_validation(tmp_path):
    histories = [{"entropy": [3.0, 2.5, 2.0], "val_accuracy": [0.2, 0.4, 0.5]}, {"entropy": [3.0, 2.8]}]
    path = kp.plot_search(histories, str(tmp_path / "curves" / "search.png"), labels=["seed 0", "seed 1"])
    _assert_image(path)
    single = kp.plot_search({"entropy": [1.0, 0.5]}, str(tmp_path / "one.png"))
    assert single.endswith("one.png")
    _assert_image(single, min_width=300)


def test_plot_search_adds_a_panel_for_log_p_of_the_mode(tmp_path):
    import matplotlib.image

    histories = [{"entropy": [3.0, 2.5], "mode_log_prob": [-9.0, -7.5], "val_accuracy": [0.2, 0.4]}]
    three = matplotlib.image.imread(kp.plot_search(histories, str(tmp_path / "three.png")))
    two = matplotlib.image.imread(
        kp.plot_search([{"entropy": [3.0, 2.5], "val_accuracy": [0.2, 0.4]}], str(tmp_path / "two.png"))
    )
    assert three.shape[1] > 1.4 * two.shape[1]  # one panel more, side by side


@pytest.mark.parametrize(
    "histories, labels, error, match",
    [
        ([], None, InvalidArgumentError, "at least one history"),
        ("entropy", None, InvalidTypeError, "histories"),
        ([{"val_accuracy": [0.5]}], None, InvalidArgumentError, 'the key "entropy"'),
        ([{"entropy": "high"}], None, InvalidTypeError, r"histories\[0\]\['entropy'\]"),
        ([{"entropy": [1.0]}, {"entropy": [2.0]}], ["only one"], InvalidArgumentError, "2 labels"),
    ],
)
def test_plot_search_checks_its_arguments(tmp_path, histories, labels, error, match):
    with pytest.raises(error, match=match):
        kp.plot_search(histories, str(tmp_path / "x.png"), labels=labels)
    assert not (tmp_path / "x.png").exists()


def test_bad_paths_and_genotypes_are_refused(tmp_path):
    with pytest.raises(InvalidTypeError, match="genotype"):
        kp.plot_genotype("DARTS_V2", str(tmp_path / "g.png"))
    with pytest.raises(InvalidTypeError, match="path"):
        kp.plot_genotype(kp.DARTS_V2, 3)
    with pytest.raises(InvalidArgumentError, match="a file name matplotlib can write"):
        kp.plot_genotype(kp.DARTS_V2, str(tmp_path / "g.unknown"))


def test_missing_matplotlib_says_how_to_install_it(monkeypatch, tmp_path):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install matplotlib"):
        kp.plot_search({"entropy": [1.0]}, str(tmp_path / "x.png"))


def test_edge_probabilities_count_each_nodes_two_slots_and_show_what_pi_prefers():
    space = kp.SearchSpace(num_cells=2, filters=4, num_nodes=3)
    uniform = kp.ArchitectureDistribution(space)
    matrix, labels = visualize.edge_probabilities(uniform)
    assert matrix.shape == (2, 2 + 3 + 4, len(space.operations)) and len(labels) == 9
    assert labels[0] == "node 0 <- c_{k-2}" and labels[-1] == "node 2 <- node 1"
    np.testing.assert_allclose(matrix[:, :2].sum(axis=(1, 2)), 2.0, rtol=1e-5)  # node 0: two slots
    np.testing.assert_allclose(matrix[:, :2], 2.0 / (2 * len(space.operations)), rtol=1e-5)  # uniform
    logits = uniform.logits.numpy()
    logits[0, 0, :, space.operations.index("sep_conv_3x3")] = 10.0  # node 0 of the normal cell: c_{k-2} by sep_conv
    skewed = kp.ArchitectureDistribution(space)
    skewed.logits.assign(logits)
    matrix, _ = visualize.edge_probabilities(skewed)
    assert matrix[0, 0, space.operations.index("sep_conv_3x3")] > 1.99
    np.testing.assert_allclose(matrix[1], visualize.edge_probabilities(uniform)[0][1], rtol=1e-5)  # reduce untouched


def test_plot_distribution_writes_an_image_and_checks_its_arguments(tmp_path):
    distribution = kp.ArchitectureDistribution(kp.SearchSpace(num_cells=2, filters=4, num_nodes=2))
    path = kp.plot_distribution(distribution, tmp_path / "pictures" / "pi.png", title="uniform")
    assert matplotlib.image.imread(path).shape[0] > 100
    with pytest.raises(InvalidTypeError, match="`distribution`"):
        kp.plot_distribution(kp.DARTS_V2, tmp_path / "x.png")
    with pytest.raises(InvalidTypeError, match="`title`"):
        kp.plot_distribution(distribution, tmp_path / "x.png", title=3)
