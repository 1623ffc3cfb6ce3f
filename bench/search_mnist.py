"""Hyper-parameter search on MNIST against the chapter's hand-picked network.

The chapter trains [784, 100, 10] (cross-entropy, mini-batch 10, eta = 0.5,
lambda = 5.0, 30 epochs) to 97.92% validation accuracy.  This runs a TPE
search (Optuna) over eta, lambda and the mini-batch size for the same
network on the full 50,000 training images, each trial scored by its best
validation accuracy under no-improvement-in-N early stopping and pruned by
Optuna's median pruner when it lags; it then retrains the best configuration
for its test accuracy, and (unless --no-baseline) trains the chapter's own
configuration once for comparison.

    python bench/search_mnist.py [--trials 200] [--timeout 2100] [--workers 2]
        [--epochs 60] [--early-stopping 10] [--sizes 784,100,10] [--seed 1]
        [--out DIR] [--data PATH] [--no-baseline]

Writes into --out (default bench/results/search_mnist/): the SQLite study
(search.db: run the same command again to resume it), trials.csv, trials.md,
best.json, summary.json, summary.md and the two plots.  Needs optuna and
matplotlib (pip install optuna matplotlib, or nncore[search]); threadpoolctl
keeps each worker on one BLAS thread.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sys
import time
from pathlib import Path

import numpy as np

import nncore
from nncore import mnist_loader
from nncore.search import Choice, Float, search, trials_table

CHAPTER = {"sizes": [784, 100, 10], "eta": 0.5, "lmbda": 5.0, "mini_batch_size": 10,
           "epochs": 30, "validation_accuracy": 0.9792}


def data_path(path=None):
    if path:
        return path
    if os.environ.get("NNCORE_DATA"):
        return os.environ["NNCORE_DATA"]
    return str(Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.pkl.gz")


def baseline(path, dtype, seed):
    """The chapter's run: large weight initialization, 30 epochs, as printed."""
    a = mnist_loader.load_arrays(path, dtype=None)
    net = nncore.Network(CHAPTER["sizes"], cost=nncore.CrossEntropyCost, seed=seed, dtype=dtype)
    net.large_weight_initializer()
    t = time.perf_counter()
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1):
        h = net.SGD((a.X_train, a.y_train), CHAPTER["epochs"], CHAPTER["mini_batch_size"],
                    CHAPTER["eta"], lmbda=CHAPTER["lmbda"], evaluation_data=(a.X_val, a.y_val),
                    monitor_evaluation_accuracy=True, verbose=False)
    return {"final_validation_accuracy": h.evaluation_accuracy[-1] / h.n_evaluation,
            "best_validation_accuracy": h.best_accuracy / h.n_evaluation,
            "best_epoch": h.best_epoch,
            "test_accuracy": net.accuracy((a.X_test, a.y_test)) / len(a.y_test),
            "seconds": time.perf_counter() - t}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=200, help="trial budget (default 200)")
    ap.add_argument("--timeout", type=float, default=2100.0,
                    help="start no new trial after this many seconds (default 2100 = 35 min)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sizes", default="784,100,10")
    ap.add_argument("--epochs", type=int, default=60, help="most epochs per trial")
    ap.add_argument("--early-stopping", type=int, default=10, help="no-improvement-in-N")
    ap.add_argument("--pruner", default="median:5:8",
                    help="median:WARMUP:STARTUP (default: prune from epoch 5, after 8 trials)")
    ap.add_argument("--startup-trials", type=int, default=12)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--study", default=None)
    ap.add_argument("--storage", default=None, help="default: OUT/search.db")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "results"
                                          / "search_mnist"))
    ap.add_argument("--data", default=None)
    ap.add_argument("--no-baseline", action="store_true")
    args = ap.parse_args(argv)

    sizes = [int(s) for s in args.sizes.split(",")]
    os.makedirs(args.out, exist_ok=True)
    path = data_path(args.data)
    storage = args.storage or os.path.join(args.out, "search.db")
    study = args.study or "mnist-" + "-".join(map(str, sizes))
    space = {"eta": Float(0.01, 3.0, log=True), "lmbda": Float(0.1, 20.0, log=True),
             "mini_batch_size": Choice([5, 10, 20, 50])}
    env = {"host": socket.gethostname(), "python": platform.python_version(),
           "numpy": np.__version__, "nncore": nncore.__version__,
           "optuna": __import__("optuna").__version__, "cpus": os.cpu_count(),
           "load_average_start": os.getloadavg(),
           "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE")}
    print(f"environment: {env}", flush=True)
    t0 = time.time()
    result = search(path, space, method="tpe", n_trials=args.trials, timeout=args.timeout,
                    storage=storage, study_name=study, n_workers=args.workers,
                    pruner=args.pruner, seed=args.seed, sizes=sizes, epochs=args.epochs,
                    early_stopping=args.early_stopping, dtype=args.dtype,
                    n_startup_trials=args.startup_trials, retrain=True, verbose=True,
                    wait=60)
    wall = time.time() - t0
    env["load_average_end"] = os.getloadavg()
    paths = result.save(args.out)
    base = None
    if not args.no_baseline and sizes == CHAPTER["sizes"]:
        print("training the chapter's configuration once for comparison ...", flush=True)
        base = baseline(path, np.dtype(args.dtype), args.seed)
        print(f"chapter's configuration in nncore: {base}", flush=True)
    complete = [t for t in result.trials if t["state"] == "COMPLETE"]
    first_beat = next((t["number"] for t in sorted(complete, key=lambda t: t["number"])
                       if t["value"] >= CHAPTER["validation_accuracy"]), None)
    summary = {
        "study": study, "storage": result.storage, "sizes": sizes,
        "trials": len(result.trials), "counts": result.counts, "workers": args.workers,
        "search_wall_seconds": result.wall_seconds, "total_wall_seconds": wall,
        "trial_seconds_total": sum(t["seconds"] or 0 for t in result.trials),
        "best_trial": result.best_trial, "best_config": result.best_config,
        "validation_accuracy": result.validation_accuracy,
        "retrained_validation_accuracy": result.retrained_validation_accuracy,
        "test_accuracy": result.test_accuracy,
        "chapter": CHAPTER, "chapter_in_nncore": base,
        "beats_chapter": (result.validation_accuracy or 0) >= CHAPTER["validation_accuracy"],
        "first_trial_at_or_above_chapter": first_beat,
        "settings": {"epochs": args.epochs, "early_stopping": args.early_stopping,
                     "pruner": args.pruner, "startup_trials": args.startup_trials,
                     "dtype": args.dtype, "seed": args.seed, "timeout": args.timeout,
                     "trial_budget": args.trials},
        "environment": env,
    }
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1, default=str)
    lines = [f"# TPE search for {sizes} on MNIST", "",
             result.summary().replace("\n", "  \n"), "",
             "The chapter's hand-picked configuration: 97.92% validation accuracy"
             + (f"; in nncore (same settings, seed {args.seed}, {args.dtype}): "
                f"{base['final_validation_accuracy']:.2%} after 30 epochs "
                f"(best {base['best_validation_accuracy']:.2%} at epoch {base['best_epoch']}), "
                f"test {base['test_accuracy']:.2%}" if base else "") + ".",
             f"First trial at or above 97.92%: {first_beat}.", "",
             "## The best ten trials", "", trials_table(result.trials, result.searched,
                                                        limit=10), ""]
    with open(os.path.join(args.out, "summary.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines), flush=True)
    print("Wrote " + ", ".join(str(v) for v in paths.values()) + ", summary.json, summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
