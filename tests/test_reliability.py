"""Bad input, odd input and failures around files: clear errors or graceful
handling, and the network, the files on disk and the caller's data intact.

Each section is one scenario of the reliability issue.  What is already
covered elsewhere is not repeated here: see tests/test_network.py (the
first model-file errors, ENOSPC at fsync), tests/test_training.py (zero
epochs, divergence, Ctrl-C in training) and tests/test_mnist_loader.py
(truncated gzip, wrong SHA-256, HTML pages and LFS pointers, IDX magic and
sizes, an interrupted download by KeyboardInterrupt).
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import http.server
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

import nncore
import nncore as network2
import nncore_reference as ref
from nncore import mnist_loader as ml
from nncore import network as network_module
from nncore.data import Dataset

SIZES = [5, 4, 3]


def problem(seed=0, n=17, sizes=SIZES):
    rng = np.random.default_rng(seed)
    return rng.random((n, sizes[0])), rng.integers(0, sizes[-1], n)


def checksum(*arrays):
    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        h.update(repr((a.shape, a.dtype.str)).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def train(data, sizes=SIZES, epochs=2, mbs=4, seed=3, **kw):
    net = network2.Network(sizes, seed=seed, **kw.pop("net", {}))
    net.SGD(data, epochs, mbs, 0.5, lmbda=0.1, verbose=False, **kw)
    return net.parameters.copy()


def refused(net, data, fragment, exc=ValueError, **kw):
    """SGD on ``data`` raises ``exc`` matching ``fragment``; nothing changes."""
    before = net.parameters.copy()
    rng_state = net.rng.bit_generator.state
    with pytest.raises(exc, match=fragment) as info:
        net.SGD(data, kw.pop("epochs", 1), kw.pop("mbs", 2), kw.pop("eta", 0.5),
                verbose=False, **kw)
    assert np.array_equal(net.parameters, before)
    assert net.rng.bit_generator.state == rng_state  # not even a shuffle was drawn
    return str(info.value)


# -- 1. shapes, labels and targets ---------------------------------------------------

@pytest.mark.parametrize("form", ["arrays", "book", "dataset"])
def test_input_width_must_match_the_first_layer(form):
    X, y = problem(n=6, sizes=[7, 3])
    data = {"arrays": (X, y),
            "book": [(x.reshape(-1, 1), int(j)) for x, j in zip(X, y)],
            "dataset": Dataset(X, y, n_classes=3)}[form]
    net = network2.Network(SIZES, seed=0)
    msg = refused(net, data, "5")
    assert "training_data" in msg and ("(n_examples, 5)" in msg or "takes 5 inputs" in msg)
    with pytest.raises(ValueError, match="5"):
        net.accuracy(data)


@pytest.mark.parametrize("labels, fragment", [
    ([0, 1, 3, 1], r"labels must lie in \[0, 3\).*row 2, label 3"),
    ([0, -1, 2, 1], r"labels must lie in \[0, 3\).*row 1, label -1"),
    ([0, 1, 2.5, 1], r"whole numbers.*row 2 has label 2\.5"),
    ([0, 1, np.nan, 1], r"whole numbers.*row 2 has label nan"),
    (["0", "1", "2", "1"], "labels must be integers.*astype"),
    ([True, False, True, False], "labels must be integers.*dtype bool"),
])
def test_bad_labels_are_named(labels, fragment):
    X = np.random.default_rng(0).random((4, 5))
    y = np.array(labels)
    y_before = checksum(y)
    net = network2.Network(SIZES, seed=0)
    refused(net, (X, y), fragment)
    assert checksum(y) == y_before
    # the book's form says the same
    if not isinstance(labels[0], str):
        refused(net, [(x.reshape(-1, 1), j) for x, j in zip(X, labels)], fragment)


def test_whole_float_labels_are_labels():
    X, y = problem(n=8)
    assert np.array_equal(train((X, y.astype(float))), train((X, y)))


@pytest.mark.parametrize("cost, targets, ok, fragment", [
    # quadratic: regression, any finite values
    ("QuadraticCost", [[3.5, -2.0, 0.0]], True, None),
    ("QuadraticCost", [[np.inf, 0, 0]], False, "row 2 of the targets holds infinite"),
    # cross-entropy: values in [0, 1] (soft targets allowed)
    ("CrossEntropyCost", [[0.25, 0.5, 1.0]], True, None),
    ("CrossEntropyCost", [[0.0, 1.5, 0.0]], False, r"target row 2 holds 1\.5, outside \[0, 1\]"),
    ("CrossEntropyCost", [[-0.1, 1.0, 0.0]], False, r"target row 2 holds -0\.1"),
    # log-likelihood: non-negative rows summing to 1
    ("LogLikelihoodCost", [[0.2, 0.3, 0.5]], True, None),
    ("LogLikelihoodCost", [[0.2, 0.3, 0.4]], False, "target row 2 sums to 0.9"),
    ("LogLikelihoodCost", [[1.0, 1.0, 0.0]], False, "target row 2 sums to 2.0, not 1"),
    ("LogLikelihoodCost", [[1.5, -0.5, 0.0]], False, "target row 2 has a negative entry"),
])
def test_target_rows_must_suit_the_cost(cost, targets, ok, fragment):
    X = np.random.default_rng(1).random((5, 5))
    Y = np.eye(3)[[0, 1, 0, 2, 1]]
    Y[2] = targets[0]
    net = network2.Network(SIZES, cost=cost, seed=0)
    if ok:
        h = net.SGD((X, Y), 1, 2, 0.1, verbose=False)
        assert h.stop_reason == "completed" and np.isfinite(net.parameters).all()
        assert np.isfinite(net.total_cost((X, Y), 0.0))
        return
    msg = refused(net, (X, Y), fragment)
    assert msg.startswith("training_data: ")
    # the book's form (columns) is checked the same way, and so is evaluation
    pairs = [(x.reshape(-1, 1), t.reshape(-1, 1)) for x, t in zip(X, Y)]
    refused(net, pairs, fragment)
    with pytest.raises(ValueError, match=fragment):
        net.total_cost((X, Y), 0.0)


def test_mixed_label_encodings_are_refused():
    X, y = problem(n=4)
    net = network2.Network(SIZES, seed=0)
    book = [(X[0], 1), (X[1], network2.vectorized_result(2, 3)), (X[2], 0), (X[3], 1)]
    refused(net, book, r"mixes integer labels and target vectors \(item 0 has an integer "
                       r"label, item 1 a target vector\)")
    refused(net, (X, [1, [0, 0, 1], 0, 1]), "ragged or mix integer labels and target vectors")
    with pytest.raises(ValueError, match="mix integer labels and one-hot"):
        Dataset.from_pairs(book, n_classes=3)


def test_dataset_from_pairs_refuses_what_it_would_silently_change():
    x = np.ones((4, 1))
    with pytest.raises(ValueError, match=r"item 1: label 2\.5 is not an integer"):
        Dataset.from_pairs([(x, 1), (x, 2.5)], n_classes=3)
    with pytest.raises(ValueError, match="item 0: target column is not one-hot"):
        Dataset.from_pairs([(x, np.array([[0.5], [0.5], [0.0]]))], n_classes=3)


# -- 2. NaN and infinity; empty, single-example and single-feature data --------------

@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("where", ["training inputs", "training targets", "evaluation inputs",
                                   "book form"])
def test_non_finite_values_name_the_data_set_and_the_first_bad_row(where, bad):
    X, y = problem(n=9)
    Y = np.eye(3)[y]
    Xb, Yb = X.copy(), Y.copy()
    if where == "training targets":
        Yb[4, 1] = bad
        Yb[7, 0] = bad
    else:
        Xb[4, 2] = bad
        Xb[7, 0] = bad
    before = checksum(Xb, Yb)
    net = network2.Network(SIZES, seed=0)
    kind = "NaN" if np.isnan(bad) else "infinite values"
    if where == "evaluation inputs":
        msg = refused(net, (X, y), "evaluation_data: row 4 of the inputs holds " + kind,
                      evaluation_data=(Xb, y))
    elif where == "book form":
        msg = refused(net, [(x.reshape(-1, 1), int(j)) for x, j in zip(Xb, y)],
                      "training_data: row 4 of the inputs holds " + kind)
    else:
        what = "targets" if where == "training targets" else "inputs"
        msg = refused(net, (Xb, Yb), f"training_data: row 4 of the {what} holds {kind}")
    assert "2 of 9 rows" in msg and "np.isfinite" in msg
    assert checksum(Xb, Yb) == before
    if where == "training inputs":
        for method in (net.accuracy, lambda d: net.total_cost(d, 0.0)):
            with pytest.raises(ValueError, match="data: row 4 of the inputs"):
                method((Xb, y))


def test_huge_but_finite_values_are_not_mistaken_for_infinity():
    """The finiteness check is one sum; a sum that overflows must not be
    reported as an infinite value."""
    X, y = problem(n=6)
    X[:, 0] = 1e308
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        assert network2.Network(SIZES, seed=0).accuracy((X, y)) >= 0


@pytest.mark.parametrize("empty", [
    lambda: (np.zeros((0, 5)), np.zeros(0, int)),
    lambda: [],
    lambda: (p for p in []),
    lambda: Dataset(np.zeros((0, 5)), np.zeros(0, int), n_classes=3),
])
def test_empty_data_sets(empty):
    X, y = problem(n=6)
    net = network2.Network(SIZES, seed=0)
    refused(net, empty(), "training_data is empty; SGD needs at least one example")
    refused(net, (X, y), "evaluation_data is empty; pass None",
            evaluation_data=empty(), monitor_evaluation_accuracy=True)
    assert net.accuracy(empty()) == 0
    assert net.total_cost(empty(), 1.0) == 0.0


def test_a_single_example_and_a_single_feature_train_like_the_reference():
    rng = np.random.default_rng(5)
    for sizes, n in (([1, 3, 2], 1), ([1, 3, 2], 5), ([4, 3, 2], 1), ([1, 1], 3)):
        X = rng.random((n, sizes[0]))
        labels = rng.integers(0, sizes[-1], n)
        Y = np.eye(sizes[-1])[labels]
        net = network2.Network(sizes, seed=2, cost=network2.QuadraticCost)
        net.SGD([(x.reshape(-1, 1), t.reshape(-1, 1)) for x, t in zip(X, Y)], 2, 3, 0.7,
                lmbda=0.5, verbose=False)
        r = np.random.default_rng(2)
        w, b = ref.init_params(sizes, r)
        for _ in range(2):
            w, b = ref.per_example.sgd_epoch(w, b, X, Y, r.permutation(n), 3, 0.7, 0.5,
                                             "quadratic")
        for a, e in zip(net.weights + net.biases, w + b):
            np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-13)


# -- 3. hyper-parameters and sizes ------------------------------------------------------

@pytest.mark.parametrize("value, fragment", [
    (0, "mini_batch_size must be at least 1, got 0"),
    (-3, "mini_batch_size must be at least 1, got -3"),
    (2.5, "mini_batch_size must be a whole number, got 2.5"),
    ("10", "mini_batch_size must be a whole number, got '10'"),
    (None, "mini_batch_size must be a whole number, got None"),
    (True, "mini_batch_size must be a whole number, got True"),
])
def test_bad_mini_batch_sizes(value, fragment):
    X, y = problem()
    refused(network2.Network(SIZES, seed=0), (X, y), fragment, mbs=value)


def test_a_mini_batch_larger_than_the_data_is_one_batch_of_everything():
    X, y = problem(n=7)
    whole = train((X, y), mbs=7)
    assert np.array_equal(train((X, y), mbs=1000), whole)
    assert np.array_equal(train((X, y), mbs=7.0), whole)  # a whole float is fine
    assert not np.array_equal(train((X, y), mbs=3), whole)
    assert "larger than the data" in network2.Network.SGD.__doc__


@pytest.mark.parametrize("kw, fragment", [
    (dict(eta=0), r"eta \(the learning rate\) must be > 0, got 0"),
    (dict(eta=-0.5), "must be > 0, got -0.5"),
    (dict(eta=float("nan")), "eta is NaN"),
    (dict(eta=float("inf")), "eta must be finite"),
    (dict(eta="0.5"), "eta must be a number, got '0.5'"),
    (dict(eta=None), "eta must be a number, got None"),
    (dict(lmbda=-1.0), r"lmbda \(L2 regularization\) must be >= 0, got -1.0"),
    (dict(lmbda=float("nan")), "lmbda is NaN"),
    (dict(lmbda=float("inf")), "lmbda must be finite"),
    (dict(l1=-0.1), "l1 .* must be >= 0"),
    (dict(momentum=1.0), r"momentum \(mu\) must lie in \[0, 1\), got 1.0"),
    (dict(momentum=-0.1), r"momentum \(mu\) must lie in \[0, 1\)"),
    (dict(momentum=float("nan")), "momentum is NaN"),
    (dict(dropout=1.0), r"dropout must be a probability in \[0, 1\), got 1.0"),
    (dict(dropout=-0.5), r"dropout must be a probability in \[0, 1\)"),
    (dict(epochs=-1), "epochs must be at least 0, got -1"),
    (dict(epochs=1.5), "epochs must be a whole number, got 1.5"),
    (dict(epochs="3"), "epochs must be a whole number"),
])
def test_hyper_parameters_out_of_range(kw, fragment):
    X, y = problem()
    before = checksum(X, y)
    net = network2.Network(SIZES, seed=0)
    refused(net, (X, y), fragment, **kw)
    assert checksum(X, y) == before
    if set(kw) <= {"eta", "lmbda", "l1", "momentum", "dropout"}:
        args = dict(eta=0.5, lmbda=0.0)
        args.update(kw)
        params = net.parameters.copy()
        with pytest.raises(ValueError, match=fragment):
            net.update_mini_batch([(x, int(j)) for x, j in zip(X[:3], y[:3])],
                                  args.pop("eta"), args.pop("lmbda"), 17, **args)
        assert np.array_equal(net.parameters, params)


@pytest.mark.parametrize("sizes, fragment", [
    ([784], "at least two layers"),
    ([], "at least two layers"),
    ([3, 0], "at least one neuron"),
    ([3, -2, 2], "at least one neuron"),
    ([3, 2.5], r"whole numbers .*sizes\[1\] is 2\.5"),
    (["784", "10"], r"sizes\[0\] is '784'"),
    ([3, True], r"sizes\[1\] is True"),
    ([3, None], r"sizes\[1\] is None"),
    ([3, float("nan")], r"sizes\[1\] is nan"),
    ("784,30,10", "list of layer widths"),
    (784, "list of layer widths"),
    (None, "list of layer widths"),
])
def test_bad_sizes(sizes, fragment):
    with pytest.raises(ValueError, match=fragment):
        network2.Network(sizes)


def test_whole_number_sizes_of_other_types_are_accepted():
    assert network2.Network(np.array([3, 4, 2]), seed=0).sizes == [3, 4, 2]
    assert network2.Network((3.0, np.int32(2)), seed=0).sizes == [3, 2]


# -- 4. dtypes, layouts, read-only and memory-mapped data ----------------------------------

def _variants(tmp_path):
    rng = np.random.default_rng(11)
    X = rng.random((23, 5))
    y = rng.integers(0, 3, 23)
    big = np.zeros((46, 12))
    big[::2, 1:11:2] = X
    ro = X.copy()
    ro.flags.writeable = False
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    mm = np.memmap(tmp_path / "X.raw", dtype=np.float64, mode="w+", shape=X.shape)
    mm[...] = X
    mm.flush()
    mm = np.memmap(tmp_path / "X.raw", dtype=np.float64, mode="r", shape=X.shape)
    pixels = rng.integers(0, 256, (23, 5)).astype(np.uint8)
    pixels[0, 0] = 255
    yield "float64", X, y
    yield "float32", X.astype(np.float32), y
    yield "int64 0/1", (X > 0.5).astype(np.int64), y
    yield "uint8 0-255", pixels, y
    yield "int32 0-255", pixels.astype(np.int32), y
    yield "bool", X > 0.5, y
    yield "strided slice", big[::2, 1:11:2], y
    yield "Fortran order", np.asfortranarray(X), y
    yield "read-only", ro, y
    yield "np.memmap", mm, y
    yield "np.load mmap_mode=r", (np.load(tmp_path / "X.npy", mmap_mode="r"),
                                  np.load(tmp_path / "y.npy", mmap_mode="r"))
    yield "labels int8, strided view", X, np.repeat(y, 2).astype(np.int8)[::2]
    yield "one-hot float32 targets", X, np.eye(3, dtype=np.float32)[y]


def test_any_dtype_or_layout_trains_as_a_contiguous_float64_copy(tmp_path):
    for case in _variants(tmp_path):
        name, X, y = case if len(case) == 3 else (case[0], *case[1])
        before = checksum(X, y), X.flags.writeable, y.flags.writeable
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = train((X, y), evaluation_data=(X, y), monitor_evaluation_accuracy=True)
        expected = train((np.ascontiguousarray(X, dtype=np.float64), np.array(y)))
        assert np.array_equal(got, expected), name
        assert (checksum(X, y), X.flags.writeable, y.flags.writeable) == before, name
        unscaled = [w for w in caught if "range up to" in str(w.message)]
        if "0-255" in name:  # once for the call, though both data sets are unscaled
            assert len(unscaled) == 1, name
            assert str(unscaled[0].message) == (
                f"training_data: inputs range up to 255 ({X.dtype} values); divide by 255 to "
                "scale them to [0, 1] as MNIST's are (unscaled inputs saturate the "
                "neurons and slow learning)")
            assert unscaled[0].filename == __file__  # points at the caller's line
        else:
            assert unscaled == [], name


def test_float32_network_reads_read_only_and_mapped_float32_data(tmp_path):
    X, y = problem(n=12)
    X32 = X.astype(np.float32)
    np.save(tmp_path / "X32.npy", X32)
    mapped = np.load(tmp_path / "X32.npy", mmap_mode="r")
    kw = dict(net=dict(dtype=np.float32))
    assert np.array_equal(train((mapped, y), **kw), train((X32.copy(), y), **kw))


def test_non_numeric_inputs_are_refused():
    X, y = problem(n=4)
    net = network2.Network(SIZES, seed=0)
    refused(net, (X.astype(str), y), r"inputs must be real numbers .*dtype <U")
    refused(net, (X + 1j, y), "inputs must be real numbers .*complex128")
    refused(net, (np.array([[object()] * 5] * 4), y), "inputs must be real numbers")


def test_unscaled_warning_on_real_mnist_pixels(mnist_path):
    """The book's pixels as the 0-255 bytes they came from: one warning; the
    scaled float32 images train exactly like their float64 copy."""
    (X, y), _, _ = ml.load_data(mnist_path)
    X, y = X[:600], y[:600]
    raw = np.round(X * 256).astype(np.uint8)
    net = network2.Network([784, 10, 10], seed=0)
    with pytest.warns(UserWarning, match="inputs range up to 255 .*divide by 255") as rec:
        net.SGD((raw, y), 1, 10, 0.5, evaluation_data=(raw[:100], y[:100]), verbose=False)
    assert len([w for w in rec if "range up to" in str(w.message)]) == 1
    a = network2.Network([784, 10, 10], seed=0)
    b = network2.Network([784, 10, 10], seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scaled images: no warning
        a.SGD((X, y), 1, 10, 0.5, verbose=False)
    b.SGD((X.astype(np.float64), y), 1, 10, 0.5, verbose=False)
    assert np.array_equal(a.parameters, b.parameters)


# -- 5. the forms data comes in -----------------------------------------------------

def test_every_data_form_trains_the_same():
    X, y = problem(n=13)
    Y = np.eye(3)[y]
    expected = train((X, y))
    forms = {
        "book, one-hot columns": lambda: [(x.reshape(-1, 1), t.reshape(-1, 1))
                                          for x, t in zip(X, Y)],
        "book, int labels": lambda: [(x.reshape(-1, 1), int(j)) for x, j in zip(X, y)],
        "book, flat x": lambda: [(x, j) for x, j in zip(X, y)],
        "generator": lambda: ((x.reshape(-1, 1), int(j)) for x, j in zip(X, y)),
        "zip": lambda: zip(list(X), list(y)),
        "tuple of pairs": lambda: tuple((x, j) for x, j in zip(X, y)),
        "tuple of arrays": lambda: (X, y),
        "list of two arrays": lambda: [X, y],
        "one-hot arrays": lambda: (X, Y),
        "Dataset": lambda: Dataset(X, y, n_classes=3),
        "Dataset, one-hot": lambda: Dataset(X, y, one_hot_targets=True, n_classes=3),
        "nested lists": lambda: (X.tolist(), y.tolist()),
    }
    for name, make in forms.items():
        if name == "nested lists":
            # plain lists are book-form pairs: two "pairs" here, so it is refused
            with pytest.raises(ValueError, match="item 0 is not an .x, y. pair"):
                train(make())
            continue
        assert np.array_equal(train(make()), expected), name


def test_evaluation_data_as_arrays_or_a_generator_is_monitored_every_epoch():
    X, y = problem(n=20)
    results = []
    for evaluation in ((X[:8], y[:8]),
                       ((x, j) for x, j in zip(X[:8], y[:8])),
                       zip(X[:8], y[:8])):
        net = network2.Network(SIZES, seed=4)
        h = net.SGD((X, y), 3, 5, 0.5, evaluation_data=evaluation, verbose=False,
                    monitor_evaluation_accuracy=True, monitor_evaluation_cost=True)
        assert len(h.evaluation_accuracy) == len(h.evaluation_cost) == 3
        assert h.evaluation_accuracy[-1] == net.accuracy((X[:8], y[:8]))
        results.append((h.evaluation_accuracy, h.evaluation_cost))
    assert results[0] == results[1] == results[2]


@pytest.mark.parametrize("data, fragment", [
    (np.zeros((4, 5)), "a bare array has no targets"),
    (None, "expected .X, y. arrays, a Dataset or a list of .x, y. pairs; got NoneType"),
    ("data.csv", "got str"),
    ({"X": 1}, "got dict"),
    (42, "got int"),
    ((np.zeros(5), 1), r"this looks like one \(x, y\) pair: pass a list of pairs"),
    ((np.zeros((4, 5, 1)), [0, 1, 2, 0]), r"X.reshape\(len\(X\), -1\)"),
    ((np.zeros((4, 5)), 2), "a single value"),
    ((np.zeros((4, 5)), [0, 1]), "4 inputs but 2 targets"),
])
def test_unusable_data_forms_say_what_to_pass(data, fragment):
    refused(network2.Network(SIZES, seed=0), data, fragment)


# -- 6. a network too large for the machine --------------------------------------------

def test_a_network_larger_than_memory_is_refused_before_allocating():
    with pytest.raises(MemoryError, match=r"Network\(\[1000000, 1000000, 10\]\) needs "
                                          r"7,450\.7 GiB for its 1,000,011,000,010 "
                                          r"parameters \(float64\); this machine has .* GiB"):
        network2.Network([10**6, 10**6, 10])
    with pytest.raises(MemoryError, match="needs"):  # no overflow anywhere
        network2.Network([10**30, 10**30])


def test_memory_check_against_a_small_machine(monkeypatch):
    monkeypatch.setattr(network_module, "_physical_memory", lambda: 2**19)  # 0.5 MiB
    with pytest.raises(MemoryError, match=r"Network\(\[300, 300\]\) needs 0\.7 MiB for its "
                                          r"90,300 parameters \(float64\); this machine has "
                                          r"0\.5 MiB of memory\. Use narrower layers \(or "
                                          r"dtype=np\.float32 to halve it\)"):
        network2.Network([300, 300], seed=0)
    network2.Network([300, 300], seed=0, dtype=np.float32)  # 0.34 MiB: fits
    monkeypatch.setattr(network_module, "_physical_memory", lambda: None)  # unknown: no check
    network2.Network([300, 300], seed=0)


# -- 12. model files ----------------------------------------------------------------------

def _model(**changes):
    net = network2.Network([3, 2], seed=0)
    d = net.to_dict()
    d.update(changes)
    return d


def _raw(d):
    return json.dumps(d).encode()


_GOOD = _raw(_model())

BAD_MODELS = [
    ("truncated", _GOOD[: len(_GOOD) // 2], "not valid JSON"),
    ("truncated by one byte", _GOOD[:-1], "not valid JSON"),
    ("whitespace only", b"  \n\t ", "empty"),
    ("invalid UTF-8 in a string", _GOOD.replace(b'"sigmoid"', b'"sigm\xc3\x28id"'), "UTF-8"),
    ("a JSON list", b"[1, 2, 3]", "holds a JSON list"),
    ("a JSON string", b'"model"', "holds a JSON str"),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("deep nesting in weights", _raw(_model(weights=[[[[[[[[[[[1]]]]]]]]]]])),
     "weights.0. is not a rectangular array|shape"),
    ("sizes a string", _raw(_model(sizes="3,2")), "'sizes' must be a list"),
    ("sizes nested", _raw(_model(sizes=[[3], [2]])), "'sizes' must be a list"),
    ("sizes float", _raw(_model(sizes=[3.0, 2])), "'sizes' must be a list"),
    ("sizes bool", _raw(_model(sizes=[3, True])), "'sizes' must be a list"),
    ("sizes zero", _raw(_model(sizes=[3, 0])), "'sizes' must be a list"),
    ("sizes missing", _raw({k: v for k, v in _model().items() if k != "sizes"}),
     "'sizes' must be a list"),
    ("sizes disagree", _raw(_model(sizes=[2, 3])), r"weights\[0\] has shape \(2, 3\); sizes say \(3, 2\)"),
    ("ragged weights", _raw(_model(weights=[[[1, 2, 3], [4, 5]]])), "not a rectangular array"),
    ("string numbers", _raw(_model(weights=[[["1", "2", "3"], ["4", "5", "6"]]])),
     "not a rectangular array of numbers"),
    ("null in weights", _raw(_model(weights=[[[1, None, 3], [4, 5, 6]]])), "not a rectangular"),
    ("booleans in biases", _raw(_model(biases=[[[True], [False]]])), "not a rectangular"),
    ("dict as weights", _raw(_model(weights=[{"a": 1}])), "not a rectangular"),
    ("weights missing", _raw({k: v for k, v in _model().items() if k != "weights"}),
     "'weights' must be a list of 1 arrays"),
    ("too many biases", _raw(_model(biases=[[[0], [0]], [[0], [0]]])),
     "'biases' must be a list of 1 arrays"),
    ("NaN", _raw(_model(weights=[[[1, np.nan, 3], [4, 5, 6]]])), r"weights\[0\] holds NaN"),
    ("Infinity", _raw(_model(biases=[[[0], [-np.inf]]])), r"biases\[0\] holds NaN or infinite"),
    ("1e999", _raw(_model(weights=[[[1, 2, 3.25], [4, 5, 6]]])).replace(b"3.25", b"1e999"),
     "NaN or infinite"),
    ("huge integer", _raw(_model(weights=[[[1, 2, 3.25], [4, 5, 6]]]))
     .replace(b"3.25", b"9" * 400), "not a rectangular"),
    ("cost __import__", _raw(_model(cost="__import__")), "unknown cost '__import__'"),
    ("cost __class__", _raw(_model(cost="__class__")), "unknown cost '__class__'"),
    ("cost os.system", _raw(_model(cost="os.system")), "unknown cost 'os.system'"),
    ("cost a method", _raw(_model(cost="CrossEntropyCost.fn")), "unknown cost"),
    ("cost null", _raw(_model(cost=None)), "unknown cost None"),
    ("cost a list", _raw(_model(cost=["CrossEntropyCost"])), "unknown cost"),
    ("cost very long", _raw(_model(cost="x" * 10_000)), r"unknown cost 'xxx.*\.\.\.\)"),
    ("activation __class__", _raw(_model(activation="__class__")),
     "unknown activation '__class__' for the hidden layers"),
    ("activation __import__", _raw(_model(activation="__import__")), "unknown activation"),
    ("activation a list", _raw(_model(activation=["sigmoid"])), "unknown activation"),
    ("output __class__", _raw(_model(output_activation="__class__")),
     "unknown output activation '__class__'"),
    ("output for another cost", _raw(_model(output_activation="softmax")),
     "cross-entropy cost needs sigmoid output"),
    ("dtype object", _raw(_model(dtype="object")), "dtype must be float32 or float64"),
    ("dtype a list", _raw(_model(dtype=["float64"])), "dtype must be float32 or float64"),
    ("version from the future", _raw(_model(format_version=2)), "newer than this nncore"),
    ("version a string", _raw(_model(format_version="1")),
     "'format_version' must be a whole number"),
    ("version a float", _raw(_model(format_version=1.5)), "'format_version' must be"),
    ("version negative", _raw(_model(format_version=-1)), "'format_version' must be"),
    ("another format", _raw(_model(format="keras")), "not an nncore model file"),
    ("a history file", _raw({"format": "nncore-history", "evaluation_accuracy": []}),
     "not an nncore model file"),
]


@pytest.mark.parametrize("content, fragment", [c[1:] for c in BAD_MODELS],
                         ids=[c[0] for c in BAD_MODELS])
def test_bad_model_files_raise_model_file_error_naming_the_file(tmp_path, content, fragment):
    path = tmp_path / "model.json"
    path.write_bytes(content)
    with pytest.raises(nncore.ModelFileError, match=fragment) as info:
        network2.load(path)
    assert str(path) in str(info.value)
    assert len(str(info.value)) < 400 + len(str(path))
    assert path.read_bytes() == content  # loading never writes


def test_model_file_errors_are_value_errors_and_missing_files_are_named(tmp_path):
    assert issubclass(nncore.ModelFileError, ValueError)
    with pytest.raises(nncore.ModelFileError, match="cannot read the file") as info:
        network2.load(tmp_path / "nope.json")
    assert "nope.json" in str(info.value)
    with pytest.raises(nncore.ModelFileError, match="cannot read the file"):
        network2.load(tmp_path)  # a directory


def test_load_does_no_lookup_driven_by_the_file(tmp_path, monkeypatch):
    """Names in the file are only compared with fixed tables: even names of
    real attributes of the cost module or the activation table are unknown."""
    from nncore import costs
    monkeypatch.setattr(costs, "evil", lambda: pytest.fail("looked up"), raising=False)
    for key, value in [("cost", "evil"), ("cost", "cost_from_name"), ("cost", "COSTS"),
                       ("activation", "softmax"), ("activation", "ACTIVATIONS")]:
        path = tmp_path / "m.json"
        path.write_bytes(_raw(_model(**{key: value})))
        with pytest.raises(nncore.ModelFileError, match="unknown"):
            network2.load(path)


def test_a_good_file_still_loads_after_all_that(tmp_path):
    path = tmp_path / "m.json"
    path.write_bytes(_GOOD)
    net = network2.load(path)
    assert net.sizes == [3, 2] and np.isfinite(net.parameters).all()


# -- 13. saving ---------------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    """A saved model and a trained network whose save would replace it."""
    net = network2.Network([4, 3, 2], seed=0)
    path = tmp_path / "model.json"
    net.save(path)
    before = path.read_bytes()
    net.SGD((np.random.default_rng(0).random((6, 4)), [0, 1] * 3), 1, 2, 0.5, verbose=False)
    return net, path, before


class _FailingFile:
    """Wraps the temporary file: writes half of the text, then raises."""

    def __init__(self, f, exc):
        self.f, self.exc = f, exc

    def write(self, text):
        self.f.write(text[: len(text) // 2])
        self.f.flush()
        raise self.exc

    def __getattr__(self, name):
        return getattr(self.f, name)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return self.f.__exit__(*a)


def _fail_writes(monkeypatch, exc):
    real = os.fdopen

    def fdopen(fd, *args, **kwargs):
        return _FailingFile(real(fd, *args, **kwargs), exc)

    monkeypatch.setattr(network_module.os, "fdopen", fdopen)


@pytest.mark.parametrize("exc, expected", [
    (OSError(errno.ENOSPC, "No space left on device"), OSError),
    (OSError(errno.EIO, "Input/output error"), OSError),
    (RuntimeError("simulated crash mid-write"), RuntimeError),
    (KeyboardInterrupt(), KeyboardInterrupt),
])
def test_failure_mid_write_keeps_the_previous_file(saved, monkeypatch, exc, expected):
    net, path, before = saved
    _fail_writes(monkeypatch, exc)
    with pytest.raises(expected) as info:
        net.save(path)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(path.parent) == ["model.json"]
    if isinstance(exc, OSError):
        assert info.value.errno == exc.errno
        assert str(path) in str(info.value) and exc.strerror in str(info.value)
    if exc.args and exc.args[0] == errno.ENOSPC:
        assert "free some disk space" in str(info.value)


def test_full_disk_keeps_errno_class_and_names_the_file(saved, monkeypatch):
    net, path, before = saved
    _fail_writes(monkeypatch, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
    with pytest.raises(OSError) as info:
        net.save(str(path))
    assert info.value.errno == errno.ENOSPC
    assert str(info.value) == (f"[Errno {errno.ENOSPC}] cannot save the network to {path}: "
                               "No space left on device; free some disk space or save "
                               "elsewhere")
    assert isinstance(info.value.__cause__, OSError)  # the original, for the traceback
    assert path.read_bytes() == before and os.listdir(path.parent) == ["model.json"]


def test_read_only_directory_simulated(saved, monkeypatch):
    net, path, before = saved

    def mkstemp(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied",
                              str(path.parent / ".nncore-x.tmp"))

    monkeypatch.setattr(network_module.tempfile, "mkstemp", mkstemp)
    with pytest.raises(PermissionError, match=r"cannot save the network to .*model\.json: "
                                              "Permission denied; save to a directory you "
                                              "can write to") as info:
        net.save(path)
    assert info.value.errno == errno.EACCES
    assert path.read_bytes() == before and os.listdir(path.parent) == ["model.json"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs POSIX permissions and a non-root user")
def test_read_only_directory_for_real(saved):
    net, path, before = saved
    os.chmod(path.parent, 0o500)
    try:
        with pytest.raises(PermissionError, match="cannot save the network to"):
            net.save(path)
    finally:
        os.chmod(path.parent, 0o700)
    assert path.read_bytes() == before and os.listdir(path.parent) == ["model.json"]


def test_saving_onto_a_directory_or_into_a_missing_one(tmp_path):
    net = network2.Network([3, 2], seed=0)
    (tmp_path / "adir").mkdir()
    with pytest.raises(IsADirectoryError, match="cannot save the network to .*adir"):
        net.save(tmp_path / "adir")
    assert os.listdir(tmp_path) == ["adir"] and os.listdir(tmp_path / "adir") == []
    with pytest.raises(FileNotFoundError, match="directory does not exist"):
        net.save(tmp_path / "missing" / "m.json")


def test_save_keeps_the_files_permissions(tmp_path):
    net = network2.Network([3, 2], seed=0)
    path = tmp_path / "m.json"
    net.save(path)
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0o600
    os.chmod(path, 0o640)
    net.save(path)
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_network_with_nan_parameters_is_not_saved(tmp_path):
    net = network2.Network([3, 2], seed=0)
    path = tmp_path / "m.json"
    net.save(path)
    before = path.read_bytes()
    w = net.weights[0].copy()
    w[0, 0] = np.nan
    net.weights = [w]
    with pytest.raises(ValueError, match="NaN or infinite values, so the file could not be "
                                         "loaded again"):
        net.save(path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["m.json"]


# -- 14. data files: fetching concurrently, and a real Ctrl-C -----------------------------

def _stand_in():
    rng = np.random.default_rng(0)
    split = tuple(((rng.integers(0, 256, (n, 784)) / 256).astype(np.float32),
                   rng.integers(0, 10, n).astype(np.int64)) for n in (40, 10, 10))
    return gzip.compress(pickle.dumps(split, protocol=4), mtime=0)


class _SlowServer:
    """Serves one file in small pieces.  ``gate`` (if set) holds every
    response until ``expected`` requests have arrived; ``stall`` stops
    after the first piece until released."""

    def __init__(self, payload, expected=1, stall=False):
        self.payload, self.expected = payload, expected
        self.arrived = 0
        self.all_arrived = threading.Event()
        self.release = threading.Event()
        self.sent_first = threading.Event()
        self.overlap = False
        self.active = 0
        lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                with lock:
                    owner.arrived += 1
                    if owner.arrived >= owner.expected:
                        owner.all_arrived.set()
                owner.all_arrived.wait(20)
                self.send_response(200)
                self.send_header("Content-Length", str(len(owner.payload)))
                self.end_headers()
                piece = max(1, len(owner.payload) // 8)
                try:
                    for k in range(0, len(owner.payload), piece):
                        with lock:
                            owner.active += 1
                            owner.overlap |= owner.active > 1
                        self.wfile.write(owner.payload[k:k + piece])
                        self.wfile.flush()
                        owner.sent_first.set()
                        if stall:
                            owner.release.wait(20)
                        time.sleep(0.02)
                        with lock:
                            owner.active -= 1
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mnist.pkl.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.release.set()
        self.all_arrived.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


_FETCHER = textwrap.dedent("""
    import sys
    from nncore import mnist_loader as ml
    ml.MNIST_SHA256, ml.MNIST_SIZE = sys.argv[1], int(sys.argv[2])
    (X, y), _, _ = ml.load_data()
    print("labels", int(y.sum()), flush=True)
""")


def _fetch_env(cache, url):
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")
           and not k.startswith("NNCORE_")}
    env.update(NNCORE_CACHE=str(cache), NNCORE_MNIST_URLS=url, NNCORE_NO_REGISTRY="1",
               no_proxy="127.0.0.1,localhost", NO_PROXY="127.0.0.1,localhost")
    return env


def test_two_processes_fetching_into_the_cache_at_once(tmp_path):
    payload = _stand_in()
    digest = hashlib.sha256(payload).hexdigest()
    cache = tmp_path / "cache"
    server = _SlowServer(payload, expected=2)
    try:
        env = _fetch_env(cache, server.url)
        procs = [subprocess.Popen([sys.executable, "-c", _FETCHER, digest, str(len(payload))],
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        outs = [p.communicate(timeout=60) for p in procs]
    finally:
        server.close()
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
        assert out.startswith("labels ")
    assert outs[0][0] == outs[1][0]
    assert server.arrived == 2 and server.overlap  # both really downloaded, at once
    assert sorted(os.listdir(cache)) == ["mnist.pkl.gz"]  # one file, no temporaries
    assert hashlib.sha256((cache / "mnist.pkl.gz").read_bytes()).hexdigest() == digest


@pytest.mark.skipif(os.name != "posix", reason="sends SIGINT")
def test_ctrl_c_during_a_real_download_leaves_no_file(tmp_path):
    payload = _stand_in()
    cache = tmp_path / "cache"
    server = _SlowServer(payload, stall=True)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _FETCHER, hashlib.sha256(payload).hexdigest(),
             str(len(payload))], env=_fetch_env(cache, server.url),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        assert server.sent_first.wait(30), "the download never started"
        deadline = time.monotonic() + 10
        while not any(cache.glob(".mnist.pkl.gz.*.part")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(cache.glob(".mnist.pkl.gz.*.part"))  # mid-download
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        server.close()
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    assert os.listdir(cache) == []  # no partial file, under any name
