"""The command-line side of ``bench --on``: resolve the devices, run the fleet, write one
report (atomically), print the table; exit 0 all rows ok, 1 some rows failed, 2 refused, 3 a
--fail-if rule fired.
"""

from __future__ import annotations

from pathlib import Path

import click

EXIT_FAILED, EXIT_REFUSED = 1, 2


def sustained_markdown(report: dict) -> str:
    """The --sustained runs as markdown: per device, temperature/clock/power over time."""
    lines = []
    for d in report.get("devices", []):
        s = d.get("sustained")
        if not s:
            continue
        h = s.get("health") or {}
        lines += ["", f"### Sustained run on {d['name']}: {s['artifact']} for {s['seconds']:g} s",
                  ""]
        if s.get("status") != "ok":
            lines.append(f"❌ {s.get('error')}")
            continue
        if h.get("missing"):
            lines.append(f"Not readable on this board: {'; '.join(h['missing'])}.")
            lines.append("")
        lines += ["| t (s) | temp (°C) | clock (MHz) | power (mW) |", "|---:|---:|---:|---:|"]
        samples = h.get("samples") or []
        step = max(1, len(samples) // 30)
        for t, temp, clock, power in samples[::step]:
            cells = [f"{t:.0f}"] + ["—" if v is None else f"{v:.0f}" for v in (temp, clock,
                                                                                  power)]
            lines.append("| " + " | ".join(cells) + " |")
        if h.get("throttled"):
            flags = ", ".join(h.get("throttle_flags") or []) or "hot"
            lines.append(f"\n⚠ throttled during the run ({flags})")
    return "\n".join(lines) + ("\n" if lines else "")


def _write_html(report: dict, out: Path, err) -> Path | None:
    """report.html beside report.json (a view of it; a failure is one warning line)."""
    try:
        from edgecolor.bench.html import write_html

        return write_html(report, out)
    except Exception as e:  # the JSON and markdown reports are written already
        err(f"warning: report.html not written ({type(e).__name__}: {e}); render it later "
            f"with `edgecolor report {out / 'report.json'} -o DIR`")
        return None


def bench_on(folder: Path, out: Path, settings, names: list[str], compare: str | None,
             fail_if: tuple[str, ...], threads_given: bool = False, install: bool = False,
             sustained: float | None = None) -> int:
    """Benchmark ``folder`` on the devices ``names`` -> exit code (report in ``out``)."""
    from edgecolor.bench import BenchError
    from edgecolor.bench.report import (
        RULE_EXIT_CODE,
        add_comparison,
        check_rules,
        load_report,
        markdown,
        parse_rule,
        terminal_table,
        to_json,
    )
    from edgecolor.devices.remote.fleet import bench_on_devices
    from edgecolor.devices.remote.registry import RegistryError, get_device
    from edgecolor.imageio import atomic_write_bytes

    def err(line: str) -> None:
        click.echo(line, err=True)

    try:
        rules = [parse_rule(r) for r in fail_if]
        old = load_report(compare) if compare else None
        devices = [get_device(n) for n in dict.fromkeys(names)]
    except (ValueError, RegistryError) as e:
        err(f"error: {e}")
        return EXIT_REFUSED
    try:
        report = bench_on_devices(folder, devices, settings, threads_given=threads_given,
                                  install=install, sustained=sustained, log=err)
    except BenchError as e:
        err(f"error: {e}")
        return EXIT_REFUSED
    if old is not None:
        add_comparison(report, old)
    fired = check_rules(report, rules)
    report["gates"] = {"rules": list(fail_if), "fired": fired}
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "report.json", out / "report.md"
    atomic_write_bytes(json_path, to_json(report).encode())
    atomic_write_bytes(md_path, (markdown(report) + sustained_markdown(report)).encode())
    html_path = _write_html(report, out, err)
    click.echo(terminal_table(report))
    click.echo(f"report: {json_path}  {md_path}" + (f"  {html_path}" if html_path else ""))
    for d in report["devices"]:
        if d["status"] != "ok":
            err(f"❌ {d['error']}")
    failed = [r for r in report["rows"] if r.get("status") != "ok"]
    if failed:
        err(f"{len(failed)} of {len(report['rows'])} row(s) failed (❌ rows)")
    for line in fired:
        err(f"fail-if: {line}")
    if fired:
        return RULE_EXIT_CODE
    return EXIT_FAILED if failed else 0
