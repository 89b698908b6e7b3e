"""The host's 8-bit color path (edgecolor.color_u8) on fixed grids, for the board to match.

The lane saves, beside the artifacts, ``color-path.npz`` made on this x86 host:

- ``l_sweep`` (41 * 64, 64) float32 L 0..100 and ``ab_sweep`` (41 * 64, 64, 2) Lab units,
  with ``rgb_sweep``: ``lab_to_rgb_u8`` of them (uint8 RGB);
- ``l_big`` (96, 80) L and ``ab_small`` (32, 32, 2), with ``bgr_upsampled``: the camera's
  path (ab upsampled to 96x80, BGR order);
- ``rgb_grid`` (52^2, 52, 3) uint8 colors with ``l_of_rgb``: ``lightness_u8`` of them.

The board runs the same calls on the same inputs; its outputs must equal the host's within
1 level (RGB) and 1e-3 (L): the fast path is the same on x86 and ARM, not just each
within 1 level of its own float reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

COLOR_REF_NAME = "color-path.npz"


def color_grids() -> dict[str, np.ndarray]:
    """The fixed inputs: an L x a x b sweep, a small ab for the upsample, an RGB grid."""
    ls = np.arange(0.0, 100.0 + 1e-6, 2.5, dtype=np.float32)
    ab = np.arange(-128.0, 127.0 + 1e-6, 4.0, dtype=np.float32)
    aa, bb = np.meshgrid(ab, ab, indexing="ij")
    ab_sweep = np.tile(np.stack([aa, bb], axis=-1), (len(ls), 1, 1))
    l_sweep = np.repeat(ls, len(ab))[:, None] * np.ones((1, len(ab)), np.float32)
    v = np.arange(0, 256, 5, dtype=np.uint8)
    rgb_grid = np.stack(np.meshgrid(v, v, v, indexing="ij"), axis=-1).reshape(
        len(v) ** 2, len(v), 3)
    return {"l_sweep": l_sweep.astype(np.float32), "ab_sweep": ab_sweep.astype(np.float32),
            "l_big": np.linspace(0, 100, 96 * 80, dtype=np.float32).reshape(96, 80),
            "ab_small": np.ascontiguousarray(ab_sweep[:32, :32]), "rgb_grid": rgb_grid}


def color_outputs(grids: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """This machine's fast-path outputs on the grids (see the module docstring)."""
    from edgecolor.color_u8 import lab_to_rgb_u8, lightness_u8

    return {"rgb_sweep": lab_to_rgb_u8(grids["l_sweep"], grids["ab_sweep"]),
            "bgr_upsampled": lab_to_rgb_u8(grids["l_big"], grids["ab_small"], "bgr"),
            "l_of_rgb": lightness_u8(grids["rgb_grid"])}


def write_color_reference(folder: Path) -> Path:
    """Save the grids and this host's outputs to ``folder/color-path.npz`` -> its path."""
    grids = color_grids()
    path = Path(folder) / COLOR_REF_NAME
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **grids, **color_outputs(grids))
    tmp.replace(path)
    return path
