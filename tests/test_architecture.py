"""The import rules of docs/architecture.md, checked over the source tree (an AST walk).

Each package of ``edgecolor`` sits on a layer; a module may import its own layer and the
ones below, never above. ``ALLOWED`` lists the deliberate exceptions with their reason (the
same list as in docs/architecture.md). Imports inside functions count too: a lazy import is
still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# folder -> package name (setup.cfg package_dir)
ROOTS = {"toolkit": "edgecolor", "converters": "edgecolor.converters",
         "runtimes": "edgecolor.runtimes", "calibration": "edgecolor.calibration",
         "devices": "edgecolor.devices"}

# lower number = lower layer. A package not listed is a core module (layer 0).
LAYERS = {
    "edgecolor.bench.stats": 0,  # timing helpers (NumPy only): the budget times with them too
    "edgecolor.calibration": 1, "edgecolor.devices": 1,
    "edgecolor.runtimes": 2,
    # models (the zoo, a user's own source file) and what converts them
    "edgecolor.zoo": 3, "edgecolor.converters": 3, "edgecolor.sources": 3,
    "edgecolor.quant": 4,
    "edgecolor.pipeline": 5, "edgecolor.api": 5, "edgecolor.bench": 5, "edgecolor.camera": 5,
    "edgecolor.train": 5, "edgecolor.folder": 5, "edgecolor.report": 5,
    "edgecolor.devices.remote": 6, "edgecolor.devices.emulate": 6,
    "edgecolor.cli": 7,
}

# (importer prefix, imported prefix): kept on purpose, each with its reason in
# docs/architecture.md.
ALLOWED = {
    # the conversion plan runs the quality budget around a converter (a budgeted row)
    ("edgecolor.converters.run", "edgecolor.quant"),
    # ``python -m edgecolor`` is the command line
    ("edgecolor.__main__", "edgecolor.cli"),
    # ``edgecolor.load(path)``, the public entry point, imports the API module on call
    ("edgecolor", "edgecolor.api"),
    # the Keras FP32 reference can build a zoo model by name (from_zoo); host side only
    ("edgecolor.runtimes.keras", "edgecolor.zoo"),
}


def _layer(module: str) -> int:
    best, depth = 0, -1
    for prefix, layer in LAYERS.items():
        if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
            best, depth = layer, prefix.count(".")
    return best


def _within(module: str, prefix: str) -> bool:
    """``module`` is ``prefix`` or inside it (the root package "edgecolor" only itself)."""
    return module == prefix or (prefix != "edgecolor" and module.startswith(prefix + "."))


def _modules():
    for folder, package in ROOTS.items():
        for path in sorted((REPO / folder).rglob("*.py")):
            rel = path.relative_to(REPO / folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            name = ".".join([package, *parts])
            if package == "edgecolor" and parts and parts[0] in ("converters", "runtimes"):
                continue  # not a real folder of toolkit/
            yield name, path


def _imports(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    is_pkg = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("edgecolor")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_pkg else base[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("edgecolor"):
                # "from edgecolor import color" imports the module edgecolor.color
                if target == "edgecolor":
                    found |= {f"edgecolor.{a.name}" for a in node.names}
                else:
                    found.add(target)
    return found


def _violations() -> list[str]:
    out = []
    for module, path in _modules():
        mine = _layer(module)
        for imported in sorted(_imports(path, module)):
            if imported == "edgecolor" or _layer(imported) <= mine:
                continue
            if any(_within(module, a) and _within(imported, b) for a, b in ALLOWED):
                continue
            out.append(f"{path.relative_to(REPO)}: {module} (layer {mine}) imports "
                       f"{imported} (layer {_layer(imported)})")
    return out


def test_no_package_imports_a_higher_layer():
    assert _violations() == []


def test_the_rule_catches_an_upward_import(tmp_path):
    """The checker itself: a runtime importing the CLI is reported."""
    path = tmp_path / "bad.py"
    path.write_text("from edgecolor.cli import main\n\ndef f():\n    import edgecolor.bench\n")
    found = _imports(path, "edgecolor.runtimes.bad")
    assert found == {"edgecolor.cli", "edgecolor.bench"}
    assert _layer("edgecolor.runtimes.bad") < _layer("edgecolor.cli")


@pytest.mark.parametrize("module", ["edgecolor.runtimes.tflite", "edgecolor.runtimes.openvino",
                                    "edgecolor.runtimes.onnxruntime", "edgecolor.bench.measure"])
def test_device_side_modules_never_import_tensorflow(module):
    """A Raspberry Pi install has no TensorFlow: these modules must not import it at top level."""
    package, _, rest = module.partition(".")
    folder = {v: k for k, v in ROOTS.items()}
    root = next(f for p, f in sorted(folder.items(), key=lambda kv: -len(kv[0]))
                if module.startswith(p + ".") or module == p)
    sub = module[len(ROOTS[root]) + 1:].split(".")
    path = REPO / root / Path(*sub).with_suffix(".py")
    tree = ast.parse(path.read_text())
    top = [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)]
    names = {a.name for n in top if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in top if isinstance(n, ast.ImportFrom)}
    assert not any(n.split(".")[0] in ("tensorflow", "keras", "tf2onnx") for n in names)
