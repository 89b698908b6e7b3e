"""Reading and writing photos: EXIF orientation, 8/16-bit, gray, alpha; atomic writes.

Arrays are in RGB(A) order (OpenCV's BGR stays inside this module).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class ImageError(ValueError):
    """An input that is not a readable image; the message names the file and the fix."""


def _bgr_to_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3 and img.shape[-1] == 3:
        return img[..., ::-1].copy()
    if img.ndim == 3 and img.shape[-1] == 4:
        return img[..., [2, 1, 0, 3]].copy()
    return img


def _truncated_jpeg(data: bytes) -> bool:
    return data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00")[-2:] == b"\xff\xd9"


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file -> array (H, W) gray or (H, W, 3|4) RGB(A), uint8/uint16.

    EXIF orientation is applied. Raises :class:`ImageError` for a missing, truncated or
    non-image file.
    """
    p = Path(path)
    if not p.is_file():
        raise ImageError(f"{p}: no such file (check the path)")
    data = p.read_bytes()
    if _truncated_jpeg(data):
        raise ImageError(f"{p}: truncated JPEG (the file is incomplete; re-export or re-copy it)")
    buf = np.frombuffer(data, np.uint8)
    if data[:2] == b"\xff\xd8":  # JPEG: no alpha, may carry EXIF orientation
        img = cv2.imdecode(buf, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    else:
        img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageError(f"{p}: not a readable image (expected JPEG/PNG/BMP/TIFF/WebP)")
    if img.dtype not in (np.uint8, np.uint16):
        img = np.clip(img, 0, 1) if img.dtype.kind == "f" else img.astype(np.uint16)
    return _bgr_to_rgb(img)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file -> RGB uint8 (H, W, 3) (alpha dropped, gray expanded, 16-bit scaled)."""
    img = read_image(path)
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    if img.dtype == np.uint16:
        img = (img // 257).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return img


def encode_image(image: np.ndarray, suffix: str) -> bytes:
    """RGB(A)/gray array -> encoded bytes for a file suffix (".jpg", ".png", ...)."""
    img = image
    if img.ndim == 3 and img.shape[-1] == 3:
        img = img[..., ::-1]
    elif img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., [2, 1, 0, 3]]
    if suffix.lower() in (".jpg", ".jpeg") and img.dtype != np.uint8:
        img = (img // 257).astype(np.uint8)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(suffix, np.ascontiguousarray(img), params)
    if not ok:
        raise ImageError(f"cannot encode an image as {suffix}")
    return buf.tobytes()


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes to ``path`` via a temp file in the same folder + rename: never a partial file."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual mode
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Encode by the path's suffix and write atomically."""
    atomic_write_bytes(path, encode_image(image, Path(path).suffix or ".png"))


def list_images(inputs: list[str] | tuple[str, ...]) -> tuple[list[Path], list[str]]:
    """Files, folders and globs -> (image paths sorted per input, error lines for missing inputs).

    Folders contribute their image files (by suffix, not recursive); globs are expanded.
    """
    import glob

    found: list[Path] = []
    errors: list[str] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found += sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.exists():
            found.append(p)
        elif any(c in item for c in "*?["):
            hits = sorted(Path(h) for h in glob.glob(item) if Path(h).is_file())
            if not hits:
                errors.append(f"{item}: no file matches this pattern")
            found += hits
        else:
            errors.append(f"{item}: no such file or folder (check the path)")
    return found, errors
