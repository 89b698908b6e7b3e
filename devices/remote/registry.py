"""The user's devices: a small TOML file in the user's config folder.

``$EDGECOLOR_DEVICES_FILE`` (tests), else ``$XDG_CONFIG_HOME/edgecolor/devices.toml``, else
``~/.config/edgecolor/devices.toml``. One table per device::

    [devices.pi5]
    url = "ssh://pi@pi5.local:22"   # ~/.ssh/config aliases work: ssh://pi5
    profile = "rpi5"                # optional: else detected on the board
    python = "/home/pi/ec/bin/python"   # optional: else python3 on the device's PATH
    cache = "~/.cache/edgecolor-remote" # optional: where artifacts and photos are kept there
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

from edgecolor.imageio import atomic_write_bytes

DEFAULT_CACHE = "~/.cache/edgecolor-remote"
DEFAULT_PYTHON = "python3"
QEMU_PREFIX = "qemu:"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class RegistryError(ValueError):
    """The devices file or a device entry is not usable; the message names it and the fix."""


@dataclass(frozen=True)
class Device:
    """One registered device: where to reach it and how to run edgecolor there."""

    name: str
    url: str  # ssh://[user@]host[:port]
    profile: str | None = None  # device profile name; None = detect on the board
    python: str = DEFAULT_PYTHON  # interpreter on the device with edgecolor installed
    cache: str = DEFAULT_CACHE  # folder on the device for artifacts/photos (by sha256)

    @property
    def host(self) -> str:
        """Host (or ~/.ssh/config alias) of the url."""
        return parse_url(self.url)[1]

    @property
    def user(self) -> str | None:
        """User of the url, None = ssh's default."""
        return parse_url(self.url)[0]

    @property
    def port(self) -> int | None:
        """Port of the url, None = ssh's default."""
        return parse_url(self.url)[2]

    @property
    def emulated(self) -> bool:
        """True for ``qemu:<board>`` (the ARM lane's emulated board, not an SSH device)."""
        return self.url.startswith(QEMU_PREFIX)


def parse_url(url: str) -> tuple[str | None, str, int | None]:
    """``ssh://user@host:port`` -> (user or None, host, port or None); RegistryError if not
    an ssh url.
    """
    parts = urlsplit(url)
    if parts.scheme != "ssh" or not parts.hostname or parts.path not in ("", "/"):
        raise RegistryError(f"{url!r}: expected ssh://[user@]host[:port], e.g. "
                            "ssh://pi@raspberrypi.local")
    try:
        port = parts.port
    except ValueError as e:
        raise RegistryError(f"{url!r}: bad port ({e})") from e
    return parts.username, parts.hostname, port


def devices_file() -> Path:
    """Path of the devices file (it need not exist yet)."""
    env = os.environ.get("EDGECOLOR_DEVICES_FILE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base).expanduser() / "edgecolor" / "devices.toml"


def load_devices(path: Path | None = None) -> dict[str, Device]:
    """The registered devices by name ({} when the file does not exist)."""
    path = path or devices_file()
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise RegistryError(f"{path}: not a readable devices file ({e}); fix or delete it "
                            "and add the devices again (edgecolor devices add)") from e
    out = {}
    for name, entry in (data.get("devices") or {}).items():
        if not isinstance(entry, dict) or "url" not in entry:
            raise RegistryError(f"{path}: device {name!r} has no url; remove it "
                                f"(edgecolor devices remove {name}) and add it again")
        known = {k: entry[k] for k in ("url", "profile", "python", "cache") if k in entry}
        out[name] = Device(name=name, **known)
    return out


def _toml(devices: dict[str, Device]) -> str:
    lines = ["# edgecolor devices (edgecolor devices add/remove edit this file)", ""]
    for d in devices.values():
        lines.append(f"[devices.{json.dumps(d.name)}]")
        for key, value in asdict(d).items():
            if key != "name" and value is not None:
                lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    return "\n".join(lines)


def save_devices(devices: dict[str, Device], path: Path | None = None) -> Path:
    """Write the devices file atomically -> its path."""
    path = path or devices_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, _toml(devices).encode())
    return path


def add_device(device: Device, path: Path | None = None, replace: bool = False) -> Path:
    """Validate and record ``device`` -> the file's path; RegistryError when the name is
    taken (unless ``replace``), not a plain name, or the url/profile is wrong.
    """
    if not _NAME.match(device.name) or device.name.startswith(QEMU_PREFIX.rstrip(":")):
        raise RegistryError(f"device name {device.name!r}: use letters, digits, '.', '_' or "
                            "'-' (names starting with 'qemu' are reserved)")
    parse_url(device.url)
    if device.profile:
        from edgecolor.devices import load_profile

        try:
            load_profile(device.profile)
        except ValueError as e:
            raise RegistryError(f"--profile: {e}") from e
    devices = load_devices(path)
    if device.name in devices and not replace:
        raise RegistryError(f"device {device.name!r} is already registered "
                            f"({devices[device.name].url}); remove it first "
                            f"(edgecolor devices remove {device.name}) or pass --replace")
    devices[device.name] = device
    return save_devices(devices, path)


def remove_device(name: str, path: Path | None = None) -> Path:
    """Forget device ``name`` -> the file's path; RegistryError naming the known ones."""
    devices = load_devices(path)
    if name not in devices:
        raise RegistryError(f"no device named {name!r} (registered: "
                            f"{', '.join(devices) or 'none'}; see `edgecolor devices`)")
    del devices[name]
    return save_devices(devices, path)


def get_device(name: str, path: Path | None = None) -> Device:
    """Device ``name``: a registered one, or ``qemu:<board>`` (the ARM lane's emulated
    board); RegistryError naming the registered ones and how to add one.
    """
    if name.startswith(QEMU_PREFIX):
        return Device(name=name, url=name, profile=name[len(QEMU_PREFIX):])
    devices = load_devices(path)
    if name not in devices:
        raise RegistryError(
            f"--on {name}: no such device (registered: {', '.join(devices) or 'none'}); add "
            f"it with `edgecolor devices add {name} ssh://USER@HOST` (file {devices_file()})")
    return devices[name]
