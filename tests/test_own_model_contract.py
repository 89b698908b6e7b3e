"""The colorization contract of a foreign model: presets, TOML, inference, refusals.

Every ONNX graph here is written by the test with onnx.helper the way PyTorch exports a
U-Net colorizer (edgecolor.sources.foreign); nothing is downloaded.
"""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

from edgecolor.cli import cli
from edgecolor.contract import Contract, ContractError, from_toml, preset
from edgecolor.sources import SourceError, load_source
from edgecolor.sources.foreign import save, unet_colorizer


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    """name -> path of a PyTorch-style ONNX colorizer (dynamic batch/H/W)."""
    d = tmp_path_factory.mktemp("own-graphs")
    return {
        "unet": save(unet_colorizer(8), d / "my_colorizer.onnx"),
        "bins": save(unet_colorizer(8, head="bins"), d / "my_bins.onnx"),
        "unnormalized": save(unet_colorizer(8, normalize=False), d / "no_norm.onnx"),
        "five": save(unet_colorizer(8, out_channels=5), d / "five.onnx"),
    }


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_nchw_spec_feeds_and_reads_nchw():
    spec = preset("zhang-pytorch").to_spec("m", ["input_l"], "ab", (32, 48))
    l_full = np.linspace(0, 100, 64 * 96, dtype=np.float32).reshape(64, 96)
    (x,) = spec.make_inputs(l_full)
    assert x.shape == (1, 1, 32, 48)
    assert 0.0 <= x.min() and x.max() <= 100.0 and x.max() > 90.0  # raw L, not normalized
    y = np.zeros((1, 2, 32, 48), np.float32)
    y[0, 0], y[0, 1] = 20.0, -30.0
    ab = spec.decode(y)
    assert ab.shape == (32, 48, 2)
    assert np.allclose(ab[..., 0], 20.0) and np.allclose(ab[..., 1], -30.0)


def test_input_scalings_and_output_scales():
    l_full = np.full((8, 8), 75.0, np.float32)
    want = {"raw": 75.0, "l/100": 0.75, "(l-50)/100": 0.25, "l-50": 25.0, "l/50-1": 0.5}
    for scaling, value in want.items():
        spec = Contract("l", scaling, layout="NHWC").to_spec("m", ["x"], "y", (8, 8))
        assert np.allclose(spec.make_inputs(l_full)[0], value), scaling
    spec = Contract("gray3", "imagenet", layout="NCHW").to_spec("m", ["x"], "y", (8, 8))
    x = spec.make_inputs(np.full((8, 8), 50.0, np.float32))[0]
    assert x.shape == (1, 3, 8, 8)
    assert x[0, 0, 0, 0] != pytest.approx(x[0, 2, 0, 0])  # per-channel mean/std differ
    y = np.full((1, 4, 4, 2), 0.5, np.float32)
    for scaling, ab in (("lab", 0.5), ("x110", 55.0), ("x128", 64.0)):
        spec = Contract("l", "raw", "ab", scaling, "NHWC").to_spec("m", ["x"], "y", (4, 4))
        assert np.allclose(spec.decode(y), ab), scaling


def test_extra_inputs_are_zero_planes(tmp_path):
    toml = tmp_path / "io.toml"
    toml.write_text('preset = "zhang-pytorch"\n[input]\nextra = [{name = "mask", '
                    'channels = 2}]\n')
    contract = from_toml(toml)
    spec = contract.to_spec("m", ["l", "mask"], "ab", (16, 16))
    l_in, mask = spec.make_inputs(np.full((20, 20), 60.0, np.float32))
    assert l_in.shape == (1, 1, 16, 16) and mask.shape == (1, 2, 16, 16)
    assert not mask.any() and np.allclose(l_in, 60.0)


def test_toml_errors_are_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[output]\nkind = "ab"\nscaling = "x200"\n')
    with pytest.raises(ContractError, match=r"bad\.toml: output\.scaling .*x200"):
        from_toml(bad)
    bad.write_text('[input]\nnorm = "raw"\n')
    with pytest.raises(ContractError, match="unknown keys input.norm"):
        from_toml(bad)
    with pytest.raises(ContractError, match="unknown --io preset 'nope'"):
        preset("nope")


def test_contract_inferred_from_the_graph(graphs):
    lines = []
    src = load_source(graphs["unet"], imgsz=64, log=lines.append)
    c = src.contract
    assert (c.input_kind, c.input_scaling, c.output_kind, c.output_scaling, c.layout) == \
        ("l", "raw", "ab", "lab", "NCHW")
    assert c.source == "inferred"
    text = "\n".join(lines)
    assert "(x - 50) / 100" in text and "times 110" in text and "plausible" in text
    assert src.spec.input_size == (64, 64)
    assert src.opset == 17 and len(src.sha256) == 64
    assert "dynamic H/W fixed to 64x64" in src.notes


def test_bins_head_inferred(graphs):
    c = load_source(graphs["bins"], imgsz=64).contract
    assert (c.output_kind, c.output_scaling) == ("bins", "probs")
    ref = load_source(graphs["bins"], imgsz=64).reference()
    y = ref.infer(ref.spec.make_inputs(np.full((64, 64), 50.0, np.float32)))
    assert y.shape == (1, 313, 16, 16)
    assert np.allclose(y.sum(axis=1), 1.0, atol=1e-4)


def test_dynamic_dims_take_the_target_size(graphs):
    assert load_source(graphs["unet"], default_size=96).spec.input_size == (96, 96)
    with pytest.raises(SourceError, match="does not run at 60x60.*--imgsz"):
        load_source(graphs["unet"], imgsz=60)  # the skip Add needs multiples of 8


def test_static_dims_conflicting_with_imgsz(tmp_path):
    model = unet_colorizer(8)
    for d, v in zip(model.graph.input[0].type.tensor_type.shape.dim, (1, 1, 64, 64),
                    strict=True):
        d.Clear()
        d.dim_value = v
    path = save(model, tmp_path / "static.onnx")
    assert load_source(path).spec.input_size == (64, 64)
    with pytest.raises(SourceError, match=r"static dims \[1, 1, 64, 64\].*--imgsz 128"):
        load_source(path, imgsz=128)


def test_unnormalized_input_is_not_guessed(graphs, tmp_path):
    with pytest.raises(SourceError, match="--io"):
        load_source(graphs["unnormalized"], imgsz=64)
    io = tmp_path / "io.toml"
    io.write_text('preset = "zhang-pytorch"\n[input]\nscaling = "l/100"\n')
    stated = load_source(graphs["unnormalized"], imgsz=64, io=io)
    assert stated.contract.input_scaling == "l/100"
    assert stated.contract.source == "file io.toml"


def _unknown_op(tmp_path):
    model = unet_colorizer(8)
    node = model.graph.node[3]
    node.op_type, node.domain = "FancyUpsample", "com.example"
    model.opset_import.add(domain="com.example", version=1)
    return save(model, tmp_path / "custom.onnx"), node.name


def _truncated(tmp_path, graphs):
    data = graphs["unet"].read_bytes()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("case", ["unknown-op", "no-contract", "io-contradiction",
                                  "io-double-scale", "truncated", "old-opset"])
def test_refusals_are_one_line_exit_2_nothing_written(case, graphs, tmp_path):
    out = tmp_path / "art"
    extra: list[str] = []
    if case == "unknown-op":
        model, node = _unknown_op(tmp_path)
        want = ["unknown op", "FancyUpsample", node]
    elif case == "no-contract":
        model, want = graphs["five"], ["fits no colorization contract", "got 5",
                                       "expected 2 (ab), 3 (RGB) or 313"]
    elif case == "io-contradiction":
        model, want = graphs["unet"], ["--io says output bins (313", "has 2"]
        extra = ["--io", "zhang-bins"]
    elif case == "io-double-scale":
        model, want = graphs["unet"], ["already multiplies its output by 110"]
        extra = ["--io", "unet-tanh110"]
    elif case == "truncated":
        model, want = _truncated(tmp_path, graphs), ["truncated.onnx", "re-export"]
    else:
        old = unet_colorizer(8)
        old.opset_import[0].version = 10  # an old export (not re-checked on purpose)
        model = save(old, tmp_path / "old.onnx")
        want = ["opset 10 is below 11"]
    r = run("convert", "--model", model, "--target", "x86-cpu", "--imgsz", "64",
            "--format", "onnx", "-o", out, *extra)
    assert r.exit_code == 2, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1, r.output
    assert lines[0].startswith("error: ")
    for w in want:
        assert w in lines[0], lines[0]
    assert not out.exists()


def test_io_on_a_zoo_model_is_refused(tmp_path):
    r = run("convert", "--model", "baseline", "--io", "zhang-pytorch", "--format", "onnx",
            "-o", tmp_path / "art")
    assert r.exit_code == 2 and "drop --io" in r.output
