"""Hostile and broken input through the verbs (issue 13): each gives a one-line refusal
naming the file, exit 1/2, no traceback, no partial output, and the good inputs beside the
bad ones are still processed. Full disks are a real 1 MiB tmpfs; kills are real signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgecolor.cli import cli


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _clean(res, *names):
    """No traceback, and each name appears on some line of the output."""
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output
    for n in names:
        assert any(str(n) in ln for ln in res.output.splitlines()), (n, res.output)


def _png_header(w: int, h: int) -> bytes:
    """A tiny PNG whose header declares w x h (a decompression bomb's shape)."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)

    def chunk(t, b):
        return struct.pack(">I", len(b)) + t + b + struct.pack(">I", zlib.crc32(t + b))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0"))
            + chunk(b"IEND", b""))


@pytest.fixture
def bad_folder(tmp_path, eval_images) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(eval_images[0], src / "good.jpg")
    shutil.copy(eval_images[1], src / ("a" * 245 + ".jpg"))  # 249 bytes: sorts first
    data = eval_images[2].read_bytes()
    (src / "zero.jpg").write_bytes(b"")
    (src / "trunc_eoi.jpg").write_bytes(data[: len(data) // 2] + b"\xff\xd9")
    (src / "bomb.png").write_bytes(_png_header(20000, 20000))
    (src / "folder.jpg").mkdir()
    shutil.copy(eval_images[0], src / "folder.jpg" / "inside.jpg")
    return src


def test_colorize_folder_of_hostile_files(bad_folder, tmp_path):
    out = tmp_path / "out"
    res = _run("colorize", bad_folder, "-o", out, "--imgsz", 64)
    assert res.exit_code == 1, res.output
    _clean(res, "zero.jpg", "trunc_eoi.jpg", "bomb.png")
    assert "20000x20000" in res.output and "EDGECOLOR_MAX_PIXELS" in res.output
    assert sorted(p.name for p in out.iterdir()) == sorted(["good.jpg", "a" * 245 + ".jpg"])
    assert "2 colorized" in res.output and "3 failed" in res.output


def test_pixel_cap_can_be_raised(tmp_path, eval_images, monkeypatch):
    from edgecolor.imageio import ImageError, read_image

    monkeypatch.setenv("EDGECOLOR_MAX_PIXELS", "1000")
    with pytest.raises(ImageError, match="limit"):
        read_image(eval_images[0])  # 256x256 > 1000 px
    monkeypatch.setenv("EDGECOLOR_MAX_PIXELS", str(256 * 256))
    assert read_image(eval_images[0]).shape[:2] == (256, 256)


def test_colorize_a_folder_named_like_a_photo(tmp_path, eval_images):
    (tmp_path / "x.jpg").mkdir()
    res = _run("colorize", tmp_path / "x.jpg", "-o", tmp_path / "o", "--imgsz", 64)
    assert res.exit_code == 2 and "no photos" in res.output, res.output


@pytest.fixture
def fake_artifacts(tmp_path) -> dict[str, Path]:
    """Corrupt artifacts whose manifests (and hashes) match: they pass sha256, then fail to
    load in their runtime."""
    from edgecolor.manifest import write_manifest
    from edgecolor.zoo import create_spec

    spec = create_spec("baseline", 64).to_dict()
    out = {}
    for fmt, suffix in (("tflite", ".tflite"), ("onnx", ".onnx"), ("openvino", ".xml")):
        art = tmp_path / "art" / f"baseline-{fmt}-fp32{suffix}"
        art.parent.mkdir(exist_ok=True)
        art.write_bytes(b"\x00garbage, not a model" * 20)
        if fmt == "openvino":
            art.write_text("<net><layers><layer id='0' type='Parameter'/></layers>")
            art.with_suffix(".bin").write_bytes(b"\0" * 64)
        write_manifest(art, {"model": "baseline", "format": fmt, "precision": "fp32",
                             "spec": spec})
        out[fmt] = art
    return out


@pytest.mark.parametrize("fmt", ["tflite", "onnx", "openvino"])
def test_colorize_corrupt_artifact_with_matching_hashes_is_refused_once(fmt, fake_artifacts,
                                                                       eval_images, tmp_path):
    from edgecolor.formats import FORMATS, load_runner_class

    if not load_runner_class(FORMATS[fmt].runners[0]).available():
        pytest.skip(f"{fmt} runtime not installed here")
    art = fake_artifacts[fmt]
    res = _run("colorize", *eval_images[:3], "-o", tmp_path / "o", "--artifact", art,
               "--random-weights")
    assert res.exit_code == 2, res.output
    _clean(res, art)
    assert len([ln for ln in res.output.splitlines() if "error" in ln]) == 1
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize("content,key", [
    ("[]", "JSON list"), ("{}", "schema"), ('{"schema": 1, "format": "tflite", '
                                           '"precision": "fp32", "spec": "x"}', "spec"),
    ("\xff\xfe", "not valid JSON"), ("[" * 100000, "not valid JSON"),
])
def test_info_and_colorize_on_wrong_shaped_manifests(content, key, fake_artifacts, tmp_path,
                                                      eval_images):
    art = fake_artifacts["tflite"]
    art.with_suffix(".json").write_bytes(content.encode("latin-1"))
    for args in (["info", art], ["colorize", eval_images[0], "-o", tmp_path / "o",
                                 "--artifact", art]):
        res = _run(*args)
        assert res.exit_code == 2, res.output
        _clean(res, art.with_suffix(".json").name, key)


def test_missing_artifact_is_not_called_a_missing_manifest(tmp_path, eval_images):
    res = _run("colorize", eval_images[0], "-o", tmp_path / "o", "--artifact",
               tmp_path / "gone.tflite")
    assert res.exit_code == 2 and "no such file" in res.output and "manifest" not in res.output


def test_bench_compare_on_a_binary_file_names_it(tmp_path):
    junk = tmp_path / "old.json"
    junk.write_bytes(os.urandom(256) + b"\xff\xfe")
    (tmp_path / "art").mkdir()
    res = _run("bench", tmp_path / "art", "--compare", junk)
    assert res.exit_code == 2, res.output
    _clean(res, junk)


# -- import-caffe ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "layer { dim: [1, 2", "a { " * 3000 + "}" * 3000, 'name: "\\x"',
    "input_dim: 1 input_dim: 1 input_dim: 0 input_dim: 224",
    "input_dim: 1 input_dim: 1 input_dim: -5 input_dim: 224",
    "layer { name: 'bw_conv1_1' type: 'Convolution' convolution_param { num_output: many } }",
])
def test_import_caffe_refuses_broken_prototxts(text, tmp_path):
    proto, model = tmp_path / "deploy.prototxt", tmp_path / "w.caffemodel"
    proto.write_text(text)
    model.write_bytes(b"")
    res = _run("import-caffe", proto, model, "-o", tmp_path / "e.keras", "--no-verify")
    assert res.exit_code == 2, res.output
    _clean(res, proto)
    assert not (tmp_path / "e.keras").exists()


def test_import_caffe_refuses_absurd_blob_dims(tmp_path):
    from edgecolor import protowire as wire
    from edgecolor.zoo.caffe.caffemodel import CaffeFormatError, read_caffemodel

    blob = wire.field_bytes(7, wire.field_packed_varints(1, [-1, 1 << 62])) + \
        wire.field_packed_floats(5, np.zeros(3, np.float32))
    layer = wire.field_bytes(1, "bw_conv1_1") + wire.field_bytes(2, "Convolution") + \
        wire.field_bytes(7, blob)
    for name, data in (("dims", wire.field_bytes(100, layer)),
                       ("odd", wire.field_bytes(100, wire.field_bytes(7, wire.field_bytes(
                           5, b"\0" * 7))))):
        path = tmp_path / f"{name}.caffemodel"
        path.write_bytes(data)
        with pytest.raises(CaffeFormatError) as info:
            read_caffemodel(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


# -- full disk (a real 1 MiB tmpfs) -----------------------------------------------------------

@pytest.fixture
def full_disk(tmp_path):
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip() or 'not root'}); the "
                    "full-disk behaviour is not exercised")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def test_colorize_onto_a_full_disk(full_disk, tmp_path, eval_images):
    src = tmp_path / "big"
    src.mkdir()
    import cv2

    rng = np.random.default_rng(0)
    for i in range(4):  # noisy 512x512 PNGs: ~780 KB each, the second cannot fit
        cv2.imwrite(str(src / f"p{i}.png"), rng.integers(0, 255, (512, 512, 3), np.uint8))
    res = _run("colorize", src, "-o", full_disk, "--imgsz", 64)
    assert res.exit_code == 1, res.output
    _clean(res, full_disk)
    assert "disk full" in res.output
    left = sorted(p.name for p in full_disk.iterdir())
    assert all(not n.startswith(".") for n in left), left  # no temp file left
    for n in left:
        assert cv2.imread(str(full_disk / n)) is not None  # what is there is complete


def test_bench_report_onto_a_full_disk(full_disk, fake_artifacts):
    (full_disk / "filler").write_bytes(b"\0" * (1 << 20))  # ENOSPC stops it: disk now full
    res = _run("bench", fake_artifacts["tflite"].parent, "-o", full_disk, "--runs", "1",
               "--warmup", "0", "--metrics", "fast", "--reference", "none")
    assert res.exit_code == 1, res.output
    _clean(res, full_disk)
    assert "cannot write" in res.output
    files = [p.name for p in full_disk.rglob("*") if p.is_file()]
    assert files == ["filler"], files  # nothing half-written (empty folders may stay)


def test_camera_record_onto_a_full_disk(full_disk, tmp_path):
    import cv2

    clip = tmp_path / "clip.avi"
    w = cv2.VideoWriter(str(clip), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                        10.0, (256, 256))
    rng = np.random.default_rng(0)
    for _ in range(60):
        w.write(rng.integers(0, 255, (256, 256, 3), np.uint8))
    w.release()
    rec = full_disk / "out.avi"
    res = _run("camera", "--source", clip, "--record", rec, "--imgsz", 64, "--model",
               "baseline", "--stats-every", "0")
    assert res.exit_code == 1, res.output
    _clean(res, rec)
    assert "disk full" in res.output and "recorded" not in res.output
    assert not rec.exists()


# -- real signals ------------------------------------------------------------------------------

def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in state


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="parent-death signal: Linux")
def test_sigkilled_bench_takes_its_measuring_child_along(tmp_path):
    """The parent starts the measuring worker exactly as measure_in_subprocess does (same
    module, same parent-pid variable); the worker blocks reading its job (a FIFO)."""
    fifo = tmp_path / "job.json"
    os.mkfifo(fifo)
    parent = subprocess.Popen([sys.executable, "-c", f"""
import os, subprocess, sys
from edgecolor.bench.measure import PARENT_ENV
env = dict(os.environ, **{{PARENT_ENV: str(os.getpid())}})
child = subprocess.Popen([sys.executable, "-m", "edgecolor.bench.measure", {str(fifo)!r},
                          {str(tmp_path / 'r.json')!r}], env=env)
print(child.pid, flush=True)
child.wait()
"""], stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    for _ in range(100):  # until the worker armed its signal and blocks on the FIFO
        if Path(f"/proc/{child}/wchan").exists() and "fifo" in \
                Path(f"/proc/{child}/wchan").read_text():
            break
        time.sleep(0.1)
    assert _alive(child)
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    for _ in range(50):
        if not _alive(child):
            break
        time.sleep(0.1)
    assert not _alive(child), "the measuring child outlived its killed parent"


@pytest.mark.slow
def test_sigterm_during_a_budgeted_convert_leaves_no_temp_folder(tmp_path, calib_dir):
    out = tmp_path / "art"
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgecolor", "convert", "--model", "baseline", "--imgsz", "64",
         "--width", "0.25", "--target", "x86-cpu", "--format", "tflite", "--precision", "int8",
         "--calib", str(calib_dir), "--max-dpsnr", "0.0001", "-o", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = False
    for _ in range(1200):  # until the budget's hidden work folder exists
        if out.is_dir() and any(".budget." in p.name for p in out.iterdir()):
            seen = True
            break
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    if not seen:
        proc.kill()
        pytest.skip("the conversion ended before its budget search started")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "Traceback" not in err
    left = [p.name for p in out.iterdir()]
    assert not [n for n in left if n.startswith(".")], left
    assert not [n for n in left if n.endswith(".tflite")] or all(
        (out / n).with_suffix(".json").is_file() for n in left if n.endswith(".tflite"))


def test_manifest_listing_a_file_outside_is_refused(fake_artifacts, tmp_path):
    from edgecolor.manifest import ManifestError, read_manifest

    art = fake_artifacts["tflite"]
    data = json.loads(art.with_suffix(".json").read_text())
    secret = tmp_path / "secret.txt"
    secret.write_text("x")
    (art.parent / "link.bin").symlink_to(secret)
    for files in ({"../secret.txt": "0" * 64, art.name: data["files"][art.name]},
                  {"link.bin": "0" * 64, art.name: data["files"][art.name]}):
        data["files"] = files
        art.with_suffix(".json").write_text(json.dumps(data))
        with pytest.raises(ManifestError, match="files|outside"):
            read_manifest(art, verify=True)
