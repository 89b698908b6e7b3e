"""report.html end to end: `edgecolor bench --video` on real artifacts (a width-reduced 64x64
baseline as TFLite fp32 + int8, colorful seeded weights), then the page, its pictures, the
plots, the seed study's published numbers and flicker; `edgecolor report` renders the same
from report.json; headless Chromium loads the page from disk (no console errors, every row
and picture there). With EDGECOLOR_WRITE_DOCS=1 the screenshot is saved as docs/report.png.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from test_camera_browser import CHROMIUM
from test_flicker import make_clip

from edgecolor.bench.gallery import FULL_SIDE, THUMB_SIDE
from edgecolor.bench.html import referenced_files, render
from edgecolor.bench.report import add_comparison
from edgecolor.cli import cli
from edgecolor.imageio import atomic_write_bytes

pytestmark = pytest.mark.slow
DOCS_PNG = Path(__file__).resolve().parents[1] / "docs" / "report.png"
N_PHOTOS = 6  # the bundled eval photos
GRID_CELLS = 5  # original, gray, FP32, artifact, heat map


@pytest.fixture(scope="module")
def bench_out(tmp_path_factory) -> tuple[Path, object]:
    """`edgecolor bench ART -o OUT --video CLIP` -> (OUT, CLI result)."""
    from checks import seeded_tflite_pair

    root = tmp_path_factory.mktemp("html")
    seeded_tflite_pair(root, ab_gain=20.0)  # colors, so int8 differs visibly
    clip = make_clip(root / "clip.avi", frames=10, noise=5.0)
    out = root / "out"
    result = CliRunner().invoke(cli, ["bench", str(root / "art"), "-o", str(out), "--runs", "2",
                                      "--warmup", "0", "--video", str(clip)],
                                catch_exceptions=False)
    return out, result


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def _rows(report: dict) -> dict[str, dict]:
    return {r["artifact"]: r for r in report["rows"]}


def test_html_and_bounded_pictures_beside_the_json(bench_out):
    out, result = bench_out
    assert result.exit_code == 0, result.output
    assert (out / "report.html").is_file() and "report.html" in result.output
    report = _report(out)
    assert sorted(report["gallery"]["photos"]) == sorted(report["images"]["used"])
    for row in report["rows"]:
        gal = row["gallery"]
        assert gal["n"] == gal["kept"] == N_PHOTOS and len(gal["order"]) == N_PHOTOS
    files = referenced_files(report)
    # photos: original + gray; FP32 reference: colors; each artifact: colors + heat map
    assert len(files) == 2 * N_PHOTOS * (2 + 1 + 2 * 2)
    total = 0
    for rel in files:
        img = cv2.imread(str(out / rel))
        assert img is not None, rel
        side = THUMB_SIDE if rel.endswith(".thumb.jpg") else FULL_SIDE
        assert max(img.shape[:2]) <= side, rel
        total += (out / rel).stat().st_size
    assert total < 3_000_000


def test_worst_photos_first_and_heat_maps_show_the_int8_difference(bench_out):
    out, _ = bench_out
    rows = _rows(_report(out))
    fp32, int8 = rows["baseline-tflite-fp32.tflite"], rows["baseline-tflite-int8.tflite"]
    de = {p["image"]: p["de_vs_fp32"] for p in int8["per_image"]}
    order = int8["gallery"]["order"]
    assert [de[n] for n in order] == sorted(de.values(), reverse=True)
    assert max(p["de_vs_fp32"] for p in fp32["per_image"]) < 0.05  # same colors as Keras
    assert min(de.values()) > 0.1

    def heat_level(row):
        return np.mean([cv2.imread(str(out / p["heat"]["full"])).mean()
                        for p in row["gallery"]["photos"].values()])

    assert heat_level(fp32) < 3.0  # ΔE ~0: the scale's black
    assert heat_level(int8) > heat_level(fp32) + 5.0


def test_flicker_for_fp32_and_each_artifact(bench_out):
    out, result = bench_out
    report = _report(out)
    ref = report["references"][0]["row"]["flicker"]
    rows = _rows(report)
    assert "Flicker (ΔE00, static regions)" in result.output
    assert "Flicker (ΔE00, static regions)" in (out / "report.md").read_text()
    for fl in [ref] + [r["flicker"] for r in rows.values()]:
        assert fl["frames"] == 10 and len(fl["raw"]) == len(fl["smoothed"]) == 9
        assert 0 < fl["mean_smoothed"] < fl["mean_raw"]
    # the fp32 artifact colors the clip as the Keras model does
    assert rows["baseline-tflite-fp32.tflite"]["flicker"]["mean_raw"] == pytest.approx(
        ref["mean_raw"], abs=0.02)
    page = (out / "report.html").read_text()
    assert 'id="flicker"' in page and page.count('class="series"') >= 2 * 3


def test_page_content(bench_out):
    out, _ = bench_out
    report = _report(out)
    page = (out / "report.html").read_text()
    body = re.search(r'<table class="sortable" id="summary">.*?<tbody>(.*?)</tbody>', page,
                     re.S).group(1)
    assert body.count("<tr") == 3  # Keras FP32 reference + 2 artifacts
    assert "FP32 reference" in body and "tflite" in body and "int8" in body
    assert "budget" in body or "gates" not in body
    # two scatter plots + the time bars + flicker over time
    assert page.count("<svg") == 4 and page.count('class="pt"') == 2 * 3
    assert page.count('class="bar"') == 2 * 3
    # the seed study's published numbers, labelled, beside ours
    pub = re.search(r'<table id="published">(.*?)</table>', page, re.S).group(1)
    assert "published (seed, other hardware)" in pub and "26.443" in pub and "~56" in pub
    assert "measured here" in pub and "19.2 dB" in page
    assert page.count("<img src=") == 2 * N_PHOTOS * GRID_CELLS
    ctx = re.search(r'<pre id="context">(.*?)</pre>', page, re.S).group(1)
    for files in report["context"]["artifacts"].values():
        for sha in files.values():
            assert sha in ctx
    assert report["context"]["command"] in ctx and "video=" in ctx  # (argv is pytest's here)
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from the network


def test_compare_shows_the_change_per_row(bench_out):
    out, _ = bench_out
    report = _report(out)
    old = json.loads(json.dumps(report))
    for r in old["rows"]:
        r["ait_ms"] *= 2.0  # "the old run was twice as slow"
    page = render(add_comparison(report, old), out)
    assert "Speed vs old (×)" in page
    speedups = re.findall(r'<td class="n" data-v="([0-9.]+)">2\.00</td>', page)
    assert len(speedups) == 2


def test_report_command_renders_from_the_json_elsewhere(bench_out, tmp_path):
    out, _ = bench_out
    other = tmp_path / "html"
    r = CliRunner().invoke(cli, ["report", str(out / "report.json"), "-o", str(other)])
    assert r.exit_code == 0, r.output
    report = _report(out)
    for rel in referenced_files(report):
        assert (other / rel).read_bytes() == (out / rel).read_bytes()
    assert (other / "report.html").read_text() == (out / "report.html").read_text()
    # without the pictures: the page still renders, their cells say so
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "report.json").write_text((out / "report.json").read_text())
    r = CliRunner().invoke(cli, ["report", str(bare / "report.json")])
    assert r.exit_code == 0 and "not in" in r.stderr
    assert (bare / "report.html").read_text().count("<img src=") == 0

    bad = tmp_path / "bad.json"
    bad.write_text('{"rows": []}')
    r = CliRunner().invoke(cli, ["report", str(bad), "-o", str(tmp_path / "x")])
    assert r.exit_code == 2
    assert "bad.json" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_seed_table1_in_every_zoo_model_and_the_matrix_overview():
    import importlib.util

    from edgecolor.zoo import get_model_info, list_models
    from edgecolor.zoo.published import SEED_TABLE1, seed_text, seed_values

    study = [n for n in list_models() if get_model_info(n).reported]
    assert sorted(SEED_TABLE1) == sorted(study)
    assert "baseline-bins" in set(list_models()) - set(study)  # edgecolor's own: no paper row
    for name in study:
        v = seed_values(get_model_info(name).reported)
        assert v is not None and 20 < v["psnr_db"] < 27 and v["ait_ms"] > 50, name
    # the note's arithmetic: MSE 0.012 on 0..1 is 19.2 dB, not the published 26.4 dB
    assert 10 * math.log10(1 / SEED_TABLE1["baseline"][0]) == pytest.approx(19.2, abs=0.05)

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("run_matrix", root / "benchmarks/run_matrix.py")
    run_matrix = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_matrix)
    data = json.loads((root / "benchmarks/results/x86-cpu-zoo-trained.json").read_text())
    run_matrix._refresh_reported(data["models"])
    table = run_matrix.overview_table(data["models"])
    assert "Published (seed, other hardware)" in table.splitlines()[0]
    for name, rep in data["models"].items():
        line = next(ln for ln in table.splitlines() if ln.startswith(f"| {name} |"))
        assert seed_text(rep["reported"], name) in line


def _chromium(args: list[str], profile: str, size=(1280, 2000)):
    import subprocess

    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", "--hide-scrollbars", "--enable-logging=stderr",
             "--v=0", f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}",
             "--virtual-time-budget=5000"]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (run `make "
                    "browser-deps`)")
def test_page_in_headless_chromium(bench_out, tmp_path):
    out, _ = bench_out
    report = _report(out)
    url = (out / "report.html").resolve().as_uri()
    r = _chromium(["--dump-dom", url + "#sort=7"], tempfile.mkdtemp(dir=tmp_path))
    dom = r.stdout
    console = [ln for ln in r.stderr.splitlines() if ":CONSOLE" in ln]
    assert console == [], console
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert 'data-errors="0"' in body, body
    expected = 2 * N_PHOTOS * GRID_CELLS
    assert dom.count("<img src=") == expected
    assert f'data-images-loaded="{expected}"' in body, body  # every picture decoded
    rows = re.search(r'id="summary">.*?<tbody>(.*?)</tbody>', dom, re.S).group(1)
    names = re.findall(r'<tr class="[a-z]+"><td>([^<]+)</td>', rows)
    assert len(names) == 3
    # #sort=7 is the AIT column, ascending
    ait = {r["artifact"]: r["ait_ms"] for r in report["rows"]}
    ait[report["references"][0]["row"]["artifact"]] = report["references"][0]["row"]["ait_ms"]
    assert names == sorted(ait, key=ait.get)

    shot = tmp_path / "report.png"
    r = _chromium([f"--screenshot={shot}", url], tempfile.mkdtemp(dir=tmp_path))
    assert shot.is_file(), r.stderr[-2000:]
    png = cv2.imread(str(shot))
    assert png.shape[:2] == (2000, 1280)
    assert png.std() > 20  # a page with pictures and plots, not a blank one
    if os.environ.get("EDGECOLOR_WRITE_DOCS") == "1":
        atomic_write_bytes(DOCS_PNG, shot.read_bytes())


def test_verdict_badges_for_gates_failures_and_random_weights(bench_out):
    out, _ = bench_out
    report = _report(out)
    fp32, int8 = report["rows"]
    report["gates"] = {"rules": ["dpsnr>0.01"],
                       "fired": [f"{int8['artifact']}: dpsnr_db = 0.03 (rule 'dpsnr>0.01')"]}
    fp32["speed_only"] = True
    report["rows"].append({"artifact": "baseline-onnx-int8.onnx", "status": "failed",
                           "error": "convert: quick check failed"})
    page = render(report, out)
    rows = re.findall(r'<tr class="artifact">(.*?)</tr>', page, re.S)
    assert len(rows) == 3
    assert "fail-if: dpsnr_db = 0.03" in rows[1] and "gates pass" not in rows[1]
    assert "random weights — speed only" in rows[0] and rows[0].count(">random weights<") >= 4
    assert 'class="badge bad" title="convert: quick check failed">failed' in rows[2]
    assert "1 --fail-if rule(s) fired" in page and "1 of 3 artifacts failed" in page
    # a random-weights row has no quality point: one point fewer in each scatter
    assert page.count('class="pt"') == 2 * 2


def test_pareto_front():
    from edgecolor.bench.svg import Point, pareto_front

    pts = [Point("slow-good", 10, 30), Point("fast-bad", 1, 20), Point("dominated", 12, 25),
           Point("mid", 5, 28), Point("tie-slower", 6, 28)]
    assert [p.label for p in pareto_front(pts)] == ["fast-bad", "mid", "slow-good"]


def test_pictures_that_cannot_be_written_never_fail_the_numbers(tmp_path):
    from edgecolor.bench.gallery import GallerySaver

    blocker = tmp_path / "report_files"
    blocker.write_text("a file where the folder should be")
    saver = GallerySaver(str(blocker), "x.tflite")
    out = np.full((40, 60, 3), 0.5, np.float32)
    saver.add("a.jpg", out, out * 0.9, {"de_vs_fp32": 1.0})
    result = saver.finish()
    assert set(result) == {"error"} and "report_files" in result["error"]


def _sustained_device(name: str, samples: list, **health) -> dict:
    return {"name": name, "sustained": {"artifact": "m-tflite-int8.tflite", "seconds": 60,
                                        "status": "ok", "health": {"samples": samples,
                                                                   "n": len(samples), **health}}}


def test_sustained_throttling_curve_is_plotted(bench_out):
    """--sustained: one SVG line per quantity the board exposes, a point per sample, hotter =
    higher on the plot; unread sensors and throttling are said."""
    from edgecolor.bench.html import sustained_section

    hot = [[float(t), 50.0 + t, 1800.0 if t < 5 else 1500.0, None] for t in range(10)]
    report = {**_report(bench_out[0]), "devices": [
        _sustained_device("pi5", hot, throttled=True, throttle_flags=["soft temp limit"],
                          missing=["power (no INA rails)"]),
        {"name": "down", "sustained": {"artifact": "x", "seconds": 60, "status": "failed",
                                       "error": "device down: unreachable"}}]}
    html = sustained_section(report)
    svgs = re.findall(r"<svg.*?</svg>", html, re.S)
    assert len(svgs) == 2  # temperature and clock; no power samples: no power plot
    assert "SoC temperature" in svgs[0] and "CPU clock" in svgs[1]
    pts = re.search(r'<polyline class="series" points="([^"]+)"', svgs[0]).group(1).split()
    ys = [float(p.split(",")[1]) for p in pts]
    assert len(ys) == 10 and all(a > b for a, b in zip(ys, ys[1:], strict=False))  # hotter: higher
    clock = re.search(r'points="([^"]+)"', svgs[1]).group(1).split()
    assert float(clock[5].split(",")[1]) > float(clock[4].split(",")[1])  # the clock drop
    assert "throttled (soft temp limit)" in html and "power (no INA rails)" in html
    assert "device down: unreachable" in html
    page = render(report, bench_out[0])
    assert "Sustained runs (throttling curve)" in page and svgs[0] in page
