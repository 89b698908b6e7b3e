"""Device side: run one measurement job so that nothing outlives the connection.

``python -m edgecolor.devices.remote.runner RUNDIR TIMEOUT_S`` reads the job (one JSON line)
from stdin, starts ``python -m edgecolor.bench.measure`` in its own process group (its id in
``RUNDIR/pid``), and kills that group when stdin closes (the ssh connection ended: host
interrupted or the link dropped), on SIGTERM/SIGHUP, or after TIMEOUT_S. Prints one JSON line:
the result, or {"status": "failed", "error": ...}; then removes RUNDIR.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGCONT):
        try:
            os.killpg(pgid, sig)
        except OSError:
            return
    time.sleep(0.5)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except OSError:
        pass


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no output"
    return lines[-1] if lines else "no output"


def run(rundir: Path, timeout_s: float, job_line: str) -> dict:
    """Measure the job in a child process group -> the result dict (failed on kill/timeout)."""
    rundir.mkdir(parents=True, exist_ok=True)
    job_path, result_path, log = rundir / "job.json", rundir / "result.json", rundir / "log"
    job_path.write_text(job_line)
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with open(log, "wb") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "edgecolor.bench.measure", str(job_path), str(result_path)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True)
    (rundir / "pid").write_text(f"{child.pid}\n")
    why: list[tuple[str, str]] = []  # (kind, reason) of the first stop

    def stop(reason: str, kind: str = "stopped") -> None:
        if not why:
            why.append((kind, reason))
        _kill_group(child.pid)

    def watch_stdin() -> None:
        sys.stdin.read()  # returns at EOF: the connection is gone
        if child.poll() is None:
            stop("the connection to the host closed")

    threading.Thread(target=watch_stdin, daemon=True).start()
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(sig, lambda s, f: stop(f"stopped by signal {s}"))
    try:
        child.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        stop(f"no result within {timeout_s:.0f} s", "timeout")
        child.wait()
    if result_path.is_file() and not why:
        return json.loads(result_path.read_text())
    if why:
        return {"status": "failed", "kind": why[0][0], "error": why[0][1]}
    return {"status": "failed", "kind": "crashed", "error": f"measuring process exited with "
            f"code {child.returncode} ({_last_line(log)})"}


def main(argv: list[str] | None = None) -> int:
    """Entry point; prints the result as one JSON line."""
    rundir, timeout_s = (argv if argv is not None else sys.argv[1:])[:2]
    job_line = sys.stdin.readline()
    try:
        result = run(Path(rundir), float(timeout_s), job_line)
    finally:
        shutil.rmtree(rundir, ignore_errors=True)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
