"""Shared fixtures. Tests never read ../shared: they use the bundled samples or make images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from edgecolor.samples import CALIB_DIR, EVAL_DIR, sample_images  # noqa: E402


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
