"""The photos bundled with the package (Kodak, unrestricted use): see data/samples/SOURCES.md."""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).parent / "data" / "samples"
CALIB_DIR = SAMPLES_DIR / "calib"
EVAL_DIR = SAMPLES_DIR / "eval"


def sample_images(role: str = "eval") -> list[Path]:
    """Paths of the bundled photos of a role ("calib" or "eval"), sorted."""
    folder = {"calib": CALIB_DIR, "eval": EVAL_DIR}[role]
    return sorted(folder.glob("*.jpg"))
