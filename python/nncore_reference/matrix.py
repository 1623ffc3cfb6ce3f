"""The same algorithm in matrix form: one mini-batch at a time, examples as rows.

Instead of looping over the examples of a mini-batch, the whole batch goes
through each layer in one matrix product. With ``X`` of shape ``(m, n_in)``
(one example per row) and network2-shaped parameters (``weights[l]`` of shape
``(n_out, n_in)``, ``biases[l]`` of shape ``(n_out, 1)``):

* forward:   Z^l = A^(l-1) (W^l)^T + (b^l)^T,   A^l = sigma(Z^l),   A^0 = X
* BP1:       Delta^L = cost.delta(Z^L, A^L, Y)             (row i = delta^L of example i)
* BP2:       Delta^l = (Delta^(l+1) W^(l+1)) (.) sigma'(Z^l)
* BP3 summed over the batch:  sum_x dC_x/db^l = (column sums of Delta^l)^T
* BP4 summed over the batch:  sum_x dC_x/dW^l = (Delta^l)^T A^(l-1)

Precision: all arithmetic is done in the dtype of ``weights[0]`` -- float32
stays float32 throughout (data and scalars are cast to it); any dtype other
than float32 is computed in float64.

Functions never modify their arguments; updates return new lists.
"""

import numpy as np

from .functions import get_cost, sigmoid, sigmoid_prime

__all__ = [
    "feedforward",
    "backprop",
    "update_mini_batch",
    "sgd_epoch",
    "total_cost",
    "accuracy",
]


def _dtype_of(weights):
    """The working dtype: float32 if ``weights[0]`` is float32, else float64."""
    if not weights:
        raise ValueError("weights must be a non-empty list")
    dt = np.asarray(weights[0]).dtype
    return np.dtype(np.float32) if dt == np.float32 else np.dtype(np.float64)


def _params(weights, biases, dtype):
    """The parameters as arrays of ``dtype`` (no copy when they already are)."""
    if len(weights) != len(biases):
        raise ValueError("weights and biases must have the same number of layers")
    return ([np.asarray(w, dtype=dtype) for w in weights],
            [np.asarray(b, dtype=dtype) for b in biases])


def _rows(V, dtype):
    """``V`` as a 2-D array of ``dtype`` with one example per row (a 1-D
    ``V`` is a single example)."""
    V = np.asarray(V, dtype=dtype)
    if V.ndim == 1:
        V = V.reshape(1, -1)
    if V.ndim != 2:
        raise ValueError(f"expected a 2-D array with one example per row, got shape {V.shape}")
    return V


def _forward(weights, biases, X):
    """Forward pass; returns the lists ``zs`` (Z^1..Z^L) and
    ``activations`` (A^0 = X, A^1..A^L)."""
    if X.shape[1] != weights[0].shape[1]:
        raise ValueError(f"X has {X.shape[1]} columns, the network expects {weights[0].shape[1]} inputs")
    activations = [X]
    zs = []
    for w, b in zip(weights, biases):
        z = activations[-1] @ w.T + b.T
        zs.append(z)
        activations.append(sigmoid(z))
    return zs, activations


def feedforward(weights, biases, X):
    """Outputs of the network for the rows of ``X``: an array ``(N, n_out)``."""
    dtype = _dtype_of(weights)
    weights, biases = _params(weights, biases, dtype)
    return _forward(weights, biases, _rows(X, dtype))[1][-1]


def backprop(weights, biases, X, Y, cost):
    """Gradient of sum_x C_x over the rows of ``X`` (targets: rows of ``Y``).

    Returns ``(nabla_b, nabla_w)`` shaped like ``biases`` and ``weights``: the
    per-example gradients of :func:`nncore_reference.per_example.backprop`
    summed over the batch, computed with matrix products (BP1-BP4 as in the
    module docstring) and without any loop over examples. No regularisation
    term is included.
    """
    cost = get_cost(cost)
    dtype = _dtype_of(weights)
    weights, biases = _params(weights, biases, dtype)
    X = _rows(X, dtype)
    Y = _rows(Y, dtype)
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} rows but Y has {len(Y)}")
    zs, activations = _forward(weights, biases, X)

    n_layers = len(weights)
    nabla_b = [None] * n_layers
    nabla_w = [None] * n_layers
    delta = cost.delta(zs[-1], activations[-1], Y)                 # BP1, (m, n_out)
    for l in range(n_layers - 1, -1, -1):
        nabla_b[l] = delta.sum(axis=0).reshape(-1, 1)              # BP3, summed
        nabla_w[l] = delta.T @ activations[l]                      # BP4, summed
        if l > 0:
            delta = (delta @ weights[l]) * sigmoid_prime(zs[l - 1])  # BP2
    return nabla_b, nabla_w


def update_mini_batch(weights, biases, X, Y, eta, lmbda, n, cost):
    """One regularised gradient-descent step on the mini-batch ``(X, Y)``.

    With m = len(X), returns new ``(weights, biases)``:

    * eq. (93)  W -> (1 - eta*lmbda/n) W - (eta/m) sum_x dC_x/dW
    * eq. (94)  b -> b - (eta/m) sum_x dC_x/db
    """
    dtype = _dtype_of(weights)
    weights, biases = _params(weights, biases, dtype)
    X = _rows(X, dtype)
    m = len(X)
    if m == 0:
        raise ValueError("a mini-batch needs at least one example")
    nabla_b, nabla_w = backprop(weights, biases, X, Y, cost)
    t = dtype.type
    decay = t(1) - t(eta) * t(lmbda) / t(n)
    step = t(eta) / t(m)
    new_weights = [decay * w - step * nw for w, nw in zip(weights, nabla_w)]
    new_biases = [b - step * nb for b, nb in zip(biases, nabla_b)]
    return new_weights, new_biases


def sgd_epoch(weights, biases, X, Y, order, mini_batch_size, eta, lmbda, cost, n=None):
    """One epoch of mini-batch SGD; the batching rule of
    :func:`nncore_reference.per_example.sgd_epoch`.

    The mini-batches are the rows ``order[k:k + mini_batch_size]`` for k = 0,
    mini_batch_size, ...; the last may be shorter. ``n`` defaults to
    ``len(order)``. Returns new ``(weights, biases)``.
    """
    dtype = _dtype_of(weights)
    weights, biases = _params(weights, biases, dtype)
    X = _rows(X, dtype)
    Y = _rows(Y, dtype)
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} rows but Y has {len(Y)}")
    order = np.asarray(order, dtype=np.intp).reshape(-1)
    if int(mini_batch_size) < 1:
        raise ValueError(f"mini_batch_size must be >= 1, got {mini_batch_size}")
    mini_batch_size = int(mini_batch_size)
    if n is None:
        n = len(order)

    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]
    for k in range(0, len(order), mini_batch_size):
        rows = order[k:k + mini_batch_size]
        weights, biases = update_mini_batch(weights, biases, X[rows], Y[rows], eta, lmbda, n, cost)
    return weights, biases


def total_cost(weights, biases, X, Y, lmbda, cost):
    """Regularised cost over a data set, as network2's ``total_cost``:

        (1/N) sum_x C_x  +  (lmbda / (2N)) sum_w ||w||^2        (eqs. 85-86)

    with N = len(X); the L2 term is added once. The cross-entropy cost is
    computed from the output pre-activations, so it is finite even when the
    outputs saturate. Returns a Python float.
    """
    cost = get_cost(cost)
    dtype = _dtype_of(weights)
    weights, biases = _params(weights, biases, dtype)
    X = _rows(X, dtype)
    Y = _rows(Y, dtype)
    N = len(X)
    if N == 0 or len(Y) != N:
        raise ValueError(f"X and Y need the same, non-zero number of rows; got {len(X)} and {len(Y)}")
    zs, activations = _forward(weights, biases, X)
    data_cost = cost.fn(activations[-1], Y, z=zs[-1]) / N
    l2 = sum(np.sum(w * w) for w in weights)
    return float(data_cost + dtype.type(0.5) * dtype.type(lmbda) / N * l2)


def accuracy(weights, biases, X, labels):
    """Number of rows of ``X`` whose most active output neuron is the label.

    ``labels`` are integer class indices, shape ``(N,)``; one-hot (or any)
    target rows of shape ``(N, n_out)`` are also accepted and compared by their
    argmax (network2's ``convert=True``). Returns a Python int.
    """
    outputs = feedforward(weights, biases, X)
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1)
    if len(labels) != len(outputs):
        raise ValueError(f"{len(outputs)} rows of X but {len(labels)} labels")
    return int(np.count_nonzero(outputs.argmax(axis=1) == labels))
