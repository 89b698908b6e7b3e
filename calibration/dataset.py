"""CalibrationSet: an image folder -> the model's normalized inputs, sampled deterministically.

The images are shuffled with a seeded generator; the first ``holdout`` of them are kept
apart (quick checks after conversion never see calibration images), the next ``size`` are
the calibration samples. Every sample is ``spec.make_inputs(L)``: the one preprocessing
function that inference uses too.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecolor.calibration.ahash import average_hash
from edgecolor.color import lightness
from edgecolor.imageio import IMAGE_SUFFIXES, ImageError, read_rgb
from edgecolor.manifest import sha256_file
from edgecolor.spec import ModelSpec

MIN_REAL_CALIB = 100  # images; fewer is a smoke test, not a calibration


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _holdout_count(holdout: int | float, n: int) -> int:
    if isinstance(holdout, float) and 0 < holdout < 1:
        k = max(1, int(round(holdout * n))) if n >= 2 else 0
    else:
        k = int(holdout)
    return max(0, min(k, n - 1))  # always leave at least one image to calibrate on


@dataclass
class CalibrationSet:
    """Calibration samples (and held-out samples) of one model spec.

    samples / holdout: per image, one float32 NHWC batch-1 array per spec input.
    digest: sha256 over the sorted sha256s of the calibration files.
    """

    spec: ModelSpec
    folder: Path
    paths: list[Path]
    holdout_paths: list[Path]
    samples: list[list[np.ndarray]]
    holdout: list[list[np.ndarray]]
    digest: str
    seed: int = 0
    image_ahash: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # one line per unreadable image

    @classmethod
    def from_folder(cls, folder: str | Path | None, spec: ModelSpec, size: int | None = 200,
                    seed: int = 0, holdout: int | float = 0.2) -> CalibrationSet:
        """Image folder (None: the bundled samples, with a warning) -> CalibrationSet.

        size: calibration images (None or more than available: all); holdout: images (int)
        or fraction (float) kept apart, never used to calibrate; seed: shuffling seed.
        Unreadable images are skipped with a one-line warning each. Raises ValueError for a
        missing folder or a folder without images. The calibration *method* is the
        conversion's (``ConvertOptions.calib_method``), not the photos'.
        """
        bundled = folder is None
        if folder is None:
            from edgecolor.samples import CALIB_DIR

            folder = CALIB_DIR
            _warn(f"calibrating on the {len(list_calibration_images(folder))} bundled sample "
                  f"photos; real calibration needs >= {MIN_REAL_CALIB} images from the "
                  "deployment domain (--calib DIR)")
        folder = Path(folder)
        if not folder.is_dir():
            raise ValueError(f"{folder}: calibration folder not found (pass --calib DIR with "
                             "images from the deployment domain)")
        files = list_calibration_images(folder)
        if not files:
            raise ValueError(f"{folder}: no images in the calibration folder (expected "
                             f"{', '.join(IMAGE_SUFFIXES)} files)")
        order = np.random.default_rng(seed).permutation(len(files))
        shuffled = [files[i] for i in order]
        k = _holdout_count(holdout, len(shuffled))
        held, rest = shuffled[:k], shuffled[k:]
        if size is not None and size > 0:
            rest = rest[:size]

        skipped: list[str] = []

        def load(paths: list[Path]) -> tuple[list[Path], list[list[np.ndarray]], list[str]]:
            kept, arrays, hashes = [], [], []
            for p in paths:
                try:
                    rgb = read_rgb(p)
                except ImageError as e:
                    skipped.append(str(e))
                    _warn(f"{e}; skipped")
                    continue
                kept.append(p)
                arrays.append(spec.make_inputs(lightness(rgb)))
                hashes.append(average_hash(rgb))
            return kept, arrays, hashes

        paths, samples, hashes = load(rest)
        if not samples:
            raise ValueError(f"{folder}: none of the calibration images could be read")
        holdout_paths, holdout_samples, _ = load(held)
        if not bundled and not _is_bundled(folder):  # the bundled set has its own warning
            small = small_set_warning(folder, len(samples), len(holdout_samples))
            if small:
                _warn(small)
        digest = hashlib.sha256(
            "".join(sorted(sha256_file(p) for p in paths)).encode()).hexdigest()
        return cls(spec, folder, paths, holdout_paths, samples, holdout_samples, digest,
                   seed, hashes, skipped)

    def __len__(self) -> int:
        return len(self.samples)

    def info(self) -> dict:
        """Manifest record: folder, size, digest, seed, holdout count, image aHashes (the
        converter adds the method it calibrated with)."""
        return {
            "folder": str(self.folder),
            "size": len(self.samples),
            "digest": self.digest,
            "seed": self.seed,
            "holdout": len(self.holdout),
            "image_ahash": list(self.image_ahash),
            # exact-file match for the benchmark's eval/calibration overlap check
            "image_sha256": sorted(sha256_file(p) for p in self.paths),
        }


def _is_bundled(folder: Path) -> bool:
    from edgecolor.samples import CALIB_DIR

    try:
        return folder.resolve() == Path(CALIB_DIR).resolve()
    except OSError:
        return False


def small_set_warning(folder: str | Path, used: int, held_out: int) -> str | None:
    """-> the warning for a calibration set under :data:`MIN_REAL_CALIB` images (None at or
    above it): how many were used and held out, and what so few risk."""
    if used >= MIN_REAL_CALIB:
        return None
    return (f"{folder}: calibrating on {used} image(s), {held_out} held out for the checks; "
            f"fewer than {MIN_REAL_CALIB} risks int8 ranges that miss the deployment photos' "
            "extremes (clipped, washed-out colors) and a quality check on too few held-out "
            f"images to trust; pass --calib with >= {MIN_REAL_CALIB} deployment photos")


def list_calibration_images(folder: str | Path) -> list[Path]:
    """Image files (by suffix) directly in ``folder``, sorted by name."""
    return sorted(p for p in Path(folder).iterdir()
                  if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
