"""Device side: what this board has, as one JSON line (``python -m edgecolor.devices.remote.probe
CACHE``): edgecolor version, detected profile, installed runners, the cache folder (made)
and its free space, health sources, and the board's bench context. No TensorFlow.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

RUNTIME_RUNNERS = ("tflite", "onnxruntime", "openvino", "tensorrt")


def probe(cache: str) -> dict:
    """-> {edgecolor, python, detect {profile, reason, machine, cpu}, runners {name: bool},
    cache (absolute), free_mb, health {sources, missing}, context}.
    """
    import edgecolor
    from edgecolor.bench.context import host_context
    from edgecolor.bench.health import HealthReader
    from edgecolor.devices import detect
    from edgecolor.formats import load_runner_class

    found = detect()
    runners = {}
    for name in RUNTIME_RUNNERS:
        try:
            runners[name] = bool(load_runner_class(name).available())
        except Exception:  # a broken runtime install is a missing one
            runners[name] = False
    folder = Path(os.path.expanduser(cache))
    folder.mkdir(parents=True, exist_ok=True)
    reader = HealthReader()
    return {
        "edgecolor": edgecolor.__version__,
        "python": sys.executable,
        "detect": {"profile": found.profile, "reason": found.reason, "machine": found.machine,
                   "cpu": found.cpu},
        "runners": runners,
        "cache": str(folder.resolve()),
        "free_mb": shutil.disk_usage(folder).free / 1e6,
        "health": {"sources": reader.sources(), "missing": reader.missing()},
        "context": host_context(),
    }


def main(argv: list[str] | None = None) -> int:
    """Print the probe as one JSON line."""
    args = argv if argv is not None else sys.argv[1:]
    print(json.dumps(probe(args[0] if args else "~/.cache/edgecolor-remote")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
