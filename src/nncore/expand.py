"""Artificially expanded training data: shifts, affine and elastic distortions.

Chapter 3's "artificially expanding the training data", after Simard,
Steinkraus and Platt (2003), *Best practices for convolutional neural
networks applied to visual document analysis*: distort each training image
in ways that keep its label (a small rotation, a translation, a skew, a
change of scale, or an "elastic" wobble that mimics the oscillations of the
hand) and train on the distorted images too.

Images are rows: ``X`` has shape ``(n, side * side)`` (MNIST: ``(n, 784)``),
float32 or float64, values in [0, 1].  Every function returns a new
C-contiguous array of the same shape and dtype, values clipped to [0, 1],
and never writes to its input.  Outside the image everything is 0 (zero
fill).

Transformations
---------------
``shift(X, dx, dy)``
    by whole pixels (no interpolation); ``dx`` > 0 moves the digit right,
    ``dy`` > 0 moves it down.  Scalars or one integer per image.
``expand_shifts(X, y)``
    the five-fold set: the originals, then all of them moved up, down, left
    and right by one pixel (MNIST's 50,000 -> 250,000).
``affine_transform(X, angle=, dx=, dy=, shear=, zoom=)``
    one affine map around the image centre, bilinear interpolation; the
    parameters are scalars or one value per image (``rotate`` and
    ``translate`` are its two commonest cases).
``affine(X, rng, rotate=15, shift=2, shear=0.3, scale=0.15)``
    random parameters per image, each uniform in +-max.
``elastic(X, rng, alpha=34, sigma=4)``
    Simard's elastic distortion: per image, two fields of uniform(-1, 1)
    displacements, smoothed by a Gaussian of width ``sigma`` (pixels) and
    scaled by ``alpha``; the image is resampled (bilinear) at the displaced
    positions.
``warp(X, rows, cols)``
    the bilinear sampler under both: image *i* resampled at (row, column)
    positions ``rows[i], cols[i]``.

Speed: the whole batch is processed in blocks of about 64 MNIST images
(small enough to stay in cache) with NumPy array operations and no Python
loop over images: a bilinear sampler written as four gathers and three
in-place interpolations into preallocated buffers, the affine source
positions of a block as one small matrix product, and the Gaussian
smoothing of the elastic fields as two more (``G F G^T``: the same numbers
as ``scipy.ndimage.gaussian_filter(F, (0, sigma, sigma), mode="reflect")``,
about 30 times faster).  ``scipy.ndimage.map_coordinates`` on the 3-D stack
(the obvious vectorization) was measured about 10 times slower than this
sampler.  On one core, per 50,000 MNIST images in float32: whole-pixel
shifts ~0.15 s, affine ~0.5-0.7 s, elastic ~0.9-1.1 s (float64: about
1.3-2 times as long); ``bench/expand_mnist.py`` measures them.

On the fly
----------
``Shifts()``, ``Affine(...)`` and ``Elastic(...)`` are augmenters: called as
``augmenter(X, rng)`` they return a fresh distortion of the whole training
inputs, for one epoch.  ``rng`` is a ``numpy.random.Generator`` (the
network's own), so a seeded run repeats exactly.  ``make_augmenter(name,
**strengths)`` builds one from the command line's names.

Precomputed
-----------
``nncore expand --kind shifts -o mnist-shifts.npz`` writes the expanded
training set beside the untouched validation and test sets
(:func:`add_expand_parser`, :func:`run_expand`); :func:`load_expanded`
reads such a file back as a :class:`~nncore.mnist_loader.MnistArrays`.
``nncore expand --preview out.png`` draws originals beside their distorted
versions (:func:`preview`).
"""

from __future__ import annotations

import functools
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

__all__ = [
    "shift",
    "expand_shifts",
    "warp",
    "affine_transform",
    "rotate",
    "translate",
    "affine",
    "elastic",
    "Augmenter",
    "Shifts",
    "Affine",
    "Elastic",
    "AUGMENTERS",
    "make_augmenter",
    "expand",
    "preview",
    "save_expanded",
    "load_expanded",
    "expanded_info",
    "add_expand_parser",
    "run_expand",
    "add_augment_arguments",
    "augmenter_from_args",
]

#: Pixels per block of the vectorized loops (64 MNIST images): big enough
#: that NumPy's per-call overhead is small, small enough to stay in cache.
BLOCK_PIXELS = 64 * 784

#: The ``kind`` recorded in (and required of) an expanded-data file.
FILE_KIND = "nncore-expanded-mnist"
FILE_VERSION = 1
_META_KEY = "nncore_expand"
_ARRAY_KEYS = ("X_train", "y_train", "X_val", "y_val", "X_test", "y_test")


# -- checking the input --------------------------------------------------------

def _images(X, name="X"):
    """``(X, side)`` after checking that X is a batch of square images in [0, 1]."""
    if not isinstance(X, np.ndarray):
        X = np.asarray(X)
    if X.dtype not in (np.float32, np.float64):
        hint = (" (raw 0-255 pixels? divide by 255 first)"
                if np.issubdtype(X.dtype, np.integer) else "")
        raise TypeError(f"{name} must be a float32 or float64 array, got {X.dtype}{hint}")
    if X.ndim != 2:
        hint = " (one image? pass X.reshape(1, -1))" if X.ndim == 1 else ""
        raise ValueError(
            f"{name} must be a 2-D array of flattened images (n, side*side), got shape "
            f"{X.shape}{hint}")
    n_px = X.shape[1]
    side = math.isqrt(n_px)
    if n_px == 0 or side * side != n_px:
        raise ValueError(
            f"{name} rows must be flattened square images: {n_px} pixels per row is not "
            "side*side for a whole side (MNIST: 784 = 28*28)")
    if X.shape[0]:
        lo, hi = X.min(), X.max()
        if not (lo >= 0 and hi <= 1):
            bad = "NaN" if np.isnan(lo) or np.isnan(hi) else f"[{lo:g}, {hi:g}]"
            raise ValueError(
                f"{name} values must lie in [0, 1]; found {bad}"
                + (" (raw 0-255 pixels? divide by 255 first)" if hi > 1 else ""))
    return X, side


def _strength(value, name, *, maximum=None, strict_max=False):
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not (v >= 0 and math.isfinite(v)):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    if maximum is not None and (v >= maximum if strict_max else v > maximum):
        raise ValueError(f"{name} must be {'below' if strict_max else 'at most'} "
                         f"{maximum:g}, got {value!r}")
    return v


def _per_image(value, n, name, dtype=np.float64):
    a = np.asarray(value, dtype=dtype)
    if a.ndim == 0:
        return np.full(n, a, dtype=dtype)
    if a.shape != (n,):
        raise ValueError(f"{name} must be a scalar or one value per image ({n}), "
                         f"got shape {a.shape}")
    return a


def _rng(rng):
    return np.random.default_rng(rng)  # a Generator passes through unchanged


# -- whole-pixel shifts ----------------------------------------------------------

def _spans(d, side):
    """(destination, source) slices along one axis for a whole-pixel shift d."""
    if d >= 0:
        return slice(d, side), slice(0, side - d)
    return slice(0, side + d), slice(-d, side)


def shift(X, dx, dy):
    """Move each image by whole pixels, filling the uncovered border with 0.

    ``dx`` > 0 moves the content right, ``dy`` > 0 down; each is an integer
    or an array of one integer per image.  No interpolation: pixel values
    are copied exactly.  A shift by ``side`` or more leaves a blank image.
    """
    X, side = _images(X)
    n = X.shape[0]
    dxs = _int_shifts(dx, n, "dx")
    dys = _int_shifts(dy, n, "dy")
    out = np.empty((n, side * side), dtype=X.dtype)
    src = X.reshape(n, side, side)
    dst = out.reshape(n, side, side)
    # clamp: any shift of side or more is blank, so one key covers them all
    w = 2 * side + 1
    keys = (np.clip(dxs, -side, side) + side) * w + (np.clip(dys, -side, side) + side)
    if n and np.all(keys == keys[0]):
        _shift_block(src, dst, [(int(keys[0]), slice(None))], side)
        return out
    # per-image shifts: blocks that stay in cache, a few index groups in each
    block = max(1, 4 * BLOCK_PIXELS // (side * side))
    for s in range(0, n, block):
        e = min(n, s + block)
        kb = keys[s:e]
        groups = [(int(key), np.flatnonzero(kb == key)) for key in np.unique(kb)]
        _shift_block(src[s:e], dst[s:e], groups, side)
    return out


def _shift_block(src, dst, groups, side):
    """dst = src shifted, per group of images; groups: (key, index or slice)."""
    w = 2 * side + 1
    dst[...] = 0
    for key, sel in groups:
        sx, sy = key // w - side, key % w - side
        if abs(sx) >= side or abs(sy) >= side:
            continue  # blank
        (rd, rs), (cd, cs) = _spans(sy, side), _spans(sx, side)
        dst[sel, rd, cd] = src[sel, rs, cs]


def _int_shifts(d, n, name):
    a = np.asarray(d)
    if a.dtype == bool or not (np.issubdtype(a.dtype, np.integer)
                               or (np.issubdtype(a.dtype, np.floating)
                                   and np.all(np.isfinite(a)) and np.all(a == np.round(a)))):
        raise ValueError(
            f"shift: {name} must be whole pixels (integers), got {d!r}; "
            "use translate() for sub-pixel shifts")
    if a.ndim == 0:
        return np.full(n, int(a), dtype=np.int64)
    if a.shape != (n,):
        raise ValueError(f"shift: {name} must be an integer or one integer per image "
                         f"({n}), got shape {a.shape}")
    return a.astype(np.int64)


#: The four one-pixel moves of the five-fold expansion, in its order.
SHIFT_MOVES = (("up", 0, -1), ("down", 0, 1), ("left", -1, 0), ("right", 1, 0))


def expand_shifts(X, y, pixels=1):
    """The five-fold training set: originals, then moved up, down, left, right.

    Returns ``(X5, y5)`` with ``5 * n`` rows: all originals first, then all
    images moved up by ``pixels``, then down, left, right (whole pixels, zero
    fill).  Labels (any array whose first axis is the image) are repeated in
    the same order.  MNIST's 50,000 training images become 250,000.
    """
    X, side = _images(X)
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(f"expand_shifts: {X.shape[0]} images but labels of shape {y.shape}")
    p = int(pixels)
    if p != pixels or p < 1:
        raise ValueError(f"expand_shifts: pixels must be a positive integer, got {pixels!r}")
    n = X.shape[0]
    out = np.empty((5 * n, side * side), dtype=X.dtype)
    out[:n] = X
    for k, (_, sx, sy) in enumerate(SHIFT_MOVES, start=1):
        out[k * n:(k + 1) * n] = shift(X, sx * p, sy * p)
    return out, np.concatenate([y] * 5, axis=0)


# -- the bilinear sampler -----------------------------------------------------------

class _Sampler:
    """Bilinear sampling of blocks of images, zero outside the image.

    Each block is copied into a zero-bordered buffer (one pixel above and
    left, two below and right) so that, once positions are clipped to
    [-1, side], every one of the four neighbours of a position is a valid
    index and positions at or beyond the border read zeros: the result is
    exactly that of ``scipy.ndimage.map_coordinates(order=1,
    mode="grid-constant", cval=0)``.  The work arrays are allocated once.
    """

    def __init__(self, side, dtype, block):
        self.side = side
        self.P = side + 3
        self.dtype = np.dtype(dtype)
        # index arithmetic is done in the coordinate dtype: keep it exact
        while block > 1 and block * self.P * self.P >= (1 << 24 if self.dtype == np.float32
                                                        else 1 << 53):
            block //= 2
        self.block = block
        self.pad = np.zeros((block, self.P, self.P), dtype=self.dtype)
        self.offsets = (np.arange(block, dtype=self.dtype) * (self.P * self.P)).reshape(-1, 1, 1)
        size = block * side * side
        self.work = np.empty((6, size), dtype=self.dtype)
        self.idx = np.empty(size, dtype=np.intp)

    def __call__(self, src, rows, cols, out):
        """Sample ``src`` (m, S, S) at ``rows``, ``cols`` (m, S, S; overwritten) into out."""
        m, S = src.shape[0], self.side
        P = self.P
        size = m * S * S
        pad = self.pad[:m]
        pad[:, 1:S + 1, 1:S + 1] = src
        flat = pad.reshape(-1)
        r0, c0, a, b, c, d = (w[:size] for w in self.work)
        idx = self.idx[:size]
        fr = rows.reshape(-1)  # views: rows and cols are C-contiguous
        fc = cols.reshape(-1)
        fr += 1  # positions in the padded buffer
        np.clip(fr, 0, S + 1, out=fr)
        fc += 1
        np.clip(fc, 0, S + 1, out=fc)
        np.floor(fr, out=r0)
        np.floor(fc, out=c0)
        fr -= r0  # fractions
        fc -= c0
        r0 *= P
        r0 += c0
        r0.reshape(m, S, S)[...] += self.offsets[:m]
        np.copyto(idx, r0, casting="unsafe")
        flat.take(idx, out=a, mode="clip")
        flat[1:].take(idx, out=b, mode="clip")
        flat[P:].take(idx, out=c, mode="clip")
        flat[P + 1:].take(idx, out=d, mode="clip")
        b -= a
        b *= fc
        a += b  # top row
        d -= c
        d *= fc
        c += d  # bottom row
        c -= a
        c *= fr
        a += c
        # a bilinear mix of values in [0, 1] is >= 0 exactly (each step is
        # a + f*(b - a) with 0 <= f < 1), but may round to 1 + 1 ulp
        np.minimum(a, 1, out=out.reshape(-1))


def _blocks(n, side):
    return max(1, BLOCK_PIXELS // (side * side))


def _run_blocks(X, side, positions):
    """Resample every image of X; ``positions(s, e, dtype)`` gives (rows, cols)."""
    n = X.shape[0]
    out = np.empty((n, side * side), dtype=X.dtype)
    if n == 0:
        return out
    sampler = _Sampler(side, X.dtype, _blocks(n, side))
    src = X.reshape(n, side, side)
    dst = out.reshape(n, side, side)
    for s in range(0, n, sampler.block):
        e = min(n, s + sampler.block)
        rows, cols = positions(s, e, X.dtype)
        sampler(src[s:e], rows, cols, dst[s:e])
    return out


def warp(X, rows, cols):
    """Resample each image at the given (row, column) positions, bilinearly.

    ``out[i, r, c] = image_i(rows[i, r, c], cols[i, r, c])`` where positions
    between pixels are interpolated bilinearly and positions outside the
    image read 0 (rows and columns of pixels are numbered from 0 at the top
    left).  ``rows`` and ``cols`` have shape (n, side, side) or (n,
    side*side).  Integer positions return pixel values exactly.
    """
    X, side = _images(X)
    n = X.shape[0]
    shape = (n, side, side)
    R = np.asarray(rows, dtype=X.dtype)
    C = np.asarray(cols, dtype=X.dtype)
    for name, a in (("rows", R), ("cols", C)):
        if a.size != n * side * side or a.shape[0] != n:
            raise ValueError(f"warp: {name} must have shape {shape}, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"warp: {name} holds NaN or infinite positions")
    R = R.reshape(shape)
    C = C.reshape(shape)
    return _run_blocks(X, side, lambda s, e, dt: (R[s:e].copy(), C[s:e].copy()))


# -- affine maps ----------------------------------------------------------------------

def _inverse_maps(n, angle, dx, dy, shear, zoom):
    """Per image, the inverse map (output position -> source position).

    The forward map, in pixels centred on the image with x to the right and
    y down, is ``p_out = R(angle) @ Shear(shear) @ (zoom * p_in) + (dx, dy)``,
    ``R = [[cos, sin], [-sin, cos]]`` (anticlockwise on screen for a
    positive angle) and ``Shear = [[1, shear], [0, 1]]`` (x += shear * y).
    Returns the inverse's matrix ``[[m00, m01], [m10, m11]]`` and the
    translation ``(tx, ty)``: ``p_in = M @ (p_out - t)``, six arrays.
    """
    th = np.deg2rad(_per_image(angle, n, "angle"))
    s = _per_image(shear, n, "shear")
    k = _per_image(zoom, n, "zoom")
    if np.any(~(k > 0)) or not np.all(np.isfinite(k)):
        raise ValueError("zoom must be finite and > 0")
    tx = _per_image(dx, n, "dx")
    ty = _per_image(dy, n, "dy")
    for name, a in (("angle", th), ("shear", s), ("dx", tx), ("dy", ty)):
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name} must be finite")
    cos, sin = np.cos(th), np.sin(th)
    # inverse: (1/zoom) * Shear^-1 @ R^-1,  R = [[cos, sin], [-sin, cos]]
    m00 = (cos - s * sin) / k
    m01 = (-sin - s * cos) / k
    m10 = sin / k
    m11 = cos / k
    return m00, m01, m10, m11, tx, ty


def _affine_positions(side, maps):
    m00, m01, m10, m11, tx, ty = maps
    c = (side - 1) / 2.0
    # source = M @ (p_out - t) + c, with p_out centred: the constant parts
    e0 = c - m00 * tx - m01 * ty  # column (x) offset
    e1 = c - m10 * tx - m11 * ty  # row (y) offset
    # one small matrix product gives every position of a block:
    # [cols; rows] (2m, side*side) = coefficients (2m, 3) @ [x; y; 1] (3, side*side)
    coef = np.stack([np.stack([m00, m01, e0], axis=1), np.stack([m10, m11, e1], axis=1)])
    g = np.arange(side, dtype=np.float64) - c
    basis = np.stack([np.tile(g, side), np.repeat(g, side), np.ones(side * side)])
    cache = {}

    def positions(s, e, dtype):
        if dtype not in cache:
            cache[dtype] = basis.astype(dtype)
        m = e - s
        cr = coef[:, s:e].astype(dtype).reshape(2 * m, 3)
        pos = (cr @ cache[dtype]).reshape(2, m, side, side)
        return pos[1], pos[0]

    return positions


def affine_transform(X, angle=0.0, dx=0.0, dy=0.0, shear=0.0, zoom=1.0):
    """Apply one affine map per image around the image centre (bilinear, zero fill).

    ``angle`` degrees anticlockwise (as displayed), ``dx``/``dy`` pixels
    (right/down; fractions allowed), ``shear`` the horizontal skew factor
    (x += shear * y, y pointing down), ``zoom`` the scale factor (> 1
    enlarges).  The map is rotation after shear after zoom, then the
    translation.  Each parameter is a scalar or one value per image.  The
    identity parameters return the images unchanged (exactly), and whole
    pixel ``dx``/``dy`` alone equal :func:`shift`.
    """
    X, side = _images(X)
    maps = _inverse_maps(X.shape[0], angle, dx, dy, shear, zoom)
    return _run_blocks(X, side, _affine_positions(side, maps))


def rotate(X, degrees):
    """Rotate each image by ``degrees`` anticlockwise around its centre (bilinear)."""
    return affine_transform(X, angle=degrees)


def translate(X, dx, dy):
    """Move each image by ``dx``, ``dy`` pixels (sub-pixel: bilinear; zero fill)."""
    return affine_transform(X, dx=dx, dy=dy)


def _affine_params(n, rng, rotate, shift, shear, scale):
    """Per-image random parameters, uniform in +-max, from one draw of 5n numbers."""
    u = _rng(rng).uniform(-1.0, 1.0, size=(5, n))
    return dict(angle=rotate * u[0], dx=shift * u[1], dy=shift * u[2],
                shear=shear * u[3], zoom=1.0 + scale * u[4])


def affine(X, rng, rotate=15.0, shift=2.0, shear=0.3, scale=0.15):
    """Random affine distortion of each image: rotation, sub-pixel shift, skew, scale.

    Per image, independently and uniform in +-max: an angle in degrees
    (``rotate``), a shift in pixels along each axis (``shift``), a skew
    factor (``shear``) and a relative change of size (``scale``: the zoom is
    ``1 + u*scale``), composed into one map around the image centre
    (:func:`affine_transform`).  ``rng`` is a Generator (or a seed).  With
    every strength 0 the images come back unchanged.
    """
    rotate = _strength(rotate, "rotate", maximum=180)
    shift = _strength(shift, "shift")
    shear = _strength(shear, "shear")
    scale = _strength(scale, "scale", maximum=1, strict_max=True)
    X, side = _images(X)
    p = _affine_params(X.shape[0], rng, rotate, shift, shear, scale)
    maps = _inverse_maps(X.shape[0], **p)
    return _run_blocks(X, side, _affine_positions(side, maps))


# -- elastic distortion ------------------------------------------------------------------

@functools.lru_cache(maxsize=32)
def _gauss_matrix(side, sigma):
    """The (side, side) matrix of a 1-D Gaussian filter (mode "reflect", truncate 4).

    ``G @ v`` equals ``scipy.ndimage.gaussian_filter1d(v, sigma, mode="reflect")``;
    ``G @ F @ G.T`` smooths an image-shaped field along both axes.
    """
    if sigma == 0:
        G = np.eye(side)
    else:
        from scipy.ndimage import gaussian_filter1d
        G = gaussian_filter1d(np.eye(side), sigma, axis=0, mode="reflect", truncate=4.0)
    G.setflags(write=False)
    return G


def _smooth(F, G, Gt_left=None):
    """``G_left @ F[i] @ G.T`` for every (S, S) slice of F (k, S, S); G_left defaults to G."""
    k, S, _ = F.shape
    left = G if Gt_left is None else Gt_left
    A = (F.reshape(-1, S) @ G.T).reshape(k, S, S)  # along each row
    return np.matmul(left, A)  # along each column


#: 16-bit draws for the elastic fields: uniform on 65,536 levels spread over
#: (-1, 1), the same mean and (to 1 part in 10^9) the same variance as
#: uniform(-1, 1), and invisible after the Gaussian averages ~200 of them;
#: drawing them is 2-3 times faster than drawing floats.
_LEVELS = 65536


def _elastic_positions(side, rng, alpha, sigma):
    G = _gauss_matrix(side, float(sigma))
    # field = alpha * G @ U @ G.T with U = 2 (k + 1/2) / LEVELS - 1:
    #       = (2 alpha / LEVELS) G k G.T + alpha (1/LEVELS - 1) g g.T,  g = G @ 1
    g = G.sum(axis=1)
    const = alpha * (1.0 / _LEVELS - 1.0) * np.outer(g, g)
    grid = np.arange(side, dtype=np.float64)
    base_rows = grid[:, None] + const  # row r, plus the field's constant part
    base_cols = grid[None, :] + const
    cache = {}

    def positions(s, e, dtype):
        if dtype not in cache:
            cache[dtype] = (G.astype(dtype), (G * (2.0 * alpha / _LEVELS)).astype(dtype),
                            base_rows.astype(dtype), base_cols.astype(dtype))
        Gd, Ga, br, bc = cache[dtype]
        m = e - s
        # drawn image by image (the stream does not depend on the block size),
        # then laid out field by field so each field is contiguous
        k = rng.integers(0, _LEVELS, size=(m, 2, side, side), dtype=np.uint16)
        F = np.ascontiguousarray(k.transpose(1, 0, 2, 3), dtype=dtype)
        field = _smooth(F.reshape(2 * m, side, side), Gd, Ga)
        cols = field[:m]
        cols += bc
        rows = field[m:]
        rows += br
        return rows, cols

    return positions


def elastic(X, rng, alpha=34.0, sigma=4.0):
    """Simard's elastic distortion of each image.

    Per image, two random displacement fields (columns and rows), each
    uniform(-1, 1) at every pixel (drawn at 16-bit resolution), smoothed by
    a Gaussian of standard deviation ``sigma`` pixels (mode "reflect",
    truncated at 4 sigma) and multiplied by ``alpha``; the image is then
    resampled bilinearly at each pixel's displaced position (zero outside).
    Simard et al. use sigma = 4, alpha = 34 for MNIST: displacements of about
    1.4 pixels (standard deviation) that vary smoothly over the digit.
    ``alpha = 0`` returns the images unchanged.
    """
    alpha = _strength(alpha, "alpha")
    sigma = _strength(sigma, "sigma")
    X, side = _images(X)
    rng = _rng(rng)
    return _run_blocks(X, side, _elastic_positions(side, rng, alpha, sigma))


# -- augmenters ------------------------------------------------------------------------

class Augmenter:
    """A distortion of the whole training set, drawn afresh at each call.

    ``augmenter(X, rng)`` returns a new array of the shape and dtype of
    ``X`` (C-contiguous, values in [0, 1]); ``X`` is not modified.
    ``name`` is the command line's name, ``strengths`` the parameters.
    """

    name = ""

    @property
    def strengths(self) -> dict:
        return dict(self._strengths)

    def __call__(self, X, rng):  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._strengths.items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self._strengths == other._strengths

    def __hash__(self):
        return hash((type(self).__name__, tuple(self._strengths.items())))


class Shifts(Augmenter):
    """Per image and call, one of five at random: unchanged, or moved one pixel
    up, down, left or right (whole pixels, zero fill): the five-fold set of
    :func:`expand_shifts`, one random member per image per epoch."""

    name = "shifts"

    def __init__(self, pixels=1):
        p = int(pixels) if float(pixels) == int(pixels) else -1
        if p < 1:
            raise ValueError(f"Shifts: pixels must be a positive integer, got {pixels!r}")
        self._strengths = {"pixels": p}

    def __call__(self, X, rng):
        X, _ = _images(X)
        choice = _rng(rng).integers(0, 5, size=X.shape[0])
        moves = np.array([(0, 0)] + [(sx, sy) for _, sx, sy in SHIFT_MOVES]) * \
            self._strengths["pixels"]
        return shift(X, moves[choice, 0], moves[choice, 1])


class Affine(Augmenter):
    """Random affine distortions (:func:`affine`): rotation up to ``rotate``
    degrees, shift up to ``shift`` pixels, skew up to ``shear``, scale by up
    to ``scale``, each uniform in +-max, per image."""

    name = "affine"

    def __init__(self, rotate=15.0, shift=2.0, shear=0.3, scale=0.15):
        self._strengths = {
            "rotate": _strength(rotate, "rotate", maximum=180),
            "shift": _strength(shift, "shift"),
            "shear": _strength(shear, "shear"),
            "scale": _strength(scale, "scale", maximum=1, strict_max=True),
        }

    def __call__(self, X, rng):
        return affine(X, rng, **self._strengths)


class Elastic(Augmenter):
    """Simard's elastic distortions (:func:`elastic`): random displacement
    fields smoothed by a Gaussian of width ``sigma``, scaled by ``alpha``."""

    name = "elastic"

    def __init__(self, alpha=34.0, sigma=4.0):
        self._strengths = {"alpha": _strength(alpha, "alpha"),
                           "sigma": _strength(sigma, "sigma")}

    def __call__(self, X, rng):
        return elastic(X, rng, **self._strengths)


#: The command line's names.
AUGMENTERS = {"shifts": Shifts, "affine": Affine, "elastic": Elastic}


def make_augmenter(name, **strengths):
    """The augmenter called ``name`` ("shifts", "affine" or "elastic").

    Keyword arguments set its strengths (``rotate``, ``shift``, ``shear``,
    ``scale`` for affine; ``alpha``, ``sigma`` for elastic; ``pixels`` for
    shifts); those passed as None are left at their defaults, so a parser's
    unset flags can be passed straight through.  A strength that belongs to
    another kind is an error.
    """
    try:
        cls = AUGMENTERS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown augmentation {name!r}; choose from "
                         f"{', '.join(AUGMENTERS)}") from None
    given = {k: v for k, v in strengths.items() if v is not None}
    allowed = _STRENGTH_NAMES[name]
    wrong = [k for k in given if k not in allowed]
    if wrong:
        owners = {k: [n for n, names in _STRENGTH_NAMES.items() if k in names] for k in wrong}
        detail = "; ".join(
            f"{k} belongs to {' and '.join(owners[k])}" if owners[k] else f"{k} is unknown"
            for k in wrong)
        raise ValueError(f"{name} takes {', '.join(allowed)}; got {', '.join(wrong)} "
                         f"({detail})")
    return cls(**given)


_STRENGTH_NAMES = {"shifts": ("pixels",), "affine": ("rotate", "shift", "shear", "scale"),
                   "elastic": ("alpha", "sigma")}


def expand(X, y, augmenter, rng, copies=1):
    """The originals followed by ``copies`` distorted copies of them.

    Returns ``(X_out, y_out)`` with ``(copies + 1) * n`` rows; labels are
    repeated in the same order.  For the five-fold shift set use
    :func:`expand_shifts`.
    """
    X, side = _images(X)
    y = np.asarray(y)
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(f"expand: {X.shape[0]} images but labels of shape {y.shape}")
    copies = int(copies)
    if copies < 0:
        raise ValueError(f"expand: copies must be >= 0, got {copies}")
    rng = _rng(rng)  # one generator for all copies (a seed would repeat itself)
    n = X.shape[0]
    out = np.empty(((copies + 1) * n, side * side), dtype=X.dtype)
    out[:n] = X
    for k in range(1, copies + 1):
        out[k * n:(k + 1) * n] = augmenter(X, rng)
    return out, np.concatenate([y] * (copies + 1), axis=0)


# -- the picture -----------------------------------------------------------------------

def _atomic_write(out, write):
    """Call ``write(fileobj)`` on a temporary file beside ``out``, then rename it."""
    out = Path(out)
    directory = out.parent if str(out.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 -> what open() would give
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, out)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return out


@functools.lru_cache(maxsize=1)
def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def preview(X, y, augmenter, rng, out, n=8, k=None):
    """Write a PNG: ``n`` original digits, each beside ``k`` distorted versions.

    ``augmenter`` is one augmenter or a list of them (then ``k`` versions of
    each, side by side; ``k`` defaults to 5 for one augmenter, 3 for
    several).  Rows are labelled with the digit.  Uses matplotlib's Agg
    backend (no display needed); the file is written atomically.  Returns
    the path.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    augs = list(augmenter) if isinstance(augmenter, (list, tuple)) else [augmenter]
    if not augs:
        raise ValueError("preview: no augmenter given")
    if k is None:
        k = 5 if len(augs) == 1 else 3
    X, side = _images(X)
    n = min(int(n), X.shape[0])
    if n < 1 or k < 1:
        raise ValueError("preview: need at least one image and one version")
    rng = _rng(rng)
    Xs = X[:n]
    labels = np.asarray(y)[:n]
    versions = [[aug(Xs, rng) for _ in range(k)] for aug in augs]
    ncols = 1 + k * len(augs)
    fig = Figure(figsize=(0.9 * ncols + 0.3, 0.95 * n + 0.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(n, ncols, squeeze=False)
    for i in range(n):
        images = [Xs[i]] + [v[i] for group in versions for v in group]
        for j, img in enumerate(images):
            ax = axes[i, j]
            ax.imshow(img.reshape(side, side), cmap="gray_r", vmin=0.0, vmax=1.0,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[i, 0].set_ylabel(str(labels[i]), rotation=0, labelpad=10, fontsize=11)
    axes[0, 0].set_title("original", fontsize=8)
    for g, aug in enumerate(augs):
        axes[0, 1 + g * k].set_title(aug.name or type(aug).__name__, fontsize=8,
                                     loc="left")
    fig.suptitle("; ".join(repr(a) for a in augs), fontsize=7)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return _atomic_write(out, lambda f: fig.savefig(f, format="png", dpi=80))


# -- expanded data files ----------------------------------------------------------------

def save_expanded(path, arrays, info):
    """Write an :class:`MnistArrays`-like tuple and a description to ``path`` (.npz).

    Compressed, written to a temporary file in the same directory, then
    renamed over ``path``.
    """
    meta = dict(info)
    meta.update(kind=FILE_KIND, version=FILE_VERSION)
    data = {k: np.ascontiguousarray(getattr(arrays, k)) for k in _ARRAY_KEYS}
    data[_META_KEY] = np.array(json.dumps(meta, sort_keys=True))
    return _atomic_write(path, lambda f: np.savez_compressed(f, **data))


def _data_error(msg):
    from .mnist_loader import DataError
    return DataError(msg)


def _open_npz(path):
    import zipfile
    p = Path(path)
    if not p.is_file():
        raise _data_error(f"{p}: no such file")
    try:
        npz = np.load(p, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise _data_error(f"{p} is not an expanded-data file from `nncore expand` "
                          f"(not a readable .npz: {e})") from None
    if not hasattr(npz, "files"):
        raise _data_error(f"{p} is not an expanded-data file from `nncore expand` "
                          "(a single .npy array, not an .npz archive)")
    if _META_KEY not in npz.files:
        npz.close()
        raise _data_error(f"{p} is not an expanded-data file from `nncore expand`: no "
                          f"{_META_KEY!r} record (arrays found: {', '.join(npz.files) or 'none'})")
    try:
        meta = json.loads(str(npz[_META_KEY][()]))
    except (ValueError, TypeError) as e:
        npz.close()
        raise _data_error(f"{p}: unreadable {_META_KEY!r} record: {e}") from None
    if not isinstance(meta, dict) or meta.get("kind") != FILE_KIND:
        npz.close()
        raise _data_error(f"{p}: the {_META_KEY!r} record does not describe expanded MNIST")
    if not isinstance(meta.get("version"), int) or meta["version"] > FILE_VERSION:
        npz.close()
        raise _data_error(f"{p}: file format version {meta.get('version')!r}; this nncore "
                          f"reads version {FILE_VERSION} (upgrade nncore)")
    return npz, meta


def expanded_info(path) -> dict:
    """The description stored in an expanded-data file (kind of expansion,
    strengths, copies, seed, sizes, source)."""
    npz, meta = _open_npz(path)
    npz.close()
    return meta


def load_expanded(path):
    """Read a file written by ``nncore expand`` as a :class:`MnistArrays`.

    ``(X_train, y_train, X_val, y_val, X_test, y_test)``: C-contiguous
    images as stored (float32), int64 labels.  Anything else (another .npz,
    a missing array, inconsistent shapes) raises
    :class:`~nncore.mnist_loader.DataError` saying what is wrong.
    """
    from .mnist_loader import MnistArrays
    npz, meta = _open_npz(path)
    with npz:
        missing = [k for k in _ARRAY_KEYS if k not in npz.files]
        if missing:
            raise _data_error(f"{path}: missing array(s) {', '.join(missing)}")
        arrays = {k: npz[k] for k in _ARRAY_KEYS}
    n_px = None
    for part in ("train", "val", "test"):
        X, y = arrays["X_" + part], arrays["y_" + part]
        if X.ndim != 2 or not np.issubdtype(X.dtype, np.floating):
            raise _data_error(f"{path}: X_{part} is not a 2-D float array "
                              f"({X.dtype}, shape {X.shape})")
        if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer):
            raise _data_error(f"{path}: y_{part} is not a 1-D integer array")
        if X.shape[0] != y.shape[0]:
            raise _data_error(f"{path}: X_{part} has {X.shape[0]} images but y_{part} "
                              f"{y.shape[0]} labels")
        if n_px is not None and X.shape[1] != n_px:
            raise _data_error(f"{path}: X_{part} has {X.shape[1]} pixels per image, "
                              f"X_train {n_px}")
        n_px = X.shape[1]
        arrays["X_" + part] = np.ascontiguousarray(X)
        arrays["y_" + part] = np.ascontiguousarray(y, dtype=np.int64)
    expected = meta.get("n_train")
    if isinstance(expected, int) and expected != arrays["X_train"].shape[0]:
        raise _data_error(f"{path}: {arrays['X_train'].shape[0]} training images, but the "
                          f"record says {expected}")
    return MnistArrays(**arrays)


# -- command line ----------------------------------------------------------------------

from ._argtypes import nonnegative_float as _nonneg_float  # noqa: E402
from ._argtypes import nonnegative_int as _nonneg_int  # noqa: E402
from ._argtypes import positive_int as _pos_int  # noqa: E402


def _add_strengths(group):
    group.add_argument("--rotate", type=_nonneg_float, default=None, metavar="DEG",
                       help="affine: largest rotation in degrees (default 15)")
    group.add_argument("--shift", type=_nonneg_float, default=None, metavar="PX",
                       help="affine: largest shift in pixels, sub-pixel (default 2)")
    group.add_argument("--shear", type=_nonneg_float, default=None, metavar="S",
                       help="affine: largest skew factor (default 0.3)")
    group.add_argument("--scale", type=_nonneg_float, default=None, metavar="S",
                       help="affine: largest relative change of size, below 1 (default 0.15)")
    group.add_argument("--alpha", type=_nonneg_float, default=None,
                       help="elastic: scale of the displacements (default 34)")
    group.add_argument("--sigma", type=_nonneg_float, default=None,
                       help="elastic: width of the smoothing Gaussian in pixels (default 4)")


def _strengths_from(args):
    return {k: getattr(args, k, None) for k in ("rotate", "shift", "shear", "scale",
                                                "alpha", "sigma")}


def add_augment_arguments(parser):
    """Add ``--expand shifts|affine|elastic`` and the strength flags to a parser
    (for ``nncore train``); :func:`augmenter_from_args` reads them back."""
    g = parser.add_argument_group(
        "expanded training data",
        "a freshly distorted copy of the training images for every epoch")
    g.add_argument("--expand", choices=sorted(AUGMENTERS), default=None, metavar="KIND",
                   help="shifts (one random 1-pixel move or none per image), affine "
                   "(rotation, shift, skew, scale) or elastic (Simard's elastic distortion)")
    _add_strengths(g)
    return g


def augmenter_from_args(args, kind_attr="expand"):
    """The augmenter the parsed flags ask for, or None; ValueError for a strength
    flag that does not belong to the chosen kind (or one given without a kind)."""
    kind = getattr(args, kind_attr, None)
    strengths = _strengths_from(args)
    if kind is None:
        given = [k for k, v in strengths.items() if v is not None]
        if given:
            raise ValueError(f"--{given[0]} needs --{kind_attr} KIND")
        return None
    try:
        return make_augmenter(kind, **strengths)
    except ValueError:
        given = {k for k, v in strengths.items() if v is not None}
        wrong = sorted(given - set(_STRENGTH_NAMES[kind]))
        if wrong:
            takes = ", ".join("--" + s for s in _STRENGTH_NAMES[kind] if s != "pixels")
            raise ValueError(
                f"{' '.join('--' + w for w in wrong)} do{'es' if len(wrong) == 1 else ''} "
                f"not apply to {kind} (it takes {takes or 'no strengths'})"
            ) from None
        raise


def add_expand_parser(subparsers):
    """Register ``nncore expand`` on an ``add_subparsers()`` object; returns the parser."""
    p = subparsers.add_parser(
        "expand", help="write an artificially expanded MNIST training set, or a preview",
        description="Artificially expand MNIST's training images (the chapter's section, "
        "after Simard et al. 2003): --kind shifts writes the five-fold set (originals plus "
        "the four one-pixel shifts: 250,000 images); affine and elastic write the originals "
        "plus --copies distorted copies.  Validation and test images are copied untouched.  "
        "--preview draws originals beside distorted versions.",
        epilog="Examples: nncore expand --kind shifts -o mnist-shifts.npz;  "
        "nncore expand --kind elastic --copies 2 --seed 1 -o mnist-elastic.npz;  "
        "nncore expand --preview preview.png")
    p.add_argument("--kind", choices=sorted(AUGMENTERS), default=None,
                   help="shifts, affine or elastic (needed for -o; a preview without it "
                   "shows all three)")
    p.add_argument("-o", "--output", metavar="OUT.npz", default=None,
                   help="write the expanded data set here (compressed .npz)")
    p.add_argument("--copies", type=_pos_int, default=None, metavar="K",
                   help="affine/elastic: distorted copies per image (default 1)")
    g = p.add_argument_group("strengths (defaults: Simard et al.'s / the chapter's)")
    _add_strengths(g)
    p.add_argument("--seed", type=_nonneg_int, default=None,
                   help="random seed (default: fresh; the one used is recorded in the file)")
    p.add_argument("--data", default=None,
                   help="path to mnist.pkl.gz (default: $NNCORE_DATA, the cache, or a download)")
    p.add_argument("--train-size", type=_pos_int, default=None, metavar="N",
                   help="expand only the first N training images")
    p.add_argument("--preview", metavar="OUT.png", default=None,
                   help="write a grid of original digits beside their distorted versions")
    p.add_argument("--preview-images", type=_pos_int, default=8, metavar="N",
                   help="digits in the preview (default 8)")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=run_expand)
    return p


def _fail(msg):
    print(f"nncore expand: {msg}", file=sys.stderr)
    return 2


def run_expand(args) -> int:
    """Carry out ``nncore expand`` (see :func:`add_expand_parser`); returns the exit status."""
    from . import mnist_loader

    if args.output is None and args.preview is None:
        return _fail("nothing to do: give -o OUT.npz (with --kind) and/or --preview OUT.png")
    if args.output is not None and args.kind is None:
        return _fail("-o needs --kind shifts|affine|elastic")
    if args.kind == "shifts" and args.copies is not None:
        return _fail("--copies does not apply to --kind shifts (always the five-fold set)")
    try:
        if args.kind is not None:
            augs = [augmenter_from_args(args, kind_attr="kind")]
        else:
            augmenter_from_args(args, kind_attr="kind")  # strength flags need a kind
            augs = [Shifts(), Affine(), Elastic()]
    except ValueError as e:
        return _fail(str(e))
    for path in (args.output, args.preview):  # fail before the work, not after
        if path is not None and not (Path(path).parent if str(Path(path).parent) else
                                     Path(".")).is_dir():
            return _fail(f"cannot write {path}: directory {Path(path).parent} does not exist")
    say = (lambda *a: None) if args.quiet else print
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy)

    data = mnist_loader.load_arrays(args.data, dtype=None)
    X, y = data.X_train, data.y_train
    if args.train_size is not None:
        X, y = X[:args.train_size], y[:args.train_size]

    if args.preview is not None:
        try:
            path = preview(X, y, augs if len(augs) > 1 else augs[0],
                           np.random.default_rng(seed), args.preview, n=args.preview_images)
        except OSError as e:
            print(f"nncore expand: cannot write {args.preview}: {e}", file=sys.stderr)
            return 1
        say(f"Saved the preview to {path}")

    if args.output is not None:
        aug = augs[0]
        rng = np.random.default_rng(seed)
        t0 = time.perf_counter()
        if args.kind == "shifts":
            Xe, ye = expand_shifts(X, y)
            copies, what = 4, "the originals, then moved 1 pixel up, down, left, right"
        else:
            copies = args.copies if args.copies is not None else 1
            Xe, ye = expand(X, y, aug, rng, copies)
            what = (f"the originals, then {copies} distorted "
                    f"cop{'y' if copies == 1 else 'ies'}: {aug!r}")
        t1 = time.perf_counter()
        info = {
            "expansion": args.kind,
            "strengths": aug.strengths,
            "copies": copies,
            "seed": seed if args.kind != "shifts" else None,
            "n_original": int(X.shape[0]),
            "n_train": int(Xe.shape[0]),
            "order": "originals first, then each copy in turn (same image order)",
            "source": str(mnist_loader.locate_mnist(args.data, download=False)),
            "nncore_version": _version(),
        }
        try:
            out = save_expanded(args.output, mnist_loader.MnistArrays(
                Xe, ye, data.X_val, data.y_val, data.X_test, data.y_test), info)
        except OSError as e:
            print(f"nncore expand: cannot write {args.output}: {e}", file=sys.stderr)
            return 1
        t2 = time.perf_counter()
        size = os.path.getsize(out)
        say(f"Wrote {out}: {Xe.shape[0]:,} training images ({what}), "
            f"{data.X_val.shape[0]:,} validation, {data.X_test.shape[0]:,} test; "
            f"{Xe.dtype}, {size / 1e6:.1f} MB; {t1 - t0:.1f} s to expand, "
            f"{t2 - t1:.1f} s to write" + ("" if args.kind == "shifts" else f"; seed {seed}"))
    return 0


def _version():
    try:
        from . import __version__
        return __version__
    except ImportError:  # pragma: no cover
        return None
