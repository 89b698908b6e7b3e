"""Issue 18, a new user's first hour: nothing silent or misleading. Random weights are loud
(colorize refuses, convert/bench/info mark them "speed only"), speeds say where they were
measured, gray eval photos and unknown --option keys are refused, info --json is one document,
check-trt groups repeated failures, small calibration sets warn, rpi4 keeps int16x8 on request,
installs are quiet, errors have one prefix."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgecolor.bench.marks import (
    RANDOM_CELL,
    RANDOM_MARK,
    Host,
    mark_rows,
    measured_on,
    weights_source_of,
)
from edgecolor.cli import cli
from edgecolor.imageio import read_rgb, write_image
from edgecolor.samples import CALIB_DIR, EVAL_DIR

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kw)


@pytest.fixture()
def empty_home(tmp_path, monkeypatch):
    """No cached weights: only what ships in git counts."""
    monkeypatch.setenv("EDGECOLOR_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


# 7. --option keys ---------------------------------------------------------------------------

def test_unknown_builder_option_is_refused_naming_the_valid_keys():
    from edgecolor.zoo import create_model, create_spec, model_options

    assert model_options("eccv16") == ["width", "head", "temperature"]
    assert "fusion" in model_options("koalarization")
    assert model_options("pix2pix-mobilenetv2-lab") == ["width", "backbone_weights"]
    with pytest.raises(ValueError, match=r"no option 'bogus'; its options: width$"):
        create_spec("baseline", bogus=1)
    with pytest.raises(ValueError, match="its options: width, head, temperature"):
        create_model("eccv16", input_size=32, weights=None, bogus=1)  # before any TF work
    # options that do not shape the spec are still accepted by create_spec
    assert create_spec("eccv16", width=0.5, head="bins").output.kind == "ab_bins"


def test_convert_refuses_an_unknown_option_in_one_line_exit_2(tmp_path):
    res = _run("convert", "--model", "eccv16", "--option", "bogus=1", "-o", tmp_path / "a")
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --option")
    assert "'bogus'" in lines[0] and "width, head, temperature" in lines[0]
    assert not (tmp_path / "a").exists()


# 13. one error prefix ------------------------------------------------------------------------

def test_click_errors_use_the_same_lowercase_prefix():
    res = _run("convert", "--bogus")
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: No such option")
    assert "convert --help" in lines[0] and "Error" not in res.stderr
    assert _run("nope").stderr.startswith("error: No such command 'nope'")


# 1. random weights ---------------------------------------------------------------------------

def test_weights_source(empty_home, tmp_path):
    from edgecolor.zoo import weights_source

    assert weights_source("baseline", "default") == "bundled"
    assert weights_source("baseline", "default", width=0.25) == "random"  # no such weights
    assert weights_source("baseline", "faces") == "bundled"
    assert weights_source("eccv16", "default") == "random"
    assert weights_source("eccv16", None) == "random"
    cached = empty_home / "weights" / "eccv16.weights.h5"
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"\x89HDF\r\n\x1a\n")
    assert weights_source("eccv16", "default") == "cache"
    assert weights_source("eccv16", str(tmp_path / "mine.weights.h5")) == "file"
    assert weights_source_of({"weights": "random-init"}) == "random"  # manifests before this


def test_colorize_refuses_random_weights_and_says_how_to_get_them(empty_home, tmp_path):
    res = _run("colorize", EVAL_DIR, "-o", tmp_path / "out", "--model", "eccv16")
    assert res.exit_code == 2
    line = res.stderr.strip().splitlines()[-1]
    assert line.startswith("error: model eccv16 has no trained weights")
    for how in ("edgecolor train --model eccv16", "edgecolor import-caffe",
                str(empty_home / "weights" / "eccv16.weights.h5"), "--random-weights"):
        assert how in line
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def random_art(tmp_path_factory):
    """A 32x32 baseline at width 0.25 (no trained weights at that width) as TFLite fp32,
    converted through the CLI."""
    out = tmp_path_factory.mktemp("random") / "art"
    res = _run("convert", "--model", "baseline", "--width", "0.25", "--target", "rpi4",
               "--format", "tflite", "--precision", "fp32", "--imgsz", "32", "-o", out)
    return out, res


@pytest.mark.slow
def test_convert_marks_random_weights_in_rows_summary_and_manifest(random_art):
    out, res = random_art
    assert res.exit_code == 0, res.output
    assert "warning: baseline has no trained weights here" in res.stderr
    table = res.stdout.strip().splitlines()
    row = next(ln for ln in table if ln.startswith("baseline-tflite-fp32.tflite"))
    assert row.endswith(RANDOM_MARK)
    assert table[-1].endswith(f"— {RANDOM_MARK} (no trained weights)")
    manifest = json.loads((out / "baseline-tflite-fp32.json").read_text())
    assert manifest["weights_source"] == "random"
    assert manifest["weights"] == "random-init"  # not the paper-width file it never loaded
    info = _run("info", out / "baseline-tflite-fp32.tflite")
    assert f"weights: {RANDOM_MARK}" in info.stdout


@pytest.mark.slow
def test_colorize_an_artifact_of_random_weights_needs_the_flag(random_art, tmp_path):
    out, _ = random_art
    art = out / "baseline-tflite-fp32.tflite"
    refused = _run("colorize", EVAL_DIR / "kodim07.jpg", "-o", tmp_path / "a", "--artifact", art)
    assert refused.exit_code == 2 and "converted from random weights" in refused.stderr
    ran = _run("colorize", EVAL_DIR / "kodim07.jpg", "-o", tmp_path / "b", "--artifact", art,
               "--random-weights")
    assert ran.exit_code == 0, ran.output
    assert (tmp_path / "b" / "kodim07.jpg").is_file()


# 5. info --json ------------------------------------------------------------------------------

@pytest.mark.slow
def test_info_json_of_several_files_is_one_document(random_art, tmp_path):
    out, _ = random_art
    art = out / "baseline-tflite-fp32.tflite"
    twin = tmp_path / art.name
    shutil.copy(art, twin)
    shutil.copy(out / "baseline-tflite-fp32.json", tmp_path / "baseline-tflite-fp32.json")
    res = _run("info", art, twin, "--json")
    assert res.exit_code == 0, res.output
    docs = json.loads(res.stdout)  # one parseable document
    assert isinstance(docs, list) and len(docs) == 2
    assert all(d["weights_source"] == "random" for d in docs)
    one = json.loads(_run("info", art, "--json").stdout)
    assert isinstance(one, dict) and one["format"] == "tflite"


# 3 + 1. bench rows: where measured, speed only -----------------------------------------------

def test_measured_on_names_the_host_and_a_target_mismatch():
    x86 = Host("x86_64", "x86-cpu")
    assert measured_on("x86-cpu", x86) == "measured on x86_64 host (x86-cpu)"
    assert measured_on("rpi4", x86) == "measured on x86_64 host (x86-cpu), not on rpi4"
    assert measured_on(None, x86) == "measured on x86_64 host (x86-cpu)"
    qemu = Host("aarch64", "rpi4", emulated=True, why="EDGECOLOR_EMULATED is set")
    assert measured_on("rpi4", qemu) == "emulated aarch64 (qemu), not a real rpi4"


def test_bench_rows_carry_the_marks_and_quality_cells_say_random():
    from edgecolor.bench.report import markdown, table_rows

    rows = [{"artifact": "eccv16-tflite-int8.tflite", "status": "ok", "ait_ms": 12.5,
             "psnr_db": 28.49, "mse": 0.004, "dpsnr_db": 0.01, "psnr_vs_fp32_db": 45.0},
            {"artifact": "baseline-tflite-int8.tflite", "status": "ok", "ait_ms": 3.0,
             "psnr_db": 24.3, "mse": 0.004}]
    manifests = {"eccv16-tflite-int8.tflite": {"weights_source": "random",
                                               "target": {"name": "rpi4"}},
                 "baseline-tflite-int8.tflite": {"weights_source": "bundled",
                                                 "target": {"name": "x86-cpu"}}}
    mark_rows(rows, manifests, Host("x86_64", "x86-cpu"))
    assert rows[0]["speed_only"] and RANDOM_MARK in rows[0]["notes"]
    assert rows[0]["measured_on"] == "measured on x86_64 host (x86-cpu), not on rpi4"
    assert rows[1]["measured_on"] == "measured on x86_64 host (x86-cpu)"
    report = {"rows": rows, "references": []}
    head, random_row, trained = table_rows(report)
    col = {h: i for i, h in enumerate(head)}
    assert random_row[0] == f"eccv16-tflite-int8.tflite ({RANDOM_MARK})"
    for h in ("MSE", "PSNR (dB)", "ΔPSNR (dB)", "PSNR vs FP32 (dB)"):
        assert random_row[col[h]] == RANDOM_CELL  # not 28.49
    assert random_row[col["AIT (ms)"]] == "12.50"  # speed stays
    assert random_row[col["Measured on"]].endswith("not on rpi4")
    assert trained[col["PSNR (dB)"]] == "24.30"
    assert f"{RANDOM_MARK}: eccv16-tflite-int8.tflite" in markdown(report)


def test_convert_summary_says_where_a_speed_was_measured(tmp_path):
    from edgecolor.cli.convert import summary_table
    from edgecolor.converters.run import ArtifactResult

    r = ArtifactResult("tflite", "int8", "baseline-tflite-int8.tflite",
                       tmp_path / "baseline-tflite-int8.tflite", ok=True, size_mb=0.3,
                       psnr_db=41.0, max_abs_err=0.01,
                       notes=["budget met by int8: dPSNR 0.10 dB; 14.35x FP32 speed"])
    text = summary_table([r], weights_source="bundled", target="rpi4")
    assert (f"14.35x FP32 speed (measured on {platform.machine()} host" in text
            and "not on rpi4)" in text)
    assert RANDOM_MARK not in text
    assert RANDOM_MARK in summary_table([r], weights_source="random", target="rpi4")


# 2. gray eval photos -------------------------------------------------------------------------

def _gray_copy(src: Path, dst: Path) -> Path:
    rgb = read_rgb(src)
    g = rgb.mean(axis=2).astype(np.uint8)
    write_image(dst, np.stack([g, g, g], axis=2))
    return dst


def test_gray_eval_photos_are_excluded_with_a_count_or_refused(tmp_path):
    from edgecolor.bench.suite import BenchError, _eval_images

    color = sorted(EVAL_DIR.glob("*.jpg"))[:2]
    gray = [_gray_copy(p, tmp_path / f"gray_{p.stem}.png") for p in color]
    lines: list[str] = []
    images = _eval_images(color + gray, lines.append)
    assert sorted(images) == sorted(p.name for p in color)
    assert lines == [f"warning: 2 eval photo(s) without color (mean chroma < 2 Lab units) "
                     f"excluded from quality: {gray[0].name}, {gray[1].name}"]
    with pytest.raises(BenchError, match="all 2 eval photos are gray"):
        _eval_images(gray, lines.append)


# 13. calibration overlap: one summary line ---------------------------------------------------

def test_calibration_overlap_is_one_line_details_with_verbose():
    from edgecolor.bench.suite import _guard_eval_set

    images = {f"p{i}.jpg": {"sha256": f"s{i}", "ahash": "0" * 16} for i in range(5)}
    manifests = {f"a{k}.tflite": {"calibration": {"image_sha256": ["s0", "s1", "s2"]}}
                 for k in range(3)}
    quiet: list[str] = []
    keep, overlaps = _guard_eval_set(images, manifests, False, quiet.append)
    assert sorted(keep) == ["p3.jpg", "p4.jpg"] and len(overlaps) == 9
    assert quiet == ["warning: 3 eval photo(s) excluded from quality as calibration photos of "
                     "3 artifact(s); 2 left (--allow-overlap keeps them, marked in the report; "
                     "-v lists them)"]
    loud: list[str] = []
    _guard_eval_set(images, manifests, False, loud.append, verbose=True)
    assert len(loud) == 9 + 1


# 6. check-trt ---------------------------------------------------------------------------------

def _uint8_qdq_chain(n: int):
    """x -> n x (Q/DQ with a uint8 zero point -> Relu): n repeated uint8 failures."""
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(np.array(0.02, np.float32), "s"),
             numpy_helper.from_array(np.array(128, np.uint8), "zp")]
    nodes, x = [], "x"
    for i in range(n):
        nodes += [helper.make_node("QuantizeLinear", [x, "s", "zp"], [f"q{i}"], name=f"q{i}"),
                  helper.make_node("DequantizeLinear", [f"q{i}", "s", "zp"], [f"d{i}"],
                                   name=f"dq{i}"),
                  helper.make_node("Relu", [f"d{i}"], [f"r{i}"], name=f"relu{i}")]
        x = f"r{i}"
    graph = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, 4, 8, 8])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_check_trt_groups_repeated_failures_and_names_the_trt_artifact(tmp_path):
    import onnx

    from edgecolor.converters.trt_check import check_onnx, group_problems

    path = tmp_path / "m-onnx-int8-cpu.onnx"
    onnx.save(_uint8_qdq_chain(61), path)
    problems = check_onnx(path, "8.6")
    assert problems == [  # 244 per-node lines before
        "uint8 zero point (TensorRT quantizes to int8): 61 QuantizeLinear + "
        "61 DequantizeLinear nodes, e.g. 'q0'",
        "zero point [128] != 0 (TensorRT quantization is symmetric): 61 QuantizeLinear + "
        "61 DequantizeLinear nodes, e.g. 'q0'"]
    assert group_problems(["QuantizeLinear 'a': odd", "opset 19 outside"]) == [
        "QuantizeLinear 'a': odd", "opset 19 outside"]
    res = _run("check-trt", path, "--trt", "8.6")
    assert res.exit_code == 1
    lines = res.stdout.strip().splitlines()
    assert lines[0].startswith("note: m-onnx-int8-cpu.onnx is edgecolor's int8-cpu artifact")
    assert "the TensorRT one is m-onnx-int8.onnx" in lines[0]
    assert len(lines) == 4  # the note, one FAIL line per reason, the count


# 9. small calibration sets -------------------------------------------------------------------

def test_small_calibration_set_warns_with_counts_and_risk(tmp_path, capsys):
    from edgecolor.calibration import CalibrationSet
    from edgecolor.zoo import create_spec

    folder = tmp_path / "calib"
    shutil.copytree(CALIB_DIR, folder)
    cs = CalibrationSet.from_folder(folder, create_spec("baseline", 32), size=None)
    err = capsys.readouterr().err
    assert (f"{folder}: calibrating on {len(cs)} image(s), {len(cs.holdout)} held out" in err
            and "fewer than 100 risks" in err)
    CalibrationSet.from_folder(CALIB_DIR, create_spec("baseline", 32))  # quick-check only
    assert "fewer than 100" not in capsys.readouterr().err


# 11. rpi4's default set -----------------------------------------------------------------------

def test_rpi4_makes_int16x8_only_on_request():
    from edgecolor.converters.run import plan_rows
    from edgecolor.devices import load_profile

    rpi4 = load_profile("rpi4")
    assert ("tflite", "int16x8") not in plan_rows(rpi4)
    assert plan_rows(rpi4, precisions=["int16x8"]) == [("tflite", "int16x8")]
    assert plan_rows(rpi4, ["tflite"], ["int8", "int16x8"]) == [("tflite", "int8"),
                                                                ("tflite", "int16x8")]
    assert "reference kernels" in rpi4.extra["on_request_reason"]


# 12. quiet installs ---------------------------------------------------------------------------

def test_every_data_folder_is_a_listed_package():
    import configparser

    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    package_dir = dict(line.split(" = ") for line in
                       cfg["options"]["package_dir"].strip().splitlines())
    missing = set()
    for pkg, folder in package_dir.items():
        for d in (ROOT / folder).rglob("*"):
            rel = d.relative_to(ROOT / folder)
            if (not d.is_dir() or "__pycache__" in rel.parts or "tests" in rel.parts
                    or (d / "__init__.py").exists()):
                continue
            tracked = subprocess.run(["git", "ls-files", str(d)], cwd=ROOT, text=True,
                                     capture_output=True).stdout.split()
            if any(Path(t).parent == d.relative_to(ROOT) for t in tracked):
                missing.add(".".join((pkg, *rel.parts)))
    # setuptools warns for each folder of shipped files that is not a listed package
    assert missing - listed == set()


@pytest.mark.slow
def test_building_the_wheel_prints_no_packaging_warnings(tmp_path):
    src = tmp_path / "src"
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, text=True,
                           capture_output=True, check=True).stdout.split()
    for f in files:
        if (ROOT / f).is_file() and not f.startswith(("tests/", "benchmarks/", "docs/")):
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
    shutil.copy2(ROOT / "setup.cfg", src / "setup.cfg")  # the working copy's
    res = subprocess.run([sys.executable, "-c", "from setuptools import build_meta as b; "
                          f"print(b.build_wheel({str(tmp_path / 'whl')!r}))"],
                         cwd=src, text=True, capture_output=True)
    assert res.returncode == 0, res.stderr[-2000:]
    log = res.stdout + res.stderr
    assert "is absent from the" not in log and "as data is deprecated" not in log
    import zipfile

    names = zipfile.ZipFile(next((tmp_path / "whl").glob("*.whl"))).namelist()
    for shipped in ("edgecolor/devices/profiles/rpi4.toml", "edgecolor/zoo/data/pts_in_hull.npy",
                    "edgecolor/converters/data/trt_onnx_ops.toml",
                    "edgecolor/data/samples/eval/kodim07.jpg",
                    "edgecolor/data/samples/SOURCES.md"):
        assert shipped in names


def test_browser_deps_says_the_download_size_and_never_stops_make(tmp_path):
    if os.geteuid() != 0 or shutil.which("make") is None:
        pytest.skip("needs root and make: the apt-get branch runs only as root")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "apt-get").write_text("#!/bin/sh\necho 'E: no network' >&2\nexit 100\n")
    (bin_dir / "apt-get").chmod(0o755)
    os.symlink(shutil.which("id"), bin_dir / "id")
    # PATH without chromium (or the real apt-get): the install branch runs and fails
    res = subprocess.run([shutil.which("make"), "-s", "-C", str(ROOT), "browser-deps"],
                         env={"PATH": str(bin_dir)}, text=True, capture_output=True)
    assert res.returncode == 0, res.stdout + res.stderr
    out = res.stdout.splitlines()
    assert "about 480 MB to download" in out[0]
    assert "could not be installed" in out[-1] and "skipped" in out[-1]
