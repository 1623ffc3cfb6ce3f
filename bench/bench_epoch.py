#!/usr/bin/env python3
"""Time one epoch of SGD training on MNIST, native core against the reference.

What is timed
-------------
One epoch of mini-batch SGD (cross-entropy cost, L2 weight decay, eta=0.5,
lmbda=5.0 by default) over the first ``train_size`` MNIST training images
(all 50,000 by default), for every combination of layer sizes and mini-batch
size, by these implementations:

``native-f64`` / ``native-f32``
    :func:`nncore.native.sgd_epoch`, the whole epoch in one native call.
``matrix-f64`` / ``matrix-f32``
    :func:`nncore_reference.matrix.sgd_epoch`: NumPy, one mini-batch at a
    time in matrix form.
``per-example``
    :func:`nncore_reference.per_example.sgd_epoch`: the book's algorithm, one
    example at a time, float64.  It is slow, so it is timed on the first
    ``per_example_examples`` entries of the shuffled order (with the
    training-set size ``n`` of the full epoch in the decay factor, so each
    step is the one the full epoch would take) and the time is scaled up to
    the full epoch.
``floor-f64`` / ``floor-f32``
    :func:`nncore._core.blas_only_epoch`: only the matrix products of an
    epoch, with the same shapes.  The time BLAS alone needs: the floor.

Method
------
* Every implementation starts every repetition from the same initial
  parameters (``init_params`` with a fixed seed; the float32 ones are the
  float64 draws rounded) and follows the same shuffled order (a fixed-seed
  :class:`numpy.random.Generator`), so all do identical work.
* Within a repetition the implementations run one after another
  (round-robin; the starting one rotates from repetition to repetition), so
  a noisy moment on the machine hits them all alike.  Only the training call
  is inside the timer; inputs are converted beforehand, and the garbage
  collector is off while the clock runs.
* The whole thing is done once per BLAS thread setting: ``1`` pins every
  BLAS library (numpy and scipy each load their own OpenBLAS) to one thread
  with :func:`threadpoolctl.threadpool_limits`; ``default`` leaves them alone.
* The report gives the median seconds per epoch, each median as a multiple
  of the native float64 median of the same configuration, native medians as
  multiples of the BLAS floor of the same dtype, and -- computed after the
  timing -- the test accuracy after the epoch and how far the final
  parameters are from the float64 matrix reference.

Use
---
::

    python bench/bench_epoch.py                 # full run, several minutes
    python bench/bench_epoch.py --quick         # smoke run, well under 30 s
    python bench/bench_epoch.py --help

Markdown goes to stdout, progress to stderr, every measurement to a JSON
file (``bench/results/epoch.json`` by default).  From Python::

    import bench_epoch
    results = bench_epoch.run(bench_epoch.Config(repeats=3))
    print(bench_epoch.to_markdown(results))
"""

import argparse
import contextlib
import dataclasses
import datetime
import gc
import gzip
import hashlib
import importlib
import io
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = [
    "IMPLEMENTATIONS",
    "Config",
    "quick_config",
    "default_data_path",
    "load_mnist",
    "machine_info",
    "run",
    "to_markdown",
    "write_json",
    "parse_args",
    "main",
]

BENCH_DIR = Path(__file__).resolve().parent
#: The repository: the parent of ``bench/``.
REPO_DIR = BENCH_DIR.parent
DEFAULT_JSON = BENCH_DIR / "results" / "epoch.json"
#: ``--quick`` writes here, so a smoke run never replaces a full run's results.
QUICK_JSON = BENCH_DIR / "results" / "epoch-quick.json"
#: A row whose slowest repetition took more than this many times its fastest
#: is flagged in the report: something else was using the machine.
UNSTABLE_SPREAD = 2.0
#: Environment variable that points at ``mnist.pkl.gz``.
DATA_ENV = "NNCORE_DATA"
#: SHA-256 of the shared ``mnist.pkl.gz`` (see the data folder's README).
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
#: Environment variables that change what BLAS does; reported when set.
BLAS_ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
                 "OMP_NUM_THREADS")
SCHEMA = "nncore-bench-epoch/1"


# --------------------------------------------------------------------------
# Implementations
# --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Impl:
    """One implementation under test."""

    name: str    #: key on the command line and in the JSON
    label: str   #: name in the table
    family: str  #: "native", "matrix", "per-example" or "floor"
    dtype: str   #: "float64" or "float32"


IMPLEMENTATIONS = (
    Impl("native-f64", "native", "native", "float64"),
    Impl("native-f32", "native", "native", "float32"),
    Impl("matrix-f64", "matrix reference", "matrix", "float64"),
    Impl("matrix-f32", "matrix reference", "matrix", "float32"),
    Impl("per-example", "per-example reference", "per-example", "float64"),
    Impl("floor-f64", "BLAS floor", "floor", "float64"),
    Impl("floor-f32", "BLAS floor", "floor", "float32"),
)
_IMPL_BY_NAME = {impl.name: impl for impl in IMPLEMENTATIONS}
_BASELINE = "native-f64"
_ORACLE = "matrix-f64"


# --------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------

@dataclasses.dataclass
class Config:
    """Everything that decides what a run measures."""

    sizes: list = dataclasses.field(default_factory=lambda: [[784, 30, 10], [784, 100, 10]])
    batch_sizes: list = dataclasses.field(default_factory=lambda: [10, 100])
    repeats: int = 5
    #: BLAS thread settings, one report section each: "default" or a count.
    threads: list = dataclasses.field(default_factory=lambda: ["1", "default"])
    impls: list = dataclasses.field(default_factory=lambda: [i.name for i in IMPLEMENTATIONS])
    train_size: int = 50_000
    #: How many examples of the shuffled order the per-example reference is
    #: timed on; its time is scaled up to ``train_size``.
    per_example_examples: int = 5_000
    eta: float = 0.5
    lmbda: float = 5.0
    cost: str = "cross-entropy"
    seed: int = 2024
    #: Run every implementation once on a couple of mini-batches, untimed,
    #: before the first repetition of each configuration.
    warmup: bool = True
    #: Path of mnist.pkl.gz; None: $NNCORE_DATA, then <repo>/../shared/data.
    data: str | None = None
    quick: bool = False

    def validate(self) -> None:
        """Raise ValueError on settings that cannot be run."""
        unknown = [n for n in self.impls if n not in _IMPL_BY_NAME]
        if unknown:
            raise ValueError(f"unknown implementation(s) {unknown}; "
                             f"choose from {list(_IMPL_BY_NAME)}")
        if not self.impls:
            raise ValueError("no implementation selected")
        for s in self.sizes:
            if len(s) < 2 or min(s) < 1:
                raise ValueError(f"bad layer sizes {s}")
            if s[0] != 784 or s[-1] != 10:
                raise ValueError(f"MNIST needs 784 inputs and 10 outputs, got sizes {s}")
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise ValueError(f"mini-batch sizes must be >= 1, got {self.batch_sizes}")
        if self.repeats < 1:
            raise ValueError("repeats must be >= 1")
        if not 1 <= self.train_size <= 50_000:
            raise ValueError(f"train_size must be in 1..50000, got {self.train_size}")
        if self.per_example_examples < 1:
            raise ValueError("per_example_examples must be >= 1")
        for t in self.threads:
            _thread_limit(t)


def quick_config(**overrides) -> Config:
    """The ``--quick`` smoke run: one size, mini-batch 10, 2 repetitions,
    10,000 training images, per-example timed on 1,000."""
    settings = dict(sizes=[[784, 30, 10]], batch_sizes=[10], repeats=2,
                    train_size=10_000, per_example_examples=1_000, quick=True)
    settings.update(overrides)
    return Config(**settings)


def _as_config(config) -> Config:
    if config is None:
        return Config()
    if isinstance(config, Config):
        return config
    if isinstance(config, Mapping):
        return Config(**config)
    raise TypeError(f"config must be a Config or a mapping, got {type(config).__name__}")


def _thread_limit(setting) -> int | None:
    """``"default"`` -> None; a positive count -> that int."""
    text = str(setting).strip().lower()
    if text == "default":
        return None
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"thread setting must be 'default' or a positive count, got {setting!r}")
    return count


# --------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------

def default_data_path(path=None) -> Path:
    """Where ``mnist.pkl.gz`` is: ``path`` if given, else ``$NNCORE_DATA``,
    else ``<repo>/../shared/data/mnist.pkl.gz``."""
    if path:
        return Path(path).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    return REPO_DIR.parent / "shared" / "data" / "mnist.pkl.gz"


def _display_path(path: Path) -> str:
    """``path`` relative to the repository when it is nearby (the results
    then say ``../shared/data/mnist.pkl.gz``, not this machine's layout)."""
    try:
        rel = os.path.relpath(Path(path).resolve(), REPO_DIR)
    except ValueError:
        return str(path)
    return rel if rel.count("..") <= 1 else str(path)


def _numpy_reconstruct():
    for module in ("numpy._core.multiarray", "numpy.core.multiarray"):
        try:
            return importlib.import_module(module)._reconstruct
        except (ImportError, AttributeError):
            continue
    raise ImportError("cannot find numpy's array _reconstruct function")


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and plain containers, and refuses every other
    global: a pickle can run code, and this one comes from a file path."""

    def find_class(self, module, name):
        if (module, name) in {("numpy", "ndarray"), ("numpy", "dtype")}:
            return getattr(np, name)
        if name == "_reconstruct" and module in ("numpy.core.multiarray",
                                                 "numpy._core.multiarray"):
            return _numpy_reconstruct()
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from the MNIST pickle")


def load_mnist(path=None):
    """Load the book's ``mnist.pkl.gz``.

    Returns ``(data, info)``: ``data`` maps ``"training"``, ``"validation"``
    and ``"test"`` to ``(X, y)`` (X float32 ``(n, 784)``, y int64 labels),
    ``info`` has the path and the file's SHA-256.  A file whose hash differs
    from the shared copy's still loads (only arrays are accepted from it),
    with a warning on stderr.
    """
    path = default_data_path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"MNIST not found at {path}; pass --data PATH or set {DATA_ENV}")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != MNIST_SHA256:
        print(f"warning: {path} has SHA-256 {digest}, not the shared copy's {MNIST_SHA256}",
              file=sys.stderr)
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as fh:
        parts = _ArraysOnlyUnpickler(fh, encoding="latin1").load()
    data = {}
    for key, (X, y) in zip(("training", "validation", "test"), parts):
        data[key] = (np.asarray(X, dtype=np.float32), np.asarray(y, dtype=np.int64))
    info = {"path": _display_path(path), "sha256": digest,
            "sha256_matches_shared": digest == MNIST_SHA256}
    return data, info


def _one_hot(labels, n_classes=10, dtype=np.float64):
    Y = np.zeros((len(labels), n_classes), dtype=dtype)
    Y[np.arange(len(labels)), labels] = 1
    return Y


# --------------------------------------------------------------------------
# Imports of the code under test
# --------------------------------------------------------------------------

def _import_reference():
    """``nncore_reference``, installed or from ``<repo>/python``."""
    try:
        return importlib.import_module("nncore_reference")
    except ImportError:
        fallback = str(REPO_DIR / "python")
        if fallback not in sys.path:
            sys.path.insert(0, fallback)
        return importlib.import_module("nncore_reference")


def _import_nncore():
    import nncore
    from nncore import _core, native
    return nncore, native, _core


# --------------------------------------------------------------------------
# Machine description
# --------------------------------------------------------------------------

def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _library_owner(filepath: str) -> str | None:
    """The Python package a shared library ships with (``numpy`` for
    ``.../numpy.libs/libfoo.so``), or None."""
    parts = Path(filepath).parts
    for i, part in enumerate(parts):
        if part in ("site-packages", "dist-packages") and i + 2 < len(parts):
            return parts[i + 1].removesuffix(".libs")
    for part in parts:
        if part.endswith(".libs"):
            return part.removesuffix(".libs")
    return None


def _blas_libraries() -> list:
    """The BLAS libraries loaded in this process, as threadpoolctl sees
    them (file name only, not the full path)."""
    from threadpoolctl import threadpool_info
    libs = []
    for info in threadpool_info():
        if info.get("user_api") != "blas":
            continue
        libs.append({
            "owner": _library_owner(info.get("filepath") or ""),
            "internal_api": info.get("internal_api"),
            "version": info.get("version"),
            "architecture": info.get("architecture") or info.get("corename"),
            "threading_layer": info.get("threading_layer"),
            "num_threads": info.get("num_threads"),
            "filepath": os.path.basename(info.get("filepath") or ""),
        })
    return libs


def _git_commit():
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_DIR, capture_output=True,
                             text=True, timeout=10, check=True)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict:
    """CPU, cores, versions, BLAS libraries and BLAS-related environment."""
    import scipy
    import threadpoolctl
    nncore, _, _ = _import_nncore()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpu_count_usable": usable,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "threadpoolctl": threadpoolctl.__version__,
        "nncore": getattr(nncore, "__version__", None),
        "git_commit": _git_commit(),
        "blas": _blas_libraries(),
        "env": {k: os.environ[k] for k in BLAS_ENV_VARS if k in os.environ},
    }


@contextlib.contextmanager
def _blas_threads(setting):
    """Limit every loaded BLAS to ``setting`` threads ("default": no limit)."""
    limit = _thread_limit(setting)
    if limit is None:
        yield
        return
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=limit):
        yield


# --------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------

def _time_call(fn: Callable[[], Any]):
    """Run ``fn`` once with the garbage collector off; return
    ``(seconds, fn's result)``."""
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
    finally:
        if was_enabled:
            gc.enable()
    return seconds, out


class _Workload:
    """One configuration's inputs, and how to run each implementation on them."""

    def __init__(self, cfg: Config, sizes, mini_batch_size, arrays, ref, native, core):
        self.cfg = cfg
        self.sizes = [int(s) for s in sizes]
        self.mbs = int(mini_batch_size)
        self.arrays = arrays
        self.ref, self.native, self.core = ref, native, core
        self.n = cfg.train_size
        w64, b64 = ref.init_params(self.sizes, np.random.default_rng([cfg.seed, 0]),
                                   dtype=np.float64)
        w32, b32 = [w.astype(np.float32) for w in w64], [b.astype(np.float32) for b in b64]
        self.params = {"float64": (w64, b64), "float32": (w32, b32)}
        self.theta0 = {dt: native.pack(w, b, dtype=dt) for dt, (w, b) in self.params.items()}
        self.order = np.random.default_rng([cfg.seed, 1]).permutation(self.n).astype(np.intp)
        self.sub = min(cfg.per_example_examples, self.n)

    def examples_timed(self, impl: Impl) -> int:
        return self.sub if impl.family == "per-example" else self.n

    def call(self, impl: Impl, limit: int | None = None) -> Callable[[], Any]:
        """A no-argument function that runs one epoch of ``impl`` (or only
        its first ``limit`` examples) from the initial parameters and returns
        the final parameters (``None`` for the floor).  All copying happens
        here, outside the function that is timed."""
        cfg, dt = self.cfg, impl.dtype
        X, Y = self.arrays["X"][dt], self.arrays["Y"][dt]
        count = self.examples_timed(impl)
        if limit is not None:
            count = min(limit, count)
        order = self.order[:count]
        if impl.family == "native":
            theta = self.theta0[dt].copy()

            def fn():
                self.native.sgd_epoch(theta, self.sizes, X, Y, order, self.mbs, cfg.eta,
                                      cfg.lmbda, n=self.n, cost=cfg.cost)
                return theta
        elif impl.family in ("matrix", "per-example"):
            module = self.ref.matrix if impl.family == "matrix" else self.ref.per_example
            w, b = self.params[dt]

            def fn():
                return module.sgd_epoch(w, b, X, Y, order, self.mbs, cfg.eta, cfg.lmbda,
                                        cfg.cost, n=self.n)
        elif impl.family == "floor":
            scratch = self.theta0[dt].copy()
            rows = X[:count]

            def fn():
                self.core.blas_only_epoch(scratch, self.sizes, rows, self.mbs)
                return None
        else:  # pragma: no cover - the registry is closed
            raise ValueError(impl.family)
        return fn

    def flat(self, impl: Impl, out) -> np.ndarray | None:
        """Final parameters as one flat buffer in the impl's dtype."""
        if out is None:
            return None
        if impl.family == "native":
            return out
        weights, biases = out
        return self.native.pack(weights, biases, dtype=impl.dtype)

    def accuracy(self, impl: Impl, out) -> int | None:
        """Correct test images after training (native: nncore.native.feedforward;
        reference: matrix.accuracy)."""
        if out is None:
            return None
        Xt, yt = self.arrays["X_test"][impl.dtype], self.arrays["y_test"]
        if impl.family == "native":
            outputs = self.native.feedforward(out, self.sizes, Xt)
            return int(np.count_nonzero(outputs.argmax(axis=1) == yt))
        weights, biases = out
        return int(self.ref.matrix.accuracy(weights, biases, Xt, yt))

    def oracle(self, examples: int) -> np.ndarray:
        """Parameters after the float64 matrix reference on the first
        ``examples`` of the order, flat float64 (untimed)."""
        X, Y = self.arrays["X"]["float64"], self.arrays["Y"]["float64"]
        w, b = self.params["float64"]
        out = self.ref.matrix.sgd_epoch(w, b, X, Y, self.order[:examples], self.mbs,
                                        self.cfg.eta, self.cfg.lmbda, self.cfg.cost, n=self.n)
        return self.native.pack(*out, dtype=np.float64)


def _rel_diff(a, b) -> float:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), np.finfo(float).tiny))


def _fingerprint(theta) -> str | None:
    if theta is None:
        return None
    return hashlib.sha1(np.ascontiguousarray(theta).tobytes()).hexdigest()


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _loadavg():
    """The 1-minute load average, or None where the OS does not report it."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def _bench_config(cfg: Config, work: _Workload, impls: Sequence[Impl], progress) -> dict:
    """Time ``impls`` on one configuration; return its JSON block."""
    load_before = _loadavg()
    if cfg.warmup:
        for impl in impls:
            work.call(impl, limit=2 * work.mbs)()

    seconds = {impl.name: [] for impl in impls}
    prints = {impl.name: [] for impl in impls}
    last = {}
    sequences = []
    k = len(impls)
    for rep in range(cfg.repeats):
        # Round-robin; the first to run rotates so no implementation always
        # follows the same neighbour.
        sequence = [impls[(rep + j) % k] for j in range(k)]
        sequences.append([impl.name for impl in sequence])
        for impl in sequence:
            fn = work.call(impl)
            t, out = _time_call(fn)
            seconds[impl.name].append(t)
            flat = work.flat(impl, out)
            prints[impl.name].append(_fingerprint(flat))
            last[impl.name] = (out, flat)
        progress(f"    rep {rep + 1}/{cfg.repeats}: "
                 + ", ".join(f"{impl.name} {seconds[impl.name][-1]:.3f}s" for impl in impls))

    # After the timing: accuracy and agreement with the float64 matrix reference.
    oracle_full = None
    if any(impl.family not in ("floor", "per-example") for impl in impls):
        if _ORACLE in last:
            oracle_full = last[_ORACLE][1].astype(np.float64)
        else:
            oracle_full = work.oracle(work.n)
    oracle_sub = work.oracle(work.sub) if any(i.family == "per-example" for i in impls) else None

    rows = []
    for impl in impls:
        done = work.examples_timed(impl)
        scale = work.n / done
        raw = seconds[impl.name]
        epoch = [s * scale for s in raw]
        out, flat = last[impl.name]
        correct = work.accuracy(impl, out)
        if flat is None:
            diff = None
        elif impl.family == "per-example":
            diff = _rel_diff(flat, oracle_sub)
        else:
            diff = _rel_diff(flat, oracle_full)
        fps = prints[impl.name]
        rows.append({
            "impl": impl.name,
            "label": impl.label,
            "family": impl.family,
            "dtype": impl.dtype,
            "examples_timed": done,
            "scale_to_epoch": scale,
            "extrapolated": done != work.n,
            "seconds": raw,
            "epoch_seconds": epoch,
            "median": statistics.median(epoch),
            "min": min(epoch),
            "max": max(epoch),
            "test_correct": correct,
            "test_total": None if correct is None else len(work.arrays["y_test"]),
            "test_accuracy": None if correct is None else correct / len(work.arrays["y_test"]),
            "max_rel_diff_vs_matrix_f64": diff,
            "diff_against": (None if diff is None else
                             f"{_ORACLE} on the same {done} examples"),
            "bitwise_identical_across_repeats": (None if fps[0] is None
                                                 else len(set(fps)) == 1),
        })
    _add_ratios(rows)
    return {"sizes": work.sizes, "mini_batch_size": work.mbs, "run_sequences": sequences,
            "loadavg_1min": [load_before, _loadavg()],
            "rows": rows}


def _add_ratios(rows: list) -> None:
    """Each median over the native float64 median; native medians over the
    floor of the same dtype.  The same ratios of the fastest repetitions go
    in ``*_min`` (less sensitive to a busy machine)."""
    by = {row["impl"]: row for row in rows}
    base = by.get(_BASELINE)
    for row in rows:
        floor = by.get("floor-f64" if row["dtype"] == "float64" else "floor-f32")
        if row["family"] != "native":
            floor = None
        for stat, suffix in (("median", ""), ("min", "_min")):
            row["ratio_to_native_f64" + suffix] = (row[stat] / base[stat]) if base else None
            row["ratio_to_floor" + suffix] = (row[stat] / floor[stat]) if floor else None


def run(config=None, progress: Callable[[str], None] | None = _progress) -> dict:
    """Run the benchmark described by ``config`` (a :class:`Config`, a
    mapping of its fields, or None for the defaults) and return the results
    as a JSON-ready dict.  ``progress`` receives one-line status messages
    (stderr by default; ``None`` for silence)."""
    cfg = _as_config(config)
    cfg.validate()
    progress = progress or (lambda msg: None)
    started = time.perf_counter()

    ref = _import_reference()
    nncore, native, core = _import_nncore()
    import scipy.linalg  # noqa: F401  (make sure scipy's BLAS is loaded and visible)

    progress("loading MNIST ...")
    data, data_info = load_mnist(cfg.data)
    X_train, y_train = data["training"]
    X_test, y_test = data["test"]
    X_train, y_train = X_train[: cfg.train_size], y_train[: cfg.train_size]
    arrays = {
        "X": {"float64": np.ascontiguousarray(X_train, dtype=np.float64),
              "float32": np.ascontiguousarray(X_train, dtype=np.float32)},
        "Y": {"float64": _one_hot(y_train, dtype=np.float64),
              "float32": _one_hot(y_train, dtype=np.float32)},
        "X_test": {"float64": np.ascontiguousarray(X_test, dtype=np.float64),
                   "float32": np.ascontiguousarray(X_test, dtype=np.float32)},
        "y_test": np.ascontiguousarray(y_test),
    }
    impls = [_IMPL_BY_NAME[name] for name in dict.fromkeys(cfg.impls)]

    sections = []
    for setting in cfg.threads:
        with _blas_threads(setting):
            blas = _blas_libraries()
            limit = _thread_limit(setting)
            if limit is not None and any(lib["num_threads"] != limit for lib in blas):
                print(f"warning: BLAS thread limit {limit} not applied to all libraries: "
                      f"{[(lib['filepath'], lib['num_threads']) for lib in blas]}", file=sys.stderr)
            progress(f"BLAS threads: {setting} ({_threads_text(blas)})")
            configs = []
            for sizes in cfg.sizes:
                for mbs in cfg.batch_sizes:
                    progress(f"  sizes {sizes}, mini-batch {mbs}")
                    work = _Workload(cfg, sizes, mbs, arrays, ref, native, core)
                    configs.append(_bench_config(cfg, work, impls, progress))
        sections.append({"threads": str(setting), "blas": blas, "configs": configs})

    return {
        "schema": SCHEMA,
        "benchmark": "one SGD epoch on MNIST",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": dataclasses.asdict(cfg),
        "data": {**data_info, "train_size": cfg.train_size, "test_size": int(len(y_test))},
        "machine": machine_info(),
        "sections": sections,
        "wall_seconds": time.perf_counter() - started,
    }


# --------------------------------------------------------------------------
# Reporting
# --------------------------------------------------------------------------

def _fmt_seconds(s: float) -> str:
    if s >= 100:
        return f"{s:.0f}"
    if s >= 10:
        return f"{s:.1f}"
    if s >= 1:
        return f"{s:.2f}"
    return f"{s:.3f}"


def _fmt_ratio(r) -> str:
    if r is None:
        return "—"
    return f"{r:.2f}×" if r < 10 else f"{r:.1f}×"


def _sizes_text(sizes) -> str:
    return "-".join(str(s) for s in sizes)


def _threads_text(blas) -> str:
    """'numpy: 1, scipy: 1' -- each BLAS library's thread count."""
    return ", ".join(f"{lib.get('owner') or lib['filepath']}: {lib['num_threads']}"
                     for lib in blas)


def _section_title(section: dict) -> str:
    libs = _threads_text(section["blas"])
    which = "one thread" if section["threads"] == "1" else (
        "default thread count" if section["threads"] == "default"
        else f"{section['threads']} threads")
    return f"## BLAS {which} ({libs})"


#: Columns of the summary table: (title, numerator impl, denominator impl).
#: Each cell is the ratio of the two medians, then of the two fastest runs.
_SUMMARY = (
    ("matrix f64 ÷ native f64", "matrix-f64", "native-f64"),
    ("per-example ÷ native f64", "per-example", "native-f64"),
    ("native f64 ÷ floor f64", "native-f64", "floor-f64"),
    ("native f64 ÷ native f32", "native-f64", "native-f32"),
    ("native f32 ÷ floor f32", "native-f32", "floor-f32"),
)
#: The targets the project set itself (shown, never asserted).
_TARGETS = ("Targets for 784-30-10, mini-batch 10, one thread: matrix f64 ÷ native f64 ≥ 2.3; "
            "per-example ÷ native f64 ≥ 15; native f64 ÷ floor f64 ≤ 1.3; "
            "native f64 ÷ native f32 ≥ 1.5.")


def _summary_table(section: dict) -> list:
    """Markdown lines: the key ratios of every configuration of a section."""
    lines = ["| sizes | batch | " + " | ".join(c[0] for c in _SUMMARY) + " |",
             "|---|---:|" + "---:|" * len(_SUMMARY)]
    for block in section["configs"]:
        by = {row["impl"]: row for row in block["rows"]}
        cells = []
        for _, num, den in _SUMMARY:
            if num in by and den in by:
                cells.append(f"{by[num]['median'] / by[den]['median']:.2f} "
                             f"({by[num]['min'] / by[den]['min']:.2f})")
            else:
                cells.append("—")
        lines.append(f"| {_sizes_text(block['sizes'])} | {block['mini_batch_size']} | "
                     + " | ".join(cells) + " |")
    return lines


def to_markdown(results: Mapping) -> str:
    """The results of :func:`run` (or the JSON it wrote) as a markdown report."""
    cfg, m, data = results["config"], results["machine"], results["data"]
    lines = ["# One SGD epoch on MNIST", ""]
    blas = "; ".join(f"{lib['internal_api']} {lib['version']} {lib['architecture']} "
                     f"({lib['filepath']})" for lib in m["blas"])
    env = ", ".join(f"{k}={v}" for k, v in m["env"].items()) or "none set"
    lines += [
        f"- machine: {m['cpu_model']}, {m['cpu_count']} cores "
        f"({m['cpu_count_usable']} usable); Python {m['python']}, numpy {m['numpy']}, "
        f"scipy {m['scipy']}, nncore {m['nncore']}"
        + (f" (commit {m['git_commit'][:10]})" if m.get("git_commit") else ""),
        f"- BLAS: {blas}; BLAS environment: {env}",
        f"- work: {data['train_size']:,} training images, {cfg['cost']} cost, "
        f"eta={cfg['eta']}, lmbda={cfg['lmbda']}, seed {cfg['seed']}; every implementation "
        f"starts from the same weights and follows the same shuffled order",
        f"- timing: {cfg['repeats']} repetitions, implementations alternating within each; "
        f"median seconds per epoch (min–max beside it)"
        + ("; QUICK smoke run, not a measurement" if cfg.get("quick") else ""),
        "- `× native f64`: median over native float64's median, same sizes and mini-batch "
        "(> 1 is slower); `× floor`: native median over the BLAS floor's of the same dtype; "
        "`Δθ`: max |θ − θ_ref| / max |θ_ref| against the float64 matrix reference",
        "",
    ]
    footnote = unsteady = False
    for section in results["sections"]:
        lines += [_section_title(section), ""]
        loads = [x for b in section["configs"] for x in b.get("loadavg_1min", []) if x is not None]
        if loads:
            lines += [f"1-minute load average during the section: "
                      f"{min(loads):.2f}–{max(loads):.2f} "
                      f"on {results['machine']['cpu_count_usable']} usable cores "
                      f"(this benchmark itself accounts for about 1).", ""]
        lines += ["| sizes | batch | implementation | dtype | s/epoch | min–max | × native f64 "
                  "| × floor | test acc. | Δθ |",
                  "|---|---:|---|---|---:|---:|---:|---:|---:|---:|"]
        for block in section["configs"]:
            for row in block["rows"]:
                label = row["label"]
                if row["extrapolated"]:
                    label += f" † ({row['examples_timed']:,} ex. ×{row['scale_to_epoch']:.3g})"
                    footnote = True
                spread = f"{_fmt_seconds(row['min'])}–{_fmt_seconds(row['max'])}"
                if row["max"] > UNSTABLE_SPREAD * row["min"]:
                    spread += " ‡"
                    unsteady = True
                if row["test_accuracy"] is None:
                    acc = "—"
                else:
                    acc = f"{100 * row['test_accuracy']:.2f}%"
                    acc += " †" if row["extrapolated"] else ""
                if row["impl"] == _ORACLE:
                    diff = "(ref.)"
                elif row["max_rel_diff_vs_matrix_f64"] is None:
                    diff = "—"
                else:
                    diff = f"{row['max_rel_diff_vs_matrix_f64']:.1e}"
                lines.append(
                    f"| {_sizes_text(block['sizes'])} | {block['mini_batch_size']} | {label} | "
                    f"{row['dtype']} | {_fmt_seconds(row['median'])} | "
                    f"{spread} | "
                    f"{_fmt_ratio(row['ratio_to_native_f64'])} | "
                    f"{_fmt_ratio(row['ratio_to_floor'])} | "
                    f"{acc} | {diff} |")
        lines += ["", "Key ratios, medians (fastest runs in brackets):", ""]
        lines += _summary_table(section) + [""]
        unstable = [f"{_sizes_text(b['sizes'])}/{b['mini_batch_size']} {r['impl']}"
                    for b in section["configs"] for r in b["rows"]
                    if r["bitwise_identical_across_repeats"] is False]
        if unstable:
            lines += ["Final parameters differed between repetitions (not bit-for-bit "
                      "reproducible at this thread count): " + ", ".join(unstable) + ".", ""]
    if any(section["threads"] == "1" for section in results["sections"]):
        lines += [_TARGETS, ""]
    if footnote:
        lines += [f"† The per-example reference is timed on the first "
                  f"{cfg['per_example_examples']:,} examples of the shuffled order (with "
                  f"n = {data['train_size']:,} in the weight decay) and its time is scaled to "
                  f"the full epoch; its test accuracy is after those examples only, and its Δθ "
                  f"is against the float64 matrix reference trained on the same examples.", ""]
    if unsteady:
        lines += [f"‡ The slowest repetition took more than {UNSTABLE_SPREAD:g}× the fastest: "
                  f"something else was using the CPUs (see the load average); trust the fastest "
                  f"runs more than the median there.", ""]
    lines.append(f"Wall time of the run: {results['wall_seconds']:.0f} s.")
    return "\n".join(lines) + "\n"


def write_json(results: Mapping, path) -> Path:
    """Write ``results`` to ``path`` (creating its folder), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------

def _parse_sizes(text: str) -> list:
    try:
        sizes = [int(s) for s in text.replace("-", ",").split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"layer sizes look like 784,30,10; got {text!r}") from None
    if len(sizes) < 2:
        raise argparse.ArgumentTypeError(f"need at least two layer sizes, got {text!r}")
    return sizes


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="bench_epoch.py",
        description="Time one SGD epoch on MNIST: nncore's native core against the "
                    "NumPy references and the BLAS floor. Markdown to stdout, JSON to a file.")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: sizes 784,30,10, mini-batch 10, 2 repetitions, 10,000 "
                        "training images, per-example on 1,000 (other options still apply)")
    p.add_argument("--sizes", nargs="+", type=_parse_sizes, metavar="L0,L1,...",
                   help="layer sizes, one network per argument (default: 784,30,10 784,100,10)")
    p.add_argument("--batch-sizes", nargs="+", type=int, metavar="M",
                   help="mini-batch sizes (default: 10 100)")
    p.add_argument("--repeats", type=int, help="repetitions per implementation (default: 5)")
    p.add_argument("--threads", nargs="+", metavar="T",
                   help="BLAS thread settings, one section each: 'default' or a count "
                        "(default: 1 default)")
    p.add_argument("--impl", nargs="+", metavar="NAME",
                   help="implementations to run (default: all): " + ", ".join(_IMPL_BY_NAME))
    p.add_argument("--train-size", type=int, help="training images per epoch (default: 50000)")
    p.add_argument("--per-example-examples", type=int, metavar="N",
                   help="examples the per-example reference is timed on (default: 5000)")
    p.add_argument("--eta", type=float, help="learning rate (default: 0.5)")
    p.add_argument("--lmbda", type=float, help="L2 regularisation (default: 5.0)")
    p.add_argument("--seed", type=int, help="seed of the initial weights and the order")
    p.add_argument("--no-warmup", action="store_true", help="skip the untimed warm-up calls")
    p.add_argument("--data", metavar="PATH",
                   help=f"mnist.pkl.gz (default: ${DATA_ENV}, "
                        f"else <repo>/../shared/data/mnist.pkl.gz)")
    p.add_argument("--json", metavar="PATH",
                   help="where to write the JSON results (default: bench/results/epoch.json; "
                        "with --quick: bench/results/epoch-quick.json)")
    p.add_argument("--no-json", action="store_true", help="do not write JSON")
    return p


def parse_args(argv=None):
    """Parse the command line into ``(Config, args)``."""
    args = _build_parser().parse_args(argv)
    cfg = quick_config() if args.quick else Config()
    impls = None
    if args.impl:
        impls = [name for item in args.impl for name in item.split(",") if name]
    overrides = {
        "sizes": args.sizes, "batch_sizes": args.batch_sizes, "repeats": args.repeats,
        "threads": args.threads, "impls": impls, "train_size": args.train_size,
        "per_example_examples": args.per_example_examples, "eta": args.eta,
        "lmbda": args.lmbda, "seed": args.seed, "data": args.data,
    }
    for key, value in overrides.items():
        if value is not None:
            setattr(cfg, key, value)
    if args.no_warmup:
        cfg.warmup = False
    return cfg, args


def main(argv=None) -> int:
    """Command-line entry point; returns the exit status."""
    parser = _build_parser()
    cfg, args = parse_args(argv)
    try:
        cfg.validate()
    except ValueError as exc:
        parser.error(str(exc))
    try:
        results = run(cfg)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(to_markdown(results))
    sys.stdout.flush()
    if not args.no_json:
        path = write_json(results, args.json or (QUICK_JSON if args.quick else DEFAULT_JSON))
        _progress(f"results written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
