#!/usr/bin/env python3
"""Chapter 3's techniques on MNIST, compared run against run.

What runs
---------
Five groups of training runs of :class:`nncore.Network` on the book's MNIST
(50,000 training images, validation accuracy after every epoch, test
accuracy after the last).  Every configuration runs once per seed (1 and 2
by default); within a comparison the things compared share the epochs, the
layer sizes, the mini-batch size and the seeds.

``reg``
    [784,30,10], sigmoid + cross-entropy, eta 0.5: no regularization, L2
    lambda 5.0, and L1 (eq. 95) at several lambdas -- the chapter's problem:
    is there an L1 lambda that beats running unregularized?
``dropout``
    [784,100,10]: dropout p = 0 and p = 0.5 on the hidden neurons, without
    and with L2 lambda 5.0, at eta 0.5, 0.25 and 0.1; then (unless
    ``--no-wide``) [784,300,10] at one eta (``--wide-eta``).
``momentum``
    [784,30,10], L2 lambda 5.0: plain SGD (eta 0.5 and eta 0.05) against
    momentum mu = 0.5 and mu = 0.9 with eta scaled by (1 - mu) (so the
    terminal step eta/(1 - mu) stays 0.5), Nesterov at mu = 0.9, and two
    runs without the scaling (mu = 0.5 and 0.9 at eta 0.5); once for the
    full number of epochs and once for a short run (10 epochs).
``output``
    [784,30,10], L2 lambda 5.0: sigmoid output + cross-entropy against
    softmax output + log-likelihood, at eta 0.5, 0.25 and 0.1.
``neurons``
    [784,30,10], L2 lambda 5.0: sigmoid, tanh and ReLU hidden neurons.  A
    sweep of eta over a short run (5 epochs) per neuron type picks each
    type's eta (highest mean best validation accuracy over the seeds);
    then full-length runs at that eta, beside sigmoid at the book's 0.5.

A configuration that appears in more than one group (sigmoid, L2 5.0, eta
0.5, say) runs once and is reported in each.  Training is deterministic for
a given seed (the network's own generator draws the weights, the shuffles
and the dropout seeds), so a rerun gives the same numbers.

Use
---
::

    python bench/ch3_techniques.py                      # everything, ~30 min
    python bench/ch3_techniques.py --quick              # smoke run, < 1 min
    python bench/ch3_techniques.py --groups reg output --seeds 1 2 3
    python bench/ch3_techniques.py --help

Markdown goes to stdout, one progress line per run to stderr, every run
(with its per-epoch validation accuracies and epoch times) to
``bench/results/ch3_techniques.json`` (``--quick``:
``ch3_techniques-quick.json``; git-ignored).  BLAS is pinned to one thread
(``--threads``) with threadpoolctl, so timings are stable on a shared
machine.  MNIST is the book's ``mnist.pkl.gz``: ``--data PATH``, else
``$NNCORE_DATA``, else ``<repo>/../shared/data/mnist.pkl.gz``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
#: The repository: the parent of ``bench/``.
REPO_DIR = BENCH_DIR.parent
DEFAULT_JSON = BENCH_DIR / "results" / "ch3_techniques.json"
#: ``--quick`` writes here, so a smoke run never replaces a full run's results.
QUICK_JSON = BENCH_DIR / "results" / "ch3_techniques-quick.json"
DATA_ENV = "NNCORE_DATA"
SCHEMA = "nncore-bench-ch3-techniques/1"

GROUPS = ("reg", "dropout", "momentum", "output", "neurons")
#: A run whose best validation accuracy stays below this (%) did not learn.
CHANCE_LEVEL = 20.0

DEFAULTS = dict(
    seeds=[1, 2], epochs=30, short_epochs=10, sweep_epochs=5, train_size=50_000,
    mini_batch_size=10, l1=[0.3, 1.0, 3.0, 10.0, 30.0],
    dropout_etas=[0.5, 0.25, 0.1], sweep_etas=[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0],
    wide=True, wide_eta=0.25,
)
QUICK = dict(seeds=[1], epochs=2, short_epochs=1, sweep_epochs=2, train_size=5_000,
             wide=False)


# --------------------------------------------------------------------------
# Configurations
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Spec:
    """One training configuration (everything but the seed)."""

    sizes: tuple
    epochs: int
    eta: float
    mini_batch_size: int = 10
    cost: str = "cross-entropy"      # or "log-likelihood" (softmax outputs)
    activation: str = "sigmoid"      # hidden neurons
    lmbda: float = 0.0               # L2
    l1: float = 0.0
    dropout: float = 0.0
    momentum: float = 0.0
    nesterov: bool = False

    def describe(self) -> str:
        out = "softmax" if self.cost == "log-likelihood" else "sigmoid"
        parts = ["[{}]".format(",".join(map(str, self.sizes))),
                 f"{self.activation} hidden", f"{out} out + {self.cost}",
                 f"{self.epochs} epochs", f"mini-batch {self.mini_batch_size}",
                 f"eta {self.eta:g}"]
        if self.lmbda:
            parts.append(f"L2 {self.lmbda:g}")
        if self.l1:
            parts.append(f"L1 {self.l1:g}")
        if self.dropout:
            parts.append(f"dropout {self.dropout:g}")
        if self.nesterov:
            parts.append(f"Nesterov mu {self.momentum:g}")
        elif self.momentum:
            parts.append(f"momentum mu {self.momentum:g}")
        return ", ".join(parts)


@dataclasses.dataclass
class Row:
    """A configuration as shown in a comparison, with its runs (one per seed)."""

    label: str
    spec: Spec
    runs: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Section:
    """One comparison: rows compared with the first (the baseline)."""

    group: str
    title: str
    note: str
    rows: list


@dataclasses.dataclass
class Settings:
    groups: list
    seeds: list
    epochs: int
    short_epochs: int
    sweep_epochs: int
    train_size: int
    mini_batch_size: int
    l1: list
    dropout_etas: list
    sweep_etas: list
    wide: bool
    wide_eta: float
    threads: str = "1"
    dtype: str = "float64"
    data: str | None = None
    verify: bool = True
    quick: bool = False


# --------------------------------------------------------------------------
# Data and machine
# --------------------------------------------------------------------------

def default_data_path(path=None) -> Path:
    """``path`` if given, else ``$NNCORE_DATA``, else
    ``<repo>/../shared/data/mnist.pkl.gz``."""
    if path:
        return Path(path).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return REPO_DIR.parent / "shared" / "data" / "mnist.pkl.gz"


def _display_path(path: Path) -> str:
    try:
        rel = os.path.relpath(Path(path).resolve(), REPO_DIR)
    except ValueError:
        return str(path)
    return rel if rel.count("..") <= 1 else str(path)


def load_data(settings: Settings):
    from nncore import mnist_loader
    path = default_data_path(settings.data)
    if not path.is_file():
        raise FileNotFoundError(
            f"MNIST not found at {path}; pass --data PATH or set {DATA_ENV}")
    arrays = mnist_loader.load_arrays(path, dtype=np.dtype(settings.dtype),
                                      verify=settings.verify, download=False)
    n = settings.train_size
    train = (np.ascontiguousarray(arrays.X_train[:n]), arrays.y_train[:n])
    return train, (arrays.X_val, arrays.y_val), (arrays.X_test, arrays.y_test), path


def _git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_DIR, capture_output=True,
                             text=True, timeout=10, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_info() -> dict:
    import nncore
    info = {
        "cpu": _cpu_model(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "nncore": getattr(nncore, "__version__", None),
        "git_commit": _git_commit(),
    }
    try:
        from threadpoolctl import threadpool_info
        info["blas"] = [{"filepath": os.path.basename(i.get("filepath") or ""),
                         "internal_api": i.get("internal_api"), "version": i.get("version"),
                         "num_threads": i.get("num_threads")}
                        for i in threadpool_info() if i.get("user_api") == "blas"]
    except ImportError:
        info["blas"] = None
    try:
        info["loadavg_start"] = list(os.getloadavg())
    except OSError:
        pass
    return info


@contextlib.contextmanager
def blas_threads(setting: str):
    """Limit every BLAS library to ``setting`` threads ("default": leave
    them alone).  Without threadpoolctl, say so and run unlimited."""
    if str(setting).lower() == "default":
        yield "default"
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        print("warning: threadpoolctl is not installed; BLAS threads not limited "
              "(set OPENBLAS_NUM_THREADS=1 yourself)", file=sys.stderr)
        yield "default (threadpoolctl missing)"
        return
    with threadpool_limits(limits=int(setting), user_api="blas"):
        yield str(int(setting))


# --------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------

class Runner:
    """Trains configurations, once per (configuration, seed)."""

    def __init__(self, train, val, test, settings: Settings):
        self.train, self.val, self.test = train, val, test
        self.settings = settings
        self.cache = {}
        self.count = 0

    def runs(self, spec: Spec) -> list:
        return [self.run(spec, seed) for seed in self.settings.seeds]

    def run(self, spec: Spec, seed: int) -> dict:
        key = (spec, seed)
        if key in self.cache:
            return self.cache[key]
        import nncore
        cost = {"cross-entropy": nncore.CrossEntropyCost,
                "log-likelihood": nncore.LogLikelihoodCost}[spec.cost]
        self.count += 1
        t0 = time.perf_counter()
        record = {"spec": dataclasses.asdict(spec), "description": spec.describe(),
                  "seed": seed, "error": None}
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                net = nncore.Network(list(spec.sizes), cost=cost, activation=spec.activation,
                                     seed=seed, dtype=np.dtype(self.settings.dtype))
                h = net.SGD(self.train, spec.epochs, spec.mini_batch_size, spec.eta,
                            lmbda=spec.lmbda, evaluation_data=self.val,
                            monitor_evaluation_accuracy=True, l1=spec.l1,
                            dropout=spec.dropout, momentum=spec.momentum,
                            nesterov=spec.nesterov, verbose=False, progress=False)
                n_val, n_test = len(self.val[1]), len(self.test[1])
                val = [100.0 * a / n_val for a in h.evaluation_accuracy]
                test = 100.0 * net.accuracy(self.test) / n_test
                finite = bool(np.all(np.isfinite(net.parameters)))
            # Newer nncore stops training when the weights become NaN or
            # infinite (with a warning) and says why in History.stop_reason.
            stop_reason = getattr(h, "stop_reason", "completed")
            record["stop_reason"] = stop_reason
            record["warnings"] = sorted({str(w.message) for w in caught})
            if not val:
                raise RuntimeError(f"no epoch completed (stop reason: {stop_reason}; "
                                   + "; ".join(record["warnings"]) + ")")
        except Exception as exc:  # report it and carry on with the other runs
            record["error"] = f"{type(exc).__name__}: {exc}"
            record["wall_seconds"] = time.perf_counter() - t0
            print(f"[{self.count}] {spec.describe()}, seed {seed}: ERROR {record['error']}",
                  file=sys.stderr, flush=True)
            self.cache[key] = record
            return record
        best = int(np.argmax(val))  # the first epoch reaching the maximum
        notes = []
        if not finite:
            notes.append("NaN/inf parameters")
        if stop_reason != "completed" or len(val) < spec.epochs:
            notes.append(f"stopped after {len(val)} epochs ({stop_reason})")
        if max(val) < CHANCE_LEVEL:
            notes.append("did not learn")
        record.update(
            val_accuracy=val,
            best_val=val[best],
            best_epoch=best + 1,
            final_val=val[-1],
            val_epoch1=val[0],
            test=test,
            epoch_seconds=list(h.epoch_seconds),
            seconds_per_epoch=float(np.mean(h.epoch_seconds)),
            finite=finite,
            notes=notes,
            wall_seconds=time.perf_counter() - t0,
        )
        print(f"[{self.count}] {spec.describe()}, seed {seed}: best val {val[best]:.2f}% "
              f"(epoch {best + 1}), final val {val[-1]:.2f}%, test {test:.2f}%, "
              f"{record['seconds_per_epoch']:.2f} s/epoch, {record['wall_seconds']:.0f} s"
              + (f"  [{'; '.join(notes)}]" if notes else ""),
              file=sys.stderr, flush=True)
        self.cache[key] = record
        return record

    def rows(self, pairs) -> list:
        rows = []
        for label, spec in pairs:
            row = Row(label, spec)
            row.runs = self.runs(spec)
            rows.append(row)
        return rows


def _mean_metric(row: Row, metric: str) -> float:
    vals = [r[metric] for r in row.runs if r.get("error") is None]
    return float(np.mean(vals)) if vals else float("-inf")


# --------------------------------------------------------------------------
# The groups
# --------------------------------------------------------------------------

def group_reg(runner: Runner, s: Settings) -> list:
    base = Spec((784, 30, 10), s.epochs, 0.5, s.mini_batch_size)
    pairs = [("none", base), ("L2 λ=5", dataclasses.replace(base, lmbda=5.0))]
    pairs += [(f"L1 λ={v:g}", dataclasses.replace(base, l1=v)) for v in s.l1]
    return [Section("reg", "Regularization: none vs L2 vs L1",
                    f"[784,30,10], sigmoid + cross-entropy, {s.epochs} epochs, mini-batch "
                    f"{s.mini_batch_size}, η = 0.5. L1 is eq. (95): (λ/n) Σ|w|, each step "
                    "w → w − (ηλ/n) sgn(w) − η ∂C₀/∂w.", runner.rows(pairs))]


def group_dropout(runner: Runner, s: Settings) -> list:
    sections = []
    pairs = []
    for eta in s.dropout_etas:
        for lmbda in (0.0, 5.0):
            for p in (0.0, 0.5):
                spec = Spec((784, 100, 10), s.epochs, eta, s.mini_batch_size, lmbda=lmbda,
                            dropout=p)
                pairs.append((f"η={eta:g}, λ={lmbda:g}, p={p:g}", spec))
    sections.append(Section(
        "dropout", "Dropout: [784,100,10]",
        f"Sigmoid + cross-entropy, {s.epochs} epochs, mini-batch {s.mini_batch_size}; "
        "p is the probability of dropping each hidden neuron (a new subset per "
        "mini-batch; inverted dropout, so the full network is evaluated as trained). "
        "Δ test is against the first row; compare p=0.5 with the p=0 row just above it.",
        runner.rows(pairs)))
    if s.wide:
        pairs = []
        for lmbda in (0.0, 5.0):
            for p in (0.0, 0.5):
                spec = Spec((784, 300, 10), s.epochs, s.wide_eta, s.mini_batch_size,
                            lmbda=lmbda, dropout=p)
                pairs.append((f"η={s.wide_eta:g}, λ={lmbda:g}, p={p:g}", spec))
        sections.append(Section(
            "dropout", "Dropout: [784,300,10]",
            f"As above with 300 hidden neurons, η = {s.wide_eta:g}.", runner.rows(pairs)))
    return sections


def _epochs(n: int) -> str:
    return f"{n} epoch" + ("" if n == 1 else "s")


def _momentum_pairs(epochs, s: Settings):
    base = Spec((784, 30, 10), epochs, 0.5, s.mini_batch_size, lmbda=5.0)
    r = dataclasses.replace
    return [
        ("plain, η=0.5", base),
        ("plain, η=0.05", r(base, eta=0.05)),
        ("μ=0.5, η=0.25 (=0.5·(1−μ))", r(base, eta=0.25, momentum=0.5)),
        ("μ=0.9, η=0.05 (=0.5·(1−μ))", r(base, eta=0.05, momentum=0.9)),
        ("Nesterov μ=0.9, η=0.05", r(base, eta=0.05, momentum=0.9, nesterov=True)),
        ("μ=0.5, η=0.5 (unscaled)", r(base, momentum=0.5)),
        ("μ=0.9, η=0.5 (unscaled)", r(base, momentum=0.9)),
    ]


def group_momentum(runner: Runner, s: Settings) -> list:
    note = ("[784,30,10], sigmoid + cross-entropy, L2 λ = 5, mini-batch "
            f"{s.mini_batch_size}. v → μv − η∇C, w → w + v (eqs. 107–108); with η scaled "
            "by (1−μ) the steady-state step η/(1−μ) equals plain SGD's 0.5. Plain η=0.05 "
            "is the equal-η reference for the μ=0.9 rows.")
    sections = [Section("momentum", f"Momentum: {_epochs(s.epochs)}", note,
                        runner.rows(_momentum_pairs(s.epochs, s)))]
    if s.short_epochs and s.short_epochs != s.epochs:
        sections.append(Section(
            "momentum", f"Momentum: short run, {_epochs(s.short_epochs)}",
            "Same configurations and seeds, stopped early (the first epochs are the same "
            "as the long run's, since training is deterministic per seed).",
            runner.rows(_momentum_pairs(s.short_epochs, s))))
    return sections


def group_output(runner: Runner, s: Settings) -> list:
    base = Spec((784, 30, 10), s.epochs, 0.5, s.mini_batch_size, lmbda=5.0)
    pairs = [("sigmoid + cross-entropy, η=0.5", base),
             ("sigmoid + cross-entropy, η=0.1", dataclasses.replace(base, eta=0.1))]
    pairs += [(f"softmax + log-likelihood, η={eta:g}",
               dataclasses.replace(base, eta=eta, cost="log-likelihood"))
              for eta in (0.5, 0.25, 0.1)]
    return [Section("output", "Output layer: softmax + log-likelihood vs sigmoid + cross-entropy",
                    f"[784,30,10], sigmoid hidden neurons, L2 λ = 5, {s.epochs} epochs, "
                    f"mini-batch {s.mini_batch_size}.", runner.rows(pairs))]


def group_neurons(runner: Runner, s: Settings) -> list:
    sweep_pairs = []
    for act in ("sigmoid", "tanh", "relu"):
        for eta in s.sweep_etas:
            sweep_pairs.append((f"{act}, η={eta:g}",
                                Spec((784, 30, 10), s.sweep_epochs, eta, s.mini_batch_size,
                                     activation=act, lmbda=5.0)))
    sweep = Section("neurons", f"Hidden neurons: η sweep, {_epochs(s.sweep_epochs)}",
                    "[784,30,10], sigmoid output + cross-entropy, L2 λ = 5. Default weights "
                    "N(0,1)/√n_in (ReLU: ×√2, biases ×0.1). Δ test is against the first row.",
                    runner.rows(sweep_pairs))
    chosen = {}
    for act in ("sigmoid", "tanh", "relu"):
        rows = [r for r in sweep.rows if r.spec.activation == act]
        # highest mean best-validation accuracy; ties go to the smaller eta
        best = max(rows, key=lambda r: (_mean_metric(r, "best_val"), -r.spec.eta))
        chosen[act] = best.spec.eta
    base = Spec((784, 30, 10), s.epochs, 0.5, s.mini_batch_size, lmbda=5.0)
    pairs = [("sigmoid, η=0.5 (book)", base)]
    for act in ("sigmoid", "tanh", "relu"):
        if act == "sigmoid" and chosen[act] == 0.5:
            continue
        pairs.append((f"{act}, η={chosen[act]:g} (sweep's best)",
                      dataclasses.replace(base, activation=act, eta=chosen[act])))
    full = Section("neurons", f"Hidden neurons: {_epochs(s.epochs)} at the sweep's η",
                   "η per neuron type: the one with the highest mean best validation accuracy "
                   f"in the {s.sweep_epochs}-epoch sweep above. L2 λ = 5.",
                   runner.rows(pairs))
    return [sweep, full]


GROUP_FUNCS = {"reg": group_reg, "dropout": group_dropout, "momentum": group_momentum,
               "output": group_output, "neurons": group_neurons}


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def _stat(values, digits=2) -> str:
    """mean ± spread, the spread being half the range (so mean ± spread
    covers every seed's value); a single value alone."""
    values = [v for v in values if v is not None]
    if not values:
        return "—"
    mean = float(np.mean(values))
    if len(values) == 1:
        return f"{mean:.{digits}f}"
    spread = (max(values) - min(values)) / 2
    return f"{mean:.{digits}f} ± {spread:.{digits}f}"


def _ok(runs):
    return [r for r in runs if r.get("error") is None]


def section_markdown(sec: Section) -> str:
    lines = [f"### {sec.title}", "", sec.note, "",
             "| configuration | best val % | epoch of best | final val % | test % | Δ test "
             "| val % after epoch 1 | s/epoch | notes |",
             "|---|---|---|---|---|---|---|---|---|"]
    base_test = _mean_metric(sec.rows[0], "test") if sec.rows else None
    for row in sec.rows:
        ok = _ok(row.runs)
        notes = sorted({n for r in row.runs for n in r.get("notes", [])}
                       | {"error" for r in row.runs if r.get("error")})
        if ok:
            t = _mean_metric(row, "test")
            delta = ("—" if row is sec.rows[0] or not np.isfinite(base_test)
                     else f"{t - base_test:+.2f}")
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                row.label, _stat([r["best_val"] for r in ok]),
                ", ".join(str(r["best_epoch"]) for r in ok),
                _stat([r["final_val"] for r in ok]), _stat([r["test"] for r in ok]),
                delta, _stat([r["val_epoch1"] for r in ok]),
                _stat([r["seconds_per_epoch"] for r in ok], 3), "; ".join(notes)))
        else:
            lines.append(f"| {row.label} | — | — | — | — | — | — | — | {'; '.join(notes)} |")
    return "\n".join(lines)


def runs_markdown(sections) -> str:
    lines = ["| group | configuration | seed | best val % | epoch of best | final val % "
             "| test % | val % after epoch 1 | s/epoch | notes |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for sec in sections:
        for row in sec.rows:
            for r in row.runs:
                if r.get("error"):
                    lines.append(f"| {sec.title} | {row.label} | {r['seed']} | — | — | — | — "
                                 f"| — | — | {r['error']} |")
                    continue
                lines.append("| {} | {} | {} | {:.2f} | {} | {:.2f} | {:.2f} | {:.2f} | "
                             "{:.3f} | {} |".format(
                                 sec.title, row.label, r["seed"], r["best_val"],
                                 r["best_epoch"], r["final_val"], r["test"], r["val_epoch1"],
                                 r["seconds_per_epoch"], "; ".join(r["notes"])))
    return "\n".join(lines)


def to_markdown(result: dict, sections) -> str:
    s = result["settings"]
    head = [
        "## Chapter 3 techniques on MNIST" + (" (quick smoke run)" if s["quick"] else ""),
        "",
        f"Training on {s['train_size']:,} images, validation on "
        f"{result['n_validation']:,}, test on {result['n_test']:,}; seeds "
        f"{', '.join(map(str, s['seeds']))}; {s['dtype']}; BLAS threads: "
        f"{result['blas_threads']}; {result['runs']} training runs in "
        f"{result['wall_seconds'] / 60:.1f} min (git {str(result['machine']['git_commit'])[:10]}, "
        f"{result['machine']['cpu']}).",
        "",
        "Accuracies in %. Each cell is the mean over the seeds ± half the range between "
        "them. *best val*: highest validation accuracy over the epochs; *epoch of best*: "
        "per seed, counting from 1; *final val* and *test*: after the last epoch; "
        "*Δ test*: mean test minus the first row's; *s/epoch*: training time per epoch "
        "(evaluation excluded).",
    ]
    body = [section_markdown(sec) for sec in sections]
    tail = ["### All runs", "", runs_markdown(sections)]
    return "\n\n".join(["\n".join(head)] + body + ["\n".join(tail)]) + "\n"


def write_json(result: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------

def run(settings: Settings):
    """Run the selected groups; returns ``(result, sections)``: the JSON-ready
    result and the :class:`Section` list the markdown is made from."""
    t0 = time.perf_counter()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    train, val, test, path = load_data(settings)
    sections = []
    with blas_threads(settings.threads) as threads_used:
        machine = machine_info()
        runner = Runner(train, val, test, settings)
        for group in settings.groups:
            print(f"== {group}", file=sys.stderr, flush=True)
            sections.extend(GROUP_FUNCS[group](runner, settings))
    wall = time.perf_counter() - t0
    try:
        machine["loadavg_end"] = list(os.getloadavg())
    except OSError:
        pass
    result = {
        "schema": SCHEMA,
        "started": started,
        "wall_seconds": wall,
        "runs": runner.count,
        "blas_threads": threads_used,
        "data": _display_path(path),
        "n_training": len(train[1]),
        "n_validation": len(val[1]),
        "n_test": len(test[1]),
        "settings": dataclasses.asdict(settings),
        "machine": machine,
        "sections": [
            {"group": sec.group, "title": sec.title, "note": sec.note,
             "rows": [{"label": row.label, "spec": dataclasses.asdict(row.spec),
                       "description": row.spec.describe(), "runs": row.runs}
                      for row in sec.rows]}
            for sec in sections
        ],
    }
    return result, sections


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Run chapter 3's techniques (L1/L2, dropout, momentum, softmax, "
                    "tanh/ReLU) on MNIST and report a markdown table.")
    p.add_argument("--groups", nargs="+", choices=GROUPS, default=list(GROUPS),
                   help="comparisons to run (default: all)")
    p.add_argument("--epochs", type=int, help="epochs of the full-length runs (default 30)")
    p.add_argument("--short-epochs", type=int,
                   help="epochs of momentum's short run (default 10; 0 to skip)")
    p.add_argument("--sweep-epochs", type=int,
                   help="epochs of the neurons group's eta sweep (default 5)")
    p.add_argument("--seeds", type=int, nargs="+", help="seeds (default 1 2)")
    p.add_argument("--train-size", type=int, help="training images (default 50,000)")
    p.add_argument("--mini-batch-size", type=int, help="default 10")
    p.add_argument("--l1", type=float, nargs="+",
                   help="L1 lambdas of the reg group (default 0.3 1 3 10 30)")
    p.add_argument("--dropout-etas", type=float, nargs="+",
                   help="etas of the [784,100,10] dropout runs (default 0.5 0.25 0.1)")
    p.add_argument("--sweep-etas", type=float, nargs="+",
                   help="etas of the neuron sweep (default 0.01 0.025 0.05 0.1 0.25 0.5 1)")
    p.add_argument("--wide", dest="wide", action="store_true", default=None,
                   help="also run dropout on [784,300,10] (default, except with --quick)")
    p.add_argument("--no-wide", dest="wide", action="store_false")
    p.add_argument("--wide-eta", type=float, help="eta of the [784,300,10] runs (default 0.25)")
    p.add_argument("--threads", default="1",
                   help="BLAS threads, via threadpoolctl (default 1; 'default' leaves BLAS alone)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--data", help=f"mnist.pkl.gz (default: ${DATA_ENV}, else "
                                  "<repo>/../shared/data/mnist.pkl.gz)")
    p.add_argument("--no-verify", dest="verify", action="store_false",
                   help="load a data file whose SHA-256 is not the book's")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 1 seed, 2 epochs, 5,000 training images, no wide net")
    p.add_argument("--json", type=Path, help=f"results file (default {DEFAULT_JSON.relative_to(REPO_DIR)})")
    p.add_argument("--no-json", action="store_true", help="write no JSON")
    args = p.parse_args(argv)
    values = dict(DEFAULTS)
    if args.quick:
        values.update(QUICK)
    for name in DEFAULTS:
        given = getattr(args, name)
        if given is not None:
            values[name] = given
    if args.threads.lower() != "default":
        try:
            if int(args.threads) < 1:
                raise ValueError
        except ValueError:
            p.error(f"--threads must be a positive count or 'default', got {args.threads!r}")
    if values["epochs"] < 1 or values["sweep_epochs"] < 1 or values["short_epochs"] < 0:
        p.error("epochs must be positive")
    if not 1 <= values["train_size"] <= 50_000:
        p.error("--train-size must lie in 1..50000")
    if values["mini_batch_size"] < 1:
        p.error("--mini-batch-size must be positive")
    groups = list(dict.fromkeys(args.groups))
    settings = Settings(groups=groups, threads=args.threads, dtype=args.dtype, data=args.data,
                        verify=args.verify, quick=args.quick, **values)
    json_path = None if args.no_json else (args.json or (QUICK_JSON if args.quick else DEFAULT_JSON))
    return settings, json_path


def main(argv=None) -> int:
    settings, json_path = parse_args(argv)
    result, sections = run(settings)
    print(to_markdown(result, sections), end="")
    if json_path is not None:
        write_json(result, json_path)
        print(f"results written to {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
