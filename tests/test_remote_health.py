"""Device health parsers and reader, on outputs recorded in the boards' documented formats:
Raspberry Pi firmware (``vcgencmd``), Jetson ``tegrastats`` (JetPack 4 Nano and JetPack 5/6
Orin lines), INA3221 rails in sysfs (iio and hwmon drivers), thermal zones and cpufreq.

No board is attached here: the sysfs trees below are written in the kernel's formats and read
by the real reader; vcgencmd and tegrastats themselves could not be run (not installed).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from edgecolor.bench.health import (
    HealthReader,
    HealthSampler,
    parse_ina_hwmon,
    parse_ina_iio,
    parse_measure_clock,
    parse_measure_temp,
    parse_millidegrees,
    parse_tegrastats,
    parse_throttled,
    throttle_flags,
)

# JetPack 5.1 / 6 (Orin Nano), `tegrastats --interval 1000`
ORIN_LINE = ("11-30-2023 10:15:42 RAM 2210/7620MB (lfb 1060x4MB) SWAP 0/3810MB (cached 0MB) "
             "CPU [2%@729,1%@729,0%@729,0%@729,off,off] EMC_FREQ 0%@2133 GR3D_FREQ 0%@[305] "
             "VIC_FREQ 729 APE 174 CV0@-256C CPU@47.343C SOC2@44.875C SOC0@45.406C CV1@-256C "
             "GPU@-256C tj@47.343C SOC1@45.031C CV2@-256C VDD_IN 4412mW/4380mW "
             "VDD_CPU_GPU_CV 521mW/519mW VDD_SOC 1322mW/1320mW")
# JetPack 4.6 (Jetson Nano)
NANO_LINE = ("RAM 1534/3956MB (lfb 104x4MB) SWAP 0/1978MB (cached 0MB) IRAM 0/252kB(lfb 252kB) "
             "CPU [8%@1479,3%@1479,4%@1479,2%@1479] EMC_FREQ 3%@1600 GR3D_FREQ 0%@921 APE 25 "
             "PLL@39.5C CPU@41.5C PMIC@100C GPU@40.5C AO@47C thermal@40.75C POM_5V_IN 2559/2559 "
             "POM_5V_GPU 41/41 POM_5V_CPU 573/573")


def test_vcgencmd_outputs():
    assert parse_measure_temp("temp=48.3'C\n") == 48.3
    assert parse_measure_temp("error=1 error_msg=\"Command not registered\"") is None
    assert parse_measure_clock("frequency(48)=1500398464\n") == pytest.approx(1500.398464)
    mask = parse_throttled("throttled=0x50005\n")
    assert mask == 0x50005
    assert throttle_flags(mask) == ["under-voltage", "throttled", "under-voltage occurred",
                                    "throttling occurred"]
    assert parse_throttled("throttled=0x0") == 0 and throttle_flags(0) == []
    assert parse_throttled("80000") == 80000  # firmware sysfs node: plain number


def test_tegrastats_orin_and_nano_lines():
    orin = parse_tegrastats(ORIN_LINE)
    assert orin.cpu_mhz == [729.0] * 4 and orin.cpu_load == [2.0, 1.0, 0.0, 0.0]
    assert orin.temps_c["tj"] == 47.343 and "GPU" not in orin.temps_c  # -256 C = sensor off
    assert orin.rails_mw == {"VDD_IN": 4412.0, "VDD_CPU_GPU_CV": 521.0, "VDD_SOC": 1322.0}
    assert orin.power_mw == 4412.0  # the board's input rail, not the sum
    nano = parse_tegrastats(NANO_LINE)
    assert nano.cpu_mhz == [1479.0] * 4 and nano.temps_c["CPU"] == 41.5
    assert nano.rails_mw["POM_5V_IN"] == 2559.0 and nano.power_mw == 2559.0


def test_ina3221_sysfs_files():
    iio = {"rail_name_0": "POM_5V_IN", "in_power0_input": "2559", "rail_name_1": "POM_5V_GPU",
           "in_power1_input": "41", "rail_name_2": "POM_5V_CPU"}  # power2 unreadable
    assert parse_ina_iio(iio) == {"POM_5V_IN": 2559.0, "POM_5V_GPU": 41.0}
    hwmon = {"in1_label": "VDD_IN", "in1_input": "5072", "curr1_input": "870",
             "in2_label": "VDD_CPU_GPU_CV", "in2_input": "5064", "curr2_input": "104",
             "in7_label": "sum of shunt voltages", "in7_input": "10"}
    rails = parse_ina_hwmon(hwmon)
    assert rails == {"VDD_IN": pytest.approx(5072 * 870 / 1000),
                     "VDD_CPU_GPU_CV": pytest.approx(5064 * 104 / 1000)}
    assert parse_millidegrees("47312\n") == pytest.approx(47.312)
    assert parse_millidegrees("-256000") is None and parse_millidegrees("N/A") is None


def _write(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")


def orin_root(tmp_path: Path, temp_mc: int = 47312) -> Path:
    """A Jetson Orin's sysfs as the kernel lays it out (values from a JetPack 6 board)."""
    z = "sys/class/thermal/thermal_zone0"
    _write(tmp_path, f"{z}/type", "cpu-thermal")
    _write(tmp_path, f"{z}/temp", str(temp_mc))
    _write(tmp_path, f"{z}/trip_point_0_type", "passive")
    _write(tmp_path, f"{z}/trip_point_0_temp", "95500")
    _write(tmp_path, "sys/class/thermal/thermal_zone1/type", "gpu-thermal")
    _write(tmp_path, "sys/class/thermal/thermal_zone1/temp", "-256000")
    for cpu in range(2):
        _write(tmp_path, f"sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_cur_freq", "1510400")
    hw = "sys/bus/i2c/drivers/ina3221/1-0040/hwmon/hwmon3"
    _write(tmp_path, f"{hw}/in1_label", "VDD_IN")
    _write(tmp_path, f"{hw}/in1_input", "5000")
    _write(tmp_path, f"{hw}/curr1_input", "1000")
    return tmp_path


def test_reader_on_an_orin_sysfs_tree(tmp_path):
    reader = HealthReader(orin_root(tmp_path))
    s = reader.sample(0.0)
    assert s.temp_c == pytest.approx(47.312) and s.clock_mhz == pytest.approx(1510.4)
    assert s.power_mw == pytest.approx(5000.0) and s.throttled is False
    assert "INA3221 rails" in reader.sources() and reader.missing() == []


def test_reader_says_what_it_cannot_read(tmp_path):
    reader = HealthReader(tmp_path)  # an empty board: nothing exposed
    s = reader.sample(0.0)
    assert (s.temp_c, s.clock_mhz, s.power_mw, s.throttled) == (None, None, None, None)
    missing = " ".join(reader.missing())
    for what in ("temperature", "CPU clock", "throttling", "power"):
        assert what in missing


def test_a_zone_past_its_passive_trip_point_is_throttling(tmp_path):
    reader = HealthReader(orin_root(tmp_path, temp_mc=97000))
    assert reader.sample(0.0).throttled is True


def test_rpi_firmware_throttle_bits_mark_the_run(tmp_path):
    root = tmp_path
    _write(root, "sys/class/thermal/thermal_zone0/type", "cpu-thermal")
    _write(root, "sys/class/thermal/thermal_zone0/temp", "82150")
    node = root / "sys/devices/platform/soc/soc:firmware/get_throttled"
    _write(root, "sys/devices/platform/soc/soc:firmware/get_throttled", "0")
    with HealthSampler(interval_s=0.05, root=root) as h:
        time.sleep(0.2)
        node.write_text("0x20002\n")  # arm frequency capped now and since boot
        time.sleep(0.2)
    summary = h.summary(frame_ms=10.0)
    assert summary["throttled"] is True
    assert "arm frequency capped" in summary["throttle_flags"]
    assert summary["temp_c"]["max"] == pytest.approx(82.15)
    assert summary["n"] >= 3 and summary["power_mw"] is None and summary["energy_mj"] is None
    assert any("power" in m for m in summary["missing"])


def test_energy_per_frame_from_the_rails(tmp_path):
    with HealthSampler(interval_s=0.05, root=orin_root(tmp_path)) as h:
        time.sleep(0.15)
    summary = h.summary(frame_ms=20.0)
    assert summary["power_mw"] == pytest.approx(5000.0)
    assert summary["energy_mj"] == pytest.approx(100.0)  # 5 W x 20 ms
    assert summary["throttled"] is False and summary["samples"][0][3] == pytest.approx(5000.0)
