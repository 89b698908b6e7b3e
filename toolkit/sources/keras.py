"""Keras (``.keras`` / ``.h5``, Keras 3) and TensorFlow SavedModel sources.

Keras files are always loaded with ``safe_mode=True``: a config that carries code (a
``Lambda`` layer) is refused with one line and the code never runs. A SavedModel is a graph
(no Python code); its ``serving_default`` signature is wrapped as a one-layer Keras model,
so the existing Keras converters (TFLite, OpenVINO, ONNX through tf2onnx) take it as is.
The FP32 reference of every artifact is the Keras model itself.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from edgecolor.contract import Contract, ContractError
from edgecolor.sources import DEFAULT_SIZE, Source, SourceError, sha256_path
from edgecolor.sources.infer import GraphFacts, check_stated, infer
from edgecolor.sources.onnx import _probe_photos, input_layout

_CODE_MARKERS = ("lambda", "safe_mode", "arbitrary code")


def read_keras(path: Path):
    """``.keras`` / ``.h5`` -> keras.Model, loaded with safe_mode=True (never off)."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        raise SourceError(f"{path}: not a readable .keras file (truncated or corrupt zip); "
                          "re-save it with model.save()")
    if path.suffix == ".keras":  # config.json read as JSON first: Lambda / foreign modules
        from edgecolor.zoo.keras_file import KerasFileError, check_keras_archive

        try:
            check_keras_archive(path)
        except KerasFileError as e:
            raise SourceError(str(e)) from e
    try:
        # safe_mode is never off: a config carrying code is refused, the code never runs
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises ValueError/TypeError/OSError/KeyError variously
        text = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if any(m in str(e).lower() for m in _CODE_MARKERS):
            raise SourceError(f"{path}: refused: the model's config carries Python code (a "
                              "Lambda layer); edgecolor loads Keras files with safe_mode=True "
                              "and never runs it: replace the Lambda with built-in layers "
                              "and re-save") from e
        raise SourceError(f"{path}: not a loadable Keras model ({text[:200]}); re-save it "
                          "with Keras 3 model.save()") from e


def read_savedmodel(path: Path):
    """SavedModel folder -> a Keras model calling its ``serving_default`` signature."""
    from edgecolor._tf import import_tf

    tf, keras = import_tf()
    try:
        loaded = tf.saved_model.load(str(path))
    except Exception as e:  # TF raises several types for broken folders
        raise SourceError(f"{path}: not a loadable SavedModel "
                          f"({str(e).strip().splitlines()[0][:200]})") from e
    sig = loaded.signatures.get("serving_default")
    if sig is None:
        raise SourceError(f"{path}: the SavedModel has no serving_default signature "
                          f"(it has: {', '.join(loaded.signatures) or 'none'}); re-export "
                          "with one")
    specs = sig.structured_input_signature[1]
    outputs = list(sig.structured_outputs)
    if len(outputs) != 1:
        raise SourceError(f"{path}: serving_default has {len(outputs)} outputs "
                          f"({', '.join(outputs)}); a colorizer has one")
    out_name = outputs[0]
    names = sorted(specs)

    class ServingSignature(keras.layers.Layer):
        """The SavedModel's serving_default signature as a layer (its single output)."""

        def __init__(self, **kw):
            super().__init__(**kw)
            self._loaded = loaded  # keeps the variables alive

        def call(self, *xs):
            feed = {n: tf.cast(x, specs[n].dtype) for n, x in zip(names, xs, strict=True)}
            return sig(**feed)[out_name]

    inputs = [keras.Input(shape=tuple(specs[n].shape[1:]), name=n, dtype="float32")
              for n in names]
    y = ServingSignature(name="serving_default")(*inputs)
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], y, name=path.name)


def _shape(t) -> list:
    return [d if d is not None else "?" for d in t.shape]


def keras_facts(model, layout: str, out_shape: list[int]) -> GraphFacts:
    """GraphFacts of a Keras model: a leading Rescaling (affine), the output's activation
    (and a Rescaling after it)."""
    from edgecolor._tf import import_tf

    _, keras = import_tf()
    leading = None
    layers = [lay for lay in model.layers if not isinstance(lay, keras.layers.InputLayer)]
    if layers and isinstance(layers[0], keras.layers.Rescaling):
        leading = (float(np.asarray(layers[0].scale).reshape(-1)[0]),
                   float(np.asarray(layers[0].offset).reshape(-1)[0]))
    trailing: list[tuple[str, float | None]] = []
    for lay in reversed(layers[-2:]):
        if isinstance(lay, keras.layers.Rescaling):
            trailing.append(("Mul", float(np.asarray(lay.scale).reshape(-1)[0])))
            continue
        act = getattr(lay, "activation", None)
        name = getattr(act, "__name__", str(act)) if act is not None else ""
        op = {"tanh": "Tanh", "sigmoid": "Sigmoid", "softmax": "Softmax"}.get(name)
        if op:
            trailing.append((op, None))
        break
    names = [t.name for t in model.inputs]
    c_ax = 1 if layout == "NCHW" else 3
    channels = [int(t.shape[c_ax]) for t in model.inputs]
    out = model.outputs[0].name if hasattr(model.outputs[0], "name") else "output"
    return GraphFacts(layout, names, channels, out, out_shape, leading, trailing)


def load_keras(path: Path, fmt: str, stated: Contract | None, size, default_size,
               probe_images) -> Source:
    """Keras file or SavedModel folder -> Source (see :func:`edgecolor.sources.load_source`)."""
    model = read_keras(path) if fmt == "keras" else read_savedmodel(path)
    if len(model.outputs) != 1:
        raise SourceError(f"{path}: the model has {len(model.outputs)} outputs; a colorizer "
                          "has one (ab, RGB or 313 bins)")
    first = model.inputs[0]
    layout = stated.layout if stated is not None else input_layout(path, first.name,
                                                                    _shape(first))
    h_ax, w_ax = (2, 3) if layout == "NCHW" else (1, 2)
    static = [first.shape[h_ax], first.shape[w_ax]]
    notes = []
    if all(isinstance(s, int) for s in static):
        if size is not None and tuple(size) != tuple(static):
            raise SourceError(f"{path}: input {first.name!r} has static dims {_shape(first)}; "
                              f"--imgsz {size[0]} cannot change H/W: drop --imgsz")
        hw = tuple(static)
    else:
        hw = tuple(size) if size is not None else (default_size or DEFAULT_SIZE,) * 2
        notes.append(f"dynamic H/W fixed to {hw[0]}x{hw[1]}")
    c_ax = 1 if layout == "NCHW" else 3
    zeros = []
    for t in model.inputs:
        shape = [1, 0, 0, 0]
        shape[c_ax], shape[h_ax], shape[w_ax] = int(t.shape[c_ax]), hw[0], hw[1]
        zeros.append(np.zeros(shape, np.float32))

    def run(xs):
        try:
            return np.asarray(model(xs if len(xs) > 1 else xs[0], training=False))
        except Exception as e:  # Keras / TF raise many types for shape problems
            raise SourceError(f"{path}: the model does not run at {hw[0]}x{hw[1]} "
                              f"({str(e).strip().splitlines()[0][:160]}); pass --imgsz with "
                              "a size it accepts") from e

    y = run(zeros)
    facts = keras_facts(model, layout, list(y.shape))
    photos = _probe_photos(probe_images)

    def probe(contract: Contract) -> list[np.ndarray]:
        spec = contract.to_spec(path.stem, facts.input_names, facts.output_name, hw)
        return [spec.decode(run(spec.make_inputs(l))) for l in photos]

    contract = check_stated(stated, facts) if stated is not None else infer(facts, probe)
    try:
        spec = contract.to_spec(path.stem or path.name, facts.input_names, "ab"
                                if contract.output_kind == "ab" else contract.output_kind, hw)
    except ContractError as e:
        raise SourceError(f"{path}: {e}") from e
    return Source(path, fmt, path.stem or path.name, sha256_path(path), None, contract, spec,
                  model, notes)
