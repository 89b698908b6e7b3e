"""The ``--benchmark`` report row: end-to-end camera FPS and latency beside model-only AIT.

Same column style as ``edgecolor bench``'s terminal table (artifact left, numbers right,
units in the headers) and the same key naming in JSON (``fps``, ``e2e_ms``, ``ait_ms``).
"""

from __future__ import annotations

import json
import math

import numpy as np

from edgecolor.camera.loop import LoopResult
from edgecolor.camera.stats import percentile

# (header with units, row key, format)
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("Source", "source", "{}"),
    ("Frames", "frames", "{}"),
    ("Size", "frame_size", "{}"),
    ("FPS", "fps", "{:.1f}"),
    ("E2E p50 (ms)", "e2e_ms", "{:.1f}"),
    ("E2E p90 (ms)", "e2e_p90_ms", "{:.1f}"),
    ("AIT (ms)", "ait_ms", "{:.2f}"),
    ("Dropped", "dropped", "{}"),
    ("Corrupt", "corrupt", "{}"),
)


def benchmark_row(result: LoopResult, artifact: str, source: str, frame_size: str,
                  threads: int | None = None) -> dict:
    """A finished run -> one JSON-ready row.

    fps: delivered frames per second end to end; e2e_ms / e2e_p90_ms: capture->output
    latency median / p90 (ms); ait_ms: mean runner.infer time (ms, model only); prep_ms /
    post_ms / out_ms: p50 of the other stages (L + inputs, recombination, outputs).
    """
    def num(x):
        return None if x is None or not math.isfinite(x) else round(float(x), 3)

    have = bool(result.latency_ms)
    return {
        "kind": "camera",
        "artifact": artifact,
        "source": source,
        "frame_size": frame_size,
        "threads": threads,
        "frames": result.frames,
        "fps": num(result.fps),
        "e2e_ms": num(percentile(result.latency_ms, 50)) if have else None,
        "e2e_p90_ms": num(percentile(result.latency_ms, 90)) if have else None,
        "ait_ms": num(float(np.mean(result.infer_ms))) if have else None,
        # the other pipeline stages, p50 ms: L + model inputs, recombination, outputs
        **{f"{k}_ms": num(percentile(getattr(result, f"{k}_ms", []), 50))
           if getattr(result, f"{k}_ms", None) else None for k in ("prep", "post", "out")},
        "dropped": result.stats.get("dropped", 0),
        "corrupt": result.stats.get("corrupt", 0),
        "flicker_raw": num(result.flicker_raw),
        "flicker_out": num(result.flicker_out),
        "end": result.reason,
    }


def _cell(row: dict, key: str, fmt: str) -> str:
    v = row.get(key)
    return "—" if v is None else fmt.format(v)


def terminal_table(rows: list[dict]) -> str:
    """Rows -> aligned plain-text table (header, dashes, one line per row)."""
    cells = [["Artifact"] + [c[0] for c in COLUMNS]]
    cells += [[str(r["artifact"])] + [_cell(r, k, f) for _, k, f in COLUMNS] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(cells[0]))]
    lines = []
    for i, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if j < 2 else c.rjust(w)
                               for j, (c, w) in enumerate(zip(r, widths, strict=True))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def to_json(rows: list[dict]) -> str:
    """Rows -> JSON text {"schema": "edgecolor.camera/1", "rows": [...]}."""
    return json.dumps({"schema": "edgecolor.camera/1", "rows": rows}, indent=2,
                      allow_nan=False) + "\n"
