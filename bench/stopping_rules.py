"""Compare early-stopping rules on MNIST (the chapter's problem): the
validation accuracy each reaches and the epochs it takes.

    python bench/stopping_rules.py [--seeds 1 2 3] [--max-epochs 100] [--data PATH]

Trains [784, 30, 10] (cross-entropy, mini-batch 10, eta 0.5, lmbda 5.0) once
per seed and rule, with the best epoch's weights restored at the end, and
prints a markdown table: epochs trained, best epoch, best validation
accuracy, test accuracy of the restored network, wall time.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np

import nncore
from nncore import mnist_loader
from nncore.training import DiminishingReturns, NoImprovement

RULES = {
    "no-improvement-in-10": lambda: NoImprovement(10),
    "diminishing-returns (5 epochs, 0.1%)": lambda: DiminishingReturns(5, 0.001),
    "diminishing-returns (10 epochs, 0.1%)": lambda: DiminishingReturns(10, 0.001),
}


def data_path(path=None):
    if path:
        return path
    if os.environ.get("NNCORE_DATA"):
        return os.environ["NNCORE_DATA"]
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist.pkl.gz"


def run(seeds, max_epochs, path=None):
    a = mnist_loader.load_arrays(data_path(path))
    train, val, test = (a.X_train, a.y_train), (a.X_val, a.y_val), (a.X_test, a.y_test)
    rows = []
    for name, make in RULES.items():
        for seed in seeds:
            net = nncore.Network([784, 30, 10], seed=seed)
            t = time.perf_counter()
            h = net.SGD(train, max_epochs, 10, 0.5, lmbda=5.0, evaluation_data=val,
                        early_stopping=make(), restore_best=True, verbose=False)
            rows.append(dict(rule=name, seed=seed, epochs=h.epochs, best_epoch=h.best_epoch,
                             best=h.best_accuracy / 100, test=net.accuracy(test) / 100,
                             stop=h.stop_reason, seconds=time.perf_counter() - t))
            print(rows[-1], flush=True)
    return rows


def to_markdown(rows):
    lines = ["| rule | seed | epochs trained | best epoch | best validation % | test % "
             "(best weights) | wall s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['rule']} | {r['seed']} | {r['epochs']} | {r['best_epoch']} | "
                     f"{r['best']:.2f} | {r['test']:.2f} | {r['seconds']:.1f} |")
    lines += ["", "| rule | mean epochs | mean best validation % | mean test % |",
              "|---|---:|---:|---:|"]
    for name in RULES:
        rs = [r for r in rows if r["rule"] == name]
        lines.append(f"| {name} | {np.mean([r['epochs'] for r in rs]):.1f} | "
                     f"{np.mean([r['best'] for r in rs]):.2f} | "
                     f"{np.mean([r['test'] for r in rs]):.2f} |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--max-epochs", type=int, default=100)
    p.add_argument("--data", default=None)
    args = p.parse_args(argv)
    print(to_markdown(run(args.seeds, args.max_epochs, args.data)))


if __name__ == "__main__":
    main()
