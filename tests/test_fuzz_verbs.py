"""Generated corrupt inputs through the verbs themselves (Hypothesis, few examples: each runs
a command): exit 1 or 2, no traceback, the bad file named, good inputs beside bad ones still
processed, no partial or hidden files left in the output folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz_inputs import JSON, KEYS, mutated

from edgecolor.cli import cli
from edgecolor.imageio import ImageError, read_image

VERBS = settings(max_examples=5, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow])


@pytest.fixture(scope="module")
def photo(eval_images) -> bytes:
    img = cv2.resize(cv2.imread(str(eval_images[0])), (64, 48))
    return cv2.imencode(".jpg", img)[1].tobytes()


@VERBS
@given(data=st.data())
def test_fuzz_colorize_folder_keeps_going(data, photo, tmp_path_factory):
    src = tmp_path_factory.mktemp("in")
    out = tmp_path_factory.mktemp("out") / "o"
    (src / "good.jpg").write_bytes(photo)
    bad = []
    for i in range(3):
        name = f"bad{i}" + data.draw(st.sampled_from([".jpg", ".png", ".webp", ".bmp"]))
        (src / name).write_bytes(data.draw(mutated(photo)))
        bad.append(name)
    res = CliRunner().invoke(cli, ["colorize", str(src), "-o", str(out), "--imgsz", "64"])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert "Traceback" not in res.output
    readable = {"good.jpg"}
    for name in bad:
        try:
            read_image(src / name)
            readable.add(name)
        except ImageError:
            assert name in res.output  # refused, and named
    assert res.exit_code == (0 if readable == {"good.jpg", *bad} else 1), res.output
    assert {p.name for p in out.iterdir()} == readable  # nothing partial, nothing hidden


@pytest.fixture(scope="module")
def manifest_folder(tmp_path_factory) -> Path:
    from edgecolor.manifest import write_manifest
    from edgecolor.zoo import create_spec

    folder = tmp_path_factory.mktemp("info")
    art = folder / "m-onnx-fp32.onnx"
    art.write_bytes(b"not really a model")
    write_manifest(art, {"model": "baseline", "format": "onnx", "precision": "fp32",
                         "spec": create_spec("baseline", 64).to_dict()})
    return folder


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzz_info_on_mutated_manifests(data, manifest_folder, tmp_path_factory):
    folder = tmp_path_factory.mktemp("m")
    for f in manifest_folder.iterdir():
        shutil.copy(f, folder / f.name)
    art = folder / "m-onnx-fp32.onnx"
    manifest = json.loads(art.with_suffix(".json").read_text())
    if data.draw(st.booleans()):
        manifest[data.draw(st.sampled_from(KEYS))] = data.draw(JSON)
    else:
        manifest = data.draw(JSON)
    art.with_suffix(".json").write_text(json.dumps(manifest))
    res = CliRunner().invoke(cli, ["info", str(art)])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.output
    assert res.exit_code in (0, 1, 2)
    if res.exit_code == 2:
        errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
        assert len(errors) == 1 and art.with_suffix(".json").name in errors[0], res.output
