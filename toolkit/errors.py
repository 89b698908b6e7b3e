"""One-line error text: what every verb prints and every report row records."""

from __future__ import annotations

import re

# runtimes such as OpenVINO put a source location before the reason
_LOCATION = re.compile(r"Exception from \S+:\d+:?")


def one_line(err: BaseException, limit: int | None = 300) -> str:
    """``"TypeName: first informative line of the message"`` (the type alone for an empty
    message; source-location lines like ``Exception from src/...cpp:84:`` are skipped), cut
    to ``limit`` characters (None: uncut)."""
    text = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    useful = [ln for ln in text if not _LOCATION.fullmatch(ln)]
    line = (useful or text or [""])[0]
    return (f"{type(err).__name__}: {line}" if line else type(err).__name__)[:limit]
