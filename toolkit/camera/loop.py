"""The live loop, pipelined: capture -> inference -> recombine + outputs, each on its own thread.

Stages (so on 2 cores the model and the host work overlap):

1. *capture* (edgecolor.camera.capture.FrameGrabber's thread): read + decode; live
   sources keep only the newest frame.
2. *inference* (the thread that calls :meth:`CameraLoop.run`): BGR -> full-resolution L
   (edgecolor.color_u8), the spec's model inputs, ``runner.infer``, decode, temporal
   smoothing of ab.
3. *output* (its own thread): ab upsample + Lab -> BGR uint8 (edgecolor.color_u8), the
   stats overlay on the frames for viewing, every output (window, HTTP stream, recording).

Between 2 and 3 a hand-off: for a live source it holds only the newest job (a slow output,
e.g. a browser or a full disk, never stalls inference; replaced jobs are counted as
``dropped_out``); for a file it is a short lossless queue (every frame is delivered and
recorded). Latency is from the moment the capture thread read the frame to the moment the
last output got it. Recordings are clean by default; the overlay goes to the viewing outputs
(a sink with ``wants_overlay = True`` gets it too).
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from edgecolor.bands import pipelined
from edgecolor.camera.capture import Frame, FrameGrabber
from edgecolor.camera.recorder import Recorder
from edgecolor.camera.smoothing import AbSmoother, FlickerMeter
from edgecolor.camera.stats import RollingStats, percentile
from edgecolor.color_u8 import lab_to_rgb_u8, lightness_u8


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
    given). infer_ms times ``runner.infer`` alone (ms). One stage after the other (the loop
    runs the same steps split over two threads).
    """
    job = _infer(runner, Frame(bgr, 0, time.perf_counter()), smoother)
    return Colorized(lab_to_rgb_u8(job.l_full, job.ab, "bgr"), job.ab_raw, job.ab, job.infer_ms)


@dataclass
class _Job:
    """Inference -> output hand-off: the frame's L, its (smoothed) ab, stage times (ms)."""

    frame: Frame
    l_full: np.ndarray
    ab_raw: np.ndarray
    ab: np.ndarray
    prep_ms: float
    infer_ms: float


def _infer(runner, frame: Frame, smoother: AbSmoother | None) -> _Job:
    t0 = time.perf_counter()
    l_full = lightness_u8(frame.image, "bgr")
    spec = runner.spec
    inputs = spec.make_inputs(l_full)
    t1 = time.perf_counter()
    y = runner.infer(inputs)
    t2 = time.perf_counter()
    ab_raw = spec.decode(y)
    ab = smoother(l_full, ab_raw) if smoother is not None else ab_raw
    return _Job(frame, l_full, ab_raw, ab, (t1 - t0) * 1000.0, (t2 - t1) * 1000.0)


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


def wants_overlay(sink) -> bool:
    """Whether an output shows the stats overlay: viewing outputs yes, recordings no
    (unless the sink says ``wants_overlay = True``, e.g. ``camera --record-overlay``)."""
    return bool(getattr(sink, "wants_overlay", not isinstance(sink, Recorder)))


@dataclass
class LoopResult:
    """How a run went: frames delivered, why it ended, every frame's timings (ms)."""

    frames: int
    reason: str
    lost: bool = False  # a live source was given up on
    latency_ms: list[float] = field(default_factory=list)
    infer_ms: list[float] = field(default_factory=list)
    prep_ms: list[float] = field(default_factory=list)  # L + model inputs
    post_ms: list[float] = field(default_factory=list)  # recombine (ab upsample, Lab -> BGR)
    out_ms: list[float] = field(default_factory=list)  # overlay + every output
    t_done: list[float] = field(default_factory=list)
    inferred: int = 0  # frames through inference (live: more than delivered when outputs lag)
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
        """JSON-ready: frames, fps, latency p50/p90 and per-stage p50 (ms), counters, flicker."""
        def p50(values):
            return round(percentile(values, 50), 2) if values else None

        return {
            "frames": self.frames,
            "fps": round(self.fps, 2),
            "latency_ms_p50": p50(self.latency_ms),
            "latency_ms_p90": round(percentile(self.latency_ms, 90), 2) if self.frames else None,
            "infer_ms_p50": p50(self.infer_ms),
            "prep_ms_p50": p50(self.prep_ms),
            "post_ms_p50": p50(self.post_ms),
            "out_ms_p50": p50(self.out_ms),
            "inferred": self.inferred,
            "dropped": self.stats.get("dropped", 0),
            "dropped_out": self.stats.get("dropped_out", 0),
            "corrupt": self.stats.get("corrupt", 0),
            "reconnects": self.stats.get("reconnects", 0),
            "flicker_raw": round(self.flicker_raw, 3),
            "flicker_out": round(self.flicker_out, 3),
            "end": self.reason,
        }


class _Handoff:
    """Inference -> output: newest-only (live) or a lossless queue of ``depth`` (files)."""

    def __init__(self, lossless: bool, depth: int = 2) -> None:
        self.lossless = lossless
        self.depth = depth
        self.items: deque[_Job] = deque()
        self.cond = threading.Condition()
        self.closed = False
        self.replaced = 0

    def put(self, job: _Job, halt: threading.Event) -> None:
        with self.cond:
            if self.lossless:
                while len(self.items) >= self.depth and not halt.is_set():
                    self.cond.wait(0.1)
            elif self.items:
                self.items.clear()
                self.replaced += 1
            self.items.append(job)
            self.cond.notify_all()

    def get(self) -> _Job | None:
        """The next job, or None once closed and empty."""
        with self.cond:
            while not self.items and not self.closed:
                self.cond.wait(0.1)
            job = self.items.popleft() if self.items else None
            self.cond.notify_all()
            return job

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()


class CameraLoop:
    """Runs the live loop until the source ends, a limit is reached or ``stop_event`` is set.

    runner: any edgecolor runner (called from the inference stage only); grabber: a
    FrameGrabber (started here if not yet); sinks: outputs with ``send(bgr, stats)`` and
    ``close()``; smoother: AbSmoother or None; max_frames / duration_s: limits; max_fps: at
    most this many frames per second; overlay: draw the rolling stats on the frames of the
    viewing outputs (see :func:`wants_overlay`); log_every_s: print the status line this
    often (seconds, 0 = never) through ``log``.
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
        self._halt = threading.Event()  # the output stage ended the run
        self._halt_reason: str | None = None

    def run(self) -> LoopResult:
        """Warm up, start capture and the output stage, loop; always stops capture and
        closes every output."""
        result = LoopResult(0, "stopped")
        handoff = _Handoff(lossless=not self.grabber.source.live)
        out_thread = threading.Thread(target=self._output_stage, args=(handoff, result),
                                      name="edgecolor-output", daemon=True)
        errors: list[BaseException] = []
        self._out_errors = errors
        try:
            warm_up(self.runner)
            if not self.grabber.started:
                self.grabber.start()
            out_thread.start()
            with pipelined():  # the stages share the cores: frames stay whole
                reason = self._infer_stage(handoff, result)
            handoff.close()
            out_thread.join()
            if errors:
                raise errors[0]
            result.reason = self._halt_reason or reason
        finally:
            handoff.close()
            if out_thread.is_alive():
                self._halt.set()
                out_thread.join(5.0)
            self.grabber.stop()
            self._sync_counters(handoff)
            for sink in self.sinks:
                try:
                    sink.close()
                except Exception as e:  # one failing output must not lose the others
                    self.log(f"warning: closing {type(sink).__name__} failed: {e}")
        result.lost = self.grabber.lost
        result.stats = self.stats.snapshot()
        return result

    # -- stage 2: inference --------------------------------------------------------------

    def _infer_stage(self, handoff: _Handoff, result: LoopResult) -> str:
        t_start = time.perf_counter()
        min_period = 1.0 / self.max_fps if self.max_fps else 0.0
        flicker_raw, flicker_out = FlickerMeter(), FlickerMeter()
        while True:
            if self.stop_event.is_set():
                return "stopped"
            if self._halt.is_set():
                return self._halt_reason or "stopped"
            if self.max_frames is not None and (
                    result.inferred >= self.max_frames if handoff.lossless
                    else result.frames >= self.max_frames):
                return "max frames"
            if self.duration_s is not None and time.perf_counter() - t_start >= self.duration_s:
                return "duration"
            if any(getattr(s, "closed", False) for s in list(self.sinks)):
                return "window closed"
            frame = self.grabber.get(timeout=0.25)
            t_taken = time.perf_counter()
            if frame is None:
                if self.grabber.ended:
                    return self.grabber.end_reason or "source ended"
                continue
            job = _infer(self.runner, frame, self.smoother)
            flicker_raw.update(job.ab_raw)
            flicker_out.update(job.ab)
            self.stats.flicker = flicker_out.value
            result.flicker_raw, result.flicker_out = flicker_raw.value, flicker_out.value
            result.inferred += 1
            handoff.put(job, self._halt)
            self._sync_counters(handoff)
            if min_period:
                wait = min_period - (time.perf_counter() - t_taken)
                if wait > 0 and self.stop_event.wait(wait):
                    return "stopped"

    # -- stage 3: recombine + outputs ----------------------------------------------------

    def _output_stage(self, handoff: _Handoff, result: LoopResult) -> None:
        try:
            self._deliver_all(handoff, result)
        except BaseException as e:  # surfaced by run() on the calling thread
            self._out_errors.append(e)
            self._end("output stage failed")

    def _end(self, reason: str) -> None:
        if self._halt_reason is None:
            self._halt_reason = reason
        self._halt.set()

    def _deliver_all(self, handoff: _Handoff, result: LoopResult) -> None:
        next_log = time.perf_counter() + self.log_every_s if self.log_every_s else None
        while True:
            job = handoff.get()
            if job is None:
                return
            if self._halt.is_set() or (self.max_frames is not None
                                       and result.frames >= self.max_frames):
                continue  # live: jobs inferred after the limit are not delivered
            t0 = time.perf_counter()
            bgr = lab_to_rgb_u8(job.l_full, job.ab, "bgr")
            t1 = time.perf_counter()
            snapshot = self.stats.snapshot()
            sinks = list(self.sinks)
            marked = [self.overlay and wants_overlay(s) for s in sinks]
            shown = None
            if any(marked):  # drawn on a copy only when a clean output needs the original
                shown = draw_overlay(bgr if all(marked) else bgr.copy(),
                                     self.stats.overlay_lines())
            for sink, mark in zip(sinks, marked, strict=True):
                self._send(sink, shown if mark else bgr, snapshot)
            if not self.sinks and self._had_sinks:
                self._end("every output failed")
            if any(getattr(s, "closed", False) for s in self.sinks):
                self._end("window closed")
            t_done = time.perf_counter()
            latency_ms = (t_done - job.frame.t_capture) * 1000.0
            post_ms, out_ms = (t1 - t0) * 1000.0, (t_done - t1) * 1000.0
            self.stats.add(latency_ms, job.infer_ms, t_done,
                           stages={"prep": job.prep_ms, "post": post_ms, "out": out_ms})
            result.frames += 1
            result.latency_ms.append(latency_ms)
            result.infer_ms.append(job.infer_ms)
            result.prep_ms.append(job.prep_ms)
            result.post_ms.append(post_ms)
            result.out_ms.append(out_ms)
            result.t_done.append(t_done)
            if next_log is not None and t_done >= next_log:
                self.log(self.stats.line())
                next_log = t_done + self.log_every_s

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

    def _sync_counters(self, handoff: _Handoff | None = None) -> None:
        g = self.grabber
        self.stats.dropped, self.stats.corrupt, self.stats.reconnects = (
            g.dropped, g.corrupt, g.reconnects)
        if handoff is not None:
            self.stats.dropped_out = handoff.replaced
