"""The graph every format starts from when the source is the user's own ONNX file.

* ONNX and OpenVINO read the fixed-shape source graph simplified by onnxsim (BatchNorm
  folded into the convolutions, shape arithmetic folded) — no TensorFlow on the way.
* TFLite goes through onnx2tf (ONNX -> TensorFlow SavedModel in NHWC), then the usual
  ``tf.lite.TFLiteConverter`` with edgecolor's calibration. onnx2tf runs in a subprocess:
  it switches TensorFlow to legacy Keras (``TF_USE_LEGACY_KERAS``) at import, which must not
  leak into this process, and its memory is returned when it ends.

Why onnx2tf: it is the maintained ONNX -> TensorFlow converter (onnx-tf is archived since
2023 and needs tensorflow-addons; ai-edge-torch and nobuco start from PyTorch, not ONNX),
it turns NCHW graphs into NHWC ones without a Transpose around every op, and on the
PyTorch-style U-Nets of :mod:`edgecolor.sources.foreign` (Slice step 2, ConvTranspose 4x4
s2, bilinear Resize) its float graph matches ONNX Runtime to ~1e-5.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

_WORKER = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import onnx2tf
onnx2tf.convert(input_onnx_file_path=sys.argv[1], output_folder_path=sys.argv[2],
                non_verbose=True, copy_onnx_input_output_names_to_tflite=True,
                output_signaturedefs=True)
"""
TIMEOUT_S = 1800


def is_onnx_source(model) -> bool:
    """True when a converter was handed an ONNX model source (edgecolor.sources.Source)."""
    return getattr(model, "format", None) == "onnx" and hasattr(model, "simplified")


def fp32_graph(source, opset: int | None = None):
    """The simplified source graph, converted to ``opset`` when it differs -> (proto, notes).

    A graph cannot go below its own opset when an op has no older form; that raises with
    onnx's reason (the row fails, the others go on).
    """
    import onnx
    from onnx import version_converter

    proto = onnx.ModelProto()
    proto.CopyFrom(source.simplified())
    notes = []
    current = source.opset
    if opset and current and opset != current:
        try:
            proto = version_converter.convert_version(proto, int(opset))
        except Exception as e:  # onnx raises RuntimeError / ValueError / ConvertError
            raise RuntimeError(f"cannot convert the source graph from opset {current} to "
                               f"{opset} ({str(e).splitlines()[0][:160]})") from e
        onnx.checker.check_model(proto)
        notes.append(f"opset {current} -> {opset}")
    return proto, notes


def write_temp_onnx(proto, folder: str | os.PathLike) -> Path:
    """Write ``proto`` to ``folder/source.onnx`` (for tools that read files) -> the path."""
    path = Path(folder) / "source.onnx"
    path.write_bytes(proto.SerializeToString())
    return path


def to_saved_model(source, folder: str | os.PathLike) -> Path:
    """onnx2tf in a subprocess: the simplified source -> NHWC SavedModel under ``folder``.

    RuntimeError with onnx2tf's last error line when it fails (or is not installed:
    ``pip install 'edgecolor[convert]'``).
    """
    import importlib.util

    if importlib.util.find_spec("onnx2tf") is None:
        raise RuntimeError("onnx2tf is not installed (TFLite from ONNX needs it): "
                           "pip install 'edgecolor[convert]'")
    folder = Path(folder)
    onnx_path = write_temp_onnx(source.simplified(), folder)
    out = folder / "saved_model"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1")
    proc = subprocess.run([sys.executable, "-c", _WORKER, str(onnx_path), str(out)],
                          capture_output=True, text=True, env=env, timeout=TIMEOUT_S)
    if proc.returncode != 0 or not (out / "saved_model.pb").is_file():
        lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines()
                 if ln.strip() and "WARNING" not in ln and not ln.startswith(("I0000",
                                                                              "W0000"))]
        err = next((ln for ln in reversed(lines) if "Error" in ln), lines[-1] if lines
                   else f"exit status {proc.returncode}")
        raise RuntimeError(f"onnx2tf could not convert the graph: {err[:200]}")
    return out


def tflite_from_onnx(source, spec, precision: str, options) -> tuple[bytes, dict]:
    """ONNX source -> TFLite flatbuffer bytes for ``precision`` -> (bytes, converter record).

    The TFLite graph is NHWC (onnx2tf's layout); int8/int16x8 are calibrated on the
    calibration set's samples transposed to NHWC. The runner transposes I/O back to the
    contract's layout (the manifest's ``tensor_layout``).
    """
    import numpy as np

    from edgecolor._tf import import_tf, quiet_converter
    from edgecolor.converters.tflite import _configure

    tf, _ = import_tf()
    saved = cached_saved_model(source)
    with quiet_converter():
        conv = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        calib = options.calib
        if calib is not None and spec.layout == "NCHW":
            calib = _NHWCSamples(calib, np)
        _configure(conv, tf, precision, _with_calib(options, calib))
        data = conv.convert()
    return data, {"tool": "onnx2tf+tf.lite.TFLiteConverter", "graph": "onnx2tf NHWC"}


def cached_saved_model(source) -> Path:
    """onnx2tf's SavedModel of ``source``, made once per Source (every TFLite precision
    starts from it) in a temporary folder removed when the Source is garbage-collected."""
    import shutil
    import weakref

    cached = getattr(source, "_onnx2tf_dir", None)
    if cached is not None and (Path(cached) / "saved_model" / "saved_model.pb").is_file():
        return Path(cached) / "saved_model"
    tmp = tempfile.mkdtemp(prefix="edgecolor-onnx2tf-")
    weakref.finalize(source, shutil.rmtree, tmp, True)
    try:
        saved = to_saved_model(source, tmp)
    except Exception:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    source._onnx2tf_dir = tmp
    return saved


class _NHWCSamples:
    """A CalibrationSet view whose samples are transposed NCHW -> NHWC (for TFLite)."""

    def __init__(self, cs, np) -> None:
        self._cs = cs
        self.spec = cs.spec
        self.samples = [[np.ascontiguousarray(x.transpose(0, 2, 3, 1)) for x in sample]
                        for sample in cs.samples]

    def __len__(self) -> int:
        return len(self.samples)

    def __getattr__(self, name):
        return getattr(self._cs, name)


def _with_calib(options, calib):
    from dataclasses import replace

    return replace(options, calib=calib)


def source_exclude_nodes(fp32, flavour, names: list[str], extra: dict) -> list[str]:
    """ONNX node names of the source (``--max-dpsnr`` / float_layers) -> the names
    ``nodes_to_exclude`` needs in the graph the quantizer sees (after the flavour's rewrites,
    a ConvTranspose split into phase convolutions is excluded as all its phases).

    ValueError naming the unknown ones and where to look them up.
    """
    from edgecolor.converters import qdq

    rewrites = {k: bool(extra[k]) for k in ("fold_upsample", "pad_channels") if k in extra}
    prepared, _ = qdq.prepare(fp32, flavour, **rewrites)
    by_name = {n.name: n for n in fp32.graph.node}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"float layers {', '.join(unknown)} are not node names of the source "
                         "graph (see `edgecolor analyze --model FILE.onnx`)")
    outputs = {o: n for n in names for o in by_name[n].output}
    found = []
    for node in prepared.graph.node:
        if node.name in names or any(node.name.startswith(f"{o}__") for o in outputs) or \
                any(o in outputs for o in node.output):
            found.append(node.name)
    return found


def ov_from_onnx(source):
    """ONNX source -> ov.Model: ``ov.convert_model`` on the simplified fixed-shape graph."""
    import openvino as ov

    with tempfile.TemporaryDirectory(prefix="edgecolor-ov-") as tmp:
        return ov.convert_model(str(write_temp_onnx(source.simplified(), tmp)))


def ov_source_float_nodes(ov_model, source, names: list[str]) -> list[str]:
    """ONNX node names of the source -> the OpenVINO op names NNCF must ignore (ops named
    like the node or like one of its output tensors); ValueError for names that match
    nothing."""
    graph = source.simplified().graph
    outputs = {n.name: set(n.output) for n in graph.node}
    unknown = [n for n in names if n not in outputs]
    if unknown:
        raise ValueError(f"float layers {', '.join(unknown)} are not node names of the source "
                         "graph (see `edgecolor analyze --model FILE.onnx`)")
    found, matched = [], set()
    for op in ov_model.get_ops():
        friendly = op.get_friendly_name()
        tensor_names = {t for out in op.outputs() for t in out.get_names()}
        for n in names:  # the ONNX frontend names decomposed ops "<node>/WithoutBiases"
            if friendly == n or friendly.startswith(f"{n}/") or tensor_names & outputs[n]:
                found.append(friendly)
                matched.add(n)
                break
    missing = [n for n in names if n not in matched]
    if missing:
        raise ValueError(f"OpenVINO has no op for source nodes {', '.join(missing)}")
    return found
