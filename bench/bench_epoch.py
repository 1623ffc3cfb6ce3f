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

Techniques
----------
Everything above trains the plain network (sigmoid neurons, cross-entropy,
L2).  ``techniques`` (``--techniques``) adds the rest of chapter 3, one
variant of the plain network each (see :data:`TECHNIQUES`): ``l1``,
``dropout``, ``momentum``, ``nesterov``, ``softmax``, ``tanh``, ``relu``.
For each, native float64 and float32 and the float64 matrix reference run
the same epoch, in the same round-robin as the plain implementations, and a
separate table gives each one's time, its ratio to plain native float64
("technique overhead") and its speedup over the matrix reference with the
same technique.  The default is ``plain`` only: no extra runs, no extra table.

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
    python bench/bench_epoch.py --quick --techniques plain dropout momentum
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
    "TECHNIQUES",
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


@dataclasses.dataclass(frozen=True)
class Technique:
    """A variant of the plain network: the keyword arguments the native core
    and the matrix reference get on top of the plain epoch (L2 ``lmbda`` and
    ``eta`` always come from the :class:`Config`)."""

    name: str         #: key on the command line and in the JSON
    description: str  #: what differs from plain, for the report
    hidden: str = "sigmoid"
    output: str = "sigmoid"
    cost: str | None = None   #: None: the Config's cost (cross-entropy)
    l1: float = 0.0
    dropout: float = 0.0
    mu: float = 0.0
    nesterov: bool = False

    @property
    def momentum(self) -> bool:
        return self.mu > 0.0 or self.nesterov

    def cost_for(self, cfg) -> str:
        return self.cost or cfg.cost

    def native_kwargs(self, cfg) -> dict:
        """Keyword arguments of :func:`nncore.native.sgd_epoch` (without
        ``velocity``, which needs a fresh zero buffer per call)."""
        kw = dict(cost=self.cost_for(cfg), hidden=self.hidden, output=self.output)
        if self.l1:
            kw["l1"] = self.l1
        if self.dropout:
            kw.update(dropout=self.dropout, seed=cfg.seed)
        if self.momentum:
            kw.update(mu=self.mu, nesterov=self.nesterov)
        return kw

    def reference_kwargs(self, cfg) -> dict:
        """Keyword arguments of ``nncore_reference.matrix.sgd_epoch`` (besides
        ``cost``, which is positional there)."""
        kw = dict(hidden=self.hidden, output=self.output)
        if self.l1:
            kw["l1"] = self.l1
        if self.dropout:
            kw.update(dropout=self.dropout, dropout_seed=cfg.seed)
        if self.momentum:
            kw.update(mu=self.mu, nesterov=self.nesterov)
        return kw


TECHNIQUES = (
    Technique("plain", "sigmoid neurons, cross-entropy cost, L2 (the rows above)"),
    Technique("l1", "plain + L1 regularisation l1=5.0 beside L2", l1=5.0),
    Technique("dropout", "plain + dropout p=0.5 on the hidden neurons", dropout=0.5),
    Technique("momentum", "plain + momentum mu=0.9", mu=0.9),
    Technique("nesterov", "plain + Nesterov momentum mu=0.9", mu=0.9, nesterov=True),
    Technique("softmax", "softmax output layer, log-likelihood cost", output="softmax",
              cost="log-likelihood"),
    Technique("tanh", "tanh hidden neurons", hidden="tanh"),
    Technique("relu", "ReLU hidden neurons", hidden="relu"),
)
_TECHNIQUE_BY_NAME = {t.name: t for t in TECHNIQUES}
_PLAIN = _TECHNIQUE_BY_NAME["plain"]
#: The techniques table also compares the parameters after this many
#: mini-batches (untimed): with momentum or tanh at eta=0.5 the training is
#: chaotic, and rounding differences of 1e-16 grow to O(1) over an epoch, so
#: only the short run shows whether native and reference take the same steps.
AGREEMENT_BATCHES = 20
#: What runs for every technique: native float64 and float32, and the matrix
#: reference float64 (the technique's oracle and speed baseline).
_TECHNIQUE_IMPLS = ("native-f64", "native-f32", "matrix-f64")


@dataclasses.dataclass(frozen=True)
class _Run:
    """One timed thing: an implementation training with a technique."""

    technique: Technique
    impl: Impl
    #: Key in the timing bookkeeping and ``run_sequences``: the impl's name
    #: for the plain rows of the main table, "technique:impl" otherwise.
    key: str


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
    #: Chapter-3 techniques, one row each (native f64/f32, matrix f64) in a
    #: separate table; ["plain"] (the default) adds nothing to the plain run.
    techniques: list = dataclasses.field(default_factory=lambda: ["plain"])
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
        unknown = [t for t in self.techniques if t not in _TECHNIQUE_BY_NAME]
        if unknown:
            raise ValueError(f"unknown technique(s) {unknown}; "
                             f"choose from {list(_TECHNIQUE_BY_NAME)}")
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
    10,000 training images, per-example timed on 1,000 (techniques: plain,
    unless overridden)."""
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
        # copies (not views into the unpickled bytes), which NumPy places
        # in huge pages: random rows then miss the TLB far less
        data[key] = (np.array(X, dtype=np.float32), np.array(y, dtype=np.int64))
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


def _git_changed_files():
    """Files that differ from HEAD (the measured code may not be the
    commit's), or None when git cannot tell.  Read-only: no index refresh."""
    try:
        out = subprocess.run(["git", "--no-optional-locks", "diff", "--name-only", "HEAD"],
                             cwd=REPO_DIR, capture_output=True, text=True, timeout=10,
                             check=True)
        return [line for line in out.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        return None


def _core_library() -> dict | None:
    """The compiled core that is imported: file name, SHA-256 and
    modification time (it is what is measured, whatever the sources say)."""
    try:
        _, _, core = _import_nncore()
        path = Path(core.__file__)
        raw = path.read_bytes()
    except (ImportError, OSError, AttributeError, TypeError):
        return None
    mtime = datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)
    return {"file": path.name, "sha256": hashlib.sha256(raw).hexdigest(),
            "modified": mtime.isoformat(timespec="seconds")}


def _core_kernels() -> str | None:
    """"avx512" when the core's own product kernels run (see
    csrc/nncore_kernels.h), "blas" when every product goes to BLAS."""
    try:
        _, _, core = _import_nncore()
        return core.kernels()
    except (ImportError, AttributeError):
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
        "git_changed_files": _git_changed_files(),
        "core_library": _core_library(),
        "core_kernels": _core_kernels(),
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
        #: nncore's own threads (sgd_epoch's ``threads``) for plain SGD: 1
        #: unless the section lets the library use more than one core.
        self.native_threads = 1
        #: whether the section lets the library use more than one core
        self.two_cores = False

    def examples_timed(self, impl: Impl) -> int:
        return self.sub if impl.family == "per-example" else self.n

    def call(self, impl: Impl, limit: int | None = None,
             technique: Technique = _PLAIN) -> Callable[[], Any]:
        """A no-argument function that runs one epoch of ``impl`` with
        ``technique`` (or only its first ``limit`` examples) from the initial
        parameters and returns the final parameters (``None`` for the floor).
        All copying happens here, outside the function that is timed."""
        cfg, dt = self.cfg, impl.dtype
        X, Y = self.arrays["X"][dt], self.arrays["Y"][dt]
        count = self.examples_timed(impl)
        if limit is not None:
            count = min(limit, count)
        order = self.order[:count]
        if impl.family == "native":
            theta = self.theta0[dt].copy()
            if technique is _PLAIN:
                def fn():
                    self.native.sgd_epoch(theta, self.sizes, X, Y, order, self.mbs, cfg.eta,
                                          cfg.lmbda, n=self.n, cost=cfg.cost,
                                          threads=self.native_threads)
                    return theta
            else:
                kwargs = technique.native_kwargs(cfg)
                if technique.momentum:
                    kwargs["velocity"] = np.zeros_like(theta)
                # as Network.SGD chooses for this technique
                plain = not technique.momentum and not (technique.dropout
                                                        and len(self.sizes) > 2)
                threads = (self.native.epoch_threads(None, self.mbs, self.sizes, dt, plain)
                           if self.two_cores else 1)

                def fn():
                    self.native.sgd_epoch(theta, self.sizes, X, Y, order, self.mbs, cfg.eta,
                                          cfg.lmbda, n=self.n, threads=threads, **kwargs)
                    return theta
        elif impl.family in ("matrix", "per-example"):
            module = self.ref.matrix if impl.family == "matrix" else self.ref.per_example
            w, b = self.params[dt]
            if technique is _PLAIN:
                def fn():
                    return module.sgd_epoch(w, b, X, Y, order, self.mbs, cfg.eta, cfg.lmbda,
                                            cfg.cost, n=self.n)
            else:
                kwargs = technique.reference_kwargs(cfg)
                cost = technique.cost_for(cfg)

                def fn():
                    return module.sgd_epoch(w, b, X, Y, order, self.mbs, cfg.eta, cfg.lmbda,
                                            cost, n=self.n, **kwargs)
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
        weights, biases = out[:2]   # with momentum the reference also returns velocities
        return self.native.pack(weights, biases, dtype=impl.dtype)

    def accuracy(self, impl: Impl, out, technique: Technique = _PLAIN) -> int | None:
        """Correct test images after training (native: nncore.native.feedforward;
        reference: matrix.accuracy), with the technique's neurons."""
        if out is None:
            return None
        Xt, yt = self.arrays["X_test"][impl.dtype], self.arrays["y_test"]
        neurons = dict(hidden=technique.hidden, output=technique.output)
        if impl.family == "native":
            outputs = self.native.feedforward(out, self.sizes, Xt, **neurons)
            return int(np.count_nonzero(outputs.argmax(axis=1) == yt))
        weights, biases = out[:2]
        return int(self.ref.matrix.accuracy(weights, biases, Xt, yt, **neurons))

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


def _technique_runs(impls: Sequence[Impl], techniques: Sequence[str]) -> tuple:
    """``(runs, table)``: the extra runs the techniques need, and for the
    techniques table the list of ``(technique, [run per _TECHNIQUE_IMPLS])``.
    Only "plain" (or nothing) selected: no runs, no table.  Otherwise plain
    is always in the table (it is the overhead's baseline), and its runs are
    the main table's when the main table has them."""
    names = list(dict.fromkeys(techniques))
    if all(name == "plain" for name in names):
        return [], []
    names = ["plain"] + [name for name in names if name != "plain"]
    main = {impl.name for impl in impls}
    runs, table = [], []
    for name in names:
        tech = _TECHNIQUE_BY_NAME[name]
        row_runs = []
        for impl_name in _TECHNIQUE_IMPLS:
            impl = _IMPL_BY_NAME[impl_name]
            if tech is _PLAIN and impl_name in main:
                row_runs.append(_Run(tech, impl, impl_name))   # timed for the main table
            else:
                run = _Run(tech, impl, f"{name}:{impl_name}")
                runs.append(run)
                row_runs.append(run)
        table.append((tech, row_runs))
    return runs, table


def _row(work: _Workload, run: _Run, raw: list, out, flat, fps: list, oracle, oracle_note) -> dict:
    """The JSON row of one timed run, before the ratios."""
    impl = run.impl
    done = work.examples_timed(impl)
    scale = work.n / done
    epoch = [s * scale for s in raw]
    correct = work.accuracy(impl, out, run.technique)
    diff = None if (flat is None or oracle is None) else _rel_diff(flat, oracle)
    return {
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
        "diff_against": None if diff is None else oracle_note,
        "bitwise_identical_across_repeats": (None if fps[0] is None
                                             else len(set(fps)) == 1),
    }


def _bench_config(cfg: Config, work: _Workload, impls: Sequence[Impl], progress) -> dict:
    """Time ``impls`` (and the techniques' runs) on one configuration;
    return its JSON block."""
    load_before = _loadavg()
    main_runs = [_Run(_PLAIN, impl, impl.name) for impl in impls]
    extra_runs, tech_table = _technique_runs(impls, cfg.techniques)
    runs = main_runs + extra_runs
    if cfg.warmup:
        for run in runs:
            work.call(run.impl, limit=2 * work.mbs, technique=run.technique)()

    seconds = {run.key: [] for run in runs}
    prints = {run.key: [] for run in runs}
    last = {}
    sequences = []
    k = len(runs)
    for rep in range(cfg.repeats):
        # Round-robin over every run, techniques included; the first to run
        # rotates so no run always follows the same neighbour.
        sequence = [runs[(rep + j) % k] for j in range(k)]
        sequences.append([run.key for run in sequence])
        for run in sequence:
            fn = work.call(run.impl, technique=run.technique)
            t, out = _time_call(fn)
            seconds[run.key].append(t)
            flat = work.flat(run.impl, out)
            prints[run.key].append(_fingerprint(flat))
            last[run.key] = (out, flat)
        progress(f"    rep {rep + 1}/{cfg.repeats}: "
                 + ", ".join(f"{run.impl.name} {seconds[run.key][-1]:.3f}s" for run in main_runs))
        if extra_runs:
            progress("      techniques: "
                     + ", ".join(f"{run.key} {seconds[run.key][-1]:.3f}s" for run in extra_runs))

    # After the timing: accuracy and agreement with the float64 matrix reference.
    oracle_full = None
    if any(impl.family not in ("floor", "per-example") for impl in impls):
        if _ORACLE in last:
            oracle_full = last[_ORACLE][1].astype(np.float64)
        else:
            oracle_full = work.oracle(work.n)
    oracle_sub = work.oracle(work.sub) if any(i.family == "per-example" for i in impls) else None

    rows = []
    for run in main_runs:
        out, flat = last[run.key]
        if run.impl.family == "per-example":
            oracle = oracle_sub
        else:
            oracle = oracle_full
        rows.append(_row(work, run, seconds[run.key], out, flat, prints[run.key], oracle,
                         f"{_ORACLE} on the same {work.examples_timed(run.impl)} examples"))
    _add_ratios(rows)

    technique_rows = []
    prefix = min(AGREEMENT_BATCHES * work.mbs, work.n)
    for tech, tech_runs in tech_table:
        oracle_run = next(run for run in tech_runs if run.impl.name == _ORACLE)
        oracle = last[oracle_run.key][1].astype(np.float64)
        # Untimed: the same comparison after the first AGREEMENT_BATCHES mini-batches.
        oracle_prefix = work.flat(oracle_run.impl, work.call(
            oracle_run.impl, limit=prefix, technique=tech)()).astype(np.float64)
        for run in tech_runs:
            out, flat = last[run.key]
            row = _row(work, run, seconds[run.key], out, flat, prints[run.key], oracle,
                       f"{_ORACLE} with technique {tech.name} on the same {work.n} examples")
            if run is oracle_run:
                early = None
            else:
                early = _rel_diff(work.flat(run.impl, work.call(
                    run.impl, limit=prefix, technique=tech)()), oracle_prefix)
            row = {"technique": tech.name, "run_key": run.key, **row,
                   "max_rel_diff_vs_matrix_f64_early": early, "early_examples": prefix}
            technique_rows.append(row)
    _add_technique_ratios(technique_rows)

    block = {"sizes": work.sizes, "mini_batch_size": work.mbs, "run_sequences": sequences,
             "loadavg_1min": [load_before, _loadavg()],
             "rows": rows}
    if technique_rows:
        block["technique_rows"] = technique_rows
    return block


def _add_technique_ratios(rows: list) -> None:
    """For the techniques table: each median over plain native float64's
    (``ratio_to_plain_native_f64``, the technique overhead), over the plain
    row of the same implementation (``ratio_to_plain_same_impl``), and the
    same-technique matrix reference's median over it
    (``speedup_vs_matrix_f64``; > 1: faster than the reference).  The
    fastest-run versions go in ``*_min``."""
    by = {(row["technique"], row["impl"]): row for row in rows}
    base = by.get(("plain", _BASELINE))
    for row in rows:
        plain = by.get(("plain", row["impl"]))
        oracle = by.get((row["technique"], _ORACLE))
        for stat, suffix in (("median", ""), ("min", "_min")):
            row["ratio_to_plain_native_f64" + suffix] = (
                row[stat] / base[stat] if base else None)
            row["ratio_to_plain_same_impl" + suffix] = (
                row[stat] / plain[stat] if plain else None)
            row["speedup_vs_matrix_f64" + suffix] = (
                oracle[stat] / row[stat] if oracle else None)


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

    core_before = _core_library()
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
                    if limit is None or limit > 1:  # as Network.SGD chooses
                        work.two_cores = True
                        work.native_threads = native.epoch_threads(None, mbs, sizes)
                    configs.append(_bench_config(cfg, work, impls, progress))
                    configs[-1]["native_threads"] = work.native_threads
        sections.append({"threads": str(setting), "blas": blas, "configs": configs})

    machine = machine_info()
    # The process measured the core it loaded at the start; say so if the
    # file on disk was rebuilt meanwhile.
    on_disk = machine.get("core_library")
    machine["core_library"] = core_before
    if core_before and on_disk and core_before["sha256"] != on_disk["sha256"]:
        machine["core_library_on_disk_at_end"] = on_disk
        print("warning: the compiled core was rebuilt on disk during the run; the results "
              "are for the one loaded at the start", file=sys.stderr)
    return {
        "schema": SCHEMA,
        "benchmark": "one SGD epoch on MNIST",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "config": dataclasses.asdict(cfg),
        "data": {**data_info, "train_size": cfg.train_size, "test_size": int(len(y_test))},
        "machine": machine,
        "techniques": {name: {**dataclasses.asdict(_TECHNIQUE_BY_NAME[name]),
                              "cost": _TECHNIQUE_BY_NAME[name].cost_for(cfg)}
                       for name in dict.fromkeys(["plain", *cfg.techniques])},
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


def _spread_text(row) -> tuple:
    """``("min–max", unsteady)``; ‡ when the slowest took over
    UNSTABLE_SPREAD times the fastest."""
    spread = f"{_fmt_seconds(row['min'])}–{_fmt_seconds(row['max'])}"
    unsteady = row["max"] > UNSTABLE_SPREAD * row["min"]
    return (spread + " ‡" if unsteady else spread), unsteady


def _techniques_table(section: dict) -> tuple:
    """``(lines, unsteady)``: the markdown techniques table of a section
    (no lines when no block has technique rows)."""
    blocks = [b for b in section["configs"] if b.get("technique_rows")]
    if not blocks:
        return [], False
    lines = ["Techniques (chapter 3), same round-robin as above; `overhead`: median over plain "
             "native f64's, same sizes and mini-batch (fastest runs in brackets); "
             "`× plain impl.`: over the plain row of the same implementation; `vs matrix`: "
             "the same-technique float64 matrix reference's median over the row's "
             f"(> 1: faster); `Δθ` against that reference after the epoch, and `Δθ early` "
             f"after its first {AGREEMENT_BATCHES} mini-batches (untimed; where training is "
             f"chaotic -- momentum, tanh at this eta -- rounding differences grow to O(1) over "
             f"an epoch, and only the early value says whether the steps agree).", "",
             "| sizes | batch | technique | implementation | dtype | s/epoch | min–max "
             "| overhead | × plain impl. | vs matrix | test acc. | Δθ | Δθ early |",
             "|---|---:|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    unsteady = False
    for block in blocks:
        for row in block["technique_rows"]:
            spread, flag = _spread_text(row)
            unsteady |= flag
            acc = "—" if row["test_accuracy"] is None else f"{100 * row['test_accuracy']:.2f}%"
            if row["impl"] == _ORACLE:
                diff = early = speed = "(ref.)"
            else:
                diff = ("—" if row["max_rel_diff_vs_matrix_f64"] is None
                        else f"{row['max_rel_diff_vs_matrix_f64']:.1e}")
                early = ("—" if row.get("max_rel_diff_vs_matrix_f64_early") is None
                         else f"{row['max_rel_diff_vs_matrix_f64_early']:.1e}")
                speed = (_fmt_ratio(row["speedup_vs_matrix_f64"])
                         + (f" ({row['speedup_vs_matrix_f64_min']:.2f})"
                            if row.get("speedup_vs_matrix_f64_min") is not None else ""))
            overhead = _fmt_ratio(row["ratio_to_plain_native_f64"])
            if row.get("ratio_to_plain_native_f64_min") is not None:
                overhead += f" ({row['ratio_to_plain_native_f64_min']:.2f})"
            lines.append(
                f"| {_sizes_text(block['sizes'])} | {block['mini_batch_size']} | "
                f"{row['technique']} | {row['label']} | {row['dtype']} | "
                f"{_fmt_seconds(row['median'])} | {spread} | {overhead} | "
                f"{_fmt_ratio(row['ratio_to_plain_same_impl'])} | {speed} | {acc} | {diff} "
                f"| {early} |")
    return lines + [""], unsteady


def _techniques_legend(results: Mapping) -> list:
    """One line per technique that appears in the report: what it changes."""
    used = dict.fromkeys(row["technique"] for s in results["sections"]
                         for b in s["configs"] for row in b.get("technique_rows", []))
    if not used:
        return []
    info = results.get("techniques", {})
    cfg = results["config"]
    parts = []
    for name in used:
        t = info.get(name) or {}
        desc = t.get("description") or (_TECHNIQUE_BY_NAME[name].description
                                         if name in _TECHNIQUE_BY_NAME else name)
        parts.append(f"`{name}`: {desc}")
    return ["Techniques: " + "; ".join(parts)
            + f". All with eta={cfg['eta']}, L2 lmbda={cfg['lmbda']}; dropout masks from "
              f"seed {cfg['seed']}; momentum velocities start at zero.", ""]


KERNELS_TEXT = {
    "avx512": "its own AVX-512 kernels where they measured faster (most of the first "
              "layer's products, leaving out the inputs zero in every example of a tile "
              "of 4-10 (one thread: the examples regrouped into tiles that share their "
              "inputs) or of a mini-batch; small mini-batches), BLAS for the rest",
    "blas": "all through BLAS (this CPU lacks AVX-512)",
}


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
        + (f" (commit {m['git_commit'][:10]}" + (
            f", with uncommitted changes in {', '.join(m['git_changed_files'])}"
            if m.get("git_changed_files") else "") + ")" if m.get("git_commit") else "")
        + (f"; core {m['core_library']['file']} sha256 {m['core_library']['sha256'][:12]}, "
           f"built {m['core_library']['modified']}" if m.get("core_library") else ""),
        f"- BLAS: {blas}; BLAS environment: {env}"
        + (f"; nncore's products: {KERNELS_TEXT[m['core_kernels']]}"
           if m.get("core_kernels") in KERNELS_TEXT else ""),
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
                spread, flag = _spread_text(row)
                unsteady |= flag
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
        tech_lines, flag = _techniques_table(section)
        lines += tech_lines
        unsteady |= flag
        unstable = [f"{_sizes_text(b['sizes'])}/{b['mini_batch_size']} {r['impl']}"
                    for b in section["configs"] for r in b["rows"]
                    if r["bitwise_identical_across_repeats"] is False]
        unstable += [f"{_sizes_text(b['sizes'])}/{b['mini_batch_size']} "
                     f"{r['technique']} {r['impl']}"
                     for b in section["configs"] for r in b.get("technique_rows", [])
                     if r["run_key"] not in {x["impl"] for x in b["rows"]}
                     and r["bitwise_identical_across_repeats"] is False]
        if unstable:
            lines += ["Final parameters differed between repetitions (not bit-for-bit "
                      "reproducible at this thread count): " + ", ".join(unstable) + ".", ""]
    if any(section["threads"] == "1" for section in results["sections"]):
        lines += [_TARGETS, ""]
    lines += _techniques_legend(results)
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
    p.add_argument("--techniques", nargs="+", metavar="NAME",
                   help="chapter-3 techniques, one row each (native f64/f32, matrix f64) in a "
                        "techniques table (default: plain, no table): "
                        + ", ".join(_TECHNIQUE_BY_NAME))
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
    techniques = None
    if args.techniques:
        techniques = [name for item in args.techniques for name in item.split(",") if name]
    overrides = {
        "sizes": args.sizes, "batch_sizes": args.batch_sizes, "repeats": args.repeats,
        "threads": args.threads, "impls": impls, "techniques": techniques,
        "train_size": args.train_size,
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
