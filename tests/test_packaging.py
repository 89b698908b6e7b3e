"""Packaging: every package folder is installed, and the core imports without TensorFlow."""

from __future__ import annotations

import configparser
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _setup_cfg():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    return cfg


def test_every_package_folder_is_listed_in_setup_cfg():
    cfg = _setup_cfg()
    package_dir = dict(
        line.split(" = ") for line in cfg["options"]["package_dir"].strip().splitlines()
    )
    listed = set(cfg["options"]["packages"].split())
    found = set()
    for pkg, folder in package_dir.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            if "tests" in rel.parts:
                continue
            found.add(".".join((pkg, *rel.parts)) if rel.parts else pkg)
    assert found - listed == set(), "add these to setup.cfg [options] packages"


def test_device_side_modules_do_not_import_tensorflow():
    code = (
        "import sys\n"
        "import edgecolor.cli, edgecolor.runtimes.base, edgecolor.formats, edgecolor.manifest\n"
        "import edgecolor.pipeline, edgecolor.zoo, edgecolor.devices\n"
        "from edgecolor.zoo import create_spec; create_spec('baseline')\n"
        "for m in ('edgecolor.runtimes.tflite', 'edgecolor.runtimes.openvino',\n"
        "          'edgecolor.runtimes.onnxruntime', 'edgecolor.camera.loop', 'edgecolor.bench'):\n"
        "    __import__(m)\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow imported'\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]


def test_cli_help_lists_every_verb_and_shows_examples():
    res = subprocess.run([sys.executable, "-m", "edgecolor", "--help"], capture_output=True,
                         text=True)
    assert res.returncode == 0
    for verb in ("colorize", "convert", "bench", "benchmark", "camera", "devices", "info",
                 "check-trt", "train", "import-caffe", "models"):
        assert verb in res.stdout
