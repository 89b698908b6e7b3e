"""Artifact manifests: the JSON written beside every converted artifact.

A manifest holds the model spec, format, precision, tensor names/shapes/dtypes, int8 I/O
quantization, sha256 of every file, converter and library versions, calibration set
(size, digest, method, image hashes) and the host it was made on. Runners read it and refuse
an artifact whose files do not match their recorded sha256.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from edgecolor.imageio import atomic_write_bytes

SCHEMA = 1


class ManifestError(ValueError):
    """A missing or mismatching manifest; the message names the file and the fix."""


def manifest_path(artifact: str | os.PathLike) -> Path:
    """``dir/name-fmt-prec.tflite`` -> ``dir/name-fmt-prec.json``."""
    p = Path(artifact)
    return p.with_suffix(".json")


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_manifest(artifact: str | os.PathLike, data: dict) -> Path:
    """Fill ``files`` (name -> sha256) for the artifact and its sidecars, write atomically."""
    from edgecolor.formats import format_of_path

    artifact = Path(artifact)
    fmt = format_of_path(artifact)
    files = [artifact] + [artifact.with_suffix(s) for s in fmt.sidecars]
    data = dict(data)
    data["schema"] = SCHEMA
    data["artifact"] = artifact.name
    data["files"] = {f.name: sha256_file(f) for f in files}
    path = manifest_path(artifact)
    atomic_write_bytes(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    return path


def load_manifest(artifact: str | os.PathLike, verify: bool = True) -> dict:
    """Read the manifest beside ``artifact``; with ``verify`` check every file's sha256.

    Raises :class:`ManifestError` with a one-line message naming the file and the fix.
    """
    artifact = Path(artifact)
    path = manifest_path(artifact)
    if not path.is_file():
        raise ManifestError(
            f"{path}: manifest missing; artifacts must come from `edgecolor convert` "
            "(re-run it, or keep the .json beside the artifact)"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ManifestError(f"{path}: not valid JSON ({e}); re-run `edgecolor convert`") from e
    if verify:
        for name, digest in data.get("files", {}).items():
            f = artifact.parent / name
            if not f.is_file():
                raise ManifestError(f"{f}: file listed in {path.name} is missing; re-convert")
            actual = sha256_file(f)
            if actual != digest:
                raise ManifestError(
                    f"{f}: sha256 {actual[:12]}… does not match the manifest "
                    f"({digest[:12]}…); the file changed after conversion — re-run "
                    "`edgecolor convert`"
                )
    return data


def find_artifacts(folder: str | os.PathLike) -> list[Path]:
    """Artifacts (files with a manifest beside them) in ``folder``, sorted by name."""
    from edgecolor.formats import FORMATS

    folder = Path(folder)
    suffixes = {f.suffix for f in FORMATS.values()}
    return sorted(
        p for p in folder.iterdir() if p.suffix in suffixes and manifest_path(p).is_file()
    )
