"""Cost against shared-weight accuracy of architectures sampled from the learnt distribution, and its Pareto front.

After a search, samples of p(alpha | pi) stand for the architectures its last
epoch trained. Each is scored on the run's shared weights (`tuning.ranking`,
no training) and costed from the budget's tables (`tuning.costs`); the plot
shows where the budget cuts the trade-off and which samples no other beats
on both cost and accuracy.
"""

import numpy as np

from keras_parsec import errors


def pareto_front(costs, accuracies):
    """Which points no other point beats: as cheap or cheaper and at least as accurate, better on one.

    Args:
        costs, accuracies: `[P]` arrays.

    Returns:
        bool `[P]`, True on the front.
    """
    costs, accuracies = np.asarray(costs, float), np.asarray(accuracies, float)
    no_worse = (costs[None, :] <= costs[:, None]) & (accuracies[None, :] >= accuracies[:, None])
    better = (costs[None, :] < costs[:, None]) | (accuracies[None, :] > accuracies[:, None])
    return ~(no_worse & better).any(axis=1)


def sampled_tradeoff(net, tables, x, y, num_architectures=32, seed=0, batch_size=64):
    """Distinct samples of `net`'s distribution with their costs and shared-weight scores.

    Args:
        net: a searched supernet (`ParsecTuner.load_supernet()`).
        tables: dict from cost name to `CostTable` (`ParsecTuner.cost_tables()`).
        x, y: held-out images and labels to score on.
        num_architectures: samples drawn (repeats are scored once).
        seed: the sampler's seed.
        batch_size: examples per forward pass.

    Returns:
        One dict per distinct sample: `genotype`, `log_likelihood`, `accuracy`,
        `log_prob` (under pi) and each cost by name; the mode first.
    """
    from keras_parsec.tuning import ranking

    distribution = net.distribution
    samples = [distribution.mode()] + distribution.sample(num_architectures, seed=seed)
    genotypes = list(dict.fromkeys(samples))
    points = ranking.score_genotypes(net, genotypes, x, y, batch_size)
    log_probs = distribution.log_prob(genotypes)
    for point, log_prob in zip(points, log_probs):
        point["log_prob"] = float(log_prob)
        point.update({name: float(table.genotype_cost(point["genotype"])) for name, table in tables.items()})
    return points


def plot_pareto(points, path, cost="params", limit=None, title=None):
    """Plots cost against shared-weight accuracy, the front joined, the mode and the limit marked.

    Args:
        points: from `sampled_tradeoff` (the first is the mode).
        path: PNG path.
        cost: which cost is the horizontal axis.
        limit: the budget's limit on it, drawn as a vertical line, or None.
        title: the plot's title.

    Returns:
        `path`.
    """
    if not points or cost not in points[0]:
        raise errors.invalid_argument("cost", f"a cost the points carry ({sorted(points[0]) if points else []})", cost)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    costs = np.array([p[cost] for p in points])
    accuracies = np.array([p["accuracy"] for p in points])
    front = pareto_front(costs, accuracies)
    order = np.argsort(costs[front])
    figure, axes = plt.subplots(figsize=(6, 4))
    axes.scatter(costs, accuracies, s=14, color="0.6", label="samples of p(alpha | pi)")
    axes.plot(costs[front][order], accuracies[front][order], "o-", color="C0", label="Pareto front")
    axes.scatter(costs[:1], accuracies[:1], s=80, marker="*", color="C3", zorder=3, label="mode")
    if limit is not None:
        axes.axvline(limit, color="C1", linestyle="--", label=f"budget ({cost})")
    axes.set_xlabel(cost)
    axes.set_ylabel("accuracy on the shared weights")
    axes.set_title(title or "cost against shared-weight accuracy")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path
