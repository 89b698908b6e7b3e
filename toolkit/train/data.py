"""Training data: a folder of color photos -> cached arrays -> batches of (inputs, targets).

Photos are decoded once and kept in memory, resized so the shorter side is ``cache_side``
(about twice the crop). Each training sample is a random square window of the cached photo
(scale jitter: its side is drawn between the crop size and the shorter side), resized to the
crop, randomly mirrored. The network inputs are made from the crop's L exactly as
:meth:`edgecolor.spec.ModelSpec.make_inputs` makes them at inference; the targets by the
loss rule of the spec's output kind (see :mod:`edgecolor.train.losses`).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from edgecolor.color import rgb_to_lab
from edgecolor.imageio import ImageError, list_images, read_rgb
from edgecolor.spec import ModelSpec


@dataclass
class PhotoSet:
    """Decoded photos in memory: RGB uint8 arrays, their source paths, skipped-file lines."""

    folder: str
    paths: list[Path] = field(default_factory=list)
    images: list[np.ndarray] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.images)


def list_photos(folder: str | Path, limit: int | None = None) -> list[Path]:
    """Image files of a folder (not recursive), sorted, at most ``limit``.

    Raises ValueError naming the folder when it holds no image file.
    """
    if not Path(folder).is_dir():
        raise ValueError(f"{folder}: no such folder (give a folder of color photos)")
    paths, _ = list_images([str(folder)])
    if not paths:
        raise ValueError(f"{folder}: no image files (.jpg/.png/...) in this folder")
    return paths[:limit] if limit else paths


def split_holdout(paths: list[Path], fraction: float) -> tuple[list[Path], list[Path]]:
    """Paths -> (train, held-out) with about ``fraction`` held out, chosen by file name hash.

    The choice depends only on each file's name, so it is stable when files are added, and
    at least one photo is held out (and one kept) when ``fraction`` > 0 and there are two.
    """
    if fraction <= 0 or len(paths) < 2:
        return list(paths), []
    ranked = sorted(paths, key=lambda p: zlib.crc32(p.name.encode()))
    n_val = min(len(paths) - 1, max(1, round(fraction * len(paths))))
    held = set(ranked[:n_val])
    return [p for p in paths if p not in held], [p for p in paths if p in held]


def _fit_short_side(rgb: np.ndarray, side: int) -> np.ndarray:
    h, w = rgb.shape[:2]
    s = side / min(h, w)
    if abs(s - 1.0) < 1e-6:
        return rgb
    size = (max(side, round(w * s)), max(side, round(h * s)))
    interp = cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR
    return cv2.resize(rgb, size, interpolation=interp)


def load_photos(folder: str, paths: list[Path], cache_side: int,
                warn: Callable[[str], None] = print,
                progress: Callable[[Iterator], Iterator] | None = None) -> PhotoSet:
    """Decode ``paths`` -> PhotoSet resized to shorter side ``cache_side`` px.

    Unreadable files are skipped, each with one ``warning:`` line through ``warn``.
    """
    photos = PhotoSet(folder)
    for p in (progress(paths) if progress else paths):
        try:
            rgb = read_rgb(p)
        except ImageError as e:
            line = f"warning: {e}; skipped"
            photos.skipped.append(str(e))
            warn(line)
            continue
        photos.paths.append(p)
        photos.images.append(_fit_short_side(rgb, cache_side))
    return photos


def random_crop(rgb: np.ndarray, crop: int, rng: np.random.Generator,
                max_scale: float = 2.0) -> np.ndarray:
    """A random square window of ``rgb`` (side in crop..crop*max_scale), resized to ``crop``,
    mirrored left-right with probability 1/2 -> RGB uint8 (crop, crop, 3)."""
    h, w = rgb.shape[:2]
    hi = max(crop, min(h, w, int(crop * max_scale)))
    side = min(int(rng.integers(min(crop, h, w), hi + 1)), h, w)
    y = int(rng.integers(0, h - side + 1))
    x = int(rng.integers(0, w - side + 1))
    win = rgb[y:y + side, x:x + side]
    if side != crop:
        interp = cv2.INTER_AREA if side > crop else cv2.INTER_LINEAR
        win = cv2.resize(win, (crop, crop), interpolation=interp)
    if rng.random() < 0.5:
        win = win[:, ::-1]
    return np.ascontiguousarray(win)


def jitter_l(l: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """L (0..100) -> L with contrast scaled by 1 +- ``amount`` about its mean and shifted by
    +- ``amount`` * 20 (clipped to 0..100): a hue-preserving augmentation of the input only."""
    contrast = 1.0 + rng.uniform(-amount, amount)
    shift = rng.uniform(-amount, amount) * 20.0
    mean = float(l.mean())
    return np.clip((l - mean) * contrast + mean + shift, 0.0, 100.0).astype(np.float32)


def make_example(spec: ModelSpec, rgb: np.ndarray,
                 target_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
                 out_hw: tuple[int, int], l_jitter: float = 0.0,
                 rng: np.random.Generator | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """One RGB uint8 crop -> (network inputs, each (h, w, c); target (oh, ow, C)).

    The first input is at the crop's size; other inputs at their own spec size, all made
    by the spec's normalizers from the crop's L (0..100), jittered by :func:`jitter_l` when
    ``l_jitter`` > 0 (needs ``rng``). ``target_fn(rgb01, lab)`` gets the crop resized to the
    network's output size ``out_hw``.
    """
    rgb01 = rgb.astype(np.float32) / 255.0
    lab = rgb_to_lab(rgb01)
    crop_spec = spec.with_size(rgb.shape[:2])
    l_in = jitter_l(lab[..., 0], l_jitter, rng) if l_jitter > 0 else lab[..., 0]
    inputs = [x[0] for x in crop_spec.make_inputs(l_in)]
    if rgb.shape[:2] != tuple(out_hw):
        oh, ow = out_hw
        rgb01 = cv2.resize(rgb01, (ow, oh), interpolation=cv2.INTER_AREA)
        lab = rgb_to_lab(rgb01)
    return inputs, target_fn(rgb01, lab).astype(np.float32)


def batches(photos: PhotoSet, spec: ModelSpec, crop: int, batch: int,
            target_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
            out_hw: tuple[int, int], seed: int, l_jitter: float = 0.0
            ) -> Iterator[tuple[tuple, np.ndarray]]:
    """Endless ``(tuple of input batches, target batch)`` of random crops (float32, NHWC),
    the input L jittered by ``l_jitter`` (:func:`jitter_l`; 0 = off).

    Each pass visits every photo once in a shuffled order (one crop per photo per pass).
    """
    rng = np.random.default_rng(seed)
    n = len(photos)
    while True:
        order = rng.permutation(n)
        for start in range(0, n - batch + 1 if n >= batch else 1, batch):
            idx = order[start:start + batch]
            if len(idx) < batch:  # fewer photos than a batch: draw with repetition
                idx = rng.integers(0, n, batch)
            examples = [make_example(spec, random_crop(photos.images[i], crop, rng), target_fn,
                                     out_hw, l_jitter, rng) for i in idx]
            xs = tuple(np.stack([ex[0][k] for ex in examples]) for k in range(len(spec.inputs)))
            yield xs, np.stack([ex[1] for ex in examples])


def dataset(photos: PhotoSet, spec: ModelSpec, crop: int, batch: int,
            target_fn: Callable[[np.ndarray, np.ndarray], np.ndarray],
            out_hw: tuple[int, int], seed: int, l_jitter: float = 0.0):
    """The endless :func:`batches` stream as a prefetching ``tf.data.Dataset``."""
    from edgecolor._tf import import_tf

    tf, _ = import_tf()
    first_x, first_y = next(batches(photos, spec, crop, batch, target_fn, out_hw, seed))
    sig_x = tuple(tf.TensorSpec(x.shape, tf.float32) for x in first_x)
    sig = (sig_x if len(sig_x) > 1 else sig_x[0], tf.TensorSpec(first_y.shape, tf.float32))

    def gen():
        for xs, y in batches(photos, spec, crop, batch, target_fn, out_hw, seed, l_jitter):
            yield (xs if len(xs) > 1 else xs[0]), y

    return tf.data.Dataset.from_generator(gen, output_signature=sig).prefetch(2)


def steps_per_epoch(photos: PhotoSet, batch: int) -> int:
    """Batches per epoch: one crop per photo (at least one batch)."""
    return max(1, len(photos) // batch)
