"""nncore_reference: the network of Nielsen's chapter 3 (network2) in plain NumPy.

This package is the *oracle* that the native core of :mod:`nncore` is tested
against, and the *baseline* that the benchmarks measure it against. It is
written from the chapter's equations to be read and trusted, not to be fast,
and it imports nothing but NumPy (never nncore, never SciPy), so that a bug in
the native core cannot hide in a shared dependency.

Two forms of the same algorithm (sigmoid neurons, quadratic or cross-entropy
cost, mini-batch SGD with L2 weight decay, eqs. (93)-(94)):

:mod:`nncore_reference.per_example`
    the book's algorithm as written: backpropagation (BP1-BP4) one example at
    a time on column vectors, in float64.
:mod:`nncore_reference.matrix`
    the same, one mini-batch at a time with examples as rows and matrix
    products, in float64 or float32; plus ``total_cost`` and ``accuracy``.

Parameters are network2-shaped lists: ``weights[l]`` has shape
``(n_out, n_in)`` and ``biases[l]`` shape ``(n_out, 1)``. Functions never
modify their inputs; updates return new lists. :func:`init_params` draws
initial parameters from a :class:`numpy.random.Generator` in a documented order
(all biases, then all weights) that the native package follows too.
"""

from . import matrix, per_example
from .functions import (
    COSTS,
    CrossEntropyCost,
    QuadraticCost,
    get_cost,
    sigmoid,
    sigmoid_prime,
    softplus,
)
from .params import INIT_KINDS, init_params

__all__ = [
    "matrix",
    "per_example",
    "sigmoid",
    "sigmoid_prime",
    "softplus",
    "QuadraticCost",
    "CrossEntropyCost",
    "COSTS",
    "get_cost",
    "init_params",
    "INIT_KINDS",
]
