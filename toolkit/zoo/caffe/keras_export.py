"""Official ECCV16 Caffe files -> the zoo's Keras ``eccv16`` with those weights, saved as .keras."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from edgecolor.zoo.caffe.caffemodel import read_caffemodel
from edgecolor.zoo.caffe.mapping import CaffeImportError, eccv16_config, set_eccv16_weights
from edgecolor.zoo.caffe.prototxt import PrototxtError, read_prototxt


def import_caffe(prototxt: str | os.PathLike, caffemodel: str | os.PathLike,
                 head: str = "ab", batch_size: int | None = None):
    """Deploy prototxt + caffemodel -> (keras.Model, ModelSpec, {layer: what was mapped}).

    The Keras model is ``create_model("eccv16", width=..., input_size=...)`` at the width and
    input size the prototxt declares, with every blob copied. ``head="bins"`` returns the
    313-bin head. Raises CaffeImportError / PrototxtError / CaffeFormatError with a one-line
    message naming the file.
    """
    from edgecolor.zoo.eccv16 import eccv16, switch_head

    net = read_prototxt(prototxt)
    try:
        cfg = eccv16_config(net, str(prototxt))
    except (CaffeImportError, PrototxtError):
        raise
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as e:
        # a field of the wrong kind (a word where a number goes, a value where a block goes)
        raise CaffeImportError(f"{prototxt}: a layer field has the wrong type "
                               f"({type(e).__name__}: {e}); fix the prototxt") from e
    layers = read_caffemodel(caffemodel)
    model, spec = eccv16(input_size=cfg.input_size, batch_size=batch_size, width=cfg.width,
                         head="ab")
    report = set_eccv16_weights(model, net, layers, str(caffemodel))
    if head != "ab":
        model, spec = switch_head(model, head)
    return model, spec, report


def save_keras(model, path: str | os.PathLike) -> Path:
    """Save a Keras model as ``.keras`` atomically (temp file in the same folder + rename)."""
    from edgecolor.imageio import atomic_write_bytes

    path = Path(path)
    if path.suffix != ".keras":
        raise CaffeImportError(f"{path}: output must end in .keras (e.g. eccv16.keras)")
    with tempfile.TemporaryDirectory(dir=path.parent if path.parent.is_dir() else None) as tmp:
        tmp_file = Path(tmp) / "model.keras"
        model.save(tmp_file)
        atomic_write_bytes(path, tmp_file.read_bytes())
    return path
