"""Import TensorFlow/Keras quietly (only converters, training and the Keras reference need it)."""

from __future__ import annotations

import contextlib
import os
import sys


def quiet_tf_env() -> None:
    """Silence TensorFlow's C++/absl start-up chatter; call before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GLOG_minloglevel", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@contextlib.contextmanager
def stderr_silenced():
    """Silence fd 2 (C++ logs written before absl is initialised ignore every env variable)."""
    try:
        saved = os.dup(2)
    except OSError:  # no real stderr (embedded interpreters)
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        sys.stderr.flush()
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tf():
    """-> (tensorflow, keras) with logging silenced; a clear error if TensorFlow is missing."""
    quiet_tf_env()
    try:
        with stderr_silenced():
            import tensorflow as tf
    except ImportError as e:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "TensorFlow is not installed: pip install 'edgecolor[convert]' "
            "(needed for Keras models, training and conversion; devices run artifacts without it)"
        ) from e
    import keras

    tf.get_logger().setLevel("ERROR")
    return tf, keras


@contextlib.contextmanager
def quiet_converter():
    """Silence TensorFlow converters' absl/warnings chatter and C++ stderr (errors still raise)."""
    import logging
    import warnings

    absl = logging.getLogger("absl")
    level = absl.level
    absl.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), stderr_silenced():
            warnings.simplefilter("ignore")
            yield
    finally:
        absl.setLevel(level)
