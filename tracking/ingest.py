"""Event ingest: validate a batch, keep the good events, and never lose an accepted one.

Each event is checked on its own (shape, type, timestamp, props, and that its
decision exists and belongs to this visitor), so one bad event never costs the
good ones beside it. Accepted events are de-duplicated by their client id and,
with the ``redis`` backend, appended as one entry to a Redis stream that a
worker bulk-writes to the database; the visitor's real-time features are
updated at once. If Redis fails, the batch is written straight to the
database; if that fails too, ``IngestUnavailableError`` tells the view to
answer 503 so the tracker retries.

The typed decoding of a batch body is in ``event_decode``, the database writes (COPY,
dead letters for records the database refuses) in ``event_writes``; this module holds the
rules and the flow between them, the stream consumer, and the visitor features.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import redis.exceptions
from django.core.cache import cache
from django.db import DatabaseError

from . import features as feature_logic
from .conf import setting
from .dead_letters import dead_letters_put
from .event_decode import (
    SURROGATE_ERROR,
    DecodedBatch,
    EventIn,
    events_batch_convert,
    props_clean,
    rejections_count,
    text_clean,
)
from .event_writes import event_records_persist
from .models import DeadLetter, DecisionLog, Event
from .outages import outage_guard
from .privacy import looks_personal

EVENT_TYPES = frozenset(Event.Type.values)
_stream_json = msgspec.json.Encoder()
_stream_decoder = msgspec.json.Decoder(list[dict[str, Any]])


class IngestUnavailableError(RuntimeError):
    """Neither the stream nor the database could take the batch."""


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict[str, Any]] = field(default_factory=list)


def decision_owners_forget(decision_ids: Sequence[str]) -> None:
    with outage_guard("cache", "decision owners not forgotten from the cache"):
        cache.delete_many([_decision_key(d) for d in decision_ids])


def _decision_key(decision_id: str) -> str:
    return f"tailor:decision-owner:{decision_id}"


def decision_owners_remember(owners: Mapping[str, str]) -> None:
    """Remember who each decision was shown to, so ingest can attribute without a query."""
    if not owners:
        return
    with outage_guard("cache", "decision owners not cached; ingest looks them up in the database"):
        cache.set_many({_decision_key(d): v for d, v in owners.items()}, timeout=setting("MAX_EVENT_AGE_SECONDS"))


def decision_owners(decision_ids: set[str]) -> dict[str, str]:
    if not decision_ids:
        return {}
    owners: dict[str, str] = {}
    with outage_guard("cache", "decision owners not read from the cache; using the database"):
        cached = cache.get_many([_decision_key(d) for d in decision_ids])
        owners = {key.rsplit(":", 1)[1]: value for key, value in cached.items()}
    missing = decision_ids - owners.keys()
    if missing:
        rows = DecisionLog.objects.filter(id__in=[uuid.UUID(d) for d in missing]).values_list("id", "visitor_id")
        try:
            for decision_id, visitor_id in rows:
                owners[decision_id.hex] = str(visitor_id) if visitor_id else ""
        except DatabaseError as exc:  # the database is down: a 503 the tracker retries, as for the write
            raise IngestUnavailableError(str(exc)) from exc
    return owners


def _event_check(
    event: EventIn, not_after: float, not_before: float
) -> tuple[dict[str, Any] | None, dict[str, list[str]]]:
    """The rules a typed event must still meet: a known type, a recent ts, a decision id, clean props.

    ``not_after`` / ``not_before``: the newest and oldest event time accepted, in epoch seconds.
    """
    errors: dict[str, list[str]] = {}
    kind = event.type
    if kind not in EVENT_TYPES:
        shown = text_clean(kind)
        errors["type"] = [
            SURROGATE_ERROR
            if shown is None
            else f"Unknown type {shown!r}; use one of {', '.join(sorted(EVENT_TYPES))}."
        ]
    seconds = event.ts / 1000.0
    if seconds > not_after:
        errors["ts"] = ["Timestamp is in the future."]
    elif seconds < not_before:
        errors["ts"] = ["Timestamp is too old."]
    decision_id = event.decision_id
    if decision_id is not None:
        try:
            decision_id = uuid.UUID(decision_id).hex
        except ValueError:
            errors["decision_id"] = ["Must be a decision id as given in data-tailor-decision."]
    props: dict[str, Any] | None = event.props
    if props:
        why = _props_errors(props)
        if why is None:
            props, why = props_clean(props)
        if why:
            errors["props"] = [why]
    if errors:
        return None, errors
    return {
        "id": str(event.id),
        "type": kind,
        "decision_id": decision_id,
        "ts": seconds,
        "value": event.value,
        "props": props,
    }, {}


def _props_errors(props: dict[str, Any]) -> str | None:
    if len(props) > setting("MAX_PROPS"):
        return f"At most {setting('MAX_PROPS')} props."
    limit = setting("MAX_PROP_LENGTH")
    for name, value in props.items():
        if not isinstance(value, str):
            continue
        if len(value) > limit:
            return f"Prop {text_clean(name) or '?'!r} is longer than {limit} characters."
        why = looks_personal(value)
        if why:
            return f"Prop {text_clean(name) or '?'!r} {why}; personal data is not accepted."
    return None


def events_validate(
    batch: DecodedBatch, visitor_id: str, now: float
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The events of a decoded batch that pass every rule, and every rejected one by index."""
    clean: list[tuple[int, dict[str, Any]]] = []
    rejected = list(batch.rejected)
    # Read once per batch, not twice per event.
    not_after, not_before = now + setting("CLOCK_SKEW_SECONDS"), now - setting("MAX_EVENT_AGE_SECONDS")
    for index, event in batch.events:
        checked, errors = _event_check(event, not_after, not_before)
        if checked is None:
            rejected.append({"index": index, "errors": errors})
        else:
            clean.append((index, checked))
    owners = decision_owners({e["decision_id"] for _, e in clean if e["decision_id"]})
    accepted: list[dict[str, Any]] = []
    for index, record in clean:
        decision_id = record["decision_id"]
        if decision_id:
            owner = owners.get(decision_id)
            if owner is None:
                rejected.append({"index": index, "errors": {"decision_id": ["Unknown decision id."]}})
                continue
            if owner != visitor_id:
                rejected.append(
                    {"index": index, "errors": {"decision_id": ["This decision was shown to another visitor."]}}
                )
                continue
        accepted.append(record)
    rejected.sort(key=lambda r: r["index"])
    rejections_count(rejected)
    return accepted, rejected


def _redis() -> Any:
    from django_redis import get_redis_connection

    return get_redis_connection("default")


# Claim each event id (SET NX with a TTL) and append the newly claimed records to the stream
# as one entry, in one round trip: 50 separate SETs cost more client CPU than the rest of a
# request. If the XADD fails, the claims are released, so the tracker's retry is not taken
# for a duplicate. The same call reads the visitor's cached feature state, which ingest
# updates next: one round trip fewer per batch. KEYS: the claim keys, the features key, then
# the stream; ARGV: the TTL, then each record's JSON. Returns {flags, the features value}.
DEDUPE_AND_STREAM = """
local stream, features = KEYS[#KEYS], KEYS[#KEYS - 1]
local fresh, claimed, flags = {}, {}, {}
for i = 1, #KEYS - 2 do
  if redis.call('SET', KEYS[i], 1, 'NX', 'EX', ARGV[1]) then
    fresh[#fresh + 1] = ARGV[i + 1]
    claimed[#claimed + 1] = KEYS[i]
    flags[i] = 1
  else
    flags[i] = 0
  end
end
if #fresh > 0 then
  local added = redis.pcall('XADD', stream, '*', 'events', '[' .. table.concat(fresh, ',') .. ']')
  if type(added) == 'table' and added.err then
    redis.call('DEL', unpack(claimed))
    return added
  end
end
return {flags, redis.call('GET', features)}
"""
_UNREAD = object()  # visitor_features_apply: the caller has not read the cached state


def _dedupe_and_stream(records: list[dict[str, Any]], visitor_id: str) -> tuple[list[Mapping[str, Any]], Any]:
    """Claim each event id once and append the new records to the stream (one script call).

    Returns the new records and the visitor's cached feature state (None when there is none).
    """
    client = _redis()
    keys = [f"tailor:event-seen:{record['id']}" for record in records]
    flags, state = client.register_script(DEDUPE_AND_STREAM)(
        keys=[*keys, cache.make_key(_features_key(visitor_id)), setting("EVENT_STREAM_KEY")],
        args=[setting("EVENT_DEDUPE_SECONDS"), *[_stream_json.encode(r) for r in records]],
    )
    fresh = [r for r, new in zip(records, flags, strict=True) if new]
    return fresh, None if state is None else cache.client.decode(state)


def _persist_direct(records: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
    try:
        return event_records_persist(records)
    except DatabaseError as exc:
        raise IngestUnavailableError(str(exc)) from exc


def events_ingest(
    raw_events: DecodedBatch | Sequence[Any],
    *,
    visitor_id: str,
    is_bot: bool = False,
    ip_prefix: str = "",
    now: float | None = None,
) -> IngestResult:
    """Validate a batch (decoded from the body, or Python objects from in-process callers) and store the good events."""
    now = time.time() if now is None else now
    batch = raw_events if isinstance(raw_events, DecodedBatch) else events_batch_convert(raw_events)
    accepted, rejected = events_validate(batch, visitor_id, now)
    result = IngestResult(rejected=rejected)
    if not accepted:
        return result
    records = [
        {**event, "visitor_id": visitor_id, "received_at": now, "is_bot": is_bot, "ip_prefix": ip_prefix}
        for event in accepted
    ]
    # Duplicates inside one batch are the client's retry bug, not new events.
    unique = list({r["id"]: r for r in records}.values())
    fresh: list[Mapping[str, Any]]
    state: Any = _UNREAD
    if setting("EVENT_INGEST_BACKEND") == "redis":
        # Never lose an accepted event: with the stream down, write the batch directly.
        with outage_guard("redis", "event stream unavailable; writing events directly") as outage:
            fresh, state = _dedupe_and_stream(unique, visitor_id)
        if outage.failed:
            fresh = _persist_direct(unique)
    else:
        fresh = _persist_direct(unique)
    result.accepted = len(fresh)
    result.duplicates = len(records) - len(fresh)
    if fresh and not is_bot:
        visitor_features_apply(visitor_id, fresh, state=state)
    return result


def _features_key(visitor_id: str) -> str:
    return f"tailor:features:{visitor_id}"


def visitor_features_apply(visitor_id: str, events: Sequence[Mapping[str, Any]], *, state: Any = _UNREAD) -> None:
    """Fold ``events`` into the visitor's cached feature state; ``state`` is that state when the caller read it."""
    key = _features_key(visitor_id)
    with outage_guard("cache", "visitor features not updated; the roll-up repairs them"):
        if state is _UNREAD:
            state = cache.get(key)
        if state is None:
            # Rebuild from what the database holds, minus this batch (it may or may not be
            # written yet, depending on the backend), then fold the batch in: never twice, never lost.
            state = _features_state_from_db(visitor_id, exclude=[e["id"] for e in events])
        feature_logic.state_apply_many(state, events)
        cache.set(key, state, timeout=setting("FEATURES_TTL_SECONDS"))


def _features_state_from_db(visitor_id: str, exclude: Sequence[str] = ()) -> dict[str, Any]:
    return _feature_states_from_db([visitor_id], exclude)[visitor_id]


def _feature_states_from_db(visitor_ids: Sequence[str], exclude: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
    """Each visitor's feature state folded from their stored events of the last 30 days, in one query."""
    since = datetime.fromtimestamp(time.time() - 30 * 24 * 3600, tz=UTC)
    states = {str(v): feature_logic.state_new() for v in visitor_ids}
    rows = (
        Event.objects.filter(visitor_id__in=[uuid.UUID(str(v)) for v in visitor_ids], ts__gte=since, is_bot=False)
        .exclude(id__in=[uuid.UUID(i) for i in exclude])
        .order_by()
        .values("visitor_id", "type", "ts", "value", "props", "decision_id")
    )
    for row in rows.iterator(chunk_size=5000):
        feature_logic.state_apply(states[str(row.pop("visitor_id"))], {**row, "ts": row["ts"].timestamp()})
    return states


def visitor_features_rebuild(visitor_id: str) -> dict[str, Any]:
    """Recompute a visitor's feature state from the database (same fold as ingest) and cache it."""
    state = _features_state_from_db(visitor_id)
    cache.set(_features_key(visitor_id), state, timeout=setting("FEATURES_TTL_SECONDS"))
    return state


def visitors_features_rollup(*, active_within_seconds: float = 900.0, batch: int = 500) -> int:
    """Recompute from the database the cached feature state of every visitor with events in the window.

    Ingest updates the cached state read-modify-write, so two concurrent batches of
    one visitor can lose an update; this roll-up (beat, every few minutes) puts the
    state back to what the database says. A cached state holding an event time the
    database lacks is left alone: that event is still on its way from the stream, and
    the next roll-up sees it. (An ingest landing between this read and write can still
    be overwritten; its visitor is then in the next roll-up's window, which repairs it.)
    Returns how many states were written.
    """
    since = datetime.fromtimestamp(time.time() - active_within_seconds, tz=UTC)
    visitor_ids = list(
        Event.objects.filter(ts__gte=since, is_bot=False).values_list("visitor_id", flat=True).distinct().iterator()
    )
    written = 0
    for start in range(0, len(visitor_ids), batch):
        states = _feature_states_from_db(visitor_ids[start : start + batch])
        keys = {_features_key(v): v for v in states}
        cached = cache.get_many(list(keys))
        fresh = {}
        for key, visitor_id in keys.items():
            stored = {round(t, 3) for t in states[visitor_id]["times"]}
            held = (cached.get(key) or {}).get("times") or []
            if any(round(t, 3) not in stored for t in held):
                continue  # the cache holds an event the database does not have yet
            fresh[key] = states[visitor_id]
        cache.set_many(fresh, timeout=setting("FEATURES_TTL_SECONDS"))
        written += len(fresh)
    return written


def visitor_features_get(visitor_id: str, now: float | None = None, *, known: bool = True) -> dict[str, float | None]:
    """The visitor's features for serving: one cache read; a miss schedules a rebuild from the database.

    ``known=False`` (an id issued in this very request) skips both: a new visitor has no history.
    """
    now = time.time() if now is None else now
    if not known:
        return feature_logic.features_compute(None, now)
    with outage_guard("cache", "visitor features not read; deciding without them") as outage:
        state = cache.get(_features_key(visitor_id))
    if outage.failed:
        return feature_logic.features_compute(None, now)
    if state is None:
        from .tasks import visitor_features_rebuild as rebuild_task

        with outage_guard("cache", "feature rebuild not scheduled"):
            if cache.add(f"tailor:features-rebuilding:{visitor_id}", 1, timeout=60):
                rebuild_task.delay(visitor_id)
            state = cache.get(_features_key(visitor_id))  # an eager rebuild has already filled it
    return feature_logic.features_compute(state, now)


def visitors_features_get(visitor_ids: Sequence[str], now: float | None = None) -> dict[str, dict[str, float | None]]:
    """Many visitors' features for batch work (clustering): one cache read, misses rebuilt in one query.

    The same fold as ``visitor_features_get`` and its rebuild, for a batch: a
    visitor the cache has lost is rebuilt from the database here (and cached)
    instead of by one task per visitor.
    """
    now = time.time() if now is None else now
    keys = {_features_key(v): v for v in visitor_ids}
    states: dict[str, Any] = {}
    # The database has every event the cache had: on an outage, rebuild every visitor from it.
    with outage_guard("cache", "features not read; rebuilding visitors from their events"):
        states = {keys[key]: state for key, state in cache.get_many(list(keys)).items()}
    missing = [v for v in visitor_ids if v not in states]
    if missing:
        rebuilt = _feature_states_from_db(missing)
        with outage_guard("cache", "rebuilt features not cached; serving rebuilds on its own miss"):
            cache.set_many({_features_key(v): s for v, s in rebuilt.items()}, timeout=setting("FEATURES_TTL_SECONDS"))
        states.update(rebuilt)
    return {v: feature_logic.features_compute(states[v], now) for v in visitor_ids}


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
        answer = client.xreadgroup(group, consumer, {key: ">"}, count=batch, block=block_ms)
        entries = answer[0][1] if answer else []
        if not entries:
            continue
        written += _stream_entries_persist(client, key, group, entries)
    return written
