"""End to end vs model only: the host-side path before and after the fast 8-bit pipeline.

For each int8 artifact given (OpenVINO, TFLite, ONNX Runtime; baseline and ECCV16), in ONE
run on one machine:

* photos at 256x256, 500x500, 640x480, 1920x1080, 4000x3000 (a bundled sample resized;
  8-bit RGB): model-only ms (``runner.infer``), end-to-end ms of ``colorize_array``
  (decoded array in, colorized array out; no codec) on the old float path
  (``colorize_array_reference``, what every 8-bit photo took before) and on the new path,
  host-side ms (everything but the model, timed without it), and the ratios. Model-only
  and new calls are interleaved round-robin, so load from other processes hits them alike;
  the old path (which evicts the caches of whatever runs after it) is timed in its own
  loop; medians are reported. Old vs new outputs are compared (max |diff| in 8-bit levels).
* batching: model-only images/s of ``runner.infer_batch`` at batch 1, 2, 4, 8 for runners
  that batch (OpenVINO).
* host work in the OpenVINO graph (``benchmarks/ingraph.py``): PrePostProcessor resize +
  normalization, and the ab upsample + Lab -> sRGB as graph ops, against the host path.
* the camera at 640x480 and 1280x720 from a recorded clip (MJPEG AVI made here with
  cv2.VideoWriter from the bundled samples, color frames): the sequential loop of the
  revision before (``--before-rev``, loaded from git) vs the pipelined loop, FPS and
  capture-to-output latency p50/p90, no outputs attached (as ``camera --benchmark``).
* a folder of 200 photos (640x480 JPEGs derived from the bundled samples): the old serial
  loop (read, float path, write) vs :func:`edgecolor.folder.colorize_files` one photo per
  model call and at the runner's batch, images/s.

The results file opens with the issue's targets, met or not, on this run.

Usage (development; never in tests; run it on an otherwise idle machine and read the
ratios; the camera and folder rows use the first OpenVINO artifact):
    .venv/bin/edgecolor convert --model baseline --target x86-cpu --format openvino \
        --format tflite --format onnx --precision int8 --precision int8-cpu \
        --calib ../shared/datasets/bsd100 -o /tmp/e2e-art
    .venv/bin/edgecolor convert --model eccv16 --target x86-cpu --format openvino \
        --format tflite --format onnx --precision int8 --precision int8-cpu \
        --calib ../shared/datasets/bsd100 --calib-size 40 --no-budget -o /tmp/e2e-eccv
    .venv/bin/python benchmarks/e2e.py /tmp/e2e-art/baseline-{openvino-int8.xml,\
tflite-int8.tflite,onnx-int8-cpu.onnx} /tmp/e2e-eccv/eccv16-{openvino-int8.xml,\
tflite-int8.tflite,onnx-int8-cpu.onnx} --out benchmarks/results/e2e-x86-cpu
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from edgecolor.bench.stats import time_round_robin
from edgecolor.imageio import atomic_write_bytes, read_image, write_image
from edgecolor.pipeline import colorize_array, colorize_array_reference
from edgecolor.samples import sample_images

REPO = Path(__file__).resolve().parents[1]
SIZES = ((256, 256), (500, 500), (640, 480), (1920, 1080), (4000, 3000))  # (W, H)
# round-robin rounds per size (keyed by width): end to end (with the model) and host only;
# the old path takes seconds a call at 12 MP
ROUNDS = {256: 6, 500: 6, 640: 6, 1920: 4, 4000: 2}
HOST_ROUNDS = {256: 30, 500: 20, 640: 20, 1920: 8, 4000: 3}
BATCHES = (1, 2, 4, 8)
BEFORE_REV = "7afa7ff"  # the last commit before the fast pipeline (issue 16)


def _photo(w: int, h: int) -> np.ndarray:
    """A bundled sample photo resized to (h, w, 3) uint8 RGB."""
    src = read_image(sample_images("eval")[0])
    return cv2.resize(src, (w, h), interpolation=cv2.INTER_CUBIC)


def _host_old(runner, img, y):
    """Everything but the model and the codec, float path: L, inputs, decode, recombine."""
    from edgecolor.color import GrayImage

    gray = GrayImage.from_array(img)
    runner.spec.make_inputs(gray.l)
    return gray.with_ab(runner.spec.decode(y))


def _host_new(runner, img, y):
    """The same on the fast 8-bit path."""
    from edgecolor.color import split_alpha
    from edgecolor.color_u8 import lab_to_rgb_u8, lightness_u8, with_alpha

    base, alpha = split_alpha(img)
    l_full = lightness_u8(base)
    runner.spec.make_inputs(l_full)
    return with_alpha(lab_to_rgb_u8(l_full, runner.spec.decode(y)), alpha)


def bench_photos(runner, label: str) -> list[dict]:
    """Per size for one runner: model-only, host-side (old/new, timed without the model) and
    end-to-end (old/new) medians in ms; each group interleaved round-robin."""
    rows = []
    for w, h in SIZES:
        img = _photo(w, h)
        inputs = runner.spec.make_inputs(np.full((h, w), 50.0, np.float32))
        y = runner.infer(inputs)
        old_out, new_out = colorize_array_reference(runner, img), colorize_array(runner, img)
        diff = int(np.abs(old_out.astype(np.int16) - new_out).max())
        # the color path alone: the same ab into both (end to end, an int8 model may answer
        # differently to L that differs by < 1e-3 when an input lands on a quantization step)
        color_diff = int(np.abs(_host_old(runner, img, y).astype(np.int16)
                                - _host_new(runner, img, y)).max())
        _host_new(runner, img, y)  # warm up
        # the old float path streams ~30x the new one's memory and evicts the caches the
        # call after it finds warm, so it is timed in its own loop after the new one: the
        # new path is timed as it runs in a loop of its own (camera, folder)
        host = time_round_robin(
            {"new": lambda im=img, out=y: _host_new(runner, im, out)}, HOST_ROUNDS[w])
        host |= time_round_robin(
            {"old": lambda im=img, out=y: _host_old(runner, im, out)}, HOST_ROUNDS[w])
        e2e = time_round_robin({  # model and new interleaved: their ratio is the figure
            "model": lambda x=inputs: runner.infer(x),
            "new": lambda im=img: colorize_array(runner, im),
        }, ROUNDS[w])
        e2e |= time_round_robin(
            {"old": lambda im=img: colorize_array_reference(runner, im)}, ROUNDS[w])
        med = {k: statistics.median(v) for k, v in e2e.items()}
        hmed = {k: statistics.median(v) for k, v in host.items()}
        rows.append({
            "artifact": label, "size": f"{w}x{h}", "rounds": ROUNDS[w],
            "host_rounds": HOST_ROUNDS[w],
            "model_ms": round(med["model"], 2),
            "old_host_ms": round(hmed["old"], 2), "new_host_ms": round(hmed["new"], 2),
            "host_speedup": round(hmed["old"] / hmed["new"], 1),
            "old_e2e_ms": round(med["old"], 2), "new_e2e_ms": round(med["new"], 2),
            "e2e_speedup": round(med["old"] / med["new"], 2),
            "old_e2e_over_model": round(med["old"] / med["model"], 2),
            "new_e2e_over_model": round(med["new"] / med["model"], 2),
            "old_host_min_ms": round(min(host["old"]), 2),
            "new_host_min_ms": round(min(host["new"]), 2),
            "max_diff_levels": diff, "color_max_diff_levels": color_diff,
        })
        print(f"  {label} {w}x{h}: model {med['model']:.1f} ms, host {hmed['old']:.1f} -> "
              f"{hmed['new']:.1f} ms, e2e {med['old']:.1f} -> {med['new']:.1f} ms",
              file=sys.stderr)
    return rows


# -- camera ---------------------------------------------------------------------------------

def make_clip(path: Path, w: int, h: int, frames: int = 120) -> Path:
    """An MJPEG AVI of the bundled samples, slowly panned (color frames), at 30 FPS."""
    writer = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                             30.0, (w, h))
    photos = [cv2.resize(read_image(p)[..., ::-1], (w + 64, h + 64)) for p in
              sample_images("eval")]
    for i in range(frames):
        src = photos[(i // 20) % len(photos)]
        dx = (i % 20) * 3
        writer.write(np.ascontiguousarray(src[dx // 2:dx // 2 + h, dx:dx + w]))
    writer.release()
    return path


def _loop_module(rev: str):
    """edgecolor/camera/loop.py as it was at ``rev`` (the sequential loop), as a module."""
    text = subprocess.run(["git", "-C", str(REPO), "show", f"{rev}:toolkit/camera/loop.py"],
                          check=True, capture_output=True, text=True).stdout
    spec = importlib.util.spec_from_loader("edgecolor_camera_loop_before", loader=None)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up
    exec(compile(text, f"{rev}:toolkit/camera/loop.py", "exec"), mod.__dict__)
    return mod


def bench_camera(runner, label: str, clip: Path, size: str, before, frames: int,
                 runs: int = 1) -> list[dict]:
    """Old sequential loop vs the pipelined loop on a looped file clip, no outputs."""
    from edgecolor.camera import loop as new
    from edgecolor.camera.capture import FrameGrabber
    from edgecolor.camera.smoothing import AbSmoother
    from edgecolor.camera.sources import parse_source

    rows = []
    for name, mod in (("old", before), ("new", new)) * runs:
        grabber = FrameGrabber(parse_source(str(clip)), loop=True)
        result = mod.CameraLoop(runner, grabber, [], AbSmoother(), max_frames=frames,
                                log_every_s=0).run()
        lat = result.latency_ms[5:]
        rows.append({"artifact": label, "size": size, "loop": name, "frames": result.frames,
                     "fps": round(result.fps, 1),
                     "latency_ms_p50": round(float(np.percentile(lat, 50)), 1),
                     "latency_ms_p90": round(float(np.percentile(lat, 90)), 1),
                     "infer_ms_p50": round(float(np.median(result.infer_ms)), 2)})
        print(f"  camera {label} {size} {name}: {rows[-1]['fps']} FPS, p50 "
              f"{rows[-1]['latency_ms_p50']} ms", file=sys.stderr)
    # alternating runs of each: keep the better (load from others hits one run, not both)
    best = {}
    for r in rows:
        if r["loop"] not in best or r["fps"] > best[r["loop"]]["fps"]:
            best[r["loop"]] = r
    return [best["old"], best["new"]]


# -- folder ---------------------------------------------------------------------------------

def make_folder(folder: Path, n: int = 200, w: int = 640, h: int = 480) -> list[Path]:
    """n JPEG photos derived from the bundled samples (crops, flips, gray and color)."""
    folder.mkdir(parents=True, exist_ok=True)
    photos = [read_image(p) for p in sample_images("eval") + sample_images("calib")]
    paths = []
    rng = np.random.default_rng(0)
    for i in range(n):
        src = cv2.resize(photos[i % len(photos)], (w + 40, h + 40))
        y, x = rng.integers(0, 40, 2)
        img = src[y:y + h, x:x + w]
        if i % 2:
            img = img[:, ::-1]
        if i % 3 == 0:
            img = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2GRAY)
        p = folder / f"photo{i:03d}.jpg"
        write_image(p, np.ascontiguousarray(img))
        paths.append(p)
    return paths


def bench_folder(runner, label: str, paths: list[Path], work: Path) -> dict:
    """Old serial loop (read, float path, write) vs the folder engine one photo per model
    call and at the runner's batch (``batch_gain``): images/s, each written to its own
    folder."""
    from edgecolor.folder import colorize_files

    def old(out: Path):
        out.mkdir(parents=True, exist_ok=True)
        for p in paths:
            write_image(out / p.name, colorize_array_reference(runner, read_image(p)))

    batch = getattr(runner, "batch_gain", 1)
    runs = {"old": old, "new": lambda out: colorize_files(runner, paths, out, batch=1)}
    if batch > 1:
        runs["batched"] = lambda out: colorize_files(runner, paths, out, batch=batch)
    res = {}
    for name, run in runs.items():
        out = work / f"{label}-{name}"
        t0 = time.perf_counter()
        run(out)
        dt = time.perf_counter() - t0
        assert len(list(out.iterdir())) == len(paths)
        res[name] = len(paths) / dt
        print(f"  folder {label} {name}: {res[name]:.1f} images/s", file=sys.stderr)
    best = max(res.get("batched", 0.0), res["new"])
    return {"artifact": label, "photos": len(paths), "size": "640x480 jpg",
            "old_images_per_s": round(res["old"], 1), "new_images_per_s": round(res["new"], 1),
            "batched_images_per_s": round(res["batched"], 1) if "batched" in res else None,
            "batch": batch, "speedup": round(best / res["old"], 2), "workers": _workers()}


def bench_batching(runner, label: str, rounds: int = 40) -> list[dict]:
    """Model-only images/s of ``runner.infer_batch`` at each of BATCHES (runners that batch;
    the others run one photo per call and are left out)."""
    from edgecolor.runtimes.base import Runner

    if type(runner).infer_batch is Runner.infer_batch:
        return []
    h, w = runner.spec.input_size
    one = runner.spec.make_inputs(np.full((h, w), 50.0, np.float32))
    calls = {n: (lambda b=[one] * n: runner.infer_batch(b)) for n in BATCHES}
    for call in calls.values():
        call()  # compiles each batch size
    times = time_round_robin(calls, rounds)  # interleaved: load hits every size alike
    rows = []
    for n in BATCHES:
        ms = statistics.median(times[n])
        rows.append({"artifact": label, "batch": n, "ms_per_call": round(ms, 2),
                     "images_per_s": round(n * 1000.0 / ms, 1)})
        print(f"  batching {label} x{n}: {rows[-1]['images_per_s']} images/s", file=sys.stderr)
    for r in rows:
        r["vs_batch1"] = round(r["images_per_s"] / rows[0]["images_per_s"], 2)
    return rows


def _workers() -> int:
    from edgecolor.folder import default_workers

    return default_workers()


# -- report ---------------------------------------------------------------------------------

def to_markdown(data: dict) -> str:
    """The results dict -> the markdown results file."""
    m = data["machine"]
    lines = [
        "# End to end vs model only (x86 CPU)", "",
        f"Made by `{data['command']}` on {m['date']} ({m['cpu']}, {m['cores']} cores, "
        f"{m['python']}, OpenCV {m['opencv']}). "
        "Old and new were timed in one run (model and new interleaved; the old path in a "
        "loop of its own, as it evicts the caches): read the ratios. Baseline artifacts carry "
        "the bundled trained weights; ECCV16 artifacts random weights (speed only). Old = "
        "the float reference path every 8-bit photo took "
        f"before (and the camera loop of `{data['before_rev']}`); new = edgecolor.color_u8 + "
        "the pipelined camera + the folder engine." + (f" {data['note']}" if data.get("note")
                                                        else ""), "",
        *_targets_md(data),
        "## Photos (decoded 8-bit RGB array in, colorized array out; medians, ms)", "",
        "Host-side = everything but the model and the codec (L, model inputs, output decode, "
        "ab upsample + recombination), timed without the model call (median, and in brackets "
        "the fastest call: the cost without interference from other processes); end to end "
        "= `colorize_array` with it. Diff: max |old - new| in 8-bit levels, with the same ab "
        "(the color path alone) and end to end (an int8 model can answer differently to an "
        "L that differs by < 1e-3 when an input sits on a quantization step).", "",
        "| Artifact | Size | Model | Old host | New host | Host x | Old e2e | New e2e | E2E x | "
        "Old e2e/model | New e2e/model | Diff color / e2e |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for r in data["photos"]:
        lines.append(f"| {r['artifact']} | {r['size']} | {r['model_ms']} | {r['old_host_ms']} "
                     f"({r.get('old_host_min_ms', '-')}) | {r['new_host_ms']} "
                     f"({r.get('new_host_min_ms', '-')}) | {r['host_speedup']} | "
                     f"{r['old_e2e_ms']} | {r['new_e2e_ms']} | {r['e2e_speedup']} | "
                     f"{r['old_e2e_over_model']} | {r['new_e2e_over_model']} | "
                     f"{r.get('color_max_diff_levels', '-')} / {r['max_diff_levels']} |")
    lines += ["", "## Camera (file clip looped, no outputs attached, smoothing on)", "",
              "| Artifact | Size | Loop | Frames | FPS | Latency p50 (ms) | p90 (ms) | "
              "Infer p50 (ms) |", "|---|---|---|--:|--:|--:|--:|--:|"]
    for r in data["camera"]:
        lines.append(f"| {r['artifact']} | {r['size']} | {r['loop']} | {r['frames']} | "
                     f"{r['fps']} | {r['latency_ms_p50']} | {r['latency_ms_p90']} | "
                     f"{r['infer_ms_p50']} |")
    n_photos = data["folder"][0]["photos"] if data["folder"] else 0
    lines += ["", f"## Folder ({n_photos} photos, 640x480 JPEG, read + colorize + write)", "",
              "Old = one photo after the other on the float path; new = the folder engine "
              "(decode, inference and encode overlapped) with one photo per model call; "
              "batched = the same at the runner's batch size. Speedup = the faster new "
              "engine over old.", "",
              "| Artifact | Old images/s | New images/s | Batched images/s (batch) | Speedup | "
              "Workers |", "|---|--:|--:|--:|--:|--:|"]
    for r in data["folder"]:
        batched = (f"{r['batched_images_per_s']} ({r['batch']})"
                   if r.get("batched_images_per_s") else "-")
        lines.append(f"| {r['artifact']} | {r['old_images_per_s']} | {r['new_images_per_s']} | "
                     f"{batched} | {r['speedup']} | {r['workers']} |")
    if data.get("batching"):
        lines += ["", "## Batching (model only, one input repeated, sizes interleaved)", "",
                  "Only runners whose `infer_batch` runs several photos in one call are listed "
                  "(OpenVINO: the IR reshaped to the batch). TFLite gained nothing at batch 4 "
                  "(XNNPACK) and the ONNX artifacts have a static batch of 1, so they run one "
                  "photo per call.", "",
                  "| Artifact | Batch | ms per call | Images/s | vs batch 1 |",
                  "|---|--:|--:|--:|--:|"]
        for r in data["batching"]:
            lines.append(f"| {r['artifact']} | {r['batch']} | {r['ms_per_call']} | "
                         f"{r['images_per_s']} | {r['vs_batch1']} |")
    if data.get("ingraph"):
        lines += ["", "## Host work in the OpenVINO graph (benchmarks/ingraph.py)", "",
                  "Each candidate against the host path it would replace, on the same 8-bit "
                  "frame; diff = max |graph - host| of the colorized uint8 output in levels "
                  "(the issue's tolerance is 1).", "",
                  "| Candidate | Frame | Replaces | Host ms | In graph ms | Diff (levels) |",
                  "|---|---|---|--:|--:|--:|"]
        for r in data["ingraph"]:
            lines.append(f"| {r['candidate']} | {r['size']} | {r['what']} | {r['host_ms']} | "
                         f"{r['graph_ms']} | {r['max_diff_levels']} |")
    lines.append("")
    return "\n".join(lines)


def targets(data: dict) -> list[tuple[str, str, bool | None]]:
    """The issue's targets on this run: (target, measured, met; None = not measured)."""
    rows = []
    host = [r for r in data["photos"] if r["size"] == "640x480"]
    if host:  # the same work for every artifact (but the output decode): their median
        med = statistics.median(r["new_host_ms"] for r in host)
        rows.append(("host side at 640x480 <= 3 ms (median of the artifacts' rows; the "
                     "same work in each)",
                     f"{med:.2f} ms (rows: "
                     + " / ".join(f"{r['new_host_ms']}" for r in host) + ")", med <= 3.0))
    cam = [r for r in data["camera"] if r["size"] == "640x480" and r["loop"] == "new"]
    if cam:
        c = cam[0]
        rows.append((f"camera {c['artifact']} 640x480 >= 60 FPS, p50 latency <= 25 ms",
                     f"{c['fps']} FPS, p50 {c['latency_ms_p50']} ms",
                     c["fps"] >= 60 and c["latency_ms_p50"] <= 25))
    eccv = [r for r in data["photos"] if r["artifact"].startswith("eccv16")
            and r["size"] == "500x500"]
    rows.append(("ECCV16 int8 end to end / model only <= 1.5 at 500x500",
                 " / ".join(f"{r['artifact']} {r['new_e2e_over_model']}" for r in eccv)
                 or "not measured", all(r["new_e2e_over_model"] <= 1.5 for r in eccv)
                 if eccv else None))
    for r in data["folder"]:
        rows.append((f"folder {r['artifact']} >= 3x images/s", f"{r['speedup']}x",
                     r["speedup"] >= 3.0))
    return rows


def _targets_md(data: dict) -> list[str]:
    mark = {True: "met", False: "NOT met", None: "not measured"}
    lines = ["## Targets of the issue on this run", "", "| Target | Measured | |",
             "|---|---|---|"]
    lines += [f"| {t} | {m} | {mark[ok]} |" for t, m, ok in targets(data)]
    return lines + [""]


def _machine() -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "opencv": cv2.__version__, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifacts", nargs="*", type=Path, help="int8 artifacts (.xml/.tflite/.onnx)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/e2e-x86-cpu",
                    help="results path without suffix (.md and .json are written)")
    ap.add_argument("--camera-frames", type=int, default=60)
    ap.add_argument("--camera-runs", type=int, default=1,
                    help="alternating runs per loop (the best is kept)")
    ap.add_argument("--camera-artifact", default="openvino",
                    help="which artifact's format runs the camera/folder rows")
    ap.add_argument("--before-rev", default=BEFORE_REV)
    ap.add_argument("--threads", type=int, help="inference threads (default: the runtime's)")
    ap.add_argument("--skip-large", action="store_true", help="leave out 4000x3000")
    ap.add_argument("--sizes", help="only these photo sizes, e.g. 256x256,640x480")
    ap.add_argument("--photos", type=int, default=200, help="folder size")
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: a third of the rounds (numbers are noisier)")
    ap.add_argument("--note", help="a sentence for the results file (e.g. the machine's load)")
    ap.add_argument("--render", type=Path, metavar="JSON",
                    help="only re-render the .md of an existing results .json (with --note)")
    args = ap.parse_args(argv)
    if args.render:
        data = json.loads(args.render.read_text())
        if args.note:
            data["note"] = args.note
        atomic_write_bytes(args.render, json.dumps(data, indent=2).encode())
        atomic_write_bytes(args.render.with_suffix(".md"), to_markdown(data).encode())
        return 0
    if not args.artifacts:
        ap.error("give the int8 artifacts to measure (or --render JSON)")
    global SIZES
    if args.skip_large:
        SIZES = SIZES[:3]
    if args.sizes:
        SIZES = tuple(tuple(int(v) for v in t.split("x")) for t in args.sizes.split(","))
    if args.quick:
        for table in (ROUNDS, HOST_ROUNDS):
            for k in table:
                table[k] = max(2, table[k] // 3)

    from edgecolor.runtimes import load_runner

    runners = {}
    for a in args.artifacts:
        r = load_runner(a, threads=args.threads)
        runners[a.name] = r
    command = "python benchmarks/e2e.py " + " ".join(a.name for a in args.artifacts)
    if args.threads:
        command += f" --threads {args.threads}"
    data = {"command": command, "threads": args.threads, "before_rev": args.before_rev,
            "machine": _machine(), "note": args.note, "photos": [], "camera": [],
            "folder": [], "batching": [], "ingraph": []}
    for label, r in runners.items():
        print(f"photos: {label}", file=sys.stderr)
        data["photos"] += bench_photos(r, label)
        data["batching"] += bench_batching(r, label)
    cam_label = next((k for k in runners if args.camera_artifact in k or
                      k.endswith({"openvino": ".xml"}.get(args.camera_artifact, "-"))),
                     next(iter(runners)))
    cam_runner = runners[cam_label]
    if cam_label.endswith(".xml"):
        from ingraph import measure as measure_ingraph

        from edgecolor.color_u8 import lightness_u8

        cam_path = next(a for a in args.artifacts if a.name == cam_label)
        data["ingraph"] = measure_ingraph(cam_runner, str(cam_path),
                                          lightness_u8(_photo(640, 480)), threads=args.threads)
    before = _loop_module(args.before_rev)
    with tempfile.TemporaryDirectory(prefix="edgecolor-e2e-") as tmp:
        work = Path(tmp)
        for w, h in ((640, 480), (1280, 720)):
            clip = make_clip(work / f"clip{w}.avi", w, h)
            data["camera"] += bench_camera(cam_runner, cam_label, clip, f"{w}x{h}", before,
                                           args.camera_frames, args.camera_runs)
        paths = make_folder(work / "photos", args.photos)
        data["folder"].append(bench_folder(cam_runner, cam_label, paths, work))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out.with_suffix(".json"), json.dumps(data, indent=2).encode())
    md = to_markdown(data)
    atomic_write_bytes(args.out.with_suffix(".md"), md.encode())
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
