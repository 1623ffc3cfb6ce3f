"""Cost functions and the sigmoid, with network2's interface.

Each cost is a class with two static methods, as in network2:
``fn(a, y)`` -- the cost of output ``a`` against target ``y`` -- and
``delta(z, a, y)`` -- the output layer's error (eq. BP1).  Both work on
one example (a column) or on many (rows); ``fn`` then returns the sum.
The training loop itself runs in the native core, which knows each cost
by its ``name``.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "sigmoid",
    "sigmoid_prime",
    "QuadraticCost",
    "CrossEntropyCost",
    "LogLikelihoodCost",
    "COSTS",
    "cost_from_name",
    "vectorized_result",
]


def sigmoid(z):
    """The sigmoid 1 / (1 + e^-z), without overflow for any finite z."""
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    out = np.empty_like(z)
    pos = z >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-z[pos]))
    e = np.exp(z[~pos])
    out[~pos] = e / (1.0 + e)
    return out if out.ndim else out[()]


def sigmoid_prime(z):
    """Derivative of the sigmoid: sigma(z) (1 - sigma(z))."""
    s = sigmoid(z)
    return s * (1 - s)


class QuadraticCost:
    """C = 1/2 ||a - y||^2 (eq. 6); output error (a - y) sigma'(z) (eq. 30)."""

    name = "quadratic"

    @staticmethod
    def fn(a, y):
        return 0.5 * float(np.sum((np.asarray(a) - y) ** 2))

    @staticmethod
    def delta(z, a, y):
        return (a - y) * sigmoid_prime(z)


class CrossEntropyCost:
    """C = -sum [y ln a + (1 - y) ln (1 - a)] (eq. 63); output error a - y (eq. 66).

    ``fn`` stays finite when an output saturates at exactly 0 or 1: a term
    whose coefficient is zero counts as zero, and a log of zero is replaced
    by the log of the smallest positive number of a's dtype.  The network
    computes its own costs from the weighted input z instead (exact for any
    z; see :func:`cross_entropy_from_z`).
    """

    name = "cross-entropy"

    @staticmethod
    def fn(a, y):
        a = np.asarray(a)
        if not np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.float64)
        tiny = np.finfo(a.dtype).tiny
        y = np.asarray(y, dtype=a.dtype)
        log_a = np.log(np.maximum(a, tiny))
        log_1ma = np.log(np.maximum(1 - a, tiny))
        terms = np.where(y != 0, y * log_a, 0) + np.where(y != 1, (1 - y) * log_1ma, 0)
        return float(-np.sum(terms))

    @staticmethod
    def delta(z, a, y):
        return a - y


class LogLikelihoodCost:
    """C = -ln a_y (eq. 80), for a softmax output layer; output error
    a - y (eq. 84).  ``y`` is one-hot (or a probability vector: then
    C = -sum y ln a).  ``fn`` stays finite when an output is exactly 0."""

    name = "log-likelihood"

    @staticmethod
    def fn(a, y):
        a = np.asarray(a)
        if not np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.float64)
        y = np.asarray(y, dtype=a.dtype)
        log_a = np.log(np.maximum(a, np.finfo(a.dtype).tiny))
        return float(-np.sum(np.where(y != 0, y * log_a, 0)))

    @staticmethod
    def delta(z, a, y):
        return a - y


def log_likelihood_from_z(z, y):
    """-sum y ln softmax(z) over all rows, from the weighted inputs z (rows
    are examples): -sum_j y_j (z_j - logsumexp(z)), exact for any z."""
    z = np.asarray(z, dtype=np.float64)
    zmax = np.max(z, axis=-1, keepdims=True)
    lse = zmax + np.log(np.sum(np.exp(z - zmax), axis=-1, keepdims=True))
    return float(-np.sum(y * (z - lse)))


def cross_entropy_from_z(z, y):
    """Cross-entropy summed over all entries, from the weighted input z:
    -[y ln sigma(z) + (1-y) ln(1 - sigma(z))] = y softplus(-z) + (1-y) softplus(z)."""
    return float(np.sum(y * np.logaddexp(0, -z) + (1 - y) * np.logaddexp(0, z)))


#: Cost names, as saved in model files (network2 writes the class name) and
#: as given on the command line.  Looked up in this table only: a file never
#: makes us look up an attribute.
COSTS = {
    "CrossEntropyCost": CrossEntropyCost,
    "QuadraticCost": QuadraticCost,
    "LogLikelihoodCost": LogLikelihoodCost,
    "cross-entropy": CrossEntropyCost,
    "quadratic": QuadraticCost,
    "log-likelihood": LogLikelihoodCost,
}


def cost_from_name(cost):
    """The cost class for a class, an instance or a name in :data:`COSTS`."""
    if isinstance(cost, str):
        try:
            return COSTS[cost]
        except KeyError:
            raise ValueError(
                f"unknown cost {cost!r}; use one of {sorted(COSTS)}"
            ) from None
    for cls in (CrossEntropyCost, QuadraticCost, LogLikelihoodCost):
        if cost is cls or isinstance(cost, cls):
            return cls
    raise ValueError(
        f"unknown cost {cost!r}; use nncore.CrossEntropyCost, nncore.QuadraticCost "
        "or nncore.LogLikelihoodCost"
    )


def vectorized_result(j, n=10):
    """An (n, 1) column with 1.0 in row j and zeros elsewhere."""
    e = np.zeros((n, 1))
    e[int(j)] = 1.0
    return e
