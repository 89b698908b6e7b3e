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
    from edgecolor.devices.emulate.sysroot import package_current

    if not package_current(layout, Path(__file__).resolve().parents[1]):
        pytest.skip("the ARM lane's copy of edgecolor is older than these sources (`make "
                    "test-arm` refreshes it and runs this check itself)")

    assert emulated_bench(arts[-1], get_machine("rpi4")) == []


def test_a_lane_built_from_older_sources_says_so(tmp_path):
    """The emulated board runs the lane's copy of edgecolor (pkg/): once the sources changed
    it is 'older', like a board's, with the command that refreshes it."""
    lay = Layout(tmp_path / "lane")
    wrapper = lay.wrapper(get_machine("rpi4"))
    for f in (wrapper, lay.guest_python()):
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("")
    lay.pkg.mkdir()
    lay.cache.joinpath("pkg.stamp").write_text("made-from-other-sources\n")
    folder = tmp_path / "art"
    folder.mkdir()
    (folder / "m-tflite-fp32.tflite").write_bytes(b"TFL3")
    (folder / "m-tflite-fp32.json").write_text(json.dumps(
        {"model": "m", "format": "tflite", "precision": "fp32", "files": {}}))
    r = _bench(folder, tmp_path / "out", env=dict(os.environ, EDGECOLOR_ARM_CACHE=str(lay.cache)))
    assert r.returncode == 1, r.stdout + r.stderr
    row = json.loads((tmp_path / "out" / "report.json").read_text())["rows"][0]
    assert "older than this checkout" in row["error"] and "emulate setup" in row["error"]
    assert "--install" in row["error"] and "\n" not in row["error"]
