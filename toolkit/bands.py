"""One frame's host-side work split into row bands that run on every core at once.

The 8-bit color path (:mod:`edgecolor.color_u8`) and the model-input resize are chains of
OpenCV/numpy calls, several of them single-threaded. A frame cut into horizontal bands, one
per core, runs those calls side by side (both libraries release the GIL): the caller's
thread takes one band, a small shared pool the others. Each band gives exactly the rows the
whole-frame call would (the operations are per pixel, or, for the area resize, cut where
the source and output rows line up), so the output is bit-identical.

Measured on a 2-core Xeon (``benchmarks/e2e.py``): the host side at 640x480 went from
4.0 to 2.9 ms, at 1920x1080 from 27 to 19 ms. Small frames stay whole (the hand-off costs
more than it saves). Engines that already overlap stages on every core (the camera loop,
the folder engine) run inside :func:`pipelined`, which keeps frames whole while any of them
runs: there, bands only fight the other stages for the cores (measured: camera at 1280x720
48 FPS with bands vs 57-61 without, folder 100-106 vs 113-114 images/s).
``EDGECOLOR_HOST_THREADS=1`` turns banding off; N > 1 caps the bands (default: the CPU
count, at most 4).
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import cv2
import numpy as np

# frames below this many pixels run whole: two threads' hand-off (~20-40 us) costs more
# than it saves there (256x256: measured no gain)
MIN_PIXELS = 120_000
ENV = "EDGECOLOR_HOST_THREADS"

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_pipelined = 0  # engines running that overlap their own stages (guarded by _pool_lock)


@contextmanager
def pipelined() -> Iterator[None]:
    """While inside (any thread), frames are processed whole: for engines whose stages
    already run side by side on every core (camera loop, folder engine)."""
    global _pipelined
    with _pool_lock:
        _pipelined += 1
    try:
        yield
    finally:
        with _pool_lock:
            _pipelined -= 1


def host_threads() -> int:
    """Bands per frame: ``EDGECOLOR_HOST_THREADS`` if set (>= 1), else the CPU count, at
    most 4."""
    value = os.environ.get(ENV, "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(f"{ENV}={value!r}: give a whole number of threads (1 turns "
                             "banding off)") from None
    return max(1, min(4, os.cpu_count() or 1))


def _shared_pool(workers: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < workers:  # grows, never shrinks
            _pool, _pool_size = ThreadPoolExecutor(
                workers, thread_name_prefix="edgecolor-band"), workers
        return _pool


def band_edges(rows: int, bands: int, align: int = 1) -> list[int]:
    """Row indices 0 = e0 < e1 < ... = rows cutting ``rows`` into at most ``bands`` nearly
    equal bands whose inner edges are multiples of ``align``."""
    edges = [0]
    for k in range(1, bands):
        edge = round(rows * k / bands / align) * align
        if edges[-1] < edge < rows:
            edges.append(edge)
    return edges + [rows]


def run_in_bands(fn: Callable[[int, int], None], rows: int, pixels: int,
                 align: int = 1) -> None:
    """Call ``fn(y0, y1)`` for row bands covering 0..rows: all at once (caller + pool) when
    the frame has at least MIN_PIXELS pixels and more than one band is allowed, else one
    call ``fn(0, rows)`` (also while a :func:`pipelined` engine runs). ``fn`` writes its
    rows of a preallocated output."""
    bands = host_threads() if pixels >= MIN_PIXELS and not _pipelined else 1
    edges = band_edges(rows, bands, align) if bands > 1 else [0, rows]
    if len(edges) <= 2:
        fn(0, rows)
        return
    pool = _shared_pool(len(edges) - 2)
    futures = [pool.submit(fn, a, b) for a, b in zip(edges[1:-1], edges[2:], strict=True)]
    try:
        fn(edges[0], edges[1])
    finally:
        for f in futures:
            f.result()


def resize_area(plane: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """float32 plane (H, W) -> (h, w) with ``cv2.INTER_AREA``, bit-identical to one call.

    A downscale is cut into bands only where an output row boundary falls on a source row
    boundary (k * H / h whole), so each band averages exactly the source rows it would.
    """
    w, h = size_wh
    rows, cols = plane.shape[:2]
    step = h // math.gcd(rows, h)  # output rows between aligned cuts
    if rows < h or cols < w or step >= h:
        return cv2.resize(plane, (w, h), interpolation=cv2.INTER_AREA)
    out = np.empty((h, w) + plane.shape[2:], plane.dtype)

    def band(y0: int, y1: int) -> None:
        src = plane[y0 * rows // h:y1 * rows // h]
        out[y0:y1] = cv2.resize(src, (w, y1 - y0), interpolation=cv2.INTER_AREA).reshape(
            out[y0:y1].shape)

    run_in_bands(band, h, rows * cols, align=step)
    return out
