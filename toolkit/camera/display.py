"""``--display``: an OpenCV window (needs a GUI build of OpenCV and a screen)."""

from __future__ import annotations

import os
import sys

import cv2
import numpy as np

WINDOW = "edgecolor camera"
# keys that close the window: q, Esc
QUIT_KEYS = (ord("q"), 27)


class DisplayError(RuntimeError):
    """No window can be shown here; the one-line message names the fix."""


def gui_backend() -> str | None:
    """The GUI backend of this OpenCV build ("GTK3", "QT5", "WIN32UI", "COCOA"...) or None."""
    info = cv2.getBuildInformation().splitlines()
    for i, line in enumerate(info):
        if line.strip().startswith("GUI:"):
            value = line.split(":", 1)[1].strip()
            if value.upper() in ("", "NONE", "NO"):
                return None
            if value.upper() == "YES" and i + 1 < len(info):  # older layouts list it below
                return info[i + 1].split(":", 1)[0].strip()
            return value
    return None


def check_display() -> None:
    """Raise DisplayError unless a window can be opened (GUI build, and a screen on Linux)."""
    if gui_backend() is None:
        raise DisplayError("--display needs OpenCV with a GUI, and this one is headless: "
                           "pip uninstall opencv-python-headless && pip install opencv-python "
                           "(or watch in a browser with --serve)")
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY")
                                                 or os.environ.get("WAYLAND_DISPLAY")):
        raise DisplayError("--display: no screen here (DISPLAY is not set); use --serve and "
                           "open the page in a browser, or run from the desktop session")


class Display:
    """Shows BGR frames in a window; ``closed`` turns True when q/Esc is pressed.

    The window is created by the first :meth:`send`, so every GUI call comes from the one
    thread that sends (the camera loop's output stage).
    """

    def __init__(self) -> None:
        check_display()
        self.closed = False
        self._open = False

    def send(self, bgr: np.ndarray, stats: dict) -> None:
        """Show a frame (stats are already drawn on it when the overlay is on)."""
        if not self._open:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
            self._open = True
        cv2.imshow(WINDOW, bgr)
        if cv2.waitKey(1) & 0xFF in QUIT_KEYS:
            self.closed = True

    def close(self) -> None:
        """Close the window."""
        if self._open:
            cv2.destroyWindow(WINDOW)
            self._open = False
