"""Real devices as benchmark targets over SSH (the system OpenSSH client).

registry: the user's devices (a TOML file); ssh: one device's ssh/tar commands and how their
failures read; probe/runner: the small device-side programs (no TensorFlow); session: one
device during a bench (files by sha256, jobs, cleanup); fleet: ``bench --on`` (health
sampling lives in edgecolor.bench.health).
"""

from edgecolor.devices.remote.registry import Device, RegistryError, load_devices

__all__ = ["Device", "RegistryError", "load_devices"]
