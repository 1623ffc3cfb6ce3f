"""Hyper-parameter search: the chapter's section on choosing
hyper-parameters, automated.

Two ways in:

* :func:`search` -- grid search, random search (Bergstra and Bengio, 2012)
  or Bayesian optimization with Optuna's TPE sampler over eta, lambda, the
  mini-batch size, the hidden layers, momentum, dropout, L1, the neurons
  and the number of epochs (with early stopping), each trial scored by its
  best validation accuracy.  Trials report the validation accuracy
  after every epoch and are pruned when they lag (Optuna's pruners); a trial
  that diverges to NaN is recorded as a *failed* trial and the search goes
  on.  Any number of worker processes -- on this machine
  (``n_workers=``) or on others (:func:`worker`) -- share one search
  through Optuna's storage: a SQLite file on one machine, a PostgreSQL URL
  across machines.
* :func:`broad_strategy` -- the chapter's procedure, step by step:
  estimate the threshold eta from the training cost over the first few
  epochs (orders of magnitude from 0.01, then refined) and use half of it;
  choose lambda on validation accuracy (1.0, then x10 or /10, then
  refined); then re-tune eta.  It needs only nncore.

Optuna is an optional dependency (``pip install optuna`` or
``pip install "nncore[search]"``), imported when a search starts; the plots
need matplotlib.  The command line is ``nncore search`` (also
``python -m nncore.search``).

A search space maps hyper-parameter names (see :data:`PARAMETERS`) to
:class:`Float`, :class:`Int`, :class:`Choice` or :class:`Fixed`, or to
their text forms (``"0.01:3:log"``, ``"5,10,20,50"``, ``"0.5"``)::

    from nncore.search import search, Float, Choice
    result = search("mnist.pkl.gz", {"eta": Float(0.01, 3, log=True),
                                     "lmbda": Float(0.1, 20, log=True),
                                     "mini_batch_size": Choice([5, 10, 20, 50])},
                    sizes=[784, 100, 10], n_trials=60, epochs=40, early_stopping=5,
                    storage="sqlite:///search.db", study_name="mnist-100", n_workers=2)
    print(result.summary()); result.save("search-out")

Across machines, every worker needs the same ``mnist.pkl.gz`` (checked by a
fingerprint) and a PostgreSQL server they can all reach::

    # on the database machine (once): a role and a database for the searches
    sudo -u postgres createuser --pwprompt nncore
    sudo -u postgres createdb --owner nncore nncore
    # postgresql.conf: listen_addresses = '*'; pg_hba.conf: a line such as
    #   host  nncore  nncore  10.0.0.0/24  scram-sha-256

    # machine A starts the search (and runs 2 workers itself)
    nncore search --storage postgresql://nncore:PASSWORD@dbhost:5432/nncore \
        --study mnist-100 --sizes 784,100,10 --trials 200 --workers 2
    # machines B, C, ... join it: settings come from the study
    nncore search --join --storage postgresql://nncore:PASSWORD@dbhost:5432/nncore \
        --study mnist-100 --workers 2

Every worker runs trials until the study holds its total; machine A then
waits for trials still running elsewhere and reports.  A worker that dies
stops sending heartbeats; after three minutes its trial is marked failed
and retried once.  The same study name resumes an interrupted search.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import hashlib
import io
import json
import logging
import math
import os
import re
import socket
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "PARAMETERS",
    "Float",
    "Int",
    "Choice",
    "Fixed",
    "parse_spec",
    "make_space",
    "default_space",
    "search",
    "worker",
    "study_result",
    "broad_strategy",
    "SearchResult",
    "BroadStrategyResult",
    "plot_trials",
    "trials_table",
    "add_search_parser",
    "run_search",
    "main",
]

#: The hyper-parameters a search can set: name -> (kind, default, meaning).
#: ``hidden`` is the list of hidden-layer widths (its default comes from
#: ``sizes``); ``epochs`` is the most epochs a trial may run (early stopping
#: usually ends it sooner).
PARAMETERS = {
    "eta": ("float", 0.5, "learning rate"),
    "lmbda": ("float", 5.0, "L2 regularization parameter"),
    "mini_batch_size": ("int", 10, "mini-batch size"),
    "hidden": ("layers", None, "hidden layer widths"),
    "epochs": ("int", 30, "most epochs per trial"),
    "momentum": ("float", 0.0, "momentum coefficient mu"),
    "nesterov": ("bool", False, "Nesterov's accelerated gradient"),
    "dropout": ("float", 0.0, "dropout probability p of hidden neurons"),
    "l1": ("float", 0.0, "L1 regularization parameter"),
    "activation": ("str", "sigmoid", "hidden neurons"),
    "cost": ("str", "cross-entropy", "cost function"),
}

_CONFIG_ATTR = "nncore.search"
_CONFIG_VERSION = 1
_BUDGET_KEYS = ("n_trials", "timeout", "data_path", "n_startup_trials", "storage_url")


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ImportError(
            "hyper-parameter search needs Optuna: pip install optuna "
            "(or pip install \"nncore[search]\")") from None
    return optuna


# ---------------------------------------------------------------------------
# The search space
# ---------------------------------------------------------------------------

def _layers(value):
    """Hidden layer widths as a tuple from 100, (100, 30), "100-30", "none"."""
    if value is None:
        return ()
    if isinstance(value, (bool, np.bool_)):
        raise ValueError(f"hidden layers: expected widths, got {value!r}")
    if isinstance(value, (int, np.integer)):
        return (int(value),)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("", "none", "-"):
            return ()
        try:
            widths = tuple(int(w) for w in re.split(r"[-x+/ ]+", text))
        except ValueError:
            raise ValueError(f"hidden layers: expected widths such as 100 or 100-30, "
                             f"got {value!r}") from None
        return _layers(widths)
    try:
        widths = tuple(int(w) for w in value)
    except (TypeError, ValueError):
        raise ValueError(f"hidden layers: expected widths such as 100 or (100, 30), "
                         f"got {value!r}") from None
    if any(w < 1 for w in widths):
        raise ValueError(f"hidden layers need at least one neuron each, got {value!r}")
    return widths


def _layers_text(value):
    widths = _layers(value)
    return "-".join(map(str, widths)) if widths else "none"


def _canonical(name, value):
    """A value as Optuna stores it (str/int/float/bool)."""
    kind = PARAMETERS[name][0]
    if kind == "layers":
        return _layers_text(value)
    if kind == "int":
        if isinstance(value, (bool, np.bool_)) or float(value) != int(value):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        return int(value)
    if kind == "float":
        if isinstance(value, (bool, np.bool_, str)):
            raise ValueError(f"{name} must be a number, got {value!r}")
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"{name} must be finite, got {value!r}")
        return v
    if kind == "bool":
        if isinstance(value, str):
            t = value.strip().lower()
            if t in ("1", "true", "yes", "on"):
                return True
            if t in ("0", "false", "no", "off"):
                return False
            raise ValueError(f"{name} is true or false, got {value!r}")
        return bool(value)
    return str(value)


class _Spec:
    log = False

    def searched(self):
        return True


class Float(_Spec):
    """A real hyper-parameter drawn from [low, high], uniformly or (with
    ``log=True``) uniformly in its logarithm.  ``grid`` gives the values a
    grid search tries (by default 1 and 3 times each power of ten inside
    the range for ``log``, else ``grid_points`` evenly spaced values)."""

    kind = "float"

    def __init__(self, low, high, *, log=False, step=None, grid=None, grid_points=3):
        low, high = float(low), float(high)
        if not (math.isfinite(low) and math.isfinite(high)) or not low < high:
            raise ValueError(f"a range needs low < high, got {low} and {high}")
        if log and low <= 0:
            raise ValueError(f"a log-scale range must be positive, got {low}:{high}")
        self.low, self.high, self.log = low, high, bool(log)
        self.step = None if step is None else float(step)
        self.grid = None if grid is None else [float(v) for v in grid]
        self.grid_points = int(grid_points)

    def suggest(self, trial, name):
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)

    def grid_values(self):
        if self.grid is not None:
            return list(self.grid)
        if self.log:
            values = []
            for k in range(math.floor(math.log10(self.low)) - 1,
                           math.ceil(math.log10(self.high)) + 1):
                for m in (1, 3):
                    v = float(f"{m * 10.0 ** k:.6g}")
                    if self.low * (1 - 1e-9) <= v <= self.high * (1 + 1e-9):
                        values.append(v)
            return values or [self.low, self.high]
        return [float(f"{v:.6g}") for v in np.linspace(self.low, self.high, self.grid_points)]

    def to_json(self):
        return {"type": "float", "low": self.low, "high": self.high, "log": self.log,
                "step": self.step, "grid": self.grid, "grid_points": self.grid_points}

    def __repr__(self):
        extra = ", log=True" if self.log else ""
        return f"Float({self.low:g}, {self.high:g}{extra})"


class Int(_Spec):
    """A whole-number hyper-parameter in [low, high] (``log=True``: uniform
    in the logarithm).  ``grid`` as for :class:`Float` (default: powers of
    two inside the range for ``log``, else ``grid_points`` evenly spaced)."""

    kind = "int"

    def __init__(self, low, high, *, log=False, step=1, grid=None, grid_points=3):
        low, high = int(low), int(high)
        if not low < high:
            raise ValueError(f"a range needs low < high, got {low} and {high}")
        if log and low < 1:
            raise ValueError(f"a log-scale range must be positive, got {low}:{high}")
        self.low, self.high, self.log, self.step = low, high, bool(log), int(step)
        self.grid = None if grid is None else [int(v) for v in grid]
        self.grid_points = int(grid_points)

    def suggest(self, trial, name):
        if self.log:
            return trial.suggest_int(name, self.low, self.high, log=True)
        return trial.suggest_int(name, self.low, self.high, step=self.step)

    def grid_values(self):
        if self.grid is not None:
            return list(self.grid)
        if self.log:
            values = [2 ** k for k in range(0, 31) if self.low <= 2 ** k <= self.high]
            return sorted(set([self.low] + values + [self.high]))
        return sorted(set(int(round(v)) for v in
                          np.linspace(self.low, self.high, self.grid_points)))

    def to_json(self):
        return {"type": "int", "low": self.low, "high": self.high, "log": self.log,
                "step": self.step, "grid": self.grid, "grid_points": self.grid_points}

    def __repr__(self):
        return f"Int({self.low}, {self.high}{', log=True' if self.log else ''})"


class Choice(_Spec):
    """One of a list of values (categorical); a grid search tries each."""

    kind = "choice"

    def __init__(self, values):
        values = list(values)
        if not values:
            raise ValueError("a choice needs at least one value")
        self.values = values

    def suggest(self, trial, name):
        return trial.suggest_categorical(name, self.values)

    def grid_values(self):
        return list(self.values)

    def to_json(self):
        return {"type": "choice", "values": list(self.values)}

    def __repr__(self):
        return f"Choice({self.values!r})"


class Fixed(_Spec):
    """A hyper-parameter held at one value (not searched)."""

    kind = "fixed"

    def __init__(self, value):
        self.value = value

    def searched(self):
        return False

    def to_json(self):
        return {"type": "fixed", "value": self.value}

    def __repr__(self):
        return f"Fixed({self.value!r})"


def _spec_from_json(d):
    t = d["type"]
    if t == "float":
        return Float(d["low"], d["high"], log=d["log"], step=d.get("step"), grid=d.get("grid"),
                     grid_points=d.get("grid_points", 3))
    if t == "int":
        return Int(d["low"], d["high"], log=d["log"], step=d.get("step", 1), grid=d.get("grid"),
                   grid_points=d.get("grid_points", 3))
    if t == "choice":
        return Choice(d["values"])
    if t == "fixed":
        return Fixed(d["value"])
    raise ValueError(f"unknown search-space entry {d!r}")


def parse_spec(name, text):
    """A space entry from text: ``"0.01:3:log"`` (a range, log scale),
    ``"0:0.9"`` (a linear range), ``"5,10,20,50"`` (a choice), ``"0.5"``
    (fixed).  For ``hidden``, ``"30,100,100-30"`` is a choice of layer lists
    and ``"30:300:log"`` the width of one hidden layer."""
    if name not in PARAMETERS:
        raise ValueError(f"unknown hyper-parameter {name!r}; use one of "
                         f"{', '.join(PARAMETERS)}")
    kind = PARAMETERS[name][0]
    text = str(text).strip()
    if not text:
        raise ValueError(f"{name}: empty specification")
    try:
        if ":" in text:
            parts = text.split(":")
            log = False
            if parts[-1].strip().lower() in ("log", "lin", "linear"):
                log = parts.pop().strip().lower() == "log"
            if len(parts) != 2 or kind not in ("float", "int", "layers"):
                raise ValueError("a range is LOW:HIGH or LOW:HIGH:log (numbers only)")
            if kind == "float":
                return Float(float(parts[0]), float(parts[1]), log=log)
            return Int(int(parts[0]), int(parts[1]), log=log)
        if "," in text:
            return Choice([_canonical(name, v.strip()) if kind in ("layers", "bool", "str")
                           else _canonical(name, float(v)) for v in text.split(",")])
        if kind in ("layers", "bool", "str"):
            return Fixed(_canonical(name, text))
        return Fixed(_canonical(name, float(text)))
    except ValueError as e:
        raise ValueError(f"{name}: cannot read {text!r}: {e}") from None


def default_space():
    """The chapter's three: eta (0.01-3, log), lambda (0.1-20, log) and the
    mini-batch size (5, 10, 20, 50); everything else fixed."""
    return {"eta": Float(0.01, 3.0, log=True), "lmbda": Float(0.1, 20.0, log=True),
            "mini_batch_size": Choice([5, 10, 20, 50])}


def make_space(space=None, *, sizes=(784, 30, 10), epochs=30):
    """The full space: every name of :data:`PARAMETERS`, the ones not given
    fixed at their defaults (``hidden`` from ``sizes``, ``epochs`` from
    ``epochs``).  Entries may be specs, text (see :func:`parse_spec`),
    lists (a choice) or plain values (fixed)."""
    if space is None:
        space = default_space()
    if not isinstance(space, dict):
        raise ValueError("space must map hyper-parameter names to ranges or choices")
    full = {}
    for name, (kind, default, _) in PARAMETERS.items():
        if name == "hidden":
            default = _layers_text(list(sizes)[1:-1])
        elif name == "epochs":
            default = int(epochs)
        full[name] = Fixed(default)
    for name, entry in space.items():
        if name not in PARAMETERS:
            raise ValueError(f"unknown hyper-parameter {name!r} in the search space; use "
                             f"{', '.join(PARAMETERS)}")
        kind = PARAMETERS[name][0]
        if isinstance(entry, str):
            entry = parse_spec(name, entry)
        elif isinstance(entry, (list, set)) or (isinstance(entry, tuple) and kind != "layers"):
            entry = Choice(list(entry))
        elif not isinstance(entry, _Spec):
            entry = Fixed(entry)
        if isinstance(entry, Fixed):
            entry = Fixed(_canonical(name, entry.value))
        elif isinstance(entry, Choice):
            entry = Choice([_canonical(name, v) for v in entry.values])
        elif kind in ("str", "bool"):
            raise ValueError(f"{name} takes a choice of values, not a range")
        elif kind == "float" and isinstance(entry, Int):
            entry = Float(entry.low, entry.high, log=entry.log, grid=entry.grid)
        elif kind in ("int", "layers") and isinstance(entry, Float):
            raise ValueError(f"{name} takes whole numbers: use Int({entry.low:g}, "
                             f"{entry.high:g}) or a Choice")
        full[name] = entry
    return full


def _space_json(space):
    return {name: spec.to_json() for name, spec in space.items()}


def _space_from_json(d):
    return {name: _spec_from_json(v) for name, v in d.items()}


def _searched(space):
    return [name for name, spec in space.items() if spec.searched()]


def _resolve(params, space, cfg):
    """The complete training configuration for sampled ``params``."""
    conf = {}
    for name, spec in space.items():
        conf[name] = params[name] if name in params else spec.value
    hidden = _layers(conf.pop("hidden"))
    conf["sizes"] = [cfg["n_in"], *hidden, cfg["n_out"]]
    conf["epochs"] = int(conf["epochs"])
    conf["mini_batch_size"] = int(conf["mini_batch_size"])
    conf["early_stopping"] = cfg["early_stopping"]
    return conf


# ---------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------

@dataclass
class _Data:
    train: object
    validation: object
    test: object
    fingerprint: str
    path: str | None


def _load_data(data, n_in, n_out, dtype, train_size=None, validation_size=None):
    """Training, validation and (optional) test data as converted arrays."""
    from ._convert import Arrays, as_arrays
    from . import mnist_loader

    path = None
    if data is None or isinstance(data, (str, os.PathLike)):
        path = None if data is None else os.fspath(data)
        arrays = mnist_loader.load_arrays(path, dtype=None)
        path = str(mnist_loader.locate_mnist(path, download=False)) if path is None else path
        parts = [(arrays.X_train, arrays.y_train), (arrays.X_val, arrays.y_val),
                 (arrays.X_test, arrays.y_test)]
    elif hasattr(data, "X_train") and hasattr(data, "X_val"):
        parts = [(data.X_train, data.y_train), (data.X_val, data.y_val),
                 (data.X_test, data.y_test) if getattr(data, "X_test", None) is not None
                 else None]
    elif isinstance(data, (tuple, list)) and len(data) in (2, 3):
        parts = list(data) + [None] * (3 - len(data))
    else:
        raise ValueError("data must be a path to mnist.pkl.gz, None (find MNIST), an "
                         "MnistArrays, or (training, validation[, test]) with each (X, y)")

    def take(part, k):
        if part is None or k is None:
            return part
        if isinstance(part, Arrays):
            return Arrays(part.X[:k], part.T[:k], part.labels[:k])
        if hasattr(part, "X") and hasattr(part, "y"):
            return (part.X[:k], part.y[:k])
        if isinstance(part, (tuple, list)) and len(part) == 2 and hasattr(part[0], "shape"):
            return (part[0][:k], part[1][:k])
        return list(part)[:k]

    dtype = np.dtype(dtype)
    train = as_arrays(take(parts[0], train_size), n_in, n_out, dtype, "training data")
    val = as_arrays(take(parts[1], validation_size), n_in, n_out, dtype, "validation data")
    test = None if parts[2] is None else as_arrays(parts[2], n_in, n_out, dtype, "test data")
    if len(train) == 0 or len(val) == 0:
        raise ValueError("the search needs training and validation data (both are empty "
                         "or missing)")
    h = hashlib.sha256()
    for arr in (train, val):
        h.update(str(arr.X.shape).encode())
        h.update(np.ascontiguousarray(arr.labels, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(arr.X[::max(1, len(arr) // 97)],
                                      dtype=np.float32).tobytes())
    return _Data(train, val, test, h.hexdigest()[:16], path)


# ---------------------------------------------------------------------------
# Training one configuration
# ---------------------------------------------------------------------------

@contextlib.contextmanager
def _blas_threads(n):
    """Limit BLAS to ``n`` threads here (threadpoolctl, when installed)."""
    if n is None:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=int(n)):
        yield


def _network(conf, seed, dtype):
    from .network import Network
    return Network(conf["sizes"], cost=conf["cost"], activation=conf["activation"],
                   seed=seed, dtype=np.dtype(dtype))


def _sgd(net, conf, data, callbacks=(), restore_best=False, monitor_training_cost=False,
         epochs=None, lmbda=None):
    return net.SGD(
        data.train, conf["epochs"] if epochs is None else epochs, conf["mini_batch_size"],
        conf["eta"], lmbda=conf["lmbda"] if lmbda is None else lmbda,
        evaluation_data=data.validation, monitor_evaluation_accuracy=True,
        monitor_training_cost=monitor_training_cost, l1=conf["l1"],
        dropout=conf["dropout"] if len(conf["sizes"]) > 2 else 0.0,
        momentum=conf["momentum"], nesterov=conf["nesterov"],
        early_stopping=conf["early_stopping"], restore_best=restore_best,
        callbacks=list(callbacks), on_nonfinite="raise", verbose=False, progress=False)


class _Objective:
    """One trial: sample, train with per-epoch reports, score."""

    def __init__(self, cfg, space, data, say, name):
        self.cfg, self.space, self.data, self.say, self.name = cfg, space, data, say, name

    def __call__(self, trial):
        optuna = _optuna()
        params = {n: self.space[n].suggest(trial, n) for n in _searched(self.space)}
        conf = _resolve(params, self.space, self.cfg)
        seed = self.cfg["seed"]
        net_seed = (int(seed) + trial.number) if seed is not None else \
            int(np.random.SeedSequence().generate_state(1)[0])
        trial.set_user_attr("net_seed", net_seed)
        trial.set_user_attr("worker", self.name)
        accuracies = []
        pruned = []

        def report(net, info):
            if info["kind"] != "epoch":
                return False
            acc = info["accuracy"] / info["n"]
            accuracies.append(acc)
            trial.report(acc, info["epoch"])
            if trial.should_prune():
                pruned.append(info["epoch"])
                return True
            return False

        t0 = time.perf_counter()
        failure = None
        history = None
        try:
            net = _network(conf, net_seed, self.cfg["dtype"])
            history = _sgd(net, conf, self.data, callbacks=[report])
        except FloatingPointError:
            failure = (f"diverged: NaN or infinite cost or weights in epoch "
                       f"{len(accuracies)}")
        except (ValueError, MemoryError) as e:
            failure = f"{type(e).__name__}: {e}"
        seconds = time.perf_counter() - t0
        if history is not None and history.interrupted:
            raise KeyboardInterrupt
        best = max(accuracies) if accuracies else None
        attrs = {"seconds": round(seconds, 3), "epochs": len(accuracies),
                 "best_epoch": int(np.argmax(accuracies)) if accuracies else None,
                 "stop_reason": ("pruned" if pruned else "non-finite" if failure and
                                 failure.startswith("diverged") else
                                 "error" if failure else history.stop_reason)}
        if failure:
            attrs["note"] = failure
        for k, v in attrs.items():
            trial.set_user_attr(k, v)
        shown = ", ".join(f"{n}={_fmt(params[n])}" for n in params)
        if failure:
            self.say(f"[{self.name}] trial {trial.number}: FAILED ({failure}) {shown}")
            return float("nan")  # Optuna records a FAIL; the search goes on
        if pruned:
            self.say(f"[{self.name}] trial {trial.number}: pruned after epoch {pruned[0]} "
                     f"(best {best:.2%}) {shown}; {_secs(seconds)} s")
            raise optuna.TrialPruned(f"lagging at epoch {pruned[0]}")
        self.say(f"[{self.name}] trial {trial.number}: {best:.2%} (best epoch "
                 f"{attrs['best_epoch']} of {attrs['epochs']}, {attrs['stop_reason']}) "
                 f"{shown}; {_secs(seconds)} s")
        return best


def _secs(x):
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:.0f}"


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


# ---------------------------------------------------------------------------
# Studies, samplers, pruners, storage
# ---------------------------------------------------------------------------

def _storage_url(storage):
    """A storage URL from a URL or a plain file path (SQLite)."""
    if storage is None:
        return None
    storage = os.fspath(storage)
    if "://" not in storage:
        return "sqlite:///" + os.path.abspath(storage)
    scheme, rest = storage.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        # SQLAlchemy's default driver for postgresql:// differs between
        # versions (psycopg2, then psycopg 3): use whichever is installed.
        import importlib.util
        for module, driver in (("psycopg", "psycopg"), ("psycopg2", "psycopg2")):
            if importlib.util.find_spec(module) is not None:
                return f"postgresql+{driver}://{rest}"
        raise ImportError("a PostgreSQL storage needs a driver: pip install psycopg2-binary "
                          "(or psycopg[binary])")
    return storage


def _display_url(url):
    if url is None:
        return "in memory"
    try:
        from sqlalchemy.engine import make_url
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", url)


def _make_storage(url, heartbeat=True):
    """Optuna's RDB storage: SQLite waits up to two minutes for a lock held
    by another worker; other databases check connections before use.  With
    ``heartbeat``, a trial whose worker died (no heartbeat for 3 minutes) is
    failed by the next worker and retried once."""
    optuna = _optuna()
    if url is None:
        return None
    import inspect

    if url.startswith("sqlite"):
        engine = {"connect_args": {"timeout": 120}}
    else:
        engine = {"pool_pre_ping": True}
    kwargs = {"engine_kwargs": engine}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # heartbeats are "experimental" in Optuna
        if heartbeat:
            params = inspect.signature(optuna.storages.RDBStorage).parameters
            kwargs.update(heartbeat_interval=30, grace_period=180)
            retry = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None)
            if retry is not None and "heartbeat_stale_trial_callback" in params:
                kwargs["heartbeat_stale_trial_callback"] = retry(max_retry=1)
            elif "failed_trial_callback" in params:
                kwargs["failed_trial_callback"] = optuna.storages.RetryFailedTrialCallback(
                    max_retry=1)
        return optuna.storages.RDBStorage(url, **kwargs)


def _make_pruner(spec, epochs):
    """A pruner from text: ``median[:WARMUP[:STARTUP]]`` (default warm-up 3
    epochs, 5 startup trials), ``percentile:P[:WARMUP[:STARTUP]]``,
    ``hyperband``, ``halving``, ``none``; or an Optuna pruner object."""
    optuna = _optuna()
    if spec is None or spec is False:
        return optuna.pruners.NopPruner()
    if not isinstance(spec, str):
        return spec
    parts = spec.strip().lower().split(":")
    kind, args = parts[0], parts[1:]
    try:
        if kind == "median":
            warm = int(args[0]) if args else 3
            start = int(args[1]) if len(args) > 1 else 5
            return optuna.pruners.MedianPruner(n_startup_trials=start, n_warmup_steps=warm)
        if kind == "percentile":
            p = float(args[0]) if args else 25.0
            warm = int(args[1]) if len(args) > 1 else 3
            start = int(args[2]) if len(args) > 2 else 5
            return optuna.pruners.PercentilePruner(p, n_startup_trials=start,
                                                   n_warmup_steps=warm)
        if kind == "hyperband":
            return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max(2, epochs),
                                                  reduction_factor=3)
        if kind in ("halving", "successive-halving", "sha"):
            return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
        if kind in ("none", "nop", "off"):
            return optuna.pruners.NopPruner()
    except (ValueError, IndexError):
        pass
    raise ValueError(f"unknown pruner {spec!r}: use median[:WARMUP[:STARTUP]], "
                     "percentile:P[:WARMUP[:STARTUP]], hyperband, halving or none")


def _worker_seed(seed, index):
    if seed is None:
        return None
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def _make_sampler(cfg, space, index):
    optuna = _optuna()
    method = cfg["method"]
    seed = _worker_seed(cfg["seed"], index)
    if method == "grid":
        grid = {n: [_canonical(n, v) for v in space[n].grid_values()] for n in _searched(space)}
        if not grid:
            raise ValueError("a grid search needs at least one searched hyper-parameter")
        return optuna.samplers.GridSampler(grid, seed=seed)
    if method == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if method == "tpe":
        import inspect
        kwargs = {}
        if "constant_liar" in inspect.signature(optuna.samplers.TPESampler).parameters:
            # parallel workers: treat running trials as bad so as not to sample them twice
            kwargs["constant_liar"] = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "experimental" in some Optuna versions
            return optuna.samplers.TPESampler(seed=seed,
                                              n_startup_trials=cfg["n_startup_trials"],
                                              **kwargs)
    raise ValueError(f"unknown method {method!r}: use tpe, random or grid")


def _grid_size(space):
    n = 1
    for name in _searched(space):
        n *= len(space[name].grid_values())
    return n


def _config_differs(old, new):
    keys = (set(old) | set(new)) - set(_BUDGET_KEYS)
    return sorted(k for k in keys if old.get(k) != new.get(k))


@contextlib.contextmanager
def _quiet_optuna(verbose):
    """Optuna's own per-trial log lines duplicate ours: while we print a
    line per trial, show only Optuna's errors; when quiet, its warnings too."""
    optuna = _optuna()
    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.ERROR if verbose else logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)


def _open_study(url, study_name, cfg=None, *, pruner=None, sampler=None, create=True):
    """Create or load a study; record (or check) the search settings."""
    optuna = _optuna()
    storage = _make_storage(url) if url is not None else None
    if create:
        study = optuna.create_study(storage=storage, study_name=study_name,
                                    direction="maximize", load_if_exists=True,
                                    sampler=sampler, pruner=pruner)
    else:
        try:
            study = optuna.load_study(study_name=study_name, storage=storage,
                                      sampler=sampler, pruner=pruner)
        except KeyError:
            raise ValueError(f"no study named {study_name!r} in {_display_url(url)}; "
                             "start the search first (nncore search ... --storage URL "
                             "--study NAME)") from None
    stored = study.user_attrs.get(_CONFIG_ATTR)
    if cfg is not None:
        if stored is None:
            if study.trials:
                raise ValueError(f"study {study_name!r} in {_display_url(url)} was not made "
                                 "by nncore search; choose another study name")
            study.set_user_attr(_CONFIG_ATTR, cfg)
            stored = cfg
        else:
            diff = _config_differs(stored, cfg)
            if diff:
                raise ValueError(
                    f"study {study_name!r} in {_display_url(url)} already holds a search with "
                    f"other settings ({', '.join(diff)}); choose another study name to start "
                    "afresh, or the same settings to resume it")
    elif stored is None:
        raise ValueError(f"study {study_name!r} in {_display_url(url)} holds no nncore search "
                         "settings; start it with nncore search")
    return study, stored


def _budget_reached(study, budget):
    """True when the study holds ``budget`` started trials and none is
    waiting (enqueued, or a retry of a trial whose worker died)."""
    from optuna.trial import TrialState
    trials = study.get_trials(deepcopy=False)
    if any(t.state == TrialState.WAITING for t in trials):
        return False
    return len(trials) >= budget


def _run_worker(url, study_name, cfg, data, index, *, study=None, budget=None, max_trials=None,
                deadline=None, pruner=None, verbose=True, blas_threads=1, name=None,
                lock=None):
    """Run trials until the study holds ``budget`` trials (all workers
    together), this worker has run ``max_trials``, the deadline passes or a
    grid is exhausted.  Returns the number of trials this worker ran.

    ``lock`` (shared by the local worker processes of one search) is held
    from the budget check until the trial exists in the storage, so two
    workers cannot both start the last trial; workers joining from other
    machines have no such lock and may each start one trial past the
    budget."""
    optuna = _optuna()
    space = _space_from_json(cfg["space"])
    if data.fingerprint != cfg["data_fingerprint"]:
        raise ValueError(
            f"this worker's data differ from the search's (fingerprint {data.fingerprint}, "
            f"expected {cfg['data_fingerprint']}): use the same mnist.pkl.gz, train size "
            f"({cfg['train_size']}) and validation size ({cfg['validation_size']})")
    if pruner is None:
        pruner = _make_pruner(cfg["pruner"], cfg["epochs"])
    sampler = _make_sampler(cfg, space, index)
    if study is None:
        study, _ = _open_study(url, study_name, None, pruner=pruner, sampler=sampler,
                               create=False)
    else:
        study.sampler, study.pruner = sampler, pruner
    name = name or f"{socket.gethostname()}:{os.getpid()}"
    say = (lambda s: print(s, flush=True)) if verbose else (lambda s: None)
    objective = _Objective(cfg, space, data, say, name)
    held = []

    def release():
        if held:
            held.pop().release()

    def run_one(trial):  # called once the trial is in the storage
        release()
        return objective(trial)

    ran = 0
    with _quiet_optuna(verbose), _blas_threads(blas_threads), warnings.catch_warnings():
        # Optuna's heartbeat checks call themselves "experimental" on every trial
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        while True:
            if max_trials is not None and ran >= max_trials:
                break
            if deadline is not None and time.time() >= deadline:
                break
            # a worker killed while it held the lock must not stall the others
            if lock is not None and lock.acquire(timeout=300):
                held.append(lock)
            try:
                if budget is not None and _budget_reached(study, budget):
                    break
                if cfg["method"] == "grid" and hasattr(sampler, "is_exhausted") \
                        and sampler.is_exhausted(study):
                    break
                study.optimize(run_one, n_trials=1, gc_after_trial=False)
            finally:
                release()
            ran += 1
    return ran


def _process_main(url, study_name, cfg, data, index, budget, deadline, pruner, verbose,
                  blas_threads, lock):
    """Entry point of a forked local worker process."""
    code = 0
    try:
        _run_worker(url, study_name, cfg, data, index, budget=budget, deadline=deadline,
                    pruner=pruner, verbose=verbose, blas_threads=blas_threads,
                    name=f"w{index}:{os.getpid()}", lock=lock)
    except KeyboardInterrupt:
        code = 130
    except BaseException:  # shown in the worker's stderr; the parent reports the code
        import traceback
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _wait_for_running(study, timeout, say):
    """Wait (up to ``timeout`` s) for trials still running elsewhere; workers
    that died are failed by the heartbeat check."""
    from optuna.trial import TrialState
    optuna = _optuna()
    t0 = time.time()
    shown = False
    while time.time() - t0 < timeout:
        with contextlib.suppress(Exception), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            optuna.storages.fail_stale_trials(study)
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not running:
            return
        if not shown:
            say(f"waiting for {len(running)} trial(s) still running in other workers ...")
            shown = True
        time.sleep(2.0)


# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------

def _trial_rows(study, space):
    names = _searched(space)
    rows = []
    for t in study.get_trials(deepcopy=False):
        ua = t.user_attrs
        if t.state.name == "COMPLETE":
            value = t.value
        elif t.state.name == "PRUNED" and t.intermediate_values:
            value = max(t.intermediate_values.values())
        else:
            value = None
        if value is not None and not math.isfinite(value):
            value = None
        start = t.datetime_start.timestamp() if t.datetime_start else None
        end = t.datetime_complete.timestamp() if t.datetime_complete else None
        rows.append({
            "number": t.number, "state": t.state.name, "value": value,
            "params": {n: t.params.get(n) for n in names},
            "epochs": ua.get("epochs"), "best_epoch": ua.get("best_epoch"),
            "stop": ua.get("stop_reason"), "seconds": ua.get("seconds"),
            "worker": ua.get("worker"), "net_seed": ua.get("net_seed"),
            "note": ua.get("note", ""), "start": start, "end": end,
        })
    return rows


@dataclass
class SearchResult:
    """What :func:`search` returns (and :func:`study_result`).

    ``best_params`` holds the searched hyper-parameters of the best trial,
    ``best_config`` the full configuration (``sizes``, ``eta``, ``lmbda``,
    ``mini_batch_size``, ..., ``epochs`` = the epochs its best validation
    accuracy needed); ``validation_accuracy`` is that trial's best
    validation accuracy (a fraction) and ``test_accuracy`` the test
    accuracy of the best configuration retrained with the trial's seed
    (``retrained_validation_accuracy`` checks the retraining).  ``trials``
    is the table of all trials, a list of dicts."""

    method: str
    study_name: str
    storage: str
    space: dict
    searched: list
    trials: list
    wall_seconds: float | None = None
    best_trial: int | None = None
    best_params: dict | None = None
    best_config: dict | None = None
    validation_accuracy: float | None = None
    retrained_validation_accuracy: float | None = None
    test_accuracy: float | None = None
    retrain_seconds: float | None = None
    n_training: int = 0
    n_validation: int = 0
    n_test: int = 0
    workers: int = 1
    settings: dict = field(default_factory=dict)

    @property
    def counts(self):
        c = {}
        for t in self.trials:
            c[t["state"]] = c.get(t["state"], 0) + 1
        return c

    def table(self, fmt="markdown", sort="value", limit=None):
        """The trials as a markdown table (``fmt="csv"``: CSV text)."""
        return trials_table(self.trials, self.searched, fmt=fmt, sort=sort, limit=limit)

    def summary(self):
        c = self.counts
        lines = [f"{self.method} search, study {self.study_name!r} ({self.storage}): "
                 f"{len(self.trials)} trials ({', '.join(f'{v} {k.lower()}' for k, v in sorted(c.items()))})"
                 + (f" in {_secs(self.wall_seconds)} s" if self.wall_seconds else "")
                 + (f" with {self.workers} worker(s)" if self.workers else "")]
        if self.best_trial is None:
            lines.append("no trial completed")
            return "\n".join(lines)
        cfg = self.best_config
        lines.append(f"best: trial {self.best_trial}, validation accuracy "
                     f"{self.validation_accuracy:.2%} ({round(self.validation_accuracy * self.n_validation)}"
                     f" / {self.n_validation})")
        lines.append("  " + ", ".join(f"{k}={_fmt(v)}" for k, v in cfg.items()))
        if self.test_accuracy is not None:
            lines.append(f"retrained (same seed): validation "
                         f"{self.retrained_validation_accuracy:.2%}, test "
                         f"{self.test_accuracy:.2%} ({round(self.test_accuracy * self.n_test)} / "
                         f"{self.n_test}); {_secs(self.retrain_seconds)} s")
        return "\n".join(lines)

    def to_dict(self):
        first = ["study_name", "method", "storage", "best_trial", "validation_accuracy",
                 "test_accuracy", "retrained_validation_accuracy", "best_config",
                 "best_params"]
        d = {k: getattr(self, k) for k in first}
        d["n_trials"] = len(self.trials)
        d["counts"] = self.counts
        d.update((k, v) for k, v in self.__dict__.items() if k not in d)
        return d

    def plot(self, out_dir, prefix=""):
        """Accuracy against each searched hyper-parameter and against trial
        number (PNG files in ``out_dir``); returns their paths."""
        return plot_trials(self.trials, out_dir, params=self.searched,
                           space=_space_from_json(self.space), prefix=prefix,
                           title=f"{self.method} search ({self.study_name})")

    def save(self, out_dir):
        """Write ``best.json``, ``trials.csv``, ``trials.md`` and the plots
        (when matplotlib is installed) into ``out_dir``; returns the paths."""
        os.makedirs(out_dir, exist_ok=True)
        paths = {}
        p = os.path.join(out_dir, "best.json")
        with open(p, "w", encoding="utf-8") as f:
            json.dump({k: v for k, v in self.to_dict().items() if k != "trials"}, f, indent=1,
                      default=str)
        paths["best"] = p
        p = os.path.join(out_dir, "trials.csv")
        with open(p, "w", encoding="utf-8", newline="") as f:
            f.write(self.table("csv", sort="number"))
        paths["csv"] = p
        p = os.path.join(out_dir, "trials.md")
        with open(p, "w", encoding="utf-8") as f:
            f.write("# " + self.summary().replace("\n", "\n\n") + "\n\n")
            f.write(self.table("markdown", sort="value") + "\n")
        paths["markdown"] = p
        try:
            for i, q in enumerate(self.plot(out_dir)):
                paths[f"plot{i}"] = q
        except ImportError as e:
            paths["plots"] = f"not drawn: {e}"
        return paths


def trials_table(trials, params, fmt="markdown", sort="value", limit=None):
    """A table of trials (dicts as in :attr:`SearchResult.trials`):
    markdown (accuracies in %) or CSV (raw values), best first or by
    trial number."""
    rows = list(trials)
    if sort == "value":
        rows.sort(key=lambda t: (t["state"] != "COMPLETE", -(t["value"] or -1), t["number"]))
    else:
        rows.sort(key=lambda t: t["number"])
    if limit is not None:
        rows = rows[:limit]
    head = ["trial", "state", "validation"] + list(params) + \
        ["epochs", "best_epoch", "stop", "seconds", "worker", "note"]
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(head)
        for t in rows:
            w.writerow([t["number"], t["state"], "" if t["value"] is None else t["value"]]
                       + [t["params"].get(p) for p in params]
                       + [t.get("epochs"), t.get("best_epoch"), t.get("stop"),
                          t.get("seconds"), t.get("worker"), t.get("note", "")])
        return buf.getvalue()
    if fmt != "markdown":
        raise ValueError(f"fmt must be 'markdown' or 'csv', got {fmt!r}")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for t in rows:
        v = "" if t["value"] is None else f"{100 * t['value']:.2f}%"
        if t["state"] == "PRUNED" and v:
            v += " (at prune)"
        cells = [str(t["number"]), t["state"].lower(), v] + \
            [_fmt(t["params"].get(p)) for p in params] + \
            [str(t.get("epochs") if t.get("epochs") is not None else ""),
             str(t.get("best_epoch") if t.get("best_epoch") is not None else ""),
             str(t.get("stop") or ""),
             "" if t.get("seconds") is None else _secs(t["seconds"]),
             str(t.get("worker") or ""), str(t.get("note") or "").replace("|", "/")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_trials(trials, out_dir=None, *, params=None, space=None, prefix="", title=None):
    """Two figures: validation accuracy against each hyper-parameter in
    ``params`` (one panel each; log axes for log-scale ranges; categories
    as positions) and against trial number with the running best.
    Completed trials are dots, pruned ones triangles at the accuracy they
    had reached, failed ones crosses at the bottom.  Returns the paths
    written (or the figures when ``out_dir`` is None)."""
    from .plotting import _pyplot
    plt = _pyplot()
    trials = sorted(trials, key=lambda t: t["number"])
    params = list(params if params is not None else
                  (trials[0]["params"].keys() if trials else []))
    values = [t["value"] for t in trials if t["state"] == "COMPLETE" and t["value"] is not None]
    if values:
        best, med = max(values), float(np.median(values))
        floor = max(min(v for t in trials for v in [t["value"]] if v is not None),
                    best - max(4 * (best - med), 0.02))
    else:
        best, floor = 1.0, 0.0
    styles = {"COMPLETE": dict(marker="o", color="tab:blue", label="completed"),
              "PRUNED": dict(marker="^", color="tab:orange", label="pruned (when pruned)"),
              "FAIL": dict(marker="x", color="tab:red", label="failed (diverged)")}

    def y_of(t):
        if t["value"] is None:
            return floor
        return max(t["value"], floor)

    def scatter(ax, pts, st):
        """In-range points as they are; those below the axis (and failed
        trials) on its floor, drawn as downward triangles."""
        inside = [(x, y) for x, y, t in pts if t["value"] is not None and t["value"] >= floor]
        below = [(x, y) for x, y, t in pts if not (t["value"] is not None
                                                   and t["value"] >= floor)]
        if inside:
            xs, ys = zip(*inside)
            ax.scatter(xs, [100 * y for y in ys], s=22, alpha=0.75, **st)
        if below:
            xs, ys = zip(*below)
            st2 = dict(st, label=None if inside else st["label"])
            if st2["marker"] != "x":
                st2["marker"] = "v"
            ax.scatter(xs, [100 * y for y in ys], s=22, alpha=0.6, **st2)

    figs = []
    clipped = any(t["value"] is not None and t["value"] < floor for t in trials)
    note = f"\n(triangles on the floor: below {100 * floor:.1f}%)" if clipped else ""
    # accuracy against each hyper-parameter
    if params:
        n = len(params)
        cols = min(3, n)
        rows = -(-n // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False)
        for ax, p in zip(axes.flat, params):
            xs_all = [t["params"].get(p) for t in trials if t["params"].get(p) is not None]
            numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool)
                          for x in xs_all)
            cats = None
            if not numeric or (space is not None and isinstance(space.get(p), Choice)):
                # choices as evenly spaced positions (numbers in order)
                values = list({str(x): x for x in xs_all}.values())
                if space is not None and isinstance(space.get(p), Choice):
                    values += [v for v in space[p].values if str(v) not in map(str, values)]
                values.sort(key=lambda v: (0, v, "") if numeric else (1, 0, str(v)))
                cats = [str(v) for v in values]
            for state, st in styles.items():
                pts = [(t["params"].get(p) if cats is None else cats.index(str(t["params"][p])),
                        y_of(t), t) for t in trials
                       if t["state"] == state and t["params"].get(p) is not None]
                if pts:
                    scatter(ax, pts, st)
            if cats is not None:
                ax.set_xticks(range(len(cats)))
                ax.set_xticklabels(cats)
            elif space is not None and p in space and getattr(space[p], "log", False):
                ax.set_xscale("log")
            ax.set_xlabel(p)
            ax.set_ylabel("validation accuracy (%)")
            ax.set_ylim(100 * floor - 0.05 * 100 * (best - floor + 1e-4),
                        100 * best + 0.08 * 100 * (best - floor + 1e-4))
            ax.grid(True, alpha=0.3)
        for ax in list(axes.flat)[n:]:
            ax.set_visible(False)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, labels, loc="lower center", ncol=3, fontsize="small")
        fig.suptitle((title or "search") + ": validation accuracy by hyper-parameter" + note,
                     fontsize="medium")
        fig.tight_layout(rect=(0, 0.06, 1, 0.95))
        figs.append(("accuracy_vs_params.png", fig))
    # accuracy against trial number, with the running best
    fig, ax = plt.subplots(figsize=(7.0, 4.3))
    for state, st in styles.items():
        pts = [(t["number"], y_of(t), t) for t in trials if t["state"] == state]
        if pts:
            scatter(ax, pts, st)
    run, xs, ys = None, [], []
    for t in trials:
        if t["state"] == "COMPLETE" and t["value"] is not None:
            run = t["value"] if run is None else max(run, t["value"])
        if run is not None:
            xs.append(t["number"])
            ys.append(100 * run)
    if xs:
        ax.step(xs, ys, where="post", color="black", linewidth=1.2, label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("validation accuracy (%)")
    ax.set_ylim(100 * floor - 0.05 * 100 * (best - floor + 1e-4),
                100 * best + 0.08 * 100 * (best - floor + 1e-4))
    ax.grid(True, alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize="small")
    ax.set_title((title or "search") + ": validation accuracy by trial" + note,
                 fontsize="medium")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    figs.append(("accuracy_vs_trial.png", fig))
    if out_dir is None:
        return [f for _, f in figs]
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for fname, f in figs:
        p = os.path.join(out_dir, prefix + fname)
        f.savefig(p, dpi=110)
        plt.close(f)
        paths.append(p)
    return paths


def _summarize(study, cfg, data, *, retrain=True, wall_seconds=None, workers=1,
               blas_threads=1, say=lambda s: None):
    space = _space_from_json(cfg["space"])
    trials = _trial_rows(study, space)
    result = SearchResult(
        method=cfg["method"], study_name=study.study_name,
        storage=_display_url(cfg.get("storage_url")), space=cfg["space"],
        searched=_searched(space), trials=trials, wall_seconds=wall_seconds,
        n_training=len(data.train) if data else cfg.get("n_training", 0),
        n_validation=len(data.validation) if data else cfg.get("n_validation", 0),
        n_test=len(data.test) if data and data.test is not None else 0,
        workers=workers,
        settings={k: v for k, v in cfg.items() if k not in ("space", "storage_url")})
    complete = [t for t in trials if t["state"] == "COMPLETE" and t["value"] is not None]
    if not complete:
        return result
    best = max(complete, key=lambda t: (t["value"], -t["number"]))
    params = {n: best["params"][n] for n in result.searched}
    conf = _resolve(params, space, cfg)
    result.best_trial = best["number"]
    result.best_params = params
    result.validation_accuracy = best["value"]
    order = ["sizes", "eta", "lmbda", "mini_batch_size", "epochs", "max_epochs",
             "early_stopping"]
    shown = dict(conf, max_epochs=conf["epochs"],
                 epochs=(best["best_epoch"] + 1) if best["best_epoch"] is not None else None)
    result.best_config = {k: shown[k] for k in order + [k for k in shown if k not in order]}
    if retrain and data is not None:
        say(f"retraining trial {best['number']}'s configuration (seed {best['net_seed']}) "
            "for its test accuracy ...")
        t0 = time.perf_counter()
        with _blas_threads(blas_threads):
            net = _network(conf, best["net_seed"], cfg["dtype"])
            try:
                h = _sgd(net, conf, data, restore_best=True)
            except FloatingPointError:
                h = None
        result.retrain_seconds = time.perf_counter() - t0
        if h is not None and h.best_accuracy is not None:
            result.retrained_validation_accuracy = h.best_accuracy / h.n_evaluation
            if data.test is not None:
                result.test_accuracy = net._accuracy(data.test) / len(data.test)
    return result


# ---------------------------------------------------------------------------
# The public API
# ---------------------------------------------------------------------------

def search(data=None, space=None, *, method="tpe", n_trials=None, timeout=None, storage=None,
           study_name=None, n_workers=1, pruner="median", seed=None, sizes=(784, 30, 10),
           epochs=30, early_stopping=10, train_size=None, validation_size=None,
           dtype="float32", n_startup_trials=None, enqueue=(), retrain=True, verbose=True,
           blas_threads=1, wait=600.0):
    """Search hyper-parameters, scoring each trial by its best validation
    accuracy; returns a :class:`SearchResult`.

    ``data``
        None (find MNIST as ``nncore train`` does), a path to
        ``mnist.pkl.gz``, an ``MnistArrays``, or ``(training, validation[,
        test])`` with each ``(X, y)``.  ``train_size`` / ``validation_size``
        keep the first N images of each (the chapter's quick experiments).
    ``space``
        name -> range/choice (see :func:`make_space`; default
        :func:`default_space`).  Unlisted hyper-parameters stay fixed:
        hidden layers from ``sizes``, at most ``epochs`` epochs, the rest at
        :data:`PARAMETERS`' defaults.
    ``method``
        "tpe" (Bayesian optimization, Optuna's TPE sampler), "random" or
        "grid" (every combination of the entries' grid values).
    ``n_trials``
        The number of trials in the study, all workers together (a resumed
        study counts its earlier trials); default 30, or the whole grid.
        ``timeout`` (seconds) stops starting new trials.
    ``storage``
        None (in memory; a temporary SQLite file when ``n_workers > 1``),
        ``"sqlite:///file.db"`` (or a plain file path), or a PostgreSQL URL
        ``"postgresql://user:password@host:5432/db"``.  ``study_name`` names
        the search in it: the same name resumes it, and workers started
        elsewhere with :func:`worker` join it.
    ``n_workers``
        Local worker processes sharing the storage (forked, so they share
        the loaded data); each uses ``blas_threads`` BLAS threads.
    ``pruner``
        "median" (default: from epoch 3, after 5 trials), "median:W:S",
        "percentile:P", "hyperband", "halving", "none", or an Optuna pruner.
    ``seed``
        Makes the search reproducible: worker ``i`` samples with a seed
        derived from (seed, i) and trial ``k`` trains with seed + k.
    ``early_stopping``
        No-improvement-in-n (None: run every epoch).
    ``enqueue``
        Configurations (dicts of searched parameters) to try first.
    ``retrain``
        Retrain the best configuration (its own seed) for its test accuracy.
    ``wait``
        Seconds to wait, at the end, for trials other machines are running.
    """
    _optuna()  # a clear error if missing
    if method not in ("tpe", "random", "grid"):
        raise ValueError(f"method must be 'tpe', 'random' or 'grid', got {method!r}")
    n_workers = int(n_workers)
    if n_workers < 1:
        raise ValueError(f"n_workers must be at least 1, got {n_workers}")
    sizes = [int(s) for s in sizes]
    full = make_space(space, sizes=sizes, epochs=epochs)
    if not _searched(full):
        raise ValueError("the search space fixes every hyper-parameter: give at least one "
                         "range or choice")
    dt = np.dtype(dtype).name
    say = (lambda s: print(s, flush=True)) if verbose else (lambda s: None)
    t_load = time.perf_counter()
    d = _load_data(data, sizes[0], sizes[-1], dt, train_size, validation_size)
    if method == "grid":
        grid = _grid_size(full)
        n_trials = grid if n_trials is None else min(int(n_trials), grid)
    elif n_trials is None and timeout is None:
        n_trials = 30
    if n_startup_trials is None:
        n_startup_trials = 10 if n_trials is None else max(3, min(10, int(n_trials) // 3))
    tmpdir = None
    url = _storage_url(storage)
    if url is None and n_workers > 1:
        tmpdir = tempfile.mkdtemp(prefix="nncore-search-")
        url = "sqlite:///" + os.path.join(tmpdir, "search.db")
    if study_name is None:
        study_name = "search-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S") + \
            f"-{os.getpid()}"
    cfg = {
        "version": _CONFIG_VERSION, "method": method, "space": _space_json(full),
        "n_in": sizes[0], "n_out": sizes[-1], "epochs": int(epochs),
        "early_stopping": None if not early_stopping else int(early_stopping),
        "dtype": dt, "train_size": train_size, "validation_size": validation_size,
        "pruner": pruner if isinstance(pruner, str) or pruner is None else "object",
        "seed": None if seed is None else int(seed), "n_startup_trials": int(n_startup_trials),
        "data_fingerprint": d.fingerprint, "n_training": len(d.train),
        "n_validation": len(d.validation), "n_trials": n_trials, "timeout": timeout,
        "data_path": d.path,
    }
    pruner_obj = _make_pruner(pruner, int(epochs))
    say(f"{method} search over {', '.join(f'{n} {full[n]!r}' for n in _searched(full))}; "
        f"sizes {sizes}, up to {epochs} epochs"
        + (f" (no-improvement-in-{early_stopping})" if early_stopping else "")
        + f", {len(d.train)} training / {len(d.validation)} validation images, {dt}; "
        f"{n_trials if n_trials is not None else 'unlimited'} trials"
        + (f", {timeout:g} s" if timeout else "") + f", {n_workers} worker(s); "
        f"study {study_name!r} in {_display_url(url)} (data loaded in "
        f"{time.perf_counter() - t_load:.1f} s)")
    t0 = time.time()
    deadline = None if timeout is None else t0 + float(timeout)
    try:
        with _quiet_optuna(verbose):
            study, cfg = _open_study(url, study_name, cfg, pruner=pruner_obj)
        if cfg.get("n_trials") != n_trials:  # a resumed search with a new budget
            study.set_user_attr(_CONFIG_ATTR, dict(cfg, n_trials=n_trials))
        cfg = dict(cfg, storage_url=url, n_trials=n_trials, timeout=timeout)
        before = len(study.trials)
        if before:
            say(f"resuming: the study already holds {before} trial(s)")
        for params in enqueue:
            study.enqueue_trial({k: _canonical(k, v) for k, v in params.items()},
                                skip_if_exists=True)
        if n_workers == 1:
            _run_worker(url, study_name, cfg, d, 0, study=study, budget=n_trials,
                        deadline=deadline, pruner=pruner_obj, verbose=verbose,
                        blas_threads=blas_threads, name="w0")
        else:
            _fork_workers(url, study_name, cfg, d, n_workers, n_trials, deadline, pruner_obj,
                          verbose, blas_threads)
        if url is not None:
            _wait_for_running(study, wait, say)
        wall = time.time() - t0
        result = _summarize(study, cfg, d, retrain=retrain, wall_seconds=wall,
                            workers=n_workers, blas_threads=blas_threads, say=say)
    finally:
        if tmpdir is not None:
            import shutil
            shutil.rmtree(tmpdir, ignore_errors=True)
    say(result.summary())
    return result


def _fork_workers(url, study_name, cfg, data, n_workers, budget, deadline, pruner, verbose,
                  blas_threads):
    import multiprocessing
    try:
        ctx = multiprocessing.get_context("fork")
    except ValueError:
        raise RuntimeError("local worker processes need the 'fork' start method (Linux, "
                           "macOS); elsewhere start workers with nncore.search.worker") \
            from None
    lock = ctx.Lock()  # budget check + trial creation, one worker at a time
    procs = [ctx.Process(target=_process_main, name=f"nncore-search-w{i}",
                         args=(url, study_name, cfg, data, i, budget, deadline, pruner,
                               verbose, blas_threads, lock))
             for i in range(n_workers)]
    sys.stdout.flush()
    sys.stderr.flush()
    for p in procs:
        p.start()
    try:
        for p in procs:
            p.join()
    except KeyboardInterrupt:
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.terminate()
        raise
    bad = [(p.name, p.exitcode) for p in procs if p.exitcode]
    if bad:
        if any(code == 130 for _, code in bad):
            raise KeyboardInterrupt
        raise RuntimeError("worker process(es) failed: " + ", ".join(
            f"{n} (exit code {c})" for n, c in bad) + "; see their messages above")


def worker(storage, study_name, data=None, *, n_trials=None, timeout=None, verbose=True,
           blas_threads=1, index=None, wait_for_study=0.0):
    """Join a search started elsewhere (by :func:`search` or ``nncore
    search``) as one more worker: read its settings from the study, load
    the same data (``data``: as for :func:`search`; default: find MNIST on
    this machine -- it must be the same file, which is checked), and run
    trials until the study holds its trial budget -- or, with ``n_trials``,
    run that many trials here whatever the budget -- or until ``timeout``
    seconds pass.  ``wait_for_study`` waits that long for the study to be
    created (so workers may start before the search).  Returns the number
    of trials run here."""
    _optuna()
    url = _storage_url(storage)
    if url is None:
        raise ValueError("a worker needs the search's storage URL")
    t_wait = time.time()
    while True:
        try:
            with _quiet_optuna(verbose):
                study, cfg = _open_study(url, study_name, None, create=False)
            break
        except ValueError:
            if time.time() - t_wait >= wait_for_study:
                raise
            time.sleep(1.0)
    path = data
    if data is None and cfg.get("data_path") and os.path.exists(cfg["data_path"]):
        path = cfg["data_path"]
    d = _load_data(path, cfg["n_in"], cfg["n_out"], cfg["dtype"], cfg["train_size"],
                   cfg["validation_size"])
    if index is None:
        index = int.from_bytes(hashlib.sha256(
            f"{socket.gethostname()}:{os.getpid()}:{time.time()}".encode()).digest()[:4], "big")
    deadline = None if timeout is None else time.time() + float(timeout)
    if cfg.get("pruner") == "object" and verbose:
        print("note: the search was started with a pruner object; this worker prunes with "
              "the default median pruner", flush=True)
    pruner = _make_pruner("median" if cfg.get("pruner") == "object" else cfg.get("pruner"),
                          cfg["epochs"])
    return _run_worker(url, study_name, cfg, d, index, study=None,
                       budget=cfg.get("n_trials") if n_trials is None else None,
                       max_trials=n_trials, deadline=deadline, pruner=pruner, verbose=verbose,
                       blas_threads=blas_threads)


def study_result(storage, study_name, data=None, *, retrain=False, blas_threads=1):
    """The :class:`SearchResult` of a search held in ``storage`` (to look at
    a search run elsewhere); ``retrain=True`` retrains its best
    configuration for the test accuracy (loading ``data``)."""
    url = _storage_url(storage)
    study, cfg = _open_study(url, study_name, None, create=False)
    cfg = dict(cfg, storage_url=url)
    d = None
    if retrain:
        path = data
        if data is None and cfg.get("data_path") and os.path.exists(cfg["data_path"]):
            path = cfg["data_path"]
        d = _load_data(path, cfg["n_in"], cfg["n_out"], cfg["dtype"], cfg["train_size"],
                       cfg["validation_size"])
    trials = study.get_trials(deepcopy=False)
    wall = None
    starts = [t.datetime_start for t in trials if t.datetime_start]
    ends = [t.datetime_complete for t in trials if t.datetime_complete]
    if starts and ends:
        wall = (max(ends) - min(starts)).total_seconds()
    return _summarize(study, cfg, d, retrain=retrain, wall_seconds=wall,
                      workers=len({t.user_attrs.get("worker") for t in trials}) or 1,
                      blas_threads=blas_threads)


# ---------------------------------------------------------------------------
# The chapter's broad strategy
# ---------------------------------------------------------------------------

@dataclass
class BroadStrategyResult:
    """What :func:`broad_strategy` returns: ``config`` (the chosen
    hyper-parameters; ``epochs`` is the best epoch + 1 of the best run),
    ``steps`` (one dict per training run, in order, with its phase, eta,
    lambda, training costs or validation accuracy, and verdict), ``log``
    (the report, line by line), the best run's validation accuracy and its
    network's test accuracy."""

    config: dict
    steps: list
    log: list
    threshold_eta: float | None
    validation_accuracy: float | None
    test_accuracy: float | None
    seconds: float
    n_validation: int = 0
    n_test: int = 0

    def report(self):
        return "\n".join(self.log)

    @property
    def trials(self):
        """The runs as trial rows (for :func:`trials_table`, :func:`plot_trials`)."""
        rows = []
        for i, s in enumerate(self.steps):
            value = s.get("accuracy") if s.get("finite", True) else None
            rows.append({"number": i, "state": "COMPLETE" if s.get("finite", True) else "FAIL",
                         "value": value, "params": {"eta": s["eta"], "lmbda": s["lmbda"]},
                         "epochs": s.get("epochs"), "best_epoch": s.get("best_epoch"),
                         "stop": s.get("stop"), "seconds": s.get("seconds"), "worker": "",
                         "note": f"{s['phase']}: {s['verdict']}"})
        return rows

    def save(self, out_dir):
        """Write ``broad_strategy.md`` (the report and the runs), ``steps.json``
        and, with matplotlib, ``eta_threshold.png`` (the training cost of each
        probe, like the chapter's figure) and ``lmbda_eta.png``."""
        os.makedirs(out_dir, exist_ok=True)
        paths = {}
        p = os.path.join(out_dir, "broad_strategy.md")
        with open(p, "w", encoding="utf-8") as f:
            f.write("# The chapter's broad strategy\n\n```\n" + self.report() + "\n```\n\n")
            validated = [t for t in self.trials if t["value"] is not None]
            if validated:
                f.write("## Runs scored on validation data\n\n")
                f.write(trials_table(validated, ["eta", "lmbda"], sort="number") + "\n")
        paths["markdown"] = p
        p = os.path.join(out_dir, "steps.json")
        with open(p, "w", encoding="utf-8") as f:
            json.dump({"config": self.config, "threshold_eta": self.threshold_eta,
                       "validation_accuracy": self.validation_accuracy,
                       "test_accuracy": self.test_accuracy, "seconds": self.seconds,
                       "steps": self.steps}, f, indent=1, default=str)
        paths["json"] = p
        try:
            paths.update(self._plots(out_dir))
        except ImportError as e:
            paths["plots"] = f"not drawn: {e}"
        return paths

    def _plots(self, out_dir):
        from .plotting import _pyplot
        plt = _pyplot()
        out = {}
        probes = [s for s in self.steps if s["phase"].startswith("threshold")]
        if probes:
            fig, ax = plt.subplots(figsize=(6.4, 4.0))
            for s in probes:
                costs = [c for c in s["training_costs"] if c is not None and math.isfinite(c)]
                ax.plot(range(len(costs)), costs, marker="o",
                        label=f"eta = {s['eta']:g} ({s['verdict']})")
            ax.set_xlabel("epoch (0 = before training)")
            ax.set_ylabel("cost on the training data")
            ax.set_yscale("log")
            ax.set_title("Threshold eta: training cost over the first epochs "
                         f"(lambda = {probes[0]['lmbda']:g})")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize="x-small")
            fig.tight_layout()
            out["threshold"] = os.path.join(out_dir, "eta_threshold.png")
            fig.savefig(out["threshold"], dpi=110)
            plt.close(fig)
        runs = [s for s in self.steps if s.get("accuracy") is not None]
        if runs:
            fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.6))
            for ax, p in zip(axes, ("lmbda", "eta")):
                for phase, marker in (("lambda", "o"), ("eta", "s")):
                    pts = [(s[p], 100 * s["accuracy"]) for s in runs if s["phase"] == phase]
                    if pts:
                        xs, ys = zip(*pts)
                        ax.scatter(xs, ys, marker=marker, label=f"choosing {phase}")
                ax.set_xscale("log")
                ax.set_xlabel(p)
                ax.set_ylabel("validation accuracy (%)")
                ax.grid(True, alpha=0.3)
                ax.legend(fontsize="small")
            fig.suptitle("Broad strategy: validation accuracy of each run")
            fig.tight_layout()
            out["runs"] = os.path.join(out_dir, "lmbda_eta.png")
            fig.savefig(out["runs"], dpi=110)
            plt.close(fig)
        return out


def _cost_verdict(costs, finite):
    if not finite:
        return "diverges (NaN)"
    if all(b < a for a, b in zip(costs, costs[1:])):
        return "decreases"
    if costs[-1] >= costs[0]:
        return "increases"
    return "oscillates"


def broad_strategy(data=None, *, sizes=(784, 30, 10), mini_batch_size=10, epochs=30,
                   early_stopping=10, probe_epochs=3, probe_lmbda=0.0, eta_start=0.01,
                   lmbda_start=1.0,
                   train_size=None, validation_size=None, dtype="float32", seed=0,
                   refine=True, retune_eta=True, fixed=None, verbose=True, blas_threads=1):
    """The chapter's procedure for eta and lambda, step by step.

    1. *Threshold eta* (lambda = ``probe_lmbda``, 0 as the chapter advises;
       the training cost over the first ``probe_epochs`` epochs, starting
       before training): from
       ``eta_start`` go up by factors of 10 while the cost decreases every
       epoch (or down until it does) -- the order of magnitude; then refine
       with 2x and 5x that value; the largest eta whose cost still decreases
       is the threshold, and half of it is used.
    2. *Lambda* on validation accuracy (runs of up to ``epochs`` epochs with
       no-improvement-in-``early_stopping``): lambda = ``lmbda_start``, then
       x10 or /10 in the direction that helps while it helps, then refined
       by factors of 2.
    3. *Re-tune eta* with that lambda: halve or double it while the
       validation accuracy improves.

    Every run starts from the same seed (same initial weights and the same
    shuffles), so runs differ only by their hyper-parameters.  ``fixed``
    sets other hyper-parameters (``{"momentum": 0.9}``...).  Returns a
    :class:`BroadStrategyResult`; with ``verbose`` each run is printed as it
    finishes.
    """
    t_start = time.perf_counter()
    sizes = [int(s) for s in sizes]
    dt = np.dtype(dtype).name
    d = _load_data(data, sizes[0], sizes[-1], dt, train_size, validation_size)
    base = {name: spec.value for name, spec in
            make_space(dict(fixed or {}, mini_batch_size=mini_batch_size),
                       sizes=sizes, epochs=epochs).items()}
    cfg = {"n_in": sizes[0], "n_out": sizes[-1],
           "early_stopping": None if not early_stopping else int(early_stopping)}
    space = {n: Fixed(v) for n, v in base.items()}
    conf0 = _resolve({}, space, cfg)
    log, steps = [], []
    best = {"acc": -1.0, "net": None, "step": None}

    def say(line):
        log.append(line)
        if verbose:
            print(line, flush=True)

    def probe(eta):
        conf = dict(conf0, eta=eta, lmbda=probe_lmbda, early_stopping=None)
        t0 = time.perf_counter()
        with _blas_threads(blas_threads):
            net = _network(conf, seed, dt)
            with np.errstate(all="ignore"):
                costs = [net._total_cost(d.train, probe_lmbda)]

            def record(net, info):
                if info["kind"] == "epoch":
                    costs.append(info["history"].training_cost[-1])
                return False

            finite = True
            try:
                _sgd(net, conf, d, callbacks=[record], monitor_training_cost=True,
                     epochs=probe_epochs)
            except FloatingPointError:
                finite = False
        finite = finite and all(math.isfinite(c) for c in costs)
        verdict = _cost_verdict(costs, finite)
        step = {"phase": "threshold", "eta": eta, "lmbda": probe_lmbda,
                "training_costs": [float(c) if math.isfinite(c) else None for c in costs],
                "finite": finite, "verdict": verdict,
                "seconds": round(time.perf_counter() - t0, 2)}
        steps.append(step)
        shown = " -> ".join(f"{c:.4g}" for c in costs)
        say(f"  eta = {eta:g}: training cost {shown}{' -> NaN' if not finite else ''}: "
            f"{verdict}")
        return verdict == "decreases"

    def evaluate(eta, lmbda, phase):
        conf = dict(conf0, eta=eta, lmbda=lmbda)
        t0 = time.perf_counter()
        with _blas_threads(blas_threads):
            net = _network(conf, seed, dt)
            try:
                h = _sgd(net, conf, d, restore_best=True)
                acc = h.best_accuracy / h.n_evaluation
                finite = True
            except FloatingPointError:
                h, acc, finite = None, 0.0, False
        step = {"phase": phase, "eta": eta, "lmbda": lmbda, "accuracy": acc, "finite": finite,
                "epochs": h.epochs if h else None,
                "best_epoch": h.best_epoch if h else None,
                "stop": h.stop_reason if h else "non-finite",
                "seconds": round(time.perf_counter() - t0, 2)}
        step["verdict"] = f"{acc:.2%}" if finite else "diverges (NaN)"
        steps.append(step)
        if acc > best["acc"]:
            best.update(acc=acc, net=net, step=step)
        say(f"  eta = {eta:g}, lambda = {lmbda:g}: validation accuracy {acc:.2%}"
            + (f" (best epoch {h.best_epoch} of {h.epochs}, {h.stop_reason})" if h else
               " (diverged)") + f", {_secs(step['seconds'])} s")
        return acc

    say(f"Broad strategy for {sizes}, mini-batch {mini_batch_size}, "
        f"{len(d.train)} training / {len(d.validation)} validation images, {dt}, seed {seed}")
    # -- step 1: the threshold eta ---------------------------------------------------
    say(f"Step 1: the threshold eta -- the largest eta at which the training cost decreases "
        f"during the first {probe_epochs} epochs (lambda = {probe_lmbda:g})")
    eta_min, eta_max = 1e-7, 1e5
    eta = float(eta_start)
    if probe(eta):
        while eta * 10 <= eta_max and probe(eta * 10):
            eta *= 10
        magnitude = eta
    else:
        magnitude = None
        while eta / 10 >= eta_min:
            eta /= 10
            if probe(eta):
                magnitude = eta
                break
        if magnitude is None:
            say(f"  no eta from {eta_start:g} down to {eta_min:g} makes the training cost "
                "decrease: the network is not learning; simplify the problem first")
            raise RuntimeError("broad strategy: no learning rate makes the training cost "
                               "decrease; see the log")
    say(f"  order of magnitude of the threshold: eta = {magnitude:g} "
        f"(the cost no longer decreases at {magnitude * 10:g})")
    threshold = magnitude
    if refine:
        for f in (2.0, 5.0):
            if probe(magnitude * f):
                threshold = magnitude * f
            else:
                break
        say(f"  refined threshold: eta = {threshold:g}")
    eta = threshold / 2
    say(f"  => eta = threshold / 2 = {eta:g}")
    # -- step 2: lambda ---------------------------------------------------------------
    say(f"Step 2: lambda on validation accuracy, eta = {eta:g} (up to {epochs} epochs"
        + (f", no-improvement-in-{early_stopping}" if early_stopping else "") + ")")
    acc = {}
    lam = float(lmbda_start)
    acc[lam] = evaluate(eta, lam, "lambda")
    acc[lam * 10] = evaluate(eta, lam * 10, "lambda")
    acc[lam / 10] = evaluate(eta, lam / 10, "lambda")
    direction = None
    if acc[lam * 10] > acc[lam] and acc[lam * 10] >= acc[lam / 10]:
        direction, lam = 10.0, lam * 10
    elif acc[lam / 10] > acc[lam]:
        direction, lam = 0.1, lam / 10
    if direction is not None:
        while 1e-4 <= lam * direction <= 1e5:
            nxt = lam * direction
            acc[nxt] = evaluate(eta, nxt, "lambda")
            if acc[nxt] > acc[lam]:
                lam = nxt
            else:
                break
    say(f"  order of magnitude: lambda = {lam:g}")
    if refine:
        for f in (2.0, 0.5):
            cand = lam * f
            if cand not in acc:
                acc[cand] = evaluate(eta, cand, "lambda")
            if acc[cand] > acc[lam]:
                lam2 = cand
                nxt = cand * f
                if nxt not in acc:
                    acc[nxt] = evaluate(eta, nxt, "lambda")
                lam = nxt if acc[nxt] > acc[lam2] else lam2
                break
        say(f"  refined: lambda = {lam:g} ({acc[lam]:.2%})")
    lmbda = lam
    # -- step 3: re-tune eta ------------------------------------------------------------
    eta_acc = {eta: acc[lmbda]}
    if retune_eta:
        say(f"Step 3: re-tune eta with lambda = {lmbda:g} (halve or double while the "
            "validation accuracy improves)")
        for f in (2.0, 0.5):
            cand = eta * f
            eta_acc[cand] = evaluate(cand, lmbda, "eta")
            if eta_acc[cand] > eta_acc[eta]:
                cur = cand
                for _ in range(2):
                    nxt = cur * f
                    eta_acc[nxt] = evaluate(nxt, lmbda, "eta")
                    if eta_acc[nxt] > eta_acc[cur]:
                        cur = nxt
                    else:
                        break
                eta = cur
                break
        say(f"  => eta = {eta:g} ({eta_acc[eta]:.2%})")
    step = best["step"]
    config = dict(conf0, eta=step["eta"], lmbda=step["lmbda"], max_epochs=conf0["epochs"],
                  epochs=step["best_epoch"] + 1 if step["best_epoch"] is not None else None)
    order = ["sizes", "eta", "lmbda", "mini_batch_size", "epochs", "max_epochs",
             "early_stopping"]
    config = {k: config[k] for k in order + [k for k in config if k not in order]}
    test_acc = None
    if d.test is not None and best["net"] is not None:
        test_acc = best["net"]._accuracy(d.test) / len(d.test)
    seconds = time.perf_counter() - t_start
    say(f"Result: eta = {step['eta']:g}, lambda = {step['lmbda']:g}, mini-batch "
        f"{mini_batch_size}, {config['epochs']} epochs: validation accuracy {best['acc']:.2%}"
        + (f", test accuracy {test_acc:.2%}" if test_acc is not None else "")
        + f" ({len(steps)} runs, {seconds:.0f} s)")
    return BroadStrategyResult(config=config, steps=steps, log=log, threshold_eta=threshold,
                               validation_accuracy=best["acc"], test_accuracy=test_acc,
                               seconds=seconds, n_validation=len(d.validation),
                               n_test=len(d.test) if d.test is not None else 0)


# ---------------------------------------------------------------------------
# The command line: nncore search
# ---------------------------------------------------------------------------

_SPEC_FLAGS = [  # flag, parameter, help
    ("--eta", "eta", "learning rate (default 0.01:3:log)"),
    ("--lmbda", "lmbda", "L2 regularization (default 0.1:20:log)"),
    ("--mini-batch-size", "mini_batch_size", "mini-batch size (default 5,10,20,50)"),
    ("--hidden", "hidden", "hidden layers: 30,100,100-30 (a choice) or 30:300:log "
     "(one layer's width); default from --sizes"),
    ("--momentum", "momentum", "momentum mu, e.g. 0:0.95 (default 0)"),
    ("--nesterov", "nesterov", "Nesterov: true, false or true,false (default false)"),
    ("--dropout", "dropout", "dropout p of hidden neurons, e.g. 0:0.5 (default 0)"),
    ("--l1", "l1", "L1 regularization (default 0)"),
    ("--activation", "activation", "hidden neurons, e.g. sigmoid,tanh,relu (default sigmoid)"),
    ("--cost", "cost", "cross-entropy, log-likelihood, quadratic (or a choice)"),
    ("--search-epochs", "epochs", "most epochs as a searched range, e.g. 10:60"),
]


def _cli_sizes(text):
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes takes comma-separated integers such as 784,100,10, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"--sizes needs at least two positive widths, "
                                         f"got {text!r}")
    return sizes


def add_search_parser(subparsers):
    """Add ``search`` to an argparse subparsers object (``nncore search``)."""
    from ._argtypes import nonnegative_float, nonnegative_int, positive_float, positive_int
    p = subparsers.add_parser(
        "search", help="search hyper-parameters (grid, random, TPE; one machine or many)",
        description="Search hyper-parameters on validation accuracy: grid, random or TPE "
        "(Optuna), trials pruned when they lag, any number of workers sharing one study "
        "(SQLite file or PostgreSQL URL). Writes best.json, trials.csv, trials.md and plots "
        "to --out. --strategy broad runs the chapter's broad strategy instead. Ranges: "
        "LOW:HIGH[:log]; choices: A,B,C; a single value fixes a hyper-parameter. "
        "Needs optuna (pip install optuna).")
    p.add_argument("--method", choices=["tpe", "random", "grid"], default="tpe")
    p.add_argument("--trials", type=positive_int, default=None, metavar="N",
                   help="trials in the study, all workers together (default 30; grid: all); "
                   "with --join: trials to run here (default: until the study has its total)")
    p.add_argument("--timeout", type=positive_float, default=None, metavar="SEC",
                   help="start no new trial after SEC seconds")
    p.add_argument("--storage", default=None, metavar="URL",
                   help="sqlite:///file.db, a file path, or postgresql://user:pw@host/db "
                   "(default: OUT/search.db)")
    p.add_argument("--study", default="nncore-search", metavar="NAME",
                   help="study name in the storage (the same name resumes or joins it)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="K",
                   help="local worker processes sharing the storage")
    p.add_argument("--join", action="store_true",
                   help="join a search started elsewhere (same --storage and --study) "
                   "as K more workers; settings come from the study (waits up to a minute "
                   "for it to be created)")
    p.add_argument("--report", action="store_true",
                   help="only summarize the study in --storage/--study (table, plots, and "
                   "the test accuracy of its best configuration)")
    p.add_argument("--sizes", type=_cli_sizes, default=[784, 30, 10],
                   help="layer widths (default 784,30,10; --hidden overrides the hidden ones)")
    p.add_argument("--epochs", type=positive_int, default=30, help="most epochs per trial")
    p.add_argument("--early-stopping", type=nonnegative_int, default=10, metavar="N",
                   help="no-improvement-in-N (default 10; 0: off)")
    p.add_argument("--pruner", default="median",
                   help="median[:WARMUP[:STARTUP]] (default), percentile:P, hyperband, "
                   "halving, none")
    p.add_argument("--startup-trials", type=positive_int, default=None,
                   help="random trials before TPE models the results")
    p.add_argument("--train-size", type=positive_int, default=None, metavar="N",
                   help="use the first N training images")
    p.add_argument("--validation-size", type=positive_int, default=None, metavar="N",
                   help="score on the first N validation images")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32",
                   help="precision of the networks (default float32: faster)")
    p.add_argument("--seed", type=int, default=None,
                   help="makes the search reproducible (samplers and networks)")
    p.add_argument("--data", default=None,
                   help="path to mnist.pkl.gz (default: $NNCORE_DATA, the cache, or a download)")
    p.add_argument("--out", default="search-out", metavar="DIR",
                   help="where results go (default ./search-out)")
    p.add_argument("--no-retrain", action="store_true",
                   help="skip retraining the best configuration for its test accuracy")
    p.add_argument("--strategy", choices=["broad"], default=None,
                   help="broad: the chapter's step-by-step procedure for eta and lambda")
    p.add_argument("--probe-epochs", type=positive_int, default=3,
                   help="broad strategy: epochs of training cost judged for the threshold eta")
    p.add_argument("--probe-lmbda", type=nonnegative_float, default=0.0,
                   help="broad strategy: lambda while finding the threshold eta (default 0, "
                   "as the chapter advises; its figure used 5.0)")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    g = p.add_argument_group("the search space")
    for flag, name, text in _SPEC_FLAGS:
        g.add_argument(flag, dest=f"space_{name}", default=None, metavar="SPEC", help=text)
    p.set_defaults(func=run_search)
    return p


def _space_from_args(args):
    given = {name: getattr(args, f"space_{name}") for _, name, _ in _SPEC_FLAGS
             if getattr(args, f"space_{name}", None) is not None}
    space = default_space()
    for name, text in given.items():
        space[name] = parse_spec(name, text)
    return space


def run_search(args):
    """Run ``nncore search`` from parsed arguments; returns the exit code."""
    from .mnist_loader import DataError
    try:
        return _run_search(args)
    except ImportError as e:
        print(f"nncore search: {e}", file=sys.stderr)
        return 1
    except (ValueError, RuntimeError) as e:
        print(f"nncore search: {e}", file=sys.stderr)
        return 1
    except DataError as e:
        print(f"nncore search: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nncore search: interrupted; the trials so far are in the storage -- run the "
              "same command again to resume", file=sys.stderr)
        return 130


def _run_search(args):
    verbose = not args.quiet
    os.makedirs(args.out, exist_ok=True)
    if args.strategy == "broad":
        mbs = args.space_mini_batch_size or "10"
        try:
            mbs = int(mbs)
        except ValueError:
            raise ValueError("--strategy broad takes one --mini-batch-size") from None
        fixed = {}
        for _, name, _ in _SPEC_FLAGS:
            v = getattr(args, f"space_{name}")
            if v is not None and name not in ("eta", "lmbda", "mini_batch_size"):
                spec = parse_spec(name, v)
                if not isinstance(spec, Fixed):
                    raise ValueError(f"--strategy broad takes fixed values for {name}")
                fixed[name] = spec.value
        sizes = args.sizes
        if "hidden" in fixed:
            sizes = [sizes[0], *_layers(fixed.pop("hidden")), sizes[-1]]
        res = broad_strategy(args.data, sizes=sizes, mini_batch_size=mbs, epochs=args.epochs,
                             early_stopping=args.early_stopping or None,
                             probe_epochs=args.probe_epochs, probe_lmbda=args.probe_lmbda,
                             train_size=args.train_size, validation_size=args.validation_size,
                             dtype=args.dtype, seed=0 if args.seed is None else args.seed,
                             fixed=fixed, verbose=verbose)
        paths = res.save(args.out)
        if not verbose:
            print(res.log[-1])
        print("Wrote " + ", ".join(str(v) for v in paths.values()))
        return 0
    storage = args.storage or os.path.join(args.out, "search.db")
    if args.report:
        res = study_result(storage, args.study, args.data, retrain=not args.no_retrain)
    elif args.join:
        if args.workers == 1:
            total = worker(storage, args.study, args.data, n_trials=args.trials,
                           timeout=args.timeout, verbose=verbose, wait_for_study=60)
            print(f"joined study {args.study!r}: ran {total} trial(s) here")
        else:
            _join_many(storage, args)
            print(f"joined study {args.study!r} with {args.workers} workers")
        res = study_result(storage, args.study, retrain=False)
    else:
        res = search(args.data, _space_from_args(args), method=args.method,
                     n_trials=args.trials, timeout=args.timeout, storage=storage,
                     study_name=args.study, n_workers=args.workers, pruner=args.pruner,
                     seed=args.seed, sizes=args.sizes, epochs=args.epochs,
                     early_stopping=args.early_stopping or None, train_size=args.train_size,
                     validation_size=args.validation_size, dtype=args.dtype,
                     n_startup_trials=args.startup_trials, retrain=not args.no_retrain,
                     verbose=verbose)
    paths = res.save(args.out)
    if args.report or args.join or not verbose:
        print(res.summary())
    print(res.table("markdown", limit=10))
    print("Wrote " + ", ".join(str(v) for v in paths.values()))
    return 0


def _join_many(storage, args):
    """--join with --workers K: K forked processes each running worker()."""
    import multiprocessing
    ctx = multiprocessing.get_context("fork")

    def target(i):
        code = 0
        try:
            worker(storage, args.study, args.data, n_trials=args.trials,
                   timeout=args.timeout, verbose=not args.quiet, wait_for_study=60)
        except KeyboardInterrupt:
            code = 130
        except BaseException:
            import traceback
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    procs = [ctx.Process(target=target, args=(i,)) for i in range(args.workers)]
    sys.stdout.flush()
    for q in procs:
        q.start()
    for q in procs:
        q.join()
    if any(q.exitcode == 130 for q in procs):
        raise KeyboardInterrupt
    if any(q.exitcode for q in procs):
        raise RuntimeError("a joining worker failed; see its messages above")


def main(argv=None):
    """``python -m nncore.search ...``: the same as ``nncore search ...``."""
    parser = argparse.ArgumentParser(prog="nncore")
    sub = parser.add_subparsers(dest="command")
    add_search_parser(sub)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] != "search":
        argv = ["search"] + argv
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
