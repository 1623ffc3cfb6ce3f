"""The network2 API (nncore.Network) against the NumPy reference, and model files."""

import json
import os

import numpy as np
import pytest

import nncore
import nncore as network2
import nncore_reference as ref


def small_problem(seed=0, sizes=(6, 5, 3), n=23):
    rng = np.random.default_rng(seed)
    X = rng.random((n, sizes[0]))
    labels = rng.integers(0, sizes[-1], n)
    return list(sizes), X, labels


def book_pairs(X, labels, n_out, one_hot):
    """The book's form: (784,1)-style columns with one-hot columns or ints."""
    out = []
    for x, j in zip(X, labels):
        y = network2.vectorized_result(j, n_out) if one_hot else int(j)
        out.append((x.reshape(-1, 1), y))
    return out


def test_initialization_follows_the_documented_draw_order():
    """Same seed -> the same weights as the reference's init_params: all
    biases, then all weights, N(0,1) and N(0,1)/sqrt(n_in)."""
    sizes = [7, 4, 3, 2]
    net = network2.Network(sizes, seed=42)
    w, b = ref.init_params(sizes, np.random.default_rng(42))
    for a, e in zip(net.weights + net.biases, w + b):
        assert np.array_equal(a, e)
    net.large_weight_initializer()
    rng = np.random.default_rng(42)
    ref.init_params(sizes, rng)
    w, b = ref.init_params(sizes, rng, kind="large")
    for a, e in zip(net.weights + net.biases, w + b):
        assert np.array_equal(a, e)


@pytest.mark.parametrize("cost", [network2.CrossEntropyCost, network2.QuadraticCost])
@pytest.mark.parametrize("form", ["book", "arrays", "one-hot arrays"])
def test_sgd_matches_reference(cost, form):
    """Same weights, same mini-batch order -> same weights after SGD.  The
    order is the network's generator's permutation, drawn after the
    initial weights, one per epoch."""
    sizes, X, labels = small_problem()
    Y = np.eye(sizes[-1])[labels]
    data = {"book": book_pairs(X, labels, sizes[-1], True),
            "arrays": (X, labels),
            "one-hot arrays": (X, Y)}[form]
    net = network2.Network(sizes, cost=cost, seed=7)
    net.SGD(data, 3, 4, 0.8, lmbda=2.0, verbose=False)

    rng = np.random.default_rng(7)
    w, b = ref.init_params(sizes, rng)
    for _ in range(3):
        w, b = ref.per_example.sgd_epoch(w, b, X, Y, rng.permutation(len(X)), 4, 0.8, 2.0,
                                         cost.name)
    for a, e in zip(net.weights + net.biases, w + b):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-12)


def test_update_mini_batch_and_backprop_match_reference():
    sizes, X, labels = small_problem(1)
    pairs = book_pairs(X, labels, sizes[-1], True)
    net = network2.Network(sizes, seed=3)
    w0, b0 = [w.copy() for w in net.weights], [b.copy() for b in net.biases]

    nb, nw = net.backprop(*pairs[0])
    eb, ew = ref.per_example.backprop(w0, b0, pairs[0][0], pairs[0][1], "cross-entropy")
    for a, e in zip(nb + nw, eb + ew):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-14)
        assert a.shape == e.shape

    net.update_mini_batch(pairs[:5], 0.5, 1.0, len(pairs))
    w, b = ref.per_example.update_mini_batch(w0, b0, pairs[:5], 0.5, 1.0, len(pairs),
                                             "cross-entropy")
    for a, e in zip(net.weights + net.biases, w + b):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-14)


def test_accuracy_and_total_cost_match_reference():
    sizes, X, labels = small_problem(2, n=40)
    Y = np.eye(sizes[-1])[labels]
    net = network2.Network(sizes, seed=5)
    w, b = net.weights, net.biases
    assert net.accuracy(book_pairs(X, labels, sizes[-1], False)) == \
        ref.matrix.accuracy(w, b, X, labels)
    assert net.accuracy(book_pairs(X, labels, sizes[-1], True), convert=True) == \
        ref.matrix.accuracy(w, b, X, labels)
    for cost in (network2.CrossEntropyCost, network2.QuadraticCost):
        net.cost = cost
        expected = ref.matrix.total_cost(w, b, X, Y, 3.0, cost.name)
        assert net.total_cost((X, labels), 3.0) == pytest.approx(expected, rel=1e-12)
        assert net.total_cost(book_pairs(X, labels, sizes[-1], False), 3.0, convert=True) \
            == pytest.approx(expected, rel=1e-12)


def test_total_cost_adds_the_l2_term_once():
    """network2 ports that add the L2 term inside the loop multiply it by
    len(data); here it is 0.5 * (lmbda / N) * sum ||w||^2, once."""
    sizes, X, labels = small_problem(3, n=50)
    net = network2.Network(sizes, seed=1)
    c0 = net.total_cost((X, labels), 0.0)
    c1 = net.total_cost((X, labels), 4.0)
    sq = sum(float(np.sum(w ** 2)) for w in net.weights)
    assert c1 - c0 == pytest.approx(0.5 * 4.0 / 50 * sq, rel=1e-12)


def test_sgd_returns_the_four_lists_and_prints_the_books_lines(capsys):
    sizes, X, labels = small_problem(4)
    net = network2.Network(sizes, seed=0)
    h = net.SGD((X, labels), 2, 5, 0.5, lmbda=0.1, evaluation_data=(X[:10], labels[:10]),
                monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
                monitor_training_cost=True, monitor_training_accuracy=True)
    evaluation_cost, evaluation_accuracy, training_cost, training_accuracy = h
    assert len(evaluation_cost) == len(evaluation_accuracy) == 2
    assert len(training_cost) == len(training_accuracy) == 2
    assert all(isinstance(a, int) and 0 <= a <= 10 for a in evaluation_accuracy)
    assert h.evaluation_accuracy_fraction == [a / 10 for a in evaluation_accuracy]
    assert len(h.epoch_seconds) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines[:6] == [
        "Epoch 0 training complete",
        f"Cost on training data: {training_cost[0]}",
        f"Accuracy on training data: {training_accuracy[0]} / {len(X)}",
        f"Cost on evaluation data: {evaluation_cost[0]}",
        f"Accuracy on evaluation data: {evaluation_accuracy[0]} / 10",
        "",
    ]
    # the history is plain data
    assert json.loads(json.dumps(h.to_dict()))["evaluation_accuracy"] == evaluation_accuracy


def test_unmonitored_lists_are_empty_and_verbose_false_is_silent(capsys):
    sizes, X, labels = small_problem(5)
    h = network2.Network(sizes, seed=0).SGD((X, labels), 2, 5, 0.5, verbose=False)
    assert list(h) == [[], [], [], []]
    assert capsys.readouterr().out == ""


def test_callers_data_is_not_modified():
    sizes, X, labels = small_problem(6)
    pairs = book_pairs(X, labels, sizes[-1], True)
    order_before = [id(p) for p in pairs]
    X_before, labels_before = X.copy(), labels.copy()
    net = network2.Network(sizes, seed=0)
    net.SGD(pairs, 2, 4, 0.5, verbose=False)
    net.SGD((X, labels), 2, 4, 0.5, verbose=False)
    assert [id(p) for p in pairs] == order_before  # network2 would have shuffled it
    assert np.array_equal(X, X_before) and np.array_equal(labels, labels_before)


def test_seed_determinism_and_global_state_untouched():
    sizes, X, labels = small_problem(7)
    np.random.seed(123)
    before = np.random.get_state()[1].copy()

    def run(seed):
        net = network2.Network(sizes, seed=seed)
        net.SGD((X, labels), 2, 3, 0.5, lmbda=0.5, verbose=False)
        return net.parameters.copy()

    a, b, c = run(11), run(11), run(12)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert np.array_equal(np.random.get_state()[1], before)


def test_float32_network_tracks_float64():
    sizes, X, labels = small_problem(8)
    n64 = network2.Network(sizes, seed=9)
    n32 = network2.Network(sizes, seed=9, dtype=np.float32)
    for net in (n64, n32):
        net.SGD((X, labels), 2, 4, 0.5, lmbda=1.0, verbose=False)
    assert n32.parameters.dtype == np.float32
    np.testing.assert_allclose(n32.parameters, n64.parameters, rtol=0, atol=1e-4)


def test_feedforward_shapes():
    net = network2.Network([3, 4, 2], seed=0)
    x = np.array([0.1, 0.2, 0.3])
    col = net.feedforward(x.reshape(3, 1))
    assert col.shape == (2, 1)
    np.testing.assert_allclose(net.feedforward(x), col[:, 0])
    rows = net.feedforward(np.tile(x, (5, 1)))
    assert rows.shape == (5, 2)
    np.testing.assert_allclose(rows[3], col[:, 0])
    with pytest.raises(ValueError, match="column"):
        net.feedforward(np.zeros(4))


def test_save_load_round_trip(tmp_path):
    net = network2.Network([5, 4, 3], cost=network2.QuadraticCost, seed=2)
    path = tmp_path / "model.json"
    net.save(path)
    data = json.loads(path.read_text())
    assert data["sizes"] == [5, 4, 3] and data["cost"] == "QuadraticCost"
    assert data["format_version"] == nncore.FORMAT_VERSION
    loaded = network2.load(path)
    assert loaded.sizes == net.sizes and loaded.cost is network2.QuadraticCost
    assert np.array_equal(loaded.parameters, net.parameters)
    x = np.linspace(0, 1, 5).reshape(5, 1)
    assert np.array_equal(loaded.feedforward(x), net.feedforward(x))


def test_loads_a_file_in_network2s_own_format(tmp_path):
    """network2.save writes exactly these four keys, biases as columns."""
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal((3, 4)), rng.standard_normal((2, 3))]
    biases = [rng.standard_normal((3, 1)), rng.standard_normal((2, 1))]
    path = tmp_path / "book.json"
    with open(path, "w") as f:
        json.dump({"sizes": [4, 3, 2], "weights": [w.tolist() for w in weights],
                   "biases": [b.tolist() for b in biases], "cost": "CrossEntropyCost"}, f)
    net = network2.load(str(path))
    assert net.cost is network2.CrossEntropyCost
    for a, e in zip(net.weights + net.biases, weights + biases):
        assert np.array_equal(a, e)
    x = rng.random((4, 1))
    np.testing.assert_allclose(net.feedforward(x), ref.per_example.feedforward(weights, biases, x))


def test_saved_file_is_readable_the_way_network2_reads_it(tmp_path):
    """network2.load does json.load, looks the cost up by name, and builds
    arrays from the nested lists: all of that must work on our file."""
    net = network2.Network([3, 2], seed=0)
    path = tmp_path / "m.json"
    net.save(path)
    data = json.load(open(path))
    assert data["cost"] in ("CrossEntropyCost", "QuadraticCost")
    assert [np.array(w).shape for w in data["weights"]] == [(2, 3)]
    assert [np.array(b).shape for b in data["biases"]] == [(2, 1)]


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b'{"sizes": [3, 2], "weights": [[[1, 2, 3], [4, 5, 6]]], ', "not valid JSON"),
    (b"\xff\xfe\x00garbage", "UTF-8"),
    (b'{"sizes": [3, 2], "weights": [[[1,2,3],[4,5,6]]], "biases": [[[0],[0]]], '
     b'"cost": "os.system"}', "unknown cost"),
    (b'{"sizes": [3, 2], "weights": [[[1,2,3],[4,5,6]]], "biases": [[[0],[0]]], '
     b'"cost": "load"}', "unknown cost"),
    (b'{"sizes": [3, 2], "weights": [[[1,2],[4,5]]], "biases": [[[0],[0]]], '
     b'"cost": "CrossEntropyCost"}', "shape"),
    (b'{"sizes": [3], "weights": [], "biases": [], "cost": "CrossEntropyCost"}', "sizes"),
    (b'{"sizes": [3, 2], "weights": [[[1,2,3],[4,5,6]]], "biases": [[[0],[0]]], '
     b'"cost": "CrossEntropyCost", "format_version": 99}', "newer"),
])
def test_malformed_model_files_name_the_file_and_the_problem(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(network2.ModelFileError, match=message) as e:
        network2.load(path)
    assert str(path) in str(e.value)


def test_failed_save_leaves_previous_file_and_no_temporary(tmp_path, monkeypatch):
    net = network2.Network([3, 2], seed=0)
    path = tmp_path / "m.json"
    net.save(path)
    before = path.read_bytes()
    net.SGD((np.random.default_rng(0).random((4, 3)), [0, 1, 0, 1]), 1, 2, 0.5, verbose=False)

    def broken_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space"):
        net.save(path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.json"]


def test_concurrent_training_of_one_network_is_refused():
    net = network2.Network([3, 2], seed=0)
    assert net._lock.acquire(blocking=False)  # as if another thread were training
    try:
        with pytest.raises(RuntimeError, match="another thread"):
            net.SGD((np.zeros((2, 3)), [0, 1]), 1, 1, 0.5, verbose=False)
    finally:
        net._lock.release()


def test_bad_arguments_give_clear_errors():
    with pytest.raises(ValueError, match="at least two layers"):
        network2.Network([784])
    with pytest.raises(ValueError, match="at least one neuron"):
        network2.Network([784, 0, 10])
    with pytest.raises(ValueError, match="unknown cost"):
        network2.Network([3, 2], cost="hinge")
    net = network2.Network([3, 2], seed=0)
    before = net.parameters.copy()
    with pytest.raises(ValueError, match=r"\(n_examples, 3\)"):
        net.SGD((np.zeros((4, 5)), [0, 1, 0, 1]), 1, 2, 0.5, verbose=False)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        net.SGD((np.zeros((4, 3)), [0, 1, 2, 1]), 1, 2, 0.5, verbose=False)
    with pytest.raises(ValueError, match="mini_batch_size"):
        net.SGD((np.zeros((4, 3)), [0, 1, 0, 1]), 1, 0, 0.5, verbose=False)
    assert np.array_equal(net.parameters, before)


def test_book_session_on_real_mnist(mnist_path, capsys):
    """The chapter's session shape, on the first 1,000 images, one epoch."""
    from nncore import mnist_loader
    training_data, validation_data, test_data = mnist_loader.load_data_wrapper(mnist_path)
    net = network2.Network([784, 30, 10], cost=network2.CrossEntropyCost, seed=0)
    net.large_weight_initializer()
    ec, ea, tc, ta = net.SGD(training_data[:1000], 2, 10, 0.5, evaluation_data=test_data,
                             monitor_evaluation_accuracy=True)
    assert len(ea) == 2 and ea[-1] > 5000  # far above chance (1,000) after 2 epochs
    assert f"Accuracy on evaluation data: {ea[-1]} / 10000" in capsys.readouterr().out
    assert net.accuracy(validation_data) > 5000
