"""Model cards: what a set of weights was trained on, how, and how well it does.

A card is a JSON-ready dict written twice, as ``<stem>.json`` (for tools) and ``<stem>.md``
(for people), both atomically. Training fills model/data/training/history; the
evaluation script adds ``eval`` (numbers per eval set) with the command that reproduces it.
"""

from __future__ import annotations

import json
import math
import os
import platform
from pathlib import Path

from edgecolor.imageio import atomic_write_bytes


def machine_info() -> dict:
    """The machine a run happens on: OS, CPU, core count, Python, TensorFlow versions."""
    from edgecolor.host import cpu_model, package_versions, read_cpuinfo

    return {"platform": platform.platform(), "cpu": cpu_model(read_cpuinfo()),
            "cores": os.cpu_count(), "python": platform.python_version(),
            **package_versions(("tensorflow", "keras"))}


def _json_safe(x):
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)  # "inf": JSON has no infinity
    if isinstance(x, dict):
        return {k: _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    return x


def write_card(folder: str | Path, card: dict, stem: str = "card") -> tuple[Path, Path]:
    """Write ``card`` as ``folder/<stem>.json`` and ``folder/<stem>.md`` -> the two paths."""
    folder = Path(folder)
    js, md = folder / f"{stem}.json", folder / f"{stem}.md"
    atomic_write_bytes(js, (json.dumps(_json_safe(card), indent=2) + "\n").encode())
    atomic_write_bytes(md, render_markdown(card).encode())
    return js, md


def read_card(path: str | Path) -> dict:
    """Load a card's JSON; ValueError naming the file when it is missing or not JSON."""
    p = Path(path)
    try:
        return json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{p}: not a readable model card ({e})") from e


def _fmt(v, digits: int = 4) -> str:
    if isinstance(v, float):
        return f"{v:.{digits}f}" if math.isfinite(v) else str(v)
    return "-" if v is None else str(v)


def render_markdown(card: dict) -> str:
    """Card dict -> Markdown text (title, facts, data, per-epoch history, eval tables)."""
    out = [f"# Model card: {card.get('title', card.get('model', '?'))}", ""]
    if card.get("summary"):
        out += [card["summary"], ""]
    tr = card.get("training", {})
    facts = [
        ("model", card.get("model")),
        ("weights", card.get("weights")),
        ("parameters", f"{card['params']:,}" if card.get("params") else None),
        ("input size (use)", "x".join(map(str, card.get("input_size", []))) or None),
        ("trained on crops", tr.get("crop") and f"{tr['crop']}x{tr['crop']}"),
        ("epochs", tr.get("epochs_done")),
        ("batch", tr.get("batch")),
        ("optimizer", tr.get("optimizer")),
        ("loss", tr.get("loss")),
        ("augmentation", tr.get("augment")),
        ("wall time", tr.get("wall_time_s") and f"{tr['wall_time_s'] / 60:.1f} min"),
        ("wall-time budget", tr.get("max_minutes") and f"{tr['max_minutes']:g} min"),
        ("best epoch", card.get("best_epoch")),
        ("selected by", card.get("selected_by")),
        ("status", card.get("status")),
    ]
    out += ["| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in facts if v not in (None, "", [])]
    out.append("")
    for note in card.get("notes", []):
        out.append(f"- {note}")
    if card.get("notes"):
        out.append("")
    data = card.get("data", {})
    if data:
        out += ["## Data", "", "| role | folder | images | skipped | split |",
                "|---|---|---|---|---|"]
        for role, d in data.items():
            out.append(f"| {role} | `{d.get('folder', '-')}` | {d.get('images', '-')} | "
                       f"{len(d.get('skipped', []))} | {d.get('split', '-')} |")
        out.append("")
    hist = card.get("history", [])
    if hist:
        out += ["## Training history", "",
                "| epoch | train loss | val MSE | val PSNR (dB) | val colorfulness | seconds |",
                "|---|---|---|---|---|---|"]
        for h in hist:
            out.append(f"| {h['epoch']} | {_fmt(h.get('loss'), 5)} | {_fmt(h.get('val_mse'), 5)}"
                       f" | {_fmt(h.get('val_psnr'), 2)} | {_fmt(h.get('val_colorfulness'), 1)}"
                       f" | {_fmt(h.get('seconds'), 0)} |")
        out.append("")
    ev = card.get("eval")
    if ev:
        out += _render_eval(ev)
    if card.get("command"):
        out += ["## Reproduce", "", "Training:", "", "```", card["command"], "```", ""]
    if ev and ev.get("command"):
        out += ["Evaluation:", "", "```", ev["command"], "```", ""]
    if card.get("machine"):
        m = card["machine"]
        out += ["## Machine", "", ", ".join(f"{k}: {v}" for k, v in m.items()), ""]
    return "\n".join(out)


def _render_eval(ev: dict) -> list[str]:
    out = ["## Evaluation (photos never trained on, calibrated on or used to pick the epoch)", ""]
    if ev.get("protocol"):
        out += [ev["protocol"], ""]
    rows = dict(ev.get("sets", {}))
    if ev.get("overall"):
        rows["**overall**"] = ev["overall"]
    # RGB-output models: also their own RGB scored directly (predicted L included)
    raw = any("psnr_raw_rgb" in r for r in rows.values())
    out += ["| set | images | MSE | PSNR (dB) | SSIM | colorfulness | CIEDE2000 "
            "| gray PSNR (dB) | gray CIEDE2000 |" + (" raw RGB PSNR (dB) |" if raw else ""),
            "|---|---|---|---|---|---|---|---|---|" + ("---|" if raw else "")]
    for name, r in rows.items():
        g = r.get("gray", {})
        out.append(f"| {name} | {r.get('images')} | {_fmt(r.get('mse'), 5)} | "
                   f"{_fmt(r.get('psnr'), 2)} | {_fmt(r.get('ssim'), 4)} | "
                   f"{_fmt(r.get('colorfulness'), 1)} | {_fmt(r.get('ciede2000'), 2)} | "
                   f"{_fmt(g.get('psnr'), 2)} | {_fmt(g.get('ciede2000'), 2)} |"
                   + (f" {_fmt(r.get('psnr_raw_rgb'), 2)} |" if raw else ""))
    out.append("")
    for note in ev.get("notes", []):
        out.append(f"- {note}")
    if ev.get("notes"):
        out.append("")
    return out
