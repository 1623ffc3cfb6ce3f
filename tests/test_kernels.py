"""The core's own product and sigmoid kernels against NumPy and BLAS.

Where the CPU has AVX-512 the core computes some products with its own
kernels (and holds a narrow first layer's weights transposed during an
epoch); ``_core.set_kernels("blas")`` sends every product to BLAS instead.
Both ways must train the same network, up to rounding.
"""

import contextlib

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from nncore import _core

HAVE_OWN = _core.kernels() == "avx512"
needs_own = pytest.mark.skipif(not HAVE_OWN, reason="this CPU lacks AVX-512")
TOL = {np.float64: 1e-12, np.float32: 2e-5}


@contextlib.contextmanager
def kernels(name):
    previous = _core.set_kernels(name)
    try:
        yield
    finally:
        _core.set_kernels(previous if previous == "blas" else "auto")


def test_kernel_choice_is_reported_and_validated():
    assert _core.kernels() in ("avx512", "blas")
    with kernels("blas"):
        assert _core.kernels() == "blas"
    assert _core.kernels() == ("avx512" if HAVE_OWN else "blas")
    with pytest.raises(ValueError, match='"auto" or "blas"'):
        _core.set_kernels("fast")
    A = np.zeros((2, 3))
    with pytest.raises(ValueError, match="shapes do not match"):
        _core.product(1.0, A, False, np.zeros((2, 2)), 0.0, np.zeros((2, 2)))
    with pytest.raises(ValueError, match='"auto", "own" or "blas"'):
        _core.product(1.0, A, False, np.zeros((3, 2)), 0.0, np.zeros((2, 2)), kernel="x")


@needs_own
@settings(max_examples=150, deadline=None)
@given(P=st.integers(1, 16), Q=st.integers(1, 31), N=st.integers(1, 40),
       transpose=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       alpha=st.sampled_from([1.0, -0.25, 0.0]), beta=st.sampled_from([0.0, 1.0, 0.9]),
       seed=st.integers(0, 2**32 - 1))
def test_tiny_product_skips_blas(P, Q, N, transpose, dtype, alpha, beta, seed):
    """Products of at most 4096 multiply-adds that our tiles do not take
    (sums shorter than 32) go to the small product instead of BLAS: its
    values, C not read where beta is 0, A and R not read where alpha is 0."""
    assume(P * Q * N <= 4096)
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((Q, P) if transpose else (P, Q)).astype(dtype)
    R = rng.standard_normal((Q, N)).astype(dtype)
    if alpha == 0:
        A[...] = np.nan
        R[...] = np.nan
    C0 = rng.standard_normal((P, N)).astype(dtype)
    C = C0.copy() if beta != 0 else np.full((P, N), np.nan, dtype=dtype)
    _core.product(alpha, A, transpose, R, beta, C, kernel="auto")
    expected = beta * C0.astype(np.float64)
    if alpha != 0:
        op = A.T if transpose else A
        expected = expected + alpha * (op.astype(np.float64) @ R.astype(np.float64))
    scale = max(1.0, np.abs(expected).max()) * Q ** 0.5
    assert np.all(np.isfinite(C))
    np.testing.assert_allclose(C, expected, rtol=0, atol=TOL[dtype] * scale * 10)


@needs_own
@settings(max_examples=150, deadline=None)
@given(P=st.integers(0, 300), Q=st.integers(0, 300), N=st.integers(0, 140),
       transpose=st.booleans(), dtype=st.sampled_from([np.float64, np.float32]),
       alpha=st.sampled_from([1.0, -0.25]), beta=st.sampled_from([0.0, 1.0, 0.9]),
       kernel=st.sampled_from(["own", "blas", "auto"]), seed=st.integers(0, 2**32 - 1))
def test_product_matches_numpy(P, Q, N, transpose, dtype, alpha, beta, kernel, seed):
    """Every tile height and width, masked tails, sums split into blocks,
    and both readings of S (A and A^T)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((Q, P) if transpose else (P, Q)).astype(dtype)
    R = rng.standard_normal((Q, N)).astype(dtype)
    C0 = rng.standard_normal((P, N)).astype(dtype)
    # C between two guard rows, which must not be written; with beta = 0,
    # C is NaN and must not be read
    buf = np.full((P + 2, N), 7.0, dtype=dtype)
    C = buf[1:P + 1]
    C[...] = C0 if beta != 0 else np.nan
    _core.product(alpha, A, transpose, R, beta, C, kernel=kernel)
    op = A.T if transpose else A
    expected = alpha * (op.astype(np.float64) @ R.astype(np.float64)) + beta * C0
    scale = max(1.0, np.abs(expected).max(initial=0.0)) * max(Q, 1) ** 0.5
    assert np.all(buf[0] == 7.0) and np.all(buf[-1] == 7.0)
    assert np.all(np.isfinite(C))
    np.testing.assert_allclose(C, expected, rtol=0, atol=TOL[dtype] * scale * 10)


@needs_own
def test_product_reads_strided_rows_in_place():
    """A view with a longer row (a sub-block of a larger array) needs no copy."""
    rng = np.random.default_rng(1)
    big = rng.standard_normal((50, 90))
    R = rng.standard_normal((50, 30))
    C = np.zeros((70, 30))
    _core.product(1.0, np.ascontiguousarray(big[:, :70]), True, R, 0.0, C, kernel="own")
    np.testing.assert_allclose(C, big[:, :70].T @ R, rtol=1e-12, atol=1e-12)


@needs_own
@settings(max_examples=120, deadline=None)
@given(P=st.integers(1, 40), Q=st.integers(0, 400), N=st.integers(1, 140),
       share=st.sampled_from([0.0, 0.2, 0.7, 1.0]),
       dtype=st.sampled_from([np.float64, np.float32]), beta=st.sampled_from([0.0, 0.5]),
       seed=st.integers(0, 2**32 - 1))
def test_product_over_listed_inputs(P, Q, N, share, dtype, beta, seed):
    """Layer 1's forward product over the inputs not zero in a mini-batch:
    the sum over the listed q only (more than one block of the sum when
    over 128 are listed), R read at the listed rows; the terms left out
    may be anything, even NaN."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((P, Q)).astype(dtype)
    R = rng.standard_normal((Q, N)).astype(dtype)
    inputs = np.flatnonzero(rng.random(Q) < share).astype(np.intc)
    others = np.setdiff1d(np.arange(Q), inputs)
    A[:, others] = np.nan
    R[others] = np.inf
    C0 = rng.standard_normal((P, N)).astype(dtype)
    buf = np.full((P + 2, N), 7.0, dtype=dtype)
    C = buf[1:P + 1]
    C[...] = C0 if beta != 0 else np.nan
    _core.product(-0.5, A, False, R, beta, C, kernel="own", inputs=inputs)
    f64 = np.float64
    expected = -0.5 * (A[:, inputs].astype(f64) @ R[inputs].astype(f64)) + beta * C0
    scale = max(1.0, np.abs(expected).max(initial=0.0)) * max(len(inputs), 1) ** 0.5
    assert np.all(buf[0] == 7.0) and np.all(buf[-1] == 7.0)
    np.testing.assert_allclose(C, expected, rtol=0, atol=TOL[dtype] * scale * 10)


@needs_own
def test_product_over_listed_inputs_checks_its_list():
    A, R, C = np.ones((2, 5)), np.ones((5, 3)), np.zeros((2, 3))
    for bad in ([1, 1], [3, 2], [5], [-1]):
        with pytest.raises(ValueError, match="ascending"):
            _core.product(1.0, A, False, R, 0.0, C, kernel="own",
                          inputs=np.array(bad, np.intc))
    with pytest.raises(ValueError, match="transpose_a=False"):
        _core.product(1.0, A.T.copy(), True, R, 0.0, C, kernel="own",
                      inputs=np.array([0], np.intc))
    with pytest.raises(ValueError, match='kernel="own"'):
        _core.product(1.0, A, False, R, 0.0, C, inputs=np.array([0], np.intc))
    assert np.all(C == 0)


@needs_own
@settings(max_examples=120, deadline=None)
@given(P=st.integers(1, 200), N=st.integers(1, 90), m=st.integers(1, 12),
       dtype=st.sampled_from([np.float64, np.float32]),
       rule=st.sampled_from(["plain", "momentum", "nesterov"]),
       seed=st.integers(0, 2**32 - 1))
def test_step_forward_matches_numpy(P, N, m, dtype, rule, seed):
    """The fused step of a transposed first layer and the next mini-batch's
    forward product: W <- beta W + alpha XT . D (or momentum's step, with
    velocities), then Z = XTn^T . W from the new W; every row count against
    the kernel's groups of rows, masked tails."""
    rng = np.random.default_rng(seed)
    XT, XTn = (rng.standard_normal((P, m)).astype(dtype) for _ in range(2))
    D = rng.standard_normal((m, N)).astype(dtype)
    W0 = rng.standard_normal((P, N)).astype(dtype)
    V0 = rng.standard_normal((P, N)).astype(dtype)
    W, Z = W0.copy(), np.full((m, N), np.nan, dtype=dtype)   # Z is not read
    V = None if rule == "plain" else V0.copy()
    mu = 0.7
    _core.step_forward(-0.3, XT, D, 0.99, XTn, W, Z, V, mu, rule == "nesterov")
    f64 = np.float64
    G = XT.astype(f64) @ D.astype(f64)
    if rule == "plain":
        W_exp = 0.99 * W0.astype(f64) - 0.3 * G
    else:   # v' = mu v - (eta/m) G - (eta l2/n) w, with eta/m = 0.3 and eta l2/n = 0.01
        V_exp = mu * V0.astype(f64) - 0.3 * G - 0.01 * W0.astype(f64)
        a, b = (1 + mu, mu) if rule == "nesterov" else (1.0, 0.0)
        W_exp = W0.astype(f64) + a * V_exp - b * V0.astype(f64)
        np.testing.assert_allclose(V, V_exp, rtol=0, atol=TOL[dtype] * 40 * m ** 0.5)
    Z_exp = XTn.astype(f64).T @ W.astype(f64)     # from the W it wrote
    np.testing.assert_allclose(W, W_exp, rtol=0, atol=TOL[dtype] * 40 * m ** 0.5)
    np.testing.assert_allclose(Z, Z_exp, rtol=0,
                               atol=TOL[dtype] * 10 * np.abs(Z_exp).max() * P ** 0.5)


@needs_own
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("P,N", [(200, 40), (200, 100), (784, 500)])
@pytest.mark.parametrize("rule", ["plain", "momentum", "listed rows"])
def test_step_forward_in_groups_of_columns_changes_no_value(P, N, dtype, rule):
    """At mini-batch 1, rows of W wider than 4 vectors go down in groups of
    4 columns (784 by 500: in blocks of rows, the next fetched meanwhile):
    the same operations in the same order as the passes column by column,
    bit for bit."""
    rng = np.random.default_rng(P + N)
    XT, XTn = (rng.standard_normal((P, 1)).astype(dtype) for _ in range(2))
    D = rng.standard_normal((1, N)).astype(dtype)
    W0, V0 = (rng.standard_normal((P, N)).astype(dtype) for _ in range(2))
    rows = np.flatnonzero(rng.random(P) < 0.4).astype(np.intc)
    out = []
    for on in (False, True):
        W, Z, V = W0.copy(), np.full((1, N), np.nan, dtype=dtype), V0.copy()
        before = _core._set_wide_groups(on)
        try:
            if rule == "plain":
                _core.step_forward(-0.3, XT, D, 0.99, XTn, W, Z)
            elif rule == "momentum":
                _core.step_forward(-0.3, XT, D, 0.99, XTn, W, Z, V, 0.7)
            else:
                _core.step_forward(-0.3, XT, D, 1.0, XTn, W, Z, rows=rows)
        finally:
            _core._set_wide_groups(before)
        out.append((W, Z, V))
    assert not np.array_equal(out[0][0], W0)
    for a, b in zip(*out):
        np.testing.assert_array_equal(a, b)


@needs_own
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("sizes", [[60, 30, 4], [60, 100, 4]], ids=["30", "100"])
@pytest.mark.parametrize("mbs,threads,kw", [(1, 1, {}), (2, 1, {}), (1, 1, dict(mu=0.8)),
                                            (1, 1, dict(lmbda=0.0)), (1, 2, {}),
                                            (1, 1, dict(inf=True))])
def test_whole_last_vectors_in_the_padding_change_no_value(dtype, sizes, mbs, threads, kw):
    """The fused step's groups of columns load and store a row's last,
    partial vector whole, into the working copy's padding (30 of 32 lanes
    in float32, 30 of 32 and 100 of 104 in float64): the same epochs bit
    for bit, sparse and dense, with momentum, on two threads, and with an
    infinite input (NaN and infinities where they were)."""
    rng = np.random.default_rng(sum(sizes) + mbs)
    n = 80
    X = rng.random((n, sizes[0])).astype(dtype)
    X[rng.random(X.shape) < 0.7] = 0
    if kw.get("inf"):
        X[5, 3] = np.inf
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], n)]
    theta0 = np.concatenate(
        [rng.standard_normal(a * b) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
        + [rng.standard_normal(b) for b in sizes[1:]]).astype(dtype)
    order = rng.permutation(n).astype(np.intp)
    out = []
    for on in (False, True):
        theta = theta0.copy()
        extra = {}
        if "mu" in kw:
            extra = dict(mu=kw["mu"], velocity=np.zeros_like(theta))
        before = _core._set_unmasked_rows(on)
        try:
            ret = _core.sgd_epoch(theta, sizes, X, Y, order, mbs, 0.5, kw.get("lmbda", 5.0),
                                  n, _core.COST_CROSS_ENTROPY, threads=threads, **extra)
        finally:
            _core._set_unmasked_rows(before)
        out.append((theta, ret, extra.get("velocity")))
    (a, ra, va), (b, rb, vb) = out
    assert ra == rb
    assert not np.array_equal(a, theta0)
    np.testing.assert_array_equal(a, b)
    if va is not None:
        np.testing.assert_array_equal(va, vb)


@needs_own
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("P,N,m,share", [(40, 24, 1, 0.3), (97, 70, 3, 0.5), (784, 300, 10, 0.6),
                                         (784, 600, 1, 0.3), (50, 17, 12, 1.0), (30, 9, 2, 0.0)])
def test_step_forward_over_listed_rows(P, N, m, share, dtype):
    """The sparse steps' kernel: only the listed rows of W are stepped and
    summed over (in blocks with the next block fetched where W is larger
    than the L2's share), the others are left as they are, bit for bit."""
    rng = np.random.default_rng(P + N + m)
    XT, XTn = (rng.standard_normal((P, m)).astype(dtype) for _ in range(2))
    D = rng.standard_normal((m, N)).astype(dtype)
    W0 = rng.standard_normal((P, N)).astype(dtype)
    rows = np.flatnonzero(rng.random(P) < share).astype(np.intc)
    W, Z = W0.copy(), np.full((m, N), np.nan, dtype=dtype)
    _core.step_forward(-0.3, XT, D, 1.0, XTn, W, Z, rows=rows)
    f64 = np.float64
    W_exp = W0.astype(f64)
    W_exp[rows] -= 0.3 * (XT[rows].astype(f64) @ D.astype(f64))
    others = np.setdiff1d(np.arange(P), rows)
    np.testing.assert_array_equal(W[others], W0[others])
    np.testing.assert_allclose(W, W_exp, rtol=0, atol=TOL[dtype] * 40 * m ** 0.5)
    Z_exp = XTn[rows].astype(f64).T @ W[rows].astype(f64)
    np.testing.assert_allclose(Z, Z_exp, rtol=0,
                               atol=TOL[dtype] * 10 * max(np.abs(Z_exp).max(), 1) * P ** 0.5)
    with pytest.raises(ValueError, match="ascending"):
        _core.step_forward(-0.3, XT, D, 1.0, XTn, W, Z, rows=np.array([1, 1], np.intc))
    with pytest.raises(ValueError, match="ascending"):
        _core.step_forward(-0.3, XT, D, 1.0, XTn, W, Z, rows=np.array([P], np.intc))
    with pytest.raises(ValueError, match="plain steps only"):
        _core.step_forward(-0.3, XT, D, 1.0, XTn, W, Z, np.zeros_like(W), rows=rows)


@needs_own
@settings(max_examples=150, deadline=None)
@given(P=st.integers(1, 100), share=st.sampled_from([0.0, 0.2, 0.9, 1.0]),
       dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**32 - 1))
def test_sparse_listing(P, share, dtype, seed):
    """A sparse step's listing (at mini-batch 1, of one row and the next):
    the inputs not zero in one of the rows (NaN and infinities count, -0.0
    does not), over whole and partial blocks of lanes, and nothing written
    past the P ints of room its callers give it."""
    rng = np.random.default_rng(seed)
    for m in (2, 1, 7):
        X = np.where(rng.random((m, P)) < share / m, rng.standard_normal((m, P)),
                     0.0).astype(dtype)
        special = rng.integers(0, P, 3)
        X[0, special[0]] = np.nan
        X[-1, special[1]] = -np.inf
        X[0, special[2]], X[-1, special[2]] = -0.0, 0.0
        count, idx = _core.list_nonzero(X)
        want = np.flatnonzero(((X != 0) | np.isnan(X)).any(axis=0))
        assert count == len(want)
        np.testing.assert_array_equal(idx[:count], want)
        assert np.all(idx[P:] == -7)
    with pytest.raises(ValueError, match="rows"):
        _core.list_nonzero(np.zeros((25, P), dtype))


def _greedy_groups(X, window, height=4):
    """nncore_group_rows written plainly: in each window, a tile starts with
    the first row left and adds, height - 1 times, the first of the rows
    left that adds the fewest inputs (not zero, or NaN) to its union."""
    support = (X != 0) | np.isnan(X)
    order = []
    for w0 in range(0, len(X), window):
        left = list(range(w0, min(w0 + window, len(X))))
        while left:
            tile = [left.pop(0)]
            union = support[tile[0]].copy()
            while len(tile) < height and left:
                adds = [np.count_nonzero(support[i] & ~union) for i in left]
                tile.append(left.pop(int(np.argmin(adds))))
                union |= support[tile[-1]]
            order += tile
    return np.array(order)


@needs_own
@settings(max_examples=150, deadline=None)
@given(m=st.integers(1, 140), P=st.integers(1, 1024), share=st.sampled_from([0.0, 0.1, 0.5, 1.0]),
       window=st.sampled_from([1, 4, 9, 63, 100, 1000]), scalar=st.booleans(),
       dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**32 - 1))
def test_rows_grouped_into_tiles_of_similar_inputs(m, P, share, window, scalar, dtype, seed):
    """The order one thread takes a mini-batch's rows in for layer 1's
    tiles: the greedy grouping exactly (NaN counts as an input, -0.0 does
    not), with the vector or the scalar population count, a permutation
    that keeps each window's rows in it; rows with no zero keep their
    order."""
    rng = np.random.default_rng(seed)
    # rows of a few kinds, each kind's inputs in a band of its own
    kind = rng.integers(0, 4, m)
    band = (np.arange(P)[None, :] * 4 // P) == kind[:, None]
    X = np.where(band & (rng.random((m, P)) < 0.7) | (rng.random((m, P)) < share),
                 rng.random((m, P)) + 0.1, 0.0)
    X[rng.integers(0, m), rng.integers(0, P)] = np.nan
    X[rng.integers(0, m), rng.integers(0, P)] = -0.0
    X = X.astype(dtype)
    _core._set_group_scalar(scalar)
    try:
        perm = _core.group_order(X, window)
    finally:
        _core._set_group_scalar(False)
    np.testing.assert_array_equal(perm, _greedy_groups(X, max(window, 4)))
    for w0 in range(0, m, max(window, 4)):
        part = perm[w0:w0 + max(window, 4)]
        np.testing.assert_array_equal(np.sort(part), np.arange(w0, w0 + len(part)))
    dense = _core.group_order(np.ones((m, P), dtype), window)
    np.testing.assert_array_equal(dense, np.arange(m))


def test_grouping_rejects_what_it_cannot_take():
    if not HAVE_OWN:
        with pytest.raises(RuntimeError, match="lacks AVX-512"):
            _core.group_order(np.ones((4, 8)), 4)
        return
    with pytest.raises(ValueError, match="1 to 1024 columns"):
        _core.group_order(np.ones((4, 1025)), 4)
    with pytest.raises(ValueError, match="at least one row"):
        _core.group_order(np.ones((0, 8)), 4)
    with pytest.raises(ValueError, match="at least 1 row"):
        _core.group_order(np.ones((4, 8)), 0)


@needs_own
def test_grouping_shortens_the_tiles_lists_on_mnist(mnist_path):
    """On MNIST the tiles of 4 images sum over fewer inputs grouped (257 on
    average in mini-batches of 100) than in the shuffled order (307)."""
    import gzip
    import pickle

    with gzip.open(mnist_path) as f:
        train = pickle.load(f, encoding="latin1")[0][0][:3000]
    order = np.random.default_rng(0).permutation(len(train))

    def mean_union(rows):
        return np.mean([np.count_nonzero((rows[i:i + 4] != 0).any(axis=0))
                        for i in range(0, len(rows), 4)])

    plain, grouped = [], []
    for k in range(0, len(train), 100):
        batch = np.ascontiguousarray(train[order[k:k + 100]])
        plain.append(mean_union(batch))
        grouped.append(mean_union(batch[_core.group_order(batch, 100)]))
    assert np.mean(grouped) < 0.9 * np.mean(plain)


@needs_own
@settings(max_examples=100, deadline=None)
@given(m=st.integers(1, 16), n=st.integers(1, 70),
       dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**32 - 1))
def test_packing_rows_by_input(m, n, dtype, seed):
    """The fused steps' packing, a transpose in registers: X^T exactly, over
    whole and partial blocks of inputs and groups of rows, nothing written
    past it."""
    X = np.random.default_rng(seed).standard_normal((m, n)).astype(dtype)
    out = _core.pack_rows(X)
    np.testing.assert_array_equal(out[: m * n], X.T.ravel())
    assert np.all(out[m * n:] == -7)
    with pytest.raises(ValueError, match="1 to 16 rows"):
        _core.pack_rows(np.zeros((17, 3), dtype))


@contextlib.contextmanager
def listing(tiles, min_vectors=1):
    before = _core._listed_forward_min()
    _core._set_tile_lists(tiles)
    _core._set_listed_forward_min(min_vectors)
    try:
        yield
    finally:
        _core._set_tile_lists(True)
        _core._set_listed_forward_min(before)


@needs_own
@settings(max_examples=150, deadline=None)
@given(m=st.integers(1, 40), P=st.integers(1, 120), N=st.integers(1, 150),
       share=st.sampled_from([0.0, 0.05, 0.3, 1.0]), tiles=st.booleans(),
       dtype=st.sampled_from([np.float64, np.float32]), seed=st.integers(0, 2**32 - 1))
def test_listed_forward_product(m, P, N, share, tiles, dtype, seed):
    """Layer 1's forward product over the inputs not zero in each tile of
    rows (or in the whole mini-batch): X . W up to rounding, over tiles of
    every height and blocks of every width; taken wherever some input is
    zero throughout, and by tiles only where they may be."""
    rng = np.random.default_rng(seed)
    X = np.where(rng.random((m, P)) < share, rng.random((m, P)), 0.0).astype(dtype)
    W = rng.standard_normal((P, N)).astype(dtype)
    with listing(tiles):
        Z, path = _core.listed_forward(X, W)
    if (X == 0).all(axis=0).any():
        assert path is not None
    assert path in ((None, "tiles", "mini-batch") if tiles else (None, "mini-batch"))
    if path:
        want = X.astype(np.float64) @ W.astype(np.float64)
        scale = np.abs(X).astype(np.float64) @ np.abs(W).astype(np.float64)
        assert np.all(np.abs(Z - want) <= 4 * TOL[dtype] * (scale + 1e-30))


@needs_own
@settings(max_examples=150, deadline=None)
@given(m=st.integers(1, 40), P=st.integers(1, 120), N=st.integers(1, 150),
       share=st.sampled_from([0.0, 0.05, 0.3, 1.0]), tiles=st.booleans(),
       beta=st.sampled_from([0.0, 1.0, 0.97]), dtype=st.sampled_from([np.float64, np.float32]),
       seed=st.integers(0, 2**32 - 1))
def test_listed_weight_gradient(m, P, N, share, tiles, beta, dtype, seed):
    """Layer 1's weight gradient by the forward product's tiles and their
    lists (or by the mini-batch's list): beta C + alpha X^T . D up to
    rounding, C's rows of inputs zero throughout scaled by beta alone, and
    C not read when beta is 0."""
    rng = np.random.default_rng(seed)
    X = np.where(rng.random((m, P)) < share, rng.random((m, P)), 0.0).astype(dtype)
    D = rng.standard_normal((m, N)).astype(dtype)
    C0 = rng.standard_normal((P, N)).astype(dtype)
    C = np.full_like(C0, np.nan) if beta == 0 else C0.copy()
    with listing(tiles):
        path = _core.listed_forward(X, np.zeros((P, N), dtype), D, C, -0.3, beta)[1]
    if not tiles:
        assert path != "tiles"
    elif share == 0.05 and m >= 24 and P >= 40:   # (tiles' lists half the batch's)
        assert path == "tiles"
    want = beta * C0.astype(np.float64) - 0.3 * (X.T.astype(np.float64) @ D)
    scale = beta * np.abs(C0) + 0.3 * (np.abs(X.T).astype(np.float64) @ np.abs(D))
    assert np.all(np.abs(C - want) <= 4 * TOL[dtype] * (scale + 1e-30))
    zero = (X == 0).all(axis=0)
    np.testing.assert_array_equal(C[zero], (dtype(beta) * C0[zero]) if beta else 0)


@needs_own
@pytest.mark.parametrize("tiles", [True, False])
def test_listed_forward_product_declines_infinite_weights(tiles):
    """A weight that is not finite, of an input zero in some rows: the dense
    product has NaN there (0 times infinity), so the listed one declines
    where it would leave the input out of some sums: zero throughout the
    mini-batch, or (tiles) in some tiles of rows only; the mini-batch's
    list keeps such an input in every sum, and so the dense NaN.  Rows too
    narrow for the mini-batch's list decline too (the tiles' lists are
    tried on rows of any width)."""
    rng = np.random.default_rng(11)
    X = np.where(rng.random((24, 50)) < 0.1, rng.random((24, 50)), 0.0)
    X[:, 10] = 0                   # zero throughout
    X[:6, 20] = 1                  # in the first tile only
    X[6:, 20] = 0
    W = rng.standard_normal((50, 70))
    with listing(tiles):
        assert _core.listed_forward(X, W)[1] == ("tiles" if tiles else "mini-batch")
        for p in (10, 20):
            for bad in (np.inf, np.nan):
                V = W.copy()
                V[p, 3] = bad
                Z, path = _core.listed_forward(X, V)
                assert path == (None if tiles or p == 10 else "mini-batch")
                if path:
                    with np.errstate(invalid="ignore"):
                        want = X @ V
                    np.testing.assert_array_equal(np.isnan(Z), np.isnan(want))
                    assert not np.isfinite(Z[:, 3]).any()
    with listing(tiles, min_vectors=10):      # 70 doubles: 9 vectors
        assert _core.listed_forward(X, W)[1] == ("tiles" if tiles else None)
    with listing(tiles):      # no input zero throughout, nor in most of a tile
        assert _core.listed_forward(X + 0.5, W)[1] is None
    with pytest.raises(ValueError, match="X's 50 columns"):
        _core.listed_forward(X, W[:-1])
    with pytest.raises(ValueError, match="go together"):
        _core.listed_forward(X, W, np.zeros((24, 70)))


@needs_own
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("m", [1, 2, 10])
def test_step_forward_streams_a_large_layer(dtype, m):
    """A layer larger than the L2's share goes in blocks of rows, each
    fetching the next (mini-batches of one and two go down the rows by
    groups of columns, larger ones a column at a time): the same results;
    and the argument checks."""
    rng = np.random.default_rng(4 + m)
    P, N = 784, 300 if dtype == np.float64 else 600    # 1.9 MB
    XT, XTn = (rng.random((P, m)).astype(dtype) for _ in range(2))
    D = rng.standard_normal((m, N)).astype(dtype)
    W0 = (rng.standard_normal((P, N)) * 0.1).astype(dtype)
    W, Z = W0.copy(), np.empty((m, N), dtype=dtype)
    _core.step_forward(-0.01, XT, D, 0.9999, XTn, W, Z)
    W_exp = 0.9999 * W0.astype(np.float64) - 0.01 * (XT.astype(np.float64) @ D)
    np.testing.assert_allclose(W, W_exp, rtol=0, atol=TOL[dtype] * 10)
    np.testing.assert_allclose(Z, XTn.astype(np.float64).T @ W, rtol=0,
                               atol=TOL[dtype] * np.abs(Z).max() * 30)
    # with momentum, velocities streamed beside the weights
    W2, V2, Z2 = W0.copy(), np.zeros_like(W0), np.empty_like(Z)
    _core.step_forward(-0.01, XT, D, 0.9999, XTn, W2, Z2, V2, 0.9)
    V_exp = -0.01 * (XT.astype(np.float64) @ D) - 1e-4 * W0
    np.testing.assert_allclose(V2, V_exp, rtol=0, atol=TOL[dtype] * 10)
    np.testing.assert_allclose(W2, W0 + V_exp, rtol=0, atol=TOL[dtype] * 10)
    np.testing.assert_allclose(Z2, XTn.astype(np.float64).T @ W2, rtol=0,
                               atol=TOL[dtype] * np.abs(Z2).max() * 30)
    with pytest.raises(ValueError, match=r"m must lie in \[1, 12\]"):
        _core.step_forward(1.0, np.zeros((P, 13), dtype), np.zeros((13, N), dtype), 1.0,
                           np.zeros((P, 13), dtype), W, np.zeros((13, N), dtype))
    with pytest.raises(ValueError, match="shapes do not match"):
        _core.step_forward(1.0, XT, D, 1.0, XTn[:-1], W, Z)
    with pytest.raises(ValueError, match="shapes do not match"):
        _core.step_forward(1.0, XT, D, 1.0, XTn, W, Z, V2[1:])
    np.testing.assert_allclose(W, W_exp, rtol=0, atol=TOL[dtype] * 10)  # untouched


@needs_own
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vector_sigmoid_matches_the_scalar_one(dtype):
    """Within 2 ulp (double) or 3 (float) over the whole range; exactly 0, 1/2 and 1 where those
    are the values (zeros, underflow, saturation, infinities)."""
    rng = np.random.default_rng(2)
    tiny = np.finfo(dtype).tiny
    special = [0.0, -0.0, tiny, -tiny, 1e-30, 36.0, -36.0, 88.0, -88.0, -104.0,
               -110.0, 745.0, -745.0, -746.0, 1e5, -1e5, np.inf, -np.inf]
    z = np.concatenate([np.linspace(-60, 60, 100_003), rng.standard_normal(50_000) * 8,
                        special, [np.nan]]).astype(dtype)
    ones = np.array([1.0, 0.0], dtype=dtype)
    out = {}
    for name in ("auto", "blas"):
        with kernels(name):
            o = np.empty((z.size, 1), dtype=dtype)
            _core.feedforward(ones, [1, 1], z.reshape(-1, 1).copy(), o)
            out[name] = o.ravel()
    vec, scalar = out["auto"], out["blas"]
    assert np.isnan(vec[-1]) and np.isnan(scalar[-1])
    vec, scalar = vec[:-1], scalar[:-1]
    ulp = np.spacing(np.abs(scalar).astype(dtype))
    assert np.all(np.abs(vec - scalar) <= (2 if dtype == np.float64 else 3) * ulp)
    exact = np.isin(scalar, [0.0, 0.5, 1.0])
    assert exact[-len(special):].sum() >= 10
    np.testing.assert_array_equal(vec[exact], scalar[exact])
    assert np.all((vec >= 0) & (vec <= 1))


def _epoch(sizes, dtype, kernel, *, threads=1, mbs=7, n=90, mu=0.0, nesterov=False,
           l1=0.0, dropout=0.0, bad_position=None, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], n)]
    theta = (rng.standard_normal(_core.n_params(sizes)) * 0.3).astype(dtype)
    vel = (rng.standard_normal(theta.size) * 0.01).astype(dtype) if (mu or nesterov) else None
    order = rng.permutation(n).astype(np.intp)
    if bad_position is not None:  # the example at this place in the epoch
        X[order[bad_position], 0] = np.nan
    with kernels(kernel):
        done, finite = _core.sgd_epoch(theta, sizes, X, Y, order, mbs, 0.5, 2.0, n, 1,
                                       l1=l1, dropout=dropout, seed=3, mu=mu,
                                       nesterov=nesterov, velocity=vel, threads=threads)
    return theta, vel, done, finite


# mini-batches of 300 pass through the network in chunks of 128 examples
OPTIONS = [{}, dict(mbs=2), dict(mu=0.9), dict(mu=0.5, nesterov=True), dict(l1=1.0),
           dict(dropout=0.3), dict(mbs=40), dict(mbs=64, mu=0.9),
           dict(mbs=300, n=700), dict(mbs=300, n=700, mu=0.9, l1=0.5, dropout=0.2)]


@needs_own
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("width", [1, 7, 16, 30, 32, 33, 64, 65, 130, 260])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("opts", OPTIONS, ids=lambda o: ",".join(o) or "plain")
def test_own_kernels_train_like_blas(dtype, width, threads, opts):
    """First layers on both sides of the transposed layout's thresholds
    (from mini-batch 4: rows of at most 1 KB, any up to 16), padded or not
    to whole vectors, and of the kernels' (sums of 32), with every update
    rule; theta and the velocities come back in network2's layout."""
    sizes = [45, width, 11, 3]
    a = _epoch(sizes, dtype, "auto", threads=threads, **opts)
    b = _epoch(sizes, dtype, "blas", threads=threads, **opts)
    assert a[2:] == b[2:] == (opts.get("n", 90), True)
    scale = np.abs(b[0]).max()
    assert np.abs(a[0] - b[0]).max() <= 50 * TOL[dtype] * scale
    if a[1] is not None:
        assert np.abs(a[1] - b[1]).max() <= 50 * TOL[dtype] * max(np.abs(b[1]).max(), 1e-3)


@needs_own
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("width", [30, 130])
@pytest.mark.parametrize("opts", [o for o in OPTIONS if o.get("mbs") == 300],
                         ids=lambda o: ",".join(o))
def test_large_mini_batches_passed_whole_train_like_blas(dtype, width, opts):
    """Where layer 1's weights are too large for chunks (CHUNK_W1_MAX; here
    every layer is), one thread passes a mini-batch of 300 whole, its
    gradient fused into the step: the same training as BLAS's."""
    sizes = [45, width, 11, 3]
    before = _core._set_chunk_w1_max(-1)
    try:
        a = _epoch(sizes, dtype, "auto", **opts)
    finally:
        _core._set_chunk_w1_max(before)
    b = _epoch(sizes, dtype, "blas", **opts)
    assert a[2:] == b[2:] == (opts["n"], True)
    scale = np.abs(b[0]).max()
    assert np.abs(a[0] - b[0]).max() <= 50 * TOL[dtype] * scale
    if a[1] is not None:
        assert np.abs(a[1] - b[1]).max() <= 50 * TOL[dtype] * max(np.abs(b[1]).max(), 1e-3)


@needs_own
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n, mbs", [(90, 1), (90, 10), (120, 12), (25, 12), (12, 12),
                                    (11, 12), (90, 13)])
@pytest.mark.parametrize("opts", [{}, dict(dropout=0.3), dict(mu=0.9),
                                  dict(mu=0.5, nesterov=True, dropout=0.2)],
                         ids=lambda o: ",".join(o) or "plain")
def test_fused_first_layer_step_trains_like_blas(dtype, n, mbs, opts):
    """One thread, mini-batches up to 12: layer 1's step (plain or with
    momentum) computes the next mini-batch's weighted inputs (a last mini-
    batch as large, a shorter one, a single one, one example short of one;
    13 takes the separate products) -- the same training as BLAS's."""
    sizes = [45, 70, 11, 3]
    a = _epoch(sizes, dtype, "auto", mbs=mbs, n=n, **opts)
    b = _epoch(sizes, dtype, "blas", mbs=mbs, n=n, **opts)
    assert a[2:] == b[2:] == (n, True)
    np.testing.assert_allclose(a[0], b[0], rtol=0, atol=50 * TOL[dtype] * np.abs(b[0]).max())
    if a[1] is not None:
        np.testing.assert_allclose(a[1], b[1], rtol=0,
                                   atol=50 * TOL[dtype] * np.abs(b[1]).max())


@needs_own
@pytest.mark.parametrize("bad_position", [0, 10, 29, 30, 85])
def test_fused_step_stops_on_nan_before_its_mini_batch(bad_position):
    """A NaN input stops the fused epoch before the step of its mini-batch,
    whose weighted inputs the last step computed: the same steps as BLAS."""
    sizes = [45, 30, 3]
    kw = dict(mbs=10, n=90, bad_position=bad_position)
    a = _epoch(sizes, np.float64, "auto", **kw)
    b = _epoch(sizes, np.float64, "blas", **kw)
    assert a[3] is False and b[3] is False
    assert a[2] == b[2] == bad_position // 10 * 10
    np.testing.assert_allclose(a[0], b[0], rtol=0, atol=1e-12)


@needs_own
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("mbs", [7, 300])
def test_stop_on_nan_leaves_theta_in_its_own_layout(threads, mbs):
    """The early stop leaves the transposed layout as every other exit does:
    the mini-batches before the bad row took the same steps as with BLAS,
    and the one holding it (in its second chunk, for 300) took none."""
    sizes = [45, 30, 3]
    kw = dict(threads=threads, mbs=mbs, n=700, mu=0.9, bad_position=500)
    a = _epoch(sizes, np.float64, "auto", **kw)
    b = _epoch(sizes, np.float64, "blas", **kw)
    assert a[3] is False and b[3] is False
    assert a[2] == b[2] == 500 // mbs * mbs
    np.testing.assert_allclose(a[0], b[0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(a[1], b[1], rtol=0, atol=1e-12)
