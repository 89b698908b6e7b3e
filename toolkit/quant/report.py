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
        names = {id(s): s.layer + (f" (+ {', '.join(n for n in s.unit() if n != s.layer)})"
                                   if len(s.unit()) > 1 else "") for s in b.layers}
        w = max([5] + list(map(len, names.values())))
        k = max([5] + [len(s.kind) for s in b.layers])
        lines.append(f"  {'#':>2}  {'layer':<{w}}  {'kind':<{k}}  {'only-int8':>9}  "
                     f"{'all-but':>7}  {'dPSNR':>6}  backend stat")
        lines.append(f"  {'':>2}  {'':<{w}}  {'':<{k}}  {'dB/FP32':>9}  {'dB/FP32':>7}  "
                     f"{'float':>6}")
        for i, s in enumerate(b.layers, 1):
            lines.append(f"  {i:>2}  {names[id(s)]:<{w}}  {s.kind:<{k}}  {_f(s.only_psnr):>9}  "
                         f"{_f(s.all_but_psnr):>7}  {_f(s.all_but_dpsnr, '.2f'):>6}  "
                         + (f"not probed: {s.error}" if s.error else _stat_text(s.stats)))
    for b in report.backends:
        front = b.pareto()
        if front:
            lines += ["", f"{b.format} {b.precision}: Pareto front, latency vs PSNR vs FP32 "
                      f"({len(b.variants)} timed variants, 1 thread)"]
            lines += [f"  {p['ms']:>8.2f} ms  {p['psnr_vs_fp32']:>6.1f} dB  {p['label']}"
                      for p in front]
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
        rows = f" ({', '.join(r.rows)} only)" if r.rows else ""
        lines.append(f"  [{r.severity}] {r.layer}: {r.kind}{rows}: {r.detail} -> {r.action}")
    return "\n".join(lines)


def write_json(report, path: str | Path) -> Path:
    """Write the report as JSON (atomic) -> the path."""
    path = Path(path)
    atomic_write_bytes(path, (json.dumps(report.to_dict(), indent=2) + "\n").encode())
    return path


def report_pareto_chart(report, path: str | Path) -> Path:
    """The timed variants of every backend of a SensitivityReport -> :func:`pareto_chart`."""
    from edgecolor.quant.budget import pareto_front

    points = [dict(v) for b in report.backends for v in b.variants]
    return pareto_chart(points, pareto_front(points), path, report.model)


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
    return _write_png(img, path)


def pareto_chart(points: list[dict], front: list[dict], path: str | Path, title: str,
                 fp32_ms: float | None = None, min_psnr_fp32: float | None = None,
                 size: tuple[int, int] = (720, 440)) -> Path:
    """Write a PNG (atomic, OpenCV drawing) of latency vs PSNR vs FP32 -> the path.

    points: {label, ms, psnr_vs_fp32, within, chosen} per candidate (ms in milliseconds,
    PSNR in dB); front: the Pareto-optimal ones (joined by a line). Within-budget points are
    green, others gray, the chosen one circled red; dashed guides at the FP32 latency and
    the budget's PSNR floor when given.
    """
    width, height = size
    left, right, top, bottom = 70, 20, 40, 50
    img = np.full((height, width, 3), 255, np.uint8)
    pts = [p for p in points if p.get("ms") is not None and p.get("psnr_vs_fp32") is not None]
    xs = [p["ms"] for p in pts] + ([fp32_ms] if fp32_ms else [])
    ys = [p["psnr_vs_fp32"] for p in pts] + ([min_psnr_fp32] if min_psnr_fp32 else [])
    cv2.putText(img, f"{title}: latency vs PSNR vs FP32 ({len(pts)} candidates)", (10, 24),
                _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    if not pts:
        cv2.putText(img, "no timed candidates", (left, height // 2), _FONT, 0.6, (0, 0, 200),
                    1, cv2.LINE_AA)
    else:
        x0, x1 = min(xs) * 0.9, max(xs) * 1.1 + 1e-6
        y0, y1 = min(ys) - 2.0, max(ys) + 2.0

        def at(ms: float, db: float) -> tuple[int, int]:
            u = left + (ms - x0) / (x1 - x0) * (width - left - right)
            v = height - bottom - (db - y0) / (y1 - y0) * (height - top - bottom)
            return int(round(u)), int(round(v))

        cv2.rectangle(img, (left, top), (width - right, height - bottom), (0, 0, 0), 1)
        for k in range(5):  # axis ticks
            ms = x0 + (x1 - x0) * k / 4
            db = y0 + (y1 - y0) * k / 4
            u, _ = at(ms, y0)
            _, v = at(x0, db)
            cv2.putText(img, f"{ms:.1f}", (u - 14, height - bottom + 16), _FONT, 0.38,
                        (60, 60, 60), 1, cv2.LINE_AA)
            cv2.putText(img, f"{db:.0f}", (left - 30, v + 4), _FONT, 0.38, (60, 60, 60), 1,
                        cv2.LINE_AA)
        cv2.putText(img, "median latency (ms)", (width // 2 - 70, height - 12), _FONT, 0.45,
                    (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(img, "dB vs FP32", (4, top - 8), _FONT, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        if min_psnr_fp32 is not None:
            _, v = at(x0, min_psnr_fp32)
            for u in range(left, width - right, 12):
                cv2.line(img, (u, v), (min(u + 6, width - right), v), (0, 0, 200), 1)
            cv2.putText(img, f"budget {min_psnr_fp32:g} dB", (width - right - 110, v - 4),
                        _FONT, 0.38, (0, 0, 200), 1, cv2.LINE_AA)
        if fp32_ms is not None:
            u, _ = at(fp32_ms, y0)
            for v in range(top, height - bottom, 12):
                cv2.line(img, (u, v), (u, min(v + 6, height - bottom)), (120, 120, 120), 1)
            cv2.putText(img, "FP32", (u + 3, top + 12), _FONT, 0.38, (90, 90, 90), 1,
                        cv2.LINE_AA)
        line = [at(p["ms"], p["psnr_vs_fp32"]) for p in front]
        if len(line) > 1:
            cv2.polylines(img, [np.asarray(line, np.int32)], False, (180, 110, 30), 1,
                          cv2.LINE_AA)
        for p in pts:
            c = at(p["ms"], p["psnr_vs_fp32"])
            color = (60, 170, 60) if p.get("within") else (150, 150, 150)
            cv2.circle(img, c, 5, color, -1, cv2.LINE_AA)
            if p.get("chosen"):
                cv2.circle(img, c, 9, (40, 40, 200), 2, cv2.LINE_AA)
            if p in front or p.get("chosen"):
                cv2.putText(img, str(p.get("label", ""))[:34], (c[0] + 8, c[1] - 6), _FONT,
                            0.36, (40, 40, 40), 1, cv2.LINE_AA)
    return _write_png(img, path)


def _write_png(img, path: str | Path) -> Path:
    """BGR image -> PNG file, written atomically -> its path."""
    ok, buf = cv2.imencode(".png", img)
    if not ok:  # pragma: no cover - OpenCV always encodes PNG
        raise RuntimeError("cannot encode the chart as PNG")
    path = Path(path)
    atomic_write_bytes(path, buf.tobytes())
    return path
