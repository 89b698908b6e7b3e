"""Model sources: the user's own colorizer file (ONNX, Keras ``.keras``/``.h5``, SavedModel).

``load_source(path, io=..., imgsz=...)`` reads the file (never running code from it),
fixes its dynamic dims, settles its colorization contract (``--io`` or inferred from the
graph, checked on photos) and returns a :class:`Source`: what ``convert_all`` converts, whose
FP32 reference is the source itself (ONNX Runtime for ONNX, Keras for Keras/SavedModel).
Errors are one-line :class:`SourceError`\\ s naming the file and the fix.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecolor.contract import Contract, ContractError
from edgecolor.spec import ModelSpec

FORMATS = ("onnx", "keras", "savedmodel")
KERAS_SUFFIXES = (".keras", ".h5")
DEFAULT_SIZE = 256  # working size of a model with dynamic H/W when neither target nor --imgsz say


class SourceError(ValueError):
    """The model file cannot be used as given; one line naming the file and the fix."""


@dataclass
class Source:
    """A loaded model source, ready for the converters.

    model: the fixed-shape ``onnx.ModelProto`` (batch 1, working size) for ONNX sources, a
    ``keras.Model`` for Keras / SavedModel ones. spec: the contract mapped onto the
    working size and the graph's input/output names. notes: what was inferred or fixed.
    """

    path: Path
    format: str
    name: str
    sha256: str
    opset: int | None
    contract: Contract
    spec: ModelSpec
    model: Any = field(repr=False)
    notes: list[str] = field(default_factory=list)
    _simplified: Any = field(default=None, repr=False)

    @property
    def is_onnx(self) -> bool:
        """True for ONNX sources (converted from the graph, not through TensorFlow)."""
        return self.format == "onnx"

    def record(self) -> dict:
        """Manifest record: path, format, sha256, opset, contract."""
        return {"path": str(self.path.resolve()), "name": self.path.name, "format": self.format,
                "sha256": self.sha256, "opset": self.opset, "notes": list(self.notes)}

    def simplified(self):
        """ONNX sources: the fixed graph simplified by onnxsim (BatchNorm folded, shapes
        constant-folded), cached."""
        if self._simplified is None:
            from edgecolor.sources.onnx import simplify

            self._simplified = simplify(self.model, self.path)
        return self._simplified

    def reference(self, threads: int | None = None):
        """The FP32 reference runner: ONNX Runtime on the source graph, or Keras."""
        if self.is_onnx:
            from edgecolor.runtimes.onnxruntime import ONNXRuntimeRunner

            return ONNXRuntimeRunner.from_proto(self.model, self.spec, threads=threads)
        from edgecolor.runtimes.keras import KerasRunner

        return KerasRunner.from_model(self.model, self.spec, threads=threads)


def is_model_path(model: str | os.PathLike) -> bool:
    """True when ``--model`` names a file or folder rather than a zoo model."""
    text = str(model)
    return (text.endswith((".onnx",) + KERAS_SUFFIXES) or os.sep in text or "/" in text
            or (Path(text) / "saved_model.pb").is_file())


def source_format(path: Path) -> str:
    """``onnx`` | ``keras`` | ``savedmodel`` from the path; SourceError otherwise."""
    if path.is_dir():
        if (path / "saved_model.pb").is_file():
            return "savedmodel"
        raise SourceError(f"{path}: a folder but not a TensorFlow SavedModel (no "
                          "saved_model.pb); give a .onnx, .keras, .h5 or SavedModel folder")
    if not path.exists():
        raise SourceError(f"{path}: model file not found (--model takes a zoo name or a "
                          ".onnx / .keras / .h5 file or SavedModel folder)")
    if path.suffix == ".onnx":
        return "onnx"
    if path.suffix in KERAS_SUFFIXES:
        return "keras"
    raise SourceError(f"{path}: unknown model file type {path.suffix!r}; give a .onnx, "
                      ".keras, .h5 file or a SavedModel folder")


def sha256_path(path: Path) -> str:
    """sha256 of a file, or of a folder's files (sorted relative names and bytes)."""
    import hashlib

    from edgecolor.manifest import sha256_file

    if path.is_file():
        return sha256_file(path)
    h = hashlib.sha256()
    for f in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(path)).encode() + b"\0" + sha256_file(f).encode())
    return h.hexdigest()


def load_source(path: str | os.PathLike, io: str | Path | Contract | None = None,
                imgsz: int | tuple[int, int] | None = None, default_size: int | None = None,
                probe_images: list | None = None, log=None) -> Source:
    """Model file or SavedModel folder -> :class:`Source` at a fixed batch 1 and size.

    io: ``--io`` (preset name, .toml path or Contract); None infers the contract from the
    graph and checks it on ``probe_images`` (paths; default: the bundled samples).
    imgsz: the working size (int or (H, W)); else the graph's static H/W, else
    ``default_size`` (the target's), else DEFAULT_SIZE. ``log(line)`` receives what was
    inferred and why. Raises SourceError (one line) for anything unusable.
    """
    from edgecolor.contract import resolve_io

    path = Path(path)
    fmt = source_format(path)
    try:
        stated = resolve_io(io)
    except ContractError as e:
        raise SourceError(str(e)) from e
    if isinstance(imgsz, int):
        imgsz = (imgsz, imgsz)
    try:
        if fmt == "onnx":
            from edgecolor.sources.onnx import load_onnx

            src = load_onnx(path, stated, imgsz, default_size, probe_images)
        else:
            from edgecolor.sources.keras import load_keras

            src = load_keras(path, fmt, stated, imgsz, default_size, probe_images)
    except ContractError as e:
        raise SourceError(f"{path}: {e}") from e
    if log is not None:
        how = ("inferred" if src.contract.source == "inferred" else src.contract.source)
        log(f"{path.name}: contract ({how}): {src.contract.describe()}")
        for reason in src.contract.reasons:
            log(f"  because {reason}")
    return src
