"""Turning the data forms users pass into the arrays the core reads.

Accepted forms, for training and evaluation data alike:

* a :class:`nncore.data.Dataset` (what :mod:`nncore.mnist_loader` returns),
  or anything with array attributes ``X`` (rows) and ``y`` (integer labels);
* a pair ``(X, y)`` of arrays (a tuple, or a list of the two arrays): ``X``
  of shape ``(n, n_inputs)``, ``y`` integer labels of shape ``(n,)`` or
  targets of shape ``(n, n_outputs)``;
* the book's form: an iterable of ``(x, y)`` pairs (a list, a generator, a
  ``zip``...), ``x`` a ``(n_inputs, 1)`` column (or flat), ``y`` an integer
  label or a ``(n_outputs, 1)`` column.

Inputs may have any real dtype (float32, float64, integers, bool), any
memory layout (slices, Fortran order), and may be read-only or memory-mapped.
Integer inputs with values above 1 (raw 0-255 pixels) give one warning.

Targets given as rows must suit the cost: any finite values for the
quadratic cost (regression), values in [0, 1] for cross-entropy, rows of
non-negative entries summing to 1 (one-hot or a distribution) for
log-likelihood.  Integer labels suit every cost.

Everything is checked here, once, before the native core sees the data:
wrong shapes, labels out of range or not whole numbers, NaN or infinite
values (the error names the data set and the first bad row), targets the
cost cannot use.  All checks are single passes over the data.

The result is always ``X`` (C-contiguous, the network's dtype), the
targets ``T`` as rows, and integer ``labels`` (the argmax of each target
row when the targets are not labels).  The caller's arrays are never
written to; a copy is made only when the dtype or layout requires it.
"""

from __future__ import annotations

import warnings
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
        if not np.issubdtype(y.dtype, np.floating):
            raise ValueError(
                f"{name}: labels must be integers in [0, {n_out}), got dtype {y.dtype}; "
                f"convert them with y.astype(int) or pass target rows of shape (n, {n_out})")
        whole = np.isfinite(y) & (y == np.round(y))
        if not whole.all():
            i = int(np.argmin(whole))
            raise ValueError(
                f"{name}: labels must be whole numbers in [0, {n_out}); row {i} has label "
                f"{y[i].item()!r}; pass integer class labels, or target rows of shape (n, {n_out})")
        y = y.astype(np.int64)
    y = y.astype(np.intp, copy=False)
    if y.size and (y.min() < 0 or y.max() >= n_out):
        i = int(np.flatnonzero((y < 0) | (y >= n_out))[0])
        raise ValueError(
            f"{name}: labels must lie in [0, {n_out}) for a network with {n_out} "
            f"outputs; found {int(y.min())} to {int(y.max())} (first bad: row {i}, "
            f"label {int(y[i])}); check the labels or the network's last layer size"
        )
    return y


def _first_nonfinite_row(A):
    """Index of the first row of the 2-D float array ``A`` holding NaN or
    +-inf, or None.  One pass (a sum) when everything is finite."""
    if A.dtype.kind != "f" or A.size == 0:
        return None
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(A)):  # NaN and inf survive a sum
            return None
        bad = ~np.isfinite(A).all(axis=1)
    rows = np.flatnonzero(bad)
    return int(rows[0]) if rows.size else None  # the sum merely overflowed


def _check_finite(A, name, what, letter):
    i = _first_nonfinite_row(A)
    if i is not None:
        row = A[i]
        kind = "NaN" if np.isnan(row).any() else "infinite values"
        n_bad = int(np.count_nonzero(~np.isfinite(A).all(axis=1)))
        raise ValueError(
            f"{name}: row {i} of the {what} holds {kind} ({n_bad} of {A.shape[0]} rows "
            f"are affected); remove or repair those examples, e.g. keep only the rows "
            f"where np.isfinite({letter}).all(axis=1)"
        )


def _as_float(X, dtype, name, what):
    """X as a C-contiguous array of ``dtype``, from any real dtype."""
    kind = X.dtype.kind
    if kind in "biuf":
        return np.ascontiguousarray(X, dtype=dtype)
    if kind == "O":
        try:
            return np.ascontiguousarray(X, dtype=dtype)
        except (TypeError, ValueError, OverflowError):
            pass
    hint = "" if kind == "c" else " (convert them with np.asarray(X, dtype=float))"
    raise ValueError(
        f"{name}: the {what} must be real numbers (a float, integer or bool array); got "
        f"dtype {X.dtype}{hint}"
    )


def _unscaled(X, name):
    """A warning text if integer inputs look like raw 0-255 values, else None."""
    if X.dtype.kind in "iu" and X.size:
        top = int(X.max())
        if top > 1:
            scale = 255 if top <= 255 else top
            return (f"{name}: inputs range up to {top} ({X.dtype} values); divide by "
                    f"{scale} to scale them to [0, 1] as MNIST's are (unscaled inputs "
                    "saturate the neurons and slow learning)")
    return None


_COST_NAMES = {"quadratic", "cross-entropy", "log-likelihood"}


def check_targets(T, cost, name):
    """Raise ValueError unless the target rows ``T`` suit ``cost`` (its
    name; None checks only that they are finite)."""
    _check_finite(T, name, "targets", "Y")
    if not T.size or cost is None or cost == "quadratic":
        return
    if cost == "cross-entropy":
        bad = ((T < 0) | (T > 1)).any(axis=1)
        if bad.any():
            i = int(np.argmax(bad))
            v = T[i][(T[i] < 0) | (T[i] > 1)][0].item()
            raise ValueError(
                f"{name}: target row {i} holds {v!r}, outside [0, 1]; the cross-entropy "
                "cost needs targets in [0, 1] (one-hot rows or integer labels); use the "
                "quadratic cost for other values"
            )
    elif cost == "log-likelihood":
        tol = max(1e-6, 8 * T.shape[1] * np.finfo(T.dtype).eps)
        sums = np.sum(T, axis=1, dtype=np.float64)
        bad = (T < 0).any(axis=1) | (np.abs(sums - 1) > tol)
        if bad.any():
            i = int(np.argmax(bad))
            why = ("has a negative entry" if (T[i] < 0).any()
                   else f"sums to {float(sums[i])!r}, not 1")
            raise ValueError(
                f"{name}: target row {i} {why}; the log-likelihood cost needs each target "
                "row to be a probability distribution (non-negative, summing to 1), such "
                "as a one-hot row -- or pass integer labels"
            )


def _from_arrays(X, y, n_in, n_out, dtype, name, cost, notes):
    X = np.asarray(X)
    try:
        y = np.asarray(y)
    except ValueError:
        raise ValueError(
            f"{name}: the targets are ragged or mix integer labels and target vectors; "
            f"use one form: integer labels of shape (n,) or rows of shape (n, {n_out})"
        ) from None
    if X.ndim != 2 or X.shape[1] != n_in:
        hint = ""
        if X.shape in ((n_in,), (n_in, 1)):
            hint = "; this looks like one (x, y) pair: pass a list of pairs, [(x, y)]"
        elif X.ndim > 2 and int(np.prod(X.shape[1:])) == n_in:
            hint = "; flatten each example to a row with X.reshape(len(X), -1)"
        raise ValueError(
            f"{name}: inputs must have shape (n_examples, {n_in}) to match the "
            f"network's input layer; got {X.shape}{hint}"
        )
    if y.ndim == 0:
        raise ValueError(
            f"{name}: the targets must be an array with one entry (or row) per example; "
            f"got a single value {y!r}"
        )
    if y.shape[0] != X.shape[0]:
        raise ValueError(f"{name}: {X.shape[0]} inputs but {y.shape[0]} targets; "
                         "give one target per example")
    note = _unscaled(X, name)
    if note is not None:
        notes.append(note)
    X = _as_float(X, dtype, name, "inputs")
    _check_finite(X, name, "inputs", "X")
    if y.ndim == 2 and y.shape[1] == 1 and n_out != 1:
        y = y[:, 0]
    if y.ndim == 1:
        labels = _check_labels(y, n_out, name)
        T = _labels_to_targets(labels, n_out, dtype)
    elif y.ndim == 2 and y.shape[1] == n_out:
        T = _as_float(y, dtype, name, "targets")
        check_targets(T, cost, name)
        labels = np.argmax(T, axis=1) if T.shape[0] else np.zeros(0, np.intp)
    else:
        raise ValueError(
            f"{name}: targets must be integer labels of shape (n,) or rows of "
            f"shape (n, {n_out}); got {y.shape}"
        )
    return Arrays(X, T, labels)


def _from_pairs(pairs, n_in, n_out, dtype, name, cost, notes):
    xs, ys = [], []
    try:
        iterator = iter(pairs)
    except TypeError:
        raise ValueError(
            f"{name}: expected (X, y) arrays, a Dataset or a list of (x, y) pairs; got "
            f"{type(pairs).__name__}"
        ) from None
    for i, item in enumerate(iterator):
        try:
            x, y = item
        except (TypeError, ValueError):
            what = type(item).__name__
            if hasattr(item, "__len__"):
                what += f" of length {len(item)}"
            raise ValueError(
                f"{name}: item {i} is not an (x, y) pair (it is a {what}); pass a list "
                "of (x, y) pairs, or arrays as a tuple (X, y)"
            ) from None
        x = np.asarray(x)
        if x.size != n_in:
            raise ValueError(
                f"{name}: item {i} has an input of shape {x.shape}; the network "
                f"takes {n_in} inputs (a ({n_in}, 1) column)"
            )
        xs.append(x.reshape(n_in))
        try:
            ys.append(np.asarray(y))
        except ValueError:
            raise ValueError(f"{name}: item {i} has a ragged target") from None
    if not xs:
        return _from_arrays(np.zeros((0, n_in)), np.zeros(0, np.intp), n_in, n_out, dtype,
                            name, cost, notes)
    kinds = [y.ndim == 0 or y.size == 1 and n_out != 1 for y in ys]
    if len(set(kinds)) > 1:
        i = kinds.index(not kinds[0])
        first = "an integer label" if kinds[0] else "a target vector"
        other = "a target vector" if kinds[0] else "an integer label"
        raise ValueError(f"{name}: mixes integer labels and target vectors (item 0 has "
                         f"{first}, item {i} {other}); use one form for the whole data set")
    if kinds[0]:
        y = np.array([y.reshape(()) for y in ys])
    else:
        for i, y in enumerate(ys):
            if y.size != n_out:
                raise ValueError(
                    f"{name}: item {i} has a target of shape {y.shape}; the network "
                    f"has {n_out} outputs (a ({n_out}, 1) column)"
                )
        y = np.stack([y.reshape(n_out) for y in ys])
    return _from_arrays(np.stack(xs), y, n_in, n_out, dtype, name, cost, notes)


def _is_xy(data):
    """Whether ``data`` is a pair of arrays ``(X, y)`` rather than pairs."""
    return (isinstance(data, (tuple, list)) and len(data) == 2
            and isinstance(data[0], np.ndarray)
            and (data[0].ndim == 2 or isinstance(data, tuple)))


def as_arrays(data, n_in, n_out, dtype, name="data", *, cost=None, notes=None):
    """Convert one data set (any accepted form) to :class:`Arrays`.

    ``cost`` (a cost name) checks that target rows suit it.  Warnings about
    unscaled inputs are appended to the list ``notes`` if one is given
    (so that a caller can warn once for several data sets), else issued.
    """
    if notes is None:
        notes = []
        result = as_arrays(data, n_in, n_out, dtype, name, cost=cost, notes=notes)
        if notes:
            warnings.warn(notes[0], UserWarning, stacklevel=4)
        return result
    if isinstance(data, Arrays):
        if data.T.size and cost is not None:
            check_targets(data.T, cost, name)
        if data.X.dtype == dtype:
            return data
        return Arrays(np.ascontiguousarray(data.X, dtype), data.T.astype(dtype), data.labels)
    if hasattr(data, "X") and hasattr(data, "y"):
        return _from_arrays(data.X, data.y, n_in, n_out, dtype, name, cost, notes)
    if _is_xy(data):
        return _from_arrays(data[0], data[1], n_in, n_out, dtype, name, cost, notes)
    if isinstance(data, np.ndarray):
        raise ValueError(
            f"{name}: a bare array has no targets; pass (X, y) or a list of (x, y) pairs"
        )
    if data is None or isinstance(data, (str, bytes, dict)):
        raise ValueError(
            f"{name}: expected (X, y) arrays, a Dataset or a list of (x, y) pairs; got "
            f"{type(data).__name__}"
        )
    return _from_pairs(data, n_in, n_out, dtype, name, cost, notes)
