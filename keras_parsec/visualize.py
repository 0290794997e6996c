"""Pictures: cell diagrams (PARSEC/DARTS Figure 2, geometry in `cell_drawing`), search curves (Figure 3), pi.

Plain matplotlib with the Agg backend, imported only when a picture is drawn,
so `import keras_parsec` does not need matplotlib.
"""

import collections.abc
import os

import numpy as np

from keras_parsec import cell_drawing
from keras_parsec.errors import invalid_argument, invalid_type
from keras_parsec.genotype import Genotype


def _figure(figsize, ncols):
    """A matplotlib figure on its own Agg canvas, and its row of `ncols` axes.

    Neither pyplot nor the global backend is touched, so drawing works headless
    and leaves a notebook's backend alone.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError(
            "keras_parsec.visualize draws with matplotlib, which is not installed. Fix: `pip install matplotlib`."
        ) from e
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure, figure.subplots(1, ncols, squeeze=False)[0]


def _check_path(path):
    if not isinstance(path, (str, os.PathLike)):
        raise invalid_type("path", "a file path (str or os.PathLike)", path, 'pass e.g. path="cells.png"')
    path = os.fspath(path)
    if not os.path.basename(path):
        raise invalid_argument("path", "a file path, not a folder", path, 'pass e.g. path="pictures/cells.png"')
    return path


def _save(figure, path):
    """Writes `figure` to `path`, creating the folder."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    try:
        figure.savefig(path, dpi=120, bbox_inches="tight")
    except ValueError as e:  # an extension matplotlib does not know
        raise invalid_argument("path", f"a file name matplotlib can write ({e})", path, "use .png, .svg or .pdf") from e
    return path


def plot_genotype(genotype: Genotype, path, title: str | None = None) -> str:
    """Draws the normal and the reduction cell of `genotype` side by side.

    As in the DARTS and PARSEC papers (Figure 2): the cell inputs
    `c_{k-2}`, `c_{k-1}` on the left, intermediate nodes `0..N-1`, the output
    `c_{k}` on the right; one arrow per (operation, input) pair, labelled
    and coloured by its operation, and dashed arrows from the concatenated
    nodes into the output.

    Args:
        genotype: a `Genotype` or its `to_dict()`.
        path: image file to write, PNG or any format matplotlib knows by its
            extension (SVG, PDF...); its folder is created.
        title: optional figure title.

    Returns:
        `path`, as a str.

    Raises:
        ImportError: if matplotlib is not installed.
        InvalidTypeError, InvalidArgumentError: for an unusable argument.

    Example:

    ```python
    plot_genotype(keras_parsec.DARTS_V2, "pictures/darts_v2.png", title="DARTS (2nd order)")
    ```
    """
    if isinstance(genotype, collections.abc.Mapping):
        genotype = Genotype.from_dict(genotype)
    if not isinstance(genotype, Genotype):
        raise invalid_type("genotype", "a keras_parsec.Genotype or its to_dict()", genotype, "pass e.g. DARTS_V2")
    path = _check_path(path)
    if title is not None and not isinstance(title, str):
        raise invalid_type("title", "a str or None", title, 'pass e.g. title="DARTS_V2"')
    width = cell_drawing.NODE_SPACING * (genotype.num_nodes + 1) + 1.2
    height = 2 * cell_drawing.INPUT_HEIGHT + 1.5
    figsize = (2 * cell_drawing.INCHES_PER_UNIT * width, cell_drawing.INCHES_PER_UNIT * height + 0.8)
    figure, axes = _figure(figsize, 2)
    cell_drawing.draw_cell(axes[0], genotype.normal, genotype.normal_concat, "normal cell")
    cell_drawing.draw_cell(axes[1], genotype.reduce, genotype.reduce_concat, "reduction cell")
    if title:
        figure.suptitle(title, fontsize=14)
    figure.tight_layout()
    return _save(figure, path)


def _check_series(name, series):
    fix = "pass History.history, whose values are lists of floats, one per epoch"
    if not isinstance(series, collections.abc.Iterable) or isinstance(series, (str, bytes)):
        raise invalid_type(name, "a list of numbers, one per epoch", series, fix)
    try:
        return [float(value) for value in series]
    except (TypeError, ValueError) as e:
        raise invalid_argument(name, "a list of numbers, one per epoch", series, fix) from e


# (history key, title, y label) of `plot_search`'s panels; every history has the first (`_check_histories`).
_SEARCH_PANELS = (
    ("entropy", r"entropy of $p(\alpha \mid \pi)$", "entropy (nats)"),
    ("mode_log_prob", r"$\log p(\mathrm{mode} \mid \pi)$", "log-probability (nats)"),
    ("val_accuracy", "validation accuracy of the mode", "accuracy"),
)


def _check_histories(histories, labels):
    fix = 'pass History.history or a list of them, each with the key "entropy"'
    if isinstance(histories, collections.abc.Mapping):
        histories = [histories]
    if not isinstance(histories, collections.abc.Sequence) or isinstance(histories, (str, bytes)):
        raise invalid_type("histories", "a dict like History.history or a list of them", histories, fix)
    if not histories:
        raise invalid_argument("histories", "at least one history", histories, fix)
    checked = []
    for i, history in enumerate(histories):
        if not isinstance(history, collections.abc.Mapping):
            raise invalid_type(f"histories[{i}]", "a dict like History.history", history, fix)
        if "entropy" not in history:
            raise invalid_argument(
                f"histories[{i}]", 'a history with the key "entropy"', sorted(history), "pass a PARSEC search history"
            )
        keys = [key for key, _, _ in _SEARCH_PANELS if key in history]
        checked.append({key: _check_series(f"histories[{i}][{key!r}]", history[key]) for key in keys})
    if labels is None:
        labels = [None] if len(checked) == 1 else [f"run {i}" for i in range(len(checked))]
    elif isinstance(labels, str):
        labels = [labels]
    if not isinstance(labels, collections.abc.Sequence) or len(labels) != len(checked):
        raise invalid_argument(
            "labels", f"{len(checked)} labels, one per history", labels, "pass one label per history, or None"
        )
    return checked, [None if label is None else str(label) for label in labels]


def plot_search(histories, path, labels=None) -> str:
    """Draws the search curves of PARSEC Figure 3, one line per history.

    Panels, per epoch: the entropy of p(alpha | pi); log p(mode | pi) (the
    search's `mode_log_prob` log); the validation accuracy of the mode. The
    last two are drawn only when some history has them. A learning search is
    read against a null run (K=1) drawn beside it: both entropies fall.

    Args:
        histories: one dict like `keras.callbacks.History.history`, with the
            key `"entropy"` and optionally `"mode_log_prob"` and
            `"val_accuracy"`, or a list of them.
        path: image file to write (PNG, SVG, PDF...); its folder is created.
        labels: optional names of the histories (e.g. seeds), one per history.

    Returns:
        `path`, as a str.

    Raises:
        ImportError: if matplotlib is not installed.
        InvalidTypeError, InvalidArgumentError: for an unusable argument.

    Example:

    ```python
    history = supernet.fit(x, y, validation_data=(x_val, y_val), epochs=50)
    plot_search(history.history, "pictures/search.png")
    ```
    """
    histories, labels = _check_histories(histories, labels)
    path = _check_path(path)
    panels = [panel for panel in _SEARCH_PANELS if any(panel[0] in history for history in histories)]
    figure, axes = _figure((5.5 * len(panels), 4), len(panels))
    for i, (history, label) in enumerate(zip(histories, labels, strict=True)):
        style = {"color": f"C{i % 10}", "marker": "o", "markersize": 3, "label": label}
        for ax, (key, _, _) in zip(axes, panels):
            if key in history:
                ax.plot(range(1, len(history[key]) + 1), history[key], **style)
    for ax, (_, title, ylabel) in zip(axes, panels):
        ax.set(title=title, xlabel="epoch", ylabel=ylabel)
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if any(label is not None for label in labels):
            ax.legend()
    figure.tight_layout()
    return _save(figure, path)


def edge_probabilities(distribution):
    """Per cell type, edge (node, input) and operation: the expected number of the node's slots that pick it.

    Args:
        distribution: an `ArchitectureDistribution`.

    Returns:
        `(matrix [2, E, P], edge_labels)`: E edges (node n has n + 2 inputs),
        P operations; each node's rows sum to 2 (its two slots).
    """
    space = distribution.space
    probabilities = distribution.probabilities()  # [2, N, 2, M], choice j = input * P + operation
    num_ops = len(space.operations)
    rows, labels = [], []
    for node in range(space.num_nodes):
        for source in range(node + 2):
            choices = slice(source * num_ops, (source + 1) * num_ops)
            rows.append(probabilities[:, node, :, choices].sum(axis=1))  # [2, P]
            name = ("c_{k-2}", "c_{k-1}")[source] if source < 2 else f"node {source - 2}"
            labels.append(f"node {node} <- {name}")
    return np.stack(rows, axis=1), labels


def plot_distribution(distribution, path, title: str | None = None) -> str:
    """Draws p(alpha | pi) as two heatmaps (normal, reduction cell): one row per edge, one column per operation.

    Each entry is the expected number of the node's two slots that take that
    input through that operation (`edge_probabilities`); a learnt preference
    shows as dark entries against the uniform distribution's even shade.

    Args:
        distribution: an `ArchitectureDistribution` (e.g. `tuner.get_best_distribution()`).
        path: image file to write (PNG, SVG, PDF...); its folder is created.
        title: optional figure title.

    Returns:
        `path`, as a str.
    """
    from keras_parsec.distribution import ArchitectureDistribution

    if not isinstance(distribution, ArchitectureDistribution):
        raise invalid_type(
            "distribution",
            "a keras_parsec.ArchitectureDistribution",
            distribution,
            "pass tuner.get_best_distribution()",
        )
    path = _check_path(path)
    if title is not None and not isinstance(title, str):
        raise invalid_type("title", "a str or None", title, 'pass e.g. title="seed 0"')
    matrix, labels = edge_probabilities(distribution)
    operations = distribution.space.operations
    figure, axes = _figure((4 + 0.55 * len(operations) * 2, 1.5 + 0.32 * len(labels)), 2)
    for axis, cell, values in zip(axes, ("normal cell", "reduction cell"), matrix):
        image = axis.imshow(values, cmap="Blues", vmin=0.0, vmax=max(1e-6, float(matrix.max())), aspect="auto")
        axis.set_xticks(range(len(operations)), operations, rotation=60, ha="right", fontsize=8)
        axis.set_yticks(range(len(labels)), labels if axis is axes[0] else [], fontsize=8)  # same rows
        axis.set_title(cell)
    figure.colorbar(image, ax=list(axes), label="expected slots per node")
    if title:
        figure.suptitle(title)
    return _save(figure, path)
