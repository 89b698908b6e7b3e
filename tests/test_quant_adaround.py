"""AdaRound-style learned rounding (edgecolor.quant.adaround): the kernels it writes lie on
the converters' int8 grid and reconstruct the layer's output better than round-to-nearest."""

from __future__ import annotations

import numpy as np


def _layer(seed: int = 7):
    rng = np.random.default_rng(seed)
    kernel = rng.normal(0, 0.2, (3, 3, 8, 16)).astype(np.float32)
    kernel[..., 3] *= 20  # one channel with a wide range: a coarse grid there
    bias = rng.normal(0, 0.1, 16).astype(np.float32)
    # spatially correlated inputs (the case rounding choices matter for)
    x = rng.normal(0, 1, (24, 14, 14, 8)).astype(np.float32)
    x = np.maximum(x + np.roll(x, 1, axis=1) + x.mean(axis=-1, keepdims=True), 0)
    return kernel, bias, x


def test_learned_rounding_is_on_the_grid_and_beats_nearest():
    from edgecolor.quant.adaround import LEVELS, grid_scale, round_conv, round_nearest

    kernel, bias, x = _layer()
    rounded, info = round_conv(kernel, bias, x, x, activation="relu", iters=200, seed=0)
    s = grid_scale(kernel)
    q = rounded / s
    # integers in -127..127, and the converter recomputes the same per-channel scale
    assert np.abs(q - np.round(q)).max() < 1e-4
    assert np.abs(q).max() <= LEVELS + 1e-4
    np.testing.assert_allclose(grid_scale(rounded), s, rtol=1e-6)
    np.testing.assert_allclose(round_nearest(rounded), rounded, rtol=0, atol=1e-7)
    # only floor or ceil of W / s
    w = kernel / s
    assert np.all((np.round(q) == np.floor(w)) | (np.round(q) == np.ceil(w))
                  | (np.abs(w - np.round(w)) < 1e-5))
    assert 0 < info["changed"] < 0.5
    assert info["mse_adaround"] < 0.9 * info["mse_nearest"]


def test_adaround_on_a_keras_model_writes_grid_kernels():
    from edgecolor._tf import import_tf
    from edgecolor.quant.adaround import grid_offsets
    from edgecolor.quant.equalize import apply

    _, keras = import_tf()
    L = keras.layers
    keras.utils.set_random_seed(5)
    inp = L.Input((16, 16, 1), batch_size=1, name="l")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inp)
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    out = L.Conv2D(2, 3, padding="same", activation="tanh", name="ab")(x)
    model = keras.Model(inp, out)
    rng = np.random.default_rng(1)
    samples = [[rng.uniform(-1, 1, (1, 16, 16, 1)).astype(np.float32)] for _ in range(4)]
    fixed, records = apply(model, "adaround", samples)
    assert records[0].name == "adaround" and records[0].layers == ["c1", "c2", "ab"]
    for name in ("c1", "c2", "ab"):
        k = fixed.get_layer(name).get_weights()[0]
        assert grid_offsets(k) < 1e-4
        np.testing.assert_array_equal(fixed.get_layer(name).get_weights()[1],
                                      model.get_layer(name).get_weights()[1])
    per = records[0].detail["per_layer"]
    assert all(r["mse_adaround"] <= r["mse_nearest"] * 1.0001 for r in per)
