"""Whole-model ``.keras`` files read without ever running code they carry.

A ``.keras`` file is a zip holding ``config.json`` (the layer graph) and the weights. The
config can name Python code: a ``Lambda`` layer's function is marshalled bytecode, and any
object's ``module`` is imported on load. :func:`check_keras_archive` reads the config as
plain JSON first and refuses, in one line naming the file and the fix, a file that

- is not a zip / has no ``config.json`` / holds member names that climb out of a folder
  (``..``, absolute paths) or would unpack to more than :data:`MAX_UNPACKED_BYTES`;
- holds a ``Lambda`` layer (or any serialized Python function / bytecode);
- names a module outside Keras (``os``, ``builtins``, ``subprocess``, ...) or one of Keras's
  own modules that act on the machine (``keras.utils``, ``keras.config``, ``keras.saving``).

Only then is the file loaded, with Keras's ``safe_mode=True`` (never off): the Lambda check
does not depend on Keras's own, it comes first.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
import zipfile
from pathlib import Path, PurePosixPath

# a zoo model's .keras is at most a few hundred MB; a zip that unpacks to more is a bomb
MAX_UNPACKED_BYTES = 4 << 30
MAX_CONFIG_BYTES = 64 << 20

# Keras modules whose objects act on the machine (download files, switch safe mode off,
# load other files) rather than describe a layer
_REFUSED_KERAS = ("keras.utils", "keras.config", "keras.saving", "keras.backend",
                  "keras.src.utils", "keras.src.saving", "keras.src.backend",
                  "keras.src.legacy", "keras.legacy", "keras.src.export", "keras.export")
# class names that stand for serialized Python code (bytecode); a plain ``function`` entry
# names a function by module, which the module check below judges
_CODE_CLASSES = ("Lambda", "TFOpLambda", "__lambda__")

FIX = ("re-save it without Lambda layers or custom code, or pass its weights as a "
       ".weights.h5 (model.save_weights)")


class KerasFileError(ValueError):
    """A ``.keras`` file refused before loading; the one-line message names file and fix."""


def _walk(node, path: str):
    """Yield (json path, dict) for every dict in a JSON tree."""
    stack = [(node, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, dict):
            yield where, item
            stack.extend((v, f"{where}.{k}") for k, v in item.items())
        elif isinstance(item, list):
            stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))


def _module_refused(module: str) -> bool:
    if not (module == "keras" or module.startswith("keras.")):
        return True
    return any(module == m or module.startswith(m + ".") for m in _REFUSED_KERAS)


def check_config(config, source: str) -> None:
    """A parsed ``config.json`` -> None, or KerasFileError naming ``source``, the object
    that carries code (its class and where it sits) and the fix."""
    for where, d in _walk(config, "config"):
        cls = d.get("class_name")
        if cls in _CODE_CLASSES:
            what = "a Lambda layer" if cls in ("Lambda", "TFOpLambda") else \
                f"serialized Python code ({cls})"
            name = (d.get("config") or {}).get("name") if isinstance(d.get("config"), dict) \
                else None
            at = f" {name!r}" if name else ""
            raise KerasFileError(f"{source}: refused: holds {what}{at}, i.e. Python code that "
                                 f"would run on load (edgecolor never runs code from a file: "
                                 f"Keras loads with safe_mode=True, always); "
                                 f"{FIX}")
        module = d.get("module")
        if isinstance(module, str) and "class_name" in d and _module_refused(module):
            raise KerasFileError(f"{source}: refused: {where} names module {module!r} "
                                 f"(class {cls!r}), code outside Keras's layers that would run "
                                 f"on load; {FIX}")


def check_keras_archive(path: str | os.PathLike) -> dict:
    """Inspect a ``.keras`` zip without loading it -> its parsed config.

    Raises KerasFileError (one line: the file, what is wrong, the fix) for a file that is
    not a Keras archive, unpacks out of its folder or too large, or carries code.
    """
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
            total = 0
            for info in infos:
                name = PurePosixPath(info.filename.replace("\\", "/"))
                if name.is_absolute() or ".." in name.parts or ":" in info.filename:
                    raise KerasFileError(f"{p}: refused: member {info.filename!r} would unpack "
                                         "outside its folder; re-save the model with Keras")
                total += info.file_size
            if total > MAX_UNPACKED_BYTES:
                raise KerasFileError(f"{p}: refused: unpacks to {total / 2**30:.1f} GiB "
                                     f"(> {MAX_UNPACKED_BYTES / 2**30:.0f} GiB; a zip bomb?); "
                                     "re-save the model with Keras")
            try:
                info = z.getinfo("config.json")
            except KeyError:
                raise KerasFileError(f"{p}: not a Keras model archive (no config.json); pass a "
                                     ".keras saved by model.save or a .weights.h5") from None
            if info.file_size > MAX_CONFIG_BYTES:
                raise KerasFileError(f"{p}: refused: config.json of {info.file_size} bytes; "
                                     "re-save the model with Keras")
            raw = z.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, RuntimeError,
            NotImplementedError) as e:
        raise KerasFileError(f"{p}: not a readable Keras archive ({type(e).__name__}: "
                             f"{str(e).splitlines()[0] if str(e) else ''}); re-save it with "
                             "model.save or pass a .weights.h5") from e
    try:
        config = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise KerasFileError(f"{p}: config.json is not valid JSON; re-save the model with "
                             "Keras") from e
    check_config(config, str(p))
    return config


@contextlib.contextmanager
def quiet_keras():
    """Silence Keras's per-layer warnings (Python warnings and absl/TF logging) for a block:
    a file that does not fit gets one error line from the caller, not a page of warnings."""
    loggers = [logging.getLogger(n) for n in ("absl", "tensorflow", "keras")]
    levels = [lg.level for lg in loggers]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for lg in loggers:
            lg.setLevel(logging.ERROR)
        try:
            yield
        finally:
            for lg, level in zip(loggers, levels, strict=True):
                lg.setLevel(level)


def load_keras_model(path: str | os.PathLike):
    """A ``.keras`` file -> keras.Model, never running code it carries.

    :func:`check_keras_archive` first, then ``keras.models.load_model(compile=False,
    safe_mode=True)``; Keras's own refusal of unsafe content also becomes KerasFileError.
    """
    from edgecolor._tf import import_tf

    check_keras_archive(path)
    _, keras = import_tf()
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except ValueError as e:
        text = str(e)
        if "safe_mode" in text or "arbitrary code" in text:
            raise KerasFileError(f"{path}: refused: Keras found code in it that would run on "
                                 f"load; {FIX}") from e
        raise
