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
from collections.abc import Mapping
from dataclasses import dataclass, field
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


MAX_MANIFEST_BYTES = 16 << 20
# an input larger than this (H x W) is not a colorization model's working size
MAX_INPUT_PIXELS = 4096 * 4096
_HEX = set("0123456789abcdef")


@dataclass(frozen=True, eq=False)
class Manifest(Mapping):
    """A validated artifact manifest (schema :data:`SCHEMA`).

    The typed fields are the ones every reader needs; ``data`` is the whole JSON object,
    also readable as a read-only mapping (``m["spec"]``, ``m.get("target")``) so code that
    took the dict keeps working. Built only by :func:`read_manifest`.
    """

    path: Path  # the .json
    artifact: Path  # the model file beside it
    schema: int
    format: str
    precision: str
    model: str | None
    spec: dict
    files: dict  # file name -> sha256 (hex), the artifact's own name among them
    data: dict = field(repr=False)

    def __getitem__(self, key):
        return self.data[key]

    def __iter__(self):
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def model_spec(self):
        """The manifest's spec as a :class:`edgecolor.spec.ModelSpec`."""
        from edgecolor.spec import ModelSpec

        return ModelSpec.from_dict(self.spec)

    def as_dict(self) -> dict:
        """A plain dict copy of the JSON object (JSON-ready)."""
        return json.loads(json.dumps(self.data))


def _bad(path: Path, key: str, what: str) -> ManifestError:
    return ManifestError(f"{path}: key {key!r} {what}; the manifest is not one `edgecolor "
                         "convert` wrote (re-run it)")


def _check_spec(path: Path, spec) -> None:
    """The spec must parse and have sane sizes, names and kinds."""
    from edgecolor import spec as spec_mod

    if not isinstance(spec, dict):
        raise _bad(path, "spec", f"is a {type(spec).__name__}, expected an object")
    inputs = spec.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise _bad(path, "spec.inputs", "is missing or empty")
    norms = set(spec_mod.NORMALIZERS) | set(getattr(spec_mod, "CHANNEL_NORMALIZERS", {}))
    for i, inp in enumerate(inputs):
        key = f"spec.inputs[{i}]"
        if not isinstance(inp, dict):
            raise _bad(path, key, "is not an object")
        size = inp.get("size")
        if (not isinstance(size, list) or len(size) != 2
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
            raise _bad(path, f"{key}.size", f"is {size!r}, expected [H, W] integers")
        if min(size) < 1 or size[0] * size[1] > MAX_INPUT_PIXELS:
            raise _bad(path, f"{key}.size", f"is {size[0]}x{size[1]} (1..{MAX_INPUT_PIXELS} "
                       "pixels)")
        if inp.get("norm", "l/50-1") not in norms:
            raise _bad(path, f"{key}.norm", f"is {inp.get('norm')!r}, not a known normalizer")
        ch = inp.get("channels", 1)
        if not isinstance(ch, int) or isinstance(ch, bool) or not 1 <= ch <= 64:
            raise _bad(path, f"{key}.channels", f"is {ch!r}, expected 1..64")
        if not isinstance(inp.get("name"), str):
            raise _bad(path, f"{key}.name", "is missing or not a string")
    out = spec.get("output")
    if not isinstance(out, dict) or not isinstance(out.get("name"), str):
        raise _bad(path, "spec.output", "is missing or has no name")
    if out.get("kind", "ab_tanh") not in spec_mod.OUTPUT_KINDS:
        raise _bad(path, "spec.output.kind", f"is {out.get('kind')!r}, expected one of "
                   f"{', '.join(spec_mod.OUTPUT_KINDS)}")
    if not isinstance(spec.get("extra", {}), dict):
        raise _bad(path, "spec.extra", "is not an object")
    try:
        spec_mod.ModelSpec.from_dict(spec)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise _bad(path, "spec", f"does not describe a model ({type(e).__name__}: {e})") from e


def _check_files(path: Path, files) -> None:
    if not isinstance(files, dict) or not files:
        raise _bad(path, "files", "is missing or empty, so nothing could be verified")
    for name, digest in files.items():
        if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name
                or "\\" in name or "\0" in name):
            raise _bad(path, "files", f"names {name!r}, not a file beside the manifest")
        if not isinstance(digest, str) or len(digest) != 64 or not set(digest) <= _HEX:
            raise _bad(path, f"files.{name}", "is not a sha256 hex digest")


def validate_manifest(data, path: Path, artifact: Path) -> Manifest:
    """A parsed manifest JSON -> :class:`Manifest`, or ManifestError naming the file and
    the first bad key."""
    from edgecolor.formats import FORMATS

    if not isinstance(data, dict):
        raise ManifestError(f"{path}: holds a JSON {type(data).__name__}, not a manifest "
                            "object; re-run `edgecolor convert`")
    schema = data.get("schema")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise _bad(path, "schema", f"is {schema!r}, expected {SCHEMA}")
    if schema > SCHEMA:
        raise ManifestError(f"{path}: manifest schema {schema} is newer than this edgecolor "
                            f"reads ({SCHEMA}); upgrade edgecolor")
    for key in ("format", "precision"):
        if not isinstance(data.get(key), str):
            raise _bad(path, key, "is missing or not a string")
    if data["format"] not in FORMATS:
        raise _bad(path, "format", f"is {data['format']!r}, not a known format")
    if not artifact.name.endswith(FORMATS[data["format"]].suffix):
        raise _bad(path, "format", f"is {data['format']!r} but {artifact.name} is not a "
                   f"{FORMATS[data['format']].suffix} file")
    if data.get("model") is not None and not isinstance(data.get("model"), str):
        raise _bad(path, "model", "is not a string")
    _check_spec(path, data.get("spec"))
    _check_files(path, data.get("files"))
    for key, kind in (("inputs", list), ("outputs", list), ("notes", list),
                      ("converter", dict), ("versions", dict), ("host", dict),
                      ("target", dict), ("calibration", dict), ("quick_check", dict)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            raise _bad(path, key, f"is a {type(data[key]).__name__}, expected "
                       f"{'a list' if kind is list else 'an object'}")
    for key in ("inputs", "outputs"):
        for i, rec in enumerate(data.get(key) or []):
            if not isinstance(rec, dict) or not isinstance(rec.get("name"), str):
                raise _bad(path, f"{key}[{i}]", "is not a tensor record with a name")
    return Manifest(path, artifact, schema, data["format"], data["precision"],
                    data.get("model"), data["spec"], dict(data["files"]), data)


def _verify_files(m: Manifest) -> None:
    folder = m.artifact.parent
    root = folder.resolve()
    if m.artifact.name not in m.files:
        raise ManifestError(f"{m.path}: key 'files' does not list {m.artifact.name} (renamed "
                            "after conversion?), so it cannot be verified; re-run `edgecolor "
                            "convert`")
    for name, digest in m.files.items():
        f = folder / name
        if not f.is_file():
            raise ManifestError(f"{f}: file listed in {m.path.name} is missing; re-convert")
        if f.is_symlink() and root not in f.resolve().parents:
            raise ManifestError(f"{f}: a link to {f.resolve()}, outside the artifact folder; "
                                "copy the file itself beside the manifest")
        actual = sha256_file(f)
        if actual != digest:
            raise ManifestError(
                f"{f}: sha256 {actual[:12]}… does not match the manifest "
                f"({digest[:12]}…); the file changed after conversion — re-run "
                "`edgecolor convert`"
            )


def read_manifest(artifact: str | os.PathLike, verify: bool = True) -> Manifest:
    """The one reader: the manifest beside ``artifact`` -> a validated :class:`Manifest`;
    with ``verify`` also check every listed file's sha256.

    Raises :class:`ManifestError` (one line naming the file, the bad key and the fix): no
    artifact, no manifest, not JSON, wrong shape (a list, ``{}``, a spec that is a string,
    missing keys, absurd sizes), no file list, a listed file missing, changed or a link out
    of the folder.
    """
    artifact = Path(artifact)
    path = manifest_path(artifact)
    if not artifact.is_file():
        raise ManifestError(f"{artifact}: no such artifact file (check the path)"
                            if not artifact.exists() else
                            f"{artifact}: is a folder, not an artifact file")
    if not path.is_file():
        raise ManifestError(
            f"{path}: manifest missing; artifacts must come from `edgecolor convert` "
            "(re-run it, or keep the .json beside the artifact)"
        )
    try:
        if path.stat().st_size > MAX_MANIFEST_BYTES:
            raise ManifestError(f"{path}: {path.stat().st_size} bytes is no manifest; "
                                "re-run `edgecolor convert`")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        why = f"{type(e).__name__}: {str(e).splitlines()[0][:120]}" if str(e) else \
            type(e).__name__
        raise ManifestError(f"{path}: not valid JSON ({why}); re-run `edgecolor convert`"
                            ) from e
    except OSError as e:
        raise ManifestError(f"{path}: cannot read it ({e.strerror})") from e
    m = validate_manifest(data, path, artifact)
    if verify:
        _verify_files(m)
    return m


def load_manifest(artifact: str | os.PathLike, verify: bool = True) -> dict:
    """:func:`read_manifest` -> the manifest as a plain dict (for callers that index it).

    Raises :class:`ManifestError` with a one-line message naming the file and the fix.
    """
    return read_manifest(artifact, verify).data


def orphan_manifests(folder: str | os.PathLike) -> list[Path]:
    """Artifact paths whose manifest is in ``folder`` but whose model file is not (a
    missing artifact, not a missing manifest), sorted."""
    from edgecolor.formats import FORMATS

    out = []
    for j in sorted(Path(folder).glob("*.json")):
        try:
            if j.stat().st_size > MAX_MANIFEST_BYTES:
                continue
            data = json.loads(j.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError, RecursionError):
            continue
        if not isinstance(data, dict) or data.get("format") not in FORMATS:
            continue
        a = j.with_suffix(FORMATS[data["format"]].suffix)
        if not a.exists() and isinstance(data.get("artifact"), str):
            out.append(a)
    return out


def find_artifacts(folder: str | os.PathLike) -> list[Path]:
    """Artifacts (files with a manifest beside them) in ``folder``, sorted by name."""
    from edgecolor.formats import FORMATS

    folder = Path(folder)
    suffixes = {f.suffix for f in FORMATS.values()}
    return sorted(
        p for p in folder.iterdir()
        if p.suffix in suffixes and p.is_file() and manifest_path(p).is_file()
    )


def shared_target(folder: str | os.PathLike) -> str | None:
    """The device profile name every artifact's manifest in ``folder`` names, or None.

    None when the folder holds no artifact, a manifest cannot be read, or the artifacts were
    made for different targets (then the caller keeps its own choice, e.g. the host's).
    """
    names = set()
    for artifact in find_artifacts(folder):
        try:
            target = read_manifest(artifact, verify=False).get("target") or {}
        except (ManifestError, OSError):
            return None
        names.add(target.get("name") if isinstance(target, dict) else None)
    return names.pop() if len(names) == 1 and None not in names else None


def weights_source_of(manifest: dict | None) -> str | None:
    """Manifest -> "bundled" | "cache" | "file" | "random", or None when it does not say.

    Reads ``weights_source`` (written at conversion since issue 18); older manifests say
    ``weights: "random-init"`` for random weights.
    """
    m = manifest or {}
    source = m.get("weights_source")
    if source:
        return str(source)
    if m.get("weights") in ("random-init", "random", "none"):
        return "random"
    return None
