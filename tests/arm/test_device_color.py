"""The 8-bit host-side path (edgecolor.color_u8) on the board: within 1 level of the float
reference computed here, over a coarse L x a x b sweep and an RGB grid (kept small: qemu)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import referenced_artifacts


def test_lab_to_rgb_u8_within_one_level_of_the_reference():
    from edgecolor import color
    from edgecolor.color_u8 import lab_to_rgb_u8

    ls = np.arange(0.0, 100.0 + 1e-6, 2.5, dtype=np.float32)
    ab = np.arange(-128.0, 127.0 + 1e-6, 4.0, dtype=np.float32)
    aa, bb = np.meshgrid(ab, ab, indexing="ij")
    grid = np.tile(np.stack([aa, bb], axis=-1), (len(ls), 1, 1))  # (41 * 64, 64, 2)
    l_full = np.repeat(ls, len(ab))[:, None] * np.ones((1, len(ab)), np.float32)
    ref = np.round(color.combine(l_full, grid) * 255.0).astype(np.int16)
    fast = lab_to_rgb_u8(l_full, grid).astype(np.int16)
    assert np.abs(fast - ref).max() <= 1
    # ab upsampled from model resolution, BGR order (the camera's path)
    small = grid[:32, :32]
    l_big = np.linspace(0, 100, 96 * 80, dtype=np.float32).reshape(96, 80)
    ref = np.round(color.combine(l_big, small) * 255.0).astype(np.int16)
    assert np.abs(lab_to_rgb_u8(l_big, small, "bgr")[..., ::-1].astype(np.int16) - ref).max() <= 1


def test_lightness_u8_matches_the_reference():
    from edgecolor import color
    from edgecolor.color_u8 import lightness_u8

    v = np.arange(0, 256, 5, dtype=np.uint8)  # 52^3 colors
    rgb = np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1).reshape(len(v) ** 2, len(v), 3)
    ref = color.rgb_to_lab(color.to_float_rgb(rgb))[..., 0]
    assert np.abs(lightness_u8(rgb) - ref).max() < 1e-3
    gray = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert np.abs(lightness_u8(gray) - color.rgb_to_lab(color.to_float_rgb(gray))[..., 0]
                  ).max() < 1e-3


def test_colorize_array_fast_equals_reference_through_an_artifact():
    """A real artifact of the lane on a bundled photo: the fast and the float path agree."""
    from edgecolor.imageio import read_image
    from edgecolor.pipeline import colorize_array, colorize_array_reference
    from edgecolor.runtimes import load_runner
    from edgecolor.samples import sample_images

    artifacts = [a for a in referenced_artifacts() if a.suffix in (".tflite", ".onnx", ".xml")]
    if not artifacts:
        pytest.skip("no artifact in the folder to run the photo path through")
    runner = load_runner(artifacts[0], threads=1)
    photo = read_image(sample_images("eval")[0])
    fast, ref = colorize_array(runner, photo), colorize_array_reference(runner, photo)
    assert fast.shape == ref.shape and fast.dtype == np.uint8
    assert np.abs(fast.astype(np.int16) - ref).max() <= 1


def test_fast_path_equals_the_x86_hosts_within_one_level():
    """The board's color_u8 outputs vs the x86 host's on the same grids (color-path.npz,
    written by the lane on the host): the same within 1 level (RGB) and 1e-3 (L)."""
    from conftest import artifacts_dir

    from edgecolor.devices.emulate.color_reference import COLOR_REF_NAME, color_outputs

    path = artifacts_dir() / COLOR_REF_NAME
    if not path.is_file():
        pytest.skip(f"{path} missing: the lane writes it beside the artifacts on the host")
    with np.load(path) as ref:
        host = {k: ref[k] for k in ref.files}
    board = color_outputs(host)
    for key in ("rgb_sweep", "bgr_upsampled"):
        diff = np.abs(board[key].astype(np.int16) - host[key].astype(np.int16)).max()
        assert diff <= 1, f"{key}: board vs x86 differ by {diff} levels"
    assert np.abs(board["l_of_rgb"] - host["l_of_rgb"]).max() < 1e-3
