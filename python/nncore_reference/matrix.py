"""The same algorithm in matrix form: one mini-batch at a time, examples as rows.

Instead of looping over the examples of a mini-batch, the whole batch goes
through each layer in one matrix product. With ``X`` of shape ``(m, n_in)``
(one example per row) and network2-shaped parameters (``weights[l]`` of shape
``(n_out, n_in)``, ``biases[l]`` of shape ``(n_out, 1)``):

* forward:   Z^l = A^(l-1) (W^l)^T + (b^l)^T,   A^l = f(Z^l),   A^0 = X
* BP1:       Delta^L = output_delta(cost, output, Z^L, A^L, Y)   (row i = delta^L of example i)
* BP2:       Delta^l = (Delta^(l+1) W^(l+1)) (.) f'(Z^l)
* BP3 summed over the batch:  sum_x dC_x/db^l = (column sums of Delta^l)^T
* BP4 summed over the batch:  sum_x dC_x/dW^l = (Delta^l)^T A^(l-1)

f is the hidden neurons' activation (``hidden=``, sigmoid by default) and the
output layer's (``output=``: an element-wise neuron, or ``"softmax"`` applied
to each row). The keyword-only arguments of chapter 3 -- ``hidden``,
``output``, ``l1``, ``dropout``/``dropout_seed``, ``mu``/``nesterov``/
``velocities`` -- mean exactly what they mean in
:mod:`nncore_reference.per_example`; with dropout a hidden layer's rows are
all multiplied by the same mask row, mask^l / (1 - p), in the forward pass and
in BP2.

Precision: all arithmetic is done in the dtype of ``weights[0]`` -- float32
stays float32 throughout (data, scalars such as eta, lmbda/n, 1/(1 - p) and mu,
and velocities are cast to it); any dtype other than float32 is computed in
float64.

Functions never modify their arguments; updates return new lists.
"""

import numpy as np

from .dropout import MAX_BATCHES, check_dropout, hidden_masks
from .functions import (
    activate_output,
    check_combination,
    check_hidden,
    check_output,
    get_activation,
    output_delta,
)

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


def _sizes(weights):
    """Layer sizes [n_in, n_1, ..., n_out] of network2-shaped weights."""
    return [weights[0].shape[1]] + [w.shape[0] for w in weights]


def _dropout_scales(weights, p, seed, batch, dtype):
    """For each hidden layer, the row mask_l / (1 - p) in ``dtype`` (1/(1-p)
    for a kept neuron, 0 for a dropped one), shape ``(width,)`` so that it
    multiplies every row (example) of the layer alike. None when p == 0, so
    that p = 0 runs exactly the code without dropout."""
    if p == 0.0:
        return None
    t = dtype.type
    keep_scale = t(1) / (t(1) - t(p))
    return [np.where(mask, keep_scale, t(0)).astype(dtype)
            for mask in hidden_masks(_sizes(weights), seed, batch, p)]


def _check_momentum(mu):
    mu = float(mu)
    if not 0.0 <= mu < 1.0:
        raise ValueError(f"mu (the momentum coefficient) must be in [0, 1), got {mu}")
    return mu


def _forward(weights, biases, X, hidden="sigmoid", output="sigmoid", scales=None):
    """Forward pass; returns the lists ``zs`` (Z^1..Z^L) and
    ``activations`` (A^0 = X, A^1..A^L). Hidden activations are multiplied
    by the dropout rows ``scales`` when given; the output layer applies
    ``output`` (softmax row by row)."""
    if X.shape[1] != weights[0].shape[1]:
        raise ValueError(f"X has {X.shape[1]} columns, the network expects {weights[0].shape[1]} inputs")
    f = get_activation(hidden)[0]
    activations = [X]
    zs = []
    n_layers = len(weights)
    for l, (w, b) in enumerate(zip(weights, biases)):
        z = activations[-1] @ w.T + b.T
        if l == n_layers - 1:
            a = activate_output(output, z, axis=1)
        else:
            a = f(z)
            if scales is not None:
                a = a * scales[l]
        zs.append(z)
        activations.append(a)
    return zs, activations


def feedforward(weights, biases, X, *, hidden="sigmoid", output="sigmoid"):
    """Outputs of the network for the rows of ``X``: an array ``(N, n_out)``.
    The full network (evaluation): no dropout, no scaling."""
    check_hidden(hidden)
    check_output(output)
    dtype = _dtype_of(weights)
    weights, biases = _params(weights, biases, dtype)
    return _forward(weights, biases, _rows(X, dtype), hidden, output)[1][-1]


def _backprop(weights, biases, X, Y, cost, hidden, output, scales):
    """BP1-BP4 over a batch on validated inputs of one dtype; see :func:`backprop`."""
    f_prime = get_activation(hidden)[1]
    zs, activations = _forward(weights, biases, X, hidden, output, scales)

    n_layers = len(weights)
    nabla_b = [None] * n_layers
    nabla_w = [None] * n_layers
    delta = output_delta(cost, output, zs[-1], activations[-1], Y, axis=1)   # BP1, (m, n_out)
    for l in range(n_layers - 1, -1, -1):
        nabla_b[l] = delta.sum(axis=0).reshape(-1, 1)              # BP3, summed
        nabla_w[l] = delta.T @ activations[l]                      # BP4, summed
        if l > 0:
            delta = (delta @ weights[l]) * f_prime(zs[l - 1])      # BP2
            if scales is not None:
                delta = delta * scales[l - 1]                      # thinned network
    return nabla_b, nabla_w


def backprop(weights, biases, X, Y, cost, *, hidden="sigmoid", output="sigmoid",
             dropout=0.0, dropout_seed=0, batch_index=0):
    """Gradient of sum_x C_x over the rows of ``X`` (targets: rows of ``Y``).

    Returns ``(nabla_b, nabla_w)`` shaped like ``biases`` and ``weights``: the
    per-example gradients of :func:`nncore_reference.per_example.backprop`
    summed over the batch, computed with matrix products (BP1-BP4 as in the
    module docstring) and without any loop over examples. No regularisation
    term is included. With ``dropout`` = p > 0 it is the gradient of the
    thinned network of mini-batch ``batch_index``, one mask for all rows.
    """
    cost = check_combination(cost, output)
    check_hidden(hidden)
    p = check_dropout(dropout)
    dtype = _dtype_of(weights)
    weights, biases = _params(weights, biases, dtype)
    X = _rows(X, dtype)
    Y = _rows(Y, dtype)
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} rows but Y has {len(Y)}")
    scales = _dropout_scales(weights, p, dropout_seed, batch_index, dtype)
    return _backprop(weights, biases, X, Y, cost, hidden, output, scales)


def _velocities(velocities, weights, biases, dtype):
    """Validated copies of ``(v_weights, v_biases)`` in ``dtype``, zeros for None."""
    if velocities is None:
        return [np.zeros_like(w) for w in weights], [np.zeros_like(b) for b in biases]
    v_weights, v_biases = velocities
    v_weights = [np.array(v, dtype=dtype) for v in v_weights]
    v_biases = [np.array(v, dtype=dtype) for v in v_biases]
    if ([v.shape for v in v_weights] != [w.shape for w in weights]
            or [v.shape for v in v_biases] != [b.shape for b in biases]):
        raise ValueError("velocities must be a pair (v_weights, v_biases) shaped like (weights, biases)")
    return v_weights, v_biases


def update_mini_batch(weights, biases, X, Y, eta, lmbda, n, cost, *, hidden="sigmoid",
                      output="sigmoid", l1=0.0, dropout=0.0, dropout_seed=0, batch_index=0,
                      mu=0.0, nesterov=False, velocities=None):
    """One regularised gradient-descent step on the mini-batch ``(X, Y)``.

    With m = len(X) and no momentum, returns new ``(weights, biases)``:

    * eqs. (93), (97)  W -> (1 - eta*lmbda/n) W - (eta*l1/n) sgn(W) - (eta/m) sum_x dC_x/dW
    * eq. (94)         b -> b - (eta/m) sum_x dC_x/db

    With momentum (``mu > 0``, ``velocities`` given, or ``nesterov``):
    v -> mu v - eta (g + r), W -> W + v, with g = (1/m) sum_x grad C_x and
    r = (lmbda/n) W + (l1/n) sgn(W) (0 for biases) taken at W, or at the
    look-ahead W + mu v for Nesterov; returns ``(weights, biases, (v_weights,
    v_biases))``. The rules in full: :func:`nncore_reference.per_example.update_mini_batch`.
    """
    cost = check_combination(cost, output)
    check_hidden(hidden)
    p = check_dropout(dropout)
    mu = _check_momentum(mu)
    dtype = _dtype_of(weights)
    weights, biases = _params(weights, biases, dtype)
    X = _rows(X, dtype)
    Y = _rows(Y, dtype)
    if len(X) != len(Y):
        raise ValueError(f"X has {len(X)} rows but Y has {len(Y)}")
    m = len(X)
    if m == 0:
        raise ValueError("a mini-batch needs at least one example")
    t = dtype.type
    use_momentum = mu > 0.0 or velocities is not None or bool(nesterov)
    scales = _dropout_scales(weights, p, dropout_seed, batch_index, dtype)

    if not use_momentum:
        nabla_b, nabla_w = _backprop(weights, biases, X, Y, cost, hidden, output, scales)
        decay = t(1) - t(eta) * t(lmbda) / t(n)
        step = t(eta) / t(m)
        if l1 != 0.0:
            shrink = t(eta) * t(l1) / t(n)
            new_weights = [decay * w - shrink * np.sign(w) - step * nw
                           for w, nw in zip(weights, nabla_w)]
        else:
            new_weights = [decay * w - step * nw for w, nw in zip(weights, nabla_w)]
        new_biases = [b - step * nb for b, nb in zip(biases, nabla_b)]
        return new_weights, new_biases

    v_weights, v_biases = _velocities(velocities, weights, biases, dtype)
    t_mu = t(mu)
    if nesterov:  # gradient at the look-ahead point
        at_w = [w + t_mu * v for w, v in zip(weights, v_weights)]
        at_b = [b + t_mu * v for b, v in zip(biases, v_biases)]
    else:
        at_w, at_b = weights, biases
    nabla_b, nabla_w = _backprop(at_w, at_b, X, Y, cost, hidden, output, scales)
    t_eta, t_m = t(eta), t(m)
    l2_rate, l1_rate = t(lmbda) / t(n), t(l1) / t(n)
    new_vw = [t_mu * v - t_eta * (nw / t_m + l2_rate * w + l1_rate * np.sign(w))   # eq. 107
              for v, nw, w in zip(v_weights, nabla_w, at_w)]
    new_vb = [t_mu * v - t_eta * (nb / t_m) for v, nb in zip(v_biases, nabla_b)]
    new_weights = [w + v for w, v in zip(weights, new_vw)]                         # eq. 108
    new_biases = [b + v for b, v in zip(biases, new_vb)]
    return new_weights, new_biases, (new_vw, new_vb)


def sgd_epoch(weights, biases, X, Y, order, mini_batch_size, eta, lmbda, cost, n=None, *,
              hidden="sigmoid", output="sigmoid", l1=0.0, dropout=0.0, dropout_seed=0,
              mu=0.0, nesterov=False, velocities=None):
    """One epoch of mini-batch SGD; the batching rule of
    :func:`nncore_reference.per_example.sgd_epoch`.

    The mini-batches are the rows ``order[k:k + mini_batch_size]`` for k = 0,
    mini_batch_size, ...; the last may be shorter. ``n`` defaults to
    ``len(order)``. Mini-batch k // mini_batch_size uses the dropout masks of
    that batch index; momentum velocities carry from batch to batch, starting
    from ``velocities`` (None: zeros). Returns new ``(weights, biases)``, or
    ``(weights, biases, (v_weights, v_biases))`` with momentum (``mu > 0``,
    ``velocities`` given, or ``nesterov``).
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
    check_combination(cost, output)
    check_hidden(hidden)
    check_dropout(dropout)
    mu = _check_momentum(mu)
    if -(-len(order) // mini_batch_size) > MAX_BATCHES:
        raise ValueError(f"an epoch may hold at most {MAX_BATCHES} mini-batches (dropout's counter)")
    use_momentum = mu > 0.0 or velocities is not None or bool(nesterov)
    if use_momentum:
        velocities = _velocities(velocities, weights, biases, dtype)

    options = dict(hidden=hidden, output=output, l1=l1, dropout=dropout,
                   dropout_seed=dropout_seed)
    if use_momentum:
        options.update(mu=mu, nesterov=nesterov)

    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]
    for k in range(0, len(order), mini_batch_size):
        rows = order[k:k + mini_batch_size]
        result = update_mini_batch(weights, biases, X[rows], Y[rows], eta, lmbda, n, cost,
                                   batch_index=k // mini_batch_size, velocities=velocities,
                                   **options)
        if use_momentum:
            weights, biases, velocities = result
        else:
            weights, biases = result
    if use_momentum:
        return weights, biases, velocities
    return weights, biases


def total_cost(weights, biases, X, Y, lmbda, cost, *, hidden="sigmoid", output="sigmoid",
               l1=0.0):
    """Regularised cost over a data set, as network2's ``total_cost``:

        (1/N) sum_x C_x  +  (lmbda / (2N)) sum_w ||w||^2  +  (l1 / N) sum_w |w|
                                                          (eqs. 85-86 and 95)

    with N = len(X); each regularisation term is added once (the L1 term only
    when ``l1`` != 0). The full network is evaluated (no dropout). The
    cross-entropy and log-likelihood costs are computed from the output
    pre-activations, so they are finite even when the outputs saturate.
    Returns a Python float.
    """
    cost = check_combination(cost, output)
    check_hidden(hidden)
    dtype = _dtype_of(weights)
    weights, biases = _params(weights, biases, dtype)
    X = _rows(X, dtype)
    Y = _rows(Y, dtype)
    N = len(X)
    if N == 0 or len(Y) != N:
        raise ValueError(f"X and Y need the same, non-zero number of rows; got {len(X)} and {len(Y)}")
    zs, activations = _forward(weights, biases, X, hidden, output)
    data_cost = cost.fn(activations[-1], Y, z=zs[-1]) / N
    l2 = sum(np.sum(w * w) for w in weights)
    total = data_cost + dtype.type(0.5) * dtype.type(lmbda) / N * l2
    if l1 != 0.0:
        total = total + dtype.type(l1) / N * sum(np.sum(np.abs(w)) for w in weights)
    return float(total)


def accuracy(weights, biases, X, labels, *, hidden="sigmoid", output="sigmoid"):
    """Number of rows of ``X`` whose most active output neuron is the label.

    ``labels`` are integer class indices, shape ``(N,)``; one-hot (or any)
    target rows of shape ``(N, n_out)`` are also accepted and compared by their
    argmax (network2's ``convert=True``). The full network is evaluated (no
    dropout). Returns a Python int.
    """
    outputs = feedforward(weights, biases, X, hidden=hidden, output=output)
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1)
    if len(labels) != len(outputs):
        raise ValueError(f"{len(outputs)} rows of X but {len(labels)} labels")
    return int(np.count_nonzero(outputs.argmax(axis=1) == labels))
