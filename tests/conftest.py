"""Shared fixtures. Tests use the bundled samples or images they make, never outside data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from edgecolor.samples import CALIB_DIR, EVAL_DIR, sample_images  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def _isolated_edgecolor_home(tmp_path_factory):
    """EDGECOLOR_HOME -> an empty temp folder: weights the user trained into the cache
    (``edgecolor train --install``) must not change what the tests see."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EDGECOLOR_HOME", str(tmp_path_factory.mktemp("edgecolor-home")))
        yield


@pytest.fixture(scope="session")
def calib_dir() -> Path:
    """Bundled calibration-role photos (6 Kodak images, 256 px)."""
    return CALIB_DIR


@pytest.fixture(scope="session")
def eval_dir() -> Path:
    """Bundled eval-role photos (6 Kodak images, 256 px), never used for calibration."""
    return EVAL_DIR


@pytest.fixture(scope="session")
def eval_images() -> list[Path]:
    """Paths of the bundled eval photos."""
    return sample_images("eval")


@pytest.fixture(scope="session")
def rng() -> np.random.Generator:
    """A seeded generator (tests are deterministic)."""
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def baseline64():
    """(keras.Model, ModelSpec): the baseline at 64x64, batch 1, bundled weights if present."""
    from edgecolor.zoo import create_model

    return create_model("baseline", input_size=64, batch_size=1)


@pytest.fixture(scope="session")
def colorful_baseline64(tmp_path_factory):
    """(keras.Model, ModelSpec, weights path): baseline 64x64 batch 1 whose output has color.

    The bundled trained weights when present. Otherwise a seeded random init predicts almost
    gray (ab std ~1 Lab unit), which would make any PSNR vs FP32 meaningless; its last
    convolution is scaled x20 so ab spreads over ~15 Lab units (std) like a real colorizer.
    """
    from edgecolor._tf import import_tf
    from edgecolor.zoo import create_model, default_weights

    _, keras = import_tf()
    if default_weights("baseline") is not None:
        model, spec = create_model("baseline", input_size=64, batch_size=1)
        return model, spec, default_weights("baseline")
    keras.utils.set_random_seed(0)
    model, spec = create_model("baseline", input_size=64, batch_size=1, weights=None)
    kernel, bias = model.get_layer("ab").get_weights()
    model.get_layer("ab").set_weights([kernel * 20.0, bias])
    path = tmp_path_factory.mktemp("weights") / "colorful.weights.h5"
    model.save_weights(path)
    return model, spec, path


@pytest.fixture(scope="session")
def two_input64():
    """(keras.Model, ModelSpec): a small seeded two-input colorizer (converters must loop over
    spec.inputs): ``l`` 64x64 (L/50-1) and ``l_small`` 32x32 (L/100), ab = 128 * tanh."""
    from edgecolor._tf import import_tf
    from edgecolor.spec import InputSpec, ModelSpec, OutputSpec

    _, keras = import_tf()
    L = keras.layers
    keras.utils.set_random_seed(1)
    big = L.Input((64, 64, 1), batch_size=1, name="l")
    small = L.Input((32, 32, 1), batch_size=1, name="l_small")
    a = L.Conv2D(8, 3, strides=2, padding="same", activation="relu")(big)
    b = L.Conv2D(8, 3, padding="same", activation="relu")(small)
    x = L.UpSampling2D()(L.Concatenate()([a, b]))
    out = L.Conv2D(2, 3, padding="same", activation="tanh",
                   kernel_initializer=keras.initializers.RandomNormal(stddev=0.5))(x)
    spec = ModelSpec("two_input", (InputSpec("l", (64, 64), "l/50-1"),
                                   InputSpec("l_small", (32, 32), "l/100")),
                     OutputSpec("ab", "ab_tanh", 128.0))
    return keras.Model([big, small], out, name="two_input"), spec


@pytest.fixture(scope="session")
def convert_setup(colorful_baseline64, calib_dir, eval_images):
    """(model, spec, calibration set, L of the eval photos, their inputs, Keras outputs).

    Asserts that an all-gray answer scores < 30 dB, so the int8 bars of 30 dB mean something.
    """
    from checks import colorized_psnr

    from edgecolor.calibration import CalibrationSet
    from edgecolor.color import lightness
    from edgecolor.imageio import read_rgb
    from edgecolor.runtimes.keras import KerasRunner

    model, spec, _ = colorful_baseline64
    cs = CalibrationSet.from_folder(calib_dir, spec, size=None, holdout=0)
    ls = [lightness(read_rgb(p)) for p in eval_images]
    inputs = [spec.make_inputs(l) for l in ls]
    keras_runner = KerasRunner.from_model(model, spec)
    ref = [keras_runner.infer(x) for x in inputs]
    gray = [np.zeros((1, *spec.input_size, 2), np.float32)] * len(ref)
    assert colorized_psnr(spec, ls, ref, gray) < 30.0
    return model, spec, cs, ls, inputs, ref
