"""Quantization that keeps the FP32 colors: plain vs budgeted int8, per model and format.

For each model and int8 row (tflite int8, openvino int8, onnx int8 = TensorRT Q/DQ run on
ONNX Runtime, onnx int8-cpu), in one run:

* FP32 artifact, plain int8 artifact (the converter as is), one artifact per PTQ method
  (Keras-side cross-layer equalization ``cle``, weight bias correction ``bc``, ``cle+bc``
  for TFLite / ONNX Runtime; NNCF's channel alignment + bias correction for OpenVINO) and
  the budgeted artifact (``edgecolor.quant.budget``: ``--min-psnr-fp32`` and
  ``--max-dpsnr``) are made from the same calibration set, each conversion timed;
* the budget validates on the calibration folder's held-out split; the table's numbers are
  measured on the eval photos (never calibrated on; hashes checked) by
  ``edgecolor.fidelity`` at full resolution: PSNR vs FP32, mean / p99 CIEDE2000 vs FP32,
  ΔPSNR vs the photos, each with a 95% bootstrap interval over the photos;
* speed: median model-only latency of every artifact, timed round-robin in the same
  process, reported as FP32 latency / artifact latency (> 1: faster than FP32).

Models without trained weights on this machine are listed as not measured, with the reason.

Writes benchmarks/results/<stem>-<host-kind>.md and .json (stem default
"quantization-fidelity").

Usage (development; never in tests):
    nice -n 5 python benchmarks/quant_table.py --models baseline
    python benchmarks/quant_table.py --models baseline --rows tflite:int8 --max-dpsnr 0.1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
ROWS = ("tflite:int8", "openvino:int8", "onnx:int8", "onnx:int8-cpu")
_PTQ_CACHE: dict = {}  # (id(model), method) -> (fixed model, records, seconds)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="baseline",
                   help="comma-separated zoo models ('' with --heads: the head comparison only)")
    p.add_argument("--rows", default=",".join(ROWS), help="comma-separated format:precision")
    p.add_argument("--max-dpsnr", default="0.1",
                   help="ΔPSNR budget(s) in dB, comma-separated: one table each (default 0.1)")
    p.add_argument("--min-psnr-fp32", type=float, default=40.0,
                   help="PSNR vs FP32 floor of the budget, dB (default 40)")
    p.add_argument("--confident", action="store_true",
                   help="judge the budget by the 95%% interval over the held-out photos "
                        "(edgecolor convert --confident), not by their mean")
    p.add_argument("--methods", default="cle,bc,cle+bc",
                   help="Keras-side PTQ methods measured on TFLite / ONNX rows ('' for none; "
                        "cle and adaround also on OpenVINO rows, with plain NNCF)")
    p.add_argument("--no-budget", action="store_true",
                   help="no budgeted artifact (plain and PTQ methods only)")
    p.add_argument("--stem", default="quantization-fidelity", help="results file stem")
    p.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                   help="render one results file from several runs' JSON (e.g. one row each, "
                        "run side by side); no measuring")
    p.add_argument("--imgsz", type=int, default=256, help="square input size")
    p.add_argument("--calib", type=Path, help="calibration photos (default: shared bsd100)")
    p.add_argument("--calib-size", type=int, default=100)
    p.add_argument("--images", type=Path, nargs="*",
                   help="eval photo folders (default: shared kodak24 mcmaster18)")
    p.add_argument("--search-minutes", type=float,
                   help="wall-clock limit of each budgeted search (default: none)")
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
    if calib == CALIB_DIR or not (args.images or shared):
        # runnable on a fresh clone, but a handful of photos: say so before minutes of work
        print(f"warning: {SHARED} not found: using the bundled sample photos (a few; give "
              "--calib and --images for real figures)", file=sys.stderr)
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


def _convert_timed(convert, model, spec, precision, path, options) -> tuple[dict, float]:
    t0 = time.perf_counter()
    fields = convert(model, spec, precision, path, options)
    return fields, time.perf_counter() - t0


def measure_row(model, spec, calib, evaluator, fmt_name: str, precision: str, args,
                work: Path) -> dict:
    """One int8 row: fp32, plain, PTQ methods and one budgeted artifact per budget ->
    table numbers."""
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.formats import get_format
    from edgecolor.quant.budget import (
        NNCF_ADVANCED,
        NNCF_BIAS_ONLY,
        Budget,
        BudgetedConversion,
        BudgetError,
        round_robin_ms,
        runner_class,
    )
    from edgecolor.quant.equalize import apply

    fmt = get_format(fmt_name)
    convert = fmt.load_converter()
    options = ConvertOptions(calib=calib, calib_method="minmax", threads=args.threads)
    row: dict = {"format": fmt_name, "precision": precision, "budgets": {}, "convert_s": {},
                 "errors": {}, "ptq": {}}
    fields: dict[str, dict] = {}
    paths: dict[str, Path] = {}

    def make(key: str, m, prec: str, opts, conv=convert) -> None:
        paths[key] = work / fmt.artifact_name(f"{spec.name}-{key.replace(':', '-')}", prec)
        try:
            fields[key], row["convert_s"][key] = _convert_timed(conv, m, spec, prec,
                                                                paths[key], opts)
        except Exception as e:  # one failing artifact must not stop the row
            row["errors"][key] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
            if isinstance(e, BudgetError):  # what the failed search tried, with its figures
                row["budgets"][key] = {"attempts": [attempt_record(a.to_dict())
                                                    for a in e.attempts]}

    make("fp32", model, "fp32", ConvertOptions(threads=args.threads))
    make("plain", model, precision, options)
    methods = [m for m in args.methods.split(",") if m]
    if fmt_name == "openvino":
        nncf = ConvertOptions(calib=calib, threads=args.threads, extra={"nncf": NNCF_ADVANCED})
        make("ptq:nncf", model, precision, nncf)
        if "ptq:nncf" in row["errors"]:
            # as the budget does: NNCF 3.4's channel alignment can fail where bias
            # correction alone runs (pix2pix-mobilenetv2's KeyError numpy.float32); the
            # failure stays in the row's notes, the table gets the fallback's figures
            row["notes"] = [f"ptq:nncf (channel alignment + bias correction) failed: "
                            f"{row['errors'].pop('ptq:nncf')}; the row is NNCF's bias "
                            "correction alone"]
            make("ptq:nncf", model, precision,
                 replace(nncf, extra={"nncf": NNCF_BIAS_ONLY}))
        # backend-agnostic Keras-side fixes: plain NNCF on the AdaRound kernels, on the
        # equalized model (NNCF's channel alignment does not reach a BN after the ReLU)
        methods = [m for m in methods if m in ("adaround", "cle")]
    if methods:
        for method in methods:
            print(f"    {method}", file=sys.stderr, flush=True)
            key = (id(model), method)
            if key not in _PTQ_CACHE:  # one AdaRound per model, reused by every row
                t0 = time.perf_counter()
                fixed, records = apply(model, method, calib.samples)
                _PTQ_CACHE[key] = (fixed, records, time.perf_counter() - t0)
            fixed, records, prep = _PTQ_CACHE[key]
            make(f"ptq:{method}", fixed, precision, options)
            if f"ptq:{method}" in row["convert_s"]:
                row["convert_s"][f"ptq:{method}"] += prep
            row["ptq"][method] = [r.to_dict() for r in records]
    for b in args.budgets:
        key = f"budget@{b:g}"
        budget = BudgetedConversion(
            fmt, budget=Budget(max_dpsnr=b, min_psnr_fp32=args.min_psnr_fp32,
                               confident=args.confident),
            pareto_png=False, search_minutes=args.search_minutes,
            progress=lambda s: print(f"    {s}", file=sys.stderr, flush=True))
        # the budget starts from convert's default calibration, as `edgecolor convert` does
        make(key, model, precision, replace(options, calib_method=fmt.default_method(precision)),
             conv=budget)
    cls = runner_class(fmt)
    runners = {k: cls(paths[k], spec, f, threads=args.threads) for k, f in fields.items()}
    for r in runners.values():
        r.activate()
    scores, fid = {}, {}
    for k, r in runners.items():
        scores[k] = evaluator.score(r.infer)
        fid[k] = evaluator.last.to_dict()
    ms = round_robin_ms(runners, evaluator.vset.inputs[0], args.runs)
    for r in runners.values():
        r.deactivate()
    row["eval"] = {k: s.to_dict() for k, s in scores.items()}
    row["fidelity"] = fid
    row["ms"] = {k: round(v, 3) for k, v in ms.items()}
    if "fp32" in ms:
        row["speed_vs_fp32"] = {k: round(ms["fp32"] / v, 2) for k, v in ms.items()
                                if k != "fp32"}
    row["convert_s"] = {k: round(v, 1) for k, v in row["convert_s"].items()}
    for key, f in fields.items():
        if not key.startswith("budget@"):
            continue
        q = f["quantization"]
        row["budgets"][key] = dict(
            strategy=q["strategy"], float_layers=q["float_layers"], layers=q["layers"],
            validation=q["validation"], precision=q["precision"], ranking=q["ranking"],
            checks=q["checks"], ptq=q.get("ptq"), pareto=q.get("pareto"),
            attempts=[attempt_record(a) for a in q["attempts"]])
        row["risks"] = f.get("risks", [])
    return row


def attempt_record(attempt: dict) -> dict:
    """A budget attempt's manifest record -> what the results JSON keeps of it: how it was
    made, its validation figures (dB, ΔE00) and its latency (ms), if timed."""
    score = attempt.get("score") or {}
    return {"strategy": attempt["strategy"], "calib_method": attempt["calib_method"],
            "float_layers": attempt["float_layers"], "tier": attempt.get("tier"),
            "error": attempt.get("error"), "ms": attempt.get("ms"),
            **{k: score.get(k) for k in ("psnr_vs_fp32", "dpsnr", "de_mean")}}


def bench_model(name: str, args, calib_dir: Path, eval_dirs: list[Path], work: Path) -> dict:
    from edgecolor.calibration import CalibrationSet
    from edgecolor.quant.validation import ValidationSet, Validator, keras_infer
    from edgecolor.zoo import create_model, default_weights

    model, spec = create_model(name, input_size=args.imgsz, batch_size=1)
    calib = CalibrationSet.from_folder(calib_dir, spec, size=args.calib_size, holdout=0.2)
    images, excluded = eval_paths(eval_dirs, calib)
    evaluator = Validator(ValidationSet(images, spec), keras_infer(model, spec))
    report = {"model": name, "weights": str(default_weights(name) or "random-init"),
              "eval_ci": True,
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
    from edgecolor.quant.budget import short_layer_list

    return short_layer_list(layers) if layers else "none"


def _ci(fid: dict, name: str, spec: str = ".1f") -> str:
    e = fid.get(name)
    if not e:
        return "-"
    return f"{e['mean']:{spec}} [{e['lo']:{spec}}, {e['hi']:{spec}}]"


def _cells(r: dict, key: str) -> str:
    """PSNR/FP32 [CI] | ΔE00 mean | ΔE00 p99 | ΔPSNR [CI] | × FP32 | conv s."""
    if key not in r.get("fidelity", {}):
        why = r.get("errors", {}).get(key, "not made")
        return f"{why} | | | | |"
    f = r["fidelity"][key]
    speed = r.get("speed_vs_fp32", {}).get(key)
    return (f"{_ci(f, 'psnr_vs_fp32')} | {_ci(f, 'de_mean', '.2f')} | "
            f"{f['de_p99']['mean']:.2f} | {_ci(f, 'dpsnr', '.3f')} | "
            f"{speed if speed is not None else '-'} | {r['convert_s'].get(key, '-')}")


def not_measured(models: list[str]) -> list[str]:
    """Zoo models that have no trained weights here -> one line each (the reason)."""
    from edgecolor.zoo import default_weights, list_models

    lines = []
    for name in list_models():
        if name in models:
            continue
        if default_weights(name) is None:
            lines.append(f"- {name}: no trained weights on this machine (the zoo weights "
                         "trained in earlier sessions live in ~/.cache/edgecolor/weights, "
                         "absent on this host; retraining the heavy models is not possible "
                         "on its 2 shared cores): not measured")
        else:
            lines.append(f"- {name}: trained weights present but not in --models")
    return lines


def measured_now() -> dict:
    """When a run ended and the machine's load then: {"date": "YYYY-MM-DD HH:MM", "load": [1,
    5, 15 min]} (the load average says whether other work shared the machine)."""
    return {"date": time.strftime("%Y-%m-%d %H:%M"),
            "load": [round(x, 1) for x in os.getloadavg()]}


def _load(load: list[float]) -> str:
    return "load not recorded" if any(math.isnan(x) for x in load) else \
        " ".join(f"{x:.1f}" for x in load)


def _when(measured: list[dict]) -> str:
    """The Date line's text for one run or several merged runs."""
    if len(measured) == 1:
        return f"Date: {measured[0]['date']}"
    return ("Dates (each merged run's end, load average then): "
            + ", ".join(f"{m['date']} ({_load(m['load'])})" for m in measured)
            + f"; merged {time.strftime('%Y-%m-%d %H:%M')}")


def markdown(command: str, reports: list[dict], args, calib_dir, eval_dirs,
             heads: dict | None = None, measured: list[dict] | None = None) -> str:
    """The results page; ``measured``: each run's :func:`measured_now` (default: now)."""
    from edgecolor.converters.run import host_info, versions

    host = host_info()
    v = versions()
    measured = measured or [measured_now()]
    load = ("" if len(measured) > 1 else "; load average at the end (read it for other work "
            f"on the machine) {_load(measured[0]['load'])}")
    out = [f"# int8 that keeps the FP32 colors: {args.host_kind}", "",
           f"Command: `{command}`", "",
           f"- {_when(measured)}; {host['platform']}; CPU {host['cpu']}, {host['cores']} "
           f"cores, nice {os.nice(0)}{load}",
           "- Versions: " + ", ".join(f"{k} {v[k]}" for k in sorted(v)),
           (f"- Budget: PSNR vs FP32 ≥ {args.min_psnr_fp32:g} dB and ΔPSNR ≤ "
            f"{', '.join(f'{b:g}' for b in args.budgets)} dB"
            + (" over the 95% interval (--confident)" if args.confident
               else "") + ", validated on the held-out 20% "
            "of " if args.budgets else "- No budgeted artifact (--no-budget); calibrated on ")
           + f"the calibration folder `{calib_dir.name}`; the table is measured on the eval "
           f"photos {', '.join(d.name for d in eval_dirs)} (never calibrated on; sha256 and "
           "perceptual hashes checked)",
           "- Figures by `edgecolor.fidelity` at each photo's full resolution: PSNR of the "
           "artifact's colorization vs the FP32 model's (dB), mean and p99 CIEDE2000 vs FP32, "
           "ΔPSNR = PSNR(FP32 vs photos) − PSNR(artifact vs photos) (dB); [lo, hi] = 95% "
           "bootstrap interval over the eval photos",
           f"- Speed: median model-only latency, {args.runs} round-robin runs, "
           f"{args.threads} thread(s); × = FP32 ms / artifact ms of the same runtime "
           "(> 1: faster); conv s = conversion wall time (budgeted: the whole search, "
           "including its timing runs)",
           "- plain = int8 with min/max ranges; the budget's search starts, as `edgecolor "
           "convert` does, from the row's default calibration (quantile where the format has "
           "it: calib-methods-*.md) and tries min/max in its second tier",
           "- onnx:int8 is the TensorRT Q/DQ flavour, run here on ONNX Runtime's CPU "
           "provider (no TensorRT on this host): its speed is not TensorRT's"]
    for rep in reports:
        out += ["", f"## {rep['model']} at {rep['input_size']}x{rep['input_size']} "
                f"({'trained weights' if rep['weights'] != 'random-init' else 'random weights'})",
                "", f"FP32 vs originals on {rep['eval']['images']} eval photos: "
                f"{rep['eval']['fp32_psnr']:.2f} dB. Calibration: {rep['calibration']['size']} "
                f"photos + {rep['calibration']['holdout']} held out for the budget."
                + (f" Left out of the eval set: {'; '.join(rep['eval']['excluded'])}."
                   if rep["eval"]["excluded"] else "")]
        out += ["", "| row | artifact | PSNR vs FP32 dB [95% CI] | ΔE00 vs FP32 [CI] | "
                "ΔE00 p99 | ΔPSNR dB [CI] | × own FP32 | conv s |",
                "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in rep["rows"]:
            name = f"{r['format']}:{r['precision']}"
            if "error" in r:
                out.append(f"| {name} | failed: {r['error']} | | | | | | |")
                continue
            keys = ["plain"] + [k for k in r.get("fidelity", {}) if k.startswith("ptq:")]
            keys += [f"budget@{b:g}" for b in args.budgets]
            for key in keys:
                label = key
                b = r["budgets"].get(key)
                if b and "strategy" in b:  # else the search failed (errors)
                    floats = f"{len(b['float_layers'])}/{b['layers']} float: " \
                             f"{_fl(b['float_layers'])}"
                    label = f"budgeted ({b['strategy']}; {floats})"
                out.append(f"| {name} | {label} | {_cells(r, key)} |")
        notes = [f"- {r['format']}:{r['precision']}: {n}" for r in rep["rows"]
                 for n in r.get("notes", [])]
        if notes:
            out += ["", "Row notes:"] + notes
        risks = {(k['layer'], k['kind'], k['detail']) for r in rep["rows"]
                 for k in r.get("risks", [])}
        if risks:
            out += ["", "Risk checks (per layer, before quantizing):"]
            out += [f"- {layer}: {kind}: {detail}" for layer, kind, detail in sorted(risks)]
    missing = not_measured([rep["model"] for rep in reports])
    if missing:
        out += ["", "## Not measured", ""] + missing
    if heads is not None:
        out += heads_markdown(heads, args.budgets[0])
    return "\n".join(out) + "\n"


def merge(args, argv) -> int:
    """--merge: the rows of several runs (same models, settings) -> one .md and .json; a
    row (format:precision) measured again in a later run replaces the earlier one."""
    from argparse import Namespace

    from edgecolor.imageio import atomic_write_bytes

    runs = [json.loads(p.read_text()) for p in args.merge]
    measured: list[dict] = []
    for run, path in zip(runs, args.merge, strict=True):
        m = run.get("measured")
        if isinstance(m, list):  # an earlier merge
            measured += m
        else:  # before "measured" was recorded, the JSON's mtime is when the run ended
            measured.append(m or {"date": time.strftime(
                "%Y-%m-%d %H:%M", time.localtime(path.stat().st_mtime)), "load": [math.nan] * 3})
    first = runs[0]
    settings = first["settings"]
    reports: dict[str, dict] = {}
    for run in runs:
        if run["settings"]["imgsz"] != settings["imgsz"] or run["max_dpsnr"] != first[
                "max_dpsnr"]:
            sys.exit(f"error: {run['command']}: other settings than {first['command']}")
        for rep in run["models"]:
            if rep["model"] not in reports:
                reports[rep["model"]] = {**rep, "rows": []}
            rows = reports[rep["model"]]["rows"]
            for row in rep["rows"]:  # a later run's row replaces the same format:precision
                same = [i for i, r in enumerate(rows) if (r["format"], r["precision"]) ==
                        (row["format"], row["precision"])]
                if same:
                    rows[same[0]] = row
                else:
                    rows.append(row)
    view = Namespace(host_kind=args.host_kind, budgets=first["max_dpsnr"],
                     min_psnr_fp32=first["min_psnr_fp32"], runs=settings["runs"],
                     confident=settings.get("confident", False),
                     threads=settings["threads"])
    me = "python benchmarks/quant_table.py " + shlex.join(sys.argv[1:] if argv is None
                                                          else argv)
    command = " ; ".join(r["command"] for r in runs) + f" (separate runs), then {me}"
    md = markdown(command, list(reports.values()), view, Path(settings["calib"]),
                  [Path(e) for e in settings["eval"]], measured=measured)
    stem = args.out / f"{args.stem}-{args.host_kind}"
    atomic_write_bytes(stem.with_suffix(".md"), md.encode())
    atomic_write_bytes(stem.with_suffix(".json"), (json.dumps(
        {**first, "command": command, "measured": measured, "models": list(reports.values())},
        indent=2)
        + "\n").encode())
    print(md)
    print(f"written: {stem}.md and .json", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    from edgecolor._tf import quiet_tf_env

    quiet_tf_env()
    from edgecolor.devices import resolve_profile
    from edgecolor.imageio import atomic_write_bytes

    args = parse_args(argv)
    args.host_kind = args.host_kind or resolve_profile("auto").name
    if args.merge:
        return merge(args, argv)
    args.budgets = [] if args.no_budget else [float(b) for b in str(args.max_dpsnr).split(",")]
    calib_dir, eval_dirs = default_sets(args)
    command = "python benchmarks/quant_table.py " + shlex.join(sys.argv[1:] if argv is None
                                                               else argv)
    reports = []
    with tempfile.TemporaryDirectory(prefix="edgecolor-quant-") as tmp:
        for name in [n for n in args.models.split(",") if n]:
            reports.append(bench_model(name, args, calib_dir, eval_dirs, Path(tmp)))
    heads = eccv16_heads(args, calib_dir) if args.heads else None
    measured = measured_now()
    md = markdown(command, reports, args, calib_dir, eval_dirs, heads, [measured])
    stem = args.out / f"{args.stem}-{args.host_kind}"
    atomic_write_bytes(stem.with_suffix(".md"), md.encode())
    atomic_write_bytes(stem.with_suffix(".json"),
                       (json.dumps({"schema": "edgecolor.quant/2", "command": command,
                                    "measured": measured, "max_dpsnr": args.budgets,
                                    "min_psnr_fp32": args.min_psnr_fp32,
                                    "settings": {"runs": args.runs, "threads": args.threads,
                                                 "confident": args.confident,
                                                 "search_minutes": args.search_minutes,
                                                 "imgsz": args.imgsz, "rows": args.rows,
                                                 "calib": str(calib_dir),
                                                 "eval": [str(d) for d in eval_dirs]},
                                    "models": reports,
                                    "not_measured": not_measured([r["model"]
                                                                  for r in reports]),
                                    "eccv16_heads": heads},
                                   indent=2) + "\n").encode())
    print(md)
    print(f"written: {stem}.md and .json", file=sys.stderr)
    if heads and any(o.get("error") for r in heads.get("rows", []) for o in r["options"]):
        return 1
    return 1 if any("error" in r or r.get("errors") for rep in reports
                    for r in rep["rows"]) else 0


if __name__ == "__main__":
    sys.exit(main())
