"""Running training: the history it records, when to stop, how the learning
rate moves, and what happens on NaN or Ctrl-C.

:meth:`nncore.Network.SGD` uses everything here; the pieces are public so
that they can be combined and extended:

* :class:`History` -- what ``SGD`` returns: network2's four lists, plus
  fractions, the learning rate and wall time per epoch, monitoring points
  within epochs, the best epoch and why training stopped;
* stopping rules -- :class:`NoImprovement` (the chapter's
  no-improvement-in-n) and :class:`DiminishingReturns` (stop when the best
  accuracy gains too little per epoch);
* learning-rate schedules -- :class:`HalveOnPlateau` (the chapter's
  exercise: halve eta at each no-improvement-in-n, stop at eta0/128) and
  :class:`StepSchedule` (eta = 0.25 for 20 epochs, then 0.025, say);
* :class:`StopTraining` -- raise it (or return True) from a callback to stop.
"""

from __future__ import annotations

import json
import math
import os

__all__ = [
    "History",
    "StopTraining",
    "NoImprovement",
    "DiminishingReturns",
    "HalveOnPlateau",
    "StepSchedule",
    "make_schedule",
    "make_stopping_rule",
    "load_history",
    "STOP_REASONS",
]

#: Why training stopped, as recorded in ``History.stop_reason``.
STOP_REASONS = {
    "completed": "ran every epoch asked for",
    "early stopping": "the stopping rule fired",
    "learning rate schedule": "the schedule's learning rate fell to its floor",
    "non-finite": "the cost or the weights became NaN or infinite",
    "interrupted": "interrupted (Ctrl-C)",
    "callback": "a callback asked to stop",
}


class StopTraining(Exception):
    """Raise from a callback to end training after the current point."""


class History(tuple):
    """What :meth:`Network.SGD` returns.

    It *is* network2's tuple ``(evaluation_cost, evaluation_accuracy,
    training_cost, training_accuracy)`` -- one entry per epoch in each list,
    empty unless its monitor flag was set, accuracies as counts -- so
    ``a, b, c, d = net.SGD(...)`` works as in the book.  It also carries:

    ``eta``             the learning rate of each epoch
    ``epoch_seconds``   wall time of each epoch's training (monitoring excluded)
    ``augment_seconds`` wall time of each epoch's data augmentation, if any
    ``points``          monitoring points (one dict each; see ``SGD``'s
                        ``monitor_every``), with epoch, mini-batch, examples
                        seen, seconds since the start, and the accuracy
    ``best_epoch``, ``best_accuracy``   the epoch (0-based) with the highest
                        evaluation accuracy (a count), when it was measured
    ``stop_reason``     one of :data:`STOP_REASONS`
    ``interrupted``     True if Ctrl-C ended training; ``interrupted_at`` is
                        then ``(epoch, examples done in that epoch)``
    ``restored_best``   True if the best epoch's weights were put back
    ``n_evaluation``, ``n_training``    the sizes of the data sets
    """

    def __new__(cls, evaluation_cost=(), evaluation_accuracy=(), training_cost=(),
                training_accuracy=(), *, n_evaluation=0, n_training=0, **extra):
        self = super().__new__(cls, (list(evaluation_cost), list(evaluation_accuracy),
                                     list(training_cost), list(training_accuracy)))
        self.n_evaluation = int(n_evaluation)
        self.n_training = int(n_training)
        self.epoch_seconds = list(extra.pop("epoch_seconds", []))
        self.eta = list(extra.pop("eta", []))
        self.points = list(extra.pop("points", []))
        self.best_epoch = extra.pop("best_epoch", None)
        self.best_accuracy = extra.pop("best_accuracy", None)
        self.stop_reason = extra.pop("stop_reason", "completed")
        self.interrupted = bool(extra.pop("interrupted", False))
        self.restored_best = bool(extra.pop("restored_best", False))
        self.interrupted_at = extra.pop("interrupted_at", None)
        self.augment_seconds = list(extra.pop("augment_seconds", []))
        if extra:
            raise TypeError(f"unknown History fields: {sorted(extra)}")
        return self

    def __getnewargs_ex__(self):  # for pickling and copy
        d = self.to_dict()
        return (), d

    evaluation_cost = property(lambda self: self[0])
    evaluation_accuracy = property(lambda self: self[1])
    training_cost = property(lambda self: self[2])
    training_accuracy = property(lambda self: self[3])

    @property
    def epochs(self):
        """Number of epochs trained to the end."""
        return len(self.epoch_seconds)

    @property
    def evaluation_accuracy_fraction(self):
        return [a / self.n_evaluation for a in self[1]] if self.n_evaluation else []

    @property
    def training_accuracy_fraction(self):
        return [a / self.n_training for a in self[3]] if self.n_training else []

    def to_dict(self):
        return {
            "evaluation_cost": list(self[0]),
            "evaluation_accuracy": list(self[1]),
            "training_cost": list(self[2]),
            "training_accuracy": list(self[3]),
            "n_evaluation": self.n_evaluation,
            "n_training": self.n_training,
            "epoch_seconds": list(self.epoch_seconds),
            "eta": list(self.eta),
            "points": [dict(p) for p in self.points],
            "best_epoch": self.best_epoch,
            "best_accuracy": self.best_accuracy,
            "stop_reason": self.stop_reason,
            "interrupted": self.interrupted,
            "restored_best": self.restored_best,
            "interrupted_at": self.interrupted_at,
            "augment_seconds": list(self.augment_seconds),
        }

    @classmethod
    def from_dict(cls, data):
        data = dict(data)
        lists = [data.pop(k, []) for k in ("evaluation_cost", "evaluation_accuracy",
                                          "training_cost", "training_accuracy")]
        return cls(*lists, **data)

    def save(self, filename):
        """Write the history as JSON (atomically: a temporary file in the
        same directory, then a rename).  Non-finite costs are written as
        null."""
        from .network import _atomic_write_text

        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None
            if isinstance(v, list):
                return [clean(x) for x in v]
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            return v

        d = clean(self.to_dict())
        d["format"] = "nncore-history"
        d["format_version"] = 1
        _atomic_write_text(os.fspath(filename), json.dumps(d, indent=1))

    def __repr__(self):
        best = "" if self.best_epoch is None else \
            f", best_epoch={self.best_epoch}, best_accuracy={self.best_accuracy}"
        return (f"History(epochs={self.epochs}, evaluation_accuracy={self[1]}, "
                f"training_accuracy={self[3]}{best}, stop_reason={self.stop_reason!r})")


def load_history(filename):
    """Read a history written by :meth:`History.save`."""
    filename = os.fspath(filename)
    try:
        with open(filename, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{filename}: not a training history ({e})") from None
    if not isinstance(data, dict) or data.get("format") != "nncore-history":
        raise ValueError(f"{filename}: not a training history written by nncore")
    data.pop("format")
    data.pop("format_version", None)
    try:
        return History.from_dict(data)
    except TypeError as e:
        raise ValueError(f"{filename}: {e}") from None


# -- stopping rules -----------------------------------------------------------

class NoImprovement:
    """The chapter's no-improvement-in-n rule: stop when the best evaluation
    accuracy has not improved for ``patience`` epochs."""

    def __init__(self, patience=10):
        if int(patience) < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {patience}")
        self.patience = int(patience)

    def should_stop(self, history):
        acc = history.evaluation_accuracy
        if not acc:
            return False
        best = max(range(len(acc)), key=acc.__getitem__)  # first epoch reaching the best
        return len(acc) - 1 - best >= self.patience

    def __repr__(self):
        return f"NoImprovement(patience={self.patience})"


class DiminishingReturns:
    """Stop when more training buys too little: when the best evaluation
    accuracy has risen by less than ``min_gain`` (a fraction: 0.001 is 0.1
    percentage points, 10 of 10,000 images) over the last ``window`` epochs.

    It trades accuracy for time explicitly -- an epoch is worth running only
    while it gains, on average, ``min_gain / window`` -- so it stops on a
    slow creep that no-improvement-in-n would sit through (each small new
    best resets that rule's count), and it never waits ``n`` epochs after a
    plateau has clearly set in.  It fires no earlier than epoch ``window``.
    """

    def __init__(self, window=5, min_gain=0.001):
        if int(window) < 1:
            raise ValueError(f"window must be at least 1 epoch, got {window}")
        if not min_gain >= 0:
            raise ValueError(f"min_gain must be >= 0, got {min_gain}")
        self.window = int(window)
        self.min_gain = float(min_gain)

    def should_stop(self, history):
        acc = history.evaluation_accuracy
        if len(acc) <= self.window or not history.n_evaluation:
            return False
        best_now = max(acc)
        best_before = max(acc[:-self.window])
        return (best_now - best_before) / history.n_evaluation < self.min_gain

    def __repr__(self):
        return f"DiminishingReturns(window={self.window}, min_gain={self.min_gain})"


def make_stopping_rule(rule):
    """None, an int n (no-improvement-in-n) or a rule object."""
    if rule is None or rule is False:
        return None
    if isinstance(rule, bool):
        raise ValueError("early_stopping takes a number of epochs or a rule, not True")
    if isinstance(rule, int):
        return NoImprovement(rule)
    if hasattr(rule, "should_stop"):
        return rule
    raise ValueError(f"early_stopping must be an int or a stopping rule, got {rule!r}")


# -- learning-rate schedules ----------------------------------------------------

class HalveOnPlateau:
    """The chapter's schedule: hold eta until the evaluation accuracy
    satisfies no-improvement-in-``patience``, then halve it (and start
    counting afresh); stop when eta has fallen to ``eta0 * min_factor``
    (1/128 by default)."""

    def __init__(self, patience=10, factor=0.5, min_factor=1 / 128):
        if int(patience) < 1:
            raise ValueError(f"patience must be at least 1 epoch, got {patience}")
        if not 0 < factor < 1:
            raise ValueError(f"factor must lie in (0, 1), got {factor}")
        if not 0 < min_factor < 1:
            raise ValueError(f"min_factor must lie in (0, 1), got {min_factor}")
        self.patience = int(patience)
        self.factor = float(factor)
        self.min_factor = float(min_factor)
        self.needs_accuracy = True

    def start(self, eta0):
        self.eta0 = float(eta0)
        self.current = float(eta0)
        self._best = -math.inf
        self._mark = 0  # the last improvement or halving: patience counts from here

    def eta(self, epoch):
        return self.current

    def update(self, epoch, history):
        """After an epoch: returns False when training should stop."""
        acc = history.evaluation_accuracy[-1]
        if acc > self._best:
            self._best = acc
            self._mark = epoch
        elif epoch - self._mark >= self.patience:
            self.current *= self.factor
            self._mark = epoch
            if self.current <= self.eta0 * self.min_factor * (1 + 1e-12):
                return False
        return True

    def __repr__(self):
        return (f"HalveOnPlateau(patience={self.patience}, factor={self.factor}, "
                f"min_factor={self.min_factor})")


class StepSchedule:
    """eta by epoch: ``StepSchedule({20: 0.025})`` keeps the starting eta for
    epochs 0-19 and uses 0.025 from epoch 20 on (the chapter's example with
    eta = 0.25)."""

    def __init__(self, steps):
        try:
            items = sorted((int(e), float(v)) for e, v in dict(steps).items())
        except (TypeError, ValueError):
            raise ValueError(f"steps must map epochs to learning rates, got {steps!r}") from None
        for e, v in items:
            if e < 0 or not v > 0 or not math.isfinite(v):
                raise ValueError(f"bad step {e}: {v} (epochs >= 0, learning rates > 0)")
        self.steps = items
        self.needs_accuracy = False

    def start(self, eta0):
        self.eta0 = float(eta0)

    def eta(self, epoch):
        eta = self.eta0
        for e, v in self.steps:
            if epoch >= e:
                eta = v
        return eta

    def update(self, epoch, history):
        return True

    def __repr__(self):
        return f"StepSchedule({dict(self.steps)})"


def make_schedule(schedule, patience=10):
    """None, "halve" (HalveOnPlateau with this patience), a dict
    {epoch: eta} (StepSchedule), or a schedule object."""
    if schedule is None:
        return None
    if schedule == "halve":
        return HalveOnPlateau(patience)
    if isinstance(schedule, dict):
        return StepSchedule(schedule)
    if all(hasattr(schedule, a) for a in ("start", "eta", "update")):
        return schedule
    raise ValueError(
        f"schedule must be 'halve', a dict {{epoch: eta}} or a schedule object, got {schedule!r}")
