"""Determinism and threads."""

import threading

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

import nncore


def data(seed=0, n=300, d=20, k=4):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), rng.integers(0, k, n)


def train(seed, X, y, **kw):
    net = nncore.Network([20, 16, 4], seed=seed)
    h = net.SGD((X, y), 3, 10, 0.5, lmbda=1.0, evaluation_data=(X, y),
                monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
                verbose=False, **kw)
    return net.parameters.copy(), h


@pytest.mark.parametrize("kw", [{}, dict(dropout=0.5, momentum=0.9, nesterov=True)])
def test_same_seed_is_bit_identical_with_blas_on_one_thread(kw):
    X, y = data()
    np.random.seed(7)
    global_state = np.random.get_state()[1].copy()
    with threadpool_limits(limits=1):
        p1, h1 = train(5, X, y, **kw)
        p2, h2 = train(5, X, y, **kw)
        p3, h3 = train(6, X, y, **kw)
    assert np.array_equal(p1, p2)
    assert list(h1) == list(h2)  # costs and accuracies, exactly
    assert not np.array_equal(p1, p3)
    assert np.array_equal(np.random.get_state()[1], global_state)


def test_feedforward_from_eight_threads_matches_serial():
    X, y = data(1, n=4000)
    net = nncore.Network([20, 16, 4], seed=0)
    net.SGD((X, y), 2, 10, 0.5, verbose=False)
    chunks = np.array_split(X, 8)
    serial = [net.feedforward(c) for c in chunks]
    results = [None] * 8
    barrier = threading.Barrier(8)

    def work(i):
        barrier.wait()
        for _ in range(20):
            out = net.feedforward(chunks[i])
            if results[i] is not None:
                assert np.array_equal(out, results[i])
            results[i] = out

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(results, serial):
        np.testing.assert_array_equal(a, b)


def test_training_one_network_from_two_threads_is_refused():
    X, y = data(2, n=20000)
    net = nncore.Network([20, 64, 4], seed=0)
    training = threading.Event()
    release = threading.Event()

    def hold(network, info):  # called while the trainer holds the network
        training.set()
        release.wait(timeout=60)
        return True  # then stop

    t = threading.Thread(target=lambda: net.SGD((X, y), 5, 10, 0.1, verbose=False,
                                                callbacks=[hold]))
    t.start()
    try:
        assert training.wait(timeout=60)
        before = net.parameters.copy()
        with pytest.raises(RuntimeError, match="already being trained in another thread"):
            net.SGD((X[:10], y[:10]), 1, 10, 0.1, verbose=False)
        with pytest.raises(RuntimeError, match="already being trained"):
            net.update_mini_batch((X[:10], y[:10]), 0.1, 0.0, 10)
        assert np.array_equal(net.parameters, before)
    finally:
        release.set()
        t.join()
    assert np.all(np.isfinite(net.parameters))


def test_two_networks_train_in_parallel_threads_as_they_would_alone():
    X, y = data(3)
    with threadpool_limits(limits=1):
        alone = [train(s, X, y)[0] for s in (1, 2)]
        out = [None, None]

        def run(i):
            out[i] = train(i + 1, X, y)[0]

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for a, b in zip(out, alone):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kw", [dict(momentum=0.9), dict(momentum=0.5, nesterov=True, l1=1.0),
                                dict(dropout=0.3), dict(dropout=0.2, momentum=0.7)])
def test_momentum_and_dropout_take_two_threads_where_they_pay(kw):
    """Ten examples a mini-batch on a first layer of 96 inputs: SGD's
    automatic choice takes two threads (split by the first layer's inputs,
    where the CPU has the kernels for it) for every update rule, and they
    reach one thread's weights, velocities and history up to rounding."""
    rng = np.random.default_rng(1)
    X, y = rng.random((400, 96)), rng.integers(0, 5, 400)
    sizes = [96, 12, 5]
    split = nncore.native.two_thread_split(sizes, 10, np.float64, plain=False)
    assert split == ("inputs" if nncore._core.kernels() == "avx512" else "rows")
    two = 2 if nncore.native.usable_cpus() >= 2 and split == "inputs" else 1
    assert nncore.native.epoch_threads(None, 10, sizes, np.float64, plain=False) == two
    nets, hists = [], []
    for threads in (1, None):
        net = nncore.Network(sizes, seed=9)
        hists.append(net.SGD((X, y), 3, 10, 0.3, lmbda=1.0, evaluation_data=(X, y),
                             monitor_evaluation_cost=True, threads=threads,
                             verbose=False, **kw))
        nets.append(net)
    np.testing.assert_allclose(nets[1].parameters, nets[0].parameters, rtol=1e-11, atol=1e-12)
    if kw.get("momentum"):
        np.testing.assert_allclose(nets[1]._velocity, nets[0]._velocity, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hists[1].evaluation_cost, hists[0].evaluation_cost, rtol=1e-11)


@pytest.mark.parametrize("threads", [1, 2])
def test_monitors_between_two_thread_epochs_hold_blas_to_one_thread(monkeypatch, threads):
    # after a call on two threads, OpenBLAS's second thread spins for a
    # while, and a two-thread epoch started then shares a core with it: the
    # monitors between such epochs (and at monitor_every points) run their
    # products with BLAS on one thread; between one-thread epochs, BLAS is
    # left as the caller set it
    from threadpoolctl import threadpool_info
    seen = []
    forward = nncore.native.feedforward

    def recording(*args, **kw):
        seen.append(max(i["num_threads"] for i in threadpool_info()
                        if i["user_api"] == "blas"))
        return forward(*args, **kw)

    monkeypatch.setattr(nncore.native, "feedforward", recording)
    X, y = data()
    with threadpool_limits(limits=2, user_api="blas"):
        nncore.Network([20, 16, 4], seed=1).SGD(
            (X, y), 2, 10, 0.5, evaluation_data=(X, y), monitor_evaluation_accuracy=True,
            monitor_training_cost=True, monitor_every=10, threads=threads, verbose=False)
        outside = max(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")
    # two epochs: two monitors each, and points after 100 and 200 examples
    assert len(seen) == 2 * 2 + 2 * 2
    assert set(seen) == {1 if threads == 2 else 2}
    assert outside == 2
