"""Rolling per-frame timings of the live loop: FPS, capture->display latency, each stage.

Percentiles interpolate linearly between ranks (NumPy's default), as in the benchmark.
Written by the loop's output stage and read by the others (status line, HTTP stats), so
every access holds a lock.
"""

from __future__ import annotations

import threading
from collections import deque

import numpy as np

# pipeline stages timed per frame besides inference: L + model inputs, recombination
# (ab upsample + Lab -> BGR), overlay + outputs
STAGES = ("prep", "post", "out")


def percentile(values, q: float) -> float:
    """q-th percentile (0..100) of a non-empty sequence; NaN when empty."""
    return float(np.percentile(np.asarray(values, np.float64), q)) if len(values) else float("nan")


def _ms(values, q: float) -> float | None:
    """Rounded percentile, None for no data (NaN is not valid JSON)."""
    return round(percentile(values, q), 2) if len(values) else None


class RollingStats:
    """Timings of the last ``window`` frames.

    add(): one frame's capture->display latency (ms), inference time (ms), the
    perf_counter time (s) its output was delivered, and optionally the other stages' ms
    (keys of :data:`STAGES`). Counters of the whole run (frames, dropped, dropped_out,
    corrupt, reconnects) are set by the loop.
    """

    def __init__(self, window: int = 120) -> None:
        self.latency_ms: deque[float] = deque(maxlen=window)
        self.infer_ms: deque[float] = deque(maxlen=window)
        self.t_done: deque[float] = deque(maxlen=window)
        self.stage_ms: dict[str, deque[float]] = {k: deque(maxlen=window) for k in STAGES}
        self.frames = 0
        self.dropped = 0
        self.dropped_out = 0  # inferred frames replaced before the outputs took them (live)
        self.corrupt = 0
        self.reconnects = 0
        self.flicker = 0.0
        self._lock = threading.Lock()

    def add(self, latency_ms: float, infer_ms: float, t_done: float,
            stages: dict[str, float] | None = None) -> None:
        """Record one delivered frame."""
        with self._lock:
            self.latency_ms.append(float(latency_ms))
            self.infer_ms.append(float(infer_ms))
            self.t_done.append(float(t_done))
            for k, v in (stages or {}).items():
                self.stage_ms[k].append(float(v))
            self.frames += 1

    @property
    def fps(self) -> float:
        """Delivered frames per second over the window (0 before two frames)."""
        with self._lock:
            return self._fps()

    def _fps(self) -> float:
        if len(self.t_done) < 2 or self.t_done[-1] <= self.t_done[0]:
            return 0.0
        return (len(self.t_done) - 1) / (self.t_done[-1] - self.t_done[0])

    def snapshot(self) -> dict:
        """JSON-ready dict: fps, latency/inference p50/p90 and each stage's p50 (ms) over the
        window, counters."""
        with self._lock:
            snap = {
                "fps": round(self._fps(), 2),
                "latency_ms_p50": _ms(self.latency_ms, 50),
                "latency_ms_p90": _ms(self.latency_ms, 90),
                "infer_ms_p50": _ms(self.infer_ms, 50),
                "infer_ms_p90": _ms(self.infer_ms, 90),
            }
            for k in STAGES:
                snap[f"{k}_ms_p50"] = _ms(self.stage_ms[k], 50)
            snap.update({
                "frames": self.frames,
                "dropped": self.dropped,
                "dropped_out": self.dropped_out,
                "corrupt": self.corrupt,
                "reconnects": self.reconnects,
                "flicker_ab": round(self.flicker, 3),
            })
            return snap

    def line(self) -> str:
        """One status line, e.g. ``12.3 FPS | latency p50 45.1 ms p90 60.2 ms | ...``."""
        s = {k: (float("nan") if v is None else v) for k, v in self.snapshot().items()}
        return (f"{s['fps']:.1f} FPS | latency p50 {s['latency_ms_p50']:.1f} ms "
                f"p90 {s['latency_ms_p90']:.1f} ms | infer p50 {s['infer_ms_p50']:.1f} ms | "
                f"prep {s['prep_ms_p50']:.1f} post {s['post_ms_p50']:.1f} "
                f"out {s['out_ms_p50']:.1f} ms | "
                f"frames {s['frames']} dropped {s['dropped']}+{s['dropped_out']} "
                f"corrupt {s['corrupt']} reconnects {s['reconnects']}")

    def overlay_lines(self) -> list[str]:
        """Two short lines for drawing on the frame."""
        s = {k: (float("nan") if v is None else v) for k, v in self.snapshot().items()}
        return [f"{s['fps']:.1f} FPS  infer {s['infer_ms_p50']:.0f} ms",
                f"latency {s['latency_ms_p50']:.0f}/{s['latency_ms_p90']:.0f} ms"]
