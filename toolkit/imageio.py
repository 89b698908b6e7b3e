"""Reading and writing photos: EXIF orientation, 8/16-bit, gray, alpha; atomic writes.

Arrays are in RGB(A) order (OpenCV's BGR stays inside this module).

Hostile or broken files are refused before any large allocation: the pixel count is read
from the file's header (PNG, JPEG, BMP, WebP, TIFF; other formats by OpenCV's own limit, set
to the same cap) and compared with :func:`max_pixels` (default 50 MP,
``EDGECOLOR_MAX_PIXELS`` raises it); empty files, folders, truncated JPEGs (also those with
an end marker appended) raise :class:`ImageError` naming the file and the fix.
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
import tempfile
import threading
from pathlib import Path

import cv2
import numpy as np

DEFAULT_MAX_PIXELS = 50_000_000
MAX_PIXELS_ENV = "EDGECOLOR_MAX_PIXELS"

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

_max_pixels_override: int | None = None
_STDERR_LOCK = threading.Lock()  # one capture of fd 2 at a time


class ImageError(ValueError):
    """An input that is not a readable image; the message names the file and the fix."""


def max_pixels() -> int:
    """The largest photo (width x height) read: :func:`set_max_pixels`, else
    ``$EDGECOLOR_MAX_PIXELS``, else 50 MP (:data:`DEFAULT_MAX_PIXELS`)."""
    if _max_pixels_override is not None:
        return _max_pixels_override
    text = os.environ.get(MAX_PIXELS_ENV, "").strip().replace("_", "")
    return int(text) if text.isdigit() and int(text) > 0 else DEFAULT_MAX_PIXELS


def set_max_pixels(value: int | None) -> None:
    """Raise (or lower) the pixel cap for this process; None: back to the default/env."""
    global _max_pixels_override
    _max_pixels_override = int(value) if value else None


# OpenCV's own guard for the formats this module does not parse: the same cap, set before
# the first decode (OpenCV reads it once, on first use)
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(max_pixels()))
if "OPENCV_LOG_LEVEL" not in os.environ:  # a broken file is reported by ImageError, once:
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_FATAL)  # not by codec logs too


def _bgr_to_rgb(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3 and img.shape[-1] == 3:
        return img[..., ::-1].copy()
    if img.ndim == 3 and img.shape[-1] == 4:
        return img[..., [2, 1, 0, 3]].copy()
    return img


# -- headers: (width, height) without decoding ------------------------------------------------

# in entropy-coded data FF is followed by 00 (stuffing), D0-D7 (restarts) or FF (fill)
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg_walk(data: bytes) -> tuple[tuple[int, int] | None, bool]:
    """JPEG marker walk -> ((width, height) of the first SOF or None, reached EOI).

    Segments are skipped by their length; entropy-coded data is skipped to the next marker
    (``FF00`` stuffing and restart markers are data). Data after EOI is ignored (phones
    append trailers there).
    """
    size, pos, n = None, 2, len(data)
    while pos + 2 <= n:
        if data[pos] != 0xFF:
            return size, False
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            return size, True
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            pos += 2
            continue
        if pos + 4 > n:
            return size, False
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if length < 2:
            return size, False
        if marker in _SOF and size is None and pos + 9 <= n:
            h, w = struct.unpack(">HH", data[pos + 5:pos + 9])
            size = (w, h)
        pos += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next real marker
            m = _SCAN_END.search(data, pos)
            if m is None:
                return size, False
            pos = m.start()
    return size, False


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    end = {b"II": "<", b"MM": ">"}.get(data[:2])
    if end is None or len(data) < 8:
        return None
    (magic,) = struct.unpack(end + "H", data[2:4])
    if magic != 42:
        return None
    (ifd,) = struct.unpack(end + "I", data[4:8])
    if ifd + 2 > len(data):
        return None
    (count,) = struct.unpack(end + "H", data[ifd:ifd + 2])
    dims = {}
    for i in range(min(count, 4096)):
        at = ifd + 2 + 12 * i
        if at + 12 > len(data):
            break
        tag, typ, _ = struct.unpack(end + "HHI", data[at:at + 8])
        if tag in (256, 257):
            fmt = end + ("H" if typ == 3 else "I")
            dims[tag] = struct.unpack(fmt, data[at + 8:at + 8 + struct.calcsize(fmt)])[0]
    return (dims[256], dims[257]) if 256 in dims and 257 in dims else None


def image_size(data: bytes) -> tuple[int, int] | None:
    """Encoded image bytes -> (width, height) from the header, or None when the format is
    not one parsed here (PNG, JPEG, BMP, WebP, TIFF) or the header is cut short."""
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
            return struct.unpack(">II", data[16:24])
        if data[:2] == b"\xff\xd8":
            return _jpeg_walk(data)[0]
        if data[:2] == b"BM" and len(data) >= 26:
            (dib,) = struct.unpack("<I", data[14:18])
            if dib == 12:
                return struct.unpack("<HH", data[18:22])
            w, h = struct.unpack("<ii", data[18:26])
            return abs(w), abs(h)
        if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
            kind = data[12:16]
            if kind == b"VP8X":
                w = int.from_bytes(data[24:27], "little") + 1
                h = int.from_bytes(data[27:30], "little") + 1
                return w, h
            if kind == b"VP8L":
                bits = int.from_bytes(data[21:25], "little")
                return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
            if kind == b"VP8 ":
                w, h = struct.unpack("<HH", data[26:30])
                return w & 0x3FFF, h & 0x3FFF
        if data[:2] in (b"II", b"MM"):
            return _tiff_size(data)
    except struct.error:
        return None
    return None


def _check_pixels(p: Path, size: tuple[int, int] | None) -> None:
    if size is None:
        return
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"{p}: declares a {w}x{h} image (a broken header; re-export it)")
    cap = max_pixels()
    if w * h > cap:
        raise ImageError(f"{p}: {w}x{h} = {w * h / 1e6:.1f} MP is above the {cap / 1e6:g} MP "
                         f"limit (refused before decoding); downscale it, or raise the limit "
                         f"with {MAX_PIXELS_ENV}={w * h}")


def _jpeg_gray_tail(img: np.ndarray) -> bool:
    """True when the last 8x8 block is exactly mid-gray: what libjpeg fills in after the
    data ran out (an intact photo almost never is)."""
    block = img[-8:, -8:]
    return block.size > 0 and bool((block == 128).all())


def _jpeg_premature_end(buf: np.ndarray) -> bool:
    """Decode again with libjpeg's warnings captured -> True if it reported that the data
    ended early. Only run for a suspicious photo (a gray tail after a complete marker walk).
    """
    import sys

    with _STDERR_LOCK, tempfile.TemporaryFile() as cap:
        sys.stderr.flush()
        saved = os.dup(2)
        try:
            os.dup2(cap.fileno(), 2)
            cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        cap.seek(0)
        text = cap.read().decode("latin-1", "replace")
    lines = text.splitlines()
    hit = [ln for ln in lines if "premature end" in ln.lower()]
    rest = [ln for ln in lines if ln not in hit]
    if rest:  # not ours: give other output back
        sys.stderr.write("\n".join(rest) + "\n")
    return bool(hit)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Decode an image file -> array (H, W) gray or (H, W, 3|4) RGB(A), uint8/uint16.

    EXIF orientation is applied. Raises :class:`ImageError` (one line: the file and the fix)
    for a missing, empty, truncated or non-image file, a folder, or a photo above
    :func:`max_pixels` (checked from the header, before decoding).
    """
    p = Path(path)
    if p.is_dir():
        raise ImageError(f"{p}: is a folder, not an image (pass the folder itself to take "
                         "the photos in it)")
    if not p.is_file():
        raise ImageError(f"{p}: no such file (check the path)")
    cap = max_pixels()
    try:
        size = p.stat().st_size
        if size == 0:
            raise ImageError(f"{p}: empty file (0 bytes; re-export or re-copy it)")
        if size > cap * 8 + (64 << 20):  # more bytes than any photo under the cap
            raise ImageError(f"{p}: {size / 2**20:.0f} MiB is more than a photo under the "
                             f"{cap / 1e6:g} MP limit can take; raise {MAX_PIXELS_ENV} if it "
                             "is one")
        data = p.read_bytes()
    except OSError as e:
        raise ImageError(f"{p}: cannot read it ({e.strerror or type(e).__name__})") from e
    is_jpeg = data[:2] == b"\xff\xd8"
    if is_jpeg:
        dims, complete = _jpeg_walk(data)
        if not complete:
            raise ImageError(f"{p}: truncated JPEG (the file is incomplete; re-export or "
                             "re-copy it)")
        _check_pixels(p, dims)
    else:
        _check_pixels(p, image_size(data))
    buf = np.frombuffer(data, np.uint8)
    try:
        if is_jpeg:  # JPEG: no alpha, may carry EXIF orientation
            img = cv2.imdecode(buf, cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
        else:
            img = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as e:
        raise ImageError(f"{p}: OpenCV cannot decode it ({str(e).strip().splitlines()[-1]}); "
                         f"re-export it as JPEG/PNG (limit: {cap / 1e6:g} MP, "
                         f"{MAX_PIXELS_ENV})") from e
    if img is None or img.size == 0:
        raise ImageError(f"{p}: not a readable image (expected JPEG/PNG/BMP/TIFF/WebP)")
    if img.shape[0] * img.shape[1] > cap:
        raise ImageError(f"{p}: {img.shape[1]}x{img.shape[0]} is above the {cap / 1e6:g} MP "
                         f"limit; downscale it, or raise {MAX_PIXELS_ENV}")
    if is_jpeg and _jpeg_gray_tail(img) and _jpeg_premature_end(buf):
        raise ImageError(f"{p}: truncated JPEG (its data ends early and an end marker was "
                         "added; re-export or re-copy it)")
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
    # the temp name has a fixed length (a hash of the name): a 250-byte file name still fits
    tag = hashlib.sha1(p.name.encode("utf-8", "surrogateescape")).hexdigest()[:12]
    fd, tmp = tempfile.mkstemp(prefix=f".{tag}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the usual mode
        os.replace(tmp, p)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.filename is None:  # name the file (a full disk)
            raise OSError(e.errno, e.strerror, str(p)) from e
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
        if p.is_dir():  # its image files (a sub-folder named x.jpg is not one)
            found += sorted(f for f in p.iterdir()
                            if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
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
