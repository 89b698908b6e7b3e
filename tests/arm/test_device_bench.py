"""``edgecolor bench`` on the emulated board: it runs, detects the board and marks the report
as emulated (its timings mean nothing there)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from conftest import emulated_machine, referenced_artifacts


def test_bench_report_is_flagged_emulated(tmp_path):
    from edgecolor.formats import format_of_path
    from edgecolor.manifest import manifest_path
    from edgecolor.samples import sample_images

    # the two smallest TFLite artifacts keep this short (each is measured in its own process)
    picked = [a for a in referenced_artifacts() if a.name.endswith(("-fp32.tflite",
                                                                    "-int8.tflite"))]
    if not picked:
        pytest.skip("no TFLite fp32/int8 artifact in the folder")
    folder = tmp_path / "artifacts"
    folder.mkdir()
    for a in picked:
        for f in [a, manifest_path(a)] + [a.with_suffix(s) for s in format_of_path(a).sidecars]:
            shutil.copy2(f, folder / f.name)
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "edgecolor", "bench", str(folder), "-o", str(out),
         "--images", str(sample_images("eval")[0]), "--runs", "2", "--warmup", "1",
         "--threads", "1", "--reference", "artifact"],
        capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    ctx = report["context"]
    assert ctx["machine"] == "aarch64"
    assert [r["status"] for r in report["rows"]] == ["ok"] * len(picked)
    assert all(r["ait_ms"] > 0 for r in report["rows"])
    machine = emulated_machine()
    if machine:
        assert ctx["emulated"] is True, ctx.get("emulation_reason")
        assert (ctx["device_profile"] or {}).get("name") == machine
        assert "EMULATED" in (out / "report.md").read_text()
