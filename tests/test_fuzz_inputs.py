"""Property-based fuzzing of every reader of user files (Hypothesis, bounded examples).

Each property: a generated corrupt or hostile input either reads correctly or raises the
reader's own one-line error naming the file, never another exception. The inputs are
mutations of real files made here (a bundled photo, a manifest ``write_manifest`` wrote, a
prototxt, an encoded caffemodel, an MJPEG video) plus free-form junk.
"""

from __future__ import annotations

import json
import shutil
import string
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgecolor.imageio import ImageError, read_image
from edgecolor.manifest import ManifestError, read_manifest, write_manifest
from edgecolor.protowire import WireError
from edgecolor.zoo.caffe.caffemodel import (
    CaffeFormatError,
    CaffeLayer,
    encode_caffemodel,
    read_caffemodel,
)
from edgecolor.zoo.caffe.prototxt import PrototxtError, parse_prototxt, read_prototxt

FUZZ = settings(max_examples=60, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def _one_line_naming(err: BaseException, path: Path) -> None:
    msg = str(err)
    assert "\n" not in msg, msg
    assert str(path) in msg or path.name in msg, msg


# -- byte mutations ---------------------------------------------------------------------------

@st.composite
def mutated(draw, original: bytes) -> bytes:
    """A real file cut short, with bytes flipped / inserted / an end marker appended."""
    data = bytearray(original)
    ops = draw(st.lists(st.sampled_from(["cut", "flip", "insert", "eoi", "zero"]),
                        min_size=1, max_size=4))
    for op in ops:
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if op == "cut":
            del data[at:]
        elif op == "flip":
            data[at] ^= draw(st.integers(1, 255))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif op == "eoi":
            data += b"\xff\xd9"
        elif op == "zero":
            n = draw(st.integers(1, 512))
            data[at:at + n] = bytes(len(data[at:at + n]))
    return bytes(data)


@pytest.fixture(scope="module")
def small_jpeg(eval_images) -> bytes:
    img = cv2.imread(str(eval_images[0]))
    return cv2.imencode(".jpg", cv2.resize(img, (48, 32)))[1].tobytes()


@pytest.fixture(scope="module")
def small_png(eval_images) -> bytes:
    img = cv2.imread(str(eval_images[0]))
    return cv2.imencode(".png", cv2.resize(img, (40, 24)))[1].tobytes()


def _check_image(path: Path) -> None:
    try:
        img = read_image(path)
    except ImageError as e:
        _one_line_naming(e, path)
        return
    assert img.ndim in (2, 3) and img.size > 0 and img.dtype in (np.uint8, np.uint16)


@FUZZ
@given(data=st.data())
def test_fuzz_jpeg_png_mutations_read_or_refuse(data, small_jpeg, small_png, tmp_path):
    original, suffix = data.draw(st.sampled_from([(small_jpeg, ".jpg"), (small_png, ".png")]))
    path = tmp_path / f"fuzz{suffix}"
    path.write_bytes(data.draw(mutated(original)))
    _check_image(path)


@FUZZ
@given(junk=st.binary(max_size=256), head=st.sampled_from(
    [b"", b"\xff\xd8", b"\x89PNG\r\n\x1a\n", b"BM", b"RIFF\0\0\0\0WEBP", b"II*\0", b"MM\0*"]))
def test_fuzz_junk_with_image_signatures(junk, head, tmp_path):
    path = tmp_path / "junk.png"
    path.write_bytes(head + junk)
    _check_image(path)


@FUZZ
@given(w=st.integers(0, 200_000), h=st.integers(0, 200_000))
def test_fuzz_declared_dims_are_capped_before_decoding(w, h, small_png, tmp_path):
    """A PNG header declaring any size: above the cap it is refused from the header alone."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    data = bytearray(small_png)
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    path = tmp_path / "dims.png"
    path.write_bytes(bytes(data))
    try:
        read_image(path)
    except ImageError as e:
        _one_line_naming(e, path)
        if w * h > 50_000_000:
            assert "limit" in str(e)
    else:
        assert w * h <= 50_000_000


# -- manifests -------------------------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12)


@pytest.fixture(scope="module")
def good_artifact(tmp_path_factory) -> Path:
    """A .tflite-named file with the manifest write_manifest makes (the bytes are not a
    model: only the manifest is fuzzed here)."""
    from edgecolor.zoo import create_spec

    folder = tmp_path_factory.mktemp("manifest")
    art = folder / "m-tflite-fp32.tflite"
    art.write_bytes(b"model bytes")
    write_manifest(art, {"model": "baseline", "format": "tflite", "precision": "fp32",
                         "spec": create_spec("baseline", 64).to_dict()})
    read_manifest(art)  # the original is valid
    return art


KEYS = ["schema", "format", "precision", "model", "spec", "files", "inputs", "target",
        "calibration", "notes"]


@FUZZ
@given(data=st.data())
def test_fuzz_manifest_shapes_refused_with_the_key(data, good_artifact, tmp_path):
    folder = tmp_path / "a"
    folder.mkdir(exist_ok=True)
    art = folder / good_artifact.name
    shutil.copy(good_artifact, art)
    manifest = json.loads(good_artifact.with_suffix(".json").read_text())
    how = data.draw(st.sampled_from(["whole", "drop", "replace", "spec"]))
    if how == "whole":
        manifest = data.draw(JSON)
    elif how == "drop":
        manifest.pop(data.draw(st.sampled_from(KEYS)), None)
    elif how == "replace":
        manifest[data.draw(st.sampled_from(KEYS))] = data.draw(JSON)
    else:
        spec = manifest["spec"]
        target = data.draw(st.sampled_from(["inputs", "output", "size", "name"]))
        if target == "size":
            spec["inputs"][0]["size"] = data.draw(JSON | st.lists(st.integers(-9, 10**6),
                                                                  min_size=2, max_size=2))
        else:
            spec[target if target != "name" else "name"] = data.draw(JSON)
    art.with_suffix(".json").write_text(json.dumps(manifest))
    try:
        m = read_manifest(art, verify=True)
    except ManifestError as e:
        _one_line_naming(e, art.with_suffix(".json") if "files listed" not in str(e) else art)
        return
    # accepted: then it really is complete and every listed file matched
    assert m.files and art.name in m.files and isinstance(m.spec, dict)
    m.model_spec()


def test_manifest_without_files_never_verifies(good_artifact, tmp_path):
    art = tmp_path / good_artifact.name
    shutil.copy(good_artifact, art)
    data = json.loads(good_artifact.with_suffix(".json").read_text())
    for files in (None, {}, []):
        data["files"] = files
        art.with_suffix(".json").write_text(json.dumps(data))
        with pytest.raises(ManifestError, match="'files'"):
            read_manifest(art, verify=True)


# -- prototxt / caffemodel --------------------------------------------------------------------

PROTOTXT = """name: "net"
layer { name: "data" type: "Input" top: "data_l"
  input_param { shape { dim: 1 dim: 1 dim: 224 dim: 224 } } }
layer { name: "bw_conv1_1" type: "Convolution" bottom: "data_l" top: "conv1_1"
  convolution_param { num_output: 64 pad: 1 kernel_size: 3 stride: 1 } }
layer { name: "s" type: "Scale" scale_param { filler { type: "constant" value: 2.606 } } }
"""
TOKENS = ["layer", "{", "}", ":", "[", "]", ",", "<", ">", '"a\\x"', '"ok"', "'q'", "dim",
          "1", "-3", "0", "1e400", "name", "#c\n", "\n", "\\", "input_dim", ";"]


def _check_prototxt(text: str, path: Path) -> None:
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if text.isprintable() \
        else path.write_bytes(text.encode("utf-8", "surrogatepass"))
    try:
        net = read_prototxt(path)
    except PrototxtError as e:
        _one_line_naming(e, path)
        return
    assert isinstance(net, dict)
    from edgecolor.zoo.caffe.prototxt import input_shape

    try:
        shape = input_shape(net, str(path))
    except PrototxtError as e:
        _one_line_naming(e, path)
        return
    assert shape is None or all(1 <= d <= 16384 for d in shape)


@FUZZ
@given(data=st.data())
def test_fuzz_prototxt_read_or_refuse(data, tmp_path):
    path = tmp_path / "deploy.prototxt"
    how = data.draw(st.sampled_from(["tokens", "mutate", "text"]))
    if how == "tokens":
        text = " ".join(data.draw(st.lists(st.sampled_from(TOKENS), max_size=60)))
    elif how == "mutate":
        raw = data.draw(mutated(PROTOTXT.encode()))
        text = raw.decode("utf-8", "replace")
    else:
        text = data.draw(st.text(alphabet=string.printable, max_size=200))
    _check_prototxt(text, path)


def test_prototxt_classes_from_the_campaign(tmp_path):
    """Unterminated list, deep nesting, bad escape, zero/negative/absurd dims: one line."""
    cases = {
        "unterminated": "layer { dim: [1, 2, 3",
        "deep": "a { " * 5000 + "}" * 5000,
        "escape": 'name: "bad \\x"',
        "zero": "input_dim: 1 input_dim: 1 input_dim: 0 input_dim: 224",
        "negative": "input: 'data' input_shape { dim: 1 dim: 1 dim: -224 dim: 224 }",
        "absurd": "layer { type: 'Input' input_param { shape { dim: 1 dim: 1 dim: 100000 "
                  "dim: 100000 } } }",
        "word dim": "input_dim: 1 input_dim: one",
    }
    for name, text in cases.items():
        path = tmp_path / f"{name.replace(' ', '_')}.prototxt"
        path.write_text(text)
        with pytest.raises(PrototxtError) as info:
            from edgecolor.zoo.caffe.prototxt import input_shape

            input_shape(read_prototxt(path), str(path))
        _one_line_naming(info.value, path)
    assert parse_prototxt("dim: [1, 2]")["dim"] == [1, 2]  # the valid short form still reads


@pytest.fixture(scope="module")
def caffemodel_bytes() -> bytes:
    rng = np.random.default_rng(0)
    return encode_caffemodel([
        CaffeLayer("bw_conv1_1", "Convolution", [rng.normal(size=(4, 1, 3, 3)).astype("f4"),
                                                  np.zeros(4, "f4")]),
        CaffeLayer("bn", "BatchNorm", [np.ones(4, "f4"), np.ones(4, "f4"), np.ones(1, "f4")]),
    ], name="net")


@FUZZ
@given(data=st.data())
def test_fuzz_caffemodel_read_or_refuse(data, caffemodel_bytes, tmp_path):
    path = tmp_path / "w.caffemodel"
    if data.draw(st.booleans()):
        path.write_bytes(data.draw(mutated(caffemodel_bytes)))
    else:
        path.write_bytes(data.draw(st.binary(max_size=300)))
    try:
        layers = read_caffemodel(path)
    except CaffeFormatError as e:
        _one_line_naming(e, path)
        return
    except WireError as e:  # pragma: no cover - must be wrapped
        raise AssertionError(f"unwrapped WireError: {e}") from e
    for layer in layers:
        assert isinstance(layer.name, str)
        for b in layer.blobs:
            assert b.dtype == np.float32


# -- video streams ---------------------------------------------------------------------------

def _video(path: Path, n: int, corrupt: set[int]) -> None:
    w = cv2.VideoWriter(str(path), cv2.CAP_OPENCV_MJPEG, cv2.VideoWriter_fourcc(*"MJPG"),
                        10.0, (32, 32))
    for i in range(n):
        w.write(np.full((32, 32, 3), (i * 7) % 250, np.uint8))
    w.release()
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 2) if data[i:i + 3] == b"\xff\xd8\xff"]
    for k in corrupt:
        a = starts[k]
        b = starts[k + 1] if k + 1 < len(starts) else len(data) - 64
        data[a:b - 8] = bytes(b - 8 - a)
    path.write_bytes(bytes(data))


@settings(max_examples=12, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(6, 40), data=st.data())
def test_fuzz_corrupt_frames_are_skipped_counted_and_the_stream_goes_on(n, data, tmp_path):
    from edgecolor.camera.capture import FrameGrabber
    from edgecolor.camera.sources import parse_source, quiet_video_logs

    quiet_video_logs()
    # runs of corrupt frames anywhere but the first (the source is refused without one)
    start = data.draw(st.integers(1, n - 2))
    length = data.draw(st.integers(1, min(15, n - 1 - start)))
    corrupt = set(range(start, start + length))
    path = tmp_path / "clip.avi"
    _video(path, n, corrupt)
    grabber = FrameGrabber(parse_source(str(path))).start()
    got = []
    while (frame := grabber.get(timeout=2.0)) is not None:
        got.append(frame.image[0, 0, 0])
    grabber.stop()
    assert grabber.end_reason == "end of file"
    assert len(got) == n - len(corrupt), (n, sorted(corrupt))
    assert grabber.corrupt == len(corrupt)
