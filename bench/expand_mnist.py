#!/usr/bin/env python3
"""Artificially expanded training data on MNIST: how fast, and how much it helps.

What runs
---------
1. **Timings.**  Each transform of :mod:`nncore.expand` applied to the
   50,000 training images, float32 and float64, best of ``--repeats``:
   milliseconds per 50,000 images, wall clock and CPU time of this process
   (on a shared machine the CPU time is the better measure of the cost).
   Also :func:`~nncore.expand.expand_shifts` (the five-fold set).
2. **Training.**  For each layer size and seed, the same network trained the
   same number of epochs on

   ``plain``
       the 50,000 training images (lambda = ``--lmbda``);
   ``shifts-5x``
       the precomputed five-fold set (originals + four one-pixel shifts,
       250,000 images), with lambda scaled by 5 so that lambda / n, the
       weight decay per step, stays the same;
   ``affine``, ``elastic``
       on the fly: before each epoch a freshly distorted copy of the 50,000
       images (:class:`~nncore.expand.Affine`, :class:`~nncore.expand.Elastic`
       with their default strengths), drawn from the network's own
       generator;
   ``shifts``
       (optional) on the fly: one random member of the five-fold set per
       image per epoch.

   The loop is the low-level one: ``net.SGD((X_epoch, y), 1, ...)`` once per
   epoch, validation accuracy after each epoch, test accuracy at the end.
   Every run is deterministic for its seed.
3. ``--wide``: [784, 800, 10] (Simard et al.'s size), plain against elastic
   (and whatever ``--wide-runs`` names), usually with fewer epochs
   (``--wide-epochs``).

Use
---
::

    python bench/expand_mnist.py                      # timings + [784,100,10], seeds 1 2
    python bench/expand_mnist.py --quick              # smoke run, ~1 min
    python bench/expand_mnist.py --timings-only
    python bench/expand_mnist.py --seeds 1 --wide --wide-epochs 20
    python bench/expand_mnist.py --help

Markdown goes to stdout, one progress line per epoch to stderr, everything
(per-epoch accuracies and times) to ``bench/results/expand_mnist.json``
(``--quick``: ``expand_mnist-quick.json``).  BLAS is pinned to one thread
with threadpoolctl (``--threads``).  MNIST is the book's ``mnist.pkl.gz``:
``--data PATH``, else ``$NNCORE_DATA``, else
``<repo>/../shared/data/mnist.pkl.gz``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
DEFAULT_JSON = BENCH_DIR / "results" / "expand_mnist.json"
QUICK_JSON = BENCH_DIR / "results" / "expand_mnist-quick.json"
RUN_NAMES = ("plain", "shifts-5x", "shifts", "affine", "elastic")


def say(*a):
    print(*a, file=sys.stderr, flush=True)


def data_path(arg):
    if arg:
        return Path(arg)
    env = os.environ.get("NNCORE_DATA")
    if env:
        return Path(env)
    return REPO_DIR.parent / "shared" / "data" / "mnist.pkl.gz"


def blas_limits(threads):
    if threads == "default":
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        say("threadpoolctl is not installed: BLAS threads are not pinned")
        return contextlib.nullcontext()
    return threadpool_limits(limits=int(threads), user_api="blas")


# -- 1. timings ----------------------------------------------------------------------

def time_transforms(X, y, repeats):
    from nncore import expand as ex

    rows = []
    scale = 50_000 / X.shape[0]
    cases = [("shifts (on the fly)", ex.Shifts()), ("affine", ex.Affine()),
             ("elastic", ex.Elastic())]
    for dtype in (np.float32, np.float64):
        Xd = np.ascontiguousarray(X, dtype=dtype)
        for name, aug in cases:
            rng = np.random.default_rng(0)
            aug(Xd[:1000], rng)  # warm up (caches, first-touch)
            wall, cpu = [], []
            for _ in range(repeats):
                t, c = time.perf_counter(), time.process_time()
                aug(Xd, rng)
                wall.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
            rows.append(dict(transform=name, repr=repr(aug), dtype=np.dtype(dtype).name,
                             n=X.shape[0], wall_ms_per_50k=1000 * min(wall) * scale,
                             cpu_ms_per_50k=1000 * min(cpu) * scale,
                             wall_ms_all=[1000 * w * scale for w in wall]))
            say(f"  {name:22s} {np.dtype(dtype).name}: {rows[-1]['cpu_ms_per_50k']:.0f} ms CPU, "
                f"{rows[-1]['wall_ms_per_50k']:.0f} ms wall per 50,000")
        wall, cpu = [], []
        for _ in range(repeats):
            t, c = time.perf_counter(), time.process_time()
            ex.expand_shifts(Xd, y)
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
        rows.append(dict(transform="expand_shifts (5x set)", repr="expand_shifts(X, y)",
                         dtype=np.dtype(dtype).name, n=X.shape[0],
                         wall_ms_per_50k=1000 * min(wall) * scale,
                         cpu_ms_per_50k=1000 * min(cpu) * scale,
                         wall_ms_all=[1000 * w * scale for w in wall]))
    return rows


# -- 2. training -----------------------------------------------------------------------

def train_run(kind, sizes, seed, data, epochs, eta, lmbda, dtype, mbs, drop_after=None):
    import nncore
    from nncore import expand as ex

    X, y = data.X_train, data.y_train
    n = X.shape[0]
    lam = lmbda
    prep_seconds = 0.0
    augmenter = None
    if kind == "shifts-5x":
        t = time.perf_counter()
        X, y = ex.expand_shifts(X, y)
        prep_seconds = time.perf_counter() - t
        lam = lmbda * X.shape[0] / n  # same lambda / n
    elif kind in ("shifts", "affine", "elastic"):
        augmenter = ex.make_augmenter(kind)
    # distort the float32 images (twice as fast as float64), then convert to
    # the network's dtype here (counted as augmentation), not inside SGD
    X_plain = np.ascontiguousarray(X, dtype=dtype)
    val = (np.ascontiguousarray(data.X_val, dtype=dtype), data.y_val)
    test = (np.ascontiguousarray(data.X_test, dtype=dtype), data.y_test)

    net = nncore.Network(sizes, seed=seed, dtype=dtype)
    t_start = time.perf_counter()
    val_acc, sgd_s, aug_s = [], [], []
    etas = []
    for epoch in range(epochs):
        eta_ep = eta / 10 if drop_after is not None and epoch >= drop_after else eta
        etas.append(eta_ep)
        t = time.perf_counter()
        if augmenter is not None:
            X_ep = np.ascontiguousarray(augmenter(X, net.rng), dtype=dtype)
        else:
            X_ep = X_plain
        aug_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        net.SGD((X_ep, y), 1, mbs, eta_ep, lmbda=lam, verbose=False, progress=False)
        sgd_s.append(time.perf_counter() - t)
        val_acc.append(net.accuracy(val))
        say(f"  {kind:10s} {sizes} seed {seed} epoch {epoch + 1:3d}/{epochs}: "
            f"validation {val_acc[-1] / len(val[1]):.2%}  (SGD {sgd_s[-1]:.2f} s, "
            f"augment {aug_s[-1]:.2f} s)")
    wall = time.perf_counter() - t_start + prep_seconds
    test_acc = net.accuracy(test)
    # how well the network fits the clean training images it was meant to learn
    train_acc = net.accuracy((np.ascontiguousarray(data.X_train, dtype=dtype), data.y_train))
    best = int(np.argmax(val_acc)) if val_acc else -1
    return dict(
        kind=kind, sizes=sizes, seed=seed, epochs=epochs, eta=eta, lmbda=lam,
        drop_after=drop_after, eta_by_epoch=etas,
        train_accuracy=train_acc / len(data.y_train),
        mini_batch_size=mbs, dtype=np.dtype(dtype).name, n_train_per_epoch=int(X.shape[0]),
        augmenter=repr(augmenter) if augmenter is not None else None,
        val_accuracy=[a / len(val[1]) for a in val_acc],
        best_val=val_acc[best] / len(val[1]) if val_acc else None,
        best_epoch=best + 1,
        final_val=val_acc[-1] / len(val[1]) if val_acc else None,
        test=test_acc / len(test[1]),
        wall_seconds=wall, prep_seconds=prep_seconds,
        sgd_seconds=sgd_s, augment_seconds=aug_s,
        augment_ms_per_50k=(1000 * float(np.mean(aug_s)) * 50_000 / n
                            if augmenter is not None and aug_s else None),
    )


# -- reporting --------------------------------------------------------------------------

def fmt_pct(x):
    return "—" if x is None else f"{100 * x:.2f}%"


def markdown(results, timings, meta):
    out = []
    if timings:
        out.append("### Transforms: milliseconds per 50,000 MNIST images (one core)\n")
        out.append(f"best of {meta['repeats']}; CPU = this process's CPU time (the machine is "
                   "shared, so wall clock also counts waiting for a core); load average at "
                   f"start {meta['loadavg_start']}\n")
        out.append("| transform | dtype | CPU ms / 50k | wall ms / 50k |")
        out.append("|---|---|---:|---:|")
        for r in timings:
            out.append(f"| {r['transform']} | {r['dtype']} | {r['cpu_ms_per_50k']:.0f} | "
                       f"{r['wall_ms_per_50k']:.0f} |")
        out.append("")
    if results:
        out.append("### Training with and without expanded data\n")
        out.append(f"sigmoid + cross-entropy, mini-batch {results[0]['mini_batch_size']}, "
                   f"{results[0]['dtype']}; lambda scaled with the set size (lambda/n fixed); "
                   "on-the-fly runs see a fresh distortion of the 50,000 images each epoch\n")
        out.append("| network | training data | seed | epochs | eta | lambda | best val (epoch) "
                   "| final val | test | train (clean 50k) | wall | SGD s/epoch | augment ms/50k |")
        out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            aug = "—" if r["augment_ms_per_50k"] is None else f"{r['augment_ms_per_50k']:.0f}"
            if r["kind"] == "shifts-5x":
                aug = f"({1000 * r['prep_seconds']:.0f} once)"
            out.append(
                f"| {sizes_str(r['sizes'])} | {label(r)} | {r['seed']} | {r['epochs']} | "
                f"{eta_str(r)} | {r['lmbda']:g} | {fmt_pct(r['best_val'])} ({r['best_epoch']}) | "
                f"{fmt_pct(r['final_val'])} | {fmt_pct(r['test'])} | "
                f"{fmt_pct(r.get('train_accuracy'))} | {r['wall_seconds']:.0f} s | "
                f"{np.mean(r['sgd_seconds']):.2f} | {aug} |")
        out.append("")
        groups = {}
        for r in results:
            groups.setdefault((sizes_str(r["sizes"]), r["epochs"], label(r)), []).append(r)
        if any(len(v) > 1 for v in groups.values()):
            out.append("Mean over seeds:\n")
            out.append("| network | training data | epochs | seeds | best val | final val | "
                       "test | test gain over plain |")
            out.append("|---|---|---:|---:|---:|---:|---:|---:|")
            for (sz, ep, lab), rs in groups.items():
                plain = groups.get((sz, ep, "plain"))
                gain = ("—" if not plain or lab == "plain" else
                        f"{100 * (np.mean([r['test'] for r in rs]) - np.mean([r['test'] for r in plain])):+.2f} pts")
                out.append(f"| {sz} | {lab} | {ep} | {len(rs)} | "
                           f"{fmt_pct(np.mean([r['best_val'] for r in rs]))} | "
                           f"{fmt_pct(np.mean([r['final_val'] for r in rs]))} | "
                           f"{fmt_pct(np.mean([r['test'] for r in rs]))} | {gain} |")
            out.append("")
        out.append(f"Total wall time: {meta['wall_seconds'] / 60:.1f} min.")
    return "\n".join(out)


def eta_str(r):
    if r.get("drop_after") is None:
        return f"{r['eta']:g}"
    return f"{r['eta']:g}, /10 after {r['drop_after']}"


def sizes_str(s):
    return "[" + ",".join(map(str, s)) + "]"


def label(r):
    return {"plain": "plain", "shifts-5x": "shifts 5x (precomputed, 250k)",
            "shifts": "shifts (on the fly)", "affine": "affine (on the fly)",
            "elastic": "elastic (on the fly)"}[r["kind"]]


def machine():
    return dict(
        python=sys.version.split()[0], numpy=np.__version__,
        scipy=__import__("scipy").__version__, platform=platform.platform(),
        cpus=os.cpu_count(), OPENBLAS_CORETYPE=os.environ.get("OPENBLAS_CORETYPE"),
    )


def parse_sizes(text):
    return [int(v) for v in text.split(",")]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=parse_sizes, nargs="+", default=[[784, 100, 10]])
    p.add_argument("--runs", nargs="+", choices=RUN_NAMES,
                   default=["plain", "shifts-5x", "affine", "elastic"])
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--eta", type=float, default=0.5)
    p.add_argument("--lmbda", type=float, default=5.0)
    p.add_argument("--mini-batch-size", type=int, default=10)
    p.add_argument("--drop-after", type=int, default=None, metavar="N",
                   help="divide eta by 10 after N epochs (all runs)")
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--wide", action="store_true", help="add [784,800,10] runs")
    p.add_argument("--wide-runs", nargs="+", choices=RUN_NAMES, default=["plain", "elastic"])
    p.add_argument("--wide-epochs", type=int, default=15)
    p.add_argument("--wide-eta", type=float, default=None, help="default: --eta")
    p.add_argument("--wide-seeds", type=int, nargs="+", default=[1])
    p.add_argument("--wide-drop-after", type=int, default=None, metavar="N")
    p.add_argument("--train-size", type=int, default=None)
    p.add_argument("--repeats", type=int, default=3, help="timing repetitions")
    p.add_argument("--timings-only", action="store_true")
    p.add_argument("--no-timings", action="store_true")
    p.add_argument("--threads", default="1", help="BLAS threads, or 'default'")
    p.add_argument("--data", default=None)
    p.add_argument("--json", default=None)
    p.add_argument("--no-json", action="store_true")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 5,000 images, 2 epochs, seed 1, 1 timing repeat")
    args = p.parse_args(argv)
    if args.quick:
        args.train_size = args.train_size or 5000
        args.epochs = min(args.epochs, 2)
        args.wide_epochs = min(args.wide_epochs, 1)
        args.seeds = args.seeds[:1]
        args.repeats = 1

    from nncore import mnist_loader

    t0 = time.perf_counter()
    loadavg = os.getloadavg()
    data = mnist_loader.load_arrays(data_path(args.data), dtype=None)
    if args.train_size:
        data = data._replace(X_train=data.X_train[:args.train_size],
                             y_train=data.y_train[:args.train_size])
    dtype = np.dtype(args.dtype)
    results, timings = [], []
    with blas_limits(args.threads):
        if not args.no_timings:
            say("timings:")
            timings = time_transforms(data.X_train, data.y_train, args.repeats)
        if not args.timings_only:
            plan = [(sizes, seed, kind, args.epochs, args.eta, args.drop_after)
                    for sizes in args.sizes for seed in args.seeds for kind in args.runs]
            if args.wide:
                plan += [([784, 800, 10], seed, kind, args.wide_epochs,
                          args.wide_eta if args.wide_eta else args.eta, args.wide_drop_after)
                         for seed in args.wide_seeds for kind in args.wide_runs]
            for sizes, seed, kind, epochs, eta, drop in plan:
                say(f"{kind} {sizes} seed {seed}: {epochs} epochs")
                results.append(train_run(kind, sizes, seed, data, epochs, eta, args.lmbda,
                                         dtype, args.mini_batch_size, drop))
                say(f"  -> test {results[-1]['test']:.2%}, {results[-1]['wall_seconds']:.0f} s")
                write_json(args, results, timings, loadavg, t0)  # keep what is done
    meta = dict(repeats=args.repeats, loadavg_start=", ".join(f"{v:.2f}" for v in loadavg),
                wall_seconds=time.perf_counter() - t0)
    write_json(args, results, timings, loadavg, t0)
    print(markdown(results, timings, meta))
    return 0


def write_json(args, results, timings, loadavg, t0):
    if args.no_json:
        return
    path = Path(args.json) if args.json else (QUICK_JSON if args.quick else DEFAULT_JSON)
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = dict(
        benchmark="expand_mnist", created=datetime.datetime.now().isoformat(timespec="seconds"),
        argv=sys.argv[1:], settings={k: v for k, v in vars(args).items()},
        machine=machine(), loadavg_start=loadavg, blas_threads=args.threads,
        wall_seconds=time.perf_counter() - t0, timings=timings, runs=results,
    )
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
