"""The chapter's other techniques through the Network API and the CLI."""

import json

import numpy as np
import pytest

import nncore
import nncore_reference as ref
from nncore.cli import main


def problem(seed=0, sizes=(8, 6, 5, 3), n=31):
    rng = np.random.default_rng(seed)
    return list(sizes), rng.random((n, sizes[0])), rng.integers(0, sizes[-1], n)


def run_reference(sizes, X, labels, seed, epochs, mbs, eta, lmbda, cost, *, hidden="sigmoid",
                  output="sigmoid", kind="default", l1=0.0, dropout=0.0, mu=0.0,
                  nesterov=False):
    """What Network.SGD does, step by step, with the reference: initial
    weights from the network's generator (all biases, then all weights),
    then per epoch a permutation and, with dropout, a mask seed."""
    rng = np.random.default_rng(seed)
    w, b = ref.init_params(sizes, rng, kind=kind)
    Y = np.eye(sizes[-1])[labels]
    velocities = None
    momentum = mu > 0 or nesterov
    for _ in range(epochs):
        order = rng.permutation(len(X))
        dropout_seed = int(rng.integers(2**63)) if dropout else 0
        result = ref.matrix.sgd_epoch(
            w, b, X, Y, order, mbs, eta, lmbda, cost, hidden=hidden, output=output, l1=l1,
            dropout=dropout, dropout_seed=dropout_seed, mu=mu, nesterov=nesterov,
            velocities=velocities if momentum else None)
        w, b = result[:2]
        if momentum:
            velocities = result[2]
    return w, b


CASES = [
    dict(cost=nncore.LogLikelihoodCost, ref_cost="log-likelihood", output="softmax"),
    dict(cost=nncore.QuadraticCost, ref_cost="quadratic", hidden="tanh", output="linear"),
    dict(cost=nncore.CrossEntropyCost, ref_cost="cross-entropy", hidden="relu", kind="relu"),
    dict(cost=nncore.CrossEntropyCost, ref_cost="cross-entropy", l1=2.0),
    dict(cost=nncore.CrossEntropyCost, ref_cost="cross-entropy", dropout=0.5),
    dict(cost=nncore.CrossEntropyCost, ref_cost="cross-entropy", mu=0.8),
    dict(cost=nncore.LogLikelihoodCost, ref_cost="log-likelihood", output="softmax",
         hidden="tanh", mu=0.6, nesterov=True, dropout=0.3, l1=0.5),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(
    f"{k}={v}" for k, v in c.items() if k not in ("cost",)))
def test_sgd_matches_reference(case):
    sizes, X, labels = problem()
    hidden = case.get("hidden", "sigmoid")
    output = case.get("output", "sigmoid")
    opts = {k: case[k] for k in ("l1", "dropout") if k in case}
    net = nncore.Network(sizes, cost=case["cost"], activation=hidden,
                         output_activation=output, seed=5)
    net.SGD((X, labels), 3, 4, 0.3, lmbda=1.0, momentum=case.get("mu", 0.0),
            nesterov=case.get("nesterov", False), verbose=False, **opts)
    w, b = run_reference(sizes, X, labels, 5, 3, 4, 0.3, 1.0, case["ref_cost"], hidden=hidden,
                         output=output, kind=case.get("kind", "default"),
                         mu=case.get("mu", 0.0), nesterov=case.get("nesterov", False), **opts)
    for a, e in zip(net.weights + net.biases, w + b):
        np.testing.assert_allclose(a, e, rtol=1e-9, atol=1e-12)


def test_velocities_persist_across_sgd_calls():
    """Three calls of one epoch each equal one call of three epochs."""
    sizes, X, labels = problem(1)
    a = nncore.Network(sizes, seed=3)
    a.SGD((X, labels), 3, 5, 0.2, momentum=0.9, verbose=False)
    b = nncore.Network(sizes, seed=3)
    for _ in range(3):
        b.SGD((X, labels), 1, 5, 0.2, momentum=0.9, verbose=False)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    c = nncore.Network(sizes, seed=3)
    for _ in range(3):
        c.SGD((X, labels), 1, 5, 0.2, momentum=0.9, verbose=False)
        c.reset_velocity()
    assert not np.array_equal(a.parameters, c.parameters)


def test_progress_chunks_do_not_change_the_result():
    """With the progress bar on, an epoch runs in several native calls;
    dropout masks and momentum must not notice."""
    sizes, X, labels = problem(2, n=200)
    a = nncore.Network(sizes, seed=4)
    a.SGD((X, labels), 2, 3, 0.2, dropout=0.5, momentum=0.5, verbose=False, progress=False)
    b = nncore.Network(sizes, seed=4)
    import io
    import contextlib
    with contextlib.redirect_stdout(io.StringIO()):
        b.SGD((X, labels), 2, 3, 0.2, dropout=0.5, momentum=0.5, verbose=False, progress=True)
    np.testing.assert_array_equal(a.parameters, b.parameters)


def test_dropout_is_deterministic_for_a_seed_and_differs_between_seeds():
    sizes, X, labels = problem(3)
    runs = []
    for seed in (8, 8, 9):
        net = nncore.Network(sizes, seed=seed)
        net.SGD((X, labels), 2, 4, 0.5, dropout=0.5, verbose=False)
        runs.append(net.parameters.copy())
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])


def test_relu_initialization_is_he_scaled():
    sizes = [50, 40, 10]
    a = nncore.Network(sizes, activation="relu", seed=0)
    b = nncore.Network(sizes, seed=0)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_allclose(wa, wb * np.sqrt(2))
    for ba, bb in zip(a.biases, b.biases):
        np.testing.assert_allclose(ba, bb * 0.1)


def test_total_cost_counts_l1_and_log_likelihood():
    sizes, X, labels = problem(4)
    Y = np.eye(sizes[-1])[labels]
    net = nncore.Network(sizes, cost=nncore.LogLikelihoodCost, activation="tanh", seed=1)
    expected = ref.matrix.total_cost(net.weights, net.biases, X, Y, 2.0, "log-likelihood",
                                     hidden="tanh", output="softmax", l1=3.0)
    assert net.total_cost((X, labels), 2.0, l1=3.0) == pytest.approx(expected, rel=1e-12)
    out = net.feedforward(X)
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_save_load_keeps_the_neurons(tmp_path):
    net = nncore.Network([4, 3, 2], cost=nncore.LogLikelihoodCost, activation="relu", seed=0)
    path = tmp_path / "m.json"
    net.save(path)
    data = json.loads(path.read_text())
    assert (data["cost"], data["activation"], data["output_activation"]) == \
        ("LogLikelihoodCost", "relu", "softmax")
    loaded = nncore.load(path)
    assert loaded.activation == "relu" and loaded.output_activation == "softmax"
    x = np.linspace(-1, 1, 4)
    np.testing.assert_array_equal(loaded.feedforward(x), net.feedforward(x))


def test_a_file_with_an_impossible_combination_is_refused(tmp_path):
    path = tmp_path / "m.json"
    nncore.Network([3, 2], seed=0).save(path)
    data = json.loads(path.read_text())
    data["output_activation"] = "softmax"  # with the cross-entropy cost
    path.write_text(json.dumps(data))
    with pytest.raises(nncore.ModelFileError, match="cross-entropy"):
        nncore.load(path)


@pytest.mark.parametrize("kwargs, message", [
    (dict(activation="softmax"), "unknown activation"),
    (dict(activation="swish"), "unknown activation"),
    (dict(output_activation="tanh"), "cross-entropy cost needs sigmoid"),
    (dict(cost=nncore.LogLikelihoodCost, output_activation="sigmoid"), "softmax"),
])
def test_bad_network_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nncore.Network([3, 2], **kwargs)


@pytest.mark.parametrize("kwargs, message", [
    (dict(dropout=1.0), "dropout"), (dict(dropout=-0.5), "dropout"),
    (dict(momentum=1.0), "momentum"), (dict(momentum=float("nan")), "momentum"),
    (dict(l1=-1.0), "l1"), (dict(lmbda=-1.0), "lmbda"), (dict(eta=0.0), "eta"),
    (dict(eta=float("nan")), "eta"),
])
def test_bad_training_options_are_refused_and_nothing_changes(kwargs, message):
    sizes, X, labels = problem(5)
    net = nncore.Network(sizes, seed=0)
    before = net.parameters.copy()
    args = dict(epochs=1, mini_batch_size=4, eta=0.5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        net.SGD((X, labels), verbose=False, **args)
    assert np.array_equal(net.parameters, before)


def test_cli_flags_for_the_techniques(mnist_path, tmp_path, capsys):
    model = tmp_path / "m.json"
    assert main(["train", "--data", str(mnist_path), "--train-size", "1000", "--epochs", "2",
                 "--cost", "log-likelihood", "--activation", "tanh", "--l1", "0.5",
                 "--dropout", "0.2", "--momentum", "0.5", "--nesterov", "--eta", "0.1",
                 "--seed", "1", "--save", str(model)]) == 0
    out = capsys.readouterr().out
    assert "tanh hidden, softmax output" in out and "dropout 0.2" in out and "Nesterov" in out
    net = nncore.load(model)
    assert net.cost is nncore.LogLikelihoodCost and net.activation == "tanh"


def test_cli_refuses_an_impossible_combination(mnist_path):
    with pytest.raises(SystemExit, match="cross-entropy cost needs sigmoid"):
        main(["train", "--data", str(mnist_path), "--output-activation", "softmax"])
