"""Tests of nncore.expand: artificially expanded training data."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from scipy import ndimage

from nncore import expand as ex
from nncore import mnist_loader

S = 28


@pytest.fixture(scope="session")
def mnist(mnist_path):
    return mnist_loader.load_arrays(mnist_path, dtype=None)


@pytest.fixture(scope="session")
def digits(mnist):
    """A small slice of real MNIST training images (float32) and labels."""
    return mnist.X_train[:200].copy(), mnist.y_train[:200].copy()


def random_images(n=20, side=S, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).random((n, side * side)).astype(dtype)


def zero_fill_shift(X, dx, dy):
    """A plain reference: move each image by (dx, dy) pixels, zeros elsewhere."""
    n, side = X.shape[0], int(np.sqrt(X.shape[1]))
    out = np.zeros_like(X).reshape(n, side, side)
    src = X.reshape(n, side, side)
    for r in range(side):
        for c in range(side):
            rs, cs = r - dy, c - dx
            if 0 <= rs < side and 0 <= cs < side:
                out[:, r, c] = src[:, rs, cs]
    return out.reshape(n, -1)


AUGMENTERS = [ex.Shifts(), ex.Affine(), ex.Elastic()]


# -- the contract: shape, dtype, range, a new array, the input untouched ----------

@pytest.mark.parametrize("aug", AUGMENTERS, ids=lambda a: a.name)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_shape_dtype_range_and_input_untouched(aug, dtype, digits):
    X = digits[0][:64].astype(dtype)
    before = X.copy()
    X.setflags(write=False)  # any write would raise
    out = aug(X, np.random.default_rng(0))
    assert out.shape == X.shape and out.dtype == dtype
    assert out.flags.c_contiguous and out.flags.writeable
    assert not np.shares_memory(out, X)
    assert out.min() >= 0 and out.max() <= 1
    np.testing.assert_array_equal(X, before)
    assert not np.array_equal(out, X)  # it did distort something


@pytest.mark.parametrize("aug", AUGMENTERS, ids=lambda a: a.name)
def test_deterministic_for_a_seed(aug, digits):
    X = digits[0][:50]
    a = aug(X, np.random.default_rng(7))
    b = aug(X, np.random.default_rng(7))
    c = aug(X, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # a generator moves on: two calls give two different distortions
    rng = np.random.default_rng(7)
    assert not np.array_equal(aug(X, rng), aug(X, rng))


@pytest.mark.parametrize("aug", [ex.Affine(), ex.Elastic(), ex.Shifts()], ids=lambda a: a.name)
def test_results_do_not_depend_on_the_block_size(aug, digits, monkeypatch):
    X = digits[0][:70]
    full = aug(X, np.random.default_rng(3))
    monkeypatch.setattr(ex, "BLOCK_PIXELS", 3 * S * S)  # blocks of 3 images (12 for shifts)
    np.testing.assert_array_equal(aug(X, np.random.default_rng(3)), full)


def test_non_contiguous_and_empty_input(digits):
    X = digits[0][:40]
    rng = lambda: np.random.default_rng(1)  # noqa: E731
    np.testing.assert_array_equal(ex.affine(X[::2], rng()), ex.affine(X[::2].copy(), rng()))
    np.testing.assert_array_equal(ex.elastic(np.asfortranarray(X), rng()), ex.elastic(X, rng()))
    for aug in AUGMENTERS:
        out = aug(np.zeros((0, 784), np.float32), rng())
        assert out.shape == (0, 784) and out.dtype == np.float32


def test_other_square_sizes():
    X = random_images(5, side=16)
    for aug in AUGMENTERS:
        assert aug(X, np.random.default_rng(0)).shape == (5, 256)
    np.testing.assert_array_equal(ex.translate(X, 3, 1), ex.shift(X, 3, 1))


# -- identities and exact cases --------------------------------------------------------

def test_zero_strength_is_the_identity(digits):
    X = digits[0]
    rng = np.random.default_rng(0)
    np.testing.assert_array_equal(ex.affine(X, rng, rotate=0, shift=0, shear=0, scale=0), X)
    np.testing.assert_array_equal(ex.Affine(0, 0, 0, 0)(X, rng), X)
    np.testing.assert_array_equal(ex.elastic(X, rng, alpha=0), X)
    np.testing.assert_array_equal(ex.affine_transform(X), X)
    np.testing.assert_array_equal(ex.shift(X, 0, 0), X)
    X64 = X.astype(np.float64)
    np.testing.assert_array_equal(ex.elastic(X64, rng, alpha=0.0, sigma=0.0), X64)


@pytest.mark.parametrize("dx,dy", [(1, 0), (-1, 0), (0, 1), (0, -1), (2, -3), (-5, 4), (27, 0),
                                   (0, -28), (40, 1)])
def test_whole_pixel_shift_is_a_shift_with_zero_fill(dx, dy, digits):
    X = digits[0][:30]
    expected = zero_fill_shift(X, dx, dy)
    np.testing.assert_array_equal(ex.shift(X, dx, dy), expected)
    # the interpolating path agrees exactly at whole pixels
    np.testing.assert_array_equal(ex.translate(X, dx, dy), expected)
    np.testing.assert_array_equal(ex.affine_transform(X, dx=float(dx), dy=float(dy)), expected)


def test_shift_per_image(digits):
    X = digits[0][:40]
    rng = np.random.default_rng(0)
    dx = rng.integers(-3, 4, 40)
    dy = rng.integers(-3, 4, 40)
    out = ex.shift(X, dx, dy)
    for i in range(40):
        np.testing.assert_array_equal(out[i], zero_fill_shift(X[i:i + 1], dx[i], dy[i])[0])
    np.testing.assert_array_equal(ex.translate(X, dx, dy), out)
    with pytest.raises(ValueError, match="whole pixels"):
        ex.shift(X, 0.5, 0)
    with pytest.raises(ValueError, match="one integer per image"):
        ex.shift(X, np.zeros(3, int), 0)


def test_sub_pixel_translation_interpolates():
    X = np.zeros((1, S * S))
    X[0, 10 * S + 10] = 1.0
    out = ex.translate(X, 0.25, 0.5).reshape(S, S)
    # the pixel's mass spreads bilinearly over its 2x2 neighbours (right and down)
    np.testing.assert_allclose(out[10:12, 10:12], [[0.375, 0.125], [0.375, 0.125]])
    assert out.sum() == pytest.approx(1.0)


def test_rotation_direction_and_exactness():
    X = random_images(3, dtype=np.float64)
    # 90 degrees anticlockwise (on screen) maps the pixel grid onto itself
    expected = np.rot90(X.reshape(3, S, S), 1, axes=(1, 2)).reshape(3, -1)
    np.testing.assert_allclose(ex.rotate(X, 90.0), expected, atol=1e-12)
    np.testing.assert_allclose(ex.rotate(X, 180.0),
                               X.reshape(3, S, S)[:, ::-1, ::-1].reshape(3, -1), atol=1e-12)


@pytest.mark.parametrize("degrees", [-10.0, 3.0, 5.0, 10.0])
def test_small_rotation_preserves_mass(degrees, digits):
    X = digits[0]
    out = ex.rotate(X, degrees)
    ratio = out.sum(axis=1, dtype=np.float64) / X.sum(axis=1, dtype=np.float64)
    # a rotation has unit Jacobian; bilinear sampling blurs but conserves on average
    assert abs(ratio.mean() - 1) < 2e-3
    assert np.abs(ratio - 1).max() < 0.03
    # the centre of mass of a centred digit stays put (within a pixel)
    grid = np.arange(S)
    for img, rot in zip(X[:20].reshape(-1, S, S), out[:20].reshape(-1, S, S)):
        for axis in (0, 1):
            c0 = (img.sum(axis=1 - axis) * grid).sum() / img.sum()
            c1 = (rot.sum(axis=1 - axis) * grid).sum() / rot.sum()
            assert abs(c0 - 13.5) < 4 and abs(c1 - 13.5) < 4


def test_affine_parameters_are_composed_around_the_centre():
    # zoom 2 about the centre: the output's centre pixel neighbourhood comes from
    # half as far from the centre
    X = random_images(2, dtype=np.float64)
    out = ex.affine_transform(X, zoom=2.0).reshape(2, S, S)
    rows = (np.arange(S) - 13.5) / 2 + 13.5
    expected = ex.warp(X, np.broadcast_to(rows[None, :, None], (2, S, S)),
                       np.broadcast_to(rows[None, None, :], (2, S, S)))
    np.testing.assert_allclose(out.reshape(2, -1), expected, atol=1e-12)
    # shear: row r (y = r - 13.5) moves right by shear * y
    sheared = ex.affine_transform(X, shear=1.0).reshape(2, S, S)
    for r in (0, 13, 27):
        y = r - 13.5
        src_cols = np.arange(S) - y
        ref = ex.warp(X, np.full((2, S, S), float(r)), np.broadcast_to(src_cols, (2, S, S)))
        np.testing.assert_allclose(sheared[:, r], ref.reshape(2, S, S)[:, r], atol=1e-12)


def test_random_parameters_stay_within_their_bounds(digits):
    p = ex._affine_params(10_000, np.random.default_rng(0), 15.0, 2.0, 0.3, 0.15)
    assert np.abs(p["angle"]).max() <= 15 and np.abs(p["angle"]).max() > 14.9
    assert np.abs(p["dx"]).max() <= 2 and np.abs(p["dy"]).max() <= 2
    assert np.abs(p["shear"]).max() <= 0.3
    assert 0.85 <= p["zoom"].min() and p["zoom"].max() <= 1.15


# -- the sampler and the smoothing against scipy ---------------------------------------

@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_warp_matches_scipy_map_coordinates(dtype):
    n = 12
    X = random_images(n, dtype=dtype)
    rng = np.random.default_rng(1)
    rows = rng.uniform(-4, 32, (n, S, S))
    cols = rng.uniform(-4, 32, (n, S, S))
    rows[:, :5] = np.round(rows[:, :5])  # whole pixels too, inside and outside
    cols[:, 3:9] = np.round(cols[:, 3:9])
    rows[0, 0, :4] = [-1, 28, -0.5, 27.5]
    out = ex.warp(X, rows, cols).reshape(n, S, S)
    # positions are used in the images' dtype
    rows, cols = (a.astype(dtype).astype(np.float64) for a in (rows, cols))
    coords = np.stack([np.broadcast_to(np.arange(n)[:, None, None], (n, S, S)), rows, cols])
    ref = ndimage.map_coordinates(X.reshape(n, S, S).astype(np.float64), coords, order=1,
                                  mode="grid-constant", cval=0.0)
    np.testing.assert_allclose(out, ref, atol=1e-6 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("sigma", [1.0, 4.0, 6.5])
def test_field_smoothing_equals_gaussian_filter(sigma):
    F = np.random.default_rng(0).uniform(-1, 1, (6, S, S))
    G = ex._gauss_matrix(S, sigma)
    ref = ndimage.gaussian_filter(F, sigma=(0, sigma, sigma), mode="reflect", truncate=4.0)
    np.testing.assert_allclose(ex._smooth(F, G), ref, atol=1e-12)


def test_elastic_displacements_have_the_expected_size():
    # a single bright pixel, moved by the field at its position: over many
    # images the displacement's spread matches alpha * std(smoothed uniform noise)
    n = 4000
    X = np.zeros((n, S * S))
    X[:, 14 * S + 14] = 1.0
    out = ex.elastic(X, np.random.default_rng(0), alpha=34.0, sigma=4.0).reshape(n, S, S)
    grid = np.arange(S)
    mass = out.sum(axis=(1, 2))
    col = (out.sum(axis=1) * grid).sum(axis=1) / mass
    G = ex._gauss_matrix(S, 4.0)
    expected = 34.0 * np.sqrt(1 / 3) * np.sqrt(np.sum(np.outer(G[14], G[14]) ** 2))
    # the image is sampled at p + d(p), so the bright pixel appears near 14 - d
    assert abs(np.std(col - 14) / expected - 1) < 0.1
    assert abs(np.mean(col - 14)) < 0.1


# -- the five-fold shift set and precomputed expansions --------------------------------

def test_expand_shifts_size_labels_and_order(digits):
    X, y = digits[0][:30], digits[1][:30]
    X5, y5 = ex.expand_shifts(X, y)
    assert X5.shape == (150, 784) and X5.dtype == X.dtype and y5.shape == (150,)
    np.testing.assert_array_equal(y5, np.tile(y, 5))
    np.testing.assert_array_equal(X5[:30], X)
    for k, (dx, dy) in enumerate([(0, -1), (0, 1), (-1, 0), (1, 0)], start=1):
        np.testing.assert_array_equal(X5[30 * k:30 * (k + 1)], zero_fill_shift(X, dx, dy))
    # one-hot targets are repeated the same way
    T = np.eye(10)[y]
    np.testing.assert_array_equal(ex.expand_shifts(X, T)[1], np.tile(T, (5, 1)))
    with pytest.raises(ValueError, match="labels"):
        ex.expand_shifts(X, y[:5])


def test_shifts_augmenter_picks_one_of_the_five(digits):
    X = digits[0][:100]
    out = ex.Shifts()(X, np.random.default_rng(0))
    X5, _ = ex.expand_shifts(X, np.zeros(100))
    candidates = X5.reshape(5, 100, -1)
    which = [[np.array_equal(out[i], candidates[k, i]) for k in range(5)] for i in range(100)]
    assert all(any(w) for w in which)
    picked = {next(k for k in range(5) if w[k]) for w in which}
    assert picked == {0, 1, 2, 3, 4}


def test_expand_keeps_labels_and_originals(digits):
    X, y = digits[0][:20], digits[1][:20]
    Xe, ye = ex.expand(X, y, ex.Elastic(), np.random.default_rng(0), copies=2)
    assert Xe.shape == (60, 784) and Xe.dtype == np.float32
    np.testing.assert_array_equal(Xe[:20], X)
    np.testing.assert_array_equal(ye, np.tile(y, 3))
    assert not np.array_equal(Xe[20:40], Xe[40:])
    # a seed instead of a generator: still a different distortion per copy
    Xs, _ = ex.expand(X, y, ex.Affine(), 5, copies=2)
    assert not np.array_equal(Xs[20:40], Xs[40:])
    np.testing.assert_array_equal(Xs, ex.expand(X, y, ex.Affine(), 5, copies=2)[0])


# -- augmenters, names, checks -----------------------------------------------------------

def test_make_augmenter_names_strengths_and_repr():
    a = ex.make_augmenter("affine", rotate=10, shift=None, shear=0.1)
    assert isinstance(a, ex.Affine)
    assert a.strengths == {"rotate": 10.0, "shift": 2.0, "shear": 0.1, "scale": 0.15}
    assert repr(a) == "Affine(rotate=10.0, shift=2.0, shear=0.1, scale=0.15)"
    e = ex.make_augmenter("elastic", alpha=8, sigma=None, rotate=None)
    assert e == ex.Elastic(alpha=8.0) and e.name == "elastic"
    assert repr(e) == "Elastic(alpha=8.0, sigma=4.0)"
    assert repr(ex.make_augmenter("shifts")) == "Shifts(pixels=1)"
    s = e.strengths
    s["alpha"] = 0  # a copy
    assert e.strengths["alpha"] == 8.0
    with pytest.raises(ValueError, match="unknown augmentation 'rotation'"):
        ex.make_augmenter("rotation")
    with pytest.raises(ValueError, match="alpha belongs to elastic"):
        ex.make_augmenter("affine", alpha=3)
    for bad in [dict(rotate=-1), dict(scale=1.0), dict(shift=float("nan")), dict(rotate=200)]:
        with pytest.raises(ValueError):
            ex.Affine(**bad)
    with pytest.raises(ValueError):
        ex.Elastic(sigma=-1)
    with pytest.raises(ValueError):
        ex.Shifts(pixels=0)


def test_clear_errors_for_bad_images():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="square"):
        ex.affine(np.zeros((3, 780)), rng)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ex.elastic(np.full((3, 784), 2.0), rng)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        ex.shift(np.full((3, 784), -0.5), 1, 0)
    bad = np.zeros((3, 784))
    bad[1, 5] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ex.Shifts()(bad, rng)
    with pytest.raises(TypeError, match="float32 or float64"):
        ex.affine(np.zeros((3, 784), np.uint8), rng)
    with pytest.raises(ValueError, match="2-D"):
        ex.rotate(np.zeros(784), 5)
    with pytest.raises(ValueError, match="shape"):
        ex.warp(np.zeros((2, 784)), np.zeros((2, 10)), np.zeros((2, 10)))


# -- the picture ------------------------------------------------------------------------

def test_preview_writes_a_png(digits, tmp_path):
    X, y = digits
    out = tmp_path / "one.png"
    assert ex.preview(X, y, ex.Elastic(), np.random.default_rng(0), out, n=4) == out
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["one.png"]  # no temporary left


# -- the command line and the .npz round trip --------------------------------------------

@pytest.fixture
def small_mnist(mnist, monkeypatch):
    """Make ``nncore expand`` read real MNIST, cut to 100 validation and test
    images (loading and compressing the full sets would only cost time)."""
    small = mnist._replace(X_val=mnist.X_val[:100], y_val=mnist.y_val[:100],
                           X_test=mnist.X_test[:100], y_test=mnist.y_test[:100])
    monkeypatch.setattr(mnist_loader, "load_arrays", lambda path=None, dtype=None: small)
    return small


def parse(*argv):
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    ex.add_expand_parser(sub)
    return p.parse_args(["expand", *argv])


def test_cli_shifts_round_trip(mnist_path, mnist, tmp_path, capsys):
    out = tmp_path / "shifts.npz"
    args = parse("--kind", "shifts", "--data", str(mnist_path), "--train-size", "40",
                 "-o", str(out))
    assert ex.run_expand(args) == 0
    assert "200 training images" in capsys.readouterr().out
    data = ex.load_expanded(out)
    assert isinstance(data, mnist_loader.MnistArrays)
    X, y = mnist.X_train[:40], mnist.y_train[:40]
    X5, y5 = ex.expand_shifts(X, y)
    np.testing.assert_array_equal(data.X_train, X5)
    np.testing.assert_array_equal(data.y_train, y5)
    assert data.X_train.dtype == np.float32 and data.y_train.dtype == np.int64
    for part in ("X_val", "y_val", "X_test", "y_test"):
        np.testing.assert_array_equal(getattr(data, part), getattr(mnist, part))
    info = ex.expanded_info(out)
    assert info["expansion"] == "shifts" and info["n_train"] == 200 and info["n_original"] == 40
    assert [p.name for p in tmp_path.iterdir()] == ["shifts.npz"]  # no temporary left


def test_cli_elastic_and_affine_are_seeded(mnist_path, small_mnist, tmp_path):
    mnist = small_mnist
    a = tmp_path / "a.npz"
    common = ["--data", str(mnist_path), "--train-size", "30", "--seed", "5", "--quiet"]
    assert ex.run_expand(parse("--kind", "elastic", "--copies", "2", "--alpha", "20",
                               "--sigma", "3", *common, "-o", str(a))) == 0
    da = ex.load_expanded(a)
    assert da.X_train.shape == (90, 784)
    np.testing.assert_array_equal(da.X_train[:30], mnist.X_train[:30])
    np.testing.assert_array_equal(da.y_train, np.tile(mnist.y_train[:30], 3))
    # the same seed gives the same file: what expand() gives with that seed
    expected, _ = ex.expand(mnist.X_train[:30], mnist.y_train[:30],
                            ex.Elastic(alpha=20, sigma=3), np.random.default_rng(5), 2)
    np.testing.assert_array_equal(da.X_train, expected)
    info = ex.expanded_info(a)
    assert info["strengths"] == {"alpha": 20.0, "sigma": 3.0} and info["seed"] == 5
    c = tmp_path / "c.npz"
    assert ex.run_expand(parse("--kind", "affine", "--rotate", "5", *common, "-o", str(c))) == 0
    assert ex.load_expanded(c).X_train.shape == (60, 784)


def test_cli_preview(mnist_path, small_mnist, tmp_path):
    out = tmp_path / "p.png"
    assert ex.run_expand(parse("--preview", str(out), "--data", str(mnist_path),
                               "--preview-images", "3", "--seed", "1", "--quiet")) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv,message", [
    ([], "nothing to do"),
    (["-o", "x.npz"], "needs --kind"),
    (["--kind", "shifts", "--copies", "2", "-o", "x.npz"], "--copies does not apply"),
    (["--kind", "affine", "--alpha", "3", "-o", "x.npz"], "--alpha does not apply to affine"),
    (["--preview", "x.png", "--sigma", "3"], "--sigma needs --kind"),
    (["--kind", "shifts", "-o", "no/such/dir/x.npz"], "directory no/such/dir does not exist"),
])
def test_cli_refuses_inconsistent_flags(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ex.run_expand(parse(*argv)) == 2
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_rejects_bad_values():
    for argv in (["--rotate", "-3"], ["--copies", "0"], ["--seed", "x"], ["--kind", "blur"]):
        with pytest.raises(SystemExit):
            parse(*argv)


def test_load_expanded_refuses_other_files(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, X_train=np.zeros((2, 784)), y_train=np.zeros(2, int))
    with pytest.raises(mnist_loader.DataError, match="not an expanded-data file"):
        ex.load_expanded(plain)
    text = tmp_path / "text.npz"
    text.write_text("<html>not found</html>")
    with pytest.raises(mnist_loader.DataError, match="not an expanded-data file"):
        ex.load_expanded(text)
    with pytest.raises(mnist_loader.DataError, match="no such file"):
        ex.load_expanded(tmp_path / "missing.npz")
    # ours, but damaged: labels that do not match the images
    meta = np.array(json.dumps({"kind": ex.FILE_KIND, "version": 1}))
    broken = tmp_path / "broken.npz"
    z = np.zeros((3, 784), np.float32)
    np.savez(broken, X_train=z, y_train=np.zeros(2, np.int64), X_val=z,
             y_val=np.zeros(3, np.int64), X_test=z, y_test=np.zeros(3, np.int64),
             nncore_expand=meta)
    with pytest.raises(mnist_loader.DataError, match="3 images but y_train 2 labels"):
        ex.load_expanded(broken)
    future = tmp_path / "future.npz"
    np.savez(future, nncore_expand=np.array(json.dumps({"kind": ex.FILE_KIND, "version": 99})))
    with pytest.raises(mnist_loader.DataError, match="version 99"):
        ex.load_expanded(future)


def test_train_flags_helpers():
    p = argparse.ArgumentParser()
    ex.add_augment_arguments(p)
    assert ex.augmenter_from_args(p.parse_args([])) is None
    a = ex.augmenter_from_args(p.parse_args(["--expand", "elastic", "--alpha", "10"]))
    assert a == ex.Elastic(alpha=10)
    assert ex.augmenter_from_args(p.parse_args(["--expand", "shifts"])) == ex.Shifts()
    with pytest.raises(ValueError, match="--rotate does not apply to elastic"):
        ex.augmenter_from_args(p.parse_args(["--expand", "elastic", "--rotate", "3"]))
    with pytest.raises(ValueError, match="needs --expand"):
        ex.augmenter_from_args(p.parse_args(["--shear", "0.1"]))
