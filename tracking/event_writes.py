"""Event writes: store accepted event records once each, and never let one record stall the rest.

On PostgreSQL a batch is streamed with ``COPY`` into a temporary table and moved into
``tracking_event`` with ``INSERT ... ON CONFLICT (id) DO NOTHING``, which keeps writes
idempotent on the client's event id at a fraction of the CPU of row inserts. If the
database refuses the batch because of a record (bad text, a number or a date out of
range), the batch is halved until the refused records are found; those are set aside in
the dead-letter table with the database's reason and the others are written. Other
databases (SQLite, the embedded default) use ``bulk_create`` with the same isolation.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from django.db import connection

from .dead_letters import Refused, records_write_isolating
from .models import DeadLetter, Event
from .record_hooks import events_written

EventRecord = Mapping[str, Any]

# A temporary table per connection, emptied at each commit; times travel as epoch seconds.
CREATE_LOAD_TABLE = (
    "CREATE TEMP TABLE IF NOT EXISTS tailor_event_load (id uuid, visitor_id uuid, decision_id uuid, type text,"
    " ts float8, received_at float8, value float8, props jsonb, is_bot bool, ip_prefix text) ON COMMIT DELETE ROWS"
)
COPY_LOAD = (
    "COPY tailor_event_load (id, visitor_id, decision_id, type, ts, received_at, value, props, is_bot, ip_prefix)"
    " FROM STDIN"
)
CLEAR_LOAD = "DELETE FROM tailor_event_load"
INSERT_NEW = (
    "INSERT INTO tracking_event"
    " (id, visitor_id, decision_id, type, ts, received_at, value, props, is_bot, ip_prefix, stored_at)"
    " SELECT id, visitor_id, decision_id, type, to_timestamp(ts), to_timestamp(received_at), value, props,"
    " is_bot, ip_prefix, clock_timestamp() FROM tailor_event_load"
    " ON CONFLICT (id) DO NOTHING RETURNING id::text"  # as the records spell it: no UUID object per row
)
_json = msgspec.json.Encoder()
NULL = "\\N"  # COPY's text format for SQL NULL


def event_records_persist(records: Sequence[EventRecord]) -> list[EventRecord]:
    """Write events, idempotent on event id; dead-letter the ones the database refuses.

    Returns the records that were new (written now or set aside now).
    """
    fresh, refused = event_records_write(records)
    events_written(fresh)  # the bandit's rewards: only events written now, so a retried batch counts once
    return fresh + [record for record, _ in refused]


def event_records_write(
    records: Sequence[EventRecord], *, dead_letter: bool = True
) -> tuple[list[EventRecord], Refused]:
    """Write what the database takes; return (records written now, [(refused record, reason)]).

    The written rows and the dead letters of the refused ones commit together; with
    ``dead_letter=False`` the refused ones are only returned (a replay keeps its letter).
    """
    write = _copy_write if connection.vendor == "postgresql" else _orm_write
    return records_write_isolating(write, records, kind=DeadLetter.Kind.EVENT, dead_letter=dead_letter)


def _copy_escape(text: str) -> str:
    # COPY's text format: backslash, tab, newline and carriage return are escaped.
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\t" in text or "\n" in text or "\r" in text:
        text = text.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return text


def _copy_line(r: EventRecord) -> str:
    decision = r.get("decision_id")
    value = r.get("value")
    props = r.get("props") or {}
    # JSON text has no raw tab or newline (they are escaped), only backslashes to double.
    props_text = _json.encode(props).decode() if props else "{}"
    if "\\" in props_text:
        props_text = props_text.replace("\\", "\\\\")
    fields = (
        # PostgreSQL checks the uuids; escaping keeps a forged one from splitting the row.
        _copy_escape(r["id"]),
        _copy_escape(r["visitor_id"]),
        _copy_escape(decision) if decision else NULL,
        _copy_escape(r["type"]),
        repr(float(r["ts"])),
        repr(float(r["received_at"])),
        NULL if value is None else repr(float(value)),
        props_text,
        "t" if r.get("is_bot") else "f",
        _copy_escape(r.get("ip_prefix") or ""),
    )
    return "\t".join(fields) + "\n"


def _copy_write(records: list[EventRecord]) -> list[EventRecord]:
    """COPY into a per-connection temporary table, then insert what is new; returns the new records."""
    text = "".join(_copy_line(r) for r in records).encode()
    with connection.cursor() as cursor, connection.wrap_database_errors:
        raw = cursor.cursor  # psycopg 3's own cursor, for COPY
        raw.execute(CREATE_LOAD_TABLE)
        with raw.copy(COPY_LOAD) as copy:
            copy.write(text)
        raw.execute(INSERT_NEW)
        new = {row[0] for row in raw.fetchall()}
        if connection.savepoint_ids:
            # Inside a caller's transaction the commit that empties the table is not ours.
            raw.execute(CLEAR_LOAD)
    fresh = []
    for record in records:
        key = record["id"]
        if key in new:
            new.discard(key)  # the same id twice in one batch is written, and counted, once
            fresh.append(record)
    return fresh


def _event_row(record: EventRecord) -> Event:
    return Event(
        id=uuid.UUID(record["id"]),
        visitor_id=uuid.UUID(record["visitor_id"]),
        decision_id=uuid.UUID(record["decision_id"]) if record.get("decision_id") else None,
        type=record["type"],
        ts=datetime.fromtimestamp(record["ts"], tz=UTC),
        received_at=datetime.fromtimestamp(record["received_at"], tz=UTC),
        value=record.get("value"),
        props=record.get("props") or {},
        is_bot=record.get("is_bot", False),
        ip_prefix=record.get("ip_prefix", ""),
    )


def _orm_write(records: list[EventRecord]) -> list[EventRecord]:
    rows: dict[uuid.UUID, tuple[Event, EventRecord]] = {}
    for record in records:
        row = _event_row(record)
        rows.setdefault(row.id, (row, record))
    existing = set(Event.objects.filter(id__in=list(rows)).values_list("id", flat=True))
    fresh = [(row, record) for key, (row, record) in rows.items() if key not in existing]
    Event.objects.bulk_create([row for row, _ in fresh], ignore_conflicts=True, batch_size=500)
    return [record for _, record in fresh]
