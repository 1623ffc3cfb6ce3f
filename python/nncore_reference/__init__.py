"""nncore_reference: the network of Nielsen's chapter 3 (network2) in plain NumPy.

This package is the *oracle* that the native core of :mod:`nncore` is tested
against, and the *baseline* that the benchmarks measure it against. It is
written from the chapter's equations to be read and trusted, not to be fast,
and it imports nothing but NumPy (never nncore, never SciPy), so that a bug in
the native core cannot hide in a shared dependency.

Two forms of the same algorithm: mini-batch SGD (eqs. 93-94) on the networks
of chapter 3 -- sigmoid, tanh, rectified linear or linear neurons, a softmax
output layer (eq. 78), the quadratic, cross-entropy (eq. 57) or log-likelihood
(eq. 80) cost, L2 (eq. 93) and L1 (eq. 97) regularisation, dropout, and
momentum (eqs. 107-108) or Nesterov's variant. The defaults of every keyword
argument give network2 exactly (sigmoid neurons, L2 only, plain SGD):

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
:mod:`nncore_reference.dropout` defines which hidden neurons dropout keeps by a
counter-based hash that the native core reproduces bit for bit.
"""

from . import dropout, matrix, per_example
from .dropout import dropout_keep
from .functions import (
    ACTIVATIONS,
    COSTS,
    OUTPUTS,
    CrossEntropyCost,
    LogLikelihoodCost,
    QuadraticCost,
    check_combination,
    get_cost,
    log_softmax,
    output_delta,
    relu,
    relu_prime,
    sigmoid,
    sigmoid_prime,
    softmax,
    softplus,
    tanh,
    tanh_prime,
)
from .params import INIT_KINDS, init_params

__all__ = [
    "matrix",
    "per_example",
    "dropout",
    "dropout_keep",
    "sigmoid",
    "sigmoid_prime",
    "softplus",
    "tanh",
    "tanh_prime",
    "relu",
    "relu_prime",
    "softmax",
    "log_softmax",
    "ACTIVATIONS",
    "OUTPUTS",
    "QuadraticCost",
    "CrossEntropyCost",
    "LogLikelihoodCost",
    "COSTS",
    "get_cost",
    "check_combination",
    "output_delta",
    "init_params",
    "INIT_KINDS",
]
