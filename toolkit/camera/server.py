"""Watch the live colorization from a browser: MJPEG stream, snapshots, a page, stats JSON.

Routes: ``/`` a small page (live image refreshed from ``/frame.jpg`` snapshots, rolling
stats), ``/stream.mjpg`` an endless multipart MJPEG stream (VLC, ffplay, an <img> tag),
``/frame.jpg`` the newest frame, ``/stats`` the rolling stats as JSON. Standard-library
http.server on a daemon thread; binds 127.0.0.1 unless told otherwise.
"""

from __future__ import annotations

import html
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
JPEG_QUALITY = 85

# stats key -> (label, unit): the page shows these lines, server-side first, then live
STATS_LABELS = (
    ("fps", "FPS", ""),
    ("latency_ms_p50", "latency p50", " ms"),
    ("latency_ms_p90", "latency p90", " ms"),
    ("infer_ms_p50", "inference p50", " ms"),
    ("prep_ms_p50", "L + inputs p50", " ms"),
    ("post_ms_p50", "recombine p50", " ms"),
    ("out_ms_p50", "outputs p50", " ms"),
    ("frames", "frames", ""),
    ("dropped", "dropped", ""),
    ("dropped_out", "dropped (outputs lag)", ""),
    ("corrupt", "corrupt", ""),
    ("reconnects", "reconnects", ""),
    ("flicker_ab", "flicker |d ab|", ""),
)

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgecolor camera</title>
<style>
body {{ margin: 0; background: #2b2b2b; color: #e8e8e8; font: 15px/1.4 monospace; }}
main {{ display: flex; gap: 20px; padding: 16px; align-items: flex-start; }}
img {{ width: {width}px; background: #000; display: block; }}
pre {{ margin: 0; font-size: 15px; }}
a {{ color: #e8e8e8; }}
</style></head>
<body><main>
<img id="live" src="/frame.jpg" alt="live colorized frame">
<div><h3>edgecolor camera</h3><pre id="stats">{stats}</pre>
<p><a href="/stream.mjpg">MJPEG stream</a> | <a href="/stats">stats JSON</a></p></div>
</main>
<script>
const LABELS = {labels};
const img = document.getElementById("live");
function fmt(s) {{
  return LABELS.map(([k, label, unit]) =>
    label + ": " + (s[k] === null || s[k] === undefined ? "-" : s[k]) + unit).join("\\n");
}}
function nextFrame() {{
  const n = new Image();
  n.onload = () => {{ img.src = n.src; setTimeout(nextFrame, {poll_ms}); }};
  n.onerror = () => setTimeout(nextFrame, 500);
  n.src = "/frame.jpg?t=" + Date.now();
}}
function nextStats() {{
  fetch("/stats", {{cache: "no-store"}}).then(r => r.json())
    .then(s => {{ document.getElementById("stats").textContent = fmt(s); }})
    .catch(() => {{}}).finally(() => setTimeout(nextStats, 1000));
}}
nextFrame();
nextStats();
</script>
</body></html>
"""


def stats_text(stats: dict) -> str:
    """Rolling stats dict -> the text lines the page shows (same as its script renders)."""
    lines = []
    for key, label, unit in STATS_LABELS:
        value = stats.get(key)
        lines.append(f"{label}: {'-' if value is None else value}{unit}")
    return "\n".join(lines)


def parse_bind(text: str | None) -> tuple[str, int]:
    """``--serve`` value -> (host, port): "8080", ":8080", "HOST:PORT", "HOST"; default localhost.

    Raises ValueError naming the expected form.
    """
    if not text:
        return DEFAULT_HOST, DEFAULT_PORT
    host, sep, port = str(text).rpartition(":")
    if not sep:
        host, port = (DEFAULT_HOST, text) if text.isdigit() else (text, str(DEFAULT_PORT))
    host = host.strip("[]") or DEFAULT_HOST
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"--serve {text}: expected HOST:PORT (e.g. 127.0.0.1:8080)")
    return host, int(port)


class _Latest:
    """The newest JPEG and stats, with a condition for the MJPEG streams to wait on."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.jpeg: bytes | None = None
        self.seq = 0
        self.stats: dict = {}
        self.closing = False


class StreamServer:
    """HTTP server on a daemon thread; :meth:`publish` hands it each new frame.

    host/port: where to listen (port 0 = any free port; see :attr:`url`);
    width: displayed image width on the page (px); poll_ms: page refresh interval.
    """

    def __init__(self, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, width: int = 640,
                 poll_ms: int = 40) -> None:
        self.latest = _Latest()
        self.page_width = width
        self.poll_ms = poll_ms
        self.httpd = ThreadingHTTPServer((host, port), _make_handler(self))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={
            "poll_interval": 0.2}, name="edgecolor-http", daemon=True)

    @property
    def url(self) -> str:
        """http://host:port/ the server listens on."""
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> StreamServer:
        """Begin serving."""
        self._thread.start()
        return self

    def publish(self, jpeg: bytes, stats: dict) -> None:
        """A new frame (JPEG bytes) and the current rolling stats."""
        with self.latest.cond:
            self.latest.jpeg = jpeg
            self.latest.stats = dict(stats)
            self.latest.seq += 1
            self.latest.cond.notify_all()

    def send(self, bgr: np.ndarray, stats: dict) -> None:
        """Loop output: encode a BGR frame as JPEG and publish it with the stats."""
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
        if ok:
            self.publish(buf.tobytes(), stats)

    def close(self) -> None:
        """Loop output: same as :meth:`stop`."""
        self.stop()

    def page(self) -> str:
        """The HTML page with the current stats already filled in."""
        with self.latest.cond:
            stats = dict(self.latest.stats)
        return PAGE.format(width=self.page_width, poll_ms=self.poll_ms,
                           stats=html.escape(stats_text(stats)),
                           labels=json.dumps([list(x) for x in STATS_LABELS]))

    def stop(self) -> None:
        """End the streams, stop serving and close the socket."""
        with self.latest.cond:
            self.latest.closing = True
            self.latest.cond.notify_all()
        if self._thread.is_alive():
            self.httpd.shutdown()
        self.httpd.server_close()


def _make_handler(server: StreamServer):
    latest = server.latest

    class Handler(BaseHTTPRequestHandler):
        server_version = "edgecolor-camera"

        def log_message(self, format, *args):  # quiet: no line per request
            pass

        def _send(self, code: int, body: bytes, ctype: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802 - http.server's naming
            path = self.path.split("?", 1)[0]
            try:
                if path in ("/", "/index.html"):
                    self._send(200, server.page().encode(), "text/html; charset=utf-8")
                elif path == "/frame.jpg":
                    with latest.cond:
                        jpeg = latest.jpeg
                    if jpeg is None:
                        self._send(503, b"no frame yet\n", "text/plain")
                    else:
                        self._send(200, jpeg, "image/jpeg")
                elif path == "/stats":
                    with latest.cond:
                        body = json.dumps(latest.stats).encode()
                    self._send(200, body, "application/json")
                elif path == "/stream.mjpg":
                    self._stream()
                else:
                    self._send(404, b"not found: try / /stream.mjpg /frame.jpg /stats\n",
                               "text/plain")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the viewer went away

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            seen = -1
            while True:
                with latest.cond:
                    while latest.seq == seen and not latest.closing:
                        latest.cond.wait(1.0)
                    if latest.closing:
                        return
                    jpeg, seen = latest.jpeg, latest.seq
                if jpeg is None:
                    continue
                self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\n"
                                 b"Content-Length: %d\r\n\r\n" % len(jpeg) + jpeg + b"\r\n")
                self.wfile.flush()

    return Handler
