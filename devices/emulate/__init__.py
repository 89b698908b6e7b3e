"""The ARM lane: edgecolor's device-side path on aarch64 under qemu user-mode emulation.

Artifacts are converted and run once on the x86 host (TensorFlow stays there), the host's
outputs saved as reference ``.npz`` files; then an aarch64 Python (Debian arm64 sysroot +
aarch64 wheels, no TensorFlow) runs the same artifacts under ``qemu-aarch64-static`` on an
emulated Raspberry Pi 4 (Cortex-A72) and the device-side tests (``tests/arm``) check that the
outputs agree. Timings measured there are meaningless and reports say so (``emulated``).

Modules: ``machines`` (the emulated boards), ``sysroot`` (building and caching the aarch64
world), ``reference`` (host: x86 and Keras outputs), ``agreement`` (device: the comparison),
``lane`` (the whole run: ``python -m edgecolor.devices.emulate lane``, what ``.ci/arm`` and
``make test-arm`` call). See docs/arm-ci.md.
"""

from edgecolor.devices.emulate.machines import MACHINES, Machine, get_machine

__all__ = ["MACHINES", "Machine", "get_machine"]
