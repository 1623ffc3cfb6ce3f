"""Hyper-parameter search (nncore.search): grid, random and TPE searches,
pruning, diverging trials, worker processes sharing SQLite and PostgreSQL
storage, the chapter's broad strategy, and the command line.

Everything runs on tiny problems: the first 2,000 training and 500
validation images, 2-3 epochs, [784, 10] or [784, 20, 10].  The searches need
Optuna (``pip install optuna``, the ``search`` extra); without it those
tests are skipped, saying so.  The PostgreSQL test starts a throwaway server
on 127.0.0.1 (Debian's ``postgresql`` package and a driver, ``pip install
psycopg2-binary``); it is skipped only when the server binaries are absent.
"""

from __future__ import annotations

import glob
import importlib.util
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from nncore import search as S
from nncore import mnist_loader

HAVE_OPTUNA = importlib.util.find_spec("optuna") is not None
needs_optuna = pytest.mark.skipif(
    not HAVE_OPTUNA, reason="optuna is not installed: pip install optuna (nncore[search])")

TINY = dict(train_size=2000, validation_size=500, epochs=3, early_stopping=None,
            verbose=False)


@pytest.fixture(scope="module")
def mnist(mnist_path):
    return mnist_loader.load_arrays(mnist_path, dtype=None)


@pytest.fixture(scope="module")
def small(mnist):
    """(training, validation, test) as (X, y): 2,000 / 500 / 1,000 images."""
    return ((mnist.X_train[:2000], mnist.y_train[:2000]),
            (mnist.X_val[:500], mnist.y_val[:500]),
            (mnist.X_test[:1000], mnist.y_test[:1000]))


# -- the search space (no Optuna needed) -------------------------------------------

def test_specs_from_text():
    assert repr(S.parse_spec("eta", "0.01:3:log")) == "Float(0.01, 3, log=True)"
    assert S.parse_spec("momentum", "0:0.9").log is False
    assert S.parse_spec("mini_batch_size", "5,10,20,50").values == [5, 10, 20, 50]
    assert S.parse_spec("hidden", "30,100,100-30").values == ["30", "100", "100-30"]
    assert isinstance(S.parse_spec("hidden", "30:300:log"), S.Int)
    assert S.parse_spec("lmbda", "5").value == 5.0
    assert S.parse_spec("activation", "sigmoid,tanh").values == ["sigmoid", "tanh"]
    assert S.parse_spec("nesterov", "true,false").values == [True, False]
    for name, text, message in [("eta", "3:0.01", "low < high"), ("eta", "0:1:log", "positive"),
                                ("speed", "1", "unknown hyper-parameter"),
                                ("mini_batch_size", "1.5", "whole number"),
                                ("activation", "a:b", "range")]:
        with pytest.raises(ValueError, match=message):
            S.parse_spec(name, text)


def test_full_space_fixes_what_is_not_searched():
    space = S.make_space({"eta": "0.1:1:log", "hidden": [30, (100, 30)]},
                         sizes=[784, 50, 10], epochs=7)
    assert set(space) == set(S.PARAMETERS)
    assert S._searched(space) == ["eta", "hidden"]
    assert space["epochs"].value == 7 and space["lmbda"].value == 5.0
    assert space["hidden"].values == ["30", "100-30"]
    assert S.make_space(None, sizes=[784, 10])["hidden"].value == "none"
    conf = S._resolve({"eta": 0.3, "hidden": "100-30"}, space,
                      {"n_in": 784, "n_out": 10, "early_stopping": 4})
    assert conf["sizes"] == [784, 100, 30, 10] and conf["eta"] == 0.3
    with pytest.raises(ValueError, match="whole numbers"):
        S.make_space({"mini_batch_size": S.Float(1, 10)})
    # grid values: 1 and 3 per decade on a log range, evenly spaced otherwise
    assert S.Float(0.01, 3, log=True).grid_values() == [0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
    assert S.Float(0, 0.5).grid_values() == [0.0, 0.25, 0.5]
    assert S.Int(10, 60).grid_values() == [10, 35, 60]


def test_missing_optuna_gives_the_install_command(monkeypatch, small):
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(ImportError, match=r"pip install optuna.*nncore\[search\]"):
        S.search(small, n_trials=1, **TINY)


# -- the three methods ----------------------------------------------------------------

@needs_optuna
def test_grid_search_tries_every_combination(small):
    space = {"eta": S.Float(0.1, 3, log=True, grid=[0.3, 3.0]), "mini_batch_size": [10, 50]}
    r = S.search(small, space, method="grid", sizes=[784, 10], seed=0, **TINY)
    assert len(r.trials) == 4 and r.counts == {"COMPLETE": 4}
    tried = {(t["params"]["eta"], t["params"]["mini_batch_size"]) for t in r.trials}
    assert tried == {(0.3, 10), (0.3, 50), (3.0, 10), (3.0, 50)}
    best = max(r.trials, key=lambda t: t["value"])
    assert r.best_trial == best["number"] and r.validation_accuracy == best["value"]
    assert r.best_config["sizes"] == [784, 10]
    assert r.best_config["eta"] == best["params"]["eta"]


@needs_optuna
def test_random_search_returns_best_config_with_test_accuracy(small):
    r = S.search(small, {"eta": "0.05:5:log", "lmbda": "0.01:2:log"}, method="random",
                 n_trials=4, sizes=[784, 20, 10], seed=3, **TINY)
    assert r.counts == {"COMPLETE": 4}
    assert 0.5 < r.validation_accuracy <= 1 and set(r.best_params) == {"eta", "lmbda"}
    # retraining with the trial's own seed reproduces it exactly (one BLAS thread)
    assert r.retrained_validation_accuracy == r.validation_accuracy
    assert 0.5 < r.test_accuracy <= 1 and r.n_test == 1000
    assert r.best_config["epochs"] == r.trials[r.best_trial]["best_epoch"] + 1


@needs_optuna
def test_hidden_layers_momentum_dropout_and_epochs_are_searched(small):
    space = {"eta": "0.1:1:log", "hidden": ["none", 20, (20, 10)], "momentum": "0:0.9",
             "dropout": "0:0.5", "epochs": "1:3", "activation": "sigmoid,tanh"}
    r = S.search(small, space, method="random", n_trials=4, seed=7, **TINY)
    assert r.searched == ["eta", "hidden", "epochs", "momentum", "dropout", "activation"]
    for t in r.trials:
        p = t["params"]
        assert p["hidden"] in ("none", "20", "20-10") and 0 <= p["momentum"] <= 0.9
        assert 0 <= p["dropout"] <= 0.5 and t["epochs"] == p["epochs"] in (1, 2, 3)
    hidden = r.best_params["hidden"]
    widths = [] if hidden == "none" else [int(w) for w in hidden.split("-")]
    assert r.best_config["sizes"] == [784, *widths, 10]
    assert r.best_config["max_epochs"] == r.best_params["epochs"]


@needs_optuna
def test_tpe_search_is_reproducible(small):
    kw = dict(method="tpe", n_trials=6, n_startup_trials=3, sizes=[784, 10], seed=5,
              retrain=False, **TINY)
    space = {"eta": "0.02:5:log", "mini_batch_size": "10,20"}
    a, b = S.search(small, space, **kw), S.search(small, space, **kw)
    assert len(a.trials) == 6 and a.best_params is not None
    assert [t["params"] for t in a.trials] == [t["params"] for t in b.trials]
    assert [t["value"] for t in a.trials] == [t["value"] for t in b.trials]


# -- pruning and failures ---------------------------------------------------------

@needs_optuna
def test_lagging_trial_is_pruned(small):
    import optuna
    good = [{"eta": 2.0}, {"eta": 1.0}, {"eta": 3.0}]
    bad = {"eta": 1e-4}  # learns nothing in three epochs
    r = S.search(small, {"eta": S.Float(1e-4, 5, log=True)}, method="random", n_trials=4,
                 sizes=[784, 10], seed=0, enqueue=good + [bad],
                 pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0),
                 **TINY)
    states = {t["params"]["eta"]: t["state"] for t in r.trials}
    assert states[1e-4] == "PRUNED"
    assert [states[g["eta"]] for g in good] == ["COMPLETE"] * 3
    pruned = next(t for t in r.trials if t["state"] == "PRUNED")
    assert pruned["epochs"] == 1 and pruned["stop"] == "pruned"
    assert r.best_params["eta"] in (1.0, 2.0, 3.0)


@needs_optuna
def test_diverging_trial_fails_and_the_search_goes_on(small):
    # eta * lmbda / n = 1e4 * 5 / 2000 = 25: weight decay overshoots, the weights blow up
    r = S.search(small, {"eta": S.Float(0.1, 1e4, log=True)}, method="random", n_trials=3,
                 sizes=[784, 10], seed=1, enqueue=[{"eta": 1e4}, {"eta": 1.0}], **TINY)
    assert len(r.trials) == 3
    failed = r.trials[0]
    assert failed["state"] == "FAIL" and failed["value"] is None
    assert failed["stop"] == "non-finite" and "diverged" in failed["note"]
    assert r.trials[1]["state"] == "COMPLETE" and r.best_trial in (1, 2)
    assert "fail" in r.table() and "diverged" in r.table("csv")


# -- workers sharing one storage ----------------------------------------------------

@needs_optuna
def test_worker_processes_share_one_sqlite_file(small, tmp_path):
    import optuna
    db = tmp_path / "shared.db"
    r = S.search(small, {"eta": "0.05:5:log", "lmbda": "0.01:2:log"}, method="random",
                 n_trials=9, n_workers=3, storage=f"sqlite:///{db}", study_name="three",
                 sizes=[784, 10], seed=2, **TINY)
    study = optuna.load_study(study_name="three", storage=f"sqlite:///{db}")
    # the local workers take turns to check the count and start a trial, so
    # the study ends with exactly its total, never one over
    total = len(study.trials)
    assert total == 9 == len(r.trials)
    assert sorted(t.number for t in study.trials) == list(range(total))
    workers = {t.user_attrs["worker"] for t in study.trials}
    assert len(workers) == 3 and all(w.split(":")[1] != str(os.getpid()) for w in workers)
    assert r.workers == 3 and r.counts == {"COMPLETE": total}
    # different seeds per worker: no two trials sampled the same point
    assert len({t.params["eta"] for t in study.trials}) == total


@needs_optuna
def test_a_process_joins_a_search_by_storage_and_name(mnist, mnist_path, tmp_path):
    db = tmp_path / "join.db"
    kw = dict(method="random", sizes=[784, 10], seed=4, storage=str(db), study_name="joined")
    S.search(mnist_path, {"eta": "0.05:5:log"}, n_trials=2, **kw, **TINY)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "nncore.search", "--join", "--storage", f"sqlite:///{db}",
         "--study", "joined", "--trials", "2", "--data", str(mnist_path), "--out", str(out),
         "--quiet"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ran 2 trial(s) here" in proc.stdout
    r = S.study_result(db, "joined")
    assert len(r.trials) == 4 and r.counts == {"COMPLETE": 4}
    assert len({t["worker"] for t in r.trials}) == 2
    assert (out / "trials.csv").is_file()
    # a worker whose data differ from the search's is refused
    other = ((mnist.X_train[:1000], mnist.y_train[:1000]), (mnist.X_val[:500], mnist.y_val[:500]))
    with pytest.raises(ValueError, match="data differ"):
        S.worker(db, "joined", data=other, n_trials=1, verbose=False)


@needs_optuna
def test_same_study_resumes_other_settings_are_refused(small, tmp_path):
    db = tmp_path / "resume.db"
    kw = dict(method="random", sizes=[784, 10], seed=0, storage=str(db), study_name="r")
    S.search(small, {"eta": "0.1:3:log"}, n_trials=2, retrain=False, **kw, **TINY)
    r = S.search(small, {"eta": "0.1:3:log"}, n_trials=3, retrain=False, **kw, **TINY)
    assert len(r.trials) == 3  # one more, to the new total
    with pytest.raises(ValueError, match="other settings.*space"):
        S.search(small, {"eta": "0.1:5:log"}, n_trials=4, **kw, **TINY)


# -- the chapter's broad strategy ------------------------------------------------------

def test_broad_strategy_reports_its_steps(small, tmp_path):
    r = S.broad_strategy(small, sizes=[784, 10], epochs=2, early_stopping=None,
                         probe_epochs=2, verbose=False)
    phases = [s["phase"] for s in r.steps]
    assert phases[0] == "threshold" and "lambda" in phases and "eta" in phases
    probes = [s for s in r.steps if s["phase"] == "threshold"]
    assert probes[0]["eta"] == 0.01
    assert all(len(s["training_costs"]) == 3 for s in probes if s["finite"])
    # the threshold is the largest probed eta whose cost decreased; half of it is used first
    ok = [s["eta"] for s in probes if s["verdict"] == "decreases"]
    assert r.threshold_eta == max(ok)
    lam_runs = [s for s in r.steps if s["phase"] == "lambda"]
    assert lam_runs[0]["lmbda"] == 1.0 and lam_runs[0]["eta"] == r.threshold_eta / 2
    assert {s["lmbda"] for s in lam_runs[:3]} == {1.0, 10.0, 0.1}
    best = max((s for s in r.steps if "accuracy" in s), key=lambda s: s["accuracy"])
    assert (r.config["eta"], r.config["lmbda"]) == (best["eta"], best["lmbda"])
    assert r.validation_accuracy == best["accuracy"] and 0 < r.test_accuracy <= 1
    text = r.report()
    for words in ("Step 1", "Step 2", "Step 3", "order of magnitude", "threshold / 2",
                  "Result"):
        assert words in text
    paths = r.save(tmp_path)
    assert os.path.getsize(paths["threshold"]) > 0 and "Step 1" in open(paths["markdown"]).read()


# -- the command line ----------------------------------------------------------------

@needs_optuna
def test_cli_writes_table_and_plots(mnist_path, tmp_path, capsys):
    out = tmp_path / "out"
    rc = S.main(["--method", "random", "--trials", "3", "--sizes", "784,10", "--epochs", "2",
                 "--early-stopping", "0", "--train-size", "2000", "--validation-size", "500",
                 "--eta", "0.1:3:log", "--lmbda", "1", "--mini-batch-size", "10,20",
                 "--seed", "1", "--data", str(mnist_path), "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| trial | state | validation | eta | mini_batch_size |" in text
    for name in ("trials.csv", "trials.md", "best.json", "accuracy_vs_params.png",
                 "accuracy_vs_trial.png", "search.db"):
        assert (out / name).stat().st_size > 0, name
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) == 4 and rows[0].startswith("trial,state,validation,eta,mini_batch_size")
    # the same command again resumes the study: nothing left to do
    assert S.main(["--method", "random", "--trials", "3", "--sizes", "784,10", "--epochs", "2",
                   "--early-stopping", "0", "--train-size", "2000", "--validation-size", "500",
                   "--eta", "0.1:3:log", "--lmbda", "1", "--mini-batch-size", "10,20",
                   "--seed", "1", "--data", str(mnist_path), "--out", str(out), "--quiet",
                   "--no-retrain"]) == 0
    assert len((out / "trials.csv").read_text().splitlines()) == 4
    # bad input: a clear message and exit code 1
    assert S.main(["--eta", "3:1", "--out", str(out)]) == 1
    assert "low < high" in capsys.readouterr().err


def test_cli_broad_strategy(mnist_path, tmp_path, capsys):
    out = tmp_path / "broad"
    rc = S.main(["--strategy", "broad", "--sizes", "784,10", "--epochs", "2",
                 "--early-stopping", "0", "--probe-epochs", "2", "--train-size", "1000",
                 "--validation-size", "300", "--data", str(mnist_path), "--out", str(out)])
    assert rc == 0
    text = capsys.readouterr().out
    assert "Step 1: the threshold eta" in text and "Result: eta" in text
    assert (out / "broad_strategy.md").is_file() and (out / "eta_threshold.png").is_file()


# -- PostgreSQL ----------------------------------------------------------------------

def _postgres_bin():
    for name in ("initdb", "pg_ctl"):
        if shutil.which(name) is None:
            break
    else:
        return Path(shutil.which("initdb")).parent
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    return Path(found[-1]).parent if found else None


@pytest.fixture
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1 (trust authentication, no
    fsync), run as the ``postgres`` user when the tests run as root."""
    bindir = _postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found: "
                    "apt-get install -y postgresql")
    if not any(importlib.util.find_spec(m) for m in ("psycopg2", "psycopg")):
        pytest.fail("PostgreSQL is installed but no Python driver is: "
                    "pip install psycopg2-binary")
    as_user = []
    base = tempfile.mkdtemp(prefix="nncore-pg-")  # not tmp_path: postgres must reach it
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, but there is no 'postgres' user to run the server")
        os.chown(base, pw.pw_uid, pw.pw_gid)
        runuser = shutil.which("runuser")
        as_user = [runuser, "-u", "postgres", "--"] if runuser else None
        if as_user is None:
            as_user = ["su", "postgres", "-s", "/bin/sh", "-c"]
    data = os.path.join(base, "data")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    def run(*cmd):
        cmd = [str(c) for c in cmd]
        if as_user and as_user[0] == "su":
            cmd = as_user + [" ".join(cmd)]
        else:
            cmd = as_user + cmd
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120)

    p = run(bindir / "initdb", "-D", data, "-A", "trust", "-U", "nncore", "--no-sync",
            "-E", "UTF8")
    assert p.returncode == 0, p.stderr
    p = run(bindir / "pg_ctl", "-D", data, "-l", os.path.join(base, "log"), "-w", "-t", "60",
            "-o", f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off", "start")
    if p.returncode != 0:
        log = Path(base, "log").read_text() if Path(base, "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        pytest.fail(f"could not start PostgreSQL: {p.stderr}\n{log}")
    try:
        yield f"postgresql://nncore@127.0.0.1:{port}/postgres"
    finally:
        run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@needs_optuna
def test_two_workers_share_a_postgresql_study(small, postgres_url):
    r = S.search(small, {"eta": "0.05:5:log", "mini_batch_size": "10,20"}, method="tpe",
                 n_trials=6, n_startup_trials=3, n_workers=2, storage=postgres_url,
                 study_name="pg", sizes=[784, 10], seed=6, **TINY)
    assert len(r.trials) == 6 and r.counts == {"COMPLETE": 6}
    assert len({t["worker"] for t in r.trials}) == 2
    assert r.storage.startswith("postgresql") and r.test_accuracy > 0.5
    # one more worker (in this process) joins by URL and name, with its own data copy
    assert S.worker(postgres_url, "pg", data=small, n_trials=2, verbose=False) == 2
    assert len(S.study_result(postgres_url, "pg").trials) == 8
