"""Where a benchmark ran: CPU model and flags, cores, threads, OS, Python, runtime versions,
emulation (qemu), date and the exact command. No TensorFlow import: devices run this.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import shlex
import sys
from importlib import metadata
from pathlib import Path

# distributions whose versions every report records (absent ones are left out)
VERSION_PACKAGES = (
    "edgecolor", "numpy", "opencv-python-headless", "opencv-python", "ai-edge-litert",
    "tflite-runtime", "openvino", "onnxruntime", "onnxruntime-gpu", "tensorrt", "tensorflow",
    "keras", "tf2onnx", "onnx", "onnxsim", "nncf", "scikit-image",
)

# CPU features that decide which int8/fp16 kernels a runtime can use
SIMD_FLAGS = (
    "sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni",
    "avx512_bf16", "amx_int8", "amx_bf16", "neon", "asimd", "asimdhp", "asimddp", "i8mm",
    "sve", "sve2", "bf16",
)


def read_cpuinfo(path: str | os.PathLike = "/proc/cpuinfo") -> str:
    """Text of /proc/cpuinfo, or "" where there is none (macOS, Windows)."""
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return ""


def _field(cpuinfo: str, *keys: str) -> str | None:
    """Value of the first of ``keys`` (in that priority) present in cpuinfo text."""
    found: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name in keys and value.strip() and name not in found:
            found[name] = value.strip()
    return next((found[k] for k in keys if k in found), None)


def cpu_model(cpuinfo: str) -> str:
    """CPU model name from cpuinfo text ("model name", ARM "Model"/"Hardware"), else platform."""
    name = _field(cpuinfo, "model name", "cpu model", "model", "hardware")
    if name and not name.isdigit():
        return name
    dt_model = Path("/proc/device-tree/model")
    if dt_model.is_file():  # Raspberry Pi, Jetson
        return dt_model.read_text(errors="replace").strip("\x00\n ")
    return platform.processor() or platform.machine()


def cpu_flags(cpuinfo: str) -> list[str]:
    """Sorted CPU feature flags (x86 "flags", ARM "Features")."""
    flags = _field(cpuinfo, "flags", "features")
    return sorted(set(flags.split())) if flags else []


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


def package_versions(names: tuple[str, ...] = VERSION_PACKAGES) -> dict[str, str]:
    """Installed version of each distribution in ``names`` (without importing it)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


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
