"""Device profiles (x86-cpu, rpi4, rpi5, jetson-nano, jetson-orin-nano) and host detection.

Profiles are TOML files in ``profiles/``: CPU architecture, runtimes in preference order,
artifacts to produce (format x precision), default threads, input size, notes. No
TensorFlow here: devices import this package.
"""

from edgecolor.devices.detect import Detection, detect, detect_profile_name, device_root
from edgecolor.devices.profiles import DeviceProfile, list_profiles, load_profile


def resolve_profile(target: str) -> DeviceProfile:
    """``auto`` (detect this host), a profile name or a .toml path -> DeviceProfile."""
    if target == "auto":
        target = detect_profile_name()
    return load_profile(target)


__all__ = ["DeviceProfile", "Detection", "detect", "detect_profile_name", "device_root",
           "list_profiles", "load_profile", "resolve_profile"]
