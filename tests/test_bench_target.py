"""`bench` takes the device profile from the artifacts' manifests (issue 15), not the host."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from edgecolor.cli.bench import resolve_profile
from edgecolor.manifest import find_artifacts, manifest_path, shared_target


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Path:
    from checks import seeded_tflite_pair

    return seeded_tflite_pair(tmp_path_factory.mktemp("target"))


def _retarget(folder: Path, names: list[str], into: Path) -> Path:
    """Copy ``folder``'s artifacts into ``into``, the i-th manifest naming target names[i]."""
    shutil.copytree(folder, into)
    for artifact, name in zip(find_artifacts(into), names, strict=True):
        m = manifest_path(artifact)
        data = json.loads(m.read_text())
        data["target"]["name"] = name
        m.write_text(json.dumps(data))
    return into


def test_the_artifacts_target_chooses_the_profile(pair, tmp_path):
    rpi4 = _retarget(pair, ["rpi4", "rpi4"], tmp_path / "rpi4")
    assert shared_target(rpi4) == "rpi4"
    threads, record = resolve_profile(None, None, rpi4)
    assert record["name"] == "rpi4"
    assert threads == min(4, os.cpu_count() or 1)  # the board's 4, capped at this host's cores
    # --profile and --threads still win over the manifests
    assert resolve_profile(None, "x86-cpu", rpi4)[1]["name"] == "x86-cpu"
    assert resolve_profile(1, None, rpi4)[0] == 1


def test_mixed_or_unreadable_targets_fall_back_to_the_host(pair, tmp_path):
    mixed = _retarget(pair, ["rpi4", "rpi5"], tmp_path / "mixed")
    assert shared_target(mixed) is None
    broken = _retarget(pair, ["rpi4", "rpi4"], tmp_path / "broken")
    manifest_path(find_artifacts(broken)[0]).write_text("{not json")
    assert shared_target(broken) is None
    empty = tmp_path / "empty"
    empty.mkdir()
    assert shared_target(empty) is None
