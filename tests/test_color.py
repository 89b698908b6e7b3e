"""Color space: OpenCV's Lab checked against scikit-image, round trips, grayscale kinds."""

from __future__ import annotations

import numpy as np
import pytest

from edgecolor import color


def test_rgb_to_lab_matches_scikit_image(rng):
    skcolor = pytest.importorskip("skimage.color")
    rgb = rng.random((64, 64, 3), dtype=np.float32)
    ours = color.rgb_to_lab(rgb)
    ref = skcolor.rgb2lab(rgb.astype(np.float64), illuminant="D65")
    assert np.abs(ours - ref).max() < 0.01


def test_round_trip_rgb_lab_rgb_within_one_level(rng):
    rgb = rng.random((128, 128, 3), dtype=np.float32)
    back = color.lab_to_rgb(color.rgb_to_lab(rgb))
    assert np.abs(back - rgb).max() < 1 / 255


def test_lab_ranges(rng):
    lab = color.rgb_to_lab(rng.random((32, 32, 3), dtype=np.float32))
    assert 0 <= lab[..., 0].min() and lab[..., 0].max() <= 100
    assert np.abs(lab[..., 1:]).max() < 128


@pytest.mark.parametrize("kind", ["gray8", "gray16", "rgb_gray", "rgba", "gray_alpha"])
def test_grayscale_inputs_give_the_same_lightness(kind, rng):
    g8 = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    expected = color.lightness(g8)
    image = {
        "gray8": g8,
        "gray16": g8.astype(np.uint16) * 257,
        "rgb_gray": np.repeat(g8[..., None], 3, -1),
        "rgba": np.dstack([g8, g8, g8, np.full_like(g8, 7)]),
        "gray_alpha": np.dstack([g8, np.full_like(g8, 7)]),
    }[kind]
    gray = color.GrayImage.from_array(image)
    assert gray.l.shape == (20, 30)
    assert np.abs(gray.l - expected).max() < 1e-3
    if kind in ("rgba", "gray_alpha"):
        assert (gray.alpha == 7).all()


def test_gray_pixel_has_no_chroma():
    lab = color.rgb_to_lab(np.full((4, 4, 3), 0.5, np.float32))
    assert np.abs(lab[..., 1:]).max() < 1e-3
    assert abs(lab[0, 0, 0] - 53.39) < 0.05  # sRGB 0.5 gray = L* 53.39


def test_with_ab_keeps_size_dtype_alpha_and_lightness():
    rgba = np.zeros((50, 70, 4), np.uint8)
    rgba[..., :3] = 120
    rgba[..., 3] = 200
    gray = color.GrayImage.from_array(rgba)
    ab = np.zeros((8, 8, 2), np.float32)
    ab[..., 0] = 30.0  # reddish
    out = gray.with_ab(ab)
    assert out.shape == (50, 70, 4) and out.dtype == np.uint8
    assert (out[..., 3] == 200).all()
    assert out[..., 0].mean() > out[..., 1].mean()  # red above green
    # L of the output is the input's L (within 8-bit rounding)
    assert np.abs(color.lightness(out[..., :3]) - gray.l).max() < 0.6


def test_with_ab_16bit_stays_16bit():
    g16 = np.full((10, 10), 30000, np.uint16)
    out = color.GrayImage.from_array(g16).with_ab(np.zeros((2, 2, 2), np.float32))
    assert out.dtype == np.uint16 and out.shape == (10, 10, 3)


def test_chroma_of_gray_is_zero_and_of_red_is_large():
    assert color.chroma(np.full((4, 4, 3), 128, np.uint8)) < 0.01
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    assert color.chroma(red) > 100


def test_8bit_lightness_table_path_equals_the_float_path(rng):
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    exact = color.rgb_to_lab(rgb.astype(np.float32) / 255.0)[..., 0]
    assert np.abs(color.lightness(rgb) - exact).max() < 1e-3
    gray = rgb[..., 0]
    exact_gray = color.rgb_to_lab(np.repeat(gray[..., None], 3, -1) / np.float32(255))[..., 0]
    assert np.abs(color.lightness(gray) - exact_gray).max() < 1e-3
