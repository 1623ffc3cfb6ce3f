# Native core of nncore: feedforward, mini-batch backprop and whole SGD
# epochs for fully connected sigmoid networks, in float32 or float64.
#
# Conventions (shared with src/nncore/_layout.py):
#   * examples are rows: X is (n_examples, sizes[0]), C-contiguous;
#   * all parameters live in one flat buffer `theta`: first every weight
#     matrix in layer order, each (sizes[l+1], sizes[l]) row-major (the
#     (out, in) shape of network2), then every bias vector in layer order;
#   * a gradient buffer has the same layout as `theta`.
#
# The def functions check shapes and indices once, then run entirely in C
# with the GIL released.  Matrix products go to BLAS through scipy's
# function pointers; everything element-wise is fused into single passes.

from cython cimport floating
from libc.math cimport exp, expf
from libc.string cimport memcpy
from scipy.linalg.cython_blas cimport dgemm, sgemm

import numpy as np

# Cost codes; the Python layer maps cost names to these.
COST_QUADRATIC = 0
COST_CROSS_ENTROPY = 1
cdef enum:
    _QUADRATIC = 0
    _CROSS_ENTROPY = 1

# Rows per block when evaluating many examples (bounds the workspace and
# keeps each block's activations in cache).
cdef enum:
    FORWARD_BLOCK = 512


cdef inline void gemm(char ta, char tb, int M, int N, int K,
                      floating alpha, const floating *A, int lda,
                      const floating *B, int ldb, floating beta,
                      floating *C, int ldc) noexcept nogil:
    """Row-major C (M x N) = alpha * op(A) (M x K) . op(B) (K x N) + beta * C.

    BLAS is column-major: a row-major matrix is its transpose there, so we
    ask for C^T = op(B)^T . op(A)^T, which swaps the operands and keeps the
    transpose flags.  No copy is made.
    """
    if M <= 0 or N <= 0 or K <= 0:
        return
    if floating is float:
        sgemm(&tb, &ta, &N, &M, &K, &alpha, <float *> B, &ldb,
              <float *> A, &lda, &beta, C, &ldc)
    else:
        dgemm(&tb, &ta, &N, &M, &K, &alpha, <double *> B, &ldb,
              <double *> A, &lda, &beta, C, &ldc)


cdef inline floating sigmoid(floating z) noexcept nogil:
    """1 / (1 + e^-z) without overflow for any finite z."""
    cdef floating e
    if floating is float:
        if z >= 0:
            return 1.0 / (1.0 + expf(-z))
        e = expf(z)
        return e / (1.0 + e)
    else:
        if z >= 0:
            return 1.0 / (1.0 + exp(-z))
        e = exp(z)
        return e / (1.0 + e)


cdef inline void bias_sigmoid(floating *Z, const floating *b, Py_ssize_t m,
                              Py_ssize_t n, floating *zcopy) noexcept nogil:
    """In place over an (m, n) block: Z <- sigmoid(Z + b), one pass.
    If zcopy is not NULL, the pre-activation Z + b is stored there too."""
    cdef Py_ssize_t i, j
    cdef floating z
    for i in range(m):
        for j in range(n):
            z = Z[i * n + j] + b[j]
            if zcopy != NULL:
                zcopy[i * n + j] = z
            Z[i * n + j] = sigmoid(z)


cdef void forward(const floating *theta, const Py_ssize_t *sizes,
                  Py_ssize_t n_layers, const Py_ssize_t *w_off,
                  const Py_ssize_t *b_off, const floating *A0, Py_ssize_t m,
                  floating **acts, floating *zlast) noexcept nogil:
    """Feed m rows A0 forward; acts[l] (l = 1..n_layers-1) receives layer l's
    activations, (m, sizes[l]).  zlast, if not NULL, receives the output
    layer's weighted inputs."""
    cdef Py_ssize_t l
    cdef const floating *prev = A0
    cdef int n_in, n_out
    for l in range(1, n_layers):
        n_in = <int> sizes[l - 1]
        n_out = <int> sizes[l]
        # Z = A_prev . W^T  (W is (n_out, n_in) row-major)
        gemm(c'N', c'T', <int> m, n_out, n_in, <floating> 1.0, prev, n_in,
             theta + w_off[l - 1], n_in, <floating> 0.0, acts[l], n_out)
        bias_sigmoid(acts[l], theta + b_off[l - 1], m, n_out,
                     zlast if l == n_layers - 1 else <floating *> NULL)
        prev = acts[l]


cdef void output_delta(floating *delta, const floating *aL, const floating *Y,
                       const Py_ssize_t *rows, Py_ssize_t m, Py_ssize_t n,
                       int cost) noexcept nogil:
    """delta^L for m examples; row i's target is Y[rows[i]] (or Y[i] when
    rows is NULL).  Cross-entropy: a - y (eq. 66); quadratic: (a - y) a (1 - a)."""
    cdef Py_ssize_t i, j, r
    cdef floating a
    cdef const floating *y
    for i in range(m):
        r = rows[i] if rows != NULL else i
        y = Y + r * n
        for j in range(n):
            a = aL[i * n + j]
            if cost == _QUADRATIC:
                delta[i * n + j] = (a - y[j]) * a * (1 - a)
            else:
                delta[i * n + j] = a - y[j]


cdef inline void times_sigmoid_prime(floating *D, const floating *A,
                                     Py_ssize_t count) noexcept nogil:
    """D <- D * sigma'(z), with sigma'(z) = a (1 - a) taken from the stored
    activations (eq. BP2's Hadamard factor)."""
    cdef Py_ssize_t i
    for i in range(count):
        D[i] = D[i] * (A[i] * (1 - A[i]))


cdef void backward(floating *theta, floating *grad, const Py_ssize_t *sizes,
                   Py_ssize_t n_layers, const Py_ssize_t *w_off,
                   const Py_ssize_t *b_off, Py_ssize_t m, floating **acts,
                   floating *delta, floating *spare, floating w_scale,
                   floating step) noexcept nogil:
    """Back-propagate delta (the output layer's, (m, sizes[-1])) through
    the network whose forward pass left its activations in acts.

    If grad is not NULL, the gradients summed over the m examples are
    written into grad (theta's layout) and theta is left alone.
    Otherwise theta is updated in place by eqs. (93)-(94):
        W <- w_scale * W - step * sum_x dC_x/dW,  b <- b - step * sum_x dC_x/db
    with w_scale = 1 - eta*lambda/n and step = eta/m.  Layer l's delta for
    the layer below is computed from W_l before W_l changes, so the result
    is the same as computing every gradient first.
    """
    cdef Py_ssize_t l, i, j, n_in, n_out
    cdef floating s
    cdef floating *b
    cdef floating *tmp
    for l in range(n_layers - 1, 0, -1):
        n_in = sizes[l - 1]
        n_out = sizes[l]
        # bias: the column sums of delta
        b = (grad if grad != NULL else theta) + b_off[l - 1]
        for j in range(n_out):
            s = 0
            for i in range(m):
                s = s + delta[i * n_out + j]
            if grad != NULL:
                b[j] = s
            else:
                b[j] = b[j] - step * s
        if l > 1:
            # delta_prev = (delta . W) * sigma'(z_prev)
            gemm(c'N', c'N', <int> m, <int> n_in, <int> n_out, <floating> 1.0,
                 delta, <int> n_out, theta + w_off[l - 1], <int> n_in,
                 <floating> 0.0, spare, <int> n_in)
            times_sigmoid_prime(spare, acts[l - 1], m * n_in)
        # weights: delta^T . A_prev, summed over the m rows by the product
        if grad != NULL:
            gemm(c'T', c'N', <int> n_out, <int> n_in, <int> m, <floating> 1.0,
                 delta, <int> n_out, acts[l - 1], <int> n_in, <floating> 0.0,
                 grad + w_off[l - 1], <int> n_in)
        else:
            gemm(c'T', c'N', <int> n_out, <int> n_in, <int> m, -step,
                 delta, <int> n_out, acts[l - 1], <int> n_in, w_scale,
                 theta + w_off[l - 1], <int> n_in)
        tmp = delta
        delta = spare
        spare = tmp


# ---------------------------------------------------------------------------
# Python-facing entry points.  They check what would make the C code read or
# write out of bounds, then release the GIL for all of the work.

cdef class _Layout:
    """Offsets of each layer's weights and biases in theta, plus the
    workspace (activations and two delta buffers) for `rows` examples."""
    cdef Py_ssize_t n_layers, n_params, max_width, act_total
    cdef Py_ssize_t[::1] sizes, w_off, b_off

    def __cinit__(self, sizes):
        cdef Py_ssize_t l, off = 0
        sz = np.ascontiguousarray(sizes, dtype=np.intp)
        if sz.ndim != 1 or sz.shape[0] < 2:
            raise ValueError("sizes must list at least two layer widths")
        if (sz < 1).any():
            raise ValueError(f"every layer width must be at least 1, got {list(sz)}")
        self.sizes = sz
        self.n_layers = sz.shape[0]
        self.w_off = np.empty(self.n_layers - 1, dtype=np.intp)
        self.b_off = np.empty(self.n_layers - 1, dtype=np.intp)
        for l in range(self.n_layers - 1):
            self.w_off[l] = off
            off += sz[l + 1] * sz[l]
        for l in range(self.n_layers - 1):
            self.b_off[l] = off
            off += sz[l + 1]
        self.n_params = off
        self.max_width = int(sz[1:].max())
        self.act_total = int(sz.sum())


cdef Py_ssize_t _n_params(sizes) except -1:
    return _Layout(sizes).n_params


def n_params(sizes):
    """Length of the flat parameter buffer for a network of these sizes."""
    return _n_params(sizes)


cdef _check_theta(_Layout lay, Py_ssize_t n):
    if n != lay.n_params:
        raise ValueError(f"theta has {n} entries; sizes {list(lay.sizes)} "
                         f"need {lay.n_params}")


cdef _check_rows(_Layout lay, Py_ssize_t n_cols, Py_ssize_t layer, str what):
    if n_cols != lay.sizes[layer]:
        raise ValueError(f"{what} has {n_cols} columns; layer {layer} of the "
                         f"network has {lay.sizes[layer]} neurons")


def feedforward(const floating[::1] theta, sizes, const floating[:, ::1] X,
                floating[:, ::1] out, floating[:, ::1] z_out=None):
    """Write the network's outputs for the rows of X into out, (n, sizes[-1]).
    If z_out is given it receives the output layer's weighted inputs z."""
    cdef _Layout lay = _Layout(sizes)
    cdef Py_ssize_t n = X.shape[0], L = lay.n_layers
    cdef Py_ssize_t n_out = lay.sizes[L - 1]
    cdef Py_ssize_t start, rows, l, off
    _check_theta(lay, theta.shape[0])
    _check_rows(lay, X.shape[1], 0, "X")
    if out.shape[0] != n or out.shape[1] != n_out:
        raise ValueError(f"out must have shape ({n}, {n_out})")
    if z_out is not None and (z_out.shape[0] != n or z_out.shape[1] != n_out):
        raise ValueError(f"z_out must have shape ({n}, {n_out})")
    if n == 0:
        return
    cdef Py_ssize_t block = min(n, FORWARD_BLOCK)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] work = np.empty(block * lay.act_total, dtype=dtype)
    cdef floating *acts[64]
    if L > 64:
        raise ValueError("at most 64 layers are supported")
    cdef floating *zp = NULL
    cdef bint want_z = z_out is not None
    with nogil:
        off = 0
        for l in range(1, L):
            acts[l] = &work[off]
            off += block * lay.sizes[l]
        start = 0
        while start < n:
            rows = min(block, n - start)
            zp = &z_out[start, 0] if want_z else NULL
            forward(&theta[0], &lay.sizes[0], L, &lay.w_off[0], &lay.b_off[0],
                    &X[start, 0], rows, acts, zp)
            memcpy(&out[start, 0], acts[L - 1], rows * n_out * sizeof(floating))
            start += rows


def backprop(const floating[::1] theta, sizes, const floating[:, ::1] X,
             const floating[:, ::1] Y, int cost, floating[::1] grad):
    """Gradients of the cost summed over the rows of X (targets Y), as
    matrix products over the whole mini-batch, written into grad (theta's
    layout)."""
    cdef _Layout lay = _Layout(sizes)
    cdef Py_ssize_t m = X.shape[0], L = lay.n_layers, l, off
    _check_theta(lay, theta.shape[0])
    _check_theta(lay, grad.shape[0])
    _check_rows(lay, X.shape[1], 0, "X")
    _check_rows(lay, Y.shape[1], L - 1, "Y")
    if Y.shape[0] != m:
        raise ValueError(f"X has {m} rows but Y has {Y.shape[0]}")
    if cost not in (_QUADRATIC, _CROSS_ENTROPY):
        raise ValueError(f"unknown cost code {cost}")
    if L > 64:
        raise ValueError("at most 64 layers are supported")
    if m == 0:
        grad[:] = 0
        return
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] work = np.empty(m * (lay.act_total + 2 * lay.max_width),
                                       dtype=dtype)
    cdef floating *acts[64]
    cdef floating *delta
    cdef floating *spare
    with nogil:
        acts[0] = <floating *> &X[0, 0]
        off = 0
        for l in range(1, L):
            acts[l] = &work[off]
            off += m * lay.sizes[l]
        delta = &work[off]
        spare = delta + m * lay.max_width
        forward(&theta[0], &lay.sizes[0], L, &lay.w_off[0], &lay.b_off[0],
                &X[0, 0], m, acts, NULL)
        output_delta(delta, acts[L - 1], &Y[0, 0], NULL, m, lay.sizes[L - 1], cost)
        backward(<floating *> &theta[0], &grad[0], &lay.sizes[0], L,
                 &lay.w_off[0], &lay.b_off[0], m, acts, delta, spare, 1, 0)


def sgd_epoch(floating[::1] theta, sizes, const floating[:, ::1] X,
              const floating[:, ::1] Y, const Py_ssize_t[::1] order,
              Py_ssize_t mini_batch_size, double eta, double lmbda,
              Py_ssize_t n, int cost):
    """One epoch of mini-batch SGD with L2 weight decay, in place on theta.

    The mini-batches are order[k : k + mini_batch_size] for k = 0,
    mini_batch_size, ...; the last may be shorter, and its own size m is
    used in its update.  n is the size of the training set (for the decay
    factor 1 - eta*lmbda/n).  Nothing returns to Python between
    mini-batches.
    """
    cdef _Layout lay = _Layout(sizes)
    cdef Py_ssize_t N = X.shape[0], L = lay.n_layers, n_in = lay.sizes[0]
    cdef Py_ssize_t total = order.shape[0], mbs = mini_batch_size
    cdef Py_ssize_t k, m, i, l, off
    _check_theta(lay, theta.shape[0])
    _check_rows(lay, X.shape[1], 0, "X")
    _check_rows(lay, Y.shape[1], L - 1, "Y")
    if Y.shape[0] != N:
        raise ValueError(f"X has {N} rows but Y has {Y.shape[0]}")
    if mbs < 1:
        raise ValueError(f"mini_batch_size must be at least 1, got {mbs}")
    if cost not in (_QUADRATIC, _CROSS_ENTROPY):
        raise ValueError(f"unknown cost code {cost}")
    if L > 64:
        raise ValueError("at most 64 layers are supported")
    if total == 0:
        return
    if n < 1:
        raise ValueError(f"n (the training set size) must be at least 1, got {n}")
    order_arr = np.asarray(order)
    if order_arr.min() < 0 or order_arr.max() >= N:
        raise IndexError(f"order holds indices outside [0, {N})")
    mbs = min(mbs, total)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] work = np.empty(mbs * (lay.act_total + 2 * lay.max_width),
                                       dtype=dtype)
    cdef floating *acts[64]
    cdef floating *delta
    cdef floating *spare
    cdef floating w_scale = <floating> (1.0 - eta * lmbda / n)
    with nogil:
        off = 0
        for l in range(L):
            acts[l] = &work[off]
            off += mbs * lay.sizes[l]
        delta = &work[off]
        spare = delta + mbs * lay.max_width
        k = 0
        while k < total:
            m = min(mbs, total - k)
            # gather the mini-batch's rows once; BLAS then reads them from cache
            for i in range(m):
                memcpy(acts[0] + i * n_in, &X[order[k + i], 0],
                       n_in * sizeof(floating))
            forward(&theta[0], &lay.sizes[0], L, &lay.w_off[0], &lay.b_off[0],
                    acts[0], m, acts, NULL)
            output_delta(delta, acts[L - 1], &Y[0, 0], &order[k], m,
                         lay.sizes[L - 1], cost)
            backward(&theta[0], NULL, &lay.sizes[0], L, &lay.w_off[0],
                     &lay.b_off[0], m, acts, delta, spare, w_scale,
                     <floating> (eta / m))
            k += m


def blas_only_epoch(floating[::1] theta, sizes, const floating[:, ::1] X,
                    Py_ssize_t mini_batch_size):
    """Benchmark aid: only the matrix products of one SGD epoch over the
    rows of X, with the same shapes as sgd_epoch (forward: A.W^T per
    layer; backward: delta.W per hidden layer and delta^T.A per layer),
    and none of the element-wise work, gathering or updating.  The time it
    takes is the floor that BLAS sets for an epoch.  theta is left with
    meaningless values in its weights (the products write into them)."""
    cdef _Layout lay = _Layout(sizes)
    cdef Py_ssize_t N = X.shape[0], L = lay.n_layers
    cdef Py_ssize_t k, m, l, off, mbs = mini_batch_size
    cdef int n_in, n_out
    _check_theta(lay, theta.shape[0])
    _check_rows(lay, X.shape[1], 0, "X")
    if mbs < 1:
        raise ValueError(f"mini_batch_size must be at least 1, got {mbs}")
    if L > 64:
        raise ValueError("at most 64 layers are supported")
    if N == 0:
        return
    mbs = min(mbs, N)
    dtype = np.float32 if floating is float else np.float64
    cdef floating[::1] work = np.zeros(mbs * (lay.act_total + 2 * lay.max_width),
                                       dtype=dtype)
    cdef floating[::1] grad = np.zeros(lay.n_params, dtype=dtype)
    cdef floating *acts[64]
    cdef floating *delta
    cdef floating *spare
    with nogil:
        off = 0
        for l in range(L):
            acts[l] = &work[off]
            off += mbs * lay.sizes[l]
        delta = &work[off]
        spare = delta + mbs * lay.max_width
        k = 0
        while k < N:
            m = min(mbs, N - k)
            acts[0] = <floating *> &X[k, 0]
            for l in range(1, L):
                n_in = <int> lay.sizes[l - 1]
                n_out = <int> lay.sizes[l]
                gemm(c'N', c'T', <int> m, n_out, n_in, <floating> 1.0, acts[l - 1],
                     n_in, &theta[lay.w_off[l - 1]], n_in, <floating> 0.0,
                     acts[l], n_out)
            for l in range(L - 1, 0, -1):
                n_in = <int> lay.sizes[l - 1]
                n_out = <int> lay.sizes[l]
                if l > 1:
                    gemm(c'N', c'N', <int> m, n_in, n_out, <floating> 1.0, delta,
                         n_out, &theta[lay.w_off[l - 1]], n_in, <floating> 0.0,
                         spare, n_in)
                gemm(c'T', c'N', n_out, n_in, <int> m, <floating> 1.0, delta,
                     n_out, acts[l - 1], n_in, <floating> 0.0,
                     &grad[lay.w_off[l - 1]], n_in)
            k += m
