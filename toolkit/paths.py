"""The user's edgecolor folder: ``$EDGECOLOR_HOME``, default ``~/.cache/edgecolor``.

The weights cache (``weights/``) and built TensorRT engines (``trt/``) live there; tests point
``EDGECOLOR_HOME`` at a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

HOME_ENV = "EDGECOLOR_HOME"


def edgecolor_home() -> Path:
    """``$EDGECOLOR_HOME`` (``~`` expanded), else ``~/.cache/edgecolor``."""
    home = os.environ.get(HOME_ENV)
    return Path(home).expanduser() if home else Path.home() / ".cache" / "edgecolor"
