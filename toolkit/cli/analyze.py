"""``edgecolor analyze``: per-layer int8 sensitivity (dB) and risk checks on every backend."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from edgecolor.formats import CALIB_METHODS
from edgecolor.quant import MAX_PROBES

DEFAULT_FORMATS = ("tflite:int8", "openvino:int8", "onnx:int8-cpu")


def parse_formats(items: tuple[str, ...]) -> list[tuple[str, str]]:
    """"fmt" or "fmt:precision" strings -> (format, precision) pairs (precision default int8).

    Raises click.BadParameter naming the choices for an unknown format or precision.
    """
    from edgecolor.formats import FORMATS
    from edgecolor.quant.backends import BACKENDS

    pairs = []
    for item in items or DEFAULT_FORMATS:
        fmt, _, precision = item.partition(":")
        precision = precision or "int8"
        if fmt not in BACKENDS:
            raise click.BadParameter(f"{fmt!r}: choose one of {', '.join(BACKENDS)}",
                                     param_hint="--format")
        calibrated = FORMATS[fmt].calibrated
        if precision not in calibrated or precision == "int16x8":
            choices = [p for p in calibrated if p != "int16x8"]
            raise click.BadParameter(f"{item!r}: {fmt} precisions to analyze: "
                                     f"{', '.join(choices)}", param_hint="--format")
        pairs.append((fmt, precision))
    return pairs


@click.command("analyze")
@click.option("--model", default="baseline", show_default=True,
              help="Zoo model name, or your own .onnx / .keras / .h5 file or SavedModel.")
@click.option("--weights", type=click.Path(dir_okay=False),
              help="Weights file (.weights.h5/.keras); default: bundled, else random init.")
@click.option("--imgsz", type=int, help="Square input size; default: the model's own.")
@click.option("--width", type=float, help="Model width multiplier (zoo models that have it).")
@click.option("--calib", type=click.Path(), help="Calibration image folder; its held-out "
              "split is the validation set. Default: the bundled samples, with a warning.")
@click.option("--calib-size", type=int, default=200, show_default=True,
              help="Calibration images to use (0 = all).")
@click.option("--holdout", type=float, default=0.2, show_default=True,
              help="Validation split: a fraction (<1) or a count of images.")
@click.option("--format", "formats", multiple=True,
              help="Backends to analyze, repeatable: tflite, openvino, onnx, or "
                   "format:precision (onnx:int8 = TensorRT Q/DQ). Default: "
                   + ", ".join(DEFAULT_FORMATS) + ".")
@click.option("--calib-method", default="minmax", show_default=True,
              type=click.Choice(CALIB_METHODS),
              help="Activation range estimation. minmax (default here, unlike convert's "
              "quantile) shows what outlier pixels cost each layer; a format without the "
              "method asked for uses minmax.")
@click.option("--seed", type=int, default=0, show_default=True, help="Sampling seed.")
@click.option("--max-probes", type=click.IntRange(min=0), default=MAX_PROBES,
              show_default=True,
              help="Probe at most this many layers, those with the most outlying FP32 "
                   "ranges (each probe is a full quantization); 0 = every layer.")
@click.option("--timing-runs", type=click.IntRange(min=0), default=5, show_default=True,
              help="Time each all-int8 / all-but variant this many runs (median, 1 thread) "
                   "for the latency vs PSNR Pareto front; 0 = no timing.")
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder for <model>-sensitivity.json and .png (and <model>-pareto.png).")
def command(model, weights, imgsz, width, calib, calib_size, holdout, formats, calib_method,
            seed, max_probes, timing_runs, out_dir):
    """Rank layers by how much int8 costs them, on each backend, in dB.

    For every Keras layer (a nested block counts as one; for your own ONNX file, every
    Conv / ConvTranspose / MatMul / Gemm node by its name): output PSNR vs FP32 when only it
    is int8, and when every other layer is int8 and it stays float, measured on the held-out
    calibration images with each backend's own selective quantization (TFLite
    QuantizationDebugger denylist, NNCF ignored scope, ONNX Runtime nodes_to_exclude).
    Also flags risky layers (ConvTranspose, Resize, 313-way softmax, tanh output, wide
    activation ranges, held-out photos beyond the calibration ranges) and shows the Pareto
    front of latency vs PSNR vs FP32 over the timed variants. Prints the ranked tables;
    writes JSON, a bar chart PNG and the Pareto PNG. Exit 1 if
    a backend could not be analyzed (the others are still reported), 2 for a bad request.

    \b
    Example:
      edgecolor analyze --model baseline --calib photos/ -o analysis/
      edgecolor analyze --model baseline --imgsz 128 --format tflite --format onnx:int8 \\
          --calib photos/ -o analysis/
    """
    pairs = parse_formats(formats)
    holdout_arg = int(holdout) if holdout >= 1 else holdout
    try:
        keras_model, spec, cs = _load(model, weights, imgsz, width, calib, calib_size or None,
                                      holdout_arg, seed)
    except (ValueError, RuntimeError) as e:
        click.echo(f"error: {str(e).splitlines()[0]}", err=True)
        sys.exit(2)
    from edgecolor.quant import report as rep
    from edgecolor.quant.budget import units
    from edgecolor.quant.sensitivity import analyze, variant_count

    total = sum(variant_count(len(units(keras_model)), max_probes=max_probes)
                for _ in pairs)
    from edgecolor.sources import is_model_path

    if is_model_path(model):
        model = Path(model).stem  # names the output files
    from edgecolor.progress import Progress

    # a bar on a terminal; off one (a log), "done/total, rate, ETA" lines every 10 s
    with Progress(total, "quantizing variants") as bar:
        result = analyze(keras_model, spec, cs, model_name=model, formats=pairs,
                         progress=bar.update, max_probes=max_probes,
                         timing_runs=timing_runs, method=calib_method)
    out = Path(out_dir)
    json_path = rep.write_json(result, out / f"{model}-sensitivity.json")
    png_path = rep.bar_chart(result, out / f"{model}-sensitivity.png")
    written = [str(json_path), str(png_path)]
    if any(b.variants for b in result.backends):
        written.append(str(rep.report_pareto_chart(result, out / f"{model}-pareto.png")))
    click.echo(rep.ranked_table(result))
    click.echo(f"\nwrote {', '.join(written)}")
    sys.exit(1 if result.errors or not result.backends else 0)


def _load(model, weights, imgsz, width, calib, calib_size, holdout, seed):
    """-> (Keras model, spec, CalibrationSet); ValueError with a one-line reason."""
    from edgecolor.calibration import CalibrationSet
    from edgecolor.sources import is_model_path
    from edgecolor.zoo import create_model

    if is_model_path(model):  # the user's own file: an ONNX graph's units are its nodes
        from edgecolor.sources import load_source

        if weights or width:
            raise ValueError(f"{model} carries its own weights and width: drop --weights / "
                             "--width")
        source = load_source(model, imgsz=imgsz)
        keras_model, spec = (source if source.is_onnx else source.model), source.spec
    else:
        kw = {"width": width} if width else {}
        keras_model, spec = create_model(model, input_size=imgsz, weights=weights or "default",
                                         batch_size=1, **kw)
    cs = CalibrationSet.from_folder(calib, spec, size=calib_size, seed=seed, holdout=holdout)
    if not cs.holdout:
        raise ValueError(f"{cs.folder}: no held-out images to validate on; use a folder "
                         "with more images or a larger --holdout")
    return keras_model, spec, cs
