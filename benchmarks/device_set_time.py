"""What the fidelity budget costs a whole device set: `edgecolor convert --target T` plain
(``--no-budget``) vs budgeted (the default budget), per model, in one run on one machine.

Each conversion runs as a user runs it (`python -m edgecolor convert`, its own process, one
after the other); the wall time covers everything convert does (every format and
precision of the target, the budget's search with its timing runs, the quick checks). For
each artifact the manifests give the quick check (PSNR vs FP32 on the held-out calibration
photos, full resolution) and, budgeted, the strategy and the layers kept in float; an
artifact with no manifest (its conversion failed) is named with convert's reason.

Writes benchmarks/results/<stem>-<host-kind>.md and .json (stem default "device-set-time").

Usage (development; never in tests):
    python benchmarks/device_set_time.py --models pix2pix-mobilenetv2-lab --target x86-cpu
    # the budget's cost against convert before quantile became its default calibration:
    python benchmarks/device_set_time.py --models eccv16 --plain-calib-method minmax
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "datasets"
MODES = ("plain", "budgeted")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="pix2pix-mobilenetv2-lab", help="comma-separated")
    p.add_argument("--target", default="x86-cpu", help="device profile")
    p.add_argument("--calib", type=Path, default=SHARED / "bsd100")
    p.add_argument("--calib-size", type=int, default=100)
    p.add_argument("--modes", default=",".join(MODES), help="plain, budgeted or both")
    p.add_argument("--plain-calib-method", default=None,
                   help="plain: convert's --calib-method (minmax = convert's default before "
                        "quantile became it: the wall time the budget's cost is judged "
                        "against)")
    p.add_argument("--search-minutes", type=float, default=None,
                   help="budgeted: convert's --search-minutes (wall-clock limit per artifact)")
    p.add_argument("--stem", default="device-set-time")
    p.add_argument("--host-kind", default=None,
                   help="results file suffix (default: the target)")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument("--work", type=Path, default=None, help="artifact folder (default: temp)")
    return p.parse_args(argv)


def convert(model: str, mode: str, args, out_dir: Path) -> dict:
    """One `edgecolor convert` in its own process -> {seconds, exit, artifacts, command}."""
    cmd = [sys.executable, "-m", "edgecolor", "convert", "--model", model, "--target",
           args.target, "--calib", str(args.calib), "--calib-size", str(args.calib_size),
           "-o", str(out_dir)] + (["--no-budget"] if mode == "plain" else [])
    if mode == "plain" and args.plain_calib_method:
        cmd += ["--calib-method", args.plain_calib_method]
    if mode == "budgeted" and args.search_minutes:
        cmd += ["--search-minutes", f"{args.search_minutes:g}"]
    print(f"[{time.strftime('%H:%M:%S')}] {model} {mode}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    return {"mode": mode, "seconds": round(seconds, 1), "exit": done.returncode,
            "calib_method": args.plain_calib_method if mode == "plain" else None,
            "command": shlex.join(["edgecolor", *cmd[3:]]),
            "artifacts": artifacts(out_dir), "summary": done.stdout.strip(),
            "stderr_tail": done.stderr.strip().splitlines()[-3:]}


def artifacts(out_dir: Path) -> list[dict]:
    """The manifests convert wrote in ``out_dir`` -> one record per artifact."""
    rows = []
    for path in sorted(out_dir.glob("*.json")):
        m = json.loads(path.read_text())
        if "artifact" not in m:
            continue
        qc, q = m.get("quick_check") or {}, m.get("quantization") or {}
        rows.append({"artifact": m["artifact"], "format": m.get("format"),
                     "precision": m.get("precision"), "ok": qc.get("ok"),
                     "psnr_vs_fp32": qc.get("psnr_db"), "strategy": q.get("strategy"),
                     "float_layers": q.get("float_layers") or m.get("float_layers") or [],
                     "speedup": (q.get("speed") or {}).get("speedup_vs_fp32"),
                     "attempts": len(q.get("attempts") or [])})
    return rows


def markdown(record: dict) -> str:
    from edgecolor.converters.run import host_info, versions

    host, v = host_info(), versions()
    out = [f"# Device-set conversion time, plain vs budgeted: {record['target']}", "",
           f"Command: `{record['command']}`", "",
           f"- Date: {record['date']}; {host['platform']}; CPU {host['cpu']}, "
           f"{host['cores']} cores, nice {os.nice(0)}; load average at the end "
           f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}",
           "- Versions: " + ", ".join(f"{k} {v[k]}" for k in sorted(v)),
           "- Each conversion is one `edgecolor convert` process, one after the other; "
           "wall time = the whole command (every format and precision of the target, the "
           "budget's search and timing runs, the quick checks). Quick check = PSNR of the "
           "artifact's colorization vs the FP32 model's on the held-out calibration photos "
           "(full resolution; blank: an FP32 artifact, checked by max error instead); convert "
           "fails an artifact below 30 dB.", ""]
    for model in record["models"]:
        runs = {r["mode"]: r for r in model["runs"]}
        out += [f"## {model['model']}", ""]
        if len(runs) == 2:
            ratio = runs["budgeted"]["seconds"] / max(runs["plain"]["seconds"], 1e-9)
            how = runs["plain"].get("calib_method")
            out += [f"Budgeted / plain{f' ({how})' if how else ''} wall time: "
                    f"**{ratio:.2f}×** "
                    f"({runs['budgeted']['seconds']:.0f} s vs {runs['plain']['seconds']:.0f} "
                    "s).", ""]
        out += ["| mode | s | exit | artifact | quick check dB vs FP32 | ok | strategy "
                "(candidates) | float layers | × own FP32 |",
                "|---|---:|---:|---|---:|---|---|---|---:|"]
        for r in model["runs"]:
            for a in r["artifacts"]:
                psnr = "" if a["psnr_vs_fp32"] is None else f"{a['psnr_vs_fp32']:.1f}"
                strategy = f"{a['strategy']} ({a['attempts']})" if a["strategy"] else ""
                fl = ", ".join(a["float_layers"][:6]) + (
                    f" +{len(a['float_layers']) - 6}" if len(a["float_layers"]) > 6 else "")
                out.append(f"| {r['mode']} | {r['seconds']:.0f} | {r['exit']} | "
                           f"{a['artifact']} | {psnr} | {'✅' if a['ok'] else '❌'} | "
                           f"{strategy} | {fl} | {a['speedup'] or ''} |")
        for r in model["runs"]:
            out += ["", f"`{r['command']}` (exit {r['exit']}) printed:", "", "```",
                    r["summary"] or "\n".join(r["stderr_tail"]), "```"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    from edgecolor._tf import quiet_tf_env

    quiet_tf_env()
    from edgecolor.imageio import atomic_write_bytes

    args = parse_args(argv)
    host_kind = args.host_kind or args.target
    work = args.work or Path(tempfile.mkdtemp(prefix="device-set-"))
    models = []
    for model in [m for m in args.models.split(",") if m]:
        runs = [convert(model, mode, args, work / f"{model}-{mode}")
                for mode in args.modes.split(",") if mode]
        models.append({"model": model, "runs": runs})
    record = {"command": "python benchmarks/device_set_time.py " + shlex.join(
        sys.argv[1:] if argv is None else argv), "date": time.strftime("%Y-%m-%d %H:%M"),
        "target": args.target, "calib": str(args.calib), "calib_size": args.calib_size,
        "models": models}
    md = markdown(record)
    stem = args.out / f"{args.stem}-{host_kind}"
    atomic_write_bytes(stem.with_suffix(".md"), md.encode())
    atomic_write_bytes(stem.with_suffix(".json"), (json.dumps(record, indent=2) + "\n").encode())
    print(md)
    print(f"written: {stem}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
