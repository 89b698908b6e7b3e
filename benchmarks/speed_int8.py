"""INT8 vs FP32 speed of the TFLite and OpenVINO artifacts, as ratios measured in one run.

Converts the baseline (256x256, batch 1) with the real converters, then times every variant
round-robin (so load from other processes hits all of them alike) and prints the median
latency and each runtime's FP32/INT8 ratio. ``--naive`` adds the variants that explain why a
naive OpenVINO INT8 looked only ~1.2x faster than FP32:

* ``openvino fp32 (plugin default)``: without INFERENCE_PRECISION_HINT f32 the CPU plugin
  runs an FP32 IR in bf16 on AMX/AVX512-BF16 CPUs, so "FP32" was not FP32;
* ``... int8 (Keras UpSampling2D)``: Keras 3 exports nearest upsampling as
  Unsqueeze/Tile/Transpose/Reshape; int8 cannot pass through that chain, so the
  convolutions after it stay in float (see "int8 convs").

Usage (development; never in tests):
    nice -n 10 python benchmarks/speed_int8.py --calib ../shared/datasets/bsd100 --naive
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgecolor.bench.stats import time_round_robin


def _variants(naive: bool) -> list[tuple[str, str, str, dict, dict]]:
    """(label, format, precision, converter extra, manifest overrides)."""
    rows = [
        ("tflite fp32", "tflite", "fp32", {}, {}),
        ("tflite int8", "tflite", "int8", {}, {}),
        ("openvino fp32", "openvino", "fp32", {}, {}),
        ("openvino int8", "openvino", "int8", {}, {}),
    ]
    if naive:
        rows += [
            ("tflite int8 (Keras UpSampling2D)", "tflite", "int8",
             {"upsampling_as_resize": False}, {}),
            ("openvino fp32 (plugin default)", "openvino", "fp32", {},
             {"inference_precision": None}),
            ("openvino int8 (Keras UpSampling2D)", "openvino", "int8",
             {"upsampling_as_resize": False}, {}),
        ]
    return rows


def _int8_convs(runner) -> str:
    """'k/n': convolutions the OpenVINO CPU plugin runs with int8 kernels."""
    import openvino as ov

    core = ov.Core()
    cfg = dict(runner.compile_config(), PERF_COUNT=True)
    compiled = core.compile_model(core.read_model(str(runner.path)), "CPU", cfg)
    req = compiled.create_infer_request()
    x = [np.zeros(tuple(p.get_shape()), np.float32) for p in compiled.inputs]
    req.infer(x)
    convs = [p for p in req.profiling_info if p.node_type == "Convolution"]
    return f"{sum('i8' in p.exec_type.lower() for p in convs)}/{len(convs)}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calib", help="calibration image folder (default: bundled samples)")
    ap.add_argument("--size", type=int, default=256, help="input size (square)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--weights", default="default", help="weights file (speed ignores them)")
    ap.add_argument("--naive", action="store_true", help="also time the naive variants")
    args = ap.parse_args(argv)

    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.formats import get_format, load_runner_class
    from edgecolor.zoo import create_model

    model, spec = create_model("baseline", input_size=args.size, batch_size=1,
                               weights=args.weights)
    cs = CalibrationSet.from_folder(args.calib, spec, size=100)
    x = cs.holdout[0] if cs.holdout else cs.samples[0]
    runners = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, fmt_name, prec, extra, override in _variants(args.naive):
            fmt = get_format(fmt_name)
            path = Path(tmp) / f"{label.replace(' ', '_').replace('(', '').replace(')', '')}"
            path = path.with_suffix(fmt.suffix)
            opts = ConvertOptions(calib=cs if prec in fmt.calibrated else None, extra=extra)
            fields = fmt.load_converter()(model, spec, prec, path, opts)
            fields.update(override)
            runner = load_runner_class(fmt.runners[0])(path, spec, fields, threads=args.threads)
            runner.activate()
            for _ in range(3):
                runner.infer(x)
            runners[label] = runner
            print(f"converted {label}", file=sys.stderr)
        times = time_round_robin(
            {k: (lambda r=r: r.infer(x)) for k, r in runners.items()}, args.runs)
        med = {k: statistics.median(v) for k, v in times.items()}
        convs = {k: _int8_convs(r) for k, r in runners.items() if k.startswith("openvino int8")}

    print(f"baseline {args.size}x{args.size}, batch 1, {args.threads} threads, median of "
          f"{args.runs} interleaved runs")
    print(f"{'variant':<38} {'ms':>8}  note")
    for label, ms in med.items():
        note = f"int8 convs {convs[label]}" if label in convs else ""
        print(f"{label:<38} {ms:>8.2f}  {note}")
    print(f"tflite   int8 speed-up vs fp32: {med['tflite fp32'] / med['tflite int8']:.2f}x")
    print(f"openvino int8 speed-up vs fp32: {med['openvino fp32'] / med['openvino int8']:.2f}x")
    if args.naive:
        naive = med["openvino fp32 (plugin default)"] / med["openvino int8 (Keras UpSampling2D)"]
        print(f"naive openvino (bf16 'fp32' vs int8 with Tile upsampling): {naive:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
