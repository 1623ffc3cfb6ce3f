"""Layer 1's weight gradient, and its forward product on wide layers, over
the inputs that are not zero throughout a mini-batch (as most of MNIST's
border pixels are); the fused steps of small mini-batches over the inputs
not zero in two: the same weights as the products over every input, on
every path that takes them."""

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from nncore import _core

SIZES = [96, 24, 5]
N = 400


def sparse_problem(dtype, seed=0, sizes=SIZES):
    """Inputs 80 % zero, a band of columns zero in every row, and one zero
    in the second half of the order only (zero throughout some mini-batches
    after others that used it)."""
    rng = np.random.default_rng(seed)
    X = rng.random((N, SIZES[0]))
    X[rng.random(X.shape) < 0.8] = 0
    X[:, 30:50] = 0
    order = rng.permutation(N).astype(np.intp)
    X[:, 50:60] = 0
    X[order[: N // 2], 50:60] = rng.random((N // 2, 10)) + 0.5
    Y = np.zeros((N, sizes[-1]))
    Y[np.arange(N), rng.integers(0, sizes[-1], N)] = 1
    parts = [rng.standard_normal(a * b) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
    parts += [rng.standard_normal(b) for b in sizes[1:]]
    theta = np.concatenate(parts)
    return (np.ascontiguousarray(X, dtype), np.ascontiguousarray(Y, dtype),
            theta.astype(dtype), order)


def epoch(skip, theta, X, Y, order, mbs, threads, sizes=SIZES, lmbda=5.0, block=1,
          returns=False, **kw):
    """theta after an epoch (and sgd_epoch's return value if `returns`);
    mini-batch 1's sparse steps one by one, or in blocks of `block` on
    rows of any width."""
    theta = theta.copy()
    if kw.get("mu") or kw.get("nesterov"):
        kw["velocity"] = np.zeros_like(theta)
    before = _core._skip_zeros(), _core._sparse_block()
    _core._set_skip_zeros(skip)
    _core._set_sparse_block(block)
    vectors = _core._set_block_min_vectors(0)
    try:
        with threadpool_limits(1):
            ret = _core.sgd_epoch(theta, sizes, X, Y, order[: kw.pop("total", N)], mbs,
                                  0.5, lmbda, N, _core.COST_CROSS_ENTROPY,
                                  threads=threads, **kw)
    finally:
        _core._set_skip_zeros(before[0])
        _core._set_sparse_block(before[1])
        _core._set_block_min_vectors(vectors)
    return (theta, ret) if returns else theta


# (mini-batch, threads, options): one thread with the rows read in place
# (40) and in chunks (200, and a last mini-batch of 0 rows' remainder);
# two threads split by rows (300: chunks on each) and by inputs (40);
# L1's separate decay, momentum's gradient written over, dropout
CASES = [
    (40, 1, {}), (200, 1, {}), (40, 1, dict(l1=2.0)), (40, 1, dict(mu=0.9)),
    (40, 1, dict(dropout=0.3, seed=3)), (300, 2, {}), (300, 2, dict(mu=0.5)),
    (40, 2, {}), (40, 2, dict(mu=0.9, nesterov=True)), (40, 2, dict(dropout=0.3, seed=3)),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mbs,threads,kw", CASES)
def test_skipping_zero_inputs_gives_the_dense_weights(dtype, mbs, threads, kw):
    X, Y, theta, order = sparse_problem(dtype)
    dense = epoch(False, theta, X, Y, order, mbs, threads, **dict(kw))
    skipped = epoch(True, theta, X, Y, order, mbs, threads, **dict(kw))
    assert np.all(np.isfinite(dense))
    assert not np.array_equal(dense, theta)
    # the same products but for the grouping of their terms
    tol = 1e-13 if dtype == np.float64 else 1e-5
    assert np.max(np.abs(skipped - dense)) <= tol * np.max(np.abs(dense))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("threads", [1, 2])
def test_an_infinite_delta_reaches_the_zero_inputs_rows_as_nan(dtype, threads):
    # an infinite weight above layer 1 leaves the outputs finite (the
    # sigmoid saturates) but makes layer 1's delta infinite: the dense
    # product multiplies it by the zero inputs and writes NaN into their
    # rows of W1, and so must the skipping one
    X, Y, theta, order = sparse_problem(dtype, seed=1)
    w2 = SIZES[0] * SIZES[1]
    theta[w2] = np.inf
    dense = epoch(False, theta, X, Y, order, 40, threads, total=40)
    skipped = epoch(True, theta, X, Y, order, 40, threads, total=40)
    w1 = slice(0, w2)
    assert np.isnan(dense[w1]).any()
    np.testing.assert_array_equal(skipped, dense)


@pytest.mark.parametrize("threads", [1, 2])
def test_nan_inputs_and_all_zero_mini_batches(threads):
    # a NaN input is not zero (its NaN spreads as the dense product's
    # does); a mini-batch of zero rows leaves only W1's decay
    X, Y, theta, order = sparse_problem(np.float64, seed=2)
    X[order[:40]] = 0
    zero_only = epoch(True, theta, X, Y, order, 40, threads, total=40)
    keep = 1 - 0.5 * 5.0 / N
    w1 = SIZES[0] * SIZES[1]
    np.testing.assert_allclose(zero_only[:w1], keep * theta[:w1], rtol=1e-15, atol=0)
    X[order[40], 60] = np.nan
    dense = epoch(False, theta, X, Y, order, 40, threads, total=80)
    skipped = epoch(True, theta, X, Y, order, 40, threads, total=80)
    np.testing.assert_array_equal(skipped, dense)


# Layer 1's forward product leaves out zero inputs where a row of W1^T is 5
# vectors or more: [96, 100, 5] (13 vectors in float64, 7 in float32) and
# [96, 300, 5] (38 and 19), whose rows of more than 1 KB are held
# transposed too; each tile of rows over the inputs not zero in one of its
# rows, or (tiles=False) all over the mini-batch's list.
# Both dtypes, one thread (rows in place, in chunks, L1, momentum,
# dropout) and two (split by inputs and by rows).
FORWARD = [[96, 100, 5], [96, 300, 5]]
FORWARD_CASES = [(40, 1, {}), (200, 1, {}), (40, 1, dict(l1=2.0)), (40, 1, dict(mu=0.9)),
                 (40, 1, dict(dropout=0.3, seed=3)), (300, 2, {}), (40, 2, {}),
                 (40, 2, dict(mu=0.9, nesterov=True))]


@pytest.fixture(params=[True, False], ids=["tiles", "mini-batch"])
def tiles(request):
    _core._set_tile_lists(request.param)
    yield request.param
    _core._set_tile_lists(True)


@pytest.mark.parametrize("sizes", FORWARD, ids=["100", "300"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mbs,threads,kw", FORWARD_CASES)
def test_the_forward_product_over_listed_inputs_gives_the_dense_weights(
        sizes, dtype, mbs, threads, kw, tiles):
    X, Y, theta, order = sparse_problem(dtype, sizes=sizes)
    # (the tiles' lists are short enough here to be taken)
    path = _core.listed_forward(np.ascontiguousarray(X[order[:40]]),
                                np.ones((sizes[0], sizes[1]), dtype))[1]
    assert path == ("tiles" if tiles else "mini-batch")
    dense = epoch(False, theta, X, Y, order, mbs, threads, sizes, **dict(kw))
    skipped = epoch(True, theta, X, Y, order, mbs, threads, sizes, **dict(kw))
    assert np.all(np.isfinite(dense))
    assert not np.array_equal(dense, theta)
    tol = 1e-13 if dtype == np.float64 else 1e-5
    assert np.max(np.abs(skipped - dense)) <= tol * np.max(np.abs(dense))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mbs,threads", [(40, 1), (200, 1), (300, 2), (40, 2)])
@pytest.mark.parametrize("what", ["next rows", "next column block", "into L2"])
def test_fetching_ahead_changes_no_value(dtype, mbs, threads, what):
    # the weight gradient fetches the next mini-batch's (or chunk's) rows
    # for the listed forward product (into L2, several lines a step, where
    # C is one column block: 24 neurons), and its tiles the next block of 4
    # vectors' rows of C (300 neurons: 5 or 10 blocks): prefetches only,
    # bit for bit the same
    sizes, toggle = {"next rows": (FORWARD[0], _core._set_fetch_ahead),
                     "next column block": (FORWARD[1], _core._set_block_fetch),
                     "into L2": (SIZES, _core._set_fetch_low)}[what]
    X, Y, theta, order = sparse_problem(dtype, sizes=sizes)
    runs = []
    for on in (False, True):
        toggle(on)
        try:
            runs.append(epoch(True, theta, X, Y, order, mbs, threads, sizes))
        finally:
            toggle(True)
    assert not np.array_equal(runs[0], theta)
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("where", ["weight", "tile's weight", "input"])
def test_the_forward_product_over_listed_inputs_meets_infinities(threads, where, tiles):
    # a zero input's weight infinite from the start; the weight of an input
    # zero in some tiles of rows only (the dense sums are NaN in those, inf
    # in the others); or an infinite input that writes NaN into its row of
    # W1 (its gradient: inf times the zero delta of saturated neurons) and
    # is zero in the next mini-batches: the dense sums are NaN, and the
    # epoch must stop where the dense one does (a row left out must be
    # finite)
    sizes = FORWARD[0]
    X, Y, theta, order = sparse_problem(np.float64, seed=4, sizes=sizes)
    if where == "weight":
        theta[7 * sizes[0] + 35] = np.inf    # neuron 7's weight from input 35 (zero)
    elif where == "tile's weight":
        first = X[order[:40], 62] != 0       # input 62: in some of the first tiles
        assert first[:6].any() and not first[6:12].any()
        theta[7 * sizes[0] + 62] = np.inf
    else:
        X[order[3], 35] = np.inf
    results = []
    for skip in (False, True):
        t = theta.copy()
        before = _core._skip_zeros()
        _core._set_skip_zeros(skip)
        try:
            with threadpool_limits(1):
                results.append((t, _core.sgd_epoch(t, sizes, X, Y, order[:160], 40, 0.5,
                                                   5.0, N, _core.COST_CROSS_ENTROPY,
                                                   threads=threads)))
        finally:
            _core._set_skip_zeros(before)
    (dense, dense_ret), (skipped, skipped_ret) = results
    assert dense_ret[1] is False and dense_ret[0] < 160
    assert skipped_ret == dense_ret
    finite = np.isfinite(dense)
    np.testing.assert_array_equal(np.isfinite(skipped), finite)
    np.testing.assert_array_equal(skipped[~finite], dense[~finite])
    assert np.max(np.abs(skipped[finite] - dense[finite])) <= 1e-13 * np.max(
        np.abs(dense[finite]))


# The fused steps of mini-batches up to 12 leave alone the rows of W1^T whose
# input is zero in the mini-batch and the next, holding W1 = s V while the
# epoch runs (the decay in s).  Where that pays: with 2 vectors a row or
# more ([96, 24, 5]: 3 in float64, 2 in float32; [96, 60, 5]: 8 and 4) at
# any mini-batch, with 1 ([96, 8, 5]) up to 6, so there mini-batch 12
# checks that the dense steps it keeps are unchanged.
WIDE = [96, 60, 5]
NARROW = [96, 8, 5]
FUSED = [(1, 1, SIZES), (3, 1, SIZES), (12, 1, SIZES), (2, 1, WIDE), (12, 1, WIDE),
         (4, 1, NARROW), (12, 1, NARROW), (1, 2, SIZES), (3, 2, WIDE), (12, 2, WIDE)]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mbs,threads,sizes", FUSED)
def test_sparse_fused_steps_give_the_dense_weights(dtype, mbs, threads, sizes):
    X, Y, theta, order = sparse_problem(dtype, sizes=sizes)
    total = 120   # (at mini-batch 1 the trajectory's rounding grows with the steps)
    # without decay (s = 1) a left-out row's step and sum are exactly zero
    dense = epoch(False, theta, X, Y, order, mbs, threads, sizes, 0.0, total=total)
    sparse = epoch(True, theta, X, Y, order, mbs, threads, sizes, 0.0, total=total)
    assert not np.array_equal(dense, theta)
    np.testing.assert_array_equal(sparse, dense)
    # with decay: s shrinks, steps are divided by it, sums multiplied by it
    dense = epoch(False, theta, X, Y, order, mbs, threads, sizes, total=total)
    sparse = epoch(True, theta, X, Y, order, mbs, threads, sizes, total=total)
    tol = 1e-13 if dtype == np.float64 else 1e-5
    assert np.max(np.abs(sparse - dense)) <= tol * np.max(np.abs(dense))


@pytest.mark.parametrize("threads", [1, 2])
def test_sparse_fused_steps_rescale_a_fast_decay(threads):
    # beta = 1 - 0.5 * 240 / 400 = 0.7: s falls below 1/1024 every 20 steps
    # and V is scaled back into W1 then, many times in an epoch
    X, Y, theta, order = sparse_problem(np.float64, sizes=WIDE)
    dense = epoch(False, theta, X, Y, order, 2, threads, WIDE, 240.0, total=200)
    sparse = epoch(True, theta, X, Y, order, 2, threads, WIDE, 240.0, total=200)
    assert np.max(np.abs(sparse - dense)) <= 1e-13 * np.max(np.abs(dense))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("where", ["weight", "input"])
def test_sparse_fused_steps_meet_infinities_as_the_dense_ones(threads, where):
    # an infinite weight of W1 (from the start), or an infinite input (it
    # writes infinities into its row of W1 mid-epoch): the dense sums are
    # NaN where a zero input meets them, and the sparse steps give way to
    # the dense ones as soon as they could differ
    X, Y, theta, order = sparse_problem(np.float64, seed=3, sizes=WIDE)
    if where == "weight":
        theta[7 * WIDE[0] + 31] = np.inf    # neuron 7's weight from input 31 (zero)
    else:
        X[order[9], 70] = np.inf
    for lmbda in (0.0, 5.0):
        dense = epoch(False, theta, X, Y, order, 1, threads, WIDE, lmbda, total=60)
        sparse = epoch(True, theta, X, Y, order, 1, threads, WIDE, lmbda, total=60)
        assert not np.all(np.isfinite(dense))
        finite = np.isfinite(dense)
        np.testing.assert_array_equal(np.isfinite(sparse), finite)
        np.testing.assert_array_equal(sparse[~finite], dense[~finite])   # NaN, +-inf
        scale = 0 if lmbda == 0 else 1e-13 * np.max(np.abs(dense[finite]))
        assert np.max(np.abs(sparse[finite] - dense[finite])) <= scale


# At mini-batch 1, on rows of W1 of 8 vectors or more, one thread takes
# the sparse steps in blocks: one pass steps a block's examples into W1 and
# computes the next block's products, which are brought up to date with
# the block's own steps before each is used.  The steps one by one's
# weights up to rounding, at any block size, the epoch's last examples
# fewer than a block or two.
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("block", [2, 4, 12])
@pytest.mark.parametrize("total", [120, 123, 31])
def test_blocks_of_examples_give_the_steps_one_by_one(dtype, block, total):
    X, Y, theta, order = sparse_problem(dtype, sizes=WIDE)
    tol = 1e-13 if dtype == np.float64 else 1e-5
    for lmbda in (0.0, 5.0):
        one = epoch(True, theta, X, Y, order, 1, 1, WIDE, lmbda, total=total)
        dense = epoch(False, theta, X, Y, order, 1, 1, WIDE, lmbda, total=total)
        blocked = epoch(True, theta, X, Y, order, 1, 1, WIDE, lmbda, block=block,
                        total=total)
        assert not np.array_equal(blocked, one)   # (the blocks' sums, in their order)
        for ref in (one, dense):
            assert np.max(np.abs(blocked - ref)) <= tol * np.max(np.abs(ref))


@pytest.mark.parametrize("sizes,blocked", [([96, 100, 5], True), ([96, 60, 5], True),
                                           ([96, 56, 5], False), (SIZES, False)])
def test_blocks_where_rows_span_8_vectors(sizes, blocked):
    # the default rule: rows of 8 vectors of 64 bytes or more (60 and 100
    # float64), not 7 (56) or 3 (24)
    X, Y, theta, order = sparse_problem(np.float64, sizes=sizes)
    one = epoch(True, theta, X, Y, order, 1, 1, sizes, total=120)
    t = theta.copy()
    with threadpool_limits(1):
        _core.sgd_epoch(t, sizes, X, Y, order[:120], 1, 0.5, 5.0, N,
                        _core.COST_CROSS_ENTROPY)
    assert _core._sparse_block() == 4
    assert np.array_equal(t, one) != blocked


def test_blocks_rescale_a_fast_decay():
    # beta = 0.7: s falls below 1/1024 every 20 steps, within blocks of 12
    X, Y, theta, order = sparse_problem(np.float64, sizes=WIDE)
    one = epoch(False, theta, X, Y, order, 1, 1, WIDE, 240.0, total=200)
    for block in (4, 12):
        blocked = epoch(True, theta, X, Y, order, 1, 1, WIDE, 240.0, block=block,
                        total=200)
        assert np.max(np.abs(blocked - one)) <= 1e-13 * np.max(np.abs(one))


@pytest.mark.parametrize("block", [4, 12])
def test_blocks_meet_an_infinite_input_as_the_dense_steps(block):
    # example 9's infinite input makes its block's products not finite: the
    # blocks give way to the dense steps, which recompute them
    X, Y, theta, order = sparse_problem(np.float64, seed=3, sizes=WIDE)
    X[order[9], 70] = np.inf
    for lmbda in (0.0, 5.0):
        dense = epoch(False, theta, X, Y, order, 1, 1, WIDE, lmbda, total=60)
        blocked = epoch(True, theta, X, Y, order, 1, 1, WIDE, lmbda, block=block, total=60)
        finite = np.isfinite(dense)
        assert not finite.all()
        np.testing.assert_array_equal(np.isfinite(blocked), finite)
        np.testing.assert_array_equal(blocked[~finite], dense[~finite])
        assert np.max(np.abs(blocked[finite] - dense[finite])) <= 1e-13 * np.max(
            np.abs(dense[finite]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("stop", [6, 8, 2])
def test_blocks_stop_at_an_output_error_not_finite_with_the_steps_before_it(dtype, stop):
    # a NaN target: the epoch stops before that example (stop 6: the third
    # of its block of 4, whose first two's steps are not yet in W1; 8: a
    # block's first; 2: in the first block), its steps all in W1
    X, Y, theta, order = sparse_problem(dtype, sizes=WIDE)
    Y[order[stop], 0] = np.nan
    dense, dense_ret = epoch(False, theta, X, Y, order, 1, 1, WIDE, total=40, returns=True)
    blocked, ret = epoch(True, theta, X, Y, order, 1, 1, WIDE, block=4, total=40,
                         returns=True)
    assert dense_ret == (stop, False)
    assert ret == dense_ret
    assert not np.array_equal(dense, theta)
    tol = 1e-13 if dtype == np.float64 else 1e-5
    assert np.max(np.abs(blocked - dense)) <= tol * np.max(np.abs(dense))


def test_blocks_stop_at_a_signal_with_their_steps_taken():
    # Ctrl-C (here a timer's KeyboardInterrupt) during an epoch in blocks of
    # 12: it stops at the end of a block, every step taken so far in theta
    import signal

    X, Y, theta, order = sparse_problem(np.float64, sizes=WIDE)
    long_order = np.tile(order, 2000)            # 800,000 examples
    status = np.zeros(1, dtype=np.intp)
    t = theta.copy()

    def handler(signum, frame):
        raise KeyboardInterrupt

    before = _core._sparse_block()
    vectors = _core._set_block_min_vectors(0)
    old = signal.signal(signal.SIGALRM, handler)
    try:
        _core._set_sparse_block(12)
        signal.setitimer(signal.ITIMER_REAL, 0.05)
        with pytest.raises(KeyboardInterrupt), threadpool_limits(1):
            _core.sgd_epoch(t, WIDE, X, Y, long_order, 1, 0.5, 5.0, N,
                            _core.COST_CROSS_ENTROPY, status=status)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        _core._set_sparse_block(before)
        _core._set_block_min_vectors(vectors)
    done = int(status[0])
    assert 0 < done < len(long_order) and done % 12 == 0
    # the same as an epoch of those examples alone (whose last block's pass
    # computes no next products: their rows' steps are the same)
    short = epoch(True, theta, X, Y, long_order, 1, 1, WIDE, block=12, total=done)
    assert not np.array_equal(short, theta)
    np.testing.assert_array_equal(t, short)


@pytest.mark.parametrize("threads", [1, 2])
def test_chunks_of_any_size_give_the_same_weights(threads):
    # mini-batches above 128 rows pass through the network in chunks (64
    # rows unless set), where layer 1's weights are small enough (on one
    # thread; -1: none is): only the grouping of the gradient's terms changes
    X, Y, theta, order = sparse_problem(np.float64, sizes=FORWARD[0])
    runs = []
    for rows, w1_max in ((64, None), (7, None), (300, None), (64, -1)):
        _core._set_chunk_rows(rows)
        before = _core._set_chunk_w1_max(-1)
        _core._set_chunk_w1_max(before if w1_max is None else w1_max)
        try:
            runs.append(epoch(True, theta, X, Y, order, 300, threads, FORWARD[0]))
        finally:
            _core._set_chunk_rows(64)
            _core._set_chunk_w1_max(before)
    assert not np.array_equal(runs[0], theta)
    for other in runs[1:]:
        assert np.max(np.abs(other - runs[0])) <= 1e-13 * np.max(np.abs(runs[0]))
    with pytest.raises(ValueError, match="at least 1"):
        _core._set_chunk_rows(0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mbs,w1_max,kw", [
    (40, None, {}), (200, None, {}), (300, -1, {}), (300, -1, dict(mu=0.9, l1=1.0)),
    (40, None, dict(dropout=0.3, seed=3)), (100, None, dict(mu=0.5, nesterov=True)),
    (33, None, dict(total=N - 7))])
def test_rows_regrouped_for_the_tiles_give_the_same_weights(dtype, mbs, w1_max, kw):
    # one thread takes a mini-batch's rows in an order whose tiles of 4 sum
    # fewer zeros, in windows of 100 (passed whole: 40, 300 with chunks
    # off) or of its chunks (200): the same examples, so the same weights
    # up to the order of the gradient's terms; the caller's order untouched
    X, Y, theta, order = sparse_problem(dtype, sizes=FORWARD[1])
    keep = order.copy()
    runs = []
    for on in (False, True):
        was = _core._set_group_rows(on)
        before = _core._set_chunk_w1_max(-1)
        _core._set_chunk_w1_max(before if w1_max is None else w1_max)
        try:
            runs.append(epoch(True, theta, X, Y, order, mbs, 1, FORWARD[1], **dict(kw)))
        finally:
            _core._set_group_rows(was)
            _core._set_chunk_w1_max(before)
    np.testing.assert_array_equal(order, keep)
    assert not np.array_equal(runs[0], theta)
    assert not np.array_equal(runs[0], runs[1])   # (the terms were summed otherwise)
    tol = 1e-13 if dtype == np.float64 else 1e-5
    assert np.max(np.abs(runs[1] - runs[0])) <= tol * np.max(np.abs(runs[0]))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("threads", [1, 2])
def test_dense_rows_then_sparse_ones(dtype, threads):
    # the tiles' lists are left for a few mini-batches after they were too
    # long (rows with no zero, first), then taken again (sparse rows): the
    # dense weights all the way
    rng = np.random.default_rng(9)
    n, sizes = 2000, [96, 40, 5]
    X = np.where(rng.random((n, sizes[0])) < 0.15, rng.random((n, sizes[0])), 0.0)
    order = rng.permutation(n).astype(np.intp)
    X[order[:96]] += 0.5
    Y = np.zeros((n, sizes[-1]))
    Y[np.arange(n), rng.integers(0, sizes[-1], n)] = 1
    theta = np.concatenate(
        [rng.standard_normal(a * b) / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:])]
        + [rng.standard_normal(b) for b in sizes[1:]])
    X, Y, theta = X.astype(dtype), Y.astype(dtype), theta.astype(dtype)
    assert _core.listed_forward(np.ascontiguousarray(X[order[:32]]),
                                np.ones((96, 40), dtype))[1] is None
    assert _core.listed_forward(np.ascontiguousarray(X[order[96:128]]),
                                np.ones((96, 40), dtype))[1] == "tiles"
    runs = [epoch(skip, theta, X, Y, order, 32, threads, sizes, total=n)
            for skip in (False, True)]
    dense, skipped = runs
    assert np.all(np.isfinite(dense)) and not np.array_equal(dense, theta)
    tol = 1e-13 if dtype == np.float64 else 1e-5
    assert np.max(np.abs(skipped - dense)) <= tol * np.max(np.abs(dense))
