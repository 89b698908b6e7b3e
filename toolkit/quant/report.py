"""Sensitivity reports: the ranked text table, the JSON file and a bar chart PNG (OpenCV)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from edgecolor.imageio import atomic_write_bytes

# BGR colors per backend, in the order backends appear
_COLORS = [(180, 110, 30), (40, 140, 240), (60, 170, 60), (150, 60, 170), (40, 40, 200)]
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _f(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def _stat_text(stats: dict) -> str:
    return ", ".join(f"{k} {v:g}" for k, v in stats.items()) or "-"


def ranked_table(report) -> str:
    """SensitivityReport -> text: one ranked table per backend, then the risks.

    Columns: rank, layer, Keras class, PSNR vs FP32 with only this layer int8, with all but
    this layer int8, ΔPSNR vs ground truth with this layer float, the backend tool's stat.
    """
    lines = [f"{report.model} at {report.input_size[0]}x{report.input_size[1]}: "
             f"{report.validation['images']} validation images (held out from calibration)"]
    for b in report.backends:
        lines += ["", f"{b.format} {b.precision} ({b.method}) via {b.tool}",
                  f"  FP32 {b.fp32_psnr:.2f} dB vs truth; all int8: dPSNR "
                  f"{b.full.dpsnr:.2f} dB, {b.full.psnr_vs_fp32:.1f} dB vs FP32"]
        if b.preselected:
            lines.append(f"  probed {b.preselected['probed']} of {b.preselected['of']} layers, "
                         f"chosen by {b.preselected['by']} (--max-probes 0: all)")
        w = max([5] + [len(s.layer) for s in b.layers])
        k = max([5] + [len(s.kind) for s in b.layers])
        lines.append(f"  {'#':>2}  {'layer':<{w}}  {'kind':<{k}}  {'only-int8':>9}  "
                     f"{'all-but':>7}  {'dPSNR':>6}  backend stat")
        lines.append(f"  {'':>2}  {'':<{w}}  {'':<{k}}  {'dB/FP32':>9}  {'dB/FP32':>7}  "
                     f"{'float':>6}")
        for i, s in enumerate(b.layers, 1):
            lines.append(f"  {i:>2}  {s.layer:<{w}}  {s.kind:<{k}}  {_f(s.only_psnr):>9}  "
                         f"{_f(s.all_but_psnr):>7}  {_f(s.all_but_dpsnr, '.2f'):>6}  "
                         f"{_stat_text(s.stats)}")
    for name, error in report.errors.items():
        lines += ["", f"{name}: not analyzed ({error})"]
    lines += ["", risk_table(report.risks)]
    return "\n".join(lines)


def risk_table(risks) -> str:
    """Risks -> text lines: severity, layer, kind, what was found, what edgecolor did."""
    if not risks:
        return "risks: none found"
    lines = ["risks:"]
    for r in risks:
        lines.append(f"  [{r.severity}] {r.layer}: {r.kind}: {r.detail} -> {r.action}")
    return "\n".join(lines)


def write_json(report, path: str | Path) -> Path:
    """Write the report as JSON (atomic) -> the path."""
    path = Path(path)
    atomic_write_bytes(path, (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    return path


def bar_chart(report, path: str | Path, width: int = 960) -> Path:
    """Write a PNG bar chart (atomic) -> the path.

    Per layer (first backend's ranking order), one bar per backend: dB of output PSNR vs
    FP32 recovered by keeping that layer in float while every other layer is int8
    (all-but PSNR minus all-int8 PSNR); the label at the bar's end is the only-int8 PSNR.
    """
    backends = [b for b in report.backends if b.layers]
    order: list[str] = []
    for b in backends:
        order += [s.layer for s in b.layers if s.layer not in order]
    row, bar, top, left = 12 + 18 * max(1, len(backends)), 16, 70, 170
    height = top + row * max(1, len(order)) + 30
    img = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(img, f"{report.model}: dB recovered vs FP32 by keeping one layer float "
                "(label: PSNR with only it int8)", (10, 22), _FONT, 0.5, (0, 0, 0), 1,
                cv2.LINE_AA)
    for j, b in enumerate(backends):
        x = 10 + j * 200
        cv2.rectangle(img, (x, 36), (x + 14, 50), _COLORS[j % len(_COLORS)], -1)
        cv2.putText(img, f"{b.format} {b.precision}", (x + 20, 49), _FONT, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
    gains = [max(0.0, (s.all_but_psnr or 0.0) - b.full.psnr_vs_fp32)
             for b in backends for s in b.layers]
    scale = (width - left - 130) / max(max(gains, default=0.0), 1.0)
    for i, name in enumerate(order):
        y0 = top + i * row
        cv2.putText(img, name[:22], (10, y0 + row // 2 + 4), _FONT, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        for j, b in enumerate(backends):
            s = next((s for s in b.layers if s.layer == name), None)
            if s is None:
                continue
            gain = max(0.0, (s.all_but_psnr or 0.0) - b.full.psnr_vs_fp32)
            y = y0 + 6 + j * 18
            x1 = left + max(1, int(round(gain * scale)))
            cv2.rectangle(img, (left, y), (x1, y + bar - 4), _COLORS[j % len(_COLORS)], -1)
            label = f"{gain:.1f} dB" + (f" | {s.only_psnr:.1f}" if s.only_psnr is not None
                                        else "")
            cv2.putText(img, label, (x1 + 4, y + bar - 6), _FONT, 0.38, (60, 60, 60), 1,
                        cv2.LINE_AA)
    cv2.line(img, (left, top - 4), (left, height - 20), (0, 0, 0), 1)
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - OpenCV always encodes PNG
        raise RuntimeError("cannot encode the chart as PNG")
    path = Path(path)
    atomic_write_bytes(path, buf.tobytes())
    return path
