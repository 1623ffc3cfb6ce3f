"""Which hidden neurons dropout keeps: a counter-based hash, reproducible in C.

Chapter 3 (around eqs. 95-98) describes dropout: for each mini-batch, delete a
random subset of the hidden neurons (never an input or output neuron), train
the thinned network on the whole mini-batch, then restore the neurons and pick
a new subset for the next mini-batch.

The subset is not drawn from a stateful generator but computed from a hash of
(seed, mini-batch, layer, neuron), so that any implementation -- this NumPy
reference, the native core in C -- can reproduce it exactly, in any order and
in parallel, without sharing generator state:

    MASK64 = 2**64 - 1
    mix64(x): splitmix64's finaliser with the golden-gamma increment, mod 2**64
        z = (x + 0x9E3779B97F4A7C15) & MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)
    key = (batch << 40) | (layer << 32) | j      batch < 2**24, layer < 256, j < 2**32
    h   = mix64(mix64(key) ^ seed)               seed: any uint64
    u   = (h >> 11) * 2**-53                     uniform in [0, 1), exact in float64
    neuron j of layer `layer` is KEPT in mini-batch `batch`  iff  u >= p

``batch`` is the 0-based index of the mini-batch within the epoch, ``layer``
the layer's index in ``sizes`` (hidden layers are 1 .. len(sizes) - 2) and
``p`` the probability of dropping a neuron. With p = 0 every neuron is kept.

(mix64(0) is 0xE220A8397B1DCDAF, the first output of splitmix64 seeded with
0, which pins the constants.) :func:`mix64_int` and :func:`dropout_keep_int`
are the rule in plain Python integers, line by line; :func:`mix64` and
:func:`dropout_keep` are the same on NumPy uint64 arrays, whose arithmetic
wraps modulo 2**64 like C's ``uint64_t``.

Note that the masks depend only on (seed, batch, layer, j): every epoch with the
same ``dropout_seed`` drops the same neurons in its k-th mini-batch, so a
trainer should pass a fresh seed per epoch (e.g. drawn from its Generator).
"""

import numpy as np

__all__ = [
    "MASK64",
    "GOLDEN_GAMMA",
    "mix64_int",
    "mix64",
    "dropout_key",
    "dropout_hash",
    "dropout_uniform",
    "dropout_keep",
    "dropout_keep_int",
    "hidden_masks",
    "check_dropout",
]

MASK64 = 2**64 - 1
GOLDEN_GAMMA = 0x9E3779B97F4A7C15
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB

MAX_BATCHES = 2**24   # batch < 2**24
MAX_LAYERS = 2**8     # layer < 256
MAX_WIDTH = 2**32     # j < 2**32


# --------------------------------------------------------------------------
# plain Python integers: the specification
# --------------------------------------------------------------------------


def mix64_int(x):
    """splitmix64 step on a Python int in [0, 2**64): add the golden gamma,
    then the finaliser; every product is reduced mod 2**64."""
    z = (x + GOLDEN_GAMMA) & MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def dropout_keep_int(seed, batch, layer, j, p):
    """True if neuron ``j`` of layer ``layer`` is kept in mini-batch ``batch``
    (plain Python; slow, for checking :func:`dropout_keep`)."""
    key = (batch << 40) | (layer << 32) | j
    h = mix64_int(mix64_int(key) ^ seed)
    u = (h >> 11) * 2.0**-53
    return u >= p


# --------------------------------------------------------------------------
# vectorised on NumPy uint64 arrays
# --------------------------------------------------------------------------


def _u64(v):
    return np.uint64(v)


def mix64(x):
    """:func:`mix64_int` element-wise on an array of uint64 (array arithmetic
    on uint64 wraps modulo 2**64, silently, as C's does)."""
    z = np.asarray(x, dtype=np.uint64) + _u64(GOLDEN_GAMMA)
    z = (z ^ (z >> _u64(30))) * _u64(_M1)
    z = (z ^ (z >> _u64(27))) * _u64(_M2)
    return z ^ (z >> _u64(31))


def _check_int(name, v, limit):
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {v!r}")
    v = int(v)
    if not 0 <= v < limit:
        raise ValueError(f"{name} must be in [0, {limit}), got {v}")
    return v


def check_dropout(p):
    """``p`` as a float, after checking it is a probability in [0, 1)."""
    p = float(p)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout must be a probability in [0, 1), got {p}")
    return p


def dropout_key(batch, layer, j):
    """The 64-bit counters (batch << 40) | (layer << 32) | j for an array ``j``."""
    batch = _check_int("batch", batch, MAX_BATCHES)
    layer = _check_int("layer", layer, MAX_LAYERS)
    j = np.asarray(j)
    if j.size and (j.min() < 0 or j.max() >= MAX_WIDTH):
        raise ValueError("neuron indices must be in [0, 2**32)")
    return _u64((batch << 40) | (layer << 32)) | j.astype(np.uint64)


def dropout_hash(seed, batch, layer, j):
    """h = mix64(mix64(key) ^ seed) for every neuron index in the array ``j``."""
    seed = _check_int("dropout_seed", seed, MASK64 + 1)
    return mix64(mix64(dropout_key(batch, layer, j)) ^ _u64(seed))


def dropout_uniform(seed, batch, layer, j):
    """u = (h >> 11) * 2**-53 in [0, 1) for every neuron index in ``j`` (float64;
    the 53-bit integer converts exactly)."""
    h = dropout_hash(seed, batch, layer, j)
    return (h >> _u64(11)).astype(np.float64) * 2.0**-53


def dropout_keep(seed, batch, layer, width, p):
    """Boolean array of shape ``(width,)``: which of the neurons 0..width-1 of
    layer ``layer`` dropout keeps in mini-batch ``batch`` (keep iff u >= p).

    ``seed`` is a uint64 (a Python int in [0, 2**64)), ``batch`` < 2**24,
    ``layer`` < 256, ``width`` <= 2**32 and ``p`` in [0, 1) the probability of
    dropping a neuron.
    """
    p = check_dropout(p)
    width = _check_int("width", width, MAX_WIDTH + 1)
    return dropout_uniform(seed, batch, layer, np.arange(width, dtype=np.uint64)) >= p


def hidden_masks(sizes, seed, batch, p):
    """The keep-masks of all hidden layers of a network with layer sizes
    ``sizes`` in mini-batch ``batch``: a list whose entry i is the mask of
    layer i + 1 of ``sizes`` (the hidden layers are 1 .. len(sizes) - 2), so it
    has len(sizes) - 2 entries, none for the input or output layer."""
    return [dropout_keep(seed, batch, layer, sizes[layer], p)
            for layer in range(1, len(sizes) - 1)]
