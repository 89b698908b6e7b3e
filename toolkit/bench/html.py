"""report.html: the bench report as one page people look at, beside report.json.

Plain HTML + CSS, a few lines of inline JavaScript (sortable table), plots as inline SVG
(:mod:`.svg`), pictures from the sibling folder ``report_files/`` (:mod:`.gallery`); nothing
from the network. Sections: verdicts, the summary table (device, runtime, precision, verdict
badges, with ``--compare`` the change per row), the seed study's published numbers beside
ours, the speed-quality scatter plots (Pareto front marked), model-only vs end-to-end time,
flicker over time (``--video``), a picture grid per artifact (worst photos by ΔE00 first) and
the context block (CPU, flags, versions, sha256s, the exact command).
"""

from __future__ import annotations

import math
from html import escape
from pathlib import Path

from edgecolor.bench import svg
from edgecolor.bench.gallery import (
    FILES_DIR,
    HEAT_MAX_DE,
    HEAT_TICKS,
    heat_css_gradient,
    heat_position,
)
from edgecolor.bench.marks import QUALITY_KEYS, RANDOM_CELL, RANDOM_MARK
from edgecolor.imageio import atomic_write_bytes

# (header, row key, format, sort as number)
TABLE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("AIT (ms)", "ait_ms", "{:.2f}"),
    ("p90 (ms)", "p90_ms", "{:.2f}"),
    ("FPS", "fps", "{:.1f}"),
    ("E2E (ms)", "e2e_ms", "{:.1f}"),
    ("MSE", "mse", "{:.5f}"),
    ("PSNR (dB)", "psnr_db", "{:.2f}"),
    ("ΔPSNR (dB)", "dpsnr_db", "{:+.3f}"),
    ("PSNR vs FP32 (dB)", "psnr_vs_fp32_db", "{:.2f}"),
    ("ΔE00 vs FP32", "de_vs_fp32", "{:.3f}"),
    ("Size (MB)", "size_mb", "{:.3f}"),
    ("Peak (MB)", "peak_mb", "{:.0f}"),
)
COMPARE_COLUMNS = (("Speed vs old (×)", "speedup", "{:.2f}"),
                   ("PSNR vs old (dB)", "psnr_change_db", "{:+.3f}"))
GALLERY_COLUMNS = ("original", "gray input", "FP32 colors", "artifact colors", "ΔE00 heat map")

CSS = """
body{font-family:system-ui,sans-serif;margin:1.2em 2em;color:#222;max-width:1400px}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em;
border-bottom:1px solid #ddd} h3{font-size:1em;margin:1.2em 0 .3em}
table{border-collapse:collapse;font-size:12px} th,td{border:1px solid #ddd;padding:3px 6px}
th{background:#f4f4f4;position:sticky;top:0} td.n{text-align:right;font-variant-numeric:
tabular-nums} table.sortable th{cursor:pointer} th[aria-sort=ascending]::after{content:" ▲"}
th[aria-sort=descending]::after{content:" ▼"} .badge{display:inline-block;border-radius:8px;
padding:0 6px;margin:1px;font-size:11px;color:#fff;white-space:nowrap} .ok{background:#2e7d32}
.bad{background:#c62828} .warn{background:#ef6c00} .info{background:#546e7a}
.note{color:#555;font-size:12px;max-width:1000px} pre{background:#f7f7f7;padding:8px;
font-size:11px;overflow-x:auto} .plots{display:flex;flex-wrap:wrap;gap:16px}
.grid img{display:block;max-width:128px;max-height:128px} .grid td{vertical-align:top}
.legend{display:block;height:12px;border:1px solid #999;box-sizing:border-box}
.published{background:#fff8e1} tr.ref td:first-child{font-style:italic}
"""

JS = r"""
(function(){
  var errors=[];window.addEventListener('error',function(e){errors.push(String(e.message||
  (e.target&&e.target.src)||e));document.body.dataset.errors=errors.length;},true);
  function key(td){var v=td.getAttribute('data-v');if(v===null)v=td.textContent.trim();
    var f=parseFloat(v);return isNaN(f)?v.toLowerCase():f;}
  document.querySelectorAll('table.sortable').forEach(function(t){
    t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
      var asc=th.getAttribute('aria-sort')!=='ascending';
      t.querySelectorAll('th').forEach(function(h){h.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort',asc?'ascending':'descending');
      var body=t.tBodies[0],rows=Array.prototype.slice.call(body.rows);
      rows.sort(function(a,b){var x=key(a.cells[i]),y=key(b.cells[i]);
        if(typeof x!==typeof y){return (typeof x==='number')?-1:1;}
        return (x<y?-1:x>y?1:0)*(asc?1:-1);});
      rows.forEach(function(r){body.appendChild(r);});});});});
  var m=location.hash.match(/^#sort=(\d+)(-desc)?$/);  /* a link to a sorted view */
  if(m){var th=document.querySelectorAll('#summary th')[+m[1]];
    if(th){th.click();if(m[2])th.click();}}
  window.addEventListener('load',function(){var imgs=document.images,n=0;
    for(var i=0;i<imgs.length;i++){if(imgs[i].complete&&imgs[i].naturalWidth>0)n++;}
    document.body.dataset.imagesLoaded=n;document.body.dataset.errors=errors.length;});
})();
"""


def _num(v, fmt: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return fmt.format(v)


def _cell(v, fmt: str) -> str:
    ok = isinstance(v, int | float) and math.isfinite(v)
    data = f' data-v="{v:.6g}"' if ok else ' data-v=""'
    return f'<td class="n"{data}>{escape(_num(v, fmt))}</td>'


def _badge(text: str, kind: str, title: str = "") -> str:
    t = f' title="{escape(title)}"' if title else ""
    return f'<span class="badge {kind}"{t}>{escape(text)}</span>'


def _fired_by_row(report: dict) -> dict[str, list[str]]:
    fired: dict[str, list[str]] = {}
    for line in (report.get("gates") or {}).get("fired", []):
        name, _, rest = line.partition(": ")
        fired.setdefault(name, []).append(rest)
    return fired


def verdicts(row: dict, fired: list[str], reference: bool = False) -> str:
    """A row -> its verdict badges: status, --fail-if rules that fired, the dPSNR budget it was
    converted to and whether the eval photos kept it, the reference mark."""
    if row.get("status") != "ok":
        return _badge("failed", "bad", row.get("error") or "")
    out = [_badge("FP32 reference", "info")] if reference else []
    out += [_badge(f"fail-if: {f}", "bad", f) for f in fired]
    if row.get("speed_only"):
        out.append(_badge(RANDOM_MARK, "warn", "converted without trained weights"))
    if not fired and (row.get("_gates") or {}).get("rules"):
        out.append(_badge("gates pass", "ok"))
    budget = row.get("budget")
    if budget and budget.get("max_dpsnr") is not None:
        dp = row.get("dpsnr_db")
        limit = budget["max_dpsnr"]
        if dp is None:
            out.append(_badge(f"budget {limit:g} dB", "info", budget.get("strategy") or ""))
        elif dp <= limit:
            out.append(_badge(f"budget {limit:g} dB: kept ({dp:+.3f})", "ok",
                              f"converted by {budget.get('strategy')}; eval photos' ΔPSNR"))
        else:
            out.append(_badge(f"budget {limit:g} dB: over on eval ({dp:+.3f})", "warn",
                              "met on the validation split at conversion, not on these photos"))
    for note in row.get("notes") or []:
        out.append(_badge("note", "warn", note))
    return " ".join(out) or _badge("ok", "ok")


def _device(report: dict) -> str:
    ctx = report.get("context", {})
    prof = (ctx.get("device_profile") or {}).get("name") or ctx.get("machine") or "—"
    dev = (report.get("settings") or {}).get("device")
    emu = " (emulated)" if ctx.get("emulated") else ""
    return f"{prof}{' / ' + dev if dev else ''}{emu}"


def table_rows(report: dict) -> list[tuple[dict, str]]:
    """Report -> [(row, kind)] in table order: references ("reference"), artifacts
    ("artifact"), alternatives ("alternative")."""
    out = [(ref["row"], "reference") for ref in report.get("references", []) if ref.get("row")]
    out += [(r, "artifact") for r in report.get("rows", [])]
    out += [(r, "alternative") for r in report.get("alternatives", []) or []]
    return out


def summary_table(report: dict) -> str:
    """The sortable summary table (one <tr> per reference, artifact and alternative)."""
    cols = TABLE_COLUMNS + (COMPARE_COLUMNS if "compare" in report else ())
    fired = _fired_by_row(report)
    device = _device(report)
    head = ["Artifact", "Model", "Device", "Runtime", "Precision", "Format", "Verdict"]
    head += [c[0] for c in cols]
    lines = ['<table class="sortable" id="summary"><thead><tr>'
             + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr></thead><tbody>"]
    for row, kind in table_rows(report):
        r = dict(row, _gates=report.get("gates") or {})
        cells = [f"<td>{escape(str(row.get('artifact')))}</td>",
                 f"<td>{escape(str(row.get('model') or '—'))}</td>",
                 f"<td>{escape(device)}</td>",
                 f"<td title=\"{escape(row.get('runner_reason') or '')}\">"
                 f"{escape(str(row.get('runner') or '—'))}</td>",
                 f"<td>{escape(str(row.get('precision') or '—'))}</td>",
                 f"<td>{escape(str(row.get('format') or '—'))}</td>",
                 f"<td>{verdicts(r, fired.get(row.get('artifact'), []), kind == 'reference')}"
                 + (" " + _badge("alternative", "info") if kind == "alternative" else "")
                 + "</td>"]
        for _, k, f in cols:
            if row.get("status") != "ok":
                cells.append('<td class="n" data-v="">—</td>')
            elif row.get("speed_only") and k in QUALITY_KEYS + ("de_vs_fp32",):
                cells.append(f'<td class="n" data-v="">{RANDOM_CELL}</td>')
            else:
                cells.append(_cell(row.get(k), f))
        lines.append(f'<tr class="{kind}">' + "".join(cells) + "</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _short(row: dict) -> str:
    name, model = str(row.get("artifact")), row.get("model") or ""
    if model and name.startswith(model + "-"):
        name = name[len(model) + 1:]
    return name


def plots(report: dict) -> str:
    """Speed-quality scatters (AIT log scale vs PSNR vs FP32 / vs the photos) and the bars of
    model-only vs end-to-end time."""
    ok = [r for r, _ in table_rows(report) if r.get("status") == "ok" and r.get("ait_ms")]
    trained = [r for r in ok if not r.get("speed_only")]  # random weights: no quality point
    vs_fp32 = [svg.Point(_short(r), r["ait_ms"], r["psnr_vs_fp32_db"]) for r in trained
               if r.get("psnr_vs_fp32_db") is not None]
    vs_photo = [svg.Point(_short(r), r["ait_ms"], r["psnr_db"]) for r in trained
                if r.get("psnr_db") is not None]
    parts = [svg.scatter(vs_fp32, "AIT, model-only mean (ms, log scale)",
                         "PSNR vs FP32 (dB, 100 = identical)", "Speed vs fidelity to FP32"),
             svg.scatter(vs_photo, "AIT, model-only mean (ms, log scale)",
                         "PSNR vs the photos (dB)", "Speed vs quality on the photos")]
    bars = svg.paired_bars([_short(r) for r in ok],
                           [("model-only (AIT mean)", [r.get("ait_ms") for r in ok]),
                            ("end-to-end (median)", [r.get("e2e_ms") for r in ok])],
                           "Model-only vs end-to-end time", "ms (log scale)")
    body = "".join(f"<div>{p}</div>" for p in parts + [bars] if p)
    if not body:
        return "<p>No measured rows to plot.</p>"
    return (f'<div class="plots">{body}</div><p class="note">Filled points joined by the '
            "dashed line are the Pareto front: no other row is both faster and closer (higher "
            "PSNR). End-to-end = Lab conversion, resize, inference, decode, full-resolution "
            "RGB (file decoding excluded).</p>")


def published(report: dict) -> str:
    """The seed study's published MSE / PSNR / AIT per model in the report, beside ours."""
    from edgecolor.zoo.published import SEED_LABEL, SEED_NAMES, SEED_NOTE, seed_reported

    models = []
    for row, _ in table_rows(report):
        if row.get("model") and row["model"] not in models:
            models.append(row["model"])
    lines = []
    for model in models:
        seed = seed_reported(model)
        if not seed:
            continue
        rows = [r for r, _ in table_rows(report) if r.get("model") == model
                and r.get("status") == "ok" and r.get("ait_ms")]
        ref = next((r for r, k in table_rows(report) if k == "reference"
                    and r.get("model") == model), None) or next(
            (r for r in rows if r.get("precision") == "fp32"), None)
        fastest = min(rows, key=lambda r: r["ait_ms"]) if rows else None
        approx = "" if model == "eccv16" else "~"
        lines.append(
            f'<tr class="published"><td>{escape(model)}</td><td>{escape(SEED_LABEL)}: '
            f'{escape(SEED_NAMES.get(model, model))}</td>{_cell(seed["seed_mse"], "{:.4f}")}'
            f'{_cell(seed["seed_psnr_db"], "{:.3f}")}<td class="n" data-v="'
            f'{seed["seed_ait_ms"]:g}">{approx}{seed["seed_ait_ms"]:.0f}</td></tr>')
        for label, r in (("measured here: FP32 reference", ref),
                         ("measured here: fastest row", fastest)):
            if r is None:
                continue
            quality = (f"<td>{RANDOM_CELL}</td>" * 2 if r.get("speed_only") else
                       _cell(r.get("mse"), "{:.5f}") + _cell(r.get("psnr_db"), "{:.2f}"))
            lines.append(f"<tr><td>{escape(model)}</td><td>{escape(label)} "
                         f"(<code>{escape(str(r['artifact']))}</code>)</td>{quality}"
                         f"{_cell(r.get('ait_ms'), '{:.2f}')}</tr>")
    if not lines:
        return "<p>No model of this report is in the seed study's Table 1.</p>"
    return ('<table id="published"><thead><tr><th>Model</th><th>Source</th><th>MSE</th>'
            "<th>PSNR (dB)</th><th>AIT (ms)</th></tr></thead><tbody>" + "\n".join(lines)
            + f'</tbody></table><p class="note">{escape(SEED_NOTE)} Ours: MSE and PSNR vs '
            f'these eval photos ({report.get("images", {}).get("n")}), AIT on this machine.</p>')


def flicker_section(report: dict) -> str:
    """Flicker per row (mean ΔE00 on static regions, raw and smoothed) and over time."""
    rows = [r for r, _ in table_rows(report) if r.get("status") == "ok" and r.get("flicker")]
    if not rows:
        return ""
    good = [r for r in rows if not r["flicker"].get("error")]
    clip = next((r["flicker"].get("clip") for r in good), None)
    lines = ['<table id="flicker"><thead><tr><th>Row</th><th>raw ΔE00</th><th>smoothed ΔE00'
             "</th><th>static fraction</th><th>frames</th></tr></thead><tbody>"]
    for r in rows:
        fl = r["flicker"]
        if fl.get("error"):
            lines.append(f"<tr><td>{escape(r['artifact'])}</td><td colspan=4>"
                         f"{_badge('failed', 'bad')} {escape(fl['error'])}</td></tr>")
            continue
        lines.append(f"<tr><td>{escape(r['artifact'])}</td>{_cell(fl.get('mean_raw'), '{:.3f}')}"
                     f"{_cell(fl.get('mean_smoothed'), '{:.3f}')}"
                     f"{_cell(fl.get('static_fraction'), '{:.2f}')}"
                     f"{_cell(fl.get('frames'), '{:d}')}</tr>")
    lines.append("</tbody></table>")
    series = []
    for r in good:
        series.append((f"{_short(r)} raw", r["flicker"].get("raw") or [], False))
        series.append((f"{_short(r)} smoothed", r["flicker"].get("smoothed") or [], True))
    plot = svg.lines(series, f"Flicker over time on {clip}", "frame pair",
                     "ΔE00 on static regions")
    alpha = next((r["flicker"].get("alpha") for r in good), None)
    return ("\n".join(lines) + f"<div class=plots><div>{plot}</div></div>"
            f'<p class="note">Per pair of consecutive frames: mean CIEDE2000 between the two '
            f"outputs where the input's L did not change (5×5-averaged |ΔL| below "
            f"{good[0]['flicker'].get('static_dl') if good else '—'} L units). Smoothed: the "
            f"camera's ab EMA (alpha {alpha}), reset on scene cuts.</p>")


def _img(report_dir: Path | None, pair: dict | None, alt: str) -> str:
    if not pair:
        return '<td class="missing">—</td>'
    if report_dir is not None and not (report_dir / pair["thumb"]).is_file():
        return '<td class="missing" title="picture not found beside the report">—</td>'
    return (f'<td><a href="{escape(pair["full"])}"><img src="{escape(pair["thumb"])}" '
            f'alt="{escape(alt)}"></a></td>')


def _reference_gallery(report: dict) -> dict[str, dict]:
    """Artifact name -> the gallery of its group's FP32 reference."""
    by_name = {r.get("artifact"): r for r in report.get("rows", [])}
    out = {}
    for ref in report.get("references", []):
        gal = (ref.get("row") or {}).get("gallery")
        if gal is None and ref.get("kind") == "artifact":  # the fp32 artifact was the reference
            fp32 = next((by_name[a] for a in ref.get("artifacts", []) if a in by_name
                         and (by_name[a].get("gallery") or {}).get("n")
                         and by_name[a].get("precision") == "fp32"), None)
            gal = (fp32 or {}).get("gallery")
        for name in ref.get("artifacts", []):
            out[name] = gal or {}
    return out


def heat_legend(width: int = 260) -> str:
    """The heat maps' ΔE00 scale: the color bar with its (square-root spaced) ticks."""
    ticks = "".join(
        f'<span style="position:absolute;left:{float(heat_position(t)) * width:.0f}px;top:13px;'
        f'font-size:10px;transform:translateX(-50%)">{t:g}{"+" if t == HEAT_MAX_DE else ""}'
        "</span>" for t in HEAT_TICKS)
    return (f'ΔE00 heat scale (square root; 2.3 ≈ just noticeable): <span style="position:'
            f'relative;display:inline-block;width:{width}px;height:26px;vertical-align:top">'
            f'<span class="legend" style="width:{width}px;background:{heat_css_gradient()}">'
            f"</span>{ticks}</span>")


def galleries(report: dict, report_dir: Path | None = None) -> str:
    """Per artifact, one grid row per kept eval photo (worst ΔE00 first): original, gray
    input, FP32 colors, artifact colors, ΔE00 heat map; thumbnails link to the full size."""
    photos = (report.get("gallery") or {}).get("photos") or {}
    refs = _reference_gallery(report)
    legend = heat_legend()
    parts, nav = [], []
    shown = [r for r in report.get("rows", []) if r.get("status") == "ok"
             and (r.get("gallery") or {}).get("photos")]
    # the artifacts that differ most from FP32 first (mean ΔE00 vs FP32)
    shown.sort(key=lambda r: -(r.get("de_vs_fp32") if r.get("de_vs_fp32") is not None
                               else -1.0))
    for row in shown:
        gal = row["gallery"]
        nav.append(f'<a href="#g-{escape(row["artifact"])}">{escape(_short(row))}</a> '
                   f'({_num(row.get("de_vs_fp32"), "{:.2f}")})')
        ref_photos = (refs.get(row["artifact"]) or {}).get("photos") or {}
        scores = {p["image"]: p for p in row.get("per_image") or []}
        head = "".join(f"<th>{escape(h)}</th>" for h in ("photo",) + GALLERY_COLUMNS)
        trs = []
        for name in gal.get("order") or list(gal["photos"]):
            mine = gal["photos"][name]
            s = scores.get(name, {})
            info = (f"<b>{escape(name)}</b><br>ΔE00 vs FP32 {_num(s.get('de_vs_fp32'), '{:.2f}')}"
                    f"<br>PSNR vs FP32 {_num(s.get('psnr_vs_fp32_db'), '{:.1f}')} dB<br>PSNR "
                    f"{_num(s.get('psnr_db'), '{:.2f}')} dB")
            orig = photos.get(name) or {}
            trs.append(f"<tr><td>{info}</td>{_img(report_dir, orig.get('original'), 'original')}"
                       f"{_img(report_dir, orig.get('gray'), 'gray input')}"
                       f"{_img(report_dir, (ref_photos.get(name) or {}).get('colors'), 'FP32')}"
                       f"{_img(report_dir, mine.get('colors'), 'artifact')}"
                       f"{_img(report_dir, mine.get('heat'), 'heat map')}</tr>")
        kept = (f"worst {gal.get('kept')} of {gal.get('n')} photos by ΔE00 vs FP32, worst first"
                if gal.get("kept") != gal.get("n") else
                f"all {gal.get('n')} photos, worst ΔE00 vs FP32 first")
        parts.append(f'<h3 id="g-{escape(row["artifact"])}">{escape(row["artifact"])}</h3>'
                     f'<p class="note">{kept}. {legend}</p><table class="grid">'
                     f"<thead><tr>{head}</tr></thead><tbody>{''.join(trs)}</tbody></table>")
    parts += [f'<p class="note">{escape(r["artifact"])}: {escape(r["gallery"]["error"])}</p>'
              for r in report.get("rows", []) if (r.get("gallery") or {}).get("error")]
    if not parts:
        return "<p>No pictures were saved with this report.</p>"
    return (f'<p class="note">Artifacts by mean ΔE00 vs FP32, largest first: {", ".join(nav)}'
            "</p>\n" + "\n".join(parts))


def context_block(report: dict) -> str:
    """CPU, flags, versions, sha256s, settings, eval photos, the exact command."""
    ctx = report.get("context", {})
    cpu = ctx.get("cpu", {})
    settings = report.get("settings", {})
    lines = [f"command:   {ctx.get('command')}", f"date:      {ctx.get('date')}",
             f"device:    {_device(report)}; machine {ctx.get('machine')}",
             f"CPU:       {cpu.get('model')}; cores {cpu.get('cores_available')}/"
             f"{cpu.get('cores')}; threads {ctx.get('threads') or 'runtime default'}",
             f"flags:     {' '.join(cpu.get('simd', [])) or '—'}",
             f"load avg:  {' '.join(str(x) for x in ctx.get('load_average') or []) or '—'}",
             f"OS:        {ctx.get('os')}; Python {ctx.get('python')}",
             "versions:  " + ", ".join(f"{k} {v}" for k, v in
                                       sorted((ctx.get("versions") or {}).items())),
             "settings:  " + ", ".join(f"{k}={v}" for k, v in settings.items()
                                       if v is not None)]
    for ref in report.get("references", []):
        lines.append(f"reference: {ref.get('source')}")
    images = report.get("images", {})
    lines.append(f"eval:      {images.get('n')} photos: {', '.join(images.get('used', []))}")
    if images.get("overlap"):
        kept = "KEPT (--allow-overlap)" if images.get("overlap_kept") else "excluded"
        lines.append(f"WARNING:   calibration photos in the eval set, {kept}: "
                     + ", ".join(sorted({o['image'] for o in images['overlap']})))
    if "compare" in report:
        lines.append(f"compared:  {report['compare'].get('command')} "
                     f"({report['compare'].get('date')})")
    lines.append("sha256:")
    for _name, files in sorted((ctx.get("artifacts") or {}).items()):
        for f, sha in sorted((files or {}).items()):
            lines.append(f"  {sha}  {f}")
    return "<pre id=\"context\">" + escape("\n".join(lines)) + "</pre>"


def sustained_section(report: dict) -> str:
    """``bench --on ... --sustained SECONDS``: per device, the SoC temperature (°C), clock
    (MHz) and power (mW) sampled over the long run, one plot per quantity the board exposes
    (x: seconds since the run started, samples ~1 s apart); what could not be read is said.
    """
    parts = []
    for d in report.get("devices") or []:
        s = d.get("sustained")
        if not s:
            continue
        title = f"{d.get('name')}: {s.get('artifact')} for {s.get('seconds', 0):g} s"
        if s.get("status") != "ok":
            parts.append(f"<p>{escape(title)} {_badge('failed', 'bad')} "
                         f"{escape(str(s.get('error')))}</p>")
            continue
        h = s.get("health") or {}
        samples = h.get("samples") or []
        plots_ = []
        for col, name, unit in ((1, "SoC temperature", "°C"), (2, "CPU clock", "MHz"),
                                (3, "power", "mW")):
            values = [row[col] if len(row) > col else None for row in samples]
            if any(v is not None for v in values):
                last_t = samples[-1][0] if samples else 0
                plots_.append(svg.lines([(f"{d.get('name')} {name}", values, False)],
                                        f"{name} over {title}",
                                        f"sample (0 … {last_t:.0f} s)", f"{name} ({unit})"))
        note = ""
        if h.get("throttled"):
            flags = ", ".join(h.get("throttle_flags") or []) or "hot"
            note += " " + _badge(f"throttled ({flags})", "warn")
        if h.get("missing"):
            note += f" Not readable on this board: {escape('; '.join(h['missing']))}."
        body = "".join(f"<div>{p}</div>" for p in plots_ if p)
        parts.append(f"<p>{escape(title)}: {len(samples)} samples.{note}</p>"
                     + (f"<div class=plots>{body}</div>" if body else ""))
    return "\n".join(parts)


def render(report: dict, report_dir: str | Path | None = None) -> str:
    """Report dict -> the whole page (HTML text). ``report_dir``: the folder the page will sit
    in, to leave out pictures that are not there."""
    rd = Path(report_dir) if report_dir is not None else None
    ctx = report.get("context", {})
    gates = report.get("gates") or {}
    failed = [r for r in report.get("rows", []) if r.get("status") != "ok"]
    banner = []
    if gates.get("fired"):
        banner.append(_badge(f"{len(gates['fired'])} --fail-if rule(s) fired", "bad"))
    elif gates.get("rules"):
        banner.append(_badge(f"all {len(gates['rules'])} --fail-if rule(s) pass", "ok"))
    banner.append(_badge(f"{len(failed)} of {len(report.get('rows', []))} artifacts failed",
                         "bad") if failed else _badge(f"{len(report.get('rows', []))} "
                                                      "artifacts measured", "ok"))
    load = (ctx.get("load_average") or [0])[0]
    cores = (ctx.get("cpu") or {}).get("cores_available") or 1
    if load > cores:  # the same rule as the benchmark results files
        banner.append(_badge(f"busy machine: load average {load} on {cores} cores — times "
                             "inflated, re-run idle before quoting them", "warn"))
    fired = "".join(f"<li>{escape(f)}</li>" for f in gates.get("fired", []))
    flick = flicker_section(report)
    sust = sustained_section(report)
    body = [
        "<h1>edgecolor bench report</h1>",
        f'<p class="note">{escape(_device(report))} · {escape(str(ctx.get("date")))} · '
        f"<code>{escape(str(ctx.get('command')))}</code></p>",
        f"<p>{' '.join(banner)}</p>" + (f"<ul>{fired}</ul>" if fired else ""),
        "<h2>Summary</h2>", '<p class="note">Click a column header to sort (a link ending in '
        "<code>#sort=N</code> or <code>#sort=N-desc</code> opens sorted by column N). AIT = mean "
        "model-only time; E2E = median end-to-end; ΔPSNR = PSNR of the FP32 reference − PSNR "
        "of the row (> 0: quality lost); PSNR vs FP32 on the unrounded outputs (100 = "
        "identical); ΔE00 vs FP32 = mean CIEDE2000 against the FP32 colors.</p>",
        summary_table(report),
        "<h2>Published by the seed study (other hardware, other images)</h2>", published(report),
        "<h2>Speed and quality</h2>", plots(report),
        *(["<h2>Flicker on video</h2>", flick] if flick else []),
        *(["<h2>Sustained runs (throttling curve)</h2>", sust] if sust else []),
        "<h2>Pictures</h2>", galleries(report, rd),
        "<h2>Context</h2>", context_block(report),
    ]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>edgecolor bench report</title>"
            f"<style>{CSS}</style></head><body>\n" + "\n".join(body)
            + f"\n<script>{JS}</script>\n</body></html>\n")


def write_html(report: dict, out_dir: str | Path) -> Path:
    """Write ``out_dir/report.html`` atomically (pictures expected in ``out_dir/report_files``)
    -> its path."""
    path = Path(out_dir) / "report.html"
    atomic_write_bytes(path, render(report, out_dir).encode())
    return path


def referenced_files(report: dict) -> list[str]:
    """Every picture path (relative to the report folder) the page links or shows."""
    found: list[str] = []

    def walk(x):
        if isinstance(x, dict):
            for k, v in x.items():
                if k in ("full", "thumb") and isinstance(v, str) and v.startswith(FILES_DIR):
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk({"gallery": report.get("gallery"), "rows": report.get("rows"),
          "references": report.get("references")})
    return sorted(set(found))
