"""The neurons a network can use, as NumPy functions for reading and
plotting; training runs them in the native core, which knows them by name.

Hidden layers: ``"sigmoid"`` (the book's default), ``"tanh"`` (eq. 110),
``"relu"`` (rectified linear, max(0, z)) and ``"linear"`` (the identity).
The output layer may also be ``"softmax"`` (eq. 78).
"""

from __future__ import annotations

import numpy as np

from .costs import sigmoid, sigmoid_prime

__all__ = ["ACTIVATIONS", "HIDDEN_ACTIVATIONS", "OUTPUT_ACTIVATIONS", "softmax",
           "check_combination"]


def softmax(z, axis=0):
    """e^z_j / sum_k e^z_k along ``axis`` (0: a column; use -1 for rows),
    computed with the maximum subtracted first, so it never overflows."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def _relu(z):
    return np.maximum(z, 0.0)


def _relu_prime(z):
    return (np.asarray(z) > 0).astype(np.float64)


def _tanh_prime(z):
    return 1.0 - np.tanh(z) ** 2


#: name -> (f(z), f'(z)) for the element-wise neurons.
ACTIVATIONS = {
    "sigmoid": (sigmoid, sigmoid_prime),
    "tanh": (np.tanh, _tanh_prime),
    "relu": (_relu, _relu_prime),
    "linear": (lambda z: np.asarray(z, dtype=np.float64),
               lambda z: np.ones_like(np.asarray(z, dtype=np.float64))),
}

HIDDEN_ACTIVATIONS = ("sigmoid", "tanh", "relu", "linear")
OUTPUT_ACTIVATIONS = HIDDEN_ACTIVATIONS + ("softmax",)


def check_combination(cost_name, output):
    """Raise ValueError unless the cost can be used with this output layer:
    cross-entropy needs sigmoid outputs (values in (0, 1)), log-likelihood
    needs softmax; quadratic works with any output."""
    if output not in OUTPUT_ACTIVATIONS:
        raise ValueError(f"unknown output activation {output!r}; use one of "
                         f"{', '.join(OUTPUT_ACTIVATIONS)}")
    if cost_name == "cross-entropy" and output != "sigmoid":
        raise ValueError(f"the cross-entropy cost needs sigmoid output neurons, not "
                         f"{output}; use the log-likelihood cost with softmax outputs, "
                         "or the quadratic cost")
    if cost_name == "log-likelihood" and output != "softmax":
        raise ValueError(f"the log-likelihood cost needs a softmax output layer, not "
                         f"{output}")
