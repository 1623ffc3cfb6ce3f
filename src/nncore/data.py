"""Array-backed data sets that behave like the book's lists of ``(x, y)`` pairs.

The book's ``mnist_loader.load_data_wrapper`` hands the network lists of pairs:
``x`` a ``(784, 1)`` column of pixel values and ``y`` either a ``(10, 1)``
one-hot column (training data) or an integer label (validation and test
data).  That form is easy to read but slow to train on, since every epoch
walks 50,000 small arrays in Python.

:class:`Dataset` keeps the same data as two arrays -- ``X`` of shape
``(n, n_features)`` (one example per row, C-contiguous) and ``y`` of integer
labels, shape ``(n,)`` -- and still answers ``len(ds)``, ``ds[i]``,
``ds[a:b]`` and ``for x, y in ds`` the way the book's lists do, so code from
the book keeps working while nncore's network reads ``ds.X`` and ``ds.y``
directly, with no conversion per epoch.

Choices worth knowing:

* ``ds[i]`` returns *fresh float64 copies*: ``x`` is a ``(n_features, 1)``
  column and ``y`` is a ``(n_classes, 1)`` one-hot float64 column when
  ``one_hot_targets`` is set, else a Python ``int``.  Book code doing
  arithmetic on the pair therefore sees the same dtype and shapes as in the
  book, and can't alter the stored data through it.
* ``ds[a:b]`` (step 1) returns a new Dataset whose arrays are *views* of this
  one's: ``training_data[:1000]`` costs nothing.  A slice with another step
  (``ds[::2]``), an index array or a boolean mask copies the selected rows,
  because ``X`` is always C-contiguous.
* ``ds.X`` and ``ds.y`` are read-only views.  The arrays you pass in are not
  modified and stay writable for you; only the Dataset's views of them are
  locked, so nothing that holds the Dataset can change its data by mistake.
* A Dataset can't be shuffled in place (``random.shuffle(ds)`` raises
  ``TypeError``); shuffle an index array instead: ``ds[rng.permutation(len(ds))]``.
"""

from __future__ import annotations

import numbers
from typing import Iterable, Iterator

import numpy as np

__all__ = ["Dataset"]


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only view of *a* (``a`` itself keeps its own flags)."""
    v = a.view()
    v.flags.writeable = False
    return v


class Dataset:
    """Examples as rows of ``X`` with integer labels ``y``.

    Parameters
    ----------
    X : array_like, shape (n, n_features)
        Inputs, one example per row.  A floating dtype is required (scale
        integer images to [0, 1] first); the dtype is kept as given (float32
        MNIST stays float32).  Copied only if it is not C-contiguous.
    y : array_like of int, shape (n,)
        Class labels in ``[0, n_classes)``.  Stored as int64 (copied unless
        it already is a contiguous int64 array).
    one_hot_targets : bool, default False
        If True, ``ds[i]`` and iteration give ``y`` as a ``(n_classes, 1)``
        one-hot float64 column (the book's training-data form); otherwise
        as an ``int`` (the book's validation/test form).  ``ds.y`` holds
        integer labels either way.
    n_classes : int, default 10
    """

    __slots__ = ("_X", "_y", "_one_hot_targets", "_n_classes")

    def __init__(self, X, y, one_hot_targets: bool = False, n_classes: int = 10):
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim != 2:
            raise ValueError(
                f"X must be 2-D (n_examples, n_features), got shape {X.shape}; "
                "for the book's (784, 1) columns use Dataset.from_pairs"
            )
        if not np.issubdtype(X.dtype, np.floating):
            raise TypeError(
                f"X must have a floating dtype, got {X.dtype}; "
                "scale integer pixel values to [0, 1] first (e.g. X / 255)"
            )
        if y.ndim != 1:
            raise ValueError(
                f"y must be 1-D integer labels of shape (n,), got shape {y.shape}; "
                "for one-hot columns use Dataset.from_pairs"
            )
        if y.size and not np.issubdtype(y.dtype, np.integer):
            # Accept float labels that are whole numbers (e.g. read from CSV).
            if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
                pass
            else:
                raise TypeError(f"y must hold integer class labels, got dtype {y.dtype}")
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"X and y disagree on the number of examples: "
                f"{X.shape[0]} rows in X, {y.shape[0]} labels in y"
            )
        n_classes = int(n_classes)
        if n_classes < 1:
            raise ValueError(f"n_classes must be positive, got {n_classes}")
        y = np.ascontiguousarray(y, dtype=np.int64)
        if y.size:
            lo, hi = int(y.min()), int(y.max())
            if lo < 0 or hi >= n_classes:
                raise ValueError(
                    f"labels must lie in [0, {n_classes}), found values from {lo} to {hi}"
                )
        X = np.ascontiguousarray(X)
        self._set(X, y, one_hot_targets, n_classes)

    def _set(self, X: np.ndarray, y: np.ndarray, one_hot_targets: bool, n_classes: int) -> None:
        self._X = _readonly(X)
        self._y = _readonly(y)
        self._one_hot_targets = bool(one_hot_targets)
        self._n_classes = n_classes

    @classmethod
    def _trusted(cls, X, y, one_hot_targets, n_classes) -> "Dataset":
        """Build from arrays already known to be valid (slices of a Dataset)."""
        self = cls.__new__(cls)
        if not X.flags.c_contiguous:
            X = np.ascontiguousarray(X)
        if not y.flags.c_contiguous:
            y = np.ascontiguousarray(y)
        self._set(X, y, one_hot_targets, n_classes)
        return self

    @classmethod
    def from_pairs(
        cls,
        pairs: Iterable,
        one_hot_targets: bool | None = None,
        n_classes: int = 10,
        dtype=np.float64,
    ) -> "Dataset":
        """Build a Dataset from the book's list of ``(x, y)`` pairs.

        ``x`` may be a ``(n_features, 1)`` column or a flat vector; ``y`` an
        integer label or a ``(n_classes, 1)`` one-hot column.  When
        *one_hot_targets* is None it is True exactly when the pairs carry
        one-hot columns, so the result iterates like the input did.
        """
        xs, ys = [], []
        saw_vector = saw_int = False
        for i, pair in enumerate(pairs):
            try:
                x, t = pair
            except (TypeError, ValueError):
                raise ValueError(f"item {i} is not an (x, y) pair") from None
            xs.append(np.asarray(x, dtype=dtype).reshape(-1))
            t = np.asarray(t)
            if t.ndim == 0:
                saw_int = True
                if not (np.issubdtype(t.dtype, np.integer) and not t.dtype == bool
                        or np.issubdtype(t.dtype, np.floating) and np.isfinite(t)
                        and float(t).is_integer()):
                    raise ValueError(
                        f"item {i}: label {t.item()!r} is not an integer class label; labels "
                        f"are integers in [0, {n_classes})"
                    )
                ys.append(int(t))
            else:
                flat = t.reshape(-1)
                if flat.shape[0] != n_classes:
                    raise ValueError(
                        f"item {i}: target has {flat.shape[0]} entries, expected a "
                        f"one-hot column of {n_classes} or an integer label"
                    )
                if not (np.count_nonzero(flat == 1) == 1 and np.count_nonzero(flat) == 1):
                    raise ValueError(
                        f"item {i}: target column is not one-hot (a single 1, the rest "
                        f"0), so it has no class label; a Dataset holds labels -- pass "
                        f"other targets to Network.SGD as (X, Y) arrays instead"
                    )
                saw_vector = True
                ys.append(int(np.argmax(flat)))
        if saw_vector and saw_int:
            raise ValueError("pairs mix integer labels and one-hot columns")
        if not xs:
            raise ValueError("no pairs given: can't tell the number of features")
        widths = {x.shape[0] for x in xs}
        if len(widths) != 1:
            raise ValueError(f"inputs have different sizes: {sorted(widths)}")
        if one_hot_targets is None:
            one_hot_targets = saw_vector
        return cls(np.stack(xs), np.asarray(ys, dtype=np.int64), one_hot_targets, n_classes)

    # -- the arrays ---------------------------------------------------------

    @property
    def X(self) -> np.ndarray:
        """Inputs, shape ``(n, n_features)``, C-contiguous, read-only view."""
        return self._X

    @property
    def y(self) -> np.ndarray:
        """Integer labels, shape ``(n,)``, int64, read-only view."""
        return self._y

    @property
    def one_hot_targets(self) -> bool:
        """Whether ``ds[i]`` gives ``y`` as a one-hot column (else an int)."""
        return self._one_hot_targets

    @property
    def n_classes(self) -> int:
        return self._n_classes

    @property
    def n_features(self) -> int:
        return self._X.shape[1]

    @property
    def dtype(self) -> np.dtype:
        """The dtype of ``X``."""
        return self._X.dtype

    def one_hot(self, dtype=np.float64) -> np.ndarray:
        """A new ``(n, n_classes)`` array with a 1 in each row's label column."""
        out = np.zeros((self._y.shape[0], self._n_classes), dtype=dtype)
        out[np.arange(self._y.shape[0]), self._y] = 1
        return out

    def with_targets(self, one_hot_targets: bool) -> "Dataset":
        """The same arrays (shared, no copy) with a different target form."""
        return Dataset._trusted(self._X, self._y, one_hot_targets, self._n_classes)

    # -- the list behaviour -------------------------------------------------

    def __len__(self) -> int:
        return self._X.shape[0]

    def _pair(self, i: int):
        x = self._X[i].astype(np.float64).reshape(-1, 1)
        label = int(self._y[i])
        if self._one_hot_targets:
            t = np.zeros((self._n_classes, 1), dtype=np.float64)
            t[label, 0] = 1.0
            return x, t
        return x, label

    def __getitem__(self, key):
        if isinstance(key, numbers.Integral) and not isinstance(key, bool):
            n = len(self)
            i = int(key)
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"index {int(key)} out of range for a Dataset of {n}")
            return self._pair(i)
        if isinstance(key, slice):
            return Dataset._trusted(
                self._X[key], self._y[key], self._one_hot_targets, self._n_classes
            )
        if isinstance(key, tuple):
            raise TypeError(
                "a Dataset is indexed like a list (ds[i], ds[a:b], ds[index_array]); "
                "use ds.X[...] for 2-D indexing"
            )
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise IndexError(
                    f"boolean mask has shape {idx.shape}, expected ({len(self)},)"
                )
        elif idx.size == 0:
            idx = idx.astype(np.intp)
        elif not np.issubdtype(idx.dtype, np.integer):
            raise TypeError(
                f"Dataset indices must be integers, slices, integer arrays or "
                f"boolean masks, not {type(key).__name__} of {idx.dtype}"
            )
        if idx.ndim != 1:
            raise IndexError(f"index arrays must be 1-D, got shape {idx.shape}")
        return Dataset._trusted(
            self._X[idx], self._y[idx], self._one_hot_targets, self._n_classes
        )

    def __iter__(self) -> Iterator:
        for i in range(len(self)):
            yield self._pair(i)

    def __repr__(self) -> str:
        targets = "one-hot" if self._one_hot_targets else "labels"
        return (
            f"Dataset(n={len(self)}, n_features={self.n_features}, "
            f"dtype={self._X.dtype}, n_classes={self._n_classes}, targets={targets})"
        )

    def __reduce__(self):
        # Rebuild through the constructor so the copy is validated and locked too.
        return (Dataset, (self._X, self._y, self._one_hot_targets, self._n_classes))
