"""Tests of the pure-NumPy reference, ``nncore_reference``.

The reference is the oracle for the native core, so it is checked here against
things that do not depend on it: central finite differences of an independent
cost evaluation, a small example worked by hand, and the agreement of its two
independently written forms (per-example and matrix).
"""

import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nncore_reference as R
from nncore_reference import matrix, per_example

FAST = settings(max_examples=100, deadline=None)

# The costs that go with the default sigmoid output layer (log-likelihood needs
# a softmax output; those combinations are tested in test_reference_ch3.py).
SIGMOID_COSTS = ["cross-entropy", "quadratic"]

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def rel_err(actual, expected):
    """Norm-wise relative error max|actual - expected| / max|expected|."""
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape
    scale = np.max(np.abs(expected), initial=0.0)
    diff = np.max(np.abs(actual - expected), initial=0.0)
    return diff / scale if scale > 0 else diff


def assert_params_close(actual, expected, tol, start=None):
    """Every array of the list ``actual`` is within ``tol`` (norm-wise
    relative) of the same array of ``expected``.

    For parameters after an update, pass the parameters before it as
    ``start``: the scale of each layer is then the larger of the two, since an
    update ``decay*w - step*nabla_w`` that happens to cancel to almost 0 still
    carries rounding errors of the size of ``w``.
    """
    assert len(actual) == len(expected)
    for l, (a, e) in enumerate(zip(actual, expected)):
        a = np.asarray(a, dtype=np.float64)
        e = np.asarray(e, dtype=np.float64)
        assert a.shape == e.shape
        scale = np.max(np.abs(e), initial=0.0)
        if start is not None:
            scale = max(scale, np.max(np.abs(start[l]), initial=0.0))
        err = np.max(np.abs(a - e), initial=0.0) / (scale if scale > 0 else 1.0)
        assert err <= tol, f"layer {l}: relative error {err:.3g} > {tol:.1g}"


def columns(X, Y):
    """Rows of X, Y as the list of (x, y) column pairs of network2."""
    return [(x.reshape(-1, 1), y.reshape(-1, 1)) for x, y in zip(X, Y)]


def independent_cost(weights, biases, X, Y, cost_name):
    """sum_x C_x over the rows of X, written without the package under test
    (naive sigmoid; the test nets never have |z| near the overflow of exp)."""
    a = X
    for w, b in zip(weights, biases):
        z = a @ w.T + b.T
        a = 1.0 / (1.0 + np.exp(-z))
    if cost_name == "quadratic":
        return 0.5 * np.sum((a - Y) ** 2)
    # -y ln(sigma(z)) - (1-y) ln(1 - sigma(z)), from z for accuracy
    return np.sum(Y * np.logaddexp(0.0, -z) + (1 - Y) * np.logaddexp(0.0, z))


def finite_difference_gradient(weights, biases, X, Y, cost_name, h=1e-6):
    """Central differences (f(p+h) - f(p-h)) / 2h for every parameter."""
    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]

    def f():
        return independent_cost(weights, biases, X, Y, cost_name)

    grads = []
    for params in (biases, weights):
        g_layers = []
        for p in params:
            g = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + h
                f_plus = f()
                p[idx] = old - h
                f_minus = f()
                p[idx] = old
                g[idx] = (f_plus - f_minus) / (2 * h)
            g_layers.append(g)
        grads.append(g_layers)
    return grads[0], grads[1], f()


@dataclass
class Case:
    sizes: list
    weights: list
    biases: list
    X: np.ndarray
    Y: np.ndarray
    cost: str


@st.composite
def cases(draw, max_layers=4, max_width=8, max_rows=5):
    """A small random net (2-4 layers, widths 1-8), data and targets
    (one-hot or uniform in [0, 1]) and a cost."""
    sizes = draw(st.lists(st.integers(1, max_width), min_size=2, max_size=max_layers))
    n_rows = draw(st.integers(1, max_rows))
    kind = draw(st.sampled_from(R.INIT_KINDS))
    one_hot = draw(st.booleans())
    cost = draw(st.sampled_from(SIGMOID_COSTS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    weights, biases = R.init_params(sizes, rng, kind=kind)
    X = rng.standard_normal((n_rows, sizes[0]))
    if one_hot:
        Y = np.eye(sizes[-1])[rng.integers(0, sizes[-1], n_rows)]
    else:
        Y = rng.random((n_rows, sizes[-1]))
    return Case(sizes, weights, biases, X, Y, cost)


# --------------------------------------------------------------------------
# gradients: finite differences
# --------------------------------------------------------------------------


def check_against_finite_differences(nabla_b, nabla_w, case):
    fd_b, fd_w, f = finite_difference_gradient(case.weights, case.biases, case.X, case.Y, case.cost)
    # Rounding in f(p +- h) is about eps*|f|/h ~ 1e-10*|f|; the absolute
    # tolerance sits well above it, the relative one is the 1e-6 we require.
    atol = 1e-8 * max(1.0, abs(f))
    for got, want in zip(nabla_b + nabla_w, fd_b + fd_w):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=atol)


@FAST
@given(cases())
def test_per_example_backprop_matches_finite_differences(case):
    grads = [per_example.backprop(case.weights, case.biases, x, y, case.cost)
             for x, y in columns(case.X, case.Y)]
    nabla_b = [sum(g[0][l] for g in grads) for l in range(len(case.biases))]
    nabla_w = [sum(g[1][l] for g in grads) for l in range(len(case.weights))]
    check_against_finite_differences(nabla_b, nabla_w, case)


@FAST
@given(cases())
def test_matrix_backprop_matches_finite_differences(case):
    nabla_b, nabla_w = matrix.backprop(case.weights, case.biases, case.X, case.Y, case.cost)
    check_against_finite_differences(nabla_b, nabla_w, case)


def test_finite_difference_check_detects_a_wrong_gradient():
    """The check above is not vacuous: a gradient off by 1e-4 fails it."""
    rng = np.random.default_rng(3)
    weights, biases = R.init_params([3, 4, 2], rng)
    case = Case([3, 4, 2], weights, biases, rng.standard_normal((2, 3)), rng.random((2, 2)), "quadratic")
    nabla_b, nabla_w = matrix.backprop(weights, biases, case.X, case.Y, case.cost)
    check_against_finite_differences(nabla_b, nabla_w, case)
    nabla_w[0] = nabla_w[0] * (1 + 1e-4)
    with pytest.raises(AssertionError):
        check_against_finite_differences(nabla_b, nabla_w, case)


# --------------------------------------------------------------------------
# the two forms agree
# --------------------------------------------------------------------------


@FAST
@given(cases())
def test_backprop_forms_agree(case):
    grads = [per_example.backprop(case.weights, case.biases, x, y, case.cost)
             for x, y in columns(case.X, case.Y)]
    sum_b = [sum(g[0][l] for g in grads) for l in range(len(case.biases))]
    sum_w = [sum(g[1][l] for g in grads) for l in range(len(case.weights))]
    nabla_b, nabla_w = matrix.backprop(case.weights, case.biases, case.X, case.Y, case.cost)
    assert_params_close(nabla_b, sum_b, 1e-10)
    assert_params_close(nabla_w, sum_w, 1e-10)


hyper = dict(
    eta=st.floats(0.0, 5.0),
    lmbda=st.floats(0.0, 10.0),
    extra_n=st.integers(0, 1000),
)


def training_set_size(N, eta, lmbda, extra=0):
    """An n >= N with weight decay 1 - eta*lmbda/n in [0.5, 1]: a larger
    eta*lmbda/n makes the decay factor negative and the training diverge,
    where comparing float32 with float64 says nothing."""
    return max(N + extra, int(np.ceil(2 * eta * lmbda)))


@FAST
@given(case=cases(), **hyper)
def test_update_mini_batch_forms_agree(case, eta, lmbda, extra_n):
    n = training_set_size(len(case.X), eta, lmbda, extra_n)
    w1, b1 = per_example.update_mini_batch(case.weights, case.biases, columns(case.X, case.Y),
                                           eta, lmbda, n, case.cost)
    w2, b2 = matrix.update_mini_batch(case.weights, case.biases, case.X, case.Y,
                                      eta, lmbda, n, case.cost)
    assert_params_close(w2, w1, 1e-10, start=case.weights)
    assert_params_close(b2, b1, 1e-10, start=case.biases)
    # float32 stays float32 and stays close to float64
    w32, b32 = matrix.update_mini_batch([w.astype(np.float32) for w in case.weights],
                                        [b.astype(np.float32) for b in case.biases],
                                        case.X, case.Y, eta, lmbda, n, case.cost)
    assert all(a.dtype == np.float32 for a in w32 + b32)
    w64, b64 = matrix.update_mini_batch([w.astype(np.float32).astype(np.float64) for w in case.weights],
                                        [b.astype(np.float32).astype(np.float64) for b in case.biases],
                                        case.X, case.Y, eta, lmbda, n, case.cost)
    assert_params_close(w32, w64, 1e-4, start=case.weights)
    assert_params_close(b32, b64, 1e-4, start=case.biases)


@st.composite
def epochs(draw):
    """A case with up to 12 rows, a mini-batch size, an order (a permutation,
    or any indices with repeats) and hyper-parameters."""
    case = draw(cases(max_rows=12))
    N = len(case.X)
    mbs = draw(st.integers(1, N + 2))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        order = rng.permutation(N)
    else:
        order = rng.integers(0, N, size=draw(st.integers(1, 2 * N)))
    extra = draw(st.one_of(st.none(), st.integers(0, 100)))
    return case, order, mbs, extra


@FAST
@given(epoch=epochs(), eta=hyper["eta"], lmbda=hyper["lmbda"])
def test_sgd_epoch_forms_agree(epoch, eta, lmbda):
    case, order, mbs, extra = epoch
    # n=None means len(order); use it where it keeps the decay factor sane
    if extra is None and 2 * eta * lmbda <= len(order):
        n = None
    else:
        n = training_set_size(len(case.X), eta, lmbda, extra or 0)
    args = (case.X, case.Y, order, mbs, eta, lmbda, case.cost)
    w1, b1 = per_example.sgd_epoch(case.weights, case.biases, *args, n=n)
    w2, b2 = matrix.sgd_epoch(case.weights, case.biases, *args, n=n)
    assert_params_close(w2, w1, 1e-10, start=case.weights)
    assert_params_close(b2, b1, 1e-10, start=case.biases)

    # the batching rule, spelled out: order[k:k+mbs], m = len(batch), n = len(order)
    w3, b3 = case.weights, case.biases
    for k in range(0, len(order), mbs):
        rows = order[k:k + mbs]
        w3, b3 = matrix.update_mini_batch(w3, b3, case.X[rows], case.Y[rows], eta, lmbda,
                                          len(order) if n is None else n, case.cost)
    assert_params_close(w2, w3, 1e-12, start=case.weights)
    assert_params_close(b2, b3, 1e-12, start=case.biases)

    # float32 matrix form against float64, from the same (float32) start
    w32 = [w.astype(np.float32) for w in case.weights]
    b32 = [b.astype(np.float32) for b in case.biases]
    w4, b4 = matrix.sgd_epoch(w32, b32, *args, n=n)
    w5, b5 = matrix.sgd_epoch([w.astype(np.float64) for w in w32],
                              [b.astype(np.float64) for b in b32], *args, n=n)
    assert all(a.dtype == np.float32 for a in w4 + b4)
    assert all(a.dtype == np.float64 for a in w5 + b5)
    assert_params_close(w4, w5, 1e-4, start=case.weights)
    assert_params_close(b4, b5, 1e-4, start=case.biases)


@pytest.mark.parametrize("form", [per_example, matrix])
def test_sgd_epoch_short_last_batch(form):
    """7 rows in mini-batches of 3: batches of 3, 3 and 1, the last averaged over 1."""
    rng = np.random.default_rng(11)
    weights, biases = R.init_params([4, 5, 3], rng)
    X = rng.standard_normal((7, 4))
    Y = np.eye(3)[rng.integers(0, 3, 7)]
    order = np.array([6, 0, 5, 1, 4, 2, 3])
    eta, lmbda = 0.7, 2.0
    got_w, got_b = form.sgd_epoch(weights, biases, X, Y, order, 3, eta, lmbda, "cross-entropy")

    w, b = weights, biases
    for rows in ([6, 0, 5], [1, 4, 2], [3]):
        w, b = per_example.update_mini_batch(w, b, columns(X[rows], Y[rows]), eta, lmbda, 7,
                                             "cross-entropy")
    assert_params_close(got_w, w, 1e-12)
    assert_params_close(got_b, b, 1e-12)
    # ... and a last batch averaged over the full size 3 would have given something else
    w_bad, b_bad = weights, biases
    for rows in ([6, 0, 5], [1, 4, 2]):
        w_bad, b_bad = per_example.update_mini_batch(w_bad, b_bad, columns(X[rows], Y[rows]),
                                                     eta, lmbda, 7, "cross-entropy")
    w_bad, b_bad = per_example.update_mini_batch(w_bad, b_bad, columns(X[[3, 3, 3]], Y[[3, 3, 3]]),
                                                 eta / 3, lmbda * 3, 7, "cross-entropy")
    assert rel_err(got_w[0], w_bad[0]) > 1e-6


@pytest.mark.parametrize("form", ["per_example", "matrix"])
@pytest.mark.parametrize("cost", SIGMOID_COSTS)
def test_update_averages_over_the_mini_batch(form, cost):
    """A batch of the same example three times makes the same step as the
    example alone: the sum of gradients is divided by m (eqs. 93-94)."""
    rng = np.random.default_rng(5)
    weights, biases = R.init_params([3, 4, 2], rng, kind="large")
    x = rng.standard_normal((1, 3))
    y = np.array([[0.0, 1.0]])
    X3, Y3 = np.repeat(x, 3, axis=0), np.repeat(y, 3, axis=0)
    if form == "per_example":
        one = per_example.update_mini_batch(weights, biases, columns(x, y), 1.5, 0.3, 20, cost)
        three = per_example.update_mini_batch(weights, biases, columns(X3, Y3), 1.5, 0.3, 20, cost)
    else:
        one = matrix.update_mini_batch(weights, biases, x, y, 1.5, 0.3, 20, cost)
        three = matrix.update_mini_batch(weights, biases, X3, Y3, 1.5, 0.3, 20, cost)
    assert_params_close(three[0], one[0], 1e-14)
    assert_params_close(three[1], one[1], 1e-14)
    assert rel_err(one[0][0], weights[0]) > 1e-3  # the step did something


@pytest.mark.parametrize("form", [per_example, matrix])
def test_n_defaults_to_len_order(form):
    rng = np.random.default_rng(8)
    weights, biases = R.init_params([2, 3, 2], rng)
    X = rng.standard_normal((4, 2))
    Y = rng.random((4, 2))
    order = np.array([0, 1, 2, 3, 3, 2, 1, 0, 1])  # 9 indices into 4 rows
    args = (X, Y, order, 4, 0.5, 3.0, "quadratic")
    default = form.sgd_epoch(weights, biases, *args)
    explicit = form.sgd_epoch(weights, biases, *args, n=9)
    other = form.sgd_epoch(weights, biases, *args, n=4)
    assert_params_close(default[0], explicit[0], 0.0)
    assert rel_err(default[0][0], other[0][0]) > 1e-6


# --------------------------------------------------------------------------
# a hand-worked example
# --------------------------------------------------------------------------
#
# A 2-3-1 network, one example x = (1, 0.5)^T with target y = 1, one step with
# eta = 0.5, lmbda = 0.1, n = 10 (so m = 1, decay = 1 - 0.5*0.1/10 = 0.995 and
# eta/m = 0.5).
#
#   W1 = [[ 0.1,  0.2],      b1 = [ 0.1, -0.1, 0.2]^T
#         [-0.3,  0.4],
#         [ 0.5, -0.6]]
#   W2 = [[0.3, -0.2, 0.1]]  b2 = [0.05]
#
# Forward:
#   z1 = W1 x + b1 = [0.1+0.1+0.1, -0.3+0.2-0.1, 0.5-0.3+0.2] = [0.3, -0.2, 0.4]
#   a1 = sigma(z1) = [0.574443, 0.450166, 0.598688]
#   sigma'(z1)     = [0.244458, 0.247517, 0.240261]
#   z2 = 0.3*0.574443 - 0.2*0.450166 + 0.1*0.598688 + 0.05 = 0.192168
#   a2 = sigma(z2) = 0.547895,  sigma'(z2) = 0.247706,  a2 - y = -0.452105
#
# Quadratic cost (C = 0.5*(a2-y)^2 = 0.102200):
#   delta2 = (a2 - y) sigma'(z2) = -0.452105*0.247706 = -0.111989          (BP1)
#   delta1 = W2^T delta2 (.) sigma'(z1)                                     (BP2)
#          = [-0.0335968, 0.0223978, -0.0111989] (.) sigma'(z1)
#          = [-0.00821301, 0.00554384, -0.00269066]
#   W2' = 0.995 W2 - 0.5 delta2 a1^T   (0.5*delta2 = -0.0559946)            (93, BP4)
#       = [0.2985+0.0321657, -0.199+0.0252069, 0.0995+0.0335233]
#       = [0.330666, -0.173793, 0.133023]
#   b2' = 0.05 + 0.0559946 = 0.105995                                       (94, BP3)
#   W1' = 0.995 W1 - 0.5 delta1 x^T    (0.5*delta1 = [-0.00410650, 0.00277192, -0.00134533])
#       = [[ 0.0995+0.00410650,  0.199+0.00205325 ],   = [[ 0.103607,  0.201053],
#          [-0.2985-0.00277192,  0.398-0.00138596 ],      [-0.301272,  0.396614],
#          [ 0.4975+0.00134533, -0.597+0.000672665]]      [ 0.498845, -0.596327]]
#   b1' = b1 - 0.5 delta1 = [0.104107, -0.102772, 0.201345]
#
# Cross-entropy cost (C = -ln a2 = 0.601672):
#   delta2 = a2 - y = -0.452105                                             (BP1)
#   delta1 = [-0.135632, 0.0904210, -0.0452105] (.) sigma'(z1)
#          = [-0.0331563, 0.0223807, -0.0108623]                            (BP2)
#   W2' = [0.2985+0.129854, -0.199+0.101761, 0.0995+0.135335]   (0.5*delta2 = -0.226053)
#       = [0.428354, -0.0972388, 0.234835]
#   b2' = 0.05 + 0.226053 = 0.276053
#   W1' (0.5*delta1 = [-0.0165781, 0.0111904, -0.00543116])
#       = [[ 0.0995+0.0165781,  0.199+0.00828907],   = [[ 0.116078,  0.207289],
#          [-0.2985-0.0111904,  0.398-0.00559518],      [-0.309690,  0.392405],
#          [ 0.4975+0.00543116, -0.597+0.00271558]]     [ 0.502931, -0.594284]]
#   b1' = [0.1+0.0165781, -0.1-0.0111904, 0.2+0.00543116] = [0.116578, -0.111190, 0.205431]
#
# total_cost with lmbda = 0.1 on this one example (N = 1): sum ||w||^2 =
# 0.91 + 0.14 = 1.05, L2 term 0.5*0.1*1.05 = 0.0525, so 0.154700 (quadratic)
# and 0.654172 (cross-entropy).
#
# The values below carry more digits (worked in double precision) so that a
# float64 implementation can be held to 1e-8; the comments above agree with
# them to the digits shown.

HAND_WORKED = {
    "sizes": [2, 3, 1],
    "weights": [[[0.1, 0.2], [-0.3, 0.4], [0.5, -0.6]], [[0.3, -0.2, 0.1]]],
    "biases": [[[0.1], [-0.1], [0.2]], [[0.05]]],
    "x": [1.0, 0.5],
    "y": [1.0],
    "eta": 0.5,
    "lmbda": 0.1,
    "n": 10,
    "output": 0.5478947799,
    "expected": {
        "quadratic": {
            "total_cost": 0.1021995650 + 0.0525,
            "weights": [[[0.1036065042, 0.2010532521],
                         [-0.3012719187, 0.3966140406],
                         [0.4988453306, -0.5963273347]],
                        [[0.3306656837, -0.1737931311, 0.1330232810]]],
            "biases": [[[0.1041065042], [-0.1027719187], [0.2013453306]],
                       [[0.1059946082]]],
        },
        "cross-entropy": {
            "total_cost": 0.6016720179 + 0.0525,
            "weights": [[[0.1160781318, 0.2072890659],
                         [-0.3096903535, 0.3924048233],
                         [0.5029311569, -0.5942844216]],
                        [[0.4283542302, -0.0972388001, 0.2348349082]]],
            "biases": [[[0.1165781318], [-0.1111903535], [0.2054311569]],
                       [[0.2760526100]]],
        },
    },
}


def check_hand_worked(update_mini_batch, feedforward=None, total_cost=None,
                      dtype=np.float64, atol=1e-8):
    """Run HAND_WORKED through an implementation and compare with the numbers
    worked out by hand above.

    ``update_mini_batch(weights, biases, X, Y, eta, lmbda, n, cost_name)``
    returns ``(weights, biases)``; X and Y hold one example per row; weights and
    biases are network2-shaped lists of arrays of ``dtype``.
    ``feedforward(weights, biases, X)`` and
    ``total_cost(weights, biases, X, Y, lmbda, cost_name)`` are checked when given.
    Use ``atol`` around 1e-6 for float32.
    """
    hw = HAND_WORKED
    weights = [np.array(w, dtype=dtype) for w in hw["weights"]]
    biases = [np.array(b, dtype=dtype) for b in hw["biases"]]
    X = np.array([hw["x"]], dtype=dtype)
    Y = np.array([hw["y"]], dtype=dtype)
    saved = [a.copy() for a in weights + biases]
    if feedforward is not None:
        out = np.asarray(feedforward(weights, biases, X))
        np.testing.assert_allclose(out.reshape(-1), [hw["output"]], rtol=0, atol=atol)
    for cost_name, expected in hw["expected"].items():
        new_w, new_b = update_mini_batch(weights, biases, X, Y, hw["eta"], hw["lmbda"], hw["n"],
                                         cost_name)
        for got, want in zip(list(new_w) + list(new_b), expected["weights"] + expected["biases"]):
            got = np.asarray(got)
            assert got.dtype == dtype
            np.testing.assert_allclose(got, np.array(want), rtol=0, atol=atol,
                                       err_msg=f"cost {cost_name}")
        if total_cost is not None:
            tc = total_cost(weights, biases, X, Y, hw["lmbda"], cost_name)
            assert tc == pytest.approx(expected["total_cost"], abs=atol)
    # the inputs were not modified
    for a, s in zip(weights + biases, saved):
        np.testing.assert_array_equal(a, s)


def _per_example_update(weights, biases, X, Y, eta, lmbda, n, cost):
    return per_example.update_mini_batch(weights, biases, columns(X, Y), eta, lmbda, n, cost)


def _per_example_feedforward(weights, biases, X):
    return np.vstack([per_example.feedforward(weights, biases, x.reshape(-1, 1)).T for x in X])


def test_hand_worked_per_example():
    check_hand_worked(_per_example_update, feedforward=_per_example_feedforward)


def test_hand_worked_matrix():
    check_hand_worked(matrix.update_mini_batch, feedforward=matrix.feedforward,
                      total_cost=matrix.total_cost)


def test_hand_worked_matrix_float32():
    check_hand_worked(matrix.update_mini_batch, feedforward=matrix.feedforward,
                      total_cost=matrix.total_cost, dtype=np.float32, atol=1e-6)


def test_hand_worked_check_detects_an_added_gradient():
    """network2's listing as extracted ADDS (eta/m) nabla_w; that must fail."""
    def wrong_sign(weights, biases, X, Y, eta, lmbda, n, cost):
        nabla_b, nabla_w = matrix.backprop(weights, biases, X, Y, cost)
        m = len(X)
        return ([(1 - eta * lmbda / n) * w + (eta / m) * nw for w, nw in zip(weights, nabla_w)],
                [b - (eta / m) * nb for b, nb in zip(biases, nabla_b)])

    with pytest.raises(AssertionError):
        check_hand_worked(wrong_sign)


# --------------------------------------------------------------------------
# numerical safety: no warnings, finite values
# --------------------------------------------------------------------------


@pytest.fixture
def strict_fp():
    """Turn every warning, and every NumPy overflow, division by zero and
    invalid operation into an exception. (Underflow to 0 is the correct result
    of a saturated sigmoid and is allowed; NumPy ignores it by default.)"""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):
            yield


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_extremes(strict_fp, dtype):
    z = np.array([-1000, -100, -40, 0, 40, 100, 1000], dtype=dtype)
    with np.errstate(all="raise"):  # the sigmoid itself is clean even of underflow
        s = R.sigmoid(z)
    assert s.dtype == dtype
    assert np.all(np.isfinite(s))
    assert s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5
    assert np.all(np.diff(s) >= 0)
    sp = R.sigmoid_prime(z)
    assert sp.dtype == dtype
    assert sp[0] == 0.0 and sp[-1] == 0.0 and sp[3] == 0.25
    assert R.sigmoid(dtype(-1000)) == 0.0 and R.sigmoid(dtype(1000)) == 1.0


def test_sigmoid_values_and_types():
    z = np.linspace(-30, 30, 601)
    np.testing.assert_allclose(R.sigmoid(z), 1 / (1 + np.exp(-z)), rtol=1e-15, atol=0)
    # s*(1-s) cancels where s ~ 1, so its error is about eps absolute, not relative
    np.testing.assert_allclose(R.sigmoid_prime(z), np.exp(-z) / (1 + np.exp(-z)) ** 2,
                               rtol=1e-13, atol=3e-16)
    assert R.sigmoid(-50.0) == pytest.approx(np.exp(-50.0), rel=1e-15)  # not rounded to 0
    assert R.sigmoid(np.arange(3)).dtype == np.float64
    col = R.sigmoid(np.zeros((4, 1), dtype=np.float32))
    assert col.shape == (4, 1) and col.dtype == np.float32
    assert np.ndim(R.sigmoid(0.0)) == 0


def test_cross_entropy_saturated_outputs(strict_fp):
    CE = R.CrossEntropyCost
    # right and saturated: cost exactly 0, no 0*log(0) = nan
    assert CE.fn(np.array([[0.0], [1.0]]), np.array([[0.0], [1.0]])) == 0.0
    # wrong and saturated: finite and large
    wrong = CE.fn(np.array([[1.0]]), np.array([[0.0]]))
    assert np.isfinite(wrong) and wrong > 700
    assert np.isfinite(CE.fn(np.array([[0.0, 1.0]]), np.array([[0.3, 0.6]])))
    # from z: exact even when sigma(z) rounds to 0 or 1
    z = np.array([[1000.0], [-1000.0], [40.0]])
    a = R.sigmoid(z)
    assert a[0, 0] == 1.0 and a[1, 0] == 0.0
    assert CE.fn(a, np.array([[0.0], [1.0], [0.0]]), z=z) == pytest.approx(2040.0, rel=1e-15)
    assert CE.fn(a, np.array([[1.0], [0.0], [1.0]]), z=z) == pytest.approx(np.exp(-40.0), rel=1e-12)
    z32 = z.astype(np.float32)
    c32 = CE.fn(R.sigmoid(z32), np.array([[0.0], [1.0], [0.0]], dtype=np.float32), z=z32)
    assert np.isfinite(c32) and c32 == pytest.approx(2040.0, rel=1e-6)


def test_total_cost_with_saturating_weights(strict_fp):
    rng = np.random.default_rng(2)
    weights, biases = R.init_params([3, 4, 2], rng)
    weights = [w * 1000 for w in weights]
    X = rng.standard_normal((6, 3))
    Y = np.eye(2)[rng.integers(0, 2, 6)]
    for cost in SIGMOID_COSTS:
        for dtype in (np.float32, np.float64):
            c = matrix.total_cost([w.astype(dtype) for w in weights],
                                  [b.astype(dtype) for b in biases], X, Y, 1.0, cost)
            assert np.isfinite(c) and c > 0


def test_costs_of_rows_are_sums_of_costs_of_columns():
    rng = np.random.default_rng(4)
    Z = rng.standard_normal((5, 3)) * 3
    A = R.sigmoid(Z)
    Y = rng.random((5, 3))
    for cost in R.COSTS.values():
        by_column = sum(cost.fn(a.reshape(-1, 1), y.reshape(-1, 1)) for a, y in zip(A, Y))
        assert cost.fn(A, Y) == pytest.approx(by_column, rel=1e-14)
    # cross-entropy from z and from a agree where both are accurate
    assert R.CrossEntropyCost.fn(A, Y, z=Z) == pytest.approx(R.CrossEntropyCost.fn(A, Y), rel=1e-12)
    assert R.QuadraticCost.fn(A, Y) == pytest.approx(0.5 * np.sum((A - Y) ** 2), rel=1e-15)
    # the deltas of BP1
    np.testing.assert_allclose(R.CrossEntropyCost.delta(Z, A, Y), A - Y, rtol=0, atol=0)
    np.testing.assert_allclose(R.QuadraticCost.delta(Z, A, Y), (A - Y) * A * (1 - A), rtol=1e-14)


# --------------------------------------------------------------------------
# total_cost, accuracy, feedforward
# --------------------------------------------------------------------------


@FAST
@given(case=cases(max_rows=8), lmbda=st.floats(0.0, 10.0))
def test_total_cost(case, lmbda):
    N = len(case.X)
    cost = R.get_cost(case.cost)
    mean = sum(cost.fn(per_example.feedforward(case.weights, case.biases, x), y)
               for x, y in columns(case.X, case.Y)) / N
    l2 = sum(np.sum(w ** 2) for w in case.weights)
    got = matrix.total_cost(case.weights, case.biases, case.X, case.Y, lmbda, case.cost)
    assert isinstance(got, float)
    assert got == pytest.approx(mean + 0.5 * lmbda / N * l2, rel=1e-9)
    # the L2 term is added once, divided by N
    unregularised = matrix.total_cost(case.weights, case.biases, case.X, case.Y, 0.0, case.cost)
    assert got - unregularised == pytest.approx(0.5 * lmbda / N * l2, rel=1e-9, abs=1e-12)


@FAST
@given(cases(max_rows=8))
def test_feedforward_forms_agree(case):
    rows = matrix.feedforward(case.weights, case.biases, case.X)
    assert rows.shape == (len(case.X), case.sizes[-1])
    cols = np.hstack([per_example.feedforward(case.weights, case.biases, x) for x, _ in
                      columns(case.X, case.Y)])
    np.testing.assert_allclose(rows, cols.T, rtol=1e-13, atol=1e-300)


def test_accuracy():
    # A 3-3 net with weights 10*I: the most active output is the largest input.
    weights = [10 * np.eye(3)]
    biases = [np.zeros((3, 1))]
    X = np.array([[1.0, 0.0, 0.0], [0.0, 2.0, 1.0], [0.0, 0.0, 3.0], [5.0, 1.0, 0.0], [0, 1.0, 2.0]])
    labels = np.array([0, 1, 0, 0, 1])  # rows 0, 1 and 3 right
    assert matrix.accuracy(weights, biases, X, labels) == 3
    assert matrix.accuracy(weights, biases, X, np.eye(3)[labels]) == 3  # one-hot targets
    assert matrix.accuracy(weights, biases, X, np.argmax(X, axis=1)) == 5
    assert isinstance(matrix.accuracy(weights, biases, X, labels), int)


# --------------------------------------------------------------------------
# purity, dtypes, helpers
# --------------------------------------------------------------------------


def test_functions_do_not_modify_inputs():
    rng = np.random.default_rng(9)
    weights, biases = R.init_params([3, 4, 2], rng)
    X = rng.standard_normal((5, 3))
    Y = rng.random((5, 2))
    order = np.array([4, 3, 2, 1, 0])
    before = [a.copy() for a in weights + biases + [X, Y, order]]
    results = [
        per_example.update_mini_batch(weights, biases, columns(X, Y), 0.5, 1.0, 5, "quadratic"),
        per_example.sgd_epoch(weights, biases, X, Y, order, 2, 0.5, 1.0, "quadratic"),
        per_example.sgd_epoch(weights, biases, X, Y, order[:0], 2, 0.5, 1.0, "quadratic"),
        matrix.update_mini_batch(weights, biases, X, Y, 0.5, 1.0, 5, "cross-entropy"),
        matrix.sgd_epoch(weights, biases, X, Y, order, 2, 0.5, 1.0, "cross-entropy"),
        matrix.sgd_epoch(weights, biases, X, Y, order[:0], 2, 0.5, 1.0, "cross-entropy"),
    ]
    per_example.backprop(weights, biases, X[0], Y[0], "quadratic")
    matrix.backprop(weights, biases, X, Y, "quadratic")
    matrix.total_cost(weights, biases, X, Y, 1.0, "quadratic")
    for a, b in zip(weights + biases + [X, Y, order], before):
        np.testing.assert_array_equal(a, b)
    inputs = {id(a) for a in weights + biases}
    for new_w, new_b in results:
        assert new_w is not weights and new_b is not biases
        assert not inputs & {id(a) for a in new_w + new_b}
    # an epoch with no mini-batches changes nothing
    assert_params_close(results[2][0], weights, 0.0)
    assert_params_close(results[5][1], biases, 0.0)


def test_matrix_form_keeps_float32():
    rng = np.random.default_rng(12)
    weights, biases = R.init_params([3, 4, 2], rng, dtype=np.float32)
    X = rng.standard_normal((5, 3))  # float64 data is cast to the weights' dtype
    Y = rng.random((5, 2))
    assert matrix.feedforward(weights, biases, X).dtype == np.float32
    nb, nw = matrix.backprop(weights, biases, X, Y, "quadratic")
    assert all(a.dtype == np.float32 for a in nb + nw)
    w, b = matrix.sgd_epoch(weights, biases, X, Y, np.arange(5), 2, 0.5, 1.0, "cross-entropy")
    assert all(a.dtype == np.float32 for a in w + b)


def test_init_params_draw_order_and_kinds():
    sizes = [4, 3, 2]
    w, b = R.init_params(sizes, np.random.default_rng(42))
    rng = np.random.default_rng(42)
    b_expected = [rng.standard_normal((3, 1)), rng.standard_normal((2, 1))]
    w_expected = [rng.standard_normal((3, 4)) / 2.0, rng.standard_normal((2, 3)) / np.sqrt(3)]
    for got, want in zip(w + b, w_expected + b_expected):
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, want)
    w_large, b_large = R.init_params(sizes, np.random.default_rng(42), kind="large")
    assert_params_close(b_large, b, 0.0)
    assert_params_close([wl / np.sqrt(wl.shape[1]) for wl in w_large], w, 0.0)
    w32, b32 = R.init_params(sizes, np.random.default_rng(42), dtype=np.float32)
    for got, want in zip(w32 + b32, w + b):
        assert got.dtype == np.float32
        np.testing.assert_array_equal(got, want.astype(np.float32))
    w_seed, _ = R.init_params(sizes, 42)  # a seed is accepted too
    assert_params_close(w_seed, w, 0.0)
    with pytest.raises(ValueError):
        R.init_params(sizes, np.random.default_rng(0), kind="xavier")
    with pytest.raises(ValueError):
        R.init_params([5], np.random.default_rng(0))


def test_get_cost():
    assert R.get_cost("quadratic") is R.QuadraticCost
    assert R.get_cost("cross-entropy") is R.CrossEntropyCost
    assert R.get_cost("CrossEntropyCost") is R.CrossEntropyCost  # network2's saved name
    assert R.get_cost(R.QuadraticCost) is R.QuadraticCost
    assert R.COSTS == {"quadratic": R.QuadraticCost, "cross-entropy": R.CrossEntropyCost,
                       "log-likelihood": R.LogLikelihoodCost}
    assert R.get_cost("LogLikelihoodCost") is R.LogLikelihoodCost
    assert R.QuadraticCost.name == "quadratic" and R.CrossEntropyCost.name == "cross-entropy"
    with pytest.raises(ValueError, match="unknown cost"):
        R.get_cost("hinge")
    with pytest.raises(TypeError):
        R.get_cost(3)


def test_reference_imports_only_numpy():
    import subprocess
    import sys

    code = (
        "import sys, nncore_reference\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('scipy', 'nncore'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env=_child_env())


def _child_env():
    import os

    import nncore_reference

    env = dict(os.environ)
    pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(nncore_reference.__file__)))
    env["PYTHONPATH"] = os.pathsep.join(p for p in (pkg_parent, env.get("PYTHONPATH")) if p)
    return env
