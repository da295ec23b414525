"""Records the database refused: set aside with the reason, counted, never blocking their batch.

A writer that hits a record PostgreSQL will not take (text with a NUL, a number out of
range) must not stall on it: ``dead_letters_put`` stores the record as ASCII-escaped JSON
(storable whatever it holds) with the error, and the writer goes on with the rest.
``records_write_isolating`` is that mechanism for any writer: the batch in one
transaction, and only when the database refuses it, halves in savepoints until each
refused record stands alone. ``dead_letters_replay`` writes them again once the cause is
fixed (``manage.py dead_letters``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.utils import timezone

from .metrics import DEAD_LETTERS
from .models import DeadLetter
from .text import text_escaped

REASON_MAX_LENGTH = 2000

# What one bad record raises: values the database refuses (DataError: NUL in text or JSON, a
# lone surrogate, a number or date out of range), a broken constraint (IntegrityError), or a
# record that cannot even be built (a missing key, an id that is no UUID). A lost connection
# or a full disk (OperationalError) is not the record's fault: it propagates, and the batch is retried.
RECORD_ERRORS: tuple[type[BaseException], ...] = (
    DataError,
    IntegrityError,
    ValidationError,
    KeyError,
    TypeError,
    ValueError,
    OverflowError,
    AttributeError,
)

Record = Mapping[str, Any]
Refused = list[tuple[Record, str]]


def dead_letter_payload(record: Mapping[str, Any]) -> str:
    # ensure_ascii escapes NUL and lone surrogates, so the payload column always accepts it.
    return json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=str)


def dead_letters_put(kind: str, refused: Sequence[tuple[Mapping[str, Any], str]]) -> int:
    """Store each (record, reason) refused by the database; returns how many were stored."""
    if not refused:
        return 0
    DeadLetter.objects.bulk_create(
        [
            DeadLetter(
                kind=kind,
                reason=reason[:REASON_MAX_LENGTH],
                payload=dead_letter_payload(record),
                visitor_id=_visitor_id(record),
            )
            for record, reason in refused
        ]
    )
    DEAD_LETTERS.labels(kind=kind).inc(len(refused))
    return len(refused)


def refusal_reason(exc: BaseException) -> str:
    """The error as one line; the database's message may quote the refused text, so it is escaped too."""
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}"
    return text_escaped(text)


def records_write_isolating(
    write: Callable[[list[Record]], list[Record]], records: Sequence[Record], *, kind: str, dead_letter: bool = True
) -> tuple[list[Record], Refused]:
    """Write with ``write`` what the database takes; return (what ``write`` returned, [(refused record, reason)]).

    The common case is one transaction without savepoints. The written rows and the dead
    letters of the refused ones commit together; with ``dead_letter=False`` the refused ones
    are only returned (a replay keeps its letter).
    """
    if not records:
        return [], []
    if not connection.in_atomic_block:
        try:
            with transaction.atomic():
                return write(list(records)), []
        except RECORD_ERRORS:
            pass
    with transaction.atomic():
        written, refused = _isolate(write, list(records))
        if dead_letter:
            dead_letters_put(kind, refused)
    return written, refused


def _isolate(write: Callable[[list[Record]], list[Record]], records: list[Record]) -> tuple[list[Record], Refused]:
    """``records`` in a savepoint; when the database refuses them, halves until the culprits are alone.

    One refused record among n costs about 2·log2(n) extra statements.
    """
    try:
        with transaction.atomic():
            return write(records), []
    except RECORD_ERRORS as exc:
        if len(records) == 1:
            return [], [(records[0], refusal_reason(exc))]
    middle = len(records) // 2
    written_a, refused_a = _isolate(write, records[:middle])
    written_b, refused_b = _isolate(write, records[middle:])
    return written_a + written_b, refused_a + refused_b


def _visitor_id(record: Mapping[str, Any]) -> uuid.UUID | None:
    # A refused record may hold anything, its visitor id included.
    raw = record.get("visitor_id") if isinstance(record, Mapping) else None
    try:
        return uuid.UUID(raw) if isinstance(raw, str) else None
    except ValueError:
        return None


@dataclass
class ReplayResult:
    replayed: int = 0
    failed: int = 0


def _event_replayer(records: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], str]]:
    from .event_writes import event_records_write

    _, refused = event_records_write(records, dead_letter=False)
    return refused


def _decision_replayer(records: Sequence[Mapping[str, Any]]) -> list[tuple[Mapping[str, Any], str]]:
    from .services import decision_records_write_isolating

    _, refused = decision_records_write_isolating(records, dead_letter=False)
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
