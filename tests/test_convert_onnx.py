"""ONNX conversion (fp32, int8 for TensorRT, int8-cpu) and the ONNX Runtime runner.

Real tf2onnx/onnxsim/onnxruntime on tiny models (64x64 baseline, a width-halved baseline with
spread random weights so int8 has a real range to lose, a 32x32 residual model); quality on
the bundled eval photos, calibration on the bundled calib photos.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from edgecolor.converters.common import ConvertOptions
from edgecolor.spec import InputSpec, ModelSpec, OutputSpec

pytestmark = pytest.mark.slow


def _spread_weights(model, seed: int = 1) -> None:
    """He-scaled random weights and non-zero biases: outputs that use tanh's range."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if len(weights) == 2:
            w, b = weights
            fan_in = np.prod(w.shape[:-1]) if w.ndim == 4 else w.shape[0]
            layer.set_weights([rng.normal(0, np.sqrt(2.0 / fan_in), w.shape).astype(np.float32),
                               rng.normal(0, 0.1, b.shape).astype(np.float32)])


@pytest.fixture(scope="module")
def calib64(calib_dir, spread64):
    from edgecolor.calibration import CalibrationSet

    return CalibrationSet.from_folder(calib_dir, spread64[1], holdout=0)


@pytest.fixture(scope="module")
def spread64():
    from edgecolor.zoo import create_model

    model, spec = create_model("baseline", input_size=64, batch_size=1, weights=None,
                               width=0.5)
    _spread_weights(model)
    return model, spec


@pytest.fixture(scope="module")
def spread_artifacts(tmp_path_factory, spread64, calib64):
    """fp32 / int8 / int8-cpu of the spread baseline: precision -> (path, manifest fields)."""
    from edgecolor.converters.onnx import convert

    model, spec = spread64
    out = tmp_path_factory.mktemp("onnx")
    arts = {}
    for precision in ("fp32", "int8", "int8-cpu"):
        path = out / f"baseline-onnx-{precision}.onnx"
        calib = calib64 if precision != "fp32" else None
        fields = convert(model, spec, precision, path, ConvertOptions(calib=calib))
        arts[precision] = (path, dict(fields, precision=precision, spec=spec.to_dict()))
    return arts


def _runner(path, spec, fields=None, threads=1):
    from edgecolor.runtimes.onnxruntime import ONNXRuntimeRunner

    return ONNXRuntimeRunner(path, spec, fields or {}, threads=threads)


def _colorized(runner, images):
    from edgecolor.imageio import read_rgb
    from edgecolor.pipeline import colorize_array

    return [colorize_array(runner, read_rgb(p)) for p in images]


def test_fp32_matches_keras_with_static_named_io(baseline64, tmp_path, eval_images):
    from edgecolor.color import lightness
    from edgecolor.converters.onnx import convert
    from edgecolor.imageio import read_rgb
    from edgecolor.runtimes.keras import KerasRunner

    model, spec = baseline64
    path = tmp_path / "baseline-onnx-fp32.onnx"
    fields = convert(model, spec, "fp32", path, ConvertOptions())
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert fields["opset"] >= 17
    assert max(i.version for i in proto.opset_import if i.domain in ("", "ai.onnx")) >= 17
    assert [i["name"] for i in fields["inputs"]] == ["l"]
    assert fields["inputs"][0]["shape"] == [1, 64, 64, 1]
    assert fields["outputs"] == [{"name": "ab", "shape": [1, 64, 64, 2], "dtype": "float32",
                                  "quant": None}]
    for v in list(proto.graph.input) + list(proto.graph.output):
        assert all(d.dim_value > 0 for d in v.type.tensor_type.shape.dim)
    ops = {n.op_type for n in proto.graph.node}
    assert "Resize" in ops and not ops & {"Tile", "Unsqueeze"}  # UpSampling2D folded
    keras_run, onnx_run = KerasRunner.from_model(model, spec), _runner(path, spec)
    for p in eval_images[:3]:
        xs = spec.make_inputs(lightness(read_rgb(p)))
        assert np.abs(onnx_run.infer(xs) - keras_run.infer(xs)).max() <= 1e-3


def test_int8_for_tensorrt_keeps_quality_and_the_qdq_rules(spread_artifacts, spread64,
                                                          eval_images):
    from edgecolor.converters import qdq
    from edgecolor.converters.trt_check import check_onnx
    from edgecolor.metrics import psnr

    _, spec = spread64
    path, fields = spread_artifacts["int8"]
    proto = onnx.load(path)
    assert qdq.structure_problems(proto) == []
    consts = qdq.constants(proto.graph)
    qdq_nodes = [n for n in proto.graph.node if n.op_type in qdq.QDQ_OPS]
    assert qdq_nodes
    for n in qdq_nodes:  # symmetric int8 everywhere
        zp = consts[n.input[2]]
        assert zp.dtype == np.int8 and not zp.any()
    weights = {n.input[1]: n for n in proto.graph.node if n.op_type == "Conv"}
    producers = {o: n for n in proto.graph.node for o in n.output}
    for w_name in weights:  # float weight -> Q -> DQ, per output channel on axis 0
        dq = producers[w_name]
        assert dq.op_type == "DequantizeLinear"
        w = consts[producers[dq.input[0]].input[0]]
        assert consts[dq.input[1]].shape == (w.shape[0],)
        assert qdq._attr(dq, "axis") == 0
    assert producers["ab"].op_type not in qdq.QDQ_OPS
    assert check_onnx(path, "8.6") == [] and check_onnx(path, "10") == []
    ref = _colorized(_runner(spread_artifacts["fp32"][0], spec), eval_images)
    got = _colorized(_runner(path, spec, fields), eval_images)
    assert min(psnr(a, b) for a, b in zip(ref, got, strict=True)) >= 30.0


def test_int8_cpu_keeps_quality_and_runs_as_fused_int8(spread_artifacts, spread64,
                                                      eval_images, tmp_path):
    import onnxruntime as ort

    from edgecolor.metrics import psnr

    _, spec = spread64
    path, fields = spread_artifacts["int8-cpu"]
    assert any("phase convolutions" in n for n in fields["notes"])
    assert any("channels padded" in n for n in fields["notes"])
    ref = _colorized(_runner(spread_artifacts["fp32"][0], spec), eval_images)
    got = _colorized(_runner(path, spec, fields), eval_images)
    assert min(psnr(a, b) for a, b in zip(ref, got, strict=True)) >= 30.0
    # what makes it fast: after ONNX Runtime's fusions every conv is an int8 QLinearConv and
    # no int8 Resize is left (the findings in edgecolor.converters.qdq)
    opts = ort.SessionOptions()
    opts.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    opts.log_severity_level = 3
    ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    ops = [n.op_type for n in onnx.load(tmp_path / "optimized.onnx").graph.node]
    assert ops.count("QLinearConv") >= 11
    assert not {"Conv", "FusedConv", "Resize"} & set(ops)


def _residual_model():
    """32x32 model with a residual Add and a ConvTranspose (+ its spec)."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    L = keras.layers
    inp = L.Input((32, 32, 1), batch_size=1, name="l")
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
    y = L.Conv2D(16, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(16, 3, padding="same")(y)
    x = L.ReLU()(L.Add(name="res_add")([x, y]))
    x = L.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(x)
    x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    out = L.Conv2D(2, 3, padding="same", activation="tanh", name="ab")(x)
    model = keras.Model(inp, out)
    _spread_weights(model, seed=2)
    spec = ModelSpec("residual", (InputSpec("l", (32, 32)),), OutputSpec("ab"))
    return model, spec


def test_residual_add_gets_qdq_on_both_inputs_and_convtranspose_axis_1(tmp_path, calib_dir):
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters import qdq
    from edgecolor.converters.onnx import convert

    model, spec = _residual_model()
    cs = CalibrationSet.from_folder(calib_dir, spec, holdout=0)
    path = tmp_path / "residual-onnx-int8.onnx"
    convert(model, spec, "int8", path, ConvertOptions(calib=cs, calib_method="percentile"))
    proto = onnx.load(path)
    producers = {o: n for n in proto.graph.node for o in n.output}
    consts = qdq.constants(proto.graph)
    adds = [n for n in proto.graph.node if n.op_type == "Add"
            and not any(i in consts for i in n.input)]
    assert adds, "the residual Add survived conversion"
    for add in adds:
        assert [producers[i].op_type for i in add.input] == ["DequantizeLinear"] * 2
    convt = [n for n in proto.graph.node if n.op_type == "ConvTranspose"]
    assert convt
    dq = producers[convt[0].input[1]]
    w = consts[producers[dq.input[0]].input[0]]
    assert qdq._attr(dq, "axis") == 1 and consts[dq.input[1]].shape == (w.shape[1],)
    assert all(not consts[n.input[2]].any() for n in proto.graph.node
               if n.op_type in qdq.QDQ_OPS)
    assert producers["ab"].op_type not in qdq.QDQ_OPS
    assert qdq.structure_problems(proto) == []


def test_residual_add_kept_in_float_passes_the_tensorrt_rules(tmp_path, calib_dir):
    # The budget's sensitivity probe keeps one layer at a time in float. For an Add whose
    # first input also feeds a quantized conv (MobileNetV2's residuals), that input still
    # comes through a shared DQ and the other does not: TensorRT accepts that (the Add runs
    # in float), so the conversion must not fail the residual-pair rule.
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters import qdq
    from edgecolor.converters.onnx import convert

    model, spec = _residual_model()
    cs = CalibrationSet.from_folder(calib_dir, spec, holdout=0)
    path = tmp_path / "residual-onnx-int8.onnx"
    fields = convert(model, spec, "int8", path,
                     ConvertOptions(calib=cs, extra={"float_layers": ["res_add"]}))
    assert fields["float_layers"] == ["res_add"]
    proto = onnx.load(path)
    producers = {o: n for n in proto.graph.node for o in n.output}
    consts = qdq.constants(proto.graph)
    add = next(n for n in proto.graph.node if n.op_type == "Add"
               and not any(i in consts for i in n.input))
    assert sorted(producers[i].op_type for i in add.input) == ["Conv", "DequantizeLinear"]
    assert any("is not quantized" in p for p in qdq.structure_problems(proto))
    assert qdq.structure_problems(proto, float_nodes=[add.name]) == []


def test_two_input_model_keeps_spec_names_and_order(tmp_path, rng):
    from edgecolor._tf import import_tf
    from edgecolor.converters.onnx import convert
    from edgecolor.runtimes.keras import KerasRunner

    _, keras = import_tf()
    L = keras.layers
    a = L.Input((32, 32, 1), batch_size=1, name="l")
    b = L.Input((16, 16, 3), batch_size=1, name="l_rgb")
    up = L.UpSampling2D()(L.Conv2D(4, 3, padding="same")(b))
    x = L.Concatenate()([L.Conv2D(4, 3, padding="same")(a), up])
    model = keras.Model([a, b], L.Conv2D(2, 3, padding="same", activation="tanh")(x))
    _spread_weights(model, seed=3)
    spec = ModelSpec("two", (InputSpec("l", (32, 32)), InputSpec("l_rgb", (16, 16), "l/100", 3)),
                     OutputSpec("ab"))
    path = tmp_path / "two-onnx-fp32.onnx"
    fields = convert(model, spec, "fp32", path, ConvertOptions())
    assert [i["name"] for i in fields["inputs"]] == ["l", "l_rgb"]
    assert [i["shape"] for i in fields["inputs"]] == [[1, 32, 32, 1], [1, 16, 16, 3]]
    xs = [rng.uniform(-1, 1, (1, 32, 32, 1)).astype(np.float32),
          rng.uniform(0, 1, (1, 16, 16, 3)).astype(np.float32)]
    got = _runner(path, spec).infer(xs)
    assert np.abs(got - KerasRunner.from_model(model, spec).infer(xs)).max() <= 1e-3


def test_cpu_rewrites_are_exact_in_float(spread_artifacts, rng):
    import onnxruntime as ort

    from edgecolor.converters import onnx_graph

    proto = onnx.load(spread_artifacts["fp32"][0])
    folded, notes = onnx_graph.fold_upsample_into_conv(onnx.load(spread_artifacts["fp32"][0]))
    folded, pad_notes = onnx_graph.pad_conv_channels(folded)
    onnx.checker.check_model(folded, full_check=True)
    assert len(notes) == 2 and pad_notes
    assert "Resize" not in {n.op_type for n in folded.graph.node}
    x = rng.uniform(-1, 1, (1, 64, 64, 1)).astype(np.float32)

    def run(m):
        s = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return s.run(None, {"l": x})[0]

    assert np.abs(run(folded) - run(proto)).max() <= 1e-5


def test_bad_requests_fail_with_a_clear_message(spread64, tmp_path):
    from edgecolor.converters.onnx import convert

    model, spec = spread64
    with pytest.raises(ValueError, match="int8-cpu"):
        convert(model, spec, "int4", tmp_path / "x.onnx", ConvertOptions())
    with pytest.raises(ValueError, match="--calib"):
        convert(model, spec, "int8", tmp_path / "x.onnx", ConvertOptions())
    with pytest.raises(ValueError, match="opset"):
        convert(model, spec, "fp32", tmp_path / "x.onnx", ConvertOptions(opset=11))
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_load_runner_uses_onnxruntime_with_threads(spread_artifacts, tmp_path):
    from edgecolor.manifest import write_manifest
    from edgecolor.runtimes import load_runner
    from edgecolor.runtimes.onnxruntime import ONNXRuntimeRunner, choose_providers

    src, fields = spread_artifacts["int8-cpu"]
    path = tmp_path / src.name
    path.write_bytes(src.read_bytes())
    write_manifest(path, dict(fields, model="baseline", format="onnx"))
    runner = load_runner(path, threads=2)
    assert isinstance(runner, ONNXRuntimeRunner)
    with runner:
        y = runner.run(np.zeros((1, 64, 64, 1), np.float32))
        assert runner.providers == ["CPUExecutionProvider"]
        opts = runner._session.get_session_options()
        assert opts.intra_op_num_threads == 2
        # no spin-waiting after a run: the host work that follows gets the cores
        assert opts.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert y.shape == (1, 64, 64, 2) and y.dtype == np.float32
    gpu = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers(gpu, "GPU") == gpu
    assert choose_providers(gpu[::-1], "GPU") == gpu  # preference order, not listing order
    assert choose_providers(gpu, "CPU") == ["CPUExecutionProvider"]


def test_int8_cpu_keeps_softmax_and_its_logits_in_float(tmp_path, calib_dir):
    from edgecolor._tf import import_tf
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.onnx import convert

    _, keras = import_tf()
    L = keras.layers
    inp = L.Input((32, 32, 1), batch_size=1, name="l")
    x = L.Conv2D(16, 3, padding="same", activation="relu")(inp)
    x = L.Softmax(axis=-1)(L.Conv2D(32, 1)(x))  # a binned-colour head, like ECCV16's
    model = keras.Model(inp, L.Conv2D(2, 1, name="ab")(x))
    _spread_weights(model, seed=4)
    spec = ModelSpec("bins", (InputSpec("l", (32, 32)),), OutputSpec("ab", "ab"))
    cs = CalibrationSet.from_folder(calib_dir, spec, holdout=0)
    paths = {p: tmp_path / f"bins-onnx-{p}.onnx" for p in ("fp32", "int8-cpu")}
    for p, path in paths.items():
        fields = convert(model, spec, p, path, ConvertOptions(calib=cs))
    assert any("softmax" in n for n in fields["notes"])
    proto = onnx.load(paths["int8-cpu"])
    producers = {o: n for n in proto.graph.node for o in n.output}
    softmax = next(n for n in proto.graph.node if n.op_type == "Softmax")
    assert producers[softmax.input[0]].op_type == "Conv"  # float logits, no Q/DQ
    assert producers["ab"].op_type != "DequantizeLinear"  # float output
    xs = cs.samples[0]
    ref = _runner(paths["fp32"], spec).infer(xs)
    assert np.abs(_runner(paths["int8-cpu"], spec).infer(xs) - ref).max() <= 0.05 * np.abs(
        ref).max()


def _conv_transpose_graph(k: int, s: int, pads: list[int], cin: int, cout: int, h: int, rng):
    from onnx import TensorProto, helper, numpy_helper

    w = rng.normal(size=(cin, cout, k, k)).astype(np.float32)
    b = rng.normal(size=cout).astype(np.float32)
    node = helper.make_node("ConvTranspose", ["x", "W", "B"], ["y"], strides=[s, s], pads=pads,
                            kernel_shape=[k, k], name="up")
    oh = (h - 1) * s - pads[0] - pads[2] + k
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, cin, h, h])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, cout, oh, oh])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("k,s,pads", [
    (4, 2, [1, 1, 1, 1]),  # pix2pix: Conv2DTranspose 4x4 stride 2 'same'
    (3, 2, [0, 0, 1, 1]),  # Keras 3x3 stride 2 'same' (asymmetric crop)
    (2, 2, [0, 0, 0, 0]),
    (4, 2, [2, 2, 0, 0]),
    (3, 1, [1, 1, 1, 1]),
])
def test_conv_transpose_becomes_phase_convs_exactly(k, s, pads, rng):
    import onnxruntime as ort

    from edgecolor.converters import onnx_graph

    model = _conv_transpose_graph(k, s, pads, 3, 5, 6, rng)
    rewritten, notes = onnx_graph.conv_transpose_to_phase_convs(onnx.ModelProto.FromString(
        model.SerializeToString()))
    onnx.checker.check_model(rewritten, full_check=True)
    ops = {n.op_type for n in rewritten.graph.node}
    assert len(notes) == 1 and "ConvTranspose" not in ops and "Conv" in ops
    x = rng.normal(size=(1, 3, 6, 6)).astype(np.float32)

    def run(m):
        sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
        return sess.run(None, {"x": x})[0]

    assert np.abs(run(rewritten) - run(model)).max() <= 1e-5


def test_conv_transpose_of_another_output_size_is_left_alone(rng):
    from edgecolor.converters import onnx_graph

    model = _conv_transpose_graph(3, 2, [1, 1, 1, 1], 2, 2, 5, rng)  # 2H - 1 rows out
    rewritten, notes = onnx_graph.conv_transpose_to_phase_convs(model)
    assert notes == [] and [n.op_type for n in rewritten.graph.node] == ["ConvTranspose"]


def test_int8_cpu_runs_conv_transpose_as_int8_phase_convs(tmp_path, calib_dir, eval_images):
    """ONNX Runtime has no int8 ConvTranspose: the int8-cpu flavour rewrites it, so every
    convolution of the model is a quantized Conv and the colors stay within the floors."""
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.onnx import convert
    from edgecolor.runtimes.keras import KerasRunner

    model, spec = _residual_model()
    cs = CalibrationSet.from_folder(calib_dir, spec, holdout=0)
    path = tmp_path / "residual-onnx-int8-cpu.onnx"
    convert(model, spec, "int8-cpu", path, ConvertOptions(calib=cs))
    proto = onnx.load(path)
    ops = [n.op_type for n in proto.graph.node]
    assert "ConvTranspose" not in ops
    producers = {o: n for n in proto.graph.node for o in n.output}
    convs = [n for n in proto.graph.node if n.op_type == "Conv"]
    assert len(convs) >= 4 + 5  # four phases + the five plain convolutions
    assert all(producers[c.input[0]].op_type == "DequantizeLinear" for c in convs)
    from edgecolor.metrics import psnr

    ours = _colorized(_runner(path, spec), eval_images[:3])
    ref = _colorized(KerasRunner.from_model(model, spec), eval_images[:3])
    scores = [psnr(a, b) for a, b in zip(ours, ref, strict=True)]
    assert min(scores) >= 30.0, scores  # the convert quick check's floor for int8
