"""The emulated board is what it claims: aarch64, no TensorFlow, a Pi's CPU, its runtimes."""

from __future__ import annotations

import importlib
import importlib.util
import platform
import sys
from pathlib import Path

import pytest
from conftest import emulated_machine


def test_runs_on_aarch64():
    assert platform.machine() == "aarch64"
    assert sys.maxsize > 2**32


def test_device_side_never_imports_tensorflow():
    assert importlib.util.find_spec("tensorflow") is None, "TensorFlow must not be on a board"
    for module in ("edgecolor.runtimes.tflite", "edgecolor.runtimes.onnxruntime",
                   "edgecolor.runtimes.openvino", "edgecolor.devices", "edgecolor.pipeline",
                   "edgecolor.formats", "edgecolor.manifest", "edgecolor.bench.measure",
                   "edgecolor.cli.bench", "edgecolor.devices.emulate.agreement"):
        importlib.import_module(module)
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules


def test_board_is_detected_from_its_own_files():
    """``--target auto`` on the emulated board finds its profile from /proc and the device
    tree (the lane does not force EDGECOLOR_DEVICE)."""
    from edgecolor.devices import detect, load_profile

    found = detect()
    expected = emulated_machine()
    if expected is None:
        assert found.profile is not None, found.reason
        return
    assert found.profile == expected, found.reason
    assert found.machine == "aarch64"
    assert found.cpu.lower() == load_profile(expected).cpu.lower()


def test_runtimes_load_on_this_cpu():
    """ONNX Runtime and LiteRT crash at import / allocate on qemu's default cpuinfo; OpenVINO
    must see the board's CPU (no fp16 arithmetic on a Cortex-A72)."""
    import onnxruntime as ort
    import openvino as ov

    assert "CPUExecutionProvider" in ort.get_available_providers()
    caps = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    assert "FP32" in caps
    features = Path("/proc/cpuinfo").read_text()
    if emulated_machine() == "rpi4":
        assert "asimdhp" not in features and "FP16" not in caps, caps
    if emulated_machine() == "rpi5":
        assert "asimddp" in features


def test_bundled_photos_decode_as_on_the_host(artifact_folder):
    """JPEG decoding and Lab on this board give the L planes the host stored (the same
    photos feed the host and the board)."""
    import numpy as np

    from edgecolor.color import GrayImage
    from edgecolor.devices.emulate.agreement import Reference, ref_path
    from edgecolor.imageio import read_image
    from edgecolor.manifest import find_artifacts
    from edgecolor.samples import EVAL_DIR

    refs = [ref_path(a) for a in find_artifacts(artifact_folder) if ref_path(a).is_file()]
    if not refs:
        pytest.fail(f"{artifact_folder}: no reference .npz (run the host step first)")
    ref = Reference.load(refs[0])
    for name, l_host in zip(ref.names, ref.l, strict=True):
        photo = EVAL_DIR / name
        if not photo.is_file():
            pytest.skip(f"references made on photos other than the bundled ones ({name})")
        l_here = GrayImage.from_array(read_image(photo)).l
        assert np.max(np.abs(l_here - l_host)) < 1e-3, name
