"""`edgecolor convert` and `info`: artifact sets, manifests, failures that stop nothing else."""

from __future__ import annotations

import importlib.util
import json

import pytest
from click.testing import CliRunner

from edgecolor.cli import cli

pytestmark = pytest.mark.slow


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def converted(colorful_baseline64, calib_dir, tmp_path_factory):
    """rpi4's TFLite + OpenVINO fp32/int8 artifacts at 64x64, made through the CLI."""
    _, _, weights = colorful_baseline64
    out = tmp_path_factory.mktemp("art")
    result = run("convert", "--model", "baseline", "--weights", weights, "--target", "rpi4",
                 "--calib", calib_dir, "--format", "tflite", "--format", "openvino",
                 "--precision", "fp32", "--precision", "int8", "--imgsz", "64",
                 "--threads", "1", "-o", out)
    return result, out


def test_convert_produces_the_filtered_set_with_a_summary(converted):
    result, out = converted
    assert result.exit_code == 0, result.output
    names = ["baseline-tflite-fp32.tflite", "baseline-tflite-int8.tflite",
             "baseline-openvino-fp32.xml", "baseline-openvino-int8.xml"]
    for name in names:
        assert (out / name).is_file() and (out / name).with_suffix(".json").is_file()
        row = next(line for line in result.stdout.splitlines() if line.startswith(name))
        assert "✅" in row
    assert (out / "baseline-openvino-int8.bin").is_file()
    assert "[1/4] baseline-tflite-fp32.tflite" in result.stderr  # one progress line each
    assert "4/4 artifacts ok" in result.stdout
    assert not list(out.glob("*fp16*")) and not list(out.glob("*.onnx"))


def test_manifest_fields(converted, calib_dir):
    _, out = converted
    m = json.loads((out / "baseline-tflite-int8.json").read_text())
    assert m["model"] == "baseline" and m["format"] == "tflite" and m["precision"] == "int8"
    assert m["spec"]["inputs"][0]["size"] == [64, 64] and m["layout"] == "NHWC"
    assert m["inputs"][0]["dtype"] == "int8" and m["inputs"][0]["quant"]["scale"] > 0
    cal = m["calibration"]
    assert cal["size"] == 5 and cal["holdout"] == 1 and len(cal["digest"]) == 64
    assert cal["folder"] == str(calib_dir) and cal["method"] == "quantile"  # the default
    assert {"tensorflow", "openvino", "ai-edge-litert"} <= set(m["versions"])
    assert m["host"]["machine"] and m["created"][:2] == "20"
    assert m["target"]["name"] == "rpi4" and m["weights"].endswith(".weights.h5")
    assert set(m["files"]) == {"baseline-tflite-int8.tflite"}
    qc = m["quick_check"]
    assert qc["ok"] and qc["images"] == 1 and qc["psnr_db"] >= 30
    fp32 = json.loads((out / "baseline-openvino-fp32.json").read_text())
    assert fp32["calibration"] is None and fp32["quick_check"]["max_abs_err"] <= 1e-3
    assert set(fp32["files"]) == {"baseline-openvino-fp32.xml", "baseline-openvino-fp32.bin"}


def test_info_shows_the_manifest_and_refuses_tampering(converted, tmp_path):
    import shutil

    from edgecolor.manifest import ManifestError
    from edgecolor.runtimes import load_runner

    _, out = converted
    result = run("info", out / "baseline-tflite-int8.tflite")
    assert result.exit_code == 0, result.output
    for text in ("(tflite, int8)", "int8  scale=", "5 images from", "quick check", "✅"):
        assert text in result.output
    for name in ("baseline-openvino-int8.xml", "baseline-openvino-int8.bin",
                 "baseline-openvino-int8.json"):
        shutil.copy(out / name, tmp_path / name)
    bin_path = tmp_path / "baseline-openvino-int8.bin"
    data = bytearray(bin_path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bin_path.write_bytes(bytes(data))
    result = run("info", tmp_path / "baseline-openvino-int8.xml")
    assert result.exit_code == 1 and "does not match the manifest" in result.output
    with pytest.raises(ManifestError, match="baseline-openvino-int8.bin.*re-run"):
        load_runner(tmp_path / "baseline-openvino-int8.xml")
    (tmp_path / "baseline-openvino-int8.json").unlink()
    result = run("info", tmp_path / "baseline-openvino-int8.xml")
    assert result.exit_code == 2 and "manifest missing" in result.output


def test_a_failing_artifact_does_not_stop_the_others(colorful_baseline64, calib_dir, tmp_path):
    _, _, weights = colorful_baseline64
    (tmp_path / "baseline-tflite-fp16.tflite").mkdir()  # a folder where the file must go
    result = run("convert", "--weights", weights, "--target", "x86-cpu", "--calib", calib_dir,
                 "--format", "tflite", "--precision", "fp16", "--precision", "fp32",
                 "--imgsz", "64", "-o", tmp_path)
    assert result.exit_code == 1, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()
            if line.startswith("baseline-")}
    assert "❌" in rows["baseline-tflite-fp16.tflite"]
    assert "IsADirectoryError" in rows["baseline-tflite-fp16.tflite"]
    assert "✅" in rows["baseline-tflite-fp32.tflite"]
    assert (tmp_path / "baseline-tflite-fp32.tflite").is_file()
    assert not (tmp_path / "baseline-tflite-fp16.json").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("args,message", [
    (["--target", "pi9"], "unknown target 'pi9'"),
    (["--model", "nosuch"], "unknown model 'nosuch'"),
    (["--format", "coreml"], "unknown format 'coreml'"),
    (["--precision", "int4"], "unknown precision 'int4'"),
    (["--format", "tflite", "--opset", "13"], "--opset does not apply to tflite"),
    (["--calib", "/nonexistent/photos"], "calibration folder not found"),
    (["--format", "openvino", "--calib-method", "entropy"], "openvino cannot calibrate"),
    (["--target", "jetson-nano", "--format", "openvino"], "has no artifact matching"),
    (["--model", "eccv16", "--option", "head=softmax"], "unknown head 'softmax'"),
])
def test_bad_requests_exit_2_with_one_line(tmp_path, args, message):
    out = tmp_path / "out"
    result = run("convert", "--target", "x86-cpu", "--imgsz", "64", "-o", out, *args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], result.output
    assert not out.exists()


def test_convert_all_falls_back_to_minmax_where_a_method_is_missing(colorful_baseline64,
                                                                    calib_dir, tmp_path):
    from edgecolor.converters.run import convert_all

    _, _, weights = colorful_baseline64
    profile = tmp_path / "tiny.toml"
    profile.write_text('name = "tiny"\narch = "x86_64"\nruntimes = ["tflite"]\n'
                       'artifacts = ["tflite:int8"]\ninput_size = 64\n')
    (res,) = convert_all("baseline", str(profile), calib=calib_dir, calib_method="percentile",
                         out_dir=tmp_path / "out", weights=weights, threads=1)
    assert res.ok and res.psnr_db >= 30 and res.check_images == 1 and res.size_mb > 0
    assert any("used minmax" in n for n in res.notes)
    manifest = json.loads((tmp_path / "out/baseline-tflite-int8.json").read_text())
    assert manifest["calibration"]["method"] == "minmax"


@pytest.mark.skipif(importlib.util.find_spec("edgecolor.converters.trt_check") is None,
                    reason="the ONNX half's TensorRT readiness checker is not installed")
def test_jetson_target_shows_the_tensorrt_verdict(colorful_baseline64, calib_dir, tmp_path):
    _, _, weights = colorful_baseline64
    result = run("convert", "--weights", weights, "--target", "jetson-orin-nano",
                 "--calib", calib_dir, "--format", "onnx", "--precision", "fp32",
                 "--imgsz", "64", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert "TensorRT check baseline-onnx-fp32.onnx:" in result.stdout


def test_the_default_calibration_is_quantile_where_a_row_has_it():
    from edgecolor.converters.request import ConvertRequest
    from edgecolor.formats import get_format

    tflite, onnx, openvino = (get_format(f) for f in ("tflite", "onnx", "openvino"))
    assert [tflite.default_method("int8"), onnx.default_method("int8-cpu"),
            onnx.default_method("int8"), openvino.default_method("int8")] == ["quantile"] * 4
    assert tflite.default_method("int16x8") == "minmax"  # TFLite's 16x8 takes min/max only
    # no method asked for: nothing to refuse, even where a row has no quantile
    req = ConvertRequest("baseline", "rpi4", formats=["tflite"], precisions=["int16x8"])
    assert req.resolve().calib_method is None
