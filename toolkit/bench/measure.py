"""Measure one artifact (or the Keras FP32 reference) in its own process.

The parent writes a job (JSON), runs ``python -m edgecolor.bench.measure JOB RESULT`` and
reads the result (JSON): load time, first inference, model-only and end-to-end timings,
peak RSS during load and during the runs, and per-photo quality. A separate process per
artifact keeps the runtimes' memory (and crashes) apart. The worker never imports
TensorFlow unless the job is the Keras reference.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgecolor.bench.stats import summarize, time_calls, time_once
from edgecolor.errors import one_line


def _status_kb(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def rss_mb() -> float | None:
    """Current resident set size of this process in MB (Linux), else None."""
    kb = _status_kb("VmRSS")
    return kb / 1024.0 if kb is not None else None


def peak_rss_mb() -> float:
    """Peak resident set size of this process in MB since start or the last reset."""
    kb = _status_kb("VmHWM")
    if kb is not None:
        return kb / 1024.0
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark (Linux >= 4.0: write 5 to /proc/self/clear_refs).

    -> True when reset, so the next peak is that of the following phase alone.
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _make_runner(job: dict):
    """Job -> (runner, runner name), not yet activated."""
    if job["kind"] == "source":  # the user's own model file, under its recorded contract
        from edgecolor.contract import Contract
        from edgecolor.sources import load_source

        ref = job["source"]
        source = load_source(ref["path"], io=Contract.from_dict(ref["contract"]),
                             imgsz=tuple(ref["size"]))
        runner = source.reference(threads=job.get("threads"))
        return runner, runner.name
    if job["kind"] == "keras":
        ref = job["keras"]
        from edgecolor._tf import import_tf
        from edgecolor.runtimes.keras import KerasRunner
        from edgecolor.spec import ModelSpec
        from edgecolor.zoo import create_model

        tf, _ = import_tf()
        if job.get("threads"):
            tf.config.threading.set_intra_op_parallelism_threads(int(job["threads"]))
            tf.config.threading.set_inter_op_parallelism_threads(1)
        spec = ModelSpec.from_dict(ref["spec"])
        model, _ = create_model(ref["model"], input_size=spec.input_size, batch_size=1,
                                weights=ref.get("weights"), **ref.get("kwargs", {}))
        if job.get("alt") == "keras-predict":
            from edgecolor.bench.alternatives import KerasPredictRunner

            return KerasPredictRunner.from_model(model, spec), "keras-predict"
        return KerasRunner.from_model(model, spec, threads=job.get("threads")), "keras"
    from edgecolor.runtimes import load_runner

    runner = load_runner(job["artifact"], runner=job.get("runner"), threads=job.get("threads"),
                         device=job.get("device"))
    return runner, runner.name


def _health_sampler(job: dict):
    """The job's health sampler (job["health"]: true), or None."""
    if not job.get("health"):
        return None
    from edgecolor.bench.health import HealthSampler

    return HealthSampler(interval_s=float(job.get("health_interval_s") or 0.5))


def run_job(job: dict) -> dict:
    """Do the measurements a job asks for in this process -> result dict (JSON-ready).

    job keys: kind ("artifact" | "keras"), artifact, runner, threads, device, keras
    ({model, spec, weights, kwargs}), alt ("keras-predict": time ``model.predict``), images
    (quality photos), metrics ("full" | "fast": no SSIM/CIEDE2000), e2e_image, warmup, runs,
    seconds, budget_s (time cap per timing), reference (npz of the FP32 outputs),
    save_outputs (npz path to write ours), health (sample temperature, throttling, clock
    and power during the model-only runs -> result["health"]), gallery ({"root", "name"}:
    the report's pictures -> result["gallery"], see :mod:`.gallery`) and video (a clip ->
    result["flicker"], see :mod:`.flicker`).
    """
    from edgecolor.bench import quality
    from edgecolor.color import lightness
    from edgecolor.imageio import read_rgb
    from edgecolor.pipeline import colorize_array

    result: dict = {"status": "ok", "rss_base_mb": rss_mb()}
    stage = "load"
    try:
        reset_peak_rss()
        start = time.perf_counter_ns()
        runner, result["runner"] = _make_runner(job)
        if getattr(runner, "choice", None) is not None:
            result["runner_reason"] = runner.choice.reason
        runner.activate()
        result["load_ms"] = (time.perf_counter_ns() - start) / 1e6
        result["peak_load_mb"] = peak_rss_mb()

        stage = "first inference"
        result["hwm_reset"] = reset_peak_rss()
        e2e_rgb = read_rgb(job["e2e_image"])
        inputs = runner.spec.make_inputs(lightness(e2e_rgb))
        _, result["first_ms"] = time_once(lambda: runner.infer(inputs))

        stage = "timing"
        runs, warmup, seconds = int(job["runs"]), int(job["warmup"]), job.get("seconds")
        budget = job.get("budget_s")
        sampler = _health_sampler(job)
        with sampler or contextlib.nullcontext():
            model_times = time_calls(lambda: runner.infer(inputs), runs, warmup, seconds,
                                     budget_s=budget)
        e2e_times = time_calls(lambda: colorize_array(runner, e2e_rgb), runs,
                               min(warmup, 2), seconds, budget_s=budget)
        result["model_ms"] = summarize(model_times).to_dict()
        result["e2e_ms"] = summarize(e2e_times).to_dict()
        result["e2e_image"] = {"name": Path(job["e2e_image"]).name,
                               "shape": list(e2e_rgb.shape)}
        if sampler is not None:  # health during the model-only runs (energy per frame)
            result["health"] = sampler.summary(frame_ms=result["model_ms"]["mean"])
        result["peak_run_mb"] = peak_rss_mb()  # before quality: its buffers are not the model's

        stage = "quality"
        reference = np.load(job["reference"]) if job.get("reference") else None
        outputs: dict[str, np.ndarray] = {}
        per_image = []
        saver = _gallery_saver(job)
        for i, path in enumerate(job.get("images", [])):
            truth = read_rgb(path)
            out = quality.colorize_float(runner, truth)
            scores = {"image": Path(path).name,
                      **quality.image_scores(truth, quality.to_uint8(out),
                                             full=job.get("metrics", "full") == "full")}
            if reference is not None:
                scores.update(quality.fp32_scores(out, reference[f"i{i}"],
                                                  full=job.get("metrics", "full") == "full"))
            if saver is not None:
                saver.add(scores["image"], out,
                          None if reference is None else reference[f"i{i}"], scores)
            per_image.append(scores)
            if job.get("save_outputs"):
                outputs[f"i{i}"] = out
        result["per_image"] = per_image
        if job.get("save_outputs"):
            np.savez(job["save_outputs"], **outputs)
        if saver is not None:
            stage = "report pictures"
            result["gallery"] = saver.finish()
        if job.get("video"):
            stage = "flicker"
            result["flicker"] = _flicker(runner, job["video"])
        runner.deactivate()
    except Exception as e:  # any runtime error becomes the row's one-line reason
        result["status"] = "failed"
        result["error"] = f"{stage}: {one_line(e)}"
    return result


def _gallery_saver(job: dict):
    """The job's picture saver (report_files/<name>/), or None when it asks for none."""
    if not job.get("gallery"):
        return None
    from edgecolor.bench.gallery import GallerySaver

    g = job["gallery"]
    return GallerySaver(g["root"], g["name"], keep_all=bool(job.get("save_outputs")),
                        heat=job.get("metrics", "full") == "full")


def _flicker(runner, clip: str) -> dict:
    """Flicker of this runner's output on ``clip`` -> its dict, or {"error"} (one line): a
    clip that cannot be read never fails the artifact's other numbers."""
    from edgecolor.bench.flicker import FlickerError, measure_clip

    try:
        return measure_clip(runner, clip).to_dict()
    except FlickerError as e:
        return {"error": str(e)}


PARENT_ENV = "EDGECOLOR_PARENT_PID"
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> bool:
    """In a measuring child: ask the kernel to SIGKILL this process when the parent that
    started it dies (Linux ``prctl(PR_SET_PDEATHSIG)``), and exit now if it already has
    (``$EDGECOLOR_PARENT_PID`` is no longer our parent). -> True when armed (Linux)."""
    import signal

    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
        except (OSError, AttributeError):
            armed = False
    parent = os.environ.pop(PARENT_ENV, None)  # not inherited by our own children
    if parent and parent.isdigit() and os.getppid() != int(parent):
        os._exit(1)  # the parent died before the signal was armed: nobody wants the result
    return armed


def measure_in_subprocess(job: dict, timeout_s: float = 900.0) -> dict:
    """Run ``job`` in a fresh Python process -> its result; a crash or timeout becomes a
    failed result with a one-line reason.
    """
    with tempfile.TemporaryDirectory(prefix="edgecolor-bench-") as tmp:
        job_path, result_path = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job_path.write_text(json.dumps(job))
        env = dict(os.environ)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        env[PARENT_ENV] = str(os.getpid())  # the child dies with us (die_with_parent)
        cmd = [sys.executable, "-m", "edgecolor.bench.measure", str(job_path), str(result_path)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s,
                                  env=env)
        except subprocess.TimeoutExpired:
            return {"status": "failed", "error": f"timed out after {timeout_s:.0f} s"}
        if result_path.is_file():
            return json.loads(result_path.read_text())
        last = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
        why = last[-1].strip() if last else "no output"
        return {"status": "failed",
                "error": f"measuring process exited with code {proc.returncode} ({why})"}


def main(argv: list[str] | None = None) -> int:
    """Worker entry point: ``python -m edgecolor.bench.measure JOB.json RESULT.json``."""
    from edgecolor._tf import quiet_tf_env
    from edgecolor.bench.job import BenchResult
    from edgecolor.imageio import atomic_write_bytes

    die_with_parent()
    quiet_tf_env()
    job_path, result_path = (argv or sys.argv[1:])[:2]
    result = BenchResult.from_dict(run_job(json.loads(Path(job_path).read_text())))
    atomic_write_bytes(result_path, json.dumps(result.to_dict()).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
