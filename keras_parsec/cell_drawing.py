"""The geometry of a cell diagram (PARSEC/DARTS Figure 2): node layout, edges routed around nodes, labels.

`visualize.plot_genotype` draws each cell with `draw_cell` on a matplotlib
axes; everything here is plain arithmetic on points, plus the axes' calls.
"""

import math

from keras_parsec.space import NUM_CELL_INPUTS

# Node layout, in data units of an equal-aspect axes.
NODE_SPACING = 1.5
_ROW_HEIGHT = 0.8
INPUT_HEIGHT = 1.6
INCHES_PER_UNIT = 0.9
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


def route(start, end, obstacles, drawn=None):
    """Picks a bend for an edge: the first, in `_BENDS` order, that stays inside
    the picture, clears the other nodes, and does not run along an edge in `drawn`.

    Falls back on the best compromise; adds the chosen curve's middle to `drawn`.
    """
    best, best_score = 0.0, None
    limit = INPUT_HEIGHT + 0.6
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


def layout(num_nodes):
    """Positions of the cell inputs (0, 1), the intermediate nodes (k + 2) and the output."""
    positions = {0: (0.0, INPUT_HEIGHT), 1: (0.0, -INPUT_HEIGHT)}
    for node in range(num_nodes):
        positions[node + NUM_CELL_INPUTS] = (NODE_SPACING * (node + 1), _ROW_HEIGHT * (1 if node % 2 == 0 else -1))
    output = (NODE_SPACING * (num_nodes + 1), 0.0)
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


def draw_cell(axes, pairs, concat, title):
    """Draws one cell: inputs on the left, intermediate nodes in a zigzag, the output on the right."""
    num_nodes = len(pairs) // 2
    positions, output = layout(num_nodes)
    every_node = [*positions.values(), output]
    drawn = []  # points along the edges drawn so far
    avoid = list(every_node)  # label positions so far, and the nodes
    for position, (operation, source) in enumerate(pairs):
        start, end = positions[source], positions[position // 2 + NUM_CELL_INPUTS]
        obstacles = [p for p in every_node if p not in (start, end)]
        bend = route(start, end, obstacles, drawn)
        _draw_edge(axes, start, end, bend, _COLOURS.get(operation, "#000000"), operation, avoid)
    for index in concat:
        start = positions[index]
        obstacles = [p for p in every_node if p not in (start, output)]
        _draw_edge(axes, start, output, route(start, output, obstacles), "#74c476", None, avoid, dashed=True)
    _draw_node(axes, positions[0], r"$c_{k-2}$", "input")
    _draw_node(axes, positions[1], r"$c_{k-1}$", "input")
    for node in range(num_nodes):
        _draw_node(axes, positions[node + NUM_CELL_INPUTS], str(node), "node")
    _draw_node(axes, output, r"$c_{k}$", "output")
    axes.set_title(title, fontsize=13)
    axes.set_xlim(-0.6, output[0] + 0.6)
    axes.set_ylim(-INPUT_HEIGHT - 0.75, INPUT_HEIGHT + 0.75)
    axes.set_aspect("equal")
    axes.axis("off")
