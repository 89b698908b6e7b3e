"""Which part of a model carries its int8 error: TFLite int8 with whole parts in float.

For a model whose budget no float set near the output can meet (koalarization), this keeps
whole parts of the graph in float, one TFLite int8 artifact each (calibrated once: the
converters' step cache), and scores each against the FP32 model's colorization on the
held-out calibration photos (full resolution, ``edgecolor.fidelity``). Parts: each input's
own branch (the layers only that input reaches), its first and second half, and the layers
after the inputs join. It also reports how much the FP32 output uses each input
(``edgecolor.quant.risks.input_influence``).

    python benchmarks/float_sets.py --model koalarization \
        --out benchmarks/results/koalarization-float-sets-x86-cpu.md

Needs the model's trained weights in the weights cache (``EDGECOLOR_HOME``) and
``../shared/datasets/bsd100`` (calibration role).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "datasets"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="koalarization")
    p.add_argument("--calib", type=Path, default=SHARED / "bsd100")
    p.add_argument("--calib-size", type=int, default=100)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="markdown results file")
    return p.parse_args(argv)


def input_branches(model) -> tuple[dict[str, list[str]], list[str]]:
    """Keras functional model -> ({input: layers only that input reaches}, layers reached
    by several inputs), each in model order."""
    deps: dict[str, set[str]] = {}
    for layer in model.layers:
        if type(layer).__name__ == "InputLayer":
            deps[layer.name] = {layer.name}
            continue
        tensors = layer.input if isinstance(layer.input, (list, tuple)) else [layer.input]
        found: set[str] = set()
        for t in tensors:
            found |= deps.get(t._keras_history.operation.name, set())
        deps[layer.name] = found
    inputs = [t._keras_history.operation.name for t in model.inputs]
    branches = {i: [n for n, d in deps.items() if d == {i} and n != i] for i in inputs}
    shared = [n for n, d in deps.items() if len(d) > 1]
    return branches, shared


def float_sets(model, present: set[str]) -> dict[str, list[str]]:
    """The parts tried, named, as Keras layer names the TFLite graph has nodes for."""
    branches, shared = input_branches(model)
    shared = [n for n in shared if n in present]
    order = [n for n in (la.name for la in model.layers) if n in present]
    sets = {f"output layer only ({order[-1]}; ≈ plain int8)": order[-1:]}
    for name, layers in branches.items():
        layers = [n for n in layers if n in present]
        half = len(layers) // 2
        sets[f"branch of {name!r} ({len(layers)} layers)"] = layers
        sets[f"first half of {name!r}'s branch"] = layers[:half]
        sets[f"second half of {name!r}'s branch"] = layers[half:]
        if shared:
            sets[f"second half of {name!r}'s branch + after the join"] = layers[half:] + shared
    sets["after the join"] = shared
    # every layer in float leaves TFLite's debugger nothing to quantize (it refuses)
    return {k: v for k, v in sets.items() if v and len(set(v)) < len(order)}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.converters.tflite import calibrated_int8, convert
    from edgecolor.formats import get_format
    from edgecolor.progress import Progress
    from edgecolor.quant.budget import runner_class
    from edgecolor.quant.risks import input_influence
    from edgecolor.quant.validation import ValidationSet, Validator, keras_infer
    from edgecolor.zoo import create_model

    model, spec = create_model(args.model, batch_size=1)
    calib = CalibrationSet.from_folder(args.calib, spec, size=args.calib_size)
    validator = Validator(ValidationSet.from_calibration(calib), keras_infer(model, spec))
    influence = input_influence(model, spec, calib.samples)
    options = ConvertOptions(calib=calib, threads=args.threads)
    t0 = time.perf_counter()
    calibrated = calibrated_int8(model, spec, options)
    calibration_s = time.perf_counter() - t0
    sets = float_sets(model, set(calibrated.node_layers.values()))
    rows = []
    fmt = get_format("tflite")
    with tempfile.TemporaryDirectory() as work, Progress(len(sets), "float sets") as bar:
        for name, layers in sets.items():
            t0 = time.perf_counter()
            path = Path(work) / "candidate.tflite"
            try:
                fields = convert(model, spec, "int8", path, ConvertOptions(
                    calib=calib, extra={"float_layers": layers}))
                with runner_class(fmt)(path, spec, fields, threads=args.threads) as runner:
                    score = validator.score(runner.infer)
                rows.append((name, len(layers), f"{score.psnr_vs_fp32:.2f}",
                             f"{score.dpsnr:+.3f}", f"{time.perf_counter() - t0:.0f}"))
            except Exception as e:  # one failed set never stops the others
                rows.append((name, len(layers), f"failed: {str(e)[:120]}", "", ""))
            bar.update(1)
    lines = [f"# {args.model}: which part carries the int8 error (TFLite int8, parts in float)",
             "", f"Command: `python benchmarks/float_sets.py --model {args.model}`", "",
             f"- Date: {time.strftime('%Y-%m-%d %H:%M')}; {platform.platform()}; "
             f"{os.cpu_count()} cores; calibration {args.calib.name} ({len(calib.samples)} "
             f"calibrated, {len(calib.holdout)} held out and scored); one calibration "
             f"({calibration_s:.0f} s), each set re-quantizes it",
             "", "How much the FP32 output uses each input (flattened to its per-image mean):",
             "", "| input | mean output change | output spread | ratio |", "|---|--:|--:|--:|"]
    lines += [f"| {f.input} | {f.change:.3g} | {f.spread:.3g} | {f.ratio:.3g} |"
              for f in influence]
    lines += ["", "| layers in float | count | PSNR vs FP32 dB | ΔPSNR dB | s |",
              "|---|--:|--:|--:|--:|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        from edgecolor.imageio import atomic_write_bytes

        atomic_write_bytes(args.out, text.encode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
