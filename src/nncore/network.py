"""The network of chapter 3 -- network2's ``Network`` -- on the native core.

Same names, arguments, defaults, printed lines and return values as the
book's ``network2``, so the chapter's sessions run as written::

    import nncore as network2
    from nncore import mnist_loader
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper()
    net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost)
    net.large_weight_initializer()
    net.SGD(training_data, 30, 10, 0.5, evaluation_data=test_data,
            monitor_evaluation_accuracy=True)

Differences, all of which leave the book's defaults alone:

* every epoch runs in one call into the native core; data is converted to
  arrays once per ``SGD`` call, never per epoch;
* the caller's data is never modified (network2 shuffles the training list
  in place; we shuffle an index array);
* each network owns a ``numpy.random.Generator`` (``seed=``); global random
  state is never touched;
* ``dtype=np.float32`` trades precision for speed (float64 is the default);
* ``SGD`` returns a :class:`History`, which unpacks as network2's four lists;
* a progress bar is shown when standard output is a terminal, never otherwise;
* ``total_cost`` adds the L2 term once, 0.5 (lmbda / N) sum ||w||^2 with N the
  number of examples in ``data`` (as network2 divides by ``len(data)``).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import sys
import tempfile
import threading
import time
import warnings

import numpy as np

from . import native
from ._convert import as_arrays
from .activations import HIDDEN_ACTIVATIONS, OUTPUT_ACTIVATIONS, check_combination
from .training import (
    History,
    StopTraining,
    make_schedule,
    make_stopping_rule,
)
from .costs import (
    CrossEntropyCost,
    LogLikelihoodCost,
    cost_from_name,
    cross_entropy_from_z,
    log_likelihood_from_z,
)

__all__ = ["Network", "History", "load", "FORMAT_VERSION"]

#: Version of the JSON model format written by :meth:`Network.save`.
FORMAT_VERSION = 1


class _Progress:
    """A one-line progress bar on a terminal; silent elsewhere."""

    def __init__(self, stream, enabled):
        self.stream = stream
        self.enabled = enabled

    def show(self, epoch, done, total):
        if self.enabled:
            width = 30
            filled = int(width * done / total) if total else width
            self.stream.write(
                "\rEpoch {} [{}{}] {}/{}".format(
                    epoch, "#" * filled, "." * (width - filled), done, total)
            )
            self.stream.flush()

    def clear(self):
        if self.enabled:
            self.stream.write("\r" + " " * 70 + "\r")
            self.stream.flush()


def _validate_sizes(sizes):
    if isinstance(sizes, (str, bytes)) or not hasattr(sizes, "__iter__"):
        raise ValueError(f"sizes must be a list of layer widths such as [784, 30, 10], "
                         f"got {sizes!r}")
    sizes = list(sizes)
    out = []
    for i, s in enumerate(sizes):
        if isinstance(s, (bool, np.bool_)) or not (
                isinstance(s, (int, np.integer))
                or isinstance(s, (float, np.floating)) and float(s).is_integer()):
            raise ValueError(
                f"sizes must be whole numbers (neurons per layer); sizes[{i}] is {s!r} "
                f"in sizes={sizes!r}")
        out.append(int(s))
    if len(out) < 2:
        raise ValueError(
            f"a network needs at least two layers (inputs and outputs), got sizes={out}"
        )
    if min(out) < 1:
        raise ValueError(f"every layer needs at least one neuron, got sizes={out}")
    return out


def _physical_memory():
    """Bytes of physical memory, or None where the system does not say."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _check_memory(sizes, dtype):
    """MemoryError, before anything is allocated, if the parameters alone
    cannot fit in this machine's memory."""
    n = sum(n_in * n_out + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:]))
    need = n * dtype.itemsize
    have = _physical_memory()
    if have and need > have:
        def size(b):
            return f"{b / 2**30:,.1f} GiB" if b >= 2**29 else f"{b / 2**20:,.1f} MiB"
        raise MemoryError(
            f"Network({sizes}) needs {size(need)} for its {n:,} parameters "
            f"({dtype.name}); this machine has {size(have)} of memory. Use "
            "narrower layers" + (" (or dtype=np.float32 to halve it)"
                                 if dtype.itemsize == 8 and need / 2 <= have else ""))



class _Interrupts:
    """Ctrl-C during SGD, raised only inside the core's calls (which stop
    after their last whole mini-batch and say how far they got) and
    otherwise noted for SGD's next check: a KeyboardInterrupt landing in
    the Python code between two calls could not be told apart from one
    inside them, and the record of the examples done would no longer match
    the weights.  Only from the main thread, and only over Python's own
    handler (one the program installed is left alone)."""

    def __init__(self):
        self.in_core = False
        self.pending = False
        self._previous = None

    def __enter__(self):
        if (threading.current_thread() is threading.main_thread()
                and signal.getsignal(signal.SIGINT) is signal.default_int_handler):
            self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None

    def _handler(self, signum, frame):
        if self.in_core:
            raise KeyboardInterrupt
        self.pending = True


def _one_blas_thread_between(threads):
    """BLAS held to one thread while the monitors measure between epochs
    that two threads of ours run.  After a call on two threads, OpenBLAS's
    second thread keeps spinning for a while (about 0.1 s here), and an
    epoch started meanwhile shares a core with it: 784-30-10 at mini-batch
    100, float32, two threads took 0.117 s right after a two-thread sgemm,
    0.035 s after a one-thread one or a 0.3 s pause.  In the book's session
    (784-30-10, mini-batch 10, the training cost and the validation accuracy
    monitored) the epochs after the first took 0.17-0.22 s with two-thread
    monitors, 0.08-0.09 s with these."""
    return native._blas_for_threads(threads)


class Network:
    """A fully connected network trained by mini-batch SGD.

    Parameters
    ----------
    sizes : list of int
        Neurons per layer, inputs first: ``[784, 30, 10]``.
    cost : class or str, default ``CrossEntropyCost``
        ``CrossEntropyCost``, ``QuadraticCost`` or ``LogLikelihoodCost``
        (or their names).  The log-likelihood cost gives a softmax output
        layer.
    activation : str, default "sigmoid"
        The hidden layers' neurons: "sigmoid", "tanh", "relu" or "linear".
    output_activation : str, optional
        The output layer's neurons: one of those or "softmax".  By default
        softmax for the log-likelihood cost and sigmoid otherwise.  The
        cross-entropy cost needs sigmoid outputs, log-likelihood softmax.
    seed : int or numpy.random.Generator, optional
        Seeds the network's own random generator, used to initialize the
        weights and shuffle the training data.  The same seed gives the same
        weights, bit for bit.
    dtype : float64 (default) or float32
        Precision of the parameters and of all arithmetic.
    """

    def __init__(self, sizes, cost=CrossEntropyCost, *, activation="sigmoid",
                 output_activation=None, seed=None, dtype=np.float64):
        self.sizes = _validate_sizes(sizes)
        self.num_layers = len(self.sizes)
        self.cost = cost_from_name(cost)
        if activation not in HIDDEN_ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r} for the hidden layers; "
                             f"use one of {', '.join(HIDDEN_ACTIVATIONS)}")
        if output_activation is None:
            output_activation = "softmax" if self.cost is LogLikelihoodCost else "sigmoid"
        check_combination(self.cost.name, output_activation)
        self.activation = activation
        self.output_activation = output_activation
        self.dtype = np.dtype(dtype)
        if self.dtype not in native.FLOAT_DTYPES:
            raise ValueError(f"dtype must be float32 or float64, got {self.dtype}")
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        _check_memory(self.sizes, self.dtype)
        self._theta = np.zeros(native.n_params(self.sizes), dtype=self.dtype)
        self._weights, self._biases = native.unpack(self._theta, self.sizes)
        self._velocity = None  # momentum's velocities, created on first use
        self._lock = threading.Lock()
        self.default_weight_initializer()

    # -- parameters ---------------------------------------------------------
    @property
    def weights(self):
        """Weight matrices, network2's (n_out, n_in) shape: views into the
        network's single parameter buffer.  Assigning a list copies it in."""
        return list(self._weights)

    @weights.setter
    def weights(self, values):
        self._assign(values, self._weights, "weights")

    @property
    def biases(self):
        """Bias columns, (n_out, 1): views into the parameter buffer."""
        return list(self._biases)

    @biases.setter
    def biases(self, values):
        self._assign(values, self._biases, "biases")

    def _assign(self, values, views, what):
        values = list(values)
        if len(values) != len(views):
            raise ValueError(f"{what}: expected {len(views)} arrays, got {len(values)}")
        arrays = []
        for i, (v, view) in enumerate(zip(values, views)):
            a = np.asarray(v, dtype=np.float64)
            if a.shape != view.shape and not (a.ndim == 1 and a.shape[0] == view.shape[0]
                                              and view.shape[1] == 1):
                raise ValueError(f"{what}[{i}] must have shape {view.shape}, got {a.shape}")
            arrays.append(a.reshape(view.shape))
        for a, view in zip(arrays, views):  # all checked: now write
            view[...] = a
        self._velocity = None  # new parameters: start from rest

    @property
    def parameters(self):
        """The flat parameter buffer (all weights, then all biases)."""
        return self._theta

    def default_weight_initializer(self):
        """Biases N(0, 1); weights N(0, 1/n_in), i.e. N(0,1)/sqrt(n_in).

        Draws all biases first, then all weights, layer by layer, from the
        network's generator, in float64.  For ReLU hidden layers the weights
        are scaled by a further sqrt(2) (He et al.'s N(0, 2/n_in): a ReLU
        zeroes half of its inputs' variance, so this keeps the variance of z
        steady from layer to layer) and the biases by 0.1 (a unit with a
        large negative bias would start dead)."""
        self._initialize(scale_by_fan_in=True)
        if self.activation == "relu":
            for w in self._weights:
                w *= np.sqrt(2.0)
            for b in self._biases:
                b *= 0.1

    def large_weight_initializer(self):
        """Biases and weights N(0, 1), as in chapter 1 (for comparison)."""
        self._initialize(scale_by_fan_in=False)

    def _initialize(self, scale_by_fan_in):
        pairs = list(zip(self.sizes[:-1], self.sizes[1:]))
        biases = [self.rng.standard_normal((n_out, 1)) for _, n_out in pairs]
        weights = [self.rng.standard_normal((n_out, n_in)) for n_in, n_out in pairs]
        if scale_by_fan_in:
            weights = [w / np.sqrt(w.shape[1]) for w in weights]
        self.weights = weights
        self.biases = biases

    # -- evaluation -----------------------------------------------------------
    def feedforward(self, a):
        """The network's output for input ``a``.

        A ``(n_in, 1)`` column gives a ``(n_out, 1)`` column, as in network2;
        a flat vector gives a flat vector; an ``(n, n_in)`` array of rows
        gives ``(n, n_out)`` rows, all computed in one native call."""
        a = np.asarray(a)
        n_in = self.sizes[0]
        if a.ndim == 2 and a.shape == (n_in, 1):
            return self._forward(a.reshape(1, n_in)).reshape(-1, 1)
        if a.ndim == 1 and a.shape[0] == n_in:
            return self._forward(a.reshape(1, n_in))[0]
        if a.ndim == 2 and a.shape[1] == n_in:
            return self._forward(a)
        raise ValueError(
            f"feedforward takes a ({n_in}, 1) column or rows of shape (n, {n_in}); got {a.shape}"
        )

    def _forward(self, X, return_z=False):
        return native.feedforward(self._theta, self.sizes, X, return_z=return_z,
                                  hidden=self.activation, output=self.output_activation)

    def _arrays(self, data, name, notes=None):
        return as_arrays(data, self.sizes[0], self.sizes[-1], self.dtype, name,
                         cost=self.cost.name, notes=notes)

    def accuracy(self, data, convert=False):
        """How many examples of ``data`` the network classifies correctly
        (the output neuron with the highest activation is the answer).

        ``convert`` is accepted for network2 compatibility; the label form
        (integer or one-hot) is recognized from the data itself."""
        arr = self._arrays(data, "data")
        return self._accuracy(arr)

    def _accuracy(self, arr):
        if len(arr) == 0:
            return 0
        out = self._forward(arr.X)
        return int(np.count_nonzero(np.argmax(out, axis=1) == arr.labels))

    def total_cost(self, data, lmbda, convert=False, *, l1=0.0):
        """The mean cost over ``data`` plus the L2 term
        0.5 (lmbda / N) sum ||w||^2 and the L1 term (l1 / N) sum |w| (eq. 95),
        each added once, with N = len(data).

        ``convert`` is accepted for network2 compatibility; targets are
        recognized from the data."""
        return self._total_cost(self._arrays(data, "data"), lmbda, l1)

    def _total_cost(self, arr, lmbda, l1=0.0):
        n = len(arr)
        if n == 0:
            return 0.0
        a, z = self._forward(arr.X, return_z=True)
        T = arr.T.astype(np.float64)
        if self.cost is CrossEntropyCost:
            c = cross_entropy_from_z(z.astype(np.float64), T)
        elif self.cost is LogLikelihoodCost:
            c = log_likelihood_from_z(z, T)
        else:
            c = self.cost.fn(a.astype(np.float64), T)
        w64 = [w.astype(np.float64) for w in self._weights]
        reg = 0.5 * (lmbda / n) * sum(float(np.sum(w ** 2)) for w in w64)
        if l1:
            reg += (l1 / n) * sum(float(np.sum(np.abs(w))) for w in w64)
        return c / n + reg

    # -- training -------------------------------------------------------------
    def SGD(self, training_data, epochs, mini_batch_size, eta, lmbda=0.0,
            evaluation_data=None, monitor_evaluation_cost=False,
            monitor_evaluation_accuracy=False, monitor_training_cost=False,
            monitor_training_accuracy=False, *, l1=0.0, dropout=0.0, momentum=0.0,
            nesterov=False, early_stopping=None, restore_best=False, schedule=None,
            monitor_every=None, monitor_subset=None, callbacks=(), on_nonfinite="stop",
            augment=None, threads=None, verbose=True, progress=None):
        """Train by mini-batch stochastic gradient descent with L2 weight
        decay (eqs. 93-94) for ``epochs`` epochs.

        Each epoch shuffles the training examples (an index array, drawn
        from the network's generator), cuts them into mini-batches of
        ``mini_batch_size`` (the last may be shorter) and updates the
        weights after each.  After each epoch the requested costs and
        accuracies are computed, printed (unless ``verbose=False``) and
        recorded.  Returns a :class:`~nncore.training.History`, which
        unpacks as network2's ``(evaluation_cost, evaluation_accuracy,
        training_cost, training_accuracy)``.  ``progress`` forces the
        progress bar on or off; by default it is shown only when standard
        output is a terminal.

        A ``mini_batch_size`` larger than the data set is not an error: each
        epoch is then one mini-batch of all the examples (full-batch
        gradient descent).  ``epochs=0`` returns an empty history and leaves
        the weights untouched.

        The data may come as ``(X, y)`` arrays (any real dtype, any layout,
        read-only or memory-mapped), a :class:`~nncore.data.Dataset`, or the
        book's list (or any iterable) of ``(x, y)`` pairs; see
        :mod:`nncore._convert`.  Everything is checked once per call, before
        any weight changes: shapes, labels, NaN or infinite values (the
        error names the data set and the first bad row), targets that the
        cost cannot use (cross-entropy needs values in [0, 1],
        log-likelihood rows that sum to 1), and the hyper-parameters below.
        Integer inputs above 1 (raw 0-255 pixels) give one warning.

        Beyond network2 (the defaults leave it unchanged):

        ``l1``
            L1 regularization (eq. 97), alone or beside L2's ``lmbda``.
        ``dropout``
            Probability p of dropping each hidden neuron: a new random subset
            for each mini-batch; forward and backward passes go through the
            thinned network.  Kept activations are scaled by 1/(1-p) during
            training (inverted dropout), so the stored weights are the ones the
            full network uses -- what the book gets by halving the outgoing
            weights after training with p = 1/2.
        ``momentum``
            mu in [0, 1): momentum-based gradient descent (eqs. 107-108);
            ``nesterov=True`` for Nesterov's accelerated gradient.  The
            velocities persist across mini-batches, epochs and calls, until
            the weights are reinitialized or assigned (or
            :meth:`reset_velocity`).  mu = 0 without Nesterov is plain SGD.
        ``early_stopping``
            n (stop when the evaluation accuracy has not improved for n
            epochs: the chapter's no-improvement-in-n) or a rule object such
            as :class:`~nncore.training.DiminishingReturns`.  Needs
            ``evaluation_data``, whose accuracy is then monitored.
        ``restore_best``
            At the end, put back the weights of the epoch with the best
            evaluation accuracy.
        ``schedule``
            The learning rate by epoch: ``"halve"`` (halve eta each time
            no-improvement-in-n fires, n = ``early_stopping`` or 10, and stop
            when eta falls to eta/128 -- the schedule, not the rule, then
            ends training), a dict ``{epoch: eta}`` (e.g. ``{20: 0.025}``), or a
            schedule object.  Each epoch's eta is in ``history.eta``.
        ``monitor_every``, ``monitor_subset``
            Monitor the accuracy every ``monitor_every`` mini-batches within
            each epoch, on the first ``monitor_subset`` evaluation examples
            (all by default) -- quick feedback, as the chapter suggests.
            Each point is in ``history.points``.
        ``callbacks``
            Functions ``f(network, info)`` called at each monitoring point
            and at the end of each epoch; ``info`` is a dict (``"kind"``:
            ``"point"`` or ``"epoch"``, ``"epoch"``, ``"batch"``,
            ``"examples"``, ``"seconds"``, ``"eta"``, ``"accuracy"``,
            ``"history"``, ...).  Returning True or raising
            :class:`~nncore.training.StopTraining` ends training.
        ``augment``
            A function ``f(X, rng) -> X'`` giving a freshly distorted copy of the
            training inputs for each epoch (artificially expanded data, e.g.
            :class:`nncore.expand.Elastic`); ``rng`` is the network's
            generator.  The labels stay; the caller's data is not touched.
        ``threads``
            1 or 2 threads for each mini-batch's passes, or None (default):
            two when this process may use two CPUs and the mini-batch has
            at least 32 examples, or fewer that the threads split by the
            first layer's inputs or neurons (see
            :func:`nncore.native.epoch_threads`), else one.  Two threads
            split each mini-batch's rows, or the first layer's inputs or
            neurons, between them; the weights they reach differ from one
            thread's by rounding only.
        ``on_nonfinite``
            If the cost or the weights become NaN or infinite (eta too large):
            ``"stop"`` (default) ends training with one warning, keeping the
            last finite weights (those at the end of the last mini-batch
            whose output was finite, else those at the start of the
            epoch or monitoring interval); ``"raise"`` does the same, then
            raises FloatingPointError.

        Ctrl-C ends training after the mini-batch in progress: the network is
        as of the last completed mini-batch, and the history so far is
        returned with ``interrupted=True``.  (Pressed while Python code runs
        between the core's calls -- monitoring, callbacks -- it takes effect
        at the next mini-batch, so that the record of how far training got
        always matches the weights.)
        """
        _check_hyper(eta=eta, lmbda=lmbda, l1=l1, dropout=dropout, momentum=momentum)
        if on_nonfinite not in ("stop", "raise"):
            raise ValueError(f"on_nonfinite must be 'stop' or 'raise', got {on_nonfinite!r}")
        epochs = _count(epochs, "epochs", minimum=0)
        mbs = _count(mini_batch_size, "mini_batch_size", minimum=1)
        native.epoch_threads(threads, mbs)  # checks the value before any work
        rule = make_stopping_rule(early_stopping)
        sched = make_schedule(schedule, patience=getattr(rule, "patience", 10))
        if isinstance(schedule, str) and schedule == "halve":
            rule = None  # early_stopping gave the halving's patience; the schedule stops
        callbacks = list(callbacks) if callbacks else []
        notes = []  # unscaled-input warnings: one for the whole call
        train = self._arrays(training_data, "training_data", notes)
        n = len(train)
        if n == 0:
            raise ValueError("training_data is empty; SGD needs at least one example")
        evaluation = None
        if evaluation_data is not None:
            evaluation = self._arrays(evaluation_data, "evaluation_data", notes)
            if len(evaluation) == 0:
                raise ValueError("evaluation_data is empty; pass None to train without "
                                 "evaluation data")
        if notes:
            warnings.warn(notes[0], UserWarning, stacklevel=2)
        needs_accuracy = bool(rule or restore_best or getattr(sched, "needs_accuracy", False))
        if needs_accuracy:
            if evaluation is None:
                raise ValueError("early stopping, restore_best and the 'halve' schedule "
                                 "judge the evaluation accuracy: pass evaluation_data")
            monitor_evaluation_accuracy = True
        if (monitor_evaluation_cost or monitor_evaluation_accuracy) and evaluation is None:
            raise ValueError("monitoring evaluation data needs evaluation_data")
        if monitor_every is not None:
            monitor_every = _count(monitor_every, "monitor_every", minimum=1)
            if evaluation is None:
                raise ValueError("monitor_every needs evaluation_data to monitor")
        subset = evaluation
        if monitor_subset is not None:
            k = _count(monitor_subset, "monitor_subset", minimum=1)
            if evaluation is None:
                raise ValueError("monitor_subset needs evaluation_data")
            subset = _Subset(evaluation, k)

        out = sys.stdout
        if progress is None:
            progress = verbose and getattr(out, "isatty", lambda: False)()
        bar = _Progress(out, progress)
        say = (lambda *a: print(*a, file=out, flush=True)) if verbose else (lambda *a: None)
        history = History(n_evaluation=len(evaluation) if evaluation is not None else 0,
                          n_training=n)
        if epochs == 0:
            return history
        # An epoch runs in one native call unless a progress bar or
        # monitoring points split it.
        chunk = n
        if monitor_every is not None:
            chunk = min(chunk, monitor_every * mbs)
        if progress:
            chunk = min(chunk, max(mbs, -(-n // 20) // mbs * mbs))
        if sched is not None:
            sched.start(eta)
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("this network is already being trained in another thread")
        options = self._train_options(l1, dropout, momentum, nesterov)
        options["threads"] = native.epoch_threads(
            threads, min(mbs, n), self.sizes, self.dtype,
            plain=not (momentum or nesterov) and not (dropout and self.num_layers > 2))
        status = np.zeros(1, dtype=np.intp)
        best_theta = None
        t_start = time.perf_counter()
        stop = None
        interrupts = _Interrupts()
        try:
            interrupts.__enter__()
            for j in range(epochs):
                eta_j = sched.eta(j) if sched is not None else eta
                t0 = time.perf_counter()
                order = self.rng.permutation(n)
                if dropout:
                    options["seed"] = int(self.rng.integers(2**63))
                X_epoch = train.X
                if augment is not None:
                    t_aug = time.perf_counter()
                    X_epoch = self._augmented(augment, train.X)
                    history.augment_seconds.append(time.perf_counter() - t_aug)
                    t0 = time.perf_counter()
                for start in range(0, n, chunk):
                    if interrupts.pending:  # Ctrl-C between the core's calls
                        stop = "interrupted"
                        history.interrupted_at = (j, start)
                        say("Training interrupted in epoch {} after {} of {} examples".format(
                            j, start, n))
                        break
                    snapshot = self._snapshot()
                    status[0] = 0
                    try:
                        interrupts.in_core = True
                        _, finite = native.sgd_epoch(
                            self._theta, self.sizes, X_epoch, train.T,
                            order[start:start + chunk], mbs, eta_j, lmbda, n=n,
                            batch_offset=start // mbs, status=status, **options)
                        interrupts.in_core = False
                    except KeyboardInterrupt:
                        interrupts.in_core = False
                        stop = "interrupted"
                        history.interrupted_at = (j, start + int(status[0]))
                        say("Training interrupted in epoch {} after {} of {} examples".format(
                            j, start + int(status[0]), n))
                        break
                    if not finite or not self._finite():
                        stop = self._nonfinite(snapshot, j, on_nonfinite)
                        break
                    bar.show(j, min(start + chunk, n), n)
                    if monitor_every is not None and start + chunk < n:
                        with _one_blas_thread_between(options["threads"]):
                            stop = self._point(history, subset, callbacks, j, start + chunk,
                                               mbs, eta_j, t_start, say)
                        if stop:
                            break
                bar.clear()
                if stop in ("interrupted", "non-finite"):
                    break
                history.epoch_seconds.append(time.perf_counter() - t0)
                history.eta.append(eta_j)
                try:
                    with _one_blas_thread_between(options["threads"]):
                        self._epoch_monitors(history, j, train, evaluation, lmbda, l1,
                                             monitor_training_cost, monitor_training_accuracy,
                                             monitor_evaluation_cost,
                                             monitor_evaluation_accuracy, say)
                except KeyboardInterrupt:
                    stop = "interrupted"
                    history.interrupted_at = (j, n)
                    say("Training interrupted after epoch {}".format(j))
                    break
                if monitor_evaluation_accuracy:
                    acc = history.evaluation_accuracy[-1]
                    if history.best_accuracy is None or acc > history.best_accuracy:
                        history.best_accuracy, history.best_epoch = acc, j
                        if restore_best:
                            best_theta = self._snapshot()
                if stop:  # a callback at a monitoring point
                    break
                if callbacks and self._call(callbacks, dict(
                        kind="epoch", epoch=j, batch=-(-n // mbs), examples=(j + 1) * n,
                        seconds=time.perf_counter() - t_start, eta=eta_j,
                        accuracy=history.evaluation_accuracy[-1] if monitor_evaluation_accuracy
                        else None, n=history.n_evaluation, history=history)):
                    stop = "callback"
                    break
                if rule is not None and rule.should_stop(history):
                    stop = "early stopping"
                    say("Stopping early: {} fired after epoch {} (best: epoch {}, {} / {})".format(
                        rule, j, history.best_epoch, history.best_accuracy,
                        history.n_evaluation))
                    break
                if sched is not None and not sched.update(j, history):
                    stop = "learning rate schedule"
                    say("Stopping: the learning rate reached its floor after epoch {}".format(j))
                    break
            if stop is None and interrupts.pending:  # after the last epoch's core call
                stop = "interrupted"
                history.interrupted_at = (epochs, 0)
        finally:
            interrupts.__exit__()
            self._lock.release()
        history.stop_reason = stop or "completed"
        history.interrupted = stop == "interrupted"
        if restore_best and best_theta is not None:
            self._restore(best_theta)
            history.restored_best = True
        if stop == "non-finite" and on_nonfinite == "raise":
            raise FloatingPointError(
                "training diverged: the cost or the weights became NaN or infinite "
                "(try a smaller eta); the network keeps its last finite weights")
        return history

    # -- pieces of SGD ----------------------------------------------------------
    def _augmented(self, augment, X):
        out = augment(X, self.rng)
        out = np.ascontiguousarray(out, dtype=self.dtype)
        if out.shape != X.shape:
            raise ValueError(f"augment returned shape {out.shape}; the training inputs "
                             f"have shape {X.shape}")
        if not np.all(np.isfinite(out)):
            raise ValueError("augment returned NaN or infinite inputs")
        return out

    def _snapshot(self):
        v = None if self._velocity is None else self._velocity.copy()
        return self._theta.copy(), v

    def _restore(self, snapshot):
        theta, v = snapshot
        self._theta[...] = theta
        if v is not None and self._velocity is not None:
            self._velocity[...] = v

    def _finite(self):
        return bool(np.isfinite(self._theta).all())

    def _nonfinite(self, snapshot, epoch, on_nonfinite):
        if not self._finite():
            self._restore(snapshot)
        if on_nonfinite == "stop":
            warnings.warn(
                "training stopped in epoch {}: the network's output or weights became "
                "NaN or infinite (eta may be too large); the network keeps its last "
                "finite weights".format(epoch), RuntimeWarning, stacklevel=3)
        return "non-finite"

    def _point(self, history, subset, callbacks, epoch, done, mbs, eta, t_start, say):
        with np.errstate(all="ignore"):
            acc = self._accuracy(subset)
        point = dict(epoch=epoch, batch=-(-done // mbs), examples=epoch * history.n_training
                     + done, seconds=time.perf_counter() - t_start, eta=eta, accuracy=acc,
                     n=len(subset))
        history.points.append(point)
        say("Epoch {}, {} examples: accuracy {} / {}".format(epoch, done, acc, len(subset)))
        if callbacks and self._call(callbacks, dict(point, kind="point", history=history)):
            return "callback"
        return None

    def _call(self, callbacks, info):
        for f in callbacks:
            try:
                if f(self, info):
                    return True
            except StopTraining:
                return True
        return False

    def _epoch_monitors(self, history, j, train, evaluation, lmbda, l1, tc, ta, ec, ea, say):
        n = len(train)
        say("Epoch {} training complete".format(j))
        with np.errstate(all="ignore"):
            if tc:
                cost = self._total_cost(train, lmbda, l1)
                history[2].append(cost)
                say("Cost on training data: {}".format(cost))
            if ta:
                acc = self._accuracy(train)
                history[3].append(acc)
                say("Accuracy on training data: {} / {}".format(acc, n))
            if ec:
                cost = self._total_cost(evaluation, lmbda, l1)
                history[0].append(cost)
                say("Cost on evaluation data: {}".format(cost))
            if ea:
                acc = self._accuracy(evaluation)
                history[1].append(acc)
                say("Accuracy on evaluation data: {} / {}".format(acc, len(evaluation)))
        say()

    def _train_options(self, l1, dropout, momentum, nesterov):
        options = dict(cost=self.cost, hidden=self.activation,
                       output=self.output_activation, l1=l1, dropout=dropout)
        if momentum or nesterov:
            if self._velocity is None:
                self._velocity = np.zeros_like(self._theta)
            options.update(mu=momentum, nesterov=nesterov, velocity=self._velocity)
        return options

    def reset_velocity(self):
        """Forget momentum's velocities (the next step starts from rest)."""
        self._velocity = None

    def update_mini_batch(self, mini_batch, eta, lmbda, n, *, l1=0.0, dropout=0.0,
                          momentum=0.0, nesterov=False):
        """One step of gradient descent on ``mini_batch`` (eqs. 93-94),
        with ``n`` the size of the whole training set; the keyword options
        mean what they mean for :meth:`SGD`."""
        _check_hyper(eta=eta, lmbda=lmbda, l1=l1, dropout=dropout, momentum=momentum)
        arr = self._arrays(mini_batch, "mini_batch")
        m = len(arr)
        if m == 0:
            return
        if not self._lock.acquire(blocking=False):
            raise RuntimeError("this network is already being trained in another thread")
        try:
            options = self._train_options(l1, dropout, momentum, nesterov)
            if dropout:
                options["seed"] = int(self.rng.integers(2**63))
            native.sgd_epoch(self._theta, self.sizes, arr.X, arr.T, np.arange(m), m,
                             eta, lmbda, n=n, **options)
        finally:
            self._lock.release()

    def backprop(self, x, y):
        """``(nabla_b, nabla_w)``: the gradient of the cost for the single
        example ``(x, y)``, as network2-shaped lists."""
        arr = self._arrays([(x, y)], "backprop")
        grad = native.backprop(self._theta, self.sizes, arr.X, arr.T, self.cost,
                               hidden=self.activation, output=self.output_activation)
        nabla_w, nabla_b = native.unpack(grad, self.sizes)
        return nabla_b, nabla_w

    # -- files ----------------------------------------------------------------
    def to_dict(self):
        """The model as network2's JSON keys plus our format version."""
        return {
            "sizes": list(self.sizes),
            "weights": [w.tolist() for w in self._weights],
            "biases": [b.tolist() for b in self._biases],
            "cost": self.cost.__name__,
            "activation": self.activation,
            "output_activation": self.output_activation,
            "format": "nncore-network",
            "format_version": FORMAT_VERSION,
            "dtype": self.dtype.name,
        }

    def save(self, filename):
        """Write the network to ``filename`` as JSON that network2's own
        ``load`` can read.  Atomic: the data goes to a temporary file in the
        same directory, which then replaces ``filename``; an error leaves any
        previous file untouched and no temporary file behind.

        A failure to write (a read-only directory, a full disk, ...) raises
        the same ``OSError`` subclass with the same ``errno``, its message
        naming ``filename`` and the reason.  A network whose parameters hold
        NaN or infinite values is refused with ``ValueError`` (its file could
        not be loaded again)."""
        filename = os.fspath(filename)
        if not self._finite():
            raise ValueError(
                f"not saving to {filename}: the network's parameters hold NaN or infinite "
                "values, so the file could not be loaded again; reinitialize or retrain "
                "the network (with a smaller eta) first")
        text = json.dumps(self.to_dict(), allow_nan=False)
        _atomic_write_text(filename, text)

    def __repr__(self):
        extra = ""
        if self.activation != "sigmoid":
            extra += ", activation={!r}".format(self.activation)
        default_out = "softmax" if self.cost is LogLikelihoodCost else "sigmoid"
        if self.output_activation != default_out:
            extra += ", output_activation={!r}".format(self.output_activation)
        return "Network({}, cost={}{}, dtype={})".format(
            self.sizes, self.cost.__name__, extra, self.dtype.name)


def _count(value, name, minimum):
    """A whole number >= minimum, or a clear error."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return int(value)


class _Subset:
    """The first k examples of converted data (views, no copy)."""

    def __init__(self, arrays, k):
        k = min(k, len(arrays))
        self.X, self.T, self.labels = arrays.X[:k], arrays.T[:k], arrays.labels[:k]

    def __len__(self):
        return self.X.shape[0]


def _check_hyper(eta, lmbda, l1, dropout, momentum):
    """Clear errors for hyper-parameters outside their ranges."""
    def number(name, v):
        if isinstance(v, (str, bytes, bool, np.bool_)):
            raise ValueError(f"{name} must be a number, got {v!r}")
        try:
            v = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{name} must be a number, got {v!r}") from None
        if v != v:
            raise ValueError(f"{name} is NaN; give a number")
        if v in (float("inf"), float("-inf")):
            raise ValueError(f"{name} must be finite, got {v}")
        return v
    if not number("eta", eta) > 0:
        raise ValueError(f"eta (the learning rate) must be > 0, got {eta}")
    if not number("lmbda", lmbda) >= 0:
        raise ValueError(f"lmbda (L2 regularization) must be >= 0, got {lmbda}")
    if not number("l1", l1) >= 0:
        raise ValueError(f"l1 (L1 regularization) must be >= 0, got {l1}")
    if not 0 <= number("dropout", dropout) < 1:
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout}")
    if not 0 <= number("momentum", momentum) < 1:
        raise ValueError(f"momentum (mu) must lie in [0, 1), got {momentum}")


_SAVE_HINTS = {
    errno.ENOSPC: "free some disk space or save elsewhere",
    getattr(errno, "EDQUOT", -1): "free some space within your disk quota or save elsewhere",
    errno.EACCES: "save to a directory you can write to",
    errno.EPERM: "save to a directory you can write to",
    errno.EROFS: "the file system is read-only; save elsewhere",
    errno.ENOENT: "the directory does not exist; create it first",
    errno.EISDIR: "that is a directory; give a file name",
    errno.ENOTDIR: "a part of the path is not a directory",
}


def _save_error(exc, path):
    """``exc`` (an OSError) again, same class and errno, its message naming
    the target file and the reason."""
    reason = exc.strerror or str(exc)
    hint = _SAVE_HINTS.get(exc.errno)
    msg = f"cannot save the network to {path}: {reason}" + (f"; {hint}" if hint else "")
    try:
        new = type(exc)(exc.errno, msg) if exc.errno is not None else type(exc)(msg)
    except Exception:  # an OSError subclass with another signature
        new = OSError(exc.errno, msg)
    return new


def _atomic_write_text(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same
    directory and an atomic rename.  The previous file, if any, is
    untouched on failure and keeps its permission bits on success."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        mode = 0o644  # a new file: what mkstemp's 0o600 would hide from others
    try:
        fd, tmp = tempfile.mkstemp(prefix=".nncore-", suffix=".tmp", dir=directory)
    except OSError as e:
        raise _save_error(e, path) from e
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(e, OSError):
            raise _save_error(e, path) from e
        raise


class ModelFileError(ValueError):
    """A model file that cannot be loaded; the message names the file."""


def _short(value, limit=60):
    """repr(value), cut to ``limit`` characters for an error message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 5] + "...)"


def _array_list(data, key, shapes, filename):
    value = data.get(key)
    if not isinstance(value, list) or len(value) != len(shapes):
        raise ModelFileError(
            f"{filename}: '{key}' must be a list of {len(shapes)} arrays")
    arrays = []
    for i, (v, shape) in enumerate(zip(value, shapes)):
        try:
            a = np.array(v)
        except (TypeError, ValueError, OverflowError, RecursionError):
            a = None
        if a is None or a.dtype.kind not in "iuf":
            raise ModelFileError(
                f"{filename}: {key}[{i}] is not a rectangular array of numbers") from None
        if a.shape != shape and not (key == "biases" and a.shape == shape[:1]):
            raise ModelFileError(
                f"{filename}: {key}[{i}] has shape {a.shape}; sizes say {shape}")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise ModelFileError(f"{filename}: {key}[{i}] holds NaN or infinite values")
        arrays.append(a.reshape(shape))
    return arrays


def load(filename):
    """Load a network saved by :meth:`Network.save` or by the book's
    network2.  Raises :class:`ModelFileError` naming the file and the
    problem when the file is not a valid model."""
    filename = os.fspath(filename)
    try:
        with open(filename, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise ModelFileError(f"{filename}: cannot read the file ({e.strerror})") from e
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ModelFileError(f"{filename}: not a model file (not UTF-8 text)") from None
    except json.JSONDecodeError as e:
        what = "empty" if not raw.strip() else f"not valid JSON ({e.msg} at line {e.lineno})"
        raise ModelFileError(f"{filename}: not a model file: {what}") from None
    except RecursionError:
        raise ModelFileError(
            f"{filename}: not a model file: JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{filename}: not a model file: a model file holds a JSON "
                             f"object, this one holds a JSON {type(data).__name__}")
    fmt = data.get("format", "nncore-network")
    if fmt != "nncore-network":
        raise ModelFileError(
            f"{filename}: not an nncore model file (format {_short(fmt)}, expected "
            "'nncore-network')")
    version = data.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int) or version < 0:
        raise ModelFileError(
            f"{filename}: 'format_version' must be a whole number >= 0, got {_short(version)}")
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{filename}: format version {version!r} is newer than this nncore "
            f"reads ({FORMAT_VERSION}); upgrade nncore")
    sizes = data.get("sizes")
    if (not isinstance(sizes, list) or len(sizes) < 2
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in sizes)):
        raise ModelFileError(
            f"{filename}: 'sizes' must be a list of at least two positive integers")
    cost_name = data.get("cost")
    try:
        cost = cost_from_name(cost_name) if isinstance(cost_name, str) else None
    except ValueError:
        cost = None
    if cost is None:
        raise ModelFileError(
            f"{filename}: unknown cost {_short(cost_name)}; expected 'CrossEntropyCost', "
            "'QuadraticCost' or 'LogLikelihoodCost'")
    pairs = list(zip(sizes[:-1], sizes[1:]))
    weights = _array_list(data, "weights", [(o, i) for i, o in pairs], filename)
    biases = _array_list(data, "biases", [(o, 1) for _, o in pairs], filename)
    dtype = data.get("dtype", "float64")
    if not isinstance(dtype, str) or dtype not in ("float32", "float64"):
        raise ModelFileError(f"{filename}: dtype must be float32 or float64, got {_short(dtype)}")
    activation = data.get("activation", "sigmoid")
    output_activation = data.get("output_activation")
    # names are checked against the tables here; nothing is looked up by name
    if not (isinstance(activation, str) and activation in HIDDEN_ACTIVATIONS):
        raise ModelFileError(
            f"{filename}: unknown activation {_short(activation)} for the hidden layers; "
            f"expected one of {', '.join(HIDDEN_ACTIVATIONS)}")
    if output_activation is not None and not (
            isinstance(output_activation, str) and output_activation in OUTPUT_ACTIVATIONS):
        raise ModelFileError(
            f"{filename}: unknown output activation {_short(output_activation)}; expected "
            f"one of {', '.join(OUTPUT_ACTIVATIONS)}")
    try:
        net = Network(sizes, cost=cost, dtype=dtype, activation=activation,
                      output_activation=output_activation)
    except (ValueError, TypeError) as e:
        raise ModelFileError(f"{filename}: {e}") from None
    net.weights = weights
    net.biases = biases
    return net
