"""``edgecolor report``: render report.html from an existing report.json (e.g. one made on a
device without the pictures' tools, rendered on a workstation)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

EXIT_REFUSED = 2


@click.command("report")
@click.argument("report_json", type=click.Path(dir_okay=False, exists=True))
@click.option("-o", "--out", "out_dir", type=click.Path(file_okay=False),
              help="Folder for report.html (default: the report's own folder); the pictures "
                   "in report_files/ beside the report are copied along.")
def command(report_json, out_dir):
    """Render REPORT_JSON (written by `edgecolor bench` / `benchmark`) as report.html.

    The page has the sortable summary table with verdict badges, the seed study's published
    numbers beside ours, the speed-quality plots, flicker (when measured) and, when the
    report's report_files/ folder is beside it, the picture grid per artifact. Nothing is
    loaded from the network. Exit codes: 2 when REPORT_JSON is not a bench report.

    \b
    Example:
      edgecolor report pi5-run/report.json -o pi5-html/
    """
    from edgecolor.bench.html import referenced_files, write_html
    from edgecolor.bench.report import load_report
    from edgecolor.imageio import atomic_write_bytes

    try:
        report = load_report(report_json)
    except ValueError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_REFUSED)
    src = Path(report_json).resolve().parent
    out = Path(out_dir) if out_dir else src
    copied = missing = 0
    for rel in referenced_files(report):
        if not (src / rel).is_file():
            missing += 1
        elif out.resolve() != src:
            atomic_write_bytes(out / rel, (src / rel).read_bytes())
            copied += 1
    path = write_html(report, out)
    if missing:
        click.echo(f"warning: {missing} picture(s) named by the report are not in {src}; "
                   "their cells show —", err=True)
    click.echo(f"report: {path}" + (f" ({copied} pictures copied)" if copied else ""))
