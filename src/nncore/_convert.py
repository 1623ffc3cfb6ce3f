"""Turning the data forms users pass into the arrays the core reads.

Accepted forms, for training and evaluation data alike:

* a :class:`nncore.data.Dataset` (what :mod:`nncore.mnist_loader` returns),
  or anything with array attributes ``X`` (rows) and ``y`` (integer labels);
* a pair ``(X, y)`` of arrays: ``X`` of shape ``(n, n_inputs)``, ``y``
  integer labels of shape ``(n,)`` or targets of shape ``(n, n_outputs)``
  (one-hot rows, or any values in [0, 1]);
* the book's form: an iterable of ``(x, y)`` pairs, ``x`` a ``(n_inputs, 1)``
  column (or flat), ``y`` an integer label or a ``(n_outputs, 1)`` column.

The result is always ``X`` (C-contiguous, the network's dtype), the
targets ``T`` as rows, and integer ``labels`` (the argmax of each target
row when the targets are not labels).  The caller's arrays are never
written to; a copy is made only when the dtype or layout requires it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Arrays:
    X: np.ndarray
    T: np.ndarray
    labels: np.ndarray

    def __len__(self):
        return self.X.shape[0]


def _labels_to_targets(labels, n_out, dtype):
    T = np.zeros((labels.shape[0], n_out), dtype=dtype)
    T[np.arange(labels.shape[0]), labels] = 1
    return T


def _check_labels(y, n_out, name):
    if y.size and not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.isfinite(y)) and np.all(y == np.round(y)):
            y = y.astype(np.int64)
        else:
            raise ValueError(f"{name}: labels must be integers in [0, {n_out}), got dtype {y.dtype}")
    y = y.astype(np.intp, copy=False)
    if y.size and (y.min() < 0 or y.max() >= n_out):
        raise ValueError(
            f"{name}: labels must lie in [0, {n_out}) for a network with {n_out} "
            f"outputs; found {int(y.min())} to {int(y.max())}"
        )
    return y


def _from_arrays(X, y, n_in, n_out, dtype, name):
    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != n_in:
        raise ValueError(
            f"{name}: inputs must have shape (n_examples, {n_in}) to match the "
            f"network's input layer; got {X.shape}"
        )
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{name}: {X.shape[0]} inputs but {y.shape[0]} targets")
    X = np.ascontiguousarray(X, dtype=dtype)
    if y.ndim == 2 and y.shape[1] == 1 and n_out != 1:
        y = y[:, 0]
    if y.ndim == 1:
        labels = _check_labels(y, n_out, name)
        T = _labels_to_targets(labels, n_out, dtype)
    elif y.ndim == 2 and y.shape[1] == n_out:
        T = np.ascontiguousarray(y, dtype=dtype)
        labels = np.argmax(T, axis=1) if T.shape[0] else np.zeros(0, np.intp)
    else:
        raise ValueError(
            f"{name}: targets must be integer labels of shape (n,) or rows of "
            f"shape (n, {n_out}); got {y.shape}"
        )
    return Arrays(X, T, labels)


def _from_pairs(pairs, n_in, n_out, dtype, name):
    xs, ys = [], []
    for i, item in enumerate(pairs):
        try:
            x, y = item
        except (TypeError, ValueError):
            raise ValueError(f"{name}: item {i} is not an (x, y) pair") from None
        x = np.asarray(x)
        if x.size != n_in:
            raise ValueError(
                f"{name}: item {i} has an input of shape {x.shape}; the network "
                f"takes {n_in} inputs (a ({n_in}, 1) column)"
            )
        xs.append(x.reshape(n_in))
        ys.append(np.asarray(y))
    if not xs:
        return _from_arrays(np.zeros((0, n_in)), np.zeros(0, np.intp), n_in, n_out, dtype, name)
    kinds = {y.ndim == 0 or y.size == 1 and n_out != 1 for y in ys}
    if len(kinds) > 1:
        raise ValueError(f"{name}: mixes integer labels and target vectors; use one form")
    if kinds.pop():
        y = np.array([y.reshape(()) for y in ys])
    else:
        for i, y in enumerate(ys):
            if y.size != n_out:
                raise ValueError(
                    f"{name}: item {i} has a target of shape {y.shape}; the network "
                    f"has {n_out} outputs (a ({n_out}, 1) column)"
                )
        y = np.stack([y.reshape(n_out) for y in ys])
    return _from_arrays(np.stack(xs), y, n_in, n_out, dtype, name)


def as_arrays(data, n_in, n_out, dtype, name="data"):
    """Convert one data set (any accepted form) to :class:`Arrays`."""
    if isinstance(data, Arrays):
        if data.X.dtype == dtype:
            return data
        return Arrays(np.ascontiguousarray(data.X, dtype), data.T.astype(dtype), data.labels)
    if hasattr(data, "X") and hasattr(data, "y"):
        return _from_arrays(data.X, data.y, n_in, n_out, dtype, name)
    if (
        isinstance(data, tuple)
        and len(data) == 2
        and isinstance(data[0], np.ndarray)
        and data[0].ndim == 2
        and not (data[0].shape == (n_in, 1) and n_in != 1)
    ):
        return _from_arrays(data[0], data[1], n_in, n_out, dtype, name)
    if isinstance(data, np.ndarray):
        raise ValueError(
            f"{name}: a bare array has no targets; pass (X, y) or a list of (x, y) pairs"
        )
    return _from_pairs(data, n_in, n_out, dtype, name)
