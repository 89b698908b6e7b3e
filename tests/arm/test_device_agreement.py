"""Every artifact gives on this board what it gave on the x86 host (see
edgecolor.devices.emulate.agreement for the rules), through both TFLite runtimes."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import emulated_machine, referenced_artifacts


def test_artifact_agrees_with_host(artifact, agreement_rows):
    from edgecolor.devices.emulate.agreement import check_artifact

    row = check_artifact(artifact, threads=1)
    agreement_rows.append(row.to_dict())
    assert row.images > 0
    assert row.ok, f"{artifact.name}: " + "; ".join(row.problems)


def test_every_profile_artifact_was_checked(artifact_folder):
    """The folder holds the board's whole artifact set (when made for a profile)."""
    from edgecolor.devices import load_profile
    from edgecolor.formats import get_format
    from edgecolor.manifest import load_manifest

    artifacts = referenced_artifacts()
    assert artifacts, f"{artifact_folder}: no artifact with a reference"
    target = (load_manifest(artifacts[0], verify=False).get("target") or {}).get("name")
    if not target:
        pytest.skip("artifacts not made for a device profile")
    have = {(load_manifest(a, verify=False)["format"], load_manifest(a, verify=False)[
        "precision"]) for a in artifacts}
    want = set(load_profile(target).artifacts)
    missing = sorted(f"{f}:{p}" for f, p in want - have)
    assert not missing, f"no reference (conversion failed on the host?) for: {missing}"
    assert all(get_format(f) for f, _ in have)


def test_tflite_runtime_agrees_with_host(artifact_folder, agreement_rows, tmp_path):
    """The legacy tflite-runtime 2.14 (numpy < 2, no ai-edge-litert on the path) runs every
    TFLite artifact like the host did. Needs the lane's python wrapper (it switches paths)."""
    tflite = [a for a in referenced_artifacts() if a.suffix == ".tflite"]
    if not tflite:
        pytest.skip("no TFLite artifact in the folder")
    if emulated_machine() is None:
        pytest.skip("a real board has one TFLite runtime installed: run the lane for both")
    from edgecolor.devices.emulate.agreement import Reference, ref_path

    if not any("output_tflite_runtime" in Reference.load(ref_path(a)).outputs for a in tflite):
        pytest.skip("the references hold no x86 tflite-runtime outputs (made with "
                    "--no-tflite-runtime, or no tflite-runtime wheel for the host's Python)")
    out = tmp_path / "rows.json"
    env = dict(os.environ, EDGECOLOR_ARM_TFLITE_RUNTIME="1")
    proc = subprocess.run(
        [sys.executable, "-m", "edgecolor.devices.emulate", "check", str(artifact_folder),
         "--format", "tflite", "--json", str(out)],
        capture_output=True, text=True, env=env, timeout=1800)
    assert out.is_file(), proc.stdout + proc.stderr
    rows = json.loads(out.read_text())
    agreement_rows.extend(rows)
    assert len(rows) == len(tflite)
    assert all(r["backend"].startswith("tflite_runtime 2.14") for r in rows), [
        r["backend"] for r in rows]
    bad = [f"{r['artifact']}: {'; '.join(r['problems'])}" for r in rows if not r["ok"]]
    assert not bad and proc.returncode == 0, bad or proc.stderr[-2000:]
