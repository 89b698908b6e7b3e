"""Quantization that keeps the colors: plain int8 vs budgeted int8, per model and format.

For each model and int8 row (tflite int8, openvino int8, onnx int8 / int8-cpu), in one run:

* FP32 artifact, plain int8 artifact (the converter as is) and the budgeted artifact
  (``edgecolor.quant.budget``: ``--max-dpsnr``) are made from the same calibration set;
* the budget loop validates on the calibration folder's held-out split (bsd100: calibration
  role); the table's quality numbers are measured on the eval photos (kodak24 + mcmaster18:
  eval role), never on a calibration photo (perceptual hashes are checked);
* speed: median model-only latency of the three artifacts, timed round-robin in the same
  process, reported as FP32 latency / artifact latency (> 1: faster than FP32).

Writes benchmarks/results/quantization-<host-kind>.md and .json.

Usage (development; never in tests):
    nice -n 10 python benchmarks/quant_table.py --models baseline
    python benchmarks/quant_table.py --models baseline --rows tflite:int8 --max-dpsnr 0.1
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
ROWS = ("tflite:int8", "openvino:int8", "onnx:int8", "onnx:int8-cpu")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="baseline",
                   help="comma-separated zoo models ('' with --heads: the head comparison only)")
    p.add_argument("--rows", default=",".join(ROWS), help="comma-separated format:precision")
    p.add_argument("--max-dpsnr", default="0.3",
                   help="budget(s) in dB, comma-separated: one table each (default 0.3)")
    p.add_argument("--imgsz", type=int, default=256, help="square input size")
    p.add_argument("--calib", type=Path, help="calibration photos (default: shared bsd100)")
    p.add_argument("--calib-size", type=int, default=100)
    p.add_argument("--images", type=Path, nargs="*",
                   help="eval photo folders (default: shared kodak24 mcmaster18)")
    p.add_argument("--runs", type=int, default=30, help="timed runs per artifact")
    p.add_argument("--threads", type=int, default=1, help="inference threads for timing")
    p.add_argument("--heads", action="store_true",
                   help="also compare the ECCV16 head options (needs trained eccv16 weights)")
    p.add_argument("--heads-size", type=int, default=224, help="eccv16 input size")
    p.add_argument("--host-kind", help="results file suffix (default: detected profile)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    return p.parse_args(argv)


def default_sets(args) -> tuple[Path, list[Path]]:
    """(calibration folder, eval folders): the shared role folders when present."""
    from edgecolor.samples import CALIB_DIR, EVAL_DIR

    calib = args.calib or (SHARED / "bsd100" if (SHARED / "bsd100").is_dir() else CALIB_DIR)
    shared = [SHARED / n for n in ("kodak24", "mcmaster18") if (SHARED / n).is_dir()]
    return calib, list(args.images or shared or [EVAL_DIR])


def eval_paths(folders: list[Path], calib) -> tuple[list[Path], list[str]]:
    """Eval photos minus any that may be a calibration photo -> (kept, excluded lines).

    Same bytes (sha256) or an aHash within the benchmark harness's AHASH_MAX_BITS of a
    calibration photo's: left out (conservative: aHash also matches unrelated photos with
    the same sky/ground layout).
    """
    from edgecolor.bench.quality import AHASH_MAX_BITS
    from edgecolor.calibration import average_hash, hamming
    from edgecolor.imageio import list_images, read_rgb
    from edgecolor.manifest import sha256_file

    paths, errors = list_images([str(f) for f in folders])
    if errors:
        sys.exit("error: " + "; ".join(errors))
    calib_files = {sha256_file(p) for p in calib.paths + calib.holdout_paths}
    kept, excluded = [], []
    for p in paths:
        h = average_hash(read_rgb(p))
        bits = min((hamming(h, c) for c in calib.image_ahash), default=64)
        if sha256_file(p) in calib_files or bits <= AHASH_MAX_BITS:
            excluded.append(f"{p.parent.name}/{p.name} (aHash {bits} bits from a "
                            "calibration photo)")
        else:
            kept.append(p)
    return kept, excluded


def median_ms(runners: dict, inputs, runs: int) -> dict[str, float]:
    """Round-robin timing: name -> median model-only latency (ms)."""
    times: dict[str, list[float]] = {k: [] for k in runners}
    for r in runners.values():
        for _ in range(3):
            r.infer(inputs)
    for _ in range(runs):
        for name, r in runners.items():
            t0 = time.perf_counter()
            r.infer(inputs)
            times[name].append((time.perf_counter() - t0) * 1e3)
    return {k: statistics.median(v) for k, v in times.items()}


def measure_row(model, spec, calib, evaluator, fmt_name: str, precision: str, args,
                work: Path) -> dict:
    """One int8 row: fp32, plain and one budgeted artifact per budget -> table numbers."""
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.formats import get_format
    from edgecolor.quant.budget import BudgetedConversion, BudgetError, runner_class

    fmt = get_format(fmt_name)
    convert = fmt.load_converter()
    options = ConvertOptions(calib=calib, calib_method="minmax", threads=args.threads)
    keys = ["fp32", "plain"] + [f"budget@{b:g}" for b in args.budgets]
    paths = {k: work / fmt.artifact_name(f"{spec.name}-{k}", precision) for k in keys}
    row: dict = {"format": fmt_name, "precision": precision, "budgets": {}}
    t0 = time.perf_counter()
    fields = {"fp32": convert(model, spec, "fp32", paths["fp32"],
                              ConvertOptions(threads=args.threads)),
              "plain": convert(model, spec, precision, paths["plain"], options)}
    for b in args.budgets:
        key = f"budget@{b:g}"
        budget = BudgetedConversion(fmt, b, progress=lambda s: print(
            f"    {s}", file=sys.stderr, flush=True))
        try:
            fields[key] = budget(model, spec, precision, paths[key], options)
        except BudgetError as e:
            row["budgets"][key] = {"error": str(e)}
    row["convert_s"] = round(time.perf_counter() - t0, 1)
    cls = runner_class(fmt)
    runners = {k: cls(paths[k], spec, f, threads=args.threads) for k, f in fields.items()}
    for r in runners.values():
        r.activate()
    scores = {k: evaluator.score(r.infer) for k, r in runners.items()}
    ms = median_ms(runners, evaluator.vset.inputs[0], args.runs)
    for r in runners.values():
        r.deactivate()
    row["eval"] = {k: s.to_dict() for k, s in scores.items()}
    row["ms"] = {k: round(v, 3) for k, v in ms.items()}
    row["speed_vs_fp32"] = {k: round(ms["fp32"] / v, 2) for k, v in ms.items() if k != "fp32"}
    for key, f in fields.items():
        if not key.startswith("budget@"):
            continue
        q = f["quantization"]
        row["budgets"][key] = dict(
            strategy=q["strategy"], float_layers=q["float_layers"], layers=q["layers"],
            validation=q["validation"], precision=q["precision"], ranking=q["ranking"],
            attempts=[a["strategy"] + (f" + float {a['float_layers']}" if a["float_layers"]
                                       else "") for a in q["attempts"]])
        row["risks"] = f.get("risks", [])
    return row


def bench_model(name: str, args, calib_dir: Path, eval_dirs: list[Path], work: Path) -> dict:
    from edgecolor.calibration import CalibrationSet
    from edgecolor.quant.validation import ValidationSet, Validator, keras_infer
    from edgecolor.zoo import create_model, default_weights

    model, spec = create_model(name, input_size=args.imgsz, batch_size=1)
    calib = CalibrationSet.from_folder(calib_dir, spec, size=args.calib_size, holdout=0.2)
    images, excluded = eval_paths(eval_dirs, calib)
    evaluator = Validator(ValidationSet(images, spec), keras_infer(model, spec))
    report = {"model": name, "weights": str(default_weights(name) or "random-init"),
              "input_size": args.imgsz, "calibration": {**calib.info(), "image_ahash": None},
              "eval": {"folders": [str(d) for d in eval_dirs], "images": len(images),
                       "excluded": excluded,
                       "fp32_psnr": round(evaluator.fp32_psnr, 3)},
              "rows": []}
    for item in args.rows.split(","):
        fmt_name, _, precision = item.partition(":")
        print(f"  {name} {item}", file=sys.stderr, flush=True)
        try:
            row = measure_row(model, spec, calib, evaluator, fmt_name, precision or "int8",
                              args, work)
        except Exception as e:  # one failing row must not stop the others
            row = {"format": fmt_name, "precision": precision, "error": f"{type(e).__name__}: "
                   f"{str(e).splitlines()[0] if str(e) else ''}"}
        report["rows"].append(row)
    return report


def eccv16_heads(args, calib_dir: Path) -> dict:
    """The ECCV16 head comparison per row, or why it was skipped."""
    from edgecolor.calibration import CalibrationSet
    from edgecolor.quant.heads import compare_heads
    from edgecolor.zoo import create_model, default_weights

    if default_weights("eccv16") is None:
        return {"skipped": "eccv16 ships no trained weights in this checkout (convert the "
                           "authors' Caffe model with `edgecolor import-caffe` first); with "
                           "random weights the 313-bin softmax is nearly uniform and every "
                           "head option scores the same, so no choice can be made"}
    model, spec = create_model("eccv16", input_size=args.heads_size, batch_size=1)
    calib = CalibrationSet.from_folder(calib_dir, spec, size=args.calib_size, holdout=0.2)
    rows = []
    for item in args.rows.split(","):
        fmt_name, _, precision = item.partition(":")
        print(f"  eccv16 heads {item}", file=sys.stderr, flush=True)
        rows.append(compare_heads(model, spec, calib, fmt_name, precision or "int8",
                                  args.budgets[0], threads=args.threads))
    return {"rows": rows}


def heads_markdown(heads: dict, budget: float) -> list[str]:
    out = ["", "## ECCV16 head choice (int8 in graph / host-side annealed mean / head in "
           f"float), --max-dpsnr {budget:g}", ""]
    if "skipped" in heads:
        return out + [f"Not measured: {heads['skipped']}."]
    out += ["| format | option | ΔPSNR | PSNR/FP32 | ms (model + decode) | chosen |",
            "|---|---|---:|---:|---:|---|"]
    for r in heads["rows"]:
        for o in r["options"]:
            sc = o["score"] or {}
            mark = ("✅" if r["within_budget"] else "best, over budget") \
                if o["name"] == r["chosen"] else ""
            out.append(f"| {r['format']}:{r['precision']} | {o['name']} | "
                       f"{sc.get('dpsnr', float('nan')):.3f} | "
                       f"{sc.get('psnr_vs_fp32', float('nan')):.1f} | "
                       f"{o['ms'] if o['ms'] is not None else o['error']} | {mark} |")
    return out


def _fl(layers) -> str:
    return ", ".join(layers) if layers else "none"


def _budget_cells(r: dict, key: str) -> str:
    b = r["budgets"].get(key, {})
    if "error" in b or key not in r["eval"]:
        return f"not met: {b.get('error', '?')} | | | |"
    e, s = r["eval"][key], r["speed_vs_fp32"][key]
    floats = f"{len(b['float_layers'])}/{b['layers']}: {_fl(b['float_layers'])}"
    strat = f"{b['strategy']} ({b['validation']['dpsnr']:.3f})"
    if b["precision"] != r["precision"]:
        strat += f" → {b['precision']}"
    return f"{e['dpsnr']:.3f} | {e['psnr_vs_fp32']:.1f} | {floats} | {strat} | {s:.2f}"


def markdown(command: str, reports: list[dict], args, calib_dir, eval_dirs,
             heads: dict | None = None) -> str:
    from edgecolor.converters.run import host_info, versions

    host = host_info()
    v = versions()
    out = [f"# Quantization that keeps the colors: {args.host_kind}", "",
           f"Command: `{command}`", "",
           f"- Date: {time.strftime('%Y-%m-%d %H:%M')}; {host['platform']}; CPU "
           f"{host['cpu']}, {host['cores']} cores; load average at the end "
           f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}",
           "- Versions: " + ", ".join(f"{k} {v[k]}" for k in sorted(v)),
           f"- Budget(s): ΔPSNR ≤ {', '.join(f'{b:g}' for b in args.budgets)} dB, validated "
           f"on the held-out 20% of the calibration folder `{calib_dir.name}` (calibration "
           "role); the table's quality is measured on the eval photos "
           f"{', '.join(d.name for d in eval_dirs)} (never calibrated on; sha256 and "
           "perceptual hashes checked)",
           f"- Speed: median model-only latency, {args.runs} round-robin runs, "
           f"{args.threads} thread(s); × = FP32 ms / artifact ms of the same runtime "
           "(> 1: faster)",
           "", "ΔPSNR = PSNR(FP32 vs originals) − PSNR(artifact vs originals), dB; "
           "PSNR/FP32 = artifact vs the FP32 colorization, dB. Budgeted = what "
           "`edgecolor convert --max-dpsnr` ships; strategy (val. ΔPSNR) = what the budget "
           "loop chose and the ΔPSNR it measured on the validation split."]
    for rep in reports:
        out += ["", f"## {rep['model']} at {rep['input_size']}x{rep['input_size']} "
                f"({'trained weights' if rep['weights'] != 'random-init' else 'random weights'})",
                "", f"FP32 vs originals on {rep['eval']['images']} eval photos: "
                f"{rep['eval']['fp32_psnr']:.2f} dB. Calibration: {rep['calibration']['size']} "
                f"photos + {rep['calibration']['holdout']} held out for the budget."
                + (f" Left out of the eval set: {'; '.join(rep['eval']['excluded'])}."
                   if rep["eval"]["excluded"] else "")]
        for budget in args.budgets:
            key = f"budget@{budget:g}"
            out += ["", f"### --max-dpsnr {budget:g}", "",
                    "| format | plain int8 ΔPSNR | plain PSNR/FP32 | plain × FP32 | "
                    "budgeted ΔPSNR | budgeted PSNR/FP32 | layers in float | "
                    "strategy (val. ΔPSNR) | budgeted × FP32 |",
                    "|---|---:|---:|---:|---:|---:|---|---|---:|"]
            for r in rep["rows"]:
                name = f"{r['format']}:{r['precision']}"
                if "error" in r:
                    out.append(f"| {name} | failed: {r['error']} | | | | | | | |")
                    continue
                p = r["eval"]["plain"]
                out.append(f"| {name} | {p['dpsnr']:.3f} | {p['psnr_vs_fp32']:.1f} | "
                           f"{r['speed_vs_fp32']['plain']:.2f} | {_budget_cells(r, key)} |")
        risks = {(k['layer'], k['kind'], k['detail']) for r in rep["rows"]
                 for k in r.get("risks", [])}
        if risks:
            out += ["", "Risk checks (per layer, before quantizing):"]
            out += [f"- {layer}: {kind}: {detail}" for layer, kind, detail in sorted(risks)]
        ranks = sorted({f"{r['format']}:{r['precision']}: {', '.join(b['ranking'][:3])}"
                        for r in rep["rows"] for b in r.get("budgets", {}).values()
                        if b.get("ranking")})
        if ranks:
            out += ["", "Most sensitive layers (all-but-one ranking on the validation split): "
                    + "; ".join(ranks)]
    if heads is not None:
        out += heads_markdown(heads, args.budgets[0])
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    from edgecolor._tf import quiet_tf_env

    quiet_tf_env()
    from edgecolor.devices import resolve_profile
    from edgecolor.imageio import atomic_write_bytes

    args = parse_args(argv)
    args.host_kind = args.host_kind or resolve_profile("auto").name
    args.budgets = [float(b) for b in str(args.max_dpsnr).split(",")]
    calib_dir, eval_dirs = default_sets(args)
    command = "python benchmarks/quant_table.py " + shlex.join(sys.argv[1:] if argv is None
                                                               else argv)
    reports = []
    with tempfile.TemporaryDirectory(prefix="edgecolor-quant-") as tmp:
        for name in [n for n in args.models.split(",") if n]:
            reports.append(bench_model(name, args, calib_dir, eval_dirs, Path(tmp)))
    heads = eccv16_heads(args, calib_dir) if args.heads else None
    md = markdown(command, reports, args, calib_dir, eval_dirs, heads)
    stem = args.out / f"quantization-{args.host_kind}"
    atomic_write_bytes(stem.with_suffix(".md"), md.encode())
    atomic_write_bytes(stem.with_suffix(".json"),
                       (json.dumps({"schema": "edgecolor.quant/1", "command": command,
                                    "max_dpsnr": args.budgets, "models": reports,
                                    "eccv16_heads": heads},
                                   indent=2) + "\n").encode())
    print(md)
    print(f"written: {stem}.md and .json", file=sys.stderr)
    if heads and any(o.get("error") for r in heads.get("rows", []) for o in r["options"]):
        return 1
    return 1 if any("error" in r for rep in reports for r in rep["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
