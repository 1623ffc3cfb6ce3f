"""The book's algorithm as written: backpropagation one example at a time.

This is network2's ``feedforward`` / ``backprop`` / ``update_mini_batch`` as
free functions over explicit parameter lists, in float64. An example is a pair
of column vectors ``x`` (shape ``(n_in, 1)``) and ``y`` (shape ``(n_out, 1)``);
``weights[l]`` has shape ``(n_out, n_in)`` and ``biases[l]`` shape ``(n_out, 1)``.

Beyond network2, every function takes the rest of chapter 3 as keyword-only
arguments whose defaults give network2's behaviour exactly:

``hidden="sigmoid"``, ``output="sigmoid"``
    the neurons of the hidden layers and of the output layer (see
    :data:`nncore_reference.functions.ACTIVATIONS`; the output may also be
    ``"softmax"``). Not every cost suits every output layer:
    :func:`nncore_reference.functions.check_combination`.
``l1=0.0``
    L1 regularisation (eqs. 95-97) beside L2's ``lmbda`` (eqs. 85-93).
``dropout=0.0``, ``dropout_seed=0``
    inverted dropout of hidden neurons, masks from
    :mod:`nncore_reference.dropout`.
``mu=0.0``, ``nesterov=False``, ``velocities=None``
    momentum (eqs. 107-108) and Nesterov's variant.

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


def _sizes(weights):
    """Layer sizes [n_in, n_1, ..., n_out] of network2-shaped weights."""
    return [weights[0].shape[1]] + [w.shape[0] for w in weights]


def _dropout_scales(weights, p, seed, batch):
    """For each hidden layer, the column mask_l / (1 - p): 1/(1-p) for a kept
    neuron, 0 for a dropped one (inverted dropout). None when p == 0, so that
    p = 0 runs exactly the code without dropout."""
    if p == 0.0:
        return None
    keep_scale = 1.0 / (1.0 - p)
    return [np.where(mask, keep_scale, 0.0).reshape(-1, 1)
            for mask in hidden_masks(_sizes(weights), seed, batch, p)]


def _check_momentum(mu):
    mu = float(mu)
    if not 0.0 <= mu < 1.0:
        raise ValueError(f"mu (the momentum coefficient) must be in [0, 1), got {mu}")
    return mu


def _forward(weights, biases, x, hidden, output, scales=None):
    """Forward pass for one column ``x``: the lists ``zs`` (z^1..z^L) and
    ``activations`` (a^0 = x, a^1..a^L).

    Hidden layers: a^l = f(z^l), times the dropout column ``scales[l-1]``
    (mask / (1 - p)) when ``scales`` is given. Output layer: a^L = the output
    activation of z^L (softmax over the column for ``"softmax"``).
    """
    f = get_activation(hidden)[0]
    activation = x
    activations = [activation]
    zs = []
    n_layers = len(weights)
    for l, (w, b) in enumerate(zip(weights, biases)):
        z = w @ activation + b                                     # eq. 25
        if l == n_layers - 1:
            activation = activate_output(output, z, axis=0)
        else:
            activation = f(z)
            if scales is not None:
                activation = activation * scales[l]
        zs.append(z)
        activations.append(activation)
    return zs, activations


def feedforward(weights, biases, x, *, hidden="sigmoid", output="sigmoid"):
    """Output of the network for one input column ``x``:
    a^l = f(w^l a^(l-1) + b^l), starting from a^0 = x (eq. 25), with ``hidden``
    neurons in the hidden layers and ``output`` neurons in the last layer.
    This is the full network (evaluation): no dropout.
    """
    check_hidden(hidden)
    check_output(output)
    weights, biases = _params64(weights, biases)
    return _forward(weights, biases, _column(x), hidden, output)[1][-1]


def _backprop(weights, biases, x, y, cost, hidden, output, scales):
    """BP1-BP4 for one example on validated float64 inputs; see :func:`backprop`."""
    f_prime = get_activation(hidden)[1]
    zs, activations = _forward(weights, biases, x, hidden, output, scales)

    n_layers = len(weights)
    nabla_b = [None] * n_layers
    nabla_w = [None] * n_layers

    delta = output_delta(cost, output, zs[-1], activations[-1], y, axis=0)   # BP1
    for l in range(n_layers - 1, -1, -1):
        # Parameter layer l maps activations[l] to activations[l + 1].
        nabla_b[l] = delta                                # BP3
        nabla_w[l] = delta @ activations[l].T             # BP4
        if l > 0:
            delta = (weights[l].T @ delta) * f_prime(zs[l - 1])          # BP2
            if scales is not None:
                # a^l = f(z^l) * s^l, so da^l/dz^l = f'(z^l) * s^l
                delta = delta * scales[l - 1]
    return nabla_b, nabla_w


def backprop(weights, biases, x, y, cost, *, hidden="sigmoid", output="sigmoid",
             dropout=0.0, dropout_seed=0, batch_index=0):
    """Gradient of the cost C_x of one example: ``(nabla_b, nabla_w)``.

    ``nabla_b[l]`` = dC_x/db^l and ``nabla_w[l]`` = dC_x/dw^l, shaped like
    ``biases[l]`` and ``weights[l]``. No regularisation term is included (weight
    decay is applied in :func:`update_mini_batch`).

    The four equations of backpropagation (chapter 2), with f the hidden
    neurons' activation:

    * BP1  delta^L = dC/dz^L  -- :func:`nncore_reference.functions.output_delta`
      of (cost, output): a - y for cross-entropy + sigmoid and log-likelihood +
      softmax (eqs. 66, 84), (a - y) (.) f_out'(z^L) for the quadratic cost
    * BP2  delta^l = ((w^(l+1))^T delta^(l+1)) (.) f'(z^l)
    * BP3  dC/db^l = delta^l
    * BP4  dC/dw^l = delta^l (a^(l-1))^T

    With ``dropout`` = p > 0 this is the gradient of the thinned network of
    mini-batch ``batch_index`` (masks from ``dropout_seed``): a hidden
    activation is a^l = f(z^l) (.) mask^l / (1 - p), and BP2 gains the same
    factor, delta^l = ((w^(l+1))^T delta^(l+1)) (.) f'(z^l) (.) mask^l / (1 - p),
    so a dropped neuron has delta = 0 and a = 0: its incoming weights, its bias
    and its outgoing weights get no gradient.
    """
    cost = check_combination(cost, output)
    check_hidden(hidden)
    p = check_dropout(dropout)
    weights, biases = _params64(weights, biases)
    scales = _dropout_scales(weights, p, dropout_seed, batch_index)
    return _backprop(weights, biases, _column(x), _column(y), cost, hidden, output, scales)


def _velocities64(velocities, weights, biases):
    """Validated float64 copies of ``(v_weights, v_biases)``, zeros for None."""
    if velocities is None:
        return [np.zeros_like(w) for w in weights], [np.zeros_like(b) for b in biases]
    v_weights, v_biases = velocities
    v_weights = [np.array(v, dtype=np.float64) for v in v_weights]
    v_biases = [np.array(v, dtype=np.float64) for v in v_biases]
    if ([v.shape for v in v_weights] != [w.shape for w in weights]
            or [v.shape for v in v_biases] != [b.shape for b in biases]):
        raise ValueError("velocities must be a pair (v_weights, v_biases) shaped like (weights, biases)")
    return v_weights, v_biases


def update_mini_batch(weights, biases, batch, eta, lmbda, n, cost, *, hidden="sigmoid",
                      output="sigmoid", l1=0.0, dropout=0.0, dropout_seed=0, batch_index=0,
                      mu=0.0, nesterov=False, velocities=None):
    """One step of gradient descent with L2 (and L1) regularisation on one mini-batch.

    ``batch`` is a non-empty list of ``(x, y)`` column pairs, ``m = len(batch)``,
    ``eta`` the learning rate, ``lmbda`` the L2 and ``l1`` the L1
    regularisation parameter, and ``n`` the size of the whole training set.

    Without momentum (``mu == 0``, ``velocities is None``, not ``nesterov``)
    returns new ``(weights, biases)``:

    * eqs. (93), (97)  w -> (1 - eta*lmbda/n) w - (eta*l1/n) sgn(w) - (eta/m) sum_x dC_x/dw
    * eq. (94)         b -> b - (eta/m) sum_x dC_x/db

    with sgn(0) = 0 and sgn taken of w before the update; biases are never
    regularised. (With l1 == 0 the sgn term is skipped: eq. 93 exactly.)

    With momentum (``mu > 0``, or ``velocities`` given, or ``nesterov``),
    ``velocities`` = ``(v_weights, v_biases)`` shaped like the parameters
    (None: zeros), g = (1/m) sum_x grad C_x and the regularisation gradient
    r = (lmbda/n) w + (l1/n) sgn(w) for weights, 0 for biases (eq. 96):

    * momentum (eqs. 107-108): v -> mu v - eta (g + r), g and r taken at w;
      then w -> w + v (the new v)
    * Nesterov: the same, but g and r are taken at the look-ahead point
      w + mu v (with the v from before this step)

    and the return value is ``(weights, biases, (v_weights, v_biases))``.

    ``dropout`` = p > 0 computes the gradient on the thinned network of
    mini-batch ``batch_index`` (see :func:`backprop`); the same masks serve
    every example of the batch. Weight decay still shrinks every weight.
    """
    cost = check_combination(cost, output)
    check_hidden(hidden)
    p = check_dropout(dropout)
    mu = _check_momentum(mu)
    weights, biases = _params64(weights, biases)
    m = len(batch)
    if m == 0:
        raise ValueError("a mini-batch needs at least one example")
    use_momentum = mu > 0.0 or velocities is not None or bool(nesterov)
    if use_momentum:
        v_weights, v_biases = _velocities64(velocities, weights, biases)
    scales = _dropout_scales(weights, p, dropout_seed, batch_index)

    # The point at which the gradient is evaluated.
    if use_momentum and nesterov:
        at_w = [w + mu * v for w, v in zip(weights, v_weights)]
        at_b = [b + mu * v for b, v in zip(biases, v_biases)]
    else:
        at_w, at_b = weights, biases

    sum_b = [np.zeros_like(b) for b in biases]
    sum_w = [np.zeros_like(w) for w in weights]
    for x, y in batch:
        nabla_b, nabla_w = _backprop(at_w, at_b, _column(x), _column(y), cost, hidden, output, scales)
        sum_b = [s + nb for s, nb in zip(sum_b, nabla_b)]
        sum_w = [s + nw for s, nw in zip(sum_w, nabla_w)]

    if not use_momentum:
        decay = 1.0 - eta * lmbda / n
        step = eta / m
        if l1 != 0.0:
            shrink = eta * l1 / n
            new_weights = [decay * w - shrink * np.sign(w) - step * sw
                           for w, sw in zip(weights, sum_w)]
        else:
            new_weights = [decay * w - step * sw for w, sw in zip(weights, sum_w)]
        new_biases = [b - step * sb for b, sb in zip(biases, sum_b)]
        return new_weights, new_biases

    new_vw = []
    for v, sw, w in zip(v_weights, sum_w, at_w):
        g_plus_r = sw / m + (lmbda / n) * w + (l1 / n) * np.sign(w)
        new_vw.append(mu * v - eta * g_plus_r)                    # eq. 107
    new_vb = [mu * v - eta * (sb / m) for v, sb in zip(v_biases, sum_b)]
    new_weights = [w + v for w, v in zip(weights, new_vw)]        # eq. 108
    new_biases = [b + v for b, v in zip(biases, new_vb)]
    return new_weights, new_biases, (new_vw, new_vb)


def sgd_epoch(weights, biases, X, Y, order, mini_batch_size, eta, lmbda, cost, n=None, *,
              hidden="sigmoid", output="sigmoid", l1=0.0, dropout=0.0, dropout_seed=0,
              mu=0.0, nesterov=False, velocities=None):
    """One epoch of mini-batch stochastic gradient descent.

    ``X`` has shape ``(N, n_in)`` and ``Y`` shape ``(N, n_out)``: one example per
    row. ``order`` is an integer index array into the rows (normally the epoch's
    shuffled permutation, but any indices are allowed). The mini-batches are
    ``order[k:k + mini_batch_size]`` for k = 0, mini_batch_size, 2*mini_batch_size,
    ...; the last one may be shorter and is then averaged over its own length.
    ``n`` (the training-set size used by weight decay) defaults to ``len(order)``.

    Each mini-batch is one :func:`update_mini_batch` with the keyword arguments
    given here; its dropout masks are those of ``batch_index = k //
    mini_batch_size``, and the momentum velocities carry over from one
    mini-batch to the next, starting from ``velocities`` (None: zeros).
    Returns new ``(weights, biases)``, or ``(weights, biases, (v_weights,
    v_biases))`` with momentum (``mu > 0``, ``velocities`` given, or
    ``nesterov``); feeding those velocities to the next call continues the run.
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
    check_combination(cost, output)
    check_hidden(hidden)
    check_dropout(dropout)
    mu = _check_momentum(mu)
    if -(-len(order) // mini_batch_size) > MAX_BATCHES:
        raise ValueError(f"an epoch may hold at most {MAX_BATCHES} mini-batches (dropout's counter)")
    use_momentum = mu > 0.0 or velocities is not None or bool(nesterov)
    if use_momentum:
        velocities = _velocities64(velocities, weights, biases)

    options = dict(hidden=hidden, output=output, l1=l1, dropout=dropout,
                   dropout_seed=dropout_seed)
    if use_momentum:
        options.update(mu=mu, nesterov=nesterov)

    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]
    for k in range(0, len(order), mini_batch_size):
        rows = order[k:k + mini_batch_size]
        batch = [(X[i].reshape(-1, 1), Y[i].reshape(-1, 1)) for i in rows]
        result = update_mini_batch(weights, biases, batch, eta, lmbda, n, cost,
                                   batch_index=k // mini_batch_size, velocities=velocities,
                                   **options)
        if use_momentum:
            weights, biases, velocities = result
        else:
            weights, biases = result
    if use_momentum:
        return weights, biases, velocities
    return weights, biases
