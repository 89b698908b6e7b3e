"""Camera sources: parse ``--source``, presets for CSI cameras, open with clear errors.

A source is a device index (``0``) or node (``/dev/video0``, V4L2), a video file, an
RTSP/HTTP URL, a GStreamer pipeline (text containing ``!``) or a preset: ``jetson-csi``
(nvarguscamerasrc) and ``rpi-csi`` (picamera2 when importable, else libcamera through
GStreamer). Opened sources are readers with ``read() -> (ok, BGR frame)`` and ``release()``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

URL_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://",
               "srt://")

# appsink drop=true max-buffers=1: GStreamer itself keeps only the newest frame too.
PRESETS = {
    "jetson-csi": (
        "nvarguscamerasrc sensor-id=0 ! "
        "video/x-raw(memory:NVMM), width={width}, height={height}, framerate={fps}/1 ! "
        "nvvidconv ! video/x-raw, format=BGRx ! videoconvert ! video/x-raw, format=BGR ! "
        "appsink drop=true max-buffers=1 sync=false"
    ),
    "rpi-csi": (
        "libcamerasrc ! video/x-raw, width={width}, height={height}, framerate={fps}/1 ! "
        "videoconvert ! video/x-raw, format=BGR ! appsink drop=true max-buffers=1 sync=false"
    ),
}
PRESET_DEFAULTS = {"jetson-csi": (1280, 720, 30), "rpi-csi": (640, 480, 30)}

GSTREAMER_FIX = (
    "this OpenCV has no GStreamer (the opencv-python(-headless) wheels never do); "
    "use the system OpenCV: pip uninstall opencv-python-headless && "
    "sudo apt install python3-opencv gstreamer1.0-plugins-good "
    "(venv with --system-site-packages)"
)

# seconds OpenCV's FFmpeg backend waits to open / to read a network stream
NETWORK_TIMEOUT_MS = 5000


def quiet_video_logs() -> None:
    """Silence OpenCV's and FFmpeg's own warnings (reconnects, corrupt frames are reported
    by edgecolor itself, one line each)."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)


class SourceError(RuntimeError):
    """A source that cannot be opened; the one-line message names the source and the fix."""


@dataclass(frozen=True)
class Source:
    """A parsed ``--source``: what to open and how.

    kind: "device" (camera index or /dev/videoN), "file", "url", "gstreamer" (pipeline
    string) or "picamera2". ``target`` is what OpenCV (or picamera2) opens.
    """

    text: str
    kind: str
    target: int | str
    size: tuple[int, int] | None = None  # requested (width, height) for cameras

    @property
    def live(self) -> bool:
        """True for cameras and streams (reconnect on loss, keep only the newest frame)."""
        return self.kind != "file"


def gstreamer_available() -> bool:
    """True when this OpenCV build has the GStreamer video I/O backend."""
    return _build_flag("GStreamer")


def _build_flag(name: str) -> bool:
    for line in cv2.getBuildInformation().splitlines():
        key, _, value = line.strip().partition(":")
        if key.strip() == name:
            return value.strip().upper().startswith("YES")
    return False


def parse_source(text: str, size: tuple[int, int] | None = None, fps: int | None = None) -> Source:
    """``--source`` text -> :class:`Source`. Raises SourceError for a missing file/preset.

    size: (width, height) requested from cameras and presets; fps: preset frame rate.
    """
    text = str(text).strip()
    if not text:
        raise SourceError("--source is empty: give a camera index (0), /dev/videoN, a video "
                          "file, a URL, a GStreamer pipeline, jetson-csi or rpi-csi")
    if text.isdigit():
        return Source(text, "device", int(text), size)
    if re.fullmatch(r"/dev/video\d+", text):
        return Source(text, "device", text, size)
    if text in PRESETS:
        return _preset(text, size, fps)
    if text.lower().startswith(URL_SCHEMES):
        return Source(text, "url", text, size)
    if "!" in text:
        return Source(text, "gstreamer", text, size)
    if not Path(text).is_file():
        presets = ", ".join(PRESETS)
        raise SourceError(f"--source {text}: no such video file (check the path; cameras are 0 or "
                          f"/dev/video0, presets: {presets})")
    return Source(text, "file", text, size)


def _preset(name: str, size: tuple[int, int] | None, fps: int | None) -> Source:
    width, height, default_fps = PRESET_DEFAULTS[name]
    if size:
        width, height = size
    if name == "rpi-csi" and importlib.util.find_spec("picamera2") is not None:
        return Source(name, "picamera2", 0, (width, height))
    pipeline = PRESETS[name].format(width=width, height=height, fps=fps or default_fps)
    return Source(name, "gstreamer", pipeline, (width, height))


def open_source(source: Source):
    """Open a parsed source -> reader with ``read() -> (ok, BGR uint8 frame)``, ``release()``.

    Raises SourceError (one line: the source and the fix) when it cannot be opened or a
    file holds no decodable frame.
    """
    if source.kind == "picamera2":
        return Picamera2Reader(source)
    if source.kind == "gstreamer":
        if not gstreamer_available():
            raise SourceError(f"--source {source.text}: needs GStreamer, but {GSTREAMER_FIX}")
        cap = cv2.VideoCapture(source.target, cv2.CAP_GSTREAMER)
        fix = "check the pipeline with gst-launch-1.0 (camera connected, plugins installed)"
    elif source.kind == "url":
        params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, NETWORK_TIMEOUT_MS,
                  cv2.CAP_PROP_READ_TIMEOUT_MSEC, NETWORK_TIMEOUT_MS]
        cap = cv2.VideoCapture(source.target, cv2.CAP_FFMPEG, params)
        fix = "check the address and that the camera/server is up and reachable"
    elif source.kind == "device":
        api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
        cap = cv2.VideoCapture(source.target, api)
        fix = ("is the camera connected and not used by another program? "
               "list cameras with: v4l2-ctl --list-devices")
    else:
        cap = cv2.VideoCapture(source.target)
        fix = "not a video OpenCV can decode (re-encode it, e.g. to MJPEG .avi or H.264 .mp4)"
    if not cap.isOpened():
        cap.release()
        raise SourceError(f"--source {source.text}: cannot open ({fix})")
    if source.size and source.kind == "device":
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, source.size[0])
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, source.size[1])
    if source.live:
        cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # ignored by some backends; the grabber still drops
    reader = CvReader(cap)
    if source.kind == "file" and not reader.peek():
        reader.release()
        raise SourceError(f"--source {source.text}: holds no decodable video frame "
                          "(re-encode it, e.g. to MJPEG .avi or H.264 .mp4)")
    return reader


def source_fps(reader) -> float | None:
    """Frame rate the source reports (files: their rate), or None when unknown."""
    fps = reader.fps() if hasattr(reader, "fps") else None
    return fps if fps and 1.0 <= fps <= 240.0 else None


class CvReader:
    """A cv2.VideoCapture that can look at its first frame without losing it."""

    def __init__(self, cap: cv2.VideoCapture) -> None:
        self.cap = cap
        self._pending: np.ndarray | None = None

    def peek(self) -> bool:
        """Read one frame and keep it for the next ``read()``; -> whether there was one."""
        ok, frame = self.cap.read()
        self._pending = frame if ok else None
        return ok

    def read(self) -> tuple[bool, np.ndarray | None]:
        """-> (ok, frame) like cv2.VideoCapture.read()."""
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return True, frame
        return self.cap.read()

    def frame_count(self) -> int | None:
        """Frames the file's container declares (its index), or None when it does not say
        (a killed recording has no index; cameras and streams have no count)."""
        value = self.cap.get(cv2.CAP_PROP_FRAME_COUNT)
        return int(value) if value and value > 0 else None

    def fps(self) -> float | None:
        """The container's / camera's frame rate, or None."""
        value = self.cap.get(cv2.CAP_PROP_FPS)
        return float(value) if value and value > 0 else None

    def release(self) -> None:
        """Close the capture."""
        self.cap.release()


class Picamera2Reader:
    """Raspberry Pi CSI camera through picamera2 (libcamera); frames come out as BGR."""

    def __init__(self, source: Source) -> None:
        try:
            from picamera2 import Picamera2
        except ImportError as e:  # pragma: no cover - only on a Raspberry Pi
            raise SourceError("--source rpi-csi: picamera2 is not importable "
                              "(sudo apt install python3-picamera2)") from e
        width, height = source.size or PRESET_DEFAULTS["rpi-csi"][:2]
        try:  # pragma: no cover - needs a CSI camera
            self.cam = Picamera2()
            # libcamera's "RGB888" is B, G, R in memory: what OpenCV calls BGR
            config = self.cam.create_video_configuration(
                main={"size": (width, height), "format": "RGB888"}, buffer_count=2)
            self.cam.configure(config)
            self.cam.start()
        except Exception as e:  # pragma: no cover - needs a CSI camera
            raise SourceError(f"--source rpi-csi: cannot start the camera ({e}); "
                              "check the ribbon cable and `rpicam-hello --list-cameras`") from e

    def read(self) -> tuple[bool, np.ndarray | None]:  # pragma: no cover - needs a CSI camera
        """-> (ok, BGR frame)."""
        try:
            return True, self.cam.capture_array("main")
        except Exception:
            return False, None

    def release(self) -> None:  # pragma: no cover - needs a CSI camera
        """Stop the camera."""
        try:
            self.cam.stop()
            self.cam.close()
        except Exception:
            pass
