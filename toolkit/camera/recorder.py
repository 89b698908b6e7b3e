"""``--record``: write the colorized frames to a video that is playable however the run ends.

Frames go into MJPEG-in-AVI written by OpenCV's own MJPEG muxer, which puts every frame on
disk as it comes: a killed process leaves a file FFmpeg (and cv2.VideoCapture) still plays
(its index is missing, so frame-count headers read 0). A clean end (file end, Ctrl-C,
SIGTERM) writes the index. ``.mp4`` is recorded into a ``<name>.mp4.part.avi`` first and
converted to MP4 (atomically) when the run ends cleanly; if the process is killed the
playable ``.part.avi`` stays.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

SUFFIXES = (".avi", ".mp4")
JPEG_QUALITY = 90
# live sources: frames held back to measure the real frame rate before the file is opened
MEASURE_FRAMES = 12
DEFAULT_FPS = 15.0
# OpenCV's writers never report a failed write (a full disk leaves a broken file and a
# "recorded N frames"): the free space is checked after every frame instead, and the
# recording stops, removed, while at least this much (and one raw frame) is left
MIN_FREE_BYTES = 256 << 10


class RecordError(ValueError):
    """A recording that cannot be made; the message names the file and the fix."""


def check_record_path(path: str | os.PathLike) -> Path:
    """Validate a ``--record`` path (suffix, writable folder) -> Path; RecordError otherwise."""
    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        raise RecordError(f"--record {p}: use a .avi (MJPEG, playable even if killed) "
                          "or .mp4 file name")
    if p.is_dir():
        raise RecordError(f"--record {p}: is a folder; give a file name like out.avi")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise RecordError(f"--record {p}: folder {parent} does not exist (create it first)")
    if not os.access(parent, os.W_OK):
        raise RecordError(f"--record {p}: folder {parent} is not writable")
    return p


class Recorder:
    """Writes BGR frames; opened on the first frame (its size fixes the video's size).

    path: .avi or .mp4; fps: frame rate stored in the file, or None to measure it from the
    first frames' arrival times (live sources: the file then plays at the real speed).
    ``frames`` counts frames written.
    """

    def __init__(self, path: str | os.PathLike, fps: float | None = DEFAULT_FPS) -> None:
        self.path = check_record_path(path)
        self.fps = float(fps) if fps and fps > 0 else None
        self._pending: list[tuple[float, np.ndarray]] = []
        self.mp4 = self.path.suffix.lower() == ".mp4"
        self.avi_path = self.path.with_name(self.path.name + ".part.avi") if self.mp4 else self.path
        self.frames = 0
        self.error: str | None = None  # set when the recording failed (and was removed)
        self._writer: cv2.VideoWriter | None = None
        self._size: tuple[int, int] | None = None

    def _open(self, size: tuple[int, int]) -> None:
        self.avi_path.unlink(missing_ok=True)
        writer = cv2.VideoWriter(str(self.avi_path), cv2.CAP_OPENCV_MJPEG,
                                 cv2.VideoWriter_fourcc(*"MJPG"), self.fps or DEFAULT_FPS, size)
        if not writer.isOpened():
            raise RecordError(f"--record {self.path}: OpenCV cannot write MJPEG here "
                              "(check the folder is writable)")
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, JPEG_QUALITY)
        self._writer, self._size = writer, size

    def write(self, bgr: np.ndarray) -> None:
        """Append one BGR uint8 frame (resized to the first frame's size if it differs)."""
        if self.fps is None:  # still measuring the frame rate
            self._pending.append((time.perf_counter(), bgr.copy()))
            if len(self._pending) >= MEASURE_FRAMES:
                self._flush_pending()
            return
        self._write(bgr)

    def _flush_pending(self) -> None:
        times = [t for t, _ in self._pending]
        span = times[-1] - times[0] if len(times) > 1 else 0.0
        self.fps = min(120.0, max(1.0, (len(times) - 1) / span)) if span > 0 else DEFAULT_FPS
        pending, self._pending = self._pending, []
        for _, frame in pending:
            self._write(frame)

    def _write(self, bgr: np.ndarray) -> None:
        size = (bgr.shape[1], bgr.shape[0])
        if self._writer is None:
            self._open(size)
        elif size != self._size:
            bgr = cv2.resize(bgr, self._size, interpolation=cv2.INTER_AREA)
        self._check_space(size)
        self._writer.write(np.ascontiguousarray(bgr))
        self.frames += 1

    def _check_space(self, size: tuple[int, int]) -> None:
        """RecordError (and nothing left on disk) when the disk has no room for the next
        frame: a full disk is reported, never written into a broken file."""
        try:
            st = os.statvfs(self.avi_path.parent if str(self.avi_path.parent) else ".")
        except (OSError, AttributeError):  # no statvfs (Windows): nothing to check with
            return
        free = st.f_bavail * st.f_frsize
        if free >= MIN_FREE_BYTES + size[0] * size[1] * 3:
            return
        self.fail(f"--record {self.path}: disk full (ENOSPC, {free >> 10} KiB left) after "
                  f"{self.frames} frames; the partial recording was removed — free space on "
                  f"{self.path.parent if str(self.path.parent) else '.'} or record elsewhere")

    def fail(self, message: str) -> None:
        """Stop recording, remove the partial file, raise RecordError(message)."""
        self.error = message
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        self._pending = []
        self.avi_path.unlink(missing_ok=True)
        raise RecordError(message)

    def send(self, bgr: np.ndarray, stats: dict) -> None:
        """Loop output: same as :meth:`write` (stats are not stored)."""
        self.write(bgr)

    def close(self) -> Path | None:
        """Finalize (write the AVI index; MP4: convert) -> the recording's path, None if empty."""
        if self.error is not None:
            return None
        if self._pending:
            self._flush_pending()
        if self._writer is None:
            return None
        self._writer.release()
        self._writer = None
        if self.mp4:
            try:
                _avi_to_mp4(self.avi_path, self.path, self.fps or DEFAULT_FPS)
            except RecordError as e:
                self.error = str(e)
                raise
            self.avi_path.unlink(missing_ok=True)
        return self.path


def _avi_to_mp4(src: Path, dst: Path, fps: float) -> None:
    """Re-encode the finished MJPEG AVI to MPEG-4 in MP4 via a temp file + rename."""
    cap = cv2.VideoCapture(str(src))
    fd, tmp = tempfile.mkstemp(prefix=".edgecolor-rec.", suffix=".mp4", dir=dst.parent)
    os.close(fd)
    writer = None
    frames = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                writer = cv2.VideoWriter(tmp, cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*"mp4v"),
                                         fps, (frame.shape[1], frame.shape[0]))
                if not writer.isOpened():
                    raise RecordError(f"--record {dst}: this OpenCV cannot write MP4; "
                                      f"the recording is kept as {src} (use .avi)")
            writer.write(frame)
            frames += 1
        if writer is not None:
            writer.release()
            writer = None
            check = cv2.VideoCapture(tmp)
            played = 0
            while check.grab():
                played += 1
            check.release()
            if played < frames:  # the writer never says a write failed (a full disk)
                raise RecordError(f"--record {dst}: the MP4 holds {played} of {frames} frames "
                                  f"(disk full?); the recording is kept as {src}")
            os.replace(tmp, dst)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        Path(tmp).unlink(missing_ok=True)
