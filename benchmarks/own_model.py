"""Your own model: a foreign PyTorch-style U-Net colorizer through every x86-cpu format.

Builds the U-Net of :mod:`edgecolor.sources.foreign` at ``--width`` (64: 2.3 M parameters;
Conv+BatchNorm blocks, Slice step-2 subsampling, ConvTranspose 4x4 s2 p1, skip Adds,
bilinear Resize x4, Tanh x 110, raw L in, dynamic batch/H/W) with random but deterministic
weights (``--seed``; it is not a trained colorizer: ΔPSNR measures what each format loses
against the FP32 source, not color quality), saves it as ONNX and runs the real
``convert_all`` on it exactly as ``edgecolor convert --model my_colorizer.onnx`` does
(contract inferred from the graph). Then, in this one process:

* conversion wall time per artifact (from ``convert_all``);
* model-only latency, every artifact and ONNX Runtime FP32 on the source graph timed
  round-robin (``time_round_robin``: load from other processes hits all alike), median ms
  and the speed ratio vs the source;
* quality on the eval photos at full resolution: PSNR of the colorization vs the source's
  FP32 colorization, and ΔPSNR = PSNR(source vs photo) − PSNR(artifact vs photo).

Usage (development; never in tests):
    nice -n 10 python benchmarks/own_model.py --calib ../shared/datasets/bsd100 \\
        --images ../shared/datasets/kodak24 --out benchmarks/results/own-model-x86-cpu
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def _photos(folder: str, limit: int) -> list[np.ndarray]:
    from edgecolor.calibration.dataset import list_calibration_images
    from edgecolor.imageio import read_rgb

    return [read_rgb(p) for p in list_calibration_images(folder)[:limit]]


def _quality(runner, reference, photos) -> tuple[float, float]:
    """-> (mean PSNR vs the source's colorization, mean ΔPSNR vs the photos) in dB."""
    from edgecolor.metrics import psnr
    from edgecolor.pipeline import colorize_array

    vs_fp32, dpsnr = [], []
    for rgb in photos:
        # the photo's own L is kept; only ab comes from the model
        out, ref = colorize_array(runner, rgb), colorize_array(reference, rgb)
        p = psnr(out, ref)
        vs_fp32.append(100.0 if math.isinf(p) else p)
        dpsnr.append(psnr(ref, rgb) - psnr(out, rgb))
    return statistics.mean(vs_fp32), statistics.mean(dpsnr)


def main(argv: list[str] | None = None) -> int:
    """Build, convert, time and score; write ``--out``.json/.md; print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--imgsz", type=int, default=256)
    ap.add_argument("--target", default="x86-cpu")
    ap.add_argument("--precision", action="append", dest="precisions",
                    help="only these precisions (repeatable; default: the profile's all)")
    ap.add_argument("--calib", default=None, help="calibration folder (default: bundled)")
    ap.add_argument("--calib-size", type=int, default=64)
    ap.add_argument("--images", default=None, help="eval photos (default: bundled eval)")
    ap.add_argument("--eval-size", type=int, default=12)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--out", default="benchmarks/results/own-model-x86-cpu")
    args = ap.parse_args(argv)

    from edgecolor.bench.stats import time_round_robin
    from edgecolor.converters.run import convert_all
    from edgecolor.runtimes import load_runner
    from edgecolor.samples import EVAL_DIR
    from edgecolor.sources import load_source
    from edgecolor.sources.foreign import parameter_count, save, unet_colorizer

    tmp = Path(tempfile.mkdtemp(prefix="edgecolor-own-model-"))
    graph = unet_colorizer(args.width, seed=args.seed)
    src_path = save(graph, tmp / "my_colorizer.onnx")
    params = parameter_count(graph)
    print(f"foreign U-Net: width {args.width}, {params / 1e6:.2f} M parameters "
          f"(random weights, seed {args.seed})", file=sys.stderr)
    t0 = time.perf_counter()
    results = convert_all(str(src_path), args.target, calib=args.calib,
                          calib_size=args.calib_size, out_dir=tmp / "art", imgsz=args.imgsz,
                          threads=args.threads, budget=False, precisions=args.precisions,
                          log=lambda line: print(line, file=sys.stderr),
                          on_done=lambda i, n, r: print(f"[{i}/{n}] {r.name}: "
                                                        f"{'ok' if r.ok else r.error} "
                                                        f"({r.seconds:.1f} s)",
                                                        file=sys.stderr))
    convert_s = time.perf_counter() - t0
    source = load_source(src_path, imgsz=args.imgsz)
    reference = source.reference(threads=args.threads)
    photos = _photos(args.images or str(EVAL_DIR), args.eval_size)
    l_full = np.full((args.imgsz, args.imgsz), 50.0, np.float32)
    x = source.spec.make_inputs(l_full)
    runners = {"source (ONNX Runtime FP32)": reference}
    for r in results:
        if r.ok:
            runners[r.name] = load_runner(r.path, threads=args.threads)
    for runner in runners.values():
        runner.activate()
        for _ in range(3):
            runner.infer(x)
    times = time_round_robin({k: (lambda rr=v: rr.infer(x)) for k, v in runners.items()},
                             args.runs)
    ref_ms = statistics.median(times["source (ONNX Runtime FP32)"])
    rows = [{"artifact": "source (ONNX Runtime FP32)", "format": "onnx (source)",
             "precision": "fp32", "ok": True, "median_ms": ref_ms, "speedup": 1.0,
             "psnr_vs_fp32": None, "dpsnr": 0.0, "convert_s": None, "size_mb":
             src_path.stat().st_size / 1e6, "error": None}]
    for r in results:
        row = {"artifact": r.name, "format": r.format, "precision": r.precision, "ok": r.ok,
               "convert_s": r.seconds, "size_mb": r.size_mb, "error": r.error,
               "median_ms": None, "speedup": None, "psnr_vs_fp32": None, "dpsnr": None}
        if r.ok:
            ms = statistics.median(times[r.name])
            pv, dp = _quality(runners[r.name], reference, photos)
            row.update(median_ms=ms, speedup=ref_ms / ms, psnr_vs_fp32=pv, dpsnr=dp)
        rows.append(row)
    meta = {"command": "python benchmarks/own_model.py " + " ".join(argv or sys.argv[1:]),
            "width": args.width, "parameters": params, "seed": args.seed,
            "imgsz": args.imgsz, "target": args.target, "precisions": args.precisions,
            "calib": args.calib or "bundled",
            "calib_size": args.calib_size, "images": args.images or "bundled eval",
            "eval_images": len(photos), "runs": args.runs, "threads": args.threads,
            "total_convert_s": convert_s, "contract": source.contract.describe(),
            "weights": "random, deterministic (not a trained colorizer)"}
    table = _markdown(rows, meta)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    from edgecolor.imageio import atomic_write_bytes

    atomic_write_bytes(out.with_suffix(".json"),
                       (json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n").encode())
    atomic_write_bytes(out.with_suffix(".md"), table.encode())
    print(table)
    return 0 if all(r["ok"] for r in rows) else 1


def _f(x, spec: str) -> str:
    return "—" if x is None else format(x, spec)


def _markdown(rows: list[dict], meta: dict) -> str:
    lines = [
        f"# Your own model: a foreign U-Net colorizer on {meta['target']}",
        "",
        f"`{meta['command']}`",
        "",
        f"PyTorch-style ONNX U-Net written by the script (edgecolor.sources.foreign), width "
        f"{meta['width']}, {meta['parameters'] / 1e6:.2f} M parameters, {meta['weights']}; "
        f"{meta['imgsz']}x{meta['imgsz']}, contract inferred: {meta['contract']}. Calibration: "
        f"{meta['calib']} ({meta['calib_size']} images); quality on {meta['eval_images']} "
        f"photos of {meta['images']} at full resolution. Latency: model only, median of "
        f"{meta['runs']} round-robin runs in one process on a shared machine (ratios hold, "
        f"absolute ms are noisy). Total conversion {meta['total_convert_s']:.0f} s.",
        "",
        "| artifact | ok | convert s | MB | median ms | speed vs source | PSNR vs FP32 dB "
        "| ΔPSNR dB |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        mark = "✅" if r["ok"] else f"❌ {r['error']}"
        lines.append(f"| {r['artifact']} | {mark} | {_f(r['convert_s'], '.1f')} | "
                     f"{_f(r['size_mb'], '.2f')} | {_f(r['median_ms'], '.2f')} | "
                     f"{_f(r['speedup'], '.2f')}x | {_f(r['psnr_vs_fp32'], '.1f')} | "
                     f"{_f(r['dpsnr'], '+.3f')} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
