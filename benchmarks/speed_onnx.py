"""ONNX FP32 vs int8 (TensorRT Q/DQ) vs int8-cpu on ONNX Runtime's CPU EP, as ratios of one run.

Converts the baseline (256x256, batch 1) with the real converter, times every variant
round-robin with the ONNX Runtime runner (``intra_op_num_threads`` = --threads), so load
from other processes hits all of them alike, and prints median (and best) latency, the
speed-up over FP32 and the colorized-output PSNR vs FP32 on eval photos. ``--naive`` adds
the variants that explain why a naive Q/DQ model is only ~1.2-1.5x faster than FP32:

* ``int8 naive``: ``quantize_static`` defaults (QDQ, s8 activations, per-tensor weights);
* ``int8-cpu no rewrites``: u8/s8 per-channel, all ops quantized, but the int8 Resize and
  the convolutions MLAS's fast int8 kernel rejects (1 input / 2 output channels) remain;
* ``int8-cpu pad only``: channels padded, upsample not folded into phase convolutions.

``--ops`` prints ONNX Runtime's per-op time split of each variant (where the time goes).

Usage (development; never in tests):
    nice -n 10 python benchmarks/speed_onnx.py --calib ../shared/datasets/bsd100 \\
        --images ../shared/datasets/kodak24 --naive --ops
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgecolor.bench.stats import time_round_robin


def _variants(naive: bool) -> list[tuple[str, str, dict]]:
    """(label, precision, converter extra)."""
    rows = [("fp32", "fp32", {}), ("int8 (TensorRT Q/DQ)", "int8", {}),
            ("int8-cpu", "int8-cpu", {})]
    if naive:
        rows += [
            ("int8 naive (quantize_static defaults)", "naive", {}),
            ("int8-cpu no rewrites", "int8-cpu", {"fold_upsample": False,
                                                  "pad_channels": False}),
            ("int8-cpu pad only", "int8-cpu", {"fold_upsample": False}),
        ]
    return rows


def _naive(fp32_path: Path, out: Path, cs) -> dict:
    """Quantize the FP32 artifact with quantize_static's defaults (the "naive" Q/DQ)."""
    import onnx
    from onnxruntime.quantization import quantize_static

    from edgecolor.calibration import ort_calibration_reader

    names = [i.name for i in onnx.load(fp32_path).graph.input]
    quantize_static(fp32_path, out, ort_calibration_reader(cs, names))
    return {"precision": "int8-naive"}


def _op_split(path: Path, spec, x: list[np.ndarray], threads: int) -> str:
    """ONNX Runtime profile of one variant: 'op ms, ...' summed per op type (median run)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.enable_profiling = True
    opts.log_severity_level = 3
    opts.profile_file_prefix = str(path.with_suffix(""))
    s = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = {i.name: a for i, a in zip(s.get_inputs(), x, strict=True)}
    for _ in range(10):
        s.run(None, feed)
    events = json.loads(Path(s.end_profiling()).read_text())
    per_node: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for e in events:
        if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
            per_node[(e["name"], e["args"]["op_name"])].append(e["dur"] / 1000)
    per_op: dict[str, float] = collections.Counter()
    for (_, op), durs in per_node.items():
        per_op[op] += statistics.median(durs)
    return ", ".join(f"{op} {ms:.1f}" for op, ms in per_op.most_common())


def _spread_weights(model, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if len(weights) == 2:
            w, b = weights
            std = np.sqrt(2.0 / np.prod(w.shape[:-1]))
            layer.set_weights([rng.normal(0, std, w.shape).astype(np.float32),
                               rng.normal(0, 0.1, b.shape).astype(np.float32)])


def _psnr_vs(reference, runner, images) -> float:
    from edgecolor.metrics import psnr
    from edgecolor.pipeline import colorize_array

    return float(np.mean([psnr(colorize_array(reference, im), colorize_array(runner, im))
                          for im in images]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calib", help="calibration image folder (default: bundled samples)")
    ap.add_argument("--images", help="eval photos for PSNR (default: bundled eval samples)")
    ap.add_argument("--size", type=int, default=256, help="input size (square)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--weights", default="default", help="weights file (default: bundled)")
    ap.add_argument("--spread", action="store_true",
                    help="He-scaled random weights with biases instead (untrained models "
                         "output ~0, which hides int8 error)")
    ap.add_argument("--naive", action="store_true", help="also time the explaining variants")
    ap.add_argument("--ops", action="store_true", help="print per-op time split")
    args = ap.parse_args(argv)

    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.converters.onnx import convert
    from edgecolor.imageio import list_images, read_rgb
    from edgecolor.runtimes.onnxruntime import ONNXRuntimeRunner
    from edgecolor.samples import EVAL_DIR
    from edgecolor.zoo import create_model

    model, spec = create_model("baseline", input_size=args.size, batch_size=1,
                               weights=None if args.spread else args.weights)
    if args.spread:
        _spread_weights(model)
    cs = CalibrationSet.from_folder(args.calib, spec, size=100)
    paths, _ = list_images([args.images or str(EVAL_DIR)])
    images = [read_rgb(p) for p in paths[:12]]
    x = cs.holdout[0] if cs.holdout else cs.samples[0]
    runners, paths_of = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        fp32_path = Path(tmp) / "fp32.onnx"
        for label, prec, extra in _variants(args.naive):
            path = Path(tmp) / f"{label.split(' (')[0].replace(' ', '_')}.onnx"
            if prec == "naive":
                fields = _naive(fp32_path, path, cs)
            else:
                opts = ConvertOptions(calib=cs if prec != "fp32" else None, extra=extra)
                fields = dict(convert(model, spec, prec, path, opts), precision=prec)
            runner = ONNXRuntimeRunner(path, spec, fields, threads=args.threads)
            runner.activate()
            for _ in range(3):
                runner.infer(x)
            runners[label], paths_of[label] = runner, path
            print(f"converted {label}", file=sys.stderr)
        times = time_round_robin(
            {k: (lambda r=r: r.infer(x)) for k, r in runners.items()}, args.runs)
        ref = runners["fp32"]
        quality = {k: _psnr_vs(ref, r, images) for k, r in runners.items() if k != "fp32"}
        splits = ({k: _op_split(paths_of[k], spec, x, args.threads) for k in runners}
                  if args.ops else {})

    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    print(f"baseline {args.size}x{args.size}, batch 1, ONNX Runtime CPU EP, {args.threads} "
          f"threads, {args.runs} interleaved runs; PSNR vs fp32 on {len(images)} photos")
    print(f"{'variant':<40} {'median ms':>9} {'x fp32':>7} {'best ms':>8} {'x fp32':>7} "
          f"{'PSNR dB':>8}")
    for label in runners:
        q = f"{quality[label]:8.1f}" if label in quality else f"{'-':>8}"
        print(f"{label:<40} {med[label]:9.2f} {med['fp32'] / med[label]:6.2f}x "
              f"{best[label]:8.2f} {best['fp32'] / best[label]:6.2f}x {q}")
    for label, split in splits.items():
        print(f"  ops {label}: {split}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
