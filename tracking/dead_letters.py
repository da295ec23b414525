"""Records the database refused: set aside with the reason, counted, never blocking their batch.

A writer that hits a record PostgreSQL will not take (text with a NUL, a number out of
range) must not stall on it: ``dead_letters_put`` stores the record as ASCII-escaped JSON
(storable whatever it holds) with the error, and the writer goes on with the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .metrics import DEAD_LETTERS
from .models import DeadLetter

REASON_MAX_LENGTH = 2000


def dead_letter_payload(record: Mapping[str, Any]) -> str:
    # ensure_ascii escapes NUL and lone surrogates, so the payload column always accepts it.
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=str)


def dead_letters_put(kind: str, refused: Sequence[tuple[Mapping[str, Any], str]]) -> int:
    """Store each (record, reason) refused by the database; returns how many were stored."""
    if not refused:
        return 0
    DeadLetter.objects.bulk_create(
        [
            DeadLetter(kind=kind, reason=reason[:REASON_MAX_LENGTH], payload=dead_letter_payload(record))
            for record, reason in refused
        ]
    )
    DEAD_LETTERS.labels(kind=kind).inc(len(refused))
    return len(refused)
