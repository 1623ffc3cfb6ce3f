"""The ``nncore`` command (also ``python -m nncore``).

``nncore train`` trains a network on MNIST with the book's hyper-parameters
as flags, prints each epoch's accuracy, reports the final test accuracy and
the time per epoch, and saves the model if asked.
"""

from __future__ import annotations

import argparse
import importlib
import sys

import numpy as np

from ._argtypes import nonnegative_float as _nonnegative_float
from ._argtypes import nonnegative_int as _nonnegative_int
from ._argtypes import positive_float as _positive_float
from ._argtypes import positive_int as _positive_int
from ._argtypes import probability as _probability
from .network import Network

_COST_FLAGS = {"cross-entropy": "CrossEntropyCost", "quadratic": "QuadraticCost",
               "log-likelihood": "LogLikelihoodCost"}


def _sizes(text):
    try:
        sizes = [int(s) for s in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--sizes takes comma-separated integers such as 784,30,10, got {text!r}") from None
    if len(sizes) < 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(
            f"--sizes needs at least two positive widths, got {text!r}")
    return sizes


def _add_train(sub):
    p = sub.add_parser(
        "train", help="train a network on MNIST",
        description="Train a network on MNIST with mini-batch SGD (the book's network2). "
        "Defaults are the chapter's: [784,30,10], cross-entropy, 30 epochs, "
        "mini-batch 10, eta 0.5, lmbda 5.0.")
    p.add_argument("--sizes", type=_sizes, default=[784, 30, 10],
                   help="layer widths, inputs first (default 784,30,10)")
    p.add_argument("--epochs", type=_nonnegative_int, default=30)
    p.add_argument("--mini-batch-size", type=_positive_int, default=10)
    p.add_argument("--eta", type=_positive_float, default=0.5, help="learning rate")
    p.add_argument("--lmbda", type=_nonnegative_float, default=5.0,
                   help="L2 regularization parameter")
    p.add_argument("--l1", type=_nonnegative_float, default=0.0,
                   help="L1 regularization parameter (with or instead of --lmbda)")
    p.add_argument("--cost", choices=sorted(_COST_FLAGS), default="cross-entropy",
                   help="log-likelihood gives a softmax output layer")
    p.add_argument("--activation", choices=["sigmoid", "tanh", "relu", "linear"],
                   default="sigmoid", help="neurons of the hidden layers")
    p.add_argument("--output-activation",
                   choices=["sigmoid", "tanh", "relu", "linear", "softmax"], default=None,
                   help="neurons of the output layer (default: softmax for log-likelihood, "
                   "else sigmoid)")
    p.add_argument("--dropout", type=_probability, default=0.0, metavar="P",
                   help="drop each hidden neuron with probability P, anew per mini-batch")
    p.add_argument("--momentum", type=_probability, default=0.0, metavar="MU",
                   help="momentum coefficient mu in [0, 1)")
    p.add_argument("--nesterov", action="store_true",
                   help="use Nesterov's accelerated gradient (with --momentum)")
    p.add_argument("--init", choices=["default", "large"], default="default",
                   help="weight initialization: N(0,1)/sqrt(n_in) (default) or N(0,1)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    p.add_argument("--threads", choices=["auto", "1", "2"], default="auto",
                   help="threads per mini-batch: auto (default) splits mini-batches "
                        "between two threads when two CPUs are free and the split pays "
                        "(see nncore.native.epoch_threads)")
    p.add_argument("--train-size", type=_positive_int, default=None,
                   help="use only the first N training images (the chapter's training_data[:1000])")
    p.add_argument("--evaluation", choices=["validation", "test"], default="validation",
                   help="data whose accuracy is printed each epoch (default validation)")
    p.add_argument("--data", default=None,
                   help="path to mnist.pkl.gz (default: $NNCORE_DATA, the cache, or a download)")
    p.add_argument("--save", metavar="MODEL.json", default=None,
                   help="save the trained network (network2's JSON format)")
    g = p.add_argument_group("training control")
    g.add_argument("--early-stopping", type=_positive_int, default=None, metavar="N",
                   help="stop when the evaluation accuracy has not improved for N epochs")
    g.add_argument("--stopping-rule", choices=["no-improvement", "diminishing-returns"],
                   default="no-improvement",
                   help="with --early-stopping N: no-improvement-in-N (the chapter's), or "
                   "stop when the best accuracy gained under --min-gain over the last N epochs")
    g.add_argument("--min-gain", type=_nonnegative_float, default=0.001,
                   help="for diminishing-returns: the gain (a fraction; 0.001 = 0.1%%) that "
                   "N epochs must buy (default 0.001)")
    g.add_argument("--restore-best", action="store_true",
                   help="end with the weights of the best epoch")
    g.add_argument("--schedule", choices=["halve", "step"], default=None,
                   help="halve: halve eta at each no-improvement-in-N (N from --early-stopping, "
                   "default 10), stop at eta/128; step: eta from --step-epoch on is --step-eta")
    g.add_argument("--step-epoch", type=_nonnegative_int, default=20,
                   help="for --schedule step: the epoch where eta changes (default 20)")
    g.add_argument("--step-eta", type=_positive_float, default=None,
                   help="for --schedule step: eta from --step-epoch on (default eta/10)")
    g.add_argument("--monitor-every", type=_positive_int, default=None, metavar="K",
                   help="also report the accuracy every K mini-batches")
    g.add_argument("--monitor-subset", type=_positive_int, default=None, metavar="N",
                   help="at those points, use the first N evaluation images")
    g.add_argument("--history", metavar="HISTORY.json", default=None,
                   help="save the training history as JSON")
    g.add_argument("--plot", metavar="FIG.png", default=None,
                   help="plot the evaluation and training accuracy by epoch (needs matplotlib)")
    x = p.add_argument_group("artificially expanded training data (a fresh distortion "
                             "of the training images each epoch)")
    x.add_argument("--expand", choices=["shifts", "affine", "elastic"], default=None,
                   help="shifts: each image moved by one pixel (or not) at random; affine: "
                   "rotation, shift, skew and scaling; elastic: Simard's elastic distortions")
    x.add_argument("--rotate", type=_nonnegative_float, default=None,
                   help="affine: largest rotation in degrees (default 15)")
    x.add_argument("--shift", type=_nonnegative_float, default=None,
                   help="affine: largest shift in pixels (default 2)")
    x.add_argument("--shear", type=_nonnegative_float, default=None,
                   help="affine: largest skew (default 0.3)")
    x.add_argument("--scale", type=_nonnegative_float, default=None,
                   help="affine: largest relative change of size (default 0.15)")
    x.add_argument("--alpha", type=_nonnegative_float, default=None,
                   help="elastic: strength of the displacement field (default 34)")
    x.add_argument("--sigma", type=_positive_float, default=None,
                   help="elastic: width of its Gaussian smoothing in pixels (default 4)")
    p.add_argument("--quiet", action="store_true", help="print only the summary")
    p.set_defaults(func=_train)


def _train(args):
    from . import mnist_loader
    from ._convert import as_arrays

    if args.sizes[0] != 784 or args.sizes[-1] != 10:
        raise SystemExit(
            f"nncore train: MNIST needs 784 inputs and 10 outputs; got --sizes "
            f"{','.join(map(str, args.sizes))}")
    data = mnist_loader.load_arrays(args.data, dtype=None)
    dtype = np.dtype(args.dtype)
    X_train, y_train = data.X_train, data.y_train
    if args.train_size is not None:
        X_train, y_train = X_train[:args.train_size], y_train[:args.train_size]
    train = as_arrays((X_train, y_train), 784, 10, dtype, "training data")
    if args.evaluation == "validation":
        evaluation = as_arrays((data.X_val, data.y_val), 784, 10, dtype, "validation data")
    else:
        evaluation = as_arrays((data.X_test, data.y_test), 784, 10, dtype, "test data")
    test = as_arrays((data.X_test, data.y_test), 784, 10, dtype, "test data")

    try:
        net = Network(args.sizes, cost=_COST_FLAGS[args.cost], seed=args.seed, dtype=dtype,
                      activation=args.activation, output_activation=args.output_activation)
    except ValueError as e:
        raise SystemExit(f"nncore train: {e}") from None
    if args.init == "large":
        net.large_weight_initializer()
    say = (lambda *a: None) if args.quiet else print
    extras = [f"{name} {value}" for name, value in
              [("l1", args.l1), ("dropout", args.dropout), ("momentum", args.momentum)]
              if value]
    if args.nesterov:
        extras.append("Nesterov")
    say("Training {} ({} hidden, {} output neurons) on {} images: {} epoch(s), mini-batch {}, "
        "eta {}, lmbda {}, {} cost, {} initialization, {}{}".format(
            args.sizes, net.activation, net.output_activation, len(train), args.epochs,
            args.mini_batch_size, args.eta, args.lmbda, args.cost, args.init, args.dtype,
            "".join(", " + e for e in extras)))
    from .training import DiminishingReturns, NoImprovement

    augment = None
    strengths = {k: getattr(args, k) for k in ("rotate", "shift", "shear", "scale", "alpha",
                                                 "sigma") if getattr(args, k) is not None}
    if args.expand is not None:
        from .expand import make_augmenter
        try:
            augment = make_augmenter(args.expand, **strengths)
        except ValueError as e:
            raise SystemExit(f"nncore train: {e}") from None
        say("Expanding the training data each epoch: {!r}".format(augment))
    elif strengths:
        raise SystemExit("nncore train: --rotate/--shift/--shear/--scale/--alpha/--sigma "
                         "set the strength of --expand affine|elastic; add --expand")

    rule = None
    if args.early_stopping is not None:
        rule = (NoImprovement(args.early_stopping) if args.stopping_rule == "no-improvement"
                else DiminishingReturns(args.early_stopping, args.min_gain))
    schedule = None
    if args.schedule == "halve":
        schedule = "halve"  # --early-stopping N is then the halving's patience
        if args.stopping_rule != "no-improvement":
            raise SystemExit("nncore train: --schedule halve counts no-improvement-in-N; "
                             "it does not combine with --stopping-rule diminishing-returns")
    elif args.schedule == "step":
        schedule = {args.step_epoch: args.step_eta if args.step_eta else args.eta / 10}

    def report(net, info):
        if info["kind"] == "epoch":
            h = info["history"]
            acc = info["accuracy"]
            say("Epoch {}: {} accuracy {} / {} ({:.2%}), eta {:g}, {:.2f} s".format(
                info["epoch"], args.evaluation, acc, info["n"], acc / info["n"], info["eta"],
                h.epoch_seconds[-1]))
        else:
            done = info["examples"] - info["epoch"] * len(train)
            say("  epoch {}, {} / {} examples: accuracy {} / {} on {} {} {} images".format(
                info["epoch"], done, len(train), info["accuracy"], info["n"],
                "the first" if args.monitor_subset else "all", info["n"], args.evaluation))

    history = net.SGD(
        train, args.epochs, args.mini_batch_size, args.eta, lmbda=args.lmbda,
        evaluation_data=evaluation, monitor_evaluation_accuracy=True,
        monitor_training_accuracy=args.plot is not None, l1=args.l1, dropout=args.dropout,
        momentum=args.momentum, nesterov=args.nesterov,
        early_stopping=rule, restore_best=args.restore_best, schedule=schedule,
        monitor_every=args.monitor_every, monitor_subset=args.monitor_subset,
        callbacks=[report], augment=augment, verbose=False,
        threads=None if args.threads == "auto" else int(args.threads),
        progress=sys.stdout.isatty() and not args.quiet)
    if history.stop_reason != "completed":
        print("Stopped after {} epoch(s): {}{}".format(
            history.epochs, history.stop_reason,
            "" if history.best_epoch is None else
            "; best epoch {} ({} / {}){}".format(
                history.best_epoch, history.best_accuracy, history.n_evaluation,
                ", its weights restored" if history.restored_best else "")))
    acc = net._accuracy(test)
    seconds = history.epoch_seconds
    per_epoch = float(np.mean(seconds)) if seconds else 0.0
    print("Test accuracy: {} / {} ({:.2%}); {:.3f} s per epoch over {} epoch(s)".format(
        acc, len(test), acc / len(test), per_epoch, len(seconds)))
    if args.save:
        net.save(args.save)
        print("Saved the network to {}".format(args.save))
    if args.history:
        history.save(args.history)
        print("Saved the history to {}".format(args.history))
    if args.plot:
        from .plotting import plot_history
        plot_history(history, "accuracy", out=args.plot)
        print("Saved the plot to {}".format(args.plot))
    return 130 if history.interrupted else 0


def _add_plot(sub):
    p = sub.add_parser(
        "plot", help="plot a saved training history",
        description="Plot a training history saved with --history (or History.save): "
        "accuracy or cost by epoch, training beside evaluation data.")
    p.add_argument("history", help="the history JSON file")
    p.add_argument("-o", "--output", required=True, help="the figure file (.png, .svg, .pdf)")
    p.add_argument("--metric", choices=["accuracy", "cost"], default="accuracy")
    p.add_argument("--from-epoch", type=_nonnegative_int, default=0,
                   help="first epoch to show (the chapter starts some plots at 200)")
    p.add_argument("--data", nargs="+", choices=["evaluation", "training"],
                   default=["evaluation", "training"])
    p.set_defaults(func=_plot)


def _plot(args):
    from .plotting import plot_history
    from .training import load_history
    try:
        history = load_history(args.history)
        plot_history(history, args.metric, start_epoch=args.from_epoch, data=args.data,
                     out=args.output)
    except (ValueError, ImportError) as e:
        print(f"nncore plot: {e}", file=sys.stderr)
        return 1
    print("Saved the plot to {}".format(args.output))
    return 0


def _add_bench(sub):
    p = sub.add_parser(
        "bench", help="time one MNIST epoch: native core against the NumPy reference",
        description="A short benchmark (about a minute): one training epoch of the "
        "chapter's network on the native core (float64 and float32) against the plain "
        "NumPy reference, alternating, median of a few repetitions.")
    p.add_argument("--sizes", type=_sizes, default=[784, 30, 10])
    p.add_argument("--mini-batch-size", type=_positive_int, default=10)
    p.add_argument("--train-size", type=_positive_int, default=50_000)
    p.add_argument("--repeats", type=_positive_int, default=3)
    p.add_argument("--threads", type=_nonnegative_int, default=1,
                   help="BLAS threads (0: the library's default; needs threadpoolctl)")
    p.add_argument("--no-reference", action="store_true", help="time the native core only")
    p.add_argument("--data", default=None, help="path to mnist.pkl.gz")
    p.add_argument("--json", default=None, help="also write the results as JSON")
    p.set_defaults(func=_bench)


def _bench(args):
    import json

    from . import mnist_loader
    from .benchmark import run_benchmark, to_markdown

    if args.sizes[0] != 784 or args.sizes[-1] != 10:
        raise SystemExit("nncore bench: MNIST needs 784 inputs and 10 outputs")
    a = mnist_loader.load_arrays(args.data, dtype=None)
    res = run_benchmark(args.sizes, args.mini_batch_size, repeats=args.repeats,
                        reference=not args.no_reference, threads=args.threads or None,
                        data=(a.X_train[:args.train_size], a.y_train[:args.train_size]),
                        progress=lambda m: print(m, file=sys.stderr, flush=True))
    print(to_markdown(res))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="nncore",
        description="The network of chapter 3 of 'Neural Networks and Deep Learning' on a native core.")
    parser.add_argument("--version", action="version",
                        version="nncore " + __import__("nncore").__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)
    _add_plot(sub)
    _add_bench(sub)
    for module, adder in (("expand", "add_expand_parser"),
                          ("reproduce", "add_reproduce_parser"),
                          ("search", "add_search_parser")):
        add = getattr(importlib.import_module(f"nncore.{module}"), adder, None)
        if add is not None:
            add(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 2
    from .mnist_loader import DataError
    try:
        return args.func(args)
    except DataError as e:
        print(f"nncore: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nncore: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
