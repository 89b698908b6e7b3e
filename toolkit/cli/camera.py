"""``edgecolor camera``: live colorization from a camera, file or stream."""

from __future__ import annotations

import signal
import sys
import threading
from pathlib import Path

import click

SOURCE_HELP = ("Camera index (0), /dev/videoN, video file, rtsp:// or http:// URL, GStreamer "
               "pipeline ('... ! appsink'), or a preset: jetson-csi, rpi-csi.")


def _fail(message: str, code: int = 2):
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _parse_size(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    w, sep, h = text.lower().partition("x")
    if not (sep and w.isdigit() and h.isdigit() and int(w) > 0 and int(h) > 0):
        _fail(f"--capture-size {text}: expected WIDTHxHEIGHT, e.g. 640x480")
    return int(w), int(h)


@click.command("camera")
@click.option("--artifact", type=click.Path(exists=True, dir_okay=False),
              help="Converted artifact to run (.tflite/.xml/.onnx with its manifest).")
@click.option("--model", default="baseline", show_default=True,
              help="Zoo model run with Keras when no --artifact is given (needs TensorFlow), "
              "or your own .onnx/.keras file (its FP32 source).")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False),
              help="Weights for --model (.weights.h5/.keras); default: the bundled weights.")
@click.option("--imgsz", type=int, help="Model input size for --model (square).")
@click.option("--source", "source_text", default="0", show_default=True, help=SOURCE_HELP)
@click.option("--capture-size", help="Ask the camera for WIDTHxHEIGHT (e.g. 640x480).")
@click.option("--loop", "loop_file", is_flag=True, help="Replay a video file from the start.")
@click.option("--display", is_flag=True, help="Show a window (needs OpenCV with a GUI).")
@click.option("--serve", is_flag=False, flag_value="127.0.0.1:8080", default=None,
              metavar="[HOST:PORT]",
              help="Serve a page + MJPEG stream (default 127.0.0.1:8080; 0.0.0.0:PORT to "
                   "reach it from other machines). Default output on a headless device.")
@click.option("--record", type=click.Path(dir_okay=False),
              help="Record to OUT.avi (MJPEG, playable even if killed) or OUT.mp4.")
@click.option("--max-fps", type=click.FloatRange(min=0.1), help="Process at most N frames/s.")
@click.option("--threads", type=int, help="Inference threads (artifact runners).")
@click.option("--smooth/--no-smooth", default=True, show_default=True,
              help="Temporal smoothing of the colors (EMA, reset on scene cuts).")
@click.option("--smooth-alpha", type=float, default=0.4, show_default=True,
              help="Weight of the newest frame's colors (1 = no smoothing).")
@click.option("--scene-cut", type=float, default=10.0, show_default=True,
              help="Mean |dL| (L units, 32x32 thumbnail) that resets the smoothing.")
@click.option("--overlay/--no-overlay", default=True, show_default=True,
              help="Draw FPS and latency on the frames shown (window, browser).")
@click.option("--record-overlay", is_flag=True,
              help="Burn the FPS/latency overlay into the --record video too (default: the "
                   "recording is clean).")
@click.option("--max-frames", type=click.IntRange(min=1), help="Stop after N frames.")
@click.option("--duration", type=click.FloatRange(min=0.0), help="Stop after N seconds.")
@click.option("--stats-every", type=float, default=5.0, show_default=True,
              help="Print the rolling stats line every N seconds (0: never).")
@click.option("--reconnect-timeout", type=float, default=60.0, show_default=True,
              help="Give up on a lost live source after N seconds without a frame.")
@click.option("--benchmark", "bench_frames", type=click.IntRange(min=2),
              help="Run N frames (files loop) and print the end-to-end report row.")
@click.option("--json", "as_json", is_flag=True, help="With --benchmark: print JSON instead.")
def command(artifact, model, weights, imgsz, source_text, capture_size, loop_file, display,
            serve, record, max_fps, threads, smooth, smooth_alpha, scene_cut, overlay,
            record_overlay, max_frames, duration, stats_every, reconnect_timeout, bench_frames,
            as_json):
    """Colorize a camera or stream live; watch it in a window or a browser, or record it.

    Pipelined: a capture thread keeps only the newest frame (no growing latency); the
    inference stage colorizes each frame's lightness and smooths the colors over time; an
    output stage recombines the full-resolution frame and feeds the outputs, so a slow
    browser or disk never stalls the model. Recordings are clean (--record-overlay to
    burn the stats in). A rolling stats line (FPS, capture->output latency, inference ms)
    is printed every few seconds; a summary table at the end. Ctrl-C / SIGTERM stop
    cleanly and finalize the recording. Exit 2: the source (or an option) is unusable;
    exit 1: a live source was lost for good.

    \b
    Example:
      edgecolor camera --artifact art/baseline-tflite-int8.tflite --source 0 --serve
      edgecolor camera --artifact model.tflite --source rpi-csi --serve 0.0.0.0:8080
      edgecolor camera --model baseline --source clip.mp4 --record out.avi
      edgecolor camera --artifact model.onnx --source clip.mp4 --benchmark 100 --json
    """
    from edgecolor.camera.capture import FrameGrabber
    from edgecolor.camera.display import Display, DisplayError, check_display
    from edgecolor.camera.loop import CameraLoop
    from edgecolor.camera.recorder import Recorder, RecordError, check_record_path
    from edgecolor.camera.report import benchmark_row, terminal_table, to_json
    from edgecolor.camera.smoothing import AbSmoother
    from edgecolor.camera.sources import (
        SourceError,
        open_source,
        parse_source,
        quiet_video_logs,
        source_fps,
    )

    quiet_video_logs()

    if as_json and not bench_frames:
        _fail("--json goes with --benchmark N")
    if record_overlay and not record:
        _fail("--record-overlay goes with --record OUT.avi")
    if not 0.0 < smooth_alpha <= 1.0:
        _fail(f"--smooth-alpha {smooth_alpha}: must be in (0, 1] (1 = no smoothing)")
    if display:
        try:
            check_display()
        except DisplayError as e:
            _fail(str(e))
    if record:
        try:
            check_record_path(record)
        except RecordError as e:
            _fail(str(e))
    if not (display or serve or record or bench_frames):
        try:  # default output: a window where there is a screen, else the browser page
            check_display()
            display = True
        except DisplayError:
            serve = "127.0.0.1:8080"

    # the source first: a wrong source fails in a second, before a model is loaded
    try:
        source = parse_source(source_text, size=_parse_size(capture_size))
        reader = open_source(source)
    except SourceError as e:
        _fail(str(e))
    fps_in = source_fps(reader)

    sinks = []
    recorder = None
    try:
        runner, artifact_name = _make_runner(model, weights, imgsz, artifact, threads)
        if serve:
            sinks.append(_start_server(serve))
        if display:
            sinks.append(Display())
        if record:
            # files: their own rate; live: measured from the first frames (real speed)
            rec_fps = None if source.live or not fps_in else min(fps_in, max_fps or fps_in)
            recorder = Recorder(record, fps=rec_fps)
            recorder.wants_overlay = record_overlay  # clean frames unless asked
            sinks.append(recorder)
    except BaseException as e:
        reader.release()
        for s in sinks:
            s.close()
        if isinstance(e, click.exceptions.Exit | SystemExit):
            raise
        if isinstance(e, ValueError | RuntimeError | OSError):
            _fail(str(e).splitlines()[0])
        raise

    grabber = FrameGrabber(source, reader=reader,
                           loop=loop_file or bool(bench_frames and not source.live),
                           give_up_s=reconnect_timeout)
    smoother = AbSmoother(smooth_alpha, scene_cut) if smooth else None
    stop = threading.Event()
    loop = CameraLoop(runner, grabber, sinks, smoother,
                      max_frames=bench_frames or max_frames, duration_s=duration,
                      max_fps=max_fps, overlay=overlay,
                      log_every_s=0.0 if bench_frames else stats_every, stop_event=stop)
    with _stop_on_signals(stop):
        result = loop.run()
    if grabber.corrupt:  # skipped, counted, reported: the stream went on after them
        click.echo(f"skipped {grabber.corrupt} undecodable frame(s) of {source.text}", err=True)
    if recorder is not None and recorder.error:  # a full disk: no broken file is left
        _fail(recorder.error, 1)

    size = "{}x{}".format(*grabber.last_size) if grabber.last_size else None
    row = benchmark_row(result, artifact_name, source.text if source.kind != "gstreamer"
                        else "gstreamer", size, threads)
    if as_json:
        click.echo(to_json([row]), nl=False)
    else:
        click.echo(terminal_table([row]))
        if record and result.frames:
            click.echo(f"recorded {result.frames} frames to {Path(record)}")
        click.echo(f"ended: {result.reason}; flicker |d ab| {result.flicker_raw:.3f} raw -> "
                   f"{result.flicker_out:.3f} shown", err=True)
    if result.lost:
        _fail(f"--source {source.text}: {result.reason}", 1)
    if result.frames == 0 and result.reason not in ("stopped",):
        _fail(f"--source {source.text}: no frame could be colorized ({result.reason})", 1)
    sys.exit(0)


def _make_runner(model, weights, imgsz, artifact, threads):
    """-> (runner, artifact label for the report). Errors propagate as ValueError/RuntimeError."""
    if artifact:
        from edgecolor.runtimes import load_runner

        return load_runner(artifact, threads=threads), Path(artifact).name
    from edgecolor.sources import is_model_path

    if is_model_path(model):  # the user's own model file, its contract inferred
        from edgecolor.sources import load_source

        source = load_source(model, imgsz=imgsz)
        h, w = source.spec.input_size
        return source.reference(threads=threads), f"{source.name}-source-fp32 ({w}x{h})"
    from edgecolor.runtimes.keras import KerasRunner

    runner = KerasRunner.from_zoo(model, weights=weights or "default", input_size=imgsz,
                                  batch_size=1)
    h, w = runner.spec.input_size
    return runner, f"{model}-keras-fp32 ({w}x{h})"


def _start_server(serve: str):
    from edgecolor.camera.server import StreamServer, parse_bind

    host, port = parse_bind(serve)
    try:
        server = StreamServer(host, port).start()
    except OSError as e:
        raise OSError(f"--serve {serve}: cannot listen on {host}:{port} ({e.strerror}); "
                      "choose another port, e.g. --serve 127.0.0.1:8090") from e
    hint = "" if host not in ("127.0.0.1", "localhost", "::1") else \
        " (this machine only; --serve 0.0.0.0:PORT to reach it from others)"
    click.echo(f"serving on {server.url}{hint}", err=True)
    return server


class _stop_on_signals:
    """Ctrl-C / SIGTERM set ``stop`` (the loop ends and outputs are finalized); a second
    Ctrl-C interrupts at once (the recording is still closed by the loop's cleanup)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self.saved = {}

    def _handle(self, signum, frame):
        if self.stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop.set()

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        return False
