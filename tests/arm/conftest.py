"""Device-side tests: run on aarch64 (qemu in the ARM lane, or a real board), never TensorFlow.

They read a folder of artifacts converted on the host with a ``.ref.npz`` beside each (the
host's outputs), named by ``EDGECOLOR_ARM_ARTIFACTS``. Without it nothing here is collected,
so the host suite (``pytest`` from the repository root) skips this folder. The lane runs
them with their own config: ``pytest -c tests/arm/pytest.ini tests/arm``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ARTIFACTS_ENV = "EDGECOLOR_ARM_ARTIFACTS"
REPORT_ENV = "EDGECOLOR_ARM_REPORT"

if not os.environ.get(ARTIFACTS_ENV):
    collect_ignore_glob = ["test_*.py"]

# agreement rows recorded by the tests, printed as one table at the end
ROWS: list[dict] = []


def artifacts_dir() -> Path:
    """The folder the lane named (artifacts + manifests + reference .npz)."""
    return Path(os.environ[ARTIFACTS_ENV])


def referenced_artifacts() -> list[Path]:
    """Artifacts in the folder that have a reference .npz beside them, sorted."""
    from edgecolor.devices.emulate.agreement import ref_path
    from edgecolor.manifest import find_artifacts

    return [a for a in find_artifacts(artifacts_dir()) if ref_path(a).is_file()]


def emulated_machine() -> str | None:
    """The board the lane emulates (None on a real board)."""
    if os.environ.get("EDGECOLOR_EMULATED", "") in ("", "0"):
        return None
    return os.environ.get("EDGECOLOR_EMULATED_MACHINE") or None


def pytest_generate_tests(metafunc):
    if "artifact" in metafunc.fixturenames:
        found = referenced_artifacts()
        metafunc.parametrize("artifact", found, ids=[a.name for a in found])


def pytest_terminal_summary(terminalreporter):
    if not ROWS:
        return
    from edgecolor.devices.emulate.agreement import Agreement, summary_table

    rows = []
    for d in ROWS:
        fields = {k: v for k, v in d.items() if k in Agreement.__dataclass_fields__}
        rows.append(Agreement(**fields))
    machine = emulated_machine()
    where = f"emulated {machine}" if machine else "this board"
    terminalreporter.write_sep("=", f"aarch64 ({where}) vs x86 host: raw outputs")
    terminalreporter.write_line(summary_table(rows))
    report = os.environ.get(REPORT_ENV)
    if report:
        from edgecolor.imageio import atomic_write_bytes

        atomic_write_bytes(report, (json.dumps(ROWS, indent=2) + "\n").encode())


@pytest.fixture(scope="session")
def artifact_folder() -> Path:
    """The lane's artifact folder."""
    return artifacts_dir()


@pytest.fixture(scope="session")
def agreement_rows() -> list[dict]:
    """Where tests put their Agreement.to_dict() rows for the closing table."""
    return ROWS
