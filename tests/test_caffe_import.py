"""Caffe import of ECCV16: wire format, prototxt, blob mapping, and Keras == OpenCV DNN.

The fixture is the official deploy prototxt with every channel count scaled by 1/8 and a
32x32 input, and a caffemodel of random weights encoded by our own wire-format writer (like
the official release it lacks the class8_ab and conv8_313_rh blobs).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgecolor import protowire as wire
from edgecolor.zoo.caffe import (
    CaffeFormatError,
    CaffeImportError,
    CaffeLayer,
    PrototxtError,
    caffe_to_onnx,
    colorization_blobs,
    eccv16_config,
    encode_caffemodel,
    parse_caffemodel,
    parse_prototxt,
    read_caffemodel,
    read_prototxt,
    write_caffemodel,
)
from edgecolor.zoo.caffe.layers import conv_geometry
from edgecolor.zoo.caffe.prototxt import first, input_shape, net_layers

OFFICIAL = Path(__file__).parents[1] / "toolkit/zoo/data/colorization_deploy_v2.prototxt"
WIDTH, SIZE = 0.125, 32


def make_fixture(folder: Path, width: float = WIDTH, size: int = SIZE, seed: int = 0):
    """Reduced ECCV16 prototxt + random-weight caffemodel -> (prototxt path, caffemodel path)."""
    rng = np.random.default_rng(seed)

    def scaled(m):
        n = int(m.group(1))
        return f"num_output: {n if n in (313, 2) else max(1, round(n * width))}"

    text = re.sub(r"num_output: (\d+)", scaled, OFFICIAL.read_text())
    text = text.replace("dim: 224 dim: 224", f"dim: {size} dim: {size}")
    proto = folder / "fixture.prototxt"
    proto.write_text(text)
    layers, chans = [], 1
    for layer in net_layers(read_prototxt(proto)):
        name, ltype = first(layer, "name"), first(layer, "type")
        blobs = []
        if ltype in ("Convolution", "Deconvolution") and name != "class8_ab":
            g = conv_geometry(layer)
            kh, kw = g.kernel
            shape = ((chans, g.num_output, kh, kw) if ltype == "Deconvolution"
                     else (g.num_output, chans, kh, kw))
            blobs = [rng.normal(0, np.sqrt(2.0 / (chans * kh * kw)), shape),
                     rng.normal(0, 0.1, g.num_output)]
            chans = g.num_output
        elif ltype == "BatchNorm":
            s = 999.98  # Caffe's moving-average scale factor: stats are stored multiplied by it
            blobs = [rng.normal(0, 0.5, chans) * s, rng.uniform(0.5, 2.0, chans) * s, [s]]
        layers.append(CaffeLayer(name, ltype, [np.asarray(b, np.float32) for b in blobs]))
    model = folder / "fixture.caffemodel"
    write_caffemodel(model, layers, "LtoAB")
    return proto, model


@pytest.fixture(scope="module")
def fixture_files(tmp_path_factory):
    return make_fixture(tmp_path_factory.mktemp("caffe"))


@pytest.fixture(scope="module")
def l_input():
    """A real photo's L - 50 at the fixture size, NHWC."""
    from edgecolor.color import GrayImage
    from edgecolor.imageio import read_image
    from edgecolor.samples import sample_images
    from edgecolor.zoo.eccv16 import eccv16_spec

    spec = eccv16_spec((SIZE, SIZE))
    return spec.make_inputs(GrayImage.from_array(read_image(sample_images("eval")[1])).l)


@pytest.fixture(scope="module")
def imported(fixture_files):
    from edgecolor.zoo.caffe import import_caffe

    return import_caffe(*fixture_files)


# --- wire format and prototxt ---------------------------------------------------------------

def test_caffemodel_roundtrip_keeps_names_types_and_blobs(rng):
    layers = [CaffeLayer("conv", "Convolution", [rng.normal(size=(4, 2, 3, 3)).astype(np.float32),
                                                 rng.normal(size=4).astype(np.float32)]),
              CaffeLayer("relu", "ReLU", []),
              CaffeLayer("bn", "BatchNorm", [np.ones(4, np.float32), np.full(4, 2, np.float32),
                                             np.array([0.5], np.float32)])]
    back = parse_caffemodel(encode_caffemodel(layers, "net"))
    assert [(x.name, x.type, len(x.blobs)) for x in back] == [("conv", "Convolution", 2),
                                                            ("relu", "ReLU", 0),
                                                            ("bn", "BatchNorm", 3)]
    for a, b in zip(layers, back, strict=True):
        for x, y in zip(a.blobs, b.blobs, strict=True):
            assert x.shape == y.shape and np.array_equal(x, y)


def test_legacy_v1_layers_and_4d_blobs_and_doubles_are_read():
    # V1LayerParameter (NetParameter.layers = 2): name = 4, type = 5 (enum, 4 = CONVOLUTION),
    # blobs = 6; legacy BlobProto num/channels/height/width = 1..4 with double_data = 8
    values = np.arange(6, dtype=np.float64)
    blob = (wire.field_varint(1, 3) + wire.field_varint(2, 2) + wire.field_varint(3, 1)
            + wire.field_varint(4, 1) + wire.field_packed_floats(8, values, "<f8"))
    layer = wire.field_bytes(4, "old") + wire.field_varint(5, 4) + wire.field_bytes(6, blob)
    (parsed,) = parse_caffemodel(wire.field_bytes(2, layer))
    assert (parsed.name, parsed.type) == ("old", "Convolution")
    assert parsed.blobs[0].shape == (3, 2, 1, 1)
    assert np.array_equal(parsed.blobs[0].ravel(), values.astype(np.float32))


def test_truncated_caffemodel_gives_one_line_error(tmp_path, fixture_files):
    bad = tmp_path / "cut.caffemodel"
    bad.write_bytes(fixture_files[1].read_bytes()[:1000])
    with pytest.raises(CaffeFormatError, match=r"cut\.caffemodel: not a Caffe binary"):
        read_caffemodel(bad)


def test_official_prototxt_parses_to_the_eccv16_topology():
    net = read_prototxt(OFFICIAL)
    layers = {first(x, "name"): x for x in net_layers(net)}
    assert input_shape(net) == (1, 1, 224, 224)
    assert conv_geometry(layers["conv5_1"]).dilation == (2, 2)
    assert conv_geometry(layers["conv8_1"]).kernel == (4, 4)
    assert first(first(first(layers["conv8_313_rh"], "scale_param"), "filler"), "value") == 2.606
    assert eccv16_config(net).width == 1.0 and eccv16_config(net).input_size == (224, 224)


def test_prototxt_errors_name_the_line():
    with pytest.raises(PrototxtError, match=r"x\.prototxt:3"):
        parse_prototxt('name: "n"\nlayer {\n  } }', "x.prototxt")


def test_a_different_network_is_refused_naming_the_layer():
    text = OFFICIAL.read_text().replace("pad: 2\n    dilation: 2", "pad: 1\n    dilation: 1", 1)
    with pytest.raises(CaffeImportError, match="conv5_1"):
        eccv16_config(parse_prototxt(text), "other.prototxt")


# --- Keras == OpenCV DNN ----------------------------------------------------------------------

def test_import_maps_every_blob_and_supplies_the_missing_two(imported):
    _, _, report = imported
    assert sum(v == "convolution" for v in report.values()) == 22
    assert report["conv8_1"] == "deconvolution"
    assert sum(v == "batchnorm" for v in report.values()) == 7
    assert report["class8_ab"] == "bin centers (pts_in_hull)"
    assert report["conv8_313_rh"] == "scale (prototxt filler)"


def test_keras_equals_opencv_dnn_on_the_fixture(imported, fixture_files, l_input):
    from edgecolor.runtimes.keras import KerasRunner
    from edgecolor.zoo.caffe.opencv import caffe_runner

    model, spec, _ = imported
    ours = KerasRunner.from_model(model, spec).infer(l_input)
    with caffe_runner(*fixture_files, via_onnx=True) as ref:
        theirs = ref.infer(l_input)
    assert ours.shape == theirs.shape == (1, SIZE // 4, SIZE // 4, 2)
    assert np.abs(ours).mean() > 1.0  # a real colorization signal, not zeros
    assert np.max(np.abs(ours - theirs)) < 1e-3

    # the deconvolution needs no spatial flip: flipping its kernel breaks the match
    deconv = model.get_layer("conv8_1")
    kernel, bias = deconv.get_weights()
    deconv.set_weights([kernel[::-1, ::-1], bias])
    try:
        flipped = KerasRunner.from_model(model, spec).infer(l_input)
    finally:
        deconv.set_weights([kernel, bias])
    assert np.max(np.abs(flipped - theirs)) > 1.0


def test_opencv_reads_caffe_natively_where_it_still_can(fixture_files, imported, l_input):
    import cv2

    from edgecolor.runtimes.keras import KerasRunner
    from edgecolor.zoo.caffe.opencv import caffe_runner

    runner = caffe_runner(*fixture_files)
    if not runner.loader.reads_caffe:
        pytest.skip(f"OpenCV {cv2.__version__} removed its Caffe importer (OpenCV 5); the "
                    "ONNX translation of the same files is tested above")
    model, spec, _ = imported
    with runner:
        diff = np.abs(runner.infer(l_input) - KerasRunner.from_model(model, spec).infer(l_input))
    assert diff.max() < 1e-3


def test_onnx_translation_is_valid_onnx_and_onnxruntime_agrees(fixture_files, l_input,
                                                               tmp_path):
    import onnx
    import onnxruntime as ort

    from edgecolor.runtimes.opencv_dnn import OpenCVDNNRunner
    from edgecolor.zoo.eccv16 import eccv16_spec

    net = read_prototxt(fixture_files[0])
    data = caffe_to_onnx(net, colorization_blobs(net, read_caffemodel(fixture_files[1])))
    onnx.checker.check_model(onnx.load_from_string(data), full_check=True)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    y_ort = sess.run(None, {"data_l": l_input[0].transpose(0, 3, 1, 2)})[0]
    # the same file through the runner's ONNX path (NCHW detected from the graph's shapes)
    path = tmp_path / "eccv16-caffe.onnx"
    path.write_bytes(data)
    with OpenCVDNNRunner(path, eccv16_spec((SIZE, SIZE))) as runner:
        y_cv = runner.infer(l_input)
    assert np.max(np.abs(y_ort.transpose(0, 2, 3, 1) - y_cv)) < 1e-3


def test_bins_head_of_the_import_decodes_to_the_same_ab(fixture_files, imported, l_input):
    from edgecolor.bins import annealed_mean
    from edgecolor.runtimes.keras import KerasRunner
    from edgecolor.zoo.caffe import import_caffe
    from edgecolor.zoo.eccv16 import RH_SCALE

    model, spec, _ = imported
    bins_model, bins_spec, _ = import_caffe(*fixture_files, head="bins")
    assert bins_spec.output.kind == "ab_bins"
    p = KerasRunner.from_model(bins_model, bins_spec).infer(l_input)
    ab = KerasRunner.from_model(model, spec).infer(l_input)[0]
    assert np.max(np.abs(annealed_mean(p, 1.0 / RH_SCALE) - ab)) < 1e-3


# --- the command line -------------------------------------------------------------------------

def test_cli_imports_and_the_registry_loads_the_result(fixture_files, imported, l_input,
                                                       tmp_path):
    from edgecolor.cli import cli
    from edgecolor.runtimes.keras import KerasRunner
    from edgecolor.zoo import create_model

    out = tmp_path / "eccv16.keras"
    res = CliRunner().invoke(cli, ["import-caffe", *map(str, fixture_files), "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "eccv16" in res.output and out.is_file()
    loaded, spec = create_model("eccv16", input_size=SIZE, width=WIDTH, weights=out)
    model, _, _ = imported
    a = KerasRunner.from_model(loaded, spec).infer(l_input)
    b = KerasRunner.from_model(model, spec).infer(l_input)
    assert np.array_equal(a, b)

    # an existing output is kept
    before = out.read_bytes()
    res = CliRunner().invoke(cli, ["import-caffe", *map(str, fixture_files), "-o", str(out)])
    assert res.exit_code != 0 and "--overwrite" in res.output
    assert out.read_bytes() == before


def test_cli_swapped_files_fail_with_one_line_and_write_nothing(fixture_files, tmp_path):
    from edgecolor.cli import cli

    out = tmp_path / "m.keras"
    proto, caffemodel = fixture_files
    res = CliRunner().invoke(cli, ["import-caffe", str(caffemodel), str(proto), "-o", str(out),
                                   "--no-verify"])
    assert res.exit_code != 0
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "fixture.caffemodel" in lines[0] and ".prototxt" in lines[0]
    assert not out.exists()


def test_cli_install_refuses_a_reduced_width_network(fixture_files, tmp_path, monkeypatch):
    from edgecolor.cli import cli
    from edgecolor.zoo.registry import default_weights

    monkeypatch.setenv("EDGECOLOR_HOME", str(tmp_path / "home"))
    out = tmp_path / "m.keras"
    res = CliRunner().invoke(cli, ["import-caffe", *map(str, fixture_files), "-o", str(out),
                                   "--no-verify", "--install"])
    assert res.exit_code != 0
    lines = [x for x in res.output.splitlines() if x.strip()]
    assert len(lines) == 1 and "full-width" in lines[0] and "width 0.125" in lines[0]
    assert not out.exists() and default_weights("eccv16") is None


@pytest.mark.slow
def test_full_size_import_install_then_colorize_cli(tmp_path, eval_images, monkeypatch):
    """The official topology at full width (32.2 M random weights, 129 MB caffemodel, input 64
    to keep it quick) -> .keras + the weights cache -> ``colorize --model eccv16 --weights``,
    and plain ``create_model("eccv16")`` loads the installed weights."""
    from edgecolor.cli import cli
    from edgecolor.imageio import read_image
    from edgecolor.manifest import sha256_file
    from edgecolor.train.card import read_card
    from edgecolor.zoo import create_model
    from edgecolor.zoo.registry import default_weights

    monkeypatch.setenv("EDGECOLOR_HOME", str(tmp_path / "home"))
    proto, caffemodel = make_fixture(tmp_path, width=1.0, size=64)
    digest = sha256_file(caffemodel)
    out = tmp_path / "eccv16.keras"
    res = CliRunner().invoke(cli, ["import-caffe", str(proto), str(caffemodel), "-o", str(out),
                                   "--no-verify", "--install"])
    assert res.exit_code == 0, res.output
    assert "32,236,324" in res.output and "installed:" in res.output
    caffemodel.unlink()
    cached = default_weights("eccv16")
    assert cached == tmp_path / "home" / "weights" / "eccv16.weights.h5"
    card = read_card(cached.with_name("eccv16.card.json"))
    assert card["source"]["caffemodel_sha256"] == digest
    assert card["installed"]["sha256"] == sha256_file(cached)
    default, _ = create_model("eccv16", input_size=64)
    imported, _ = create_model("eccv16", input_size=64, weights=out)
    for a, b in zip(default.get_weights(), imported.get_weights(), strict=True):
        assert np.array_equal(a, b)
    res = CliRunner().invoke(cli, ["colorize", str(eval_images[0]), "-o", str(tmp_path / "c"),
                                   "--model", "eccv16", "--weights", str(out), "--imgsz", "64"])
    assert res.exit_code == 0, res.output
    colored = read_image(tmp_path / "c" / eval_images[0].name)
    assert colored.shape == read_image(eval_images[0]).shape[:2] + (3,)


def test_opencv_runner_needs_no_tensorflow(fixture_files):
    """The Caffe reference runs on a device without TensorFlow: it is never imported."""
    import subprocess
    import sys

    code = (
        "import sys, numpy as np\n"
        "from edgecolor.zoo.caffe.opencv import caffe_runner\n"
        f"r = caffe_runner({str(fixture_files[0])!r}, {str(fixture_files[1])!r})\n"
        f"y = r.run(np.zeros((1, {SIZE}, {SIZE}, 1), np.float32))\n"
        "print(y.shape, 'tensorflow' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == f"(1, {SIZE // 4}, {SIZE // 4}, 2) False"
