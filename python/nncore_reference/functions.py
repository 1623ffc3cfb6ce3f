"""Activation and cost functions of the reference network.

Everything here is plain NumPy and works element-wise, so the same function
serves a single example (a column vector of shape ``(n, 1)``, as in the book's
``network2``) and a whole mini-batch (a matrix whose *rows* are examples, as
in :mod:`nncore_reference.matrix`).

Notation follows chapter 3 of Nielsen's *Neural Networks and Deep Learning*:
``z`` is a layer's weighted input (pre-activation), ``a = sigmoid(z)`` its
activation and ``y`` the desired output.
"""

import numpy as np

__all__ = [
    "sigmoid",
    "sigmoid_prime",
    "softplus",
    "QuadraticCost",
    "CrossEntropyCost",
    "COSTS",
    "get_cost",
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


#: Built-in costs by name.
COSTS = {
    QuadraticCost.name: QuadraticCost,
    CrossEntropyCost.name: CrossEntropyCost,
}

# network2 saves the class name ("CrossEntropyCost") in its JSON files.
_COST_ALIASES = {cls.__name__: cls for cls in COSTS.values()}


def get_cost(c):
    """Return a cost class from a class or a name.

    ``c`` may be one of the names in :data:`COSTS` (``"quadratic"``,
    ``"cross-entropy"``), a class name as network2 saves it
    (``"QuadraticCost"``, ``"CrossEntropyCost"``), or any class with static
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
