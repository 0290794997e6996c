"""Pictures: cell diagrams (PARSEC/DARTS Figure 2) and search curves (PARSEC Figure 3).

Plain matplotlib with the Agg backend, imported only when a picture is drawn,
so `import keras_parsec` does not need matplotlib.
"""

import collections.abc
import math
import os

import numpy as np

from keras_parsec.errors import invalid_argument, invalid_type
from keras_parsec.genotype import Genotype
from keras_parsec.space import NUM_CELL_INPUTS

# Node layout, in data units of an equal-aspect axes.
_NODE_SPACING = 1.5
_ROW_HEIGHT = 0.8
_INPUT_HEIGHT = 1.6
_INCHES_PER_UNIT = 0.9
_CLEARANCE = 0.32  # an edge passing closer than this to another node is bent around it
_EDGE_CLEARANCE = 0.12  # ... and one running this close along an edge already drawn
_BENDS = (0.0, 0.25, -0.25, 0.45, -0.45)
_LABEL_POSITIONS = (0.5, 0.42, 0.58, 0.35, 0.65)  # where on an edge its label may sit
_LABEL_CLEARANCE = 0.6
_COLOURS = {
    "max_pool_3x3": "#1f77b4",
    "avg_pool_3x3": "#17becf",
    "skip_connect": "#7f7f7f",
    "sep_conv_3x3": "#d62728",
    "sep_conv_5x5": "#ff7f0e",
    "dil_conv_3x3": "#2ca02c",
    "dil_conv_5x5": "#9467bd",
}
_FACES = {"input": "#c6dbef", "node": "#fdd0a2", "output": "#c7e9c0"}


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


def _bezier(start, end, bend, t):
    """Point at `t` on matplotlib's `arc3,rad=bend` curve from `start` to `end`."""
    (x0, y0), (x2, y2) = start, end
    dx, dy = x2 - x0, y2 - y0
    x1, y1 = (x0 + x2) / 2 + bend * dy, (y0 + y2) / 2 - bend * dx
    u = 1 - t
    return u * u * x0 + 2 * u * t * x1 + t * t * x2, u * u * y0 + 2 * u * t * y1 + t * t * y2


def _curve(start, end, bend, first=3, last=21):
    """Points of the curve between `t = first / 24` and `t = last / 24`."""
    return [_bezier(start, end, bend, t / 24) for t in range(first, last + 1)]


def _distance(points, others):
    return min((math.dist(p, o) for p in points for o in others), default=math.inf)


def _overlap(points, drawn):
    """How many of `points` run along the edges drawn, beyond the two a plain crossing touches."""
    close = sum(1 for p in points if any(math.dist(p, o) < _EDGE_CLEARANCE for o in drawn))
    return max(close - 2, 0)


def _route(start, end, obstacles, drawn=None):
    """Picks a bend for an edge: the first, in `_BENDS` order, that stays inside
    the picture, clears the other nodes, and does not run along an edge in `drawn`.

    Falls back on the best compromise; adds the chosen curve's middle to `drawn`.
    """
    best, best_score = 0.0, None
    limit = _INPUT_HEIGHT + 0.6
    for bend in _BENDS:
        curve = _curve(start, end, bend)
        middle = _curve(start, end, bend, 5, 19)
        inside = all(abs(y) <= limit for _, y in curve)
        clearance = min(_distance(curve, obstacles), _CLEARANCE)
        overlap = _overlap(middle, drawn) if drawn is not None else 0
        score = (inside, clearance, -overlap)
        if best_score is None or score > best_score:
            best, best_score = bend, score
        if score == (True, _CLEARANCE, 0):
            break
    if drawn is not None:
        drawn.extend(_curve(start, end, best, 5, 19))
    return best


def _layout(num_nodes):
    """Positions of the cell inputs (0, 1), the intermediate nodes (k + 2) and the output."""
    positions = {0: (0.0, _INPUT_HEIGHT), 1: (0.0, -_INPUT_HEIGHT)}
    for node in range(num_nodes):
        positions[node + NUM_CELL_INPUTS] = (_NODE_SPACING * (node + 1), _ROW_HEIGHT * (1 if node % 2 == 0 else -1))
    output = (_NODE_SPACING * (num_nodes + 1), 0.0)
    return positions, output


def _label_position(start, end, bend, avoid):
    """Where on the curve its label goes: the middle, unless a label or node in `avoid` is close."""
    best, best_distance = 0.5, -math.inf
    for t in _LABEL_POSITIONS:
        point = _bezier(start, end, bend, t)
        distance = min((math.dist(point, other) for other in avoid), default=math.inf)
        if distance > best_distance:
            best, best_distance = t, distance
        if distance >= _LABEL_CLEARANCE:
            break
    return best


def _draw_edge(axes, start, end, bend, colour, label, avoid, dashed=False):
    axes.annotate(
        "",
        xy=end,
        xytext=start,
        zorder=1,
        arrowprops={
            "arrowstyle": "-|>",
            "mutation_scale": 12,
            "color": colour,
            "linewidth": 1.3,
            "linestyle": "--" if dashed else "-",
            "shrinkA": 15,
            "shrinkB": 15,
            "connectionstyle": f"arc3,rad={bend}",
        },
    )
    if not label:
        return
    t = _label_position(start, end, bend, avoid)
    x, y = _bezier(start, end, bend, t)
    avoid.append((x, y))
    (xa, ya), (xb, yb) = _bezier(start, end, bend, t - 0.05), _bezier(start, end, bend, t + 0.05)
    angle = math.degrees(math.atan2(yb - ya, xb - xa))
    if angle > 90:
        angle -= 180
    elif angle < -90:
        angle += 180
    axes.text(
        x,
        y,
        label,
        fontsize=7.5,
        color=colour,
        ha="center",
        va="center",
        rotation=angle,
        rotation_mode="anchor",
        zorder=2,
        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
    )


def _draw_node(axes, position, text, kind):
    axes.text(
        *position,
        text,
        ha="center",
        va="center",
        fontsize=11,
        zorder=3,
        bbox={"boxstyle": "round,pad=0.35", "facecolor": _FACES[kind], "edgecolor": "#404040"},
    )


def _draw_cell(axes, pairs, concat, title):
    """Draws one cell: inputs on the left, intermediate nodes in a zigzag, the output on the right."""
    num_nodes = len(pairs) // 2
    positions, output = _layout(num_nodes)
    every_node = [*positions.values(), output]
    drawn = []  # points along the edges drawn so far
    avoid = list(every_node)  # label positions so far, and the nodes
    for position, (operation, source) in enumerate(pairs):
        start, end = positions[source], positions[position // 2 + NUM_CELL_INPUTS]
        obstacles = [p for p in every_node if p not in (start, end)]
        bend = _route(start, end, obstacles, drawn)
        _draw_edge(axes, start, end, bend, _COLOURS.get(operation, "#000000"), operation, avoid)
    for index in concat:
        start = positions[index]
        obstacles = [p for p in every_node if p not in (start, output)]
        _draw_edge(axes, start, output, _route(start, output, obstacles), "#74c476", None, avoid, dashed=True)
    _draw_node(axes, positions[0], r"$c_{k-2}$", "input")
    _draw_node(axes, positions[1], r"$c_{k-1}$", "input")
    for node in range(num_nodes):
        _draw_node(axes, positions[node + NUM_CELL_INPUTS], str(node), "node")
    _draw_node(axes, output, r"$c_{k}$", "output")
    axes.set_title(title, fontsize=13)
    axes.set_xlim(-0.6, output[0] + 0.6)
    axes.set_ylim(-_INPUT_HEIGHT - 0.75, _INPUT_HEIGHT + 0.75)
    axes.set_aspect("equal")
    axes.axis("off")


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
    width = _NODE_SPACING * (genotype.num_nodes + 1) + 1.2
    height = 2 * _INPUT_HEIGHT + 1.5
    figsize = (2 * _INCHES_PER_UNIT * width, _INCHES_PER_UNIT * height + 0.8)
    figure, axes = _figure(figsize, 2)
    _draw_cell(axes[0], genotype.normal, genotype.normal_concat, "normal cell")
    _draw_cell(axes[1], genotype.reduce, genotype.reduce_concat, "reduction cell")
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
        series = {"entropy": _check_series(f"histories[{i}]['entropy']", history["entropy"])}
        if "val_accuracy" in history:
            series["val_accuracy"] = _check_series(f"histories[{i}]['val_accuracy']", history["val_accuracy"])
        checked.append(series)
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

    Left: the entropy of p(alpha | pi) per epoch. Right: the validation
    accuracy of the mode architecture per epoch, drawn only for histories
    that have `"val_accuracy"` (the panel is left out when none has).

    Args:
        histories: one dict like `keras.callbacks.History.history`, with the
            key `"entropy"` and optionally `"val_accuracy"`, or a list of them.
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
    with_accuracy = any("val_accuracy" in history for history in histories)
    figure, axes = _figure((11, 4) if with_accuracy else (5.5, 4), 2 if with_accuracy else 1)
    entropy_axes = axes[0]
    accuracy_axes = axes[1] if with_accuracy else None
    for i, (history, label) in enumerate(zip(histories, labels, strict=True)):
        style = {"color": f"C{i % 10}", "marker": "o", "markersize": 3, "label": label}
        entropy = history["entropy"]
        entropy_axes.plot(range(1, len(entropy) + 1), entropy, **style)
        if "val_accuracy" in history:
            accuracy = history["val_accuracy"]
            accuracy_axes.plot(range(1, len(accuracy) + 1), accuracy, **style)
    entropy_axes.set(title=r"entropy of $p(\alpha \mid \pi)$", xlabel="epoch", ylabel="entropy (nats)")
    if accuracy_axes is not None:
        accuracy_axes.set(title="validation accuracy of the mode", xlabel="epoch", ylabel="accuracy")
    for ax in axes:
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
