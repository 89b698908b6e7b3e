"""The capture thread: reads the source and holds only the newest frame.

Live sources (cameras, streams) overwrite the held frame, so a slow model never builds up a
queue of stale frames (latency stays one frame deep); lost streams are reopened with
exponential backoff. Files are not live: every frame is handed over in order, decoded when
the consumer asks for it (so latency is decode + processing, never time spent waiting in
the slot), the end is a clean end, and ``loop=True`` rewinds.
Unreadable or malformed frames are skipped and counted.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from edgecolor.camera.sources import Source, SourceError, open_source

# Files: a corrupt frame fails one read (its packet is consumed), the next frame reads again.
# A failed read is the end of the file only once every frame the container declares was
# tried (then FILE_END_FAILURES more in a row, for containers whose count is an estimate);
# a file that declares no count (a killed recording) ends after FILE_UNKNOWN_END_FAILURES
# failed reads in a row. So a run of corrupt frames is skipped, counted, and the good
# frames after it are still colorized.
FILE_END_FAILURES = 8
FILE_UNKNOWN_END_FAILURES = 256
# failed reads in a row after which a live source is treated as lost and reopened
LIVE_LOST_FAILURES = 3


@dataclass
class Frame:
    """One captured frame: BGR uint8 (H, W, 3), its sequence number, perf_counter at capture."""

    image: np.ndarray
    index: int
    t_capture: float


def valid_frame(frame) -> np.ndarray | None:
    """A frame as returned by a reader -> BGR uint8 (H, W, 3), or None when malformed."""
    if not isinstance(frame, np.ndarray) or frame.size == 0 or frame.dtype != np.uint8:
        return None
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        return cv2.cvtColor(frame.reshape(frame.shape[:2]), cv2.COLOR_GRAY2BGR)
    if frame.ndim == 3 and frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    if frame.ndim == 3 and frame.shape[2] == 3 and min(frame.shape[:2]) >= 2:
        return frame
    return None


class FrameGrabber:
    """Reads a source on its own thread; :meth:`get` returns the newest unseen frame.

    source: the parsed source; reader: an already opened reader for it (else opened on
    start); loop: rewind files at their end; give_up_s: a live source that yields no frame
    for this many seconds (reconnecting with backoff ``backoff_s`` doubling up to
    ``max_backoff_s``) ends the capture.

    Counters: ``frames`` read, ``dropped`` (overwritten before the consumer took them),
    ``corrupt`` (skipped), ``reconnects``. ``end_reason`` says why capture ended.
    """

    def __init__(self, source: Source, reader=None, loop: bool = False, give_up_s: float = 60.0,
                 backoff_s: float = 0.25, max_backoff_s: float = 8.0,
                 opener: Callable[[Source], object] = open_source) -> None:
        self.source = source
        self.reader = reader
        self.loop = loop
        self.give_up_s = give_up_s
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.opener = opener
        self.frames = 0
        self.dropped = 0
        self.corrupt = 0
        self.reconnects = 0
        self.end_reason: str | None = None
        self.lost = False  # True when a live source was given up on
        self.last_size: tuple[int, int] | None = None  # (width, height) of the newest frame
        self._cond = threading.Condition()
        self._held: Frame | None = None
        self._wanted = False  # files: the consumer is waiting for the next frame
        self._stop = threading.Event()
        self._ended = threading.Event()
        self._thread = threading.Thread(target=self._run, name="edgecolor-capture", daemon=True)

    # -- consumer side -------------------------------------------------------------------

    def start(self) -> FrameGrabber:
        """Start the capture thread (opens the source first if no reader was given)."""
        if self.reader is None:
            self.reader = self.opener(self.source)
        self._thread.start()
        return self

    def get(self, timeout: float = 0.5) -> Frame | None:
        """The newest frame not yet returned, waiting up to ``timeout`` s; None if none came."""
        with self._cond:
            self._wanted = True
            self._cond.notify_all()
            if self._held is None and not self._ended.is_set():
                self._cond.wait(timeout)
            frame, self._held = self._held, None
            if frame is not None:
                self._wanted = False
            self._cond.notify_all()
        return frame

    @property
    def started(self) -> bool:
        """True once :meth:`start` ran."""
        return self._thread.ident is not None

    @property
    def ended(self) -> bool:
        """True when the source is finished (and the last frame was taken)."""
        with self._cond:
            return self._ended.is_set() and self._held is None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread and release the source."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)
        if self.reader is not None and not self._thread.is_alive():
            self.reader.release()
            self.reader = None

    # -- capture thread ------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._capture()
        finally:
            with self._cond:
                self._ended.set()
                self._cond.notify_all()

    def _declared_frames(self) -> int | None:
        count = getattr(self.reader, "frame_count", None)
        try:
            return count() if callable(count) else None
        except Exception:  # a backend that cannot tell
            return None

    def _file_ended(self, failures: int, attempts: int, declared: int | None) -> bool:
        """Files: True when ``failures`` failed reads in a row mean the end, not damage."""
        if declared is None:
            return failures >= FILE_UNKNOWN_END_FAILURES
        if attempts < declared:  # frames the container declares are still to come
            return failures >= declared - (attempts - failures) + FILE_END_FAILURES
        return failures >= FILE_END_FAILURES

    def _capture(self) -> None:
        failures = 0
        attempts = 0  # reads of this file so far (ok or not): packets consumed
        declared = None if self.source.live else self._declared_frames()
        last_frame_t = time.perf_counter()
        while not self._stop.is_set():
            if not self.source.live and not failures and not self._wait_wanted():
                break
            try:
                ok, raw = self.reader.read()
            except cv2.error:  # a backend that throws on a bad packet: a failed read
                ok, raw = False, None
            t = time.perf_counter()
            attempts += 1
            if not ok:
                failures += 1
                if self.source.live:
                    if failures >= LIVE_LOST_FAILURES:
                        if not self._reconnect(last_frame_t):
                            return
                        failures = 0
                    continue
                if self._file_ended(failures, attempts, declared):
                    if declared is not None and attempts - failures < declared:
                        # reads failed before the declared end: damaged frames at the tail
                        self.corrupt += min(failures, declared - (attempts - failures))
                    if self.loop and self.frames > 0 and self._reopen():
                        failures = attempts = 0
                        continue
                    self.end_reason = "end of file"
                    return
                continue
            if failures:  # reads failed, then the source went on: those frames were corrupt
                self.corrupt += failures
                failures = 0
            image = valid_frame(raw)
            if image is None:
                self.corrupt += 1
                continue
            last_frame_t = t
            self.last_size = (image.shape[1], image.shape[0])
            self._hand_over(Frame(image, self.frames, t))
            self.frames += 1
        self.end_reason = self.end_reason or "stopped"

    def _wait_wanted(self) -> bool:
        """Files: block until the consumer asks for a frame; False when stopping."""
        with self._cond:
            while not self._wanted and not self._stop.is_set():
                self._cond.wait(0.2)
            return not self._stop.is_set()

    def _hand_over(self, frame: Frame) -> None:
        with self._cond:
            if not self.source.live:  # files: wait until the consumer took the previous one
                while self._held is not None and not self._stop.is_set():
                    self._cond.wait(0.2)
                self._wanted = False
            elif self._held is not None:
                self.dropped += 1
            self._held = frame
            self._cond.notify_all()

    def _reopen(self) -> bool:
        try:
            reader = self.opener(self.source)
        except SourceError:
            return False
        self.reader.release()
        self.reader = reader
        return True

    def _reconnect(self, last_frame_t: float) -> bool:
        """Reopen a lost live source with exponential backoff; False when giving up."""
        self.reader.release()  # a camera node may refuse a second open while held
        delay = self.backoff_s
        while not self._stop.is_set():
            if time.perf_counter() - last_frame_t > self.give_up_s:
                self.lost = True
                self.end_reason = (f"source lost: no frame for {self.give_up_s:g} s "
                                   f"after {self.reconnects} reconnects")
                return False
            if self._stop.wait(delay):
                break
            delay = min(delay * 2.0, self.max_backoff_s)
            try:
                reader = self.opener(self.source)
            except SourceError:
                continue
            self.reader = reader
            self.reconnects += 1
            return True
        return False
