"""Records the database refused: set aside with the reason, counted, never blocking their batch.

A writer that hits a record PostgreSQL will not take (text with a NUL, a number out of
range) must not stall on it: ``dead_letters_put`` stores the record as ASCII-escaped JSON
(storable whatever it holds) with the error, and the writer goes on with the rest.
``dead_letters_replay`` writes them again once the cause is fixed (``manage.py dead_letters``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import DataError, IntegrityError, transaction
from django.utils import timezone

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


@dataclass
class ReplayResult:
    replayed: int = 0
    failed: int = 0


def _event_replayer(records: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], str]]:
    from .event_writes import event_records_write

    _, refused = event_records_write(records, dead_letter=False)
    return refused


def _decision_replayer(records: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], str]]:
    from .services import decision_records_persist

    refused: list[tuple[Mapping[str, Any], str]] = []
    for record in records:
        try:
            with transaction.atomic():
                decision_records_persist([dict(record)])
        except (DataError, IntegrityError, ValueError, TypeError, KeyError) as exc:
            refused.append((record, f"{type(exc).__name__}: {exc}"))
    return refused


# kind -> a writer that takes records and returns the (record, reason) pairs it refused,
# without dead-lettering them again: a replay that fails keeps its letter, with the new reason.
REPLAYERS: dict[str, Callable[[Sequence[Mapping[str, Any]]], list[tuple[Mapping[str, Any], str]]]] = {
    DeadLetter.Kind.EVENT: _event_replayer,
    DeadLetter.Kind.DECISION: _decision_replayer,
}


def dead_letters_replay(*, kind: str | None = None, ids: Sequence[int] = ()) -> ReplayResult:
    """Write again the dead letters not yet replayed (of one kind, or these ids).

    A letter that is written is marked ``replayed_at`` (kept, for the record); one that is
    refused again stays pending with the database's new reason.
    """
    letters = DeadLetter.objects.filter(replayed_at__isnull=True).order_by("id")
    if kind:
        letters = letters.filter(kind=kind)
    if ids:
        letters = letters.filter(id__in=ids)
    result = ReplayResult()
    for letter in letters.iterator():
        try:
            record = json.loads(letter.payload)
        except ValueError as exc:
            letter.reason = f"payload is not JSON: {exc}"[:REASON_MAX_LENGTH]
            letter.save(update_fields=["reason"])
            result.failed += 1
            continue
        refused = REPLAYERS[letter.kind]([record])
        if refused:
            letter.reason = refused[0][1][:REASON_MAX_LENGTH]
            letter.save(update_fields=["reason"])
            result.failed += 1
        else:
            letter.replayed_at = timezone.now()
            letter.save(update_fields=["replayed_at"])
            result.replayed += 1
    return result
