"""Small inline-SVG plots for the HTML report (no plotting library): a log-x scatter with its
Pareto front, paired horizontal bars, and line series. Each function returns SVG markup.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b",
           "#e377c2", "#7f7f7f", "#bcbd22")
FONT = 'font-family="system-ui, sans-serif" font-size="11"'


@dataclass(frozen=True)
class Point:
    """One scatter point: label, x (> 0, log axis), y."""

    label: str
    x: float
    y: float


def _nice_log_ticks(lo: float, hi: float) -> list[float]:
    for mantissas in ((1, 2, 5), tuple(range(1, 10))):  # 1-2-5, else every integer multiple
        ticks = [m * 10.0 ** k
                 for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1)
                 for m in mantissas if lo <= m * 10.0 ** k <= hi]
        if len(ticks) >= 3:
            break
    return ticks


def _nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((s * mag for s in (1, 2, 2.5, 5, 10) if s * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:g}" if abs(v) >= 1 or v == 0 else f"{v:.2g}"


def _ms(v: float) -> str:
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def pareto_front(points: list[Point]) -> list[Point]:
    """Points no other point beats on both axes (lower x = faster, higher y = better), by x."""
    front = []
    best_y = -math.inf
    for p in sorted(points, key=lambda p: (p.x, -p.y)):
        if p.y > best_y:
            front.append(p)
            best_y = p.y
    return front


def scatter(points: list[Point], x_label: str, y_label: str, title: str,
            width: int = 520, height: int = 340) -> str:
    """Scatter with a log x axis; Pareto-front points filled and joined by a step line,
    the others hollow. Empty string when there are no points."""
    pts = [p for p in points if p.x > 0 and math.isfinite(p.x) and math.isfinite(p.y)]
    if not pts:
        return ""
    left, right, top, bottom = 56, 16, 28, 44
    pw, ph = width - left - right, height - top - bottom
    x_lo, x_hi = min(p.x for p in pts) / 1.4, max(p.x for p in pts) * 1.4
    y_lo, y_hi = min(p.y for p in pts), max(p.y for p in pts)
    pad = max(0.5, 0.08 * (y_hi - y_lo))
    y_lo, y_hi = y_lo - pad, y_hi + pad

    def sx(x):
        return left + pw * (math.log10(x) - math.log10(x_lo)) / (math.log10(x_hi)
                                                                 - math.log10(x_lo))

    def sy(y):
        return top + ph * (1 - (y - y_lo) / (y_hi - y_lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" {FONT} role="img" '
           f'aria-label="{escape(title)}">',
           f'<text x="{left}" y="16" font-weight="bold">{escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for t in _nice_log_ticks(x_lo, x_hi):
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{top + ph}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{top + ph + 14}" text-anchor="middle">{_fmt(t)}'
                   '</text>')
    for t in _nice_ticks(y_lo, y_hi):
        y = sy(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" '
                   'stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">'
               f'{escape(x_label)}</text>')
    out.append(f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(y_label)}</text>')
    front = pareto_front(pts)
    if len(front) > 1:
        path = [f"M{sx(front[0].x):.1f},{sy(front[0].y):.1f}"]
        path += [f"H{sx(p.x):.1f} V{sy(p.y):.1f}" for p in front[1:]]
        out.append(f'<path d="{" ".join(path)}" fill="none" stroke="#d62728" '
                   'stroke-dasharray="4 3"/>')
    on_front = {id(p) for p in front}
    placed: list[tuple[float, float, float]] = []
    for p in sorted(pts, key=lambda p: id(p) not in on_front):  # front points named first
        fill = "#d62728" if id(p) in on_front else "white"
        out.append(f'<circle class="pt" cx="{sx(p.x):.1f}" cy="{sy(p.y):.1f}" r="4.5" '
                   f'fill="{fill}" stroke="#d62728"><title>{escape(p.label)}: '
                   f'{p.x:.3g} ms, {p.y:.2f} dB</title></circle>')
        lx, ly = sx(p.x) + 6, sy(p.y) - 5
        width_px = 5 * len(p.label)

        def clash(y, lx=lx, w=width_px):
            return any(abs(lx - x) < max(w, pw_) and abs(y - py) < 10 for x, py, pw_ in placed)

        if clash(ly):
            if id(p) not in on_front:
                continue  # crowded: its name is in the point's tooltip
            while clash(ly):
                ly += 10  # front points are always named, under the label already there
        placed.append((lx, ly, width_px))
        out.append(f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="9" '
                   f'fill="#444">{escape(p.label)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def paired_bars(labels: list[str], series: list[tuple[str, list[float | None]]], title: str,
                x_label: str, width: int = 620) -> str:
    """Horizontal bars, one group per label, one bar per series (log x axis, value printed)."""
    values = [v for _, vs in series for v in vs if v is not None and v > 0]
    if not values or not labels:
        return ""
    left, right, top = 230, 70, 40
    bar, gap = 9, 8
    group = bar * len(series) + gap
    height = top + group * len(labels) + 36
    pw = width - left - right
    lo, hi = min(values) / 2.0, max(values) * 1.2

    def sx(v):
        return pw * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" {FONT} role="img" '
           f'aria-label="{escape(title)}">',
           f'<text x="4" y="16" font-weight="bold">{escape(title)}</text>']
    for i, (name, _) in enumerate(series):
        out.append(f'<rect x="{left + i * 150}" y="24" width="10" height="10" '
                   f'fill="{PALETTE[i % len(PALETTE)]}"/><text x="{left + i * 150 + 14}" '
                   f'y="33">{escape(name)}</text>')
    for t in _nice_log_ticks(lo, hi):
        x = left + sx(t)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - 30}" '
                   'stroke="#eee"/><text x="{:.1f}" y="{}" text-anchor="middle">{}</text>'
                   .format(x, height - 18, _fmt(t)))
    for gi, label in enumerate(labels):
        y0 = top + gi * group
        out.append(f'<text x="{left - 6}" y="{y0 + group / 2:.1f}" text-anchor="end">'
                   f'{escape(label)}</text>')
        for si, (_, vs) in enumerate(series):
            v = vs[gi]
            if v is None or v <= 0:
                continue
            y = y0 + si * bar
            out.append(f'<rect class="bar" x="{left}" y="{y}" width="{max(1.0, sx(v)):.1f}" '
                       f'height="{bar - 1}" fill="{PALETTE[si % len(PALETTE)]}">'
                       f'<title>{escape(label)}: {_ms(v)} ms</title></rect>'
                       f'<text x="{left + max(1.0, sx(v)) + 3:.1f}" y="{y + bar - 2}" '
                       f'font-size="9">{_ms(v)}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 4}" text-anchor="middle">'
               f'{escape(x_label)}</text></svg>')
    return "\n".join(out)


def lines(series: list[tuple[str, list[float | None], bool]], title: str, x_label: str,
          y_label: str, width: int = 620, height: int = 280) -> str:
    """Line plot of series (name, values per x = 0, 1, ..., dashed?); None values are gaps."""
    values = [v for _, vs, _ in series for v in vs if v is not None and math.isfinite(v)]
    if not values:
        return ""
    n = max(len(vs) for _, vs, _ in series)
    left, right, top, bottom = 56, 190, 28, 40
    pw, ph = width - left - right, height - top - bottom
    y_hi = max(values) * 1.1 or 1.0

    def sx(i):
        return left + pw * (i / max(1, n - 1))

    def sy(v):
        return top + ph * (1 - v / y_hi)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" {FONT} role="img" '
           f'aria-label="{escape(title)}">',
           f'<text x="{left}" y="16" font-weight="bold">{escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#999"/>']
    for t in _nice_ticks(0.0, y_hi):
        out.append(f'<line x1="{left}" y1="{sy(t):.1f}" x2="{left + pw}" y2="{sy(t):.1f}" '
                   f'stroke="#eee"/><text x="{left - 6}" y="{sy(t) + 4:.1f}" '
                   f'text-anchor="end">{_fmt(t)}</text>')
    for t in _nice_ticks(0.0, float(max(1, n - 1))):
        out.append(f'<text x="{sx(t):.1f}" y="{top + ph + 14}" text-anchor="middle">'
                   f'{_fmt(t)}</text>')
    for si, (name, vs, dashed) in enumerate(series):
        color = PALETTE[(si // 2 if len(series) > 1 else si) % len(PALETTE)]
        segs, cur = [], []
        for i, v in enumerate(vs):
            if v is None or not math.isfinite(v):
                if cur:
                    segs.append(cur)
                cur = []
            else:
                cur.append(f"{sx(i):.1f},{sy(v):.1f}")
        if cur:
            segs.append(cur)
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        for seg in segs:
            out.append(f'<polyline class="series" points="{" ".join(seg)}" fill="none" '
                       f'stroke="{color}" stroke-width="1.5"{dash}><title>{escape(name)}'
                       '</title></polyline>')
        ly = top + 10 + si * 14
        out.append(f'<line x1="{left + pw + 10}" y1="{ly}" x2="{left + pw + 30}" y2="{ly}" '
                   f'stroke="{color}" stroke-width="2"{dash}/><text x="{left + pw + 34}" '
                   f'y="{ly + 4}" font-size="9">{escape(name)}</text>')
    out.append(f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">'
               f'{escape(x_label)}</text>')
    out.append(f'<text transform="translate(14 {top + ph / 2}) rotate(-90)" '
               f'text-anchor="middle">{escape(y_label)}</text></svg>')
    return "\n".join(out)
