"""The camera's HTTP page in a real browser: headless Chromium on 127.0.0.1.

The camera loop runs on a synthetic gray video (bundled photos) and serves its page; Chromium
takes a screenshot and dumps the DOM. The screenshot must show a colored image (a region
whose chroma is above the floor; the page itself is neutral gray) and the DOM the rolling
stats. Skipped only when Chromium is absent (`make browser-deps` installs Debian's).
With EDGECOLOR_WRITE_DOCS=1 the screenshot is saved as docs/camera.png.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_camera import CHROMA_FLOOR, camera_weights, make_gray_video

from edgecolor.camera.capture import FrameGrabber
from edgecolor.camera.loop import CameraLoop
from edgecolor.camera.server import StreamServer
from edgecolor.camera.smoothing import AbSmoother
from edgecolor.camera.sources import parse_source
from edgecolor.color import rgb_to_lab
from edgecolor.imageio import atomic_write_bytes

CHROMIUM = next((p for p in (shutil.which("chromium"), shutil.which("chromium-browser"),
                             "/usr/bin/chromium") if p and os.path.exists(p)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (run `make browser-deps`)")

DOCS_PNG = Path(__file__).resolve().parents[1] / "docs" / "camera.png"
PAGE_WIDTH = 384  # px the page shows the frame at
WINDOW = (760, 440)


def chromium(args: list[str], profile: str, timeout: float = 90) -> subprocess.CompletedProcess:
    """Run headless Chromium with the flags it needs as root in a container, offline."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}",
             f"--window-size={WINDOW[0]},{WINDOW[1]}"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def live_page(tmp_path_factory):
    """The camera loop serving on 127.0.0.1 (any free port) from a looping gray video."""
    from edgecolor.runtimes.keras import KerasRunner

    work = tmp_path_factory.mktemp("camera_browser")
    video = work / "gray.avi"
    make_gray_video(video, photos=3, per_photo=10, size=160)
    weights, _ = camera_weights(work)
    runner = KerasRunner.from_zoo("baseline", weights=weights, input_size=64, batch_size=1)
    server = StreamServer("127.0.0.1", 0, width=PAGE_WIDTH, poll_ms=100).start()
    grabber = FrameGrabber(parse_source(str(video)), loop=True)
    stop = threading.Event()
    loop = CameraLoop(runner, grabber, [server], AbSmoother(), duration_s=120.0, max_fps=15.0,
                      log_every_s=0, stop_event=stop)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    deadline = time.perf_counter() + 60
    while time.perf_counter() < deadline:  # wait until frames and stats are being served
        stats = json.loads(urllib.request.urlopen(server.url + "stats", timeout=5).read() or b"{}")
        if stats.get("frames", 0) >= 5:
            break
        time.sleep(0.2)
    yield server
    stop.set()
    thread.join(30)


def test_browser_shows_colored_live_image_and_stats(live_page, tmp_path):
    shot = tmp_path / "camera.png"
    # the page polls /frame.jpg snapshots, so it "loads"; virtual time lets the polling and
    # the stats refresh run before the screenshot
    r = chromium([f"--screenshot={shot}", "--virtual-time-budget=3000", live_page.url],
                 tempfile.mkdtemp(dir=tmp_path))
    assert shot.is_file(), r.stderr[-2000:]
    png = cv2.imread(str(shot), cv2.IMREAD_COLOR)
    assert png.shape[:2] == (WINDOW[1], WINDOW[0])
    lab = rgb_to_lab(png[..., ::-1].astype(np.float32) / 255.0)
    pixel_chroma = np.hypot(lab[..., 1], lab[..., 2])
    colored = pixel_chroma > CHROMA_FLOOR
    ys, xs = np.nonzero(colored)
    assert ys.size > 0, "no colored pixel in the screenshot"
    box = pixel_chroma[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    # the colored region is the live image: about PAGE_WIDTH px wide, square, mostly colored
    assert xs.max() - xs.min() + 1 >= 0.9 * PAGE_WIDTH
    assert ys.max() - ys.min() + 1 >= 0.9 * PAGE_WIDTH
    assert float(box.mean()) > CHROMA_FLOOR
    assert colored.mean() < 0.7  # the page around it is neutral (text, background)

    dom = chromium(["--dump-dom", "--virtual-time-budget=3000", live_page.url],
                   tempfile.mkdtemp(dir=tmp_path)).stdout
    stats = re.search(r'<pre id="stats">(.*?)</pre>', dom, re.S)
    assert stats, dom[:2000]
    text = stats.group(1)
    fps = float(re.search(r"FPS: ([0-9.]+)", text).group(1))
    frames = int(re.search(r"frames: (\d+)", text).group(1))
    assert fps > 0 and frames >= 5
    assert re.search(r"latency p50: [0-9.]+ ms", text)

    if os.environ.get("EDGECOLOR_WRITE_DOCS") == "1":
        atomic_write_bytes(DOCS_PNG, shot.read_bytes())
