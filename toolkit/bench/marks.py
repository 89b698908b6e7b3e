"""Marks a speed or quality figure carries: where it was measured (this host, emulated, not
the artifact's target device) and whether the model had trained weights at all.

No TensorFlow: devices run this. Used by ``convert``'s summary and the bench report rows.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

from edgecolor.manifest import weights_source_of

RANDOM_MARK = "random weights — speed only"  # = edgecolor.zoo.RANDOM_MARK (no zoo import)
# report row keys that are quality, not speed: a random-weights row shows RANDOM_CELL instead
QUALITY_KEYS = ("mse", "psnr_db", "ssim", "colorfulness", "ciede2000", "psnr_vs_fp32_db",
                "dpsnr_db", "psnr_change_db", "dpsnr_change_db")
RANDOM_CELL = "random weights"


@dataclass(frozen=True)
class Host:
    """The measuring machine: ``uname -m``, the profile that fits it, and qemu emulation."""

    machine: str
    profile: str | None
    emulated: bool = False
    why: str | None = None


def this_host() -> Host:
    """Look at this machine (device detection and qemu emulation checks)."""
    from edgecolor.bench.context import detect_emulation
    from edgecolor.devices import detect
    from edgecolor.host import read_cpuinfo

    found = detect()
    emulated, why = detect_emulation(read_cpuinfo())
    return Host(platform.machine() or found.machine, found.profile, emulated, why)


def measured_on(target: str | None, host: Host | None = None) -> str:
    """Where a speed was measured, relative to the artifact's ``target`` profile name:
    ``"measured on x86_64 host (x86-cpu)"``; ``"measured on x86_64 host (x86-cpu), not on
    rpi4"`` when the target is another device; ``"emulated aarch64 (qemu), not a real
    rpi4"`` under emulation."""
    host = host or this_host()
    if host.emulated:
        return f"emulated {host.machine} (qemu)" + (f", not a real {target}" if target else "")
    text = f"measured on {host.machine} host ({host.profile or 'no profile fits'})"
    if target and target != host.profile:
        text += f", not on {target}"
    return text


def target_of(manifest: dict | None) -> str | None:
    """The target profile name an artifact was converted for (manifest ``target.name``)."""
    target = (manifest or {}).get("target") or {}
    return target.get("name") if isinstance(target, dict) else None


def mark_rows(rows: list[dict], manifests: dict[str, dict | None],
              host: Host | None = None) -> None:
    """Add ``measured_on``, ``target`` and ``weights_source`` to measured report rows (in
    place; a value already there, e.g. from a remote run, is kept). ``manifests``: artifact
    name -> manifest. A random-weights row also gets ``speed_only: True`` and the mark in its
    notes."""
    host = host or this_host()
    for row in rows:
        m = manifests.get(row.get("artifact"))
        row.setdefault("target", target_of(m))
        source = row.setdefault("weights_source", weights_source_of(m))
        if row.get("status") == "ok":
            row.setdefault("measured_on", measured_on(row["target"], host))
        if source == "random":
            row["speed_only"] = True
            notes = row.setdefault("notes", [])
            if RANDOM_MARK not in notes:
                notes.append(RANDOM_MARK)


def folder_manifests(folder, names: list[str]) -> dict[str, dict | None]:
    """Artifact names in ``folder`` -> their manifests (None where one cannot be read)."""
    from pathlib import Path

    from edgecolor.manifest import ManifestError, load_manifest

    found: dict[str, dict | None] = {}
    for name in names:
        try:
            found[name] = load_manifest(Path(folder) / name, verify=False)
        except (ManifestError, OSError, ValueError):
            found[name] = None
    return found
