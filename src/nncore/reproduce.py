"""``nncore reproduce``: the experiments of chapter 3, re-run and set beside
the numbers the book reports.

Each experiment of the chapter (and each of its problems that asks for
code) is an :class:`Experiment` in :data:`REGISTRY`: a title, the book's
configuration in words, the book's numbers as data (:class:`BookValue`),
the parameters of a full run and of a ``--quick`` smoke run, and a
``run(ctx)`` that trains the networks and returns an :class:`Outcome` --
metrics per seed, the raw curves, notes -- from which figures and the
markdown report are drawn.  Nothing in the report is typed in by hand:
every sentence that states a result is produced from the outcome.

Command line (registered by :func:`add_reproduce_parser`)::

    nncore reproduce --list
    nncore reproduce overfitting l2-1000          # two experiments
    nncore reproduce --all                        # everything: docs/REPRODUCTION.md
    nncore reproduce --all --quick                # smoke run (a temporary directory)
    nncore reproduce --from-results docs/reproduction/results.json   # redraw only

Conventions
-----------
* ``ours`` is the mean over seeds 1..N (``--seeds``, default 3); the
  spread is the min-max over those seeds (the sections also give the
  sample standard deviation).  A book number counts as *within the spread*
  when it lies inside our min-max range or within two standard deviations
  of our mean.  Deterministic results (the single neuron, the SVM) have no
  spread; there the book's own rounding is the tolerance.  The explanations
  of a difference use this same rule, never a second test.
* A bound the book states ("under 87 percent") *holds* when every seed
  satisfies it.  Where the book's sentence is qualitative, the threshold is
  ours: the report marks it with a dagger and never shows it as the book's.
* A configuration the book never ran (the SVM with today's gamma='scale') is
  information, not a comparison.
* Training runs in float64 (NumPy's default, as in the book) with BLAS
  pinned to one thread (threadpoolctl, when installed).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import hashlib
import json
import math
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = [
    "BookValue",
    "Experiment",
    "Outcome",
    "Context",
    "REGISTRY",
    "compare",
    "run_experiments",
    "render_report",
    "add_reproduce_parser",
    "run_reproduce",
    "main",
]

DEFAULT_SEEDS = 3
DEFAULT_OUT = os.path.join("docs", "reproduction")
DEFAULT_REPORT = os.path.join("docs", "REPRODUCTION.md")
RESULTS_NAME = "results.json"


# =============================================================================
# The registry's vocabulary
# =============================================================================

@dataclass(frozen=True)
class BookValue:
    """One number (or claim) the book reports, and how ours is compared.

    ``op``:
      ``"="``  a number the book quotes from one run: compare with our spread;
      ``"~"``  an approximate value ("about 0.09", "around epoch 15"): agrees
               when ``|ours - value| <= tol``;
      ``"<"``, ``">"``, ``"<="``, ``">="``  a bound the book states: holds when
               every seed satisfies it;
      ``"info"``  no number in the book; ours is reported for the record.
    ``key`` names the metric of the :class:`Outcome` it is compared with.
    ``reading`` says how a qualitative sentence of the book was turned into
    a test (our reading, stated in the report); ``derived`` marks a number
    that is ours (the threshold of such a test), not one the book prints: the
    report marks it with a dagger.  ``printed`` is session output the book
    shows, reported beside (not inside) the quote.  ``final_stated`` says the
    chapter calls its number the final result, so it is compared with our last
    epoch and the best epoch is not offered as an explanation.
    """

    key: str
    what: str
    value: float | None
    op: str = "="
    unit: str = "%"
    tol: float = 0.0
    digits: int = 2
    quote: str = ""
    reading: str = ""
    derived: bool = False   # the number is our reading of a qualitative sentence, not the book's
    printed: str = ""       # what the book's session output shows (kept outside the quote)
    final_stated: bool = False  # the book calls its number the final result (the last epoch)


@dataclass
class Outcome:
    """What one experiment produced: metrics per seed, raw data for the
    figures, notes; JSON-serializable through :meth:`to_dict`."""

    metrics: dict = field(default_factory=dict)   # key -> list of floats (one per seed)
    labels: dict = field(default_factory=dict)    # key -> description of info metrics
    data: dict = field(default_factory=dict)      # raw curves and tables for the figures
    notes: list = field(default_factory=list)     # generated sentences
    tables: list = field(default_factory=list)    # generated markdown tables
    seeds: list = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None
    wall_seconds: float = 0.0
    figures: list = field(default_factory=list)   # filled in when drawn

    def to_dict(self):
        return _json_clean({
            "metrics": self.metrics, "labels": self.labels, "data": self.data,
            "notes": self.notes, "tables": self.tables, "seeds": self.seeds,
            "skipped": self.skipped, "error": self.error,
            "wall_seconds": self.wall_seconds, "figures": self.figures,
        })

    @classmethod
    def from_dict(cls, d):
        o = cls()
        for k in ("metrics", "labels", "data", "notes", "tables", "seeds", "skipped",
                  "error", "wall_seconds", "figures"):
            if k in d:
                setattr(o, k, d[k])
        o.metrics = {k: [_num(v) for v in vs] for k, vs in o.metrics.items()}
        return o


@dataclass
class Experiment:
    """One experiment of the chapter.

    ``run(ctx)`` reads its parameters from ``ctx.params`` (``params`` for a
    full run, ``quick`` for ``--quick``) and the seeds from ``ctx.seeds``;
    ``plot(ctx, outcome)`` draws its figures from the outcome alone (so that
    ``--from-results`` can redraw them); ``explain(outcome, comparison)``
    adds experiment-specific sentences when ours differs from the book."""

    name: str
    title: str
    section: str
    config: str
    book: tuple
    run: Callable
    params: dict
    quick: dict
    plot: Callable | None = None
    explain: Callable | None = None
    seeded: bool = True
    needs_data: bool = True
    headline: bool = False
    ours: str = ""          # how our configuration departs from the book's, if it does
    remarks: Callable | None = None   # remarks(outcome) -> paragraphs for the section

    def book_numbers(self):
        """The book's numbers as plain data: ``{key: value}`` (claims and
        approximate values included, ``info`` rows left out)."""
        return {b.key: b.value for b in self.book if b.op != "info"}


# =============================================================================
# Small utilities
# =============================================================================

def _num(v):
    if v is None:
        return float("nan")
    return float(v)


def _json_clean(v):
    if isinstance(v, dict):
        return {str(k): _json_clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json_clean(x) for x in v]
    if isinstance(v, np.ndarray):
        return _json_clean(v.tolist())
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating, float)):
        f = float(v)
        return f if math.isfinite(f) else None
    if isinstance(v, (np.bool_,)):
        return bool(v)
    return v


def _finite(values):
    return [float(v) for v in values if v is not None and math.isfinite(float(v))]


def _stats(values):
    vals = _finite(values)
    n = len(vals)
    if not n:
        return dict(n=0, mean=float("nan"), sd=float("nan"), lo=float("nan"), hi=float("nan"))
    mean = float(np.mean(vals))
    sd = float(np.std(vals, ddof=1)) if n > 1 else 0.0
    return dict(n=n, mean=mean, sd=sd, lo=min(vals), hi=max(vals))


def _fmt(v, digits=2, unit=""):
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    s = f"{v:.{digits}f}"
    return s + unit if unit == "%" else s


def _fmt_seconds(s):
    if s is None or not math.isfinite(s):
        return "—"
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{int(s // 60)} min {int(round(s % 60))} s"
    return f"{int(s // 3600)} h {int(round((s % 3600) / 60))} min"


def _pct(count, n):
    return 100.0 * count / n if n else float("nan")


# =============================================================================
# Comparing ours with the book
# =============================================================================

def compare(book: BookValue, values):
    """Compare our per-seed ``values`` with ``book``.

    Returns a dict: ``mean``, ``sd``, ``lo``, ``hi``, ``n``, ``diff`` (ours
    minus the book, for numbers), ``verdict`` (text for the table) and
    ``ok`` (True, False, or None when no judgement applies)."""
    st = _stats(values)
    out = dict(st, diff=float("nan"), verdict="—", ok=None, held=None)
    if st["n"] == 0:
        out["verdict"] = "no result"
        return out
    op, v = book.op, book.value
    if op == "info" or v is None:
        return out
    if op in ("=", "~"):
        out["diff"] = st["mean"] - v
    if op == "=":
        if st["n"] == 1:
            # deterministic, or one run: the book's rounding is the tolerance
            tol = 0.5 * 10 ** (-book.digits) + 1e-12
            ok = abs(out["diff"]) <= tol
            out.update(ok=ok, verdict="yes (deterministic)" if ok else "**no** (deterministic)")
        else:
            inside = st["lo"] <= v <= st["hi"]
            near = abs(out["diff"]) <= 2 * st["sd"]
            ok = inside or near
            out.update(ok=ok, verdict="yes" if ok else "**no**")
    elif op == "~":
        ok = abs(out["diff"]) <= book.tol + 1e-12
        out.update(ok=ok, verdict=(f"yes (±{_fmt(book.tol, book.digits)})" if ok
                                   else f"**no** (±{_fmt(book.tol, book.digits)})"))
    elif op in ("<", ">", "<=", ">="):
        test = {"<": lambda x: x < v, ">": lambda x: x > v,
                "<=": lambda x: x <= v, ">=": lambda x: x >= v}[op]
        vals = _finite(values)
        k = sum(1 for x in vals if test(x))
        ok = k == len(vals)
        out.update(ok=ok, held=k, verdict=(f"holds ({k}/{len(vals)})" if ok
                                           else f"**fails** ({k}/{len(vals)})"))
    return out


#: The marker of a number that is our reading of the book, not the book's.
DERIVED_MARK = "†"
_SYM = {"=": "", "~": "≈ ", "<": "< ", ">": "> ", "<=": "≤ ", ">=": "≥ "}


def _book_text(b: BookValue):
    if b.op == "info" or b.value is None:
        return "—"
    text = _SYM[b.op] + _fmt(b.value, b.digits, b.unit)
    return f"{text} {DERIVED_MARK}" if b.derived else text


def _ours_text(b: BookValue, c):
    if c["n"] == 0:
        return "—"
    if c["n"] == 1:
        return _fmt(c["mean"], b.digits, b.unit)
    return (f"{_fmt(c['mean'], b.digits, b.unit)} "
            f"({_fmt(c['lo'], b.digits)}–{_fmt(c['hi'], b.digits)})")


def _diff_text(b: BookValue, c):
    if b.op not in ("=", "~") or not math.isfinite(c["diff"]):
        return "—"
    unit = " pp" if b.unit == "%" else ""
    return f"{c['diff']:+.{b.digits}f}{unit}"


# =============================================================================
# The run context
# =============================================================================

class Context:
    """What an experiment's ``run`` sees: its parameters, the seeds, the
    data (loaded on first use), a log, and the figure directory."""

    def __init__(self, *, quick=False, seeds=None, out_dir=DEFAULT_OUT, data_path=None,
                 log=None, arrays=None):
        self.quick = bool(quick)
        n = seeds if seeds is not None else (2 if quick else DEFAULT_SEEDS)
        self.seeds = list(range(1, int(n) + 1))
        self.out_dir = Path(out_dir)
        self.data_path = data_path
        self._log = log if log is not None else (lambda msg: print(msg, file=sys.stderr,
                                                                    flush=True))
        self._arrays = arrays
        self.params = {}
        self.experiment = None

    # -- logging --------------------------------------------------------------
    def log(self, msg):
        name = self.experiment.name if self.experiment is not None else "reproduce"
        self._log(f"[{name}] {msg}")

    # -- data -----------------------------------------------------------------
    @property
    def arrays(self):
        """MNIST as float64 arrays (converted once)."""
        if self._arrays is None:
            from . import mnist_loader
            t0 = time.perf_counter()
            self._arrays = mnist_loader.load_arrays(self.data_path, dtype=np.float64)
            self._log(f"[reproduce] loaded MNIST in {time.perf_counter() - t0:.1f} s")
        return self._arrays

    def training(self, n=None):
        a = self.arrays
        if n is None:
            return a.X_train, a.y_train
        return a.X_train[:n], a.y_train[:n]

    def evaluation(self, which, n=None):
        a = self.arrays
        X, y = (a.X_val, a.y_val) if which == "validation" else (a.X_test, a.y_test)
        if n is not None:
            X, y = X[:n], y[:n]
        return X, y


# =============================================================================
# Training helpers
# =============================================================================

def _network(spec, seed):
    from .costs import CrossEntropyCost
    from .network import Network
    net = Network(spec["sizes"], cost=spec.get("cost", CrossEntropyCost), seed=seed)
    if spec.get("init", "default") == "large":
        net.large_weight_initializer()
    return net


def _history_dict(h):
    """The parts of a History we keep, accuracies as percentages."""
    ne, nt = h.n_evaluation, h.n_training
    return {
        "evaluation_cost": list(h.evaluation_cost),
        "evaluation_accuracy": [_pct(a, ne) for a in h.evaluation_accuracy],
        "training_cost": list(h.training_cost),
        "training_accuracy": [_pct(a, nt) for a in h.training_accuracy],
        "n_evaluation": ne, "n_training": nt,
        "eta": list(h.eta), "epoch_seconds": list(h.epoch_seconds),
        "best_epoch": h.best_epoch, "stop_reason": h.stop_reason,
    }


def _expand_module():
    """nncore.expand if it is there and has what we use, else None."""
    try:
        from . import expand
    except Exception:  # noqa: BLE001 - absent or broken: the experiment is skipped
        return None
    if not (hasattr(expand, "make_augmenter") and hasattr(expand, "expand_shifts")):
        return None
    return expand


def _train_run(ctx, spec, seed, label=""):
    """Train one network as ``spec`` says; returns a JSON-ready record."""
    monitor = spec.get("monitor", ("ea",))
    X, y = ctx.training(spec.get("train_size"))
    if spec.get("expand") == "shifts":
        X, y = _expand_module().expand_shifts(X, y)
    evaluation = None
    if spec.get("eval"):
        evaluation = ctx.evaluation(spec["eval"], spec.get("eval_size"))
    augment = None
    if spec.get("augment"):
        augment = _expand_module().make_augmenter(spec["augment"])
    net = _network(spec, seed)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = net.SGD(
            (X, y), spec["epochs"], spec.get("mbs", 10), spec["eta"],
            lmbda=spec.get("lmbda", 0.0), evaluation_data=evaluation,
            monitor_evaluation_cost="ec" in monitor, monitor_evaluation_accuracy="ea" in monitor,
            monitor_training_cost="tc" in monitor, monitor_training_accuracy="ta" in monitor,
            l1=spec.get("l1", 0.0), dropout=spec.get("dropout", 0.0),
            momentum=spec.get("momentum", 0.0), nesterov=spec.get("nesterov", False),
            early_stopping=_stopping_rule(spec.get("early_stopping")),
            restore_best=spec.get("restore_best", False), schedule=spec.get("schedule"),
            augment=augment, verbose=False)
    wall = time.perf_counter() - t0
    rec = {"seed": seed, "history": _history_dict(h), "wall_seconds": wall,
           "n_train": int(X.shape[0]), "warnings": [str(w.message) for w in caught]}
    if spec.get("final_test"):
        Xt, yt = ctx.evaluation("test", spec.get("eval_size"))
        rec["test_accuracy"] = _pct(net.accuracy((Xt, yt)), len(yt))
    if spec.get("final_eval"):
        rec["final_accuracy"] = _pct(net.accuracy(evaluation), len(evaluation[1]))
    if spec.get("weight_stats"):
        w = np.concatenate([wl.ravel() for wl in net.weights])
        rec["near_zero_weights"] = float(np.mean(np.abs(w) < 1e-3)) * 100
        rec["mean_abs_weight"] = float(np.mean(np.abs(w)))
    ctx.log(f"{label or spec.get('label', '')} seed {seed}: {len(h.epoch_seconds)} epochs "
            f"in {wall:.1f} s" + (f", last accuracy {rec['history']['evaluation_accuracy'][-1]:.2f}%"
                                  if rec["history"]["evaluation_accuracy"] else ""))
    return rec


def _stopping_rule(spec):
    if spec is None:
        return None
    if isinstance(spec, int):
        return spec
    from .training import DiminishingReturns, NoImprovement
    kind, a, b = spec
    return NoImprovement(a) if kind == "no-improvement" else DiminishingReturns(a, b)


def _run_configs(ctx, configs):
    """``configs``: {label: spec}; every spec runs once per seed.  Returns
    {label: [record per seed]}."""
    runs = {}
    for label, spec in configs.items():
        runs[label] = [_train_run(ctx, spec, s, label) for s in ctx.seeds]
    return runs


def _curve(rec, which):
    return rec["history"][which]


def _per_seed(runs, fn):
    return [fn(r) for r in runs]


def _final(which="evaluation_accuracy"):
    return lambda r: _curve(r, which)[-1] if _curve(r, which) else float("nan")


def _best(which="evaluation_accuracy"):
    return lambda r: max(_curve(r, which)) if _curve(r, which) else float("nan")


def _at(epoch, which="evaluation_accuracy"):
    def f(r):
        c = _curve(r, which)
        return c[epoch] if len(c) > epoch else float("nan")
    return f


def _pin_blas():
    """One BLAS thread for the whole run (stable timings on a shared machine)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1)


# =============================================================================
# Figures
# =============================================================================

class _Figures:
    """Saves matplotlib figures as PNG and SVG under ``out_dir`` without
    touching pyplot's global state (headless: the Agg canvas)."""

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)

    def new(self, ncols=1, width=6.4, height=4.0):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        fig = Figure(figsize=(width * ncols if ncols > 1 else width, height))
        FigureCanvasAgg(fig)
        axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
        for ax in axes:
            ax.grid(True, alpha=0.3)
        return fig, axes

    def save(self, fig, stem, caption):
        import matplotlib
        self.out_dir.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        files = []
        with matplotlib.rc_context({"svg.hashsalt": "nncore-reproduce"}):
            for ext in ("png", "svg"):
                path = self.out_dir / f"{stem}.{ext}"
                kw = {"dpi": 110} if ext == "png" else {"metadata": {"Date": None}}
                fig.savefig(path, format=ext, **kw)
                files.append(str(path))
        return {"stem": stem, "caption": caption, "files": files}


def _plot_runs(ax, runs, which, label, start=0, color=None, style="-"):
    """Mean over seeds (line) with the min-max band, from epoch ``start``."""
    curves = [_curve(r, which) for r in runs if _curve(r, which)]
    if not curves:
        return
    n = min(len(c) for c in curves)
    if n == 0:
        return
    if len({len(c) for c in curves}) > 1:  # unequal lengths (early stopping): each seed
        for i, c in enumerate(curves):
            xs = np.arange(len(c))
            keep = xs >= start
            ax.plot(xs[keep], np.asarray(c, float)[keep], style, color=color,
                    label=label if i == 0 else None, linewidth=1.2)
        return
    A = np.array([c[:n] for c in curves], dtype=float)
    xs = np.arange(n)
    keep = xs >= start
    line, = ax.plot(xs[keep], A.mean(axis=0)[keep], style, color=color, label=label,
                    linewidth=1.4)
    if len(curves) > 1:
        ax.fill_between(xs[keep], A.min(axis=0)[keep], A.max(axis=0)[keep],
                        color=line.get_color(), alpha=0.18, linewidth=0)


def _seed_note(ctx_or_seeds):
    seeds = ctx_or_seeds if isinstance(ctx_or_seeds, list) else ctx_or_seeds.seeds
    return (f"mean over seeds {seeds[0]}–{seeds[-1]}, band: min–max" if len(seeds) > 1
            else f"seed {seeds[0]}")


def _curves_figure(figs, stem, title, caption, series, which, ylabel, start=0,
                   seeds=None, logy=False, ylim=None):
    fig, (ax,) = figs.new()
    for label, runs in series:
        _plot_runs(ax, runs, which, label, start=start)
    ax.set_xlabel("Epoch")
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if ylim:
        ax.set_ylim(*ylim)
    ax.set_title(title, fontsize="medium")
    ax.legend(fontsize="small", loc="best")
    cap = caption + (f" ({_seed_note(seeds)})" if seeds else "")
    return figs.save(fig, stem, cap)


# =============================================================================
# The experiments
# =============================================================================

# ---- the learning slowdown of one neuron -----------------------------------------

def _neuron_trajectory(cost_name, w0, b0, eta, epochs):
    from .costs import CrossEntropyCost, QuadraticCost
    from .network import Network
    cost = QuadraticCost if cost_name == "quadratic" else CrossEntropyCost
    net = Network([1, 1], cost=cost, seed=0)
    net.weights = [np.array([[w0]])]
    net.biases = [np.array([[b0]])]
    x = np.array([[1.0]])
    data = (x, np.array([[0.0]]))  # one example, target 0 (a target row, not a label)
    out, cost_v, ws, bs = [], [], [], []
    for epoch in range(epochs + 1):
        out.append(float(net.feedforward(x)[0, 0]))
        cost_v.append(float(net.total_cost(data, 0.0)))
        ws.append(float(net.weights[0][0, 0]))
        bs.append(float(net.biases[0][0, 0]))
        if epoch < epochs:
            net.update_mini_batch(data, eta, 0.0, 1)
    return {"output": out, "cost": cost_v, "w": ws, "b": bs}


_SLOWDOWN_STARTS = {"a": (0.6, 0.9), "b": (2.0, 2.0)}


def _run_slowdown(ctx):
    p = ctx.params
    E = p["epochs"]
    runs = {}
    for key, (w0, b0) in _SLOWDOWN_STARTS.items():
        runs[f"quadratic_{key}"] = _neuron_trajectory("quadratic", w0, b0, p["eta_quadratic"], E)
        runs[f"ce_{key}"] = _neuron_trajectory("cross-entropy", w0, b0, p["eta_ce"], E)
        runs[f"ce_same_eta_{key}"] = _neuron_trajectory("cross-entropy", w0, b0,
                                                        p["eta_quadratic"], E)
    o = Outcome(seeds=[0])
    o.data = {"runs": runs, "params": p}
    m = o.metrics
    half = E // 2

    def steepest(cost):
        d = -np.diff(cost)
        return float(np.argmax(d))

    def share_first_half(cost):
        total = cost[0] - cost[-1]
        return 100.0 * (cost[0] - cost[half]) / total if total > 0 else float("nan")

    qa, qb = runs["quadratic_a"], runs["quadratic_b"]
    ca, cb = runs["ce_a"], runs["ce_b"]
    m["q_a_out0"] = [qa["output"][0]]
    m["q_a_outE"] = [qa["output"][-1]]
    m["q_b_out0"] = [qb["output"][0]]
    m["q_b_share_half"] = [share_first_half(qb["cost"])]
    m["q_b_steepest"] = [steepest(qb["cost"])]
    m["q_b_outE"] = [qb["output"][-1]]
    m["ce_b_steepest"] = [steepest(cb["cost"])]
    m["ce_a_steepest"] = [steepest(ca["cost"])]
    k = min(10, E)
    m["slope_ratio_b"] = [(cb["cost"][0] - cb["cost"][k]) / max(qb["cost"][0] - qb["cost"][k], 1e-300)]
    m["ce_b_outE"] = [cb["output"][-1]]
    m["ce_same_b_out50"] = [runs["ce_same_eta_b"]["output"][min(50, E)]]
    m["q_b_out_half"] = [qb["output"][half]]
    o.labels.update({
        "ce_b_outE": f"cross-entropy (η = {p['eta_ce']}), w = b = 2: output after {E} epochs",
        "ce_same_b_out50": f"cross-entropy at the quadratic's η = {p['eta_quadratic']} "
                           "(not in the book), w = b = 2: output after 50 epochs",
        "q_b_out_half": f"quadratic, w = b = 2: output after {half} epochs",
    })
    # generated observations
    o.notes.append(
        f"Quadratic cost, w = 0.6, b = 0.9: the output falls from {qa['output'][0]:.3f} to "
        f"{qa['output'][-1]:.3f} in {E} epochs. With w = b = 2 it is still "
        f"{qb['output'][half]:.3f} after {half} epochs ({m['q_b_share_half'][0]:.0f}% of the "
        f"{E}-epoch fall in cost) and {qb['output'][-1]:.3f} after {E}; its cost falls fastest "
        f"at epoch {int(m['q_b_steepest'][0])}.")
    o.notes.append(
        f"Cross-entropy at the book's η = {p['eta_ce']}: the cost falls fastest at epoch "
        f"{int(m['ce_b_steepest'][0])} (w = b = 2) and {int(m['ce_a_steepest'][0])} "
        f"(w = 0.6, b = 0.9): learning is fastest when the neuron is most wrong. Over the "
        f"first {k} epochs from w = b = 2 its cost falls {m['slope_ratio_b'][0]:.0f} times "
        f"as much as the quadratic's, with a learning rate {p['eta_quadratic'] / p['eta_ce']:.0f} "
        f"times smaller. At so small a rate, though, {E} epochs take the output only to "
        f"{cb['output'][-1]:.3f}: the chapter's point is the shape of the curve, which does not "
        f"depend on η (the book says so itself). At the quadratic's η = {p['eta_quadratic']} "
        f"the cross-entropy neuron's output is {runs['ce_same_eta_b']['output'][min(50, E)]:.3f} "
        f"after 50 epochs (dashed curves).")
    return o


def _plot_slowdown(figs, o):
    runs = o.data["runs"]
    p = o.data["params"]
    out = []
    for key, (w0, b0) in _SLOWDOWN_STARTS.items():
        fig, axes = figs.new(ncols=2, width=5.2, height=3.8)
        for series, label, style in (
                (f"quadratic_{key}", f"quadratic, η = {p['eta_quadratic']}", "-"),
                (f"ce_{key}", f"cross-entropy, η = {p['eta_ce']}", "-"),
                (f"ce_same_eta_{key}", f"cross-entropy, η = {p['eta_quadratic']} (not in the book)",
                 "--")):
            r = runs[series]
            xs = np.arange(len(r["cost"]))
            axes[0].plot(xs, r["cost"], style, label=label)
            axes[1].plot(xs, r["output"], style, label=label)
        axes[0].set_ylabel("Cost")
        axes[1].set_ylabel("Output")
        for ax in axes:
            ax.set_xlabel("Epoch")
        axes[1].set_ylim(0, 1)
        axes[0].legend(fontsize="x-small")
        fig.suptitle(f"One neuron, input 1, target 0; start w = {w0}, b = {b0}",
                     fontsize="medium")
        stem = f"slowdown-w{w0}-b{b0}".replace(".", "_")
        out.append(figs.save(fig, stem, f"Cost and output by epoch from w = {w0}, b = {b0}."))
    return out


# ---- MNIST accuracy runs (one configuration) --------------------------------------

def _config_text(spec, n_default=50000):
    """A run's configuration in words, from its spec."""
    bits = []
    if "sizes" in spec:
        bits.append(f"[{','.join(map(str, spec['sizes']))}]")
    if spec.get("init"):
        bits.append("N(0, 1) initialization" if spec["init"] == "large"
                    else "N(0, 1/n_in) initialization")
    if "epochs" in spec:
        bits.append(f"{spec['epochs']} epochs")
    bits.append(f"mini-batch {spec.get('mbs', 10)}")
    if spec.get("eta") is not None:
        bits.append(f"η = {spec['eta']:g}")
    bits.append(f"λ = {spec.get('lmbda') or 0:g}")
    for key, text in (("l1", "L1 λ = {:g}"), ("dropout", "dropout p = {:g}"),
                      ("momentum", "μ = {:g}")):
        if spec.get(key):
            bits.append(text.format(spec[key]))
    if spec.get("nesterov"):
        bits.append("Nesterov")
    if spec.get("early_stopping") is not None:
        es = spec["early_stopping"]
        bits.append(f"no-improvement-in-{es}" if isinstance(es, int) else
                    (f"no-improvement-in-{es[1]}" if es[0] == "no-improvement" else
                     f"diminishing returns ({es[1]} epochs, {100 * es[2]:g} points)"))
    if spec.get("schedule"):
        bits.append(f"schedule '{spec['schedule']}'")
    n = spec.get("train_size") or n_default
    bits.append(f"{n:,} training images" + (" × 5 (one-pixel shifts)"
                                             if spec.get("expand") == "shifts" else ""))
    if spec.get("augment"):
        bits.append("random one-pixel shifts drawn afresh each epoch" if spec["augment"] == "shifts"
                    else f"{spec['augment']} distortions drawn afresh each epoch")
    if spec.get("eval"):
        bits.append(f"{spec['eval']} data" + (f" (first {spec['eval_size']:,} images)"
                                               if spec.get("eval_size") else ""))
    return ", ".join(bits)


def _ran_lines(o):
    """What actually ran, from the specs stored in the outcome."""
    d = o.data or {}
    out = []
    if d.get("spec"):
        out.append(_config_text(d["spec"]))
    p = d.get("params") or {}
    if p.get("spec") and p.get("hidden"):
        for h in p["hidden"]:
            out.append(_config_text(dict(p["spec"], sizes=[784, h, 10], init=None))
                       + ": N(0, 1) against N(0, 1/n_in) initialization")
    elif p.get("spec") and p.get("etas"):
        out.append(_config_text(dict(p["spec"], eta=None))
                   + f"; η = {', '.join(f'{e:g}' for e in p['etas'])}")
    for label, spec in (p.get("configs") or {}).items():
        out.append(f"{label}: {_config_text(spec)}")
    for part in ("A", "B"):
        for label, spec in ((p.get(part) or {}).get("configs") or {}).items():
            out.append(f"{part}, {label}: {_config_text(spec)}")
    if p.get("sessions"):
        out.append(f"[784,10], N(0, 1/n_in) initialization, {p['epochs']} epochs, mini-batch 10, "
                   f"{p['train_size']:,} training images, first {p['eval_size']} validation "
                   f"images; (η, λ) = " + ", ".join(f"({e:g}, {l:g})" for e, l in p["sessions"]))
        f = p["full"]
        out.append(_config_text(dict(sizes=[784, 30, 10], init="default", epochs=f["epochs"],
                                     eta=f["eta"], lmbda=f["lmbda"], train_size=f.get("train_size"),
                                     eval="validation", eval_size=f.get("eval_size"))))
    if p.get("sizes") and p.get("total_examples"):
        out.append(f"[784,30,10], N(0, 1/n_in) initialization, mini-batch 10, η = {p['eta']:g}, "
                   f"n = {', '.join(f'{n:,}' for n in p['sizes'])} training images for "
                   f"{p['total_examples']:,} / n epochs with λ = {p['lmbda_full']:g} × n / "
                   f"{p['n_full']:,}; validation data"
                   + (f" (first {p['eval_size']:,} images)" if p.get("eval_size") else "")
                   + f"; SVC with gamma = {', '.join(repr(g) for g in p['svm_gammas'])} on "
                   f"n = {', '.join(f'{n:,}' for n in p['svm_sizes'])}")
    if p.get("eta_quadratic"):
        out.append(f"{p['epochs']} epochs; quadratic η = {p['eta_quadratic']:g}, cross-entropy "
                   f"η = {p['eta_ce']:g} (and {p['eta_quadratic']:g})")
    return out


def _run_single(ctx):
    """One configuration, every seed: final and best accuracy (and more when
    the training accuracy is monitored)."""
    spec = ctx.params["spec"]
    runs = _run_configs(ctx, {"run": spec})["run"]
    o = Outcome(seeds=list(ctx.seeds))
    o.data = {"runs": {"run": runs}, "spec": spec}
    m = o.metrics
    m["final"] = _per_seed(runs, _final())
    m["best"] = _per_seed(runs, _best())
    m["best_epoch"] = _per_seed(runs, lambda r: int(np.argmax(_curve(r, "evaluation_accuracy"))))
    o.labels.update({"best": f"best epoch's {spec['eval']} accuracy",
                     "best_epoch": "epoch of the best accuracy (0-based)"})
    if "ta" in spec.get("monitor", ()):
        m["train_best"] = _per_seed(runs, _best("training_accuracy"))
        m["train_final"] = _per_seed(runs, _final("training_accuracy"))
        m["gap_final"] = [t - e for t, e in zip(m["train_final"], m["final"])]
        o.labels.update({"train_final": "final training accuracy",
                         "gap_final": "final training minus evaluation accuracy (points)"})
    st_f, st_b = _stats(m["final"]), _stats(m["best"])
    o.notes.append(
        f"Final-epoch {spec['eval']} accuracy {st_f['mean']:.2f}% (sd {st_f['sd']:.2f}, "
        f"{st_f['lo']:.2f}–{st_f['hi']:.2f}); best epoch {st_b['mean']:.2f}% "
        f"({st_b['lo']:.2f}–{st_b['hi']:.2f}), reached at epochs "
        f"{', '.join(str(int(e)) for e in m['best_epoch'])} (0-based).")
    return o


def _plot_single(figs, o, name, title):
    spec = o.data["spec"]
    runs = o.data["runs"]["run"]
    series = [(f"{spec['eval']} data", runs)]
    if "ta" in spec.get("monitor", ()):
        fig, (ax,) = figs.new()
        _plot_runs(ax, runs, "evaluation_accuracy", f"Accuracy on the {spec['eval']} data")
        _plot_runs(ax, runs, "training_accuracy", "Accuracy on the training data")
        ax.set_xlabel("Epoch")
        ax.set_ylabel("Accuracy (%)")
        ax.set_title(title, fontsize="medium")
        ax.legend(fontsize="small")
        return [figs.save(fig, name, f"{title}: accuracy by epoch ({_seed_note(o.seeds)}).")]
    return [_curves_figure(figs, name, title, f"{title}: {spec['eval']} accuracy by epoch",
                           series, "evaluation_accuracy", "Accuracy (%)", seeds=o.seeds)]


def _single(name, title, section, config, book, spec, quick_spec, headline=True, explain=None,
            ours=""):
    return Experiment(
        name=name, title=title, section=section, config=config, book=tuple(book),
        run=_run_single, params={"spec": spec}, quick={"spec": quick_spec},
        plot=lambda figs, o, _n=name, _t=title: _plot_single(figs, o, _n, _t),
        explain=explain, headline=headline, ours=ours)


# ---- overfitting and L2 on 1,000 images ---------------------------------------------

def _run_small(ctx):
    spec = ctx.params["spec"]
    runs = _run_configs(ctx, {"run": spec})["run"]
    o = Outcome(seeds=list(ctx.seeds))
    o.data = {"runs": {"run": runs}, "spec": spec}
    m = o.metrics
    E = spec["epochs"]
    m["peak"] = _per_seed(runs, _best())
    m["peak_epoch"] = _per_seed(runs, lambda r: int(np.argmax(_curve(r, "evaluation_accuracy"))))
    m["final"] = _per_seed(runs, _final())
    m["train_max"] = _per_seed(runs, _best("training_accuracy"))
    m["first_100"] = _per_seed(runs, lambda r: next(
        (i for i, a in enumerate(_curve(r, "training_accuracy")) if a >= 100.0), float("nan")))
    m["test_cost_min_epoch"] = _per_seed(
        runs, lambda r: int(np.nanargmin(np.asarray(_curve(r, "evaluation_cost"), float))))
    m["acc_at_200"] = _per_seed(runs, _at(min(199, E - 1)))
    q = max(E // 8, 1)
    m["late_rise"] = _per_seed(runs, lambda r: float(
        np.mean(_curve(r, "evaluation_accuracy")[-q:]) -
        np.mean(_curve(r, "evaluation_accuracy")[E // 2:E // 2 + q])))
    o.labels.update({
        "final": "final test accuracy",
        "peak_epoch": "epoch of the peak test accuracy (0-based)",
        "first_100": "first epoch with 100% training accuracy",
        "acc_at_200": f"test accuracy at epoch {min(199, E - 1)}",
        "late_rise": f"mean test accuracy over the last {q} epochs minus over epochs "
                     f"{E // 2}–{E // 2 + q - 1} (points)",
    })
    sp, sc = _stats(m["peak"]), _stats(m["test_cost_min_epoch"])
    o.notes.append(
        f"Peak test accuracy {sp['mean']:.2f}% ({sp['lo']:.2f}–{sp['hi']:.2f}) at epochs "
        f"{', '.join(str(int(e)) for e in m['peak_epoch'])}; the training accuracy reaches "
        f"{_stats(m['train_max'])['hi']:.1f}%; the test cost is lowest at epochs "
        f"{', '.join(str(int(e)) for e in m['test_cost_min_epoch'])} (mean {sc['mean']:.1f}).")
    return o


def _explain_small(o, b, c):
    """On 1,000 images: is ours above the book's run throughout, or only at the peak?"""
    m = o.metrics
    if b.key == "gap_peak" and "train_max" in m:
        t = _stats(m["train_max"])
        if t["lo"] >= 100.0:
            return ["Our training accuracy reaches 100% in every seed, as the book's does, so "
                    "this gap is 100 minus the peak test accuracy: the peak's difference seen "
                    "from the other side, not a second one."]
        return []
    if b.key != "acc_at_200" or "peak" not in m:
        return []
    at = _stats(m["acc_at_200"])["mean"] - b.value
    peak = _stats(m["peak"])["mean"] - 82.27
    if at > 0 and peak > 0:
        return [f"Our test accuracy at epoch 199 is {at:.2f} points above the book's 82%, about "
                f"as much as our peak is above the book's 82.27% ({peak:+.2f}): our runs on these "
                f"1,000 images sit a little above the book's single run throughout, not only at "
                f"the peak."]
    return []


def _plot_small(figs, o, name, title):
    runs = o.data["runs"]["run"]
    E = o.data["spec"]["epochs"]
    z = E // 2 if E >= 20 else 0
    out = []
    for which, ylabel, start, what in (
            ("training_cost", "Cost", z, "Cost on the training data"),
            ("evaluation_accuracy", "Accuracy (%)", z, "Accuracy on the test data"),
            ("evaluation_cost", "Cost", 0, "Cost on the test data"),
            ("training_accuracy", "Accuracy (%)", 0, "Accuracy on the training data")):
        stem = f"{name}-{which.replace('_', '-')}"
        out.append(_curves_figure(
            figs, stem, f"{title}: {what.lower()}",
            f"{what}, epochs {start}–{E - 1}", [(what, runs)], which, ylabel,
            start=start, seeds=o.seeds))
    return out


# ---- old against new weight initialization ---------------------------------------

def _run_init(ctx):
    p = ctx.params
    o = Outcome(seeds=list(ctx.seeds))
    o.data = {"runs": {}, "params": p}
    for h in p["hidden"]:
        for init in ("large", "default"):
            spec = dict(p["spec"], sizes=[784, h, 10], init=init)
            o.data["runs"][f"{h}-{init}"] = _run_configs(ctx, {f"{h} hidden, {init}": spec})[
                f"{h} hidden, {init}"]
    m = o.metrics
    for h in p["hidden"]:
        old, new = o.data["runs"][f"{h}-large"], o.data["runs"][f"{h}-default"]
        m[f"old{h}_e1"] = _per_seed(old, _at(0))
        m[f"new{h}_e1"] = _per_seed(new, _at(0))
        m[f"old{h}_final"] = _per_seed(old, _final())
        m[f"new{h}_final"] = _per_seed(new, _final())
        m[f"min{h}_final"] = [min(a, b) for a, b in zip(m[f"old{h}_final"], m[f"new{h}_final"])]
        m[f"gap{h}_e1"] = [b - a for a, b in zip(m[f"old{h}_e1"], m[f"new{h}_e1"])]
        m[f"gap{h}_final"] = [b - a for a, b in zip(m[f"old{h}_final"], m[f"new{h}_final"])]
        o.labels.update({
            f"old{h}_final": f"{h} hidden, old initialization: final validation accuracy",
            f"new{h}_final": f"{h} hidden, new initialization: final validation accuracy",
            f"old{h}_e1": f"{h} hidden, old initialization: after the first epoch",
            f"new{h}_e1": f"{h} hidden, new initialization: after the first epoch",
        })
        o.notes.append(
            f"{h} hidden neurons: after the first epoch {_stats(m[f'old{h}_e1'])['mean']:.2f}% "
            f"(old) against {_stats(m[f'new{h}_e1'])['mean']:.2f}% (new); after "
            f"{p['spec']['epochs']} epochs {_stats(m[f'old{h}_final'])['mean']:.2f}% against "
            f"{_stats(m[f'new{h}_final'])['mean']:.2f}%.")
    return o


def _plot_init(figs, o):
    out = []
    for h in o.data["params"]["hidden"]:
        out.append(_curves_figure(
            figs, f"weight-init-{h}", f"[784,{h},10]: old and new weight initialization",
            f"Validation accuracy by epoch, {h} hidden neurons",
            [("Old approach: N(0, 1)", o.data["runs"][f"{h}-large"]),
             ("New approach: N(0, 1/n_in)", o.data["runs"][f"{h}-default"])],
            "evaluation_accuracy", "Accuracy (%)", seeds=o.seeds))
    return out


# ---- learning rates ---------------------------------------------------------------

def _run_eta(ctx):
    p = ctx.params
    configs = {f"eta={eta}": dict(p["spec"], eta=eta) for eta in p["etas"]}
    runs = _run_configs(ctx, configs)
    o = Outcome(seeds=list(ctx.seeds))
    o.data = {"runs": runs, "params": p}
    m = o.metrics
    E = p["spec"]["epochs"]
    k = min(20, E - 1)
    for eta in p["etas"]:
        rr = runs[f"eta={eta}"]
        costs = [np.asarray(_curve(r, "training_cost"), float) for r in rr]
        full = [c if len(c) == E else None for c in costs]  # a diverged run stops early
        nan = float("nan")
        m[f"rises_{eta}"] = [float(np.sum(np.diff(c) > 0)) if c is not None else nan
                             for c in full]
        m[f"late_{eta}"] = [(100.0 * (c[k] - c[-1]) / (c[0] - c[-1]) if c[0] != c[-1] else 0.0)
                            if c is not None else nan for c in full]
        m[f"late_rises_{eta}"] = [float(np.sum(np.diff(c[k:]) > 0)) if c is not None else nan
                                  for c in full]
        m[f"final_cost_{eta}"] = [float(c[-1]) if len(c) else nan for c in costs]
        short = [r["seed"] for r, c in zip(rr, full) if c is None]
        if short:
            o.notes.append(f"η = {eta}: seeds {', '.join(map(str, short))} stopped early ("
                           + _stop_reasons([r for r in rr if r["seed"] in short]) + ").")
        o.labels.update({
            f"final_cost_{eta}": f"η = {eta}: training cost after {E} epochs",
            f"rises_{eta}": f"η = {eta}: epochs whose training cost rose",
        })
    o.notes.append("; ".join(
        f"η = {eta}: cost {_stats(m[f'final_cost_{eta}'])['mean']:.3f} after {E} epochs, rose in "
        f"{_stats(m[f'rises_{eta}'])['mean']:.1f} of {E - 1} epochs" for eta in p["etas"]) + ".")
    return o


def _explain_eta(o, b, c):
    """How large the rises in the training cost are (they decide whether a
    curve looks smooth)."""
    if not b.key.startswith(("rises_", "late_")):
        return []
    eta = b.key.split("_")[-1]
    rr = o.data["runs"].get(f"eta={eta}", [])
    worst = None
    for r in rr:
        cost = np.asarray(_curve(r, "training_cost"), float)
        if len(cost) < 2:
            continue
        rise = np.diff(cost) / cost[:-1]
        i = int(np.argmax(rise))
        if worst is None or rise[i] > worst[0]:
            worst = (float(rise[i]), r["seed"], i + 1)
    if worst is None:
        return []
    if b.key.startswith("rises_"):
        return [f"At η = {eta} the largest rise from one epoch to the next is "
                f"{100 * worst[0]:.2f}% of the cost (seed {worst[1]}, epoch {worst[2]})"
                + (": too small to see on the chapter's plot, where the curve looks smooth."
                   if worst[0] < 0.01 else ".")]
    return []


def _plot_eta(figs, o):
    p = o.data["params"]
    series = [(f"η = {eta}", o.data["runs"][f"eta={eta}"]) for eta in p["etas"]]
    return [_curves_figure(figs, "learning-rate", "Training cost for three learning rates",
                           "Cost on the training data by epoch", series, "training_cost",
                           "Cost", seeds=o.seeds)]


# ---- accuracy against training-set size, and the SVM ------------------------------

def _run_sizes(ctx):
    p = ctx.params
    o = Outcome(seeds=list(ctx.seeds))
    Xv, yv = ctx.evaluation("validation", p.get("eval_size"))
    total = p["total_examples"]
    net_acc = {}
    for n in p["sizes"]:
        epochs = max(1, int(round(total / n)))
        lmbda = p["lmbda_full"] * n / p["n_full"]
        spec = dict(sizes=[784, 30, 10], epochs=epochs, eta=p["eta"], lmbda=lmbda,
                    train_size=n, monitor=())
        accs = []
        for s in ctx.seeds:
            net = _network(spec, s)
            X, y = ctx.training(n)
            t0 = time.perf_counter()
            net.SGD((X, y), epochs, 10, p["eta"], lmbda=lmbda, verbose=False)
            accs.append(_pct(net.accuracy((Xv, yv)), len(yv)))
            ctx.log(f"network, {n} images, {epochs} epochs, seed {s}: {accs[-1]:.2f}% "
                    f"({time.perf_counter() - t0:.1f} s)")
        net_acc[str(n)] = accs
    svm = {}
    svm_note = None
    try:
        import sklearn
        from sklearn import svm as sk_svm
    except ImportError:
        sk_svm = None
        svm_note = ("scikit-learn is not installed, so the SVM was not run "
                    "(`pip install scikit-learn`).")
    if sk_svm is not None:
        X_full = ctx.training(None)[0]
        var = float(X_full[:p["n_full"]].var())
        svm["sklearn"] = sklearn.__version__
        svm["x_var"] = var
        for gamma in p["svm_gammas"]:
            accs, times, skipped = {}, {}, []
            prev = None
            for n in p["svm_sizes"]:
                if prev is not None:
                    # fitting grows about as n^2, predicting as the number of support
                    # vectors (about as n): estimate the next size from the last
                    n0, t_fit, t_pred = prev
                    estimate = t_fit * (n / n0) ** 2 + t_pred * (n / n0)
                    if estimate > p["svm_budget_seconds"] or skipped:
                        skipped.append(n)
                        ctx.log(f"SVM gamma={gamma}: skipping {n} images (estimated "
                                f"{estimate / 60:.0f} min > budget)")
                        continue
                X, y = ctx.training(n)
                clf = sk_svm.SVC(gamma=gamma)
                t0 = time.perf_counter()
                clf.fit(X, y)
                t_fit = time.perf_counter() - t0
                acc = 100.0 * float(np.mean(clf.predict(Xv) == yv))
                t_pred = time.perf_counter() - t0 - t_fit
                accs[str(n)], times[str(n)] = acc, t_fit + t_pred
                prev = (n, t_fit, t_pred)
                ctx.log(f"SVM gamma={gamma}, {n} images: {acc:.2f}% (fit {t_fit:.1f} s, "
                        f"predict {t_pred:.1f} s)")
            svm[gamma] = {"accuracy": accs, "seconds": times, "skipped": skipped}
    o.data = {"params": p, "net": net_acc, "svm": svm, "svm_note": svm_note}
    m = o.metrics
    for n in p["sizes"]:
        m[f"net_{n}"] = net_acc[str(n)]
    o.labels.update({f"net_{n}": f"network, {n:,} images" for n in p["sizes"]})
    largest = max(p["svm_sizes"])
    for gamma in p["svm_gammas"]:
        g = svm.get(gamma)
        if not g:
            continue
        for n, a in g["accuracy"].items():
            m[f"svm_{gamma}_{n}"] = [a]
        o.labels.update({f"svm_{gamma}_{n}": f"SVM (gamma='{gamma}'), {int(n):,} images"
                         for n in g["accuracy"]})
        common = [n for n in p["sizes"] if str(n) in g["accuracy"]]
        m[f"svm_wins_{gamma}"] = [float(sum(
            1 for n in common if g["accuracy"][str(n)] >= np.mean(net_acc[str(n)])))]
        o.labels[f"svm_wins_{gamma}"] = (f"sizes (of {len(common)}) at which the SVM "
                                         f"(gamma='{gamma}') is at least as accurate")
        if str(largest) in g["accuracy"] and str(p["compare_net_size"]) in net_acc:
            m[f"svm_{gamma}_largest_minus_net"] = [
                g["accuracy"][str(largest)] - float(np.mean(net_acc[str(p["compare_net_size"])]))]
        if g["skipped"]:
            o.notes.append(f"SVM (gamma='{gamma}') was not run on {', '.join(map(str, g['skipped']))} "
                           f"images: the time estimated from the previous size exceeded the "
                           f"budget of {p['svm_budget_seconds'] / 60:.0f} minutes.")
    if svm_note:
        o.notes.append(svm_note)
    # a table of everything
    head = "| training images | epochs | λ | network (mean) | network (min–max) |" + "".join(
        f" SVM gamma='{g}' |" for g in p["svm_gammas"] if g in svm)
    sep = "|---:|---:|---:|---:|---:|" + "".join("---:|" for g in p["svm_gammas"] if g in svm)
    lines = [head, sep]
    for n in p["sizes"]:
        st = _stats(net_acc[str(n)])
        row = (f"| {n:,} | {max(1, int(round(total / n))):,} | "
               f"{p['lmbda_full'] * n / p['n_full']:g} | {st['mean']:.2f} | "
               f"{st['lo']:.2f}–{st['hi']:.2f} |")
        for g in p["svm_gammas"]:
            if g in svm:
                a = svm[g]["accuracy"].get(str(n))
                t = svm[g]["seconds"].get(str(n))
                row += f" {a:.2f} ({_fmt_seconds(t)}) |" if a is not None else " — |"
        lines.append(row)
    o.tables.append("\n".join(lines))
    return o


def _plot_sizes(figs, o):
    p = o.data["params"]
    sizes = p["sizes"]
    net = o.data["net"]
    mean = [float(np.mean(net[str(n)])) for n in sizes]
    lo = [float(np.min(net[str(n)])) for n in sizes]
    hi = [float(np.max(net[str(n)])) for n in sizes]
    out = []
    for scale in ("linear", "log"):
        fig, (ax,) = figs.new()
        ax.plot(sizes, mean, "o-", label="Neural network [784,30,10]")
        if len(o.seeds) > 1:
            ax.fill_between(sizes, lo, hi, alpha=0.2, linewidth=0)
        ax.set_xscale(scale)
        ax.set_xlabel("Training set size")
        ax.set_ylabel("Validation accuracy (%)")
        ax.set_title(f"Accuracy against training-set size ({scale} axis)", fontsize="medium")
        ax.legend(fontsize="small")
        out.append(figs.save(fig, f"training-size-{scale}",
                             f"Validation accuracy against training-set size, {scale} axis "
                             f"({_seed_note(o.seeds)})."))
    svm = o.data["svm"]
    gammas = [g for g in p["svm_gammas"] if g in svm]
    if gammas:
        fig, (ax,) = figs.new()
        ax.plot(sizes, mean, "o-", label="Neural network [784,30,10]")
        for g in gammas:
            ns = sorted(int(n) for n in svm[g]["accuracy"])
            ax.plot(ns, [svm[g]["accuracy"][str(n)] for n in ns], "s--",
                    label=f"SVM, scikit-learn {svm['sklearn']}, gamma='{g}'")
        ax.set_xscale("log")
        ax.set_xlabel("Training set size")
        ax.set_ylabel("Validation accuracy (%)")
        ax.set_title("Neural network against SVM", fontsize="medium")
        ax.legend(fontsize="small")
        out.append(figs.save(fig, "training-size-svm",
                             "The network beside scikit-learn's SVC (log axis)."))
    return out


def _explain_sizes(o, b, c):
    svm = o.data.get("svm") or {}
    if not b.key.startswith("svm_"):
        return []
    ver = svm.get("sklearn")
    if ver is None:
        return []
    s = []
    if "auto" in b.key:
        s.append(
            "gamma='auto' (1/784) is the default of the scikit-learn the book used; other "
            "defaults (C = 1, the RBF kernel) are unchanged, so a difference here comes from "
            "libsvm's version, or from the book using other data for its SVM (it does not "
            "print that code).")
    return s


def _remarks_sizes(o):
    """The SVM with today's default gamma: a configuration the book never ran, so
    it is information beside the book's, not a comparison with it."""
    svm = o.data.get("svm") or {}
    ver, var = svm.get("sklearn"), svm.get("x_var")
    if ver is None or "scale" not in svm or not var or not math.isfinite(var):
        return []
    g_scale = 1.0 / (784 * var)
    m = o.metrics
    largest = max(int(n) for n in svm["scale"]["accuracy"]) if svm["scale"]["accuracy"] else None
    wins = m.get("svm_wins_scale", [float("nan")])[0]
    n_common = len([n for n in o.data["params"]["sizes"]
                    if str(n) in svm["scale"]["accuracy"]])
    return [
        f"The book used scikit-learn's “out-of-the-box settings”, which then meant "
        f"gamma = 1/784 = {1 / 784:.5f} (gamma='auto'); that is the configuration we compare "
        f"with the book. scikit-learn {ver}'s `SVC()` defaults instead to gamma='scale' = "
        f"1/(n_features · Var(X)) = 1/(784 × {var:.4f}) = {g_scale:.4f}, about "
        f"{784 * g_scale:.1f} times larger (the default changed in scikit-learn 0.22). The "
        f"book never ran this SVM, so its rows are information, not a test of the book: it "
        + (f"reaches {svm['scale']['accuracy'][str(largest)]:.2f}% on {largest:,} images and "
           if largest else "")
        + (f"is at least as accurate as our network at {wins:.0f} of {n_common} sizes."
           if math.isfinite(wins) else "was compared with the network at no size.")]


# ---- the hyper-parameter sessions -----------------------------------------------------

def _run_hyper(ctx):
    p = ctx.params
    o = Outcome(seeds=list(ctx.seeds))
    configs = {}
    for eta, lmbda in p["sessions"]:
        configs[f"eta={eta},lmbda={lmbda}"] = dict(
            sizes=[784, 10], init="default", epochs=p["epochs"], eta=eta, lmbda=lmbda,
            train_size=p["train_size"], eval="validation", eval_size=p["eval_size"],
            monitor=("ea",))
    full = p["full"]
    configs["full"] = dict(sizes=[784, 30, 10], init="default", epochs=full["epochs"],
                           eta=full["eta"], lmbda=full["lmbda"], train_size=full["train_size"],
                           eval="validation", eval_size=full.get("eval_size"), monitor=("ea",))
    runs = _run_configs(ctx, configs)
    o.data = {"runs": runs, "params": p}
    # class shares of the evaluation images: what a constant answer scores
    _, yv = ctx.evaluation("validation", p["eval_size"])
    o.data["class_counts"] = np.bincount(yv, minlength=10).tolist()
    _summarize_hyper(o)
    return o


def _summarize_hyper(o):
    """Metrics, table and notes of the hyper-parameter sessions, from the stored runs
    (so that ``--from-results`` rebuilds them with the current wording)."""
    p, runs = o.data["params"], o.data["runs"]
    o.tables, o.notes = [], []
    m = o.metrics
    for eta, lmbda in p["sessions"]:
        rr = runs[f"eta={eta},lmbda={lmbda}"]
        tag = f"{eta:g}_{lmbda:g}"
        m[f"first4_{tag}"] = _per_seed(rr, lambda r: float(np.mean(_curve(r, "evaluation_accuracy")[:4])))
        m[f"mean_{tag}"] = _per_seed(rr, lambda r: float(np.mean(_curve(r, "evaluation_accuracy"))))
        m[f"max_{tag}"] = _per_seed(rr, _best())
        o.labels.update({
            f"mean_{tag}": f"[784,10], η = {eta:g}, λ = {lmbda:g}: mean accuracy over the "
                           "epochs run",
            f"max_{tag}": f"[784,10], η = {eta:g}, λ = {lmbda:g}: best epoch",
        })
    m["full_mean"] = _per_seed(runs["full"], lambda r: float(np.mean(_curve(r, "evaluation_accuracy"))))
    m["full_max"] = _per_seed(runs["full"], _best())
    o.labels["full_max"] = "[784,30,10], η = 10, λ = 1000: best epoch"
    counts = np.asarray(o.data["class_counts"])
    n_eval = int(counts.sum())
    lines = ["| session | epochs 0–3, book | epochs 0–3, ours (seed "
             f"{o.seeds[0]}) | mean over the epochs run (all seeds) |",
             "|---|---|---|---|"]
    for (eta, lmbda), book in zip(p["sessions"], p["book_first"]):
        rr = runs[f"eta={eta},lmbda={lmbda}"]
        first = ", ".join(f"{a:.0f}" for a in _curve(rr[0], "evaluation_accuracy")[:4])
        st = _stats(m[f"mean_{eta:g}_{lmbda:g}"])
        shown = ", ".join(map(str, book))
        if len(book) < 4:
            shown += f" (the book shows epochs 0–{len(book) - 1} only)"
        eps = sorted({len(_curve(r, "evaluation_accuracy")) for r in rr})
        over = ("" if eps == [p["epochs"]] else
                f", over {'/'.join(map(str, eps))} epochs (the runs stopped; see below)")
        lines.append(f"| [784,10], η = {eta:g}, λ = {lmbda:g} | {shown} "
                     f"| {first} | {st['mean']:.1f}% ({st['lo']:.0f}–{st['hi']:.0f}){over} |")
    o.tables.append("\n".join(lines))
    n_train = p["train_size"]
    for eta, lmbda in p["sessions"]:
        rr = runs[f"eta={eta},lmbda={lmbda}"]
        stopped = [r for r in rr if r["history"]["stop_reason"] == "non-finite"]
        if stopped:
            factor = 1 - eta * lmbda / n_train
            eps = sorted({len(_curve(r, "evaluation_accuracy")) for r in stopped})
            o.notes.append(
                f"[784,10], η = {eta:g}, λ = {lmbda:g} on {n_train:,} images: the weight-decay "
                f"factor 1 − ηλ/n = 1 − {eta:g} × {lmbda:g} / {n_train:,} = {factor:g} multiplies "
                f"every weight by {factor:g} at each mini-batch, so the weights overflow. nncore "
                f"stops such a run with a warning, keeping its last finite weights: "
                f"{len(stopped)} of {len(rr)} seeds stopped after "
                f"{', '.join(map(str, eps))} epoch(s), and their accuracies are over those "
                f"epochs. network2 would carry on with NaN weights; NumPy's argmax then answers "
                f"0 for every image, so it scores the share of zeros among the "
                f"{n_eval} images: {counts[0]} / {n_eval}.")
    o.notes.append(
        f"Of the first {n_eval} validation images, the classes 0–9 number "
        f"{', '.join(map(str, counts.tolist()))}: a network that always gives the same answer "
        f"scores one of these (as a percentage of {n_eval}).")


def _plot_hyper(figs, o):
    p = o.data["params"]
    series = [(f"[784,10], η = {eta:g}, λ = {lmbda:g}", o.data["runs"][f"eta={eta},lmbda={lmbda}"])
              for eta, lmbda in p["sessions"]]
    out = [_curves_figure(figs, "hyperparameters-784-10",
                          "[784,10] on 1,000 images: the chapter's sessions",
                          f"Accuracy on the first {p['eval_size']} validation images by epoch",
                          series, "evaluation_accuracy", "Accuracy (%)", seeds=o.seeds,
                          ylim=(0, 100))]
    f = p["full"]
    out.append(_curves_figure(
        figs, "hyperparameters-784-30-10", f"[784,30,10], η = {f['eta']:g}, λ = {f['lmbda']:g}",
        "Validation accuracy by epoch (chance is 10%)",
        [("[784,30,10]", o.data["runs"]["full"])], "evaluation_accuracy", "Accuracy (%)",
        seeds=o.seeds, ylim=(0, 100)))
    return out


def _explain_hyper(o, b, c):
    counts = o.data.get("class_counts")
    if not counts:
        return []
    n = sum(counts)
    shares = sorted({round(100.0 * k / n, 2) for k in counts})
    return [f"With {n} evaluation images a saturated network that always picks one class scores "
            f"that class's share, one of {', '.join(f'{s:g}' for s in shares)}%; which class "
            f"it settles on depends on the seed, so 'chance' is not exactly 10%."]


# ---- the problems: L1, early stopping, the halving schedule, momentum ---------------

def _run_compare(ctx):
    """Several labelled configurations, every seed; metrics per label."""
    p = ctx.params
    runs = _run_configs(ctx, p["configs"])
    o = Outcome(seeds=list(ctx.seeds))
    o.data = {"runs": runs, "params": p}
    _summarize_compare(o)
    return o


def _summarize_compare(o):
    """Metrics, table and notes of :func:`_run_compare`, from the stored runs (so that
    ``--from-results`` rebuilds them with the current wording)."""
    p, runs = o.data["params"], o.data["runs"]
    o.tables, o.notes = [], []
    m = o.metrics
    lines = ["| configuration | epochs run | best validation (mean, min–max) | final validation "
             "| after epoch 1 | test (end) |", "|---|---:|---:|---:|---:|---:|"]
    for label, rr in runs.items():
        tag = p["tags"][label]
        m[f"best_{tag}"] = _per_seed(rr, _best())
        m[f"final_{tag}"] = _per_seed(rr, _final())
        m[f"e1_{tag}"] = _per_seed(rr, _at(0))
        m[f"epochs_{tag}"] = _per_seed(rr, lambda r: float(len(_curve(r, "evaluation_accuracy"))))
        if all("test_accuracy" in r for r in rr):
            m[f"test_{tag}"] = _per_seed(rr, lambda r: r["test_accuracy"])
        if all("near_zero_weights" in r for r in rr):
            m[f"zero_{tag}"] = _per_seed(rr, lambda r: r["near_zero_weights"])
        sb, sf, se, sn = (_stats(m[f"best_{tag}"]), _stats(m[f"final_{tag}"]),
                          _stats(m[f"e1_{tag}"]), _stats(m[f"epochs_{tag}"]))
        st = _stats(m.get(f"test_{tag}", []))
        lines.append(f"| {label} | {sn['mean']:.0f} ({sn['lo']:.0f}–{sn['hi']:.0f}) | "
                     f"{sb['mean']:.2f} ({sb['lo']:.2f}–{sb['hi']:.2f}) | {sf['mean']:.2f} | "
                     f"{se['mean']:.2f} | {_fmt(st['mean'])} |")
    o.tables.append("\n".join(lines))
    derive = p.get("derive")
    if derive:
        _DERIVE[derive](o, p)


def _derive_l1(o, p):
    m = o.metrics
    tags = [p["tags"][k] for k in p["configs"]]
    base = "none"
    l1_tags = [t for t in tags if t != base]
    best_tag = max(l1_tags, key=lambda t: _stats(m[f"best_{t}"])["mean"])
    best_label = [k for k, t in p["tags"].items() if t == best_tag][0]
    m["l1_gain"] = [a - b for a, b in zip(m[f"best_{best_tag}"], m[f"best_{base}"])]
    o.labels["l1_gain"] = (f"best L1 setting ({best_label}) minus unregularized: best validation "
                           "accuracy (points)")
    if f"zero_{base}" in m:
        m["l1_sparser"] = [a - b for a, b in zip(m[f"zero_{best_tag}"], m[f"zero_{base}"])]
        o.labels["l1_sparser"] = (f"near-zero weights, {best_tag} minus unregularized "
                                  "(percentage points)")
    o.notes.append(
        f"The best L1 setting here is {best_label}: best validation accuracy "
        f"{_stats(m[f'best_{best_tag}'])['mean']:.2f}% against "
        f"{_stats(m[f'best_{base}'])['mean']:.2f}% unregularized; "
        + (f"{_stats(m[f'zero_{best_tag}'])['mean']:.1f}% of its weights are below 0.001 in "
           f"size, against {_stats(m[f'zero_{base}'])['mean']:.1f}% without regularization."
           if f"zero_{base}" in m else ""))


def _derive_stop(o, p):
    m = o.metrics
    tags = [p["tags"][k] for k in p["configs"]]
    if "ni10" in tags and "dr" in tags:
        m["dr_minus_ni10_epochs"] = [a - b for a, b in zip(m["epochs_dr"], m["epochs_ni10"])]
        m["dr_minus_ni10_best"] = [a - b for a, b in zip(m["best_dr"], m["best_ni10"])]
        o.labels["dr_minus_ni10_epochs"] = "diminishing returns minus no-improvement-in-10: epochs"
        o.labels["dr_minus_ni10_best"] = ("diminishing returns minus no-improvement-in-10: best "
                                          "validation accuracy (points)")
        o.notes.append(
            f"No-improvement-in-10 trained {_stats(m['epochs_ni10'])['mean']:.0f} epochs on "
            f"average for a best validation accuracy of {_stats(m['best_ni10'])['mean']:.2f}%; "
            f"the diminishing-returns rule {_stats(m['epochs_dr'])['mean']:.0f} epochs for "
            f"{_stats(m['best_dr'])['mean']:.2f}%.")


def _derive_halving(o, p):
    m = o.metrics
    runs = o.data["runs"]
    lab = [k for k, t in p["tags"].items() if t == "halve"][0]
    m["halvings"] = _per_seed(runs[lab], lambda r: float(len(set(r["history"]["eta"])) - 1))
    def reached(r):
        # the schedule stops right after its last halving: that η is never trained with
        eta = r["history"]["eta"]
        last = eta[-1] * (0.5 if r["history"]["stop_reason"] == "learning rate schedule" else 1)
        return last / eta[0]
    m["halvings"] = _per_seed(runs[lab], lambda r: float(len(set(r["history"]["eta"])) - 1)
                              + (1 if r["history"]["stop_reason"] == "learning rate schedule"
                                 else 0))
    m["final_eta_ratio"] = _per_seed(runs[lab], reached)
    o.labels["halvings"] = "times η was halved"
    o.labels["final_eta_ratio"] = "final η as a fraction of the initial η"
    if "best_ni10" in m:
        m["halve_gain"] = [a - b for a, b in zip(m["best_halve"], m["best_ni10"])]
        o.labels["halve_gain"] = ("halving schedule minus constant η with no-improvement-in-10: "
                                  "best validation accuracy (points)")
    o.notes.append(
        f"The schedule halved η {_stats(m['halvings'])['mean']:.1f} times on average and "
        f"stopped after {_stats(m['epochs_halve'])['mean']:.0f} epochs ("
        + _stop_reasons(runs[lab]) + ").")


_STOP_WHY = {
    "learning rate schedule": "η had fallen to 1/128 of its start",
    "early stopping": "the early-stopping rule fired",
    "non-finite": "the weights overflowed",
    "completed": "it had run every epoch",
}


def _stop_reasons(rr):
    """Why the runs ``rr`` stopped, in words, each reason once with its seeds."""
    by = {}
    for r in rr:
        why = r["history"].get("stop_reason") or "it ran every epoch"
        by.setdefault(_STOP_WHY.get(why, why), []).append(r["seed"])
    if len(by) == 1:
        (why, seeds), = by.items()
        who = f"all {len(seeds)} seeds" if len(seeds) == len(rr) and len(rr) > 1 else (
            "seed " + ", ".join(map(str, seeds)) if len(seeds) == 1 else
            "seeds " + ", ".join(map(str, seeds)))
        return f"{who} stopped because {why}"
    return "; ".join(f"seed{'s' if len(v) > 1 else ''} {', '.join(map(str, v))}: {k}"
                     for k, v in by.items())


def _derive_momentum(o, p):
    m = o.metrics
    m["momentum_e1_gain"] = [a - b for a, b in zip(m["e1_mu"], m["e1_plain"])]
    m["momentum_best_gain"] = [a - b for a, b in zip(m["best_mu"], m["best_plain"])]
    o.labels["momentum_e1_gain"] = ("μ = 0.9 minus plain SGD, both η = 0.05: validation accuracy "
                                    "after the first epoch (points)")
    o.labels["momentum_best_gain"] = "μ = 0.9 minus plain SGD, both η = 0.05: best (points)"


_DERIVE = {"l1": _derive_l1, "stop": _derive_stop, "halving": _derive_halving,
           "momentum": _derive_momentum}


def _plot_compare(figs, o, name, title, start=0):
    p = o.data["params"]
    series = [(label, rr) for label, rr in o.data["runs"].items()]
    out = [_curves_figure(figs, name, title, f"{title}: validation accuracy by epoch",
                          series, "evaluation_accuracy", "Accuracy (%)", start=start,
                          seeds=o.seeds)]
    if p.get("plot_eta"):
        fig, (ax,) = figs.new()
        for j, (label, rr) in enumerate(o.data["runs"].items()):
            for i, r in enumerate(rr):
                ax.plot(r["history"]["eta"], color=f"C{j}", alpha=0.8,
                        linestyle="-" if j == 0 else "--", label=label if i == 0 else None)
        ax.set_yscale("log")
        ax.set_xlabel("Epoch")
        ax.set_ylabel("η")
        ax.set_title("Learning rate by epoch (each seed)", fontsize="medium")
        ax.legend(fontsize="small")
        out.append(figs.save(fig, f"{name}-eta", "The learning rate by epoch, each seed."))
    return out


# ---- dropout and expanded data -----------------------------------------------------

def _run_regularizer(ctx):
    """Part A: 1,000 images, 400 epochs, test data (beside the chapter's 82.27%);
    part B: the full training set, validation data."""
    p = ctx.params
    if p.get("needs_expand") and _expand_module() is None:
        o = Outcome(seeds=list(ctx.seeds))
        o.skipped = ("nncore.expand (make_augmenter, expand_shifts) is not available in this "
                     "installation, so the expanded-data runs were skipped.")
        return o
    o = Outcome(seeds=list(ctx.seeds))
    o.data = {"params": p, "runs": {}}
    m = o.metrics
    for part in ("A", "B"):
        cfg = p[part]
        runs = _run_configs(ctx, cfg["configs"])
        o.data["runs"][part] = runs
        lines = [f"| {cfg['title']} | best accuracy (mean, min–max) | final accuracy | "
                 f"training − evaluation, final (points) |", "|---|---:|---:|---:|"]
        for label, rr in runs.items():
            tag = f"{part}_{cfg['tags'][label]}"
            m[f"best_{tag}"] = _per_seed(rr, _best())
            m[f"final_{tag}"] = _per_seed(rr, _final())
            gap = "—"
            if all(_curve(r, "training_accuracy") for r in rr):
                m[f"gap_{tag}"] = [_final("training_accuracy")(r) - _final()(r) for r in rr]
                gap = f"{_stats(m[f'gap_{tag}'])['mean']:.2f}"
            sb, sf = _stats(m[f"best_{tag}"]), _stats(m[f"final_{tag}"])
            lines.append(f"| {label} | {sb['mean']:.2f} ({sb['lo']:.2f}–{sb['hi']:.2f}) | "
                         f"{sf['mean']:.2f} | {gap} |")
        o.tables.append("\n".join(lines))
        base = cfg["baseline"]
        for label, t in cfg["tags"].items():
            if t == base:
                continue
            m[f"gain_{part}_{t}"] = [a - b for a, b in zip(m[f"best_{part}_{t}"],
                                                           m[f"best_{part}_{base}"])]
            o.labels[f"gain_{part}_{t}"] = (f"{cfg['title']}: {label} minus {base}, best "
                                            "accuracy (points)")
            o.notes.append(f"{cfg['title']}: {label} changes the best accuracy by "
                           f"{_stats(m[f'gain_{part}_{t}'])['mean']:+.2f} points "
                           f"(seeds: {', '.join(f'{g:+.2f}' for g in m[f'gain_{part}_{t}'])}).")
    return o


def _plot_regularizer(figs, o, name):
    out = []
    p = o.data["params"]
    for part in ("A", "B"):
        cfg = p[part]
        runs = o.data["runs"][part]
        series = [(label, rr) for label, rr in runs.items()]
        E = list(cfg["configs"].values())[0]["epochs"]
        start = E // 2 if part == "A" and E >= 20 else 0
        out.append(_curves_figure(
            figs, f"{name}-{part.lower()}", cfg["title"],
            f"{cfg['title']}: {cfg['eval_name']} accuracy by epoch, from epoch {start}",
            series, "evaluation_accuracy", "Accuracy (%)", start=start, seeds=o.seeds))
    return out


# =============================================================================
# The registry
# =============================================================================

def _full_spec(**kw):
    spec = dict(sizes=[784, 30, 10], init="large", epochs=30, eta=0.5, lmbda=0.0,
                train_size=None, eval="test", eval_size=None, monitor=("ea",))
    spec.update(kw)
    return spec


def _quick_spec(spec, **kw):
    q = dict(spec, epochs=min(spec["epochs"], 2), train_size=2000, eval_size=1000)
    q.update(kw)
    return q


def _explain_pair(book_key, text):
    def f(o, b, c):
        return [text] if b.key == book_key else []
    return f


#: The diminishing-returns rule of the early-stopping problem, by name.
_DR_LABEL = "diminishing returns (5 epochs, 0.1 points)"

def _refresh(name, o):
    """Bring an outcome (fresh, or read from a results file) up to the current
    generator: metrics derived from other metrics added, and the tables and
    notes that are built from the stored runs rebuilt.  Measured numbers are never changed: everything here is recomputed from them."""
    if o.error or o.skipped:
        return o
    d, m = o.data or {}, o.metrics
    # the book's gaps between training and test accuracy
    if "train_best" in m and "best" in m:
        m["gap_best"] = [a - b for a, b in zip(m["train_best"], m["best"])]
    if "train_max" in m and "peak" in m:
        m["gap_peak"] = [a - b for a, b in zip(m["train_max"], m["peak"])]
    if name in ("l1", "early-stopping", "halving", "momentum") and d.get("runs"):
        _summarize_compare(o)
    elif name == "hyperparameters" and d.get("runs") and d.get("class_counts"):
        _summarize_hyper(o)
    return o


def _make_registry():
    R = {}

    def add(e):
        R[e.name] = e

    # 1. the learning slowdown ------------------------------------------------------
    add(Experiment(
        name="slowdown",
        title="The learning slowdown of one neuron",
        section="The cross-entropy cost function",
        config=("One sigmoid neuron with one input, trained to take the input 1 to the output 0, "
                "one gradient step per epoch for 300 epochs. Quadratic cost with η = 0.15 from "
                "w = 0.6, b = 0.9 and from w = b = 2.0; then the cross-entropy cost with "
                "η = 0.005 from the same starts."),
        book=(
            BookValue("q_a_out0", "quadratic, w = 0.6, b = 0.9: initial output", 0.82, "~",
                      unit="", tol=0.005, digits=3, quote="The initial output from the neuron is 0.82"),
            BookValue("q_a_outE", "quadratic, w = 0.6, b = 0.9: output at the end", 0.09, "~",
                      unit="", tol=0.01, digits=3, quote="an output from the neuron of about 0.09"),
            BookValue("q_b_out0", "quadratic, w = b = 2: initial output", 0.98, "~", unit="",
                      tol=0.005, digits=3, quote="the initial output is 0.98"),
            BookValue("q_b_share_half", "quadratic, w = b = 2: share of the cost's fall in the "
                      "first 150 epochs", 25.0, "<", unit="%", digits=1,
                      quote="for the first 150 or so learning epochs, the weights and biases "
                            "don't change much at all",
                      reading="less than a quarter of the 300-epoch fall in cost happens in "
                              "the first 150 epochs"),
            BookValue("q_b_steepest", "quadratic, w = b = 2: epoch of the steepest fall in cost",
                      100, ">", unit="", digits=0,
                      quote="Then the learning kicks in",
                      reading="the cost falls fastest late, after epoch 100"),
            BookValue("q_b_outE", "quadratic, w = b = 2: output at the end", 0.3, "<", unit="",
                      digits=3, quote="the neuron's output rapidly moves closer to 0.0",
                      reading="output below 0.3 after 300 epochs"),
            BookValue("ce_b_steepest", "cross-entropy, w = b = 2: epoch of the steepest fall "
                      "in cost", 10, "<", unit="", digits=0,
                      quote="with the cross-entropy learning is faster when the neuron is "
                            "unambiguously wrong",
                      reading="the cost falls fastest within the first 10 epochs"),
            BookValue("slope_ratio_b", "w = b = 2: cost fall in the first 10 epochs, "
                      "cross-entropy over quadratic", 1.0, ">", unit="", digits=1,
                      quote="the slope of the cost curve was much steeper initially than the "
                            "initial flat region on the corresponding curve for the quadratic cost",
                      reading="the cross-entropy's cost falls more in the first 10 epochs"),
            BookValue("ce_b_outE", "cross-entropy (η = 0.005), w = b = 2: output after 300 "
                      "epochs", None, "info", unit="", digits=3),
            BookValue("ce_same_b_out50", "cross-entropy at η = 0.15, w = b = 2: output after "
                      "50 epochs", None, "info", unit="", digits=3),
        ),
        run=_run_slowdown, plot=_plot_slowdown, seeded=False, needs_data=False,
        params={"epochs": 300, "eta_quadratic": 0.15, "eta_ce": 0.005},
        quick={"epochs": 300, "eta_quadratic": 0.15, "eta_ce": 0.005},
        ours="Also run, and drawn dashed: the cross-entropy at the quadratic's η = 0.15.",
    ))

    # 2-3. cross-entropy on MNIST -------------------------------------------------------
    s30 = _full_spec(monitor=("ea", "ta"))
    add(_single(
        "cross-entropy-30", "Cross-entropy, [784,30,10]", "Using the cross-entropy to classify "
        "MNIST digits",
        "[784,30,10], cross-entropy, `large_weight_initializer()`, 30 epochs, mini-batch 10, "
        "η = 0.5, no regularization, 50,000 training images, accuracy on the test data. The "
        "overfitting section runs the same configuration again and quotes the best training "
        "and test accuracies.",
        [BookValue("final", "test accuracy", 95.49, quote="a network with 95.49 percent accuracy"),
         BookValue("best", "test accuracy of the book's second run (in 'Overfitting'), "
                   "compared with our best epoch", 95.33,
                   quote="the 95.33 percent on the test data",
                   reading="the chapter's 'best' qualifies only the training figure; we read "
                           "95.33 as the best epoch's test accuracy, beside the best training "
                           "accuracy"),
         BookValue("train_best", "best training accuracy (second run)", 97.86,
                   quote="the best classification accuracy of 97.86 percent on the training data"),
         BookValue("gap_best", "best training minus best test accuracy (second run, points)",
                   2.53, unit="", quote="is only 2.53 percent higher than the 95.33 percent on "
                   "the test data")],
        s30, _quick_spec(s30),
        explain=_explain_pair("final", "The book itself ran this configuration twice and "
                              "quotes 95.49% and 95.33%: one run is not a precise measurement.")))
    s100 = _full_spec(sizes=[784, 100, 10])
    add(_single(
        "cross-entropy-100", "Cross-entropy, [784,100,10]", "Using the cross-entropy to "
        "classify MNIST digits",
        "As cross-entropy-30 with 100 hidden neurons: [784,100,10], cross-entropy, large "
        "initialization, 30 epochs, mini-batch 10, η = 0.5, no regularization, test data.",
        [BookValue("final", "test accuracy", 96.82, quote="we obtain an accuracy of 96.82 percent")],
        s100, _quick_spec(s100)))

    # 4-5. overfitting and L2 on 1,000 images --------------------------------------------
    so = _full_spec(epochs=400, train_size=1000, monitor=("ec", "ea", "tc", "ta"))
    so_q = dict(so, epochs=40, train_size=300, eval_size=1000)
    add(Experiment(
        name="overfitting", title="Overfitting on 1,000 training images",
        section="Overfitting and regularization",
        config="[784,30,10], cross-entropy, large initialization, the first 1,000 training "
               "images, 400 epochs, mini-batch 10, η = 0.5, no regularization; cost and "
               "accuracy on the training and the test data after every epoch.",
        book=(
            BookValue("peak", "peak test accuracy", 82.27, quote="our test accuracy tops out "
                      "at just 82.27 percent"),
            BookValue("train_max", "training accuracy reached", 100.0, ">=", digits=1,
                      quote="The accuracy rises all the way up to 100 percent"),
            BookValue("test_cost_min_epoch", "epoch with the lowest test cost", 15, "~", unit="",
                      tol=10, digits=1, quote="the cost on the test data improves until around "
                      "epoch 15", reading="within 10 epochs of epoch 15"),
            BookValue("acc_at_200", "test accuracy at epoch 199", 82.0, "<", digits=2,
                      quote="In the first 200 epochs (not shown) the accuracy rises to just "
                            "under 82 percent", reading="below 82% at epoch 199"),
            BookValue("peak_epoch", "epoch of the peak test accuracy", 280, unit="", digits=0,
                      quote="at around epoch 280 the classification accuracy pretty much stops "
                            "improving",
                      reading="the book's epoch beside the epochs of our peak test accuracy"),
            BookValue("gap_peak", "training accuracy reached minus peak test accuracy (points)",
                      17.73, unit="", quote="the 17.73 percent gap we had earlier"),
        ),
        run=_run_small, params={"spec": so}, quick={"spec": so_q},
        plot=lambda figs, o: _plot_small(figs, o, "overfitting", "Overfitting, 1,000 images"),
        explain=_explain_small,
    ))
    sl = dict(so, lmbda=0.1)
    add(Experiment(
        name="l2-1000", title="L2 regularization on 1,000 training images",
        section="Regularization",
        config="As overfitting, with L2 regularization λ = 0.1: [784,30,10], cross-entropy, "
               "large initialization, 1,000 images, 400 epochs, mini-batch 10, η = 0.5, test data.",
        book=(
            BookValue("peak", "peak test accuracy", 87.1, digits=1,
                      quote="a peak classification accuracy of 87.1 percent"),
            BookValue("late_rise", "test accuracy still rising late in training (points)", 0.0,
                      ">", unit="", digits=2,
                      quote="the accuracy on the test_data continues to increase for the "
                            "entire 400 epochs",
                      reading="the mean over the last 50 epochs exceeds the mean over epochs "
                              "200–249"),
            BookValue("peak_epoch", "epoch of the peak test accuracy", None, "info", unit="",
                      digits=0),
        ),
        run=_run_small, params={"spec": sl}, quick={"spec": dict(so_q, lmbda=0.1)},
        plot=lambda figs, o: _plot_small(figs, o, "l2-1000", "L2 (λ = 0.1), 1,000 images"),
    ))

    # 6-8. L2 on the full training set -----------------------------------------------------
    s = _full_spec(lmbda=5.0, monitor=("ea", "ta"))
    add(_single(
        "l2-full-30", "L2 on the full training set, [784,30,10]", "Regularization",
        "[784,30,10], cross-entropy, large initialization, 30 epochs, mini-batch 10, η = 0.5, "
        "λ = 5.0, 50,000 training images, accuracy on the test and training data.",
        [BookValue("final", "test accuracy", 96.49, quote="to 96.49 percent"),
         BookValue("gap_final", "training minus test accuracy at the end (points)", 1.0, "<",
                   unit="", digits=2, quote="the gap between results on the training and test "
                   "data is much narrower than before, running at under a percent")],
        s, _quick_spec(s)))
    s = _full_spec(sizes=[784, 100, 10], lmbda=5.0, eval="validation")
    add(_single(
        "l2-full-100", "L2 on the full training set, [784,100,10]", "Regularization",
        "[784,100,10], cross-entropy, large initialization, 30 epochs, mini-batch 10, η = 0.5, "
        "λ = 5.0, accuracy on the validation data.",
        [BookValue("final", "validation accuracy", 97.92, final_stated=True,
                   quote="The final result is a classification accuracy of 97.92 percent on "
                         "the validation data")],
        s, _quick_spec(s)))
    s = _full_spec(sizes=[784, 100, 10], lmbda=5.0, eval="validation", epochs=60, eta=0.1)
    add(_single(
        "l2-full-100-60", "L2, [784,100,10], 60 epochs at η = 0.1", "Regularization",
        "[784,100,10], cross-entropy, large initialization, 60 epochs, mini-batch 10, η = 0.1, "
        "λ = 5.0, accuracy on the validation data.",
        [BookValue("final", "validation accuracy", 98.04,
                   quote="achieving 98.04 percent classification accuracy on the validation data")],
        s, _quick_spec(s)))

    # 9. weight initialization -----------------------------------------------------------
    si = dict(sizes=[784, 30, 10], epochs=30, eta=0.1, lmbda=5.0, eval="validation",
              monitor=("ea",))
    add(Experiment(
        name="weight-init", title="Old against new weight initialization",
        section="Weight initialization",
        config="[784,30,10] and [784,100,10], cross-entropy, 30 epochs, mini-batch 10, "
               "η = 0.1, λ = 5.0, validation data; weights N(0, 1) (`large_weight_initializer`) "
               "against N(0, 1/n_in) (the default); biases N(0, 1) in both.",
        book=(
            BookValue("old30_e1", "30 hidden, old: accuracy after the first epoch", 87.0, "<",
                      quote="the old approach to weight initialization has a classification "
                            "accuracy under 87 percent"),
            BookValue("new30_e1", "30 hidden, new: accuracy after the first epoch", 93.0, "~",
                      tol=1.0, quote="the new approach is already almost 93 percent",
                      reading="within one point of 93%"),
            BookValue("min30_final", "30 hidden, lower of old and new: final accuracy", 96.0,
                      ">",
                      quote="we end up with a classification accuracy somewhat over 96 percent",
                      reading="both initializations end above 96%"),
            BookValue("gap30_final", "30 hidden: new minus old, final (points)", 0.0, "~",
                      unit="", tol=0.5, quote="The final classification accuracy is almost "
                      "exactly the same in the two cases", reading="within half a point"),
            BookValue("gap100_e1", "100 hidden: new minus old after the first epoch (points)",
                      0.0, ">", unit="", quote="The same phenomenon is also seen if we plot "
                      "results with 100 hidden neurons"),
            BookValue("old100_final", "100 hidden, old: final", None, "info"),
            BookValue("new100_final", "100 hidden, new: final", None, "info"),
        ),
        run=_run_init, plot=_plot_init,
        params={"hidden": [30, 100], "spec": si},
        quick={"hidden": [30, 100], "spec": dict(si, epochs=2, train_size=2000, eval_size=1000)},
    ))

    # 10. learning rates ----------------------------------------------------------------
    se = dict(sizes=[784, 30, 10], init="default", epochs=30, lmbda=5.0, monitor=("tc",))
    add(Experiment(
        name="learning-rate", title="Training cost for η = 0.025, 0.25 and 2.5",
        section="How to choose a neural network's hyper-parameters?",
        config="[784,30,10], cross-entropy, default initialization, 30 epochs, mini-batch 10, "
               "λ = 5.0, the full training set; η = 0.025, 0.25 and 2.5; training cost after "
               "every epoch.",
        book=(
            BookValue("rises_0.025", "η = 0.025: epochs whose training cost rose", 0, "<=",
                      unit="", digits=1, quote="With η = 0.025 the cost decreases smoothly "
                      "until the final epoch"),
            BookValue("late_0.25", "η = 0.25: share of the cost's fall after epoch 20 (%)",
                      10.0, "<", unit="", digits=1, quote="after about 20 epochs it is near "
                      "saturation", reading="under 10% of the 30-epoch fall happens after "
                      "epoch 20"),
            BookValue("late_rises_0.25", "η = 0.25: epochs after the 20th whose cost rose",
                      1, ">=", unit="", digits=1, quote="thereafter most of the changes are "
                      "merely small and apparently random oscillations",
                      reading="the cost rises at least once after epoch 20"),
            BookValue("rises_2.5", "η = 2.5: epochs whose training cost rose", 5, ">=", unit="",
                      digits=1, quote="with η = 2.5 the cost makes large oscillations right "
                      "from the start", reading="the cost rises in at least 5 of 29 epochs"),
            BookValue("final_cost_0.025", "η = 0.025: final training cost", None, "info",
                      unit="", digits=3),
            BookValue("final_cost_0.25", "η = 0.25: final training cost", None, "info",
                      unit="", digits=3),
            BookValue("final_cost_2.5", "η = 2.5: final training cost", None, "info",
                      unit="", digits=3),
        ),
        run=_run_eta, plot=_plot_eta, explain=_explain_eta,
        params={"etas": [0.025, 0.25, 2.5], "spec": se},
        quick={"etas": [0.025, 0.25, 2.5], "spec": dict(se, epochs=4, train_size=2000)},
    ))

    # 11. training-set size and the SVM ------------------------------------------------------
    sizes = [100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000]
    add(Experiment(
        name="training-size", title="Accuracy against training-set size, and an SVM",
        section="Other techniques for regularization; an aside on big data",
        config="[784,30,10], cross-entropy, mini-batch 10, η = 0.5, trained on the first n "
               "training images for 30 epochs at n = 50,000 and proportionally more at smaller "
               "n (30 × 50,000 / n), λ = 5.0 × n / 50,000; accuracy on the validation data. "
               "Beside it scikit-learn's SVC with its out-of-the-box settings on the same n.",
        book=(
            BookValue("net_5000", "network, 5,000 images", 93.24,
                      quote="our neural network does when trained using 5,000 images "
                            "(93.24 percent accuracy)"),
            BookValue("svm_auto_50000", "SVM, 50,000 images, gamma = 1/784 (the book's default)",
                      94.48, quote="if we train our SVM using 50,000 images then it actually "
                      "has better performance (94.48 percent accuracy)"),
            BookValue("svm_scale_50000", "SVM, 50,000 images, today's default gamma='scale' "
                      "(not run in the book)", None, "info"),
            BookValue("svm_auto_largest_minus_net", "SVM (gamma = 1/784) at 50,000 minus the "
                      "network at 5,000 (points)", 0.0, ">", unit="",
                      quote="more training data can sometimes compensate for differences in "
                            "the machine learning algorithm used"),
            BookValue("svm_wins_auto", "sizes at which the SVM (1/784) is at least as "
                      "accurate as the network", 0, "<=", unit="", digits=0,
                      quote="our neural network outperforms the SVM for every training set size"),
            BookValue("svm_wins_scale", "sizes at which the SVM (gamma='scale', not run in "
                      "the book) is at least as accurate as the network", None, "info", unit="",
                      digits=0),
            BookValue("net_50000", "network, 50,000 images", None, "info"),
            BookValue("net_1000", "network, 1,000 images", None, "info"),
        ),
        run=_run_sizes, plot=_plot_sizes, explain=_explain_sizes, remarks=_remarks_sizes,
        params={"sizes": sizes, "total_examples": 1_500_000, "n_full": 50000, "eta": 0.5,
                "lmbda_full": 5.0, "eval_size": None, "svm_sizes": sizes,
                "svm_gammas": ["auto", "scale"], "svm_budget_seconds": 1200,
                "compare_net_size": 5000},
        quick={"sizes": [100, 300, 1000], "total_examples": 6000, "n_full": 50000, "eta": 0.5,
               "lmbda_full": 5.0, "eval_size": 1000, "svm_sizes": [100, 300, 1000],
               "svm_gammas": ["auto", "scale"], "svm_budget_seconds": 120,
               "compare_net_size": 300},
        ours="The SVM runs twice: with gamma = 1/784 ('auto'), the default of the scikit-learn "
             "the book used, and with today's default gamma='scale'. If the time estimated for "
             "the next size exceeds 20 minutes the SVM stops there (the report says so).",
    ))

    # 12. hyper-parameter sessions ----------------------------------------------------------
    sessions = [(10.0, 1000.0), (10.0, 20.0), (100.0, 20.0), (1.0, 20.0)]
    book_first = [[10, 10, 10], [12, 14, 25, 18], [10, 10, 10, 10], [62, 42, 43, 61]]
    add(Experiment(
        name="hyperparameters", title="The hyper-parameter sessions",
        section="How to choose a neural network's hyper-parameters?",
        config="[784,30,10] on the full training set with η = 10, λ = 1000 (validation data); "
               "then [784,10] on the first 1,000 training images with the first 100 validation "
               "images: η = 10, λ = 1000; η = 10, λ = 20; η = 100, λ = 20; η = 1, λ = 20; "
               "30 epochs, mini-batch 10, default initialization.",
        book=(
            BookValue("full_max", "[784,30,10], η = 10, λ = 1000: best epoch", 12.0, "<",
                      quote="Our classification accuracies are no better than chance!",
                      reading="no epoch above 12% (the book prints 9.67–10.30%)"),
            BookValue("mean_10_1000", "[784,10], η = 10, λ = 1000: mean accuracy", 10.0, "=",
                      digits=1, quote="We're still getting pure noise!",
                      printed="10 / 100 at each of epochs 0–2, the only ones shown"),
            BookValue("first4_10_20", "[784,10], η = 10, λ = 20: mean of epochs 0–3", 17.25,
                      "=", quote="Ahah! We have a signal.",
                      printed="12, 14, 25, 18 / 100 at epochs 0–3"),
            BookValue("max_10_20", "[784,10], η = 10, λ = 20: best epoch", 20.0, ">=",
                      digits=1, quote="Ahah! We have a signal.",
                      reading="a signal: some epoch reaches 20% or more"),
            BookValue("mean_100_20", "[784,10], η = 100, λ = 20: mean accuracy", 10.0, "=",
                      digits=1, quote="That's no good!",
                      printed="10 / 100 at every epoch shown"),
            BookValue("first4_1_20", "[784,10], η = 1, λ = 20: mean of epochs 0–3", 52.0, "=",
                      quote="That's better!", printed="62, 42, 43, 61 / 100 at epochs 0–3"),
            BookValue("mean_1_20", "[784,10], η = 1, λ = 20: mean accuracy", None, "info",
                      digits=1),
        ),
        run=_run_hyper, plot=_plot_hyper, explain=_explain_hyper,
        params={"sessions": sessions, "book_first": book_first, "epochs": 30,
                "train_size": 1000, "eval_size": 100,
                "full": {"epochs": 30, "eta": 10.0, "lmbda": 1000.0, "train_size": None}},
        quick={"sessions": sessions, "book_first": book_first, "epochs": 5,
               "train_size": 1000, "eval_size": 100,
               "full": {"epochs": 1, "eta": 10.0, "lmbda": 1000.0, "train_size": 2000,
                        "eval_size": 1000}},
    ))

    # 13-16. the problems that ask for code -------------------------------------------------
    base = dict(sizes=[784, 30, 10], init="default", epochs=30, eta=0.5, eval="validation",
                monitor=("ea",), final_test=True)

    def qz(cfgs, **kw):
        return {k: dict(v, epochs=min(v["epochs"], kw.get("epochs", 2)), train_size=2000,
                        eval_size=500) for k, v in cfgs.items()}

    l1 = {"unregularized": dict(base, weight_stats=True)}
    for lam in (1.0, 3.0, 10.0):
        l1[f"L1 λ = {lam:g}"] = dict(base, l1=lam, weight_stats=True)
    l1_tags = {k: ("none" if k == "unregularized" else f"l1_{k.split('= ')[1]}") for k in l1}
    add(Experiment(
        name="l1", title="Problem: L1 regularization on MNIST",
        section="Handwriting recognition revisited: the code (problems)",
        config="'Modify the code above to implement L1 regularization, and use L1 regularization "
               "to classify MNIST digits using a 30 hidden neuron network. Can you find a "
               "regularization parameter that enables you to do better than running "
               "unregularized?' Ours: [784,30,10], cross-entropy, default initialization, 30 "
               "epochs, mini-batch 10, η = 0.5, L1 with λ = 1, 3, 10 (eq. 97) against none.",
        book=(
            BookValue("l1_gain", "best L1 setting minus unregularized (points)", 0.0, ">",
                      unit="", quote="Can you find a regularization parameter that enables you "
                      "to do better than running unregularized?",
                      reading="yes: some λ beats no regularization on average"),
            BookValue("l1_sparser", "near-zero weights, best L1 minus none (points)", 0.0, ">",
                      unit="", digits=1, quote="L1 regularization tends to concentrate the "
                      "weight of the network in a relatively small number of high-importance "
                      "connections, while the other weights are driven toward zero"),
            BookValue("test_none", "unregularized: test accuracy", None, "info"),
        ),
        run=_run_compare, plot=lambda figs, o: _plot_compare(figs, o, "l1", "L1 regularization"),
        params={"configs": l1, "tags": l1_tags, "derive": "l1"},
        quick={"configs": qz(l1), "tags": l1_tags, "derive": "l1"},
    ))
    stop = {"no-improvement-in-10": dict(base, lmbda=5.0, epochs=200,
                                         early_stopping=("no-improvement", 10, None),
                                         restore_best=True),
            _DR_LABEL: dict(
                base, lmbda=5.0, epochs=200, early_stopping=("diminishing", 5, 0.001),
                restore_best=True)}
    stop_tags = {"no-improvement-in-10": "ni10", _DR_LABEL: "dr"}
    add(Experiment(
        name="early-stopping", title="Problem: early stopping",
        section="How to choose a neural network's hyper-parameters? (problems)",
        config="'Modify network2.py so that it implements early stopping using a "
               "no-improvement-in-n epochs strategy' and 'think of a rule for early stopping "
               "other than no-improvement-in-n ... run three experiments comparing the "
               "validation accuracies and number of epochs of training to "
               "no-improvement-in-10.' Ours: [784,30,10], default initialization, η = 0.5, "
               "λ = 5.0, at most 200 epochs; no-improvement-in-10 against diminishing returns "
               "(stop when the best validation accuracy gained under 0.1 points over the last "
               "5 epochs); the best epoch's weights are restored before the test.",
        book=(
            BookValue("epochs_ni10", "no-improvement-in-10: epochs trained", None, "info",
                      unit="", digits=1),
            BookValue("best_ni10", "no-improvement-in-10: best validation accuracy", None, "info"),
            BookValue("test_ni10", "no-improvement-in-10: test accuracy", None, "info"),
            BookValue("epochs_dr", "diminishing returns: epochs trained", None, "info", unit="",
                      digits=1),
            BookValue("best_dr", "diminishing returns: best validation accuracy", None, "info"),
        ),
        run=_run_compare,
        plot=lambda figs, o: _plot_compare(figs, o, "early-stopping", "Early stopping"),
        params={"configs": stop, "tags": stop_tags, "derive": "stop"},
        quick={"configs": {k: dict(v, epochs=6, train_size=2000, eval_size=500,
                                   early_stopping=(v["early_stopping"][0], 2,
                                                   v["early_stopping"][2]))
                           for k, v in stop.items()},
               "tags": stop_tags, "derive": "stop"},
    ))
    halv = {"halving schedule": dict(base, lmbda=5.0, epochs=300, schedule="halve",
                                     early_stopping=10, restore_best=True),
            "constant η, no-improvement-in-10": dict(base, lmbda=5.0, epochs=300,
                                                     early_stopping=10, restore_best=True)}
    halv_tags = {"halving schedule": "halve", "constant η, no-improvement-in-10": "ni10"}
    add(Experiment(
        name="halving", title="Exercise: the halving learning-rate schedule",
        section="How to choose a neural network's hyper-parameters? (learning rate schedule)",
        config="'Modify network2.py so that it implements a learning schedule that: halves the "
               "learning rate each time the validation accuracy satisfies the "
               "no-improvement-in-10 rule; and terminates when the learning rate has dropped "
               "to 1/128 of its original value.' Ours: [784,30,10], default initialization, "
               "η = 0.5 at the start, λ = 5.0, at most 300 epochs, against constant η with "
               "no-improvement-in-10; best epoch's weights restored.",
        book=(
            BookValue("halve_gain", "halving minus constant η: best validation accuracy "
                      "(points)", 0.0, ">", unit="", quote="A variable learning schedule can "
                      "improve performance"),
            BookValue("final_eta_ratio", "final η as a fraction of the initial η", 1 / 128,
                      "<=", unit="",
                      digits=4, quote="terminates when the learning rate has dropped to 1/128 "
                      "of its original value"),
            BookValue("epochs_halve", "epochs trained", None, "info", unit="", digits=1),
            BookValue("test_halve", "test accuracy", None, "info"),
        ),
        run=_run_compare,
        plot=lambda figs, o: _plot_compare(figs, o, "halving", "The halving schedule"),
        params={"configs": halv, "tags": halv_tags, "derive": "halving", "plot_eta": True},
        quick={"configs": {k: dict(v, epochs=12, train_size=1000, eval_size=200,
                                   early_stopping=1) for k, v in halv.items()},
               "tags": halv_tags, "derive": "halving", "plot_eta": True},
    ))
    mom = {"plain SGD, η = 0.05": dict(base, lmbda=5.0, eta=0.05),
           "momentum μ = 0.9, η = 0.05": dict(base, lmbda=5.0, eta=0.05, momentum=0.9),
           "Nesterov μ = 0.9, η = 0.05": dict(base, lmbda=5.0, eta=0.05, momentum=0.9,
                                              nesterov=True),
           "plain SGD, η = 0.5": dict(base, lmbda=5.0, eta=0.5)}
    mom_tags = {"plain SGD, η = 0.05": "plain", "momentum μ = 0.9, η = 0.05": "mu",
                "Nesterov μ = 0.9, η = 0.05": "nesterov", "plain SGD, η = 0.5": "plain05"}
    add(Experiment(
        name="momentum", title="Problem: momentum-based gradient descent",
        section="Other techniques: momentum-based gradient descent",
        config="'Add momentum-based stochastic gradient descent to network2.py' (eqs. 107–108). "
               "Ours: [784,30,10], default initialization, λ = 5.0, 30 epochs: plain SGD at "
               "η = 0.05 against momentum μ = 0.9 (and Nesterov's variant) at the same η, and "
               "plain SGD at η = 0.5 = 0.05 / (1 − μ), momentum's terminal step.",
        book=(
            BookValue("momentum_e1_gain", "μ = 0.9 minus plain, same η: after the first epoch "
                      "(points)", 0.0, ">", unit="", quote="the momentum technique is commonly "
                      "used, and often speeds up learning"),
            BookValue("momentum_best_gain", "μ = 0.9 minus plain, same η: best (points)", None,
                      "info", unit=""),
            BookValue("best_nesterov", "Nesterov: best validation accuracy", None, "info"),
            BookValue("best_plain05", "plain SGD at η = 0.5: best validation accuracy", None,
                      "info"),
        ),
        run=_run_compare,
        plot=lambda figs, o: _plot_compare(figs, o, "momentum", "Momentum"),
        params={"configs": mom, "tags": mom_tags, "derive": "momentum"},
        quick={"configs": qz(mom), "tags": mom_tags, "derive": "momentum"},
    ))

    # 17-18. dropout and expanded data -----------------------------------------------------
    small = dict(sizes=[784, 30, 10], init="large", epochs=400, eta=0.5, train_size=1000,
                 eval="test", monitor=("ea", "ta"))
    wide = dict(sizes=[784, 100, 10], init="default", epochs=30, eta=0.25, eval="validation",
                monitor=("ea", "ta"))

    def quick_parts(parts):
        q = {}
        for part, cfg in parts.items():
            cs = {k: dict(v, epochs=20 if part == "A" else 2,
                          train_size=300 if part == "A" else 2000, eval_size=500)
                  for k, v in cfg["configs"].items()}
            q[part] = dict(cfg, configs=cs)
        return q

    drop = {
        "A": {"title": "1,000 images, [784,30,10], 400 epochs", "eval_name": "test",
              "baseline": "none",
              "configs": {"no dropout": small, "dropout p = 0.5": dict(small, dropout=0.5)},
              "tags": {"no dropout": "none", "dropout p = 0.5": "p05"}},
        "B": {"title": "50,000 images, [784,100,10], 30 epochs, η = 0.25", "eval_name": "validation",
              "baseline": "none",
              "configs": {"no dropout": wide, "dropout p = 0.5": dict(wide, dropout=0.5)},
              "tags": {"no dropout": "none", "dropout p = 0.5": "p05"}},
    }
    add(Experiment(
        name="dropout", title="Dropout",
        section="Other techniques for regularization: dropout",
        config="The chapter describes dropout (delete half the hidden neurons at random for "
               "each mini-batch; halve the outgoing weights afterwards) and quotes the original "
               "paper's MNIST result for a vanilla feedforward network: 98.4% improved to "
               "98.7% “using a combination of dropout and a modified form of L2 "
               "regularization”; it gives no run of its own. Ours (inverted dropout, p = 0.5): A. "
               "the overfitting setup (1,000 images, [784,30,10], large initialization, "
               "400 epochs, η = 0.5, test data) beside the chapter's 82.27%; B. [784,100,10], "
               "50,000 images, 30 epochs, η = 0.25, no L2, validation data.",
        book=(
            BookValue("gain_A_p05", "1,000 images: dropout minus none, peak test accuracy "
                      "(points)", 0.0, ">", unit="", quote="the net effect of dropout will be "
                      "to reduce overfitting"),
            BookValue("best_A_p05", "1,000 images, dropout: peak test accuracy", None, "info"),
            BookValue("gain_B_p05", "50,000 images: dropout minus none, best validation "
                      "(points)", None, "info", unit=""),
        ),
        run=_run_regularizer, plot=lambda figs, o: _plot_regularizer(figs, o, "dropout"),
        params=drop, quick=quick_parts(drop),
    ))
    wide_l2 = dict(wide, eta=0.5, lmbda=5.0)
    exp = {
        "A": {"title": "1,000 images, [784,30,10], 400 epochs", "eval_name": "test",
              "baseline": "none",
              "configs": {"original 1,000": small,
                          "+ one-pixel shifts (5,000 images)": dict(small, expand="shifts"),
                          "elastic, fresh each epoch": dict(small, augment="elastic"),
                          "affine, fresh each epoch": dict(small, augment="affine")},
              "tags": {"original 1,000": "none", "+ one-pixel shifts (5,000 images)": "shifts",
                       "elastic, fresh each epoch": "elastic",
                       "affine, fresh each epoch": "affine"}},
        "B": {"title": "50,000 images, [784,100,10], 30 epochs, λ = 5", "eval_name": "validation",
              "baseline": "none",
              "configs": {"original": wide_l2,
                          "elastic, fresh each epoch": dict(wide_l2, augment="elastic"),
                          "shifts, fresh each epoch": dict(wide_l2, augment="shifts")},
              "tags": {"original": "none", "elastic, fresh each epoch": "elastic",
                       "shifts, fresh each epoch": "shifts"}},
    }
    add(Experiment(
        name="expanded", title="Artificially expanded training data",
        section="Other techniques for regularization: artificially expanding the training data",
        config="The chapter describes expanding the data with small rotations (it shows one "
               "digit rotated by 15 degrees) and quotes a paper that also translated and skewed "
               "the images: 98.4% → 98.9% with that expanded data → 99.3% with “elastic "
               "distortions”, for a feedforward network with 800 hidden neurons; it gives no "
               "run of its own. Ours: A. the overfitting "
               "setup (1,000 images, 400 epochs, test data) with the five-fold one-pixel-shift "
               "set (`expand_shifts`) and with elastic and affine distortions drawn afresh "
               "each epoch (`make_augmenter`); B. [784,100,10] on 50,000 images, η = 0.5, "
               "λ = 5.0, 30 epochs, validation data, with elastic and shift distortions drawn "
               "afresh each epoch.",
        book=(
            BookValue("gain_A_elastic", "1,000 images: elastic minus none, peak test accuracy "
                      "(points)", 0.0, ">", unit="", quote="By using the elastic distortions to "
                      "expand the data they achieved an even higher accuracy"),
            BookValue("gain_A_shifts", "1,000 images: shifts minus none (points)", 0.0, ">",
                      unit="", quote="obviously we're not limited to adding just this one image"),
            BookValue("gain_B_elastic", "50,000 images: elastic minus none, best validation "
                      "(points)", None, "info", unit=""),
            BookValue("best_B_elastic", "50,000 images, elastic: best validation", None, "info"),
        ),
        run=_run_regularizer, plot=lambda figs, o: _plot_regularizer(figs, o, "expanded"),
        params=dict(exp, needs_expand=True), quick=dict(quick_parts(exp), needs_expand=True),
    ))
    # thresholds that are our reading of a qualitative sentence: marked, never shown as
    # the book's own number
    for name, keys in _OUR_THRESHOLDS.items():
        e = R[name]
        e.book = tuple(replace(b, derived=True) if b.key in keys else b for b in e.book)
    return R


#: Per experiment, the book rows whose number is ours (the threshold of our test of
#: a qualitative sentence): "first 150 or so epochs ... don't change much" becomes
#: "under a quarter of the fall", "large oscillations" becomes "rises in 5 epochs".
_OUR_THRESHOLDS = {
    "slowdown": {"q_b_share_half", "q_b_steepest", "q_b_outE", "ce_b_steepest",
                 "slope_ratio_b"},
    "l2-1000": {"late_rise"},
    "weight-init": {"gap30_final", "gap100_e1"},
    "learning-rate": {"rises_0.025", "late_0.25", "late_rises_0.25", "rises_2.5"},
    "training-size": {"svm_auto_largest_minus_net", "svm_wins_auto"},
    "hyperparameters": {"full_max", "max_10_20"},
    "l1": {"l1_gain", "l1_sparser"},
    "halving": {"halve_gain"},
    "momentum": {"momentum_e1_gain"},
    "dropout": {"gain_A_p05"},
    "expanded": {"gain_A_elastic", "gain_A_shifts"},
}


REGISTRY = _make_registry()

#: The chapter's headline accuracies (several seeds each).
HEADLINE = {name: e.book[0].value for name, e in REGISTRY.items() if e.headline}


# =============================================================================
# Running and reporting
# =============================================================================

def _cpu_model():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info():
    """What ran the experiments."""
    import scipy

    import nncore
    info = {
        "cpu": _cpu_model(), "cores": os.cpu_count(), "platform": platform.platform(),
        "python": platform.python_version(), "numpy": np.__version__,
        "scipy": scipy.__version__, "nncore": nncore.__version__,
    }
    for mod, key in (("matplotlib", "matplotlib"), ("sklearn", "scikit-learn"),
                     ("threadpoolctl", "threadpoolctl")):
        try:
            info[key] = __import__(mod).__version__
        except Exception:  # noqa: BLE001
            info[key] = None
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [{k: d.get(k) for k in ("internal_api", "version", "num_threads",
                                                "architecture", "threading_layer")}
                        | {"library": os.path.basename(d.get("filepath", ""))}
                        for d in threadpool_info()]
    except Exception:  # noqa: BLE001
        info["blas"] = None
    info["OPENBLAS_CORETYPE"] = os.environ.get("OPENBLAS_CORETYPE")
    try:
        info["load_start"] = list(os.getloadavg())
    except OSError:
        info["load_start"] = None
    return info


def run_experiments(names, ctx, figs=None):
    """Run ``names`` in order; returns ``{name: Outcome}``.  An experiment
    that raises is recorded with its error and the others still run."""
    results = {}
    for name in names:
        e = REGISTRY[name]
        ctx.experiment = e
        ctx.params = e.quick if ctx.quick else e.params
        seeds = list(ctx.seeds)
        if not e.seeded:
            ctx.seeds = [0]
        ctx.log("start")
        t0 = time.perf_counter()
        try:
            o = e.run(ctx)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal to the others
            import traceback
            o = Outcome(seeds=list(ctx.seeds))
            o.error = f"{type(exc).__name__}: {exc}"
            ctx.log("FAILED: " + o.error)
            traceback.print_exc(file=sys.stderr)
        finally:
            ctx.seeds = seeds
        o.wall_seconds = time.perf_counter() - t0
        _refresh(name, o)
        if figs is not None and o.error is None and o.skipped is None and e.plot is not None:
            try:
                o.figures = e.plot(figs, o)
            except Exception as exc:  # noqa: BLE001
                o.notes.append(f"The figures could not be drawn: {type(exc).__name__}: {exc}")
        ctx.log(f"done in {_fmt_seconds(o.wall_seconds)}")
        results[name] = o
    ctx.experiment = None
    return results


_OPS = {"<": lambda x, v: x < v, ">": lambda x, v: x > v,
        "<=": lambda x, v: x <= v, ">=": lambda x, v: x >= v}


def _spread_text(c, d):
    return f"mean {c['mean']:.{d}f}, sd {c['sd']:.{d}f}, range {c['lo']:.{d}f}–{c['hi']:.{d}f}"


def _explanations(e, o, b, c):
    """Sentences explaining why ours and the book's differ beyond the spread,
    generated from the outcome.  They use the verdict's own rule (inside our
    min–max or within 2 sd of our mean) and never a second one."""
    s = []
    if b.op == "=":
        d = b.digits
        unit = " points" if b.unit == "%" else ""
        if c["n"] > 1:
            k = abs(c["diff"]) / c["sd"] if c["sd"] > 0 else float("inf")
            side = "below" if c["diff"] > 0 else "above"
            s.append(
                f"The book quotes one run; our {c['n']} seeds give {_spread_text(c, d)}. The "
                f"book's {b.value:.{d}f} is outside that spread: {abs(c['diff']):.{d}f}{unit} "
                f"{side} our mean"
                + (f", {k:.1f} sd, and {abs(b.value - (c['lo'] if c['diff'] > 0 else c['hi'])):.{d}f}"
                   f"{unit} beyond our {'lowest' if c['diff'] > 0 else 'highest'} seed."
                   if math.isfinite(k) else ", and our runs are identical.")
                + f" The book's number is one run and our {c['n']} seeds estimate the spread "
                f"only roughly, so from these runs we cannot tell an unusual run of the book's "
                f"from a systematic difference.")
        else:
            s.append(f"This result is deterministic here; it differs from the book's by "
                     f"{c['diff']:+.{d}f}.")
        # the book may quote another epoch than our last one
        if b.key == "final" and "best" in o.metrics:
            cb = compare(b, o.metrics["best"])
            if b.final_stated:
                s.append(f"The chapter calls {b.value:.{d}f} “the final result”, so it is "
                         f"compared with our last epoch; our best epoch, {cb['mean']:.2f}% "
                         f"({cb['lo']:.2f}–{cb['hi']:.2f}), is not what the book reports.")
            elif abs(cb["diff"]) < abs(c["diff"]):
                s.append(f"Our best-epoch accuracy, {cb['mean']:.2f}% "
                         f"({cb['lo']:.2f}–{cb['hi']:.2f}), is closer to the book's number"
                         + (", and the book's number is within the spread of our best epochs"
                            if cb["ok"] else ", though the book's number is outside the spread "
                            "of our best epochs too")
                         + f"; the chapter's wording (“{b.quote}”) does not say whether it "
                         f"is the last epoch or the best one.")
    elif b.op in _OPS and c["n"]:
        vals = _finite(o.metrics[b.key])
        miss = [abs(x - b.value) for x in vals if not _OPS[b.op](x, b.value)]
        runs = "seeds" if e.seeded and c["n"] > 1 else "run(s)"
        bound = f"{b.what} {_SYM[b.op].strip()} {_fmt(b.value, b.digits)}"
        lead = (f"Our reading of the book's sentence is the test {bound} "
                f"({DERIVED_MARK}: the threshold is ours)" if b.derived else
                f"The book's statement reads as: {bound}")
        dd = max(b.digits, 2)
        if miss and len(miss) == len(vals):
            tail = (f"; it misses by {max(miss):.{dd}f}." if len(vals) == 1 else
                    f"; all miss, by {min(miss):.{dd}f} to {max(miss):.{dd}f}.")
        elif miss:
            tail = (f"; the other{'s miss' if len(miss) > 1 else ' misses'} by "
                    + (f"at most {max(miss):.{dd}f}." if len(miss) > 1 else f"{miss[0]:.{dd}f}."))
        else:
            tail = "."
        s.append(f"{lead}; {c['held']} of {c['n']} {runs} satisfy it (ours: "
                 f"{', '.join(_fmt(x, b.digits) for x in vals)}){tail}")
    elif b.op == "~" and c["n"]:
        s.append(f"Ours is {_fmt(c['mean'], b.digits)}, {abs(c['diff']):.{b.digits}f} from the "
                 f"book's approximate {_fmt(b.value, b.digits)}, beyond the ±"
                 f"{_fmt(b.tol, b.digits)} we allow.")
    if e.explain is not None:
        s.extend(e.explain(o, b, c))
    return s


#: Single-run accuracies of the book on 1,000 training images (the metric compared).
_SMALL_RUNS = {"overfitting": "peak", "l2-1000": "peak"}


def _headline_pattern(results):
    """One generated paragraph on the direction of the differences in the book's
    single-run accuracies: on 50,000 images without and with L2 regularization, and
    on 1,000 images."""
    groups = {}
    for name, o in results.items():
        e = REGISTRY[name]
        if o.error or o.skipped:
            continue
        if e.headline and "final" in o.metrics:
            b = e.book[0]
            lam = ((o.data or {}).get("spec") or {}).get("lmbda") or 0
            group = ("on 50,000 images with L2 regularization" if lam > 0 else
                     "on 50,000 images without L2 regularization")
        elif name in _SMALL_RUNS and _SMALL_RUNS[name] in o.metrics:
            b = next(x for x in e.book if x.key == _SMALL_RUNS[name])
            group = "on 1,000 images (peak test accuracy)"
        else:
            continue
        groups.setdefault(group, []).append((name, compare(b, o.metrics[b.key])))
    if not groups:
        return None
    order = ["on 50,000 images without L2 regularization",
             "on 50,000 images with L2 regularization", "on 1,000 images (peak test accuracy)"]
    parts = []
    for group in order:
        items = groups.get(group)
        if not items:
            continue
        diffs = [c["diff"] for _, c in items]
        trend = ("all below the book" if all(x < 0 for x in diffs) else
                 "all above the book" if all(x > 0 for x in diffs) else "on both sides")
        within = sum(1 for _, c in items if c["ok"])
        parts.append(
            f"{group}, "
            + ", ".join(f"{c['diff']:+.2f} pp ({n})" for n, c in items)
            + f" — {trend}, {within} of {len(items)} within our spread")
    return ("Ours minus the accuracies the book quotes from single runs: " + "; ".join(parts)
            + ".")


def _rel(path, report_path):
    return os.path.relpath(path, os.path.dirname(os.path.abspath(report_path))).replace(os.sep, "/")


def render_report(results, meta, report_path):
    """The markdown report, from the outcomes and the run's metadata."""
    quick = meta.get("quick")
    L = []
    L.append("# Chapter 3 of *Neural Networks and Deep Learning*, reproduced with nncore")
    L.append("")
    L.append(f"Generated by `{meta['command']}` — do not edit by hand; run the command again. "
             "Every number and every sentence about a result below is produced by "
             "`src/nncore/reproduce.py` from the runs themselves.")
    L.append("")
    if meta.get("rerendered"):
        L.append(f"The figures and this text were redrawn from the saved results by "
                 f"{meta['rerendered']}; the runs are those of the date below.")
        L.append("")
    if quick:
        L.append("> **Quick run (`--quick`)**: a smoke test on few images and few epochs. "
                 "Its numbers are not comparable with the book's.")
        L.append("")
    mi = meta["machine"]
    L.append("## Machine and run")
    L.append("")
    L.append(f"- Date: {meta['date']}")
    L.append(f"- Total wall time: **{_fmt_seconds(meta['wall_seconds'])}** for "
             f"{len(results)} experiment(s)")
    L.append(f"- CPU: {mi['cpu']}, {mi['cores']} logical cores; load average "
             f"{_fmt_load(mi.get('load_start'))} at the start and "
             f"{_fmt_load(meta.get('load_end'))} at the end")
    L.append(f"- {_platform_text(mi['platform'])}; Python {mi['python']}, NumPy {mi['numpy']}, SciPy "
             f"{mi['scipy']}, nncore {mi['nncore']}, matplotlib {mi.get('matplotlib') or '—'}, "
             f"scikit-learn {mi.get('scikit-learn') or 'not installed'}")
    if mi.get("blas"):
        libs = "; ".join(_blas_text(d) for d in mi["blas"])
        L.append(f"- BLAS (threadpoolctl): {libs}")
    else:
        L.append("- BLAS: threadpoolctl is not installed, so the libraries are not listed "
                 "and their threads were not pinned")
    if mi.get("OPENBLAS_CORETYPE"):
        L.append(f"- OPENBLAS_CORETYPE={mi['OPENBLAS_CORETYPE']}")
    L.append(f"- Arithmetic: float64; seeds {meta['seeds'][0]}–{meta['seeds'][-1]} "
             f"({len(meta['seeds'])} per configuration) unless an experiment is deterministic")
    L.append(f"- Data: `{meta.get('data') or 'the loader default'}`")
    L.append("")
    L.append("## How to read the tables")
    L.append("")
    L.append(
        "*ours* is the mean over the seeds, with the min–max over seeds in brackets (the "
        "sections add the sample standard deviation, sd). *difference* is ours minus the book "
        "(pp: percentage points). A number the book quotes from one run is *within spread* when "
        "it lies inside our min–max or within 2 sd of our mean, and otherwise it is not (**no**); "
        "this one rule gives the verdicts, the counts and the explanations below. A "
        "deterministic result (one neuron, the SVM) must match the book's rounding. A bound the "
        "book states (\"under 87 percent\") *holds* when every seed satisfies it; `k/n` counts "
        "the seeds that do. Where the book's sentence is qualitative, the section quotes it and "
        f"states the test we read into it; a number in the *book* column marked {DERIVED_MARK} "
        "is the threshold of that test, ours and not the book's. Rows with — in the book "
        "column are information only: either the book gives no number for them or, like the "
        "SVM with gamma='scale', the book never ran that configuration. "
        "The book ran `network2` once per configuration with unseeded NumPy and Python "
        "generators, so no seed of ours replays its run: only the distributions can be compared.")
    L.append("")
    # summary
    L.append("## Summary")
    L.append("")
    L.append("| experiment | quantity | book | ours | difference | within spread? | wall time |")
    L.append("|---|---|---:|---:|---:|---|---:|")
    beyond = []
    any_derived = False
    for name, o in results.items():
        e = REGISTRY[name]
        first = True
        wall = _fmt_seconds(o.wall_seconds)
        link = f"[{name}](#{_anchor(e, name)})"
        if o.skipped or o.error:
            L.append(f"| {link} | {'skipped: ' + o.skipped if o.skipped else 'error: ' + o.error} "
                     f"| | | | | {wall} |")
            continue
        for b in e.book:
            if b.key not in o.metrics:
                continue
            c = compare(b, o.metrics[b.key])
            L.append(f"| {link if first else ''} | {b.what} | {_book_text(b)} | "
                     f"{_ours_text(b, c)} | {_diff_text(b, c)} | {c['verdict']} | "
                     f"{wall if first else ''} |")
            first = False
            any_derived = any_derived or b.derived
            if c["ok"] is False:
                beyond.append((name, e, o, b, c))
    L.append("")
    if any_derived:
        L.append(f"{DERIVED_MARK} Our test of a qualitative sentence of the book, not a number the "
                 "book gives; the experiment's section quotes the sentence.")
        L.append("")
    # differences
    L.append("## Where ours differs from the book")
    L.append("")
    pattern = _headline_pattern(results)
    if pattern:
        L.append(pattern)
        L.append("")
    if not beyond:
        L.append("Every comparison is within the run-to-run spread or holds.")
    for name, e, o, b, c in beyond:
        why = " ".join(_explanations(e, o, b, c))
        L.append(f"- **{name}: {b.what}** — book {_book_text(b)}, ours {_ours_text(b, c)}. {why}")
    L.append("")
    # sections
    L.append("## The experiments")
    L.append("")
    for name, o in results.items():
        e = REGISTRY[name]
        L.append(f"### {name}: {e.title}")
        L.append("")
        L.append(f"*Chapter section*: {e.section} · *wall time*: {_fmt_seconds(o.wall_seconds)}")
        L.append("")
        L.append(f"**The book's configuration.** {e.config}")
        L.append("")
        if e.ours:
            L.append(f"**Ours.** {e.ours}")
            L.append("")
        if o.skipped:
            L.append(f"**Not run:** {o.skipped}")
            L.append("")
            continue
        if o.error:
            L.append(f"**Failed:** `{o.error}`")
            L.append("")
            continue
        seeds = o.seeds
        ran = _ran_lines(o)
        if ran:
            L.append("**What ran** (cross-entropy cost, sigmoid neurons unless stated):")
            L.append("")
            for line in ran:
                L.append(f"- {line}")
            L.append("")
        L.append(f"Seeds: {', '.join(map(str, seeds))}." if e.seeded else
                 "Deterministic (no random numbers are drawn).")
        L.append("")
        L.append("| quantity | book | ours: mean | sd | per seed | verdict |")
        L.append("|---|---:|---:|---:|---|---|")
        for b in e.book:
            if b.key not in o.metrics:
                continue
            c = compare(b, o.metrics[b.key])
            per = ", ".join(_fmt(v, b.digits) for v in o.metrics[b.key])
            L.append(f"| {b.what} | {_book_text(b)} | {_fmt(c['mean'], b.digits, b.unit)} | "
                     f"{_fmt(c['sd'], b.digits) if c['n'] > 1 else '—'} | {per} | "
                     f"{c['verdict']} |")
        shown = {b.key for b in e.book}
        for key, label in o.labels.items():
            if key in shown or key not in o.metrics:
                continue
            c = _stats(o.metrics[key])
            per = ", ".join(_fmt(v, 2) for v in o.metrics[key])
            L.append(f"| {label} | — | {_fmt(c['mean'])} | "
                     f"{_fmt(c['sd']) if c['n'] > 1 else '—'} | {per} | — |")
        L.append("")
        quotes = [b for b in e.book if b.quote or b.reading]
        if quotes:
            L.append("What the book says, and how we test it:")
            L.append("")
            for b in quotes:
                q = f"“{b.quote}”" if b.quote else "(no sentence of its own)"
                pr = f" (the book's output: {b.printed})" if b.printed else ""
                r = f" — our test: {b.reading}" if b.reading else ""
                L.append(f"- *{b.what}*: {q}{pr}{r}")
            L.append("")
        for t in o.tables:
            L.append(t)
            L.append("")
        for n in o.notes + (e.remarks(o) if e.remarks is not None else []):
            L.append(n)
            L.append("")
        for f in o.figures:
            png = [p for p in f["files"] if p.endswith(".png")][0]
            svg = [p for p in f["files"] if p.endswith(".svg")]
            L.append(f"![{f['caption']}]({_rel(png, report_path)})")
            L.append("")
            L.append(f"*{f['caption']}*" + (f" ([SVG]({_rel(svg[0], report_path)}))" if svg else ""))
            L.append("")
        diffs = [(b, compare(b, o.metrics[b.key])) for b in e.book if b.key in o.metrics]
        diffs = [(b, c) for b, c in diffs if c["ok"] is False]
        if diffs:
            L.append("**Differences from the book.**")
            L.append("")
            for b, c in diffs:
                L.append(f"- {b.what}: " + " ".join(_explanations(e, o, b, c)))
            L.append("")
    return "\n".join(L).rstrip() + "\n"


def _blas_text(d):
    """One library of threadpoolctl's list; fields it does not know are left out."""
    head = " ".join(str(d[k]) for k in ("internal_api", "version") if d.get(k) is not None)
    bits = [str(d[k]) for k in ("library", "architecture") if d.get(k) is not None]
    if d.get("num_threads") is not None:
        bits.append(f"{d['num_threads']} thread(s) while running")
    return head + (f" ({', '.join(bits)})" if bits else "")


def _platform_text(text):
    """The operating system, architecture and C library from ``platform.platform()``,
    without the kernel's build string (which names the host's kernel, not the setup)."""
    import re
    m = re.match(r"^(\w+)-.*?-(x86_64|aarch64|arm64|i686|ppc64le|s390x|riscv64)"
                 r"(?:-with-(\w+?)(\d[\d.]*))?$", text or "")
    if not m:
        return text or "—"
    osname, arch, libc, ver = m.groups()
    return f"{osname} {arch}" + (f", {libc} {ver}" if libc else "")


def _fmt_load(load):
    if not load:
        return "—"
    return " / ".join(f"{x:.2f}" for x in load)


def _anchor(e, name):
    text = f"{name}: {e.title}".lower()
    out = []
    for ch in text:
        if ch.isalnum() or ch in "-_":
            out.append(ch)
        elif ch == " ":
            out.append("-")
    return "".join(out)


# =============================================================================
# Command line
# =============================================================================

from ._argtypes import positive_int as _positive_int  # noqa: E402


def _configure_parser(p):
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="experiments to run (see --list)")
    p.add_argument("--all", action="store_true", help="run every experiment")
    p.add_argument("--quick", action="store_true",
                   help="short versions (few images and epochs): a smoke test; the report "
                        "and figures go to a temporary directory unless --out/--report say")
    p.add_argument("--seeds", type=_positive_int, default=None, metavar="N",
                   help=f"seeds 1..N per configuration (default {DEFAULT_SEEDS}; 2 with --quick)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help=f"directory for the figures and results.json (default {DEFAULT_OUT})")
    p.add_argument("--report", default=None, metavar="PATH",
                   help=f"the markdown report (default {DEFAULT_REPORT})")
    p.add_argument("--data", default=None, metavar="PATH",
                   help="mnist.pkl.gz (default: $NNCORE_DATA, else the loader's usual search)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("--from-results", default=None, metavar="RESULTS.json",
                   help="redraw the figures and rewrite the report from a saved results.json "
                        "without training anything")
    return p


def add_reproduce_parser(subparsers):
    """Add the ``reproduce`` command to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "reproduce", help="re-run the chapter's experiments and report against the book",
        description="Re-run the experiments of chapter 3 of 'Neural Networks and Deep "
                    "Learning', save their figures (PNG and SVG) and write a markdown report "
                    "comparing each number with the book's.")
    _configure_parser(p)
    p.set_defaults(func=run_reproduce)
    return p


def _list(out=None):
    out = out if out is not None else sys.stdout
    width = max(len(n) for n in REGISTRY)
    for name, e in REGISTRY.items():
        nums = ", ".join(f"{b.value:g}" + ("%" if b.unit == "%" else "")
                         for b in e.book if b.op == "=" and b.value is not None)
        print(f"{name:<{width}}  {e.title}" + (f"  [book: {nums}]" if nums else ""), file=out)


def _describe_data_file(path):
    """``mnist.pkl.gz (sha256 1a2b3c4d5e6f…, 17,051,982 bytes)``: which file,
    without the machine's directories."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return f"{os.path.basename(path)} (sha256 {h.hexdigest()[:16]}…, " \
           f"{os.path.getsize(path):,} bytes)"


def _data_path(args):
    return args.data or os.environ.get("NNCORE_DATA") or None


def run_reproduce(args) -> int:
    """Run the ``reproduce`` command; returns the exit status."""
    if getattr(args, "list", False):
        try:
            _list()
        except BrokenPipeError:  # `nncore reproduce --list | head`
            pass
        return 0
    names = list(getattr(args, "names", []) or [])
    unknown = [n for n in names if n not in REGISTRY]
    if unknown:
        print(f"nncore reproduce: unknown experiment(s): {', '.join(unknown)}. "
              f"Choose from: {', '.join(REGISTRY)}", file=sys.stderr)
        return 2
    from_results = getattr(args, "from_results", None)
    if args.all:
        names = list(REGISTRY)
    elif not names and not from_results:
        print("nncore reproduce: name one or more experiments, or give --all "
              f"(experiments: {', '.join(REGISTRY)})", file=sys.stderr)
        return 2
    names = list(dict.fromkeys(names))  # order kept, duplicates dropped
    quick = bool(args.quick)
    if quick:
        base = Path(tempfile.gettempdir()) / "nncore-reproduce-quick"
        out_dir = Path(args.out) if args.out else base / "figures"
        report = Path(args.report) if args.report else base / "REPRODUCTION-quick.md"
    else:
        out_dir = Path(args.out) if args.out else Path(DEFAULT_OUT)
        report = Path(args.report) if args.report else Path(DEFAULT_REPORT)
    if from_results:
        return _rerender(Path(from_results), out_dir if args.out else None, report, names)
    if "training-size" in names:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            print("nncore reproduce: scikit-learn is not installed, so the SVM of "
                  "'training-size' will be skipped (pip install scikit-learn)", file=sys.stderr)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("nncore reproduce: the figures need matplotlib (pip install matplotlib, or "
              "nncore[plot])", file=sys.stderr)
        return 1
    ctx = Context(quick=quick, seeds=args.seeds, out_dir=out_dir, data_path=_data_path(args))
    argv = ["nncore", "reproduce"] + (["--all"] if args.all else names)
    if quick:
        argv.append("--quick")
    if args.seeds:
        argv += ["--seeds", str(args.seeds)]
    meta = {"command": " ".join(argv), "quick": quick, "seeds": ctx.seeds,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "data": None}
    if any(REGISTRY[n].needs_data for n in names):
        from .mnist_loader import locate_mnist
        try:
            ctx.data_path = str(locate_mnist(ctx.data_path))
        except Exception as exc:  # noqa: BLE001 - the loader's message says what to do
            print(f"nncore reproduce: {exc}", file=sys.stderr)
            return 1
        # the report names the file by its content, not by where it lies here
        meta["data"] = _describe_data_file(ctx.data_path)
    figs = _Figures(out_dir)
    t0 = time.perf_counter()
    with _pin_blas():
        meta["machine"] = machine_info()
        results = run_experiments(names, ctx, figs)
    meta["wall_seconds"] = time.perf_counter() - t0
    try:
        meta["load_end"] = list(os.getloadavg())
    except OSError:
        meta["load_end"] = None
    out_dir.mkdir(parents=True, exist_ok=True)
    payload = {"format": "nncore-reproduce", "version": 1, "meta": meta, "report": str(report),
               "results": {n: o.to_dict() for n, o in results.items()}}
    _write_text(out_dir / RESULTS_NAME, json.dumps(_json_clean(payload), separators=(",", ":")))
    _write_text(report, render_report(results, meta, report))
    print(f"nncore reproduce: wrote {report} and {len(sum((o.figures for o in results.values()), []))} "
          f"figure(s) under {out_dir}/ ({_fmt_seconds(meta['wall_seconds'])})")
    failed = [n for n, o in results.items() if o.error]
    if failed:
        print(f"nncore reproduce: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _rerender(path, out_dir, report, names):
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"nncore reproduce: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    if payload.get("format") != "nncore-reproduce":
        print(f"nncore reproduce: {path} is not a results file of nncore reproduce",
              file=sys.stderr)
        return 1
    out_dir = out_dir or path.parent
    figs = _Figures(out_dir)
    results = {}
    for name, d in payload["results"].items():
        if name not in REGISTRY or (names and name not in names):
            continue
        o = _refresh(name, Outcome.from_dict(d))
        e = REGISTRY[name]
        if o.error is None and o.skipped is None and e.plot is not None:
            o.figures = e.plot(figs, o)
        results[name] = o
    meta = dict(payload["meta"])
    meta["rerendered"] = (f"`nncore reproduce --from-results {path}` on "
                          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}")
    _write_text(report, render_report(results, meta, report))
    print(f"nncore reproduce: rewrote {report} from {path}")
    return 0


def _write_text(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def main(argv=None):
    """``python -m nncore.reproduce ...`` (the same as ``nncore reproduce``)."""
    p = _configure_parser(argparse.ArgumentParser(
        prog="nncore reproduce",
        description="Re-run the experiments of chapter 3 and report against the book."))
    args = p.parse_args(argv)
    try:
        return run_reproduce(args)
    except KeyboardInterrupt:
        print("nncore reproduce: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
