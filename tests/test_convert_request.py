"""ConvertRequest: one typed request, validated in the library (no TensorFlow needed)."""

from __future__ import annotations

import pytest

from edgecolor.converters.request import ConvertRequest, ConvertRequestError
from edgecolor.converters.run import convert_all


def test_resolve_once_gives_profile_rows_and_explicit_formats():
    req = ConvertRequest("baseline", "x86-cpu", formats=["tflite"], precisions=["fp32"])
    assert req.resolve() is req
    profile = req.profile
    assert profile.name == "x86-cpu"
    assert req.rows == [("tflite", "fp32")] and req.explicit == {"tflite"}
    assert req.resolve().profile is profile  # resolved once, not again


def test_convert_all_unknown_keyword_is_a_one_line_request_error():
    with pytest.raises(ConvertRequestError, match=r"unknown convert option\(s\) opsett") as e:
        convert_all("baseline", "x86-cpu", opsett=13)
    assert "\n" not in str(e.value) and "opset" in str(e.value).split("valid:")[1]


def test_python_caller_gets_the_cli_option_rules():
    # --opset only applies to onnx: a Python caller is refused the same way as the CLI
    with pytest.raises(ConvertRequestError, match="--opset does not apply to tflite; drop it"):
        convert_all("baseline", "x86-cpu", formats=["tflite"], opset=13)
    with pytest.raises(ConvertRequestError, match="unknown calibration method 'median'"):
        ConvertRequest("baseline", "x86-cpu", calib_method="median").resolve()
    with pytest.raises(ConvertRequestError, match="calib_size 0"):
        ConvertRequest("baseline", "x86-cpu", calib_size=0).resolve()
    with pytest.raises(ConvertRequestError, match="unknown format 'tfjs'"):
        ConvertRequest("baseline", "x86-cpu", formats=["tfjs"]).resolve()
    # onnx takes --opset: accepted
    assert ConvertRequest("baseline", "x86-cpu", formats=["onnx"], opset=13).resolve().rows


def _cli(*args):
    from click.testing import CliRunner

    from edgecolor.cli import cli

    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.mark.parametrize("verb", ["convert", "benchmark"])
@pytest.mark.parametrize("args,message", [
    # --calib-size 0 (= all) parses in both; the bad target is then the one error
    (["--calib-size", "0", "--target", "pi9"], "unknown target 'pi9'"),
    (["--calib-size", "-1"], "--calib-size"),
    (["--max-de", "-1"], "--max-de"),
    (["--max-dpsnr", "-0.5"], "--max-dpsnr"),
    (["--min-psnr-fp32", "-3"], "--min-psnr-fp32"),
    (["--calib-method", "median"], "--calib-method"),
    (["--model", "eccv16", "--option", "head=softmax"], "unknown head 'softmax'"),
    (["--option", "width"], "expected KEY=VALUE"),
])
def test_convert_and_benchmark_share_the_conversion_option_rules(tmp_path, verb, args,
                                                                 message):
    out = tmp_path / "out"
    result = _cli(verb, "-o", out, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output, result.output
    assert not out.exists()


def test_bench_job_device_defaults_to_the_runners_own():
    from edgecolor.bench.job import BenchJob

    job = BenchJob.from_dict({"kind": "artifact", "e2e_image": "a.png", "runs": 3, "warmup": 1})
    assert job.device is None and job.to_dict()["device"] is None
    assert BenchJob.from_dict({**job.to_dict(), "device": "GPU"}).device == "GPU"
