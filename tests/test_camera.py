"""edgecolor camera: sources, capture thread, smoothing, stats, server, recorder, the CLI.

Sources are real: a synthetic video the tests write from the bundled photos (gray, MJPEG
AVI), and a live MJPEG stream over HTTP on 127.0.0.1 served by the camera's own server.
The model is the baseline at 64x64. Chroma floor: with the bundled trained weights the
recording is colored because the model learned color; without them the tests use the
untrained network with its last layer's bias set to a known tint (a = 128*tanh(0.2) ~ 26,
b = 128*tanh(0.15) ~ 19), so every colorized frame must carry ~30 Lab units of chroma while
the gray source has ~0: a recording below the floor means the camera path lost the model's
color, which is what these tests check.
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgecolor.camera.capture import FrameGrabber, valid_frame
from edgecolor.camera.display import gui_backend
from edgecolor.camera.loop import CameraLoop, colorize_frame
from edgecolor.camera.recorder import Recorder, RecordError
from edgecolor.camera.server import StreamServer, parse_bind, stats_text
from edgecolor.camera.smoothing import AbSmoother, flicker
from edgecolor.camera.sources import (
    Source,
    SourceError,
    gstreamer_available,
    open_source,
    parse_source,
)
from edgecolor.camera.stats import RollingStats
from edgecolor.cli.camera import command as camera_command
from edgecolor.color import chroma
from edgecolor.imageio import read_rgb
from edgecolor.samples import sample_images
from edgecolor.zoo.registry import default_weights

FRAMES_PER_PHOTO = 6
VIDEO_SIZE = 96
# mean chroma (Lab units) a colorized frame must exceed; the gray source is below 1
CHROMA_FLOOR = 3.0


# -- helpers shared with test_camera_browser.py ----------------------------------------------

def make_gray_video(path: Path, photos: int = 6, per_photo: int = FRAMES_PER_PHOTO,
                    size: int = VIDEO_SIZE, corrupt_frame: int | None = None) -> int:
    """Write a gray MJPEG AVI from the bundled eval photos -> number of frames written.

    corrupt_frame: index of a frame whose JPEG data is zeroed afterwards (undecodable).
    """
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                             10.0, (size, size))
    n = 0
    for p in sample_images("eval")[:photos]:
        rgb = cv2.resize(read_rgb(p), (size, size), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2BGR)
        for _ in range(per_photo):
            writer.write(gray)
            n += 1
    writer.release()
    if corrupt_frame is not None:
        data = bytearray(path.read_bytes())
        starts = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]
        a, b = starts[corrupt_frame], starts[corrupt_frame + 1]
        data[a:b - 8] = bytes(b - 8 - a)  # keep the next chunk header intact
        path.write_bytes(bytes(data))
    return n


def camera_weights(folder: Path) -> tuple[Path, bool]:
    """-> (weights file for the 64x64 baseline, trained?). Untrained: a known tint (see top)."""
    bundled = default_weights("baseline")
    if bundled is not None:
        return bundled, True
    from edgecolor._tf import import_tf
    from edgecolor.zoo import create_model

    _, keras = import_tf()
    keras.utils.set_random_seed(0)
    model, _ = create_model("baseline", input_size=64, batch_size=1, weights=None)
    kernel, bias = model.get_layer("ab").get_weights()
    model.get_layer("ab").set_weights([kernel * 0.1, np.arctanh([0.2, 0.15]).astype(np.float32)])
    path = folder / "tinted.weights.h5"
    model.save_weights(path)
    return path, False


def frame_chroma(path: Path) -> list[float]:
    """Mean chroma (Lab units) of every frame of a video file."""
    cap = cv2.VideoCapture(str(path))
    out = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        out.append(chroma(frame[..., ::-1]))
    cap.release()
    return out


def count_frames(path: Path) -> tuple[int, int]:
    """-> (frames decoded by cv2.VideoCapture, frame count in the file's header/index)."""
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.isOpened():
        ok, _ = cap.read()
        if not ok:
            break
        n += 1
    header = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    cap.release()
    return n, header


# -- fixtures -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("camera")


@pytest.fixture(scope="module")
def gray_video(workdir) -> tuple[Path, int]:
    path = workdir / "gray.avi"
    return path, make_gray_video(path)


@pytest.fixture(scope="module")
def weights(workdir) -> tuple[Path, bool]:
    return camera_weights(workdir)


@pytest.fixture(scope="module")
def runner(weights):
    from edgecolor.runtimes.keras import KerasRunner

    return KerasRunner.from_zoo("baseline", weights=weights[0], input_size=64, batch_size=1)


@pytest.fixture(scope="module")
def model_args(weights, workdir):
    """CLI arguments per model kind: the Keras reference and a TFLite int8 artifact."""
    args = {"keras": ["--imgsz", "64", "--weights", str(weights[0])]}
    if importlib.util.find_spec("edgecolor.cli.convert") is not None:
        from edgecolor.cli.convert import command as convert

        out = workdir / "art"
        r = CliRunner().invoke(convert, ["--model", "baseline", "--imgsz", "64", "--weights",
                                         str(weights[0]), "--format", "tflite", "--precision",
                                         "int8", "-o", str(out)])
        artifact = out / "baseline-tflite-int8.tflite"
        assert r.exit_code == 0 and artifact.is_file(), r.output
        args["tflite"] = ["--artifact", str(artifact)]
    return args


def cli(args: list[str]):
    return CliRunner().invoke(camera_command, args, catch_exceptions=False)


# -- sources ------------------------------------------------------------------------------------

def test_parse_source_kinds(gray_video):
    assert parse_source("0") == Source("0", "device", 0)
    assert parse_source("/dev/video2").kind == "device"
    assert parse_source("rtsp://10.0.0.2/stream").kind == "url"
    assert parse_source("http://cam.local/video.mjpg").live
    pipe = parse_source("videotestsrc ! videoconvert ! appsink")
    assert pipe.kind == "gstreamer" and pipe.live
    f = parse_source(str(gray_video[0]))
    assert f.kind == "file" and not f.live
    jetson = parse_source("jetson-csi", size=(640, 360))
    assert jetson.kind == "gstreamer" and "nvarguscamerasrc" in jetson.target
    assert "width=640, height=360" in jetson.target and "appsink drop=true" in jetson.target
    rpi = parse_source("rpi-csi")
    assert rpi.kind == "picamera2" or "libcamerasrc" in rpi.target
    with pytest.raises(SourceError, match="nope.mp4: no such video file"):
        parse_source("nope.mp4")


def test_gstreamer_source_without_gstreamer_names_the_fix():
    if gstreamer_available():
        pytest.skip("this OpenCV has GStreamer: the missing-GStreamer message cannot show")
    with pytest.raises(SourceError) as e:
        open_source(parse_source("jetson-csi"))
    msg = str(e.value)
    assert "\n" not in msg and "GStreamer" in msg and "sudo apt install python3-opencv" in msg


@pytest.mark.parametrize("make_source, expected", [
    (lambda d: str(d / "missing.avi"), "missing.avi: no such video file"),
    (lambda d: "/dev/video57", "/dev/video57: cannot open"),
    (lambda d: "jetson-csi", "GStreamer"),
    (lambda d: _text_file(d / "notes.avi"), "notes.avi: cannot open"),
])
def test_cli_source_that_cannot_open_exits_2(workdir, make_source, expected):
    if expected == "GStreamer" and gstreamer_available():
        pytest.skip("this OpenCV has GStreamer")
    result = cli(["--source", make_source(workdir), "--max-frames", "1"])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --source") and expected in lines[0]


def _text_file(path: Path) -> str:
    path.write_text("not a video\n")
    return str(path)


def test_cli_display_without_gui_exits_2(gray_video):
    if gui_backend() is not None and os.environ.get("DISPLAY"):
        pytest.skip("OpenCV has a GUI and a screen here: --display would open a window")
    result = cli(["--source", str(gray_video[0]), "--display", "--max-frames", "1"])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert ("pip install opencv-python" in result.stderr if gui_backend() is None
            else "DISPLAY" in result.stderr)


def test_cli_record_bad_suffix_exits_2(gray_video, workdir):
    result = cli(["--source", str(gray_video[0]), "--record", str(workdir / "x.mov")])
    assert result.exit_code == 2 and "use a .avi" in result.stderr


# -- capture thread ---------------------------------------------------------------------------

def test_file_source_hands_over_every_frame_and_ends_cleanly(gray_video):
    path, n = gray_video
    grabber = FrameGrabber(parse_source(str(path))).start()
    got = []
    while True:
        frame = grabber.get(timeout=2.0)
        if frame is None:
            break
        got.append(frame.index)
        time.sleep(0.002)  # a consumer slower than decoding: files still lose nothing
    grabber.stop()
    assert got == list(range(n))
    assert grabber.end_reason == "end of file" and grabber.corrupt == 0 and grabber.dropped == 0


def test_corrupt_frame_is_skipped_and_counted(workdir):
    path = workdir / "corrupt.avi"
    n = make_gray_video(path, photos=2, corrupt_frame=4)
    grabber = FrameGrabber(parse_source(str(path))).start()
    frames = 0
    while grabber.get(timeout=2.0) is not None:
        frames += 1
    grabber.stop()
    assert grabber.corrupt == 1 and frames == n - 1
    assert valid_frame(np.zeros((0, 3), np.uint8)) is None
    assert valid_frame(np.zeros((8, 8), np.uint8)).shape == (8, 8, 3)


def test_live_stream_keeps_newest_frame_and_reconnects():
    """A live MJPEG stream over HTTP (127.0.0.1) that a slow consumer reads, then drops."""
    server = StreamServer("127.0.0.1", 0).start()
    port = server.httpd.server_address[1]
    feeding = threading.Event()
    feeding.set()

    def feed(srv):
        i = 0
        while feeding.is_set():
            srv.send(np.full((32, 32, 3), (i * 7) % 250, np.uint8), {})
            i += 1
            time.sleep(0.02)

    threading.Thread(target=feed, args=(server,), daemon=True).start()
    source = parse_source(f"http://127.0.0.1:{port}/stream.mjpg")
    grabber = FrameGrabber(source, give_up_s=2.0, backoff_s=0.1, max_backoff_s=0.4).start()
    try:
        ages = []
        for _ in range(5):
            time.sleep(0.2)  # slow consumer: ~10 frames arrive per get
            frame = grabber.get(timeout=2.0)
            assert frame is not None
            ages.append(time.perf_counter() - frame.t_capture)
        assert grabber.dropped >= 10  # old frames were replaced, not queued
        assert max(ages) < 0.15  # what the consumer gets is fresh
        feeding.clear()
        server.stop()  # the stream drops mid-way
        time.sleep(0.5)
        server = StreamServer("127.0.0.1", port).start()
        feeding.set()
        threading.Thread(target=feed, args=(server,), daemon=True).start()
        deadline = time.perf_counter() + 10
        while grabber.reconnects == 0 and time.perf_counter() < deadline:
            time.sleep(0.05)
        assert grabber.reconnects >= 1
        assert grabber.get(timeout=3.0) is not None
        feeding.clear()
        server.stop()  # gone for good: given up after give_up_s
        deadline = time.perf_counter() + 15
        while not grabber.ended and time.perf_counter() < deadline:
            grabber.get(timeout=0.2)
        assert grabber.ended and grabber.lost and "source lost" in grabber.end_reason
    finally:
        feeding.clear()
        grabber.stop()
        server.stop()


# -- smoothing, stats -------------------------------------------------------------------------

def test_smoothing_lowers_flicker_on_a_static_noisy_scene(runner, rng):
    photo = cv2.resize(read_rgb(sample_images("eval")[0]), (VIDEO_SIZE, VIDEO_SIZE))
    gray = cv2.cvtColor(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2BGR)
    frames = [np.clip(gray + rng.normal(0, 4.0, gray.shape[:2])[..., None], 0, 255)
              .astype(np.uint8) for _ in range(16)]  # sensor-like noise, same on 3 channels
    smoother = AbSmoother(alpha=0.4, cut_threshold=10.0)
    raw, smoothed = [], []
    for f in frames:
        out = colorize_frame(runner, f, smoother)
        raw.append(out.ab_raw)
        smoothed.append(out.ab)
    off, on = flicker(raw), flicker(smoothed)
    assert smoother.cuts == 0  # noise is not a scene cut
    assert off > 0.0
    assert on < 0.6 * off, (on, off)


def test_scene_cut_resets_the_average(rng):
    smoother = AbSmoother(alpha=0.25, cut_threshold=10.0)
    dark, bright = np.full((40, 40), 20.0, np.float32), np.full((40, 40), 80.0, np.float32)
    ab_a, ab_b = np.full((8, 8, 2), 30.0, np.float32), np.full((8, 8, 2), -30.0, np.float32)
    smoother(dark, ab_a)
    assert np.allclose(smoother(dark + 1.0, ab_b), 30.0 + 0.25 * -60.0)  # same scene: EMA
    out = smoother(bright, ab_b)  # scene cut: the new colors at once
    assert smoother.cuts == 1 and np.array_equal(out, ab_b)
    with pytest.raises(ValueError, match="smooth-alpha"):
        AbSmoother(alpha=0.0)


def test_rolling_stats_window():
    stats = RollingStats(window=4)
    for i in range(6):  # 10, 20, ... 60 ms; one frame every 0.1 s
        stats.add(latency_ms=10.0 * (i + 1), infer_ms=5.0, t_done=0.1 * i)
    s = stats.snapshot()
    assert s["frames"] == 6
    assert s["latency_ms_p50"] == pytest.approx(45.0)  # window holds 30, 40, 50, 60
    assert s["latency_ms_p90"] == pytest.approx(57.0)
    assert s["fps"] == pytest.approx(10.0)
    assert "10.0 FPS" in stats.line() and "frames 6" in stats.line()
    assert RollingStats().snapshot()["latency_ms_p50"] is None
    assert "frames: 6" in stats_text(s)


# -- server, recorder -----------------------------------------------------------------------

def test_server_routes_on_localhost():
    assert parse_bind(None) == ("127.0.0.1", 8080)
    assert parse_bind("9000") == ("127.0.0.1", 9000)
    assert parse_bind("0.0.0.0:81") == ("0.0.0.0", 81)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_bind("host:port")
    server = StreamServer(port=0).start()
    try:
        assert server.url.startswith("http://127.0.0.1:")
        with pytest.raises(urllib.request.HTTPError) as e:
            urllib.request.urlopen(server.url + "frame.jpg", timeout=5)
        assert e.value.code == 503
        frame = np.zeros((24, 40, 3), np.uint8)
        frame[:, :, 2] = 200
        server.send(frame, {"fps": 12.5, "frames": 7})
        jpeg = urllib.request.urlopen(server.url + "frame.jpg", timeout=5).read()
        assert cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR).shape == (24, 40, 3)
        assert json.loads(urllib.request.urlopen(server.url + "stats", timeout=5).read()) == {
            "fps": 12.5, "frames": 7}
        page = urllib.request.urlopen(server.url, timeout=5).read().decode()
        assert "FPS: 12.5" in page and "frames: 7" in page and "/frame.jpg" in page
        with urllib.request.urlopen(server.url + "stream.mjpg", timeout=5) as stream:
            assert stream.headers["Content-Type"].startswith("multipart/x-mixed-replace")
            head = stream.read(120)
        assert head.startswith(b"--frame\r\nContent-Type: image/jpeg") and b"\xff\xd8" in head
    finally:
        server.stop()


def test_recorder_mp4_and_bad_path(workdir):
    rec = Recorder(workdir / "clip.mp4", fps=10)
    for i in range(5):
        rec.write(np.full((32, 48, 3), 40 * i, np.uint8))
    assert rec.avi_path.exists()  # while recording: the kill-safe MJPEG AVI
    assert rec.close() == workdir / "clip.mp4"
    assert not rec.avi_path.exists()
    assert count_frames(workdir / "clip.mp4")[0] == 5
    with pytest.raises(RecordError, match="does not exist"):
        Recorder(workdir / "no" / "such" / "x.avi")


def test_recorder_measures_a_live_frame_rate(workdir):
    rec = Recorder(workdir / "live.avi", fps=None)  # live source: rate from arrival times
    for i in range(15):
        rec.write(np.full((16, 16, 3), 10 * i, np.uint8))
        time.sleep(0.04)  # <= 25 frames/s arrive
    rec.close()
    cap = cv2.VideoCapture(str(workdir / "live.avi"))
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    assert 2.0 < fps <= 25.5 and count_frames(workdir / "live.avi") == (15, 15)


def test_killed_recorder_leaves_a_playable_file(workdir):
    """SIGKILL (no cleanup at all) mid-recording: the MJPEG AVI still plays."""
    path = workdir / "killed.avi"
    script = ("import sys, time, numpy as np\n"
              "from edgecolor.camera.recorder import Recorder\n"
              "rec = Recorder(sys.argv[1], fps=10)\n"
              "i = 0\n"
              "while True:\n"
              "    rec.write(np.full((48, 64, 3), i % 250, np.uint8)); i += 1\n"
              "    if i == 30: print('ready', flush=True)\n"
              "    time.sleep(0.005)\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)
    finally:
        proc.kill()
        proc.wait(10)
    decoded, header = count_frames(path)
    assert decoded >= 20  # frames were on disk as they came, not buffered to the end


# -- the CLI on a real video ------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["keras", "tflite"])
def test_cli_records_every_frame_colorized(gray_video, model_args, workdir, weights, kind):
    if kind not in model_args:
        pytest.skip("edgecolor convert is not available: no TFLite artifact to run")
    path, n = gray_video
    out = workdir / f"out-{kind}.avi"
    result = cli(["--source", str(path), *model_args[kind], "--record", str(out),
                  "--no-overlay", "--stats-every", "0"])
    assert result.exit_code == 0, result.output + result.stderr
    assert f"recorded {n} frames" in result.stdout
    assert "ended: end of file" in result.stderr
    assert count_frames(out) == (n, n)  # finalized: the index lists every frame
    assert max(frame_chroma(path)) < 1.0  # the source is gray
    chromas = frame_chroma(out)
    assert min(chromas) > CHROMA_FLOOR, (min(chromas), weights[1])


def test_cli_benchmark_json(gray_video, weights):
    result = cli(["--source", str(gray_video[0]), "--imgsz", "64", "--weights",
                  str(weights[0]), "--benchmark", "20", "--json"])
    assert result.exit_code == 0, result.output + result.stderr
    row = json.loads(result.stdout)["rows"][0]
    assert row["frames"] == 20 and row["kind"] == "camera"
    assert row["fps"] > 0 and row["ait_ms"] > 0
    assert 0 < row["e2e_ms"] <= row["e2e_p90_ms"]
    assert row["frame_size"] == f"{VIDEO_SIZE}x{VIDEO_SIZE}"
    table = cli(["--source", str(gray_video[0]), "--imgsz", "64", "--weights",
                 str(weights[0]), "--benchmark", "4"])
    header = table.stdout.splitlines()[0]
    assert header.startswith("Artifact") and "FPS" in header and "E2E p50 (ms)" in header


def test_loop_respects_max_fps(gray_video, runner):
    grabber = FrameGrabber(parse_source(str(gray_video[0])))
    t0 = time.perf_counter()
    result = CameraLoop(runner, grabber, max_frames=6, max_fps=20.0, log_every_s=0).run()
    assert result.frames == 6 and result.reason == "max frames"
    assert time.perf_counter() - t0 >= 5 / 20.0


class FullDiskOutput:
    """An output whose every write fails the way a full disk does."""

    closed_calls = 0

    def send(self, bgr, stats):
        raise OSError(28, "No space left on device")

    def close(self):
        FullDiskOutput.closed_calls += 1


def test_a_failing_output_does_not_stop_the_others(gray_video, runner, workdir):
    rec = Recorder(workdir / "survivor.avi", fps=10)
    logged = []
    result = CameraLoop(runner, FrameGrabber(parse_source(str(gray_video[0]))),
                        [FullDiskOutput(), rec], max_frames=5, log_every_s=0,
                        log=logged.append).run()
    assert result.frames == 5 and count_frames(workdir / "survivor.avi") == (5, 5)
    assert len(logged) == 1 and "No space left" in logged[0]
    assert FullDiskOutput.closed_calls == 1


def test_sigterm_during_recording_leaves_a_finalized_file(gray_video, model_args, workdir):
    out = workdir / "sigterm.avi"
    model = model_args.get("tflite", model_args["keras"])  # the artifact starts without TF
    cmd = [sys.executable, "-m", "edgecolor", "camera", "--source", str(gray_video[0]),
           "--loop", *model, "--record", str(out), "--stats-every", "0", "--duration", "120"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.perf_counter() + 90
        while time.perf_counter() < deadline and proc.poll() is None:
            if out.exists() and out.stat().st_size > 40_000:  # header + a few dozen frames
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "ended: stopped" in stderr
    decoded, header = count_frames(out)
    assert decoded > 0 and header == decoded  # index written: a clean, playable file
    assert f"recorded {decoded} frames" in stdout
