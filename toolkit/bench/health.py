"""Device health during timed runs: SoC temperature, throttling, CPU clock and board power.

Sources (each optional; what cannot be read is listed in the summary's ``missing``):

- Linux thermal zones: ``/sys/class/thermal/thermal_zone*/{type,temp}`` (m°C) and their
  passive/hot trip points (a zone at or above one is throttling);
- CPU clock: ``/sys/devices/system/cpu/cpu*/cpufreq/scaling_cur_freq`` (kHz);
- Raspberry Pi: ``vcgencmd measure_temp`` (``temp=48.3'C``), ``vcgencmd get_throttled``
  (``throttled=0x50005``: bits 0-3 now, 16-19 since boot) or the firmware's sysfs
  ``get_throttled``;
- Jetson: INA3221 power rails in sysfs (JetPack 4 ``ina3221x`` iio: ``rail_name_N`` +
  ``in_power N_input`` mW; JetPack 5/6 ``ina3221`` hwmon: ``inN_label``, ``inN_input`` mV,
  ``currN_input`` mA), else ``tegrastats`` lines (``VDD_IN 4412mW/4412mW``, ``CPU@47.3C``).

Files are read under a root (``EDGECOLOR_DEVICE_ROOT``, default ``/``) like device detection,
so tests can present a recorded board. No TensorFlow, no third-party imports.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgecolor.devices.detect import device_root

# vcgencmd get_throttled bits (Raspberry Pi firmware documentation)
THROTTLE_BITS = {
    0: "under-voltage", 1: "arm frequency capped", 2: "throttled", 3: "soft temperature limit",
    16: "under-voltage occurred", 17: "arm frequency capping occurred",
    18: "throttling occurred", 19: "soft temperature limit occurred",
}
NOW_MASK = 0xF
# rails that measure the whole board's input (Jetson Orin: VDD_IN; Nano: POM_5V_IN)
TOTAL_RAILS = ("VDD_IN", "POM_5V_IN")
MAX_SAMPLES = 600


# ----------------------------------------------------------------------------- parsers

def parse_measure_temp(text: str) -> float | None:
    """``vcgencmd measure_temp`` output (``temp=48.3'C``) -> °C, None if not that."""
    m = re.search(r"temp=([-\d.]+)\s*'?C", text)
    return float(m.group(1)) if m else None


def parse_throttled(text: str) -> int | None:
    """``throttled=0x50005`` (vcgencmd) or a bare hex/decimal (sysfs) -> the bit mask."""
    m = re.search(r"(?:throttled=)?\s*(0x[0-9a-fA-F]+|\d+)\s*$", text.strip())
    if not m:
        return None
    return int(m.group(1), 16 if m.group(1).lower().startswith("0x") else 10)


def throttle_flags(mask: int) -> list[str]:
    """get_throttled mask -> the names of its set bits (documented bits only)."""
    return [name for bit, name in THROTTLE_BITS.items() if mask >> bit & 1]


def parse_measure_clock(text: str) -> float | None:
    """``vcgencmd measure_clock arm`` (``frequency(48)=1500398464``) -> MHz."""
    m = re.search(r"=\s*(\d+)", text)
    return int(m.group(1)) / 1e6 if m else None


def parse_millidegrees(text: str) -> float | None:
    """A thermal zone's ``temp`` (m°C, e.g. ``47312``) -> °C; None if unreadable or the
    sensor is off (Jetson reports -256 °C for powered-down zones).
    """
    try:
        value = int(text.strip()) / 1000.0
    except ValueError:
        return None
    return None if value <= -200 else value


@dataclass
class Tegrastats:
    """One parsed ``tegrastats`` line."""

    cpu_mhz: list[float] = field(default_factory=list)  # online cores
    cpu_load: list[float] = field(default_factory=list)  # % per online core
    temps_c: dict[str, float] = field(default_factory=dict)  # sensor -> °C (off ones dropped)
    rails_mw: dict[str, float] = field(default_factory=dict)  # rail -> current mW

    @property
    def power_mw(self) -> float | None:
        """Board input power (VDD_IN / POM_5V_IN), else the sum of the rails."""
        for rail in TOTAL_RAILS:
            if rail in self.rails_mw:
                return self.rails_mw[rail]
        return sum(self.rails_mw.values()) if self.rails_mw else None


def parse_tegrastats(line: str) -> Tegrastats:
    """A ``tegrastats`` line (JetPack 4 Nano or JetPack 5/6 Orin format) -> Tegrastats.

    ``CPU [2%@729,1%@729,off]``, ``NAME@47.3C`` temperatures, rails as ``NAME 4412mW/4412mW``
    (Orin) or ``NAME 2559/2559`` (Nano, mW): current value first, running average second.
    """
    out = Tegrastats()
    cpu = re.search(r"CPU \[([^\]]*)\]", line)
    if cpu:
        for core in cpu.group(1).split(","):
            m = re.fullmatch(r"\s*(\d+)%@(\d+)\s*", core)
            if m:
                out.cpu_load.append(float(m.group(1)))
                out.cpu_mhz.append(float(m.group(2)))
    for name, value in re.findall(r"\b([A-Za-z][A-Za-z0-9_]*)@(-?[\d.]+)C\b", line):
        if float(value) > -200:
            out.temps_c[name] = float(value)
    for name, value in re.findall(r"\b((?:VDD|POM|VIN)_[A-Z0-9_]+) (\d+)(?:mW)?/\d+(?:mW)?",
                                  line):
        out.rails_mw[name] = float(value)
    return out


def parse_ina_iio(files: dict[str, str]) -> dict[str, float]:
    """JetPack 4 ``ina3221x`` iio files {``rail_name_0``: ``POM_5V_IN``, ``in_power0_input``:
    ``2559``} -> rail -> mW.
    """
    out = {}
    for key, name in files.items():
        m = re.fullmatch(r"rail_name_(\d+)", key)
        if m and f"in_power{m.group(1)}_input" in files:
            try:
                out[name.strip()] = float(files[f"in_power{m.group(1)}_input"].strip())
            except ValueError:
                pass
    return out


def parse_ina_hwmon(files: dict[str, str]) -> dict[str, float]:
    """JetPack 5/6 ``ina3221`` hwmon files {``in1_label``: ``VDD_IN``, ``in1_input``: mV,
    ``curr1_input``: mA} -> rail -> mW (= mV × mA / 1000).
    """
    out = {}
    for key, label in files.items():
        m = re.fullmatch(r"in(\d+)_label", key)
        if not m or f"in{m.group(1)}_input" not in files or f"curr{m.group(1)}_input" not in files:
            continue
        try:
            mv = float(files[f"in{m.group(1)}_input"])
            ma = float(files[f"curr{m.group(1)}_input"])
        except ValueError:
            continue
        if label.strip() and "sum of" not in label.lower():
            out[label.strip()] = mv * ma / 1000.0
    return out


def total_power_mw(rails: dict[str, float]) -> float | None:
    """Rails -> board input power (VDD_IN / POM_5V_IN), else their sum; None if none."""
    for rail in TOTAL_RAILS:
        if rail in rails:
            return rails[rail]
    return sum(rails.values()) if rails else None


# ----------------------------------------------------------------------------- readers

def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip()
    except OSError:
        return None


def _files(folder: Path, pattern: str) -> dict[str, str]:
    out = {}
    for p in folder.glob(pattern):
        text = _read(p)
        if text is not None:
            out[p.name] = text
    return out


@dataclass
class Sample:
    """One health reading: seconds since start, hottest zone °C, mean CPU MHz, board mW,
    whether the board throttled at that moment.
    """

    t_s: float
    temp_c: float | None = None
    clock_mhz: float | None = None
    power_mw: float | None = None
    throttled: bool | None = None


class HealthReader:
    """Finds what this board exposes once, then reads one :class:`Sample` per call."""

    def __init__(self, root: Path | None = None, use_commands: bool = True):
        self.root = root or device_root()
        sys_ = self.root / "sys"
        self.zones = sorted((sys_ / "class" / "thermal").glob("thermal_zone*"))
        self.trips: dict[Path, float] = {}
        for z in self.zones:
            for tfile in z.glob("trip_point_*_type"):
                if _read(tfile) in ("passive", "hot"):
                    t = parse_millidegrees(_read(tfile.with_name(
                        tfile.name.replace("_type", "_temp"))) or "")
                    if t is not None and t > 0:
                        self.trips[z] = min(self.trips.get(z, t), t)
        self.clocks = sorted((sys_ / "devices" / "system" / "cpu").glob(
            "cpu[0-9]*/cpufreq/scaling_cur_freq"))
        self.fw_throttled = sys_ / "devices" / "platform" / "soc" / "soc:firmware" / \
            "get_throttled"
        self.iio = sorted((sys_ / "bus" / "i2c" / "drivers" / "ina3221x").glob("*/iio:device*"))
        self.hwmon = sorted((sys_ / "bus" / "i2c" / "drivers" / "ina3221").glob("*/hwmon/hwmon*"))
        commands = use_commands and self.root == Path("/")
        self.vcgencmd = shutil.which("vcgencmd") if commands else None
        self.tegrastats = shutil.which("tegrastats") if commands else None

    def sources(self) -> list[str]:
        """What this board exposes (for the report)."""
        found = []
        if self.zones:
            found.append(f"thermal zones ({len(self.zones)})")
        if self.clocks:
            found.append("cpufreq")
        if self.fw_throttled.is_file():
            found.append("firmware get_throttled")
        if self.vcgencmd:
            found.append("vcgencmd")
        if self.iio or self.hwmon:
            found.append("INA3221 rails")
        elif self.tegrastats:
            found.append("tegrastats")
        return found

    def missing(self) -> list[str]:
        """What could not be read, one phrase each."""
        out = []
        if not self.zones and not self.vcgencmd:
            out.append("temperature (no thermal zones, no vcgencmd)")
        if not self.clocks:
            out.append("CPU clock (no cpufreq)")
        if not (self.fw_throttled.is_file() or self.vcgencmd or self.trips):
            out.append("throttling (no get_throttled, no passive trip points)")
        if not (self.iio or self.hwmon or self.tegrastats):
            out.append("power (no INA3221 rails, no tegrastats)")
        return out

    def throttle_mask(self) -> int | None:
        """Raspberry Pi get_throttled mask (sysfs, else vcgencmd), None elsewhere."""
        if self.fw_throttled.is_file():
            return parse_throttled(_read(self.fw_throttled) or "")
        if self.vcgencmd:
            return parse_throttled(_command([self.vcgencmd, "get_throttled"]))
        return None

    def rails_mw(self) -> dict[str, float]:
        """Power rails now, mW (INA3221 sysfs)."""
        rails: dict[str, float] = {}
        for d in self.iio:
            rails.update(parse_ina_iio(_files(d, "rail_name_*") | _files(d, "in_power*_input")))
        for d in self.hwmon:
            rails.update(parse_ina_hwmon(_files(d, "in*_label") | _files(d, "in*_input")
                                         | _files(d, "curr*_input")))
        return rails

    def sample(self, t_s: float, with_mask: bool = True) -> Sample:
        """One reading now (``t_s``: its time stamp)."""
        s = Sample(t_s)
        temps = {z: parse_millidegrees(_read(z / "temp") or "") for z in self.zones}
        valid = [t for t in temps.values() if t is not None]
        if valid:
            s.temp_c = max(valid)
        elif self.vcgencmd:
            s.temp_c = parse_measure_temp(_command([self.vcgencmd, "measure_temp"]))
        clocks = []
        for c in self.clocks:
            try:
                clocks.append(int(_read(c) or "") / 1000.0)
            except ValueError:
                pass
        if clocks:
            s.clock_mhz = sum(clocks) / len(clocks)
        s.power_mw = total_power_mw(self.rails_mw())
        hot = any(temps.get(z) is not None and temps[z] >= trip for z, trip in self.trips.items())
        mask = self.throttle_mask() if with_mask else None
        if mask is not None:
            s.throttled = bool(mask & NOW_MASK) or hot
        elif self.trips:
            s.throttled = hot
        return s


def _command(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


class HealthSampler:
    """Samples :class:`HealthReader` in a thread every ``interval_s`` while timing runs::

        with HealthSampler() as h:
            ...timed runs...
        summary = h.summary(frame_ms=ait)
    """

    def __init__(self, interval_s: float = 0.5, root: Path | None = None,
                 reader: HealthReader | None = None):
        self.interval_s = interval_s
        self.reader = reader or HealthReader(root)
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._tegra: subprocess.Popen | None = None
        self._tegra_power: list[float] = []
        self._t0 = 0.0
        self.mask_start: int | None = None
        self.mask_end: int | None = None

    def __enter__(self) -> HealthSampler:
        self._t0 = time.monotonic()
        self.mask_start = self.reader.throttle_mask()
        if self.reader.tegrastats and not (self.reader.iio or self.reader.hwmon):
            try:
                self._tegra = subprocess.Popen(
                    [self.reader.tegrastats, "--interval", str(int(self.interval_s * 1000))],
                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
                threading.Thread(target=self._read_tegrastats, daemon=True).start()
            except OSError:
                self._tegra = None
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _read_tegrastats(self) -> None:
        assert self._tegra is not None and self._tegra.stdout is not None
        for line in self._tegra.stdout:
            p = parse_tegrastats(line).power_mw
            if p is not None:
                self._tegra_power.append(p)

    def _loop(self) -> None:
        n = 0
        while True:
            s = self.reader.sample(time.monotonic() - self._t0, with_mask=n % 4 == 0)
            if s.power_mw is None and self._tegra_power:
                s.power_mw = self._tegra_power[-1]
            if len(self.samples) < MAX_SAMPLES:
                self.samples.append(s)
            n += 1
            if self._stop.wait(self.interval_s):
                break

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        if self._tegra:
            self._tegra.terminate()
            try:
                self._tegra.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._tegra.kill()
        self.mask_end = self.reader.throttle_mask()

    def summary(self, frame_ms: float | None = None) -> dict:
        """Samples -> JSON-ready summary: temp_c {start, max, end}, clock_mhz {min, mean,
        max}, power_mw (mean), energy_mj (per frame = mean mW × ``frame_ms`` / 1000),
        throttled (True/False/None = unknown), throttle_flags, sources, missing, samples
        [[t_s, temp_c, clock_mhz, power_mw], ...].
        """
        s = self.samples
        temps = [x.temp_c for x in s if x.temp_c is not None]
        clocks = [x.clock_mhz for x in s if x.clock_mhz is not None]
        power = [x.power_mw for x in s if x.power_mw is not None]
        states = [x.throttled for x in s if x.throttled is not None]
        flags: list[str] = []
        throttled: bool | None = any(states) if states else None
        if self.mask_end is not None:
            new = self.mask_end & ~(self.mask_start or 0)
            flags = throttle_flags(self.mask_end & NOW_MASK | new)
            throttled = bool(throttled) or bool(self.mask_end & NOW_MASK) or bool(new & 0xF0000)
        mean_power = sum(power) / len(power) if power else None
        return {
            "n": len(s),
            "interval_s": self.interval_s,
            "temp_c": {"start": temps[0], "max": max(temps), "end": temps[-1]} if temps else None,
            "clock_mhz": ({"min": min(clocks), "mean": sum(clocks) / len(clocks),
                           "max": max(clocks)} if clocks else None),
            "power_mw": mean_power,
            "energy_mj": (mean_power * frame_ms / 1000.0
                          if mean_power is not None and frame_ms else None),
            "throttled": throttled,
            "throttle_flags": flags,
            "sources": self.reader.sources(),
            "missing": self.reader.missing(),
            "samples": [[round(x.t_s, 3), x.temp_c, x.clock_mhz, x.power_mw] for x in s],
        }
