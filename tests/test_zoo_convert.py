"""Every zoo model, at a small size, through every format: tflite, openvino and onnx, each in
fp32 and int8, with the real converters (``converters/run.py``) and runtimes. FP32 artifacts
must reproduce the Keras output within 1e-3; int8 ones must pass convert_all's quick check
(colorized PSNR vs FP32 >= 30 dB on held-out images).

``convert_all`` takes only ``width`` as a model option, so koalarization (whose small instance
also needs the tiny backbone) goes through the same converter functions, manifest writer and
runner loader directly.
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
}
KOALA_SMALL = dict(input_size=64, width=0.25, backbone="tiny", backbone_size=64)


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
def test_koalarization_converts_to_every_format(tmp_path, calib_dir):
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.formats import get_format
    from edgecolor.manifest import write_manifest
    from edgecolor.runtimes import load_runner
    from edgecolor.runtimes.keras import KerasRunner
    from edgecolor.zoo import create_model

    model, spec = create_model("koalarization", weights=None, batch_size=1, **KOALA_SMALL)
    cs = CalibrationSet.from_folder(calib_dir, spec, size=4)
    reference = KerasRunner.from_model(model, spec)
    failures = []
    for fmt_name, precision in ROWS:
        fmt = get_format(fmt_name)
        path = tmp_path / fmt.artifact_name("koalarization", precision)
        options = ConvertOptions(calib=cs if precision in fmt.calibrated else None, threads=2)
        try:
            fields = fmt.load_converter()(model, spec, precision, path, options)
            write_manifest(path, {"model": "koalarization", "spec": spec.to_dict(),
                                  "format": fmt_name, "precision": precision,
                                  "layout": spec.layout, **fields})
            with load_runner(path) as runner:
                for inputs in cs.holdout:
                    y, ref = runner.infer(inputs), reference.infer(inputs)
                    assert y.shape == ref.shape
                    err = float(np.max(np.abs(y - ref)))
                    # int8: ab within 4 (of +-128) on average; fp32: exact within 1e-3
                    limit = FP32_TOL if precision == "fp32" else 4.0 / 128
                    stat = err if precision == "fp32" else float(np.mean(np.abs(y - ref)))
                    if stat > limit:
                        failures.append(f"{fmt_name} {precision}: error {stat:.2g} > {limit:g}")
        except Exception as e:  # record every row, then fail with all of them
            failures.append(f"{fmt_name} {precision}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}")
    assert not failures, "\n".join(failures)


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
