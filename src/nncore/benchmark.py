"""A short benchmark for users: one MNIST training epoch on the native core
against the NumPy reference (``nncore train``'s network; a minute or less).

``nncore bench`` runs it; the full benchmark, with the BLAS floor, more
sizes and thread settings, is ``bench/bench_epoch.py`` in the repository.
"""

from __future__ import annotations

import contextlib
import os
import platform
import time

import numpy as np

from . import _core, native

__all__ = ["run_benchmark", "to_markdown"]


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (pip install threadpoolctl to see it)"
    libs = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture', '?')}, "
            f"{i.get('num_threads')} threads)" for i in threadpool_info()
            if i.get("user_api") == "blas"]
    return "; ".join(libs) or "unknown"


def _cpu():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _limit_threads(threads):
    """A context pinning BLAS to ``threads`` (a no-op without threadpoolctl)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=threads) if threads else contextlib.nullcontext()


def run_benchmark(sizes=(784, 30, 10), mini_batch_size=10, train_size=50_000, repeats=3,
                  reference=True, threads=1, data=None, seed=0, progress=print):
    """Time one epoch (cross-entropy, eta 0.5, lmbda 5.0) ``repeats`` times,
    alternating native float64, native float32 and the NumPy matrix
    reference; return a dict with the medians, ratios and the machine.

    ``data`` is an (X, labels) pair; by default the first ``train_size``
    MNIST training images.  ``threads`` pins BLAS (needs threadpoolctl;
    None leaves the default)."""
    if data is None:
        from .mnist_loader import load_arrays
        a = load_arrays(None, dtype=None)
        data = (a.X_train[:train_size], a.y_train[:train_size])
    X, labels = data
    sizes = [int(s) for s in sizes]
    rng = np.random.default_rng(seed)
    w = [rng.standard_normal((o, i)) / np.sqrt(i) for i, o in zip(sizes[:-1], sizes[1:])]
    b = [rng.standard_normal((o, 1)) for o in sizes[1:]]
    order = rng.permutation(len(X))
    Y = np.eye(sizes[-1])[labels]
    impls = {"native float64": np.float64, "native float32": np.float32}
    arrays = {dt: (np.ascontiguousarray(X, dtype=dt), np.ascontiguousarray(Y, dtype=dt))
              for dt in (np.float64, np.float32)}
    if reference:
        try:
            import nncore_reference as ref
        except ImportError:
            ref = None
            progress("nncore_reference is not installed: skipping the NumPy baseline")
    times = {name: [] for name in impls}
    if reference and ref is not None:
        times["NumPy reference float64"] = []
    with _limit_threads(threads):
        blas = _blas_info()
        for r in range(repeats):
            for name in times:
                if name.startswith("native"):
                    dt = impls[name]
                    theta = native.pack(w, b, dt)
                    Xd, Yd = arrays[dt]
                    t = time.perf_counter()
                    native.sgd_epoch(theta, sizes, Xd, Yd, order, mini_batch_size, 0.5, 5.0)
                else:
                    Xd, Yd = arrays[np.float64]
                    t = time.perf_counter()
                    ref.matrix.sgd_epoch(w, b, Xd, Yd, order, mini_batch_size, 0.5, 5.0,
                                         "cross-entropy")
                times[name].append(time.perf_counter() - t)
            progress(f"repetition {r + 1}/{repeats}: " + ", ".join(
                f"{k} {v[-1]:.3f} s" for k, v in times.items()))
    med = {k: float(np.median(v)) for k, v in times.items()}
    base = med["native float64"]
    return {
        "sizes": sizes, "mini_batch_size": mini_batch_size, "examples": len(X),
        "repeats": repeats, "threads": threads, "median_seconds": med,
        "times": times, "relative_to_native_float64": {k: v / base for k, v in med.items()},
        "machine": {"cpu": _cpu(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "numpy": np.__version__, "blas": blas, "kernels": _core.kernels(),
                    "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")},
    }


def to_markdown(res):
    lines = [
        f"One epoch of {res['examples']:,} examples, sizes {res['sizes']}, mini-batch "
        f"{res['mini_batch_size']}, median of {res['repeats']}, BLAS threads: "
        f"{res['threads'] or 'default'}",
        f"Machine: {res['machine']['cpu']}, {res['machine']['cores']} cores; "
        f"BLAS: {res['machine']['blas']}; nncore's own kernels: "
        f"{'AVX-512' if res['machine'].get('kernels') == 'avx512' else 'none (all BLAS)'}",
        "",
        "| implementation | seconds per epoch | time relative to native float64 |",
        "|---|---:|---:|",
    ]
    for name, s in res["median_seconds"].items():
        lines.append(f"| {name} | {s:.3f} | {res['relative_to_native_float64'][name]:.2f}x |")
    return "\n".join(lines)
