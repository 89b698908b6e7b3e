"""Row bands (edgecolor.bands): every banded call gives the whole-frame call's exact bytes,
bands run on more than one thread, and pipelined engines keep frames whole."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest

from edgecolor import bands
from edgecolor.color_u8 import lab_to_rgb_u8, lightness_u8


def test_band_edges_cover_the_rows_on_aligned_cuts():
    assert bands.band_edges(480, 2) == [0, 240, 480]
    assert bands.band_edges(7, 3) == [0, 2, 5, 7]
    edges = bands.band_edges(256, 3, align=8)
    assert edges[0] == 0 and edges[-1] == 256 and all(e % 8 == 0 for e in edges)
    assert edges == sorted(set(edges))
    assert bands.band_edges(5, 4, align=8) == [0, 5]  # no aligned cut inside: one band


@pytest.mark.parametrize("threads", ["2", "3"])
def test_banded_color_path_is_bit_identical_to_whole_frames(threads, monkeypatch, rng):
    h, w = 487, 613  # odd sizes, above MIN_PIXELS
    assert h * w >= bands.MIN_PIXELS
    rgb = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    ab = rng.uniform(-110, 110, (61, 77, 2)).astype(np.float32)
    monkeypatch.setenv(bands.ENV, "1")
    l_whole = lightness_u8(rgb, "bgr")
    out_whole = lab_to_rgb_u8(l_whole, ab)
    monkeypatch.setenv(bands.ENV, threads)
    l_bands = lightness_u8(rgb, "bgr")
    assert np.array_equal(l_bands, l_whole)
    assert np.array_equal(lab_to_rgb_u8(l_bands, ab), out_whole)


@pytest.mark.parametrize("src_hw, dst_wh", [((480, 640), (256, 256)), ((500, 500), (256, 256)),
                                            ((1080, 1920), (224, 224)), ((333, 517), (256, 256)),
                                            ((100, 100), (256, 256))])
def test_banded_area_resize_equals_one_call(src_hw, dst_wh, monkeypatch, rng):
    """Cut only where source and output rows line up (480 -> 256 at 240 / 128), never for
    an upscale or a size with no such cut (333 -> 256): always cv2's exact result."""
    plane = rng.uniform(0, 100, src_hw).astype(np.float32)
    monkeypatch.setenv(bands.ENV, "2")
    expected = cv2.resize(plane, dst_wh, interpolation=cv2.INTER_AREA)
    assert np.array_equal(bands.resize_area(plane, dst_wh), expected)


def test_large_frames_run_on_two_threads_small_and_pipelined_ones_whole(monkeypatch):
    monkeypatch.setenv(bands.ENV, "2")
    seen: list[tuple[int, int, str]] = []
    lock = threading.Lock()

    def record(y0: int, y1: int) -> None:
        with lock:
            seen.append((y0, y1, threading.current_thread().name))

    bands.run_in_bands(record, 480, 480 * 640)
    assert sorted((a, b) for a, b, _ in seen) == [(0, 240), (240, 480)]
    assert len({name for *_, name in seen}) == 2  # the caller and a pool thread
    seen.clear()
    bands.run_in_bands(record, 256, 256 * 256)  # below MIN_PIXELS
    assert [(a, b) for a, b, _ in seen] == [(0, 256)]
    seen.clear()
    with bands.pipelined():
        bands.run_in_bands(record, 480, 480 * 640)
    assert [(a, b) for a, b, _ in seen] == [(0, 480)]
    seen.clear()
    bands.run_in_bands(record, 480, 480 * 640)  # banding is back after the engine ends
    assert len(seen) == 2


def test_a_band_that_fails_raises_after_every_band_ends(monkeypatch):
    monkeypatch.setenv(bands.ENV, "2")
    done = []

    def fn(y0: int, y1: int) -> None:
        if y0 > 0:
            raise MemoryError("band")
        done.append(y0)

    with pytest.raises(MemoryError):
        bands.run_in_bands(fn, 480, 480 * 640)
    assert done == [0]


def test_bad_thread_setting_is_one_clear_error(monkeypatch):
    monkeypatch.setenv(bands.ENV, "many")
    with pytest.raises(ValueError, match="EDGECOLOR_HOST_THREADS='many': give a whole number"):
        bands.host_threads()
    monkeypatch.setenv(bands.ENV, "0")
    assert bands.host_threads() == 1
