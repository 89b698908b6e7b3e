"""``edgecolor info``: show an artifact's manifest and check its files' sha256."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command("info")
@click.argument("artifacts", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True,
              help="Print the raw manifest JSON: one document (a list when several files).")
def command(artifacts, as_json):
    """Show what an artifact is: model, format, precision, tensors and their int8
    quantization, calibration set, converter, library versions, quick check, and whether
    its files still match their recorded sha256 (exit 1 if not).

    \b
    Example:
      edgecolor info art/baseline-tflite-int8.tflite
      edgecolor info art/*.xml --json
    """
    from edgecolor.formats import format_of_path
    from edgecolor.manifest import ManifestError, load_manifest

    status = 0
    documents = []
    for item in artifacts:
        path = Path(item)
        try:
            if not path.is_file():
                raise ManifestError(f"{path}: no such file (check the path)")
            format_of_path(path)
            data = load_manifest(path, verify=False)
        except (ManifestError, ValueError) as e:
            click.echo(f"error: {e}", err=True)
            status = max(status, 2)
            continue
        try:
            load_manifest(path, verify=True)
            check = "✅ all files match their sha256"
        except ManifestError as e:
            check = f"❌ {e}"
            status = max(status, 1)
        if as_json:
            documents.append(data)
            if check.startswith("❌"):
                click.echo(f"error: {check[2:]}", err=True)
        else:
            try:
                click.echo(describe(data, check))
            except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
                click.echo(f"error: {path.with_suffix('.json')}: a field has the wrong shape "
                           f"({type(e).__name__}: {e}); re-run `edgecolor convert`", err=True)
                status = max(status, 2)
    if as_json and documents:  # one parseable document: a list for several files
        click.echo(json.dumps(documents if len(artifacts) > 1 else documents[0], indent=2,
                              sort_keys=True))
    sys.exit(status)


def _tensor(t: dict) -> str:
    q = t.get("quant")
    quant = f"  scale={q['scale']:.6g} zero_point={q['zero_point']}" if q else ""
    return f"{t['name']}  {'x'.join(str(s) for s in t['shape'])}  {t['dtype']}{quant}"


def describe(m: dict, check: str) -> str:
    """Manifest dict + verification line -> readable multi-line text."""
    spec = m.get("spec", {})
    from edgecolor.bench.marks import RANDOM_MARK, weights_source_of

    source = weights_source_of(m)
    weights = f"{m.get('weights', '?')}" + (f" ({source})" if source else "")
    if source == "random":
        weights = RANDOM_MARK
    rows = [f"{m.get('artifact', '?')}  ({m.get('format')}, {m.get('precision')})",
            ("model", f"{m.get('model')}  weights: {weights}")]
    ins = ", ".join(f"{i['name']} {i['size'][0]}x{i['size'][1]}x{i.get('channels', 1)} "
                    f"({i['norm']})" for i in spec.get("inputs", []))
    out = spec.get("output", {})
    rows.append(("spec", f"{ins} -> {out.get('name')} ({out.get('kind')})"))
    src = m.get("source")
    if src:  # converted from the user's own model file
        rows.append(("source", f"{src.get('name')} ({src.get('format')}"
                     + (f", opset {src['opset']}" if src.get("opset") else "")
                     + f") sha256 {str(src.get('sha256'))[:16]}…"))
    if m.get("contract"):
        from edgecolor.contract import Contract

        c = Contract.from_dict(m["contract"])
        rows.append(("contract", f"{c.describe()} ({c.source})"))
    rows += [("input", _tensor(t)) for t in m.get("inputs", [])]
    rows += [("output", _tensor(t)) for t in m.get("outputs", [])]
    c = m.get("calibration")
    if c:
        rows.append(("calibration", f"{c['size']} images from {c['folder']}, {c['method']}, "
                     f"seed {c['seed']}, {c['holdout']} held out, digest {c['digest'][:16]}…"))
    else:
        rows.append(("calibration", "none"))
    conv = m.get("converter", {})
    rows.append(("converter", ", ".join(f"{k}={v}" for k, v in conv.items())))
    if m.get("inference_precision"):
        rows.append(("runtime", f"INFERENCE_PRECISION_HINT {m['inference_precision']}"))
    target = m.get("target") or {}
    if target:
        rows.append(("target", f"{target.get('name')} ({target.get('arch')})"))
    qc = m.get("quick_check")
    if qc:
        psnr = "inf" if qc.get("psnr_db") is None else f"{qc['psnr_db']:.2f}"
        rows.append(("quick check", f"PSNR {psnr} dB, max|err| {qc['max_abs_err']:.3g} on "
                     f"{qc['images']} held-out images ({'ok' if qc['ok'] else 'FAILED'})"))
    host = m.get("host", {})
    rows.append(("created", f"{m.get('created')} on {host.get('machine')} "
                 f"({host.get('cpu')})"))
    rows.append(("versions", ", ".join(f"{k} {v}" for k, v in m.get("versions", {}).items())))
    for name, digest in m.get("files", {}).items():
        rows.append(("file", f"{name}  sha256 {digest[:16]}…"))
    for note in m.get("notes", []):
        rows.append(("note", note))
    rows.append(("integrity", check))
    head, rest = rows[0], rows[1:]
    return "\n".join([head] + [f"  {k:<12} {v}" for k, v in rest])
