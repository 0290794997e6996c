"""Pictures: cell diagrams (paper Figure 2) and search curves (Figure 3), with matplotlib."""

import os


def _pyplot():
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError("Drawing needs matplotlib: `pip install matplotlib`.") from e
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _prepare(path):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    return path


def _draw_cell(axes, pairs, concat, title):
    """Draws one cell: inputs left, intermediate nodes in the middle, the output right."""
    num_nodes = len(pairs) // 2
    positions = {0: (0.0, 0.75), 1: (0.0, 0.25)}
    for node in range(num_nodes):
        positions[node + 2] = (0.25 + 0.5 * node / max(num_nodes - 1, 1), 0.9 - 0.8 * node / max(num_nodes - 1, 1))
    output = (1.0, 0.5)
    names = {0: "c_{k-2}", 1: "c_{k-1}"}
    style = {"boxstyle": "round,pad=0.3"}
    for index, (x, y) in positions.items():
        face = "#9ecae1" if index < 2 else "#fdd49e"
        axes.text(
            x,
            y,
            names.get(index, str(index - 2)),
            ha="center",
            va="center",
            fontsize=9,
            bbox={**style, "facecolor": face},
            zorder=3,
        )
    axes.text(*output, "c_{k}", ha="center", va="center", fontsize=9, bbox={**style, "facecolor": "#c7e9c0"}, zorder=3)
    for position, (operation, source) in enumerate(pairs):
        target = position // 2 + 2
        start, end = positions[source], positions[target]
        bend = 0.15 if position % 2 else -0.15
        axes.annotate(
            "",
            xy=end,
            xytext=start,
            zorder=1,
            arrowprops={
                "arrowstyle": "->",
                "color": "#555555",
                "shrinkA": 12,
                "shrinkB": 12,
                "connectionstyle": f"arc3,rad={bend}",
            },
        )
        middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + bend * 0.25)
        axes.text(
            *middle,
            operation,
            fontsize=7,
            ha="center",
            va="center",
            color="#08306b",
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none", "alpha": 0.8},
            zorder=2,
        )
    for index in concat:
        axes.annotate(
            "",
            xy=output,
            xytext=positions[index],
            zorder=1,
            arrowprops={"arrowstyle": "->", "color": "#a1d99b", "shrinkA": 12, "shrinkB": 12, "linestyle": "dashed"},
        )
    axes.set_title(title)
    axes.set_xlim(-0.12, 1.12)
    axes.set_ylim(0.0, 1.0)
    axes.axis("off")


def plot_genotype(genotype, path, title=None):
    """Draws the normal and the reduction cell of `genotype` side by side.

    Args:
        genotype: a `Genotype`.
        path: image file to write (PNG, SVG, PDF...); its folder is created.
        title: optional figure title.

    Returns:
        `path`.
    """
    plt = _pyplot()
    figure, (normal, reduce) = plt.subplots(1, 2, figsize=(14, 5.5))
    _draw_cell(normal, genotype.normal, genotype.normal_concat, "normal cell")
    _draw_cell(reduce, genotype.reduce, genotype.reduce_concat, "reduction cell")
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(_prepare(path), dpi=110)
    plt.close(figure)
    return path


def plot_search(histories, path, labels=None):
    """Draws entropy of p(alpha | pi) and validation accuracy of the mode per epoch.

    Args:
        histories: one dict like `keras.callbacks.History.history` (keys
            `"entropy"` and, optionally, `"val_accuracy"`) or a list of them.
        path: image file to write; its folder is created.
        labels: optional names of the histories (e.g. seeds).

    Returns:
        `path`.
    """
    plt = _pyplot()
    if isinstance(histories, dict):
        histories = [histories]
    labels = labels or [f"run {i}" for i in range(len(histories))]
    figure, (accuracy_axes, entropy_axes) = plt.subplots(1, 2, figsize=(11, 4))
    for history, label in zip(histories, labels):
        if "val_accuracy" in history:
            epochs = range(1, len(history["val_accuracy"]) + 1)
            accuracy_axes.plot(epochs, history["val_accuracy"], marker="o", label=label)
        if "entropy" in history:
            entropy_axes.plot(range(1, len(history["entropy"]) + 1), history["entropy"], marker="o", label=label)
    accuracy_axes.set(title="validation accuracy of the mode", xlabel="epoch", ylabel="accuracy")
    entropy_axes.set(title="entropy of p(alpha | pi)", xlabel="epoch", ylabel="nats")
    for axes in (accuracy_axes, entropy_axes):
        axes.grid(alpha=0.3)
        if axes.get_legend_handles_labels()[0]:
            axes.legend()
    figure.tight_layout()
    figure.savefig(_prepare(path), dpi=110)
    plt.close(figure)
    return path
