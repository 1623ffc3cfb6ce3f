"""The native core against the NumPy reference.

Same weights and same mini-batch order must give the same gradients and the
same weights after an update or a whole epoch: float64 to a relative error
of 1e-10, float32 to 1e-4 (relative to the largest entry, per array).
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncore_reference as ref
from nncore import native

COSTS = ["quadratic", "cross-entropy"]
TOL = {np.float64: 1e-10, np.float32: 1e-4}


def rel_err(actual, expected):
    """max |actual - expected| / max |expected|: the error relative to the
    largest entry of the array."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    diff = float(np.max(np.abs(actual - expected), initial=0.0))
    scale = float(np.max(np.abs(expected), initial=0.0))
    return diff / scale if scale > 0 else diff


def assert_params_close(theta, sizes, weights, biases, tol):
    w_nat, b_nat = native.unpack(theta, sizes)
    for l, (a, e) in enumerate(zip(w_nat, weights)):
        assert rel_err(a, e) <= tol, f"weights[{l}]: {rel_err(a, e):.3g} > {tol}"
    for l, (a, e) in enumerate(zip(b_nat, biases)):
        assert rel_err(a, e) <= tol, f"biases[{l}]: {rel_err(a, e):.3g} > {tol}"


@st.composite
def problems(draw, max_width=64, max_examples=40):
    """A random network, data set, targets and hyper-parameters."""
    n_layers = draw(st.integers(2, 4))
    sizes = draw(st.lists(st.integers(1, max_width), min_size=n_layers, max_size=n_layers))
    n = draw(st.integers(1, max_examples))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    weights, biases = ref.init_params(sizes, rng, kind=draw(st.sampled_from(["default", "large"])))
    X = rng.random((n, sizes[0]))
    if draw(st.booleans()):
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n)]
    else:
        Y = rng.random((n, sizes[-1]))
    return dict(
        sizes=sizes, weights=weights, biases=biases, X=X, Y=Y, rng=rng,
        cost=draw(st.sampled_from(COSTS)),
        mbs=draw(st.integers(1, n)),
        eta=draw(st.floats(0.001, 3.0)),
        lmbda=draw(st.floats(0.0, 10.0)),
        dtype=draw(st.sampled_from([np.float64, np.float32])),
    )


common = settings(max_examples=150, deadline=None,
                  suppress_health_check=[HealthCheck.too_slow])


@common
@given(problems())
def test_backprop_matches_reference(p):
    dt = p["dtype"]
    theta = native.pack(p["weights"], p["biases"], dt)
    grad = native.backprop(theta, p["sizes"], p["X"].astype(dt), p["Y"].astype(dt), p["cost"])
    # float32 native is compared with the float64 reference: it must be
    # close to the exact gradient, not only to another float32 computation.
    nb, nw = ref.matrix.backprop(p["weights"], p["biases"], p["X"], p["Y"], p["cost"])
    assert_params_close(grad, p["sizes"], nw, nb, TOL[dt])


@common
@given(problems())
def test_one_update_matches_reference(p):
    dt = p["dtype"]
    theta = native.pack(p["weights"], p["biases"], dt)
    m = p["mbs"]
    n = len(p["X"]) + 7  # the training-set size is not the mini-batch size
    native.sgd_epoch(theta, p["sizes"], p["X"].astype(dt), p["Y"].astype(dt),
                     np.arange(m), m, p["eta"], p["lmbda"], n=n, cost=p["cost"])
    w, b = ref.matrix.update_mini_batch(p["weights"], p["biases"], p["X"][:m], p["Y"][:m],
                                        p["eta"], p["lmbda"], n, p["cost"])
    assert_params_close(theta, p["sizes"], w, b, TOL[dt])


@common
@given(problems())
def test_epoch_matches_reference(p):
    """A whole epoch in one native call, a fixed shuffled order, the last
    mini-batch short whenever mbs does not divide n.  A float32 epoch is
    judged against the float64 reference within 1e-4, or within ten times
    the float32 reference's own distance from it where that is larger:
    float32's rounding compounds over an epoch (with eta = 1, one example a
    step and four layers, 1.8e-4 on one problem hypothesis found)."""
    dt = p["dtype"]
    theta = native.pack(p["weights"], p["biases"], dt)
    order = p["rng"].permutation(len(p["X"]))
    eta = p["eta"]
    native.sgd_epoch(theta, p["sizes"], p["X"].astype(dt), p["Y"].astype(dt), order,
                     p["mbs"], eta, p["lmbda"], cost=p["cost"])
    w, b = ref.matrix.sgd_epoch(p["weights"], p["biases"], p["X"], p["Y"], order,
                                p["mbs"], eta, p["lmbda"], p["cost"])
    tol = TOL[dt]
    if dt is np.float32:
        w32, b32 = ref.matrix.sgd_epoch([a.astype(dt) for a in p["weights"]],
                                        [a.astype(dt) for a in p["biases"]],
                                        p["X"].astype(dt), p["Y"].astype(dt), order,
                                        p["mbs"], eta, p["lmbda"], p["cost"])
        tol = max(tol, 10 * max(rel_err(x, y) for x, y in zip(w32 + b32, w + b)))
    assert_params_close(theta, p["sizes"], w, b, tol)


@settings(max_examples=40, deadline=None)
@given(problems(max_width=12, max_examples=12))
def test_epoch_matches_per_example_reference(p):
    """Against the book's algorithm as written (one example at a time)."""
    theta = native.pack(p["weights"], p["biases"], np.float64)
    order = p["rng"].permutation(len(p["X"]))
    native.sgd_epoch(theta, p["sizes"], p["X"], p["Y"], order, p["mbs"], p["eta"],
                     p["lmbda"], cost=p["cost"])
    w, b = ref.per_example.sgd_epoch(p["weights"], p["biases"], p["X"], p["Y"], order,
                                     p["mbs"], p["eta"], p["lmbda"], p["cost"])
    assert_params_close(theta, p["sizes"], w, b, 1e-10)


@common
@given(problems())
def test_feedforward_matches_reference(p):
    dt = p["dtype"]
    theta = native.pack(p["weights"], p["biases"], dt)
    out = native.feedforward(theta, p["sizes"], p["X"].astype(dt))
    assert out.dtype == dt and out.shape == (len(p["X"]), p["sizes"][-1])
    assert rel_err(out, ref.matrix.feedforward(p["weights"], p["biases"], p["X"])) <= TOL[dt]


def test_feedforward_in_blocks_matches_reference():
    """More rows than one forward block (512): the blocks join seamlessly."""
    rng = np.random.default_rng(3)
    sizes = [20, 7, 3]
    w, b = ref.init_params(sizes, rng)
    X = rng.random((1300, 20))
    out, z = native.feedforward(native.pack(w, b), sizes, X, return_z=True)
    assert rel_err(out, ref.matrix.feedforward(w, b, X)) <= 1e-12
    a1 = ref.sigmoid(X @ w[0].T + b[0].T)
    assert rel_err(z, a1 @ w[1].T + b[1].T) <= 1e-12


def test_hand_worked_example():
    """A 2-2-1 sigmoid network, one example, one step; every number below
    was worked out by hand (rounded to 6 digits in the comments).

    W1 = [[0.1, 0.2], [0.3, 0.4]], b1 = [0, 0]; W2 = [[0.5, 0.6]], b2 = [0]
    x = [1, 1], y = 1, cross-entropy, eta = 1, lambda = 0.
      z1 = [0.3, 0.7]                a1 = sigma(z1) = [0.574443, 0.668188]
      z2 = 0.5*0.574443 + 0.6*0.668188 = 0.688134      a2 = 0.665552
      delta2 = a2 - y = -0.334448
      delta1 = (W2^T delta2) * a1(1 - a1)
             = [0.5, 0.6]*(-0.334448) * [0.244458, 0.221713]
             = [-0.040879, -0.044491]
      W2' = W2 - delta2 * a1 = [0.5 + 0.192121, 0.6 + 0.223474] = [0.692121, 0.823474]
      b2' = 0.334448
      W1' = W1 - delta1 x^T = [[0.140879, 0.240879], [0.344491, 0.444491]]
      b1' = [0.040879, 0.044491]
    """
    sizes = [2, 2, 1]
    theta = native.pack([[[0.1, 0.2], [0.3, 0.4]], [[0.5, 0.6]]], [[[0.0], [0.0]], [[0.0]]])
    native.sgd_epoch(theta, sizes, np.array([[1.0, 1.0]]), np.array([[1.0]]), [0], 1,
                     eta=1.0, lmbda=0.0, cost="cross-entropy")
    w, b = native.unpack(theta, sizes)
    np.testing.assert_allclose(w[1], [[0.692121, 0.823474]], atol=1e-6)
    np.testing.assert_allclose(b[1], [[0.334448]], atol=1e-6)
    np.testing.assert_allclose(w[0], [[0.140879, 0.240879], [0.344491, 0.444491]], atol=1e-6)
    np.testing.assert_allclose(b[0], [[0.040879], [0.044491]], atol=1e-6)


def test_weight_decay_only_touches_weights():
    """With a zero gradient (quadratic cost, output already equal to the
    target's sigmoid is hard to arrange, so use eta*lambda/n with targets
    equal to outputs) weights shrink by exactly 1 - eta*lambda/n and biases
    stay put."""
    rng = np.random.default_rng(0)
    sizes = [3, 4, 2]
    w, b = ref.init_params(sizes, rng)
    X = rng.random((5, 3))
    Y = ref.matrix.feedforward(w, b, X)  # targets = outputs: zero gradient
    theta = native.pack(w, b)
    native.sgd_epoch(theta, sizes, X, Y, np.arange(5), 5, eta=0.5, lmbda=2.0, n=10,
                     cost="quadratic")
    w2, b2 = native.unpack(theta, sizes)
    for a, e in zip(w2, w):
        np.testing.assert_allclose(a, (1 - 0.5 * 2.0 / 10) * e, rtol=1e-13)
    for a, e in zip(b2, b):
        np.testing.assert_allclose(a, e, rtol=1e-13)


@pytest.mark.parametrize("sizes", [[1, 1], [1, 1, 1], [5, 1, 5], [1, 64, 1], [2, 3, 4, 5]])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_degenerate_shapes(sizes, dtype):
    rng = np.random.default_rng(1)
    w, b = ref.init_params(sizes, rng)
    X = rng.random((1, sizes[0]))
    Y = rng.random((1, sizes[-1]))
    theta = native.pack(w, b, dtype)
    native.sgd_epoch(theta, sizes, X.astype(dtype), Y.astype(dtype), [0], 1, 0.5, 1.0,
                     cost="cross-entropy")
    w2, b2 = ref.matrix.update_mini_batch(w, b, X, Y, 0.5, 1.0, 1, "cross-entropy")
    assert_params_close(theta, sizes, w2, b2, TOL[dtype])
    assert native.feedforward(theta, sizes, X.astype(dtype)).shape == (1, sizes[-1])


def test_empty_inputs_do_nothing():
    sizes = [3, 2]
    theta = native.pack(*ref.init_params(sizes, np.random.default_rng(0)))
    before = theta.copy()
    native.sgd_epoch(theta, sizes, np.zeros((4, 3)), np.zeros((4, 2)), [], 3, 0.5)
    assert np.array_equal(theta, before)
    assert native.feedforward(theta, sizes, np.zeros((0, 3))).shape == (0, 2)
    assert np.array_equal(native.backprop(theta, sizes, np.zeros((0, 3)), np.zeros((0, 2))),
                          np.zeros_like(theta))


@pytest.mark.parametrize("cost", COSTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_saturated_neurons_stay_finite(cost, dtype):
    """Weights large enough to push z to +-1000: outputs exactly 0 or 1,
    no NaN, no overflow, no warnings."""
    sizes = [4, 3, 2]
    w = [np.full((3, 4), 250.0), np.array([[400.0, 400.0, 400.0], [-400.0, -400.0, -400.0]])]
    b = [np.zeros((3, 1)), np.array([[1000.0], [-1000.0]])]
    theta = native.pack(w, b, dtype)
    X = np.ones((6, 4), dtype=dtype)
    X[3:] *= -1
    Y = np.tile(np.array([[0.0, 1.0]], dtype=dtype), (6, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = native.feedforward(theta, sizes, X)
        grad = native.backprop(theta, sizes, X, Y, cost)
        native.sgd_epoch(theta, sizes, X, Y, np.arange(6), 2, 0.5, 1.0, cost=cost)
    assert set(np.unique(out)) <= {0.0, 1.0}
    assert np.all(np.isfinite(grad)) and np.all(np.isfinite(theta))


def test_read_only_inputs_are_accepted_and_untouched():
    sizes = [3, 4, 2]
    rng = np.random.default_rng(5)
    theta = native.pack(*ref.init_params(sizes, rng))
    X = rng.random((8, 3))
    Y = np.eye(2)[rng.integers(0, 2, 8)]
    X.flags.writeable = False
    Y.flags.writeable = False
    X0, Y0 = X.copy(), Y.copy()
    native.sgd_epoch(theta, sizes, X, Y, rng.permutation(8), 3, 0.5, 0.1)
    native.feedforward(theta, sizes, X)
    assert np.array_equal(X, X0) and np.array_equal(Y, Y0)


def test_bad_arguments_are_refused_before_any_work():
    sizes = [3, 2]
    theta = native.pack(*ref.init_params(sizes, np.random.default_rng(0)))
    before = theta.copy()
    X, Y = np.zeros((4, 3)), np.zeros((4, 2))
    with pytest.raises(IndexError, match="outside"):
        native.sgd_epoch(theta, sizes, X, Y, [0, 4], 1, 0.5)
    with pytest.raises(IndexError, match="outside"):
        native.sgd_epoch(theta, sizes, X, Y, [-1], 1, 0.5)
    with pytest.raises(ValueError, match="columns"):
        native.sgd_epoch(theta, sizes, np.zeros((4, 5)), Y, [0], 1, 0.5)
    with pytest.raises(ValueError, match="columns"):
        native.backprop(theta, sizes, X, np.zeros((4, 3)))
    with pytest.raises(ValueError, match="mini_batch_size"):
        native.sgd_epoch(theta, sizes, X, Y, [0], 0, 0.5)
    with pytest.raises(ValueError, match="entries"):
        native.sgd_epoch(theta[:-1].copy(), sizes, X, Y, [0], 1, 0.5)
    with pytest.raises(ValueError, match="unknown cost"):
        native.backprop(theta, sizes, X, Y, cost="hinge")
    with pytest.raises(TypeError, match="float32 or float64"):
        native.feedforward(theta.astype(np.float16), sizes, X)
    assert np.array_equal(theta, before)


@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-8), (np.float32, 1e-6)])
def test_hand_worked_2_3_1_example_of_the_reference(dtype, atol):
    """The reference's hand-worked 2-3-1 example (both costs, eta, lambda
    and n chosen there), through the native core."""
    from test_reference import check_hand_worked

    def update(weights, biases, X, Y, eta, lmbda, n, cost):
        sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
        theta = native.pack(weights, biases, dtype)
        native.sgd_epoch(theta, sizes, X, Y, np.arange(len(X)), len(X), eta, lmbda, n=n,
                         cost=cost)
        return native.unpack(theta, sizes)

    def feedforward(weights, biases, X):
        sizes = [weights[0].shape[1]] + [w.shape[0] for w in weights]
        return native.feedforward(native.pack(weights, biases, dtype), sizes, X)

    check_hand_worked(update, feedforward=feedforward, dtype=dtype, atol=atol)
