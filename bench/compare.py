#!/usr/bin/env python3
"""nncore against the NumPy references, PyTorch and scikit-learn, and against
the arithmetic limit of the machine: one SGD epoch on MNIST.

What runs
---------
For every combination of layer sizes (default ``784,30,10``, ``784,100,10``,
``784,800,10``), mini-batch size (1, 10, 100, 1000), dtype (float64, float32)
and BLAS thread count (1, 2), in one process on one machine, one epoch of
the book's network (sigmoid neurons, sigmoid outputs, cross-entropy cost,
L2 weight decay; eta 0.5, lmbda 5.0) over the 50,000 MNIST training images:

``nncore``
    :func:`nncore.native.sgd_epoch`: the whole epoch in one native call.
``numpy``
    ``nncore_reference.matrix.sgd_epoch``: NumPy, one mini-batch at a time
    as matrices.
``per-example``
    ``nncore_reference.per_example.sgd_epoch``: the book's algorithm, one
    example at a time (float64 only).
``torch``
    PyTorch on the CPU, an idiomatic loop: ``nn.Sequential(nn.Linear,
    nn.Sigmoid, ..., nn.Linear)``; the loss ``BCEWithLogitsLoss(
    reduction="sum")(logits, y) / m`` (the book's sigmoid cross-entropy,
    summed over the 10 outputs, averaged over the m examples of the
    mini-batch); ``torch.optim.SGD(lr=eta)`` with two parameter groups,
    ``weight_decay=lmbda/n`` on the weights and 0 on the biases, which is
    network2's step W <- (1 - eta*lmbda/n) W - (eta/m) sum dC/dW; the
    shuffle is an index permutation (``X[perm[k:k+m]]``), the same order
    every other implementation follows; ``zero_grad / backward / step`` per
    mini-batch; ``torch.set_num_threads(t)``.  The dtype is chosen with
    ``torch.set_default_dtype`` while the model is built.
``sklearn``
    ``MLPClassifier(hidden_layer_sizes=..., activation="logistic",
    solver="sgd", learning_rate="constant", learning_rate_init=eta,
    momentum=0, nesterovs_momentum=False, batch_size=m,
    alpha=lmbda*m/n, max_iter=1, shuffle=False, warm_start=True)`` and one
    ``fit(X[order], Y[order])`` per epoch.  Given one-hot targets (a
    multilabel indicator), scikit-learn uses logistic outputs and its
    ``binary_log_loss`` -- exactly the book's cost.  Its L2 term enters the
    gradient as ``(sum dC/dW + alpha W) / m`` (``_compute_loss_grad``), so
    the decay per step is eta*alpha/m, and alpha = lmbda*m/n gives network2's
    (1 - eta*lmbda/n).  ``shuffle=False`` on rows gathered in the shared
    order (the gather is inside the timer, where scikit-learn's own shuffle
    would be) makes it follow the same mini-batches as everybody else.
``floor``
    ``nncore._core.blas_only_epoch``: only the matrix products of an epoch,
    same shapes, no element-wise work: what BLAS alone costs.

Every implementation starts from the same weights (``init_params``, fixed
seed; float32 = the float64 draws rounded) and follows the same shuffled
order, so all of them compute the same network: the accuracy on the 10,000
test images after the timed epoch, and ``Δθ`` (max |θ − θ_ref| / max
|θ_ref| against the float64 NumPy reference on the same examples), are in
the table beside each time.

The limit
---------
Before the configurations of each thread section, large square GEMMs
(``--gemm-size``, 2048 by default) through scipy's BLAS (the library nncore
calls) and numpy's give the machine's throughput in GFLOP/s.  For each
configuration the report gives the floating-point work of an epoch,

    FLOPs = 2 n (2 S + S') ,   S = sum_l n_in n_out,  S' = the same sum without
                                the first layer,

(forward products, weight-gradient products, and the backward products
delta . W that only layers above the first need) -- the rougher count
``3 x 2 x n x S`` is recorded too -- the time that arithmetic alone needs at
the measured peak (``bound``: the best of the GEMMs timed between the
configuration's repetitions, one per repetition and dtype, since on a shared
machine the throughput moves by a third within minutes; the figure at the
section's best peak is kept beside it), the time the same-shaped BLAS products take
(``floor``), and nncore's time as a multiple of both.

Method
------
* Implementations alternate within each repetition, the first one rotating;
  medians (min–max beside them).  Only the training call is timed; inputs
  are converted beforehand; the garbage collector is off while the clock
  runs; every implementation gets an untimed warm-up.
* Slow runs are sampled: a calibration run projects each implementation's
  epoch time, and one whose projection exceeds ``--max-seconds`` is timed on
  the first N examples of the shuffled order (n = 50,000 still in the decay
  factor, so each step is the one the full epoch takes) and scaled by 50,000/N
  (rows marked †; their accuracy is after those N examples).
* At mini-batch 1 the slow implementations (numpy, per-example, torch,
  sklearn) are skipped unless ``--slow-at-batch-1`` asks for them.
* Each run also records its CPU time: at one thread, CPU/wall well below 1
  means the process was waiting for a core someone else held.
* The 1-minute load average is recorded before and after every
  configuration.  On the 2-core shared machines this was written for, the
  2-thread rows are only as good as the other core was idle.

Use::

    python bench/compare.py --quick          # smoke run, ~1 minute
    python bench/compare.py --slow-at-batch-1  # the full comparison, long
    python bench/compare.py --sizes 784,30,10 --batch-sizes 10 --threads 1 \\
        --frameworks nncore torch --dtypes float64

Markdown to stdout, progress to stderr, every measurement to
``bench/results/compare.json`` (``--quick``: ``compare-quick.json``).
``bench/make_performance_doc.py`` turns the JSON into ``docs/PERFORMANCE.md``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import math
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))
import bench_epoch as be  # noqa: E402  (machine info, BLAS info, data, timing)

REPO_DIR = BENCH_DIR.parent
DEFAULT_JSON = BENCH_DIR / "results" / "compare.json"
QUICK_JSON = BENCH_DIR / "results" / "compare-quick.json"
SCHEMA = "nncore-bench-compare/1"
#: Slowest repetition over fastest above this: flagged ‡ (see bench_epoch).
UNSTABLE_SPREAD = be.UNSTABLE_SPREAD
#: A one-thread run whose CPU time is below this fraction of its wall time
#: spent part of the time waiting for a core.
DESCHEDULED = 0.85


# --------------------------------------------------------------------------
# What runs
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Runner:
    """One implementation in one dtype."""

    name: str        #: key in the JSON: "<framework>-f64" / "-f32"
    framework: str   #: nncore, numpy, per-example, torch, sklearn, floor
    dtype: str       #: float64 or float32

    @property
    def label(self) -> str:
        return FRAMEWORKS[self.framework]

    @property
    def slow(self) -> bool:
        """Skipped at mini-batch 1 unless asked for."""
        return self.framework in SLOW_FRAMEWORKS


#: Framework key -> the name in the tables.
FRAMEWORKS = {
    "nncore": "nncore",
    "numpy": "NumPy matrix reference",
    "per-example": "per-example reference",
    "torch": "PyTorch (CPU)",
    "sklearn": "scikit-learn MLPClassifier",
    "floor": "BLAS products alone (floor)",
}
SLOW_FRAMEWORKS = ("numpy", "per-example", "torch", "sklearn")
#: bench_epoch's implementation for the frameworks it already knows.
_BE_IMPL = {("nncore", "float64"): "native-f64", ("nncore", "float32"): "native-f32",
            ("numpy", "float64"): "matrix-f64", ("numpy", "float32"): "matrix-f32",
            ("per-example", "float64"): "per-example",
            ("floor", "float64"): "floor-f64", ("floor", "float32"): "floor-f32"}
_SUFFIX = {"float64": "f64", "float32": "f32"}
ORACLE = "numpy-f64"


def runners_for(frameworks, dtypes) -> list:
    out = []
    for fw in frameworks:
        for dt in dtypes:
            if fw == "per-example" and dt != "float64":
                continue   # the book's algorithm is float64 only
            out.append(Runner(f"{fw}-{_SUFFIX[dt]}", fw, dt))
    return out


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Config:
    sizes: list = dataclasses.field(
        default_factory=lambda: [[784, 30, 10], [784, 100, 10], [784, 800, 10]])
    batch_sizes: list = dataclasses.field(default_factory=lambda: [1, 10, 100, 1000])
    dtypes: list = dataclasses.field(default_factory=lambda: ["float64", "float32"])
    threads: list = dataclasses.field(default_factory=lambda: [1, 2])
    frameworks: list = dataclasses.field(default_factory=lambda: list(FRAMEWORKS))
    repeats: int = 3
    train_size: int = 50_000
    #: A run projected to take longer than this is timed on a sample.
    max_seconds: float = 5.0
    #: ... of at least this many examples.
    min_examples: int = 2_000
    #: Examples of the calibration run that makes the projection.
    calibration_examples: int = 1_000
    slow_at_batch_1: bool = False
    eta: float = 0.5
    lmbda: float = 5.0
    seed: int = 2024
    gemm_size: int = 2048
    gemm_repeats: int = 5
    #: Seconds of rest before each timed run of the two-thread section:
    #: after a call on two threads OpenBLAS's second thread spins for about
    #: 0.1 s, and a two-thread run started then shares a core with it
    #: (nncore's 784-30-10 epoch at mini-batch 100, float32: 0.117 s right
    #: after a two-thread sgemm, 0.035 s after a 0.3 s pause).
    settle_seconds: float = 0.2
    #: Time nncore on 1/4, 1/2 and all of the examples (one thread).
    scaling: bool = True
    #: Rounds of that (at least): its runs are short (0.07-0.3 s).  With
    #: three, one full run's medians gave 5.40-6.55 us per example for one
    #: configuration on a busy machine; nine rounds, 4.68-4.71 on a quiet one.
    scaling_repeats: int = 9
    scaling_sizes: list = dataclasses.field(default_factory=lambda: [784, 100, 10])
    scaling_batch_sizes: list = dataclasses.field(default_factory=lambda: [10, 100])
    data: str | None = None
    quick: bool = False

    def validate(self) -> None:
        bad = [f for f in self.frameworks if f not in FRAMEWORKS]
        if bad:
            raise ValueError(f"unknown framework(s) {bad}; choose from {list(FRAMEWORKS)}")
        bad = [d for d in self.dtypes if d not in _SUFFIX]
        if bad:
            raise ValueError(f"unknown dtype(s) {bad}; choose from float64 float32")
        for s in self.sizes + [self.scaling_sizes]:
            if len(s) < 2 or s[0] != 784 or s[-1] != 10 or min(s) < 1:
                raise ValueError(f"MNIST needs sizes like 784,...,10, got {s}")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError("mini-batch sizes must be >= 1")
        if any(int(t) < 1 for t in self.threads):
            raise ValueError("thread counts must be >= 1")
        if self.repeats < 1 or not 1 <= self.train_size <= 50_000:
            raise ValueError("need repeats >= 1 and train_size in 1..50000")
        if self.max_seconds <= 0 or self.min_examples < 1:
            raise ValueError("max_seconds must be > 0 and min_examples >= 1")


def quick_config(**overrides) -> Config:
    """Smoke run: 784,30,10 at mini-batch 10 and 100, one thread, 10,000
    images, 2 repetitions, small GEMMs."""
    settings = dict(sizes=[[784, 30, 10]], batch_sizes=[10, 100], threads=[1], repeats=2,
                    train_size=10_000, max_seconds=1.0, min_examples=1_000,
                    calibration_examples=500, gemm_size=1024, gemm_repeats=3,
                    scaling_batch_sizes=[10], scaling_sizes=[784, 30, 10], scaling_repeats=3,
                    quick=True)
    settings.update(overrides)
    return Config(**settings)


# --------------------------------------------------------------------------
# FLOPs and the GEMM throughput
# --------------------------------------------------------------------------

def epoch_flops(sizes, n) -> dict:
    """Floating-point operations of one epoch's matrix products."""
    pairs = list(zip(sizes[:-1], sizes[1:]))
    s_all = sum(a * b for a, b in pairs)
    s_up = sum(a * b for a, b in pairs[1:])
    return {"sum_nin_nout": s_all,
            "exact": 2 * n * (2 * s_all + s_up),
            "formula_3x": 3 * 2 * n * s_all}


def _gemm_once(lib: str, dtype: str, a, b, c):
    if lib == "scipy":
        from scipy.linalg import blas
        fn = blas.dgemm if dtype == "float64" else blas.sgemm
        return fn(1.0, a, b, beta=0.0, c=c, overwrite_c=1)
    return np.matmul(a, b, out=c)


_GEMM_ARRAYS: dict = {}


def _gemm_arrays(lib: str, dtype: str, size: int) -> tuple:
    """The operands of ``lib``'s size^3 GEMM in ``dtype``, made once."""
    key = (lib, dtype, size)
    if key not in _GEMM_ARRAYS:
        rng = np.random.default_rng(0)
        order = "F" if lib == "scipy" else "C"
        a = np.asarray(rng.standard_normal((size, size)), dtype=dtype, order=order)
        b = np.asarray(rng.standard_normal((size, size)), dtype=dtype, order=order)
        _GEMM_ARRAYS[key] = (a, b, np.zeros((size, size), dtype=dtype, order=order))
    return _GEMM_ARRAYS[key]


def gemm_seconds(size: int, dtype: str) -> float:
    """One size^3 GEMM through scipy's BLAS, under the caller's thread
    limit: the machine's throughput at this moment."""
    a, b, c = _gemm_arrays("scipy", dtype, size)
    t, _ = be._time_call(lambda: _gemm_once("scipy", dtype, a, b, c))
    return t


def measure_gemm(size: int, repeats: int, dtypes, progress) -> list:
    """GFLOP/s of size^3 GEMMs through scipy's BLAS (the one nncore calls)
    and numpy's, alternating; under the caller's thread limit."""
    out = []
    flops = 2.0 * size ** 3
    for dt in dtypes:
        arrs = {}
        for lib in ("scipy", "numpy"):
            a, b, c = _gemm_arrays(lib, dt, size)
            _gemm_once(lib, dt, a, b, c)   # warm-up (threads start, pages touched)
            arrs[lib] = (a, b, c)
        secs = {lib: [] for lib in arrs}
        for _ in range(repeats):
            for lib, (a, b, c) in arrs.items():
                t, _ = be._time_call(lambda: _gemm_once(lib, dt, a, b, c))
                secs[lib].append(t)
        for lib, s in secs.items():
            row = {"library": lib, "dtype": dt, "size": size, "seconds": s,
                   "gflops_best": flops / min(s) / 1e9,
                   "gflops_median": flops / statistics.median(s) / 1e9}
            out.append(row)
            progress(f"  GEMM {size}^3 {dt} {lib}: {row['gflops_best']:.1f} GFLOP/s best, "
                     f"{row['gflops_median']:.1f} median")
    return out


def peak_gflops(section: Mapping, dtype: str) -> float | None:
    """The section's best GFLOP/s for ``dtype`` through scipy's BLAS."""
    rows = [g for g in section.get("gemm", []) + section.get("gemm_end", [])
            if g["dtype"] == dtype and g["library"] == "scipy"]
    return max((g["gflops_best"] for g in rows), default=None)


# --------------------------------------------------------------------------
# PyTorch and scikit-learn
# --------------------------------------------------------------------------

def _try_import(name):
    try:
        return __import__(name)
    except ImportError:
        return None


class _Torch:
    """The idiomatic PyTorch loop on one configuration."""

    def __init__(self, work):
        import torch
        self.torch = torch
        self.work = work
        a = work.arrays
        self.X = {dt: torch.from_numpy(a["X"][dt]) for dt in _SUFFIX}
        self.Y = {dt: torch.from_numpy(a["Y"][dt]) for dt in _SUFFIX}
        self.X_test = {dt: torch.from_numpy(a["X_test"][dt]) for dt in _SUFFIX}
        self.perm = torch.from_numpy(work.order.astype(np.int64))

    def model(self, dtype):
        torch, nn = self.torch, self.torch.nn
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64 if dtype == "float64" else torch.float32)
        try:
            layers = []
            sizes = self.work.sizes
            for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
                layers.append(nn.Linear(n_in, n_out))
                if i < len(sizes) - 2:
                    layers.append(nn.Sigmoid())
            model = nn.Sequential(*layers)
        finally:
            torch.set_default_dtype(previous)
        weights, biases = self.work.params[dtype]
        linears = [m for m in model if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for lin, w, b in zip(linears, weights, biases):
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
                lin.bias.copy_(torch.from_numpy(np.ascontiguousarray(b).ravel()))
        return model, linears

    def call(self, dtype, count):
        torch, nn = self.torch, self.torch.nn
        cfg, work = self.work.cfg, self.work
        model, linears = self.model(dtype)
        optimizer = torch.optim.SGD(
            [{"params": [lin.weight for lin in linears], "weight_decay": cfg.lmbda / work.n},
             {"params": [lin.bias for lin in linears], "weight_decay": 0.0}],
            lr=cfg.eta)
        loss_fn = nn.BCEWithLogitsLoss(reduction="sum")
        X, Y, perm, m = self.X[dtype], self.Y[dtype], self.perm[:count], work.mbs

        def fn():
            model.train()
            for k in range(0, count, m):
                idx = perm[k:k + m]
                xb, yb = X[idx], Y[idx]
                optimizer.zero_grad()
                loss = loss_fn(model(xb), yb) / xb.shape[0]
                loss.backward()
                optimizer.step()
            return linears
        return fn

    def flat(self, dtype, linears):
        w = [lin.weight.detach().numpy() for lin in linears]
        b = [lin.bias.detach().numpy().reshape(-1, 1) for lin in linears]
        return self.work.native.pack(w, b, dtype=dtype)

    def accuracy(self, dtype, linears, flat):
        # The network's outputs through the same modules (argmax of the logits
        # is argmax of the sigmoids).
        torch = self.torch
        with torch.no_grad():
            x = self.X_test[dtype]
            for i, lin in enumerate(linears):
                x = lin(x)
                if i < len(linears) - 1:
                    x = torch.sigmoid(x)
            pred = x.argmax(dim=1).numpy()
        return int(np.count_nonzero(pred == self.work.arrays["y_test"]))


class _Sklearn:
    """scikit-learn's MLPClassifier, one fit(max_iter=1) per epoch."""

    def __init__(self, work):
        import sklearn  # noqa: F401
        self.work = work

    def estimator(self, dtype):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier
        cfg, work = self.work.cfg, self.work
        clf = MLPClassifier(
            hidden_layer_sizes=tuple(work.sizes[1:-1]), activation="logistic",
            solver="sgd", learning_rate="constant", learning_rate_init=cfg.eta,
            momentum=0.0, nesterovs_momentum=False, batch_size=work.mbs,
            alpha=cfg.lmbda * work.mbs / work.n, max_iter=1, shuffle=False,
            warm_start=True, early_stopping=False, random_state=0)
        # Let it build its structure on a few rows (untimed), then give it the
        # shared initial parameters; warm_start keeps them on the next fit.
        X, Y = work.arrays["X"][dtype], work.arrays["Y"][dtype]
        rows = max(work.mbs, 20)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", UserWarning)
            clf.fit(X[:rows], Y[:rows])
        if clf.out_activation_ != "logistic":
            raise RuntimeError(f"expected logistic outputs, got {clf.out_activation_}")
        weights, biases = work.params[dtype]
        # Copies: scikit-learn updates these arrays in place.
        clf.coefs_ = [np.array(w.T, dtype=dtype, order="C", copy=True) for w in weights]
        clf.intercepts_ = [np.array(b.ravel(), dtype=dtype, copy=True) for b in biases]
        return clf, ConvergenceWarning

    def call(self, dtype, count):
        clf, conv = self.estimator(dtype)
        X, Y = self.work.arrays["X"][dtype], self.work.arrays["Y"][dtype]
        idx = self.work.order[:count]

        def fn():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", conv)
                clf.fit(X[idx], Y[idx])
            return clf
        return fn

    def flat(self, dtype, clf):
        w = [c.T for c in clf.coefs_]
        b = [i.reshape(-1, 1) for i in clf.intercepts_]
        return self.work.native.pack(w, b, dtype=dtype)

    def accuracy(self, dtype, clf, flat):
        proba = clf.predict_proba(self.work.arrays["X_test"][dtype])
        return int(np.count_nonzero(proba.argmax(axis=1) == self.work.arrays["y_test"]))


# --------------------------------------------------------------------------
# One configuration
# --------------------------------------------------------------------------

class _Work:
    """A configuration's inputs and how to run each implementation on them
    (the nncore, NumPy, per-example and floor parts are bench_epoch's)."""

    def __init__(self, cfg: Config, sizes, mbs, arrays, ref, native, core, extras,
                 oracles=None):
        be_cfg = be.Config(sizes=[list(sizes)], batch_sizes=[mbs], repeats=cfg.repeats,
                           train_size=cfg.train_size, per_example_examples=cfg.train_size,
                           eta=cfg.eta, lmbda=cfg.lmbda, seed=cfg.seed)
        self.base = be._Workload(be_cfg, sizes, mbs, arrays, ref, native, core)
        self.cfg = cfg
        self.sizes, self.mbs, self.n = self.base.sizes, self.base.mbs, self.base.n
        self.arrays, self.params, self.order = arrays, self.base.params, self.base.order
        self.native = native
        self.extras = {name: cls(self) for name, cls in extras.items()}
        self._oracles = oracles if oracles is not None else {}
        self._params_print = self.params_fingerprint()

    def params_fingerprint(self) -> str:
        """Of the shared initial parameters: no implementation may change them."""
        return "".join(be._fingerprint(self.native.pack(w, b, dtype=dt))
                       for dt, (w, b) in self.params.items())

    def check_params(self) -> None:
        if self.params_fingerprint() != self._params_print:
            raise RuntimeError("an implementation modified the shared initial parameters")

    def call(self, r: Runner, count: int) -> Callable[[], Any]:
        if r.framework in self.extras:
            return self.extras[r.framework].call(r.dtype, count)
        return self.base.call(be._IMPL_BY_NAME[_BE_IMPL[(r.framework, r.dtype)]], limit=count)

    def finish(self, r: Runner, out):
        """``(flat parameters, correct test images)`` after a run (None for the floor)."""
        if r.framework == "floor" or out is None:
            return None, None
        if r.framework in self.extras:
            x = self.extras[r.framework]
            flat = x.flat(r.dtype, out)
            return flat, x.accuracy(r.dtype, out, flat)
        impl = be._IMPL_BY_NAME[_BE_IMPL[(r.framework, r.dtype)]]
        return self.base.flat(impl, out), self.base.accuracy(impl, out)

    def oracle(self, count: int, cached=None) -> np.ndarray:
        """The float64 NumPy reference's parameters after the first ``count``
        examples (shared between thread sections through ``oracles``)."""
        key = (tuple(self.sizes), self.mbs, count)
        if key not in self._oracles:
            self._oracles[key] = (cached if cached is not None
                                  else self.base.oracle(count)).astype(np.float64)
        return self._oracles[key]


def _timed(fn):
    """``(wall seconds, cpu seconds, result)`` of one call, GC off."""
    cpu0 = time.process_time()
    wall, out = be._time_call(fn)
    return wall, time.process_time() - cpu0, out


def _plan_count(work: _Work, r: Runner, cfg: Config) -> tuple:
    """Warm up ``r`` and project its epoch time on a calibration run; return
    ``(examples to time, projected epoch seconds)``."""
    n, m = work.n, work.mbs
    cal = min(n, max(2 * m, -(-cfg.calibration_examples // m) * m))
    fn = work.call(r, cal)
    fn()                                   # warm-up
    t, _, _ = _timed(work.call(r, cal))    # calibration (fresh parameters)
    projected = t * n / cal
    if projected <= cfg.max_seconds:
        return n, projected
    want = max(cfg.min_examples, int(n * cfg.max_seconds / projected))
    unit = math.lcm(m, 1000) if math.lcm(m, 1000) <= want else m
    count = max(m, min(n, want // unit * unit))
    return count, projected


def _bench_config(work: _Work, runners, cfg: Config, threads: int, progress) -> dict:
    load_before = be._loadavg()
    plans = {}
    for r in runners:
        plans[r.name] = _plan_count(work, r, cfg)
    progress("    plan: " + ", ".join(
        f"{r.name} {plans[r.name][0]:,}" + ("" if plans[r.name][0] == work.n else
                                            f" (~{plans[r.name][1]:.0f} s/epoch)")
        for r in runners))
    wall = {r.name: [] for r in runners}
    cpu = {r.name: [] for r in runners}
    prints = {r.name: [] for r in runners}
    last = {}
    sequences = []
    k = len(runners)
    dtypes = [dt for dt in _SUFFIX if any(r.dtype == dt for r in runners)]
    gemm = {dt: [] for dt in dtypes}
    for rep in range(cfg.repeats):
        seq = [runners[(rep + j) % k] for j in range(k)]
        sequences.append([r.name for r in seq])
        for r in seq:
            fn = work.call(r, plans[r.name][0])
            if threads > 1 and cfg.settle_seconds > 0:
                time.sleep(cfg.settle_seconds)   # (see Config.settle_seconds)
            t, c, out = _timed(fn)
            wall[r.name].append(t)
            cpu[r.name].append(c)
            last[r.name] = out
            if r.framework in ("nncore", "numpy", "per-example"):
                flat, _ = work.finish(r, out)
                prints[r.name].append(be._fingerprint(flat))
        # the machine's GEMM throughput beside this configuration's runs: on
        # a shared machine it moves by a third within minutes
        for dt in dtypes:
            gemm[dt].append(gemm_seconds(cfg.gemm_size, dt))
        progress(f"    rep {rep + 1}/{cfg.repeats}: " + ", ".join(
            f"{r.name} {wall[r.name][-1] * work.n / plans[r.name][0]:.3f}s" for r in runners)
            + ", GEMM " + ", ".join(
                f"{dt} {2.0 * cfg.gemm_size ** 3 / gemm[dt][-1] / 1e9:.0f}" for dt in dtypes)
            + " GFLOP/s")

    rows = []
    for r in runners:
        count = plans[r.name][0]
        flat, correct = work.finish(r, last[r.name])
        oracle = None
        if flat is not None:
            cached = None
            if r.name == ORACLE:
                cached = flat
            elif ORACLE in plans and plans[ORACLE][0] == count and ORACLE in last:
                cached = work.finish(next(x for x in runners if x.name == ORACLE),
                                     last[ORACLE])[0]
            oracle = work.oracle(count, cached)
        scale = work.n / count
        epoch = [s * scale for s in wall[r.name]]
        ratio_cpu = [c / w if w > 0 else None for c, w in zip(cpu[r.name], wall[r.name])]
        n_test = len(work.arrays["y_test"])
        rows.append({
            "name": r.name, "framework": r.framework, "label": r.label, "dtype": r.dtype,
            "examples_timed": count, "scale_to_epoch": scale, "extrapolated": count != work.n,
            "projected_seconds": plans[r.name][1],
            "seconds": wall[r.name], "cpu_seconds": cpu[r.name], "cpu_over_wall": ratio_cpu,
            "epoch_seconds": epoch, "median": statistics.median(epoch),
            "min": min(epoch), "max": max(epoch),
            "test_correct": correct, "test_total": None if correct is None else n_test,
            "test_accuracy": None if correct is None else correct / n_test,
            "max_rel_diff_vs_numpy_f64": (None if flat is None or r.name == ORACLE
                                          else be._rel_diff(flat, oracle)),
            "bitwise_identical_across_repeats": (len(set(prints[r.name])) == 1
                                                 if prints[r.name] else None),
        })
    _add_ratios(rows)
    work.check_params()
    return {"sizes": work.sizes, "mini_batch_size": work.mbs,
            "flops": epoch_flops(work.sizes, work.n), "run_sequences": sequences,
            "gemm_size": cfg.gemm_size, "gemm_seconds": gemm,
            "loadavg_1min": [load_before, be._loadavg()], "rows": rows}


def _add_ratios(rows) -> None:
    """Each median (and fastest run, ``*_min``) over nncore's of the same
    dtype (``ratio_to_nncore``: > 1 is slower than nncore); nncore's over
    the floor's of its dtype (``ratio_to_floor``)."""
    by = {(r["framework"], r["dtype"]): r for r in rows}
    for row in rows:
        nn = by.get(("nncore", row["dtype"]))
        floor = by.get(("floor", row["dtype"])) if row["framework"] == "nncore" else None
        for stat, suffix in (("median", ""), ("min", "_min")):
            row["ratio_to_nncore" + suffix] = row[stat] / nn[stat] if nn else None
            row["ratio_to_floor" + suffix] = row[stat] / floor[stat] if floor else None


def local_peak(block: Mapping, dtype: str) -> float | None:
    """The best GFLOP/s of the GEMMs timed between the repetitions of one
    configuration (None for results that predate them)."""
    secs = (block.get("gemm_seconds") or {}).get(dtype)
    if not secs:
        return None
    return 2.0 * block["gemm_size"] ** 3 / min(secs) / 1e9


def _add_bounds(section: dict, n: int) -> None:
    """Per configuration and dtype: the time the arithmetic alone needs at
    the GEMM peak measured beside the configuration's runs (or, for older
    results, the section's), and nncore / floor over it; the same over the
    section's best peak (``*_over_section_bound``: the local peak can be
    above or below it)."""
    for block in section["configs"]:
        block["bound"] = {}
        for dt in _SUFFIX:
            whole = peak_gflops(section, dt)
            beside = local_peak(block, dt)
            peak = beside or whole
            if peak is None:
                continue
            sec = block["flops"]["exact"] / (peak * 1e9)
            sec3 = block["flops"]["formula_3x"] / (peak * 1e9)
            entry = {"peak_gflops": peak, "peak_gflops_section": whole,
                     "peak_measured_beside": beside is not None,
                     "seconds": sec, "seconds_formula_3x": sec3}
            for row in block["rows"]:
                if row["dtype"] == dt and row["framework"] in ("nncore", "floor"):
                    key = row["framework"]
                    entry[f"{key}_over_bound"] = row["median"] / sec
                    entry[f"{key}_over_bound_min"] = row["min"] / sec
                    entry[f"{key}_over_bound_formula_3x"] = row["median"] / sec3
                    if whole:
                        entry[f"{key}_over_section_bound"] = (
                            row["median"] * whole * 1e9 / block["flops"]["exact"])
            block["bound"][dt] = entry


def _scaling(cfg: Config, arrays, ref, native, core, progress) -> dict:
    """nncore's epoch time on 1/4, 1/2 and all of the examples (alternating):
    is the time linear in the number of examples?"""
    out = {"sizes": cfg.scaling_sizes, "blocks": []}
    fractions = (0.25, 0.5, 1.0)
    for mbs in cfg.scaling_batch_sizes:
        work = _Work(cfg, cfg.scaling_sizes, mbs, arrays, ref, native, core, {})
        counts = sorted({max(mbs, int(work.n * f) // mbs * mbs) for f in fractions})
        for dt in cfg.dtypes:
            r = Runner(f"nncore-{_SUFFIX[dt]}", "nncore", dt)
            work.call(r, min(work.n, 20 * mbs))()
            secs = {c: [] for c in counts}
            for rep in range(max(cfg.repeats, cfg.scaling_repeats)):
                for c in counts[rep % len(counts):] + counts[:rep % len(counts)]:
                    t, _, _ = _timed(work.call(r, c))
                    secs[c].append(t)
            per = {c: statistics.median(s) / c for c, s in secs.items()}
            fast = {c: min(s) / c for c, s in secs.items()}
            spread = max(per.values()) / min(per.values())
            out["blocks"].append({"mini_batch_size": mbs, "dtype": dt,
                                  "examples": counts,
                                  "seconds": [secs[c] for c in counts],
                                  "median_seconds": [statistics.median(secs[c]) for c in counts],
                                  "microseconds_per_example": [1e6 * per[c] for c in counts],
                                  "max_over_min_per_example": spread,
                                  "max_over_min_per_example_fastest":
                                      max(fast.values()) / min(fast.values())})
            progress(f"  scaling {be._sizes_text(cfg.scaling_sizes)} mbs {mbs} {dt}: "
                     + ", ".join(f"{c:,}: {1e6 * per[c]:.2f} us/ex" for c in counts))
    return out


# --------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------

@contextlib.contextmanager
def _torch_threads(torch, threads):
    if torch is None:
        yield None
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(previous)


def _extra_info(torch, sklearn) -> dict:
    info = {}
    if torch is not None:
        blas = None
        for line in torch.__config__.show().splitlines():
            if "Math Kernel Library" in line or "OpenBLAS" in line:
                blas = line.strip(" -")
                break
        try:
            cap = torch.backends.cpu.get_cpu_capability()
        except AttributeError:
            cap = None
        info["torch"] = {"version": torch.__version__, "blas": blas, "cpu_capability": cap,
                         "default_threads": torch.get_num_threads()}
    if sklearn is not None:
        info["sklearn"] = {"version": sklearn.__version__}
    return info


def _display_arg(arg: str) -> str:
    return be._display_path(Path(arg)) if os.path.isabs(arg) else arg


def run(config=None, progress: Callable[[str], None] | None = be._progress,
        argv=None, checkpoint: Callable[[dict], None] | None = None) -> dict:
    """Run the comparison; return the JSON-ready results.  ``checkpoint``,
    if given, receives the results so far (``"partial": True``) after every
    configuration, so that a long run that is stopped leaves something."""
    cfg = config if isinstance(config, Config) else Config(**(config or {}))
    cfg.validate()
    progress = progress or (lambda msg: None)
    started = time.perf_counter()
    ref = be._import_reference()
    nncore, native, core = be._import_nncore()
    import scipy.linalg  # noqa: F401  (scipy's BLAS loaded, so threadpoolctl sees it)
    torch = _try_import("torch") if "torch" in cfg.frameworks else None
    sklearn = _try_import("sklearn") if "sklearn" in cfg.frameworks else None
    missing = [name for name, mod in (("torch", torch), ("sklearn", sklearn))
               if name in cfg.frameworks and mod is None]
    for name in missing:
        progress(f"warning: {name} is not installed; its rows are left out")
    frameworks = [f for f in cfg.frameworks if f not in missing]
    extras = {}
    if torch is not None:
        extras["torch"] = _Torch
    if sklearn is not None:
        extras["sklearn"] = _Sklearn
    core_before = be._core_library()
    load_start = os.getloadavg()
    started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    argv = list(sys.argv[1:] if argv is None else argv)
    scaling = None

    def assemble(sections, partial):
        machine = be.machine_info()
        machine.update(_extra_info(torch, sklearn))
        machine["core_library"] = core_before
        on_disk = be._core_library()
        if core_before and on_disk and core_before["sha256"] != on_disk["sha256"]:
            machine["core_library_on_disk_at_end"] = on_disk
            if not partial:
                progress("warning: the compiled core was rebuilt on disk during the run")
        return {
            "schema": SCHEMA,
            "benchmark": "nncore against references, PyTorch and scikit-learn; one MNIST epoch",
            "started": started_at,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"),
            "partial": partial,
            "command": "python bench/compare.py" + "".join(f" {_display_arg(a)}"
                                                           for a in argv),
            "config": dataclasses.asdict(cfg),
            "frameworks_missing": missing,
            "data": {**data_info, "train_size": cfg.train_size,
                     "test_size": int(len(y_test))},
            "machine": machine,
            "loadavg_start": [round(x, 2) for x in load_start],
            "loadavg_end": [round(x, 2) for x in os.getloadavg()],
            "sections": sections,
            "scaling": scaling,
            "split_min_batch": getattr(native, "SPLIT_MIN_BATCH", None),
            "wall_seconds": time.perf_counter() - started,
        }

    progress("loading MNIST ...")
    data, data_info = be.load_mnist(cfg.data)
    X_train, y_train = data["training"]
    X_test, y_test = data["test"]
    X_train, y_train = X_train[: cfg.train_size], y_train[: cfg.train_size]
    arrays = {
        "X": {dt: np.ascontiguousarray(X_train, dtype=dt) for dt in _SUFFIX},
        "Y": {dt: be._one_hot(y_train, dtype=dt) for dt in _SUFFIX},
        "X_test": {dt: np.ascontiguousarray(X_test, dtype=dt) for dt in _SUFFIX},
        "y_test": np.ascontiguousarray(y_test),
    }
    runners = runners_for(frameworks, cfg.dtypes)

    sections = []
    oracles = {}
    for threads in cfg.threads:
        threads = int(threads)
        with be._blas_threads(str(threads)), _torch_threads(torch, threads) as tt:
            blas = be._blas_libraries()
            progress(f"threads {threads}: BLAS {be._threads_text(blas)}"
                     + (f", torch {tt}" if tt is not None else ""))
            section = {"threads": threads, "blas": blas, "torch_threads": tt,
                       "loadavg_1min_start": be._loadavg()}
            section["gemm"] = measure_gemm(cfg.gemm_size, cfg.gemm_repeats, cfg.dtypes, progress)
            configs = []
            for sizes in cfg.sizes:
                for mbs in cfg.batch_sizes:
                    use = [r for r in runners
                           if not (mbs == 1 and r.slow and not cfg.slow_at_batch_1)]
                    progress(f"  sizes {sizes}, mini-batch {mbs} (load {be._loadavg()})")
                    work = _Work(cfg, sizes, mbs, arrays, ref, native, core,
                                 {k: v for k, v in extras.items()
                                  if any(r.framework == k for r in use)}, oracles)
                    if threads > 1:  # nncore splits large mini-batches itself
                        work.base.native_threads = native.epoch_threads(None, mbs, sizes)
                    configs.append(_bench_config(work, use, cfg, threads, progress))
                    configs[-1]["native_threads"] = work.base.native_threads
                    if checkpoint is not None:
                        section["configs"] = configs
                        _add_bounds(section, cfg.train_size)
                        checkpoint(assemble(sections + [section], partial=True))
            section["configs"] = configs
            section["gemm_end"] = measure_gemm(cfg.gemm_size, max(2, cfg.gemm_repeats // 2),
                                               cfg.dtypes, progress)
            section["loadavg_1min_end"] = be._loadavg()
            _add_bounds(section, cfg.train_size)
            if cfg.scaling and threads == 1 and "nncore" in frameworks:
                scaling = _scaling(cfg, arrays, ref, native, core, progress)
        sections.append(section)

    return assemble(sections, partial=False)


# --------------------------------------------------------------------------
# Targets (shown, never asserted)
# --------------------------------------------------------------------------

def _section(results, threads):
    return next((s for s in results["sections"] if int(s["threads"]) == threads), None)


def _block(section, sizes, mbs):
    if section is None:
        return None
    return next((b for b in section["configs"]
                 if list(b["sizes"]) == list(sizes) and b["mini_batch_size"] == mbs), None)


def _rowof(block, framework, dtype):
    if block is None:
        return None
    return next((r for r in block["rows"]
                 if r["framework"] == framework and r["dtype"] == dtype), None)


def _check(target, config, value, value_min, op, threshold, unit="×", note=""):
    if value is None:
        return {"target": target, "config": config, "measured": None, "measured_min": None,
                "required": f"{op} {threshold}", "ok": None, "note": note or "not measured"}
    ok = value >= threshold if op == "≥" else value <= threshold
    return {"target": target, "config": config, "measured": value, "measured_min": value_min,
            "required": f"{op} {threshold}{unit}", "ok": bool(ok), "note": note}


def _ratio(num, den):
    if num is None or den is None:
        return None, None
    return num["median"] / den["median"], num["min"] / den["min"]


def target_checks(results) -> list:
    """The performance targets, each as a dict (target, config, measured median
    ratio, the same from the fastest runs, required, ok)."""
    checks = []
    s1, s2 = _section(results, 1), _section(results, 2)
    base = [784, 30, 10]
    for threads, sec in ((1, s1), (2, s2)):
        if sec is None:
            continue
        b = _block(sec, base, 10)
        nn = _rowof(b, "nncore", "float64")
        for fw, thr, name in (("torch", 10, "nncore ≥ 10× faster than PyTorch"),
                              ("numpy", 2.3, "nncore ≥ 2.3× faster than the NumPy matrix "
                                             "reference")):
            med, mn = _ratio(_rowof(b, fw, "float64"), nn)
            checks.append(_check(name, f"784-30-10, batch 10, float64, {threads} thread"
                                       + ("s" if threads > 1 else ""), med, mn, "≥", thr,
                                 note="" if threads == 1 else "2 threads: shared cores"))
    sizes_all = [list(s) for s in results["config"]["sizes"]]
    for sizes in sizes_all:
        for dt in results["config"]["dtypes"]:
            b = _block(s1, sizes, 10)
            med, mn = _ratio(_rowof(b, "nncore", dt), _rowof(b, "floor", dt))
            if med is not None:
                checks.append(_check("within 1.3× of the same-shaped BLAS time",
                                     f"{be._sizes_text(sizes)}, batch 10, {dt}, 1 thread",
                                     med, mn, "≤", 1.3))
    for sizes in sizes_all:
        for mbs in [m for m in results["config"]["batch_sizes"] if m >= 100]:
            for dt in results["config"]["dtypes"]:
                b = _block(s2, sizes, mbs)
                bound = (b or {}).get("bound", {}).get(dt)
                if not bound or "nncore_over_bound" not in bound:
                    continue
                one = _block(s1, sizes, mbs)
                one_b = (one or {}).get("bound", {}).get(dt, {})
                parts = []
                if "floor_over_bound" in bound:
                    parts.append(f"the same-shaped BLAS products alone: "
                                 f"{bound['floor_over_bound']:.2f}×")
                if "nncore_over_bound" in one_b:
                    parts.append(f"1 thread: {one_b['nncore_over_bound']:.2f}× its own bound")
                if bound.get("peak_measured_beside") and "nncore_over_section_bound" in bound:
                    parts.append(f"peak {bound['peak_gflops']:.0f} GFLOP/s beside it; "
                                 f"at the section's best, "
                                 f"{bound['peak_gflops_section']:.0f} GFLOP/s: "
                                 f"{bound['nncore_over_section_bound']:.2f}×")
                note = "; ".join(parts)
                checks.append(_check("within 1.5× of the FLOP bound, both cores",
                                     f"{be._sizes_text(sizes)}, batch {mbs}, {dt}, 2 threads",
                                     bound["nncore_over_bound"], bound["nncore_over_bound_min"],
                                     "≤", 1.5, note=note))
    if "float32" in results["config"]["dtypes"] and "float64" in results["config"]["dtypes"]:
        for sizes in sizes_all:
            for mbs in results["config"]["batch_sizes"]:
                b = _block(s1, sizes, mbs)
                med, mn = _ratio(_rowof(b, "nncore", "float64"), _rowof(b, "nncore", "float32"))
                fl, _ = _ratio(_rowof(b, "floor", "float64"), _rowof(b, "floor", "float32"))
                if med is None:
                    continue
                allow = min(2.0, fl) if fl else 2.0
                checks.append(_check("float32 ≈ 2× float64 where BLAS allows (≥ 0.85 × "
                                     "min(2, the floor's f64/f32))",
                                     f"{be._sizes_text(sizes)}, batch {mbs}, 1 thread", med, mn,
                                     "≥", round(0.85 * allow, 2),
                                     note=f"floor f64/f32 = {fl:.2f}×" if fl else ""))
    sc = results.get("scaling")
    if sc:
        for blk in sc["blocks"]:
            checks.append(_check("epoch time linear in the number of examples "
                                 "(time per example, max/min over ¼, ½, all)",
                                 f"{be._sizes_text(sc['sizes'])}, batch "
                                 f"{blk['mini_batch_size']}, {blk['dtype']}, 1 thread",
                                 blk["max_over_min_per_example"],
                                 blk.get("max_over_min_per_example_fastest"), "≤", 1.1))
    # Time per example against S = Σ n_in·n_out: a fixed cost per example
    # (gathering the 784 inputs, the output layer's work) plus a cost per
    # unit of S, i.e. a straight line t = a + b·S; the check is how far the
    # measured times stray from the best such line (max of t/fit, fit/t).
    n_train = results["data"]["train_size"]
    for mbs in results["config"]["batch_sizes"]:
        for dt in results["config"]["dtypes"]:
            pts = []
            for sizes in sizes_all:
                r = _rowof(_block(s1, sizes, mbs), "nncore", dt)
                if r is not None:
                    pts.append((sizes, epoch_flops(sizes, 1)["sum_nin_nout"],
                                r["median"] / n_train, r["min"] / n_train))
            if len(pts) >= 3:
                S = np.array([p[1] for p in pts], dtype=float)
                fits = []
                for col in (2, 3):
                    t = np.array([p[col] for p in pts])
                    b, a = np.polyfit(S, t, 1)
                    fit = a + b * S
                    fits.append((float(np.max(np.maximum(t / fit, fit / t))), a, b))
                (med, a, b), (mn, _, _) = fits
                checks.append(_check("epoch time linear in Σ n_in·n_out (per example, "
                                     "against the best line a + b·Σ: max of t/fit, fit/t)",
                                     f"batch {mbs}, {dt}, 1 thread", med, mn, "≤", 1.1,
                                     note=f"a = {1e6 * a:.2f} µs per example, b = "
                                          f"{1e12 * b:.0f} ps per unit of Σ"))
    return checks


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------

_fs, _fr, _sz = be._fmt_seconds, be._fmt_ratio, be._sizes_text


def _acc(row) -> str:
    if row["test_accuracy"] is None:
        return "—"
    return f"{100 * row['test_accuracy']:.2f}%" + (" †" if row["extrapolated"] else "")


def _cpu_flag(row, threads) -> str:
    ratios = [x for x in row.get("cpu_over_wall", []) if x is not None]
    if threads == 1 and ratios and statistics.median(ratios) < DESCHEDULED:
        return " ◊"
    return ""


def machine_lines(results) -> list:
    m = results["machine"]
    blas = "; ".join(f"{lib.get('owner') or '?'}: {lib['internal_api']} {lib['version']} "
                     f"{lib['architecture']}" for lib in m["blas"])
    env = ", ".join(f"{k}={v}" for k, v in m.get("env", {}).items()) or "none set"
    extra = []
    if m.get("torch"):
        t = m["torch"]
        extra.append(f"PyTorch {t['version']} ({t.get('blas') or 'BLAS unknown'}; "
                     f"CPU capability {t.get('cpu_capability')})")
    if m.get("sklearn"):
        extra.append(f"scikit-learn {m['sklearn']['version']}")
    core = m.get("core_library")
    commit = m.get("git_commit")
    lines = [
        f"- machine: {m['cpu_model']}, {m['cpu_count']} cores ({m['cpu_count_usable']} usable); "
        f"{m['platform']}",
        f"- software: Python {m['python']}, numpy {m['numpy']}, scipy {m['scipy']}, "
        f"nncore {m['nncore']}" + (f", {', '.join(extra)}" if extra else ""),
        f"- BLAS: {blas}; BLAS environment: {env}. nncore calls scipy's BLAS (cython_blas); "
        f"the NumPy references and scikit-learn call numpy's; PyTorch its own."
        + (f" nncore's products: {be.KERNELS_TEXT[m['core_kernels']]}."
           if m.get("core_kernels") in be.KERNELS_TEXT else ""),
    ]
    if commit:
        lines.append(f"- code: commit {commit[:10]}"
                     + (f", with uncommitted changes in {', '.join(m['git_changed_files'])}"
                        if m.get("git_changed_files") else "")
                     + (f"; compiled core {core['file']} (sha256 {core['sha256'][:12]}, built "
                        f"{core['modified']})" if core else ""))
    return lines


def gemm_table(results) -> list:
    lines = ["| threads | dtype | library | GEMM size | GFLOP/s best | median | at the end "
             "(best) |", "|---:|---|---|---:|---:|---:|---:|"]
    for sec in results["sections"]:
        end = {(g["library"], g["dtype"]): g for g in sec.get("gemm_end", [])}
        for g in sec.get("gemm", []):
            e = end.get((g["library"], g["dtype"]))
            at_end = f"{e['gflops_best']:.1f}" if e else "—"
            lines.append(f"| {sec['threads']} | {g['dtype']} | {g['library']} | "
                         f"{g['size']} | {g['gflops_best']:.1f} | {g['gflops_median']:.1f} | "
                         f"{at_end} |")
    return lines


def _load_text(sec) -> str:
    loads = [x for b in sec["configs"] for x in b.get("loadavg_1min", []) if x is not None]
    if not loads:
        return ""
    return (f"1-minute load average during the section: {min(loads):.2f}–{max(loads):.2f} on "
            f"2 cores (this benchmark itself accounts for about {sec['threads']}).")


def main_table(sec, sizes=None, batch_sizes=None) -> tuple:
    """Markdown rows of a section's comparison; returns ``(lines, flags)``."""
    lines = ["| sizes | batch | implementation | dtype | s/epoch | min–max | × nncore "
             "| test acc. | Δθ |", "|---|---:|---|---|---:|---:|---:|---:|---:|"]
    flags = set()
    for b in sec["configs"]:
        if sizes is not None and list(b["sizes"]) not in [list(s) for s in sizes]:
            continue
        if batch_sizes is not None and b["mini_batch_size"] not in batch_sizes:
            continue
        for row in sorted(b["rows"], key=lambda r: (r["dtype"] != "float64",
                                                   list(FRAMEWORKS).index(r["framework"]))):
            label = row["label"]
            if row["extrapolated"]:
                label += f" † ({row['examples_timed']:,} ex.)"
                flags.add("†")
            spread = f"{_fs(row['min'])}–{_fs(row['max'])}"
            if row["max"] > UNSTABLE_SPREAD * row["min"]:
                spread += " ‡"
                flags.add("‡")
            cpu = _cpu_flag(row, sec["threads"])
            if cpu:
                flags.add("◊")
            ratio = "—" if row["framework"] == "nncore" else _fr(row["ratio_to_nncore"])
            if row["name"] == ORACLE:
                diff = "(ref.)"
            elif row["max_rel_diff_vs_numpy_f64"] is None:
                diff = "—"
            else:
                diff = f"{row['max_rel_diff_vs_numpy_f64']:.0e}"
            lines.append(f"| {_sz(b['sizes'])} | {b['mini_batch_size']} | {label} | "
                         f"{row['dtype']} | {_fs(row['median'])}{cpu} | {spread} | {ratio} | "
                         f"{_acc(row)} | {diff} |")
    return lines, flags


def limit_table(sec) -> list:
    lines = ["| sizes | batch | dtype | GFLOP/epoch | peak GFLOP/s | arithmetic alone (s) "
             "| BLAS same shapes (s) | nncore (s) | nncore × arithmetic | nncore × BLAS "
             "| BLAS × arithmetic | nncore × arithmetic at the section's peak |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for b in sec["configs"]:
        for dt, bd in b.get("bound", {}).items():
            nn, fl = _rowof(b, "nncore", dt), _rowof(b, "floor", dt)
            lines.append(
                f"| {_sz(b['sizes'])} | {b['mini_batch_size']} | {dt} | "
                f"{b['flops']['exact'] / 1e9:.1f} | {bd['peak_gflops']:.1f} | "
                f"{bd['seconds']:.3f} | {_fs(fl['median']) if fl else '—'} | "
                f"{_fs(nn['median']) if nn else '—'} | "
                f"{_fr(bd.get('nncore_over_bound'))} | "
                f"{_fr(nn['ratio_to_floor']) if nn else '—'} | "
                f"{_fr(bd.get('floor_over_bound'))} | "
                f"{_fr(bd.get('nncore_over_section_bound'))} |")
    return lines


def scaling_table(results) -> list:
    sc = results.get("scaling")
    if not sc:
        return []
    lines = [f"nncore, {_sz(sc['sizes'])}, one thread, on the first ¼, ½ and all of the "
             f"shuffled examples ({len(sc['blocks'][0]['seconds'][0])} rounds, "
             f"alternating; medians):", "",
             "| batch | dtype | examples | s | µs per example |", "|---:|---|---|---|---|"]
    for b in sc["blocks"]:
        lines.append(f"| {b['mini_batch_size']} | {b['dtype']} | "
                     + " / ".join(f"{c:,}" for c in b["examples"]) + " | "
                     + " / ".join(_fs(s) for s in b["median_seconds"]) + " | "
                     + " / ".join(f"{u:.2f}" for u in b["microseconds_per_example"]) + " |")
    return lines


def checks_table(checks) -> list:
    lines = ["| target | configuration | measured (fastest runs) | required | | note |",
             "|---|---|---:|---:|:-:|---|"]
    for c in checks:
        if c["measured"] is None:
            meas, mark = "—", "?"
        else:
            meas = f"{c['measured']:.2f}" + (f" ({c['measured_min']:.2f})"
                                             if c["measured_min"] is not None else "")
            mark = "✓" if c["ok"] else "✗"
        lines.append(f"| {c['target']} | {c['config']} | {meas} | {c['required']} | {mark} | "
                     f"{c['note']} |")
    return lines


def method_lines(results) -> list:
    cfg, data = results["config"], results["data"]
    split = results.get("split_min_batch", 32)
    return [
        f"- work: one epoch over {data['train_size']:,} MNIST training images; sigmoid "
        f"neurons, sigmoid outputs, cross-entropy cost, L2 weight decay; eta={cfg['eta']}, "
        f"lmbda={cfg['lmbda']}; every implementation starts from the same weights (seed "
        f"{cfg['seed']}) and follows the same shuffled order.",
        "- PyTorch: `nn.Sequential(nn.Linear, nn.Sigmoid, …, nn.Linear)`, loss "
        "`BCEWithLogitsLoss(reduction=\"sum\")(logits, y) / m` (the book's sigmoid "
        "cross-entropy summed over outputs, averaged over the mini-batch), "
        "`torch.optim.SGD(lr=eta)` with `weight_decay=lmbda/n` on the weights and 0 on the "
        "biases (network2's W ← (1−ηλ/n)W − (η/m)ΣΔ), an index permutation for the shuffle, "
        "`torch.set_num_threads(t)`, dtype through `torch.set_default_dtype`.",
        "- nncore: `nncore.native.sgd_epoch`, the whole epoch in one native call; with 2 "
        "threads, mini-batches are split between two threads of nncore's own (BLAS "
        "held to one thread per call) where `Network.SGD` would split them by default: "
        "up to 128 examples, by the first layer's inputs (from 4 examples, a layer up "
        "to 1 KB a row on our kernels) or neurons (a wider one); otherwise by rows, "
        f"from {split} examples; the others use two BLAS threads.",
        "- scikit-learn: `MLPClassifier(activation=\"logistic\", solver=\"sgd\", "
        "learning_rate_init=eta, momentum=0, nesterovs_momentum=False, batch_size=m, "
        "alpha=lmbda·m/n, max_iter=1, shuffle=False, warm_start=True)`, one `fit` per epoch "
        "on the rows in the shared order (the gather is timed). With one-hot targets it uses "
        "logistic outputs and its binary log-loss, i.e. exactly the book's network; its L2 "
        "gradient is (ΣΔ + alpha·W)/m, so alpha = λ·m/n is network2's decay. What it cannot "
        "express here: nothing in this configuration (it could not do the book's "
        "sigmoid-output network from integer labels: those give a softmax output layer). "
        "Each `fit` also validates the data and computes the loss of every mini-batch.",
        "- timing: implementations alternate within each repetition; median of "
        f"{cfg['repeats']} repetitions; min–max beside it. "
        + (f"In the two-thread section each timed run starts after {cfg['settle_seconds']:g} s "
           "of rest (a BLAS library's second thread spins for about 0.1 s after a "
           "two-thread call, and shares a core with whatever runs next). "
           if cfg.get("settle_seconds") else "")
        + f"A run projected to take over "
        f"{cfg['max_seconds']:g} s is timed on the first N examples of the shuffled order "
        f"(n = {data['train_size']:,} still in the decay factor) and scaled to the epoch (†). "
        + ("Mini-batch 1 includes the slow implementations (sampled). "
           if cfg.get("slow_at_batch_1") else
           "At mini-batch 1 only nncore and the floor run (the slow implementations are "
           "skipped; `--slow-at-batch-1` adds them, sampled). "),
        "- `× nncore`: the row's median over nncore's of the same dtype (> 1: slower than "
        "nncore). `test acc.`: the 10,000 test images after the timed epoch (after the "
        "sampled examples for †). `Δθ`: max |θ − θ_ref| / max |θ_ref| of the final "
        "parameters against the float64 NumPy matrix reference trained on the same examples. "
        "At mini-batch 1 (thousands of single-example steps at this η) the trajectory is "
        "chaotic: a difference in the last bit grows to the size of the weights, as it does "
        "between the float32 and float64 NumPy references themselves, so there Δθ of order 1 "
        "is expected and the test accuracy is the check; at mini-batch 10 and above Δθ shows "
        "rounding only.",
        "- arithmetic alone: FLOPs = 2·n·(2·S + S′) with S = Σ n_in·n_out over the layers "
        "and S′ the same sum without the first layer (forward products, weight-gradient "
        "products, and the δ·W products only layers above the first need), divided by the "
        "best GFLOP/s of a large square GEMM through scipy's BLAS at the same dtype and "
        "thread count, timed once after each repetition of the configuration (so at the "
        "machine's throughput of those minutes: it moved by a third within one section "
        "here; the ratio to the section's best GEMM is in the last column). The rougher count 3·2·n·S includes the first layer's δ·W too and "
        "would make the bound up to 1.5× looser; it is in the JSON (`formula_3x`). BLAS "
        "same shapes: `nncore._core.blas_only_epoch`, only the products of an epoch.",
    ]


def section_title(sec) -> str:
    """``2 threads (numpy: 2, scipy: 2, torch: 2)``: a thread section's heading."""
    t = sec["threads"]
    torch_part = f", torch: {sec['torch_threads']}" if sec.get("torch_threads") else ""
    return (f"{t} thread{'s' if t > 1 else ''} "
            f"({be._threads_text(sec['blas'])}{torch_part})")


def to_markdown(results) -> str:
    lines = ["# nncore against NumPy, PyTorch and scikit-learn: one SGD epoch on MNIST", ""]
    lines += machine_lines(results)
    lines += [f"- load average (1, 5, 15 min) at the start {results['loadavg_start']}, at the "
              f"end {results['loadavg_end']}"]
    lines += method_lines(results) + [""]
    if results["config"].get("quick"):
        lines += ["QUICK smoke run: not a measurement.", ""]
    if results.get("partial"):
        lines += ["PARTIAL results: the run did not finish.", ""]
    lines += ["## GEMM throughput", ""] + gemm_table(results) + [""]
    flags = set()
    for sec in results["sections"]:
        lines += [f"## {section_title(sec)}", "", _load_text(sec), ""]
        tbl, f = main_table(sec)
        flags |= f
        lines += tbl + ["", "The limit:", ""] + limit_table(sec) + [""]
    if results.get("scaling"):
        lines += ["## Scaling with the number of examples", ""] + scaling_table(results) + [""]
    lines += ["## Targets", ""] + checks_table(target_checks(results)) + [""]
    lines += footnotes(flags)
    lines.append(f"Wall time of the run: {results['wall_seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def footnotes(flags) -> list:
    out = []
    if "†" in flags:
        out.append("† Sampled: timed on the first N examples of the shuffled order and scaled "
                   "to the full epoch; accuracy after those N examples, Δθ against the NumPy "
                   "reference on the same examples.")
    if "‡" in flags:
        out.append(f"‡ The slowest repetition took over {UNSTABLE_SPREAD:g}× the fastest: "
                   "something else used the CPUs; trust the fastest runs more there.")
    if "◊" in flags:
        out.append(f"◊ One-thread run whose CPU time was under {DESCHEDULED:.0%} of its wall "
                   "time (median): it waited for a core.")
    return [x for f in out for x in (f, "")]


def write_json(results, path) -> Path:
    return be.write_json(results, path)


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def _build_parser():
    p = argparse.ArgumentParser(
        prog="compare.py",
        description="One MNIST SGD epoch: nncore against the NumPy references, PyTorch and "
                    "scikit-learn, and against the machine's GEMM limit.")
    p.add_argument("--quick", action="store_true", help="smoke run (784,30,10; batch 10, 100; "
                   "1 thread; 10,000 images; 2 repetitions)")
    p.add_argument("--sizes", nargs="+", type=be._parse_sizes, metavar="L0,L1,...")
    p.add_argument("--batch-sizes", nargs="+", type=int, metavar="M")
    p.add_argument("--dtypes", nargs="+", choices=list(_SUFFIX))
    p.add_argument("--threads", nargs="+", type=int, metavar="T")
    p.add_argument("--frameworks", nargs="+", choices=list(FRAMEWORKS), metavar="NAME",
                   help="any of: " + ", ".join(FRAMEWORKS) + " (default: all)")
    p.add_argument("--repeats", type=int)
    p.add_argument("--train-size", type=int)
    p.add_argument("--max-seconds", type=float,
                   help="time a run projected to take longer on a sample (default 5)")
    p.add_argument("--min-examples", type=int, help="smallest sample (default 2000)")
    p.add_argument("--slow-at-batch-1", action="store_true",
                   help="also run numpy, per-example, torch and sklearn at mini-batch 1 "
                        "(sampled)")
    p.add_argument("--gemm-size", type=int)
    p.add_argument("--gemm-repeats", type=int)
    p.add_argument("--no-scaling", action="store_true",
                   help="skip the examples-scaling measurement")
    p.add_argument("--eta", type=float)
    p.add_argument("--lmbda", type=float)
    p.add_argument("--seed", type=int)
    p.add_argument("--data", metavar="PATH")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--no-json", action="store_true")
    return p


def parse_args(argv=None):
    args = _build_parser().parse_args(argv)
    cfg = quick_config() if args.quick else Config()
    for key in ("sizes", "batch_sizes", "dtypes", "threads", "frameworks", "repeats",
                "train_size", "max_seconds", "min_examples", "gemm_size", "gemm_repeats",
                "eta", "lmbda", "seed", "data"):
        value = getattr(args, key)
        if value is not None:
            setattr(cfg, key, value)
    if args.slow_at_batch_1:
        cfg.slow_at_batch_1 = True
    if args.no_scaling:
        cfg.scaling = False
    return cfg, args


def main(argv=None) -> int:
    parser = _build_parser()
    cfg, args = parse_args(argv)
    try:
        cfg.validate()
    except ValueError as exc:
        parser.error(str(exc))
    path = None if args.no_json else Path(
        args.json or (QUICK_JSON if args.quick else DEFAULT_JSON))
    partial = None if path is None else path.with_name(path.stem + ".partial.json")
    try:
        results = run(cfg, argv=argv,
                      checkpoint=None if partial is None else lambda r: write_json(r, partial))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(to_markdown(results))
    sys.stdout.flush()
    if path is not None:
        write_json(results, path)
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
        be._progress(f"results written to {be._display_path(path)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
