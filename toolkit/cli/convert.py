"""``edgecolor convert``: a zoo model -> a device profile's artifact set, quick-checked."""

from __future__ import annotations

import math
import re
import sys
import time

import click

from edgecolor.cli.options import budget_flag, check_model_options, conversion_options


@click.command("convert")
@click.option("--model", default="baseline", show_default=True,
              help="Zoo model name, or your own model: a .onnx, .keras or .h5 file or a "
              "SavedModel folder.")
@click.option("--io", "io", metavar="PRESET|FILE.toml",
              help="Colorization contract of your own model (edgecolor.contract): a preset "
              "(zhang-pytorch, zhang-bins, unet-tanh110, keras-l100-ab128, pix2pix-rgb, "
              "imagenet-ab) or a TOML file; default: inferred from the graph.")
@click.option("--weights", type=click.Path(dir_okay=False),
              help="Weights file (.weights.h5/.keras); default: bundled, else random init.")
@click.option("--target", default="auto", show_default=True,
              help="Device profile (see `edgecolor devices`), a profile .toml, or auto.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for the artifacts and their manifests.")
@click.option("--format", "formats", multiple=True,
              help="Only these formats (repeatable): tflite, openvino, onnx.")
@click.option("--precision", "precisions", multiple=True,
              help="Only these precisions (repeatable), e.g. int8. A profile's on-request "
                   "rows (rpi4: tflite int16x8, slow there) are made only when named here.")
@click.option("--calib", type=click.Path(), help="Calibration image folder (deployment domain, "
              ">= 100 images); default: the bundled samples, with a warning.")
@click.option("--imgsz", type=int, help="Square input size; default: the profile's.")
@click.option("--threads", type=int, help="Threads for conversion and the quick check.")
@click.option("--width", type=float, help="Model width multiplier (smaller, faster models).")
@click.option("--opset", type=int, help="ONNX opset (onnx only).")
@click.option("--seed", type=int, default=0, show_default=True, help="Calibration sampling seed.")
@conversion_options
def command(model, io, weights, target, out_dir, formats, precisions, calib, calib_size,
            calib_method, imgsz, threads, width, opset, seed, max_dpsnr, min_psnr_fp32, max_de,
            min_speedup, confident, search_minutes, no_budget, qat, qat_images, model_kw):
    """Convert a zoo model, or your own (.onnx / .keras / .h5 / SavedModel), to the
    artifacts a device needs, each with a JSON manifest (your model's colorization contract
    is inferred from the graph, or stated with --io).

    Every artifact is loaded by its runtime and run on held-out calibration images (never
    used to calibrate): the summary shows its size, PSNR of the colorized output vs the
    Keras FP32 model and the max error of the raw output. A failing artifact does not stop
    the others; the exit status is 1 if any failed, 2 for a bad request. A model without
    trained weights (bundled, cached or --weights) is converted with random weights and
    every row says "random weights — speed only". Speeds in the summary are measured on
    this host and say so (and "not on <target>" when converting for another device).

    \b
    Example:
      edgecolor convert --model baseline --target x86-cpu --calib photos/ -o art/
      edgecolor convert --target rpi4 --format tflite --precision int8 --calib photos/ -o art/
      edgecolor convert --target jetson-orin-nano --calib photos/ -o art/ --imgsz 224
      edgecolor convert --format tflite --precision int8 --max-dpsnr 0.3 --calib photos/ -o art/
      edgecolor convert --precision int8 --min-psnr-fp32 42 --max-de 1.0 --calib photos/ -o art/
      edgecolor convert --format tflite --precision int8 --min-speedup 1.5 --calib photos/ -o art/
      edgecolor convert --model eccv16 --option head=bins --option temperature=0.38 \\
          --calib photos/ -o art-bins/
      edgecolor convert --model my_colorizer.onnx --target x86-cpu --calib photos/ -o art/
      edgecolor convert --model my_unet.keras --io keras-l100-ab128 --calib photos/ -o art/
    """
    from edgecolor.converters.run import ConvertRequest, ConvertRequestError, convert

    check_model_options(model, model_kw)
    request = ConvertRequest(
        model, target, formats=list(formats) or None, precisions=list(precisions) or None,
        calib=calib, calib_size=calib_size or None, calib_method=calib_method,
        out_dir=out_dir, weights=weights or "default", imgsz=imgsz, threads=threads,
        opset=opset, width=width, seed=seed, on_start=_start, on_done=_done,
        max_dpsnr=max_dpsnr, model_kw=model_kw, io=io,
        log=lambda line: click.echo(line, err=True),
        min_psnr_fp32=min_psnr_fp32, max_de=max_de, min_speedup=min_speedup, qat=qat,
        qat_images=qat_images, search_minutes=search_minutes, confident=confident,
        budget=budget_flag(no_budget, max_dpsnr, min_psnr_fp32, max_de, min_speedup))
    try:
        profile = request.resolve().profile.name  # profile, rows, options: checked once
        source = announce_weights(model, weights, width or model_kw.get("width"))
        _clock.update(start=time.monotonic())
        results = convert(request)
    except ConvertRequestError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    click.echo(summary_table(results, weights_source=source, target=profile))
    sys.exit(0 if all(r.ok for r in results) else 1)


def announce_weights(model: str, weights: str | None, width: float | None) -> str | None:
    """bundled | cache | file | random (None for an unknown model: convert_all refuses it);
    random weights get one warning line before any work, saying how to get trained ones."""
    from edgecolor.zoo import RANDOM_MARK, weights_source
    from edgecolor.zoo.registry import how_to_get_weights

    try:
        source = weights_source(model, weights or "default", width)
    except ValueError:
        return None
    if source == "random":
        click.echo(f"warning: {model} has no trained weights here: converting random weights "
                   f"({RANDOM_MARK}); to get weights, {how_to_get_weights(model)}", err=True)
    return source


_clock = {"start": 0.0}  # when the conversions started (for the rate / ETA)


def _start(i: int, n: int, name: str) -> None:
    click.echo(f"[{i}/{n}] {name} ...", nl=False, err=True)


def _done(i: int, n: int, r) -> None:
    from edgecolor.progress import rate_eta

    status = "ok" if r.ok else "FAILED"
    click.echo(f" {status} ({r.seconds:.1f} s{rate_eta(i, n, time.monotonic() - _clock['start'])})",
               err=True)


def _fmt(x: float | None, spec: str) -> str:
    if x is None:
        return "-"
    if math.isinf(x):
        return "inf"
    return format(x, spec)


_SPEED = re.compile(r"\d+(?:\.\d+)?x FP32 speed")


def summary_table(results, weights_source: str | None = None, target: str | None = None,
                  where: str | None = None) -> str:
    """ArtifactResults -> the summary: artifact, MB, status, PSNR, max error, time, notes.

    weights_source "random": every row and the last line say "random weights — speed only".
    target: the profile converted for; every speed figure in a note gets ``where`` it was
    measured (default: this host, and "not on <target>" when that is another device).
    """
    from edgecolor.bench.marks import RANDOM_MARK, measured_on

    speed_only = weights_source == "random"
    if any(_SPEED.search(n) for r in results for n in r.notes):
        where = where or measured_on(target)
    w = max([len("artifact")] + [len(r.name) for r in results])
    lines = [f"{'artifact':<{w}}  {'MB':>6}  ok  {'PSNR dB':>7}  {'max|err|':>8}  "
             f"{'conv s':>6}  note"]
    for r in results:
        notes = [_SPEED.sub(lambda m: f"{m.group(0)} ({where})", n) for n in r.notes]
        note = r.error or "; ".join(([RANDOM_MARK] if speed_only else []) + notes)
        mark = "✅" if r.ok else "❌"
        lines.append(f"{r.name:<{w}}  {r.size_mb:>6.2f}  {mark}  {_fmt(r.psnr_db, '7.1f'):>7}  "
                     f"{_fmt(r.max_abs_err, '8.2g'):>8}  {r.seconds:>6.1f}  {note}")
    for r in results:
        if r.trt_problems is not None:
            verdict = ("ready" if not r.trt_problems
                       else f"{len(r.trt_problems)} problem(s): " + "; ".join(r.trt_problems))
            lines.append(f"TensorRT check {r.name}: {verdict}")
    ok = sum(r.ok for r in results)
    lines.append(f"{ok}/{len(results)} artifacts ok"
                 + (f" in {results[0].path.parent}/" if results else "")
                 + (f" — {RANDOM_MARK} (no trained weights)" if speed_only else ""))
    return "\n".join(lines)
