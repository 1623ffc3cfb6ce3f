"""Tests of the rest of chapter 3 in the NumPy reference, ``nncore_reference``:
tanh / ReLU / linear neurons, the softmax output layer and the log-likelihood
cost (eqs. 78-84), L1 regularisation (eqs. 95-97), dropout, and momentum
(eqs. 107-108) with Nesterov's variant.

As in ``test_reference.py``, the reference is checked against things that do
not depend on it: central finite differences of a cost written here from
scratch, rules spelled out in the test, the two independently written forms
(per-example and matrix) against each other, and a plain-integer (and C)
version of the dropout hash.
"""

import warnings

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import nncore_reference as R
from nncore_reference import dropout as D
from nncore_reference import matrix, per_example

FAST = settings(max_examples=100, deadline=None)

HIDDEN = sorted(R.ACTIVATIONS)                      # linear, relu, sigmoid, tanh
VALID = ([("quadratic", out) for out in R.OUTPUTS]
         + [("cross-entropy", "sigmoid"), ("log-likelihood", "softmax")])
INVALID = [(c, o) for c in R.COSTS for o in R.OUTPUTS if (c, o) not in VALID]

# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def assert_params_close(actual, expected, tol, start=None):
    """Every array of ``actual`` is within ``tol`` (max-norm relative to the
    larger of ``expected`` and ``start``, the parameters before the update) of
    the same array of ``expected``.  A run that diverged must have diverged
    alike: the same infinities and NaNs in the same places; the finite
    entries are compared as above."""
    assert len(actual) == len(expected)
    for l, (a, e) in enumerate(zip(actual, expected)):
        a = np.asarray(a, dtype=np.float64)
        e = np.asarray(e, dtype=np.float64)
        assert a.shape == e.shape
        off = ~np.isfinite(e)
        assert np.array_equal(~np.isfinite(a), off), f"layer {l}: not finite in other places"
        assert np.array_equal(a[off], e[off], equal_nan=True), f"layer {l}: other infinities"
        a, e = a[~off], e[~off]
        scale = np.max(np.abs(e), initial=0.0)
        if start is not None:
            scale = max(scale, np.max(np.abs(start[l]), initial=0.0))
        err = np.max(np.abs(a - e), initial=0.0) / (scale if scale > 0 else 1.0)
        assert err <= tol, f"layer {l}: relative error {err:.3g} > {tol:.1g}"


def columns(X, Y):
    return [(x.reshape(-1, 1), y.reshape(-1, 1)) for x, y in zip(X, Y)]


def per_example_grad_sum(weights, biases, X, Y, cost, **kw):
    grads = [per_example.backprop(weights, biases, x, y, cost, **kw) for x, y in columns(X, Y)]
    return ([sum(g[0][l] for g in grads) for l in range(len(biases))],
            [sum(g[1][l] for g in grads) for l in range(len(weights))])


# An independent network, written naively from the equations (the test nets
# never get near the overflow of exp).
NAIVE_ACT = {
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "tanh": lambda z: (np.exp(z) - np.exp(-z)) / (np.exp(z) + np.exp(-z)),   # eq. 110
    "relu": lambda z: np.where(z > 0, z, 0.0),                                # eq. 112
    "linear": lambda z: z,
}


def naive_softmax(z):  # eq. 78, one example per row
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def naive_forward(weights, biases, X, hidden, output, scales=None):
    """Every layer's weighted input Z^l and the output activation;
    ``scales`` (one row per hidden layer) thins the hidden layers."""
    a, zs = X, []
    for l, (w, b) in enumerate(zip(weights, biases)):
        z = a @ w.T + b.T
        zs.append(z)
        if l == len(weights) - 1:
            a = naive_softmax(z) if output == "softmax" else NAIVE_ACT[output](z)
        else:
            a = NAIVE_ACT[hidden](z)
            if scales is not None:
                a = a * scales[l]
    return zs, a


def naive_cost_sum(a, Y, cost):
    """sum_x C_x: eq. 6's quadratic, eq. 57's cross-entropy, eq. 80's log-likelihood."""
    if cost == "quadratic":
        return 0.5 * np.sum((a - Y) ** 2)
    if cost == "cross-entropy":
        return -np.sum(Y * np.log(a) + (1 - Y) * np.log(1 - a))
    return -np.sum(Y * np.log(a))


def naive_objective(weights, biases, X, Y, cost, hidden, output, lmbda=0.0, l1=0.0,
                    scales=None):
    """(1/N) sum_x C_x + (lmbda/2N) sum w^2 + (l1/N) sum |w|   (eqs. 85, 95)."""
    N = len(X)
    _, a = naive_forward(weights, biases, X, hidden, output, scales)
    return (naive_cost_sum(a, Y, cost) / N
            + 0.5 * lmbda / N * sum(np.sum(w * w) for w in weights)
            + l1 / N * sum(np.sum(np.abs(w)) for w in weights))


def central_differences(f, weights, biases, h=1e-6):
    """(f(p + h) - f(p - h)) / 2h for every parameter: (grad_b, grad_w)."""
    weights = [w.copy() for w in weights]
    biases = [b.copy() for b in biases]
    out = []
    for params in (biases, weights):
        grads = []
        for p in params:
            g = np.zeros_like(p)
            for idx in np.ndindex(p.shape):
                old = p[idx]
                p[idx] = old + h
                f_plus = f(weights, biases)
                p[idx] = old - h
                f_minus = f(weights, biases)
                p[idx] = old
                g[idx] = (f_plus - f_minus) / (2 * h)
            grads.append(g)
        out.append(grads)
    return out[0], out[1]


def targets(rng, cost, output, m, n_out):
    """Desired outputs that suit the cost: probability rows (one-hot or
    random) for log-likelihood -- eq. 84's a - y is its gradient only when
    sum_j y_j = 1 -- values in [0, 1] for cross-entropy, any for quadratic."""
    if cost == "log-likelihood":
        if rng.random() < 0.5:
            return np.eye(n_out)[rng.integers(0, n_out, m)]
        return rng.dirichlet(np.ones(n_out), size=m)
    if cost == "cross-entropy":
        return rng.random((m, n_out))
    return rng.uniform(-1.0, 1.0, (m, n_out)) if output in ("tanh", "linear") else rng.random((m, n_out))


def relu_safe_case(seed, cost, output, hidden, sizes=None, m=4, p=0.0, dropout_seed=0):
    """A random net and data whose ReLU units have |z| >= 1e-3 everywhere.

    ReLU's derivative jumps from 0 to 1 at z = 0. A central difference whose
    step moves some z across 0 measures neither value, so the finite-difference
    check is only meaningful when every ReLU's weighted input is farther from
    0 than a step of h = 1e-6 can move it (about h times the size of the
    activations and weights, well below 1e-5 here). Cases with a unit inside
    the margin 1e-3 are resampled with the next seed; the margin does not
    depend on which gradient is correct, only on where the kink is.
    """
    for s in range(seed, seed + 1000):
        rng = np.random.default_rng(s)
        if sizes is None:
            sz = [int(v) for v in rng.integers(2, 5, size=rng.integers(3, 5))]
        else:
            sz = list(sizes)
        weights, biases = R.init_params(sz, rng)
        X = rng.standard_normal((m, sz[0]))
        Y = targets(rng, cost, output, m, sz[-1])
        scales = None
        if p > 0:
            scales = [np.where(mask, 1 / (1 - p), 0.0)
                      for mask in D.hidden_masks(sz, dropout_seed, 0, p)]
        zs, _ = naive_forward(weights, biases, X, hidden, output, scales)
        relu_z = (zs[:-1] if hidden == "relu" else []) + (zs[-1:] if output == "relu" else [])
        if all(np.min(np.abs(z)) >= 1e-3 for z in relu_z):
            return sz, weights, biases, X, Y
    raise AssertionError("no ReLU-safe case found")


# --------------------------------------------------------------------------
# backprop against finite differences: every (cost, output) x hidden
# --------------------------------------------------------------------------


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("cost,output", VALID)
def test_backprop_matches_finite_differences(cost, output, hidden):
    """BP1-BP4 with every valid output layer and cost and every hidden neuron:
    sum_x dC_x/dp from both forms against central differences of sum_x C_x
    written above. (Regularisation plays no part: backprop is C_0's gradient.)"""
    for seed in (100, 200):
        sizes, weights, biases, X, Y = relu_safe_case(seed, cost, output, hidden)

        def f(w, b):
            return naive_cost_sum(naive_forward(w, b, X, hidden, output)[1], Y, cost)

        fd_b, fd_w = central_differences(f, weights, biases)
        atol = 1e-8 * max(1.0, abs(f(weights, biases)))
        kw = dict(hidden=hidden, output=output)
        for nabla_b, nabla_w in (matrix.backprop(weights, biases, X, Y, cost, **kw),
                                 per_example_grad_sum(weights, biases, X, Y, cost, **kw)):
            for got, want in zip(nabla_b + nabla_w, fd_b + fd_w):
                np.testing.assert_allclose(got, want, rtol=1e-6, atol=atol,
                                           err_msg=f"{cost}/{output}/{hidden}, sizes {sizes}")


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("cost,output", [("quadratic", "linear"), ("cross-entropy", "sigmoid"),
                                         ("log-likelihood", "softmax"), ("quadratic", "tanh")])
def test_dropout_backprop_matches_finite_differences(cost, output, hidden):
    """With dropout, backprop is the gradient of the THINNED network: hidden
    activations f(z) * mask / (1 - p), masks from the dropout hash."""
    p, seed = 0.4, 77
    sizes, weights, biases, X, Y = relu_safe_case(3, cost, output, hidden, sizes=[3, 6, 5, 3],
                                                  p=p, dropout_seed=seed)
    scales = [np.where(mask, 1 / (1 - p), 0.0) for mask in D.hidden_masks(sizes, seed, 0, p)]
    assert all(0 < np.count_nonzero(s) < len(s) for s in scales)  # something was dropped

    def f(w, b):
        return naive_cost_sum(naive_forward(w, b, X, hidden, output, scales)[1], Y, cost)

    fd_b, fd_w = central_differences(f, weights, biases)
    atol = 1e-8 * max(1.0, abs(f(weights, biases)))
    kw = dict(hidden=hidden, output=output, dropout=p, dropout_seed=seed, batch_index=0)
    for nabla_b, nabla_w in (matrix.backprop(weights, biases, X, Y, cost, **kw),
                             per_example_grad_sum(weights, biases, X, Y, cost, **kw)):
        for got, want in zip(nabla_b + nabla_w, fd_b + fd_w):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=atol)


def nonzero_weights(weights, margin=1e-2):
    """``weights`` with every entry at least ``margin`` away from 0, so that
    |w| is differentiable within any finite-difference step."""
    return [np.where(np.abs(w) < margin, np.where(w < 0, -margin, margin), w) for w in weights]


@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize("cost,output", VALID)
def test_one_update_is_a_step_along_the_regularised_gradient(cost, output, hidden):
    """For one full batch (m = n), (w - w') / eta is the gradient of the whole
    objective  mean C_0 + (lmbda/2n) sum w^2 + (l1/n) sum |w|  (eqs. 93, 97),
    and (b - b') / eta that of mean C_0. The objective is differentiated here by
    central differences of the naive version, at weights with no zero entry
    (|w| has a corner at 0); matrix.total_cost is checked to be that objective.
    """
    eta, lmbda, l1 = 0.1, 0.7, 0.3
    sizes, weights, biases, X, Y = relu_safe_case(300, cost, output, hidden, m=5)
    weights = nonzero_weights(weights)
    # nonzero_weights may have moved a ReLU's z: recheck the margin of the FD step
    zs, _ = naive_forward(weights, biases, X, hidden, output)
    if hidden == "relu" or output == "relu":
        relu_z = (zs[:-1] if hidden == "relu" else []) + (zs[-1:] if output == "relu" else [])
        assert all(np.min(np.abs(z)) >= 1e-4 for z in relu_z)
    n = len(X)
    kw = dict(hidden=hidden, output=output)

    def J(w, b):
        return naive_objective(w, b, X, Y, cost, hidden, output, lmbda, l1)

    assert matrix.total_cost(weights, biases, X, Y, lmbda, cost, l1=l1, **kw) == pytest.approx(
        J(weights, biases), rel=1e-12)
    fd_b, fd_w = central_differences(J, weights, biases)
    updates = [
        matrix.update_mini_batch(weights, biases, X, Y, eta, lmbda, n, cost, l1=l1, **kw),
        per_example.update_mini_batch(weights, biases, columns(X, Y), eta, lmbda, n, cost,
                                      l1=l1, **kw),
        # momentum from rest: v' = -eta (g + r), so the same step
        matrix.update_mini_batch(weights, biases, X, Y, eta, lmbda, n, cost, l1=l1, mu=0.9, **kw),
    ]
    atol = 1e-8 * max(1.0, abs(J(weights, biases)))
    for new_w, new_b, *_ in updates:
        for got, want in zip([(b - b2) / eta for b, b2 in zip(biases, new_b)]
                             + [(w - w2) / eta for w, w2 in zip(weights, new_w)], fd_b + fd_w):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=atol)


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("cost,output,hidden", [("cross-entropy", "sigmoid", "tanh"),
                                                ("log-likelihood", "softmax", "sigmoid"),
                                                ("quadratic", "linear", "tanh")])
def test_momentum_step_uses_the_gradient_at_the_right_point(cost, output, hidden, nesterov):
    """With a velocity v: w' = w + mu v - eta grad J(at), where at = w for
    momentum (eqs. 107-108) and the look-ahead w + mu v for Nesterov; so
    (w + mu v - w') / eta is the finite-difference gradient at that point."""
    eta, lmbda, l1, mu = 0.2, 0.5, 0.2, 0.8
    sizes, weights, biases, X, Y = relu_safe_case(7, cost, output, hidden, m=4)
    rng = np.random.default_rng(1)
    vw = [0.05 * rng.standard_normal(w.shape) for w in weights]
    vb = [0.05 * rng.standard_normal(b.shape) for b in biases]
    weights = nonzero_weights(weights, margin=0.1)  # |w| stays differentiable at w + mu v too
    at_w = [w + mu * v for w, v in zip(weights, vw)] if nesterov else weights
    at_b = [b + mu * v for b, v in zip(biases, vb)] if nesterov else biases
    assert all(np.min(np.abs(w)) > 1e-3 for w in at_w)

    def J(w, b):
        return naive_objective(w, b, X, Y, cost, hidden, output, lmbda, l1)

    fd_b, fd_w = central_differences(J, at_w, at_b)
    n = len(X)
    kw = dict(hidden=hidden, output=output, l1=l1, mu=mu, nesterov=nesterov, velocities=(vw, vb))
    for form_update in (
        lambda: matrix.update_mini_batch(weights, biases, X, Y, eta, lmbda, n, cost, **kw),
        lambda: per_example.update_mini_batch(weights, biases, columns(X, Y), eta, lmbda, n,
                                              cost, **kw),
    ):
        new_w, new_b, (new_vw, new_vb) = form_update()
        implied_b = [(b + mu * v - b2) / eta for b, v, b2 in zip(biases, vb, new_b)]
        implied_w = [(w + mu * v - w2) / eta for w, v, w2 in zip(weights, vw, new_w)]
        for got, want in zip(implied_b + implied_w, fd_b + fd_w):
            np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
        # and the returned velocity is the step just taken (eq. 108)
        assert_params_close(new_vw, [w2 - w for w, w2 in zip(weights, new_w)], 1e-14)
        assert_params_close(new_vb, [b2 - b for b, b2 in zip(biases, new_b)], 1e-14)


# --------------------------------------------------------------------------
# the two forms agree on everything
# --------------------------------------------------------------------------


@st.composite
def training_runs(draw):
    """A small net with random neurons, cost, data, order (with a short last
    batch in general) and every chapter-3 hyper-parameter."""
    sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=4))
    hidden = draw(st.sampled_from(HIDDEN))
    cost, output = draw(st.sampled_from(VALID))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = "relu" if hidden == "relu" else draw(st.sampled_from(["default", "large"]))
    weights, biases = R.init_params(sizes, rng, kind=kind)
    N = draw(st.integers(1, 10))
    X = rng.standard_normal((N, sizes[0]))
    Y = targets(rng, cost, output, N, sizes[-1])
    mbs = draw(st.integers(1, N + 1))
    order = rng.permutation(N) if draw(st.booleans()) else rng.integers(0, N, size=N + 3)
    eta = draw(st.floats(0.0, 1.0))
    lmbda = draw(st.sampled_from([0.0, 0.5, 3.0]))
    l1 = draw(st.sampled_from([0.0, 0.1, 1.0]))
    n = max(len(order), int(np.ceil(2 * eta * (lmbda + l1))))  # keeps 1 - eta*lmbda/n >= 0.5
    dropout = draw(st.sampled_from([0.0, 0.0, 0.2, 0.5, 0.8]))
    dropout_seed = draw(st.integers(0, 2**64 - 1))
    mu = draw(st.sampled_from([0.0, 0.5, 0.9]))
    nesterov = draw(st.booleans())
    velocities = None
    if draw(st.booleans()):
        velocities = ([0.1 * rng.standard_normal(w.shape) for w in weights],
                      [0.1 * rng.standard_normal(b.shape) for b in biases])
    opts = dict(hidden=hidden, output=output, l1=l1, dropout=dropout, dropout_seed=dropout_seed,
                mu=mu, nesterov=nesterov, velocities=velocities)
    return dict(weights=weights, biases=biases, X=X, Y=Y, order=order, mbs=mbs, eta=eta,
                lmbda=lmbda, n=n, cost=cost, opts=opts)


def uses_momentum(opts):
    return opts["mu"] > 0 or opts["velocities"] is not None or opts["nesterov"]


def check_results_agree(r1, r2, run, tol=1e-10):
    assert len(r1) == len(r2) == (3 if uses_momentum(run["opts"]) else 2)
    assert_params_close(r2[0], r1[0], tol, start=run["weights"])
    assert_params_close(r2[1], r1[1], tol, start=run["biases"])
    if len(r1) == 3:
        # a velocity is a difference of parameters (eq. 108), so its rounding
        # error is relative to the size of the parameters, not of itself
        assert_params_close(r2[2][0], r1[2][0], tol, start=[np.abs(w) + np.abs(v) for w, v in
                                                            zip(run["weights"], r1[0])])
        assert_params_close(r2[2][1], r1[2][1], tol, start=[np.abs(b) + np.abs(v) for b, v in
                                                            zip(run["biases"], r1[1])])
        v0 = run["opts"]["velocities"]
        assert v0 is None or r1[2][0] is not v0[0]     # new lists, the input untouched


@FAST
@given(training_runs(), st.integers(0, 5))
def test_update_mini_batch_forms_agree(run, batch_index):
    batch = run["order"][:run["mbs"]]
    X, Y = run["X"][batch], run["Y"][batch]
    args = (run["eta"], run["lmbda"], run["n"], run["cost"])
    r1 = per_example.update_mini_batch(run["weights"], run["biases"], columns(X, Y), *args,
                                       batch_index=batch_index, **run["opts"])
    r2 = matrix.update_mini_batch(run["weights"], run["biases"], X, Y, *args,
                                  batch_index=batch_index, **run["opts"])
    check_results_agree(r1, r2, run)


@FAST
@given(training_runs())
# a linear network that overflows to infinities within six steps: both
# forms must diverge alike
@example(run=dict(
    weights=[np.array([[0.07417558, -0.37877545]]), np.array([[0.36159505]]),
             np.array([[1.30400005]])],
    biases=[np.array([[0.12573022]]), np.array([[-0.13210486]]), np.array([[0.64042265]])],
    X=np.array([[0.94708096, -0.70373524], [-1.26542147, -0.62327446],
                [0.04132598, -2.32503077]]),
    Y=np.array([[-0.93282885], [0.45931089], [-0.64868876]]),
    order=np.array([0, 2, 0, 1, 0, 0]), mbs=1, eta=1.0, lmbda=0.0, n=6, cost="quadratic",
    opts=dict(hidden="linear", output="linear", l1=0.0, dropout=0.0, dropout_seed=0,
              mu=0.0, nesterov=False, velocities=None)))
def test_sgd_epoch_forms_agree(run):
    args = (run["X"], run["Y"], run["order"], run["mbs"], run["eta"], run["lmbda"], run["cost"])
    r1 = per_example.sgd_epoch(run["weights"], run["biases"], *args, n=run["n"], **run["opts"])
    r2 = matrix.sgd_epoch(run["weights"], run["biases"], *args, n=run["n"], **run["opts"])
    check_results_agree(r1, r2, run)

    # the batching rule spelled out: batch k // mbs uses that dropout index,
    # velocities carry over
    opts = dict(run["opts"])
    w, b, v = run["weights"], run["biases"], opts.pop("velocities")
    for k in range(0, len(run["order"]), run["mbs"]):
        rows = run["order"][k:k + run["mbs"]]
        r = matrix.update_mini_batch(w, b, run["X"][rows], run["Y"][rows], run["eta"],
                                     run["lmbda"], run["n"], run["cost"],
                                     batch_index=k // run["mbs"], velocities=v, **opts)
        w, b = r[0], r[1]
        v = r[2] if len(r) == 3 else None
    assert_params_close(r2[0], w, 0.0)
    assert_params_close(r2[1], b, 0.0)


@FAST
@given(training_runs())
def test_feedforward_and_backprop_forms_agree(run):
    o = run["opts"]
    kw = dict(hidden=o["hidden"], output=o["output"])
    rows = matrix.feedforward(run["weights"], run["biases"], run["X"], **kw)
    cols = np.hstack([per_example.feedforward(run["weights"], run["biases"], x, **kw)
                      for x, _ in columns(run["X"], run["Y"])])
    np.testing.assert_allclose(rows, cols.T, rtol=1e-12, atol=1e-14)
    kw.update(dropout=o["dropout"], dropout_seed=o["dropout_seed"], batch_index=3)
    nb, nw = matrix.backprop(run["weights"], run["biases"], run["X"], run["Y"], run["cost"], **kw)
    sb, sw = per_example_grad_sum(run["weights"], run["biases"], run["X"], run["Y"], run["cost"],
                                  **kw)
    assert_params_close(nb, sb, 1e-10, start=[np.full(1, 1e-3)] * len(nb))
    assert_params_close(nw, sw, 1e-10, start=[np.full(1, 1e-3)] * len(nw))


@pytest.mark.parametrize("hidden,cost,output", [("tanh", "log-likelihood", "softmax"),
                                                ("sigmoid", "quadratic", "softmax"),
                                                ("relu", "quadratic", "linear")])
def test_float32_matrix_form(hidden, cost, output):
    """float32 stays float32 (velocities too) and stays within 1e-4 of float64."""
    rng = np.random.default_rng(21)
    sizes = [4, 6, 5, 3]
    w64, b64 = R.init_params(sizes, rng, kind="relu" if hidden == "relu" else "default")
    w32 = [w.astype(np.float32) for w in w64]
    b32 = [b.astype(np.float32) for b in b64]
    X = rng.standard_normal((11, 4))
    Y = np.eye(3)[rng.integers(0, 3, 11)]
    kw = dict(hidden=hidden, output=output, l1=0.05, dropout=0.3, dropout_seed=9, mu=0.8,
              nesterov=True)
    args = (X, Y, rng.permutation(11), 4, 0.3, 1.0, cost)
    r32 = matrix.sgd_epoch(w32, b32, *args, **kw)
    r64 = matrix.sgd_epoch([w.astype(np.float64) for w in w32],
                           [b.astype(np.float64) for b in b32], *args, **kw)
    assert all(a.dtype == np.float32 for a in r32[0] + r32[1] + r32[2][0] + r32[2][1])
    assert_params_close(r32[0], r64[0], 1e-4, start=w32)
    assert_params_close(r32[1], r64[1], 1e-4, start=b32)
    assert matrix.feedforward(r32[0], r32[1], X, hidden=hidden, output=output).dtype == np.float32


# --------------------------------------------------------------------------
# dropout
# --------------------------------------------------------------------------


def test_mix64_is_splitmix64():
    # splitmix64 seeded with 0 returns 0xE220A8397B1DCDAF first: the constants are right
    assert D.mix64_int(0) == 0xE220A8397B1DCDAF
    assert int(D.mix64(np.array([0], dtype=np.uint64))[0]) == 0xE220A8397B1DCDAF


# Values computed by this module and by a 10-line C version of the rule with
# uint64_t arithmetic (they agree); the native core can test against them.
GOLDEN_HASHES = [
    ((0, 0, 1, [0, 1, 2, 3]),
     [0xBFF505763B60AD4E, 0x7B863400BC026A40, 0x55D7B0F433AEA643, 0xE1B160FA0DC7D0CC]),
    ((12345, 7, 2, [0, 1, 2, 3]),
     [0xD523BEDD4CAB22B6, 0xC3A7D2B35BE0BD07, 0x509FA6B049E1BF1F, 0xCEEC90D279D96C75]),
    ((2**64 - 1, 2**24 - 1, 255, [2**32 - 1]), [0x6309143E67A47936]),
]
GOLDEN_KEEP = [
    ((12345, 7, 2, 16, 0.5), "1101000001010011"),
    ((2024, 0, 1, 16, 0.3), "1110110110111110"),
]


def test_dropout_golden_values():
    for (seed, batch, layer, j), want in GOLDEN_HASHES:
        assert [int(h) for h in D.dropout_hash(seed, batch, layer, j)] == want
    for args, bits in GOLDEN_KEEP:
        assert "".join("1" if k else "0" for k in D.dropout_keep(*args)) == bits


def test_dropout_keep_equals_plain_python_integers():
    rng = np.random.default_rng(2024)
    for _ in range(300):
        seed = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))  # all 64 bits
        batch = int(rng.integers(0, 2**24))
        layer = int(rng.integers(0, 256))
        width = int(rng.integers(0, 40))
        p = float(rng.choice([0.0, rng.random(), 0.5]))
        got = D.dropout_keep(seed, batch, layer, width, p)
        assert got.shape == (width,) and got.dtype == bool
        want = [D.dropout_keep_int(seed, batch, layer, j, p) for j in range(width)]
        assert got.tolist() == want
        # the hash itself, also for neuron indices near 2**32
        js = [int(j) for j in rng.integers(0, 2**32, size=3)] + [2**32 - 1]
        hs = D.dropout_hash(seed, batch, layer, np.array(js, dtype=np.uint64))
        for j, h in zip(js, hs):
            key = (batch << 40) | (layer << 32) | j
            assert int(h) == D.mix64_int(D.mix64_int(key) ^ seed)
    # the extremes of every field
    for seed in (0, 1, 2**64 - 1):
        got = D.dropout_keep(seed, 2**24 - 1, 255, 5, 0.5).tolist()
        assert got == [D.dropout_keep_int(seed, 2**24 - 1, 255, j, 0.5) for j in range(5)]


def test_dropout_keep_rejects_out_of_range_fields():
    for bad in [dict(seed=-1), dict(seed=2**64), dict(batch=2**24), dict(layer=256),
                dict(batch=-1), dict(p=1.0), dict(p=-0.1)]:
        args = dict(seed=1, batch=0, layer=1, width=3, p=0.5)
        args.update(bad)
        with pytest.raises(ValueError):
            D.dropout_keep(**args)


@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_keeps_a_fraction_one_minus_p(p):
    keep = np.array([D.dropout_keep(99, batch, layer, 1000, p)
                     for batch in range(100) for layer in (1, 2, 3)])
    # 300000 Bernoulli(1 - p) draws: standard deviation of the mean <= 0.001
    assert abs(keep.mean() - (1 - p)) < 0.006
    # no neuron index, batch or layer is special
    assert abs(keep.mean(axis=0).mean() - (1 - p)) < 0.006
    assert np.all(np.abs(keep.mean(axis=1) - (1 - p)) < 0.07)  # each of 300 rows of 1000
    assert D.dropout_keep(99, 0, 1, 1000, 0.0).all()


def test_dropout_masks_depend_on_seed_batch_and_layer():
    base = D.dropout_keep(5, 3, 1, 200, 0.5)
    assert not np.array_equal(base, D.dropout_keep(6, 3, 1, 200, 0.5))
    assert not np.array_equal(base, D.dropout_keep(5, 4, 1, 200, 0.5))
    assert not np.array_equal(base, D.dropout_keep(5, 3, 2, 200, 0.5))
    assert np.array_equal(base, D.dropout_keep(5, 3, 1, 200, 0.5))
    # a prefix of a wider layer is the narrower layer's mask
    assert np.array_equal(base[:50], D.dropout_keep(5, 3, 1, 50, 0.5))
    masks = D.hidden_masks([4, 7, 9, 2], 5, 3, 0.5)
    assert [m.shape for m in masks] == [(7,), (9,)]  # hidden layers 1 and 2 only
    assert np.array_equal(masks[1], D.dropout_keep(5, 3, 2, 9, 0.5))


def dropout_net(seed=0):
    rng = np.random.default_rng(seed)
    weights, biases = R.init_params([3, 8, 6, 2], rng)
    X = rng.standard_normal((5, 3))
    Y = np.eye(2)[rng.integers(0, 2, 5)]
    return weights, biases, X, Y


def test_one_mask_per_mini_batch():
    """Every example of a mini-batch sees the same thinned network; the next
    mini-batch sees another."""
    weights, biases, X, Y = dropout_net()
    p, seed = 0.5, 2**63 + 12345
    for batch_index in (0, 1):
        masks = D.hidden_masks([3, 8, 6, 2], seed, batch_index, p)
        for x, y in columns(X, Y):
            nb, nw = per_example.backprop(weights, biases, x, y, "cross-entropy", dropout=p,
                                          dropout_seed=seed, batch_index=batch_index)
            prev = np.ones(3, dtype=bool)                          # the input layer
            for layer, mask in zip((1, 2), masks):
                dropped = ~mask
                assert np.all(nb[layer - 1][dropped] == 0)        # its bias
                assert np.all(nw[layer - 1][dropped, :] == 0)     # its incoming weights
                assert np.all(nw[layer][:, dropped] == 0)         # its outgoing weights
                # the kept ones learn, from every kept neuron of the layer below
                assert np.all(nw[layer - 1][np.ix_(mask, prev)] != 0)
                assert np.all(nb[layer - 1][mask] != 0)
                prev = mask
    m0 = D.hidden_masks([3, 8, 6, 2], seed, 0, p)
    m1 = D.hidden_masks([3, 8, 6, 2], seed, 1, p)
    assert any(not np.array_equal(a, b) for a, b in zip(m0, m1))
    g0 = matrix.backprop(weights, biases, X, Y, "cross-entropy", dropout=p, dropout_seed=seed,
                         batch_index=0)
    g1 = matrix.backprop(weights, biases, X, Y, "cross-entropy", dropout=p, dropout_seed=seed,
                         batch_index=1)
    assert np.array_equal(g0[1][0].any(axis=1), m0[0]) and np.array_equal(g1[1][0].any(axis=1), m1[0])


@pytest.mark.parametrize("form", ["per_example", "matrix"])
def test_dropped_neurons_only_decay(form):
    """A dropped neuron's bias is unchanged and its incoming and outgoing
    weights only decay (L2 and L1 apply to every weight)."""
    weights, biases, X, Y = dropout_net(4)
    eta, lmbda, l1, n, p, seed = 0.5, 2.0, 0.3, 40, 0.5, 31
    if form == "matrix":
        new_w, new_b = matrix.update_mini_batch(weights, biases, X, Y, eta, lmbda, n, "quadratic",
                                                l1=l1, dropout=p, dropout_seed=seed, batch_index=2)
    else:
        new_w, new_b = per_example.update_mini_batch(weights, biases, columns(X, Y), eta, lmbda,
                                                     n, "quadratic", l1=l1, dropout=p,
                                                     dropout_seed=seed, batch_index=2)
    decayed = [(1 - eta * lmbda / n) * w - (eta * l1 / n) * np.sign(w) for w in weights]
    prev = np.ones(3, dtype=bool)
    for layer, mask in zip((1, 2), D.hidden_masks([3, 8, 6, 2], seed, 2, p)):
        d = ~mask
        assert d.any() and mask.any()
        np.testing.assert_array_equal(new_b[layer - 1][d], biases[layer - 1][d])
        np.testing.assert_allclose(new_w[layer - 1][d, :], decayed[layer - 1][d, :], rtol=1e-15)
        np.testing.assert_allclose(new_w[layer][:, d], decayed[layer][:, d], rtol=1e-15)
        # a weight between two kept neurons learns
        kept = np.ix_(mask, prev)
        assert np.all(np.abs(new_w[layer - 1][kept] - decayed[layer - 1][kept]) > 0)
        prev = mask


def test_dropout_zero_is_exactly_no_dropout():
    weights, biases, X, Y = dropout_net(5)
    order = np.array([4, 2, 0, 1, 3])
    for form, data in ((matrix, (X, Y)), (per_example, (columns(X, Y),))):
        plain = form.update_mini_batch(weights, biases, *data, 0.5, 1.0, 5, "cross-entropy")
        zero = form.update_mini_batch(weights, biases, *data, 0.5, 1.0, 5, "cross-entropy",
                                      dropout=0.0, dropout_seed=123, batch_index=7)
        for a, b in zip(plain[0] + plain[1], zero[0] + zero[1]):
            np.testing.assert_array_equal(a, b)
        plain = form.sgd_epoch(weights, biases, X, Y, order, 2, 0.5, 1.0, "cross-entropy")
        zero = form.sgd_epoch(weights, biases, X, Y, order, 2, 0.5, 1.0, "cross-entropy",
                              dropout=0.0, dropout_seed=2**64 - 1)
        for a, b in zip(plain[0] + plain[1], zero[0] + zero[1]):
            np.testing.assert_array_equal(a, b)
    nb, nw = matrix.backprop(weights, biases, X, Y, "quadratic")
    nb0, nw0 = matrix.backprop(weights, biases, X, Y, "quadratic", dropout=0.0, dropout_seed=8)
    for a, b in zip(nb + nw, nb0 + nw0):
        np.testing.assert_array_equal(a, b)


def test_inverted_dropout_scales_kept_activations():
    """A kept hidden activation is f(z) / (1 - p), a dropped one 0, and the
    expected thinned activation equals the full one: on a 1-hidden-layer net
    with a linear output the output layer's gradient shows the hidden activations."""
    rng = np.random.default_rng(6)
    weights, biases = R.init_params([2, 50, 1], rng)
    x = rng.standard_normal((1, 2))
    full_hidden = 1 / (1 + np.exp(-(x @ weights[0].T + biases[0].T)))
    p = 0.25
    # quadratic + linear output: dC/dW^2 = delta^L (a^1)^T and dC/db^2 = delta^L, so
    # their ratio is the (thinned) hidden activation a^1
    thinned = []
    for batch in range(400):
        nb, nw = matrix.backprop(weights, biases, x, np.zeros((1, 1)), "quadratic", output="linear",
                                 dropout=p, dropout_seed=17, batch_index=batch)
        a1 = nw[1] / nb[1]
        mask = D.dropout_keep(17, batch, 1, 50, p)
        np.testing.assert_allclose(a1[0, mask], full_hidden[0, mask] / (1 - p), rtol=1e-12)
        assert np.all(a1[0, ~mask] == 0)
        thinned.append(a1[0])
    np.testing.assert_allclose(np.mean(thinned, axis=0), full_hidden[0], rtol=0.25)


def test_sgd_epoch_rejects_bad_options():
    weights, biases, X, Y = dropout_net()
    args = (X, Y, np.arange(5), 2, 0.5, 1.0, "cross-entropy")
    for form in (matrix, per_example):
        for bad in (dict(dropout=1.0), dict(dropout=-0.1), dict(mu=1.0), dict(mu=-0.5),
                    dict(hidden="softmax"), dict(hidden="swish"), dict(output="softmax")):
            with pytest.raises(ValueError):
                form.sgd_epoch(weights, biases, *args, **bad)


# --------------------------------------------------------------------------
# softmax, log-likelihood, the other neurons, invalid combinations
# --------------------------------------------------------------------------


@pytest.fixture
def strict_fp():
    """Every warning and every NumPy overflow / division by zero / invalid
    operation becomes an error (underflow to 0 is allowed)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(all="raise", under="ignore"):
            yield


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6), st.floats(0.1, 800.0), st.integers(0, 2**32 - 1))
def test_softmax_rows_sum_to_one(m, k, scale, seed):
    Z = np.random.default_rng(seed).standard_normal((m, k)) * scale
    A = R.softmax(Z)
    assert np.all(np.isfinite(A)) and np.all(A >= 0)
    np.testing.assert_allclose(A.sum(axis=1), 1.0, rtol=1e-14)
    np.testing.assert_allclose(R.softmax(Z.T, axis=0), A.T, rtol=1e-15)     # a column per example
    assert np.array_equal(A.argmax(axis=1), Z.argmax(axis=1))
    np.testing.assert_allclose(np.exp(R.log_softmax(Z)), A, rtol=1e-12, atol=1e-300)
    A32 = R.softmax(Z.astype(np.float32))
    assert A32.dtype == np.float32
    np.testing.assert_allclose(A32.sum(axis=1), 1.0, rtol=1e-6)


def test_softmax_and_log_likelihood_saturated(strict_fp):
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]])
    a = R.softmax(z)
    np.testing.assert_array_equal(a, [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    LL = R.LogLikelihoodCost
    y = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert LL.fn(a, y, z=z) == 2000.0                       # -ln a_y = 2000 + 0
    assert LL.fn(a, np.array([[1.0, 0, 0], [0, 0, 1.0]]), z=z) == 0.0
    wrong = LL.fn(a, y)                                     # from a: floored, finite
    assert np.isfinite(wrong) and wrong > 700
    zc = z.T
    assert LL.fn(a.T, y.T, z=zc, axis=0) == 2000.0          # one example per column
    for dt in (np.float32, np.float64):
        assert np.isfinite(LL.fn(R.softmax(z.astype(dt)), y.astype(dt), z=z.astype(dt)))
    # a whole saturated network: cost, gradient, update all finite
    rng = np.random.default_rng(2)
    weights, biases = R.init_params([3, 4, 3], rng)
    weights = [w * 1000 for w in weights]
    X = rng.standard_normal((6, 3))
    Y = np.eye(3)[rng.integers(0, 3, 6)]
    for dt in (np.float32, np.float64):
        w = [v.astype(dt) for v in weights]
        b = [v.astype(dt) for v in biases]
        for hidden in HIDDEN:
            kw = dict(hidden=hidden, output="softmax")
            c = matrix.total_cost(w, b, X, Y, 1.0, "log-likelihood", l1=0.5, **kw)
            assert np.isfinite(c) and c > 0
            nb, nw = matrix.backprop(w, b, X, Y, "log-likelihood", **kw)
            assert all(np.all(np.isfinite(g)) for g in nb + nw)
            nb, nw = matrix.backprop(w, b, X, Y, "quadratic", **kw)
            assert all(np.all(np.isfinite(g)) for g in nb + nw)


def test_log_likelihood_values():
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((5, 4)) * 2
    A = R.softmax(Z)
    labels = rng.integers(0, 4, 5)
    Y = np.eye(4)[labels]
    LL = R.LogLikelihoodCost
    expected = -np.sum(np.log(A[np.arange(5), labels]))      # eq. 80: -ln a_y
    assert LL.fn(A, Y) == pytest.approx(expected, rel=1e-14)
    assert LL.fn(A, Y, z=Z) == pytest.approx(expected, rel=1e-13)
    np.testing.assert_array_equal(LL.delta(Z, A, Y), A - Y)  # eq. 84
    assert R.get_cost("log-likelihood") is LL and LL.name == "log-likelihood"


def test_output_delta_rules():
    rng = np.random.default_rng(8)
    Z = rng.standard_normal((4, 3))
    Y = rng.random((4, 3))
    A = R.softmax(Z)
    # quadratic + softmax: the Jacobian (diag(a) - a a^T) applied to a - y, example by example
    got = R.output_delta("quadratic", "softmax", Z, A, Y)
    for i in range(4):
        J = np.diag(A[i]) - np.outer(A[i], A[i])
        np.testing.assert_allclose(got[i], J @ (A[i] - Y[i]), rtol=1e-13, atol=1e-16)
    got_cols = R.output_delta("quadratic", "softmax", Z.T, A.T, Y.T, axis=0)
    np.testing.assert_allclose(got_cols, got.T, rtol=1e-15)
    np.testing.assert_array_equal(R.output_delta("log-likelihood", "softmax", Z, A, Y), A - Y)
    S = R.sigmoid(Z)
    np.testing.assert_array_equal(R.output_delta("cross-entropy", "sigmoid", Z, S, Y), S - Y)
    np.testing.assert_array_equal(R.output_delta("quadratic", "sigmoid", Z, S, Y),
                                  R.QuadraticCost.delta(Z, S, Y))
    np.testing.assert_array_equal(R.output_delta("quadratic", "linear", Z, Z, Y), Z - Y)
    T = np.tanh(Z)
    np.testing.assert_allclose(R.output_delta("quadratic", "tanh", Z, T, Y),
                               (T - Y) * (1 - T ** 2), rtol=1e-15)
    Rl = np.maximum(Z, 0)
    np.testing.assert_array_equal(R.output_delta("quadratic", "relu", Z, Rl, Y),
                                  (Rl - Y) * (Z > 0))


@pytest.mark.parametrize("cost,output", INVALID)
def test_invalid_combinations_raise(cost, output):
    with pytest.raises(ValueError) as info:
        R.check_combination(cost, output)
    msg = str(info.value)
    assert repr(cost) in msg and repr(output) in msg
    rng = np.random.default_rng(0)
    weights, biases = R.init_params([2, 3, 2], rng)
    X, Y = rng.standard_normal((3, 2)), np.eye(2)[[0, 1, 0]]
    kw = dict(output=output)
    calls = [
        lambda: matrix.backprop(weights, biases, X, Y, cost, **kw),
        lambda: matrix.update_mini_batch(weights, biases, X, Y, 0.1, 0.0, 3, cost, **kw),
        lambda: matrix.sgd_epoch(weights, biases, X, Y, [0, 1, 2], 2, 0.1, 0.0, cost, **kw),
        lambda: matrix.total_cost(weights, biases, X, Y, 0.0, cost, **kw),
        lambda: per_example.backprop(weights, biases, X[0], Y[0], cost, **kw),
        lambda: per_example.update_mini_batch(weights, biases, columns(X, Y), 0.1, 0.0, 3, cost,
                                              **kw),
        lambda: per_example.sgd_epoch(weights, biases, X, Y, [0, 1, 2], 2, 0.1, 0.0, cost, **kw),
        lambda: R.output_delta(cost, output, X, X, Y),
    ]
    for call in calls:
        with pytest.raises(ValueError, match=cost):
            call()


def test_valid_combinations_and_names():
    assert set(R.ACTIVATIONS) == {"sigmoid", "tanh", "relu", "linear"}
    assert set(R.OUTPUTS) == set(R.ACTIVATIONS) | {"softmax"}
    assert len(VALID) == 7 and len(INVALID) == 8
    for cost, output in VALID:
        assert R.check_combination(cost, output) is R.get_cost(cost)
    with pytest.raises(ValueError, match="unknown output"):
        R.check_combination("quadratic", "softplus")


def test_activations():
    z = np.array([-1000.0, -2.0, -1e-300, 0.0, 1e-300, 0.5, 1000.0])
    for name, (f, fp) in R.ACTIVATIONS.items():
        for dt in (np.float32, np.float64):
            zt = z.astype(dt)
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                a, d = f(zt), fp(zt)
            assert a.dtype == dt and d.dtype == dt and a.shape == zt.shape
            assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))
        # the derivative is the derivative (away from relu's corner)
        zz = np.linspace(-3, 3, 61) + 0.05
        h = 1e-6
        np.testing.assert_allclose(fp(zz), (f(zz + h) - f(zz - h)) / (2 * h), rtol=1e-7, atol=1e-9,
                                   err_msg=name)
    np.testing.assert_array_equal(R.relu(z), np.maximum(z, 0))
    np.testing.assert_array_equal(R.relu_prime(z), [0, 0, 0, 0, 1, 1, 1])  # relu'(0) = 0
    np.testing.assert_array_equal(R.ACTIVATIONS["linear"][0](z), z)
    np.testing.assert_array_equal(R.ACTIVATIONS["linear"][1](z), np.ones_like(z))
    np.testing.assert_allclose(R.tanh(z), np.tanh(z), rtol=0)
    zz = np.linspace(-5, 5, 11)
    np.testing.assert_allclose(R.sigmoid(zz), (1 + np.tanh(zz / 2)) / 2, rtol=1e-14)  # eq. 111


def test_feedforward_outputs_and_accuracy():
    rng = np.random.default_rng(12)
    weights, biases = R.init_params([3, 5, 4], rng)
    X = rng.standard_normal((7, 3))
    out = matrix.feedforward(weights, biases, X, hidden="tanh", output="softmax")
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-14)
    z2 = np.tanh(X @ weights[0].T + biases[0].T) @ weights[1].T + biases[1].T
    np.testing.assert_allclose(out, naive_softmax(z2), rtol=1e-13)
    lin = matrix.feedforward(weights, biases, X, hidden="relu", output="linear")
    np.testing.assert_allclose(lin, np.maximum(X @ weights[0].T + biases[0].T, 0) @ weights[1].T
                               + biases[1].T, rtol=1e-13)
    labels = out.argmax(axis=1)
    assert matrix.accuracy(weights, biases, X, labels, hidden="tanh", output="softmax") == 7
    # softmax is monotone: same argmax as the linear output of the same net
    assert matrix.accuracy(weights, biases, X, labels, hidden="tanh", output="linear") == 7
    assert matrix.accuracy(weights, biases, X, labels) == np.count_nonzero(
        matrix.feedforward(weights, biases, X).argmax(axis=1) == labels)


def test_total_cost_with_l1_and_other_outputs():
    rng = np.random.default_rng(13)
    weights, biases = R.init_params([3, 4, 3], rng)
    X = rng.standard_normal((6, 3))
    Y = np.eye(3)[rng.integers(0, 3, 6)]
    for cost, output in VALID:
        for hidden in HIDDEN:
            kw = dict(hidden=hidden, output=output)
            got = matrix.total_cost(weights, biases, X, Y, 2.0, cost, l1=0.7, **kw)
            want = naive_objective(weights, biases, X, Y, cost, hidden, output, 2.0, 0.7)
            assert got == pytest.approx(want, rel=1e-12)
            no_l1 = matrix.total_cost(weights, biases, X, Y, 2.0, cost, **kw)
            l1_sum = sum(np.abs(w).sum() for w in weights)
            assert got - no_l1 == pytest.approx(0.7 / 6 * l1_sum, rel=1e-10)  # added once, /N


def test_l1_sign_of_zero_weights_is_zero():
    """sgn(0) = 0: a zero weight with no gradient stays exactly 0 under L1
    (no decay, no push), in both the plain and the momentum update."""
    weights = [np.array([[0.0, 0.5, -0.5]])]
    biases = [np.array([[0.0]])]
    X = np.zeros((2, 3))           # inputs 0: no weight gets any gradient
    Y = np.array([[0.5], [0.5]])
    for form, data in ((matrix, (X, Y)), (per_example, (columns(X, Y),))):
        w, b = form.update_mini_batch(weights, biases, *data, 0.5, 0.0, 10, "quadratic",
                                      output="linear", l1=2.0)
        np.testing.assert_array_equal(w[0], [[0.0, 0.5 - 0.1, -0.5 + 0.1]])  # eta*l1/n = 0.1
        w, b, _ = form.update_mini_batch(weights, biases, *data, 0.5, 0.0, 10, "quadratic",
                                         output="linear", l1=2.0, mu=0.5)
        np.testing.assert_allclose(w[0], [[0.0, 0.4, -0.4]], rtol=1e-15)


# --------------------------------------------------------------------------
# momentum
# --------------------------------------------------------------------------


def momentum_problem(seed=0, N=12):
    rng = np.random.default_rng(seed)
    weights, biases = R.init_params([4, 6, 5, 3], rng)
    X = rng.standard_normal((N, 4))
    Y = np.eye(3)[rng.integers(0, 3, N)]
    return weights, biases, X, Y, rng.permutation(N)


@pytest.mark.parametrize("form", [matrix, per_example])
@pytest.mark.parametrize("extra", [dict(), dict(l1=0.2, dropout=0.3, dropout_seed=4),
                                   dict(hidden="tanh", output="softmax")])
def test_mu_zero_is_plain_sgd(form, extra):
    weights, biases, X, Y, order = momentum_problem()
    cost = "log-likelihood" if extra.get("output") == "softmax" else "cross-entropy"
    args = (X, Y, order, 5, 0.4, 2.0, cost)   # batches of 5, 5 and 2
    plain = form.sgd_epoch(weights, biases, *args, **extra)
    assert len(plain) == 2
    # mu = 0 with no velocities and no Nesterov IS plain SGD: same code, same result
    same = form.sgd_epoch(weights, biases, *args, mu=0.0, velocities=None, **extra)
    assert len(same) == 2
    for a, c in zip(same[0] + same[1], plain[0] + plain[1]):
        np.testing.assert_array_equal(a, c)
    # the momentum code path with mu = 0 reduces to it up to rounding
    for mom in (dict(mu=0.0, nesterov=True),
                dict(velocities=([np.zeros_like(w) for w in weights],
                                 [np.zeros_like(b) for b in biases]))):
        got = form.sgd_epoch(weights, biases, *args, **mom, **extra)
        assert len(got) == 3
        assert_params_close(got[0], plain[0], 1e-12, start=weights)
        assert_params_close(got[1], plain[1], 1e-12, start=biases)


@pytest.mark.parametrize("form", [matrix, per_example])
@pytest.mark.parametrize("nesterov", [False, True])
def test_velocities_fed_back_continue_the_run(form, nesterov):
    """Two calls that pass the velocities on equal one call over both halves
    of the order (batch indices restart at 0 in each call, so no dropout here)."""
    weights, biases, X, Y, order = momentum_problem(1)
    kw = dict(mu=0.9, nesterov=nesterov, l1=0.1, hidden="relu", output="linear")
    one = form.sgd_epoch(weights, biases, X, Y, order, 3, 0.05, 1.0, "quadratic", n=12, **kw)
    w, b, v = form.sgd_epoch(weights, biases, X, Y, order[:6], 3, 0.05, 1.0, "quadratic", n=12, **kw)
    two = form.sgd_epoch(w, b, X, Y, order[6:], 3, 0.05, 1.0, "quadratic", n=12, velocities=v, **kw)
    for a, c in zip(one[0] + one[1] + one[2][0] + one[2][1], two[0] + two[1] + two[2][0] + two[2][1]):
        np.testing.assert_array_equal(a, c)
    # starting again from zero velocities is something else
    restart = form.sgd_epoch(w, b, X, Y, order[6:], 3, 0.05, 1.0, "quadratic", n=12, **kw)
    assert not np.allclose(restart[0][0], one[0][0], rtol=1e-8, atol=0)


@pytest.mark.parametrize("form", [matrix, per_example])
def test_nesterov_differs_from_momentum(form):
    weights, biases, X, Y, order = momentum_problem(2)
    args = (X, Y, order, 3, 0.5, 1.0, "cross-entropy")
    plain = form.sgd_epoch(weights, biases, *args, mu=0.9)
    nest = form.sgd_epoch(weights, biases, *args, mu=0.9, nesterov=True)
    assert not np.allclose(plain[0][0], nest[0][0], rtol=1e-6, atol=0)
    # but the first step, from rest, is the same: the look-ahead w + mu*0 is w
    first = (X[order[:3]], Y[order[:3]]) if form is matrix else (columns(X[order[:3]], Y[order[:3]]),)
    a = form.update_mini_batch(weights, biases, *first, 0.5, 1.0, 12, "cross-entropy", mu=0.9)
    c = form.update_mini_batch(weights, biases, *first, 0.5, 1.0, 12, "cross-entropy", mu=0.9,
                               nesterov=True)
    for x, y in zip(a[0] + a[1], c[0] + c[1]):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("nesterov", [False, True])
def test_momentum_rule_spelled_out(nesterov):
    """eqs. 107-108 (and Nesterov's look-ahead) written out with the gradient
    from backprop, over an epoch with a short last batch and dropout."""
    weights, biases, X, Y, order = momentum_problem(3, N=11)
    eta, lmbda, l1, mu, n, mbs, p, seed = 0.3, 1.5, 0.2, 0.7, 11, 4, 0.2, 99
    kw = dict(hidden="tanh", output="sigmoid")
    w = [a.copy() for a in weights]
    b = [a.copy() for a in biases]
    vw = [np.zeros_like(a) for a in w]
    vb = [np.zeros_like(a) for a in b]
    for k in range(0, n, mbs):
        rows = order[k:k + mbs]
        m = len(rows)
        at_w = [x + mu * v for x, v in zip(w, vw)] if nesterov else w
        at_b = [x + mu * v for x, v in zip(b, vb)] if nesterov else b
        nb, nw = matrix.backprop(at_w, at_b, X[rows], Y[rows], "cross-entropy", dropout=p,
                                 dropout_seed=seed, batch_index=k // mbs, **kw)
        vw = [mu * v - eta * (g / m + lmbda / n * x + l1 / n * np.sign(x))
              for v, g, x in zip(vw, nw, at_w)]
        vb = [mu * v - eta * g / m for v, g in zip(vb, nb)]
        w = [x + v for x, v in zip(w, vw)]
        b = [x + v for x, v in zip(b, vb)]
    for form in (matrix, per_example):
        got = form.sgd_epoch(weights, biases, X, Y, order, mbs, eta, lmbda, "cross-entropy",
                             l1=l1, dropout=p, dropout_seed=seed, mu=mu, nesterov=nesterov, **kw)
        assert_params_close(got[0], w, 1e-12, start=weights)
        assert_params_close(got[1], b, 1e-12, start=biases)
        assert_params_close(got[2][0], vw, 1e-10, start=weights)
        assert_params_close(got[2][1], vb, 1e-10, start=biases)


def test_return_conventions_and_purity():
    weights, biases, X, Y, order = momentum_problem(4)
    saved = [a.copy() for a in weights + biases]
    v = ([np.ones_like(w) for w in weights], [np.ones_like(b) for b in biases])
    v_saved = [a.copy() for a in v[0] + v[1]]
    for form, data in ((matrix, (X, Y)), (per_example, (columns(X, Y),))):
        assert len(form.update_mini_batch(weights, biases, *data, 0.1, 1.0, 12, "quadratic")) == 2
        assert len(form.update_mini_batch(weights, biases, *data, 0.1, 1.0, 12, "quadratic",
                                          l1=1.0, dropout=0.5)) == 2
        for mom in (dict(mu=0.5), dict(nesterov=True), dict(velocities=v)):
            r = form.update_mini_batch(weights, biases, *data, 0.1, 1.0, 12, "quadratic", **mom)
            assert len(r) == 3 and len(r[2]) == 2
            assert [a.shape for a in r[2][0]] == [w.shape for w in weights]
            assert [a.shape for a in r[2][1]] == [b.shape for b in biases]
        e = form.sgd_epoch(weights, biases, X, Y, order[:0], 4, 0.1, 1.0, "quadratic", velocities=v)
        assert len(e) == 3  # an empty epoch returns the velocities unchanged
        assert_params_close(e[2][0], v[0], 0.0)
        with pytest.raises(ValueError, match="velocities"):
            form.update_mini_batch(weights, biases, *data, 0.1, 1.0, 12, "quadratic",
                                   velocities=(v[0][:1], v[1]))
    for a, s in zip(weights + biases + v[0] + v[1], saved + v_saved):
        np.testing.assert_array_equal(a, s)


# --------------------------------------------------------------------------
# initialisation
# --------------------------------------------------------------------------


def test_relu_init_is_scaled_default():
    sizes = [5, 4, 3]
    w_d, b_d = R.init_params(sizes, np.random.default_rng(42))
    w_r, b_r = R.init_params(sizes, np.random.default_rng(42), kind="relu")
    assert "relu" in R.INIT_KINDS
    for a, c in zip(w_r, w_d):
        np.testing.assert_allclose(a, c * np.sqrt(2.0), rtol=1e-15)   # N(0,1) sqrt(2/n_in)
    for a, c in zip(b_r, b_d):
        np.testing.assert_allclose(a, 0.1 * c, rtol=1e-15)
    # the same draws in the same order: the first bias is the generator's first normal
    assert b_r[0][0, 0] == pytest.approx(0.1 * np.random.default_rng(42).standard_normal(), rel=1e-15)
    w32, _ = R.init_params(sizes, np.random.default_rng(42), kind="relu", dtype=np.float32)
    assert w32[0].dtype == np.float32
