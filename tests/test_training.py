"""Training control: stopping rules, schedules, monitoring points, history,
plots, callbacks, divergence and Ctrl-C."""

import json
import os
import pickle
import signal
import threading
import time
import warnings

import numpy as np
import pytest

import nncore
from nncore import native
from nncore.cli import main
from nncore.training import (
    DiminishingReturns,
    HalveOnPlateau,
    History,
    NoImprovement,
    StepSchedule,
    StopTraining,
    load_history,
)


def problem(seed=0, n=120, d=10, k=3):
    """A small learnable problem: labels from a fixed random linear map."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    labels = np.argmax(X @ rng.standard_normal((d, k)), axis=1)
    return X, labels


def fake_history(accuracies, n=100):
    return History([], list(accuracies), [], [], n_evaluation=n, n_training=1000)


# -- the rules and schedules on their own ------------------------------------------

def test_no_improvement_in_n():
    rule = NoImprovement(3)
    assert not rule.should_stop(fake_history([50, 60, 60, 60]))   # 2 epochs since the best
    assert rule.should_stop(fake_history([50, 60, 60, 60, 59]))   # 3 epochs since the best
    assert not rule.should_stop(fake_history([50, 60, 60, 60, 61]))
    assert not rule.should_stop(fake_history([]))


def test_diminishing_returns():
    rule = DiminishingReturns(window=3, min_gain=0.05)  # 5 of 100 over 3 epochs
    assert not rule.should_stop(fake_history([10, 20, 30]))            # not enough epochs yet
    assert not rule.should_stop(fake_history([10, 20, 30, 40]))        # gained 30 in 3 epochs
    assert rule.should_stop(fake_history([10, 60, 61, 62, 63]))        # gained 3 in 3 epochs
    # a slow creep stops it, though every epoch is a new best (no-improvement never fires)
    creep = [70 + e for e in range(12)]
    assert rule.should_stop(fake_history(creep, n=1000))
    assert not NoImprovement(3).should_stop(fake_history(creep, n=1000))


def test_halve_on_plateau_sequence():
    s = HalveOnPlateau(patience=2)
    s.start(1.0)
    etas, accs = [], [10, 20, 20, 20, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21, 21]
    h = fake_history([])
    for epoch, acc in enumerate(accs):
        etas.append(s.eta(epoch))
        h[1].append(acc)
        if not s.update(epoch, h):
            break
    # best at epoch 1; no improvement at 2, 3 -> halve after epoch 3; improvement at 4;
    # then halvings every 2 epochs until 1/128, at which training stops
    assert etas[:5] == [1.0, 1.0, 1.0, 1.0, 0.5]
    assert s.current == pytest.approx(1 / 128)
    assert sorted(set(etas), reverse=True) == [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125,
                                               0.015625]


def test_step_schedule():
    s = StepSchedule({20: 0.025})
    s.start(0.25)
    assert [s.eta(e) for e in (0, 19, 20, 29)] == [0.25, 0.25, 0.025, 0.025]
    with pytest.raises(ValueError):
        StepSchedule({5: -1.0})


# -- through SGD ---------------------------------------------------------------------

def test_early_stopping_and_restore_best():
    X, y = problem()
    net = nncore.Network([10, 8, 3], seed=1)
    h = net.SGD((X[:80], y[:80]), 200, 8, 2.0, evaluation_data=(X[80:], y[80:]),
                early_stopping=4, restore_best=True, verbose=False)
    assert h.stop_reason == "early stopping"
    acc = h.evaluation_accuracy
    assert h.epochs == len(acc) == h.best_epoch + 4 + 1 < 200
    assert h.best_accuracy == max(acc) == acc[h.best_epoch]
    assert h.restored_best
    assert net.accuracy((X[80:], y[80:])) == h.best_accuracy


def test_halving_schedule_through_sgd():
    X, y = problem(1)
    net = nncore.Network([10, 3], seed=2)
    h = net.SGD((X[:60], y[:60]), 500, 10, 1.0, evaluation_data=(X[60:70], y[60:70]),
                schedule="halve", early_stopping=1, verbose=False)
    assert h.stop_reason == "learning rate schedule"
    assert h.eta[0] == 1.0 and min(h.eta) == 1 / 64  # the next halving, to 1/128, stops it
    assert all(b in (a, a / 2) for a, b in zip(h.eta, h.eta[1:]))


def test_step_schedule_through_sgd():
    X, y = problem(2)
    net = nncore.Network([10, 3], seed=2)
    h = net.SGD((X, y), 5, 10, 0.25, schedule={3: 0.025}, verbose=False)
    assert h.eta == [0.25, 0.25, 0.25, 0.025, 0.025]
    assert h.stop_reason == "completed"


def test_monitoring_points_do_not_change_training():
    X, y = problem(3)
    a = nncore.Network([10, 6, 3], seed=4)
    a.SGD((X, y), 3, 5, 0.5, verbose=False)
    b = nncore.Network([10, 6, 3], seed=4)
    h = b.SGD((X, y), 3, 5, 0.5, evaluation_data=(X, y), monitor_every=5, monitor_subset=7,
              verbose=False)
    np.testing.assert_array_equal(a.parameters, b.parameters)
    # 24 mini-batches per epoch: points after 5, 10, 15, 20 of them
    assert len(h.points) == 3 * 4
    assert [p["batch"] for p in h.points[:4]] == [5, 10, 15, 20]
    assert [p["examples"] for p in h.points[4:8]] == [145, 170, 195, 220]
    assert all(p["n"] == 7 and 0 <= p["accuracy"] <= 7 for p in h.points)
    assert all(p2["seconds"] >= p1["seconds"] for p1, p2 in zip(h.points, h.points[1:]))


def test_callbacks_see_points_and_epochs_and_can_stop():
    X, y = problem(4)
    seen = []

    def record(net, info):
        seen.append((info["kind"], info["epoch"]))
        return info["kind"] == "epoch" and info["epoch"] == 1

    net = nncore.Network([10, 5, 3], seed=0)
    h = net.SGD((X, y), 10, 10, 0.5, evaluation_data=(X, y), monitor_every=6,
                callbacks=[record], verbose=False)
    assert h.stop_reason == "callback" and h.epochs == 2
    assert seen == [("point", 0), ("epoch", 0), ("point", 1), ("epoch", 1)]

    def raiser(net, info):
        raise StopTraining

    h = nncore.Network([10, 3], seed=0).SGD((X, y), 5, 10, 0.5, callbacks=[raiser],
                                            verbose=False)
    assert h.stop_reason == "callback" and h.epochs == 1


def test_history_round_trip(tmp_path):
    X, y = problem(5)
    h = nncore.Network([10, 4, 3], seed=0).SGD(
        (X, y), 3, 10, 0.5, evaluation_data=(X[:30], y[:30]), monitor_evaluation_cost=True,
        monitor_evaluation_accuracy=True, monitor_training_accuracy=True, monitor_every=4,
        verbose=False)
    a, b, c, d = h  # network2's four lists
    assert len(a) == len(b) == len(d) == 3 and c == []
    assert h.evaluation_accuracy_fraction == [v / 30 for v in b]
    path = tmp_path / "h.json"
    h.save(path)
    assert json.loads(path.read_text())["format"] == "nncore-history"
    g = load_history(path)
    assert g.to_dict() == h.to_dict()
    assert list(g) == list(h)
    assert pickle.loads(pickle.dumps(h)).to_dict() == h.to_dict()
    with pytest.raises(ValueError, match="not a training history"):
        path.write_text("{}")
        load_history(path)


def test_zero_epochs_leave_the_weights_alone():
    X, y = problem(6)
    net = nncore.Network([10, 3], seed=0)
    before = net.parameters.copy()
    h = net.SGD((X, y), 0, 10, 0.5, verbose=False)
    assert np.array_equal(net.parameters, before) and list(h) == [[], [], [], []]


# -- divergence -----------------------------------------------------------------------

@pytest.mark.parametrize("on_nonfinite", ["stop", "raise"])
def test_divergence_stops_with_one_warning_and_finite_weights(on_nonfinite):
    """Linear neurons and the quadratic cost at eta = 100 blow up within a
    few mini-batches."""
    X, y = problem(7)
    net = nncore.Network([10, 8, 3], cost=nncore.QuadraticCost, activation="linear",
                         output_activation="linear", seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if on_nonfinite == "raise":
            with pytest.raises(FloatingPointError, match="diverged"):
                net.SGD((X, y), 5, 4, 100.0, evaluation_data=(X, y),
                        monitor_evaluation_cost=True, on_nonfinite="raise", verbose=False)
        else:
            h = net.SGD((X, y), 5, 4, 100.0, evaluation_data=(X, y),
                        monitor_evaluation_cost=True, verbose=False)
            assert h.stop_reason == "non-finite" and h.epochs == 0
    runtime = [w for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(runtime) == (1 if on_nonfinite == "stop" else 0)
    assert np.all(np.isfinite(net.parameters))
    assert np.all(np.isfinite(net.feedforward(X)))


def test_the_books_network_at_eta_100_gives_no_warning_flood(mnist_path):
    from nncore import mnist_loader
    tr, va, _ = mnist_loader.load_data_wrapper(mnist_path)
    net = nncore.Network([784, 30, 10], seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        h = net.SGD(tr[:2000], 3, 10, 100.0, evaluation_data=va[:500],
                    monitor_evaluation_cost=True, monitor_evaluation_accuracy=True,
                    verbose=False)
    assert len(caught) <= 1
    assert np.all(np.isfinite(net.parameters))
    assert all(np.isfinite(c) for c in h.evaluation_cost)


# -- Ctrl-C -----------------------------------------------------------------------------

# (the two-thread runs split mini-batches by the first layer's inputs (40
# examples on our kernels), by rows (200), and, with 300 neurons, by the
# first layer's neurons)
@pytest.mark.parametrize("mbs,threads,hidden",
                         [(10, 1, 100), (40, 2, 100), (200, 2, 100), (40, 2, 300)])
def test_ctrl_c_leaves_the_network_as_of_the_last_mini_batch(mbs, threads, hidden):
    rng = np.random.default_rng(0)
    X = rng.random((20000, 200))
    y = rng.integers(0, 10, 20000)
    sizes = [200, hidden, 10]
    net = nncore.Network(sizes, seed=3)
    timer = threading.Timer(0.4, lambda: os.kill(os.getpid(), signal.SIGINT))
    timer.start()
    try:
        h = net.SGD((X, y), 50, mbs, 0.1, threads=threads, verbose=False)
    finally:
        timer.cancel()
    assert h.interrupted and h.stop_reason == "interrupted"
    epoch, done = h.interrupted_at
    # (done is 0 when the signal lands between two epochs, outside the core)
    assert h.epochs == epoch and 0 <= done <= 20000 and done % mbs == 0
    assert not any(t.name == "nncore-epoch-1" for t in threading.enumerate())
    # replay: the same seed, `epoch` whole epochs, then the first `done`
    # examples of the next epoch's order, must give the same weights
    twin = nncore.Network(sizes, seed=3)
    if epoch:
        twin.SGD((X, y), epoch, mbs, 0.1, threads=threads, verbose=False)
    order = twin.rng.permutation(20000)
    Y = np.eye(10)[y]
    native.sgd_epoch(twin.parameters, sizes, X, Y, order[:done], mbs, 0.1, n=20000,
                     threads=threads)
    np.testing.assert_array_equal(net.parameters, twin.parameters)


def test_ctrl_c_between_the_cores_calls_stops_at_the_next_mini_batch():
    """Ctrl-C while Python code runs between two native calls (here a
    callback after epoch 0) is held until SGD's next check: training stops
    before epoch 1's first mini-batch, and the record says so exactly."""
    X, y = problem(200)
    sizes = [X.shape[1], 6, 3]
    net = nncore.Network(sizes, seed=4)

    def press_ctrl_c(network, info):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)  # the signal is delivered while the callback runs

    h = net.SGD((X, y), 5, 10, 0.5, callbacks=[press_ctrl_c], verbose=False)
    assert h.interrupted and h.interrupted_at == (1, 0) and h.epochs == 1
    twin = nncore.Network(sizes, seed=4)
    twin.SGD((X, y), 1, 10, 0.5, verbose=False)
    np.testing.assert_array_equal(net.parameters, twin.parameters)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_threads_choice_is_checked_before_any_work():
    X, y = problem(8)
    net = nncore.Network([10, 4, 3], seed=0)
    before = net.parameters.copy()
    for bad in (0, 3, "many"):
        with pytest.raises(ValueError, match="threads must be 1, 2 or None"):
            net.SGD((X, y), 1, 10, 0.5, threads=bad, verbose=False)
    np.testing.assert_array_equal(net.parameters, before)
    # the automatic choice and an explicit one train to the same place up to rounding
    a, b = nncore.Network([10, 4, 3], seed=0), nncore.Network([10, 4, 3], seed=0)
    a.SGD((X, y), 3, 40, 0.5, threads=1, verbose=False)
    b.SGD((X, y), 3, 40, 0.5, threads=2, verbose=False)
    np.testing.assert_allclose(b.parameters, a.parameters, rtol=1e-12, atol=1e-13)


# -- plots and the command line -----------------------------------------------------

def test_plot_history_writes_an_image(tmp_path):
    X, y = problem(8)
    h = nncore.Network([10, 4, 3], seed=0).SGD(
        (X, y), 4, 10, 0.5, evaluation_data=(X, y), monitor_evaluation_accuracy=True,
        monitor_training_cost=True, verbose=False)
    from nncore.plotting import plot_history
    for metric, name in (("accuracy", "a.png"), ("cost", "c.svg")):
        plot_history(h, metric, start_epoch=1, out=tmp_path / name)
    assert (tmp_path / "a.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"<svg" in (tmp_path / "c.svg").read_bytes()[:400]
    with pytest.raises(ValueError, match="no cost"):
        plot_history(h, "cost", data="evaluation")


def test_cli_training_control(mnist_path, tmp_path, capsys):
    hist, fig, fig2 = tmp_path / "h.json", tmp_path / "f.png", tmp_path / "g.png"
    rc = main(["train", "--data", str(mnist_path), "--train-size", "500", "--epochs", "30",
               "--early-stopping", "2", "--restore-best", "--monitor-every", "20",
               "--monitor-subset", "100", "--history", str(hist), "--plot", str(fig),
               "--seed", "0", "--eta", "3.0"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "Stopped after" in out and "early stopping" in out
    assert "examples: accuracy" in out and "on the first 100 validation images" in out
    h = load_history(hist)
    assert h.stop_reason == "early stopping" and h.restored_best and h.points
    assert fig.read_bytes()[:4] == b"\x89PNG"
    assert main(["plot", str(hist), "-o", str(fig2), "--metric", "accuracy"]) == 0
    assert fig2.exists()
    assert main(["plot", str(hist), "-o", str(fig2), "--metric", "cost"]) == 1
    assert "no cost" in capsys.readouterr().err


def test_cli_schedules(mnist_path, capsys):
    assert main(["train", "--data", str(mnist_path), "--train-size", "300", "--epochs", "4",
                 "--schedule", "step", "--step-epoch", "2", "--step-eta", "0.05"]) == 0
    out = capsys.readouterr().out
    assert "eta 0.5," in out and "eta 0.05," in out
    assert main(["train", "--data", str(mnist_path), "--train-size", "300", "--epochs", "200",
                 "--schedule", "halve", "--early-stopping", "1", "--eta", "1.0"]) == 0
    assert "learning rate schedule" in capsys.readouterr().out


def test_augment_gives_each_epoch_fresh_inputs():
    X, y = problem(9)
    X0 = X.copy()
    seen = []

    def jitter(inputs, rng):
        seen.append(inputs.copy())
        return np.clip(inputs + 0.05 * rng.standard_normal(inputs.shape), 0, 1)

    net = nncore.Network([10, 3], seed=0)
    h = net.SGD((X, y), 3, 10, 0.5, augment=jitter, verbose=False)
    assert len(seen) == 3 and len(h.augment_seconds) == 3
    assert all(np.array_equal(s, X0) for s in seen)  # always the original inputs
    assert np.array_equal(X, X0)

    # an augmentation that changes nothing and draws nothing is invisible
    a = nncore.Network([10, 3], seed=1)
    a.SGD((X, y), 2, 10, 0.5, augment=lambda inputs, rng: inputs, verbose=False)
    b = nncore.Network([10, 3], seed=1)
    b.SGD((X, y), 2, 10, 0.5, verbose=False)
    np.testing.assert_array_equal(a.parameters, b.parameters)

    with pytest.raises(ValueError, match="augment returned shape"):
        nncore.Network([10, 3], seed=0).SGD((X, y), 1, 10, 0.5, verbose=False,
                                            augment=lambda inputs, rng: inputs[:5])
