"""Plain int8 per calibration method: `edgecolor convert --no-budget --calib-method M` of
every int8 row of a target, per zoo model, in one run on one machine.

Each (model, method) conversion runs in its own process, one after the other (no cache
shared between the methods). Per artifact: the quick check (PSNR and CIEDE2000 of the
artifact's colorization vs the FP32 model's, ΔPSNR vs the photos; the held-out 20% of
``--calib``, full resolution, 95% bootstrap intervals) and the conversion time. This is the
evidence for the default calibration method (``edgecolor.formats.DEFAULT_CALIB_METHOD``).

Writes benchmarks/results/<stem>-<target>.md and .json (stem default "calib-methods").

Usage (development; never in tests):
    python benchmarks/calib_methods.py --models pix2pix-mobilenetv2-lab,eccv16 --target x86-cpu
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
INT8 = ("int8", "int8-cpu")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="pix2pix-mobilenetv2-lab", help="comma-separated")
    p.add_argument("--target", default="x86-cpu", help="device profile")
    p.add_argument("--methods", default="minmax,quantile", help="comma-separated")
    p.add_argument("--calib", type=Path, default=SHARED / "bsd100")
    p.add_argument("--calib-size", type=int, default=100)
    p.add_argument("--imgsz", type=int, default=None, help="input size (default: convert's)")
    p.add_argument("--stem", default="calib-methods")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results")
    p.add_argument("--one", nargs=3, metavar=("MODEL", "METHOD", "JSON"),
                   help=argparse.SUPPRESS)  # the child process: one conversion
    return p.parse_args(argv)


def convert_one(model: str, method: str, out_json: Path, args) -> None:
    """Child process: convert the target's int8 rows of ``model`` with ``method`` ->
    ``out_json`` (one ArtifactResult record per row)."""
    from edgecolor.converters.request import ConvertRequest
    from edgecolor.converters.run import convert

    with tempfile.TemporaryDirectory(prefix="edgecolor-calib-") as tmp:
        results = convert(ConvertRequest(
            model=model, target=args.target, precisions=list(INT8), calib=args.calib,
            calib_size=args.calib_size, calib_method=method, budget=False, imgsz=args.imgsz,
            out_dir=tmp))
    out_json.write_text(json.dumps([r.to_dict() for r in results], indent=2))


def run(model: str, method: str, args, work: Path) -> dict:
    """One conversion in its own process -> {method, seconds, exit, artifacts}."""
    out = work / f"{model}-{method}.json"
    cmd = [sys.executable, __file__, "--one", model, method, str(out), "--target", args.target,
           "--calib", str(args.calib), "--calib-size", str(args.calib_size)]
    if args.imgsz:
        cmd += ["--imgsz", str(args.imgsz)]
    print(f"[{time.strftime('%H:%M:%S')}] {model} {method}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    record = {"method": method, "seconds": round(time.perf_counter() - start, 1),
              "exit": done.returncode, "artifacts": []}
    if out.exists():
        record["artifacts"] = json.loads(out.read_text())
    else:
        record["error"] = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return record


def _fig(a: dict, name: str, spec: str) -> str:
    est = (a.get("fidelity") or {}).get(name)
    return "" if not est else f"{est['mean']:{spec}} [{est['lo']:{spec}}, {est['hi']:{spec}}]"


def markdown(record: dict) -> str:
    from edgecolor.converters.run import host_info, versions

    host, v = host_info(), versions()
    methods = record["methods"]
    out = [f"# Plain int8 per calibration method: {record['target']}", "",
           f"Command: `{record['command']}`", "",
           f"- Date: {record['date']}; {host['platform']}; CPU {host['cpu']}, "
           f"{host['cores']} cores; load average at the end "
           f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}",
           "- Versions: " + ", ".join(f"{k} {v[k]}" for k in sorted(v)),
           "- Each (model, method) is one `edgecolor convert --no-budget --calib-method M "
           "--precision int8 --precision int8-cpu` process; figures are convert's quick "
           "check on the held-out 20% of the calibration folder at full resolution "
           "(PSNR vs FP32 dB, mean CIEDE2000 vs FP32, ΔPSNR vs the photos dB; [lo, hi] = "
           "95% bootstrap interval); ❌ = below the quick check's 30 dB; conv s = that "
           "artifact's conversion time.", ""]
    for model in record["models"]:
        out += [f"## {model['model']}", "",
                "| row | method | PSNR vs FP32 dB | ΔE00 vs FP32 | ΔPSNR dB | conv s | |",
                "|---|---|---:|---:|---:|---:|---|"]
        rows: dict[str, dict[str, dict]] = {}
        for r in model["runs"]:
            if r.get("error"):
                out.append(f"| all | {r['method']} | failed: {r['error']} | | | | |")
            for a in r["artifacts"]:
                rows.setdefault(f"{a['format']}:{a['precision']}", {})[r["method"]] = a
        for row, by_method in rows.items():
            for m in methods:
                a = by_method.get(m)
                if a is None:
                    continue
                mark = "✅" if a["ok"] else "❌ " + (a.get("error") or "")[:120]
                out.append(f"| {row} | {m} | {_fig(a, 'psnr_vs_fp32', '.1f')} | "
                           f"{_fig(a, 'de_mean', '.2f')} | {_fig(a, 'dpsnr', '.3f')} | "
                           f"{a['seconds']:.0f} | {mark} |")
        out.append("")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    from edgecolor._tf import quiet_tf_env

    quiet_tf_env()
    args = parse_args(argv)
    if args.one:
        model, method, out = args.one
        convert_one(model, method, Path(out), args)
        return 0
    methods = [m for m in args.methods.split(",") if m]
    record = {"target": args.target, "methods": methods,
              "date": time.strftime("%Y-%m-%d %H:%M"),
              "command": "python benchmarks/calib_methods.py " + shlex.join(
                  sys.argv[1:] if argv is None else argv), "models": []}
    with tempfile.TemporaryDirectory(prefix="edgecolor-calib-methods-") as work:
        for model in [m for m in args.models.split(",") if m]:
            record["models"].append({"model": model, "runs": [
                run(model, m, args, Path(work)) for m in methods]})
    from edgecolor.imageio import atomic_write_bytes

    stem = args.out / f"{args.stem}-{args.target}"
    md = markdown(record)
    atomic_write_bytes(stem.with_suffix(".md"), md.encode())
    atomic_write_bytes(stem.with_suffix(".json"),
                       (json.dumps(record, indent=2) + "\n").encode())
    print(md)
    print(f"written: {stem}.md and .json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
