"""Budgeted int8 conversion (`--max-dpsnr`): least float that meets a PSNR budget.

Uses the range-broken test model of test_quant_sensitivity (a block "spike" whose inner
tensor has one channel 1000x the others) and its generated ground truth.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_quant_sensitivity import (
    GAIN,
    SIZE,
    build_spiky,
    make_truth_folder,
    register_test_model,
    spiky_spec,
)

pytestmark = pytest.mark.slow

BUDGET = 0.3  # dB


@pytest.fixture(scope="module")
def spiky(tmp_path_factory):
    from edgecolor.calibration import CalibrationSet

    model, spec = build_spiky()
    folder = make_truth_folder(model, spec, tmp_path_factory.mktemp("truth"))
    return model, spec, CalibrationSet.from_folder(folder, spec, size=None, holdout=2), folder


def _float_layers_in_artifact(path, fmt: str, scopes) -> set[str]:
    """Keras layers whose convolutions run in float in the written artifact."""
    from edgecolor.converters.float_layers import layer_of

    found = set()
    if fmt == "tflite":
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_path=str(path))
        for op in interp._get_ops_details():
            if op["op_name"] == "CONV_2D":
                out = interp._get_tensor_details(op["outputs"][0], 0)
                if out["dtype"] == np.float32:
                    found.add(layer_of(out["name"], scopes))
    else:
        import onnx

        graph = onnx.load(str(path)).graph
        producers = {o: n for n in graph.node for o in n.output}
        for node in graph.node:
            if node.op_type == "Conv":
                src = producers.get(node.input[0])
                if src is None or src.op_type != "DequantizeLinear":
                    found.add(layer_of(node.name, scopes))
    return found


@pytest.mark.parametrize("fmt,precision", [("tflite", "int8"), ("onnx", "int8-cpu"),
                                           ("openvino", "int8")])
def test_budget_keeps_exactly_the_broken_block_float(spiky, tmp_path, fmt, precision):
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.converters.float_layers import layer_scopes
    from edgecolor.formats import get_format, load_runner_class
    from edgecolor.quant.budget import STRUCTURAL, BudgetedConversion

    model, spec, calib, _ = spiky
    out = tmp_path / get_format(fmt).artifact_name("spiky", precision)
    conv = BudgetedConversion(fmt, BUDGET)
    fields = conv(model, spec, precision, out, ConvertOptions(calib=calib))
    q = fields["quantization"]
    plain = q["attempts"][0]
    assert plain["float_layers"] == [] and plain["score"]["dpsnr"] > BUDGET
    assert fields["float_layers"] == q["float_layers"] == ["spike"]
    # cost order: plain, then the one-conversion PTQ fixes (bias correction dropped: the
    # rounded weights alone are far within budget) and the format's other calibration
    # methods (all int8; clipping the spike's range does not save it), then the output head
    # in float (one conversion; the spike is no head: it misses), then ranked float layers;
    # on OpenVINO the head comes before NNCF's algorithms, which cost minutes on a large model
    strategies = [a["strategy"] for a in q["attempts"]]
    if fmt == "openvino":
        order = ["int8", "int8, quantile calibration", STRUCTURAL,
                 "int8, channel alignment + bias correction"]
    elif fmt == "onnx":
        order = ["int8", "int8 + cle", "int8, quantile calibration",
                 "int8, percentile calibration", "int8, entropy calibration", STRUCTURAL]
    else:  # tflite's quantile: its min/max ranges clipped (converters.tflite_ranges)
        order = ["int8", "int8 + cle", "int8, quantile calibration", STRUCTURAL]
    assert strategies == [*order, "int8 + float layers"]
    head = q["attempts"][strategies.index(STRUCTURAL)]
    assert head["float_layers"] == ["ab"] and head["score"]["dpsnr"] > BUDGET
    assert q["strategy"] == "int8 + float layers"
    assert all(a["score"]["dpsnr"] > BUDGET for a in q["attempts"][:-1])
    assert q["validation"]["dpsnr"] <= BUDGET
    assert q["checks"] == [{"figure": "dpsnr", "limit": BUDGET, "held": True,
                            "value": q["checks"][0]["value"],
                            "margin": round(BUDGET - q["checks"][0]["value"], 3)}]
    # every scored candidate timed; the front holds the chosen one; the PNG is drawn
    assert all(a["ms"] > 0 for a in q["attempts"])
    assert any(p["chosen"] for p in q["pareto"])
    png = tmp_path / q["pareto_png"]
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
    assert q["validation"]["psnr_vs_fp32"] > plain["score"]["psnr_vs_fp32"] + 15
    assert q["ranking"][0] == "spike"
    # the float layers' denominator is the model's layers, ranked on this backend or not
    from edgecolor.converters.float_layers import layer_names

    assert q["layers"] == len(layer_names(model)) and q["ranked_layers"] >= 1
    assert q["speed"]["speedup_vs_fp32"] > 0 and q["speed"]["fp32_ms"] > 0
    assert any(r["layer"] == "spike" and r["action"].startswith("kept in float")
               for r in fields["risks"])
    # the artifact on disk is the one that was scored, and only the block runs in float
    assert out.is_file() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([out.name, png.name] + [
        out.with_suffix(x).name for x in get_format(fmt).sidecars])
    runner = load_runner_class(get_format(fmt).runners[0])(out, spec, fields)
    with runner:
        again = conv.validator.score(runner.infer)
    assert again.dpsnr == pytest.approx(q["validation"]["dpsnr"], abs=1e-3)
    if fmt != "openvino":
        floats = _float_layers_in_artifact(out, fmt, layer_scopes(model, spec))
        assert floats == {"spike"}


def test_unmeetable_budget_fails_listing_every_attempt(tmp_path):
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.quant.budget import BudgetedConversion, BudgetError

    # two broken blocks, 8 layers: 20% allows one float layer; int16 cannot span 1e4 either
    model, spec = build_spiky(spikes=2, gain=1e4)
    folder = make_truth_folder(model, spec, tmp_path / "truth")
    calib = CalibrationSet.from_folder(folder, spec, size=None, holdout=2)
    out = tmp_path / "art" / "spiky2-tflite-int8.tflite"
    with pytest.raises(BudgetError) as err:
        BudgetedConversion("tflite", BUDGET)(model, spec, "int8", out,
                                              ConvertOptions(calib=calib))
    message = str(err.value)
    assert "\n" not in message and "not met" in message and "Fix:" in message
    labels = [a.short() for a in err.value.attempts]
    assert labels[0] == "int8" and labels[-1] == "int16x8"
    assert any("+float[spike" in label for label in labels)
    assert all(a.score.dpsnr > BUDGET for a in err.value.attempts)
    for a in err.value.attempts:
        assert a.line() in message
    assert not out.exists() and list(out.parent.iterdir()) == []


@pytest.fixture(scope="module")
def registered(spiky, tmp_path_factory):
    model, _, _, folder = spiky
    weights = tmp_path_factory.mktemp("w") / "spiky.weights.h5"
    model.save_weights(weights)
    two, _ = build_spiky(spikes=2, gain=1e4)
    weights2 = weights.with_name("spiky2.weights.h5")
    two.save_weights(weights2)
    folder2 = make_truth_folder(two, spiky_spec(), tmp_path_factory.mktemp("truth2"))
    removers = [register_test_model("spiky-budget", 1, GAIN),
                register_test_model("spiky2-budget", 2, 1e4)]
    yield {"one": (weights, folder), "two": (weights2, folder2)}
    for remove in removers:
        remove()


def _convert(model, weights, folder, out, budget=BUDGET, extra=()):
    from click.testing import CliRunner

    from edgecolor.cli import cli

    return CliRunner().invoke(cli, [
        "convert", "--model", model, "--weights", str(weights), "--target", "x86-cpu",
        "--format", "tflite", "--precision", "int8", "--imgsz", str(SIZE),
        "--calib", str(folder), "--max-dpsnr", str(budget), *extra, "-o", str(out)])


def test_convert_cli_records_the_budget_in_manifest_and_summary(registered, tmp_path):
    weights, folder = registered["one"]
    result = _convert("spiky-budget", weights, folder, tmp_path, extra=["--max-de", "4"])
    assert result.exit_code == 0, result.output
    assert "budget met by int8 + float layers: dPSNR " in result.output
    # the profile's PSNR-vs-FP32 floor applies beside --max-dpsnr; each bound says its margin
    assert "PSNR vs FP32 " in result.output and ">= 40 (+" in result.output
    manifest = json.loads((tmp_path / "spiky-budget-tflite-int8.json").read_text())
    q = manifest["quantization"]
    assert manifest["float_layers"] == q["float_layers"] == ["spike"]
    assert q["max_dpsnr"] == BUDGET and q["validation"]["dpsnr"] <= BUDGET
    assert q["budget"] == {"max_dpsnr": BUDGET, "min_psnr_fp32": 40.0, "max_de": 4.0,
                           "min_speedup": None, "confident": False}
    checks = {c["figure"]: c for c in q["checks"]}
    assert set(checks) == {"dpsnr", "psnr_vs_fp32", "de_mean"}
    assert all(c["held"] for c in checks.values())
    assert checks["psnr_vs_fp32"]["margin"] == pytest.approx(
        q["validation"]["psnr_vs_fp32"] - 40.0, abs=2e-3)
    assert q["validation"]["ci95"]["psnr_vs_fp32"][0] <= q["validation"]["psnr_vs_fp32"]
    assert q["attempts"][0]["score"]["dpsnr"] > BUDGET
    assert q["speed"]["speedup_vs_fp32"] > 0
    assert manifest["quick_check"]["ok"]
    assert any(r["kind"] == "wide_range" and r["action"] == "kept in float on tflite"
               for r in manifest["risks"])


def test_convert_cli_fails_an_unmeetable_budget(registered, tmp_path):
    weights, folder = registered["two"]
    result = _convert("spiky2-budget", weights, folder, tmp_path)
    assert result.exit_code == 1
    assert "BudgetError" in result.output
    # plain int8 first, on the default calibration (quantile)
    assert "Tried (dPSNR dB/PSNR vs FP32 dB/dE00): int8/quantile " in result.output
    assert "Fix: loosen the budget" in result.output
    # the summary keeps the whole line: every attempt, not the first 300 characters
    tried = result.output.split("Tried (dPSNR dB/PSNR vs FP32 dB/dE00): ")[1].split("\n")[0]
    assert len(tried.split(", ")) >= 3, tried
    assert not (tmp_path / "spiky2-budget-tflite-int8.tflite").exists()


def test_eccv16_head_options_are_each_converted_and_scored():
    from edgecolor.calibration import CalibrationSet
    from edgecolor.quant.heads import HEAD_LAYERS, OPTIONS, compare_heads
    from edgecolor.zoo import create_model

    # a width-reduced, untrained ECCV16: checks the mechanism, not which head wins
    model, spec = create_model("eccv16", input_size=SIZE, batch_size=1, width=1 / 16,
                               weights=None)
    calib = CalibrationSet.from_folder(None, spec, size=None, holdout=2)
    result = compare_heads(model, spec, calib, "tflite", "int8", BUDGET, runs=3)
    options = {o["name"]: o for o in result["options"]}
    assert list(options) == list(OPTIONS)
    assert all(o["error"] is None and o["ms"] > 0 for o in options.values())
    assert options["host decode"]["head"] == "bins"
    assert options["head in float"]["float_layers"] == list(HEAD_LAYERS)
    # the same int8 body: keeping the head float can only bring the output closer to FP32
    assert (options["head in float"]["score"]["psnr_vs_fp32"]
            > options["int8 in graph"]["score"]["psnr_vs_fp32"])
    assert result["chosen"] in options


def test_speed_floor_refuses_candidates_that_keep_colors_but_run_slowly(registered, tmp_path):
    """--min-speedup X: a candidate within the fidelity bounds is timed against the same
    runtime's FP32 artifact; below X it is not within budget. No 64-px int8 model runs 1000x
    faster than its FP32 twin, so every candidate that kept the colors is refused by speed."""
    weights, folder = registered["one"]
    result = _convert("spiky-budget", weights, folder, tmp_path / "fast",
                      extra=["--min-speedup", "1000"])
    assert result.exit_code == 1, result.output
    assert "speed >= 1000x FP32" in result.output
    assert "kept the colors but ran below 1000x FP32 speed" in result.output
    tried = result.output.split("Tried (dPSNR dB/PSNR vs FP32 dB/dE00): ")[1].split("\n")[0]
    timed = [t for t in tried.split(", ") if "x FP32" in t]
    assert timed and all("+float[spike]" in t or "int16x8" in t for t in timed), tried
    assert not (tmp_path / "fast" / "spiky-budget-tflite-int8.tflite").exists()

    # a floor every candidate clears: the same choice as without one, with the check recorded
    result = _convert("spiky-budget", weights, folder, tmp_path / "any",
                      extra=["--min-speedup", "0.001"])
    assert result.exit_code == 0, result.output
    q = json.loads((tmp_path / "any" / "spiky-budget-tflite-int8.json").read_text())[
        "quantization"]
    assert q["float_layers"] == ["spike"] and q["budget"]["min_speedup"] == 0.001
    speed = next(c for c in q["checks"] if c["figure"] == "speedup")
    assert speed["held"] and speed["value"] > 0.001
    chosen = next(a for a in q["attempts"] if a["float_layers"] == ["spike"])
    assert chosen["speedup"] == pytest.approx(speed["value"], abs=0.01)


def test_a_chosen_artifact_slower_than_fp32_is_flagged_in_the_summary():
    from edgecolor.quant.budget import speed_warning, summary_note

    assert speed_warning(1.3) is None and speed_warning(None) is None
    warning = speed_warning(0.05)
    assert "0.05x" in warning and "--min-speedup 1" in warning
    record = {"validation": {"images": 20}, "float_layers": [], "strategy": "int16x8",
              "checks": [], "speed": {"speedup_vs_fp32": 0.05, "warning": warning}}
    note = summary_note(record)
    assert "0.05x FP32 speed" in note and "⚠ slower than the same runtime's FP32" in note


def test_openvino_falls_back_to_bias_correction_when_nncf_channel_alignment_fails(calib_dir,
                                                                                   tmp_path):
    """NNCF 3.4's channel alignment raises on MobileNetV2-style graphs (KeyError in its
    Tensor.astype(np.float32)); the budget records that attempt and tries bias correction
    alone next. An unreachable floor runs every tier; the ranking (minutes of probes) is cut
    short through the progress callback, and a failed ranking is an attempt like any other."""
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.converters.openvino import quantize, to_ov_model
    from edgecolor.quant.budget import (
        NNCF_ADVANCED,
        RANKING,
        RESIDUAL,
        STRUCTURAL,
        Budget,
        BudgetedConversion,
        BudgetError,
    )
    from edgecolor.zoo import create_model

    model, spec = create_model("pix2pix-mobilenetv2-lab", input_size=64, width=0.35)
    calib = CalibrationSet.from_folder(calib_dir, spec, size=None, holdout=2)
    try:
        quantize(to_ov_model(model, spec), calib, advanced=NNCF_ADVANCED)
        pytest.skip("this NNCF's channel alignment runs on the model: no fallback to test")
    except KeyError:
        pass

    def progress(text: str) -> None:
        if text.startswith("ranking layers"):
            raise RuntimeError("ranking skipped by the test")

    conv = BudgetedConversion("openvino", budget=Budget(min_psnr_fp32=200.0), adaround=False,
                              pareto_png=False, progress=progress)
    with pytest.raises(BudgetError) as err:
        conv(model, spec, "int8", tmp_path / "m.xml", ConvertOptions(calib=calib))
    strategies = [a.strategy for a in err.value.attempts]
    at = strategies.index("int8, channel alignment + bias correction")
    # on OpenVINO the one-conversion candidates come before NNCF's minutes (MobileNetV2's
    # residual joins in float are one of them)
    assert set(strategies[1:at]) == {"int8, quantile calibration", STRUCTURAL, RESIDUAL}
    (plain, aligned, bias_only) = (err.value.attempts[0], *err.value.attempts[at:at + 2])
    assert plain.score is not None and "KeyError" in aligned.error
    assert bias_only.strategy == "int8, bias correction" and bias_only.score is not None
    assert bias_only.short() == "int8+BC"
    assert RANKING in [a.strategy for a in err.value.attempts[3:]]
    assert not list(tmp_path.glob("*.xml"))


def test_output_head_and_last_join_in_float_meet_the_budget_before_any_ranking(calib_dir,
                                                                              tmp_path):
    """A join whose inputs share one int8 scale though one branch's channel is 1000x the
    others (the head reads it back 1000x smaller: FP32 output unchanged) loses the other
    branch in int8. Neither the output head alone nor any single layer fixes it; the head
    with the join's group does, found by two conversions without the ranking's probes."""
    from test_quant_sensitivity import build_joined

    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.quant.budget import RANKING, STRUCTURAL, Budget, BudgetedConversion

    model, spec = build_joined()
    wide, head = model.get_layer("wide"), model.get_layer("head")
    k, b = wide.get_weights()
    k[..., 0] *= 1000
    b[0] *= 1000
    wide.set_weights([k, b])
    hk, hb = head.get_weights()
    hk[:, :, 8, :] /= 1000  # the join's channel 8 is wide's channel 0
    head.set_weights([hk, hb])
    calib = CalibrationSet.from_folder(calib_dir, spec, size=None, holdout=2)
    conv = BudgetedConversion("tflite", budget=Budget(min_psnr_fp32=60.0), adaround=False,
                              pareto_png=False, max_float_fraction=0.75)
    fields = conv(model, spec, "int8", tmp_path / "joined.tflite", ConvertOptions(calib=calib))
    q = fields["quantization"]
    attempts = q["attempts"]
    assert attempts[0]["score"]["psnr_vs_fp32"] < 50
    assert [a["strategy"] for a in attempts][-2:] == [STRUCTURAL, STRUCTURAL]
    assert attempts[-2]["float_layers"] == ["ab"]
    assert attempts[-2]["score"]["psnr_vs_fp32"] < 50  # the head alone: no better
    assert q["strategy"] == STRUCTURAL
    assert fields["float_layers"] == ["ab", "skip", "wide", "join", "head"]
    assert q["validation"]["psnr_vs_fp32"] >= 60
    assert RANKING not in [a["strategy"] for a in attempts] and q["ranking"] is None


def test_keras_fixes_that_cannot_change_the_model_cost_no_conversion(spiky):
    """Equalization needs ReLU chains (a ReLU6 chain has none: its "cle" model is the
    original) and bias correction needs weight rounding that matters to the budget; a fix
    that cannot change the int8 output is dropped, or cut to the part that can."""
    from edgecolor._tf import import_tf
    from edgecolor.quant.budget import Budget, BudgetedConversion
    from edgecolor.quant.equalize import equalize
    from edgecolor.quant.validation import ValidationSet, Validator, keras_infer

    model, spec, calib, _ = spiky
    _, keras = import_tf()
    L = keras.layers
    inp = L.Input((SIZE, SIZE, 1), batch_size=1, name="l")
    x = L.Conv2D(8, 3, padding="same", name="c1")(inp)
    x = L.ReLU(6.0, name="r1")(x)
    x = L.Conv2D(8, 3, padding="same", name="c2")(x)
    x = L.ReLU(6.0, name="r2")(x)
    relu6 = keras.Model(inp, L.Conv2D(2, 1, activation="tanh", name="ab")(x))
    same, _ = equalize(relu6)
    assert all(np.array_equal(a, b) for a, b in zip(same.get_weights(),
                                                    relu6.get_weights(), strict=True))

    def fixes(m, budget):
        conv = BudgetedConversion("tflite", budget=budget, validator=Validator(
            ValidationSet.from_calibration(calib), keras_infer(m, spec)))
        return conv._keras_fixes(m, spec)

    loose, strict = Budget(min_psnr_fp32=30.0), Budget(min_psnr_fp32=200.0)
    assert fixes(model, loose) == ["cle"]  # conv1 -> conv2 is a ReLU chain
    assert fixes(model, strict) == ["cle", "cle+bc"]  # 8-bit weights cannot hold 200 dB
    assert fixes(relu6, loose) == []
    assert fixes(relu6, strict) == ["bc"]


def test_budgeted_rows_of_one_run_share_the_fp32_measurements(spiky, calib_dir, tmp_path):
    """Every budgeted row of a convert run scores against the same FP32 colorizations,
    activation ranges and calibration coverage: the second row reuses the first's, and
    still finds its own float layers; another calibration set starts afresh."""
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.quant.budget import BudgetedConversion, SharedEvidence

    model, spec, calib, _ = spiky
    shared = SharedEvidence()
    first = BudgetedConversion("tflite", BUDGET, shared=shared, pareto_png=False)
    one = first(model, spec, "int8", tmp_path / "a.tflite", ConvertOptions(calib=calib))
    measured = (shared.validator, shared.ranges, shared.coverage, dict(shared.models))
    assert measured[0] is first.validator and measured[1] and measured[2] is not None
    assert set(measured[3]) == {"cle"}
    second = BudgetedConversion("onnx", BUDGET, shared=shared, pareto_png=False)
    two = second(model, spec, "int8-cpu", tmp_path / "b.onnx", ConvertOptions(calib=calib))
    assert second.validator is measured[0] and shared.ranges is measured[1]
    assert shared.coverage is measured[2]
    assert all(shared.models[k] is v for k, v in measured[3].items())
    assert one["float_layers"] == two["float_layers"] == ["spike"]
    assert two["quantization"]["validation"]["images"] == \
        one["quantization"]["validation"]["images"]
    other = CalibrationSet.from_folder(calib_dir, spec, size=None, holdout=2)
    third = BudgetedConversion("tflite", 100.0, shared=shared, pareto_png=False)
    third(model, spec, "int8", tmp_path / "c.tflite", ConvertOptions(calib=other))
    assert third.validator is not measured[0] and shared.ranges is not measured[1]


def test_search_minutes_stops_the_search_after_plain_int8(spiky, tmp_path):
    """--search-minutes: once the limit is spent no new candidate starts (plain int8
    always runs); an unmet budget then fails saying where the search stopped, and nothing
    is written. The request refuses a limit that is not a positive number or comes
    without a budget, in one line."""
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.converters.request import ConvertRequest, ConvertRequestError
    from edgecolor.quant.budget import BudgetedConversion, BudgetError

    model, spec, calib, _ = spiky
    conv = BudgetedConversion("tflite", budget=None, min_psnr_fp32=200.0,
                              search_minutes=1e-4, pareto_png=False)
    with pytest.raises(BudgetError) as err:
        conv(model, spec, "int8", tmp_path / "m.tflite", ConvertOptions(calib=calib))
    assert [a.strategy for a in err.value.attempts] == ["int8"] and conv.stopped
    assert "stopped after 0.0001 min (--search-minutes" in str(err.value)
    assert not list(tmp_path.glob("*.tflite"))
    # a limit that is not reached changes nothing
    easy = BudgetedConversion("tflite", BUDGET * 100, search_minutes=10, pareto_png=False)
    fields = easy(model, spec, "int8", tmp_path / "e.tflite", ConvertOptions(calib=calib))
    assert fields["quantization"]["search"] == {"minutes_limit": 10, "stopped": False}
    for bad, why in [(dict(search_minutes=0), "number of minutes > 0"),
                     (dict(search_minutes=float("nan")), "number of minutes > 0"),
                     (dict(search_minutes=5, budget=False), "drop --no-budget")]:
        with pytest.raises(ConvertRequestError, match=why):
            ConvertRequest("baseline", "x86-cpu", formats=["tflite"], **bad).resolve()


def test_cli_refuses_a_bad_search_limit_in_one_line(tmp_path):
    from click.testing import CliRunner

    from edgecolor.cli import cli

    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["convert", "--target", "x86-cpu", "--format", "tflite",
                                      "--precision", "int8", "--search-minutes", "-1", "-o",
                                      str(out)])
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert lines[0].startswith("error: --search-minutes -1.0") and not out.exists()


@pytest.mark.parametrize("fmt,precision", [("tflite", "int8"), ("onnx", "int8")])
def test_residual_joins_in_float_are_one_candidate_after_the_structural_ones(calib_dir,
                                                                            tmp_path, fmt,
                                                                            precision):
    """Every residual join with the ReLU reading it in float is one candidate, tried after
    the output head and last joins and before any ranking. TFLite fuses that ReLU into its
    ADD (the ReLU owns no op: it goes float with the ADD); TensorRT Q/DQ leaves the adds
    without Q/DQ. An unreachable floor runs the tiers; the ranking is cut short."""
    from edgecolor._tf import import_tf
    from edgecolor.calibration import CalibrationSet
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.quant.budget import (
        RESIDUAL,
        STRUCTURAL,
        Budget,
        BudgetedConversion,
        BudgetError,
    )
    from edgecolor.quant.sensitivity import residual_joins

    _, keras = import_tf()
    L = keras.layers
    keras.utils.set_random_seed(1)
    spec = spiky_spec()
    inp = L.Input((SIZE, SIZE, 1), batch_size=1, name="l")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    for i in (1, 2):
        r = L.Conv2D(8, 3, padding="same", name=f"branch{i}")(x)
        x = L.Activation("relu", name=f"res{i}_ac")(L.Add(name=f"res{i}")([x, r]))
    out = L.Conv2D(2, 3, padding="same", activation="tanh", name="ab")(x)
    model = keras.Model(inp, out)
    assert residual_joins(model) == ["res1", "res1_ac", "res2", "res2_ac"]

    def progress(text: str) -> None:
        if text.startswith("ranking layers"):
            raise RuntimeError("ranking skipped by the test")

    calib = CalibrationSet.from_folder(calib_dir, spec, size=None, holdout=2)
    conv = BudgetedConversion(fmt, budget=Budget(min_psnr_fp32=200.0), adaround=False,
                              ptq=(), pareto_png=False, progress=progress,
                              max_float_fraction=0.5)
    with pytest.raises(BudgetError) as err:
        conv(model, spec, precision, tmp_path / f"m{'.tflite' if fmt == 'tflite' else '.onnx'}",
             ConvertOptions(calib=calib, calib_method="quantile"))
    strategies = [a.strategy for a in err.value.attempts]
    assert STRUCTURAL in strategies and RESIDUAL in strategies
    assert strategies.index(RESIDUAL) > max(i for i, s in enumerate(strategies)
                                            if s == STRUCTURAL)
    residual = err.value.attempts[strategies.index(RESIDUAL)]
    assert residual.error is None and residual.score is not None
    assert residual.float_layers == ["res1", "res1_ac", "res2", "res2_ac"]


def test_a_long_float_set_is_cut_in_one_line_labels_and_kept_whole_in_the_record():
    from edgecolor.quant.budget import Attempt

    layers = [f"custom_scale_layer_{i}" for i in range(40)]
    a = Attempt("int8 + float layers (residual joins)", "int8", "quantile", layers)
    assert a.short().endswith("+float[custom_scale_layer_0,custom_scale_layer_1,"
                              "custom_scale_layer_2,custom_scale_layer_3,custom_scale_layer_4,"
                              "custom_scale_layer_5,... 40 layers]")
    assert "... 40 layers]" in a.label() and len(a.label()) < 250
    assert a.to_dict()["float_layers"] == layers
    assert Attempt("s", "int8", "minmax", layers[:7]).short().count(",") == 6  # all seven


def test_a_confident_budget_is_judged_by_the_end_of_the_interval_not_the_mean():
    from edgecolor.quant.budget import Budget, checks_text
    from edgecolor.quant.validation import Score

    # 41 dB vs FP32 on average, but the interval over the photos reaches down to 38.5
    score = Score(psnr=25.0, psnr_vs_fp32=41.0, dpsnr=0.05,
                  ci={"psnr_vs_fp32": [38.5, 43.0], "dpsnr": [0.01, 0.12]})
    by_mean = Budget(max_dpsnr=0.1, min_psnr_fp32=40.0)
    sure = Budget(max_dpsnr=0.1, min_psnr_fp32=40.0, confident=True)
    assert by_mean.holds(score) and not sure.holds(score)
    checks = {c["figure"]: c for c in sure.checks(score)}
    assert checks["psnr_vs_fp32"] == {"figure": "psnr_vs_fp32", "limit": 40.0, "value": 38.5,
                                      "held": False, "margin": -1.5, "basis": "ci95",
                                      "mean": 41.0}
    assert checks["dpsnr"]["value"] == 0.12 and not checks["dpsnr"]["held"]  # upper end
    text = checks_text(sure.checks(score))
    assert "PSNR vs FP32 (lower end of the 95% interval; mean 41.00) 38.50 dB >= 40" in text
    assert "dPSNR (upper end of the 95% interval; mean 0.05) 0.12 dB <= 0.1" in text
    assert sure.text().endswith("over the 95% interval") and sure.to_dict()["confident"]
    # a tighter interval holds; a score without one cannot be confident
    assert sure.holds(Score(psnr=25.0, psnr_vs_fp32=41.0, dpsnr=0.05,
                            ci={"psnr_vs_fp32": [40.2, 41.8], "dpsnr": [0.03, 0.08]}))
    assert not sure.holds(Score(psnr=25.0, psnr_vs_fp32=60.0, dpsnr=0.0))


def test_a_confident_budget_searches_on_until_the_interval_holds(spiky, tmp_path):
    from edgecolor.converters.common import ConvertOptions
    from edgecolor.quant.budget import Budget, BudgetedConversion

    model, spec, calib, _ = spiky
    # a floor the mean of plain int8 keeps but its interval does not: by the mean the
    # search stops at plain int8; judged by the interval it goes on
    conv = BudgetedConversion("tflite", budget=Budget(max_dpsnr=BUDGET))
    plain = conv(model, spec, "int8", tmp_path / "a.tflite", ConvertOptions(calib=calib))
    first = plain["quantization"]["attempts"][0]["score"]
    lo, mean = first["ci95"]["psnr_vs_fp32"][0], first["psnr_vs_fp32"]
    assert lo < mean - 0.1, first  # two held-out photos of different fidelity
    floor = (lo + mean) / 2
    by_mean = BudgetedConversion("tflite", budget=Budget(min_psnr_fp32=floor))
    q = by_mean(model, spec, "int8", tmp_path / "b.tflite",
                ConvertOptions(calib=calib))["quantization"]
    assert [a["strategy"] for a in q["attempts"]] == ["int8"]
    sure = BudgetedConversion("tflite", budget=Budget(min_psnr_fp32=floor, confident=True))
    q = sure(model, spec, "int8", tmp_path / "c.tflite",
             ConvertOptions(calib=calib))["quantization"]
    assert len(q["attempts"]) > 1 and q["attempts"][0]["strategy"] == "int8"
    check = q["checks"][0]
    assert check["basis"] == "ci95" and check["held"]
    assert check["value"] == pytest.approx(q["validation"]["ci95"]["psnr_vs_fp32"][0],
                                           abs=1e-3) and check["value"] >= floor
    assert q["budget"]["confident"] is True


def test_cli_refuses_confident_without_a_budget(tmp_path):
    from click.testing import CliRunner

    from edgecolor.cli import cli

    result = CliRunner().invoke(cli, ["convert", "--model", "baseline", "--format", "tflite",
                                      "--precision", "int8", "--confident", "--no-budget",
                                      "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "--confident judges the int8 fidelity budget" in result.output
    assert not list(tmp_path.iterdir())
