"""The rest of chapter 3 in the native core, against the NumPy reference:
tanh/ReLU/linear neurons, softmax with log-likelihood, L1, dropout,
momentum and Nesterov -- float64 to 1e-10, float32 to 1e-4."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import nncore_reference as ref
from nncore import _core, native
from test_core import TOL, assert_params_close, rel_err

HIDDEN = ["sigmoid", "tanh", "relu", "linear"]
# (cost, output) pairs the chapter gives a meaning to
COMBINATIONS = ([("cross-entropy", "sigmoid"), ("log-likelihood", "softmax")]
                + [("quadratic", o) for o in ["sigmoid", "tanh", "relu", "linear", "softmax"]])


@st.composite
def problems(draw, max_width=32, max_examples=30, dtypes=(np.float64, np.float32)):
    n_layers = draw(st.integers(2, 4))
    sizes = draw(st.lists(st.integers(1, max_width), min_size=n_layers, max_size=n_layers))
    cost, output = draw(st.sampled_from(COMBINATIONS))
    if cost == "log-likelihood" and sizes[-1] == 1:
        sizes[-1] = 2
    hidden = draw(st.sampled_from(HIDDEN))
    n = draw(st.integers(1, max_examples))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights, biases = ref.init_params(sizes, rng, kind="relu" if hidden == "relu" else "default")
    X = rng.random((n, sizes[0]))
    if cost == "quadratic" and output != "softmax" and draw(st.booleans()):
        Y = rng.uniform(-1, 1, (n, sizes[-1]))
    else:
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    mu = draw(st.sampled_from([0.0, 0.0, 0.5, 0.9]))
    return dict(
        sizes=sizes, weights=weights, biases=biases, X=X, Y=Y, rng=rng, cost=cost,
        hidden=hidden, output=output, mbs=draw(st.integers(1, n)),
        eta=draw(st.floats(0.001, 1.0)),
        lmbda=draw(st.sampled_from([0.0, 0.0, 1.0, 5.0])),
        l1=draw(st.sampled_from([0.0, 0.0, 0.5, 3.0])),
        dropout=draw(st.sampled_from([0.0, 0.0, 0.2, 0.5])),
        seed=draw(st.integers(0, 2**64 - 1)),
        mu=mu, nesterov=draw(st.booleans()) if mu else False,
        dtype=draw(st.sampled_from(dtypes)),
    )


common = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@common
@given(problems())
def test_backprop_and_feedforward_match_reference(p):
    """The gradient and the outputs, to 1e-10 (float64) or 1e-4 (float32)
    of the largest entry, or in float32 ten times the float32 reference's
    own distance from the float64 one where that is larger: through a
    layer of one or two neurons a float32 gradient can lose more (a
    12-7-1-12 tanh net's first-layer gradient: 2.7e-4)."""
    dt = p["dtype"]
    theta = native.pack(p["weights"], p["biases"], dt)
    acts = dict(hidden=p["hidden"], output=p["output"])
    grad = native.backprop(theta, p["sizes"], p["X"].astype(dt), p["Y"].astype(dt), p["cost"],
                           **acts)
    nb, nw = ref.matrix.backprop(p["weights"], p["biases"], p["X"], p["Y"], p["cost"], **acts)
    tol = TOL[dt]
    if dt is np.float32:
        nb32, nw32 = ref.matrix.backprop([w.astype(dt) for w in p["weights"]],
                                         [b.astype(dt) for b in p["biases"]],
                                         p["X"].astype(dt), p["Y"].astype(dt), p["cost"], **acts)
        tol = max(tol, 10 * _max_rel_err(nw32 + nb32, nw + nb))
    assert_params_close(grad, p["sizes"], nw, nb, tol)
    out = native.feedforward(theta, p["sizes"], p["X"].astype(dt), **acts)
    assert rel_err(out, ref.matrix.feedforward(p["weights"], p["biases"], p["X"], **acts)) \
        <= TOL[dt]


def _epoch_ref(p, form, dtype=np.float64, perturb=0.0):
    w = [a.astype(dtype) * (1 + perturb) for a in p["weights"]]
    b = [a.astype(dtype) * (1 + perturb) for a in p["biases"]]
    return form.sgd_epoch(
        w, b, p["X"], p["Y"], p["order"], p["mbs"], p["eta"], p["lmbda"], p["cost"],
        hidden=p["hidden"], output=p["output"], l1=p["l1"], dropout=p["dropout"],
        dropout_seed=p["seed"], mu=p["mu"], nesterov=p["nesterov"])


def _max_rel_err(xs, ys):
    return max(rel_err(x, y) for x, y in zip(xs, ys))


@common
@given(problems(), st.sampled_from([1, 2]))
def test_epoch_matches_reference(p, threads):
    """A whole epoch with every option the chapter teaches, in one call.

    Rounding compounds through an epoch's sequential updates, and some
    trajectories are chaotic: with eta = 1, one example per mini-batch and
    tanh outputs, starting the reference itself from weights changed by one
    part in 1e15 moves its result by 6.5e-6 after 30 updates, while every
    single native step agrees with the reference to 4e-16.  So the tolerance
    is the larger of the fixed one (1e-10 float64, 1e-4 float32) and ten
    times that sensitivity: how far the reference drifts from a start
    perturbed by 1e-15 (float64), or how far the float32 reference drifts
    from the float64 one.  Runs that diverge (linear and ReLU nets can) are
    not compared.  With threads=2 each mini-batch is split between two
    threads, which changes the rounding only."""
    dt = p["dtype"]
    p["order"] = p["rng"].permutation(len(p["X"]))
    expected = _epoch_ref(p, ref.matrix)
    assume(all(np.all(np.abs(a) < 1e6) for a in expected[0] + expected[1]))
    other = _epoch_ref(p, ref.matrix, np.float32) if dt is np.float32 \
        else _epoch_ref(p, ref.matrix, perturb=1e-15)
    tol = max(TOL[dt], 10 * _max_rel_err(other[0] + other[1], expected[0] + expected[1]))

    theta = native.pack(p["weights"], p["biases"], dt)
    momentum = p["mu"] > 0 or p["nesterov"]
    velocity = np.zeros_like(theta) if momentum else None
    native.sgd_epoch(theta, p["sizes"], p["X"].astype(dt), p["Y"].astype(dt), p["order"],
                     p["mbs"], p["eta"], p["lmbda"], cost=p["cost"], hidden=p["hidden"],
                     output=p["output"], l1=p["l1"], dropout=p["dropout"], seed=p["seed"],
                     mu=p["mu"], nesterov=p["nesterov"], velocity=velocity,
                     threads=threads)
    assert_params_close(theta, p["sizes"], expected[0], expected[1], tol)
    if momentum:
        # A velocity is the last step taken: its error is judged against the
        # size of the parameters it moves (a velocity of 1e-6 on weights of
        # order 1 may carry float32's 1e-10 absolute error).
        vw, vb = expected[2]
        got_w, got_b = native.unpack(velocity, p["sizes"])
        for got, want, par in zip(got_w + got_b, vw + vb, expected[0] + expected[1]):
            scale = max(np.max(np.abs(want)), np.max(np.abs(par)))
            assert np.max(np.abs(got - want)) <= tol * scale


@settings(max_examples=40, deadline=None)
@given(problems(max_width=10, max_examples=10, dtypes=(np.float64,)))
def test_epoch_matches_per_example_reference(p):
    theta = native.pack(p["weights"], p["biases"])
    order = p["rng"].permutation(len(p["X"]))
    velocity = np.zeros_like(theta) if p["mu"] else None
    native.sgd_epoch(theta, p["sizes"], p["X"], p["Y"], order, p["mbs"], p["eta"], p["lmbda"],
                     cost=p["cost"], hidden=p["hidden"], output=p["output"], l1=p["l1"],
                     dropout=p["dropout"], seed=p["seed"], mu=p["mu"], nesterov=p["nesterov"],
                     velocity=velocity)
    result = ref.per_example.sgd_epoch(
        p["weights"], p["biases"], p["X"], p["Y"], order, p["mbs"], p["eta"], p["lmbda"],
        p["cost"], hidden=p["hidden"], output=p["output"], l1=p["l1"], dropout=p["dropout"],
        dropout_seed=p["seed"], mu=p["mu"], nesterov=p["nesterov"])
    assume(all(np.all(np.abs(a) < 1e6) for a in result[0] + result[1]))
    p["order"] = order
    other = _epoch_ref(p, ref.per_example, perturb=1e-15)
    tol = max(1e-10, 10 * _max_rel_err(other[0] + other[1], result[0] + result[1]))
    assert_params_close(theta, p["sizes"], result[0], result[1], tol)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**64 - 1), st.integers(0, 2**24 - 1), st.integers(1, 255),
       st.integers(1, 300), st.floats(0.0, 0.99))
def test_dropout_masks_are_the_references(seed, batch, layer, width, p):
    np.testing.assert_array_equal(_core.dropout_keep(seed, batch, layer, width, p),
                                  ref.dropout.dropout_keep(seed, batch, layer, width, p))


def test_split_epoch_equals_one_call():
    """Chunks of an epoch (as the progress bar makes them) with the right
    batch offsets give the same result as one call: dropout masks and
    velocities carry over."""
    rng = np.random.default_rng(0)
    sizes = [12, 9, 7, 3]
    w, b = ref.init_params(sizes, rng)
    X = rng.random((53, 12))
    Y = np.eye(3)[rng.integers(0, 3, 53)]
    order = rng.permutation(53)
    opts = dict(cost="log-likelihood", output="softmax", hidden="tanh", l1=0.3, dropout=0.5,
                seed=77, mu=0.7)

    def one_call_and_three(nesterov):
        one, v_one = native.pack(w, b), np.zeros(native.n_params(sizes))
        native.sgd_epoch(one, sizes, X, Y, order, 5, 0.3, 2.0, velocity=v_one,
                         nesterov=nesterov, **opts)
        two, v_two = native.pack(w, b), np.zeros(native.n_params(sizes))
        for start in (0, 20, 40):
            native.sgd_epoch(two, sizes, X, Y, order[start:start + 20], 5, 0.3, 2.0, n=53,
                             batch_offset=start // 5, velocity=v_two, nesterov=nesterov,
                             **opts)
        return (one, v_one), (two, v_two)

    # Nesterov keeps the look-ahead point w + mu v in theta during a call and
    # shifts it in and out at the ends of each call: equal up to rounding
    for a, b_ in zip(*one_call_and_three(True)):
        np.testing.assert_allclose(a, b_, rtol=1e-13, atol=1e-15)
    for a, b_ in zip(*one_call_and_three(False)):  # plain momentum: bit for bit
        np.testing.assert_array_equal(a, b_)


def test_zero_momentum_is_plain_sgd():
    rng = np.random.default_rng(1)
    sizes = [6, 5, 4]
    w, b = ref.init_params(sizes, rng)
    X, Y = rng.random((20, 6)), np.eye(4)[rng.integers(0, 4, 20)]
    order = rng.permutation(20)
    plain = native.pack(w, b)
    native.sgd_epoch(plain, sizes, X, Y, order, 3, 0.5, 2.0, l1=0.5)
    with_v = native.pack(w, b)
    native.sgd_epoch(with_v, sizes, X, Y, order, 3, 0.5, 2.0, l1=0.5, mu=0.0, nesterov=False,
                     velocity=np.zeros_like(with_v))
    np.testing.assert_allclose(with_v, plain, rtol=1e-12, atol=1e-15)


def test_dropped_neurons_get_no_gradient():
    """With L2 and L1 off, a hidden neuron dropped for the only mini-batch
    keeps its incoming weights and bias, and its outgoing weights too."""
    rng = np.random.default_rng(2)
    sizes = [5, 40, 3]
    w, b = ref.init_params(sizes, rng)
    X, Y = rng.random((8, 5)), np.eye(3)[rng.integers(0, 3, 8)]
    theta = native.pack(w, b)
    native.sgd_epoch(theta, sizes, X, Y, np.arange(8), 8, 1.0, 0.0, dropout=0.5, seed=123)
    w2, b2 = native.unpack(theta, sizes)
    kept = _core.dropout_keep(123, 0, 1, 40, 0.5)
    assert 5 < kept.sum() < 35
    np.testing.assert_array_equal(w2[0][~kept], w[0][~kept])
    np.testing.assert_array_equal(b2[0][~kept], b[0][~kept])
    np.testing.assert_array_equal(w2[1][:, ~kept], w[1][:, ~kept])
    assert not np.allclose(w2[0][kept], w[0][kept])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_softmax_and_log_likelihood_saturated_stay_finite(dtype):
    sizes = [3, 2, 4]
    w = [np.full((2, 3), 300.0), np.array([[500.0, 500.0], [-500.0, 0.0], [0.0, 0.0],
                                            [1.0, 2.0]])]
    b = [np.zeros((2, 1)), np.zeros((4, 1))]
    theta = native.pack(w, b, dtype)
    X = np.ones((3, 3), dtype=dtype)
    Y = np.eye(4, dtype=dtype)[[1, 2, 3]]  # targets the network gives ~0 probability
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, z = native.feedforward(theta, sizes, X, return_z=True, output="softmax")
        grad = native.backprop(theta, sizes, X, Y, "log-likelihood", output="softmax")
        native.sgd_epoch(theta, sizes, X, Y, np.arange(3), 3, 0.1, 0.0, cost="log-likelihood",
                         output="softmax")
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(np.isfinite(out)) and np.all(np.isfinite(grad)) and np.all(np.isfinite(theta))


@pytest.mark.parametrize("cost, output", [("cross-entropy", "softmax"),
                                          ("cross-entropy", "tanh"),
                                          ("log-likelihood", "sigmoid")])
def test_meaningless_combinations_are_refused(cost, output):
    sizes = [3, 2]
    theta = native.pack(*ref.init_params(sizes, np.random.default_rng(0)))
    with pytest.raises(ValueError, match="needs"):
        native.backprop(theta, sizes, np.zeros((1, 3)), np.zeros((1, 2)), cost, output=output)


def test_softmax_is_not_a_hidden_activation():
    theta = native.pack(*ref.init_params([3, 2, 2], np.random.default_rng(0)))
    with pytest.raises(ValueError, match="output layer only"):
        native.feedforward(theta, [3, 2, 2], np.zeros((1, 3)), hidden="softmax")


@pytest.mark.parametrize("kw, message", [
    (dict(dropout=1.0), "dropout"), (dict(dropout=-0.1), "dropout"),
    (dict(mu=1.0, velocity="v"), "mu"), (dict(mu=0.5), "velocity"),
    (dict(l1=-1.0), "regularization"),
])
def test_bad_options_are_refused_before_any_work(kw, message):
    sizes = [3, 2]
    theta = native.pack(*ref.init_params(sizes, np.random.default_rng(0)))
    before = theta.copy()
    if kw.get("velocity") == "v":
        kw["velocity"] = np.zeros_like(theta)
    with pytest.raises(ValueError, match=message):
        native.sgd_epoch(theta, sizes, np.zeros((2, 3)), np.zeros((2, 2)), [0, 1], 1, 0.5, **kw)
    assert np.array_equal(theta, before)


# Two threads split a mini-batch by its rows, or, for mini-batches up to
# 128, by layer 1's inputs (any update rule on a first layer of 64 inputs
# or more, with our kernels: INPUTS and WIDE_MANY, from mini-batches of 2)
# or by its neurons (plain SGD on a wide first layer of fewer inputs, rows
# of more than 1 KB: WIDE, in both dtypes; without our kernels WIDE_MANY
# too).  NARROW, with 20 inputs, is split by rows.
NARROW, WIDE, INPUTS = (20, 12, 7, 5), (40, 300, 7, 5), (96, 12, 7, 5)
WIDE_MANY = (96, 300, 7, 5)
# one hidden layer, split by inputs: from mini-batches of 32 its threads
# share the layers above by rows
INPUTS_ONE = (96, 12, 5)
SHAPE_IDS = {NARROW: "narrow", WIDE: "wide", INPUTS: "inputs", WIDE_MANY: "wide-inputs",
             INPUTS_ONE: "inputs-one-hidden"}


def test_each_problem_takes_its_split():
    by_inputs = "inputs" if _core.kernels() == "avx512" else "rows"
    for single in (False, True):
        assert _core._two_thread_split(list(WIDE), 64, single, True) == "neurons"
        assert _core._two_thread_split(list(WIDE), 129, single, True) == "rows"
        assert _core._two_thread_split(list(WIDE), 64, single, False) == "rows"
        assert _core._two_thread_split(list(NARROW), 64, single, True) == "rows"
        for mbs in (2, 3, 4, 10, 64, 128):
            assert _core._two_thread_split(list(INPUTS), mbs, single, True) == by_inputs
        # one example a mini-batch: by inputs, or one thread
        assert _core._two_thread_split(list(INPUTS), 1, single, True) == by_inputs
        assert _core._two_thread_split(list(INPUTS), 1, single, False) == by_inputs
        assert _core._two_thread_split(list(INPUTS), 129, single, True) == "rows"
        # momentum and dropout split by inputs too, not by neurons
        assert _core._two_thread_split(list(INPUTS), 64, single, False) == by_inputs
        # a wide layer of 64 inputs or more is split by its inputs where our
        # kernels run, with L1 too; without them, by its neurons
        wide_many = "inputs" if _core.kernels() == "avx512" else "neurons"
        for mbs in (2, 10, 12, 13, 64, 128):
            assert _core._two_thread_split(list(WIDE_MANY), mbs, single, True) == wide_many
            assert _core._two_thread_split(list(WIDE_MANY), mbs, single, True,
                                           0.5) == wide_many
            assert _core._two_thread_split(list(WIDE), mbs, single, True) == "neurons"
        assert _core._two_thread_split(list(WIDE_MANY), 129, single, True) == "rows"


def _split_problem(seed, n=203, sizes=NARROW):
    rng = np.random.default_rng(seed)
    theta = native.pack(*ref.init_params(list(sizes), rng), np.float64)
    X = rng.random((n, sizes[0]))
    Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    return theta, list(sizes), X, Y, rng.permutation(n)


PLAIN = [{}, {"l1": 2.0, "lmbda": 3.0}]
OTHERS = [{"mu": 0.9, "l1": 1.0}, {"mu": 0.5, "nesterov": True}, {"dropout": 0.4, "seed": 11},
          {"dropout": 0.3, "seed": 5, "mu": 0.7, "nesterov": True}]


@pytest.mark.parametrize("shape, options",
                         [(NARROW, o) for o in PLAIN + OTHERS]
                         + [(shape, o) for shape in (WIDE, INPUTS) for o in PLAIN]
                         + [(INPUTS, o) for o in OTHERS]
                         + [(INPUTS_ONE, o) for o in PLAIN + OTHERS]
                         + [(WIDE_MANY, o) for o in PLAIN[:1] + OTHERS[1:3]],
                         ids=lambda v: SHAPE_IDS[v] if isinstance(v, tuple)
                         else ",".join(v) or "plain")
@pytest.mark.parametrize("mbs", [1, 2, 3, 10, 33, 64, 203, 500])
def test_two_threads_take_the_same_steps(shape, options, mbs):
    """Every mini-batch size (odd ones leave thread 1 the smaller half; the
    last mini-batch may hold one example, which thread 0 takes alone) and
    every option, split by rows, or (up to 128 examples) by neurons (plain
    SGD on the wide network) or inputs (INPUTS; WIDE_MANY up to 12, its
    steps fused with the next forward product; INPUTS_ONE from 33, the
    layers above shared by rows, 33 leaving thread 1 the larger half of
    them, and the last mini-batch of 203 by 33, five rows, two and three):
    the same parameters and
    velocities as one thread, up to rounding, and the same result on every
    run (the split is fixed).  (With momentum the wide network's steps at mini-batch 2 are
    chaotic: one thread and two drift apart by 1e-8; they are compared on
    the narrow one.)  Mini-batch 1 is split by inputs only (INPUTS,
    INPUTS_ONE, WIDE_MANY); the others run it on one thread."""
    theta, sizes, X, Y, order = _split_problem(mbs, sizes=shape)
    results = []
    # the last run: one thread from weights changed by one part in 1e15,
    # how far rounding alone can carry this trajectory
    for threads, start in ((1, theta), (2, theta), (2, theta), (1, theta * (1 + 1e-15))):
        t = start.copy()
        velocity = np.zeros_like(t) if options.get("mu") or options.get("nesterov") else None
        out = native.sgd_epoch(t, sizes, X, Y, order, mbs, 0.7, options.get("lmbda", 0.0),
                               threads=threads, velocity=velocity,
                               **{k: v for k, v in options.items() if k != "lmbda"})
        results.append((t, velocity, out))
    (one, v_one, out_one), (two, v_two, out_two), (again, _, _), (moved, _, _) = results
    assert out_one == out_two == (len(order), True)
    # rounding compounds over a hundred steps of the 12,000 weights of the
    # wide problem: judged against the size of the parameters, or against
    # the drift of a start moved by 1e-15 where that is larger (L1's sign
    # steps with momentum are chaotic on the one-hidden-layer problem: 1.6e-3
    # at mini-batch 1, 1.9e-11 at 2)
    scale = max(np.abs(one).max(), 1.0)
    tol = max(1e-12 * scale, 10 * np.abs(moved - one).max())
    assert np.abs(two - one).max() <= tol
    if v_one is not None:
        assert np.abs(v_two - v_one).max() <= tol
    np.testing.assert_array_equal(again, two)
    assert not np.array_equal(two, theta)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shape", [NARROW, WIDE, INPUTS], ids=SHAPE_IDS.get)
def test_two_threads_stop_at_the_same_nonfinite_mini_batch(dtype, shape):
    """A mini-batch whose output is NaN stops both threads before either
    updates anything: the same count of examples done, the same weights."""
    theta, sizes, X, Y, order = _split_problem(7, sizes=shape)
    X = X.astype(dtype)
    X[order[130]] = np.nan   # the first row of mini-batch 13: thread 0's half
    outs = {}
    for threads in (1, 2):
        t = theta.astype(dtype)
        status = np.zeros(1, dtype=np.intp)
        outs[threads] = (native.sgd_epoch(t, sizes, X, Y.astype(dtype), order, 10, 0.5,
                                          threads=threads, status=status), t)
        assert status[0] == 130
    assert outs[1][0] == outs[2][0] == (130, False)
    np.testing.assert_allclose(outs[2][1], outs[1][1], rtol=1e-5 if dtype == np.float32
                               else 1e-12, atol=1e-6 if dtype == np.float32 else 1e-13)
    assert np.all(np.isfinite(outs[2][1]))
    X2 = X.copy()
    X2[order[130]] = 0
    X2[order[136]] = np.inf  # the second half of the mini-batch: thread 1's rows
    t = theta.astype(dtype)
    assert native.sgd_epoch(t, sizes, X2, Y.astype(dtype), order, 10, 0.5, threads=2) \
        == (130, False)
    assert np.all(np.isfinite(t))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bad", [120, 140, 159], ids=["thread-0", "thread-1", "last-row"])
def test_rows_above_stop_on_either_half(dtype, bad):
    """Split by inputs with the layers above shared by rows (one hidden
    layer, mini-batches of 40: rows 0-19 are thread 0's, 20-39 thread 1's):
    a NaN in either thread's rows of a mini-batch stops both before any step
    of it, as on one thread."""
    theta, sizes, X, Y, order = _split_problem(3, sizes=INPUTS_ONE)
    if _core.kernels() == "avx512":
        assert _core._two_thread_split(sizes, 40, dtype is np.float32, True) == "inputs"
    X = X.astype(dtype)
    X[order[bad]] = np.nan
    outs = {}
    for threads in (1, 2):
        t = theta.astype(dtype)
        outs[threads] = (native.sgd_epoch(t, sizes, X, Y.astype(dtype), order, 40, 0.5,
                                          threads=threads), t)
    assert outs[1][0] == outs[2][0] == (120, False)
    assert np.all(np.isfinite(outs[2][1]))
    np.testing.assert_allclose(outs[2][1], outs[1][1], rtol=1e-5 if dtype == np.float32
                               else 1e-12, atol=1e-6 if dtype == np.float32 else 1e-13)
    assert not np.array_equal(outs[2][1], theta.astype(dtype))


def test_threads_setting_is_checked():
    theta, sizes, X, Y, order = _split_problem(1)
    for bad in (0, 3, True, 1.5):
        with pytest.raises(ValueError, match="threads"):
            native.sgd_epoch(theta.copy(), sizes, X, Y, order, 10, 0.5, threads=bad)
    assert native.epoch_threads(1, 1000) == 1 and native.epoch_threads(2, 1) == 2
    assert native.epoch_threads(None, native.SPLIT_MIN_BATCH - 1) == 1
    two = 2 if native.usable_cpus() >= 2 else 1
    assert native.epoch_threads(None, native.SPLIT_MIN_BATCH) == two
    # smaller mini-batches: two threads where the split is by inputs or neurons
    for shape, mbs, plain in ((WIDE, 2, True), (INPUTS, 4, True), (INPUTS, 10, False),
                              (NARROW, 10, True), (WIDE, 1, True), (INPUTS, 1, False),
                              (NARROW, 1, True)):
        expect = two if native.two_thread_split(shape, mbs, np.float32, plain) != "rows" \
            else 1
        assert native.epoch_threads(None, mbs, shape, np.float32, plain) == expect
    assert native.two_thread_split(WIDE, 2) == "neurons"
    assert native.epoch_threads(None, 2, WIDE) == two
    assert native.epoch_threads(None, 10, NARROW) == 1
    for bad in (0, 3, "two", True):
        with pytest.raises(ValueError, match="threads must be 1, 2 or None"):
            native.epoch_threads(bad, 10)


@pytest.mark.parametrize("shape", [NARROW, WIDE, INPUTS], ids=SHAPE_IDS.get)
def test_interrupt_while_the_second_thread_starts(monkeypatch, shape):
    """Ctrl-C landing just as thread 1 starts: the two threads finish the
    first mini-batch together, then the interrupt is raised -- no thread is
    left waiting, and the weights are those after one mini-batch."""
    import threading
    theta, sizes, X, Y, order = _split_problem(3, sizes=shape)
    start = threading.Thread.start

    def start_then_interrupt(self):
        start(self)
        if self.name == "nncore-epoch-1":
            raise KeyboardInterrupt

    monkeypatch.setattr(threading.Thread, "start", start_then_interrupt)
    t, status = theta.copy(), np.zeros(1, dtype=np.intp)
    with pytest.raises(KeyboardInterrupt):
        native.sgd_epoch(t, sizes, X, Y, order, 40, 0.5, threads=2, status=status)
    monkeypatch.undo()
    assert status[0] == 40
    assert not any(th.name == "nncore-epoch-1" for th in threading.enumerate())
    one = theta.copy()
    native.sgd_epoch(one, sizes, X, Y, order[:40], 40, 0.5, n=len(order))
    np.testing.assert_allclose(t, one, rtol=1e-12, atol=1e-13)


# Subnormal numbers: an epoch flushes them to zero while it runs (they made
# float32 epochs of saturated networks up to 1.6x slower), and gives its
# caller back the floating-point mode it had.

@pytest.mark.parametrize("threads, shape", [(1, NARROW), (2, NARROW), (2, WIDE), (2, INPUTS)],
                         ids=["one", "rows", "neurons", "inputs"])
@pytest.mark.parametrize("caller_flushes", [False, True])
def test_an_epoch_leaves_the_callers_floating_point_mode(threads, shape, caller_flushes):
    theta, sizes, X, Y, order = _split_problem(5, sizes=shape)
    _core._set_subnormals_flushed(caller_flushes)
    try:
        assert _core._subnormals_flushed() == caller_flushes
        native.sgd_epoch(theta, sizes, X, Y, order, 10, 0.5, threads=threads)
        assert _core._subnormals_flushed() == caller_flushes
        with pytest.raises(ValueError):  # refused before any work
            native.sgd_epoch(theta, sizes, X, Y, order, 0, 0.5, threads=threads)
        assert _core._subnormals_flushed() == caller_flushes
    finally:
        _core._set_subnormals_flushed(False)


@pytest.mark.parametrize("threads", [1, 2])
def test_signal_handlers_run_in_the_callers_floating_point_mode(threads):
    """Python code a signal runs in the middle of an epoch (here a SIGALRM
    handler) sees the caller's mode, not the epoch's."""
    import signal
    theta, sizes, X, Y, _ = _split_problem(6, n=4000, sizes=INPUTS)
    order = np.tile(np.arange(4000), 200)  # long enough for the timer to fire
    seen = []

    def handler(signum, frame):
        seen.append(_core._subnormals_flushed())
        raise KeyboardInterrupt

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    try:
        with pytest.raises(KeyboardInterrupt):
            native.sgd_epoch(theta, sizes, X, Y, order, 10, 0.5, threads=threads)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert seen == [False]
    assert not _core._subnormals_flushed()


@pytest.mark.skipif(not _core._flushes_subnormals, reason="not x86: subnormals are kept")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mbs", [1, 8])
def test_subnormal_inputs_train_as_zeros(dtype, mbs):
    """Inside an epoch a subnormal number reads as zero: an input of 1e-40
    (float32) or 1e-310 (float64) under a weight of 1e37 or 1e307 would
    otherwise move its neuron's weighted input by about 1e-3, enough to
    change every step."""
    tiny, huge = (1e-40, 1e37) if dtype == np.float32 else (1e-310, 1e307)
    assert 0 < dtype(tiny) < np.finfo(dtype).tiny
    theta, sizes, X, Y, order = _split_problem(7, n=16, sizes=NARROW)
    theta = theta.astype(dtype)
    W1 = native.unpack(theta, sizes)[0][0]   # a view of layer 1's weights in theta
    W1[0, 3] = huge
    X, Y = X.astype(dtype), Y.astype(dtype)
    X[:, 3] = 0
    zeros = theta.copy()
    native.sgd_epoch(zeros, sizes, X, Y, order, mbs, 0.5)
    X[:, 3] = tiny
    flushed = theta.copy()
    native.sgd_epoch(flushed, sizes, X, Y, order, mbs, 0.5)
    np.testing.assert_array_equal(flushed, zeros)
    # outside an epoch (here, in NumPy) the same input counts
    assert X[0, 3] * W1[0, 3] > 1e-4
