"""Report, gates, comparison, quality aggregation, calibration-overlap and host-context logic
of the benchmark, on hand-made rows (the real end-to-end runs are in test_bench_cli.py)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from edgecolor.bench import quality
from edgecolor.bench.context import detect_emulation, host_context
from edgecolor.bench.report import (
    COLUMNS,
    add_comparison,
    check_rules,
    load_report,
    markdown,
    parse_rule,
    terminal_table,
    to_json,
    write_report,
)
from edgecolor.bench.suite import SCHEMA
from edgecolor.host import cpu_flags, cpu_model


def _row(name, ait, psnr, dpsnr, status="ok"):
    if status != "ok":
        return {"artifact": name, "status": status, "error": "load: broken file"}
    return {"artifact": name, "model": "baseline", "format": name.split("-")[1],
            "precision": name.split("-")[2].split(".")[0], "status": "ok", "mse": 0.004,
            "psnr_db": psnr, "ait_ms": ait, "dpsnr_db": dpsnr, "psnr_vs_fp32_db": 45.0,
            "p90_ms": ait * 1.2, "fps": 1000 / ait, "e2e_ms": ait + 5, "size_mb": 0.1,
            "peak_mb": 120.0}


def _report(rows):
    return {"schema": SCHEMA, "context": {"command": "edgecolor bench a", "date": "d"},
            "settings": {"runs": 5, "warmup": 1}, "images": {"used": ["x.jpg"], "n": 1},
            "references": [], "rows": rows}


@pytest.mark.parametrize("text,key,op,value", [
    ("dpsnr>0.5", "dpsnr_db", ">", 0.5),
    ("ait_ms > 100", "ait_ms", ">", 100.0),
    ("ait<=3", "ait_ms", "<=", 3.0),
    ("peak>=512", "peak_mb", ">=", 512.0),
    ("PSNR<20", "psnr_db", "<", 20.0),
    ("speedup<0.9", "speedup", "<", 0.9),
])
def test_parse_rule(text, key, op, value):
    rule = parse_rule(text)
    assert (rule.key, rule.op, rule.value) == (key, op, value)


@pytest.mark.parametrize("bad", ["dpsnr", "latency>3", "ait_ms>>3", "ait_ms>fast"])
def test_parse_rule_rejects_with_a_reason(bad):
    with pytest.raises(ValueError, match="--fail-if"):
        parse_rule(bad)


def test_rules_fire_only_on_matching_ok_rows():
    report = _report([_row("b-tflite-fp32.tflite", 2.0, 24.0, 0.0),
                      _row("b-tflite-int8.tflite", 1.0, 23.2, 0.8),
                      _row("b-onnx-int8.onnx", 0, 0, 0, status="failed")])
    fired = check_rules(report, [parse_rule("dpsnr>0.5"), parse_rule("ait_ms>100")])
    assert len(fired) == 1
    assert "b-tflite-int8.tflite" in fired[0] and "dpsnr>0.5" in fired[0]
    assert check_rules(report, [parse_rule("ait_ms>1.5")])[0].startswith("b-tflite-fp32")


def test_compare_adds_speedup_and_psnr_change():
    old = _report([_row("b-tflite-fp32.tflite", 4.0, 24.0, 0.0),
                   _row("b-tflite-int8.tflite", 2.0, 23.0, 1.0)])
    new = _report([_row("b-tflite-fp32.tflite", 2.0, 24.0, 0.0),
                   _row("b-tflite-int8.tflite", 4.0, 23.5, 0.5),
                   _row("b-onnx-fp32.onnx", 3.0, 24.0, 0.0)])
    add_comparison(new, old)
    fp32, int8, onnx = new["rows"]
    assert fp32["speedup"] == pytest.approx(2.0)
    assert int8["speedup"] == pytest.approx(0.5)
    assert int8["psnr_change_db"] == pytest.approx(0.5)
    assert int8["dpsnr_change_db"] == pytest.approx(-0.5)
    assert "speedup" not in onnx  # no old row to compare with
    assert check_rules(new, [parse_rule("speedup<0.9")]) == [
        "b-tflite-int8.tflite: speedup = 0.5 (rule 'speedup<0.9')"]
    assert "Speed vs old" in terminal_table(new)


def test_tables_show_units_and_failed_rows(tmp_path):
    report = _report([_row("b-tflite-int8.tflite", 1.25, 23.2, 0.8),
                      _row("b-onnx-int8.onnx", 0, 0, 0, status="failed")])
    text = terminal_table(report)
    header = text.splitlines()[0]
    assert [h for h, _, _ in COLUMNS][:3] == ["MSE", "PSNR (dB)", "AIT (ms)"]
    assert header.index("MSE") < header.index("PSNR (dB)") < header.index("AIT (ms)")
    assert "❌ load: broken file" in text and "1.25" in text
    md = markdown(report)
    assert "| b-onnx-int8.onnx | ❌ load: broken file |" in md
    assert "| b-tflite-int8.tflite | 0.00400 | 23.20 | 1.25 | +0.800 |" in md
    json_path, md_path = write_report(report, tmp_path / "out")
    assert load_report(json_path)["rows"][0]["ait_ms"] == 1.25
    assert md_path.read_text() == md
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic: no temp files left


def test_json_is_strict_non_finite_becomes_null():
    text = to_json(_report([{**_row("b-tflite-fp32.tflite", 1.0, 24.0, 0.0), "fps": math.inf}]))
    assert json.loads(text)["rows"][0]["fps"] is None
    assert "Infinity" not in text


def test_load_report_refuses_other_json(tmp_path):
    p = tmp_path / "x.json"
    p.write_text('{"rows": []}')
    with pytest.raises(ValueError, match="not an edgecolor bench report"):
        load_report(p)


def test_summarize_quality_means_and_worst():
    per_image = [{"image": "a.jpg", "psnr_db": 20.0, "mse": 0.01, "dpsnr_db": 0.1},
                 {"image": "b.jpg", "psnr_db": 30.0, "mse": 0.001, "dpsnr_db": 0.7}]
    s = quality.summarize_quality(per_image)
    assert s["n_images"] == 2
    assert s["psnr_db"] == pytest.approx(25.0)
    assert s["worst"]["psnr_db"] == {"image": "a.jpg", "value": 20.0}  # lowest PSNR
    assert s["worst"]["mse"]["image"] == "a.jpg"  # highest MSE
    assert s["worst"]["dpsnr_db"] == {"image": "b.jpg", "value": 0.7}  # largest loss


def test_dpsnr_is_reference_minus_artifact():
    rows = quality.add_reference([{"image": "a.jpg", "psnr_db": 23.5}],
                                 [{"image": "a.jpg", "psnr_db": 24.0}])
    assert rows[0]["dpsnr_db"] == pytest.approx(0.5)


def test_identical_images_psnr_is_capped(rng):
    img = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert quality.capped_psnr(img, img) == quality.PSNR_CAP_DB
    noisy = np.clip(img.astype(int) + 3, 0, 255).astype(np.uint8)
    assert 30.0 < quality.capped_psnr(img, noisy) < quality.PSNR_CAP_DB


def test_calibration_overlap_by_sha_digest_and_ahash():
    images = {"a.jpg": {"sha256": "1" * 64, "ahash": "ffff0000ffff0000"},
              "b.jpg": {"sha256": "2" * 64, "ahash": "0f0f0f0f0f0f0f0f"},
              "c.jpg": {"sha256": "3" * 64, "ahash": "ffff0000ffff0003"}}  # 2 bits from a
    manifests = {
        "m-tflite-int8.tflite": {"calibration": {"image_ahash": ["ffff0000ffff0000"],
                                                 "digest": "x"}},
        "m-onnx-int8.onnx": {"calibration": {"image_sha256": ["2" * 64], "digest": "y"}},
        "m-tflite-fp32.tflite": {"calibration": None},
    }
    found = {(o.image, o.artifact, o.how.split()[0])
             for o in quality.calibration_overlap(images, manifests)}
    assert found == {("a.jpg", "m-tflite-int8.tflite", "ahash"),
                     ("c.jpg", "m-tflite-int8.tflite", "ahash"),
                     ("b.jpg", "m-onnx-int8.onnx", "sha256")}
    # with a 1-bit threshold, c.jpg (2 bits from a calibration photo) no longer matches
    strict = quality.calibration_overlap(images, manifests, max_bits=1)
    assert {o.image for o in strict} == {"a.jpg", "b.jpg"}


def test_calibration_overlap_same_set_by_digest():
    import hashlib

    images = {"a.jpg": {"sha256": "1" * 64, "ahash": "0" * 16},
              "b.jpg": {"sha256": "2" * 64, "ahash": "f" * 16}}
    digest = hashlib.sha256(("1" * 64 + "2" * 64).encode()).hexdigest()
    found = quality.calibration_overlap(images, {"x.tflite": {"calibration": {
        "digest": digest, "image_ahash": []}}})
    assert {o.image for o in found} == {"a.jpg", "b.jpg"}
    assert {o.how for o in found} == {"digest"}


X86_CPUINFO = ("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel\t\t: 143\n"
               "model name\t: Intel(R) Xeon(R) Platinum 8480\nflags\t\t: fpu sse4_2 avx2 fma\n")
PI_CPUINFO = ("processor\t: 0\nFeatures\t: fp asimd crc32\nCPU implementer\t: 0x41\n"
              "CPU part\t: 0xd08\n\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n")


def test_cpu_model_and_flags_from_cpuinfo():
    assert cpu_model(X86_CPUINFO) == "Intel(R) Xeon(R) Platinum 8480"
    assert cpu_model(PI_CPUINFO) == "Raspberry Pi 4 Model B Rev 1.4"
    assert cpu_flags(X86_CPUINFO) == ["avx2", "fma", "fpu", "sse4_2"]
    assert "asimd" in cpu_flags(PI_CPUINFO)


def test_detect_emulation():
    assert detect_emulation(PI_CPUINFO, "aarch64", {}) == (False, None)
    assert detect_emulation(X86_CPUINFO, "x86_64", {}) == (False, None)
    assert detect_emulation(PI_CPUINFO, "aarch64", {"EDGECOLOR_EMULATED": "1"})[0]
    assert not detect_emulation(PI_CPUINFO, "aarch64", {"EDGECOLOR_EMULATED": "0"})[0]
    emulated, why = detect_emulation(X86_CPUINFO, "aarch64", {})  # qemu-user shows the host
    assert emulated and "x86" in why
    assert detect_emulation("model name\t: QEMU Virtual CPU version 2.5+\n", "x86_64", {})[0]


def test_host_context_has_what_a_reader_needs():
    ctx = host_context(threads=2, argv=["/usr/bin/edgecolor", "bench", "my dir"])
    assert ctx["command"] == "edgecolor bench 'my dir'"
    assert ctx["threads"] == 2 and ctx["python"] and ctx["machine"] and ctx["os"]
    assert ctx["cpu"]["cores"] >= 1 and ctx["cpu"]["model"]
    assert ctx["versions"]["numpy"] == np.__version__
    assert isinstance(ctx["emulated"], bool)


def test_image_scores_without_scikit_image_keep_numpy_metrics(rng, monkeypatch):
    truth = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = np.clip(truth.astype(int) + 8, 0, 255).astype(np.uint8)
    full = quality.image_scores(truth, out)
    assert 0 < full["ssim"] < 1 and full["ciede2000"] > 0 and full["psnr_db"] > 25
    monkeypatch.setattr(quality, "have_skimage", lambda: False)  # a device without [metrics]
    lean = quality.image_scores(truth, out)
    assert lean["ssim"] is None and lean["ciede2000"] is None
    assert lean["psnr_db"] == full["psnr_db"] and lean["mse"] == full["mse"]
    assert "ssim" not in quality.summarize_quality([{"image": "a", **lean}])


def test_ahash_matches_are_confirmed_by_the_pictures_when_calibration_photos_are_here(
        tmp_path, rng):
    import cv2

    from edgecolor.calibration import average_hash
    from edgecolor.imageio import read_rgb, write_image

    def layout(top: int, bottom: int) -> np.ndarray:  # bright sky over dark ground
        img = np.full((96, 128, 3), bottom, np.float32)
        img[:48] = top
        return np.clip(img + rng.normal(0, 4, img.shape), 0, 255).astype(np.uint8)

    calib, evals = tmp_path / "calib", tmp_path / "eval"
    write_image(calib / "a.png", layout(200, 50))
    write_image(evals / "other.png", layout(250, 0))  # same aHash, another picture
    small = cv2.resize(read_rgb(calib / "a.png"), (64, 48), interpolation=cv2.INTER_AREA)
    write_image(evals / "a_copy.jpg", small)  # the calibration photo, resized + JPEG
    images = {p.name: {"path": str(p), "sha256": quality.image_sha256(p),
                       "ahash": average_hash(read_rgb(p))} for p in sorted(evals.iterdir())}
    assert images["other.png"]["ahash"] == images["a_copy.jpg"]["ahash"]
    manifest = {"calibration": {"folder": str(calib),
                                "image_ahash": [average_hash(read_rgb(calib / "a.png"))],
                                "image_sha256": [quality.image_sha256(calib / "a.png")]}}
    found = quality.calibration_overlap(images, {"m.tflite": manifest})
    assert [(o.image, o.how.endswith("same picture")) for o in found] == [("a_copy.jpg", True)]
    manifest["calibration"]["folder"] = str(tmp_path / "gone")  # cannot look: both count
    found = quality.calibration_overlap(images, {"m.tflite": manifest})
    assert {o.image for o in found} == {"a_copy.jpg", "other.png"}
