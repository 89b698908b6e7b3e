"""``edgecolor devices``: the device profiles, and which one this host is."""

from __future__ import annotations

import click


@click.command("devices")
@click.option("-v", "--verbose", is_flag=True, help="Also show each profile's notes.")
def command(verbose):
    """List the device profiles (the --target of `edgecolor convert`); `*` marks the one
    detected on this host. Detection reads /proc/device-tree/model, /etc/nv_tegra_release
    and /proc/cpuinfo (under $EDGECOLOR_DEVICE_ROOT if set); EDGECOLOR_DEVICE forces it.

    \b
    Example:
      edgecolor devices
      EDGECOLOR_DEVICE=rpi4 edgecolor devices -v
    """
    from edgecolor.devices import detect, list_profiles, load_profile

    found = detect()
    names = list_profiles()
    click.echo(f"  {'profile':<18} {'arch':<8} {'cpu':<13} {'threads':>7}  {'runtimes':<30} "
               "artifacts")
    for name in names:
        p = load_profile(name)
        mark = "*" if name == found.profile else " "
        by_fmt: dict[str, list[str]] = {}
        for f, prec in p.artifacts:
            by_fmt.setdefault(f, []).append(prec)
        arts = " ".join(f"{f}:{','.join(ps)}" for f, ps in by_fmt.items())
        runtimes = ", ".join(p.runtimes)
        threads = p.threads or "all"
        trt = f"  (TensorRT {p.trt_version})" if p.trt_version else ""
        click.echo(f"{mark} {name:<18} {p.arch:<8} {p.cpu:<13} {threads!s:>7}  {runtimes:<30} "
                   f"{arts}{trt}")
        if verbose:
            click.echo(f"      {p.description}; max PSNR loss {p.max_dpsnr} dB; input "
                       f"{p.input_size or 'model default'}")
            click.echo(f"      {p.notes}")
    if found.profile is None:
        click.echo(f"detected: none ({found.reason}); pass --target to convert")
    elif found.profile not in names:
        click.echo(f"detected: {found.profile} ({found.reason}) - not a known profile")
    else:
        flags = f"; CPU flags {' '.join(found.flags)}" if found.flags else ""
        click.echo(f"detected: {found.profile} ({found.reason}{flags})")
