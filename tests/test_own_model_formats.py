"""A foreign colorizer through every format: PyTorch-style ONNX (U-Net ab and 313-bin heads)
and a Keras functional model (.keras and SavedModel, L/100 in, ab/128 out).

The ONNX graphs are written with onnx.helper (edgecolor.sources.foreign: Conv+BatchNorm,
Slice step 2, ConvTranspose 4x4 s2 p1, skip Adds, bilinear Resize x4, Tanh x 110, dynamic
batch/H/W); every artifact's quick check is against ONNX Runtime on the source graph (Keras
for Keras sources). Random weights: these check conversion fidelity, not color quality.
"""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest
from click.testing import CliRunner

from edgecolor.cli import cli
from edgecolor.devices import resolve_profile
from edgecolor.manifest import sha256_file
from edgecolor.sources.foreign import save, unet_colorizer

NEEDS = ("onnxruntime", "openvino", "onnx2tf", "tensorflow", "nncf")
pytestmark = pytest.mark.skipif(
    any(importlib.util.find_spec(m) is None for m in NEEDS),
    reason="needs the convert extra (" + ", ".join(NEEDS) + ")")


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _convert(model, target, out, *extra):
    r = run("convert", "--model", model, "--target", target, "--imgsz", "64",
            "--calib-size", "20", "-o", out, *extra)
    return r


def _manifests(out):
    return {p.name: json.loads(p.read_text()) for p in sorted(out.glob("*.json"))}


@pytest.fixture(scope="module")
def unet(tmp_path_factory):
    d = tmp_path_factory.mktemp("own-unet")
    return save(unet_colorizer(8), d / "my_colorizer.onnx")


@pytest.fixture(scope="module")
def unet_x86(unet, tmp_path_factory):
    out = tmp_path_factory.mktemp("own-unet-x86") / "art"
    return _convert(unet, "x86-cpu", out), out


def _every_row_ok(result, out, target, stem, source_path):
    r = result
    assert r.exit_code == 0, r.output
    rows = resolve_profile(target).artifacts
    manifests = _manifests(out)
    assert len(manifests) == len(rows)
    for fmt, precision in rows:
        name = next(n for n in manifests if n.startswith(f"{stem}-{fmt}-{precision}."))
        m = manifests[name]
        assert m["quick_check"]["ok"], (name, m["quick_check"])
        assert m["source"]["sha256"] == sha256_file(source_path)
        assert m["source"]["format"] == "onnx" and m["source"]["opset"] == 17
        assert m["contract"]["layout"] == "NCHW"
        if precision == "fp32":
            assert m["quick_check"]["max_abs_err"] <= 1e-3, name
        else:
            assert m["quick_check"]["psnr_db"] is None or m["quick_check"]["psnr_db"] >= 30
    return manifests


def test_unet_every_x86_format_quick_checked_against_the_source(unet_x86, unet):
    result, out = unet_x86
    manifests = _every_row_ok(result, out, "x86-cpu", "my_colorizer", unet)
    m = manifests["my_colorizer-onnx-int8-cpu.json"]
    assert any("ConvTranspose 4x4 stride 2x2 -> 4 phase convolutions" in n for n in m["notes"])
    assert manifests["my_colorizer-tflite-int8.json"]["tensor_layout"] == "NHWC"
    assert "contract (inferred): L raw (NCHW) -> ab lab" in result.output


def test_unet_rpi4_set(unet, tmp_path):
    out = tmp_path / "art"
    _every_row_ok(_convert(unet, "rpi4", out), out, "rpi4", "my_colorizer", unet)


def test_bins_head_every_x86_format(tmp_path):
    path = save(unet_colorizer(8, head="bins", seed=1), tmp_path / "my_bins.onnx")
    out = tmp_path / "art"
    manifests = _every_row_ok(_convert(path, "x86-cpu", out), out, "x86-cpu", "my_bins", path)
    assert manifests["my_bins-onnx-fp32.json"]["spec"]["output"]["kind"] == "ab_bins"


def _png_inputs(tmp_path):
    from edgecolor.imageio import read_image, write_image
    from edgecolor.samples import sample_images

    d = tmp_path / "photos"
    d.mkdir()
    for p in sample_images("eval")[:2]:
        write_image(d / f"{p.stem}.png", read_image(p))
    return d


def test_api_equals_colorize_cli_byte_for_byte(unet_x86, tmp_path):
    import edgecolor
    from edgecolor.imageio import write_image

    _, out = unet_x86
    photos = _png_inputs(tmp_path)
    for artifact in ("my_colorizer-openvino-int8.xml", "my_colorizer-tflite-int8.tflite",
                     "my_colorizer-onnx-int8-cpu.onnx"):
        cli_out = tmp_path / f"cli-{artifact}"
        r = run("colorize", photos, "-o", cli_out, "--artifact", out / artifact)
        assert r.exit_code == 0, r.output
        model = edgecolor.load(out / artifact)
        assert model.contract.input_scaling == "raw" and model.manifest["source"]
        files = sorted(photos.iterdir())
        batch = model.colorize(files)
        for f, rgb in zip(files, batch, strict=True):
            api_file = tmp_path / f"api-{f.name}"
            write_image(api_file, rgb)
            assert api_file.read_bytes() == (cli_out / f.name).read_bytes(), (artifact, f)
            assert rgb.shape[:2] == model.colorize(str(f)).shape[:2]  # full resolution
        model.close()


def test_float_layer_by_onnx_node_name_stays_float(unet, tmp_path):
    """An ONNX node name round-trips to the layers kept in float (ONNX Runtime and NNCF)."""
    import onnx

    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters import onnx as onnx_conv
    from edgecolor.converters import openvino as ov_conv
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.samples import CALIB_DIR
    from edgecolor.sources import load_source

    src = load_source(unet, imgsz=64)
    cs = CalibrationSet.from_folder(CALIB_DIR, src.spec, size=None)
    broken = "/model9/model9/0/Conv"
    assert broken in {n.name for n in src.simplified().graph.node}
    opts = ConvertOptions(calib=cs, extra={"float_layers": [broken]})
    plain = ConvertOptions(calib=cs)

    def conv_weight_is_int8(path):
        g = onnx.load(path).graph
        producers = {o: n for n in g.node for o in n.output}
        conv = next(n for n in g.node if n.name == broken)
        w = producers.get(conv.input[1])
        return w is not None and w.op_type == "DequantizeLinear"

    for precision in ("int8", "int8-cpu"):
        for o, want in ((plain, True), (opts, False)):
            path = tmp_path / f"m-{precision}-{want}.onnx"
            onnx_conv.convert(src, src.spec, precision, path, o)
            assert conv_weight_is_int8(path) is want, (precision, want)

    import openvino as ov

    def ov_conv_quantized(path):
        """NNCF's int8 convolution: an int8 weight Constant behind Convert/Multiply."""
        model = ov.Core().read_model(str(path))
        conv = next(op for op in model.get_ops() if op.get_type_name() == "Convolution"
                    and op.get_friendly_name().startswith(f"{broken}/"))
        node = conv.input_value(1).get_node()
        while node.get_input_size():
            node = node.input_value(0).get_node()
        return node.get_output_element_type(0) == ov.Type.i8

    for o, want in ((plain, True), (opts, False)):
        path = tmp_path / f"m-ov-{want}.xml"
        ov_conv.convert(src, src.spec, "int8", path, o)
        assert ov_conv_quantized(path) is want, want


@pytest.fixture(scope="module")
def keras_sources(tmp_path_factory):
    """A Keras functional colorizer (L/100 in, tanh ab/128 out) as .keras and SavedModel."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    keras.utils.set_random_seed(0)
    inp = keras.Input((None, None, 1), name="l")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inp)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.UpSampling2D()(x)
    y = keras.layers.Conv2D(2, 3, padding="same", activation="tanh", name="ab")(x)
    model = keras.Model(inp, y)
    d = tmp_path_factory.mktemp("own-keras")
    model.save(d / "my_keras.keras")
    model.export(str(d / "my_saved"), verbose=False)
    return d / "my_keras.keras", d / "my_saved", model


@pytest.mark.parametrize("kind", ["keras", "savedmodel"])
def test_keras_and_savedmodel_sources(kind, keras_sources, tmp_path):
    keras_path, saved, model = keras_sources
    path = keras_path if kind == "keras" else saved
    out = tmp_path / "art"
    r = _convert(path, "x86-cpu", out, "--io", "keras-l100-ab128", "--precision", "fp32",
                 "--precision", "int8", "--no-budget")
    assert r.exit_code == 0, r.output
    manifests = _manifests(out)
    assert len(manifests) == 3 * 2
    for name, m in manifests.items():
        assert m["quick_check"]["ok"], name
        assert m["source"]["format"] == kind
        assert m["contract"]["input_scaling"] == "l/100"
        assert m["contract"]["output_scaling"] == "x128"
    # the artifact reproduces the Keras model on the contract's own input (L/100)
    import edgecolor

    art = edgecolor.load(next(out.glob("*-onnx-fp32.onnx")))
    l_full = np.linspace(0, 100, 64 * 64, dtype=np.float32).reshape(64, 64)
    xs = art.spec.make_inputs(l_full)
    assert np.allclose(xs[0], l_full[None, :, :, None] / 100, atol=1e-5)
    want = np.asarray(model(xs[0]))
    assert np.allclose(art.runner.infer(xs), want, atol=1e-4)


def test_keras_without_io_is_refused_naming_io(keras_sources, tmp_path):
    r = run("convert", "--model", keras_sources[0], "--imgsz", "64", "-o", tmp_path / "a")
    assert r.exit_code == 2
    assert "Tanh" in r.output and "--io" in r.output
    assert not (tmp_path / "a").exists()


def test_keras_lambda_is_refused_and_never_runs(tmp_path):
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    marker = tmp_path / "lambda-ran"
    inp = keras.Input((None, None, 1))
    y = keras.layers.Conv2D(2, 3, padding="same", activation="tanh")(inp)
    ran = str(marker)
    y = keras.layers.Lambda(lambda t: (open(ran, "w").close(), t)[1])(y)  # noqa: SIM115
    path = tmp_path / "lambda.keras"
    keras.Model(inp, y).save(path)
    if marker.exists():  # building the model ran it here, in the test
        os.remove(marker)
    out = tmp_path / "art"
    r = run("convert", "--model", path, "--io", "keras-l100-ab128", "--imgsz", "64", "-o",
            out)
    assert r.exit_code == 2
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Lambda" in lines[0] and "safe_mode=True" in lines[0]
    assert not marker.exists()  # the lambda's code never ran
    assert not out.exists()


def test_bench_reference_auto_is_the_source(unet_x86, tmp_path):
    import shutil

    _, out = unet_x86
    folder = tmp_path / "two"
    folder.mkdir()
    for name in ("my_colorizer-onnx-fp32", "my_colorizer-onnx-int8-cpu"):
        for suffix in (".onnx", ".json"):
            shutil.copy(out / f"{name}{suffix}", folder / f"{name}{suffix}")
    r = run("bench", folder, "-o", tmp_path / "report", "--runs", "3", "--warmup", "1")
    assert r.exit_code == 0, r.output
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    ref = report["references"][0]
    assert ref["kind"] == "source" and "FP32 source my_colorizer.onnx" in ref["source"]
    assert ref["row"]["artifact"] == "my_colorizer.onnx (FP32 source reference)"
    assert ref["row"]["runner"] == "onnxruntime"
    rows = {row["artifact"]: row for row in report["rows"]}
    assert rows["my_colorizer-onnx-fp32.onnx"]["psnr_vs_fp32_db"] >= 60  # the source itself
    assert 30 <= rows["my_colorizer-onnx-int8-cpu.onnx"]["psnr_vs_fp32_db"] < 100


def test_camera_runs_the_source_and_an_artifact(unet, unet_x86, tmp_path):
    import cv2

    from edgecolor.imageio import read_rgb
    from edgecolor.samples import sample_images

    clip = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (96, 64))
    img = cv2.resize(read_rgb(sample_images("eval")[0])[..., ::-1], (96, 64))
    for i in range(8):
        writer.write(np.ascontiguousarray(np.roll(img, 4 * i, axis=1)))
    writer.release()
    _, out = unet_x86
    for how in (["--model", unet, "--imgsz", "64"],
                ["--artifact", out / "my_colorizer-openvino-int8.xml"]):
        r = run("camera", *how, "--source", clip, "--benchmark", "5")
        assert r.exit_code == 0, r.output
        assert "Dropped" in r.output
