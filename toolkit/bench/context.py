"""Where a benchmark ran: CPU model and flags, cores, threads, OS, Python, runtime versions,
emulation (qemu), date and the exact command. No TensorFlow import: devices run this.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import sys
from pathlib import Path

from edgecolor.host import SIMD_FLAGS, cpu_flags, cpu_model, package_versions, read_cpuinfo


def detect_emulation(cpuinfo: str, machine: str | None = None,
                     environ: dict | None = None) -> tuple[bool, str | None]:
    """-> (emulated, why). True under qemu: EDGECOLOR_EMULATED=1 (set by the ARM CI lane), a
    "QEMU" CPU name, or an ARM machine whose cpuinfo describes an x86 CPU (qemu-user shows the
    host's) or no ARM CPU fields at all.
    """
    environ = os.environ if environ is None else environ
    machine = (machine or platform.machine()).lower()
    if str(environ.get("EDGECOLOR_EMULATED", "")).strip() not in ("", "0", "false", "no"):
        return True, "EDGECOLOR_EMULATED is set"
    if "qemu" in cpuinfo.lower():
        return True, "cpuinfo names a QEMU CPU"
    is_arm = machine.startswith(("aarch64", "arm"))
    if is_arm and cpuinfo:
        if "genuineintel" in cpuinfo.lower() or "authenticamd" in cpuinfo.lower():
            return True, f"machine is {machine} but cpuinfo describes an x86 CPU"
        if "cpu implementer" not in cpuinfo.lower() and "features" not in cpuinfo.lower():
            return True, f"machine is {machine} but cpuinfo has no ARM CPU fields"
    return False, None


def available_cores() -> int:
    """Cores this process may run on (affinity / cgroup cpuset), else os.cpu_count()."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _load_average() -> list[float] | None:
    """1/5/15-minute load averages: other work on the machine skews timings."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def command_line(argv: list[str] | None = None) -> str:
    """The exact command as typed (shell-quoted), with the program shown by its base name."""
    argv = list(sys.argv if argv is None else argv)
    if argv:
        argv[0] = Path(argv[0]).name
    return shlex.join(argv)


def host_context(threads: int | None = None, device_profile: dict | None = None,
                 argv: list[str] | None = None) -> dict:
    """Everything a reader needs to reproduce or trust a report (JSON-ready).

    threads: inference threads used (None = each runtime's default); device_profile: the
    record (DeviceProfile.to_dict()) of the profile the settings came from, or None.
    """
    info = read_cpuinfo()
    flags = cpu_flags(info)
    emulated, why = detect_emulation(info)
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "command": command_line(argv),
        "device_profile": device_profile,
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "cpu": {
            "model": cpu_model(info),
            "simd": [f for f in SIMD_FLAGS if f in flags],
            "flags": flags,
            "cores": os.cpu_count(),
            "cores_available": available_cores(),
        },
        "threads": threads,
        "load_average": _load_average(),
        "emulated": emulated,
        "emulation_reason": why,
        "versions": package_versions(),
    }
