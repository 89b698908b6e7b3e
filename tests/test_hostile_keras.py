"""A user-supplied ``.keras`` never runs the code it carries.

The hostile file is built here with real Keras: a ``Lambda`` layer whose function writes a
marker file when the environment names one. A positive control loads it the unsafe way and
sees the marker appear, so the marker's absence after edgecolor's loaders means the code
did not run (not that the lambda was harmless).
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgecolor.cli import cli

pytest.importorskip("tensorflow")

MARKER_ENV = "EDGECOLOR_TEST_LAMBDA_MARKER"


# self-contained (its bytecode is all the file carries): writes the marker only when the
# environment names one, i.e. at load time in these tests, not when the test builds it.
# A lambda, not a def: Keras stores a lambda as bytecode (a def by module and name)
_HOSTILE = (lambda x: (__import__("pathlib").Path(__import__("os").environ[  # noqa: E731
    "EDGECOLOR_TEST_LAMBDA_MARKER"]).write_text("ran") if "EDGECOLOR_TEST_LAMBDA_MARKER" in
    __import__("os").environ else None, x)[1])


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    """baseline at 64x64 with a Lambda in front: a file of that model's shape."""
    from edgecolor._tf import import_tf
    from edgecolor.zoo import create_model

    _, keras = import_tf()
    base, _ = create_model("baseline", input_size=64, weights=None)
    inp = keras.Input(base.input_shape[1:])
    out = base(keras.layers.Lambda(_HOSTILE, name="evil")(inp))
    path = tmp_path_factory.mktemp("hostile") / "hostile.keras"
    keras.Model(inp, out).save(path)
    return path


def _rewrite_config(src: Path, dst: Path, edit) -> Path:
    """Copy a .keras archive with its config.json changed by ``edit(config) -> config``."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "config.json":
                data = json.dumps(edit(json.loads(data))).encode()
            zout.writestr(info, data)
    return dst


def test_the_hostile_file_really_runs_code_when_loaded_unsafely(hostile, tmp_path, monkeypatch):
    """Positive control: without safe mode the lambda writes the marker."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    marker = tmp_path / "ran"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    keras.models.load_model(hostile, compile=False, safe_mode=False)
    assert marker.read_text() == "ran"  # ran on load: no inference needed


def test_load_weights_refuses_a_lambda_and_never_runs_it(hostile, tmp_path, monkeypatch):
    from edgecolor.zoo import create_model
    from edgecolor.zoo.keras_file import KerasFileError
    from edgecolor.zoo.registry import load_weights

    marker = tmp_path / "ran"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    model, _ = create_model("baseline", input_size=64, weights=None)
    with pytest.raises(KerasFileError) as info:
        load_weights(model, hostile)
    msg = str(info.value)
    assert "\n" not in msg and str(hostile) in msg
    assert "Lambda" in msg and ".weights.h5" in msg
    assert not marker.exists()


def test_keras_safe_mode_refuses_it_too_when_our_check_is_bypassed(hostile, tmp_path,
                                                                   monkeypatch):
    """Defence in depth: Keras's own safe_mode (always on) refuses the same file."""
    from edgecolor.zoo import keras_file

    marker = tmp_path / "ran"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    monkeypatch.setattr(keras_file, "check_keras_archive", lambda path: {})
    with pytest.raises(keras_file.KerasFileError, match="refused"):
        keras_file.load_keras_model(hostile)
    assert not marker.exists()


@pytest.mark.parametrize("verb", ["colorize", "camera", "convert"])
def test_every_verb_with_weights_refuses_it_in_one_line(verb, hostile, tmp_path, monkeypatch,
                                                        eval_images):
    marker = tmp_path / "ran"
    monkeypatch.setenv(MARKER_ENV, str(marker))
    shutil.copy(eval_images[0], tmp_path / eval_images[0].name)
    args = {
        "colorize": ["colorize", str(tmp_path / eval_images[0].name), "-o", str(tmp_path / "o"),
                     "--imgsz", "64"],
        "camera": ["camera", "--source", str(tmp_path / "clip.avi"), "--benchmark", "2",
                   "--imgsz", "64"],
        "convert": ["convert", "--target", "x86-cpu", "--format", "tflite", "--precision",
                    "fp32", "--imgsz", "64", "-o", str(tmp_path / "a")],
    }[verb]
    if verb == "camera":
        import cv2
        import numpy as np

        w = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.CAP_OPENCV_MJPEG,
                            cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (32, 32))
        for _ in range(3):
            w.write(np.full((32, 32, 3), 128, np.uint8))
        w.release()
    res = CliRunner().invoke(cli, args + ["--model", "baseline", "--weights", str(hostile)])
    out = res.output
    assert res.exit_code == 2, out
    assert "Traceback" not in out
    assert res.exception is None or isinstance(res.exception, SystemExit)
    lines = [ln for ln in out.splitlines() if str(hostile) in ln]
    assert lines and "Lambda" in lines[0], out
    assert not marker.exists()
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


@pytest.mark.parametrize("edit,why", [
    (lambda c: _set_module(c, "Conv2D", "os"), "module 'os'"),
    (lambda c: _set_module(c, "Conv2D", "keras.utils"), "module 'keras.utils'"),
    (lambda c: _set_module(c, "Conv2D", "keras.config"), "module 'keras.config'"),
])
def test_foreign_modules_in_the_config_are_refused(edit, why, tmp_path):
    from edgecolor._tf import import_tf
    from edgecolor.zoo import create_model
    from edgecolor.zoo.keras_file import KerasFileError, check_keras_archive

    _, keras = import_tf()
    model, _ = create_model("baseline", input_size=64, weights=None)
    good = tmp_path / "good.keras"
    model.save(good)
    check_keras_archive(good)  # a plain zoo model passes
    bad = _rewrite_config(good, tmp_path / "bad.keras", edit)
    with pytest.raises(KerasFileError, match=why):
        check_keras_archive(bad)


def _set_module(config, class_name, module):
    from edgecolor.zoo.keras_file import _walk

    for _, d in _walk(config, "config"):
        if d.get("class_name") == class_name:
            d["module"] = module
            return config
    raise AssertionError(f"no {class_name} in the config")


def test_archive_members_that_climb_out_or_bomb_are_refused(tmp_path):
    from edgecolor.zoo.keras_file import KerasFileError, check_keras_archive

    climb = tmp_path / "climb.keras"
    with zipfile.ZipFile(climb, "w") as z:
        z.writestr("config.json", "{}")
        z.writestr("../../outside.txt", "x")
    with pytest.raises(KerasFileError, match="outside its folder"):
        check_keras_archive(climb)

    bomb = tmp_path / "bomb.keras"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", "{}")
        z.writestr("a.h5", "x")
        z.writestr("b.h5", "x")
    # central directory entries that claim ~4 GiB unpacked each (never inflated)
    data = bytearray(bomb.read_bytes())
    entries = [i for i in range(len(data)) if data[i:i + 4] == b"PK\x01\x02"]
    for cd in entries[1:]:
        data[cd + 24:cd + 28] = (0xFFFFFFF0).to_bytes(4, "little")
    bomb.write_bytes(bytes(data))
    with pytest.raises(KerasFileError, match="GiB"):
        check_keras_archive(bomb)

    for junk in (b"", b"PK\x03\x04garbage", os.urandom(64)):
        f = tmp_path / "junk.keras"
        f.write_bytes(junk)
        with pytest.raises(KerasFileError, match=str(f)):
            check_keras_archive(f)
