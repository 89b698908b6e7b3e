"""The machine this process runs on: /proc/cpuinfo, the CPU's name and SIMD flags, installed
package versions. NumPy-free and TensorFlow-free: converters, bench, training cards and devices
all read the host through here.
"""

from __future__ import annotations

import os
import platform
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


def package_versions(names: tuple[str, ...] = VERSION_PACKAGES) -> dict[str, str]:
    """Installed version of each distribution in ``names`` (without importing it)."""
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
