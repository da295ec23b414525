"""The stream writer: bulk-writes the event stream to the database, acknowledging after the commit.

Several writers share the stream through a consumer group; an entry a killed writer left
pending is reclaimed after ``EVENT_CLAIM_IDLE_SECONDS``, and the event id keeps a
reclaimed entry from being written twice. An entry that cannot be read is dead-lettered
whole; a record the database refuses is dead-lettered alone (``event_writes``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import msgspec
import redis.exceptions

from .conf import setting
from .dead_letters import dead_letters_put
from .event_writes import event_records_persist
from .models import DeadLetter

_stream_decoder = msgspec.json.Decoder(list[dict[str, Any]])


def _stream_entry_records(fields: Mapping[Any, Any]) -> list[dict[str, Any]]:
    """The records of one stream entry; raises ValueError when the entry is not a list of records."""
    raw = fields.get(b"events", fields.get("events"))
    if raw is None:
        raise ValueError("the entry has no 'events' field")
    try:
        return _stream_decoder.decode(raw)
    except msgspec.DecodeError:  # and its subclass ValidationError: a wrong shape is named below
        # msgspec refuses lone surrogates outright; Python's json keeps them, so the record
        # reaches the writer and only it is dead-lettered, not its whole entry.
        records = json.loads(raw)
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError("the entry is not a list of records")
    return records


def _stream_entries_persist(client: Any, key: str, group: str, entries: list[tuple[Any, dict[Any, Any]]]) -> int:
    if not entries:
        return 0
    records: list[dict[str, Any]] = []
    unreadable: list[tuple[Mapping[str, Any], str]] = []
    for entry_id, fields in entries:
        try:
            records += _stream_entry_records(fields)
        except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            entry = {_text(k): _text(v) for k, v in fields.items()}
            unreadable.append(({"stream_entry": _text(entry_id), "fields": entry}, f"unreadable stream entry: {exc}"))
    event_records_persist(records)
    if unreadable:
        dead_letters_put(DeadLetter.Kind.EVENT, unreadable)
    ids = [entry_id for entry_id, _ in entries]
    # Acknowledge only after the commit: a writer killed before this line leaves the entries
    # pending, another writer reclaims them, and the id check above keeps them from doubling.
    client.xack(key, group, *ids)
    client.xdel(key, *ids)
    return len(records)


def _text(value: Any) -> str:
    return value.decode("utf-8", "backslashreplace") if isinstance(value, bytes) else str(value)


def _stream_reader() -> Any:
    """A connection for blocking stream reads: the cache's short request-path timeout would cut them off."""
    import redis
    from django.conf import settings

    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=30, socket_connect_timeout=5)


def _entry_age_ms(entry_id: Any) -> float:
    """How long ago Redis added the entry, from the milliseconds in its id (0 when the id is not a time)."""
    try:
        return max(time.time() * 1000 - int(_text(entry_id).split("-", 1)[0]), 0.0)
    except ValueError:
        return 0.0


def _entries_gather(client: Any, key: str, group: str, consumer: str, batch: int, block_ms: int) -> list[Any]:
    """New entries, up to ``batch``: after the first arrives, more are let in until it is ``EVENT_WRITE_LINGER_MS`` old.

    Every transaction, COPY and acknowledgement costs the writer and PostgreSQL about the same
    whatever its size, so at a steady trickle of batches the linger divides that cost among many
    of them, for at most the linger's delay (the event-to-database budget is seconds).
    """
    answer = client.xreadgroup(group, consumer, {key: ">"}, count=batch, block=block_ms)
    entries = list(answer[0][1]) if answer else []
    linger_ms = setting("EVENT_WRITE_LINGER_MS")
    if not entries or len(entries) >= batch or linger_ms <= 0:
        return entries
    # A clock that disagrees with Redis's cannot make the writer wait longer than the linger.
    wait_ms = min(max(linger_ms - _entry_age_ms(entries[0][0]), 0.0), linger_ms)
    if wait_ms:
        time.sleep(wait_ms / 1000)
    answer = client.xreadgroup(group, consumer, {key: ">"}, count=batch - len(entries))
    return entries + (list(answer[0][1]) if answer else [])


def events_stream_consume(consumer: str, *, budget_seconds: float = 5.0, block_ms: int = 500) -> int:
    """Bulk-write events from the stream for up to ``budget_seconds``; returns how many were written."""
    client = _stream_reader()
    key, group = setting("EVENT_STREAM_KEY"), setting("EVENT_STREAM_GROUP")
    batch = setting("EVENT_WRITE_BATCH")
    try:
        client.xgroup_create(key, group, id="0", mkstream=True)
    except redis.exceptions.ResponseError as exc:  # the group usually exists already
        if "BUSYGROUP" not in str(exc):
            raise
    written = 0
    deadline = time.monotonic() + budget_seconds
    idle_ms = int(setting("EVENT_CLAIM_IDLE_SECONDS") * 1000)
    _, claimed, _ = client.xautoclaim(key, group, consumer, min_idle_time=idle_ms, start_id="0-0", count=batch)
    written += _stream_entries_persist(client, key, group, claimed)
    while time.monotonic() < deadline:
        entries = _entries_gather(client, key, group, consumer, batch, block_ms)
        if not entries:
            continue
        written += _stream_entries_persist(client, key, group, entries)
    return written
