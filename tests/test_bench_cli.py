"""`edgecolor bench` / `edgecolor benchmark` end to end on real artifacts: a width-reduced
64x64 baseline converted to TFLite fp32 + int8 (calibrated on the bundled calib photos) and
measured on the bundled eval photos, each artifact in its own process."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgecolor.bench.report import COLUMNS
from edgecolor.cli import cli

pytestmark = pytest.mark.slow
FAST = ["--runs", "2", "--warmup", "0"]


def _bench(*args: str):
    return CliRunner().invoke(cli, ["bench", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory) -> Path:
    """Folder with baseline-tflite-fp32 and -int8 (64x64, width 0.25, saved seeded weights)."""
    from checks import seeded_tflite_pair

    return seeded_tflite_pair(tmp_path_factory.mktemp("bench"))


@pytest.fixture(scope="module")
def first_report(artifacts, tmp_path_factory) -> tuple[Path, object]:
    """A full bench run (Keras FP32 reference) -> (report.json path, CLI result)."""
    out = tmp_path_factory.mktemp("report1")
    result = _bench(str(artifacts), "-o", str(out), "--runs", "3", "--warmup", "1")
    return out / "report.json", result


def test_report_fills_every_column_with_finite_numbers(first_report):
    path, result = first_report
    assert result.exit_code == 0, result.output
    report = json.loads(path.read_text())
    assert report["schema"] == "edgecolor.bench/1"
    assert [r["artifact"] for r in report["rows"]] == ["baseline-tflite-fp32.tflite",
                                                       "baseline-tflite-int8.tflite"]
    for row in report["rows"]:
        assert row["status"] == "ok"
        for _, key, _ in COLUMNS:
            if key == "measured_on":  # where the speeds come from, vs the target (x86-cpu)
                assert row[key] == "measured on x86_64 host (x86-cpu)", row[key]
                continue
            assert isinstance(row[key], float) and math.isfinite(row[key]), (row["artifact"], key)
        assert row["weights_source"] == "file" and not row.get("speed_only")
        assert row["n_images"] == 6 and len(row["per_image"]) == 6
        assert row["ait_ms"] == row["model_timing"]["mean"] > 0
        assert row["min_ms"] <= row["median_ms"] <= row["p90_ms"] <= row["p99_ms"]
        assert row["fps"] == pytest.approx(1000.0 / row["median_ms"])
        assert row["e2e_ms"] > row["min_ms"]  # end to end includes the model run
        assert row["peak_run_mb"] > 10 and row["load_ms"] > 0
        assert row["worst"]["psnr_db"]["image"].startswith("kodim")
    fp32, int8 = report["rows"]
    assert report["references"][0]["kind"] == "keras"  # rebuilt from the recorded weights
    assert abs(fp32["dpsnr_db"]) < 0.01 and fp32["psnr_vs_fp32_db"] > 60
    assert 25 < int8["psnr_vs_fp32_db"] < 100
    assert int8["size_mb"] < fp32["size_mb"]
    ctx = report["context"]
    assert ctx["command"].startswith("edgecolor") or ctx["command"]
    assert ctx["versions"]["ai-edge-litert"] and ctx["artifacts"][fp32["artifact"]]
    md = (path.parent / "report.md").read_text()
    assert "| Artifact | MSE | PSNR (dB) | AIT (ms) | ΔPSNR (dB)" in md
    assert "| baseline-tflite-int8.tflite |" in md and "Keras FP32 reference" in md
    assert "AIT (ms)" in result.stdout and "baseline-tflite-int8.tflite" in result.stdout
    assert "[2/2] baseline-tflite-int8.tflite: AIT" in result.stderr


def test_compare_and_fail_if_exit_codes(artifacts, first_report, tmp_path):
    old, _ = first_report
    quiet = _bench(str(artifacts), "-o", str(tmp_path / "a"), *FAST, "--reference", "artifact",
                   "--compare", str(old), "--fail-if", "dpsnr>50", "--fail-if", "ait_ms>1e6")
    assert quiet.exit_code == 0, quiet.output
    rows = json.loads((tmp_path / "a" / "report.json").read_text())["rows"]
    assert all(r["speedup"] > 0 and "psnr_change_db" in r for r in rows)
    assert "Speed vs old" in quiet.stdout

    fired = _bench(str(artifacts), "-o", str(tmp_path / "b"), *FAST, "--reference", "artifact",
                   "--fail-if", "ait_ms>0", "--fail-if", "dpsnr>50")
    assert fired.exit_code == 3
    gate_lines = [ln for ln in fired.stderr.splitlines() if ln.startswith("fail-if:")]
    assert len(gate_lines) == 2 and all("'ait_ms>0'" in ln for ln in gate_lines)
    assert "dpsnr>50" not in fired.stderr
    assert (tmp_path / "b" / "report.json").is_file()  # the report is still written

    bad = _bench(str(artifacts), "-o", str(tmp_path / "c"), "--fail-if", "latency>3")
    assert bad.exit_code == 2 and "unknown key" in bad.stderr


def test_corrupted_artifact_gets_a_failed_row_others_measured(artifacts, tmp_path):
    folder = tmp_path / "art"
    shutil.copytree(artifacts, folder)
    with open(folder / "baseline-tflite-int8.tflite", "ab") as f:
        f.write(b"tampered")
    result = _bench(str(folder), *FAST, "--reference", "artifact")
    assert result.exit_code == 1
    fp32, int8 = json.loads((folder / "report.json").read_text())["rows"]
    assert int8["status"] == "failed" and "sha256" in int8["error"]
    assert fp32["status"] == "ok" and math.isfinite(fp32["ait_ms"]) and fp32["psnr_db"] > 5
    assert "❌" in (folder / "report.md").read_text()
    assert "❌" in result.stdout and "sha256" in result.stdout


def test_calibration_photos_as_eval_set(artifacts, tmp_path):
    from edgecolor.calibration import average_hash
    from edgecolor.imageio import read_rgb
    from edgecolor.samples import CALIB_DIR, sample_images

    calib = json.loads((artifacts / "baseline-tflite-int8.json").read_text())["calibration"]
    used = tmp_path / "used"
    used.mkdir()
    for p in sample_images("calib"):
        if average_hash(read_rgb(p)) in calib["image_ahash"]:
            shutil.copy(p, used / p.name)
    assert len(list(used.iterdir())) == calib["size"] >= 2

    refused = _bench(str(artifacts), "-o", str(tmp_path / "r"), *FAST, "--images", str(used))
    assert refused.exit_code == 2
    assert "used for calibration" in refused.stderr and "--allow-overlap" in refused.stderr
    assert not (tmp_path / "r" / "report.json").exists()

    # the whole calib folder: its held-out photo is kept, the calibration photos excluded
    out = tmp_path / "x"
    kept = _bench(str(artifacts), "-o", str(out), *FAST, "--images", str(CALIB_DIR),
                  "--reference", "artifact")
    assert kept.exit_code == 0, kept.output
    # one summary line with the count, not one WARNING per photo (those come with -v)
    assert f"warning: {calib['size']} eval photo(s) excluded" in kept.stderr
    assert "was used to calibrate" not in kept.stderr and "WARNING" not in kept.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["images"]["n"] == 6 - calib["size"]
    assert len({o["image"] for o in report["images"]["overlap"]}) == calib["size"]
    assert {o["how"] for o in report["images"]["overlap"]} == {"sha256"}  # exact files
    assert all(r["n_images"] == 6 - calib["size"] for r in report["rows"])

    forced = _bench(str(artifacts), "-o", str(out), *FAST, "--images", str(used),
                    "--reference", "artifact", "--allow-overlap")
    assert forced.exit_code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["images"]["overlap_kept"] and report["images"]["n"] == calib["size"]
    assert "Calibration photos in the eval set" in (out / "report.md").read_text()


def test_failed_keras_reference_falls_back_to_the_fp32_artifact(artifacts, tmp_path):
    folder = tmp_path / "art"
    shutil.copytree(artifacts, folder)
    for manifest in folder.glob("*.json"):  # weights that no longer fit the recorded options
        data = json.loads(manifest.read_text())
        data["model_options"] = {"width": 0.5}
        manifest.write_text(json.dumps(data))
    result = _bench(str(folder), *FAST)
    assert result.exit_code == 0, result.output
    ref = json.loads((folder / "report.json").read_text())["references"][0]
    assert ref["kind"] == "artifact"
    assert ref["source"].startswith("FP32 artifact baseline-tflite-fp32.tflite")
    assert "Keras FP32 model baseline failed" in ref["source"]


def test_bench_refuses_a_folder_without_artifacts(tmp_path):
    result = _bench(str(tmp_path))
    assert result.exit_code == 2 and "no artifacts" in result.stderr


def test_benchmark_converts_then_benches(tmp_path):
    out = tmp_path / "bm"
    result = CliRunner().invoke(cli, [
        "benchmark", "--model", "baseline", "--target", "x86-cpu", "--format", "tflite",
        "--precision", "fp32", "--imgsz", "64", "--width", "0.25", "-o", str(out), *FAST],
        catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert [r["artifact"] for r in report["rows"]] == ["baseline-tflite-fp32.tflite"]
    assert report["conversion"][0]["ok"] and report["rows"][0]["status"] == "ok"
    assert report["context"]["device_profile"]["name"] == "x86-cpu"
    assert (out / "baseline-tflite-fp32.tflite").is_file() and (out / "report.md").is_file()
    assert "converting baseline-tflite-fp32.tflite" in result.stderr
