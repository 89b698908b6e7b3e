"""The seed study's comparison on this machine: every zoo model x format x precision, plus the
plain alternatives a user would otherwise pick, timed side by side in one run.

For each model (at its paper input size) every (format, precision) of the format table is
converted with the real converters, then measured by the benchmark harness (each artifact
in its own process: AIT, p90, FPS, end-to-end time, peak memory, quality on the eval photos
and loss vs FP32). In the same run it times Keras ``model.predict`` (FP32), OpenCV DNN on the
FP32 ONNX and a default ONNX Runtime session on the FP32 ONNX, so the table states speed-ups
as ratios measured side by side. Models without trained weights run with random weights:
their speed is real, their quality columns say "untrained".

Heavy models ship no weights in git; ``edgecolor train --install`` puts trained weights in the
weights cache ($EDGECOLOR_HOME/weights, default ~/.cache/edgecolor/weights), where the zoo
finds them. ``--train-missing MINUTES`` first trains every model that has none with a fixed
budget (the TRAIN_* constants below: ../shared/datasets/imagenet, train role, 5% held out; 128 px
crops; batch 16; seed 0; at most MINUTES of wall time and TRAIN_EPOCHS epochs) and installs
it. The results file states each trained model's budget (minutes, epochs, images) from its
model card.

Calibration: ../shared/datasets/bsd100 (calibration role); evaluation: kodak24 + mcmaster18
(eval role), when ../shared exists; else the bundled samples. Writes
benchmarks/results/<host-kind>.md and .json (the command is on the first lines).

Usage (development; never in tests):
    nice -n 10 python benchmarks/run_matrix.py --models baseline
    nice -n 10 python benchmarks/run_matrix.py --models pix2pix-mobilenetv2-lab --train-missing 60
    python benchmarks/run_matrix.py --models baseline --formats tflite,openvino --runs 50
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
QUALITY_KEYS = ("mse", "psnr_db", "dpsnr_db", "psnr_vs_fp32_db")
# (header, key of the alternative row whose AIT is divided by the row's AIT)
TRAIN_EPOCHS = 200  # epoch cap of --train-missing; the minutes budget normally stops first
TRAIN_IMGSZ = 128
TRAIN_IMAGES = SHARED / "imagenet"  # train role
RATIOS = (("× Keras predict", "keras-predict"), ("× ORT FP32 default", "ort-default"),
          ("× OpenCV DNN", "opencv-dnn"))


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options -> namespace."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", help="comma-separated zoo models (default: all)")
    p.add_argument("--formats", help="comma-separated formats (default: all)")
    p.add_argument("--precisions", help="comma-separated precisions (default: all)")
    p.add_argument("--runs", type=int, default=20, help="timed runs per timing (default 20)")
    p.add_argument("--warmup", type=int, default=3, help="untimed runs first (default 3)")
    p.add_argument("--max-seconds", type=float, default=10.0,
                   help="cap per timing for slow artifacts (default 10 s, >= 3 runs)")
    p.add_argument("--threads", type=int, help="inference threads (default: the profile's)")
    p.add_argument("--imgsz", type=int, help="input size for every model (default: paper's)")
    p.add_argument("--calib", type=Path, help="calibration photos (default: bsd100)")
    p.add_argument("--calib-size", type=int, default=100, help="calibration images (100)")
    p.add_argument("--images", type=Path, nargs="+",
                   help="eval photo folders (default: kodak24 mcmaster18)")
    p.add_argument("--eval-per-set", type=int, metavar="N",
                   help="score quality on the first N photos (sorted by name) of each eval folder")
    p.add_argument("--host-kind", help="results file name (default: detected device profile)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument("--work", type=Path, help="keep the artifacts here (default: a temp dir)")
    p.add_argument("--fast-metrics", action="store_true",
                   help="skip SSIM and CIEDE2000 (about 1 s per 500 px photo and row)")
    p.add_argument("--render", type=Path,
                   help="only rewrite the .md beside this results .json (no measuring)")
    p.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                   help="only merge these results .json files (same sets) into "
                        "<out>/<host-kind>.md and .json, one overview for all (no measuring)")
    p.add_argument("--no-budget", action="store_true",
                   help="plain int8 rows: skip the quality budget (`convert --max-dpsnr`) that "
                        "int8 rows of trained models otherwise get")
    p.add_argument("--no-alternatives", action="store_true",
                   help="skip Keras predict / OpenCV DNN / ORT default")
    p.add_argument("--train-missing", type=float, metavar="MINUTES",
                   help="first train (and install into the weights cache) every model without "
                        f"weights: {TRAIN_IMAGES.name}/, {TRAIN_IMGSZ} px crops, at most "
                        f"MINUTES and {TRAIN_EPOCHS} epochs each")
    return p.parse_args(argv)


def default_sets(args) -> tuple[Path, list[Path]]:
    """(calibration folder, eval folders): the shared role folders when present."""
    from edgecolor.samples import CALIB_DIR, EVAL_DIR

    calib = args.calib or (SHARED / "bsd100" if (SHARED / "bsd100").is_dir() else CALIB_DIR)
    shared_eval = [SHARED / n for n in ("kodak24", "mcmaster18") if (SHARED / n).is_dir()]
    return calib, list(args.images or shared_eval or [EVAL_DIR])


def train_missing(model: str, minutes: float) -> int:
    """Train ``model`` with the fixed budget and install it -> the trainer's exit status.

    The run folder is ``$EDGECOLOR_HOME/runs/<model>/``: an interrupted run resumes there
    (its wall time counts against the same budget).
    """
    import os
    import subprocess

    from edgecolor.zoo import weights_cache_dir

    run = weights_cache_dir().parent / "runs" / model
    cmd = [sys.executable, "-m", "edgecolor", "train", "--model", model,
           "--images", os.path.relpath(TRAIN_IMAGES, REPO), "--imgsz", str(TRAIN_IMGSZ),
           "--epochs", str(TRAIN_EPOCHS), "--max-minutes", f"{minutes:g}", "--out", str(run),
           "--install"] + (["--resume"] if (run / "state.json").is_file() else [])
    print(f"  training (no weights): {shlex.join(cmd)}", file=sys.stderr, flush=True)
    # the trainer's stdout goes to stderr: stdout carries the results table
    return subprocess.run(cmd, stdout=sys.stderr, cwd=REPO).returncode


def training_budget(weights: Path | None) -> dict | None:
    """What the weights' model card says about their training: minutes, epochs, images."""
    from edgecolor.train.card import read_card
    from edgecolor.zoo.registry import WEIGHTS_DIR

    if weights is None:
        return None
    path = weights.with_name(weights.name.removesuffix(".weights.h5") + ".card.json")
    try:
        card = read_card(path)
    except ValueError:
        return {"card": None}
    tr, train = card.get("training", {}), card.get("data", {}).get("train", {})
    return {"card": path.name, "source": "bundled" if path.parent == WEIGHTS_DIR else
            "weights cache", "minutes": round(tr.get("wall_time_s", 0) / 60, 1),
            "max_minutes": tr.get("max_minutes"), "epochs": tr.get("epochs_done"),
            "images": train.get("images"), "folder": train.get("folder"),
            "crop": tr.get("crop")}


def alternatives(model: str, spec_dict: dict, weights: str | None, made: list[str]) -> list:
    """The plain ways to run the model, as bench alternatives (see bench_folder)."""
    from edgecolor.formats import get_format

    onnx = get_format("onnx").artifact_name(model, "fp32")
    like = next((m for m in made if m.endswith("-fp32.tflite")), made[0] if made else None)
    alts = [{"label": "keras-predict", "like": like,
             "job": {"kind": "keras", "alt": "keras-predict", "threads": None,
                     "keras": {"model": model, "spec": spec_dict, "weights": weights,
                               "kwargs": {}}}}]
    if onnx in made:
        alts += [{"label": "ort-default", "like": onnx,
                  "job": {"kind": "artifact", "artifact": None, "runner": "onnxruntime",
                          "threads": None}},
                 {"label": "opencv-dnn", "like": onnx,
                  "job": {"kind": "artifact", "artifact": None, "runner": "opencv",
                          "threads": None}}]
    return alts


def bench_model(model: str, args, profile, calib: Path, images: list[Path], work: Path) -> dict:
    """Convert and bench one model -> its report dict (plus conversion and training facts)."""
    from edgecolor.bench import BenchSettings, bench_folder
    from edgecolor.converters.run import convert_all
    from edgecolor.imageio import list_images
    from edgecolor.zoo import create_spec, default_weights, get_model_info

    size = args.imgsz or create_spec(model).input_size[0]
    training_rc = None
    if args.train_missing and default_weights(model) is None:
        training_rc = train_missing(model, args.train_missing)
    weights = default_weights(model)
    out = work / model

    def log(line: str) -> None:
        print(f"  {line}", file=sys.stderr, flush=True)

    def done(i, n, res) -> None:
        log(f"[{i}/{n}] {res.name}: " + (f"{res.size_mb:.2f} MB in {res.seconds:.1f} s"
                                        if res.ok else f"❌ {res.error}"))

    t0 = time.time()
    results = convert_all(model, target=profile, formats=_split(args.formats),
                          precisions=_split(args.precisions), calib=calib,
                          calib_size=args.calib_size, out_dir=out, weights="default",
                          imgsz=size, threads=args.threads, on_done=done,
                          budget=False if args.no_budget else None)
    made = [r.name for r in results if r.path.is_file()]
    alts = [] if args.no_alternatives else alternatives(
        model, create_spec(model, size).to_dict(), str(weights) if weights else None, made)
    for alt in alts:
        if alt["job"]["kind"] == "artifact":
            alt["job"]["artifact"] = str(out / alt["like"])
    paths = [p for folder in images
             for p in list_images([str(folder)])[0][:args.eval_per_set or None]]
    settings = BenchSettings(images=paths, runs=args.runs, warmup=args.warmup,
                             max_seconds=args.max_seconds, threads=args.threads
                             or profile.default_threads(), device_profile=profile.to_dict(),
                             metrics="fast" if args.fast_metrics else "full",
                             argv=list(sys.argv))
    report = bench_folder(out, settings, progress=log, warn=log, only=made, alternatives=alts)
    for r in results:
        if not r.path.is_file():
            report["rows"].append({"artifact": r.name, "status": "failed",
                                   "error": f"convert: {r.error}"})
    info = get_model_info(model)
    report.update(trained=weights is not None, input_size=size, params=info.params,
                  paper=info.paper, reported=info.reported,
                  conversion=[r.to_dict() for r in results], minutes=(time.time() - t0) / 60,
                  training=training_budget(weights))
    if training_rc:
        report["training_error"] = f"edgecolor train exited with {training_rc}"
    return report


def _fmt(row: dict, key: str, fmt: str, trained: bool) -> str:
    if row.get("status") != "ok":
        return "—"
    if key in QUALITY_KEYS and not trained:
        return "untrained"
    v = row.get(key)
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return fmt.format(v)


def model_table(report: dict) -> str:
    """One model's rows (alternatives first) as a markdown table with speed-up ratios."""
    from edgecolor.bench.report import COLUMNS

    alts = {r["artifact"]: r for r in report.get("alternatives", []) if r["status"] == "ok"}
    head = ["Runtime / artifact"] + [c[0] for c in COLUMNS] + [r[0] for r in RATIOS]
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    for row in report.get("alternatives", []) + report["rows"]:
        if row.get("status") != "ok":
            cells = [row["artifact"], f"❌ {row.get('error')}"] + ["—"] * (len(head) - 2)
        else:
            cells = [row["artifact"]] + [_fmt(row, k, f, report["trained"]) for _, k, f in
                                         COLUMNS]
            for _, alt in RATIOS:
                base = alts.get(alt, {}).get("ait_ms")
                cells.append(f"{base / row['ait_ms']:.2f}" if base and row.get("ait_ms")
                             else "—")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines)


def seed_note() -> str:
    """What the overview's published column is (the seed study's values and their caveats)."""
    from edgecolor.zoo.published import SEED_NOTE, SEED_SOURCE

    return (f"Our measurements in the seed study's Table 1 layout; the column *published "
            f"(seed, other hardware)* holds the numbers published in {SEED_SOURCE}. "
            + SEED_NOTE)


def _best(rows: list[dict], key) -> dict | None:
    ok = [r for r in rows if r.get("status") == "ok" and r.get("ait_ms")]
    return min(ok, key=key) if ok else None


def _overview_cell(row: dict | None, keras_ms: float | None, trained: bool) -> str:
    if not row:
        return "—"
    ratio = f", {keras_ms / row['ait_ms']:.1f}×" if keras_ms else ""
    dp = row.get("dpsnr_db")
    dps = f", {dp:+.3f}" if trained and dp is not None else ""
    return f"`{row['artifact']}` {row['ait_ms']:.1f}{ratio}{dps}"


def _overview_line(name: str, rep: dict) -> str:
    alts = {r["artifact"]: r for r in rep.get("alternatives", []) if r["status"] == "ok"}
    keras = alts.get("keras-predict", {})
    keras_ms, trained = keras.get("ait_ms"), rep["trained"]
    tr = rep.get("training") or {}
    weights = (f"trained {tr['minutes']:g} min, {tr['epochs']} epochs" if tr.get("epochs")
               else "trained" if trained else "random")

    def quality(key: str, fmt: str) -> str:
        if not trained:
            return "untrained"
        return fmt.format(keras[key]) if keras.get(key) is not None else "—"

    fastest = _best(rep["rows"], lambda r: r["ait_ms"])
    within = _best([r for r in rep["rows"] if r.get("dpsnr_db") is not None
                    and r["dpsnr_db"] <= 0.3], lambda r: r["ait_ms"]) if trained else None
    from edgecolor.zoo.published import other_reported, seed_text

    seed = seed_text(rep.get("reported"), name)
    ref = ", ".join(f"{k} {v}" for k, v in other_reported(rep.get("reported")).items()) or "—"
    params = f"{rep['params'] / 1e6:.2f} M" if rep.get("params") else "—"
    return (f"| {name} | {params} | {weights} | {quality('mse', '{:.5f}')} | "
            f"{quality('psnr_db', '{:.2f}')} | {f'{keras_ms:.1f}' if keras_ms else '—'} | "
            f"{_overview_cell(fastest, keras_ms, trained)} | "
            f"{_overview_cell(within, keras_ms, trained) if trained else '—'} | {seed} | "
            f"{ref} |")


def overview_table(reports: dict[str, dict]) -> str:
    """One line per model in the seed's Table 1 layout (MSE, PSNR, AIT of FP32 Keras), then the
    fastest artifact and the fastest one within 0.3 dB of FP32, with their cost in PSNR."""
    head = ("| Model | Params | Weights | MSE | PSNR (dB) | AIT Keras FP32 (ms) | Fastest "
            "artifact: AIT (ms), × Keras, ΔPSNR (dB) | Fastest within 0.3 dB of FP32 | "
            "Published (seed, other hardware) | Other published reference |")
    lines = [head, "|---|---:|---|---:|---:|---:|---|---|---|---|"]
    lines += [_overview_line(name, rep) for name, rep in reports.items()]
    return "\n".join(lines)


def markdown(command: str, reports: dict[str, dict], calib: Path, images: list[Path],
             unfinished: list[str] | None = None, merged_by: str | None = None) -> str:
    """The results file: command, machine, sets, then one table per model (``unfinished``:
    models of the run not measured yet, named at the top of a partial file; ``merged_by``:
    the command that merged separate runs, whose commands ``command`` then joins)."""
    first = next(iter(reports.values()))
    ctx, cpu = first["context"], first["context"]["cpu"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(ctx["versions"].items()))
    out = [
        f"# Benchmark matrix: {ctx.get('device_profile', {}).get('name', '?')}", "",
        (f"Merged by `{merged_by}` from separate runs (each model's section gives its date). "
         f"Commands: `{command}`" if merged_by else f"Command: `{command}`"), "",
        *([f"**Partial:** still running (or stopped) before {', '.join(unfinished)}.", ""]
          if unfinished else []),
        f"- Date: {ctx['date']}; machine {ctx['machine']}"
        f"{' (EMULATED)' if ctx.get('emulated') else ''}; {ctx['os']}; Python {ctx['python']}",
        f"- CPU: {cpu['model']} — SIMD: {' '.join(cpu['simd'])}; cores "
        f"{cpu['cores_available']}/{cpu['cores']}; threads {ctx.get('threads')}; load average "
        f"at the end {' '.join(map(str, ctx.get('load_average') or []))}",
        f"- Versions: {versions}",
        f"- Calibration: {calib.name} ({calib}); evaluation: "
        f"{', '.join(p.name for p in images)} ({first['images']['n']} photos)",
        f"- Timing: {first['settings']['warmup']} warm-up + {first['settings']['runs']} runs "
        f"(at most {first['settings']['max_seconds']:g} s) per timing; each row in its own "
        "process, one after the other.",
        "",
        "AIT = mean model-only inference time (ms); FPS = 1000 / median; E2E = median "
        "end-to-end time (Lab, resize, run, decode, full-resolution RGB); ΔPSNR = PSNR_fp32 − "
        "PSNR_artifact (dB, vs the originals). `× X` = AIT of X / AIT of the row (> 1: the row "
        "is faster), measured in this run. keras-predict: `model.predict` with TensorFlow's "
        "default threads; ort-default: a default ONNX Runtime session on the FP32 ONNX; "
        "opencv-dnn: OpenCV DNN on the FP32 ONNX.",
    ]
    load, cores = (ctx.get("load_average") or [0])[0], cpu.get("cores_available") or 1
    if load > cores:
        out += ["", f"⚠ The machine was busy (load average {load} on {cores} cores): absolute "
                "times are inflated and the ratios carry noise; re-run on an idle machine "
                "before quoting them."]
    if len(reports) > 1:
        out += ["", "## Overview (the seed's Table 1 layout)", "", seed_note(), "",
                overview_table(reports)]
    for name, rep in reports.items():
        params = f"{rep['params']:,} params, " if rep.get("params") else ""
        weights = ("trained weights" if rep["trained"] else
                   "**random weights** (none bundled or cached; `--train-missing` trains "
                   "them): speed only, quality columns say untrained")
        tr = rep.get("training") or {}
        if tr.get("epochs"):
            cap = f" (budget {tr['max_minutes']:g} min)" if tr.get("max_minutes") else ""
            budget = (f"Training budget (model card `{tr['card']}`, {tr['source']}): "
                      f"{tr['minutes']:g} min"
                      f"{cap}, {tr['epochs']} epochs on {tr['images']} images of "
                      f"`{tr['folder']}`, {tr['crop']} px crops.")
        elif rep["trained"]:
            budget = "Training budget: unknown (the weights have no model card)."
        else:
            budget = ""
        if rep.get("training_error"):
            budget += f" ⚠ Training failed: {rep['training_error']}."
        refs = "; ".join(r["source"] for r in rep.get("references", []))
        out += ["", f"## {name} ({params}{rep['input_size']}x{rep['input_size']}, {weights})",
                "", f"FP32 reference: {refs or '—'}. Converted and measured in "
                f"{rep['minutes']:.1f} min ({rep['context']['date']}).",
                *(["", budget.strip()] if budget else []), "",
                model_table(rep)]
        measured = {r["artifact"] for r in rep["rows"] if r.get("status") == "ok"}
        flagged = [c for c in rep.get("conversion", []) if not c.get("ok")
                   and c.get("name") in measured]
        if flagged:  # written and measured, but `edgecolor convert` reports them failed
            out += ["", "`edgecolor convert` marks these ❌ (measured above anyway): " + "; ".join(
                f"`{c['name']}`: {c['error']} ({c.get('check_images', '?')} held-out "
                "calibration photos)" for c in flagged) + "."]
        from edgecolor.zoo.published import other_reported, seed_text

        if seed_text(rep.get("reported"), name) != "—":
            out += ["", f"Published (seed, other hardware and images): "
                    f"{seed_text(rep.get('reported'), name)}."]
        if other_reported(rep.get("reported")):
            out += ["", "Paper: " + ", ".join(f"{k} {v}" for k, v in
                                              other_reported(rep["reported"]).items())]
    return "\n".join(out) + "\n"


def _refresh_reported(reports: dict[str, dict]) -> None:
    """Published numbers come from the registry as it is now (added after a run, e.g. the
    seed's Table 1 values in a model's ``reported`` field, they reach the overview)."""
    from edgecolor.zoo import get_model_info

    for name, rep in reports.items():
        try:
            rep["reported"] = get_model_info(name).reported
        except ValueError:  # a model no longer registered keeps what its run recorded
            pass


def render(json_path: Path) -> int:
    """Rewrite ``<host-kind>.md`` from its ``.json`` (after a change to the layout)."""
    import json

    from edgecolor.imageio import atomic_write_bytes

    data = json.loads(json_path.read_text())
    _refresh_reported(data["models"])
    md = markdown(data["command"], data["models"], Path(data["calib"]),
                  [Path(p) for p in data["images"]], data.get("unfinished"),
                  data.get("merged_by"))
    atomic_write_bytes(json_path.with_suffix(".md"), md.encode())
    print(md)
    return 0


def merge(paths: list[Path], out: Path, kind: str) -> int:
    """Merge results .json files of separate runs (same calibration and eval sets) into one
    ``<out>/<kind>.md`` and ``.json`` with one overview of every model."""
    import json

    from edgecolor.bench.report import to_json
    from edgecolor.imageio import atomic_write_bytes

    runs = [json.loads(p.read_text()) for p in paths]
    sets = {(r["calib"], tuple(r["images"])) for r in runs}
    if len(sets) > 1:
        print(f"--merge: the runs used different calibration/eval sets: {sorted(sets)}",
              file=sys.stderr)
        return 2
    reports = {name: rep for r in runs for name, rep in r["models"].items()}
    _refresh_reported(reports)
    command = " && ".join(r["command"] for r in runs)
    merged_by = ("python benchmarks/run_matrix.py --merge "
                 + " ".join(p.name for p in paths) + f" --host-kind {kind}")
    md = markdown(command, reports, Path(runs[0]["calib"]), [Path(p) for p in runs[0]["images"]],
                  merged_by=merged_by)
    atomic_write_bytes(out / f"{kind}.md", md.encode())
    atomic_write_bytes(out / f"{kind}.json", to_json({
        "schema": "edgecolor.matrix/1", "command": command, "merged_by": merged_by,
        "merged_from": [p.name for p in paths],
        "calib": runs[0]["calib"], "images": runs[0]["images"], "models": reports}).encode())
    print(f"written: {out / (kind + '.md')} and .json ({len(reports)} models)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the matrix -> 0 when every row was measured, 1 otherwise."""
    from edgecolor._tf import quiet_tf_env

    quiet_tf_env()
    from edgecolor.bench.report import to_json
    from edgecolor.devices import resolve_profile
    from edgecolor.formats import all_rows
    from edgecolor.imageio import atomic_write_bytes
    from edgecolor.zoo import list_models

    args = parse_args(argv)
    if args.render:
        return render(args.render)
    if args.merge:
        if not args.host_kind:
            print("--merge needs --host-kind NAME (the merged file's name)", file=sys.stderr)
            return 2
        return merge(args.merge, args.out, args.host_kind)
    if args.train_missing is not None and not (args.train_missing > 0
                                               and TRAIN_IMAGES.is_dir()):
        print(f"--train-missing needs MINUTES > 0 and the train photos in {TRAIN_IMAGES}",
              file=sys.stderr)
        return 2
    # a plain `kill` unwinds normally: measuring processes stop, temp folders are removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    host = resolve_profile("auto")
    # the whole format table, with the host profile's threads and runtimes
    profile = dataclasses.replace(host, artifacts=tuple(all_rows()), input_size=0)
    calib, images = default_sets(args)
    command = "python benchmarks/run_matrix.py " + shlex.join(sys.argv[1:] if argv is None
                                                              else argv)
    reports: dict[str, dict] = {}
    models = _split(args.models) or list_models()
    kind = args.host_kind or host.name

    def write(md: str) -> None:
        # after every model, so a run stopped midway keeps the models it finished
        atomic_write_bytes(args.out / f"{kind}.md", md.encode())
        atomic_write_bytes(args.out / f"{kind}.json",
                           to_json({"schema": "edgecolor.matrix/1", "command": command,
                                    "calib": str(calib), "images": [str(p) for p in images],
                                    "models": reports,
                                    "unfinished": models[len(reports):]}).encode())

    with tempfile.TemporaryDirectory(prefix="edgecolor-matrix-") as tmp:
        work = args.work or Path(tmp)
        for model in models:
            print(f"{model}:", file=sys.stderr, flush=True)
            reports[model] = bench_model(model, args, profile, calib, images, work)
            write(markdown(command, reports, calib, images, models[len(reports):]))
            print(f"written: {args.out / (kind + '.md')} and .json "
                  f"({len(reports)}/{len(models)} models)", file=sys.stderr, flush=True)
    print(markdown(command, reports, calib, images))
    failed = [r for rep in reports.values() for r in rep["rows"] + rep.get("alternatives", [])
              if r.get("status") != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
