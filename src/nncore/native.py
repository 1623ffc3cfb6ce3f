"""Low-level access to the native core, on flat parameter buffers.

Most users want :class:`nncore.Network`.  This module is for tests,
benchmarks and anyone who wants the core's functions without the
network2-style object around them.

A network with layer widths ``sizes`` keeps all of its parameters in one
contiguous 1-D buffer ``theta``: first every weight matrix in layer order,
each of network2's ``(n_out, n_in)`` shape, row-major, then every bias
vector in layer order.  :func:`unpack` gives network2-shaped views into it.
Examples are rows: ``X`` is ``(n_examples, sizes[0])`` and targets ``Y``
are ``(n_examples, sizes[-1])``.
"""

from __future__ import annotations

import contextlib
import os
import threading

import numpy as np

from . import _core

__all__ = [
    "COST_CODES",
    "ACTIVATION_CODES",
    "FLOAT_DTYPES",
    "n_params",
    "pack",
    "unpack",
    "feedforward",
    "backprop",
    "sgd_epoch",
    "epoch_threads",
    "two_thread_split",
    "SPLIT_MIN_BATCH",
]

#: Cost names understood by the core, and the codes it uses for them.
COST_CODES = {
    "quadratic": _core.COST_QUADRATIC,
    "cross-entropy": _core.COST_CROSS_ENTROPY,
    "log-likelihood": _core.COST_LOG_LIKELIHOOD,
}

#: Neuron (activation) names understood by the core, and their codes.
#: "softmax" is for the output layer only.
ACTIVATION_CODES = {
    "sigmoid": _core.ACT_SIGMOID,
    "tanh": _core.ACT_TANH,
    "relu": _core.ACT_RELU,
    "linear": _core.ACT_LINEAR,
    "softmax": _core.ACT_SOFTMAX,
}

#: The floating-point types the core is compiled for.
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def n_params(sizes) -> int:
    """Number of entries in the flat parameter buffer for ``sizes``."""
    return _core.n_params(sizes)


def _float_dtype(dtype) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES:
        raise TypeError(f"dtype must be float32 or float64, got {dt}")
    return dt


def _cost_code(cost) -> int:
    name = getattr(cost, "name", cost)
    try:
        return COST_CODES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown cost {cost!r}; the core knows {sorted(COST_CODES)}"
        ) from None


def _act_code(name, where):
    try:
        code = ACTIVATION_CODES[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown {where} activation {name!r}; use one of {sorted(ACTIVATION_CODES)}"
        ) from None
    if where == "hidden" and name == "softmax":
        raise ValueError("softmax is for the output layer only")
    return code


def unpack(theta, sizes):
    """Network2-shaped views into ``theta``: ``(weights, biases)``, lists
    of ``(n_out, n_in)`` and ``(n_out, 1)`` arrays.  Writing to a view
    writes to ``theta``."""
    sizes = [int(s) for s in sizes]
    if theta.ndim != 1 or theta.shape[0] != n_params(sizes):
        raise ValueError(
            f"theta must be 1-D with {n_params(sizes)} entries for sizes {sizes}"
        )
    weights, biases, off = [], [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        weights.append(theta[off : off + n_out * n_in].reshape(n_out, n_in))
        off += n_out * n_in
    for n_out in sizes[1:]:
        biases.append(theta[off : off + n_out].reshape(n_out, 1))
        off += n_out
    return weights, biases


def pack(weights, biases, dtype=np.float64):
    """A new flat buffer holding ``weights`` and ``biases`` (network2's
    lists), in ``dtype``."""
    dt = _float_dtype(dtype)
    parts = [np.asarray(w, dtype=dt).ravel() for w in weights]
    parts += [np.asarray(b, dtype=dt).ravel() for b in biases]
    return np.ascontiguousarray(np.concatenate(parts), dtype=dt)


def _rows(a, dt, name):
    a = np.ascontiguousarray(a, dtype=dt)
    if a.ndim != 2:
        raise ValueError(f"{name} must be 2-D (examples are rows), got shape {a.shape}")
    return a


def feedforward(theta, sizes, X, *, return_z: bool = False, hidden="sigmoid",
                output="sigmoid"):
    """The network's outputs for the rows of ``X``, ``(n, sizes[-1])``;
    with ``return_z`` also the output layer's weighted inputs."""
    dt = _float_dtype(theta.dtype)
    X = _rows(X, dt, "X")
    out = np.empty((X.shape[0], int(sizes[-1])), dtype=dt)
    z = np.empty_like(out) if return_z else None
    _core.feedforward(theta, sizes, X, out, z, _act_code(hidden, "hidden"),
                      _act_code(output, "output"))
    return (out, z) if return_z else out


def backprop(theta, sizes, X, Y, cost="cross-entropy", *, hidden="sigmoid",
             output="sigmoid"):
    """Gradient of the cost summed over the rows of ``X``, in ``theta``'s
    layout (a new buffer)."""
    dt = _float_dtype(theta.dtype)
    grad = np.empty_like(theta)
    _core.backprop(theta, sizes, _rows(X, dt, "X"), _rows(Y, dt, "Y"),
                   _cost_code(cost), grad, _act_code(hidden, "hidden"),
                   _act_code(output, "output"))
    return grad


def sgd_epoch(theta, sizes, X, Y, order, mini_batch_size, eta, lmbda=0.0,
              n=None, cost="cross-entropy", *, hidden="sigmoid", output="sigmoid",
              l1=0.0, dropout=0.0, seed=0, batch_offset=0, mu=0.0, nesterov=False,
              velocity=None, status=None, threads=1):
    """One epoch of mini-batch SGD, updating ``theta`` in place.

    The mini-batches are ``order[k:k + mini_batch_size]``; the last may be
    shorter.  ``n`` is the training-set size used in the regularization
    terms and defaults to ``len(order)``.  ``X`` and ``Y`` must already have
    ``theta``'s dtype to avoid a copy per call.

    Plain SGD follows eqs. (93)-(94), with L1 (``l1``, eq. 97) beside L2
    (``lmbda``).  ``dropout=p`` drops each hidden neuron with probability p,
    a new subset per mini-batch drawn from ``seed`` and the mini-batch's
    index in the epoch (``batch_offset`` + its index in this call); kept
    activations are scaled by 1/(1-p) (inverted dropout).  ``mu > 0`` or
    ``nesterov`` uses momentum (eqs. 107-108) or Nesterov's method with the
    velocities in ``velocity`` (``theta``'s layout, updated in place).

    Returns ``(examples_done, finite)``: training stops before the update of
    a mini-batch whose output is NaN or infinite (``finite`` is then
    False).  Ctrl-C on the main thread raises KeyboardInterrupt after the
    mini-batch in progress; ``status`` (a 1-element intp array), if given,
    then holds the number of examples done.

    ``threads=2`` splits each mini-batch between two threads (see
    :func:`epoch_threads`; a mini-batch of one example only where the split
    is by the first layer's inputs, see :func:`two_thread_split`, else one
    thread runs it); BLAS is held to one thread per call meanwhile.
    The result differs from one thread's by rounding only.

    While it runs, the epoch flushes subnormal numbers to zero (on x86:
    they cost float32 epochs of saturated networks up to 1.6x their time;
    they change a result only through a weight above about 1e30, or 1e290
    in float64); the caller's floating-point mode is restored on return and
    while Python code such as a signal handler runs.
    """
    dt = _float_dtype(theta.dtype)
    if not (theta.flags.c_contiguous and theta.flags.writeable):
        raise ValueError("theta must be a writeable, contiguous 1-D array")
    order = np.ascontiguousarray(order, dtype=np.intp)
    if order.ndim != 1:
        raise ValueError("order must be a 1-D array of row indices")
    if velocity is not None and (velocity.dtype != dt or not velocity.flags.c_contiguous
                                 or not velocity.flags.writeable):
        raise ValueError("velocity must be a writeable, contiguous array of theta's dtype")
    n = len(order) if n is None else int(n)
    if isinstance(threads, bool) or threads not in (1, 2):
        raise ValueError(f"threads must be 1 or 2, got {threads!r}")
    args = (theta, sizes, _rows(X, dt, "X"), _rows(Y, dt, "Y"), order, int(mini_batch_size),
            float(eta), float(lmbda), n, _cost_code(cost))
    kwargs = dict(hidden=_act_code(hidden, "hidden"), output=_act_code(output, "output"),
                  l1=float(l1), dropout=float(dropout), seed=int(seed) & (2**64 - 1),
                  batch_offset=int(batch_offset), mu=float(mu), nesterov=bool(nesterov),
                  velocity=velocity, status=status, threads=int(threads))
    with _blas_for_threads(threads):
        return _core.sgd_epoch(*args, **kwargs)


#: The smallest mini-batch that :func:`epoch_threads` splits between two
#: threads by its rows.  Below it the two threads spend more time handing
#: the weights to each other between mini-batches than they save (measured
#: at 784-30-10 and 784-100-10: slower at mini-batches 10 and 20, faster at
#: 50).  The splits by the first layer's inputs or neurons hand over far
#: less, and win from the smallest mini-batches they take (784-30-10 and
#: 784-100-10 by inputs at 4: 0.69-0.88x one thread's time, and at 10 with
#: momentum 0.44-0.53x, with dropout 0.68-0.73x; 784-800-10 by neurons at 2
#: and 10: 0.13-0.87x).
SPLIT_MIN_BATCH = 32


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def two_thread_split(sizes, mini_batch_size, dtype=np.float64, plain=True) -> str:
    """How ``sgd_epoch(threads=2)`` splits mini-batches of this size for a
    network of these sizes: ``"rows"`` (each thread takes half of the
    examples), ``"inputs"`` or ``"neurons"`` (half of the first layer's
    inputs or neurons).  ``plain``: no momentum, and no dropout (the split
    by neurons takes plain SGD only; the one by inputs, any update rule)."""
    return _core._two_thread_split(list(sizes), int(mini_batch_size),
                                   _float_dtype(dtype) == np.float32, bool(plain))


def epoch_threads(threads, mini_batch_size, sizes=None, dtype=np.float64,
                  plain=True) -> int:
    """The threads :func:`sgd_epoch` should use: ``threads`` (1 or 2) as
    given, or, for None, 2 when two CPUs are free to us and the mini-batch
    has at least :data:`SPLIT_MIN_BATCH` examples or (given the network's
    ``sizes``, ``dtype`` and whether training is ``plain``, as for
    :func:`two_thread_split`) fewer, one included, that are split by the
    first layer's inputs or neurons; else 1."""
    if threads is None or threads == "auto":
        if usable_cpus() < 2:
            return 1
        if mini_batch_size >= SPLIT_MIN_BATCH:
            return 2
        if sizes is None:
            return 1
        return 1 if two_thread_split(sizes, mini_batch_size, dtype, plain) == "rows" else 2
    if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) \
            or threads not in (1, 2):
        raise ValueError(f"threads must be 1, 2 or None (automatic), got {threads!r}")
    return int(threads)


_controller = None
_controller_lock = threading.Lock()


def _blas_for_threads(threads):
    """BLAS held to one thread (_blas_single_thread) if ``threads`` is 2,
    else left alone."""
    return _blas_single_thread() if threads == 2 else contextlib.nullcontext()


def _blas_single_thread():
    """A context holding BLAS to one thread (each of the epoch's two threads
    calls it); without threadpoolctl, nothing is changed."""
    global _controller
    with _controller_lock:
        if _controller is None:
            try:
                from threadpoolctl import ThreadpoolController
            except ImportError:
                _controller = False
            else:
                _controller = ThreadpoolController()
    if _controller is False:
        return contextlib.nullcontext()
    return _controller.limit(limits=1, user_api="blas")
