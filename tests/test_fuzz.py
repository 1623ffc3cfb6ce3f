"""Fuzzing the two readers of untrusted files: the model loader
(``nncore.load``) and the IDX reader (``mnist_loader.read_idx``).

Whatever the bytes, the only exception allowed out is the documented one
(:class:`nncore.ModelFileError` for models, :class:`DataError` for IDX
files), and what does load is sane.  Inputs are valid files mutated
(truncated, bytes flipped, junk inserted, ranges deleted, header fields or
JSON values replaced by values of the wrong type) as well as random bytes.
About 2,500 cases in all, in well under 30 seconds.
"""

from __future__ import annotations

import gzip
import json
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nncore
from nncore import mnist_loader as ml

fuzz = settings(deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# -- byte mutations shared by both readers ------------------------------------------------

def mutations(valid: list[bytes]):
    base = st.sampled_from(valid)

    @st.composite
    def mutated(draw):
        data = bytearray(draw(base))
        for _ in range(draw(st.integers(1, 4))):
            kind = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "set"]))
            n = len(data)
            i = draw(st.integers(0, max(n - 1, 0)))
            if kind == "truncate":
                del data[i:]
            elif kind == "flip" and n:
                data[i] ^= draw(st.integers(1, 255))
            elif kind == "insert":
                data[i:i] = draw(st.binary(min_size=1, max_size=16))
            elif kind == "delete":
                del data[i:i + draw(st.integers(1, 16))]
            elif kind == "set" and n:
                data[i] = draw(st.integers(0, 255))
        return bytes(data)

    return mutated()


# -- the model loader ---------------------------------------------------------------------

def _valid_models():
    out = []
    for sizes, cost, kw in [([3, 2], "CrossEntropyCost", {}),
                            ([4, 3, 2], "QuadraticCost", dict(activation="tanh",
                                                              output_activation="linear")),
                            ([2, 2, 2], "LogLikelihoodCost", dict(dtype=np.float32))]:
        net = nncore.Network(sizes, cost=cost, seed=0, **kw)
        out.append(json.dumps(net.to_dict()).encode())
    # network2's own format: four keys, no version
    d = nncore.Network([2, 3], seed=1).to_dict()
    out.append(json.dumps({k: d[k] for k in ("sizes", "weights", "biases", "cost")}).encode())
    return out


VALID_MODELS = _valid_models()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
    | st.sampled_from(["__class__", "__import__", "os.system", "load", "sigmoid", "softmax",
                       "CrossEntropyCost", "float64", "float16", "NaN", "nncore-network"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=12,
)


@st.composite
def structurally_mutated(draw):
    """A valid model with one value somewhere replaced by any JSON value."""
    d = json.loads(draw(st.sampled_from(VALID_MODELS)))
    key = draw(st.sampled_from(sorted(d) + ["format_version", "dtype", "activation",
                                            "output_activation", "format"]))
    if key in ("weights", "biases") and key in d and draw(st.booleans()):
        # reach inside: replace a layer, a row or a single number
        target = d[key]
        path = []
        while isinstance(target, list) and target and draw(st.booleans()):
            j = draw(st.integers(0, len(target) - 1))
            path.append(j)
            target = target[j]
        parent = d[key]
        for j in path[:-1]:
            parent = parent[j]
        if path:
            parent[path[-1]] = draw(json_values)
        else:
            d[key] = draw(json_values)
    elif draw(st.booleans()) and key in d and draw(st.booleans()):
        del d[key]
    else:
        d[key] = draw(json_values)
    return json.dumps(d).encode()  # NaN and Infinity written as JSON extensions


def _deep(n):
    return b'{"sizes": ' + b"[" * n + b"]" * n + b"}"


model_bytes = st.one_of(
    mutations(VALID_MODELS),
    structurally_mutated(),
    st.binary(max_size=300),
    st.builds(lambda d: json.dumps(d).encode(), json_values),
    st.integers(1, 200_000).map(_deep),
)


def _check_load(path, data):
    path.write_bytes(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no warning escapes either
            net = nncore.load(path)
    except nncore.ModelFileError as e:
        assert str(path) in str(e)
        return
    # it loaded: then it is a whole, usable network
    assert len(net.sizes) >= 2 and all(isinstance(s, int) and s >= 1 for s in net.sizes)
    assert np.isfinite(net.parameters).all()
    out = net.feedforward(np.zeros((1, net.sizes[0])))
    assert out.shape == (1, net.sizes[-1])


@settings(fuzz, max_examples=1250)
@given(data=model_bytes)
def test_fuzz_model_loader(workdir, data):
    _check_load(workdir / "model.json", data)


def test_every_valid_seed_file_loads(workdir):
    for data in VALID_MODELS:
        path = workdir / "seed.json"
        path.write_bytes(data)
        assert isinstance(nncore.load(path), nncore.Network)


# -- the IDX reader ----------------------------------------------------------------------

def _idx(arr, code):
    types = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
    head = bytes([0, 0, code, arr.ndim]) + b"".join(d.to_bytes(4, "big") for d in arr.shape)
    return head + arr.astype(types[code]).tobytes()


def _valid_idx():
    rng = np.random.default_rng(0)
    raw = [
        _idx(rng.integers(0, 256, (3, 4, 5)), 0x08),   # images
        _idx(rng.integers(0, 10, 7), 0x08),            # labels
        _idx(rng.integers(-99, 99, (2, 3)), 0x0C),     # int32
        _idx(rng.standard_normal((2, 2)), 0x0E),       # float64
        _idx(rng.integers(-5, 5, (2, 1, 2, 1)), 0x0B),  # int16, 4-D
    ]
    return raw + [gzip.compress(r, mtime=0) for r in raw[:2]]


VALID_IDX = _valid_idx()


@st.composite
def header_mutated(draw):
    """A valid IDX file with its type code, dimension count or one size
    replaced by an arbitrary value (the data left as it was)."""
    data = bytearray(draw(st.sampled_from(VALID_IDX[:5])))
    field = draw(st.sampled_from(["type", "ndim", "dim", "magic"]))
    if field == "type":
        data[2] = draw(st.integers(0, 255))
    elif field == "ndim":
        data[3] = draw(st.integers(0, 255))
    elif field == "magic":
        data[0:2] = draw(st.binary(min_size=2, max_size=2))
    else:
        k = draw(st.integers(0, data[3] - 1))
        value = draw(st.one_of(st.integers(0, 2**32 - 1), st.sampled_from([0, 1, 2**31, 2**32 - 1])))
        data[4 + 4 * k: 8 + 4 * k] = value.to_bytes(4, "big")
    if draw(st.booleans()):
        return gzip.compress(bytes(data), mtime=0)
    return bytes(data)


@st.composite
def many_dimensions(draw):
    """Headers declaring up to 255 dimensions whose data length matches."""
    ndim = draw(st.integers(1, 255))
    dims = [1] * ndim
    return bytes([0, 0, 0x08, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims) + b"\x07"


idx_bytes = st.one_of(
    mutations(VALID_IDX),
    header_mutated(),
    many_dimensions(),
    st.binary(max_size=200),
    st.binary(max_size=200).map(lambda b: b"\0\0" + b),
    st.binary(max_size=200).map(lambda b: gzip.compress(b, mtime=0)),
    mutations(VALID_IDX).map(lambda b: gzip.compress(b, mtime=0)),
)


@settings(fuzz, max_examples=1250)
@given(data=idx_bytes)
def test_fuzz_idx_reader(workdir, data):
    path = workdir / "fuzz-idx3-ubyte"
    path.write_bytes(data)
    try:
        arr = ml.read_idx(path)
    except ml.DataError as e:
        assert str(path) in str(e)
        return
    assert isinstance(arr, np.ndarray) and arr.dtype.isnative
    assert arr.ndim >= 1


def test_an_empty_shape_too_large_for_an_array_is_refused(workdir):
    # no data (one dimension is 0), but the others multiply past any size
    path = workdir / "huge-empty-idx"
    path.write_bytes(bytes([0, 0, 0x0B, 4]) + (0x01000002).to_bytes(4, "big")
                     + bytes(4) + (0x01000000).to_bytes(4, "big")
                     + (0x02000000).to_bytes(4, "big"))
    with pytest.raises(ml.DataError, match="too large for an array"):
        ml.read_idx(path)
    path.write_bytes(bytes([0, 0, 0x08, 2]) + (5).to_bytes(4, "big") + bytes(4))
    assert ml.read_idx(path).shape == (5, 0)   # an empty shape that fits is read


def test_many_dimensions_are_refused_not_crashed(workdir):
    path = workdir / "deep-idx"
    path.write_bytes(bytes([0, 0, 0x08, 200]) + b"\0\0\0\x01" * 200 + b"\x07")
    with pytest.raises(ml.DataError, match="declares 200 dimensions"):
        ml.read_idx(path)
