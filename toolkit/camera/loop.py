"""The live inference loop: newest frame -> L -> model -> smoothed ab -> color -> outputs.

Each frame: BGR -> RGB -> full-resolution L; the model predicts ab at its own size (the
same steps as edgecolor.pipeline.predict_ab, split so the runner alone is timed); ab is
smoothed over time, recombined with the full-resolution L, optionally overlaid with the
rolling stats, and sent to every output (window, HTTP stream, recording). Latency is from
the moment the capture thread read the frame to the moment the last output got it.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from edgecolor.camera.capture import FrameGrabber
from edgecolor.camera.smoothing import AbSmoother, FlickerMeter
from edgecolor.camera.stats import RollingStats, percentile
from edgecolor.color import combine, lightness


@dataclass
class Colorized:
    """One colorized frame: BGR uint8 output, raw and smoothed ab (model res), inference ms."""

    bgr: np.ndarray
    ab_raw: np.ndarray
    ab: np.ndarray
    infer_ms: float


def colorize_frame(runner, bgr: np.ndarray, smoother: AbSmoother | None = None) -> Colorized:
    """BGR uint8 frame (H, W, 3) -> :class:`Colorized` at the frame's full resolution.

    The frame's own L is kept; only ab comes from the model (smoothed when a smoother is
    given). infer_ms times ``runner.infer`` alone (ms).
    """
    l_full = lightness(np.ascontiguousarray(bgr[..., ::-1]))
    spec = runner.spec
    inputs = spec.make_inputs(l_full)
    t0 = time.perf_counter()
    y = runner.infer(inputs)
    infer_ms = (time.perf_counter() - t0) * 1000.0
    ab_raw = spec.decode(y)
    ab = smoother(l_full, ab_raw) if smoother is not None else ab_raw
    rgb = combine(l_full, ab)
    out = np.round(rgb[..., ::-1] * 255.0).astype(np.uint8)
    return Colorized(out, ab_raw, ab, infer_ms)


def warm_up(runner) -> None:
    """Activate the runner and run one inference on a flat gray frame (not timed)."""
    h, w = runner.spec.input_size
    runner.infer(runner.spec.make_inputs(np.full((h, w), 50.0, np.float32)))


def draw_overlay(bgr: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """Draw text lines (white with a dark outline) on the top-left of a BGR frame, in place."""
    h = bgr.shape[0]
    scale = max(0.3, min(1.0, h / 720.0))
    step = int(26 * scale) + 4
    for i, text in enumerate(lines):
        org = (4, step * (i + 1))
        cv2.putText(bgr, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.putText(bgr, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return bgr


@dataclass
class LoopResult:
    """How a run went: frames delivered, why it ended, every frame's timings (ms)."""

    frames: int
    reason: str
    lost: bool = False  # a live source was given up on
    latency_ms: list[float] = field(default_factory=list)
    infer_ms: list[float] = field(default_factory=list)
    t_done: list[float] = field(default_factory=list)
    flicker_raw: float = 0.0  # mean |d ab| between consecutive raw predictions
    flicker_out: float = 0.0  # the same after smoothing
    stats: dict = field(default_factory=dict)

    @property
    def fps(self) -> float:
        """End-to-end frames per second over the run (0 for fewer than two frames)."""
        if len(self.t_done) < 2 or self.t_done[-1] <= self.t_done[0]:
            return 0.0
        return (len(self.t_done) - 1) / (self.t_done[-1] - self.t_done[0])

    def summary(self) -> dict:
        """JSON-ready: frames, fps, latency p50/p90 and inference p50 (ms), counters, flicker."""
        return {
            "frames": self.frames,
            "fps": round(self.fps, 2),
            "latency_ms_p50": round(percentile(self.latency_ms, 50), 2) if self.frames else None,
            "latency_ms_p90": round(percentile(self.latency_ms, 90), 2) if self.frames else None,
            "infer_ms_p50": round(percentile(self.infer_ms, 50), 2) if self.frames else None,
            "dropped": self.stats.get("dropped", 0),
            "corrupt": self.stats.get("corrupt", 0),
            "reconnects": self.stats.get("reconnects", 0),
            "flicker_raw": round(self.flicker_raw, 3),
            "flicker_out": round(self.flicker_out, 3),
            "end": self.reason,
        }


class CameraLoop:
    """Runs the live loop until the source ends, a limit is reached or ``stop_event`` is set.

    runner: any edgecolor runner; grabber: a FrameGrabber (started here if not yet);
    sinks: outputs with ``send(bgr, stats)`` and ``close()``; smoother: AbSmoother or None;
    max_frames / duration_s: limits; max_fps: at most this many frames per second;
    overlay: draw the rolling stats on the frames; log_every_s: print the status line
    this often (seconds, 0 = never) through ``log``.
    """

    def __init__(self, runner, grabber: FrameGrabber, sinks: Sequence = (),
                 smoother: AbSmoother | None = None, max_frames: int | None = None,
                 duration_s: float | None = None, max_fps: float | None = None,
                 overlay: bool = True, log_every_s: float = 5.0,
                 log: Callable[[str], None] | None = None,
                 stop_event: threading.Event | None = None, window: int = 120) -> None:
        self.runner = runner
        self.grabber = grabber
        self.sinks = list(sinks)
        self._had_sinks = bool(self.sinks)
        self.smoother = smoother
        self.max_frames = max_frames
        self.duration_s = duration_s
        self.max_fps = max_fps
        self.overlay = overlay
        self.log_every_s = log_every_s
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))
        self.stop_event = stop_event or threading.Event()
        self.stats = RollingStats(window)

    def run(self) -> LoopResult:
        """Warm up, start capture, loop; always stops capture and closes every output."""
        result = LoopResult(0, "stopped")
        try:
            warm_up(self.runner)
            if not self.grabber.started:
                self.grabber.start()
            result.reason = self._loop(result)
        finally:
            self.grabber.stop()
            self._sync_counters()
            for sink in self.sinks:
                try:
                    sink.close()
                except Exception as e:  # one failing output must not lose the others
                    self.log(f"warning: closing {type(sink).__name__} failed: {e}")
        result.lost = self.grabber.lost
        result.stats = self.stats.snapshot()
        return result

    def _send(self, sink, bgr: np.ndarray, snapshot: dict) -> None:
        """Deliver to one output; one that fails is closed and dropped, the others go on."""
        try:
            sink.send(bgr, snapshot)
        except Exception as e:
            self.log(f"warning: {type(sink).__name__} failed ({e}); it is closed, "
                     "the other outputs go on")
            self.sinks.remove(sink)
            try:
                sink.close()
            except Exception:
                pass

    def _sync_counters(self) -> None:
        g = self.grabber
        self.stats.dropped, self.stats.corrupt, self.stats.reconnects = (
            g.dropped, g.corrupt, g.reconnects)

    def _loop(self, result: LoopResult) -> str:
        t_start = time.perf_counter()
        next_log = t_start + self.log_every_s if self.log_every_s else None
        min_period = 1.0 / self.max_fps if self.max_fps else 0.0
        flicker_raw, flicker_out = FlickerMeter(), FlickerMeter()
        while True:
            if self.stop_event.is_set():
                return "stopped"
            if self.max_frames is not None and result.frames >= self.max_frames:
                return "max frames"
            if self.duration_s is not None and time.perf_counter() - t_start >= self.duration_s:
                return "duration"
            if any(getattr(s, "closed", False) for s in self.sinks):
                return "window closed"
            frame = self.grabber.get(timeout=0.25)
            t_taken = time.perf_counter()
            if frame is None:
                if self.grabber.ended:
                    return self.grabber.end_reason or "source ended"
                continue
            out = colorize_frame(self.runner, frame.image, self.smoother)
            flicker_raw.update(out.ab_raw)
            flicker_out.update(out.ab)
            self.stats.flicker = flicker_out.value
            self._sync_counters()
            if self.overlay:
                draw_overlay(out.bgr, self.stats.overlay_lines())
            snapshot = self.stats.snapshot()
            for sink in list(self.sinks):
                self._send(sink, out.bgr, snapshot)
            if not self.sinks and self._had_sinks:
                return "every output failed"
            t_done = time.perf_counter()
            latency_ms = (t_done - frame.t_capture) * 1000.0
            self.stats.add(latency_ms, out.infer_ms, t_done)
            result.frames += 1
            result.latency_ms.append(latency_ms)
            result.infer_ms.append(out.infer_ms)
            result.t_done.append(t_done)
            result.flicker_raw, result.flicker_out = flicker_raw.value, flicker_out.value
            if next_log is not None and t_done >= next_log:
                self.log(self.stats.line())
                next_log = t_done + self.log_every_s
            if min_period:
                wait = min_period - (time.perf_counter() - t_taken)
                if wait > 0 and self.stop_event.wait(wait):
                    return "stopped"
