"""Rebuild result tables from the progress log of an interrupted ``run_matrix.py`` run.

``run_matrix.py`` writes its results file only at the end; its stderr progress log already
holds every finished row (AIT, PSNR vs the originals, ΔPSNR vs FP32) and every conversion
line. This turns such a log into one markdown table per model, so a run cut short (e.g. by
the end of a work session) still leaves its measured rows.

Usage: python benchmarks/matrix_log.py LOG --command "..." > results/x86-cpu-zoo-log.md
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

MODEL = re.compile(r"^(\S+):$")
ROW = re.compile(r"^\s+\[\d+/\d+\] (\S+): AIT ([\d.]+) ms, PSNR ([\d.]+) dB, dPSNR ([-+\d.]+) dB")
CONVERTED = re.compile(r"^\s+\[\d+/\d+\] (\S+): (?:([\d.]+) MB in ([\d.]+) s|(❌ .*))$")
ALTERNATIVES = ("keras-predict", "ort-default", "opencv-dnn")


def parse(lines: list[str]) -> dict[str, dict]:
    """Log lines -> {model: {"rows": {name: (ait, psnr, dpsnr)}, "convert": {name: text}}}."""
    models: dict[str, dict] = {}
    current = None
    for line in lines:
        if m := MODEL.match(line):
            current = models.setdefault(m.group(1), {"rows": {}, "convert": {}})
        elif current is not None and (m := ROW.match(line)):
            current["rows"][m.group(1)] = tuple(float(v) for v in m.groups()[1:])
        elif current is not None and (m := CONVERTED.match(line)):
            current["convert"][m.group(1)] = m.group(4) or f"{m.group(2)} MB in {m.group(3)} s"
    return models


def markdown(models: dict[str, dict]) -> str:
    """One table per model: AIT, PSNR, ΔPSNR and speed-ups vs the plain alternatives."""
    out = []
    for name, data in models.items():
        rows = data["rows"]
        if not rows:
            continue
        out += [f"## {name}", "", "| Runtime / artifact | PSNR (dB) | AIT (ms) | ΔPSNR (dB) | "
                "× Keras predict | × ORT FP32 default | conversion |",
                "|---|---:|---:|---:|---:|---:|---|"]
        order = [a for a in ALTERNATIVES if a in rows] + sorted(
            (set(rows) | set(data["convert"])) - set(ALTERNATIVES))
        for art in order:
            conv = data["convert"].get(art, "—")
            if art not in rows:
                out.append(f"| {art} | — | — | — | — | — | {conv} |")
                continue
            ait, psnr, dpsnr = rows[art]
            ratios = [f"{rows[a][0] / ait:.2f}" if a in rows else "—"
                      for a in ("keras-predict", "ort-default")]
            out.append(f"| {art} | {psnr:.2f} | {ait:.2f} | {dpsnr:+.3f} | {ratios[0]} | "
                       f"{ratios[1]} | {conv} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("log", type=Path)
    args = p.parse_args(argv)
    print(markdown(parse(args.log.read_text().splitlines())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
