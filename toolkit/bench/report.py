"""The benchmark report: report.json (versioned schema), report.md and the terminal table;
``--compare`` against an older report and ``--fail-if`` rules for CI gates.

report.json: {"schema": "edgecolor.bench/1", "context", "settings", "images", "references",
"rows": [one object per artifact]}. Row keys (units in the name): ait_ms (model-only mean),
median_ms, p90_ms, p99_ms, min_ms, std_ms, fps, e2e_ms (end-to-end median), load_ms,
first_ms, size_mb, peak_mb, peak_load_mb, peak_run_mb, mse, psnr_db, ssim, colorfulness,
ciede2000, psnr_vs_fp32_db, dpsnr_db; with --compare also speedup, psnr_change_db,
dpsnr_change_db. Non-finite numbers are written as null. Marks (:mod:`.marks`): measured_on
(the machine the speeds came from, and "not on <target>" when that is another device),
target, weights_source (bundled/cache/file/random); speed_only: random weights, whose quality
cells the tables show as "random weights".
"""

from __future__ import annotations

import json
import math
import operator
import re
from dataclasses import dataclass
from pathlib import Path

from edgecolor.bench.marks import QUALITY_KEYS, RANDOM_CELL, RANDOM_MARK
from edgecolor.imageio import atomic_write_bytes

# (header with units, row key, format); the seed study's Table 1 columns come first
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("MSE", "mse", "{:.5f}"),
    ("PSNR (dB)", "psnr_db", "{:.2f}"),
    ("AIT (ms)", "ait_ms", "{:.2f}"),
    ("ΔPSNR (dB)", "dpsnr_db", "{:+.3f}"),
    ("PSNR vs FP32 (dB)", "psnr_vs_fp32_db", "{:.2f}"),
    ("p90 (ms)", "p90_ms", "{:.2f}"),
    ("FPS", "fps", "{:.1f}"),
    ("E2E (ms)", "e2e_ms", "{:.1f}"),
    ("Size (MB)", "size_mb", "{:.3f}"),
    ("Peak (MB)", "peak_mb", "{:.0f}"),
    ("Measured on", "measured_on", "{}"),
)
COMPARE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("Speed vs old (×)", "speedup", "{:.2f}"),
    ("PSNR vs old (dB)", "psnr_change_db", "{:+.3f}"),
)
# with `bench --on`: where each row ran, and the board's state during its timed runs
DEVICE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("Device", "device", "{}"),
    ("Transfer (s)", "transfer_s", "{:.1f}"),
    ("Run (s)", "run_s", "{:.1f}"),
    ("Temp max (°C)", "temp_max_c", "{:.1f}"),
    ("Energy (mJ/frame)", "energy_mj", "{:.2f}"),
    ("Health", "health_note", "{}"),
)
# numeric row keys a --fail-if rule may name
RULE_KEYS = (
    "ait_ms", "median_ms", "p90_ms", "p99_ms", "min_ms", "std_ms", "fps", "e2e_ms", "load_ms",
    "first_ms", "size_mb", "peak_mb", "peak_load_mb", "peak_run_mb", "mse", "psnr_db", "ssim",
    "colorfulness", "ciede2000", "psnr_vs_fp32_db", "dpsnr_db", "speedup", "psnr_change_db",
    "dpsnr_change_db",
)
_OPS = {">=": operator.ge, "<=": operator.le, "==": operator.eq, "!=": operator.ne,
        ">": operator.gt, "<": operator.lt}
RULE_EXIT_CODE = 3


def _finite(x):
    """Recursively replace inf/nan floats by None (strict JSON)."""
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    return x


def to_json(report: dict) -> str:
    """Report dict -> strict JSON text (non-finite numbers as null)."""
    return json.dumps(_finite(report), indent=2, allow_nan=False) + "\n"


def load_report(path: str | Path) -> dict:
    """Read a report.json; ValueError naming the file and the fix if it is not one."""
    p = Path(path)
    try:
        data = json.loads(p.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        why = "binary, not JSON text" if isinstance(e, UnicodeDecodeError) else \
            (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise ValueError(f"{p}: cannot read a report ({why}); pass a report.json written by "
                         "`edgecolor bench`") from e
    if not isinstance(data, dict) or not str(data.get("schema", "")).startswith(
            "edgecolor.bench/"):
        raise ValueError(f"{p}: not an edgecolor bench report (no 'schema'); pass a "
                         "report.json written by `edgecolor bench`")
    rows = data.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValueError(f"{p}: key 'rows' is not a list of rows; pass a report.json "
                         "written by `edgecolor bench`")
    return data


def _row_key(row: dict) -> tuple:
    return (row.get("model"), row.get("format"), row.get("precision"))


def add_comparison(report: dict, old: dict) -> dict:
    """Add, per row also in ``old`` (same artifact name, else same model/format/precision),
    speedup = old AIT / new AIT (> 1: faster now), psnr_change_db and dpsnr_change_db
    (new - old). Returns the report (changed in place); report["compare"] names the old one.
    """
    by_name = {r.get("artifact"): r for r in old.get("rows", [])}
    by_key = {_row_key(r): r for r in old.get("rows", [])}
    for row in report["rows"]:
        prev = by_name.get(row.get("artifact")) or by_key.get(_row_key(row))
        if prev is None or row.get("status") != "ok" or prev.get("status") != "ok":
            continue
        if row.get("ait_ms") and prev.get("ait_ms"):
            row["speedup"] = prev["ait_ms"] / row["ait_ms"]
        for key in ("psnr_db", "dpsnr_db"):
            if row.get(key) is not None and prev.get(key) is not None:
                row[key.replace("_db", "_change_db")] = row[key] - prev[key]
    report["compare"] = {"date": old.get("context", {}).get("date"),
                         "command": old.get("context", {}).get("command")}
    return report


@dataclass(frozen=True)
class Rule:
    """A CI gate: fires for a row whose ``key`` value satisfies ``op value``."""

    text: str
    key: str
    op: str
    value: float

    def fires(self, row: dict) -> bool:
        """True when the row has the value and it satisfies the rule."""
        v = row.get(self.key)
        return v is not None and _OPS[self.op](v, self.value)


def parse_rule(text: str) -> Rule:
    """``"dpsnr>0.5"``, ``"ait_ms >= 100"`` -> Rule. Keys may drop their unit suffix (dpsnr =
    dpsnr_db). ValueError naming the rule and the choices if it does not parse.
    """
    m = re.fullmatch(r"\s*([a-z0-9_]+)\s*(>=|<=|==|!=|>|<)\s*([-+]?[0-9.]+(?:e[-+]?\d+)?)\s*",
                     text.lower())
    if not m:
        raise ValueError(f"--fail-if {text!r}: expected KEY OP NUMBER, e.g. 'dpsnr>0.5' or "
                         "'ait_ms>100'")
    key, op, value = m.groups()
    for candidate in (key, f"{key}_db", f"{key}_ms", f"{key}_mb"):
        if candidate in RULE_KEYS:
            return Rule(text, candidate, op, float(value))
    raise ValueError(f"--fail-if {text!r}: unknown key {key!r}; choose one of: "
                     f"{', '.join(RULE_KEYS)}")


def check_rules(report: dict, rules: list[Rule]) -> list[str]:
    """-> one line per (rule, row) that fired, naming the row, the rule and the value."""
    fired = []
    for rule in rules:
        for row in report["rows"]:
            if row.get("status") == "ok" and rule.fires(row):
                fired.append(f"{row['artifact']}: {rule.key} = {_fmt(row[rule.key])} "
                             f"(rule {rule.text!r})")
    return fired


def finish_report(report: dict, folder: Path, rules: list[Rule], fail_if: list[str] | None = None,
                  old: dict | None = None, convert_errors: dict[str, str] | None = None,
                  extra: dict | None = None) -> list[str]:
    """Complete a measured report in place (before it is written) -> the --fail-if rules that
    fired. Adds ``extra`` top-level fields, the row marks (where each speed was measured vs
    the artifact's target, random-weights rows), the conversion failures (a note on the
    artifact's row, or a failed row when no file was made), the comparison with ``old`` and
    the gates.
    """
    from edgecolor.bench.marks import folder_manifests, mark_rows

    report.update(extra or {})
    mark_rows(report["rows"], folder_manifests(folder, [r["artifact"] for r in report["rows"]]))
    measured = {r["artifact"]: r for r in report["rows"]}
    for name, why in (convert_errors or {}).items():
        if name in measured:
            measured[name].setdefault("notes", []).append(f"convert: {why}")
        else:
            report["rows"].append({"artifact": name, "status": "failed",
                                   "error": f"convert: {why}"})
    if old is not None:
        add_comparison(report, old)
    fired = check_rules(report, rules)
    report["gates"] = {"rules": list(fail_if or []), "fired": fired}
    return fired

def _fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _cell(row: dict, key: str, fmt: str) -> str:
    if row.get("speed_only") and key in QUALITY_KEYS:
        return RANDOM_CELL  # no trained weights: no quality to report
    v = row.get(key)
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return fmt.format(v)


def _columns(report: dict) -> tuple[tuple[str, str, str], ...]:
    cols = COLUMNS + (COMPARE_COLUMNS if "compare" in report else ())
    if any("device" in r for r in report.get("rows", [])):
        cols = DEVICE_COLUMNS[:1] + cols + DEVICE_COLUMNS[1:]
    return cols


def table_rows(report: dict) -> list[list[str]]:
    """Report -> rows of cells (first the header): reference rows, then one per artifact."""
    cols = _columns(report)
    out = [["Artifact"] + [c[0] for c in cols]]
    for ref in report.get("references", []):
        if ref.get("row"):
            out.append([ref["row"]["artifact"]] + [_cell(ref["row"], k, f) for _, k, f in cols])
    for row in report["rows"]:
        if row.get("status") != "ok":
            out.append([row["artifact"], f"❌ {row.get('error')}"] + ["—"] * (len(cols) - 1))
        else:
            name = row["artifact"] + (f" ({RANDOM_MARK})" if row.get("speed_only") else "")
            out.append([name] + [_cell(row, k, f) for _, k, f in cols])
    return out


def terminal_table(report: dict) -> str:
    """The report table as aligned plain text (a failed row's reason runs past its cell)."""
    rows = table_rows(report)
    ok = [r for r in rows if not r[1].startswith("❌")]
    widths = [max(len(r[i]) for r in ok) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        if r[1].startswith("❌"):
            lines.append(f"{r[0]:<{widths[0]}}  {r[1]}")
        else:
            lines.append("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                                   for j, (c, w) in enumerate(zip(r, widths, strict=True))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(report: dict) -> str:
    """The report table as GitHub markdown."""
    rows = table_rows(report)
    lines = ["| " + " | ".join(rows[0]) + " |",
             "|" + "|".join(["---"] + ["---:"] * (len(rows[0]) - 1)) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows[1:]]
    return "\n".join(lines)


def markdown(report: dict) -> str:
    """Whole report.md: context, references, eval set, the table and what the columns mean."""
    ctx = report.get("context", {})
    cpu = ctx.get("cpu", {})
    settings = report.get("settings", {})
    versions = ", ".join(f"{k} {v}" for k, v in sorted(ctx.get("versions", {}).items()))
    timing = (f"{settings.get('seconds')} s per timing" if settings.get("seconds")
              else f"{settings.get('runs')} runs")
    if settings.get("max_seconds") and not settings.get("seconds"):
        timing += f" (at most {settings['max_seconds']:g} s, >= 3 runs)"
    profile = ctx.get("device_profile") or {}
    lines = [
        "# edgecolor bench report",
        "",
        f"- Command: `{ctx.get('command')}`",
        f"- Date: {ctx.get('date')}",
        f"- Device profile: {profile.get('name', '—')}; machine {ctx.get('machine')}"
        f"{' (EMULATED: ' + str(ctx.get('emulation_reason')) + ')' if ctx.get('emulated') else ''}",
        f"- CPU: {cpu.get('model')} — SIMD: {' '.join(cpu.get('simd', [])) or '—'}; "
        f"cores {cpu.get('cores_available')}/{cpu.get('cores')}; threads "
        f"{ctx.get('threads') or 'runtime default'}; load average "
        f"{' '.join(str(x) for x in ctx.get('load_average') or []) or '—'}",
        f"- OS: {ctx.get('os')}; Python {ctx.get('python')}",
        f"- Versions: {versions}",
        f"- Timing: {settings.get('warmup')} warm-up + {timing} per artifact, each artifact "
        "in its own process",
    ]
    for ref in report.get("references", []):
        lines.append(f"- FP32 reference: {ref['source']}")
    for d in report.get("devices", []):
        dctx = d.get("context") or {}
        lines.append(f"- Device {d['name']} ({d['url']}): profile {d.get('profile') or '—'}; "
                     f"{(dctx.get('cpu') or {}).get('model') or '—'}; "
                     f"{'EMULATED; ' if d.get('emulated') else ''}"
                     + (f"❌ {d['error']}" if d.get("error") else "ok"))
    images = report.get("images", {})
    lines.append(f"- Eval photos: {images.get('n')} ({', '.join(images.get('used', [])[:8])}"
                 f"{', …' if images.get('n', 0) > 8 else ''})")
    if images.get("overlap"):
        names = sorted({o["image"] for o in images["overlap"]})
        verb = "KEPT (--allow-overlap)" if images.get("overlap_kept") else "excluded"
        lines.append(f"- ⚠ **Calibration photos in the eval set: {', '.join(names)} — {verb}**")
    speed_only = [r["artifact"] for r in report["rows"] if r.get("speed_only")]
    if speed_only:
        lines.append(f"- ⚠ **{RANDOM_MARK}: {', '.join(speed_only)}** — converted without "
                     "trained weights; their quality columns say so instead of numbers")
    if "compare" in report:
        lines.append(f"- Compared with: `{report['compare'].get('command')}` "
                     f"({report['compare'].get('date')})")
    lines += ["", markdown_table(report), "",
              "MSE on RGB 0..1, PSNR on 8-bit RGB, both vs the color originals. AIT = mean "
              "model-only inference time; p90 likewise; FPS = 1000 / median model-only time; "
              "E2E = median end-to-end time (Lab conversion, resize, inference, decode, "
              "full-resolution RGB; file decoding excluded). ΔPSNR = PSNR of the FP32 "
              "reference − PSNR of the artifact (> 0: quality lost). PSNR vs FP32 compares "
              "the unrounded outputs (capped at 100 dB = identical). Peak = peak RSS of the "
              "measuring process (load or runs). Measured on = the machine the times come "
              "from (\"not on <target>\": not the device the artifact was made for; "
              "\"emulated\": under qemu, not device speed)."]
    from edgecolor.bench.flicker import flicker_table

    if flicker_table(report):  # bench --video: mean ΔE00 on static regions per row
        lines += ["", "```", flicker_table(report), "```"]
    return "\n".join(lines) + "\n"


def write_report(report: dict, out_dir: str | Path) -> tuple[Path, Path]:
    """Write report.json and report.md into ``out_dir`` atomically -> their paths."""
    out = Path(out_dir)
    json_path, md_path = out / "report.json", out / "report.md"
    atomic_write_bytes(json_path, to_json(report).encode())
    atomic_write_bytes(md_path, markdown(report).encode())
    return json_path, md_path
