"""``edgecolor devices``: the device profiles, which one this host is, and the user's own
devices (``devices add`` / ``devices remove``) with their reachability and detected profile.
"""

from __future__ import annotations

import sys

import click


def _profiles(verbose: bool) -> None:
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


def _status(device) -> tuple[str, str]:
    """-> (reachability, detected profile) of one registered device (one ssh call)."""
    from edgecolor.devices.remote.session import raw_detect
    from edgecolor.devices.remote.ssh import RemoteError

    try:
        found = raw_detect(device, timeout_s=20)
    except RemoteError as e:
        return f"❌ {e}", "—"
    return "reachable", f"{found.profile or 'none'} ({found.reason})"


def _registered(check: bool) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from edgecolor.devices.remote.registry import devices_file, load_devices

    devices = load_devices()
    click.echo("")
    if not devices:
        click.echo(f"devices: none registered ({devices_file()}); add one with "
                   "`edgecolor devices add NAME ssh://USER@HOST`")
        return
    click.echo(f"devices ({devices_file()}):")
    with ThreadPoolExecutor(max_workers=8) as pool:
        states = list(pool.map(_status, devices.values())) if check else \
            [("not checked", "—")] * len(devices)
    for d, (state, detected) in zip(devices.values(), states, strict=True):
        click.echo(f"  {d.name:<12} {d.url:<32} profile {d.profile or 'auto':<16} "
                   f"python {d.python}")
        click.echo(f"  {'':<12} {state}; detected: {detected}")


@click.group("devices", invoke_without_command=True)
@click.option("-v", "--verbose", is_flag=True, help="Also show each profile's notes.")
@click.option("--no-check", is_flag=True, help="Do not connect to the registered devices.")
@click.pass_context
def command(ctx, verbose, no_check):
    """List the device profiles (the --target of `edgecolor convert`; `*` marks the one
    detected on this host) and your registered devices with their reachability and the
    profile detected on each board (its /proc/device-tree/model and /proc/cpuinfo, read over
    ssh). Host detection reads /proc/device-tree/model, /etc/nv_tegra_release and
    /proc/cpuinfo (under $EDGECOLOR_DEVICE_ROOT if set); EDGECOLOR_DEVICE forces it.

    \b
    Example:
      edgecolor devices
      edgecolor devices add pi5 ssh://pi@raspberrypi.local --profile rpi5
      edgecolor bench artifacts/ --on pi5
      edgecolor devices remove pi5
    """
    if ctx.invoked_subcommand is not None:
        return
    from edgecolor.devices.remote.registry import RegistryError

    _profiles(verbose)
    try:
        _registered(not no_check)
    except RegistryError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)


@command.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--profile", help="Device profile (default: detected on the board at bench time).")
@click.option("--python", "python", default="python3", show_default=True,
              help="Python on the device that has edgecolor (e.g. a venv's bin/python).")
@click.option("--cache", default="~/.cache/edgecolor-remote", show_default=True,
              help="Folder on the device for artifacts and photos (kept by sha256).")
@click.option("--replace", is_flag=True, help="Overwrite a device of the same name.")
def add(name, url, profile, python, cache, replace):
    """Register device NAME reached at URL (ssh://[user@]host[:port]; ~/.ssh/config aliases,
    keys and agents work as with ssh).
    """
    from edgecolor.devices.remote.registry import Device, RegistryError, add_device

    try:
        path = add_device(Device(name=name, url=url, profile=profile, python=python,
                                 cache=cache), replace=replace)
    except RegistryError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    click.echo(f"added {name} ({url}) to {path}")


@command.command("remove")
@click.argument("name")
def remove(name):
    """Forget device NAME."""
    from edgecolor.devices.remote.registry import RegistryError, remove_device

    try:
        path = remove_device(name)
    except RegistryError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(2)
    click.echo(f"removed {name} from {path}")
