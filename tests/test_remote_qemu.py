"""`bench --on qemu:rpi4`: the ARM lane's emulated Raspberry Pi 4 as a device.

The emulated run needs the lane's aarch64 sysroot (`make test-arm` builds it, slowly, with
the network once); without it that test is skipped, saying so. The refusal when it is not
built is tested always.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgecolor.devices.emulate.machines import get_machine
from edgecolor.devices.emulate.sysroot import Layout, default_cache


def _bench(folder: Path, out: Path, *extra: str, env: dict | None = None):
    return subprocess.run([sys.executable, "-m", "edgecolor", "bench", str(folder), "-o",
                           str(out), "--on", "qemu:rpi4", "--runs", "2", "--warmup", "0",
                           "--metrics", "fast", "--reference", "none", *extra],
                          capture_output=True, text=True, timeout=1800, env=env)


def test_without_the_lane_it_says_how_to_build_it(tmp_path):
    folder = tmp_path / "art"
    folder.mkdir()
    (folder / "m-tflite-fp32.tflite").write_bytes(b"TFL3")
    (folder / "m-tflite-fp32.json").write_text(json.dumps(
        {"model": "m", "format": "tflite", "precision": "fp32", "files": {}}))
    env = dict(os.environ, EDGECOLOR_ARM_CACHE=str(tmp_path / "no-lane"))
    r = _bench(folder, tmp_path / "out", env=env)
    assert r.returncode == 1, r.stdout + r.stderr
    row = json.loads((tmp_path / "out" / "report.json").read_text())["rows"][0]
    assert row["status"] == "failed" and row["device"] == "qemu:rpi4"
    assert "not built" in row["error"] and "make test-arm" in row["error"]
    assert "\n" not in row["error"]


def test_emulated_board_runs_the_lane_artifacts():
    """The check the ARM lane itself runs after tests/arm (devices/emulate/lane.py), so CI
    runs it there (`make test-arm`); here it runs only when the lane was built before."""
    layout = Layout(default_cache())
    if not layout.wrapper(get_machine("rpi4")).is_file():
        pytest.skip(f"the ARM lane's emulated rpi4 is not built ({layout.cache}); "
                    "`make test-arm` builds it and runs this check itself")
    arts = sorted((layout.cache / "artifacts").glob("*-rpi4-*"))
    if not arts:
        pytest.skip("the ARM lane has no converted rpi4 artifacts yet (`make test-arm` "
                    "converts them and runs this check itself)")
    from edgecolor.devices.emulate.lane import emulated_bench

    assert emulated_bench(arts[-1], get_machine("rpi4")) == []
