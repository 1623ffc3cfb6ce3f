"""Plots of a training history in the style of the chapter's figures:
cost or accuracy against epoch, training beside evaluation data, from a
chosen first epoch.  Needs matplotlib (``pip install nncore[plot]``);
renders without a display.
"""

from __future__ import annotations

import os

from .training import History, load_history

__all__ = ["plot_history"]

_METRICS = ("accuracy", "cost")


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError(
            "plotting needs matplotlib: pip install matplotlib (or nncore[plot])") from None
    if not os.environ.get("DISPLAY") or matplotlib.get_backend().lower() == "agg":
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot_history(history, metric="accuracy", *, start_epoch=0, data=("evaluation", "training"),
                 out=None, title=None, ax=None, points=True):
    """Plot ``metric`` ("accuracy" or "cost") of ``history`` (a
    :class:`~nncore.training.History` or the path of one saved as JSON)
    against epoch, one line per data set in ``data``, from ``start_epoch``
    on (the chapter plots the cost from epoch 200 of 400, say).

    Accuracies are shown as percentages.  With ``points``, monitoring points
    within epochs are drawn too, at fractional epochs.  Saves to ``out``
    (PNG, SVG, PDF by extension) when given; returns the matplotlib Figure.
    """
    if not isinstance(history, History):
        history = load_history(history)
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {_METRICS}, got {metric!r}")
    data = (data,) if isinstance(data, str) else tuple(data)
    for d in data:
        if d not in ("evaluation", "training"):
            raise ValueError(f"data must be 'evaluation' and/or 'training', got {d!r}")
    if int(start_epoch) < 0:
        raise ValueError(f"start_epoch must be >= 0, got {start_epoch}")
    plt = _pyplot()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.0))
    else:
        fig = ax.figure
    drawn = 0
    for d in data:
        values = getattr(history, f"{d}_{metric}")
        n = history.n_evaluation if d == "evaluation" else history.n_training
        if not values:
            continue
        if metric == "accuracy":
            values = [100.0 * v / n for v in values]
        epochs = list(range(len(values)))
        pairs = [(e, v) for e, v in zip(epochs, values) if e >= start_epoch]
        if not pairs:
            continue
        xs, ys = zip(*pairs)
        ax.plot(xs, ys, marker="." if len(xs) < 60 else None,
                label=f"{'Accuracy' if metric == 'accuracy' else 'Cost'} on the {d} data")
        drawn += 1
    if points and metric == "accuracy" and history.points:
        per_epoch = history.n_training or 1
        pts = [(p["examples"] / per_epoch - 1, 100.0 * p["accuracy"] / p["n"])
               for p in history.points if p["examples"] / per_epoch - 1 >= start_epoch]
        if pts:
            xs, ys = zip(*pts)
            ax.plot(xs, ys, linestyle=":", alpha=0.7,
                    label="Accuracy at monitoring points (subset)")
            drawn += 1
    if not drawn:
        raise ValueError(
            f"the history holds no {metric} to plot from epoch {start_epoch}: train with "
            f"monitor_evaluation_{metric}=True or monitor_training_{metric}=True")
    ax.set_xlabel("Epoch")
    ax.set_ylabel("Accuracy (%)" if metric == "accuracy" else "Cost")
    if history.best_epoch is not None and metric == "accuracy" and "evaluation" in data \
            and history.best_epoch >= start_epoch:
        ax.axvline(history.best_epoch, color="grey", linewidth=0.8, linestyle="--")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    ax.set_title(title if title is not None else
                 f"{metric.capitalize()} by epoch ({history.stop_reason})")
    fig.tight_layout()
    if out is not None:
        fig.savefig(os.fspath(out), dpi=120)
    return fig
