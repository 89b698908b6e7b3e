"""Which device profile fits this host: device tree, L4T release file, CPU part, machine.

Files are read under a root (``EDGECOLOR_DEVICE_ROOT``, default ``/``) so that tests and the
ARM emulation can present a fake device; ``EDGECOLOR_DEVICE=<profile>`` forces the answer.
"""

from __future__ import annotations

import os
import platform
import re
from dataclasses import dataclass
from pathlib import Path

# ARM "CPU part" ids in /proc/cpuinfo -> profile
_ARM_PARTS = {"0xd08": "rpi4", "0xd0b": "rpi5", "0xd07": "jetson-nano",
              "0xd42": "jetson-orin-nano"}
_ARM_NAMES = {"0xd08": "Cortex-A72", "0xd0b": "Cortex-A76", "0xd07": "Cortex-A57",
              "0xd42": "Cortex-A78AE", "0xd03": "Cortex-A53"}
X86_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")


@dataclass(frozen=True)
class Detection:
    """Detected profile name (None if no profile fits), why, and what was seen."""

    profile: str | None
    reason: str
    machine: str
    cpu: str
    flags: tuple[str, ...] = ()


def device_root() -> Path:
    """Root under which /proc and /etc are read (env EDGECOLOR_DEVICE_ROOT, default /)."""
    return Path(os.environ.get("EDGECOLOR_DEVICE_ROOT") or "/")


def read_host_file(rel: str, root: Path | None = None) -> str:
    """Text of ``root/rel`` ("" when missing or unreadable; device-tree NULs dropped)."""
    try:
        return ((root or device_root()) / rel).read_bytes().decode(errors="replace").replace(
            "\x00", "").strip()
    except OSError:
        return ""


def _cpuinfo_field(cpuinfo: str, key: str) -> str:
    m = re.search(rf"^{key}\s*:\s*(.+)$", cpuinfo, re.MULTILINE | re.IGNORECASE)
    return m.group(1).strip() if m else ""


def detect(root: Path | None = None) -> Detection:
    """Look at the host (or a fake root) -> :class:`Detection`.

    Order: EDGECOLOR_DEVICE; /proc/device-tree/model (Raspberry Pi 4/5, Jetson Nano/Orin);
    /etc/nv_tegra_release (L4T R32 = Jetson Nano, R35/R36 = Orin); the ARM CPU part in
    /proc/cpuinfo; x86-64 machines -> x86-cpu.
    """
    root = root or device_root()
    cpuinfo = read_host_file("proc/cpuinfo", root)
    part = _cpuinfo_field(cpuinfo, "CPU part").lower()
    x86_name = _cpuinfo_field(cpuinfo, "model name")
    flags_line = _cpuinfo_field(cpuinfo, "flags").split()
    flags = tuple(f for f in X86_FLAGS if f in flags_line)
    machine = platform.machine().lower()
    if part:
        machine = "aarch64" if machine not in ("aarch64", "arm64", "armv7l") else machine
    elif flags_line:
        machine = "x86_64"
    cpu = _ARM_NAMES.get(part, part) if part else (x86_name or platform.processor() or machine)

    forced = os.environ.get("EDGECOLOR_DEVICE")
    if forced:
        return Detection(forced, "EDGECOLOR_DEVICE is set", machine, cpu, flags)
    model = read_host_file("proc/device-tree/model", root)
    low = model.lower()
    if "raspberry pi 5" in low:
        return Detection("rpi5", f"device tree: {model}", machine, cpu, flags)
    if "raspberry pi 4" in low:
        return Detection("rpi4", f"device tree: {model}", machine, cpu, flags)
    if "jetson" in low or "nvidia" in low:
        name = "jetson-orin-nano" if "orin" in low else "jetson-nano"
        return Detection(name, f"device tree: {model}", machine, cpu, flags)
    tegra = read_host_file("etc/nv_tegra_release", root)
    m = re.search(r"R(\d+)", tegra)
    if m:
        name = "jetson-nano" if int(m.group(1)) < 34 else "jetson-orin-nano"
        return Detection(name, f"/etc/nv_tegra_release: L4T R{m.group(1)}", machine, cpu,
                         flags)
    if part in _ARM_PARTS:
        return Detection(_ARM_PARTS[part], f"/proc/cpuinfo: CPU part {part} ({cpu})", machine,
                         cpu, flags)
    if machine in ("x86_64", "amd64", "i686"):
        return Detection("x86-cpu", f"x86-64 CPU ({cpu})", machine, cpu, flags)
    return Detection(None, f"no profile matches machine {machine!r}, CPU {cpu!r}", machine,
                     cpu, flags)


def detect_profile_name(root: Path | None = None) -> str:
    """Name of the profile for this host; ValueError with the fix if none fits."""
    found = detect(root)
    if found.profile is None:
        raise ValueError(f"cannot detect the device ({found.reason}); pass --target NAME "
                         "(see `edgecolor devices`) or set EDGECOLOR_DEVICE")
    return found.profile
