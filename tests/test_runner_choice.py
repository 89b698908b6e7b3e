"""The artifact's target profile chooses its runner (Jetson: TensorRT before ONNX Runtime).

TensorRT cannot be installed here (no NVIDIA GPU, no TensorRT wheel for this machine), so the
Jetson case runs on ONNX Runtime and the test checks that the choice says TensorRT was
preferred and missing; the order itself is checked directly.
"""

from __future__ import annotations

import pytest

from edgecolor.runtimes.base import runner_order

pytestmark = pytest.mark.slow


def test_profile_order_puts_tensorrt_first_for_jetson():
    from edgecolor.devices import load_profile

    jetson = {"target": load_profile("jetson-orin-nano").to_dict()}
    order, source = runner_order(("onnxruntime", "tensorrt"), jetson)
    assert order == ("tensorrt", "onnxruntime")
    assert "jetson-orin-nano" in source
    x86 = {"target": load_profile("x86-cpu").to_dict()}
    assert runner_order(("onnxruntime", "tensorrt"), x86)[0] == ("onnxruntime", "tensorrt")
    # a manifest without a target keeps the format table's order
    assert runner_order(("onnxruntime", "tensorrt"), {})[0] == ("onnxruntime", "tensorrt")


def test_jetson_artifact_says_which_runner_ran_and_why(tmp_path):
    from edgecolor.converters.run import convert_all
    from edgecolor.runtimes import load_runner
    from edgecolor.runtimes.tensorrt import TensorRTRunner

    if TensorRTRunner.available():
        pytest.skip("TensorRT is installed: the fallback this test checks does not happen")
    results = convert_all("baseline", target="jetson-orin-nano", formats=["onnx"],
                          precisions=["fp32"], imgsz=64, out_dir=tmp_path)
    runner = load_runner(results[0].path)
    assert runner.name == "onnxruntime"
    assert runner.choice.tried == ("tensorrt",)
    assert "jetson-orin-nano" in runner.choice.reason and "tensorrt" in runner.choice.reason
    forced = load_runner(results[0].path, runner="onnxruntime")
    assert forced.choice.tried == () and "--runner" in forced.choice.reason
