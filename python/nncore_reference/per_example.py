"""The book's algorithm as written: backpropagation one example at a time.

This is network2's ``feedforward`` / ``backprop`` / ``update_mini_batch`` as
free functions over explicit parameter lists, in float64. An example is a pair
of column vectors ``x`` (shape ``(n_in, 1)``) and ``y`` (shape ``(n_out, 1)``);
``weights[l]`` has shape ``(n_out, n_in)`` and ``biases[l]`` shape ``(n_out, 1)``.

Functions never modify their arguments; updates return new lists.
"""

import numpy as np

from .functions import get_cost, sigmoid, sigmoid_prime

__all__ = ["feedforward", "backprop", "update_mini_batch", "sgd_epoch"]


def _params64(weights, biases):
    """The parameters as float64 arrays (no copy when they already are)."""
    if len(weights) != len(biases) or not weights:
        raise ValueError("weights and biases must be non-empty lists of equal length")
    return ([np.asarray(w, dtype=np.float64) for w in weights],
            [np.asarray(b, dtype=np.float64) for b in biases])


def _column(v):
    """``v`` as a float64 column vector of shape (n, 1)."""
    return np.asarray(v, dtype=np.float64).reshape(-1, 1)


def feedforward(weights, biases, x):
    """Output of the network for one input column ``x``:
    a^l = sigma(w^l a^(l-1) + b^l), starting from a^0 = x (eq. 25).
    """
    weights, biases = _params64(weights, biases)
    a = _column(x)
    for w, b in zip(weights, biases):
        a = sigmoid(w @ a + b)
    return a


def backprop(weights, biases, x, y, cost):
    """Gradient of the cost C_x of one example: ``(nabla_b, nabla_w)``.

    ``nabla_b[l]`` = dC_x/db^l and ``nabla_w[l]`` = dC_x/dw^l, shaped like
    ``biases[l]`` and ``weights[l]``. No regularisation term is included (weight
    decay is applied in :func:`update_mini_batch`).

    The four equations of backpropagation (chapter 2):

    * BP1  delta^L = nabla_a C (.) sigma'(z^L)   -- ``cost.delta(z^L, a^L, y)``
    * BP2  delta^l = ((w^(l+1))^T delta^(l+1)) (.) sigma'(z^l)
    * BP3  dC/db^l = delta^l
    * BP4  dC/dw^l = delta^l (a^(l-1))^T
    """
    cost = get_cost(cost)
    weights, biases = _params64(weights, biases)
    y = _column(y)

    # Forward pass, keeping every weighted input z^l and activation a^l.
    activation = _column(x)
    activations = [activation]  # a^0 = x, a^1, ..., a^L
    zs = []                     # z^1, ..., z^L
    for w, b in zip(weights, biases):
        z = w @ activation + b
        activation = sigmoid(z)
        zs.append(z)
        activations.append(activation)

    n_layers = len(weights)
    nabla_b = [None] * n_layers
    nabla_w = [None] * n_layers

    delta = cost.delta(zs[-1], activations[-1], y)        # BP1
    for l in range(n_layers - 1, -1, -1):
        # Parameter layer l maps activations[l] to activations[l + 1].
        nabla_b[l] = delta                                # BP3
        nabla_w[l] = delta @ activations[l].T             # BP4
        if l > 0:
            delta = (weights[l].T @ delta) * sigmoid_prime(zs[l - 1])  # BP2
    return nabla_b, nabla_w


def update_mini_batch(weights, biases, batch, eta, lmbda, n, cost):
    """One step of gradient descent with L2 regularisation on one mini-batch.

    ``batch`` is a non-empty list of ``(x, y)`` column pairs, ``m = len(batch)``,
    ``eta`` the learning rate, ``lmbda`` the regularisation parameter and ``n``
    the size of the whole training set. Returns new ``(weights, biases)``:

    * eq. (93)  w -> (1 - eta*lmbda/n) w - (eta/m) sum_x dC_x/dw
    * eq. (94)  b -> b - (eta/m) sum_x dC_x/db
    """
    weights, biases = _params64(weights, biases)
    m = len(batch)
    if m == 0:
        raise ValueError("a mini-batch needs at least one example")
    sum_b = [np.zeros_like(b) for b in biases]
    sum_w = [np.zeros_like(w) for w in weights]
    for x, y in batch:
        nabla_b, nabla_w = backprop(weights, biases, x, y, cost)
        sum_b = [s + nb for s, nb in zip(sum_b, nabla_b)]
        sum_w = [s + nw for s, nw in zip(sum_w, nabla_w)]
    decay = 1.0 - eta * lmbda / n
    step = eta / m
    new_weights = [decay * w - step * sw for w, sw in zip(weights, sum_w)]
    new_biases = [b - step * sb for b, sb in zip(biases, sum_b)]
    return new_weights, new_biases


def sgd_epoch(weights, biases, X, Y, order, mini_batch_size, eta, lmbda, cost, n=None):
    """One epoch of mini-batch stochastic gradient descent.

    ``X`` has shape ``(N, n_in)`` and ``Y`` shape ``(N, n_out)``: one example per
    row. ``order`` is an integer index array into the rows (normally the epoch's
    shuffled permutation, but any indices are allowed). The mini-batches are
    ``order[k:k + mini_batch_size]`` for k = 0, mini_batch_size, 2*mini_batch_size,
    ...; the last one may be shorter and is then averaged over its own length.
    ``n`` (the training-set size used by weight decay) defaults to ``len(order)``.
    Returns new ``(weights, biases)``.
    """
    weights, biases = _params64(weights, biases)
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    order = np.asarray(order, dtype=np.intp).reshape(-1)
    if X.ndim != 2 or Y.ndim != 2 or len(X) != len(Y):
        raise ValueError(f"X and Y must be 2-D with the same number of rows, got {X.shape} and {Y.shape}")
    if int(mini_batch_size) < 1:
        raise ValueError(f"mini_batch_size must be >= 1, got {mini_batch_size}")
    mini_batch_size = int(mini_batch_size)
    if n is None:
        n = len(order)

    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]
    for k in range(0, len(order), mini_batch_size):
        rows = order[k:k + mini_batch_size]
        batch = [(X[i].reshape(-1, 1), Y[i].reshape(-1, 1)) for i in rows]
        weights, biases = update_mini_batch(weights, biases, batch, eta, lmbda, n, cost)
    return weights, biases
