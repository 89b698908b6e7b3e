"""The pipelined camera loop: clean recordings by default, a slow output never stalls
inference, per-stage stats."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from test_camera import camera_weights, cli, make_gray_video

from edgecolor.camera.capture import FrameGrabber
from edgecolor.camera.loop import CameraLoop, colorize_frame
from edgecolor.camera.server import StreamServer
from edgecolor.camera.sources import parse_source
from edgecolor.spec import InputSpec, ModelSpec, OutputSpec


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("camera-pipeline")


@pytest.fixture(scope="module")
def gray_video(workdir):
    path = workdir / "gray.avi"
    return path, make_gray_video(path, photos=2, per_photo=4, size=160)


def _frames(path):
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        out.append(f.astype(np.int16))
    cap.release()
    return out


def test_record_is_clean_by_default_and_overlay_on_request(gray_video, workdir):
    """Issue 18 item 10: --record saves clean frames although the overlay is on (the
    default); --record-overlay burns it in; --no-overlay gives the same as the default."""
    weights, _ = camera_weights(workdir)
    args = ["--source", str(gray_video[0]), "--imgsz", "64", "--weights", str(weights),
            "--stats-every", "0", "--no-smooth"]
    runs = {}
    for name, extra in (("default", []), ("overlay", ["--record-overlay"]),
                        ("off", ["--no-overlay"])):
        out = workdir / f"rec-{name}.avi"
        r = cli([*args, "--record", str(out), *extra])
        assert r.exit_code == 0, r.output + r.stderr
        runs[name] = _frames(out)
    n = gray_video[1]
    assert all(len(v) == n for v in runs.values())
    box = (slice(0, 50), slice(0, 150))  # where the two overlay lines are drawn
    for a, b, c in zip(runs["default"], runs["off"], runs["overlay"], strict=True):
        assert np.abs(a - b).max() <= 2  # clean == no overlay (JPEG of the same frame)
        # the text is there: white glyphs in a black outline move many pixels far (the
        # share depends on the stats' digits, so no mean-level threshold)
        text = np.abs(c[box] - a[box]).max(axis=-1) > 30
        assert text.mean() > 0.01, f"{text.mean():.3f} of the box changed by > 30 levels"
        rest = (slice(60, None), slice(None))
        assert np.abs(c[rest] - a[rest]).mean() < 1  # and only there
    r = cli([*args, "--record-overlay"])
    assert r.exit_code == 2 and "--record-overlay goes with --record" in r.output + r.stderr


class PlaneRunner:
    """The network replaced by a fixed function of its input (real spec and host path),
    taking ``infer_s`` seconds a call; records the thread that calls it."""

    def __init__(self, infer_s: float = 0.005):
        self.spec = ModelSpec("plane", (InputSpec("l", (32, 32), "l/50-1"),), OutputSpec("ab"))
        self.infer_s = infer_s
        self.threads = set()

    def infer(self, inputs):
        self.threads.add(threading.current_thread().name)
        time.sleep(self.infer_s)
        x = inputs[0]
        return np.concatenate([np.sin(3 * x) * 40, np.cos(2 * x) * 30], axis=-1)


class SlowOutput:
    """A viewer that takes 0.15 s per frame (a slow browser or disk)."""

    def __init__(self):
        self.frames = []

    def send(self, bgr, stats):
        time.sleep(0.15)
        self.frames.append((bgr.copy(), dict(stats)))

    def close(self):
        pass


def test_slow_output_never_stalls_inference():
    server = StreamServer("127.0.0.1", 0).start()
    feeding = threading.Event()
    feeding.set()

    def feed():
        i = 0
        while feeding.is_set():
            server.send(np.full((48, 64, 3), (i * 7) % 250, np.uint8), {})
            i += 1
            time.sleep(0.01)

    threading.Thread(target=feed, daemon=True).start()
    port = server.httpd.server_address[1]
    grabber = FrameGrabber(parse_source(f"http://127.0.0.1:{port}/stream.mjpg"))
    runner, slow = PlaneRunner(), SlowOutput()
    try:
        result = CameraLoop(runner, grabber, [slow], duration_s=1.5, log_every_s=0).run()
    finally:
        feeding.clear()
        server.stop()
    assert result.reason == "duration"
    assert 3 <= result.frames <= 12  # the output's own pace: ~1 frame / 0.15 s
    assert result.inferred >= 3 * result.frames  # inference went on at its own pace
    assert result.stats["dropped_out"] >= result.inferred - result.frames - 2
    assert runner.threads == {threading.current_thread().name}  # one thread infers
    # delivered frames are fresh: one output period old, not a growing queue
    assert max(result.latency_ms[1:]) < 400
    s = result.summary()
    assert s["out_ms_p50"] >= 140 and s["infer_ms_p50"] >= 4 and s["post_ms_p50"] is not None
    assert slow.frames[-1][1]["out_ms_p50"] >= 140  # the sinks see the per-stage stats


def test_colorize_frame_matches_the_loop_output(gray_video):
    """The one-call path and the pipelined loop give the same frames (file: every frame)."""
    runner = PlaneRunner(infer_s=0.0)
    got = []

    class Collect:
        wants_overlay = False

        def send(self, bgr, stats):
            got.append(bgr.copy())

        def close(self):
            pass

    result = CameraLoop(runner, FrameGrabber(parse_source(str(gray_video[0]))), [Collect()],
                        log_every_s=0).run()
    assert result.frames == gray_video[1] == len(got) and result.reason == "end of file"
    cap = cv2.VideoCapture(str(gray_video[0]))
    for frame in got:
        ok, src = cap.read()
        assert ok
        assert np.array_equal(colorize_frame(runner, src).bgr, frame)
    cap.release()


def test_benchmark_row_has_every_stage(gray_video):
    from edgecolor.camera.report import benchmark_row

    result = CameraLoop(PlaneRunner(infer_s=0.002), FrameGrabber(parse_source(str(
        gray_video[0]))), max_frames=5, log_every_s=0).run()
    row = benchmark_row(result, "plane", "clip", "160x160")
    assert row["frames"] == 5 and row["ait_ms"] >= 2.0
    assert all(row[k] is not None and row[k] >= 0 for k in ("prep_ms", "post_ms", "out_ms"))
    assert row["e2e_ms"] >= row["ait_ms"]
