"""Layers kept float on OpenVINO that own no OpenVINO op.

``openvino.convert_model`` folds a BatchNormalization into the convolution before it, runs the
activation as that convolution's next op and loses TensorFlow's name scopes, so
:func:`ov_node_layers` labels a ReLU and a Concat by the layers feeding them. Koalarization's
OpenVINO budget failed on ``float [..., activation_199, block8_10_mixed, ...]`` with "no layer
named" (the search went on without that candidate). Such a layer now goes float with its
nearest producers that own ops; a name that is no layer is still refused. Real TensorFlow,
OpenVINO and NNCF on a small Inception-style block.
"""

from __future__ import annotations

import pytest

SIZE = 32


@pytest.fixture(scope="module")
def block():
    """(keras.Model, spec, ov.Model): two conv -> BN -> Activation branches, a Concatenate
    (Inception's "mixed" join), a 1x1 conv and the ab head."""
    from test_quant_sensitivity import spiky_spec

    from edgecolor._tf import import_tf
    from edgecolor.converters.openvino import to_ov_model

    _, keras = import_tf()
    L = keras.layers
    keras.utils.set_random_seed(0)
    spec = spiky_spec((SIZE, SIZE))
    inp = L.Input((SIZE, SIZE, 1), batch_size=1, name="l")
    branches = []
    for i in (1, 2):
        x = L.Conv2D(8, 3, padding="same", use_bias=False, name=f"conv_{i}")(inp)
        x = L.BatchNormalization(name=f"bn_{i}")(x)
        branches.append(L.Activation("relu", name=f"activation_{i}")(x))
    x = L.Concatenate(name="block_mixed")(branches)
    x = L.Conv2D(8, 1, name="block_conv")(x)
    out = L.Conv2D(2, 3, padding="same", activation="tanh", name="ab")(x)
    model = keras.Model(inp, out, name="block")
    return model, spec, to_ov_model(model, spec)


def test_the_activation_and_the_join_own_no_openvino_op(block):
    from edgecolor.converters.float_layers import layer_scopes, ov_node_layers

    model, spec, ov_model = block
    present = set(ov_node_layers(ov_model, model, layer_scopes(model, spec)).values())
    assert {"conv_1", "conv_2", "block_conv", "ab"} <= present
    assert not {"activation_1", "block_mixed"} & present  # why the budget's candidate failed


def test_a_fused_layer_goes_float_with_its_producers(block):
    from edgecolor.converters.float_layers import layer_scopes, ov_float_nodes, ov_node_layers

    model, spec, ov_model = block
    nodes = ov_node_layers(ov_model, model, layer_scopes(model, spec))
    of = {layer: {n for n, lay in nodes.items() if lay == layer} for layer in set(nodes.values())}
    assert set(ov_float_nodes(ov_model, model, spec, ["activation_1"])) == of["conv_1"]
    assert set(ov_float_nodes(ov_model, model, spec, ["block_mixed"])) == \
        of["conv_1"] | of["conv_2"]
    with pytest.raises(ValueError, match="no layer named activation_9"):
        ov_float_nodes(ov_model, model, spec, ["activation_9"])


def test_openvino_int8_keeps_the_join_float(block, tmp_path):
    """The converter quantizes with the join's producers in NNCF's ignored scope: their
    convolutions keep float weights (no FakeQuantize on them), the rest is int8."""
    import openvino as ov

    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.converters.openvino import convert
    from edgecolor.samples import CALIB_DIR

    model, spec, _ = block
    calib = CalibrationSet.from_folder(CALIB_DIR, spec, size=None)
    counts = {}
    for label, floats in (("all-int8", []), ("join-float", ["block_mixed"])):
        path = tmp_path / f"{label}.xml"
        fields = convert(model, spec, "int8", path,
                         ConvertOptions(calib=calib, extra={"float_layers": floats}))
        assert fields["float_layers"] == floats
        ops = ov.Core().read_model(path).get_ordered_ops()
        counts[label] = sum(op.get_type_name() == "FakeQuantize" for op in ops)
        convs = [op for op in ops if op.get_type_name() == "Convolution"]
        assert len(convs) == 4
    # two convolutions' weights and inputs left unquantized
    assert counts["join-float"] < counts["all-int8"], counts
