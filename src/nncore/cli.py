"""The ``nncore`` command (also ``python -m nncore``).

``nncore train`` trains a network on MNIST with the book's hyper-parameters
as flags, prints each epoch's accuracy, reports the final test accuracy and
the time per epoch, and saves the model if asked.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

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


def _positive_int(text):
    try:
        v = int(text)
    except ValueError:
        v = 0
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return v


def _nonnegative_int(text):
    try:
        v = int(text)
    except ValueError:
        v = -1
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}")
    return v


def _positive_float(text):
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return v


def _nonnegative_float(text):
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return v


def _probability(text):
    try:
        v = float(text)
    except ValueError:
        v = float("nan")
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}")
    return v


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
    p.add_argument("--train-size", type=_positive_int, default=None,
                   help="use only the first N training images (the chapter's training_data[:1000])")
    p.add_argument("--evaluation", choices=["validation", "test"], default="validation",
                   help="data whose accuracy is printed each epoch (default validation)")
    p.add_argument("--data", default=None,
                   help="path to mnist.pkl.gz (default: $NNCORE_DATA, the cache, or a download)")
    p.add_argument("--save", metavar="MODEL.json", default=None,
                   help="save the trained network (network2's JSON format)")
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
    seconds = []
    for epoch in range(args.epochs):
        h = net.SGD(train, 1, args.mini_batch_size, args.eta, lmbda=args.lmbda, l1=args.l1,
                    dropout=args.dropout, momentum=args.momentum, nesterov=args.nesterov,
                    verbose=False, progress=sys.stdout.isatty() and not args.quiet)
        seconds.append(h.epoch_seconds[0])
        acc = net._accuracy(evaluation)
        say("Epoch {}: {} accuracy {} / {} ({:.2%}) in {:.2f} s".format(
            epoch, args.evaluation, acc, len(evaluation), acc / len(evaluation), seconds[-1]))
    acc = net._accuracy(test)
    per_epoch = float(np.mean(seconds)) if seconds else 0.0
    print("Test accuracy: {} / {} ({:.2%}); {:.3f} s per epoch over {} epoch(s)".format(
        acc, len(test), acc / len(test), per_epoch, len(seconds)))
    if args.save:
        net.save(args.save)
        print("Saved the network to {}".format(args.save))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="nncore",
        description="The network of chapter 3 of 'Neural Networks and Deep Learning' on a native core.")
    parser.add_argument("--version", action="version",
                        version="nncore " + __import__("nncore").__version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_train(sub)
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
