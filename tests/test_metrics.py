"""edgecolor.metrics against values known in closed form or from published test data."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from edgecolor import metrics
from edgecolor.color import lab_to_rgb
from edgecolor.imageio import read_rgb
from edgecolor.samples import sample_images


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real bundled photo, 64x64 crop, RGB uint8."""
    return read_rgb(sample_images("eval")[0])[96:160, 96:160].copy()


def _balanced_noise(shape, k: int, rng: np.random.Generator) -> np.ndarray:
    """Integer noise in -k..k with every value exactly equally often (MSE = k(k+1)/3)."""
    n = int(np.prod(shape))
    assert n % (2 * k + 1) == 0
    values = np.tile(np.arange(-k, k + 1), n // (2 * k + 1))
    return rng.permutation(values).reshape(shape)


def test_psnr_identical_is_inf(photo):
    assert metrics.psnr(photo, photo) == math.inf
    assert metrics.mse(photo, photo) == 0.0


@pytest.mark.parametrize("k", [1, 3, 5, 10])
def test_psnr_of_uniform_noise_matches_analytic_value(k, rng):
    base = rng.integers(k, 256 - k, size=(63, 66, 3))  # no clipping after adding noise
    noisy = base + _balanced_noise(base.shape, k, rng)
    a, b = base.astype(np.uint8), noisy.astype(np.uint8)
    expected = 10 * math.log10(255.0**2 / (k * (k + 1) / 3))
    assert metrics.psnr(a, b) == pytest.approx(expected, abs=0.05)
    # float 0..1 input gives the same number as uint8
    assert metrics.psnr(a / 255.0, b / 255.0) == pytest.approx(expected, abs=0.05)
    assert metrics.mse(a, b) == pytest.approx(k * (k + 1) / 3 / 255.0**2, rel=1e-9)


def test_mse_is_on_rgb_0_to_1():
    a = np.zeros((8, 8, 3), np.uint8)
    b = np.full((8, 8, 3), 51, np.uint8)  # 0.2 apart everywhere
    assert metrics.mse(a, b) == pytest.approx(0.04)
    assert metrics.mse(a, b / 255.0) == pytest.approx(0.04)  # kinds may be mixed


def test_shape_mismatch_is_a_clear_error(photo):
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.psnr(photo, photo[:32])


def test_colorfulness_of_gray_is_zero(photo):
    gray = np.repeat(photo[..., :1], 3, axis=-1)
    assert metrics.colorfulness(gray) == pytest.approx(0.0, abs=1e-9)


def test_colorfulness_of_red_blue_halves_matches_hand_computation():
    img = np.zeros((10, 10, 3), np.uint8)
    img[:5, :, 0] = 255  # top half red
    img[5:, :, 2] = 255  # bottom half blue
    # rg: red 255, blue 0 -> mean 127.5, std 127.5
    # yb: red 127.5, blue -255 -> mean -63.75, std 191.25
    expected = math.hypot(127.5, 191.25) + 0.3 * math.hypot(127.5, -63.75)
    assert metrics.colorfulness(img) == pytest.approx(expected, rel=1e-12)
    assert metrics.colorfulness(img / 255.0) == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(272.62, abs=0.01)


def test_ssim_identical_is_one_and_noise_lowers_it(photo, rng):
    assert metrics.ssim(photo, photo) == pytest.approx(1.0, abs=1e-12)
    noisy = np.clip(photo.astype(int) + rng.integers(-40, 41, photo.shape), 0, 255)
    s = metrics.ssim(photo, noisy.astype(np.uint8))
    assert 0.0 < s < 0.9


def test_ciede2000_identical_is_zero(photo):
    assert metrics.ciede2000(photo, photo) == pytest.approx(0.0, abs=1e-9)


# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula", Table 1, pairs 1 and 17.
SHARMA_PAIRS = [
    ((50.0, 2.6772, -79.7751), (50.0, 0.0, -82.7485), 2.0425),
    ((50.0, 2.5, 0.0), (73.0, 25.0, -18.0), 27.1492),
]


@pytest.mark.parametrize("lab1,lab2,expected", SHARMA_PAIRS)
def test_ciede2000_matches_sharma_test_data(lab1, lab2, expected):
    a = np.array([[lab1]], np.float64)
    b = np.array([[lab2]], np.float64)
    assert metrics.ciede2000_lab(a, b) == pytest.approx(expected, abs=5e-5)


def test_ciede2000_on_rgb_goes_through_lab():
    lab1, lab2, expected = SHARMA_PAIRS[1]  # both colors inside the sRGB gamut
    a = lab_to_rgb(np.full((4, 4, 3), lab1, np.float32))
    b = lab_to_rgb(np.full((4, 4, 3), lab2, np.float32))
    assert metrics.ciede2000(a, b) == pytest.approx(expected, abs=0.02)


def test_skimage_missing_names_the_extra(monkeypatch, photo):
    monkeypatch.setitem(sys.modules, "skimage.metrics", None)  # import now raises ImportError
    with pytest.raises(RuntimeError, match=r"pip install 'edgecolor\[metrics\]'"):
        metrics.ssim(photo, photo)


def test_device_metrics_work_without_scikit_image():
    code = (
        "import sys; sys.modules['skimage'] = None\n"
        "import numpy as np\n"
        "from edgecolor import metrics\n"
        "a = np.zeros((8, 8, 3), np.uint8); b = a + 1\n"
        "print(round(metrics.psnr(a, b), 4), metrics.colorfulness(a), 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == [f"{20 * math.log10(255):.4f}", "0.0", "False"]
