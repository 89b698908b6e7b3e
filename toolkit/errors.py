"""One-line error text: what every verb prints and every report row records."""

from __future__ import annotations


def one_line(err: BaseException, limit: int = 300) -> str:
    """``"TypeName: first line of the message"`` (the type alone for an empty message),
    cut to ``limit`` characters."""
    text = str(err).strip().splitlines()
    return (f"{type(err).__name__}: {text[0]}" if text else type(err).__name__)[:limit]
