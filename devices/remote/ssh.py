"""One device's commands through the system OpenSSH client (``ssh``, ``tar`` over ssh).

Every call runs ``ssh -T`` with BatchMode=yes (never a password prompt), ConnectTimeout and
ServerAliveInterval (a dead link is noticed within seconds), so ``~/.ssh/config`` aliases,
keys and agents work as with ``ssh``. ``$EDGECOLOR_SSH_CONFIG`` names another ssh config file
(``ssh -F``; the tests use it for their throwaway keys). A failure becomes a
:class:`RemoteError` whose one line names the device and the fix (:func:`explain`).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgecolor.devices.remote.registry import Device

CONNECT_TIMEOUT_S = 10
ALIVE_INTERVAL_S = 3
ALIVE_COUNT = 3  # a silent link is dropped after about 9 s


class RemoteError(RuntimeError):
    """A device step failed; ``str()`` is one line naming the device and the fix.

    kind: unreachable | key | hostkey | dropped | disk | timeout | missing | older | runtime |
    failed.
    """

    def __init__(self, message: str, kind: str = "failed"):
        super().__init__(message)
        self.kind = kind


@dataclass
class SshResult:
    """What one ssh command gave: exit code (255: ssh itself failed), output, timeout."""

    rc: int
    stdout: bytes
    stderr: str
    timed_out: bool = False

    @property
    def text(self) -> str:
        """stdout decoded."""
        return self.stdout.decode(errors="replace")


def destination(device: Device) -> str:
    """``[user@]host`` plus ``-p PORT`` as a user would type it (for fix lines)."""
    dest = f"{device.user}@{device.host}" if device.user else device.host
    return f"-p {device.port} {dest}" if device.port else dest


def ssh_argv(device: Device, command: str, connect_timeout: float = CONNECT_TIMEOUT_S
             ) -> list[str]:
    """argv of ``ssh`` running the shell ``command`` on ``device``."""
    argv = ["ssh", "-T", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={int(connect_timeout)}",
            "-o", f"ServerAliveInterval={ALIVE_INTERVAL_S}",
            "-o", f"ServerAliveCountMax={ALIVE_COUNT}", "-o", "LogLevel=ERROR"]
    config = os.environ.get("EDGECOLOR_SSH_CONFIG")
    if config:
        argv += ["-F", config]
    if device.port:
        argv += ["-p", str(device.port)]
    if device.user:
        argv += ["-l", device.user]
    return argv + ["--", device.host, command]


def run(device: Device, command: str, timeout_s: float, stdin: bytes | None = None
        ) -> SshResult:
    """Run the shell ``command`` on ``device`` -> SshResult (a timeout kills the local ssh,
    which closes the remote command's stdin).
    """
    proc = subprocess.Popen(ssh_argv(device, command), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(stdin or b"", timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return SshResult(proc.returncode, out, err.decode(errors="replace"), timed_out=True)
    return SshResult(proc.returncode, out, err.decode(errors="replace"))


def send_tree(device: Device, local_root: Path, names: list[str], remote_dir: str,
              timeout_s: float, complete: tuple[str, ...] = ()) -> SshResult:
    """Copy ``names`` (paths under ``local_root``; symlinks followed) into ``remote_dir`` on
    the device with ``tar`` over one ssh connection -> SshResult.

    complete: folders (relative to ``remote_dir``) that get an empty ``.complete`` file once
    the whole archive was written; if tar fails (full disk: it goes on past a short write)
    they are removed instead, so a cut transfer never looks finished.
    """
    with tempfile.TemporaryFile() as err_file:
        tar = subprocess.Popen(["tar", "-ch", "-C", str(local_root), "-f", "-", "--", *names],
                               stdout=subprocess.PIPE, stderr=err_file)
        q = quote_path(remote_dir)
        dirs = " ".join(shlex.quote(d) for d in complete)
        command = f"mkdir -p {q} && cd {q} && tar -xf -"
        if complete:
            command = (f"{command} || {{ rc=$?; rm -rf {dirs}; exit $rc; }}; "
                       f"for d in {dirs}; do : > \"$d/.complete\" || exit 1; done")
        proc = subprocess.Popen(ssh_argv(device, command),
                                stdin=tar.stdout, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        assert tar.stdout is not None
        tar.stdout.close()  # ssh holds the pipe now: tar sees EPIPE if ssh dies
        try:
            out, err = proc.communicate(timeout=timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            timed_out = True
        tar.wait()
        err_file.seek(0)
        tar_err = err_file.read().decode(errors="replace")
    stderr = err.decode(errors="replace") + tar_err
    if tar.returncode not in (0, None) and proc.returncode == 0:
        return SshResult(1, out, f"local tar failed: {tar_err.strip()}", timed_out)
    return SshResult(proc.returncode, out, stderr, timed_out)


def quote_path(path: str) -> str:
    """A remote path for a POSIX shell: ``~/x`` keeps its home expansion, the rest quoted."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def explain(device: Device, result: SshResult, doing: str) -> RemoteError:
    """A failed ssh call -> RemoteError with one line naming the device, the cause and the
    fix. ``doing``: what was being done ("connecting", "sending files", "running").
    """
    err = result.stderr
    low = err.lower()
    dest = destination(device)
    head = f"device {device.name} ({device.url})"
    if result.timed_out:
        return RemoteError(f"{head}: no answer within the timeout while {doing} (the board "
                           "hangs or is overloaded); check it with `ssh "
                           f"{dest} uptime`, or raise --timeout", "timeout")
    full = ("no space left on device", "disk quota exceeded", ": wrote only ")  # tar: short write
    if any(f in low for f in full):
        return RemoteError(f"{head}: no space left on the device while {doing} (cache "
                           f"{device.cache}); free space there, or set another cache folder "
                           f"(edgecolor devices add {device.name} ... --cache DIR --replace)",
                           "disk")
    if "permission denied (publickey" in low or "too many authentication failures" in low \
            or ("permission denied" in low and result.rc == 255):
        return RemoteError(f"{head}: the device refused the SSH key; install yours with "
                           f"`ssh-copy-id {dest}` (or name it in ~/.ssh/config)", "key")
    if "host key verification failed" in low or "remote host identification has changed" in low:
        return RemoteError(f"{head}: host key unknown or changed; connect once with `ssh "
                           f"{dest}` to check and accept it", "hostkey")
    unreachable = ("connection refused", "no route to host", "connection timed out",
                   "operation timed out", "could not resolve hostname", "network is unreachable",
                   "name or service not known")
    if result.rc == 255 and any(u in low for u in unreachable) and doing == "connecting":
        return RemoteError(f"{head}: unreachable ({_last_line(err)}); check that it is on, on "
                           f"the network and runs sshd: `ssh {dest} true`", "unreachable")
    if result.rc == 255:
        why = _last_line(err) or "ssh exited with 255"
        if doing == "connecting":
            return RemoteError(f"{head}: unreachable ({why}); check that it is on, on the "
                               f"network and runs sshd: `ssh {dest} true`", "unreachable")
        return RemoteError(f"{head}: connection dropped while {doing} ({why}); check the "
                           "board and its network, then run the same command again (files "
                           "already sent are kept)", "dropped")
    return RemoteError(f"{head}: {doing} failed (exit {result.rc}: "
                       f"{_last_line(err) or 'no message'})", "failed")
