"""Untrusted text echoed back: in an error body, a log line or a dead letter's reason.

A field name or a database message can hold what a JSON response cannot carry (a lone
surrogate) or should not (NUL); both are escaped, never dropped, so the reader sees what
was sent.
"""

from __future__ import annotations


def text_escaped(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
