"""The nncore command."""

import os
import re
import subprocess
import sys

import numpy as np
import pytest

import nncore
from nncore.cli import main


def test_train_prints_epochs_test_accuracy_and_saves(mnist_path, tmp_path, capsys):
    model = tmp_path / "model.json"
    rc = main(["train", "--data", str(mnist_path), "--train-size", "1000", "--epochs", "3",
               "--sizes", "784,20,10", "--eta", "0.5", "--lmbda", "0.1", "--seed", "4",
               "--init", "large", "--save", str(model)])
    assert rc == 0
    out = capsys.readouterr().out
    epochs = re.findall(r"^Epoch (\d+): validation accuracy (\d+) / 10000", out, re.M)
    assert [int(e) for e, _ in epochs] == [0, 1, 2]
    m = re.search(r"^Test accuracy: (\d+) / 10000 \(.*\); ([\d.]+) s per epoch over 3 epoch",
                  out, re.M)
    assert m and int(m.group(1)) > 5000
    net = nncore.load(model)
    assert net.sizes == [784, 20, 10]
    # the saved network is the one that was evaluated
    from nncore import mnist_loader
    _, _, test = mnist_loader.load_data_wrapper(mnist_path)
    assert net.accuracy(test) == int(m.group(1))


def test_same_seed_same_model(mnist_path, tmp_path):
    paths = [tmp_path / "a.json", tmp_path / "b.json"]
    for p in paths:
        main(["train", "--data", str(mnist_path), "--train-size", "300", "--epochs", "1",
              "--seed", "9", "--quiet", "--save", str(p)])
    a, b = (nncore.load(p) for p in paths)
    assert np.array_equal(a.parameters, b.parameters)


def test_float32_and_quadratic(mnist_path, tmp_path, capsys):
    model = tmp_path / "m.json"
    assert main(["train", "--data", str(mnist_path), "--train-size", "500", "--epochs", "1",
                 "--dtype", "float32", "--cost", "quadratic", "--eta", "3.0", "--quiet",
                 "--evaluation", "test", "--save", str(model)]) == 0
    net = nncore.load(model)
    assert net.dtype == np.float32 and net.cost is nncore.QuadraticCost


@pytest.mark.parametrize("argv, message", [
    (["train", "--sizes", "784"], "at least two"),
    (["train", "--sizes", "784,x,10"], "comma-separated"),
    (["train", "--eta", "-1"], "positive number"),
    (["train", "--eta", "nan"], "positive number"),
    (["train", "--lmbda", "-0.5"], ">= 0"),
    (["train", "--mini-batch-size", "0"], "positive integer"),
    (["train", "--cost", "hinge"], "invalid choice"),
])
def test_bad_flags_exit_2_with_a_message(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err


def test_sizes_must_fit_mnist(mnist_path):
    with pytest.raises(SystemExit, match="784 inputs and 10 outputs"):
        main(["train", "--data", str(mnist_path), "--sizes", "100,10"])


def test_offline_without_data_fails_clearly(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NNCORE_DATA", raising=False)
    monkeypatch.setenv("NNCORE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NNCORE_OFFLINE", "1")
    assert main(["train", "--epochs", "1"]) == 1
    err = capsys.readouterr().err
    assert "NNCORE_OFFLINE" in err and "NNCORE_DATA" in err
    assert not (tmp_path / "cache" / "mnist.pkl.gz").exists()


def test_python_dash_m_runs_the_same_command(mnist_path):
    env = dict(os.environ, NNCORE_DATA=str(mnist_path))
    r = subprocess.run([sys.executable, "-m", "nncore", "train", "--train-size", "200",
                        "--epochs", "1", "--quiet"], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Test accuracy: ")
    # output is not a terminal: no progress bar characters
    assert "\r" not in r.stdout


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "train" in capsys.readouterr().out


def test_bench_prints_a_table_and_writes_json(mnist_path, tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", "--data", str(mnist_path), "--train-size", "2000", "--repeats", "2",
                 "--json", str(out)]) == 0
    table = capsys.readouterr().out
    for name in ("native float64", "native float32", "NumPy reference float64"):
        assert f"| {name} |" in table
    import json
    res = json.loads(out.read_text())
    assert res["examples"] == 2000 and len(res["times"]["native float64"]) == 2
    assert res["relative_to_native_float64"]["native float64"] == 1.0


def test_train_with_expanded_data(mnist_path, capsys):
    assert main(["train", "--data", str(mnist_path), "--train-size", "300", "--epochs", "1",
                 "--expand", "affine", "--rotate", "10", "--seed", "2"]) == 0
    assert "Affine(rotate=10.0" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="add --expand"):
        main(["train", "--data", str(mnist_path), "--alpha", "30"])
    with pytest.raises(SystemExit, match="elastic takes alpha, sigma"):
        main(["train", "--data", str(mnist_path), "--expand", "elastic", "--rotate", "5"])


def test_train_threads_option(mnist_path, tmp_path, capsys):
    """--threads 1 and --threads 2 train the same network up to rounding;
    a count the core cannot use is refused by the parser."""
    models = []
    for threads in ("1", "2"):
        model = tmp_path / f"t{threads}.json"
        assert main(["train", "--data", str(mnist_path), "--train-size", "800", "--epochs",
                     "2", "--sizes", "784,16,10", "--mini-batch-size", "40", "--seed", "3",
                     "--threads", threads, "--save", str(model), "--quiet"]) == 0
        models.append(nncore.load(model))
    np.testing.assert_allclose(models[1].parameters, models[0].parameters,
                               rtol=1e-10, atol=1e-12)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["train", "--data", str(mnist_path), "--threads", "3"])
    assert "invalid choice: '3'" in capsys.readouterr().err


def test_every_command_is_registered():
    from nncore.cli import build_parser
    choices = build_parser()._subparsers._group_actions[0].choices
    assert {"train", "plot", "bench", "expand", "reproduce", "search"} <= set(choices)
