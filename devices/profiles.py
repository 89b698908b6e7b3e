"""Device profiles: one TOML file per target device in ``profiles/`` (stdlib tomllib).

A profile names the CPU architecture, the runtimes in preference order, the artifacts to
produce (``format:precision``), default threads, working input size, the PSNR-loss budget
``max_dpsnr`` (dB vs FP32), the fidelity floor ``min_psnr_fp32`` (dB of an int8 colorization
vs the FP32 one), TensorRT/JetPack versions for Jetsons, and notes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

PROFILES_DIR = Path(__file__).parent / "profiles"


@dataclass(frozen=True)
class DeviceProfile:
    """One target device (a profile file)."""

    name: str
    description: str
    arch: str
    cpu: str
    runtimes: tuple[str, ...]
    artifacts: tuple[tuple[str, str], ...]  # (format, precision), in production order
    threads: int = 0  # 0 = all cores of the machine that runs the artifact
    input_size: int = 0  # 0 = the model's own size
    max_dpsnr: float = 0.3
    min_psnr_fp32: float = 40.0  # dB: an int8 colorization vs the FP32 model's (budget floor)
    trt_version: str | None = None
    jetpack: str | None = None
    onnx_opset: int | None = None  # highest ONNX opset the device's parser takes (TensorRT 8.2: 13)
    notes: str = ""
    extra: dict = field(default_factory=dict)

    def default_threads(self) -> int:
        """Threads to run with: the profile's, or all cores of this machine when 0."""
        return self.threads or os.cpu_count() or 1

    def to_dict(self) -> dict:
        """JSON-ready record (for manifests and reports)."""
        return {"name": self.name, "arch": self.arch, "cpu": self.cpu,
                "runtimes": list(self.runtimes), "threads": self.threads,
                "input_size": self.input_size, "max_dpsnr": self.max_dpsnr,
                "min_psnr_fp32": self.min_psnr_fp32,
                "trt_version": self.trt_version, "jetpack": self.jetpack,
                "onnx_opset": self.onnx_opset}


_KNOWN = {"name", "description", "arch", "cpu", "runtimes", "artifacts", "threads",
          "input_size", "max_dpsnr", "min_psnr_fp32", "trt_version", "jetpack", "onnx_opset",
          "notes"}


def _parse(path: Path) -> DeviceProfile:
    try:
        d = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"{path}: not valid TOML ({e}); fix the profile file") from e
    missing = {"name", "arch", "runtimes", "artifacts"} - set(d)
    if missing:
        raise ValueError(f"{path}: profile lacks {', '.join(sorted(missing))}")
    rows = []
    for item in d["artifacts"]:
        fmt, sep, prec = str(item).partition(":")
        if not sep:
            raise ValueError(f"{path}: artifact {item!r} must be 'format:precision'")
        rows.append((fmt, prec))
    return DeviceProfile(
        name=d["name"], description=d.get("description", ""), arch=d["arch"],
        cpu=d.get("cpu", ""), runtimes=tuple(d["runtimes"]), artifacts=tuple(rows),
        threads=int(d.get("threads", 0)), input_size=int(d.get("input_size", 0)),
        max_dpsnr=float(d.get("max_dpsnr", 0.3)),
        min_psnr_fp32=float(d.get("min_psnr_fp32", 40.0)),
        trt_version=str(d["trt_version"]) if "trt_version" in d else None,
        jetpack=str(d["jetpack"]) if "jetpack" in d else None,
        onnx_opset=int(d["onnx_opset"]) if "onnx_opset" in d else None,
        notes=d.get("notes", ""), extra={k: v for k, v in d.items() if k not in _KNOWN},
    )


def list_profiles() -> list[str]:
    """Names of the bundled profiles, sorted."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def load_profile(name: str) -> DeviceProfile:
    """Profile ``name`` (a bundled name or a path to a .toml file); ValueError if unknown."""
    path = Path(name)
    if not (path.suffix == ".toml" and path.is_file()):
        path = PROFILES_DIR / f"{name}.toml"
    if not path.is_file():
        raise ValueError(f"unknown target {name!r}; choose one of: "
                         f"{', '.join(list_profiles())}, auto (or a profile .toml file)")
    return _parse(path)
