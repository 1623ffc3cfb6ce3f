"""Random initial weights and biases, drawn in a documented order.

The native package draws its initial parameters in exactly the same order, so
the same seed gives the same starting network in both.
"""

import numpy as np

__all__ = ["init_params", "INIT_KINDS"]

#: Initialisations of chapter 3.
INIT_KINDS = ("default", "large", "relu")


def init_params(sizes, rng, kind="default", dtype=np.float64):
    """Return ``(weights, biases)`` for a network with layer sizes ``sizes``.

    ``weights[l]`` has shape ``(sizes[l+1], sizes[l])`` and ``biases[l]`` shape
    ``(sizes[l+1], 1)``, as in network2. The input layer has no biases.

    kind
        ``"default"``: weights ~ N(0, 1) / sqrt(n_in), biases ~ N(0, 1)
        (network2's ``default_weight_initializer``, chapter 3's improved
        initialisation; also the one to use for tanh and linear neurons).
        ``"large"``: weights and biases ~ N(0, 1)
        (``large_weight_initializer``, the chapter 1 scheme).
        ``"relu"``: for rectified linear neurons, He et al.'s scaling
        weights ~ N(0, 1) * sqrt(2 / n_in) -- a ReLU zeroes about half of its
        inputs, so twice the variance keeps the size of the activations from
        shrinking layer by layer -- and small biases ~ 0.1 * N(0, 1). The
        biases stay random (not 0) so that the draw order, and hence every
        number drawn, is the same as for "default"; scaled by 0.1 they are
        small beside the weighted input, so few units start out dead (z < 0
        for every example) only because of their bias.

    Draw order (fixed; other implementations follow it): with
    ``rng.standard_normal`` in float64, first ALL biases, layer by layer
    (shape ``(n_out, 1)``), then ALL weights, layer by layer (shape
    ``(n_out, n_in)``), exactly as network2 fills ``self.biases`` before
    ``self.weights``. The weights of "default" are those of "large" divided by
    sqrt(n_in), so the same seed gives proportional weights for both kinds;
    "relu" takes the "default" weights times sqrt(2) and the biases times 0.1.
    The draws are then cast to ``dtype`` (float32 values are the float64
    draws rounded).

    rng
        a :class:`numpy.random.Generator`; anything else (an int seed, None, a
        SeedSequence) is passed to :func:`numpy.random.default_rng`.
    """
    sizes = [int(s) for s in sizes]
    if len(sizes) < 2 or min(sizes) < 1:
        raise ValueError(f"sizes needs at least two layers of size >= 1, got {sizes}")
    if kind not in INIT_KINDS:
        raise ValueError(f"kind must be one of {INIT_KINDS}, got {kind!r}")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    dtype = np.dtype(dtype)

    biases = [rng.standard_normal((n_out, 1)) for n_out in sizes[1:]]
    weights = [rng.standard_normal((n_out, n_in)) for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    if kind in ("default", "relu"):
        weights = [w / np.sqrt(w.shape[1]) for w in weights]
    if kind == "relu":
        weights = [w * np.sqrt(2.0) for w in weights]
        biases = [0.1 * b for b in biases]
    return [w.astype(dtype) for w in weights], [b.astype(dtype) for b in biases]
