"""Every zoo model, at a small size, through every format: tflite, openvino and onnx, each in
fp32 and int8, with the real converters (``converters/run.py``) and runtimes. FP32 artifacts
must reproduce the Keras output within 1e-3; int8 ones must pass convert_all's quick check
(colorized PSNR vs FP32 >= 30 dB on held-out images).

Builder options reach ``convert_all`` as ``model_kw`` (koalarization's small instance needs
the tiny backbone; eccv16 can ship its 313-bin head for decoding on the host).
"""

from __future__ import annotations

import numpy as np
import pytest

ROWS = [(f, p) for f in ("tflite", "openvino", "onnx") for p in ("fp32", "int8")]
FP32_TOL = 1e-3
# (convert_all keywords) per model; small instances as in tests/test_zoo.py
VIA_CONVERT_ALL = {
    "eccv16": dict(imgsz=32, width=0.125),
    "pix2pix-mobilenetv2-lab": dict(imgsz=64, width=0.35),
    "pix2pix-mobilenetv2-rgb": dict(imgsz=64, width=0.35),
    "pix2pix-densenet121-lab": dict(imgsz=64, width=0.1),
    "pix2pix-densenet121-rgb": dict(imgsz=64, width=0.1),
    # two inputs (L at 64 and gray RGB at 64 for the stand-in backbone), no special case
    "koalarization": dict(imgsz=64, width=0.25,
                          model_kw={"backbone": "tiny", "backbone_size": 64}),
}


def _table(name: str, results) -> str:
    lines = [f"{name}:"]
    for r in results:
        mark = "ok" if r.ok else "FAILED"
        err = "-" if r.max_abs_err is None else f"{r.max_abs_err:.1e}"
        lines.append(f"  {r.format:<9}{r.precision:<6}{mark:<7} max|err| {err:<8} "
                     f"{r.error or ''}")
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VIA_CONVERT_ALL))
def test_model_converts_to_every_format(name, tmp_path, calib_dir):
    from edgecolor.converters.run import convert_all

    results = convert_all(name, "x86-cpu", formats=["tflite", "openvino", "onnx"],
                          precisions=["fp32", "int8"], calib=calib_dir, calib_size=4,
                          out_dir=tmp_path, weights=None, threads=2, **VIA_CONVERT_ALL[name])
    report = _table(name, results)
    assert [(r.format, r.precision) for r in results] == ROWS, report
    assert all(r.ok for r in results), report
    for r in results:
        assert r.check_images >= 1, report
        if r.precision == "fp32":
            assert r.max_abs_err < FP32_TOL, report


@pytest.mark.slow
def test_eccv16_bins_head_ships_the_distribution_and_the_host_decodes_it(tmp_path, calib_dir):
    """``convert --option head=bins``: the artifact outputs the 313-bin softmax; the runner's
    spec decodes it on the host (annealed mean, T = 0.38) to the ab the in-graph head gives.
    The weights file is an "ab"-head one, as training and import-caffe write it."""
    from edgecolor.converters.run import convert_all
    from edgecolor.manifest import load_manifest
    from edgecolor.runtimes import load_runner
    from edgecolor.runtimes.keras import KerasRunner
    from edgecolor.zoo import create_model

    ab_model, ab_spec = create_model("eccv16", input_size=32, width=0.125, weights=None,
                                     batch_size=1)
    weights = tmp_path / "eccv16.weights.h5"
    ab_model.save_weights(weights)
    results = convert_all("eccv16", "x86-cpu", formats=["tflite", "openvino", "onnx"],
                          precisions=["fp32"], calib=calib_dir, out_dir=tmp_path / "art",
                          weights=weights, imgsz=32, width=0.125, threads=2,
                          model_kw={"head": "bins", "temperature": 0.38})
    assert all(r.ok for r in results), _table("eccv16 bins", results)
    x = [np.random.default_rng(1).uniform(-50, 50, (1, 32, 32, 1)).astype(np.float32)]
    in_graph = KerasRunner.from_model(ab_model, ab_spec).infer(x)
    assert [r.path.name for r in results] == ["eccv16-bins-tflite-fp32.tflite",
                                              "eccv16-bins-openvino-fp32.xml",
                                              "eccv16-bins-onnx-fp32.onnx"]
    for r in results:
        manifest = load_manifest(r.path)
        assert manifest["model_options"]["head"] == "bins"
        assert manifest["spec"]["output"]["kind"] == "ab_bins"
        with load_runner(r.path) as runner:
            p = runner.infer(x)
            assert p.shape[-1] == 313 and np.allclose(p.sum(-1), 1.0, atol=1e-3)
            # T = 0.38 on the host vs the graph's 1/2.606 = 0.3837: well under 1 ab unit
            assert np.max(np.abs(runner.spec.decode(p) - in_graph)) < 1.0, r.name


@pytest.mark.slow
def test_opencv_dnn_runs_a_converted_fp32_onnx(tmp_path, calib_dir):
    from edgecolor.converters.run import convert_all
    from edgecolor.runtimes import load_runner

    (res,) = convert_all("eccv16", "x86-cpu", formats=["onnx"], precisions=["fp32"],
                         calib=calib_dir, out_dir=tmp_path, weights=None, imgsz=32, width=0.125)
    assert res.ok, res.error
    ort_runner, cv_runner = load_runner(res.path), load_runner(res.path, runner="opencv")
    assert cv_runner.name == "opencv"
    rng = np.random.default_rng(0)
    x = [rng.uniform(-50, 50, (1, 32, 32, 1)).astype(np.float32)]
    with ort_runner, cv_runner:
        assert np.max(np.abs(cv_runner.infer(x) - ort_runner.infer(x))) < FP32_TOL
