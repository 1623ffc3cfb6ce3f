"""Activation and cost functions of the reference network.

Everything here is plain NumPy and works element-wise, so the same function
serves a single example (a column vector of shape ``(n, 1)``, as in the book's
``network2``) and a whole mini-batch (a matrix whose *rows* are examples, as
in :mod:`nncore_reference.matrix`).

Notation follows chapter 3 of Nielsen's *Neural Networks and Deep Learning*:
``z`` is a layer's weighted input (pre-activation), ``a = f(z)`` its
activation (``f`` the sigmoid unless a layer says otherwise) and ``y`` the
desired output.

Besides the sigmoid network of the chapter's code, this module holds the rest
of the chapter's neurons and costs: tanh (eq. 109), rectified linear (eq. 112)
and linear neurons in :data:`ACTIVATIONS`, the softmax output layer (eq. 78)
and the log-likelihood cost (eq. 80), and :func:`output_delta`, the output
error delta^L (BP1) of every valid pairing of a cost with an output layer.

Softmax is the one activation that is not element-wise: it normalises over the
outputs of ONE example, so it takes an ``axis`` -- ``-1`` (the default) for a
matrix whose rows are examples, ``0`` for a single example as a column.
"""

import numpy as np

__all__ = [
    "sigmoid",
    "sigmoid_prime",
    "softplus",
    "tanh",
    "tanh_prime",
    "relu",
    "relu_prime",
    "linear",
    "linear_prime",
    "softmax",
    "log_softmax",
    "ACTIVATIONS",
    "OUTPUTS",
    "get_activation",
    "activate_output",
    "QuadraticCost",
    "CrossEntropyCost",
    "LogLikelihoodCost",
    "COSTS",
    "get_cost",
    "check_hidden",
    "check_output",
    "check_combination",
    "output_delta",
]


def _as_float_array(z):
    """Return ``z`` as an array of a floating dtype (integers become float64)."""
    z = np.asarray(z)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)
    return z


def sigmoid(z):
    """The logistic function sigma(z) = 1 / (1 + exp(-z)), element-wise.

    Numerically stable: ``exp`` is only ever applied to ``-|z|``, which lies
    in ``(-inf, 0]``, so it cannot overflow and no RuntimeWarning is emitted
    for any finite ``z`` (``sigmoid(1000) == 1.0``, ``sigmoid(-1000) == 0.0``).

    * for z >= 0:  sigma(z) = 1 / (1 + exp(-z))
    * for z <  0:  sigma(z) = e / (1 + e)   with e = exp(z)

    Both branches use ``e = exp(-|z|)``. The dtype of a floating input is kept
    (float32 in, float32 out); integer input is computed in float64.
    A scalar input gives a NumPy scalar.
    """
    z = _as_float_array(z)
    # exp(-|z|) may underflow to 0 for large |z|; that is the exact limit we
    # want, so the underflow is not reported even under np.errstate(all="raise").
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(z))
        s = np.where(z >= 0, 1 / (1 + e), e / (1 + e))
    return s[()] if s.ndim == 0 else s


def sigmoid_prime(z):
    """Derivative of the sigmoid: sigma'(z) = sigma(z) * (1 - sigma(z)).

    Exactly 0 (and no warning) where the sigmoid saturates.
    """
    s = sigmoid(z)
    with np.errstate(under="ignore"):
        return s * (1 - s)


def softplus(x):
    """log(1 + exp(x)), element-wise, computed stably as ``logaddexp(0, x)``.

    softplus(-z) = -log(sigma(z)) and softplus(z) = -log(1 - sigma(z)), which
    is what lets :meth:`CrossEntropyCost.fn` be evaluated from ``z`` without
    ever forming ``log(0)``.
    """
    x = _as_float_array(x)
    with np.errstate(under="ignore"):
        return np.logaddexp(x.dtype.type(0), x)


def tanh(z):
    """The hyperbolic tangent (eq. 110), element-wise: a rescaled sigmoid,
    tanh(z) = 2*sigma(2z) - 1 (eq. 111), with outputs in (-1, 1).
    ``np.tanh`` never overflows (tanh(+-1000) = +-1)."""
    return np.tanh(_as_float_array(z))


def tanh_prime(z):
    """Derivative of tanh: 1 - tanh(z)^2 (exactly 0 where tanh saturates)."""
    t = np.tanh(_as_float_array(z))
    return 1 - t * t


def relu(z):
    """The rectified linear function max(0, z) (eq. 112), element-wise."""
    z = _as_float_array(z)
    return np.maximum(z, z.dtype.type(0))


def relu_prime(z):
    """Derivative of max(0, z): 1 where z > 0, else 0. At z = 0, where the
    function has a corner, the value 0 is used (the native core does the same)."""
    z = _as_float_array(z)
    return (z > 0).astype(z.dtype)


def linear(z):
    """The identity f(z) = z: a linear neuron (the output of eq. 68's setting)."""
    return _as_float_array(z)


def linear_prime(z):
    """Derivative of the identity: 1 everywhere."""
    return np.ones_like(_as_float_array(z))


def softmax(z, axis=-1):
    """The softmax function of eq. (78): a_j = exp(z_j) / sum_k exp(z_k),
    normalised over ``axis`` -- the outputs of one example: ``axis=-1`` for a
    matrix whose rows are examples, ``axis=0`` for one example as a column.

    Stable: the maximum over ``axis`` is subtracted before ``exp`` (which
    leaves the quotient unchanged), so ``exp`` only sees numbers <= 0 and can
    not overflow; the largest term is exp(0) = 1, so the sum is >= 1 and the
    division is always defined. The entries along ``axis`` sum to 1 (eq. 79).
    """
    z = _as_float_array(z)
    with np.errstate(under="ignore"):
        e = np.exp(z - np.max(z, axis=axis, keepdims=True))
        return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(z, axis=-1):
    """ln softmax(z) = z - logsumexp(z), computed stably over ``axis``:
    logsumexp(z) = max(z) + ln sum exp(z - max(z)). Finite for every finite
    ``z`` (no ln 0 is ever formed), which is what keeps the log-likelihood
    cost finite when the softmax saturates."""
    z = _as_float_array(z)
    zmax = np.max(z, axis=axis, keepdims=True)
    with np.errstate(under="ignore"):
        lse = zmax + np.log(np.sum(np.exp(z - zmax), axis=axis, keepdims=True))
    return z - lse


#: Element-wise neurons by name: name -> (f, f'), each taking the weighted
#: input z. Any of them may be used for hidden layers and for the output layer.
ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_prime),
    "tanh": (tanh, tanh_prime),
    "relu": (relu, relu_prime),
    "linear": (linear, linear_prime),
}

#: Names allowed for the output layer: the element-wise neurons and softmax.
OUTPUTS = tuple(ACTIVATIONS) + ("softmax",)


def get_activation(name):
    """``(f, f')`` of the element-wise neuron ``name`` (a key of :data:`ACTIVATIONS`)."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {name!r}; expected one of {sorted(ACTIVATIONS)}"
        ) from None


def check_hidden(hidden):
    """Raise ValueError unless ``hidden`` names an element-wise neuron.
    (Softmax is an output layer only.)"""
    if hidden not in ACTIVATIONS:
        raise ValueError(
            f"unknown hidden activation {hidden!r}; expected one of {sorted(ACTIVATIONS)}"
            + (" (softmax is only available for the output layer)" if hidden == "softmax" else "")
        )


def check_output(output):
    """Raise ValueError unless ``output`` names an output layer (:data:`OUTPUTS`)."""
    if output not in OUTPUTS:
        raise ValueError(f"unknown output activation {output!r}; expected one of {sorted(OUTPUTS)}")


def activate_output(output, z, axis=-1):
    """Activation of the output layer: ``softmax(z, axis)`` for ``"softmax"``,
    otherwise the element-wise neuron ``output`` of :data:`ACTIVATIONS`."""
    if output == "softmax":
        return softmax(z, axis=axis)
    return get_activation(output)[0](z)


class QuadraticCost:
    """The quadratic (mean-squared-error) cost of chapter 1.

    C = (1/2) * ||a - y||^2 for one example; for a matrix whose rows are
    examples :meth:`fn` returns the sum of the per-example costs.
    """

    name = "quadratic"

    @staticmethod
    def fn(a, y, z=None):
        """Cost of output ``a`` for desired output ``y``: 0.5 * sum((a - y)^2).

        ``z`` is accepted (and ignored) so that every cost in :data:`COSTS`
        can be called the same way.
        """
        a = np.asarray(a)
        d = a - y
        return 0.5 * np.sum(d * d)

    @staticmethod
    def delta(z, a, y):
        """Output-layer error, equation (BP1) for this cost:
        delta^L = (a - y) * sigma'(z^L).
        """
        return (a - y) * sigmoid_prime(z)


class CrossEntropyCost:
    """The cross-entropy cost of chapter 3, equation (57).

    C = -sum_j [ y_j ln a_j + (1 - y_j) ln(1 - a_j) ] for one example; for a
    matrix whose rows are examples :meth:`fn` returns the sum over all rows.
    """

    name = "cross-entropy"

    @staticmethod
    def fn(a, y, z=None):
        """Cost of output ``a`` for desired output ``y``; always finite.

        If ``z`` (the output layer's pre-activation, with ``a = sigmoid(z)``)
        is given, the cost is computed from it, which is exact even when the
        output saturates:

            -ln sigma(z) = softplus(-z),   -ln(1 - sigma(z)) = softplus(z),
            C = sum( y * softplus(-z) + (1 - y) * softplus(z) ).

        Otherwise it is computed from ``a``. A term whose coefficient (``y`` or
        ``1 - y``) is 0 counts as 0, and the arguments of ``log`` are floored
        at the smallest normal number of the dtype, so ``log(0)`` never occurs
        and no nan or warning can arise (a wrong, saturated output then costs
        about 708 per unit of target in float64, 87 in float32, instead of inf).
        """
        if z is not None:
            z = _as_float_array(z)
            return np.sum(y * softplus(-z) + (1 - y) * softplus(z))
        a = _as_float_array(a)
        y = np.asarray(y)
        floor = np.finfo(a.dtype).tiny
        log_a = np.log(np.maximum(a, floor))
        log_1ma = np.log(np.maximum(1 - a, floor))
        terms = np.where(y != 0, y * log_a, 0) + np.where(1 - y != 0, (1 - y) * log_1ma, 0)
        return -np.sum(terms)

    @staticmethod
    def delta(z, a, y):
        """Output-layer error, equation (BP1) for this cost with sigmoid
        outputs: the sigma'(z) factor cancels (eq. 66), delta^L = a - y.
        ``z`` is unused.
        """
        return a - y


class LogLikelihoodCost:
    """The log-likelihood cost of eq. (80), for a softmax output layer.

    C = -ln a_y for one example whose desired class is y; with ``y`` a one-hot
    vector that is C = -sum_j y_j ln a_j. For a matrix whose rows are examples
    :meth:`fn` returns the sum over all rows. (Its output error a - y, eq. 84,
    is the gradient only when each target ``y`` sums to 1 -- one-hot, or any
    probability distribution.)
    """

    name = "log-likelihood"

    @staticmethod
    def fn(a, y, z=None, axis=-1):
        """Cost of output ``a`` for desired output ``y``; always finite.

        If ``z`` (the output layer's pre-activation, with ``a = softmax(z)``
        over ``axis``: -1 for rows, 0 for a column) is given, the cost is
        computed from it, exactly even when the softmax saturates:

            ln a_j = z_j - logsumexp(z),   C = -sum( y * (z - logsumexp(z)) ).

        Otherwise it is computed from ``a`` as -sum(y * ln a) over the entries
        with y != 0, with ``a`` floored at the smallest normal number of its
        dtype, so ln 0 never occurs (a saturated wrong output costs about 708
        per unit of target in float64 instead of inf).
        """
        if z is not None:
            return -np.sum(y * log_softmax(z, axis=axis))
        a = _as_float_array(a)
        y = np.asarray(y)
        log_a = np.log(np.maximum(a, np.finfo(a.dtype).tiny))
        return -np.sum(np.where(y != 0, y * log_a, 0))

    @staticmethod
    def delta(z, a, y):
        """Output-layer error with a softmax output, eq. (84):
        delta^L = a - y. ``z`` is unused."""
        return a - y


#: Built-in costs by name.
COSTS = {
    QuadraticCost.name: QuadraticCost,
    CrossEntropyCost.name: CrossEntropyCost,
    LogLikelihoodCost.name: LogLikelihoodCost,
}

# network2 saves the class name ("CrossEntropyCost") in its JSON files.
_COST_ALIASES = {cls.__name__: cls for cls in COSTS.values()}


def get_cost(c):
    """Return a cost class from a class or a name.

    ``c`` may be one of the names in :data:`COSTS` (``"quadratic"``,
    ``"cross-entropy"``, ``"log-likelihood"``), a class name as network2 saves
    it (``"QuadraticCost"``, ``"CrossEntropyCost"``, ``"LogLikelihoodCost"``),
    or any class with static
    methods ``fn(a, y, z=None)`` and ``delta(z, a, y)``, which is returned as is.
    """
    if isinstance(c, str):
        try:
            return COSTS.get(c) or _COST_ALIASES[c]
        except KeyError:
            raise ValueError(
                f"unknown cost {c!r}; expected one of {sorted(COSTS)}"
            ) from None
    if callable(getattr(c, "fn", None)) and callable(getattr(c, "delta", None)):
        return c
    raise TypeError(
        f"cost must be a name in {sorted(COSTS)} or a class with fn and delta, got {c!r}"
    )


def check_combination(cost, output):
    """Raise ValueError unless the cost ``cost`` can train an output layer of
    neurons ``output``; return the cost class otherwise.

    * cross-entropy needs sigmoid outputs: its ln a and ln(1 - a) terms need
      every output in (0, 1), which only the sigmoid guarantees element-wise;
    * log-likelihood needs a softmax output (eq. 80 reads a_y as the
      probability of class y), and softmax is paired with log-likelihood or
      quadratic, never with cross-entropy;
    * quadratic works with every output layer;
    * a cost class of one's own (anything but the three built-ins) supplies
      ``delta`` written for sigmoid outputs, as in network2, so it is accepted
      with sigmoid outputs only.
    """
    cost = get_cost(cost)
    check_output(output)
    name = getattr(cost, "name", getattr(cost, "__name__", repr(cost)))
    if cost is CrossEntropyCost and output != "sigmoid":
        raise ValueError(
            f"cost {name!r} cannot be used with output {output!r}: cross-entropy needs a "
            "'sigmoid' output layer (only sigmoid outputs lie in (0, 1) element-wise)"
        )
    if cost is LogLikelihoodCost and output != "softmax":
        raise ValueError(
            f"cost {name!r} cannot be used with output {output!r}: log-likelihood needs a "
            "'softmax' output layer (eq. 80 reads a_y as a probability)"
        )
    if cost not in COSTS.values() and output != "sigmoid":
        raise ValueError(
            f"cost {name!r} cannot be used with output {output!r}: a custom cost class's "
            "delta is taken to be written for a 'sigmoid' output layer"
        )
    return cost


def output_delta(cost, output, z, a, y, axis=-1):
    """The output error delta^L = dC/dz^L (BP1) for ``cost`` with an output
    layer of neurons ``output``; ``z`` and ``a`` are the output layer's
    weighted input and activation, ``y`` the desired output. ``axis`` is the
    softmax axis (-1 when examples are rows, 0 for one example as a column).

    * cross-entropy + sigmoid:   a - y                    (eq. 66)
    * log-likelihood + softmax:  a - y                    (eq. 84)
    * quadratic + element-wise f: (a - y) (.) f'(z)       (BP1; a - y for linear)
    * quadratic + softmax: the softmax Jacobian da_j/dz_i = a_j (1[i=j] - a_i)
      applied to (a - y):  delta_j = a_j ((a - y)_j - sum_k (a - y)_k a_k)
    * with a sigmoid output the cost's own ``delta(z, a, y)`` is used, which is
      one of the above for the built-in costs (and a custom class's rule).

    Any other pairing raises ValueError (see :func:`check_combination`).
    """
    cost = check_combination(cost, output)
    if output == "sigmoid":
        return cost.delta(z, a, y)
    if cost is LogLikelihoodCost:  # with softmax
        return a - y
    # quadratic cost
    if output == "softmax":
        d = a - y
        return a * (d - np.sum(d * a, axis=axis, keepdims=True))
    return (a - y) * get_activation(output)[1](z)
