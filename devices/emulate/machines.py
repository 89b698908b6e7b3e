"""The ARM boards the lane emulates: qemu CPU model, /proc/cpuinfo text, device-tree model.

qemu-user hands the host's x86 /proc/cpuinfo to the guest unless the sysroot has its own,
and ONNX Runtime (import) and LiteRT (allocate_tensors) crash on it. Each machine therefore
gets a tiny root (``proc/cpuinfo``, ``proc/device-tree/model`` and the per-core MIDR_EL1 that
OpenVINO's ARM code reads) in front of the shared Debian sysroot. ``qemu_cpu`` is the CPU
qemu emulates: its default ``max`` exposes features a Pi lacks (SVE, fp16 arithmetic) and
the runtimes would then pick kernels the real board cannot run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CPUINFO_DIR = Path(__file__).parent / "cpuinfo"


@dataclass(frozen=True)
class Machine:
    """One emulated board."""

    name: str  # device profile name (edgecolor.devices)
    qemu_cpu: str  # qemu -cpu / QEMU_CPU
    cpuinfo: str  # file in cpuinfo/ (the board's /proc/cpuinfo)
    model: str  # /proc/device-tree/model
    midr: int  # MIDR_EL1 of its cores

    def cpuinfo_text(self) -> str:
        """The board's /proc/cpuinfo text."""
        return (CPUINFO_DIR / self.cpuinfo).read_text()

    def cores(self) -> int:
        """Number of cores its cpuinfo lists."""
        return self.cpuinfo_text().count("processor\t:")


MACHINES: dict[str, Machine] = {
    m.name: m
    for m in (
        Machine("rpi4", "cortex-a72", "cortex-a72", "Raspberry Pi 4 Model B Rev 1.4", 0x410FD083),
        Machine("rpi5", "cortex-a76", "cortex-a76", "Raspberry Pi 5 Model B Rev 1.0", 0x414FD0B1),
        Machine("jetson-nano", "cortex-a57", "cortex-a57", "NVIDIA Jetson Nano Developer Kit",
                0x411FD071),
        # qemu 7.2 has no Cortex-A78AE; Neoverse-N1 is the nearest Armv8.2 core it offers
        Machine("jetson-orin-nano", "neoverse-n1", "cortex-a78ae",
                "NVIDIA Jetson Orin Nano Developer Kit", 0x410FD421),
    )
}


def get_machine(name: str) -> Machine:
    """Machine ``name``; ValueError naming the choices if unknown."""
    if name not in MACHINES:
        raise ValueError(f"unknown emulated machine {name!r}; choose one of: "
                         f"{', '.join(MACHINES)}")
    return MACHINES[name]
